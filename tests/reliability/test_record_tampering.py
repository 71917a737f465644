"""A member cannot reach another user's private provider or model by its id.

carol owns a private provider and model; bob (a member) owns one of each too, so every page
renders fully for him. Each case puts carol's record id where a page keeps a record id: the
session-state keys the pages and their dialogs use (a browser cannot set these, a bug or a
future widget might), widget values set before the page's widgets exist, and the
Explorer's URL query. After each run, and after clicking whatever the page then offers
(Delete, Save...), nothing of carol's records is shown (name, model id, grantees) and nothing
in the database changed.

Usage pages (the ledger's drill-downs by record id) do not exist yet; add their keys and
query parameters here when they come.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from streamlit.testing.v1 import AppTest

from core.accounts import access
from core.store.tables import AuditEvent, Grant, ModelRecord, Provider
from tests.support import factories as f
from tests.support.console import Console, state_dump, texts

ROOT = Path(__file__).resolve().parents[2]
# What carol's records would show if they leaked: names, model id, endpoint, the grantee.
SECRET_TEXT = ("Carol secret lab", "Carol hidden model", "carol-model-x", "carol.internal", "dave")


@dataclass(frozen=True)
class Ids:
    provider: str
    model: str
    own_provider: str
    own_model: str


@pytest.fixture
def ids(console: Console) -> Ids:
    """carol's private provider and model (shared with dave), bob's own, and alice (admin)."""
    with console.runtime.sessions.begin() as s:
        alice = f.user(s, "alice", "admin")
        bob, carol, dave = f.user(s, "bob"), f.user(s, "carol"), f.user(s, "dave")
        p = f.provider(
            s,
            carol,
            "Carol secret lab",
            provider_type="openai_compatible",
            provider_config={"base_url": "https://carol.internal/v1"},
        )
        m = f.model(s, carol, p, "carol-model-x", name="Carol hidden model")
        access.grant(s, actor=alice, record=p, user=dave)
        access.grant(s, actor=alice, record=m, user=dave)
        own = f.provider(s, bob, "Bob own")
        own_model = f.model(s, bob, own, "bob-model")
        return Ids(str(p.id), str(m.id), str(own.id), str(own_model.id))


def snapshot(console: Console) -> tuple[Any, ...]:
    """Every provider, model, grant and audit row that could change, read afresh."""
    with console.runtime.sessions() as s:
        return (
            f.table_counts(console.runtime),
            sorted(
                (str(p.id), p.name, p.status, p.priority, p.version, p.instance_wide)
                for p in s.scalars(select(Provider))
            ),
            sorted(
                (str(m.id), m.name, m.status, m.version, m.instance_wide)
                for m in s.scalars(select(ModelRecord))
            ),
            sorted(
                (g.entity_type, str(g.entity_id), str(g.user_id)) for g in s.scalars(select(Grant))
            ),
            s.scalars(select(AuditEvent.action).order_by(AuditEvent.at)).all(),
        )


def tampered(console: Console, page: str, state: dict[str, Any]) -> AppTest:
    """bob on page, with these session-state values in place before the page runs."""
    at = console.open("pages/account.py", as_user="bob")
    for key, value in state.items():
        at.session_state[key] = value
    return at.switch_page(page).run()


def assert_nothing_of_carols(at: AppTest, echoed: tuple[str, ...] = ()) -> None:
    """Nothing of carol's records on the page or in the session; ``echoed``: values the
    tampered URL itself carried (a page may repeat what it was asked for)."""
    assert not at.exception, at.exception
    shown = texts(at) + "\n".join(
        repr(w.value)
        for kind in ("multiselect", "selectbox", "text_input")
        for w in getattr(at, kind)
    )
    for secret in SECRET_TEXT:
        if secret not in echoed:
            assert secret not in shown, secret
    # Nor in what the session keeps for the next run (a dialog's loaded record, say).
    held = state_dump(at)
    for secret in SECRET_TEXT[:4]:
        if secret not in echoed:
            assert secret not in held, secret


# Buttons a tampered page may offer that would act on the record: each is clicked if shown.
ACTIONS = (
    "prov_delete_go",
    "prov_delete_close",
    "model_delete_confirm",
    "share_save",
    "model_imp_list",
    "model_imp_add",
)


def click_everything(at: AppTest) -> AppTest:
    for key in ACTIONS:
        found = [b for b in at.button if b.key == key and not b.disabled]
        if found:
            at = found[0].click().run()
            assert_nothing_of_carols(at)
    return at


P, M = "<carol's provider id>", "<carol's model id>"  # filled in by fill()
CASES: list[tuple[str, dict[str, Any]]] = [
    # Dialogs opened from a session-state flag holding the record id.
    ("pages/providers.py", {"md_share": ("provider", P)}),
    ("pages/providers.py", {"md_share": ("model", M)}),
    ("pages/models.py", {"md_share": ("model", M)}),
    ("pages/models.py", {"md_share": ("provider", P)}),
    ("pages/providers.py", {"md_prov_delete": (P, 1)}),
    ("pages/models.py", {"md_model_delete": (M, "a name of bob's choosing", 1)}),
    # The picked record, before the picker exists; a "go to" of the add/edit forms.
    ("pages/providers.py", {"prov_pick": P}),
    ("pages/providers.py", {"md_prov_goto": ("Edit", P)}),
    ("pages/models.py", {"models_pick": M}),
    ("pages/models.py", {"md_model_editing": (M, 1), "models_pick": M}),
    # Filters and the import picker.
    ("pages/models.py", {"models_f_provider": [P]}),
    ("pages/models.py", {"models_view": "Import from provider", "model_imp_provider": P}),
    # Health's pickers hold provider ids too.
    ("pages/health.py", {"health_pick": P}),
    ("pages/health.py", {"health_chart_provider": P}),
    # The Explorer's comparison holds model record ids.
    ("pages/explorer.py", {"explorer_compare": [M], "explorer_tab": "Compare"}),
    # Admin-only views switched on from the session: a member still gets their own.
    ("pages/providers.py", {"prov_show_all": True}),
    ("pages/models.py", {"models_all": True}),
    ("pages/models.py", {"models_view": "What users see", "models_wus_user": "carol"}),
    ("pages/models.py", {"models_view": "What users see", "models_wus_user": "dave"}),
]


def fill(value: Any, ids: Ids) -> Any:
    """A case's value with carol's real ids in place of P and M."""
    if isinstance(value, (tuple, list)):
        return type(value)(fill(v, ids) for v in value)
    return {P: ids.provider, M: ids.model}.get(value, value) if isinstance(value, str) else value


def test_the_setup_shows_bobs_own_records_and_hides_carols(console: Console, ids: Ids):
    """The fixture's premise: bob's pages work and list his own records, not carol's."""
    at = console.open("pages/models.py", as_user="bob")
    assert "bob-model" in texts(at)
    assert_nothing_of_carols(at)
    at = tampered(console, "pages/providers.py", {"prov_pick": ids.own_provider})
    assert "Bob own" in texts(at) and at.selectbox(key="prov_pick").value == ids.own_provider


