"""The Access & audit page (AppTest): who sees what and why (checked against
access.visibility_reason), the audit log's filters, its CSV download, and no secret shown."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import delete, select
from streamlit.runtime.media_file_manager import MediaFileManager
from streamlit.testing.v1 import AppTest

from core.accounts import access, audit, users
from core.errors import PermissionDeniedError
from core.records import providers
from core.store.tables import AuditEvent, ModelRecord, Provider
from tests.support import factories as f
from tests.support.console import APP, Console, texts

PAGE = "pages/access.py"
CANARY = "sk-canary-1d2c3b4a5f6e7d8c"
DAY = datetime(2025, 5, 10, 9, 30, tzinfo=UTC)


@pytest.fixture
def downloads(monkeypatch: pytest.MonkeyPatch) -> list[Callable[[], str]]:
    """The CSV builders the page hands to st.download_button (run when clicked)."""
    captured: list[Callable[[], str]] = []
    real = MediaFileManager.add_deferred

    def spy(self, data_callable, *args, **kwargs):  # noqa: ANN001, ANN202
        captured.append(data_callable)
        return real(self, data_callable, *args, **kwargs)

    monkeypatch.setattr(MediaFileManager, "add_deferred", spy)
    return captured


def seed(console: Console) -> None:
    """alice (admin), bob, carol; instance-wide, private, owned and granted records."""
    with console.runtime.sessions.begin() as s:
        alice, bob, carol = f.user(s, "alice", "admin"), f.user(s, "bob"), f.user(s, "carol")
        shared = f.provider(s, alice, "Shared OpenAI", instance_wide=True)
        azure = f.provider(s, alice, "Azure EU")
        f.provider(s, bob, "Bob's Groq")
        f.model(s, alice, shared, "gpt-4o", instance_wide=True)
        azure_4o = f.model(s, alice, azure, "gpt-4o", name="Azure 4o")
        access.grant(s, actor=alice, record=azure, user=bob)
        access.grant(s, actor=alice, record=azure_4o, user=carol)


def open_admin(console: Console) -> AppTest:
    at = console.open(PAGE, as_user="alice")
    assert not at.exception
    return at


def open_log(console: Console) -> AppTest:
    """The page with its Audit log tab open (tabs are lazy: only the open one runs)."""
    at = open_admin(console)
    at.session_state["access_tab"] = "Audit log"
    at = at.run()
    assert not at.exception
    return at


def rows(at: AppTest, key: str) -> list[dict]:
    """A table's rows, found by the column that only that table has."""
    first = {
        "see_record_table": "Display name",
        "see_user_table": "Provider",
        "audit_table": "Action",
    }[key]
    frame = next(d.value for d in at.dataframe if first in d.value.columns)
    return frame.to_dict("records")


# --- Who may open it ------------------------------------------------------------------


def test_a_member_is_refused_and_sees_no_data(console: Console) -> None:
    seed(console)
    at = AppTest.from_file(str(Path(APP).parent / PAGE), default_timeout=30)
    at.session_state["username"] = "bob"
    at.run()
    shown = texts(at)
    assert "This page is for admins." in shown
    assert not at.dataframe and not at.selectbox and not at.get("download_button")
    assert "Azure" not in shown and "carol" not in shown


def test_a_fresh_install_shows_empty_states(console: Console, downloads: list) -> None:
    with console.runtime.sessions.begin() as s:
        f.user(s, "alice", "admin")
    at = open_admin(console)
    shown = texts(at)
    assert "There are no providers or models yet." in shown
    assert "alice sees no provider or model yet." in shown
    assert not at.get("download_button")  # the audit tab has not run
    assert "1 event, newest first." in texts(open_log(console))  # the admin's creation

    with console.runtime.sessions.begin() as s:
        s.execute(delete(AuditEvent))
    at = open_log(console)
    assert "The audit log is empty." in texts(at)
    assert at.get("download_button")[0].disabled
    assert not [d for d in at.dataframe if "Action" in d.value.columns]


# --- Who can see what --------------------------------------------------------------------


def expected_reasons(console: Console) -> dict[tuple[str, str], str | None]:
    """(username, record name) -> access.visibility_reason, for every pair."""
    with console.runtime.sessions() as s:
        people = users.list_users(s)
        records = [*s.scalars(select(Provider)), *s.scalars(select(ModelRecord))]
        return {
            (u.username, r.name): access.visibility_reason(s, u, r) for u in people for r in records
        }


def test_who_sees_each_record_matches_visibility_reason(console: Console) -> None:
    seed(console)
    expected = expected_reasons(console)
    at = open_admin(console)
    box = at.selectbox(key="see_record")
    assert len(box.options) == 5
    for index, option in enumerate(box.options):
        at = at.selectbox(key="see_record").select_index(index).run()
        table = rows(at, "see_record_table")
        name = option.split(" · ", 1)[1].split(" — ")[0]
        shown = {r["User"]: r["Why"] for r in table}
        wanted = {u: why for (u, rec), why in expected.items() if rec == name and why}
        assert set(shown) == set(wanted), option
        for username, why in wanted.items():
            assert shown[username].startswith(why)
            assert (" on 20" in shown[username]) is why.startswith("granted"), shown
        assert table[0]["Why"] == "owner"


