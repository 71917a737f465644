"""Every URL goes through app.py, from the first request a server gets: a deep link as the
first request after a restart, and a failed start explained at a deep link.

Skipped locally when chromium or Playwright is missing; in CI (CI=true) that fails the run.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.support.browser import (
    STRONG_PASSWORD,
    demo_env,
    serve,
    wait_for_app,
)

pytestmark = pytest.mark.browser


DEEP_LINK = "/explorer?scope=catalog&q=gpt"
# What Streamlit's automatic list of the files in pages/ shows (helper modules included).
FILE_LIST_NAMES = {
    "ui",
    "auth",
    "provider form",
    "model form",
    "explorer charts",
    "sharing",
    "model import",
    "app",
}


def _assert_no_file_list(page) -> None:  # noqa: ANN001
    """The navigation (if any) lists console pages only, never the files in pages/."""
    from pages import _ui

    nav = page.get_by_test_id("stSidebarNav")
    links = (
        [t.strip().splitlines()[-1] for t in nav.get_by_role("link").all_inner_texts()]
        if nav.count()
        else []
    )  # a link's text is its icon's name, then its title
    assert not {t.lower() for t in links} & FILE_LIST_NAMES, links
    assert set(links) <= {s.title for s in _ui.PAGES}, links
    assert "Your session has ended" not in page.content()


def _assert_explorer_link_applied(page) -> None:  # noqa: ANN001
    from playwright.sync_api import expect

    # .first: while a run replaces the page, the old heading can stay a moment beside the new
    page.get_by_role("heading", name="Explorer", level=1).first.wait_for(timeout=30_000)
    wait_for_app(page)
    # The radio group re-renders with each rerun: wait for its state rather than read it once.
    expect(page.get_by_role("radio", name="Whole catalog")).to_have_attribute(
        "aria-checked", "true", timeout=15_000
    )
    assert page.get_by_role("textbox", name="Search").input_value() == "gpt"
    assert "scope=catalog" in page.url and "q=gpt" in page.url, page.url


def test_deep_link_is_the_first_request_after_a_restart(  # noqa: ANN001
    browser, sqlite_template: Path, tmp_path: Path
) -> None:
    """A fresh server whose first request is a shared Explorer link: signed out, the sign-in
    form shows and signing in lands on the link's view; after a restart, the cookie from
    the earlier run opens the link's view straight away. Never the list of page files."""
    from core.accounts import users
    from core.startup import open_runtime
    from tests.conftest import make_settings

    work = tmp_path / "restart"
    work.mkdir()
    url, env = demo_env(work)
    shutil.copy(sqlite_template, work / "demo.db")
    rt = open_runtime(make_settings(url, work))
    with rt.sessions.begin() as s:
        users.create_user(s, username="dana", password=STRONG_PASSWORD, role="admin")
    rt.dispose()
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    with serve(env) as base:
        page.goto(base + DEEP_LINK)
        wait_for_app(page)
        _assert_no_file_list(page)
        page.get_by_role("textbox", name="Username").fill("dana")
        page.get_by_role("textbox", name="Password").fill(STRONG_PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        _assert_explorer_link_applied(page)
        _assert_no_file_list(page)
        for _ in range(100):  # the cookie is written in the run after the sign-in
            if any(c["name"] == "modeldesk_session" for c in context.cookies()):
                break
            page.wait_for_timeout(100)
    with serve(env) as base:  # a restart (a new process): the link is its first request
        page.goto(base + DEEP_LINK)
        _assert_explorer_link_applied(page)
        assert page.get_by_role("button", name="Sign out").is_visible()
        _assert_no_file_list(page)
    context.close()


@pytest.mark.parametrize("database", ["corrupt-sqlite", "closed-port-postgresql"])
def test_failed_start_explains_itself_at_a_deep_link(
    browser,
    tmp_path: Path,  # noqa: ANN001
    database: str,
) -> None:
    """A server whose database cannot be opened, and a shared link as its first request:
    the page says what is wrong (without the password), never lists the files in pages/."""
    work = tmp_path / database
    work.mkdir()
    url, env = demo_env(work)
    if database == "corrupt-sqlite":
        (work / "demo.db").write_bytes(b"not a database at all\n" * 500)
        expected = "not a SQLite database"
    else:
        env["MODELDESK_DATABASE_URL"] = "postgresql://someone:pw-CANARY-77@127.0.0.1:1/nowhere"
        expected = "connection was refused"
    context = browser.new_context()
    page = context.new_page()
    with serve(env) as base:
        page.goto(base + DEEP_LINK)
        page.get_by_role("heading", name="Modeldesk cannot start", level=1).wait_for(timeout=30_000)
        wait_for_app(page)
        body = page.get_by_test_id("stMain").inner_text()
        assert expected in body and "pw-CANARY-77" not in page.content()
        assert "Page not found" not in page.content()
        assert page.url.endswith(DEEP_LINK)
        _assert_no_file_list(page)
    context.close()
