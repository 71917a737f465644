"""Reading the audit log (filters, CSV) and who-can-see-what in bulk, on both databases.

``access.record_audience`` and ``access.user_reach`` must give, for every user and record,
exactly the reason ``access.visibility_reason`` gives, with a fixed number of queries.
"""

from __future__ import annotations

import csv
import io
import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

from sqlalchemy import event, select, update
from sqlalchemy.orm import Session

from core.accounts import access, audit, users
from core.records import model_records, providers
from core.startup import Runtime
from core.store.tables import AuditEvent, Grant, ModelRecord, Provider, User
from tests.support import factories as f

CANARY = "sk-canary-7f3a9c1e5b2d4f60"
T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


@contextmanager
def counted(session: Session) -> Iterator[list[str]]:
    """The SQL statements the session's engine runs inside the block."""
    statements: list[str] = []
    engine = session.get_bind()

    def listen(conn, cursor, statement, params, context, many) -> None:  # noqa: ANN001
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", listen)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", listen)


def seed_log(s: Session) -> dict[str, object]:
    """Users, a provider and a model with known events at known times (a day apart)."""
    admin = f.user(s, "boss", "admin")
    bob = f.user(s, "bob")
    prov = f.provider(s, admin, "Team OpenAI")
    model = f.model(s, admin, prov, "gpt-4o")
    access.grant(s, actor=admin, record=prov, user=bob)
    users.set_role(s, actor=admin, user=bob, role="admin")
    s.flush()
    events = list(s.scalars(select(AuditEvent).order_by(AuditEvent.at, AuditEvent.id)))
    for day, ev in enumerate(events):  # one event per day, in creation order
        ev.at = T0 + timedelta(days=day)
    s.flush()
    return {
        "admin": admin,
        "bob": bob,
        "prov": prov,
        "model": model,
        "actions": [e.action for e in events],
    }


def test_events_are_newest_first_and_filter_by_actor_record_action_time(runtime: Runtime) -> None:
    with runtime.sessions.begin() as s:
        w = seed_log(s)
    with runtime.sessions() as s:
        admin, bob = s.get(User, w["admin"].id), s.get(User, w["bob"].id)
        everything = audit.list_events(s)
        assert [e.action for e in everything] == list(reversed(w["actions"]))
        assert everything[0].at > everything[-1].at

        # Users created by the factories have no actor: the system made them.
        assert {e.action for e in audit.list_events(s, actor=audit.SYSTEM_ACTOR)} == {"user.create"}
        assert audit.list_events(s, actor=bob) == []
        assert {e.action for e in audit.list_events(s, actor=admin)} == {
            "provider.create",
            "model.create",
            "provider.grant",
            "user.role",
        }
        assert [e.action for e in audit.list_events(s, actor="boss")] == [
            e.action for e in audit.list_events(s, actor=admin)
        ]

        on_provider = audit.list_events(s, entity_id=w["prov"].id)
        assert [e.action for e in on_provider] == ["provider.grant", "provider.create"]
        assert [e.action for e in audit.list_events(s, action_prefix="model.")] == ["model.create"]
        assert [e.action for e in audit.list_events(s, action_prefix="user.")] == [
            "user.role",
            "user.create",
            "user.create",
        ]
        assert [e.action for e in audit.list_events(s, action="user.role")] == ["user.role"]
        # LIKE wildcards in a prefix are literal: "user_" matches nothing.
        assert audit.list_events(s, action_prefix="user_") == []
        assert audit.list_events(s, action_prefix="%") == []

        day2, day4 = T0 + timedelta(days=2), T0 + timedelta(days=4)
        window = audit.list_events(s, since=day2, until=day4)
        assert [e.at for e in window] == [T0 + timedelta(days=3), day2]
        assert len(audit.list_events(s, since=day4)) == len(w["actions"]) - 4
        assert len(audit.list_events(s, limit=2)) == 2
        assert audit.list_events(
            s, actor=admin, action_prefix="provider.", since=T0 + timedelta(days=3)
        ) == audit.list_events(s, action="provider.grant")


def test_an_empty_log_lists_nothing(runtime: Runtime) -> None:
    with runtime.sessions() as s:
        assert audit.list_events(s) == []
        assert audit.audited_records(s) == []
        assert audit.audited_actions(s) == []
        assert audit.events_csv([]).splitlines() == [",".join(audit.CSV_COLUMNS)]


