"""The savings finder: what a period's usage would have cost on a model as good or better.

For each model with priced spend in the period, its token mix as recorded (input, cached
input, cache writes, output, reasoning; requests) is priced again on every candidate that

    fits the same tasks    its features include every feature of the tasks the used model
                           fits (``core.explorer.registry.TASK_FEATURES``); features known
    is as good or better   its quality value (``core.explorer.ranking.quality_value``: a
                           tier set on the record, else the Arena rating) is at least the
                           used model's; an unrated used model has no candidates
    holds as much context  its context window is known and at least the used model's
                           (when the used model's is known)
    is priced, current     input and output prices known, not both $0 (a free tier or a
                           self-hosted model); not deprecated; not the same model

Candidates come from one scope (``core.explorer.scopes``): the model records the viewer
can see ("configured") or the whole offline catalog ("catalog"). A candidate's prices are
the ones the Explorer shows for it: the record's, else the catalog's current price, not the
price in effect on each day of the period; the used model's spend is what the ledger
recorded. Cached reads and cache writes are assumed to hit the same way on the candidate;
a candidate without a cache price charges them as plain input (``core.costs.cost_of``).
Tiered prices are chosen by the period's average input per request.

Only usage the viewer may see counts (``summary.visible_usage``). Unpriced usage is left
out: a day's rollup row (day, provider, model, user) with any unpriced request is left out
whole, and counted in ``Savings.left_out_requests``. Money is Decimal throughout.
"""

from __future__ import annotations

import dataclasses
import heapq
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from sqlalchemy import and_, true
from sqlalchemy.orm import Session

from core.accounts.viewer import Actor
from core.catalog import model_facts
from core.costs import Prices
from core.errors import ValidationError
from core.explorer import ranking, scopes, tiers
from core.explorer.registry import TASK_FEATURES, ModelCapability
from core.store.usage_tables import UsageDaily
from core.usage import pricing
from core.usage.rollups import Totals
from core.usage.summary import sums_by, visible_usage

SCOPE_LABELS = {
    "configured": "the model records you can see",
    "catalog": "the whole catalog (genai-prices and models.dev prices)",
}
SHOWN = 5  # alternatives kept per model, cheapest first


@dataclass(frozen=True)
class Alternative:
    """A candidate model and what the period's usage would have cost on it."""

    model: ModelCapability
    cost_usd: Decimal  # the period's token mix at its prices (8 places)
    saving_usd: Decimal  # spent minus cost_usd (negative: it would have cost more)


@dataclass(frozen=True)
class Finding:
    """One used model over the period: its priced usage, spend and cheaper alternatives."""

    provider: str
    provider_type: str
    model: str
    totals: Totals  # the priced usage counted (rows with unpriced requests left out)
    used: ModelCapability | None  # the used model as the Explorer knows it
    alternatives: tuple[Alternative, ...]  # cheaper ones, cheapest first (at most SHOWN)
    note: str = ""  # why there is nothing to compare with, when there is not

    @property
    def spent_usd(self) -> Decimal:
        """What the ledger recorded for the counted usage."""
        return self.totals.cost_usd

    @property
    def best(self) -> Alternative | None:
        """The cheapest alternative, if one is cheaper."""
        return self.alternatives[0] if self.alternatives else None


@dataclass(frozen=True)
class Savings:
    """Every finding of a period and what was left out."""

    scope: str
    findings: tuple[Finding, ...]
    left_out_requests: int = 0  # requests on rollup rows with unpriced usage
    left_out_unpriced: int = 0  # of which unpriced
    left_out_cost_usd: Decimal = Decimal(0)  # the priced spend on those rows
    candidates: int | None = None  # models in the scope (None: not loaded, nothing spent)

    @property
    def spent_usd(self) -> Decimal:
        """The counted spend of every model."""
        return sum((f.spent_usd for f in self.findings), Decimal(0))

    @property
    def saving_usd(self) -> Decimal:
        """The sum of each model's best saving."""
        return sum((f.best.saving_usd for f in self.findings if f.best), Decimal(0))


