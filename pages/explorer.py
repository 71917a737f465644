"""Explorer: compare models by capability, speed and cost, over the models configured here
or the whole catalog, with a workload calculator and "best model for".

The filters live in the sidebar and in the URL, so a view can be shared as a link. Runs
stay cheap: the catalog is built once per process (in core), what the filters derive from
it is cached by the filter state, charts draw at most a few thousand points (WebGL), the
capability matrix only the best-ranked models, and only the open tab is drawn.
"""

from __future__ import annotations

import hashlib
from decimal import Decimal
from typing import Any

import streamlit as st

from core.accounts.viewer import Viewer
from core.catalog import model_facts, quality
from core.explorer import comparison, filters, scopes, tiers
from core.explorer.filters import Filters
from core.explorer.registry import ModelCapability
from core.vocabulary import FEATURE_LABELS, FEATURE_ORDER, MODALITIES
from pages import _explorer_tabs, _ui

KEY = {name: f"explorer_{name}" for name in filters.QUERY_KEYS}
VIEW_KEY = "explorer_view"  # the Filters last shown (survives a page switch)
TAB_KEY = "explorer_tab"
COMPARE_QUERY = "compare"  # a link's models to compare (taken once, see _take_compare)
TABS = ("Charts", "Models", "Compare", "Workload", "Best model")
SCOPE_LABELS = _explorer_tabs.SCOPE_LABELS
CONTEXT_STEPS = (0, 8_000, 32_000, 128_000, 200_000, 1_000_000)
BLENDS = tuple(f"{a}:{b}" for a, b in filters.BLENDS)


# --- Filter state: widgets ⇄ Filters ⇄ URL ------------------------------------------------


def _widget_state(f: Filters) -> dict[str, Any]:
    return {
        KEY["scope"]: f.scope,
        KEY["features"]: [x for x in FEATURE_ORDER if x in f.features],
        KEY["providers"]: sorted(f.provider_types),
        KEY["context"]: f.min_context or 0,  # 0: any (a None option reads as unset)
        KEY["price"]: None if f.max_price is None else float(f.max_price),
        KEY["in"]: [x for x in MODALITIES if x in f.input_modalities],
        KEY["out"]: [x for x in MODALITIES if x in f.output_modalities],
        KEY["usable"]: f.usable_only,
        KEY["blend"]: f"{f.blend[0]}:{f.blend[1]}",
        KEY["q"]: f.search,
        KEY["deprecated"]: f.deprecated,
        KEY["unknown"]: f.unknown_features,
    }


def _seed(f: Filters) -> None:
    st.session_state.update(_widget_state(f))


def _from_widgets() -> Filters:
    s = st.session_state
    price = s[KEY["price"]]
    return Filters(
        scope=s[KEY["scope"]],
        features=frozenset(s[KEY["features"]]),
        provider_types=frozenset(s[KEY["providers"]]),
        min_context=s[KEY["context"]] or None,
        max_price=None if price is None else Decimal(str(price)),
        input_modalities=frozenset(s[KEY["in"]]),
        output_modalities=frozenset(s[KEY["out"]]),
        usable_only=s[KEY["usable"]],
        blend=tuple(int(p) for p in s[KEY["blend"]].split(":")),  # type: ignore[arg-type]
        search=s[KEY["q"]] or "",
        deprecated=s[KEY["deprecated"]],
        unknown_features=s[KEY["unknown"]],
    )


def _url() -> dict[str, list[str]]:
    return {k: st.query_params.get_all(k) for k in filters.QUERY_KEYS if k in st.query_params}


def _sync_from_url() -> tuple[str, ...]:
    """Seed the widgets from the URL when it names another view (a shared link, an edited
    URL); back from another page with a bare URL, restore this session's last view."""
    url, last = _url(), st.session_state.get(VIEW_KEY)
    warnings: tuple[str, ...] = ()
    if url:
        view, found = filters.parse_query(url)
        if view != last:
            _seed(view)
            warnings = found
    elif last is not None and KEY["scope"] not in st.session_state:
        _seed(last)
    for key, value in _widget_state(Filters()).items():  # a first visit with a bare URL
        st.session_state.setdefault(key, value)
    return warnings


