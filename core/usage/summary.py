"""Usage totals per group over a period, read from the daily rollups (never the events):
the smallest one that holds the grouping (usage_daily_models, usage_daily_users, else
usage_daily: core.usage.rollups.COARSE).

Days are the rollup days (MODELDESK_TIMEZONE at ingest); ``date_from`` is inclusive and
``date_to`` exclusive. Groups: day, provider, model (per provider), user, several of those
joined by commas ("day,model": one line per day and model), or ``tag:KEY`` alone or after
``day,`` (one group per value, plus "(no KEY)" for the usage without that tag: the total
minus the tagged sums, exact because an event has at most one value per key).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import BigInteger, ColumnElement, Row, String, cast, false, func, or_, select
from sqlalchemy.orm import Session

from core.accounts.access import visible_clause
from core.accounts.viewer import Actor
from core.errors import PermissionDeniedError, ValidationError
from core.store.tables import Provider
from core.store.usage_tables import (
    NO_PROVIDER_ID,
    UsageDaily,
    UsageDailyModel,
    UsageDailyTag,
    UsageDailyUser,
)
from core.usage.inputs import TAG_KEY
from core.usage.rollups import METRICS, MONEY, Totals

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
        for name in MONEY:
            values[name] = as_cost(values[name])
        return {**self.labels, **values}


def check_grouping(by: str) -> str:
    """The grouping, or a ValidationError naming the choices."""
    parts = by.split(",")
    if all(p in GROUPINGS for p in parts) and len(set(parts)) == len(parts):
        return by
    if by.removeprefix("day,").startswith("tag:") and TAG_KEY.fullmatch(by.split("tag:", 1)[1]):
        return by
    raise ValidationError(
        f"Group by one of {', '.join(GROUPINGS)} or tag:KEY (or several of the first, "
        f"joined by commas: day,model; or day,tag:KEY), not {by!r}.",
        field="by",
    )


def label_columns(by: str) -> tuple[str, ...]:
    """The label columns of a grouping, in order."""
    if "tag:" in by:
        return (*(("day",) if by.startswith("day,") else ()), by.split("tag:", 1)[1])
    columns: dict[str, None] = {}  # "provider,model" names the provider once
    for part in by.split(","):
        columns.update(dict.fromkeys(_LABELS[part]))
    return tuple(columns)


_LABELS = {
    "day": ("day",),
    "provider": ("provider", "provider_type", "provider_id"),
    "model": ("provider", "model"),
    "user": ("user",),
}


def visible_usage(viewer: Actor | None) -> ColumnElement[bool] | None:
    """SQL condition on usage_daily: the usage viewer may see (None: all of it).

    Everyone without a viewer (the CLI as the first admin) and admins see all usage; a member
    sees the usage reported under their username and all usage of the provider records they
    see (owner, instance-wide or granted), never the usage of another user's private
    provider. The tag rollups carry neither user nor provider, so tag totals are admins'.
    """
    if viewer is None or viewer.is_admin:
        return None
    if not viewer.active:
        return false()
    seen = select(Provider.id).where(visible_clause(Provider, viewer))
    return or_(UsageDaily.username == viewer.username, UsageDaily.provider_id.in_(seen))


def summarize(
    session: Session,
    *,
    date_from: date,
    date_to: date,
    by: str = "day",
    viewer: Actor | None = None,
) -> list[Group]:
    """Totals per group for rollup days in [date_from, date_to), of the usage viewer may
    see (``visible_usage``; no viewer: all)."""
    by = check_grouping(by)
    if date_to <= date_from:
        raise ValidationError(
            f"The period is empty: --to {date_to} is not after --from {date_from}.", field="date_to"
        )
    scope = visible_usage(viewer)
    if scope is not None and "tag:" in by:
        raise PermissionDeniedError("Tag totals add up everyone's usage; only admins see them.")
    visible = () if scope is None else (scope,)
    groups: dict[tuple[str, ...], Totals] = {}
    if "tag:" in by:
        key, daily = by.split("tag:", 1)[1], by.startswith("day,")
        days = ("day",) if daily else ()
        untagged: dict[tuple[str, ...], Totals] = {}
        table = _rollup_for(days, scoped=False)
        for row, totals in _sums(session, table, days, date_from, date_to):
            untagged.setdefault((row.day.isoformat(),) if daily else (), Totals()).add(totals)
        tagged = _sums(
            session,
            UsageDailyTag,
            (*days, "tag_value"),
            date_from,
            date_to,
            UsageDailyTag.tag_key == key,
        )
        for tag_row, totals in tagged:
            day: tuple[str, ...] = (tag_row.day.isoformat(),) if daily else ()
            groups.setdefault((*day, tag_row.tag_value), Totals()).add(totals)
            untagged.setdefault(day, Totals()).add(_negated(totals))
        for prefix, rest in untagged.items():
            if any(rest.as_dict().values()):
                groups[(*prefix, f"(no {key})")] = rest
    else:
        columns = _group_columns(by)
        table = _rollup_for(columns, scoped=scope is not None)
        for row, totals in _sums(session, table, columns, date_from, date_to, *visible):
            groups.setdefault(_labels(row, by), Totals()).add(totals)
    return _ranked(groups, by)


def _ranked(groups: dict[tuple[str, ...], Totals], by: str) -> list[Group]:
    """The groups as summarize returns them: by day for "day"; else by spend, then requests,
    then labels, and day by day for "day,…"."""
    names = label_columns(by)
    found = [
        Group(dict(zip(names, labels, strict=True)), totals) for labels, totals in groups.items()
    ]
    if by == "day":
        return sorted(found, key=lambda g: g.labels["day"])
    ranked = sorted(
        found, key=lambda g: (-g.totals.cost_usd, -g.totals.requests, tuple(g.labels.values()))
    )
    if by.startswith("day,"):  # day by day, each day's groups ranked
        return sorted(ranked, key=lambda g: g.labels["day"])
    return ranked


_LABELS_BY_MODEL = ("provider", "model", "provider,model")  # the groupings per-model rows fold to
# usage_daily's primary key starts with these, in this order: grouping by a prefix of it lets
# PostgreSQL sum the period's rows in index order, with no sort (rows that differ only in a
# column the labels leave out, such as provider_type for "day,model", are added up here).
_KEY_PREFIX = ("day", "provider_id", "provider_name", "provider_type", "model_id")


def _group_columns(by: str) -> tuple[str, ...]:
    """The usage_daily columns to group by in SQL (a "day,…" grouping over provider or model:
    a prefix of the primary key)."""
    wanted = {c for part in by.split(",") for c in _COLUMNS[part]}
    if by.startswith("day,") and wanted <= set(_KEY_PREFIX):
        return _KEY_PREFIX[: 1 + max(_KEY_PREFIX.index(c) for c in wanted)]
    return tuple(dict.fromkeys(c for part in by.split(",") for c in _COLUMNS[part]))


PeriodRows = list[tuple[Row[Any], Totals]]
# What period_rows sums per, and the groupings each folds into. Two narrow reads rather than
# one per provider, model and user: PostgreSQL guesses the groups of each from its column
# statistics (a few dozen, a few thousand) and sums them in a hash table, where the product
# of five columns' guesses (tens of thousands) made it sort the period's rows first.
PER = {
    "model": (("provider_name", "provider_type", "provider_id", "model_id"), _LABELS_BY_MODEL),
    "user": (("username",), ("user",)),
}


def period_rows(
    session: Session, *, date_from: date, date_to: date, per: str, viewer: Actor | None = None
) -> PeriodRows:
    """The usage of rollup days [date_from, date_to) viewer may see, summed in one query per
    provider and model (per="model") or per user (per="user"): a few rows whatever the
    number of events or days, which the groupings of ``PER`` fold from (``fold``)."""
    scope = visible_usage(viewer)
    where = () if scope is None else (scope,)
    columns = PER[per][0]
    table = _rollup_for(columns, scoped=scope is not None)
    return list(_sums(session, table, columns, date_from, date_to, *where))


def fold(rows: PeriodRows, by: str) -> list[Group]:
    """summarize's groups for by, added up from ``period_rows`` of the PER that lists by."""
    by = check_grouping(by)
    if not any(by in groupings for _, groupings in PER.values()):
        raise ValidationError(f"Period rows do not fold into {by!r}.", field="by")
    groups: dict[tuple[str, ...], Totals] = {}
    for row, totals in rows:
        groups.setdefault(_labels(row, by), Totals()).add(totals)
    return _ranked(groups, by)