@pytest.mark.parametrize(
    ("page", "state"), CASES, ids=[f"{Path(p).stem}-{'+'.join(st)}" for p, st in CASES]
)
def test_a_member_cannot_reach_a_private_record_by_session_state(
    console: Console, ids: Ids, page: str, state: dict[str, Any]
):
    state = {key: fill(value, ids) for key, value in state.items()}
    before = snapshot(console)
    at = tampered(console, page, state)
    assert_nothing_of_carols(at)
    at = click_everything(at)
    at.run()  # and on the run after
    assert_nothing_of_carols(at)
    assert snapshot(console) == before, (page, state)


def test_the_pages_reading_the_url_are_those_covered_here():
    """The URL cases below cover every page that reads st.query_params (Explorer, Costs); a
    new one needs its own cases here."""
    readers = {
        path.name for path in (ROOT / "pages").glob("*.py") if "query_params" in path.read_text()
    }
    assert readers == {"explorer.py", "costs.py"}


def _carols_usage(console: Console) -> None:
    from datetime import UTC, datetime, timedelta

    from core.usage.inputs import UsageInput
    from core.usage.ledger import record_usage

    with console.runtime.sessions.begin() as s:
        record_usage(
            s,
            events=[
                UsageInput(
                    timestamp=datetime.now(UTC) - timedelta(hours=2),
                    provider="Carol secret lab",
                    model="carol-model-x",
                    input_tokens=1000,
                    output_tokens=100,
                    user="carol",
                    tags={"team": "carol-secret-team"},
                )
            ],
        )


