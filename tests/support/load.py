"""The load scenario shared by ``bench/load.py`` and tests/reliability/test_load.py.

One ``streamlit run app.py`` (tests/support/browser.py ``serve``; ``replicas`` of them on
PostgreSQL, and with ``ingest_process`` a ``uvicorn`` process serving /v1/traces alone) over a
scratch database seeded with the demo organisation (core.demo) plus N member accounts, each
owning one private provider that points at a fake OpenAI-compatible server on loopback.
Then, at once:

    N users      websocket tabs (tests/support/stclient.py), signed in by a sign-in cookie
                 minted with the deployment's cookie key; each loops Providers → Explorer →
                 Costs → Health with a think time, and every ``edit_every``-th user also
                 renames its own provider through the edit form (select it, type, submit)
    health       the app's own scheduler sweeps every provider every ``health_interval`` s
    ingest       sender threads POST OTLP JSON spans to /v1/traces at ``ingest_rate`` spans/s
                 (tests/support/otlp_feed.py), each span a new response id

and at the end the database is read back: every confirmed rename is the provider's name
(no lost edit), every span answered 200 is in the ledger exactly once (no lost event).
Interaction time = from sending the rerun to the run's ``script_finished``.
"""

from __future__ import annotations

import os
import random
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import bcrypt
import httpx
import jwt

from tests.support.browser import free_port, run_until_ready, serve_process
from tests.support.load_figures import EDIT, PAGES, Figures
from tests.support.otlp_feed import Ingest
from tests.support.stclient import Run, StreamlitError, Tab

__all__ = ["EDIT", "PAGES", "Figures", "LoadConfig", "run_load"]

SECRET = "load-secret-key-for-modeldesk-0123456789"
PASSWORD = "load-user-pass-2026"
COOKIE_NAME = "modeldesk_session"  # pages/_auth.COOKIE_NAME (pages/ is not imported here)
COOKIE_DAYS = 7.0


@dataclass(frozen=True)
class LoadConfig:
    """What to run: users, for how long, the ingest rate and the database."""

    users: int = 25
    duration: float = 180.0
    ingest_rate: int = 1000
    database_url: str | None = None  # None: SQLite in the work folder
    edit_every: int = 3  # every n-th user also edits (user 0, n, 2n…)
    think: tuple[float, float] = (1.0, 3.0)  # seconds between a user's interactions
    health_interval: int = 10
    baseline_runs: int = 3  # timed runs of each page by one user alone, before the load
    seed: int = 17
    # Console processes over the one database (the documented scale-out): user i stays on
    # process i % replicas (sticky sessions), the ingest senders are spread over all of them.
    replicas: int = 1
    # The ingest route in a process of its own (uvicorn --factory core.startup:ingest_app),
    # as docs/operations.md advises for heavy ingest, instead of on the console processes.
    ingest_process: bool = False


@dataclass(frozen=True)
class Seeded:
    """The scenario's accounts: (username, cookie, own provider name), the ingest token."""

    users: list[tuple[str, str, str]]
    ingest_token: str


def environment(url: str, work: Path, config: LoadConfig) -> dict[str, str]:
    """The app's environment: the scratch database, sweeps on, loopback providers allowed."""
    return {
        "MODELDESK_DATABASE_URL": url,
        "MODELDESK_SECRET_KEY": SECRET,
        "MODELDESK_DATA_DIR": str(work),
        "MODELDESK_ENV": "test",
        "MODELDESK_DISABLE_SYSTEM_PROVIDERS": "all",
        "MODELDESK_ALLOWED_NETWORKS": "127.0.0.0/8",
        "MODELDESK_HEALTH_INTERVAL": str(config.health_interval),
        "MODELDESK_HEALTH_DEADLINE": "3",
        # Streamlit's XSRF cookie key: the same on every replica, as docs/operations.md asks.
        "STREAMLIT_SERVER_COOKIE_SECRET": SECRET,
    }


def mint_cookie(username: str, key: str) -> str:
    """A sign-in cookie as streamlit-authenticator writes it (HS256 JWT), issued now."""
    expires = time.time() + COOKIE_DAYS * 86400
    return jwt.encode({"username": username, "exp_date": expires}, key, algorithm="HS256")