def period_total(
    session: Session, *, date_from: date, date_to: date, viewer: Actor | None = None
) -> Totals:
    """The totals of rollup days [date_from, date_to) viewer may see: one aggregate row."""
    scope = visible_usage(viewer)
    where = () if scope is None else (scope,)
    found = Totals()
    table = _rollup_for((), scoped=scope is not None)
    for _, totals in _sums(session, table, (), date_from, date_to, *where):
        found.add(totals)
    return found


def _rollup_for(columns: tuple[str, ...], *, scoped: bool) -> Any:
    """The smallest rollup that holds these columns: usage_daily_models (a dozen rows a day)
    or usage_daily_users (one a user a day) when they do and the viewer's scope, which
    filters on user and provider together, does not apply; else usage_daily."""
    if not scoped:
        for model in (UsageDailyModel, UsageDailyUser):
            if set(columns) <= set(model.__table__.primary_key.columns.keys()):
                return model
    return UsageDaily


_COLUMNS = {  # the usage_daily columns each grouping reads
    "day": ("day",),
    "provider": ("provider_name", "provider_type", "provider_id"),
    "model": ("provider_name", "model_id"),
    "user": ("username",),
}


def _sums(
    session: Session,
    model: Any,
    columns: tuple[str, ...],
    date_from: date,
    date_to: date,
    *where: Any,
) -> Iterator[tuple[Row[Any], Totals]]:
    """The rollup rows of the period summed per distinct value of columns, in SQL. Money
    adds exactly: NUMERIC on PostgreSQL; on SQLite, whose money is decimal text that SQL
    cannot add, each group's costs come back as one text and are added here as Decimals."""
    keys = [getattr(model, c) for c in columns]
    query = select(*keys).where(model.day >= date_from, model.day < date_to, *where)
    sqlite = session.get_bind().dialect.name != "postgresql"
    for m in METRICS:
        value = getattr(model, m)
        if m not in MONEY:  # SUM(BIGINT) is NUMERIC on PostgreSQL: back to BIGINT
            query = query.add_columns(cast(func.sum(value), BigInteger).label(m))
        elif sqlite:  # zeros (most source costs) are left out of the text to add up
            query = query.add_columns(
                func.group_concat(func.nullif(value, "0"), " ", type_=String).label(m)
            )
        else:
            query = query.add_columns(func.sum(value).label(m))  # keeps the Money type
    first = len(keys)  # the metrics follow the keys, in METRICS order (Totals' fields)
    for row in session.execute(query.group_by(*keys) if keys else query):
        values = row[first:]
        if values[0] is None:  # an aggregate over no rows is one row of NULLs
            continue
        if sqlite:
            values = tuple(
                sum(map(Decimal, (v or "").split()), Decimal(0)) if m in MONEY else v
                for m, v in zip(METRICS, values, strict=True)
            )
        yield row, Totals(*values)  # positional: thousands of rows for a long period


