"""What a quality snapshot covers: catalog entries rated, by method and by provider type.

Used by ``modeldesk quality coverage`` and after ``modeldesk quality import`` (the report of
what matched by which method, what was ambiguous and which leaderboard names matched no
catalog entry). Pure: a snapshot and a list of (provider type, model id) pairs in, counts
and lists out.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from core.catalog import model_facts
from core.catalog.quality import BOARDS, QualityData
from core.catalog.quality_match import METHODS


@dataclass(frozen=True)
class Coverage:
    """One board's coverage of a list of models."""

    board: str
    total: int
    rated: int
    by_method: dict[str, int]
    by_type: dict[str, tuple[int, int]]  # provider type -> (rated, total)
    ambiguous: dict[str, tuple[str, ...]]  # model id -> the names it could be
    unused: tuple[str, ...] = field(default=())  # board names no model matched

    def lines(self, *, types: bool = True, limit: int = 25) -> list[str]:
        """The report as text lines."""
        share = f"{self.rated / self.total:.0%}" if self.total else "-"
        out = [
            f"{BOARDS[self.board]}: {self.rated:,} of {self.total:,} catalog entries rated "
            f"({share})"
        ]
        out.append(
            "  matched by: " + ", ".join(f"{m} {self.by_method.get(m, 0):,}" for m in METHODS)
        )
        out.append(f"  ambiguous (left unrated): {len(self.ambiguous):,} model ids")
        for model_id, names in sorted(self.ambiguous.items())[:limit]:
            out.append(f"    {model_id}: could be {' or '.join(names)}")
        if len(self.ambiguous) > limit:
            out.append(f"    … and {len(self.ambiguous) - limit:,} more")
        out.append(f"  leaderboard names no catalog entry matched: {len(self.unused):,}")
        if self.unused:
            shown = ", ".join(self.unused[:limit])
            more = f" … and {len(self.unused) - limit:,} more" if len(self.unused) > limit else ""
            out.append(f"    {shown}{more}")
        if types:
            out.append("  by provider type (rated / entries):")
            ranked = sorted(self.by_type.items(), key=lambda kv: (-kv[1][0], kv[0]))
            out.extend(f"    {ptype:<24} {r:>5,} / {t:,}" for ptype, (r, t) in ranked)
        return out


def catalog_keys() -> list[tuple[str, str]]:
    """Every catalog entry as (provider type, model id)."""
    return [f.key for f in model_facts.all_facts()]


def coverage(data: QualityData, keys: Iterable[tuple[str, str]], board: str = "text") -> Coverage:
    """How many of ``keys`` get a rating on ``board``, how, and what stayed ambiguous."""
    total = rated = 0
    methods: Counter[str] = Counter()
    types: dict[str, list[int]] = {}
    ambiguous: dict[str, tuple[str, ...]] = {}
    used: set[str] = set()
    for ptype, model_id in keys:
        total += 1
        counts = types.setdefault(ptype, [0, 0])
        counts[1] += 1
        found = data.match(model_id, board)
        if found.name is not None and found.method is not None:
            rated += 1
            counts[0] += 1
            methods[found.method] += 1
            used.add(found.name)
        elif found.ambiguous:
            ambiguous[model_id] = found.candidates
    names = data.boards.get(board, {})
    return Coverage(
        board=board,
        total=total,
        rated=rated,
        by_method=dict(methods),
        by_type={t: (c[0], c[1]) for t, c in types.items()},
        ambiguous=ambiguous,
        unused=tuple(sorted(n for n in names if n not in used)),
    )