def test_events_csv_has_iso_utc_times_and_json_snapshots(runtime: Runtime) -> None:
    with runtime.sessions.begin() as s:
        admin = f.user(s, "boss", "admin")
        f.provider(s, admin, '=HYPERLINK("x")')
    with runtime.sessions() as s:
        events = audit.list_events(s, action="provider.create")
        rows = list(csv.DictReader(io.StringIO(audit.events_csv(events))))
    assert list(rows[0]) == list(audit.CSV_COLUMNS)
    row = rows[0]
    assert datetime.fromisoformat(row["time_utc"]).utcoffset() == timedelta(0)
    assert row["actor"] == "boss" and row["action"] == "provider.create"
    assert row["entity_type"] == "provider"
    # A name that a spreadsheet would run as a formula is quoted.
    assert row["entity"] == '\'=HYPERLINK("x")'
    after = json.loads(row["after"])
    assert after["provider_type"] == "openai" and after["api_key"] == "set (…0000)"
    assert row["before"] == ""


def test_no_secret_reaches_the_log_its_csv_or_its_rendering(runtime: Runtime) -> None:
    with runtime.sessions.begin() as s:
        admin = f.user(s, "boss", "admin")
        prov = providers.create_provider(
            s, actor=admin, name="Canary", provider_type="openai", api_key=CANARY
        )
        s.flush()
        providers.update_provider(
            s, actor=admin, provider_id=prov.id, expected_version=prov.version, api_key=CANARY + "x"
        )
    with runtime.sessions() as s:
        events = audit.list_events(s)
        shown = audit.events_csv(events) + "".join(
            audit.describe_snapshot(e.before) + audit.describe_snapshot(e.after) for e in events
        )
    assert "provider.update" in shown
    assert CANARY not in shown and CANARY[-8:] not in shown


def test_audited_records_keep_deleted_records_with_their_newest_label(runtime: Runtime) -> None:
    with runtime.sessions.begin() as s:
        admin = f.user(s, "boss", "admin")
        prov = f.provider(s, admin, "Old name")
        s.flush()
        providers.update_provider(
            s, actor=admin, provider_id=prov.id, expected_version=prov.version, name="New name"
        )
        gone = f.provider(s, admin, "Short-lived")
        s.flush()
        providers.delete_provider(s, actor=admin, provider_id=gone.id)
        ids = {"prov": prov.id, "gone": gone.id, "admin": admin.id}
    with runtime.sessions() as s:
        listed = audit.audited_records(s)
        actions = audit.audited_actions(s)
    labels = {r.entity_id: (r.entity_type, r.label) for r in listed}
    assert labels[ids["prov"]] == ("provider", "New name")
    assert labels[ids["gone"]] == ("provider", "Short-lived")
    assert labels[ids["admin"]] == ("user", "boss")
    assert len(listed) == 3
    assert actions[:2] == ["provider.*", "user.*"]
    assert set(actions[2:]) == {
        "provider.create",
        "provider.update",
        "provider.delete",
        "user.create",
    }


def test_describe_snapshot_reads_like_prose() -> None:
    assert audit.describe_snapshot(None) == ""
    assert (
        audit.describe_snapshot(
            {"role": "admin", "active": False, "note": None, "moved": [{"to": 1}]}
        )
        == 'role: admin · active: no · note: — · moved: [{"to": 1}]'
    )


# --- Who can see what --------------------------------------------------------------------


def build_world(s: Session) -> None:
    """Owners, instance-wide records, grants (one whose granter is gone), no access."""
    boss = f.user(s, "boss", "admin")
    olga, vera, walt = f.user(s, "olga"), f.user(s, "vera"), f.user(s, "walt")
    f.user(s, "zed")  # sees only instance-wide records
    wide = f.provider(s, boss, "Shared OpenAI", instance_wide=True)
    mine = f.provider(s, olga, "Olga's key")
    hers = f.provider(s, vera, "Vera's key", status="inactive")
    f.model(s, boss, wide, "gpt-4o", instance_wide=True)
    private = f.model(s, olga, wide, "gpt-4o-mini")
    f.model(s, olga, mine, "o3")
    vera_model = f.model(s, vera, hers, "o1", status="inactive")
    access.grant(s, actor=boss, record=mine, user=vera)
    access.grant(s, actor=boss, record=private, user=walt)
    access.grant(s, actor=boss, record=vera_model, user=olga)
    access.grant(s, actor=boss, record=wide, user=walt)  # moot: instance-wide wins
    s.flush()
    # A grant whose granter was removed reads "granted", as visibility_reason says.
    s.execute(update(Grant).where(Grant.entity_id == vera_model.id).values(granted_by_id=None))


