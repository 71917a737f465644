"""The add and edit forms of the Providers page.

The type picker sits outside the st.form so that choosing a type reruns the page and shows
that type's config fields. API keys and secret config values are password inputs that are
never pre-filled. On every submit a typed secret (the key, a secret field, a secret-looking
key of the extra JSON) moves to ``_held`` (server-side, never session state) and its input
is blanked, so a refused save or a test keeps it for the form's lifetime without it going
back to the browser: the form says "key entered, kept" with a Clear control instead. Every
field's problem and edit conflicts are kept (as messages, never values) in session state
and shown above the form.

"Test connection" is a second submit button of the same form, so it probes the values as
typed, unsaved (on an edit, an empty key means the stored one); its report (which holds no
secret) is shown after the rerun that blanks the typed key.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import streamlit as st

from core import catalog
from core.accounts.viewer import Viewer
from core.catalog import ProviderType
from core.errors import ConflictError, ModeldeskError, ValidationError
from core.probes import connection, speed_check
from core.records import provider_forms, providers
from core.records.providers import ProviderView
from core.validation import PRIORITY_MAX, Problems
from core.vocabulary import STATUSES
from pages import _held, _ui

ERROR_KEY = "md_prov_form_error"  # the FormErrors of the last failed submit, one a field
DRAFT_KEY = "md_prov_extra_draft"  # (form, extra JSON without secret values, dropped whole?)
CONFLICT_KEY = "md_prov_conflict"  # Conflict of the last stale edit
OPENED_KEY = "md_prov_opened"  # the ProviderView the edit form was opened on
GOTO_KEY = "md_prov_goto"  # (tab, provider id) to show on the next run
TEST_KEY = "md_prov_test"  # (form, ConnectionReport, key typed?) of the last test
ADD = "pa"  # widget key prefix of the add form

_LABELS = {
    "name": "Name",
    "api_key": "API key",
    "provider_type": "Provider type",
    "status": "Status",
    "priority": "Priority",
    "extra JSON": "Advanced: extra JSON",
    "provider_config": "Advanced: extra JSON",
    "base_url": "Base URL",
}
_EXTRA_HELP = (
    "Additional provider_config keys as a JSON object, e.g. "
    '{"organization": "org-123"}. Keys whose names look secret (…key, …token, '
    "…secret) are stored write-only."
)


@dataclass(frozen=True)
class FormError:
    """A refused submit: which form, which input, and the message (never a value)."""

    form: str
    label: str | None
    message: str
    line: int | None = None
    column: int | None = None


@dataclass(frozen=True)
class Conflict:
    """Someone else saved the record after the edit form was opened."""

    form: str
    changed_by: str | None
    changed_at: datetime | None
    message: str


def type_label(type_id: str) -> str:
    """'Azure OpenAI · azure_openai' for the type picker."""
    try:
        return f"{catalog.get_provider_type(type_id).label} · {type_id}"
    except ValidationError:
        return type_id


def _field_label(field: str | None, ptype: ProviderType) -> str | None:
    if not field:
        return None
    name = field.removeprefix("provider_config.")
    spec = ptype.field(name)
    return spec.label if spec else _LABELS.get(name, name)


def _keys(prefix: str) -> list[str]:
    """Every widget key of one form (to forget them after a save or a reload)."""
    return [k for k in st.session_state if isinstance(k, str) and k.startswith(prefix + "_")]


def goto(tab: str, provider_id: object | None = None) -> None:
    """Show this tab (and select this provider) on the next run."""
    st.session_state[GOTO_KEY] = (tab, None if provider_id is None else str(provider_id))


def reset_editor() -> None:
    """Reopen the edit form on fresh data next run (after a save, toggle, reorder...)."""
    opened = st.session_state.pop(OPENED_KEY, None)
    st.session_state.pop(CONFLICT_KEY, None)
    if opened is not None:
        _ui.reset_widgets(*_keys(f"pe_{opened.id}"))
        _held.forget_form(str(opened.id))


def _show_problems(form: str) -> None:
    errors = st.session_state.get(ERROR_KEY)
    if not errors or not all(isinstance(e, FormError) and e.form == form for e in errors):
        return
    st.session_state.pop(ERROR_KEY)
    for error in errors:
        where = (
            f" (line {error.line}, column {error.column})"
            if error.line and f"line {error.line}" not in error.message
            else ""
        )
        message = _ui.literal(error.message + where)
        st.error(
            f"**{_ui.literal(error.label)}**: {message}" if error.label else message,
            icon=":material/error:",
        )


def _show_conflict(form: str) -> None:
    found = st.session_state.get(CONFLICT_KEY)
    if not isinstance(found, Conflict) or found.form != form:
        return
    kept = "Your input is kept below (keys and secrets you typed too, not shown)."
    box = st.container(border=True)
    if found.changed_by and found.changed_at:
        box.warning(
            f"Changed by **{_ui.literal(found.changed_by)}** at "
            f"{found.changed_at:%Y-%m-%d %H:%M} "
            f"UTC — reload to see their change. Nothing was saved. {kept}",
            icon=":material/sync_problem:",
        )
    else:  # a race caught at write time: the message says what happened
        box.warning(f"{_ui.literal(found.message)} {kept}", icon=":material/sync_problem:")
    if box.button("Reload", icon=":material/refresh:", key="prov_reload"):
        reset_editor()
        st.rerun()


def _submit(form: str, ptype: ProviderType, action: Callable[[], Any]) -> Any:
    """Run a save; keep its refusal for the next run, next to the form that caused it."""

    def guarded() -> Any:
        try:
            return action()
        except ConflictError as exc:
            st.session_state[CONFLICT_KEY] = Conflict(
                form, exc.changed_by, exc.changed_at, str(exc)
            )
        except ValidationError as exc:  # every field's problem, each under its label
            st.session_state[ERROR_KEY] = [
                FormError(form, _field_label(p.field, ptype), str(p), p.line, p.column)
                for p in exc.problems
            ]
        except ModeldeskError as exc:
            st.session_state[ERROR_KEY] = [FormError(form, None, str(exc))]
        return None

    return _ui.attempt(guarded, flash_errors=True)


def _describe(ptype: ProviderType) -> None:
    facts = [f"speaks the **{ptype.protocol}** protocol"]
    if ptype.default_base_url:
        facts.append(f"default endpoint `{ptype.default_base_url}`")
    facts.append("needs an API key" if ptype.api_key_required else "API key optional")
    if ptype.docs_url:
        facts.append(f"[API reference]({ptype.docs_url})")
    st.caption(f"{ptype.label} " + " · ".join(facts))


@dataclass
class _Secrets:
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


def _config_inputs(
    ptype: ProviderType, sec: _Secrets, current: Mapping[str, Any], stored_secrets: tuple[str, ...]
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


def _api_key_input(ptype: ProviderType, sec: _Secrets, hint: str | None) -> None:
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


def _extra_input(sec: _Secrets, start: str) -> str:
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


def _stored_removals(ptype: ProviderType, sec: _Secrets, view: ProviderView) -> list[str]:
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


def _take_secrets(
    sec: _Secrets, ptype: ProviderType, values: dict[str, str], extra: str
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


def _settle(sec: _Secrets, extra: str, split: provider_forms.ExtraSplit, saved: bool) -> None:
    """A saved form forgets what it held; any other submit shows the extra JSON again
    without its secret values (next run)."""
    if saved:
        _held.forget_form(sec.form)
        st.session_state.pop(DRAFT_KEY, None)
    elif split.text != (extra or ""):
        _ui.forget_widgets(f"{sec.prefix}_extra")
        st.session_state[DRAFT_KEY] = (sec.form, split.text, split.dropped)


def render_add(me: Viewer) -> None:
    """The add form (type picker outside the form, the rest inside)."""
    ids = list(catalog.provider_type_ids())
    type_id = st.selectbox(
        "Provider type",
        ids,
        index=ids.index("openai"),
        format_func=type_label,
        key=f"{ADD}_type",
        help="What kind of service this is; it decides the fields below.",
    )
    ptype = catalog.get_provider_type(type_id)
    _describe(ptype)
    _show_problems("add")
    sec = _Secrets("add", ADD, _held.names("add"))
    with st.form("provider_add"):
        name = st.text_input(
            "Name *", key=f"{ADD}_name", placeholder=f"e.g. {ptype.label} production"
        )
        values, _ = _config_inputs(ptype, sec, {}, ())
        extra = _extra_input(sec, "")
        _api_key_input(ptype, sec, None)
        left, right = st.columns(2)
        status = left.selectbox("Status", STATUSES, key=f"{ADD}_status")
        priority = right.number_input(
            "Priority",
            min_value=0,
            max_value=PRIORITY_MAX,
            value=None,
            step=1,
            key=f"{ADD}_priority",
            placeholder="after the existing ones",
            help="Lower numbers are tried first.",
        )
        wide = (
            st.toggle("Instance-wide: every user can see and use it", key=f"{ADD}_wide")
            if me.is_admin
            else False
        )
        deep, deep_model = _deep_inputs(me, ADD)
        save_col, test_col, _ = st.columns([1, 1, 2])
        submitted = save_col.form_submit_button(
            "Add provider", type="primary", icon=":material/add:"
        )
        tested = _test_button(test_col, ADD)
    _show_test("add")
    if not me.is_admin:
        st.caption(
            "Your provider is private to you; an admin can share it or make it instance-wide."
        )
    if not (submitted or tested or sec.cleared):
        return
    api_key, extra_used, split = _take_secrets(sec, ptype, values, extra)
    if tested:
        _settle(sec, extra, split, saved=False)
        _test(
            "add",
            ptype,
            values=values,
            extra=extra_used,
            api_key=api_key or "",
            deep=deep,
            model=deep_model,
        )
        st.rerun()
    if not submitted:  # a Clear button
        _settle(sec, extra, split, saved=False)
        st.rerun()

    def create() -> tuple[str, str]:
        problems = Problems()
        config = provider_forms.assemble_provider_config(
            ptype.id, fields=values, extra_json=extra_used, problems=problems
        )
        with _ui.writing() as session:
            created = providers.create_provider(
                session,
                actor=_ui.current_user(session),
                name=name,
                provider_type=ptype.id,
                api_key=api_key or None,
                provider_config=config,
                instance_wide=wide,
                status=status,
                priority=None if priority is None else int(priority),
                problems=problems,
            )
            return str(created.id), created.name

    done = _submit("add", ptype, create)
    _settle(sec, extra, split, saved=bool(done))
    if done:
        _ui.reset_widgets(*(k for k in _keys(ADD) if k != f"{ADD}_type"))
        _ui.flash(f"Provider '{done[1]}' added.")
        goto("Edit", done[0])
    st.rerun()


def _extras(view: ProviderView) -> str:
    """The stored non-secret config keys that no field of the record's type shows."""
    try:
        fields = {f.name for f in catalog.get_provider_type(view.provider_type).config_fields}
    except ValidationError:
        fields = set()
    extra = {k: v for k, v in view.config.items() if k not in fields}
    return json.dumps(extra, indent=2, ensure_ascii=False) if extra else ""


