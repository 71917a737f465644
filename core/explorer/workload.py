"""The workload calculator: what a month of identical requests costs on each model.

One request sends ``input_tokens`` (a share of them read from the provider's cache) and
receives ``output_tokens``; a month is ``requests_per_month`` of them. Costs come from
``core.costs.monthly_cost`` in Decimal. A model without the prices the workload needs is
"unpriced", never $0, and sorts after every priced model:

    priced rows, cheapest first (ties by name, provider, model id)  rank 1, 2, 3 ...
    unpriced rows, by name, provider, model id                      no rank

A model's prices are those an admin set on its record when there are any (the registry
entry's ``sources["prices"]`` says so), else the catalog's, as ``core.explorer.tiers.derive`` does
for the blended price.

``eligible`` chooses the models first and counts what it leaves out, by why: a model
without the task's features; one whose features are unknown (kept, flagged, unless
``include_unknown`` is off); one whose context window is smaller than a request (input
plus output tokens; left out unless ``include_over_context``, then flagged); and, with a
quality floor (an Arena rating, ``ranking.quality_value``), one rated below it or not
rated.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import Decimal

import pandas as pd

from core.accounts.audit import csv_cell  # the one formula-injection guard for CSV cells
from core.costs import Cost, Prices, monthly_cost
from core.errors import ValidationError
from core.explorer import ranking
from core.explorer.filters import labels, model_key, provider_name
from core.explorer.registry import TASK_FEATURES, ModelCapability

MAX_TOKENS = 100_000_000  # per request
MAX_REQUESTS = 10_000_000_000  # per month
SIX_PLACES = Decimal("0.000001")
CSV_COLUMNS = (
    "rank",
    "model",
    "provider",
    "provider_type",
    "model_id",
    "monthly_cost_usd",
    "input_cost_usd",
    "output_cost_usd",
    "price_source",
    "note",
)


@dataclass(frozen=True)
class Workload:
    """Tokens of one request, the share of its input read from cache, requests a month."""

    input_tokens: int = 2_000
    output_tokens: int = 500
    cached_share: Decimal = Decimal(0)
    requests_per_month: int = 100_000

    def __post_init__(self) -> None:
        for name, top in (
            ("input_tokens", MAX_TOKENS),
            ("output_tokens", MAX_TOKENS),
            ("requests_per_month", MAX_REQUESTS),
        ):
            value = getattr(self, name)
            if type(value) is not int or not 0 <= value <= top:
                raise ValidationError(
                    f"The {name.replace('_', ' ')} must be a whole number from 0 to {top:,}.",
                    field=name,
                )
        share = self.cached_share
        try:
            share = share if isinstance(share, Decimal) else Decimal(str(share))
        except ArithmeticError:
            share = Decimal("NaN")
        if isinstance(self.cached_share, bool) or not share.is_finite() or not 0 <= share <= 1:
            raise ValidationError(
                "The cached share is a fraction from 0 to 1.", field="cached_share"
            )
        object.__setattr__(self, "cached_share", share)

    @property
    def request_tokens(self) -> int:
        """What one request needs of a context window: its input and output tokens."""
        return self.input_tokens + self.output_tokens


OVER_CONTEXT = "with a context window smaller than one request"
BELOW_FLOOR = "rated below the quality floor"
NOT_RATED = "not rated (a quality floor is set)"
NOT_FIT = "lacking the task's features"
UNKNOWN = "with features unknown"
MAX_FLOOR = 3000


def over_context(model: ModelCapability, load: Workload) -> bool:
    """Whether one request does not fit the model's (known) context window."""
    return model.context_window is not None and load.request_tokens > model.context_window


def eligible(
    models: Iterable[ModelCapability],
    load: Workload,
    *,
    task: str | None = None,
    include_unknown: bool = True,
    include_over_context: bool = False,
    quality_floor: float | None = None,
) -> tuple[tuple[ModelCapability, ...], dict[str, int]]:
    """(the models the calculator lists, what it left out counted by why)."""
    if quality_floor is not None and (
        isinstance(quality_floor, bool)
        or not isinstance(quality_floor, (int, float))
        or not 0 <= quality_floor <= MAX_FLOOR
    ):
        raise ValidationError(
            f"The quality floor is an Arena rating from 0 to {MAX_FLOOR:,}.",
            field="quality_floor",
        )
    kept: list[ModelCapability] = []
    left: dict[str, int] = {}

    def leave(why: str) -> None:
        left[why] = left.get(why, 0) + 1

    for m in models:
        if task is not None and TASK_FEATURES[task] - m.features:
            if m.features_known:
                leave(NOT_FIT)
                continue
            if not include_unknown:
                leave(UNKNOWN)
                continue
        if over_context(m, load) and not include_over_context:
            leave(OVER_CONTEXT)
            continue
        if quality_floor is not None:
            value = ranking.quality_value(m)
            if value is None:
                leave(NOT_RATED)
                continue
            if value < quality_floor:
                leave(BELOW_FLOOR)
                continue
        kept.append(m)
    return tuple(kept), left


