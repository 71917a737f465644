"""Browser flows: Playwright driving Debian's chromium against `streamlit run`.

Skipped locally when chromium or Playwright is missing; in CI (CI=true) that fails the run.
The tests share one server over one database and run in file order: setup creates the
admin the flow signs in with (the flow creates it itself when run alone). Flows with a
server of their own: test_browser_demo.py (the demo database), test_browser_security.py
(proxies, members' text) and test_browser_deep_links.py (every URL through app.py).
"""

from __future__ import annotations

import shutil
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import TEST_SECRET
from tests.support.browser import (
    STRONG_PASSWORD,
    choose,
    open_page,
    options_of,
    plotted,
    require_browser,
    serve,
    sign_in,
    sign_out,
    table_row,
    wait_for_app,
    wait_for_charts,
)
from tests.support.leaks import Wire

pytestmark = pytest.mark.browser

ADMIN = "root"
MEMBER, MEMBER_PASS = "mia", "member-pass-12345"


@pytest.fixture(scope="module")
def app_url(sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The app on a free port over a fresh SQLite database (no users yet)."""
    require_browser()
    work = tmp_path_factory.mktemp("browser")
    shutil.copy(sqlite_template, work / "app.db")
    env = {
        "MODELDESK_DATABASE_URL": f"sqlite:///{work / 'app.db'}",
        "MODELDESK_SECRET_KEY": TEST_SECRET,
        "MODELDESK_DATA_DIR": str(work),
        "MODELDESK_DISABLE_SYSTEM_PROVIDERS": "all",
        "MODELDESK_ENV": "test",
    }
    with serve(env) as url:
        yield url


def _create_first_admin(page) -> None:  # noqa: ANN001
    page.get_by_role("textbox", name="Username").fill(ADMIN)
    page.get_by_role("textbox", name="Password", exact=True).fill(STRONG_PASSWORD)
    page.get_by_role("textbox", name="Repeat the password").fill(STRONG_PASSWORD)
    page.get_by_role("button", name="Create admin").click()
    page.get_by_text("Admin created").wait_for(timeout=30_000)


def test_first_admin_setup_sign_in_and_sign_out(app_url: str, browser) -> None:  # noqa: ANN001
    context = browser.new_context()
    page = context.new_page()
    page.goto(app_url)
    wait_for_app(page)
    assert "Welcome to Modeldesk" in page.content()
    _create_first_admin(page)

    sign_in(page, app_url, ADMIN, STRONG_PASSWORD)
    cookies = {c["name"]: c for c in context.cookies()}
    assert "modeldesk_session" in cookies
    page.reload()  # the cookie signs this browser in again
    wait_for_app(page)
    page.get_by_role("button", name="Sign out").wait_for(timeout=30_000)

    sign_out(page)

    # A copy of the old cookie in another browser no longer signs anyone in.
    thief = browser.new_context()
    thief.add_cookies([cookies["modeldesk_session"]])
    other = thief.new_page()
    other.goto(app_url)
    wait_for_app(other)
    assert other.get_by_role("button", name="Sign in").is_visible()
    assert not other.get_by_role("button", name="Sign out").is_visible()
    thief.close()
    context.close()


def test_a_forged_sign_in_cookie_means_signed_out(
    app_url: str,
    browser,  # noqa: ANN001
    tmp_path: Path,
) -> None:
    """A cookie signed with another algorithm (alg=none, HS512) is no sign-in: the sign-in
    form, not an error on every load until the cookie is deleted."""
    import jwt

    from core.startup import build_keyring
    from tests.conftest import make_settings

    _, cookie_key = build_keyring(make_settings("sqlite://", tmp_path))
    claims = {"username": ADMIN, "exp_date": time.time() + 86400}
    forged = {
        "alg=none": jwt.encode(claims, None, algorithm="none"),
        "HS512": jwt.encode(claims, cookie_key, algorithm="HS512"),
        "claims of the wrong type": jwt.encode(
            {"username": ADMIN, "exp_date": "soon"}, cookie_key, algorithm="HS256"
        ),
    }
    setup = browser.new_context()
    page = setup.new_page()
    page.goto(app_url)
    wait_for_app(page)
    if page.get_by_role("heading", name="Welcome to Modeldesk").is_visible():
        _create_first_admin(page)  # this test run on its own
    setup.close()
    for what, token in forged.items():
        context = browser.new_context()
        context.add_cookies([{"name": "modeldesk_session", "value": token, "url": app_url}])
        page = context.new_page()
        for _ in range(2):  # and again on the next load
            page.goto(app_url)
            wait_for_app(page)
            assert page.get_by_role("button", name="Sign in").is_visible(), what
            assert not page.get_by_test_id("stException").count(), what
            assert not page.get_by_role("button", name="Sign out").is_visible(), what
        context.close()


def _assert_not_shown(page, canary: str, when: str) -> None:  # noqa: ANN001
    """Nowhere in the page: not in its HTML, not in any input's current value."""
    assert canary not in page.content(), f"the API key is in the page HTML {when}"
    values = page.evaluate(
        "() => [...document.querySelectorAll('input, textarea')].map(e => e.value)"
    )
    assert not any(canary in v for v in values), f"the API key is in an input {when}"


def _submit_provider(
    page,
    wire: Wire,
    canary: str,
    *,  # noqa: ANN001
    name: str,
    expect: str,
    type_key: bool = True,
) -> None:
    """Type the key (unless the form keeps it) and name, submit, and wait for the answer;
    the canary may be sent only in the submit's own message(s), never again after its
    answer arrived."""
    page.get_by_role("textbox", name="Name *").fill(name)
    if type_key:
        page.get_by_role("textbox", name="API key *").fill(canary)
    before = len(wire.sent)
    page.get_by_role("button", name="Add provider").click()
    page.get_by_text(expect).first.wait_for(timeout=30_000)
    answered = len(wire.sent)
    wait_for_app(page)
    assert bool(wire.sent_with(canary, before)) is type_key, "the key was (not) submitted"
    assert not wire.sent_with(canary, answered), "the key was sent again after its submit"
    _assert_not_shown(page, canary, f"after submitting '{name or '(no name)'}'")
    # A rerun sends the value of every widget, the form's too: the key's must be blank.
    page.get_by_text("Show all records").click()  # flips it; any widget outside the form
    wait_for_app(page)
    assert len(wire.sent) > answered, "the rerun after the submit sent nothing"
    assert not wire.sent_with(canary, answered), "the browser still holds the key"


def test_provider_model_member_flow_never_leaks_the_key(
    app_url: str,  # noqa: ANN001
    browser,
) -> None:
    canary = "sk-canary-" + uuid.uuid4().hex
    provider, model = "Canary OpenAI", "Canary GPT"
    context = browser.new_context(viewport={"width": 1400, "height": 1600})
    page = context.new_page()
    wire = Wire()
    wire.attach(page)  # before the first navigation: the first websocket is captured too
    page.goto(app_url)
    wait_for_app(page)
    if page.get_by_role("heading", name="Welcome to Modeldesk").is_visible():
        _create_first_admin(page)  # this test run on its own
    sign_in(page, app_url, ADMIN, STRONG_PASSWORD)

    # Providers: the add form (a tab once there are providers, inline on an empty list).
    open_page(page, "Providers")
    add_tab = page.get_by_role("tab", name="Add provider")
    if add_tab.is_visible():
        add_tab.click()
        wait_for_app(page)
    choose(page, "Provider type", "OpenAI · openai")
    page.get_by_text("Instance-wide: every user can see and use it").click()
    # A refused submit first (no name): the form stays and keeps the key server-side only.
    _submit_provider(page, wire, canary, name="", expect="The name cannot be empty")
    page.get_by_text("key entered, kept").first.wait_for(timeout=30_000)
    _submit_provider(
        page, wire, canary, name=provider, expect=f"Provider '{provider}' added", type_key=False
    )
    hint = "…" + canary[-4:]
    table_row(page, hint).wait_for(state="attached", timeout=30_000)
    assert hint in table_row(page, provider).text_content()
    assert any(hint.encode() in f for f in wire.received), "the table was not captured"
    _assert_not_shown(page, canary, "with the new provider listed")

    page.reload()  # a new session, signed in again by the cookie
    page.get_by_role("heading", name="Providers", level=1).wait_for(timeout=30_000)
    wait_for_app(page)
    table_row(page, hint).wait_for(state="attached", timeout=30_000)
    _assert_not_shown(page, canary, "after a reload")
    choose(page, "Selected provider", provider)
    page.get_by_role("tab", name="Edit").click()
    key_input = page.get_by_role("textbox", name="API key", exact=True)
    key_input.wait_for(timeout=30_000)
    assert key_input.input_value() == ""
    assert hint in (key_input.get_attribute("placeholder") or "")
    _assert_not_shown(page, canary, "in the edit form")

    # Models: add one to that provider through the form.
    open_page(page, "Models")
    form = page.get_by_test_id("stForm")
    choose(page, "Provider", provider, within=form)
    form.get_by_role("textbox", name="Name", exact=True).fill(model)
    form.get_by_role("textbox", name="Model ID", exact=True).fill("gpt-canary")
    form.get_by_role("textbox", name="Input", exact=True).fill("2.5")
    form.get_by_role("textbox", name="Output", exact=True).fill("10")
    form.get_by_text("Instance-wide (every user sees it)").click()
    form.get_by_role("button", name="Add model").click()
    page.get_by_text(f"Model '{model}' added").wait_for(timeout=30_000)
    wait_for_app(page)
    table_row(page, model).wait_for(state="attached", timeout=30_000)
    cells = table_row(page, model).text_content()
    assert "gpt-canary" in cells and "2.5" in cells and "10" in cells

    # Users: a member through the add form.
    open_page(page, "Users")
    page.get_by_role("textbox", name="Username", exact=True).fill(MEMBER)
    page.get_by_role("textbox", name="Display name (optional)").fill("Mia Member")
    page.get_by_role("textbox", name="Initial password").fill(MEMBER_PASS)
    page.get_by_role("textbox", name="Repeat the password").fill(MEMBER_PASS)
    page.get_by_role("button", name="Add user").click()
    page.get_by_text(f"User {MEMBER} added as member").wait_for(timeout=30_000)
    sign_out(page)

    # The member's model selector offers the new model.
    sign_in(page, app_url, MEMBER, MEMBER_PASS)
    open_page(page, "Models")
    page.get_by_role("radio", name="What users see").click()
    page.get_by_text("Your inference model selector").wait_for(timeout=30_000)
    wait_for_app(page)
    assert f"{model} — {provider}" in options_of(page, "Model")
    sign_out(page)

    assert not any(canary.encode() in f for f in wire.received), (
        "the server sent the API key to the browser"
    )
    _assert_not_shown(page, canary, "at the end")
    context.close()


def test_explorer_link_opens_the_whole_catalog_with_its_charts(
    app_url: str,  # noqa: ANN001
    browser,
) -> None:
    """A shared Explorer link (whole catalog, two filters) opens that view in a new
    session: the filters are set, the URL keeps them, and the three charts draw data."""
    from playwright.sync_api import expect

    context = browser.new_context(viewport={"width": 1400, "height": 1600})
    page = context.new_page()
    page.goto(app_url)
    wait_for_app(page)
    if page.get_by_role("heading", name="Welcome to Modeldesk").is_visible():
        _create_first_admin(page)  # this test run on its own
    sign_in(page, app_url, ADMIN, STRONG_PASSWORD)
    page.goto(f"{app_url}/explorer?scope=catalog&features=vision&context=128000")
    page.get_by_role("heading", name="Explorer", level=1).wait_for(timeout=30_000)
    wait_for_app(page)
    wait_for_charts(page, 3)
    drawn = plotted(page)
    assert len(drawn) == 3 and all(n > 0 for n in drawn), drawn
    assert drawn[0] > 500  # the whole catalog, not the (empty) configured scope
    assert page.locator(".stPlotlyChart").count() == 3
    # The radio group re-renders with each rerun: wait for its state rather than read it once.
    expect(page.get_by_role("radio", name="Whole catalog")).to_have_attribute(
        "aria-checked", "true", timeout=15_000
    )
    sidebar = page.get_by_test_id("stSidebar")  # the same for the features filter
    expect(sidebar.get_by_test_id("stMultiSelect").first).to_contain_text("vision", timeout=15_000)
    assert "features=vision" in page.url and "context=128000" in page.url
    page.get_by_role("tab", name="Workload").click()
    wait_for_app(page)
    wait_for_charts(page, 1)
    assert page.get_by_role("button", name="Download CSV").is_visible()
    context.close()


def test_a_member_following_an_admin_page_link_is_told_it_is_for_admins(  # noqa: ANN001
    app_url: str, browser
) -> None:
    """A member who opens /users or /access (a bookmark, a link from an admin) sees that
    the page is for admins, not "Page not found"."""
    member, password = "ned", "member-pass-67890"
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.goto(app_url)
    wait_for_app(page)
    if page.get_by_role("heading", name="Welcome to Modeldesk").is_visible():
        _create_first_admin(page)  # this test run on its own
    sign_in(page, app_url, ADMIN, STRONG_PASSWORD)
    open_page(page, "Users")
    page.get_by_role("textbox", name="Username", exact=True).fill(member)
    page.get_by_role("textbox", name="Initial password").fill(password)
    page.get_by_role("textbox", name="Repeat the password").fill(password)
    page.get_by_role("button", name="Add user").click()
    page.get_by_text(f"User {member} added as member").wait_for(timeout=30_000)
    sign_out(page)

    sign_in(page, app_url, member, password)
    for address in ("users", "access"):
        page.goto(f"{app_url}/{address}")
        page.get_by_text("This page is for admins.").wait_for(timeout=30_000)
        wait_for_app(page)
        assert not page.get_by_text("Page not found").is_visible()
        sidebar = page.get_by_test_id("stSidebar").inner_text()
        assert "Users" not in sidebar and "Access & audit" not in sidebar, sidebar
    context.close()
