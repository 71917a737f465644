"""What a usage costs, in Decimal: prices from a model record or the genai-prices catalog.

``cost_of`` agrees with ``genai_prices.calc_price`` to the cent on every catalog model whose
prices ``Prices.from_genai`` represents fully (tests/test_costs.py checks them all). It
splits a usage the way genai-prices does: a token kind with its own price takes its tokens
out of the broader count; without one, those tokens stay in the broader count and pay its
price (a cache read with no cache price costs an input token).

    input_tokens  ─┬─ cache_read_tokens   × cache_read   (only when cache_read is priced)
                   ├─ cache_write_tokens  × cache_write  (only when cache_write is priced)
                   └─ the rest            × input
    output_tokens ─┬─ reasoning_tokens    × reasoning    (only when reasoning is priced)
                   └─ the rest            × output
    requests       ── × per_request

Tiers are cliffs, as in genai-prices: once a request's input tokens (all of them, cached
included) exceed a tier's ``start``, its price applies to every token of that kind, not
just the ones above the threshold. A ``Usage`` with ``requests=n`` stands for n identical
requests, so the tier is chosen by ``input_tokens / n`` and the per-request fee is paid n
times; this keeps ``cost_of`` linear in whole requests (n copies cost n times one).

Unpriced is never free: no prices, or tokens of a kind with no price at all, give a
``Cost`` whose ``total`` is None with a reason. Prices for things a ``Usage`` cannot count
(web searches, audio tokens, storage...) are kept by name in ``unmodelled`` so a page can
say "also charges for web searches" instead of implying the total is complete.
"""

from __future__ import annotations

import dataclasses
import datetime
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from core.errors import ValidationError

MILLION = Decimal(1_000_000)
CENT = Decimal("0.01")

# genai-prices price keys that map onto a Prices field (requests_kcount is per 1,000 calls).
GENAI_TOKEN_KEYS: dict[str, str] = {
    "input_mtok": "input",
    "output_mtok": "output",
    "cache_read_mtok": "cache_read",
    "cache_write_mtok": "cache_write",
    "output_reasoning_mtok": "reasoning",
}
GENAI_REQUESTS_KEY = "requests_kcount"
_RECORD_COLUMNS: dict[str, str] = {
    "input": "input_cost_per_million",
    "output": "output_cost_per_million",
    "cache_read": "cache_read_cost_per_million",
    "cache_write": "cache_write_cost_per_million",
}


def _money(value: Any, *, field: str) -> Decimal:
    """A finite, non-negative Decimal from a Decimal, int, float or numeric string."""
    if isinstance(value, bool) or not isinstance(value, (Decimal, int, float, str)):
        raise ValidationError(
            f"The {field.replace('_', ' ')} must be a number, not {type(value).__name__}.",
            field=field,
        )
    try:
        amount = value if isinstance(value, Decimal) else Decimal(str(value).strip())
    except InvalidOperation:
        raise ValidationError(
            f"The {field.replace('_', ' ')} must be a number.", field=field
        ) from None
    if not amount.is_finite() or amount < 0:
        raise ValidationError(
            f"The {field.replace('_', ' ')} must be a finite number of at least 0, not {value!r}.",
            field=field,
        )
    return amount


def _count(value: Any, *, field: str) -> int:
    # bool is an int subclass; True tokens is a caller's bug, not one token.
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationError(
            f"The {field.replace('_', ' ')} must be a whole number, not {type(value).__name__}.",
            field=field,
        )
    if value < 0:
        raise ValidationError(
            f"The {field.replace('_', ' ')} cannot be negative ({value}).", field=field
        )
    return value


@dataclass(frozen=True)
class Tier:
    """A price per million that applies to ALL tokens of its kind once input exceeds start."""

    start: int
    price: Decimal

    def __post_init__(self) -> None:
        _count(self.start, field="start")
        object.__setattr__(self, "price", _money(self.price, field="price"))