@contextmanager
def _cheap_hashes() -> Iterator[None]:
    """bcrypt at its lowest cost while seeding: the load users never type their password
    (a cookie signs them in), and 25 hashes at full cost take a minute on a busy machine."""
    real = bcrypt.gensalt
    bcrypt.gensalt = lambda rounds=4, prefix=b"2b": real(4, prefix)  # type: ignore[assignment]
    try:
        yield
    finally:
        bcrypt.gensalt = real  # type: ignore[assignment]


def seed(env: dict[str, str], n_users: int, fake_base_url: str, fake_key: str) -> Seeded:
    """The demo organisation, n member accounts with a private provider each, and an ingest
    token booking every span to the demo's OpenAI record."""
    from core.accounts import users
    from core.config import load_settings
    from core.demo import seed_demo
    from core.records import providers
    from core.startup import build_keyring, open_runtime
    from core.usage import ingest_tokens

    settings = load_settings(env, secrets_file=None)
    rt = open_runtime(settings)
    try:
        seed_demo(rt.sessions, timezone=settings.timezone)
        accounts = []
        with _cheap_hashes(), rt.sessions.begin() as s:
            admin = users.get_by_username(s, "ada")
            assert admin is not None
            token = ingest_tokens.create_token(s, actor=admin, name="load", provider="OpenAI")
            for i in range(n_users):
                name = f"load{i:02d}"
                user = users.create_user(s, username=name, password=PASSWORD)
                s.flush()
                own = f"Load {i:02d} OpenAI"
                providers.create_provider(
                    s,
                    actor=user,
                    name=own,
                    provider_type="openai",
                    api_key=fake_key,
                    provider_config={"base_url": fake_base_url},
                )
                accounts.append((name, own))
        key = build_keyring(settings)[1]
        return Seeded(
            users=[(name, mint_cookie(name, key), own) for name, own in accounts],
            ingest_token=token.token,
        )
    finally:
        rt.dispose()


# --- The users --------------------------------------------------------------------------


class User:
    """One simulated user: a websocket tab looping over the pages, maybe renaming its own
    provider; records times, errors and confirmed renames into shared figures."""

    def __init__(
        self,
        base_url: str,
        index: int,
        account: tuple[str, str, str],
        config: LoadConfig,
        figures: Figures,
        lock: threading.Lock,
    ) -> None:
        self.username, cookie, self.provider = account
        self.index, self.config, self.figures, self.lock = index, config, figures, lock
        self.tab = Tab(base_url, cookies={COOKIE_NAME: cookie})
        self.editor = index % config.edit_every == 0
        self.last_name: str | None = None  # the last rename the page confirmed
        self.renames = 0
        self.rng = random.Random(config.seed * 1000 + index)

    def _timed(self, label: str, page: str | None, widgets: Any = None) -> Run:
        run = self.tab.run(page, widgets)
        with self.lock:
            self.figures.times[label].append(run.seconds)
            for text in run.exceptions:
                self.figures.errors.append(f"{self.username} {label}: exception {text}")
        return run

    def _error(self, text: str) -> None:
        with self.lock:
            self.figures.errors.append(f"{self.username}: {text}")

    def _rename(self, shown: Run) -> None:
        """Select the own provider, type a new name into the edit form, submit."""
        current = self.last_name or self.provider
        pick = shown.find("selectbox", "Selected provider").id
        chosen = {pick: ("string_value", current)}
        opened = self._timed(EDIT, None, chosen)
        name_box = opened.find("text_input", "Name")
        submit = next(
            e
            for e in opened.elements
            if e.kind == "button" and e.proto.is_form_submitter and e.label == "Save changes"
        )
        new = f"{self.provider} r{self.renames + 1}"
        saved = self._timed(
            EDIT,
            None,
            {**chosen, name_box.id: ("string_value", new), submit.id: ("trigger_value", True)},
        )
        if any(f"Provider '{new}' saved." in t for t in saved.texts("alert")):
            self.renames += 1
            self.last_name = new
            with self.lock:
                self.figures.edits_confirmed += 1
        else:
            self._error(
                f"rename to {new!r} not confirmed: {saved.errors() or saved.texts('alert')}"
            )

    def __call__(self, ready: threading.Event, go: threading.Event, stop: threading.Event) -> None:
        try:
            try:
                self.tab.connect()
                self.tab.run(PAGES[self.index % len(PAGES)])  # the first load: not timed
            finally:
                ready.set()
            go.wait()
            step = self.index + 1
            stop.wait(self.rng.uniform(0, self.config.think[1]))  # users do not click in step
            while not stop.is_set():
                page = PAGES[step % len(PAGES)]
                step += 1
                run = self._timed(page, page)
                for text in run.errors():
                    self._error(f"{page}: error shown: {text[:200]}")
                if page == "providers" and self.editor:
                    self._rename(run)
                stop.wait(self.rng.uniform(*self.config.think))
        except (StreamlitError, LookupError, StopIteration, OSError) as exc:
            self._error(f"{type(exc).__name__}: {exc}")
        finally:
            self.tab.close()


