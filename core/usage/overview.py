"""What the Overview and Costs pages show, from the daily rollups through ``summary`` (so each
figure equals ``summarize`` for the same period, grouping and viewer), visibility included.

Periods are rollup days in MODELDESK_TIMEZONE, ``[date_from, date_to)``:

    this_month   the 1st of this month to today, included     (month to date)
    last_month   the whole previous calendar month
    7d 30d 90d   the last N days, today included
    custom       the days the caller gives

and each is compared with the period of the same length just before it. ``month_to_date``
compares this month to date with last month up to the same day of the month (the last day
of a shorter month when it has no such day).

Caching savings price the cached input tokens at the uncached input price minus the cache
read price, both the base prices (tiers left aside) in effect at the end of the period from
the model record, else the catalog; a model whose input price is unknown has no figure.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.accounts.viewer import Actor
from core.costs import MILLION
from core.errors import ValidationError
from core.store.tables import ModelRecord
from core.usage import pricing, summary
from core.usage.budget_status import month_start
from core.usage.rollups import Totals
from core.usage.summary import Group, PeriodRows, summarize

PERIODS = ("this_month", "last_month", "7d", "30d", "90d", "custom")
PERIOD_LABELS = {
    "this_month": "This month",
    "last_month": "Last month",
    "7d": "Last 7 days",
    "30d": "Last 30 days",
    "90d": "Last 90 days",
    "custom": "Custom",
}
CUSTOM_DAYS_MAX = 3660
_PLACES = Decimal("0.00000001")


@dataclass(frozen=True)
class Period:
    """Rollup days [date_from, date_to) and what to call them."""

    key: str
    date_from: date
    date_to: date

    @property
    def days(self) -> int:
        """How many days the period has."""
        return (self.date_to - self.date_from).days

    @property
    def previous(self) -> Period:
        """The period of the same length just before this one."""
        return Period("previous", self.date_from - timedelta(days=self.days), self.date_from)

    @property
    def label(self) -> str:
        """'This month (2026-12-01 to 2026-12-15)' — the last day inclusive, for people."""
        last = self.date_to - timedelta(days=1)
        return f"{PERIOD_LABELS.get(self.key, 'Previous period')} ({self.date_from} to {last})"


def period(
    key: str, *, today: date, date_from: date | None = None, date_to: date | None = None
) -> Period:
    """The period a page's picker names; custom takes date_from and date_to (exclusive)."""
    tomorrow = today + timedelta(days=1)
    if key == "this_month":
        return Period(key, month_start(today), tomorrow)
    if key == "last_month":
        start = month_start(month_start(today) - timedelta(days=1))
        return Period(key, start, month_start(today))
    if key in ("7d", "30d", "90d"):
        return Period(key, tomorrow - timedelta(days=int(key[:-1])), tomorrow)
    if key != "custom":
        raise ValidationError(
            f"The period is one of {', '.join(PERIODS)}, not {key!r}.", field="period"
        )
    if date_from is None or date_to is None:
        raise ValidationError("A custom period needs its first and last day.", field="date_from")
    if date_to <= date_from:
        raise ValidationError(
            f"The period is empty: {date_to} is not after {date_from}.", field="date_to"
        )
    if (date_to - date_from).days > CUSTOM_DAYS_MAX:
        raise ValidationError(
            f"A custom period is at most {CUSTOM_DAYS_MAX} days long.", field="date_from"
        )
    return Period(key, date_from, date_to)


@dataclass(frozen=True)
class Comparison:
    """Totals of a period and of the one it is compared with."""

    current: Period
    before: Period
    totals: Totals
    previous: Totals

    @property
    def change_usd(self) -> Decimal:
        """The priced spend's change (negative: less than before)."""
        return self.totals.cost_usd - self.previous.cost_usd

    @property
    def change_ratio(self) -> Decimal | None:
        """The change as a share of before (0.25 is +25 %); None when before was $0."""
        if not self.previous.cost_usd:
            return None
        return (self.change_usd / self.previous.cost_usd).quantize(Decimal("0.0001"), ROUND_HALF_UP)


