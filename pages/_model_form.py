"""The add / edit form of the Models page: every model field, errors under the field they
concern, write-only secret config, and the stale-edit conflict with its Reload button.
"Fill from catalog" pre-fills the add form's empty inputs from the offline catalog
(``core.records.catalog_hints``). "Import from provider" lives in ``pages._model_import``.

Secret model_config values never stay in ``st.session_state``: after a submit the config
text area is forgotten (``_ui.forget_widgets``) and, on failure, refilled on the next run
with the same text minus the secret values (``catalog.public_config_text``). Start values
are assigned through session state, which also replaces what the browser shows.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import streamlit as st

from core import catalog
from core.accounts.viewer import Viewer
from core.errors import ConflictError, IntegrityError, ModeldeskError, ValidationError
from core.records import catalog_hints, model_ratings, model_records
from core.vocabulary import MODEL_TYPES, QUALITY_TIERS, STATUSES
from pages import _ui

FIELDS = (
    "provider",
    "name",
    "model_id",
    "type",
    "status",
    "wide",
    "input",
    "output",
    "cache_read",
    "cache_write",
    "context",
    "quality",
    "features",
    "config",
)
PRICES = dict(
    zip(("input", "output", "cache_read", "cache_write"), model_records.PRICE_FIELDS, strict=True)
)
# Core's error fields → the input under which the message is shown.
ERROR_SLOT = {
    "model_type": "type",
    "context_window": "context",
    "model_config": "config",
    "model config": "config",
    "quality_tier": "quality",
    **{core: mine for mine, core in PRICES.items()},
}

ERROR_KEY = "md_model_form_error"  # (form, [(slot, message)...]) for the next run
DRAFT_KEY = "md_model_config_draft"  # (form, config text without secret values)
EDITING_KEY = "md_model_editing"  # (model id, version) the edit form was opened at
CONFLICT_KEY = "md_model_conflict"  # (model id, message) until the editor reloads
FILL_KEY = "md_model_fill"  # ({input: catalog value}, note) for the next run
QUALITY_HELP = (
    "Used by the Explorer and best-model ranking; leave 'Not rated' to use the built-in table."
)
FEATURES_HELP = "What this model supports, as you know it. Leave empty to use the catalog's facts."
FILL_HELP = (
    "Choose the provider and type the model ID, then fill the empty fields (name, "
    "context window, prices, features) from the offline catalog. What you typed is "
    "kept."
)
# create_model field → the add form's input that holds it, for a catalog fill.
FILL_INPUTS = {
    "name": "name",
    "context_window": "context",
    **{field: name for name, field in PRICES.items()},
    "features": "features",
}
CONFIG_HELP = (
    'A JSON object, e.g. {"temperature": 0.2}. Values of keys that look secret '
    "(key, secret, token, password, credential) are write-only."
)


def keys(form: str) -> list[str]:
    """The widget keys of a form ('add' or 'edit')."""
    return [f"model_{form}_{name}" for name in FIELDS]


def reset_edit() -> None:
    """Forget the edit form's input and opened version (after a toggle, delete or reload).

    Only safe before the edit form's widgets render in this run, or from a callback.
    """
    for key in (*keys("edit"), EDITING_KEY, CONFLICT_KEY):
        st.session_state.pop(key, None)


def opened_version(view: model_records.ModelView) -> int:
    """The version the edit form was opened at: kept across reruns, so a save made after
    someone else's change is refused instead of silently overwriting it."""
    held = st.session_state.get(EDITING_KEY)
    if held is None or held[0] != str(view.id):
        reset_edit()
        st.session_state[EDITING_KEY] = (str(view.id), view.version)
        return view.version
    return held[1]


def _price(value: Any) -> str:
    return "" if value is None else format(value, "f")