@dataclass(frozen=True)
class Rate:
    """The USD price per million tokens of one kind: a base price and optional cliff tiers."""

    base: Decimal
    tiers: tuple[Tier, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "base", _money(self.base, field="base"))
        tiers = tuple(self.tiers)
        if not all(isinstance(t, Tier) for t in tiers):
            raise ValidationError("Rate tiers must be Tier values.", field="tiers")
        object.__setattr__(self, "tiers", tuple(sorted(tiers, key=lambda t: t.start)))

    def at(self, total_input_tokens: int) -> Decimal:
        """The price per million for a request with this many input tokens (cliff rule)."""
        return self._per_request(_count(total_input_tokens, field="total_input_tokens"), 1)

    def _per_request(self, input_tokens: int, requests: int) -> Decimal:
        # input_tokens / requests > start, kept in integers so an uneven split stays exact.
        for tier in reversed(self.tiers):
            if input_tokens > tier.start * requests:
                return tier.price
        return self.base


def _rate(value: Any, *, field: str) -> Rate | None:
    # A bare number is accepted as an untiered rate, so Prices(input=Decimal("3")) reads well.
    if value is None or isinstance(value, Rate):
        return value
    return Rate(_money(value, field=field))


@dataclass(frozen=True)
class Prices:
    """USD per million tokens for each kind (None = not priced), and what could not be kept."""

    input: Rate | None = None
    output: Rate | None = None
    cache_read: Rate | None = None
    cache_write: Rate | None = None
    reasoning: Rate | None = None
    per_request: Decimal | None = None
    source: str = ""
    as_of: datetime.date | None = None
    unmodelled: frozenset[str] = frozenset()  # price keys (genai names) a Usage cannot count

    def __post_init__(self) -> None:
        for name in ("input", "output", "cache_read", "cache_write", "reasoning"):
            object.__setattr__(self, name, _rate(getattr(self, name), field=name))
        if self.per_request is not None:
            object.__setattr__(self, "per_request", _money(self.per_request, field="per_request"))
        if isinstance(self.unmodelled, str):
            raise ValidationError(
                "unmodelled must be a collection of price names.", field="unmodelled"
            )
        object.__setattr__(self, "unmodelled", frozenset(self.unmodelled))

    @classmethod
    def from_record(cls, record: Any, *, source: str = "model record") -> Prices | None:
        """The prices in a model record's four columns; None without input or output price."""
        rates = {
            name: _rate(getattr(record, column, None), field=column)
            for name, column in _RECORD_COLUMNS.items()
        }
        if rates["input"] is None and rates["output"] is None:
            return None
        return cls(
            input=rates["input"],
            output=rates["output"],
            cache_read=rates["cache_read"],
            cache_write=rates["cache_write"],
            source=source,
        )

    @classmethod
    def from_genai(
        cls, model_price: Any, *, source: str = "genai-prices", as_of: datetime.date | None = None
    ) -> Prices | None:
        """The prices of a genai_prices ModelPrice; None when it prices no token kind we model."""
        rates: dict[str, Rate] = {}
        per_request: Decimal | None = None
        unmodelled: set[str] = set()
        # ModelPrice keeps only the keys its data set; __dict__ is how genai-prices reads it too.
        for key, value in vars(model_price).items():
            if key.startswith("_") or value is None:
                continue
            if key in GENAI_TOKEN_KEYS:
                rates[GENAI_TOKEN_KEYS[key]] = _genai_rate(value, field=key)
            elif key == GENAI_REQUESTS_KEY and not hasattr(value, "tiers"):
                per_request = _money(value, field=key) / 1000
            else:
                unmodelled.add(key)
        if not rates:
            return None
        return cls(
            **rates,
            per_request=per_request,
            source=source,
            as_of=as_of,
            unmodelled=frozenset(unmodelled),
        )

    def filled_from(
        self, other: Prices | None, kinds: tuple[str, ...] = ("input", "output")
    ) -> Prices:
        """These prices, with the kinds they lack taken from other (a record's over the
        catalog's); the source then names both. Only input and output by default: a cache
        price belongs with the input price it discounts, so it is never mixed in."""
        if other is None:
            return self
        taken = {
            k: getattr(other, k)
            for k in kinds
            if getattr(self, k) is None and getattr(other, k) is not None
        }
        if not taken:
            return self
        named = ", ".join(k.replace("_", " ") for k in taken)
        return dataclasses.replace(
            self, **taken, source=f"{self.source}; {named} from {other.source}"
        )

    @property
    def has_tiers(self) -> bool:
        """Whether any token kind's price changes with the request's input size."""
        return any(rate is not None and rate.tiers for rate in self._rates())

    @property
    def complete(self) -> bool:
        """Whether every price of the source is represented here (nothing unmodelled)."""
        return not self.unmodelled

    def blended(self, ratio: tuple[int, int] = (3, 1)) -> Decimal | None:
        """The base price per million at this input:output ratio; None if either is unpriced."""
        if self.input is None or self.output is None:
            return None
        ratio_in, ratio_out = (_count(r, field="ratio") for r in ratio)
        if ratio_in + ratio_out == 0:
            raise ValidationError("The blend ratio cannot be 0:0.", field="ratio")
        return (ratio_in * self.input.base + ratio_out * self.output.base) / (ratio_in + ratio_out)

    def _rates(self) -> Iterable[Rate | None]:
        return (self.input, self.output, self.cache_read, self.cache_write, self.reasoning)


