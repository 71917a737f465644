"""The Costs page's admin actions, each in its own expander: reprice a model over a date
range, import a usage file (or pasted lines) with a progress bar and a per-line error report,
and create and revoke ingest tokens.

A created token is shown once, in the run that created it, and kept nowhere: not in
``st.session_state``, not in a flash message; the next rerun no longer has it.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pandas as pd
import streamlit as st

from core.accounts import users
from core.accounts.viewer import Viewer
from core.errors import ValidationError
from core.usage import formats, ingest_tokens, reprice
from core.usage.formats import ImportReport
from pages import _ui

_md = _ui.literal
FORMAT_LABELS = {
    "auto": "Detect",
    "modeldesk": "Modeldesk CSV or JSONL",
    "otlp": "OTLP JSON",
    "litellm": "LiteLLM JSONL",
}
BAD_SHOWN = 50
REPORT_KEY = "costs_import_report"


def render(user: Viewer, today: date) -> None:
    """The admin actions."""
    st.divider()
    st.subheader("Admin actions")
    with st.expander("Reprice a model over a date range"):
        _reprice(today)
    with st.expander("Import usage"):
        _upload()
    with st.expander("Ingest tokens"):
        _tokens(user)


def _actor(session: Any) -> Any:
    """The signed-in admin's user row (reprice audits it), read in this session."""
    return users.require_user(session, st.session_state[_ui.USER_KEY])


def _reprice(today: date) -> None:
    st.caption(
        "Prices the model's events on these days again with its current prices (the model "
        "record's, else the catalog's); the totals move and the audit log keeps both."
    )
    with st.form("costs_reprice"):
        a, b = st.columns(2)
        provider = a.text_input("Provider (empty: the model id on every provider)")
        model = b.text_input("Model id")
        c, d = st.columns(2)
        first = c.date_input("First day", value=today - timedelta(days=29))
        last = d.date_input("Last day (included)", value=today)
        go = st.form_submit_button("Reprice")
    if not go:
        return

    def run() -> reprice.RepriceResult:
        if not model.strip():
            raise ValidationError("Name the model id to reprice.", field="model_id")
        with _ui.writing() as session:
            actor = _actor(session)
            end = last + timedelta(days=1)
            if provider.strip():
                record = reprice.find_record(
                    session, provider=provider.strip(), model_id=model.strip()
                )
                return reprice.reprice(
                    session, actor=actor, model_record=record, date_from=first, date_to=end
                )
            return reprice.reprice(
                session, actor=actor, model_id=model.strip(), date_from=first, date_to=end
            )

    result = _ui.attempt(run)
    if result is not None:
        _ui.flash(f"Repriced: {result.summary()}.")
        st.rerun()


def _upload() -> None:
    st.caption(
        "A Modeldesk CSV or JSONL file, an OTLP JSON export or LiteLLM JSONL payloads; "
        "or paste the lines. Events already recorded are recognised and not counted twice."
    )
    with st.form("costs_upload"):
        file = st.file_uploader("Usage file", type=["csv", "jsonl", "json", "txt"])
        pasted = st.text_area("Or paste the lines", height=120)
        a, b = st.columns(2)
        fmt = a.selectbox("Format", formats.FORMATS, format_func=FORMAT_LABELS.__getitem__)
        whole = b.checkbox("All or nothing (store nothing when a line is bad)")
        go = st.form_submit_button("Import")
    _last_report()
    if not go:
        return
    bar = st.progress(0.0, text="Reading…")

    def told(phase: str, done: int, total: int) -> None:
        bar.progress(min(1.0, done / total) if total else 1.0, text=f"{phase.capitalize()}…")

    def run() -> ImportReport:
        cap = _ui.runtime().settings.import_max_bytes
        if file is not None:
            text = formats.text_of(file.getvalue(), file.name, max_bytes=cap)
        elif pasted.strip():
            text = formats.text_of(pasted.encode("utf-8"), "The pasted text", max_bytes=cap)
        else:
            raise ValidationError("Choose a usage file or paste its lines.", field="file")
        with _ui.writing() as session:
            return formats.import_text(
                session,
                text,
                timezone=_ui.runtime().settings.timezone,
                all_or_nothing=whole,
                format=fmt,
                progress=told,
            )

    report = _ui.attempt(run)
    bar.empty()
    if report is None:
        return
    lines = [str(b) for b in report.bad[:BAD_SHOWN]]
    if len(report.bad) > len(lines):
        lines.append(f"… and {len(report.bad) - len(lines)} more")
    # the report outlives the rerun that shows the new totals (line numbers and reasons only)
    st.session_state[REPORT_KEY] = (report.summary(), lines)
    st.rerun()


def _last_report() -> None:
    found = st.session_state.pop(REPORT_KEY, None)
    if found:
        summary, lines = found
        (st.warning if lines else st.success)(_md(summary))
        if lines:
            st.code("\n".join(lines), language=None)


def _tokens(user: Viewer) -> None:
    st.caption(
        "A token lets a collector send OTLP usage to this Modeldesk. It is shown once, "
        "when created: copy it then. A mapping per span provider: `modeldesk usage tokens create`."
    )
    with st.form("costs_token", clear_on_submit=True):
        a, b = st.columns(2)
        name = a.text_input("Source name")
        provider = b.text_input("Book every span to provider (optional)")
        go = st.form_submit_button("Create token")
    if go:

        def create() -> ingest_tokens.CreatedToken:
            with _ui.writing() as session:
                return ingest_tokens.create_token(
                    session, actor=user, name=name, provider=provider.strip() or None
                )

        created = _ui.attempt(create)
        if created is not None:  # shown in this run only; nothing keeps it
            st.success(
                _md(f"Token for {created.info.name} created. Copy it now: it is shown once.")
            )
            st.code(created.token, language=None)
    with _ui.reading() as session:
        found = _ui.attempt(lambda: ingest_tokens.list_tokens(session, actor=user))
    if not found:
        st.caption("No ingest tokens yet.")
        return
    st.table(
        _ui.literal_frame(
            pd.DataFrame(
                [
                    {
                        "Name": t.name,
                        "Starts with": t.prefix,
                        "Provider": t.provider or "(by mapping)",
                        "Created by": t.created_by,
                        "Last used": t.last_used_at.strftime("%Y-%m-%d %H:%M")
                        if t.last_used_at
                        else "never",
                        "State": "active" if t.active else "revoked",
                    }
                    for t in found
                ]
            )
        )
    )
    active = [t.name for t in found if t.active]
    if not active:
        return
    with st.form("costs_revoke"):
        pick = st.selectbox("Token to revoke", active)
        go = st.form_submit_button("Revoke")
    if go and pick:

        def revoke() -> bool:
            with _ui.writing() as session:
                ingest_tokens.revoke_token(session, actor=user, name=pick)
            return True

        if _ui.attempt(revoke, flash_errors=True):
            _ui.flash(f"Token {pick} revoked: its collector is refused from now on.")
        st.rerun()