def warm_up(base_url: str, cookie: str, figures: Figures | None, runs: int = 3) -> None:
    """One tab opens every page once (a fresh server's first run of a page imports and
    caches what later runs reuse: the users measure the console warm, as it runs), then
    ``runs`` more times, timed into ``figures``: the baseline, one user alone on the same
    machine now."""
    with Tab(base_url, cookies={COOKIE_NAME: cookie}) as tab:
        for page in PAGES:
            tab.run(page, timeout=120)
        for page in PAGES if figures is not None else ():
            times = [tab.run(page, timeout=120).seconds for _ in range(runs)]
            figures.alone[page] = statistics.median(times)


@contextmanager
def serve_ingest(env: dict[str, str], work: Path) -> Iterator[tuple[str, subprocess.Popen]]:
    """``uvicorn --factory core.startup:ingest_app`` on a free port; its base URL and process
    once it answers (a 401 to a request without a token)."""
    port = free_port()
    command = [sys.executable, "-m", "uvicorn", "--factory", "core.startup:ingest_app"]
    command += ["--host", "127.0.0.1", "--port", str(port), "--no-access-log"]

    def answers(url: str) -> bool:
        return httpx.post(f"{url}/v1/traces", timeout=2).status_code == 401

    with run_until_ready(
        command, env, port=port, ready=answers, log=work / "ingest.log", name="the ingest process"
    ) as served:
        yield served


def warm_ingest(base_url: str, token: str) -> None:
    """An empty export: the route opens its runtime on its first request (migrations
    checked, keys derived, catalogs read), which a warm server has long done."""
    empty = {"resourceSpans": []}
    answer = httpx.post(
        f"{base_url}/v1/traces",
        json=empty,
        headers={"Authorization": f"Bearer {token}"},
        timeout=120,
    )
    answer.raise_for_status()


