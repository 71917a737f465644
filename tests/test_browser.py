"""Browser flows: Playwright driving Debian's chromium against `streamlit run`.

Skipped locally when chromium or Playwright is missing; in CI (CI=true) that fails the run.
The tests share one server over one database and run in file order: setup creates the
admin the flow signs in with (the flow creates it itself when run alone).
"""

from __future__ import annotations

import os
import shutil
import struct
import time
import uuid
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from tests.conftest import TEST_SECRET
from tests.support.browser import (
    DEMO_PASSWORD,
    ROOT,
    choose,
    demo_env,
    launch,
    open_page,
    options_of,
    plotted,
    require_browser,
    seed_demo,
    serve,
    sign_in,
    sign_out,
    take_screenshots,
    wait_for_app,
    wait_for_charts,
)
from tests.support.leaks import Wire

pytestmark = pytest.mark.browser
ADMIN, STRONG = "root", "first-admin-pass-1"
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


@pytest.fixture(scope="module")
def browser(app_url: str):  # noqa: ANN201
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = launch(pw)
        yield b
        b.close()


def _create_first_admin(page) -> None:  # noqa: ANN001
    page.get_by_role("textbox", name="Username").fill(ADMIN)
    page.get_by_role("textbox", name="Password", exact=True).fill(STRONG)
    page.get_by_role("textbox", name="Repeat the password").fill(STRONG)
    page.get_by_role("button", name="Create admin").click()
    page.get_by_text("Admin created").wait_for(timeout=30_000)


def test_first_admin_setup_sign_in_and_sign_out(app_url: str, browser) -> None:  # noqa: ANN001
    context = browser.new_context()
    page = context.new_page()
    page.goto(app_url)
    wait_for_app(page)
    assert "Welcome to Modeldesk" in page.content()
    _create_first_admin(page)

    sign_in(page, app_url, ADMIN, STRONG)
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


def _row(page, text: str):  # noqa: ANN001, ANN202
    """A table row holding text. st.dataframe draws on a canvas; the rows live in the
    canvas's accessible (never visible) table, so role locators do not see them."""
    return page.locator('[data-testid="stDataFrame"] tr[role="row"]', has_text=text).first


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
    sign_in(page, app_url, ADMIN, STRONG)

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
    _row(page, hint).wait_for(state="attached", timeout=30_000)
    assert hint in _row(page, provider).text_content()
    assert any(hint.encode() in f for f in wire.received), "the table was not captured"
    _assert_not_shown(page, canary, "with the new provider listed")

    page.reload()  # a new session, signed in again by the cookie
    page.get_by_role("heading", name="Providers", level=1).wait_for(timeout=30_000)
    wait_for_app(page)
    _row(page, hint).wait_for(state="attached", timeout=30_000)
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
    _row(page, model).wait_for(state="attached", timeout=30_000)
    cells = _row(page, model).text_content()
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
    sign_in(page, app_url, ADMIN, STRONG)
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
    sidebar = page.get_by_test_id("stSidebar")
    assert "vision" in sidebar.get_by_test_id("stMultiSelect").first.inner_text()
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
    sign_in(page, app_url, ADMIN, STRONG)
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


def _png_size(path: Path) -> tuple[int, int]:
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n", f"{path.name} is not a PNG"
    return struct.unpack(">II", head[16:24])


