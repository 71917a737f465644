"""The Costs page's view as a URL, and its drill-down rows as a table and a CSV.

A view is the period (``overview.PERIODS``; custom with its first and last day, both
included), the cost-over-time bucket (day or week), what the chart is split by (provider,
model, user or tag:KEY) and the breakdown row drilled into (provider, model, user or a tag
key=value). ``parse_query`` reads the URL's query parameters: a bad value falls back to the
default and comes back as a note for the page, never an exception; ``View.to_query`` writes
them, so a link reproduces the view.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.accounts.audit import csv_cell  # the one formula-injection guard for CSV cells
from core.accounts.viewer import Actor
from core.costs import usd
from core.errors import ValidationError
from core.store.usage_tables import UsageDailyTag
from core.usage import overview
from core.usage.inputs import TAG_KEY
from core.usage.summary import NO_USER, as_cost

QUERY_KEYS = (
    "period",
    "from",
    "to",
    "bucket",
    "by",
    "provider",
    "model",
    "user",
    "tag",
    "days",
)
SPLITS = ("provider", "model", "user")  # and tag:KEY
TEXT_MAX = 255


@dataclass(frozen=True)
class Drill:
    """The breakdown row (or chart bar) whose events are shown: any of provider name, model
    id, username, tag (key, value), and for a bar its days (first, last included); all
    None: none."""

    provider: str | None = None
    model: str | None = None
    user: str | None = None
    tag: tuple[str, str] | None = None
    days: tuple[date, date] | None = None

    def __bool__(self) -> bool:
        return any(
            v is not None for v in (self.provider, self.model, self.user, self.tag, self.days)
        )

    def span(self, period: overview.Period) -> overview.Period:
        """The days whose events are shown: the period, narrowed to the bar's days."""
        if self.days is None:
            return period
        first = max(period.date_from, self.days[0])
        end = min(period.date_to, self.days[1] + timedelta(days=1))
        return overview.Period("custom", first, max(first, end))

    @property
    def label(self) -> str:
        """'provider Shared, model gpt-4o' for people."""
        parts = [
            f"{name} {value}"
            for name, value in (("provider", self.provider), ("model", self.model))
            if value is not None
        ]
        if self.user is not None:
            parts.append(f"user {self.user}")
        if self.tag is not None:
            parts.append(f"tag {self.tag[0]}={self.tag[1]}")
        if self.days is not None:
            first, last = self.days
            parts.append(f"day {first}" if first == last else f"days {first} to {last}")
        return ", ".join(parts)


@dataclass(frozen=True)
class View:
    """What the Costs page shows."""

    period: str = "this_month"
    first: date | None = None  # custom: the first day
    last: date | None = None  # custom: the last day, included
    bucket: str = "day"
    by: str = "provider"
    drill: Drill = Drill()

    def span(self, today: date) -> overview.Period:
        """The period's rollup days."""
        end = None if self.last is None else self.last + timedelta(days=1)
        return overview.period(self.period, today=today, date_from=self.first, date_to=end)

    def to_query(self) -> dict[str, str]:
        """The URL's query parameters (defaults left out)."""
        out: dict[str, str] = {}
        if self.period != View.period:
            out["period"] = self.period
        if self.period == "custom" and self.first and self.last:
            out["from"], out["to"] = self.first.isoformat(), self.last.isoformat()
        if self.bucket != View.bucket:
            out["bucket"] = self.bucket
        if self.by != View.by:
            out["by"] = self.by
        for name in ("provider", "model", "user"):
            value = getattr(self.drill, name)
            if value is not None:
                out[name] = value
        if self.drill.tag is not None:
            out["tag"] = "=".join(self.drill.tag)
        if self.drill.days is not None:
            first, last = self.drill.days
            out["days"] = first.isoformat() if first == last else f"{first}..{last}"
        return out


