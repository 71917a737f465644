"""Browser flows: Playwright driving Debian's chromium against `streamlit run`.

Skipped locally when chromium or Playwright is missing; in CI (CI=true) that fails the run.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.browser import chromium_path, launch, serve, sign_in, wait_for_app
from tests.conftest import IN_CI, TEST_SECRET

pytestmark = pytest.mark.browser
STRONG = "first-admin-pass-1"


def _require_browser() -> None:
    reason = None
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        reason = "Playwright is not installed"
    if reason is None and chromium_path() is None:
        reason = "Debian chromium is not installed (apt-get install -y chromium)"
    if reason:
        if IN_CI:
            pytest.fail(f"{reason}; CI requires the browser tests.", pytrace=False)
        pytest.skip(reason)


@pytest.fixture(scope="module")
def server(sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The app on a free port over a fresh SQLite database (no users yet)."""
    _require_browser()
    work = tmp_path_factory.mktemp("browser")
    shutil.copy(sqlite_template, work / "app.db")
    env = {"MODELDESK_DATABASE_URL": f"sqlite:///{work / 'app.db'}",
           "MODELDESK_SECRET_KEY": TEST_SECRET, "MODELDESK_DATA_DIR": str(work),
           "MODELDESK_DISABLE_SYSTEM_PROVIDERS": "all", "MODELDESK_ENV": "test"}
    with serve(env) as url:
        yield url


@pytest.fixture(scope="module")
def browser(server: str):  # noqa: ANN201
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = launch(pw)
        yield b
        b.close()


def test_first_admin_setup_sign_in_and_sign_out(server: str, browser) -> None:  # noqa: ANN001
    context = browser.new_context()
    page = context.new_page()
    page.goto(server)
    wait_for_app(page)
    assert "Welcome to Modeldesk" in page.content()
    page.get_by_role("textbox", name="Username").fill("root")
    page.get_by_role("textbox", name="Password", exact=True).fill(STRONG)
    page.get_by_role("textbox", name="Repeat the password").fill(STRONG)
    page.get_by_role("button", name="Create admin").click()
    page.get_by_text("Admin created").wait_for(timeout=30_000)

    sign_in(page, server, "root", STRONG)
    cookies = {c["name"]: c for c in context.cookies()}
    assert "modeldesk_session" in cookies
    page.reload()  # the cookie signs this browser in again
    wait_for_app(page)
    page.get_by_role("button", name="Sign out").wait_for(timeout=30_000)

    page.get_by_role("button", name="Sign out").click()
    page.get_by_text("You are signed out").wait_for(timeout=30_000)

    # A copy of the old cookie in another browser no longer signs anyone in.
    thief = browser.new_context()
    thief.add_cookies([cookies["modeldesk_session"]])
    other = thief.new_page()
    other.goto(server)
    wait_for_app(other)
    assert other.get_by_role("button", name="Sign in").is_visible()
    assert not other.get_by_role("button", name="Sign out").is_visible()
    thief.close()
    context.close()