def test_screenshots_of_every_page(
    browser,
    sqlite_template: Path,  # noqa: ANN001
    tmp_path: Path,
) -> None:
    """Every page over the demo database; into docs/screenshots with MODELDESK_SCREENSHOTS=1,
    else into tmp_path (CI must not change the tree)."""
    from pages import _ui

    out = (
        ROOT / "docs" / "screenshots"
        if os.environ.get("MODELDESK_SCREENSHOTS") == "1"
        else tmp_path / "shots"
    )
    work = tmp_path / "demo"
    work.mkdir()
    url, env = demo_env(work)
    shutil.copy(sqlite_template, work / "demo.db")
    with serve(env) as base:
        shots = take_screenshots(
            browser, base, out, seed=lambda: seed_demo(url, work, organisation=True)
        )
    names = {p.name for p in shots}
    expected = {f"{Path(s.path).stem}.png" for s in _ui.PAGES} | {
        "setup.png",
        "signin.png",
        "models-member.png",
        "explorer-catalog.png",
        "explorer-compare.png",
        "explorer-workload.png",
        "explorer-best.png",
    }
    assert expected <= names
    for path in shots:
        width, height = _png_size(path)
        assert width == 1400 and height >= 900, path.name
        assert path.stat().st_size > 20_000, f"{path.name} looks blank"


def _spend_shown(page) -> Decimal:  # noqa: ANN001
    metric = page.get_by_test_id("stMetric").filter(has_text="Spend (priced)")
    return Decimal(metric.get_by_test_id("stMetricValue").inner_text().strip("$").replace(",", ""))


