"""The Overview page (AppTest on SQLite): the home page after sign-in; an empty database's
first steps; over the demo organisation, month-to-date spend, budgets, provider health, top
models and deprecated models, each linking to its page, with figures equal to core's for the
same viewer; a member never sees another user's private usage."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from streamlit.testing.v1 import AppTest

from core import costs, demo
from core.accounts import users
from core.accounts.viewer import Viewer
from core.records import catalog_hints
from core.usage import budget_status, overview, summary
from core.usage.inputs import UsageInput
from core.usage.ledger import record_usage
from pages import _ui
from tests.support import factories as f
from tests.support.console import Console, texts
from tests.test_page_model_ratings import a_deprecated_model, prov_config

PAGE = "pages/overview.py"
TZ = "UTC"  # the console's settings: MODELDESK_TIMEZONE unset
SECRET_NAME = "Zed Secret Lab"
SECRET_COST = Decimal("777.77")  # 777.77 M input tokens at $1 per million


def links(at: AppTest) -> dict[str, str]:
    """The page's st.page_link targets (the pages' url paths) by label."""
    return {link.proto.label: link.proto.page for link in at.get("page_link")}


def viewer(console: Console, username: str) -> Viewer:
    with console.runtime.sessions() as s:
        return Viewer.of(users.require_user(s, username))


def no_error(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


@pytest.fixture
def demo_org(console: Console) -> Console:
    """The demo organisation up to now, plus cleo's private provider with priced usage."""
    now = datetime.now(UTC)
    demo.seed_demo(console.runtime.sessions, timezone=TZ, now=now)
    with console.runtime.sessions.begin() as s:
        cleo = users.require_user(s, "cleo")
        prov = f.provider(s, cleo, SECRET_NAME)
        s.flush()
        f.model(
            s,
            cleo,
            prov,
            "secret-model",
            input_cost_per_million="1",
            output_cost_per_million="1",
        )
        s.flush()
        record_usage(
            s,
            events=[
                UsageInput(
                    timestamp=now,
                    provider=SECRET_NAME,
                    model="secret-model",
                    user="cleo",
                    input_tokens=777_770_000,
                    output_tokens=0,
                    idempotency_key="secret-1",
                )
            ],
            timezone=TZ,
        )
    return console


def test_overview_is_the_first_page_after_sign_in(console: Console, people: dict) -> None:
    assert _ui.PAGES[0].path == PAGE
    at = console.open(as_user="alice")
    no_error(at)
    assert at.title[0].value == "Overview"


def test_empty_database_as_admin_says_what_to_do_first(console: Console, people: dict) -> None:
    at = console.open(PAGE, as_user="alice")
    no_error(at)
    shown = texts(at)
    assert "Nothing to show yet" in shown
    assert "modeldesk demo" in shown
    assert "usage import" in shown
    assert links(at)["Add a provider"] == "providers"
    assert "$0.00" not in shown


def test_empty_database_as_member_says_what_to_do_first(console: Console, people: dict) -> None:
    at = console.open(PAGE, as_user="bob")
    no_error(at)
    shown = texts(at)
    assert "Nothing to show yet" in shown
    assert "admin" in shown
    assert "modeldesk demo" not in shown  # a command for whoever runs the server
    assert links(at)["Add a provider"] == "providers"


def expected_links() -> set[str]:
    wanted = {"health", "models", "explorer"}
    if any(p.path == "pages/costs.py" for p in _ui.PAGES):  # the Costs page, once merged
        wanted.add("costs")
    return wanted


def test_demo_as_admin_figures_equal_core_and_link_to_their_pages(demo_org: Console) -> None:
    ada = viewer(demo_org, "ada")
    today = budget_status.today_in(TZ)
    with demo_org.runtime.sessions() as s:
        mtd = overview.month_to_date(s, viewer=ada, today=today)
        lines = overview.models(s, viewer=ada, span=mtd.current)
        attention = budget_status.attention(
            budget_status.evaluate(s, viewer=ada, timezone=TZ, record_alerts=False)
        )
    at = demo_org.open(PAGE, as_user="ada")
    no_error(at)
    shown = texts(at)
    metric = at.metric[0]
    assert metric.value == costs.usd(mtd.totals.cost_usd)
    with demo_org.runtime.sessions() as s:  # the same figure straight from the ledger
        month = summary.total(
            summary.summarize(
                s, date_from=today.replace(day=1), date_to=today + timedelta(days=1), viewer=ada
            )
        )
    assert metric.value == costs.usd(month.cost_usd)
    assert mtd.totals.unpriced_requests  # the lab model's
    assert f"{mtd.totals.unpriced_requests:,} requests this month" in shown
    assert costs.usd(mtd.previous.cost_usd) in shown
    assert "UTC" in shown  # the days' timezone
    priced = [line for line in lines if not line.unpriced][:3]
    for line in priced:
        assert line.model in shown
        assert costs.usd(line.totals.cost_usd) in shown
    assert attention, "the demo has a budget over and one near its limit"
    for status in attention:
        assert status.name in shown
    assert SECRET_NAME in shown  # an admin sees all usage
    assert costs.usd(SECRET_COST) in shown
    assert "Lab vLLM" in shown  # unreachable in the demo's health history
    # the lab model has no price: its cost is unknown, never $0
    lab = next(line for line in lines if line.model == "lab-llama-8b")
    assert lab.totals.requests and not lab.totals.cost_usd
    assert (
        f"lab-llama-8b on Lab vLLM ({lab.totals.unpriced_requests:,} requests): cost unknown"
        in (shown)
    )
    assert expected_links() <= set(links(at).values())


def test_member_never_sees_another_users_private_usage(demo_org: Console) -> None:
    ben = viewer(demo_org, "ben")
    today = budget_status.today_in(TZ)
    with demo_org.runtime.sessions() as s:
        mtd = overview.month_to_date(s, viewer=ben, today=today)
    at = demo_org.open(PAGE, as_user="ben")
    no_error(at)
    shown = texts(at)
    assert at.metric[0].value == costs.usd(mtd.totals.cost_usd)
    assert SECRET_NAME not in shown
    assert "secret-model" not in shown
    assert costs.usd(SECRET_COST) not in shown
    assert "Lab vLLM" not in shown and "lab-llama-8b" not in shown  # cleo's, private
    assert "Ben's Groq" in shown or "llama-3.3-70b-versatile" in shown  # his own


def test_deprecated_models_still_configured_link_to_models(console: Console, people: dict) -> None:
    ptype, model_id = a_deprecated_model()
    with console.runtime.sessions.begin() as s:
        alice = users.require_user(s, "alice")
        prov = f.provider(
            s, alice, "Old one", provider_type=ptype, provider_config=prov_config(ptype)
        )
        s.flush()
        f.model(s, alice, prov, model_id, name="Old model")
    with console.runtime.sessions() as s:
        notices = catalog_hints.deprecation_notices(
            s, user=Viewer.of(users.require_user(s, "alice"))
        )
    assert notices
    at = console.open(PAGE, as_user="alice")
    no_error(at)
    shown = texts(at)
    assert "Nothing to show yet" not in shown  # a provider is configured
    assert "Old model" in shown and "deprecated" in shown
    assert links(at)["Models"] == "models"


def test_the_page_reads_the_rollups_never_the_events(demo_org: Console) -> None:
    at = demo_org.open(as_user="ada")  # the shell first: its reads are not the page's
    with f.counting() as statements:  # every engine: the app opens its own
        at.switch_page(PAGE).run()
    no_error(at)
    assert any("usage_daily" in sql for sql in statements)
    assert not [sql for sql in statements if "usage_events" in sql]
