"""Usage totals per group over a period, read from the daily rollups (never the events).

Days are the rollup days (MODELDESK_TIMEZONE at ingest); ``date_from`` is inclusive and
``date_to`` exclusive. Groups: day, provider, model (per provider), user, or ``tag:KEY``
(one group per value, plus "(no KEY)" for the usage without that tag: the period's total
minus the tagged sums, exact because an event has at most one value per key).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.errors import ValidationError
from core.store.tables import NO_PROVIDER_ID, UsageDaily, UsageDailyTag
from core.usage.inputs import TAG_KEY
from core.usage.rollups import METRICS, Totals

GROUPINGS = ("day", "provider", "model", "user")  # and tag:KEY
NO_USER = "(no user)"


@dataclass(frozen=True)
class Group:
    """One line of a summary: the group's labels (column → text) and its totals."""

    labels: dict[str, str]
    totals: Totals

    def as_dict(self) -> dict[str, Any]:
        """Labels then metrics; cost as exact decimal text."""
        values = self.totals.as_dict()
        values["cost_usd"] = as_cost(values["cost_usd"])
        return {**self.labels, **values}


def check_grouping(by: str) -> str:
    """The grouping, or a ValidationError naming the choices."""
    if by in GROUPINGS:
        return by
    if by.startswith("tag:") and TAG_KEY.fullmatch(by[4:]):
        return by
    raise ValidationError(
        f"Group by one of {', '.join(GROUPINGS)} or tag:KEY, not {by!r}.", field="by"
    )


def label_columns(by: str) -> tuple[str, ...]:
    """The label columns of a grouping, in order."""
    return {
        "day": ("day",),
        "provider": ("provider", "provider_type", "provider_id"),
        "model": ("provider", "model"),
        "user": ("user",),
    }.get(by, (by[4:],))


def summarize(session: Session, *, date_from: date, date_to: date, by: str = "day") -> list[Group]:
    """Totals per group for rollup days in [date_from, date_to)."""
    by = check_grouping(by)
    if date_to <= date_from:
        raise ValidationError(
            f"The period is empty: --to {date_to} is not after --from {date_from}.", field="date_to"
        )
    groups: dict[tuple[str, ...], Totals] = {}
    daily = session.scalars(
        select(UsageDaily).where(UsageDaily.day >= date_from, UsageDaily.day < date_to)
    )
    if by.startswith("tag:"):
        key = by[4:]
        untagged = Totals()
        for row in daily:
            untagged.add(_totals(row))
        for tag_row in session.scalars(
            select(UsageDailyTag).where(
                UsageDailyTag.day >= date_from,
                UsageDailyTag.day < date_to,
                UsageDailyTag.tag_key == key,
            )
        ):
            totals = _totals(tag_row)
            groups.setdefault((tag_row.tag_value,), Totals()).add(totals)
            untagged.add(_negated(totals))
        if any(untagged.as_dict().values()):
            groups[(f"(no {key})",)] = untagged
    else:
        for row in daily:
            groups.setdefault(_labels(row, by), Totals()).add(_totals(row))
    found = [
        Group(dict(zip(label_columns(by), labels, strict=True)), totals)
        for labels, totals in groups.items()
    ]
    if by == "day":
        return sorted(found, key=lambda g: g.labels["day"])
    return sorted(
        found, key=lambda g: (-g.totals.cost_usd, -g.totals.requests, tuple(g.labels.values()))
    )


def total(groups: list[Group]) -> Totals:
    """The sum of every group."""
    found = Totals()
    for group in groups:
        found.add(group.totals)
    return found


def _labels(row: UsageDaily, by: str) -> tuple[str, ...]:
    if by == "day":
        return (row.day.isoformat(),)
    if by == "provider":
        return (
            row.provider_name,
            row.provider_type,
            "" if row.provider_id == NO_PROVIDER_ID else str(row.provider_id),
        )
    if by == "model":
        return (row.provider_name, row.model_id)
    return (row.username or NO_USER,)


def _totals(row: Any) -> Totals:
    return Totals(**{name: getattr(row, name) for name in METRICS})


def _negated(totals: Totals) -> Totals:
    return Totals(**{name: -value for name, value in totals.as_dict().items()})


def as_cost(value: Decimal) -> str:
    """Exact decimal text of a cost."""
    return format(value.normalize(), "f") if value else "0"
