"""The Costs page's savings finder: each model's spend in the period against what the same
token mix would have cost on a model as good or better (``core.usage.savings``), with the
assumptions stated and a link to compare the two in the Explorer."""

from __future__ import annotations

from urllib.parse import urlencode

import pandas as pd
import streamlit as st

from core.accounts.viewer import Viewer
from core.catalog import model_facts, quality
from core.costs import usd
from core.explorer import ranking, tiers
from core.explorer.registry import ModelCapability
from core.usage import overview, savings
from pages import _ui

SCOPE_KEY = "costs_savings_scope"
SCOPE_LABELS = {"configured": "Your model records", "catalog": "The whole catalog"}


def compare_link(scope: str, finding: savings.Finding, alt: savings.Alternative) -> str:
    """The Explorer's Compare with the used model and the alternative, in the scope."""
    query = {"compare": ",".join(savings.compare_keys(scope, finding, alt))}
    if scope == "catalog":
        query["scope"] = "catalog"
    if finding.used is not None and finding.used.deprecated:
        query["deprecated"] = "1"  # else the Explorer leaves the used model out
    return f"explorer?{urlencode(query)}"  # relative: works under a base URL path too


def _name(model: ModelCapability) -> str:
    return f"{model.provider_label} / {model.model}"


def _quality(model: ModelCapability | None) -> str:
    """The Models table's quality cell (a record's tier named as such, else the Arena
    rating); the ranking's words for a seed-table tier or none."""
    if model is None:
        return "not in the catalog"
    on_record = model.sources.get("quality") == tiers.ON_RECORD
    shown = tiers.quality_label(model.quality if on_record else None, model.rating)
    return shown or ranking.quality_text(model)


def _share(part: savings.Alternative, finding: savings.Finding) -> str:
    if not finding.spent_usd:
        return ""
    return f"{part.saving_usd / finding.spent_usd * 100:.0f} %"


def _rows(found: savings.Savings) -> list[dict[str, object]]:
    rows = []
    for f in found.findings:
        best = f.best
        rows.append(
            {
                "Provider": f.provider,
                "Model": f.model,
                "Spent": usd(f.spent_usd),
                "Alternative": _name(best.model)
                if best
                else ("not compared" if f.note else "none cheaper"),
                "Would have cost": usd(best.cost_usd) if best else "",
                "Saving": usd(best.saving_usd) if best else "",
                "Saving %": _share(best, f) if best else "",
                "Compare": compare_link(found.scope, f, best) if best else None,
                "Quality": _quality(f.used),
                "Its quality": _quality(best.model) if best else "",
            }
        )
    return rows


def _others(found: savings.Savings) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "Used": f"{f.provider} / {f.model}",
                "Spent": usd(f.spent_usd),
                "Alternative": _name(a.model),
                "Would have cost": usd(a.cost_usd),
                "Saving": usd(a.saving_usd),
                "Compare": compare_link(found.scope, f, a),
                "Its quality": _quality(a.model),
                "Prices": a.model.prices.source if a.model.prices else "",
            }
            for f in found.findings
            for a in f.alternatives
        ]
    )


def assumptions(found: savings.Savings) -> list[str]:
    """What the figures assume, for the page (one sentence each)."""
    count = "" if found.candidates is None else f" ({found.candidates:,} models)"
    said = [
        f"Alternatives come from {savings.SCOPE_LABELS[found.scope]}{count}: priced "
        "(not $0), not deprecated, with every feature of the tasks the used "
        "model fits, a context window at least as large, and a quality at least as high "
        "(a tier set on the model record, else the Arena rating; an unrated model is "
        "compared with nothing).",
        "Spent is what the ledger recorded. An alternative is priced at the prices the "
        "Explorer shows for it today (its model record's, else the catalog's current "
        "price), not at the prices of each day of the period.",
        "The token mix is the period's as recorded: input, cached input, cache writes, "
        "output and reasoning tokens, and requests. Caching is assumed to hit the same way "
        "on the alternative; one without a cache price charges cached input as input. "
        "Tiered prices are picked by the average input per request.",
        "Prompts may need changes to run elsewhere, and output lengths differ between "
        "models: the figure is what the same tokens would cost, not a promise.",
    ]
    if found.left_out_requests:
        said.append(
            f"Unpriced usage is left out: {found.left_out_requests:,} request(s) on days a "
            f"model had unpriced requests ({found.left_out_unpriced:,} unpriced, "
            f"{usd(found.left_out_cost_usd)} priced spend), as their cost is unknown."
        )
    return said


def render(span: overview.Period, user: Viewer) -> None:
    """The savings finder section."""
    st.subheader("Savings finder")
    st.session_state.setdefault(SCOPE_KEY, "configured")
    st.segmented_control(
        "Alternatives from",
        list(SCOPE_LABELS),
        format_func=SCOPE_LABELS.__getitem__,
        key=SCOPE_KEY,
        required=True,
    )
    scope = st.session_state[SCOPE_KEY]

    def find() -> savings.Savings:
        with _ui.reading() as session:
            return savings.find(
                session, viewer=user, date_from=span.date_from, date_to=span.date_to, scope=scope
            )

    found = _ui.attempt(find)
    if found is None:
        return
    if not found.findings:
        st.caption("No priced spend in this period: nothing to compare.")
    else:
        a, b = st.columns(2)
        a.metric("Priced spend compared", usd(found.spent_usd))
        b.metric("Could have saved", usd(found.saving_usd))
        st.dataframe(
            pd.DataFrame(_rows(found)),
            hide_index=True,
            width="stretch",
            placeholder="—",
            column_config={
                "Compare": st.column_config.LinkColumn(display_text="Compare"),
                "Spent": st.column_config.TextColumn(alignment="right"),
                "Would have cost": st.column_config.TextColumn(alignment="right"),
                "Saving": st.column_config.TextColumn(alignment="right"),
            },
            key="costs_savings_table",
        )
        if any(f.alternatives for f in found.findings):
            with st.expander(f"Every cheaper alternative (up to {savings.SHOWN} a model)"):
                st.dataframe(
                    _others(found),
                    hide_index=True,
                    width="stretch",
                    column_config={
                        "Compare": st.column_config.LinkColumn(
                            display_text="Compare in the Explorer"
                        )
                    },
                    key="costs_savings_all",
                )
        skipped = [f"{f.provider} / {f.model}: {f.note}" for f in found.findings if f.note]
        if skipped:
            st.caption(_ui.literal("Not compared — " + "; ".join(skipped)))
    st.markdown("**Assumptions**")
    for line in [*assumptions(found), _sources()]:
        st.caption(_ui.literal(line))


def _sources() -> str:
    """Where the ratings and the catalog's prices come from, with their dates (as the
    Explorer says it)."""
    if tiers.ratings_shipped():
        info = quality.snapshot_info()
        rated = f"Arena ratings: {info.source}, {info.fetched}, {info.licence}."
    else:
        rated = "No quality ratings ship with this installation: only record tiers count."
    return f"{rated} Catalog data: {' · '.join(model_facts.data_sources().values())}."
