""" "Test connection" in the provider forms: a second submit button that probes the values
as typed, unsaved (on an edit, an empty key means the stored one); its report (which holds
no secret) is shown after the rerun that blanks the typed key.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import streamlit as st

from core.accounts.viewer import Viewer
from core.catalog import ProviderType
from core.errors import ModeldeskError
from core.probes import connection, speed_check
from core.records import provider_forms
from pages import _ui

TEST_KEY = "md_prov_test"  # (form, ConnectionReport, key typed?) of the last test


def test_button(where: Any, prefix: str) -> bool:
    return where.form_submit_button(
        "Test connection",
        icon=":material/network_check:",
        key=f"{prefix}run_test",
        help="Probe these settings as typed, without saving them (a model listing: no "
        "tokens are spent). The typed key is cleared afterwards, as on saving. A "
        "stored key is only sent to the saved endpoint: to test another URL, region "
        "or resource, type the key again.",
    )


def deep_inputs(me: Viewer, prefix: str) -> tuple[bool, str]:
    """Admins may also ask the test for one short chat completion (it costs a few tokens)."""
    if not me.is_admin:
        return False, ""
    left, right = st.columns([1, 1], vertical_alignment="bottom")
    model = left.text_input(
        "Model for a test completion",
        key=f"{prefix}_deep_model",
        placeholder="e.g. gpt-4o-mini",
        help="Only used when the box beside it is ticked.",
    )
    deep = right.checkbox(
        "Test connection also sends one short completion (uses a few tokens)", key=f"{prefix}_deep"
    )
    return deep, model


def run_test(
    form: str,
    ptype: ProviderType,
    *,
    values: Mapping[str, str],
    extra: str,
    api_key: str,
    remove: list[str] | None = None,
    stored_id: Any = None,
    deep: bool = False,
    model: str = "",
) -> None:
    """Probe the unsaved values; keep the report (never a value) for the next run."""

    def probe() -> connection.ConnectionReport:
        try:
            config = provider_forms.assemble_provider_config(
                ptype.id, fields=values, extra_json=extra, remove=remove or ()
            )
        except ModeldeskError as exc:
            return connection.ConnectionReport(ok=False, status="invalid", message=str(exc))
        with _ui.writing() as session:  # a deep test of a saved provider keeps its timings
            actor = _ui.current_user(session)
            report = connection.test_connection(
                _ui.runtime().settings,
                provider_type=ptype.id,
                api_key=api_key or None,
                config=config,
                stored_provider_id=stored_id,
                actor=actor,
                session=session,
                deep=deep,
                model=model or None,
            )
            if deep and stored_id is not None:
                speed_check.record_deep_test(
                    session,
                    actor=actor,
                    provider_id=stored_id,
                    report=report,
                    timezone=_ui.runtime().settings.timezone,
                )
            return report

    report = _ui.attempt(probe, flash_errors=True)
    if report is not None:
        st.session_state[TEST_KEY] = (form, report, bool(api_key))


def show_test(form: str) -> None:
    found = st.session_state.get(TEST_KEY)
    if not found or found[0] != form:
        return
    _, report, typed = st.session_state.pop(TEST_KEY)
    facts = [
        f"{report.latency_ms:.0f} ms" if report.latency_ms is not None else None,
        report.detail,
    ]
    note = " · ".join(f for f in facts if f)
    if report.ok:  # the provider's own words and names: plain text
        st.success(_ui.literal(report.message), icon=":material/check_circle:")
    else:
        st.error(_ui.literal(report.message), icon=":material/error:")
    if note:
        st.caption(_ui.literal(note))
    if report.preview:
        st.caption(_ui.literal(f"Reply from {report.model}: {report.preview}"))
    if typed:
        st.caption(
            "The key entered for the test is kept for this form (not shown): saving "
            "stores it; Clear beside the field forgets it."
        )