def _defaults(view: model_records.ModelView | None, provider_ids: list[str]) -> dict[str, Any]:
    if view is None:
        return {
            "provider": provider_ids[0] if provider_ids else None,
            "name": "",
            "model_id": "",
            "type": "inference",
            "status": "active",
            "wide": False,
            **{p: "" for p in PRICES},
            "context": "",
            "quality": "",
            "features": [],
            "config": "",
        }
    return {
        "provider": str(view.provider_id),
        "name": view.name,
        "model_id": view.model_id,
        "type": view.model_type,
        "status": view.status,
        "wide": view.instance_wide,
        **{p: _price(getattr(view, f)) for p, f in PRICES.items()},
        "context": "" if view.context_window is None else str(view.context_window),
        "quality": view.quality_tier or "",
        "features": list(view.features or ()),
        "config": json.dumps(dict(view.config), indent=2) if view.config else "",
    }


class _Slots:
    """Where a form's messages go: under the input they concern, else above the form."""

    def __init__(self, form: str, top: Any) -> None:
        self.form, self.top, self.by_field = form, top, {}
        self.slot: str | None = None
        self.problems: list[tuple[str | None, str]] = []  # every field's, when several

    def error(self, message: str) -> None:
        # Called by _ui.attempt: stored, then shown (now, or after the rerun that drops
        # secrets). A conflict has its own box, drawn from CONFLICT_KEY.
        if self.slot != "conflict":
            st.session_state[ERROR_KEY] = (self.form, self.problems or [(self.slot, message)])

    def show_pending(self) -> None:
        pending = st.session_state.get(ERROR_KEY)
        if pending and pending[0] == self.form:
            del st.session_state[ERROR_KEY]
            for slot, message in pending[1]:
                where = self.by_field.get(slot, self.top) if slot else self.top
                where.error(message, icon=":material/error:")


def _inputs(
    form: str,
    me: Viewer,
    providers: Mapping[str, str],
    view: model_records.ModelView | None,
    slots: _Slots,
) -> dict[str, Any]:
    d = _defaults(view, list(providers))
    k = dict(zip(FIELDS, keys(form), strict=True))
    draft = st.session_state.get(DRAFT_KEY)
    scrubbed = bool(draft and draft[0] == form)
    if scrubbed:
        d["config"] = st.session_state.pop(DRAFT_KEY)[1]
    got: dict[str, Any] = {}

    def put(name: str, where: Any, widget: Any, *args: Any, **kw: Any) -> None:
        # Start values go through session state, never value=: a value assigned there also
        # replaces what the browser shows, so a forgotten (secret) input really disappears.
        if k[name] not in st.session_state or (scrubbed and name == "config"):
            st.session_state[k[name]] = d[name]
        got[name] = widget(*args, key=k[name], **kw)
        slots.by_field[name] = where.empty()

    left, right = st.columns(2)
    options = list(providers)
    current = st.session_state.get(k["provider"], d["provider"])
    if current is not None and current not in options:  # no longer visible to this user
        options.insert(0, current)
    put(
        "provider",
        left,
        left.selectbox,
        "Provider",
        options,
        format_func=lambda pid: providers.get(pid, "(not visible to you)"),
    )
    put("name", right, right.text_input, "Name", placeholder="GPT-4o")
    a, b, c = st.columns([2, 1, 1])
    put(
        "model_id",
        a,
        a.text_input,
        "Model ID",
        placeholder="gpt-4o",
        help="The identifier the provider's API expects; unique per provider. On Azure "
        "OpenAI it is the deployment name: each model record calls its own deployment.",
    )
    put("type", b, b.selectbox, "Type", MODEL_TYPES)
    put("status", c, c.selectbox, "Status", STATUSES)
    st.markdown("**Prices** per million tokens · leave empty when unpriced")
    for (name, field), col in zip(PRICES.items(), st.columns(4), strict=True):
        label = field.removesuffix("_cost_per_million").replace("_", " ").capitalize()
        put(name, col, col.text_input, label, placeholder="e.g. 2.5")
    a, b = st.columns(2)
    put("context", a, a.text_input, "Context window (tokens)", placeholder="e.g. 128000")
    if me.is_admin:
        b.write("")  # line the checkbox up with the input beside it
        put("wide", b, b.checkbox, "Instance-wide (every user sees it)")
    a, b = st.columns([1, 2])
    put(
        "quality",
        a,
        a.selectbox,
        "Quality rating",
        ["", *QUALITY_TIERS],
        format_func=lambda tier: tier or "Not rated",
        help=QUALITY_HELP,
    )
    put(
        "features",
        b,
        b.multiselect,
        "Features",
        model_ratings.feature_names(),
        placeholder="From the catalog",
        help=FEATURES_HELP,
    )
    put(
        "config",
        st,
        st.text_area,
        "Model config (JSON)",
        height=120,
        placeholder='{"temperature": 0.2}',
        help=CONFIG_HELP,
    )
    if scrubbed:
        st.caption(
            "The secret values you typed were cleared from the config, as secrets are "
            "never kept in the form: type them again."
        )
    if view is not None and view.secret_config_keys:
        st.caption(
            "Secret keys: "
            + ", ".join(f"{_ui.code(name)} set (hidden)" for name in view.secret_config_keys)
            + ". Leave a secret key out to keep its value; give it null to remove it."
        )
    if view is not None and view.needs_reentry:
        st.warning(
            "The stored config cannot be decrypted with the current keys; enter it again.",
            icon=":material/key_off:",
        )
    return got