@pytest.mark.parametrize(
    "query",
    [
        {"provider": "PROVIDER_ID"},
        {"provider": "Carol secret lab"},
        {"model": "carol-model-x"},
        {"user": "carol"},
        {"by": "user", "period": "7d"},
        {"by": "model", "period": "30d"},
        {"by": "tag:team"},
        {"tag": "team=carol-secret-team"},
        {"period": "custom", "from": "2000-01-01", "to": "2100-01-01", "by": "provider"},
        {"provider": "Carol secret lab", "days": "TODAY"},  # a chart bar's drill-down
        {"user": "carol", "days": "TODAY", "by": "user"},
    ],
)
def test_a_member_cannot_reach_private_usage_through_the_costs_url(
    console: Console, ids: Ids, query: dict[str, str]
):
    from datetime import UTC, datetime

    _carols_usage(console)
    before = snapshot(console)
    at = console.open(as_user="bob")
    today = datetime.now(UTC).date().isoformat()
    swap = {"PROVIDER_ID": ids.provider, "TODAY": today}
    at.query_params.update({k: swap.get(v, v) for k, v in query.items()})
    at = at.switch_page("pages/costs.py").run()
    assert_nothing_of_carols(at, echoed=tuple(query.values()))
    assert "No events." in texts(at) or not any(k in query for k in ("provider", "model"))
    if not any("carol-secret-team" in v for v in query.values()):  # else it may be echoed
        assert "carol-secret-team" not in texts(at) + state_dump(at)
    assert snapshot(console) == before


@pytest.mark.parametrize(
    "query",
    [
        {"q": "Carol"},
        {"q": "model-x"},
        {"providers": "openai_compatible"},
        {"usable": "1", "q": "hidden"},
        {"compare": "MODEL_ID"},  # the savings finder's Compare link, tampered
        {"compare": "MODEL_ID,PROVIDER_ID", "scope": "catalog"},
    ],
)
def test_a_member_cannot_reach_a_private_model_through_the_explorer_url(
    console: Console, ids: Ids, query: dict[str, str]
):
    before = snapshot(console)
    at = console.open(as_user="bob")
    swap = {"MODEL_ID": ids.model, "PROVIDER_ID": ids.provider}
    filled = {k: ",".join(swap.get(p, p) for p in v.split(",")) for k, v in query.items()}
    at.query_params.update(filled)
    at = at.switch_page("pages/explorer.py").run()
    assert_nothing_of_carols(at)
    for name in ("Models", "Compare", "Workload", "Best model"):
        at.session_state["explorer_tab"] = name
        at.run()
        assert_nothing_of_carols(at)
    assert snapshot(console) == before


def test_an_admin_still_opens_the_share_dialog_of_a_private_record(console: Console, ids: Ids):
    """The member's refusal is not everyone's: admins manage every record."""
    at = console.open("pages/models.py", as_user="alice")
    at.session_state["md_share"] = ("provider", ids.provider)
    at.run()
    assert not at.exception and "Carol secret lab" in texts(at)
    assert at.multiselect(key="share_users").value == ["dave"]


def test_refusals_name_nothing_of_the_record(console: Console, ids: Ids):
    """The messages a tampered page shows say 'no such' or 'not yours', never a name."""
    at = tampered(console, "pages/providers.py", {"md_prov_delete": (ids.provider, 1)})
    assert [e.value for e in at.error] == ["No such provider."]
    at = tampered(console, "pages/models.py", {"md_share": ("model", ids.model)})
    assert [e.value for e in at.error] == ["No such model."]
    assert uuid.UUID(ids.model)  # the id itself is what bob typed; it is not a leak