def render_edit(me: Viewer, view: ProviderView) -> None:
    """The edit form of a provider the user may manage; stale saves become a Conflict."""
    opened = st.session_state.get(OPENED_KEY)
    if not isinstance(opened, ProviderView) or opened.id != view.id:
        opened = st.session_state[OPENED_KEY] = view
    form, prefix = str(view.id), f"pe_{view.id}"
    _show_conflict(form)
    ids = list(catalog.provider_type_ids())
    type_id = st.selectbox(
        "Provider type",
        ids,
        key=f"{prefix}_type",
        format_func=type_label,
        index=ids.index(opened.provider_type) if opened.provider_type in ids else None,
    )
    if type_id is None:
        st.warning("This record's type is no longer in the catalog; choose a type.")
        return
    ptype = catalog.get_provider_type(type_id)
    _describe(ptype)
    _show_problems(form)
    sec = _Secrets(form, prefix, _held.names(form))
    with st.form(f"provider_edit_{view.id}"):
        name = st.text_input("Name *", value=opened.name, key=f"{prefix}_name")
        values, remove = _config_inputs(ptype, sec, opened.config, opened.secret_config_keys)
        extra = _extra_input(sec, _extras(opened))
        remove += _stored_removals(ptype, sec, opened)
        hint = opened.key_hint if opened.key_hint != providers.NEEDS_REENTRY else None
        _api_key_input(ptype, sec, hint)
        clear = (
            st.checkbox("Remove the stored API key", key=f"{prefix}_clear")
            if opened.key_hint
            else False
        )
        left, right = st.columns(2)
        status = left.selectbox(
            "Status", STATUSES, index=STATUSES.index(opened.status), key=f"{prefix}_status"
        )
        priority = right.number_input(
            "Priority",
            min_value=0,
            max_value=PRIORITY_MAX,
            value=opened.priority,
            step=1,
            key=f"{prefix}_priority",
            help="Lower numbers are tried first.",
        )
        wide = (
            st.toggle(
                "Instance-wide: every user can see and use it",
                value=opened.instance_wide,
                key=f"{prefix}_wide",
            )
            if me.is_admin
            else opened.instance_wide
        )
        deep, deep_model = _deep_inputs(me, prefix)
        save_col, test_col, _ = st.columns([1, 1, 2])
        submitted = save_col.form_submit_button(
            "Save changes", type="primary", icon=":material/save:"
        )
        tested = _test_button(test_col, prefix)
    _show_test(form)
    if not (submitted or tested or sec.cleared):
        return
    api_key, extra_used, split = _take_secrets(sec, ptype, values, extra)
    if tested:
        _settle(sec, extra, split, saved=False)
        _test(
            form,
            ptype,
            values=values,
            extra=extra_used,
            api_key=api_key or "",
            remove=remove,
            stored_id=view.id,
            deep=deep,
            model=deep_model,
        )
        st.rerun()
    if not submitted:  # a Clear button
        _settle(sec, extra, split, saved=False)
        st.rerun()

    def save() -> str:
        problems = Problems()
        config = provider_forms.assemble_provider_config(
            ptype.id, fields=values, extra_json=extra_used, problems=problems
        )
        with _ui.writing() as session:
            saved = providers.update_provider(
                session,
                actor=_ui.current_user(session),
                provider_id=view.id,
                expected_version=opened.version,
                name=name,
                provider_type=ptype.id,
                api_key=api_key or None,
                clear_api_key=clear,
                provider_config=config,
                remove_config_keys=remove,
                instance_wide=wide,
                status=status,
                priority=opened.priority if priority is None else int(priority),
                problems=problems,
            )
            return saved.name

    saved_name = _submit(form, ptype, save)
    _settle(sec, extra, split, saved=bool(saved_name))
    if saved_name:
        reset_editor()
        _ui.flash(f"Provider '{saved_name}' saved.")
    st.rerun()


# --- Test connection --------------------------------------------------------------------


def _test_button(where: Any, prefix: str) -> bool:
    return where.form_submit_button(
        "Test connection",
        icon=":material/network_check:",
        key=f"{prefix}_test",
        help="Probe these settings as typed, without saving them (a model listing: no "
        "tokens are spent). The typed key is cleared afterwards, as on saving. A "
        "stored key is only sent to the saved endpoint: to test another URL, region "
        "or resource, type the key again.",
    )


def _deep_inputs(me: Viewer, prefix: str) -> tuple[bool, str]:
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


def _test(
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


def _show_test(form: str) -> None:
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
