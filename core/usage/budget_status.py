"""Where each budget stands: spend in the current window from the daily rollups (never the
events), share used, a straight-line forecast, and threshold alerts written once.

    window   month    [1st of this month, 1st of next)  in MODELDESK_TIMEZONE (rollup days)
             rolling  [today - N + 1, today + 1)         the last N days, today included
    forecast month    spent / days elapsed (today counted) × days in the month
             rolling  spent (the window is always full: it ends today)
    state    over     spent ≥ amount
             near     a threshold crossed, or the forecast reaches the amount
             ok       otherwise

Unpriced usage (events without a known price) adds nothing to ``spent_usd`` and is counted
apart, in requests: the status says the spend is incomplete instead of treating it as $0.

Alerts: each threshold a budget crosses is recorded once per window in ``budget_alerts``,
whose unique key (budget, window start, threshold) decides, not a read before the write:
``INSERT … ON CONFLICT DO NOTHING RETURNING`` inserts the crossing for exactly one of any
number of concurrent evaluations, and only that one writes the ``budget.alert`` audit event
(same transaction). A rolling window starts a day later every day, so a threshold crossed
again is alerted again only after the earlier crossing has left the window.

``document`` is the JSON that ``modeldesk budgets status --format json`` prints, the form a
gateway can read (see docs/budgets.md).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from core.accounts import audit
from core.accounts.viewer import Actor
from core.store.tables import Provider
from core.store.usage_tables import Budget, BudgetAlert, UsageDaily, UsageDailyTag
from core.usage import budgets
from core.usage.ledger import zone_of
from core.usage.rollups import Totals
from core.usage.summary import as_cost, sums_by, totals_where

STATES = ("over", "near", "ok")
_CENTS8 = Decimal("0.00000001")
_SHARE = Decimal("0.0001")


@dataclass(frozen=True)
class Window:
    """A budget's current window: rollup days [start, end)."""

    kind: str
    start: date
    end: date
    days: int
    elapsed: int  # days of the window up to today, today included


def today_in(timezone: str, now: datetime | None = None) -> date:
    """Today's date in the configured timezone (the rollups' days)."""
    return (now or datetime.now(UTC)).astimezone(zone_of(timezone)).date()


def month_start(day: date) -> date:
    """The first day of day's month."""
    return day.replace(day=1)


def next_month(day: date) -> date:
    """The first day of the month after day's."""
    return (day.replace(day=28) + timedelta(days=4)).replace(day=1)


def window_of(budget: Budget, today: date) -> Window:
    """The window a budget is in today."""
    if budget.window_kind == "month":
        start, end = month_start(today), next_month(today)
        return Window("month", start, end, (end - start).days, (today - start).days + 1)
    days = budget.window_days or 1
    return Window(
        "rolling", today - timedelta(days=days - 1), today + timedelta(days=1), days, days
    )


@dataclass(frozen=True)
class BudgetStatus:
    """One budget's standing in its current window."""

    budget_id: uuid.UUID
    name: str
    scope: str
    target: str
    amount_usd: Decimal
    window: Window
    totals: Totals  # the window's usage in the budget's scope
    thresholds: tuple[int, ...]
    alerted: tuple[int, ...]  # thresholds this evaluation recorded (first crossing)

    @property
    def spent_usd(self) -> Decimal:
        """The priced spend so far (unpriced usage is not in it)."""
        return self.totals.cost_usd

    @property
    def unpriced_requests(self) -> int:
        """Requests in the window without a known price."""
        return self.totals.unpriced_requests

    @property
    def share(self) -> Decimal:
        """spent / amount, to four places (1 is the whole budget)."""
        return (self.spent_usd / self.amount_usd).quantize(_SHARE, ROUND_HALF_UP)

    @property
    def forecast_usd(self) -> Decimal:
        """Straight-line spend at the end of the window."""
        if self.window.kind != "month":
            return self.spent_usd
        rate = self.spent_usd * self.window.days / self.window.elapsed
        return rate.quantize(_CENTS8, ROUND_HALF_UP)

    @property
    def crossed(self) -> tuple[int, ...]:
        """The thresholds the spend has reached."""
        return tuple(t for t in self.thresholds if self.spent_usd * 100 >= self.amount_usd * t)

    @property
    def state(self) -> str:
        """'over', 'near' or 'ok' (see the module's docstring)."""
        if self.spent_usd >= self.amount_usd:
            return "over"
        if self.crossed or self.forecast_usd >= self.amount_usd:
            return "near"
        return "ok"

    def as_dict(self) -> dict[str, Any]:
        """The JSON form (money and shares as exact decimal text)."""
        return {
            "id": str(self.budget_id),
            "name": self.name,
            "scope": self.scope,
            "target": self.target,
            "amount_usd": as_cost(self.amount_usd),
            "window": {
                "kind": self.window.kind,
                "start": self.window.start.isoformat(),
                "end": self.window.end.isoformat(),
                "days": self.window.days,
                "elapsed_days": self.window.elapsed,
            },
            "spent_usd": as_cost(self.spent_usd),
            "share": as_cost(self.share),
            "forecast_usd": as_cost(self.forecast_usd),
            "requests": self.totals.requests,
            "unpriced_requests": self.unpriced_requests,
            "spend_complete": self.unpriced_requests == 0,
            "thresholds": list(self.thresholds),
            "crossed": list(self.crossed),
            "state": self.state,
        }