def _fields(got: Mapping[str, Any], me: Viewer) -> dict[str, Any]:
    fields = {
        "provider_id": got["provider"],
        "name": got["name"],
        "model_id": got["model_id"],
        "model_type": got["type"],
        "status": got["status"],
        "context_window": got["context"],
        "quality_tier": got["quality"] or None,
        "features": list(got["features"] or ()),
        "model_config": got["config"] or None,  # parsed by the service, with the rest
        **{field: got[name] for name, field in PRICES.items()},
    }
    if me.is_admin:
        fields["instance_wide"] = got["wide"]
    return fields


def _submit(form: str, got: Mapping[str, Any], slots: _Slots, save: Any) -> None:
    """Run save; on success reset the form, on failure keep the input minus secret values."""

    def action() -> str:
        try:
            return save()
        except ConflictError as exc:
            held = st.session_state.get(EDITING_KEY) or ("", 0)
            st.session_state[CONFLICT_KEY] = (held[0], str(exc))
            slots.slot = "conflict"
            raise
        except ValidationError as exc:  # every field's problem, each under its input
            slots.problems = [(ERROR_SLOT.get(p.field, p.field), str(p)) for p in exc.problems]
            raise
        except ModeldeskError as exc:
            slots.slot = "model_id" if isinstance(exc, IntegrityError) else None
            raise

    message = _ui.attempt(action, where=slots)
    if message is not None:
        # The add form keeps its provider: models are often added to one in a row.
        _ui.reset_widgets(*(k for k in keys(form) if k != "model_add_provider"))
        if form == "edit":
            st.session_state.pop(EDITING_KEY, None)
        _ui.flash(message)
        st.rerun()
    _drop_secrets(form, got)
    slots.show_pending()


def _drop_secrets(form: str, got: Mapping[str, Any]) -> None:
    """After a submit that keeps the input: if secret config values were typed, drop the
    widget and refill it without them on the next run (which this starts)."""
    kept = catalog.public_config_text(got["config"])
    if kept != (got["config"] or ""):
        _ui.forget_widgets(f"model_{form}_config")
        st.session_state[DRAFT_KEY] = (form, kept)
        st.rerun()


def _apply_fill() -> str | None:
    """Put a pending catalog fill into the add form's inputs (before they render); its note."""
    pending = st.session_state.pop(FILL_KEY, None)
    if pending is None:
        return None
    values, note = pending
    for name, value in values.items():
        st.session_state[f"model_add_{name}"] = value
    return note