def cost_on(prices: Prices | None, totals: Totals) -> Decimal | None:
    """The token mix of totals at these prices (8 places); None when they cannot price it."""
    return pricing.cost_usd(
        prices,
        totals.input_tokens,
        totals.cached_input_tokens,
        totals.cache_write_tokens,
        totals.output_tokens,
        totals.reasoning_tokens,
        totals.requests,
    )


def needed_features(used: ModelCapability) -> frozenset[str]:
    """The features of every task the used model fits (what a stand-in must also do)."""
    found: set[str] = set()
    for needs in TASK_FEATURES.values():
        if needs <= used.features:
            found |= needs
    return frozenset(found)


def unfit(candidate: ModelCapability) -> str | None:
    """Why candidate can stand in for no model (None: it may); the module's rules that
    depend on the candidate alone."""
    if candidate.deprecated:
        return "deprecated"
    prices = candidate.prices
    if prices is None or prices.input is None or prices.output is None:
        return "unpriced"
    if not prices.input.base and not prices.output.base:
        # A $0 catalog price is a free tier or a self-hosted model: it says nothing about
        # what running this usage there would cost.
        return "free"
    if not candidate.features_known:
        return "features unknown"
    if ranking.quality_value(candidate) is None:
        return "quality not rated"
    return None


def _against(
    used: ModelCapability,
    candidate: ModelCapability,
    quality: float,
    needed: frozenset[str],
    floor: float,
) -> str | None:
    """The rules that compare a candidate (already not ``unfit``; its quality value given)
    with the used model."""
    if quality < floor:
        return "lower quality"
    if not needed <= candidate.features:
        return "lacks a task's features"
    if used.context_window is not None and (
        candidate.context_window is None or candidate.context_window < used.context_window
    ):
        return "smaller context window"
    if candidate.record_id is not None and candidate.record_id == used.record_id:
        return "the same model"
    same = (candidate.provider_type, candidate.model) == (used.provider_type, used.model)
    if same and (candidate.record_id is None or used.record_id is None):
        return "the same model"
    return None


Pool = list[tuple[ModelCapability, float]]  # candidates not unfit, with their quality value


def pool_of(candidates: Sequence[ModelCapability]) -> Pool:
    """The candidates that may stand in for some model, each with its quality value."""
    return [(c, ranking.quality_value(c) or 0.0) for c in candidates if unfit(c) is None]


def why_not(used: ModelCapability, candidate: ModelCapability) -> str | None:
    """Why candidate cannot stand in for used (None: it can); the module's rules."""
    floor = ranking.quality_value(used)
    if floor is None:
        return "the used model's quality is not rated"
    found = unfit(candidate)
    if found is not None:
        return found
    quality = ranking.quality_value(candidate) or 0.0
    return _against(used, candidate, quality, needed_features(used), floor)


_POOLS: dict[int, tuple[tuple[ModelCapability, ...], Pool]] = {}


def _catalog_pool(catalog: tuple[ModelCapability, ...]) -> Pool:
    """The catalog's pool, built once per catalog tuple (``tiers.catalog_capabilities``
    keeps it for the process; kept here by identity, as hashing 5,000 models costs more
    than the lookup saves)."""
    kept = _POOLS.get(id(catalog))
    if kept is None or kept[0] is not catalog:
        _POOLS.clear()
        kept = _POOLS[id(catalog)] = (catalog, pool_of(catalog))
    return kept[1]


def alternatives(used: ModelCapability, totals: Totals, pool: Pool) -> tuple[Alternative, ...]:
    """The candidates of a pool (``pool_of``) that fit (``why_not``) and would have cost
    less, cheapest first, then best ranked on quality; at most ``SHOWN``."""
    floor = ranking.quality_value(used)
    if floor is None:
        return ()
    needed = needed_features(used)
    found = []
    for candidate, quality in pool:
        if _against(used, candidate, quality, needed, floor) is not None:
            continue
        cost = cost_on(candidate.prices, totals)
        if cost is None or cost >= totals.cost_usd:
            continue
        found.append(Alternative(candidate, cost, totals.cost_usd - cost))
    cheapest = heapq.nsmallest(SHOWN * 4, found, key=lambda a: a.cost_usd)  # ties: by rank
    cheapest.sort(key=lambda a: (a.cost_usd, ranking.rank_key(a.model, "quality")))
    return tuple(cheapest[:SHOWN])