def _window_key(window: Window) -> tuple[date, date]:
    return (window.start, window.end)


def spends(
    session: Session, found: Sequence[Budget], windows: dict[uuid.UUID, Window]
) -> dict[uuid.UUID, Totals]:
    """Each budget's totals in its window, with two grouped queries per distinct window
    (usage_daily by provider, model and user; usage_daily_tags by tag) instead of one per
    budget; the rows are added up here per budget."""
    out = {b.id: Totals() for b in found}
    by_window: dict[tuple[date, date], list[Budget]] = {}
    for budget in found:
        by_window.setdefault(_window_key(windows[budget.id]), []).append(budget)
    for (start, end), group in by_window.items():
        daily = [b for b in group if b.scope != "tag"]
        if daily:
            providers = {b.provider_id for b in daily if b.provider_id}
            usernames = {b.username for b in daily if b.scope == "user" and b.username}
            rows = sums_by(
                session,
                tags=False,
                columns=("provider_id", "model_id", "username"),
                date_from=start,
                date_to=end,
                where=UsageDaily.provider_id.in_(providers) | UsageDaily.username.in_(usernames),
            )
            for row, totals in rows:
                for b in daily:
                    if (
                        (b.scope == "provider" and row.provider_id == b.provider_id)
                        or (
                            b.scope == "model"
                            and row.provider_id == b.provider_id
                            and row.model_id == b.model_id
                        )
                        or (b.scope == "user" and row.username == b.username)
                    ):
                        out[b.id].add(totals)
        tagged = [b for b in group if b.scope == "tag"]
        if tagged:
            wanted = {(b.tag_key, b.tag_value): b.id for b in tagged}
            rows = sums_by(
                session,
                tags=True,
                columns=("tag_key", "tag_value"),
                date_from=start,
                date_to=end,
                where=UsageDailyTag.tag_key.in_({k for k, _ in wanted}),
            )
            for row, totals in rows:
                budget_id = wanted.get((row.tag_key, row.tag_value))
                if budget_id is not None:
                    out[budget_id].add(totals)
    return out


def scope_totals(session: Session, budget: Budget, window: Window) -> Totals:
    """The usage of the window in the budget's scope, from the rollups."""
    if budget.scope == "tag":
        where: Any = (UsageDailyTag.tag_key == budget.tag_key) & (
            UsageDailyTag.tag_value == budget.tag_value
        )
    elif budget.scope == "user":
        where = UsageDaily.username == budget.username
    elif budget.scope == "provider":
        where = UsageDaily.provider_id == budget.provider_id
    else:
        where = (UsageDaily.provider_id == budget.provider_id) & (
            UsageDaily.model_id == budget.model_id
        )
    return totals_where(
        session,
        tags=budget.scope == "tag",
        date_from=window.start,
        date_to=window.end,
        where=where,
    )


def _earlier_alerts(
    session: Session, windows: dict[uuid.UUID, Window]
) -> dict[tuple[uuid.UUID, int], list[date]]:
    """The window starts of the crossings already recorded that may still count, per
    (budget, threshold): one read, so a steady evaluation inserts nothing."""
    oldest = min(w.start - timedelta(days=w.days) for w in windows.values())
    rows = session.execute(
        select(BudgetAlert.budget_id, BudgetAlert.threshold, BudgetAlert.window_start).where(
            BudgetAlert.budget_id.in_(list(windows)), BudgetAlert.window_start > oldest
        )
    )
    found: dict[tuple[uuid.UUID, int], list[date]] = {}
    for budget_id, threshold, start in rows:
        found.setdefault((budget_id, threshold), []).append(start)
    return found


def _alerted_in(starts: Sequence[date], window: Window) -> bool:
    """Whether a crossing recorded for these window starts counts in this window: the same
    month; for a rolling window, a crossing still inside it."""
    if window.kind == "month":
        return window.start in starts
    return any(start > window.start - timedelta(days=window.days) for start in starts)


