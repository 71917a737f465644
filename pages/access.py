"""Access & audit (admins only): who can see which provider or model and why, and the
audit log with filters and a CSV download.

The reasons come from core.accounts.access (owner, instance-wide, or a grant by whom and when), the
same rules the listings use; audit rows never hold secrets (core writes only "…last4").
"""

from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta

import pandas as pd
import streamlit as st

from core.accounts import access, audit, users
from core.errors import PermissionDeniedError
from pages import _ui

_md = _ui.literal  # others' text (names, messages) shown literally in Markdown

ANY = ""
SYSTEM = "@system"  # usernames start with a letter or digit, so this is never one
TYPE_LABELS = {"provider": "Provider", "model": "Model", "user": "User"}
TAB_KEY = "access_tab"

st.title("Access & audit")
st.caption("Who can see each provider and model, and why; every change, by whom and when.")

with _ui.reading() as session:
    me = _ui.require_admin(session)
    my_name = me.username
    people = {u.username: (u.display_name, u.role, u.active) for u in users.list_users(session)}


def _person(username: str) -> tuple[str, str, bool]:
    """(display name, role, active); a user added since this run began reads as unknown."""
    return people.get(username, (username, "?", True))


def _user_label(username: str) -> str:
    display, _, active = _person(username)
    return f"{username} — {display}" + ("" if active else " (deactivated)")


def _role(username: str) -> str:
    _, role, active = _person(username)
    return role if active else f"{role}, deactivated"


def _record_label(ref: access.RecordRef) -> str:
    where = f" — {ref.provider_name}" if ref.provider_name else ""
    return f"{TYPE_LABELS[ref.entity_type]} · {ref.name}{where}"


def _why(sight: access.Sight) -> str:
    """'granted by X on T' for a grant; 'owner' or 'instance-wide' as they are."""
    when = f" on {sight.granted_at:%Y-%m-%d %H:%M} UTC" if sight.granted_at else ""
    return sight.reason + when


# --- Who can see what -------------------------------------------------------------------


def _record_audience(choices: list[access.RecordRef]) -> None:
    st.subheader("Who sees a record")
    refs = {f"{c.entity_type}:{c.id}": c for c in choices}
    if not refs:
        st.info("There are no providers or models yet.")
        return
    picked = st.columns([3, 2])[0].selectbox(
        "Provider or model",
        list(refs),
        key="see_record",
        format_func=lambda key: _record_label(refs[key]),
    )
    ref = refs[picked]

    def audience() -> list[access.Sight]:
        with _ui.reading() as session:
            me = _ui.current_user(session)  # an admin: this page stops for anyone else
            record = access.load_entity(session, ref.entity_type, ref.id, user=me)
            return access.record_audience(session, record)

    sights = _ui.attempt(audience) or []
    scope = (
        "instance-wide: everyone sees it"
        if ref.instance_wide
        else f"private: its owner and {len(sights) - 1} user(s) with a grant"
    )
    st.caption(f"Owned by **{_md(ref.owner)}** · {scope}.")
    st.dataframe(
        pd.DataFrame(
            {
                "User": [s.username for s in sights],
                "Display name": [_person(s.username)[0] for s in sights],
                "Role": [_role(s.username) for s in sights],
                "Why": [_why(s) for s in sights],
            }
        ),
        hide_index=True,
        width="stretch",
        key="see_record_table",
        column_config={
            "Role": st.column_config.TextColumn(width="small"),
            "Why": st.column_config.TextColumn(width="large"),
        },
    )


def _user_reach() -> None:
    st.subheader("What a user sees")
    who = st.columns([3, 2])[0].selectbox(
        "User", list(people), key="see_user", format_func=_user_label
    )

    def reach() -> list[access.Sight]:
        with _ui.reading() as session:
            return access.user_reach(session, users.require_user(session, who))

    sights = _ui.attempt(reach) or []
    if not _person(who)[2]:
        st.warning(f"{_md(who)} is deactivated and cannot sign in; this is what they would see.")
    if not sights:
        st.info(f"{_md(who)} sees no provider or model yet.")
        return
    n_prov = sum(s.entity_type == "provider" for s in sights)
    st.caption(f"**{_md(who)}** sees {n_prov} provider(s) and {len(sights) - n_prov} model(s).")
    st.dataframe(
        pd.DataFrame(
            {
                "Type": [TYPE_LABELS[s.entity_type] for s in sights],
                "Name": [s.record_name for s in sights],
                "Provider": [s.provider_name or "" for s in sights],
                "Why": [_why(s) for s in sights],
            }
        ),
        hide_index=True,
        width="stretch",
        key="see_user_table",
        column_config={
            "Type": st.column_config.TextColumn(width="small"),
            "Name": st.column_config.TextColumn(width="medium"),
            "Provider": st.column_config.TextColumn(width="medium"),
            "Why": st.column_config.TextColumn(width="large"),
        },
    )


def who_sees_what() -> None:
    """Both directions: a record's audience, then a user's reach."""
    with _ui.reading() as session:
        choices = access.record_choices(session)
    st.caption(
        "A user sees a record they own, every instance-wide record, and each record an "
        "admin granted them. Admins follow the same rules; they may also manage "
        "every record."
    )
    _record_audience(choices)
    _user_reach()


# --- Audit log --------------------------------------------------------------------------


