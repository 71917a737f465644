"""The provider forms' secret inputs: the API key, secret config fields and secret values
in the extra JSON.

They are password inputs that are never pre-filled. On every submit a typed secret moves
to ``_held`` (server-side, never session state) and its input is blanked, so a refused save
or a test keeps it for the form's lifetime without it going back to the browser: the form
says "key entered, kept" with a Clear control instead.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import streamlit as st

from core.catalog import ProviderType
from core.records import provider_forms
from core.records.providers import ProviderView
from pages import _held, _ui

DRAFT_KEY = "md_prov_extra_draft"  # (form, extra JSON without secret values, dropped whole?)
_EXTRA_HELP = (
    "Additional provider_config keys as a JSON object, e.g. "
    '{"organization": "org-123"}. Keys whose names look secret (…key, …token, '
    "…secret) are stored write-only."
)


@dataclass
class Secrets:
    """One run of a form's secret inputs: what was typed, what is held, what to clear."""

    form: str  # the held-secrets form id ('add', record id)
    prefix: str  # its widget key prefix
    held: list[str]  # names held from earlier submits
    typed: dict[str, str] = field(default_factory=dict)  # held name → typed this run
    inputs: list[str] = field(default_factory=list)  # widget keys to blank
    cleared: list[str] = field(default_factory=list)  # held names whose Clear was clicked

    def kept(self, name: str, label: str) -> None:
        """'… entered, kept' beside an input whose secret is held, with its Clear button."""
        if name not in self.held:
            return
        left, right = st.columns([5, 1], vertical_alignment="center")
        left.caption(f":material/key: {label}")
        if right.form_submit_button(
            "Clear",
            key=f"{self.prefix}_forget_{name}",
            help="Forget the value entered; nothing is saved.",
        ):
            self.cleared.append(name)


def config_inputs(
    ptype: ProviderType, sec: Secrets, current: Mapping[str, Any], stored_secrets: tuple[str, ...]
) -> tuple[dict[str, str], list[str]]:
    """The type's config fields; returns (values, stored secret fields to remove)."""
    values: dict[str, str] = {}
    remove: list[str] = []
    for spec in ptype.config_fields:
        key = f"{sec.prefix}_cfg_{spec.name}"
        label = f"{spec.label} *" if spec.required else spec.label
        other = ptype.field(spec.satisfied_by) if spec.satisfied_by else None
        if spec.required and other is not None:
            label = f"{spec.label} * (or {other.label})"
        placeholder = spec.default or (ptype.default_base_url if spec.name == "base_url" else None)
        if spec.secret:
            held, stored = f"cfg:{spec.name}", spec.name in stored_secrets
            if held in sec.held:
                placeholder = "entered, kept — type to replace"
            elif stored:
                placeholder = "stored — leave empty to keep"
            sec.inputs.append(key)
            values[spec.name] = sec.typed[held] = st.text_input(
                label,
                type="password",
                key=key,
                autocomplete="new-password",
                help=f"{spec.help} Write-only: it is never shown again"
                + ("; leave empty to keep the stored value." if stored else "."),
                placeholder=placeholder,
            )
            sec.kept(held, f"{spec.label}: value entered, kept (not shown).")
            if stored and st.checkbox(
                f"Remove the stored {spec.label.lower()}", key=f"{sec.prefix}_rm_{spec.name}"
            ):
                remove.append(spec.name)
        else:
            values[spec.name] = st.text_input(
                label,
                value=str(current.get(spec.name) or ""),
                key=key,
                help=spec.help,
                placeholder=placeholder,
            )
    return values, remove


def api_key_input(ptype: ProviderType, sec: Secrets, hint: str | None) -> None:
    if hint:
        help_text = f"Stored key {hint}. Leave empty to keep it; it is never shown again."
    else:
        help_text = "Write-only: stored encrypted and never shown again (only its last 4)."
    kept = "api_key" in sec.held
    label = "API key *" if ptype.api_key_required and not hint else "API key"
    placeholder = (
        "key entered, kept — type to replace it"
        if kept
        else f"stored {hint} — leave empty to keep"
        if hint
        else None
    )
    sec.inputs.append(f"{sec.prefix}_key")
    sec.typed["api_key"] = st.text_input(
        label,
        type="password",
        key=f"{sec.prefix}_key",
        autocomplete="new-password",
        help=help_text,
        placeholder=placeholder,
    )
    sec.kept("api_key", "API key: key entered, kept (not shown); saving stores it.")