def _genai_rate(value: Any, *, field: str) -> Rate:
    if hasattr(value, "tiers"):  # genai_prices.types.TieredPrices, read by duck typing
        return Rate(
            _money(value.base, field=field),
            tuple(Tier(t.start, _money(t.price, field=field)) for t in value.tiers),
        )
    return Rate(_money(value, field=field))


@dataclass(frozen=True)
class Usage:
    """Token counts of one request, or of ``requests`` identical ones (totals)."""

    input_tokens: int = 0  # ALL input tokens, cache reads and cache writes included
    output_tokens: int = 0  # ALL output tokens, reasoning tokens included
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    reasoning_tokens: int = 0
    requests: int = 1

    def __post_init__(self) -> None:
        for name in (
            "input_tokens",
            "output_tokens",
            "cache_read_tokens",
            "cache_write_tokens",
            "reasoning_tokens",
            "requests",
        ):
            _count(getattr(self, name), field=name)
        cached = self.cache_read_tokens + self.cache_write_tokens
        if cached > self.input_tokens:
            field_name = (
                "cache_read_tokens"
                if self.cache_read_tokens > self.input_tokens or not self.cache_write_tokens
                else "cache_write_tokens"
            )
            raise ValidationError(
                f"Cache reads and writes ({cached:,} tokens) cannot exceed the input tokens "
                f"({self.input_tokens:,}), which include them.",
                field=field_name,
            )
        if self.reasoning_tokens > self.output_tokens:
            raise ValidationError(
                f"Reasoning tokens ({self.reasoning_tokens:,}) cannot exceed the output tokens "
                f"({self.output_tokens:,}), which include them.",
                field="reasoning_tokens",
            )
        if self.requests == 0 and (self.input_tokens or self.output_tokens):
            raise ValidationError(
                "Tokens were used, so there was at least one request.", field="requests"
            )


@dataclass(frozen=True)
class Cost:
    """The USD cost of a usage; ``total`` is None when it cannot be priced (never 0)."""

    total: Decimal | None
    input: Decimal | None
    output: Decimal | None
    unpriced_reason: str | None
    source: str = ""
    unmodelled: frozenset[str] = frozenset()  # see Prices.unmodelled

    @property
    def priced(self) -> bool:
        """Whether the cost is known."""
        return self.total is not None

    def label(self) -> str:
        """The total for display (``usd``) or "unpriced"."""
        return "unpriced" if self.total is None else usd(self.total)


def _unpriced(reason: str, prices: Prices | None = None) -> Cost:
    return Cost(
        total=None,
        input=None,
        output=None,
        unpriced_reason=reason,
        source=prices.source if prices else "",
        unmodelled=prices.unmodelled if prices else frozenset(),
    )