def test_costs_upload_moves_the_totals_and_a_row_drills_down(  # noqa: ANN001
    browser, sqlite_template: Path, tmp_path: Path
) -> None:
    """An admin uploads a one-line usage CSV on the Costs page and the period's spend grows
    by the file's cost ($2.50: 1M input tokens of gpt-4o at $2.50 per million); selecting a
    row of the Models table opens its events and puts the row in the URL."""
    from datetime import UTC, datetime, timedelta

    work = tmp_path / "demo"
    work.mkdir()
    url, env = demo_env(work)
    shutil.copy(sqlite_template, work / "demo.db")
    seed_demo(url, work)
    at = (datetime.now(UTC) - timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%SZ")
    upload = (
        "timestamp,provider,model,user,input_tokens,output_tokens,id\n"
        f"{at},Production OpenAI,gpt-4o,alice,1000000,0,browser-upload-1\n"
    )
    with serve(env) as base:
        context = browser.new_context(viewport={"width": 1400, "height": 1600})
        page = context.new_page()
        sign_in(page, base, "alice", DEMO_PASSWORD)
        open_page(page, "Costs")
        before = _spend_shown(page)
        page.get_by_text("Import usage").click()
        page.locator("input[type=file]").set_input_files(
            files=[{"name": "usage.csv", "mimeType": "text/csv", "buffer": upload.encode()}]
        )
        page.get_by_text("usage.csv").wait_for(timeout=30_000)  # uploaded before submitting
        wait_for_app(page)  # a click landing in the upload's own rerun would be lost
        page.get_by_role("button", name="Import", exact=True).click()
        page.get_by_text("1 line(s)").wait_for(timeout=90_000)
        wait_for_app(page)
        assert _spend_shown(page) - before == Decimal("2.50")
        table = page.get_by_test_id("stDataFrame").first
        table.scroll_into_view_if_needed()  # the import form is further down the page
        box = table.bounding_box()
        assert box is not None
        page.mouse.click(box["x"] + 18, box["y"] + 35 + 17)  # the first row's selection box
        page.get_by_role("heading", name="Events").wait_for(timeout=30_000)
        wait_for_app(page)
        assert "provider=" in page.url and "model=" in page.url
        assert page.get_by_role("button", name="Download these rows (CSV)").is_visible()
        context.close()


def test_costs_chart_bar_drills_down_and_the_savings_finder_takes_the_catalog(  # noqa: ANN001
    browser, sqlite_template: Path, tmp_path: Path
) -> None:
    """Clicking a bar of the cost-over-time chart opens the events of that day and group
    (the day and the provider in the URL); the savings finder switches to alternatives
    from the whole catalog."""
    work = tmp_path / "demo"
    work.mkdir()
    url, env = demo_env(work)
    shutil.copy(sqlite_template, work / "demo.db")
    seed_demo(url, work, organisation=True)
    with serve(env) as base:
        context = browser.new_context(viewport={"width": 1400, "height": 1600})
        page = context.new_page()
        sign_in(page, base, "alice", DEMO_PASSWORD)
        open_page(page, "Costs")
        page.locator(".js-plotly-plot .bars path").first.click(force=True)
        page.get_by_role("heading", name="Events").wait_for(timeout=30_000)
        wait_for_app(page)
        assert "days=" in page.url and "provider=" in page.url
        day = page.url.split("days=", 1)[1].split("&", 1)[0]
        assert page.get_by_text(f"day {day}").first.is_visible()
        page.get_by_role("heading", name="Savings finder").scroll_into_view_if_needed()
        page.get_by_text("The whole catalog", exact=True).click()
        page.get_by_text("Alternatives come from the whole catalog").wait_for(timeout=30_000)
        wait_for_app(page)
        assert page.get_by_test_id("stMetric").filter(has_text="Could have saved").is_visible()
        context.close()


def test_health_page_checks_and_shows_every_provider(
    browser,
    sqlite_template: Path,  # noqa: ANN001
    tmp_path: Path,
) -> None:
    """Three stored providers behind real fake servers on loopback (allowed by
    MODELDESK_ALLOWED_NETWORKS): "Check now" probes them all from the page, and the grid then
    shows each one's status."""
    from core.accounts import users
    from core.records import providers
    from core.startup import open_runtime
    from tests.conftest import make_settings
    from tests.fakes import FakeProvider

    work = tmp_path / "health"
    work.mkdir()
    url, env = demo_env(work)
    shutil.copy(sqlite_template, work / "demo.db")
    env["MODELDESK_ALLOWED_NETWORKS"] = "127.0.0.0/8"
    with FakeProvider("openai") as good, FakeProvider("anthropic", mode="401") as refused:
        rt = open_runtime(make_settings(url, work))
        with rt.sessions.begin() as s:
            admin = users.create_user(s, username="hana", password=STRONG, role="admin")
            s.flush()
            for name, ptype, base, key in (
                ("Fake OpenAI", "openai", good.base_url, good.key),
                ("Fake Anthropic", "anthropic", refused.base_url, "wrong-key-000000000"),
                ("Gone vLLM", "vllm", "http://127.0.0.1:9/v1", None),
            ):
                providers.create_provider(
                    s,
                    actor=admin,
                    name=name,
                    provider_type=ptype,
                    api_key=key,
                    provider_config={"base_url": base},
                )
        rt.dispose()
        with serve(env) as base:
            context = browser.new_context(viewport={"width": 1400, "height": 1000})
            page = context.new_page()
            sign_in(page, base, "hana", STRONG)
            open_page(page, "Health")
            page.get_by_role("button", name="Check now").click()
            page.get_by_text("Checked 3 provider(s)").wait_for(timeout=30_000)
            wait_for_app(page)
            expected = {
                "Fake OpenAI": "healthy",
                "Fake Anthropic": "unauthorized",
                "Gone vLLM": "unreachable",
            }
            for name, status in expected.items():
                row = _row(page, name)
                row.wait_for(state="attached", timeout=30_000)
                assert status in row.text_content(), (name, row.text_content())
            context.close()


def test_sign_in_address_comes_from_a_trusted_proxy_only(
    browser,
    sqlite_template: Path,  # noqa: ANN001
    tmp_path: Path,
) -> None:
    """Behind a trusted loopback proxy the throttle counts against the X-Forwarded-For
    client (right-most untrusted hop); a proxy that names nobody leaves the address
    unknown, which no per-address bucket counts."""
    from sqlalchemy import select

    from core.accounts import auth
    from core.startup import open_runtime
    from core.store.tables import LoginAttempt
    from tests.conftest import make_settings
    from tests.support.factories import user

    work = tmp_path / "proxy"
    work.mkdir()
    url, env = demo_env(work)
    shutil.copy(sqlite_template, work / "demo.db")
    rt = open_runtime(make_settings(url, work))
    with rt.sessions.begin() as s:
        user(s, "alice", "admin")
    # The server's own X-Forwarded-For handling (uvicorn's, for loopback) is off, as in
    # the Docker image: the app sees the proxy's address and decides itself.
    env.update(MODELDESK_TRUSTED_PROXIES="127.0.0.1, ::1", FORWARDED_ALLOW_IPS="")
    sent = {
        "behind the proxy": {"X-Forwarded-For": "198.51.100.1, 203.0.113.9"},
        "from the proxy itself": {},
    }
    with serve(env) as base:
        for headers in sent.values():
            context = browser.new_context(extra_http_headers=headers)
            page = context.new_page()
            page.goto(base)
            wait_for_app(page)
            page.get_by_role("textbox", name="Username").fill("alice")
            page.get_by_role("textbox", name="Password").fill("wrong-password-1")
            page.get_by_role("button", name="Sign in").click()
            page.get_by_text(auth.FAILED).wait_for(timeout=30_000)
            context.close()
    with rt.sessions() as s:
        keys = [a.client_key for a in s.scalars(select(LoginAttempt).order_by(LoginAttempt.at))]
    rt.dispose()
    assert keys == [auth.client_key("203.0.113.9"), auth.UNKNOWN_CLIENT]


def test_measure_speed_calls_each_azure_models_own_deployment(  # noqa: ANN001
    browser, sqlite_template: Path, tmp_path: Path
) -> None:
    """An Azure provider whose provider-level deployment is set (as older records have it)
    and two model records: "Measure speed" on the second calls that record's deployment,
    as the fake Azure server's request log shows."""
    from core.accounts import users
    from core.records import model_records, providers
    from core.startup import open_runtime
    from tests.conftest import make_settings
    from tests.fakes import FakeProvider

    work = tmp_path / "azure"
    work.mkdir()
    url, env = demo_env(work)
    shutil.copy(sqlite_template, work / "demo.db")
    env["MODELDESK_ALLOWED_NETWORKS"] = "127.0.0.0/8"
    key = "az-browser-key-0123456789"
    with FakeProvider("azure_openai", key=key, models=("dep-gpt4o", "gpt-4o-mini")) as azure:
        rt = open_runtime(make_settings(url, work))
        with rt.sessions.begin() as s:
            admin = users.create_user(s, username="ines", password=STRONG, role="admin")
            s.flush()
            prov = providers.create_provider(
                s,
                actor=admin,
                name="Azure EU",
                provider_type="azure_openai",
                api_key=key,
                provider_config={"base_url": azure.base_url, "deployment_id": "dep-gpt4o"},
            )
            for mid, name in (("dep-gpt4o", "GPT-4o"), ("gpt-4o-mini", "GPT-4o mini")):
                model_records.create_model(
                    s, actor=admin, provider_id=prov.id, model_id=mid, name=name
                )
        rt.dispose()
        with serve(env) as base:
            context = browser.new_context(viewport={"width": 1400, "height": 1000})
            page = context.new_page()
            sign_in(page, base, "ines", STRONG)
            open_page(page, "Models")
            choose(page, "Model to change", "GPT-4o mini — Azure EU (gpt-4o-mini)")
            page.get_by_role("button", name="Measure speed").click()
            page.get_by_text("'GPT-4o mini' answered in").wait_for(timeout=30_000)
            context.close()
    posts = [r.route for r in azure.requests if r.method == "POST"]
    assert posts == ["/openai/deployments/gpt-4o-mini/chat/completions"]


IMAGE_HOST = "127.0.0.2"
HREFS = """() => [...document.querySelectorAll('a')].map(a =>
    a.getAttribute('href') || a.getAttribute('xlink:href') || '')"""


def test_members_text_loads_nothing_in_the_admins_browser(
    browser,
    sqlite_template: Path,  # noqa: ANN001
    tmp_path: Path,
) -> None:
    """A member's provider and model names, model id, a base URL with a backtick, his
    display name and a provider's error text, all holding an image, a javascript: link and
    an <img onerror>, on every page the admin opens (the provider selected, "Show all
    records", the deprecation warning, every Explorer tab, Health, the member's account):
    no request reaches the image's server, no link points at it or at javascript:, no
    dialog fires, and the text is shown as typed."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from core.startup import open_runtime
    from tests.conftest import make_settings
    from tests.support import hostile
    from tests.test_page_model_ratings import a_deprecated_model

    hits: list[str] = []

    class Counter(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the http.server interface
            hits.append(self.path)
            self.send_response(404)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    # Its own loopback address, so a link to it is told apart from the console's links.
    images = ThreadingHTTPServer((IMAGE_HOST, 0), Counter)
    threading.Thread(target=images.serve_forever, daemon=True).start()
    host = f"{IMAGE_HOST}:{images.server_address[1]}"
    work = tmp_path / "hostile"
    work.mkdir()
    url, env = demo_env(work)
    shutil.copy(sqlite_template, work / "demo.db")
    rt = open_runtime(make_settings(url, work))
    names = hostile.seed(rt, host, a_deprecated_model())
    rt.dispose()
    try:
        with serve(env) as base:
            context = browser.new_context(viewport={"width": 1400, "height": 1600})
            page = context.new_page()
            dialogs: list[str] = []
            page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
            sent: list[str] = []
            page.on("request", lambda r: sent.append(r.url) if host in r.url else None)

            def check(where: str) -> None:
                page.wait_for_timeout(500)  # an image would be fetched as it mounts
                bad = [
                    h
                    for h in page.evaluate(HREFS)  # no link to the member's host at all
                    if h.strip().lower().startswith("javascript") or IMAGE_HOST in h
                ]
                assert not bad, (where, bad)
                assert not hits and not sent, (where, hits, sent)
                assert not dialogs, (where, dialogs)

            def main_text() -> str:
                return page.get_by_test_id("stMain").inner_text().replace("\u2060", "")

            sign_in(page, base, "alice", hostile.PASSWORD)
            open_page(page, "Providers")
            check("providers")
            page.get_by_text("Show all records").click()
            wait_for_app(page)
            check("providers, every record")
            choose(page, "Selected provider", names["provider"])
            page.get_by_role("button", name="Save changes").wait_for(timeout=30_000)
            check("the member's provider selected")
            assert names["provider"] in main_text()  # shown as typed
            assert page.locator("code", has_text=hostile.base_url(host)).count() == 1

            open_page(page, "Models")
            page.get_by_text("is marked deprecated").first.wait_for(timeout=30_000)
            check("models and the deprecation warning")
            page.get_by_text("Show all records").click()
            wait_for_app(page)
            check("models, every record")
            assert names["old"] in main_text()

            open_page(page, "Explorer")
            wait_for_charts(page, 3)
            check("explorer charts")
            for name in ("Models", "Compare", "Workload", "Best model"):
                page.get_by_role("tab", name=name).click()
                wait_for_app(page)
                check(f"explorer {name}")
                if name == "Compare":  # st.table: cells are Markdown
                    assert names["model"] in main_text()

            open_page(page, "Health")
            wait_for_charts(page, 1)
            check("health")
            open_page(page, "Access & audit")
            check("access")
            open_page(page, "Users")
            choose(page, "Account", f"bob — {names['display']} (member)")
            check("users, the member's account")
            assert names["display"] in main_text()
            open_page(page, "My account")
            check("my account")
            context.close()
    finally:
        images.shutdown()
        images.server_close()


# --- Every URL goes through app.py, from the first request a server gets -----------------

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
        users.create_user(s, username="dana", password=STRONG, role="admin")
    rt.dispose()
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    with serve(env) as base:
        page.goto(base + DEEP_LINK)
        wait_for_app(page)
        _assert_no_file_list(page)
        page.get_by_role("textbox", name="Username").fill("dana")
        page.get_by_role("textbox", name="Password").fill(STRONG)
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