def _take_compare() -> None:
    """A link's ``compare=KEY,KEY`` (model keys: record id or provider_type/model, as the
    Costs page's savings finder writes them) opens Compare with those models; the filters'
    URL then replaces it, so it is taken once."""
    found = [k.strip() for v in st.query_params.get_all(COMPARE_QUERY) for k in v.split(",")]
    found = [k for k in found if k and len(k) <= 300][: _explorer_tabs.COMPARE_MAX]
    if found:
        st.session_state["explorer_compare"] = found  # unknown keys: dropped by the tab
        st.session_state[TAB_KEY] = "Compare"


def _write_url(view: Filters) -> None:
    st.session_state[VIEW_KEY] = view
    query = view.to_query()
    if {k: v[-1] for k, v in _url().items()} != query or len(st.query_params) != len(query):
        st.query_params.from_dict(query)


def _reset() -> None:
    _seed(Filters(scope=st.session_state[KEY["scope"]]))


def _with_current(options: tuple[Any, ...], key: str, order: Any) -> list[Any]:
    """Preset options plus the current value (a link may carry any), in order."""
    current = st.session_state.get(key)
    return sorted({*options, current}, key=order)


def _blend_order(value: str) -> float:
    a, b = (int(p) for p in value.split(":"))
    return b / (a + b)


def _sidebar() -> None:
    with st.sidebar:
        st.subheader("Filters")
        st.text_input(
            "Search",
            key=KEY["q"],
            max_chars=filters.MAX_SEARCH,
            placeholder="name, model id or provider",
        )
        st.multiselect(
            "Features (all of)",
            FEATURE_ORDER,
            key=KEY["features"],
            format_func=FEATURE_LABELS.get,
            placeholder="Any features",
        )
        types = sorted(filters.known_provider_types(), key=filters.type_label)
        st.multiselect(
            "Provider types",
            types,
            key=KEY["providers"],
            format_func=filters.type_label,
            placeholder="Every provider type",
        )
        st.selectbox(
            "Minimum context",
            _with_current(CONTEXT_STEPS, KEY["context"], int),
            key=KEY["context"],
            format_func=lambda v: f"≥ {comparison.token_count(v)}" if v else "any",
        )
        st.number_input(
            "Maximum blended price ($/M)",
            min_value=0.0,
            max_value=100_000.0,
            step=0.5,
            format="%g",
            key=KEY["price"],
            placeholder="any",
            help="Unpriced models are left out once a maximum is set.",
        )
        st.multiselect("Accepts (input)", MODALITIES, key=KEY["in"], placeholder="Any input")
        st.multiselect("Produces (output)", MODALITIES, key=KEY["out"], placeholder="Any output")
        st.selectbox(
            "Blend (input:output)",
            sorted(BLENDS, key=_blend_order),
            key=KEY["blend"],
            help="How input and output prices are mixed into "
            "one blended price per million tokens, and into the cost tiers.",
        )
        st.toggle(
            "Usable by me only",
            key=KEY["usable"],
            disabled=st.session_state[KEY["scope"]] != "configured",
            help="Configured scope: active models of active, healthy providers you may use.",
        )
        st.toggle("Include deprecated", key=KEY["deprecated"])
        st.toggle(
            "Include models with unknown features",
            key=KEY["unknown"],
            help="A model the catalog does not describe (and whose record sets no "
            'features) may still do the task: included, flagged "unknown", unless '
            "this is off. Captions count what was left out.",
        )
        st.button(
            "Reset filters",
            icon=":material/filter_alt_off:",
            key="explorer_reset",
            on_click=_reset,
            width="stretch",
        )
        st.caption("The page's URL holds these filters: copy it to share this view.")


# --- Loading and cached derivations ---------------------------------------------------------