def cost_of(usage: Usage, prices: Prices | None) -> Cost:
    """The cost of a usage; unpriced (total None) when a price it needs is missing."""
    if not isinstance(usage, Usage):
        raise ValidationError("cost_of needs a Usage.", field="usage")
    if prices is None:
        return _unpriced("no price known for this model")
    if usage.input_tokens and prices.input is None:
        return _unpriced("no input price", prices)
    if usage.output_tokens and prices.output is None:
        return _unpriced("no output price", prices)
    requests = max(usage.requests, 1)

    def charge(rate: Rate, tokens: int) -> Decimal:
        return rate._per_request(usage.input_tokens, requests) * tokens / MILLION

    input_cost, rest = Decimal(0), usage.input_tokens
    for rate, tokens in (
        (prices.cache_read, usage.cache_read_tokens),
        (prices.cache_write, usage.cache_write_tokens),
    ):
        if rate is not None:
            input_cost += charge(rate, tokens)
            rest -= tokens
    if prices.input is not None:
        input_cost += charge(prices.input, rest)

    output_cost, rest = Decimal(0), usage.output_tokens
    if prices.reasoning is not None:
        output_cost += charge(prices.reasoning, usage.reasoning_tokens)
        rest -= usage.reasoning_tokens
    if prices.output is not None:
        output_cost += charge(prices.output, rest)

    # Like genai-prices, the per-request fee counts in the total but in neither direction.
    fee = prices.per_request * usage.requests if prices.per_request is not None else Decimal(0)
    return Cost(
        total=input_cost + output_cost + fee,
        input=input_cost,
        output=output_cost,
        unpriced_reason=None,
        source=prices.source,
        unmodelled=prices.unmodelled,
    )


def monthly_cost(
    prices: Prices | None,
    *,
    input_tokens: int,
    output_tokens: int,
    cached_share: Decimal | float,
    requests_per_month: int,
) -> Cost:
    """A month of identical requests: per-request tokens, the share of input read from cache."""
    share = _money(cached_share, field="cached_share")
    if share > 1:
        raise ValidationError(
            f"The cached share is a fraction from 0 to 1, not {share}.", field="cached_share"
        )
    input_tokens = _count(input_tokens, field="input_tokens")
    requests = _count(requests_per_month, field="requests_per_month")
    cached = int((input_tokens * share).to_integral_value(ROUND_HALF_UP))
    one = cost_of(
        Usage(input_tokens=input_tokens, output_tokens=output_tokens, cache_read_tokens=cached),
        prices,
    )
    if one.total is None or one.input is None or one.output is None:  # not priced
        return one
    return Cost(
        total=one.total * requests,
        input=one.input * requests,
        output=one.output * requests,
        unpriced_reason=None,
        source=one.source,
        unmodelled=one.unmodelled,
    )


UNKNOWN = "—"  # the one rendering of a value that is not known (never "None")
SIGNIFICANT = 4  # digits kept below the cents


def usd(amount: Decimal | None) -> str:
    """Money for people, the one format every page, table and chart uses (prices per
    million and totals alike): at least the cents, and below them up to four significant
    digits, rounded half-up, never cut or put in E notation, with thousands separators.

    "$2.50", "$0.075", "$4.813", "$0.0000001", "$1,234.57"; None is ``UNKNOWN``.
    """
    if amount is None:
        return UNKNOWN
    amount = amount if isinstance(amount, Decimal) else _money(amount, field="amount")
    if not amount:
        return "$0.00"
    places = min(-2, amount.adjusted() - (SIGNIFICANT - 1))
    text = format(amount.quantize(Decimal(1).scaleb(places), ROUND_HALF_UP), ",f")
    whole, _, fraction = text.partition(".")
    return f"${whole}.{fraction.rstrip('0').ljust(2, '0')}"


def price_label(per_million: Decimal) -> str:
    """A price per million for people (``usd``)."""
    return usd(per_million)


def to_cents(amount: Decimal) -> Decimal:
    """The amount rounded half-up to whole cents."""
    amount = amount if isinstance(amount, Decimal) else _money(amount, field="amount")
    return amount.quantize(CENT, ROUND_HALF_UP)