@dataclass(frozen=True)
class Usage:
    """A period's usage that a viewer may see, read once from the rollups (per provider and
    model, and per user: ``summary.period_rows``). A page reads it once and passes it to
    ``period_totals``, ``month_to_date``, ``models`` and ``top``, which then fold it instead
    of each scanning the period's rollup rows again; the answers are the same."""

    span: Period
    by_model: PeriodRows
    by_user: PeriodRows | None  # None: not read (a page without a per-user table)

    def totals(self) -> Totals:
        """Everything in the period."""
        found = Totals()
        for _, totals in self.by_model:
            found.add(totals)
        return found

    def folds(self, by: str) -> bool:
        """Whether groups(by) can answer (else: ask summarize)."""
        return by in summary.PER["model"][1] or (by == "user" and self.by_user is not None)

    def groups(self, by: str) -> list[Group]:
        """summarize's groups for by (provider, model, provider,model; user if read)."""
        if not self.folds(by):
            raise ValueError(f"the period's usage was not read per {by!r}")
        return summary.fold(self.by_user if by == "user" else self.by_model, by)  # type: ignore[arg-type]

    def of(self, span: Period) -> Usage:
        """This, checked to be the usage of span (a caller passing another period's is a bug)."""
        if (span.date_from, span.date_to) != (self.span.date_from, self.span.date_to):
            raise ValueError(f"usage of {self.span.label} passed for {span.label}")
        return self


def read_usage(
    session: Session, *, viewer: Actor | None, span: Period, users: bool = True
) -> Usage:
    """The period's usage viewer may see: one rollup query per provider and model, and one
    per user unless users is False."""

    def rows(per: str) -> PeriodRows:
        return summary.period_rows(
            session, date_from=span.date_from, date_to=span.date_to, per=per, viewer=viewer
        )

    return Usage(span, rows("model"), rows("user") if users else None)


def _totals(session: Session, viewer: Actor | None, span: Period) -> Totals:
    return summary.period_total(
        session, date_from=span.date_from, date_to=span.date_to, viewer=viewer
    )


def period_totals(
    session: Session, *, viewer: Actor | None, span: Period, usage: Usage | None = None
) -> Comparison:
    """The period's totals (from usage when given: the span's, read already) against the
    previous period of the same length."""
    before = span.previous
    current = usage.of(span).totals() if usage else _totals(session, viewer, span)
    return Comparison(span, before, current, _totals(session, viewer, before))


def month_to_date(
    session: Session, *, viewer: Actor | None, today: date, usage: Usage | None = None
) -> Comparison:
    """This month up to today (from usage when given: ``period("this_month")``'s) against
    last month up to the same day."""
    this = Period("this_month", month_start(today), today + timedelta(days=1))
    last_start = month_start(month_start(today) - timedelta(days=1))
    last_days = (month_start(today) - last_start).days
    last = Period("last_month", last_start, last_start + timedelta(days=min(today.day, last_days)))
    current = usage.of(this).totals() if usage else _totals(session, viewer, this)
    return Comparison(this, last, current, _totals(session, viewer, last))


def top(
    session: Session,
    *,
    viewer: Actor | None,
    span: Period,
    by: str,
    limit: int = 5,
    usage: Usage | None = None,
) -> list[Group]:
    """The groups (model, user, provider or tag:KEY) with the highest spend, best first
    (folded from usage when given, except by tag)."""
    if usage is not None and usage.of(span).folds(by):
        found = usage.groups(by)
    else:
        found = summarize(
            session, date_from=span.date_from, date_to=span.date_to, by=by, viewer=viewer
        )
    return found[: max(0, limit)]


@dataclass(frozen=True)
class ModelLine:
    """One model of one provider over a period, with what the pages derive from it."""

    provider: str
    provider_type: str
    model: str
    totals: Totals
    price_per_million: Decimal | None  # cost per million tokens (input + output)
    cache_share: Decimal | None  # cached input / input
    savings_usd: Decimal | None  # what cached reads saved against the uncached price

    @property
    def unpriced(self) -> bool:
        """Whether some of the model's requests have no known price."""
        return self.totals.unpriced_requests > 0