def _load(session: Any, me: Viewer, f: Filters) -> tuple[str, tuple[ModelCapability, ...]]:
    """(cache token, the scope's models) for this view."""
    if f.scope == "catalog":
        return (
            f"catalog {f.blend}",
            tuple(scopes.capabilities(None, scope="catalog", ratio=f.blend)),
        )
    models = tuple(
        scopes.capabilities(
            session, scope="configured", user=me, usable_only=f.usable_only, ratio=f.blend
        )
    )
    # The models' repr holds every value shown (prices included), so it keys the caches.
    return f"configured {hashlib.sha256(repr(models).encode()).hexdigest()}", models


@st.cache_resource(max_entries=64, show_spinner=False)
def _narrowed(
    token: str, query: tuple, _models: tuple, _filters: Filters
) -> tuple[ModelCapability, ...]:
    return tuple(filters.ranked(filters.apply(_models, _filters)))


def _quality_source() -> str:
    """Where the quality ratings come from, with their date and licence."""
    if not tiers.ratings_shipped():
        return "No quality ratings ship with this installation."
    info = quality.snapshot_info()
    return f"Quality: {info.source}, {info.fetched}, {info.licence} (Arena rating ± 95 % interval)."


# --- The page -----------------------------------------------------------------------------

st.title("Explorer")
warnings = _sync_from_url()
_take_compare()
with _ui.reading() as session:
    me = _ui.current_user(session)
    token, scope_models = _load(session, me, _from_widgets())
st.segmented_control(
    "Models",
    list(SCOPE_LABELS),
    key=KEY["scope"],
    required=True,
    format_func=SCOPE_LABELS.get,
    label_visibility="collapsed",
)
_sidebar()
view = _from_widgets()
_write_url(view)
for warning in warnings:  # they quote the link's text: shown literally, never as Markdown
    st.warning(_ui.literal(warning), icon=":material/link_off:")
sources = model_facts.data_sources()
st.caption(
    f"Catalog data: {' · '.join(sources.values())}. Prices in USD per million "
    f"tokens; blended at {view.blend[0]}:{view.blend[1]} input:output. {_quality_source()}"
)

if view.scope == "configured" and not scope_models:
    st.info(
        "No models are configured here that you can see"
        + (" and use" if view.usable_only else "")
        + " yet. Explore the whole "
        "catalog instead, or add models on the Models page.",
        icon=":material/neurology:",
    )
    st.button(
        "Explore the whole catalog",
        icon=":material/travel_explore:",
        key="explorer_to_catalog",
        on_click=lambda: st.session_state.update({KEY["scope"]: "catalog"}),
    )
    st.stop()

query = tuple(sorted(view.to_query().items()))
models = _narrowed(token, query, scope_models, view)
bar = st.container(horizontal=True)
bar.metric(
    "Models",
    f"{len(models):,}",
    border=True,
    help=f"{len(scope_models):,} in this scope before the filters.",
)
bar.metric("Priced", f"{sum(m.blended_price is not None for m in models):,}", border=True)
bar.metric(
    "Arena rated",
    f"{sum(m.rating is not None for m in models):,}",
    border=True,
    help="Models with an Arena rating (text board); a tier set on a record overrides it.",
)
unknown = sum(not m.features_known for m in models)
if unknown:
    bar.metric("Features unknown", f"{unknown:,}", border=True, help="Flagged, not dropped.")
bar.metric("Provider types", f"{len({m.provider_type for m in models}):,}", border=True)
if not models:
    st.info("No model matches these filters.", icon=":material/filter_alt_off:")
    st.button("Reset filters", key="explorer_reset_main", on_click=_reset)
    st.stop()

drawers = (
    lambda: _explorer_tabs.charts(token, query, models, view),
    lambda: _explorer_tabs.models_tab(token, query, models),
    lambda: _explorer_tabs.compare_tab(token, query, models, view),
    lambda: _explorer_tabs.workload_tab(token, query, models, view),
    lambda: _explorer_tabs.best_tab(token, query, models, view),
)
for tab, draw in zip(st.tabs(TABS, key=TAB_KEY, on_change="rerun"), drawers, strict=True):
    if tab.open:  # only the open tab is drawn
        with tab:
            draw()
