"""The add and edit forms of the Providers page.

The type picker sits outside the st.form so that choosing a type reruns the page and shows
that type's config fields. Secret inputs (the key, secret fields, secret values of the
extra JSON) are held server-side and blanked on every submit (``_provider_secrets``).
Every field's problem and edit conflicts are kept (as messages, never values) in session
state and shown above the form. "Test connection" is a second submit button of the same
form (``_provider_test``).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import streamlit as st

from core import catalog
from core.accounts.viewer import Viewer
from core.catalog import ProviderType
from core.errors import ConflictError, ModeldeskError, ValidationError
from core.records import provider_forms, providers
from core.records.providers import ProviderView
from core.validation import PRIORITY_MAX, Problems
from core.vocabulary import STATUSES
from pages import _held, _ui
from pages import _provider_secrets as secret_inputs
from pages import _provider_test as connection_test

ERROR_KEY = "md_prov_form_error"  # the FormErrors of the last failed submit, one a field
CONFLICT_KEY = "md_prov_conflict"  # Conflict of the last stale edit
OPENED_KEY = "md_prov_opened"  # the ProviderView the edit form was opened on
GOTO_KEY = "md_prov_goto"  # (tab, provider id) to show on the next run
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
    sec = secret_inputs.Secrets("add", ADD, _held.names("add"))
    with st.form("provider_add"):
        name = st.text_input(
            "Name *", key=f"{ADD}_name", placeholder=f"e.g. {ptype.label} production"
        )
        values, _ = secret_inputs.config_inputs(ptype, sec, {}, ())
        extra = secret_inputs.extra_input(sec, "")
        secret_inputs.api_key_input(ptype, sec, None)
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
        deep, deep_model = connection_test.deep_inputs(me, ADD)
        save_col, test_col, _ = st.columns([1, 1, 2])
        submitted = save_col.form_submit_button(
            "Add provider", type="primary", icon=":material/add:"
        )
        tested = connection_test.test_button(test_col, ADD)
    connection_test.show_test("add")
    if not me.is_admin:
        st.caption(
            "Your provider is private to you; an admin can share it or make it instance-wide."
        )
    if not (submitted or tested or sec.cleared):
        return
    api_key, extra_used, split = secret_inputs.take_secrets(sec, ptype, values, extra)
    if tested:
        secret_inputs.settle(sec, extra, split, saved=False)
        connection_test.run_test(
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
        secret_inputs.settle(sec, extra, split, saved=False)
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
    secret_inputs.settle(sec, extra, split, saved=bool(done))
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
    sec = secret_inputs.Secrets(form, prefix, _held.names(form))
    with st.form(f"provider_edit_{view.id}"):
        name = st.text_input("Name *", value=opened.name, key=f"{prefix}_name")
        values, remove = secret_inputs.config_inputs(
            ptype, sec, opened.config, opened.secret_config_keys
        )
        extra = secret_inputs.extra_input(sec, _extras(opened))
        remove += secret_inputs.stored_removals(ptype, sec, opened)
        hint = opened.key_hint if opened.key_hint != providers.NEEDS_REENTRY else None
        secret_inputs.api_key_input(ptype, sec, hint)
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
        deep, deep_model = connection_test.deep_inputs(me, prefix)
        save_col, test_col, _ = st.columns([1, 1, 2])
        submitted = save_col.form_submit_button(
            "Save changes", type="primary", icon=":material/save:"
        )
        tested = connection_test.test_button(test_col, prefix)
    connection_test.show_test(form)
    if not (submitted or tested or sec.cleared):
        return
    api_key, extra_used, split = secret_inputs.take_secrets(sec, ptype, values, extra)
    if tested:
        secret_inputs.settle(sec, extra, split, saved=False)
        connection_test.run_test(
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
        secret_inputs.settle(sec, extra, split, saved=False)
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
    secret_inputs.settle(sec, extra, split, saved=bool(saved_name))
    if saved_name:
        reset_editor()
        _ui.flash(f"Provider '{saved_name}' saved.")
    st.rerun()