def models(
    session: Session, *, viewer: Actor | None, span: Period, usage: Usage | None = None
) -> list[ModelLine]:
    """Every model with usage in the period (summary's 'provider,model' groups, ranked by
    spend; folded from usage when given): effective price per million tokens (only when
    every request is priced), cache share of input, and caching savings."""
    if usage is not None:
        groups = usage.of(span).groups("provider,model")
    else:
        groups = summarize(
            session,
            date_from=span.date_from,
            date_to=span.date_to,
            by="provider,model",
            viewer=viewer,
        )
    at = datetime.combine(span.date_to, time(), UTC)
    records = {
        (r.provider_id, r.model_id): r
        for r in session.scalars(
            select(ModelRecord).where(ModelRecord.model_id.in_({g.labels["model"] for g in groups}))
        )
    }
    out = []
    for group in groups:
        t, labels = group.totals, group.labels
        tokens = t.input_tokens + t.output_tokens
        price = None
        if tokens and not t.unpriced_requests:
            price = (t.cost_usd * MILLION / tokens).quantize(_PLACES, ROUND_HALF_UP)
        share = None
        if t.input_tokens:
            share = (Decimal(t.cached_input_tokens) / t.input_tokens).quantize(Decimal("0.0001"))
        savings = None
        provider_id = uuid.UUID(labels["provider_id"]) if labels["provider_id"] else None
        record = records.get((provider_id, labels["model"])) if provider_id else None
        prices = pricing.prices_for(
            provider_type=labels["provider_type"], model_id=labels["model"], record=record, at=at
        )
        if prices is not None and prices.input is not None:
            cached = prices.cache_read.base if prices.cache_read else prices.input.base
            saved = Decimal(t.cached_input_tokens) * (prices.input.base - cached) / MILLION
            savings = saved.quantize(_PLACES, ROUND_HALF_UP)
        out.append(
            ModelLine(
                provider=labels["provider"],
                provider_type=labels["provider_type"],
                model=labels["model"],
                totals=t,
                price_per_million=price,
                cache_share=share,
                savings_usd=savings,
            )
        )
    return out


@dataclass(frozen=True)
class Caching:
    """The period's cache use over every model: input, cached input, share, savings."""

    input_tokens: int
    cached_input_tokens: int
    savings_usd: Decimal
    unknown_models: int  # models with cached reads whose savings are not known

    @property
    def share(self) -> Decimal | None:
        """Cached input / input; None without input."""
        if not self.input_tokens:
            return None
        return (Decimal(self.cached_input_tokens) / self.input_tokens).quantize(Decimal("0.0001"))


def caching(lines: list[ModelLine]) -> Caching:
    """The cache figures of every model line added up."""
    return Caching(
        input_tokens=sum(line.totals.input_tokens for line in lines),
        cached_input_tokens=sum(line.totals.cached_input_tokens for line in lines),
        savings_usd=sum((line.savings_usd or Decimal(0) for line in lines), Decimal(0)),
        unknown_models=sum(
            1 for line in lines if line.savings_usd is None and line.totals.cached_input_tokens
        ),
    )


def unpriced(lines: list[ModelLine]) -> list[ModelLine]:
    """The models with unpriced requests (their tokens are the model's whole usage: an
    event is priced or not as a whole, but a model's rollup rows add both kinds)."""
    return [line for line in lines if line.unpriced]


BUCKETS = ("day", "week")
SERIES = ("provider", "model", "user")  # and tag:KEY


def over_time(
    session: Session,
    *,
    viewer: Actor | None,
    span: Period,
    by: str | None = None,
    bucket: str = "day",
) -> list[Group]:
    """Totals per day or week (weeks start on Monday; the period's first and last weeks
    count only its own days), one line per bucket and group of ``by`` (provider, model,
    user or tag:KEY; None: one line per bucket), by bucket, each bucket's groups ranked.
    The labels are "bucket" (its first day) then the grouping's labels."""
    if bucket not in BUCKETS:
        raise ValidationError(f"Buckets are days or weeks, not {bucket!r}.", field="bucket")
    if by is not None and by not in SERIES and not by.startswith("tag:"):
        raise ValidationError(
            f"Split the cost by one of {', '.join(SERIES)} or tag:KEY, not {by!r}.", field="by"
        )
    groups = summarize(
        session,
        date_from=span.date_from,
        date_to=span.date_to,
        by="day" if by is None else f"day,{by}",
        viewer=viewer,
    )
    folded: dict[tuple[str, ...], Totals] = {}
    names: dict[tuple[str, ...], dict[str, str]] = {}
    for group in groups:
        day = date.fromisoformat(group.labels["day"])
        start = day if bucket == "day" else day - timedelta(days=day.weekday())
        labels = {"bucket": start.isoformat()}
        labels.update((k, v) for k, v in group.labels.items() if k != "day")
        key = tuple(labels.values())
        names[key] = labels
        folded.setdefault(key, Totals()).add(group.totals)
    found = [Group(names[key], totals) for key, totals in folded.items()]
    ranked = sorted(
        found, key=lambda g: (-g.totals.cost_usd, -g.totals.requests, tuple(g.labels.values()))
    )
    return sorted(ranked, key=lambda g: g.labels["bucket"])