def _note(used: ModelCapability | None) -> str:
    if used is None:
        return "Not in the catalog and no model record you can see: nothing to compare with."
    if ranking.quality_value(used) is None:
        return "Its quality is not rated: no model can be shown to be as good."
    if not used.features_known:
        return "Its features are unknown: no task to match."
    return ""


def _used_model(
    provider: str, provider_type: str, model: str, records: dict[tuple[str, str], ModelCapability]
) -> ModelCapability | None:
    """The used model as the Explorer knows it: its record (when visible), else the catalog."""
    found = records.get((provider, model))
    if found is not None:
        return found
    facts = model_facts.lookup(provider_type, model)
    if facts is None:
        return None
    return tiers.derive(
        provider_type=provider_type,
        model_id=model,
        facts=facts,
        scale=tiers.cost_scale(),
        rating=tiers.rating_for(provider_type, model),
    )


def find(
    session: Session,
    *,
    viewer: Actor | None,
    date_from: date,
    date_to: date,
    scope: str = "configured",
) -> Savings:
    """The savings finder over rollup days [date_from, date_to) (see the module)."""
    if scope not in scopes.SCOPES:
        raise ValidationError(
            f"Alternatives come from one of {', '.join(scopes.SCOPES)}, not {scope!r}.",
            field="scope",
        )
    if date_to <= date_from:
        raise ValidationError(
            f"The period is empty: {date_to} is not after {date_from}.", field="date_to"
        )
    visible = visible_usage(viewer)
    seen = true() if visible is None else visible
    columns = ("provider_name", "provider_type", "model_id")
    priced: dict[tuple[str, str, str], Totals] = {}
    for row, totals in sums_by(
        session,
        tags=False,
        columns=columns,
        date_from=date_from,
        date_to=date_to,
        where=and_(seen, UsageDaily.unpriced_requests == 0),
    ):
        key = (row.provider_name, row.provider_type, row.model_id)
        priced.setdefault(key, Totals()).add(totals)
    left_out = Totals()
    for _, totals in sums_by(
        session,
        tags=False,
        columns=(),
        date_from=date_from,
        date_to=date_to,
        where=and_(seen, UsageDaily.unpriced_requests > 0),
    ):
        left_out.add(totals)

    nothing = Savings(
        scope=scope,
        findings=(),
        left_out_requests=left_out.requests,
        left_out_unpriced=left_out.unpriced_requests,
        left_out_cost_usd=left_out.cost_usd,
    )
    if not any(t.cost_usd for t in priced.values()):
        return nothing  # no spend: no model to look up, no candidate to load
    records: dict[tuple[str, str], ModelCapability] = {}
    configured: tuple[ModelCapability, ...] = ()
    if viewer is not None:
        configured = scopes.configured_capabilities(session, user=viewer)
        records = {(m.provider_label, m.model): m for m in configured}
    if scope == "configured":
        candidates, pool = len(configured), pool_of(configured)
    else:
        catalog = tiers.catalog_capabilities()
        candidates, pool = len(catalog), _catalog_pool(catalog)
    findings = []
    for (provider, provider_type, model), totals in priced.items():
        if not totals.cost_usd:  # nothing spent (a free model): nothing to save
            continue
        used = _used_model(provider, provider_type, model, records)
        note = _note(used)
        found = alternatives(used, totals, pool) if used is not None and not note else ()
        findings.append(Finding(provider, provider_type, model, totals, used, found, note))
    findings.sort(key=lambda f: (-(f.best.saving_usd if f.best else 0), -f.spent_usd, f.model))
    return dataclasses.replace(nothing, findings=tuple(findings), candidates=candidates)


def compare_keys(scope: str, finding: Finding, alternative: Alternative) -> list[str]:
    """The Explorer's keys (``core.explorer.filters.model_key``: record id, else
    provider_type/model) of the used model and the alternative in the scope the link
    opens; a used model that scope lacks (a catalog model without a record) is left out."""
    keys = []
    for m in (finding.used, alternative.model):
        if m is None:
            continue
        if scope == "catalog":
            if m.record_id is None or model_facts.lookup(m.provider_type, m.model) is not None:
                keys.append(f"{m.provider_type}/{m.model}")
        elif m.record_id is not None:
            keys.append(m.record_id)
    return keys