def test_audience_and_reach_agree_with_visibility_reason_on_every_pair(runtime: Runtime) -> None:
    with runtime.sessions.begin() as s:
        build_world(s)
    with runtime.sessions() as s:
        people = users.list_users(s)
        records = [*s.scalars(select(Provider)), *s.scalars(select(ModelRecord))]
        expected = {
            (u.id, r.id): access.visibility_reason(s, u, r) for u in people for r in records
        }
        by_record = {
            (x.user_id, x.record_id): x.reason
            for r in records
            for x in access.record_audience(s, r)
        }
        by_user = {
            (x.user_id, x.record_id): x.reason for u in people for x in access.user_reach(s, u)
        }
    seen = {pair: why for pair, why in expected.items() if why is not None}
    assert by_record == seen
    assert by_user == seen
    assert set(seen.values()) == {"owner", "instance-wide", "granted by boss", "granted"}
    assert len(seen) < len(expected)  # some pairs see nothing


def test_audience_lists_the_owner_first_with_grant_times(runtime: Runtime) -> None:
    with runtime.sessions.begin() as s:
        build_world(s)
    with runtime.sessions() as s:
        mine = s.scalar(select(Provider).where(Provider.name == "Olga's key"))
        sights = access.record_audience(s, mine)
        wide = s.scalar(select(Provider).where(Provider.name == "Shared OpenAI"))
        everyone = access.record_audience(s, wide)
        model = s.scalar(select(ModelRecord).where(ModelRecord.model_id == "gpt-4o-mini"))
        model_sights = access.record_audience(s, model)
    assert [(x.username, x.reason) for x in sights] == [
        ("olga", "owner"),
        ("vera", "granted by boss"),
    ]
    assert sights[0].granted_at is None and sights[1].granted_at is not None
    assert [x.username for x in everyone] == ["boss", "olga", "vera", "walt", "zed"]
    assert {x.provider_name for x in model_sights} == {"Shared OpenAI"}


def test_reach_lists_providers_then_models_with_their_provider(runtime: Runtime) -> None:
    with runtime.sessions.begin() as s:
        build_world(s)
    with runtime.sessions() as s:
        walt = users.require_user(s, "walt")
        reach = access.user_reach(s, walt)
        zed = access.user_reach(s, users.require_user(s, "zed"))
    assert [(x.entity_type, x.record_name, x.provider_name, x.reason) for x in reach] == [
        ("provider", "Shared OpenAI", None, "instance-wide"),
        ("model", "gpt-4o", "Shared OpenAI", "instance-wide"),
        ("model", "gpt-4o-mini", "Shared OpenAI", "granted by boss"),
    ]
    assert [x.record_name for x in zed] == ["Shared OpenAI", "gpt-4o"]


def test_bulk_answers_take_a_fixed_number_of_queries(runtime: Runtime) -> None:
    with runtime.sessions.begin() as s:
        boss = f.user(s, "boss", "admin")
        people = [f.user(s, f"user{i}") for i in range(6)]
        for i in range(8):
            prov = f.provider(s, boss, f"P{i}", instance_wide=i % 2 == 0)
            model = f.model(s, boss, prov, f"m{i}")
            for person in people[: i % 4]:
                access.grant(s, actor=boss, record=prov, user=person)
                access.grant(s, actor=boss, record=model, user=person)
    with runtime.sessions() as s:
        member = users.require_user(s, "user0")
        model = s.scalar(select(ModelRecord).where(ModelRecord.model_id == "m3"))
        with counted(s) as reach_sql:
            reach = access.user_reach(s, member)
        with counted(s) as audience_sql:
            audience = access.record_audience(s, model)
        with counted(s) as choices_sql:
            choices = access.record_choices(s)
    assert len(reach) > 8 and len(audience) == 4
    assert len(reach_sql) <= 4 and len(audience_sql) <= 3 and len(choices_sql) <= 3
    assert len(choices) == 16


def test_record_choices_list_every_record_private_ones_too(runtime: Runtime) -> None:
    with runtime.sessions.begin() as s:
        build_world(s)
    with runtime.sessions() as s:
        choices = access.record_choices(s)
        total = len(list(s.scalars(select(Provider.id)))) + len(
            list(s.scalars(select(ModelRecord.id)))
        )
    assert len(choices) == total == 7
    assert [c.name for c in choices if c.entity_type == "provider"][0] == "Shared OpenAI"
    o3 = next(c for c in choices if c.name == "o3")
    assert (o3.owner, o3.provider_name, o3.instance_wide) == ("olga", "Olga's key", False)
    assert all(isinstance(c.id, uuid.UUID) for c in choices)
    assert model_records  # the model service built the records above