def _filters(
    session,
    actor_key: str,
    record_key: str,
    action: str,
    since_day: date | None,
    until_day: date | None,
) -> dict:
    """list_events keyword arguments for the chosen filters, in this session."""
    found: dict = {}
    if actor_key == SYSTEM:
        found["actor"] = audit.SYSTEM_ACTOR
    elif actor_key:
        found["actor"] = users.require_user(session, actor_key)
    if record_key:
        found["entity_id"] = _ui.parse_id(record_key)
    if action.endswith(".*"):
        found["action_prefix"] = action[:-1]
    elif action:
        found["action"] = action
    if since_day:
        found["since"] = datetime.combine(since_day, time.min, tzinfo=UTC)
    if until_day:  # the whole 'To' day counts
        found["until"] = datetime.combine(until_day + timedelta(days=1), time.min, tzinfo=UTC)
    return found


def _csv_builder(chosen: tuple) -> Callable[[], str]:
    """What the download button runs when clicked: the CSV of every matching event."""
    rt, epoch = _ui.runtime(), st.session_state.get(_ui.EPOCH_KEY)

    def build() -> str:
        # Runs later, outside this script run: check again that an admin is asking.
        with rt.sessions() as session:
            asker = users.require_user(session, my_name)
            access.require_admin(asker, "export the audit log")
            if asker.session_epoch != epoch:
                raise PermissionDeniedError("Your session has ended; sign in again.")
            return audit.events_csv(
                audit.list_events(session, **_filters(session, *chosen), limit=audit.EXPORT_LIMIT)
            )

    return build


def audit_log() -> None:
    """Filters, the newest matching events, and the CSV of all of them."""
    with _ui.reading() as session:
        audited = {str(r.entity_id): r for r in audit.audited_records(session)}
        actions = audit.audited_actions(session)

    def record_label(key: str) -> str:
        if key == ANY:
            return "Any record"
        ref = audited[key]
        return f"{TYPE_LABELS.get(ref.entity_type, ref.entity_type)} · {ref.label}"

    actor_col, record_col, action_col, from_col, to_col = st.columns([1.2, 2, 1.4, 1.2, 1.2])
    actor_key = actor_col.selectbox(
        "Actor",
        [ANY, SYSTEM, *people],
        key="audit_actor",
        format_func=lambda k: {ANY: "Anyone", SYSTEM: "system (setup, CLI)"}.get(k, k),
    )
    record_key = record_col.selectbox(
        "Record", [ANY, *audited], key="audit_record", format_func=record_label
    )
    action = action_col.selectbox(
        "Action",
        [ANY, *actions],
        key="audit_action",
        format_func=lambda k: "Any action" if k == ANY else k,
    )
    since_day = from_col.date_input("From (UTC)", value=None, key="audit_from", format="YYYY-MM-DD")
    until_day = to_col.date_input("To (UTC)", value=None, key="audit_to", format="YYYY-MM-DD")
    if since_day and until_day and since_day > until_day:
        st.warning("'From' is after 'To': no event can match.")
    chosen = (actor_key, record_key, action, since_day, until_day)

    with _ui.reading() as session:
        events = audit.list_events(
            session, **_filters(session, *chosen), limit=audit.EVENTS_LIMIT + 1
        )
        # No type column: the action names it (provider.update), and width is scarce.
        rows = [
            (
                e.at,
                e.actor_label,
                e.action,
                e.entity_label,
                audit.describe_snapshot(e.before),
                audit.describe_snapshot(e.after),
            )
            for e in events[: audit.EVENTS_LIMIT]
        ]

    summary_col, download_col = st.columns([4, 1], vertical_alignment="center")
    if len(events) > audit.EVENTS_LIMIT:
        summary_col.caption(
            f"Showing the newest {audit.EVENTS_LIMIT} matching events; narrow "
            "the filters to see older ones. The CSV holds up to "
            f"{audit.EXPORT_LIMIT:,} matching events."
        )
    else:
        summary_col.caption(f"{len(rows)} event{'s' * (len(rows) != 1)}, newest first.")
    download_col.download_button(
        "Download CSV",
        _csv_builder(chosen),
        mime="text/csv",
        key="audit_csv",
        file_name=f"modeldesk-audit-{datetime.now(UTC):%Y%m%d}.csv",
        on_click="ignore",
        icon=":material/download:",
        disabled=not rows,
        width="stretch",
        help="Every event matching the filters, with before/after as JSON.",
    )

    if not rows:
        st.info(
            "No audit event matches these filters." if any(chosen) else "The audit log is empty."
        )
        return
    st.dataframe(
        pd.DataFrame(rows, columns=["Time (UTC)", "Actor", "Action", "Record", "Before", "After"]),
        hide_index=True,
        width="stretch",
        key="audit_table",
        column_config={
            "Time (UTC)": st.column_config.DatetimeColumn(format="YYYY-MM-DD HH:mm:ss"),
            "Actor": st.column_config.TextColumn(width="small"),
            "Before": st.column_config.TextColumn(width="medium"),
            "After": st.column_config.TextColumn(width="large"),
        },
    )


# Lazy tabs: only the open one runs, so a large catalogue and a long log never add up.
see_tab, log_tab = st.tabs(["Who can see what", "Audit log"], key=TAB_KEY, on_change="rerun")
if see_tab.open:
    with see_tab:
        who_sees_what()
if log_tab.open:
    with log_tab:
        audit_log()