SOURCE_METRICS = ("source_cost_usd", "source_costed_requests")


def metric_columns(groups: list[Group]) -> tuple[str, ...]:
    """The metric columns to show: METRICS, the source's own cost (LiteLLM's response_cost)
    only when some event of the period came with one."""
    if any(g.totals.source_costed_requests for g in groups):
        return METRICS
    return tuple(m for m in METRICS if m not in SOURCE_METRICS)


def sums_by(
    session: Session,
    *,
    tags: bool,
    columns: tuple[str, ...],
    date_from: date,
    date_to: date,
    where: Any,
) -> Iterator[tuple[Row[Any], Totals]]:
    """The rollup rows of [date_from, date_to) that match where (usage_daily_tags when tags,
    else usage_daily) summed in SQL per distinct value of columns: (row of columns, totals)."""
    return _sums(session, UsageDailyTag if tags else UsageDaily, columns, date_from, date_to, where)


def totals_where(
    session: Session, *, tags: bool, date_from: date, date_to: date, where: Any
) -> Totals:
    """The totals of the rollup rows of [date_from, date_to) that match where (of
    usage_daily_tags when tags, else of usage_daily), summed in SQL."""
    found = Totals()
    for _, totals in _sums(
        session, UsageDailyTag if tags else UsageDaily, (), date_from, date_to, where
    ):
        found.add(totals)
    return found


def total(groups: list[Group]) -> Totals:
    """The sum of every group."""
    found = Totals()
    for group in groups:
        found.add(group.totals)
    return found


def _labels(row: Any, by: str) -> tuple[str, ...]:
    if "," in by:
        found: dict[str, str] = {}
        for part in by.split(","):
            found.update(zip(_LABELS[part], _labels(row, part), strict=True))
        return tuple(found.values())
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


def _negated(totals: Totals) -> Totals:
    return Totals(**{name: -value for name, value in totals.as_dict().items()})


def as_cost(value: Decimal) -> str:
    """Exact decimal text of a cost."""
    return format(value.normalize(), "f") if value else "0"