# --- The run ------------------------------------------------------------------------------


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process and its waited-for children (Linux /proc)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return sum(int(v) for v in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def _rss_mb(pid: int) -> float:
    """Resident memory of a process in MB (Linux /proc), 0 when it cannot be read."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def verify(
    env: dict[str, str],
    seeded: Seeded,
    users: list[User],
    prefix: str,
    figures: Figures,
    since: datetime,
) -> None:
    """Read the database back: confirmed renames are there, every accepted span once."""
    from sqlalchemy import func, select

    from core.config import load_settings
    from core.startup import open_runtime
    from core.store.tables import AuditEvent, HealthCheck, Provider
    from core.store.usage_tables import UsageEvent

    rt = open_runtime(load_settings(env, secrets_file=None))
    try:
        with rt.sessions() as s:
            names = set(s.scalars(select(Provider.name)))
            for user in users:
                if not user.renames:
                    continue
                audited = s.scalar(
                    select(func.count())
                    .select_from(AuditEvent)
                    .where(AuditEvent.action == "provider.update")
                    .where(AuditEvent.actor_label == user.username)
                )
                if user.last_name not in names:
                    figures.edits_lost.append(f"{user.username}: {user.last_name!r} not stored")
                elif audited != user.renames:
                    figures.edits_lost.append(
                        f"{user.username}: {user.renames} renames confirmed, {audited} stored"
                    )
                else:
                    figures.edits_verified += user.renames
            figures.events_stored = (
                s.scalar(
                    select(func.count())
                    .select_from(UsageEvent)
                    .where(UsageEvent.idempotency_key.like(f"otlp:openai:{prefix}-%"))
                )
                or 0
            )
            figures.health_checks = (
                s.scalar(
                    select(func.count())
                    .select_from(HealthCheck)
                    .where(HealthCheck.checked_at >= since)
                )
                or 0
            )
    finally:
        rt.dispose()


def run_load(
    config: LoadConfig, work: Path, progress: Callable[[str], None] = lambda _m: None
) -> Figures:
    """Seed, serve, run the users, the ingest and the sweeps for config.duration; verify."""
    from tests.fakes import FakeProvider

    url = config.database_url or f"sqlite:///{work / 'load.db'}"
    env = environment(url, work, config)
    figures = Figures()
    lock = threading.Lock()
    prefix = f"load-{uuid.uuid4().hex[:8]}"
    with FakeProvider("openai") as fake, ExitStack() as servers:
        progress(f"seeding the demo organisation and {config.users} users…")
        seeded = seed(env, config.users, fake.base_url, fake.key or "")
        served = []
        for n in range(config.replicas):  # each replica logs into a folder of its own
            folder = work / f"replica-{n}" if config.replicas > 1 else work
            folder.mkdir(exist_ok=True)
            own = {**env, "MODELDESK_DATA_DIR": str(folder)}
            served.append(servers.enter_context(serve_process(own)))
        bases, pids = [b for b, _ in served], [p.pid for _, p in served]
        figures.servers = [f"console {n + 1}" for n in range(len(bases))]
        sinks = bases
        if config.ingest_process:
            sink, ingest = servers.enter_context(serve_ingest(env, work))
            sinks, pids = [sink], [*pids, ingest.pid]
            figures.servers.append("ingest")
        progress(f"serving at {', '.join(bases)} (ingest: {', '.join(sinks)}); warming up")
        for n, base_url in enumerate(bases):
            warm_up(base_url, seeded.users[0][1], figures if n == 0 else None, config.baseline_runs)
        for sink in sinks:
            warm_ingest(sink, seeded.ingest_token)
        ready = [threading.Event() for _ in seeded.users]
        go, stop = threading.Event(), threading.Event()
        users = [
            User(bases[i % len(bases)], i, a, config, figures, lock)
            for i, a in enumerate(seeded.users)
        ]
        threads = [
            threading.Thread(target=u, args=(r, go, stop), daemon=True, name=u.username)
            for u, r in zip(users, ready, strict=True)
        ]
        for thread in threads:
            thread.start()
        for event in ready:
            event.wait(timeout=300)
        feed = Ingest(sinks, seeded.ingest_token, config.ingest_rate, prefix, figures)
        threads.append(threading.Thread(target=feed, args=(stop,), daemon=True, name="ingest"))
        threads[-1].start()
        progress(f"{config.users} users connected; measuring for {config.duration:.0f} s")
        since = datetime.now(UTC)
        cpu0 = [_cpu_seconds(pid) for pid in pids]
        mine0, wall0 = time.process_time(), time.perf_counter()
        go.set()
        stop.wait(config.duration)
        stop.set()
        for thread in threads:
            thread.join(timeout=120)
        figures.wall_s = time.perf_counter() - wall0
        figures.server_cpu = [_cpu_seconds(p) - c for p, c in zip(pids, cpu0, strict=True)]
        figures.server_rss_mb = [_rss_mb(pid) for pid in pids]
        figures.driver_cpu_s = time.process_time() - mine0
        figures.load_average = os.getloadavg()
        for thread in threads:
            if thread.is_alive():
                figures.errors.append(f"{thread.name} still running after the stop")
        servers.close()
        verify(env, seeded, users, prefix, figures, since)
    return figures