def _day(text: str, name: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ValidationError(f"{name} is not a date (YYYY-MM-DD): {text[:40]!r}.") from None


def _drill_days(text: str) -> tuple[date, date]:
    """A bar's days from the URL: 'YYYY-MM-DD' or 'YYYY-MM-DD..YYYY-MM-DD' (a week at most)."""
    first_text, _, last_text = text.partition("..")
    first = _day(first_text, "The drill-down's first day")
    last = _day(last_text, "The drill-down's last day") if last_text else first
    if last < first or (last - first).days > 6:
        raise ValidationError("The drill-down's days are one day or one week.")
    return first, last


def parse_query(query: Mapping[str, str], *, today: date) -> tuple[View, list[str]]:
    """The view a URL names, and a note for each value that was ignored (its default used)."""
    notes: list[str] = []
    view = View()
    period = query.get("period", View.period)
    if period not in overview.PERIODS:
        notes.append(f"Unknown period {period[:40]!r}; showing this month.")
    elif period == "custom":
        try:
            first = _day(query.get("from", ""), "The first day")
            last = _day(query.get("to", ""), "The last day")
            custom = replace(view, period="custom", first=first, last=last)
            custom.span(today)  # refuses an empty or too long period
            view = custom
        except ValidationError as exc:
            notes.append(f"{exc} Showing this month.")
    else:
        view = replace(view, period=period)
    bucket = query.get("bucket", View.bucket)
    if bucket in overview.BUCKETS:
        view = replace(view, bucket=bucket)
    else:
        notes.append(f"Unknown bucket {bucket[:40]!r}; showing days.")
    by = query.get("by", View.by)
    if by in SPLITS or (by.startswith("tag:") and TAG_KEY.fullmatch(by[4:])):
        view = replace(view, by=by)
    else:
        notes.append(f"Cannot split the cost by {by[:40]!r}; split by provider.")
    return replace(view, drill=_parse_drill(query, notes)), notes


def _parse_drill(query: Mapping[str, str], notes: list[str]) -> Drill:
    """The drill-down a URL names; each ignored value noted."""
    drill: dict[str, Any] = {}
    for name in ("provider", "model", "user"):
        value = query.get(name)
        if value is None:
            continue
        if not value or len(value) > TEXT_MAX:
            notes.append(f"Ignored the {name} to drill into: it is empty or too long.")
        else:
            drill[name] = value
    tag = query.get("tag")
    if tag is not None:
        key, sep, value = tag.partition("=")
        if sep and TAG_KEY.fullmatch(key) and 0 < len(value) <= TEXT_MAX:
            drill["tag"] = (key, value)
        else:
            notes.append("Ignored the tag to drill into: it is not KEY=VALUE.")
    days = query.get("days")
    if days is not None:
        try:
            drill["days"] = _drill_days(days)
        except ValidationError as exc:
            notes.append(f"{exc} Ignored the days to drill into.")
    return Drill(**drill)


def bar_values(by: str, labels: Mapping[str, str]) -> list[str]:
    """What a chart bar carries (plotly customdata) to name its group: [provider, model]
    for a split by model, else the one value of the split (provider, user or tag value)."""
    if by == "model":
        return [labels["provider"], labels["model"]]
    return [labels[by.removeprefix("tag:")]]


def bar_drill(point: Mapping[str, Any], *, by: str, bucket: str) -> Drill | None:
    """The drill-down of a selected bar of the cost-over-time chart (a plotly selection
    point: x is the bucket's first day, customdata ``bar_values``): that day or week and
    that group; None for a point that names no group one can drill into (usage without a
    user or without the tag; a malformed point)."""
    data, x = point.get("customdata"), point.get("x")
    if not isinstance(data, (list, tuple)) or not data or not isinstance(x, str):
        return None
    if not all(isinstance(v, str) and 0 < len(v) <= TEXT_MAX for v in data):
        return None
    try:
        first = date.fromisoformat(x[:10])
    except ValueError:
        return None
    days = (first, first + timedelta(days=6 if bucket == "week" else 0))
    if by == "model" and len(data) == 2:
        return Drill(provider=data[0], model=data[1], days=days)
    if len(data) != 1:
        return None
    value = data[0]
    if by == "provider":
        return Drill(provider=value, days=days)
    if by == "user":
        return None if value == NO_USER else Drill(user=value, days=days)
    if by.startswith("tag:") and not value.startswith("(no "):
        return Drill(tag=(by[4:], value), days=days)
    return None


def tag_keys(session: Session, *, viewer: Actor | None, span: overview.Period) -> list[str]:
    """The tag keys with usage in the period, sorted; none for a member (tag totals add up
    everyone's usage: admins' only, as in ``summary``)."""
    if viewer is not None and not viewer.is_admin:
        return []
    found = session.scalars(
        select(UsageDailyTag.tag_key)
        .where(UsageDailyTag.day >= span.date_from, UsageDailyTag.day < span.date_to)
        .distinct()
    )
    return sorted(found)


# --- The drill-down's rows -------------------------------------------------------------------

EVENT_COLUMNS = (
    "time_utc",
    "day",
    "provider",
    "model",
    "user",
    "requests",
    "input_tokens",
    "cached_input_tokens",
    "output_tokens",
    "reasoning_tokens",
    "cost_usd",
    "tags",
)


def event_rows(found: Sequence[Any]) -> list[dict[str, Any]]:
    """UsageEvents as the drill-down table shows them (cost: exact decimal text, or empty
    when unpriced)."""
    return [
        {
            "time_utc": e.occurred_at.strftime("%Y-%m-%d %H:%M:%S"),
            "day": e.day.isoformat(),
            "provider": e.provider_name,
            "model": e.model_id,
            "user": e.username or "",
            "requests": e.requests,
            "input_tokens": e.input_tokens,
            "cached_input_tokens": e.cached_input_tokens,
            "output_tokens": e.output_tokens,
            "reasoning_tokens": e.reasoning_tokens,
            "cost_usd": "" if e.cost_usd is None else as_cost(e.cost_usd),
            "tags": ", ".join(f"{k}={v}" for k, v in sorted((e.tags or {}).items())),
        }
        for e in found
    ]


def rows_csv(rows: Sequence[Mapping[str, Any]]) -> bytes:
    """Exactly these rows as UTF-8 CSV; text cells guarded against spreadsheet formulas."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(EVENT_COLUMNS)
    for row in rows:
        writer.writerow(
            [csv_cell(v) if isinstance(v, str) else v for v in (row[c] for c in EVENT_COLUMNS)]
        )
    return out.getvalue().encode("utf-8")


def change_text(comparison: overview.Comparison) -> str:
    """'+$12.50 (+25.0 %) against 2026-11-16 to 2026-11-30' for the totals' delta."""
    change = comparison.change_usd
    sign = "+" if change > 0 else "-" if change < 0 else "±"  # ASCII: st.metric reads it
    ratio = comparison.change_ratio
    share = "" if ratio is None else f" ({sign}{abs(ratio) * 100:.1f} %)"
    before = comparison.before
    last = before.date_to - timedelta(days=1)
    return f"{sign}{usd(abs(change))}{share} against {before.date_from} to {last}"