def test_what_each_user_sees_matches_visibility_reason(console: Console) -> None:
    seed(console)
    expected = expected_reasons(console)
    at = open_admin(console)
    for username in ("alice", "bob", "carol"):
        at = at.selectbox(key="see_user").set_value(username).run()
        table = rows(at, "see_user_table")
        wanted = {rec: why for (u, rec), why in expected.items() if u == username and why}
        assert {r["Name"]: r["Why"].split(" on ")[0] for r in table} == wanted
    carol = {r["Name"]: r for r in table}
    assert carol["Azure 4o"]["Provider"] == "Azure EU"
    assert carol["Azure 4o"]["Why"].startswith("granted by alice on ")
    assert "carol sees 1 provider(s) and 2 model(s)." in texts(at).replace("**", "")


def test_a_deactivated_user_is_flagged(console: Console) -> None:
    seed(console)
    with console.runtime.sessions.begin() as s:
        users.set_active(
            s, actor=users.require_user(s, "alice"), user=users.require_user(s, "bob"), active=False
        )
    at = open_admin(console).selectbox(key="see_user").set_value("bob").run()
    assert "bob is deactivated and cannot sign in" in texts(at)
    assert {r["Role"] for r in rows(at, "see_record_table") if r["User"] == "bob"} == {
        "member, deactivated"
    }


# --- The audit log -----------------------------------------------------------------------


def date_events(console: Console) -> None:
    """Spread the seeded events over days: the n-th newest event is n days old."""
    with console.runtime.sessions.begin() as s:
        events = list(s.scalars(select(AuditEvent).order_by(AuditEvent.at.desc())))
        for n, event in enumerate(events):
            event.at = DAY - timedelta(days=n)


def test_audit_filters_change_the_rows(console: Console) -> None:
    seed(console)
    date_events(console)
    at = open_log(console)
    everything = rows(at, "audit_table")
    assert len(everything) == 10
    assert [r["Time (UTC)"] for r in everything] == sorted(
        (r["Time (UTC)"] for r in everything), reverse=True
    )

    at = at.selectbox(key="audit_actor").set_value("bob").run()
    assert rows(at, "audit_table")[0]["Action"] == "provider.create"
    assert {r["Actor"] for r in rows(at, "audit_table")} == {"bob"}
    at = at.selectbox(key="audit_actor").set_value("@system").run()
    assert {r["Action"] for r in rows(at, "audit_table")} == {"user.create"}
    at = at.selectbox(key="audit_actor").set_value("").run()

    at = at.selectbox(key="audit_action").set_value("model.*").run()
    assert {r["Action"] for r in rows(at, "audit_table")} == {"model.create", "model.grant"}
    at = at.selectbox(key="audit_action").set_value("provider.grant").run()
    assert [(r["Record"], r["After"]) for r in rows(at, "audit_table")] == [
        ("Azure EU", "user: bob")
    ]
    at = at.selectbox(key="audit_action").set_value("").run()

    with console.runtime.sessions() as s:
        azure = s.scalar(select(Provider).where(Provider.name == "Azure EU"))
    at = at.selectbox(key="audit_record").set_value(str(azure.id)).run()
    assert {r["Record"] for r in rows(at, "audit_table")} == {"Azure EU"}
    assert len(rows(at, "audit_table")) == 2
    at = at.selectbox(key="audit_record").set_value("").run()

    at.date_input(key="audit_from").set_value(date(2025, 5, 8))
    at = at.date_input(key="audit_to").set_value(date(2025, 5, 9)).run()
    assert len(rows(at, "audit_table")) == 2  # one event per day, both days inclusive
    assert "2 events, newest first." in texts(at)
    at = at.date_input(key="audit_from").set_value(date(2025, 5, 11)).run()
    assert "'From' is after 'To': no event can match." in texts(at)
    assert "No audit event matches these filters." in texts(at)


def test_the_csv_download_holds_the_filtered_events(console: Console, downloads: list) -> None:
    seed(console)
    at = open_log(console)
    at = at.selectbox(key="audit_action").set_value("provider.*").run()
    button = at.get("download_button")[0]
    assert button.label == "Download CSV" and not button.disabled
    content = downloads[-1]()
    parsed = list(csv.DictReader(io.StringIO(content)))
    assert list(parsed[0]) == list(audit.CSV_COLUMNS)
    assert {r["action"] for r in parsed} == {"provider.create", "provider.grant"}
    assert len(parsed) == len(rows(at, "audit_table")) == 4
    with console.runtime.sessions() as s:
        assert content == audit.events_csv(audit.list_events(s, action_prefix="provider."))


def test_the_csv_is_refused_once_the_asker_is_no_longer_admin(
    console: Console, downloads: list
) -> None:
    seed(console)
    open_log(console)
    build = downloads[-1]
    with console.runtime.sessions.begin() as s:
        alice, bob = users.require_user(s, "alice"), users.require_user(s, "bob")
        users.set_role(s, actor=alice, user=bob, role="admin")
        users.set_role(s, actor=bob, user=alice, role="member")
    with pytest.raises(PermissionDeniedError):
        build()


def test_no_secret_reaches_the_page_or_the_csv(console: Console, downloads: list) -> None:
    with console.runtime.sessions.begin() as s:
        alice = f.user(s, "alice", "admin")
        prov = providers.create_provider(
            s, actor=alice, name="Canary", provider_type="openai", api_key=CANARY
        )
        s.flush()
        providers.update_provider(
            s, actor=alice, provider_id=prov.id, expected_version=prov.version, api_key=CANARY[::-1]
        )
    at = open_log(console)
    csv_text = downloads[-1]()
    shown = texts(at) + texts(open_admin(console)) + repr(at.session_state.to_dict())
    assert "provider.update" in shown and "provider.update" in csv_text
    for secret in (CANARY, CANARY[::-1]):
        assert secret not in shown and secret not in csv_text
        assert secret[4:-4] not in shown and secret[4:-4] not in csv_text