def _fill_from_catalog(got: Mapping[str, Any], slots: _Slots) -> None:
    """Look the typed model up in the catalog and fill the inputs left empty (next run)."""

    def lookup() -> tuple[catalog_hints.CatalogFill | None]:
        try:
            with _ui.reading() as session:
                return (
                    catalog_hints.fill_for(
                        session,
                        actor=_ui.current_user(session),
                        provider_id=_ui.parse_id(got["provider"]),
                        model_id=got["model_id"],
                    ),
                )
        except ValidationError as exc:
            slots.slot = ERROR_SLOT.get(exc.field, exc.field)
            raise

    found = _ui.attempt(lookup, where=slots)
    if found is not None:
        if found[0] is None:
            values, note = (
                {},
                (
                    f"The catalog knows nothing about '{got['model_id'].strip()}' "
                    "for this provider's type: fill the fields in yourself."
                ),
            )
        else:
            plan = catalog_hints.plan_fill(found[0], {f: got[w] for f, w in FILL_INPUTS.items()})
            values = {
                FILL_INPUTS[f]: list(v)
                if f == "features"
                else (_price(v) if isinstance(v, Decimal) else str(v))
                for f, v in plan.values.items()
            }
            note = plan.note
        st.session_state[FILL_KEY] = (values, note)
        _drop_secrets("add", got)
        st.rerun()
    _drop_secrets("add", got)
    slots.show_pending()


def render_add(me: Viewer, providers: Mapping[str, str]) -> None:
    """The add form (providers: id → label of those the user may add models to)."""
    top = st.container()
    slots = _Slots("add", top)
    note = _apply_fill()
    if note:
        top.info(_ui.literal(note), icon=":material/auto_awesome:")
    with st.form("model_add", border=False):
        got = _inputs("add", me, providers, None, slots)
        left, right, _ = st.columns([1, 1, 2])
        submitted = left.form_submit_button(
            "Add model",
            type="primary",
            icon=":material/add:",
            key="model_add_submit",
            width="stretch",
        )
        fill = right.form_submit_button(
            "Fill from catalog",
            icon=":material/auto_awesome:",
            key="model_add_fill",
            help=FILL_HELP,
            width="stretch",
        )
    slots.show_pending()
    if fill:
        _fill_from_catalog(got, slots)
    if submitted:

        def save() -> str:
            with _ui.writing() as session:
                actor = _ui.current_user(session)
                model = model_records.create_model(session, actor=actor, **_fields(got, actor))
                return f"Model '{model.name}' added."

        _submit("add", got, slots, save)


def render_edit(me: Viewer, providers: Mapping[str, str], view: model_records.ModelView) -> None:
    """The edit form of one model, opened at opened_version(view)."""
    version = opened_version(view)
    top = st.container()
    slots = _Slots("edit", top)
    notice = top.empty()
    shown = _notice(notice, view, version)
    with st.form("model_edit", border=False):
        got = _inputs("edit", me, providers, view, slots)
        submitted = st.form_submit_button(
            "Save changes", type="primary", icon=":material/save:", key="model_edit_submit"
        )
    slots.show_pending()
    if submitted:

        def save() -> str:
            with _ui.writing() as session:
                actor = _ui.current_user(session)
                model = model_records.update_model(
                    session,
                    actor=actor,
                    model_record_id=view.id,
                    expected_version=version,
                    **_fields(got, actor),
                )
                return f"Model '{model.name}' saved."

        _submit("edit", got, slots, save)
        if shown != "conflict":  # refused just now: the conflict replaces any milder note
            _notice(notice, view, version, after_save=True)


def _notice(
    where: Any, view: model_records.ModelView, version: int, after_save: bool = False
) -> str | None:
    """'Changed by X at T — reload' with a Reload button once a save was refused; a milder
    note when the model changed since the form was opened. Returns what it showed."""
    conflict = st.session_state.get(CONFLICT_KEY)
    if conflict and conflict[0] == str(view.id):
        box = where.container(border=True)
        box.error(_ui.literal(conflict[1]), icon=":material/sync_problem:")
        box.caption(
            "Your input is kept below. Reload to see their version; your unsaved "
            "changes are then discarded."
        )
        box.button(
            "Reload", icon=":material/refresh:", on_click=reset_edit, key="model_edit_reload"
        )
        return "conflict"
    if version != view.version and not after_save:
        box = where.container(border=True)
        box.info(
            "This model was changed since you opened it; saving is refused until you reload.",
            icon=":material/info:",
        )
        box.button(
            "Reload", icon=":material/refresh:", on_click=reset_edit, key="model_edit_reload_stale"
        )
        return "stale"
    return None
