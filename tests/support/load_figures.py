"""What a load run measured (tests/support/load.py fills it, ``bench/load.py`` prints it and
tests/reliability/test_load.py checks it): interaction times per page, errors, edits, events,
the ingest rate, the server processes' CPU and memory, the load average."""

from __future__ import annotations

import statistics
from collections import defaultdict
from dataclasses import dataclass, field

PAGES = ("providers", "explorer", "costs", "health")
EDIT = "providers (edit)"


@dataclass
class Figures:
    """What a run measured."""

    times: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    alone: dict[str, float] = field(default_factory=dict)  # p50 of one user alone, per page
    errors: list[str] = field(default_factory=list)
    edits_confirmed: int = 0
    edits_verified: int = 0
    edits_lost: list[str] = field(default_factory=list)
    events_sent: int = 0
    events_stored: int = 0
    ingest_requests: int = 0
    ingest_failures: list[str] = field(default_factory=list)
    ingest_seconds: float = 0.0
    ingest_times: list[float] = field(default_factory=list)  # seconds per request
    ingest_retries: int = 0  # requests answered 503 or 429 and sent again
    health_checks: int = 0
    servers: list[str] = field(default_factory=list)  # the server processes, named
    server_cpu: list[float] = field(default_factory=list)  # CPU seconds, per server process
    server_rss_mb: list[float] = field(default_factory=list)  # resident memory at the end
    driver_cpu_s: float = 0.0
    wall_s: float = 0.0
    load_average: tuple[float, float, float] = (0.0, 0.0, 0.0)

    def summary(self, page: str) -> tuple[int, float, float, float]:
        """Count, p50, p95 and max seconds of one page's interactions."""
        values = sorted(self.times.get(page, []))
        if not values:
            return 0, 0.0, 0.0, 0.0
        p95 = values[min(len(values) - 1, int(round(0.95 * (len(values) - 1))))]
        return len(values), statistics.median(values), p95, values[-1]

    @property
    def all_times(self) -> list[float]:
        return [t for values in self.times.values() for t in values]

    @property
    def p95(self) -> float:
        values = sorted(self.all_times)
        return values[int(round(0.95 * (len(values) - 1)))] if values else 0.0

    @property
    def server_cpu_s(self) -> float:
        """CPU seconds of every console process together."""
        return sum(self.server_cpu)

    @property
    def ingest_rate(self) -> float:
        return self.events_sent / self.ingest_seconds if self.ingest_seconds else 0.0

    def report(self, target_rate: int) -> list[str]:
        """The figures as lines of text (bench/load.py prints them; the test quotes them)."""
        lines = [
            f"{'interaction':<18}{'count':>7}{'p50 s':>9}{'p95 s':>9}{'max s':>9}"
            f"{'alone p50 s':>13}{'p50 ratio':>11}"
        ]
        for page in (*PAGES, EDIT):
            count, p50, p95, top = self.summary(page)
            alone = self.alone.get(page)
            versus = f"{alone:>13.2f}{p50 / alone:>10.1f}x" if alone else ""
            lines.append(f"{page:<18}{count:>7}{p50:>9.2f}{p95:>9.2f}{top:>9.2f}{versus}")
        every = sorted(self.all_times)
        top = every[-1] if every else 0.0
        lines.append(f"{'all':<18}{len(every):>7}{'':>9}{self.p95:>9.2f}{top:>9.2f}")
        lines.append(f"errors            {len(self.errors)}")
        lines += [f"  {line}" for line in self.errors[:20]]
        lines.append(
            f"edits             {self.edits_confirmed} confirmed, {self.edits_verified} verified"
        )
        lines += [f"  lost: {line}" for line in self.edits_lost]
        lines.append(
            f"events            {self.events_sent} sent (accepted), {self.events_stored} stored;"
            f" {self.ingest_requests} requests, {self.ingest_retries} retries,"
            f" {len(self.ingest_failures)} failed"
        )
        lines += [f"  {line}" for line in self.ingest_failures[:5]]
        lines.append(f"ingest rate       {self.ingest_rate:.0f} events/s (target {target_rate})")
        if self.ingest_times:
            waits = sorted(self.ingest_times)
            lines.append(
                f"ingest requests   p50 {statistics.median(waits):.2f} s,"
                f" p95 {waits[int(round(0.95 * (len(waits) - 1)))]:.2f} s each"
            )
        lines.append(f"health checks     {self.health_checks} stored during the run")
        cores = [cpu / self.wall_s if self.wall_s else 0.0 for cpu in self.server_cpu]
        named = zip(self.servers, cores, strict=False)
        each = f": {', '.join(f'{n} {c:.2f}' for n, c in named)}" if len(cores) > 1 else ""
        lines.append(
            f"CPU               server {self.server_cpu_s:.1f} s, driver {self.driver_cpu_s:.1f} s"
            f" over {self.wall_s:.0f} s ({sum(cores):.2f} cores server{each})"
        )
        lines.append(
            f"server memory     {' + '.join(f'{m:.0f}' for m in self.server_rss_mb)} MB resident"
            f" at the end ({', '.join(self.servers)})"
        )
        lines.append("load average      " + " ".join(f"{v:.2f}" for v in self.load_average))
        return lines