def _record_crossing(
    session: Session, status: BudgetStatus, budget: Budget, threshold: int
) -> bool:
    """Insert the crossing unless this window already has it; True when this call did."""
    window = status.window
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    insert = dialect.insert(BudgetAlert.__table__)
    statement = insert.on_conflict_do_nothing(
        index_elements=["budget_id", "window_start", "threshold"]
    ).returning(BudgetAlert.__table__.c.id)
    row = {
        "id": uuid.uuid4(),
        "budget_id": budget.id,
        "window_start": window.start,
        "threshold": threshold,
        "spent_usd": status.spent_usd,
        "at": datetime.now(UTC),
    }
    if session.execute(statement, row).first() is None:
        return False
    audit.record(
        session,
        actor=None,
        action="budget.alert",
        record=budget,
        entity_type="budget",
        after={
            "threshold": f"{threshold} %",
            "window": f"{window.start.isoformat()} to {window.end.isoformat()} (exclusive)",
            "spent_usd": as_cost(status.spent_usd),
            "amount_usd": as_cost(status.amount_usd),
            "unpriced_requests": status.unpriced_requests,
        },
    )
    return True


def evaluate(
    session: Session,
    *,
    viewer: Actor,
    timezone: str,
    now: datetime | None = None,
    names: Sequence[str] | None = None,
    record_alerts: bool = True,
) -> list[BudgetStatus]:
    """The status of every budget viewer may see (or of those named), by name; crossings
    not yet alerted in their window are recorded (with their audit event) unless
    record_alerts is False. The caller commits."""
    today = today_in(timezone, now)
    found = budgets.list_budgets(session, viewer=viewer)
    if names is not None:
        wanted = [budgets.find_budget(session, viewer=viewer, name=n).id for n in names]
        found = [b for b in found if b.id in wanted]
    provider_ids = {b.provider_id for b in found if b.provider_id}
    provider_names = (
        dict(
            session.execute(
                select(Provider.id, Provider.name).where(Provider.id.in_(provider_ids))
            ).all()
        )
        if provider_ids
        else {}
    )
    windows = {b.id: window_of(b, today) for b in found}
    totals = spends(session, found, windows)
    earlier = _earlier_alerts(session, windows) if record_alerts and found else {}
    out = []
    for budget in found:
        window = windows[budget.id]
        status = BudgetStatus(
            budget_id=budget.id,
            name=budget.name,
            scope=budget.scope,
            target=budgets.target_label(
                budget, provider_names.get(budget.provider_id) if budget.provider_id else None
            ),
            amount_usd=Decimal(budget.amount_usd),
            window=window,
            totals=totals[budget.id],
            thresholds=tuple(budget.thresholds),
            alerted=(),
        )
        if record_alerts:
            alerted = tuple(
                t
                for t in status.crossed
                if not _alerted_in(earlier.get((budget.id, t), ()), window)
                and _record_crossing(session, status, budget, t)
            )
            status = BudgetStatus(**{**status.__dict__, "alerted": alerted})
        out.append(status)
    return out


def document(statuses: Sequence[BudgetStatus], *, timezone: str, now: datetime) -> dict[str, Any]:
    """The status JSON a gateway reads (``modeldesk budgets status --format json``)."""
    return {
        "generated_at": now.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        "timezone": timezone,
        "budgets": [s.as_dict() for s in statuses],
    }


def attention(statuses: Sequence[BudgetStatus]) -> list[BudgetStatus]:
    """The budgets over or near their limit, the most used first (the Overview's list)."""
    found = [s for s in statuses if s.state != "ok"]
    return sorted(found, key=lambda s: (STATES.index(s.state), -s.share, s.name))


@dataclass(frozen=True)
class Alert:
    """A recorded threshold crossing, for people."""

    budget: str
    threshold: int
    window_start: date
    spent_usd: Decimal
    amount_usd: Decimal
    at: datetime


def recent_alerts(
    session: Session, *, viewer: Actor, since: datetime, limit: int = 20
) -> list[Alert]:
    """The crossings recorded since then of the budgets viewer may see, newest first."""
    rows = session.execute(
        select(Budget.name, BudgetAlert, Budget.amount_usd)
        .join(Budget, Budget.id == BudgetAlert.budget_id)
        .where(BudgetAlert.at >= since, budgets.visible(viewer))
        .order_by(BudgetAlert.at.desc(), BudgetAlert.threshold.desc())
        .limit(max(0, limit))
    ).all()
    return [
        Alert(name, a.threshold, a.window_start, a.spent_usd, amount, a.at)
        for name, a, amount in rows
    ]
