"""Import from provider on the Models page: list what a provider serves
(``core.probes.discovery``), tick models in a table, and add the ticked ones in one transaction
with their guessed type and the catalog's context window and prices."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

import pandas as pd
import streamlit as st

from core.accounts.viewer import Viewer
from core.costs import usd
from core.probes import discovery
from core.vocabulary import MODEL_TYPES
from pages import _ui

IMPORT_KEY = "md_model_import"  # (provider id, [ServedModel]) of the last listing
IMPORT_TABLE = "model_imp_table"  # the data editor's ticks and type corrections


def _import_frame(served: list[discovery.ServedModel]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "Add": [False] * len(served),
            "Configured": [m.configured for m in served],
            "Model ID": [m.model_id for m in served],
            "Name": [m.name for m in served],
            "Type": [m.guessed_type for m in served],
            "Context": pd.array([m.context_window for m in served], dtype="Int64"),
            "Input /M": [usd(m.input_cost_per_million) for m in served],
            "Output /M": [usd(m.output_cost_per_million) for m in served],
            "Facts from": [m.source or None for m in served],
        }
    )


IMPORT_COLUMNS = {
    "Add": st.column_config.CheckboxColumn(help="Tick the models to add.", width=56),
    "Configured": st.column_config.CheckboxColumn(
        help="Already a model of this provider: it is skipped.", width=88
    ),
    "Type": st.column_config.SelectboxColumn(
        options=list(MODEL_TYPES), required=True, help="Guessed from the id; correct it here."
    ),
    "Context": st.column_config.NumberColumn(help="Context window in tokens", format="compact"),
    "Input /M": st.column_config.TextColumn(help="Input price per million tokens"),
    "Output /M": st.column_config.TextColumn(help="Output price per million tokens"),
    "Facts from": st.column_config.TextColumn(
        help=f"Where the context window and prices come from ({_ui.UNKNOWN}: nothing known)."
    ),
}


def render_import(me: Viewer, providers: Mapping[str, str]) -> None:
    """List a provider's served models and add the ticked ones (providers: id → label of
    those the user may manage)."""
    st.caption(
        "Lists the models a provider actually serves (its model listing: no tokens "
        "are spent), marks those already configured, and adds the ones you tick with "
        "their type guessed and known context window and prices filled in. Azure "
        "OpenAI lists the models a resource can deploy, not its deployments: there a "
        "record's model ID must be its deployment name."
    )
    if not providers:
        st.info("You manage no provider to import into.", icon=":material/info:")
        return
    left, right = st.columns([3, 1], vertical_alignment="bottom")
    pid = left.selectbox(
        "Provider", list(providers), format_func=providers.get, key="model_imp_provider"
    )
    if right.button(
        "List models", icon=":material/travel_explore:", key="model_imp_list", width="stretch"
    ):

        def listing() -> list[discovery.ServedModel]:
            with _ui.reading() as session:
                return discovery.served_models(
                    session,
                    actor=_ui.current_user(session),
                    provider_id=_ui.parse_id(pid),
                    settings=_ui.runtime().settings,
                )

        st.session_state.pop(IMPORT_KEY, None)
        st.session_state.pop(IMPORT_TABLE, None)  # a new listing starts unticked
        with st.spinner("Asking the provider for its models…"):
            found = _ui.attempt(listing)
        if found is not None:
            st.session_state[IMPORT_KEY] = (pid, found)
    held = st.session_state.get(IMPORT_KEY)
    if not held or held[0] != pid:
        return
    served = held[1]
    if not served:
        st.info("The provider lists no models.", icon=":material/info:")
        return
    known = sum(m.configured for m in served)
    edited = st.data_editor(
        _import_frame(served),
        key=IMPORT_TABLE,
        hide_index=True,
        width="stretch",
        column_config=IMPORT_COLUMNS,
        placeholder=_ui.UNKNOWN,
        disabled=[c for c in IMPORT_COLUMNS if c not in ("Add", "Type")] + ["Model ID", "Name"],
    )
    chosen = edited[edited["Add"] & ~edited["Configured"]]
    st.caption(
        f"{len(served)} served, {known} already configured (skipped if ticked); "
        f"{len(chosen)} ticked to add."
    )
    wide = (
        st.checkbox("Instance-wide (every user sees the added models)", key="model_imp_wide")
        if me.is_admin
        else False
    )
    if st.button(
        f"Add selected ({len(chosen)})",
        type="primary",
        icon=":material/add:",
        key="model_imp_add",
        disabled=chosen.empty,
    ):
        by_id = {m.model_id: m for m in served}
        facts = [
            replace(by_id[mid], guessed_type=kind)
            for mid, kind in zip(chosen["Model ID"], chosen["Type"], strict=True)
        ]

        def add() -> int:
            with _ui.writing() as session:
                return discovery.import_served_models(
                    session,
                    actor=_ui.current_user(session),
                    provider_id=_ui.parse_id(pid),
                    model_ids=[f.model_id for f in facts],
                    facts=facts,
                    instance_wide=wide,
                )

        added = _ui.attempt(add)
        if added is not None:
            st.session_state.pop(IMPORT_KEY, None)
            _ui.reset_widgets(IMPORT_TABLE)
            _ui.flash(f"{added} model(s) added from {providers[pid]}.")
            st.rerun()
