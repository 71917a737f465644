"""One health sweep over 200 fake providers vs probing them one after another.

    python bench/health.py [--endpoints 200] [--concurrency 64] [--deadline 2]
                           [--sample 20] [--full-sequential]

Starts --endpoints OpenAI-compatible fake providers on loopback, each its own HTTP server
(a distinct base URL), answering GET /v1/models after a latency spread evenly over
50–500 ms; 10 % never answer. They are stored as providers in a scratch SQLite database
and checked through the real path: check_providers → adapters → outbound guard.

It measures one sweep, and in the same run the sequential baseline (concurrency 1). The
full sequential run would take minutes (every hanging endpoint costs a whole deadline),
so by default it probes a stratified sample (every 10th answering endpoint by latency,
and hanging ones in the same 10 % share) and scales it to all endpoints; --full-sequential
measures all of them. Targets, checked in this run:

    sweep ≤ deadline × ceil(endpoints / concurrency) + 1 s
    sequential / sweep ≥ 20×

A sweep cannot beat probing one by one by more than its concurrency, so 20× needs a
concurrency well above 20: the default here is 64 (check_providers' own default is 16).
Exit status 1 if a target is missed.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SECRET = "bench-secret-key-for-modeldesk-0123456789"
RATIO_TARGET = 20.0
STOP = threading.Event()  # releases every hanging handler at the end


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    latency: float | None  # None: never answers


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: object) -> None:
        return

    def do_GET(self) -> None:  # the http.server spelling
        if self.server.latency is None:
            STOP.wait(120)
            return
        time.sleep(self.server.latency)
        body = json.dumps(
            {
                "object": "list",
                "data": [{"id": "bench-model", "object": "model", "owned_by": "bench"}],
            }
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def start_endpoints(n: int, rng: random.Random) -> list[_Server]:
    """n servers on 127.0.0.1; latencies evenly spread over 50–500 ms, 10 % hanging."""
    hanging = set(rng.sample(range(n), round(n / 10)))
    answering = n - len(hanging)
    latencies = [0.05 + 0.45 * k / max(1, answering - 1) for k in range(answering)]
    rng.shuffle(latencies)
    servers = []
    for i in range(n):
        server = _Server(("127.0.0.1", 0), _Handler)
        server.latency = None if i in hanging else latencies.pop()
        threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True
        ).start()
        servers.append(server)
    return servers


def open_bench_runtime(work: Path):
    from core.config import load_settings
    from core.startup import open_runtime

    return open_runtime(
        load_settings(
            {
                "MODELDESK_DATABASE_URL": f"sqlite:///{work / 'bench.db'}",
                "MODELDESK_SECRET_KEY": SECRET,
                "MODELDESK_DATA_DIR": str(work),
                "MODELDESK_ENV": "test",
                "MODELDESK_DISABLE_SYSTEM_PROVIDERS": "all",
                "MODELDESK_ALLOWED_NETWORKS": "127.0.0.0/8",
            },
            secrets_file=None,
        )
    )


def seed(runtime, servers: list[_Server]) -> dict[int, object]:
    """One stored provider per endpoint; returns {port: provider id}."""
    from core.accounts import users
    from core.records import providers

    ids = {}
    with runtime.sessions.begin() as s:
        admin = users.create_user(s, username="admin", password="bench-password-1", role="admin")
        s.flush()
        for i, server in enumerate(servers):
            port = server.server_address[1]
            p = providers.create_provider(
                s,
                actor=admin,
                name=f"Endpoint {i:03d}",
                provider_type="openai_compatible",
                api_key=f"bench-key-{i:04d}-abcdefgh",
                instance_wide=True,
                provider_config={"base_url": f"http://127.0.0.1:{port}/v1"},
            )
            ids[port] = p.id
    return ids


def stratified_sample(servers: list[_Server], size: int) -> list[_Server]:
    """Every k-th answering endpoint by latency, and hanging ones in their own share."""
    answering = sorted((s for s in servers if s.latency is not None), key=lambda s: s.latency)
    hanging = [s for s in servers if s.latency is None]
    n_hang = round(size * len(hanging) / len(servers))
    step = len(answering) / (size - n_hang)
    return [answering[int(i * step + step / 2)] for i in range(size - n_hang)] + hanging[:n_hang]


def main() -> int:
    """Run the benchmark; exit status 1 if a target is missed."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--endpoints", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--deadline", type=float, default=2.0)
    parser.add_argument(
        "--sample", type=int, default=20, help="endpoints probed one after another for the baseline"
    )
    parser.add_argument(
        "--full-sequential",
        action="store_true",
        help="probe every endpoint one after another (minutes)",
    )
    args = parser.parse_args()

    from core.probes.health import check_providers

    rng = random.Random(42)
    servers = start_endpoints(args.endpoints, rng)
    work = Path(tempfile.mkdtemp(prefix="modeldesk-bench-health-"))
    runtime = open_bench_runtime(work)
    try:
        ids = seed(runtime, servers)
        n_hang = sum(s.latency is None for s in servers)
        print(
            f"{args.endpoints} endpoints on loopback (distinct ports), latency 50–500 ms, "
            f"{n_hang} hanging; deadline {args.deadline:g} s, concurrency {args.concurrency}"
        )

        sweeps = []
        for label in ("first sweep (no history)", "next sweep (slowest first, by history)"):
            started = time.perf_counter()
            results = check_providers(
                runtime, concurrency=args.concurrency, deadline_s=args.deadline
            )
            sweeps.append(time.perf_counter() - started)
            by_status: dict[str, int] = {}
            for r in results:
                by_status[r.status] = by_status.get(r.status, 0) + 1
            counts = ", ".join(f"{n} {k}" for k, n in sorted(by_status.items()))
            print(f"sweep:      {sweeps[-1]:7.2f} s  {label}: {counts}")
        sweep = max(sweeps)  # the targets hold for the slower of the two

        chosen = servers if args.full_sequential else stratified_sample(servers, args.sample)
        started = time.perf_counter()
        check_providers(
            runtime,
            provider_ids=[ids[s.server_address[1]] for s in chosen],
            concurrency=1,
            deadline_s=args.deadline,
        )
        measured = time.perf_counter() - started
        sequential = measured * len(servers) / len(chosen)
        if len(chosen) == len(servers):
            print(f"sequential: {sequential:7.2f} s  (all {len(servers)} probed one after another)")
        else:
            print(
                f"sequential: {sequential:7.2f} s  (extrapolated: {len(chosen)} endpoints "
                f"probed one after another in {measured:.2f} s, a stratified sample with "
                f"the same latency spread and hanging share, "
                f"scaled × {len(servers) / len(chosen):g})"
            )

        bound = args.deadline * math.ceil(len(servers) / args.concurrency) + 1
        ratio = sequential / sweep
        ok_bound, ok_ratio = sweep <= bound, ratio >= RATIO_TARGET
        expected_down = sum(r.status == "unreachable" for r in results) == n_hang
        print(
            f"bound:      {bound:7.2f} s  (deadline × ceil({len(servers)}/{args.concurrency}) "
            f"+ 1 s) → {'met' if ok_bound else 'MISSED'} by the slower sweep"
        )
        print(
            f"ratio:      {ratio:7.1f} ×  sequential / slower sweep (target ≥ "
            f"{RATIO_TARGET:g}×) → {'met' if ok_ratio else 'MISSED'}; next sweep "
            f"{sequential / min(sweeps):.1f} ×"
        )
        print(
            f"statuses:   {'as expected' if expected_down else 'UNEXPECTED'} "
            f"(every hanging endpoint unreachable, every other one up)"
        )
        return 0 if ok_bound and ok_ratio and expected_down else 1
    finally:
        STOP.set()
        runtime.dispose()
        closing = [threading.Thread(target=server.shutdown) for server in servers]
        for thread in closing:  # in parallel: each waits up to a poll interval
            thread.start()
        for thread in closing:
            thread.join()
        for server in servers:
            server.server_close()


if __name__ == "__main__":
    sys.exit(main())
