"""Overview: the home page after sign-in. Spend this month against last month at the same
day, budgets near or over their limit with their alerts, providers by health status with
the last failed checks, the top models by spend and the deprecated models still configured,
each linking to the page that has the details.

Everything is read in one session from the daily rollups (``core.usage.overview`` and
``budget_status``, never the events) and the stored health (``health_report``); what a
member sees follows the visibility rules (every call gets the viewer). Unpriced usage is
shown as unknown, never as $0, and the days are the rollups' (MODELDESK_TIMEZONE).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pandas as pd
import streamlit as st

from core import costs
from core.accounts.viewer import Viewer
from core.probes import health_report
from core.probes.health_report import HealthRow
from core.records import catalog_hints
from core.usage import budget_status, overview
from core.usage.budget_status import Alert, BudgetStatus
from core.usage.overview import Comparison, ModelLine
from pages import _ui

_md = _ui.literal  # names and providers' own words shown as typed
TOP_MODELS = 5
FAILURES_SHOWN = 5
ALERT_DAYS = 30
COSTS_PAGE = "pages/costs.py"  # linked once it is registered in _ui.PAGES
STATUS_LABELS = {
    "healthy": "Healthy",
    "degraded": "Degraded",
    "unauthorized": "Unauthorized",
    "unreachable": "Unreachable",
    "unknown": "Not checked",
}


def _registered(path: str) -> bool:
    return any(spec.path == path for spec in _ui.PAGES)


def _link_costs(label: str) -> None:
    if _registered(COSTS_PAGE):
        st.page_link(COSTS_PAGE, label=label, icon=":material/payments:")


def _signed(amount: Decimal) -> str:
    sign = "+" if amount > 0 else "-" if amount < 0 else "±"
    return f"{sign}{costs.usd(abs(amount))}"


def _percent(share: Decimal) -> str:
    return f"{share * 100:.1f} %"


def _last_day(end: date) -> date:
    """The last day of [start, end), for people."""
    return end - timedelta(days=1)


# --- Sections -------------------------------------------------------------------------------


def _empty_state(me: Viewer) -> None:
    if me.is_admin:
        st.info("Nothing to show yet: no provider is configured and no usage is recorded.")
        st.markdown(
            "Start with one of these:\n\n"
            "1. **Add a provider**, then its models with their prices.\n"
            "2. **Import usage**: `modeldesk usage import FILE` (Modeldesk CSV or JSONL, "
            "OpenTelemetry or LiteLLM payloads), or send it live (see docs/usage-ingest.md).\n"
            "3. **Look around first**: `modeldesk demo` seeds a demo organisation "
            "(an empty database only) so every page is populated."
        )
    else:
        st.info("Nothing to show yet: you have no provider and no usage of yours is recorded.")
        st.markdown(
            "Add a provider of your own, or ask an admin to share one with you. Your usage "
            "shows here once it is recorded."
        )
    st.page_link("pages/providers.py", label="Add a provider", icon=":material/hub:")


def _spend(mtd: Comparison, timezone: str) -> None:
    st.subheader("Spend this month")
    this_last = _last_day(mtd.current.date_to)
    before_last = _last_day(mtd.before.date_to)
    delta = None
    if mtd.totals.requests or mtd.previous.requests:
        ratio = mtd.change_ratio
        delta = _signed(mtd.change_usd) + ("" if ratio is None else f" ({ratio * 100:+.1f} %)")
        delta += " vs last month"
    st.metric(
        f"Month to date ({mtd.current.date_from} to {this_last})",
        costs.usd(mtd.totals.cost_usd),
        delta=delta,
        delta_color="inverse",  # spending more is not good news
    )
    st.caption(
        f"Last month to the same day ({mtd.before.date_from} to {before_last}): "
        f"{costs.usd(mtd.previous.cost_usd)}. {mtd.totals.requests:,} requests this month. "
        f"Days are in {_md(timezone)}."
    )
    if mtd.totals.unpriced_requests or mtd.previous.unpriced_requests:
        st.warning(
            f"{mtd.totals.unpriced_requests:,} requests this month "
            f"({mtd.previous.unpriced_requests:,} last month to the same day) have no known "
            "price: their cost is unknown and not in these totals.",
            icon=":material/help:",
        )
    _link_costs("Costs by day, model and user")


def _budget_frame(found: list[BudgetStatus]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "Budget": [s.name for s in found],
            "For": [s.target for s in found],
            "State": [s.state for s in found],
            "Spent": [costs.usd(s.spent_usd) for s in found],
            "Limit": [costs.usd(s.amount_usd) for s in found],
            "Used": [_percent(s.share) for s in found],
            "Forecast": [costs.usd(s.forecast_usd) for s in found],
            "Window": [f"{s.window.start} to {_last_day(s.window.end)}" for s in found],
            "Unpriced requests": [s.unpriced_requests for s in found],
        }
    )


def _alert_frame(alerts: list[Alert]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "When": pd.to_datetime([a.at for a in alerts], utc=True),
            "Budget": [a.budget for a in alerts],
            "Crossed": [f"{a.threshold} %" for a in alerts],
            "Spent then": [costs.usd(a.spent_usd) for a in alerts],
            "Limit": [costs.usd(a.amount_usd) for a in alerts],
        }
    )


def _budgets(statuses: list[BudgetStatus], alerts: list[Alert]) -> None:
    st.subheader("Budgets")
    attention = budget_status.attention(statuses)
    if not statuses:
        st.caption("No budgets yet: `modeldesk budgets create` sets one (see docs/budgets.md).")
    elif not attention:
        st.success(f"All {len(statuses)} budgets are within their limits.")
    else:
        st.caption(
            f"{len(attention)} of {len(statuses)} budgets are near or over their limit "
            "(a Modeldesk view: nothing is blocked)."
        )
        st.dataframe(_budget_frame(attention), hide_index=True, width="stretch")
    if alerts:
        st.caption(f"Threshold alerts of the last {ALERT_DAYS} days, newest first:")
        st.dataframe(
            _alert_frame(alerts),
            hide_index=True,
            width="stretch",
            column_config={"When": st.column_config.DatetimeColumn(format="YYYY-MM-DD HH:mm")},
        )
    _link_costs("Costs and budgets")


def _health(rows: list[HealthRow]) -> None:
    st.subheader("Provider health")
    grouped = health_report.by_status(rows)
    if not grouped:
        st.caption("No active provider to check.")
    else:
        for column, (status, found) in zip(st.columns(len(grouped)), grouped.items(), strict=True):
            column.metric(STATUS_LABELS.get(status, status), len(found))
        troubled = [r for status, found in grouped.items() if status != "healthy" for r in found]
        if troubled:
            st.dataframe(
                pd.DataFrame(
                    {
                        "Provider": [r.name for r in troubled],
                        "Status": [STATUS_LABELS.get(r.status, r.status) for r in troubled],
                        "Note": [r.reason or "" for r in troubled],
                    }
                ),
                hide_index=True,
                width="stretch",
            )
        failures = health_report.last_failures(rows, limit=FAILURES_SHOWN)
        if failures:
            st.caption("Last failed checks:")
            st.dataframe(
                pd.DataFrame(
                    {
                        "Failed at": pd.to_datetime(
                            [r.last_failure_at for r in failures], utc=True
                        ),
                        "Provider": [r.name for r in failures],
                        "Why": [r.last_failure_reason or "" for r in failures],
                    }
                ),
                hide_index=True,
                width="stretch",
                column_config={
                    "Failed at": st.column_config.DatetimeColumn(format="YYYY-MM-DD HH:mm")
                },
            )
    st.page_link("pages/health.py", label="Health", icon=":material/monitor_heart:")


def _cost_text(line: ModelLine) -> str:
    if line.unpriced and not line.totals.cost_usd:
        return costs.UNKNOWN
    shown = costs.usd(line.totals.cost_usd)
    return f"{shown} + unknown" if line.unpriced else shown


def _top_models(lines: list[ModelLine], mtd: Comparison) -> None:
    st.subheader("Top models this month")
    spent = [line for line in lines if line.totals.cost_usd][:TOP_MODELS]
    total = mtd.totals.cost_usd
    if not spent:
        st.caption("No priced usage this month.")
    else:
        st.dataframe(
            pd.DataFrame(
                {
                    "Model": [line.model for line in spent],
                    "Provider": [line.provider for line in spent],
                    "Requests": [line.totals.requests for line in spent],
                    "Tokens": [
                        line.totals.input_tokens + line.totals.output_tokens for line in spent
                    ],
                    "Cost": [_cost_text(line) for line in spent],
                    "Share of spend": [
                        _percent(line.totals.cost_usd / total) if total else costs.UNKNOWN
                        for line in spent
                    ],
                }
            ),
            hide_index=True,
            width="stretch",
        )
    unknown = overview.unpriced(lines)
    if unknown:
        listed = "; ".join(
            f"{_md(line.model)} on {_md(line.provider)} "
            f"({line.totals.unpriced_requests:,} requests): cost unknown"
            for line in unknown
        )
        st.info(f"Usage without a known price this month: {listed}.", icon=":material/help:")
    st.page_link(
        "pages/explorer.py", label="Compare models in the Explorer", icon=":material/query_stats:"
    )
    _link_costs("Costs by model")


def _deprecated(notices: list[catalog_hints.DeprecationNotice]) -> None:
    st.subheader("Deprecated models still configured")
    if not notices:
        st.caption("No configured model is marked deprecated by the catalog.")
    for notice in notices:
        st.warning(_md(notice.message), icon=":material/warning:")
    st.page_link("pages/models.py", label="Models", icon=":material/neurology:")


# --- The page -------------------------------------------------------------------------------

st.title("Overview")
settings = _ui.runtime().settings
with _ui.reading() as session:
    me = _ui.current_user(session)
    today = budget_status.today_in(settings.timezone)
    used = overview.read_usage(  # this month's, read once: totals and model lines fold it
        session, viewer=me, span=overview.period("this_month", today=today), users=False
    )
    mtd = overview.month_to_date(session, viewer=me, today=today, usage=used)
    health_rows = health_report.health_overview(session, user=me, settings=settings)
    statuses = budget_status.evaluate(
        session, viewer=me, timezone=settings.timezone, record_alerts=False
    )
    empty = not (health_rows or mtd.totals.requests or mtd.previous.requests or statuses)
    if not empty:
        lines = overview.models(session, viewer=me, span=mtd.current, usage=used)
        alerts = budget_status.recent_alerts(
            session, viewer=me, since=datetime.now(UTC) - timedelta(days=ALERT_DAYS)
        )
        notices = catalog_hints.deprecation_notices(session, user=me)

st.caption(f"Today is {today}; days are in {_md(settings.timezone)} (MODELDESK_TIMEZONE).")
if empty:
    _empty_state(me)
else:
    left, right = st.columns(2, gap="large")
    with left:
        _spend(mtd, settings.timezone)
    with right:
        _health(health_rows)
    _budgets(statuses, alerts)
    _top_models(lines, mtd)
    _deprecated(notices)