def left_out_text(left: dict[str, int]) -> str:
    """'3 with a context window smaller than one request, 2 with features unknown'
    ('' for none)."""
    return ", ".join(f"{n:,} {why}" for why, n in sorted(left.items()) if n)


@dataclass(frozen=True)
class Row:
    """One model's monthly cost under a workload; rank is None when it is unpriced."""

    model: ModelCapability
    cost: Cost
    rank: int | None
    request_tokens: int = 0

    @property
    def note(self) -> str:
        """Why it is unpriced, or what its total leaves out, and its flags."""
        notes = []
        if not self.cost.priced:
            notes.append(f"unpriced: {self.cost.unpriced_reason}")
        elif self.cost.unmodelled:
            notes.append("also charges for " + ", ".join(sorted(self.cost.unmodelled)))
        window = self.model.context_window
        if window is not None and self.request_tokens > window:
            notes.append(
                f"⚠ a request of {self.request_tokens:,} tokens exceeds its "
                f"{window:,}-token context window"
            )
        if not self.model.features_known:
            notes.append(ranking.UNKNOWN_FEATURES)
        return "; ".join(notes)


def prices_of(model: ModelCapability) -> Prices | None:
    """The prices a model is charged at: its record's when set there, else the catalog's."""
    return model.prices


def monthly_costs(
    models: Iterable[ModelCapability],
    workload: Workload,
    prices: Callable[[ModelCapability], Prices | None] = prices_of,
) -> tuple[Row, ...]:
    """Every model's monthly cost under the workload, sorted (see the module docstring)."""
    costs = [
        (
            m,
            monthly_cost(
                prices(m),
                input_tokens=workload.input_tokens,
                output_tokens=workload.output_tokens,
                cached_share=workload.cached_share,
                requests_per_month=workload.requests_per_month,
            ),
        )
        for m in models
    ]

    def order(item: tuple[ModelCapability, Cost]) -> tuple[object, ...]:
        m, cost = item
        return (
            cost.total is None,
            cost.total or 0,
            m.name.casefold(),
            provider_name(m),
            m.model,
            model_key(m),
        )

    ranked = sorted(costs, key=order)
    return tuple(
        Row(
            model=m,
            cost=c,
            rank=i + 1 if c.priced else None,
            request_tokens=workload.request_tokens,
        )
        for i, (m, c) in enumerate(ranked)
    )


def money(cost: Cost) -> str:
    """A monthly total for people: costs' own label (``costs.usd``, or "unpriced")."""
    return cost.label()


def frame(rows: Iterable[Row]) -> pd.DataFrame:
    """The rows for a table: rank, model, provider, the monthly cost label and a note."""
    rows = list(rows)
    names = labels(r.model for r in rows)
    return pd.DataFrame(
        {
            "Rank": pd.array([r.rank for r in rows], dtype="Int64"),
            "Model": [names[model_key(r.model)] for r in rows],
            "Provider": [provider_name(r.model) for r in rows],
            "Monthly cost": [money(r.cost) for r in rows],
            "USD": pd.array(
                [float(r.cost.total) if r.cost.total is not None else None for r in rows],
                dtype="Float64",
            ),
            "Quality": [ranking.quality_text(r.model) for r in rows],
            "Note": [r.note for r in rows],
        }
    )


def _amount(value: Decimal | None) -> str:
    return "" if value is None else format(value.quantize(SIX_PLACES), "f")


def to_csv(rows: Iterable[Row]) -> bytes:
    """The rows as UTF-8 CSV (exact Decimal amounts; text cells guarded against formulas)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for r in rows:
        m, cost = r.model, r.cost
        writer.writerow(
            [
                "" if r.rank is None else r.rank,
                csv_cell(m.name),
                csv_cell(provider_name(m)),
                m.provider_type,
                csv_cell(m.model),
                _amount(cost.total),
                _amount(cost.input),
                _amount(cost.output),
                csv_cell(cost.source),
                csv_cell(r.note),
            ]
        )
    return out.getvalue().encode("utf-8")