def extra_input(sec: Secrets, start: str) -> str:
    """The extra JSON text area; secret values typed into it are held, never shown again."""
    key = f"{sec.prefix}_extra"
    draft = st.session_state.get(DRAFT_KEY)
    dropped = False
    # Start values go through session state (not value=): an assigned value also replaces
    # what the browser holds, so a secret taken out of the text really leaves it.
    if draft and draft[0] == sec.form:
        _, st.session_state[key], dropped = st.session_state.pop(DRAFT_KEY)
    elif key not in st.session_state:
        st.session_state[key] = start
    text = st.text_area(
        "Advanced: extra JSON",
        key=key,
        help=_EXTRA_HELP,
        height=90,
        placeholder='{"organization": "org-123"}',
    )
    if dropped:
        st.caption(
            "The extra JSON could not be read and named a secret-looking key, so it was "
            "cleared rather than kept: type it again."
        )
    for name in sec.held:
        if name.startswith("extra:"):
            sec.kept(
                name,
                f"{_ui.code(name.removeprefix('extra:'))}: value entered, kept "
                "(not shown); saving stores it write-only.",
            )
    return text


def stored_removals(ptype: ProviderType, sec: Secrets, view: ProviderView) -> list[str]:
    """A remove checkbox for each stored write-only config key that no field shows."""
    remove = []
    for name in view.secret_config_keys:
        if not ptype.field(name) and st.checkbox(
            f"Remove the stored write-only {_ui.code(name)}",
            key=f"{sec.prefix}_rmcfg_{name}",
            help="Stored write-only config key: kept unless removed here.",
        ):
            remove.append(name)
    return remove


def take_secrets(
    sec: Secrets, ptype: ProviderType, values: dict[str, str], extra: str
) -> tuple[str | None, str, provider_forms.ExtraSplit]:
    """After any submit: hold what was typed into secret inputs and blank them (next run).

    Fills ``values``' secret fields from the held ones; returns the API key and the extra
    JSON to use (its typed keys over the held secret ones), and the split extra JSON text.
    """
    for name, typed in sec.typed.items():
        if typed:
            _held.hold(sec.form, name, typed)
    split = provider_forms.split_extra_secrets(extra, ptype.id)
    for name, value in split.secrets.items():
        _held.hold(sec.form, f"extra:{name}", json.dumps(value))
    for name in split.shown or {}:  # typed again (e.g. as null): the text says
        if name not in split.secrets:
            _held.forget(sec.form, f"extra:{name}")
    _held.forget(sec.form, *sec.cleared)
    _ui.forget_widgets(*sec.inputs)
    for spec in ptype.config_fields:
        if spec.secret:
            values[spec.name] = _held.held(sec.form, f"cfg:{spec.name}") or ""
    if split.shown is None:  # unreadable: the save or test says why
        return _held.held(sec.form, "api_key"), extra, split
    kept = {}
    for name in _held.names(sec.form):
        value = _held.held(sec.form, name) if name.startswith("extra:") else None
        if value is not None:
            kept[name.removeprefix("extra:")] = json.loads(value)
    merged = {**kept, **split.shown}
    return _held.held(sec.form, "api_key"), json.dumps(merged) if merged else "", split


def settle(sec: Secrets, extra: str, split: provider_forms.ExtraSplit, saved: bool) -> None:
    """A saved form forgets what it held; any other submit shows the extra JSON again
    without its secret values (next run)."""
    if saved:
        _held.forget_form(sec.form)
        st.session_state.pop(DRAFT_KEY, None)
    elif split.text != (extra or ""):
        _ui.forget_widgets(f"{sec.prefix}_extra")
        st.session_state[DRAFT_KEY] = (sec.form, split.text, split.dropped)
