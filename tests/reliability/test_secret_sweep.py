"""Secret sweep: a canary API key and a canary secret config value, planted through the UI,
appear nowhere after a whole admin session.

One `streamlit run` over a SQLite file in a tmp folder (its output in streamlit.log there),
chromium through Playwright recording every websocket frame and HTTP response body. The
admin adds two providers through the Providers form, both pointing at fake servers on
loopback that answer 401 quoting every credential they were sent (echo_key), so the key
and the session token come back inside the provider's own error text:

- "Canary Anthropic": the canary API key, and a secret-looking key of the extra JSON holding
  the config canary (first as JSON that cannot be read, which the form refuses);
- "Canary Bedrock": the canary secret access key (a field the catalog marks secret) and a
  session token that starts with it (sent on the wire, so echoed); first without a name,
  which the form refuses while keeping the secrets server-side.

Then: "Test connection" on both forms, every page, a failed health check (Health's "Check
now" and `modeldesk check`), the exports (audit CSV, Costs drill-down CSV,
`modeldesk export`), the audit review, usage ingest (a CSV upload on Costs,
an ingest token made there and an OTLP span posted to /v1/traces with it), backups before
and after a key rotation (`modeldesk rotate-keys`). Searched: every file in the folder
(database, -wal, the server log, exports, backups, downloads), every CLI output, each
page's HTML, every websocket frame, every HTTP response body and the health history rows;
each canary as is, base64, hex, URL-encoded, JSON-escaped and UTF-16, and any 12 characters
of it as is (a partial echo). The browser may send a typed canary in its submits, never
after them; the ingest token, shown once, is in no file and no CLI output (only its hash is
stored). A positive control proves the search finds what it looks for.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from tests.conftest import TEST_SECRET
from tests.support.browser import (
    ROOT,
    choose,
    launch,
    open_page,
    require_browser,
    serve,
    sign_in,
    wait_for_app,
)
from tests.support.leaks import Haystack, Wire, needles

pytestmark = pytest.mark.browser
ADMIN, PASSWORD = "sweeper", "sweep-admin-pass-1"
NEW_SECRET = "rotated-secret-key-for-modeldesk-9876543210"
# Random but for a prefix, so that any 12 characters of one are a leak of it: a provider
# quoting a key's first 16 characters quotes 13 random ones.
KEY = f"sk-ant-{uuid.uuid4().hex}"
CONFIG = uuid.uuid4().hex  # the secret access key
# Both hold CONFIG: a hit on either is a hit on CONFIG.
SESSION_TOKEN = CONFIG + "-session"
EXTRA = CONFIG + "-extra"  # a secret-looking key of the Anthropic provider's extra JSON


@dataclass
class Session:
    """What the sweep collected from one browser session."""

    page: object
    base: str
    work: Path
    env: dict[str, str]
    wire: Wire = field(default_factory=Wire)
    html: list[tuple[str, str]] = field(default_factory=list)
    bodies: list[tuple[str, bytes]] = field(default_factory=list)
    pending: list[object] = field(default_factory=list)
    downloads: list[Path] = field(default_factory=list)
    cli: list[tuple[str, str]] = field(default_factory=list)

    def snapshot(self, where: str) -> None:
        """The page's HTML now, and the bodies of the responses since the last snapshot."""
        self.html.append((where, self.page.content()))
        for response in self.pending:
            try:
                self.bodies.append((response.url, response.body()))
            except Exception:  # noqa: BLE001 - redirects, websockets and evicted bodies have none
                continue
        self.pending.clear()

    def download(self, button, name: str) -> None:  # noqa: ANN001
        """Click a download button; keep the file it gives."""
        with self.page.expect_download(timeout=30_000) as info:
            button.click()
        target = self.work / "downloads" / name
        target.parent.mkdir(exist_ok=True)
        info.value.save_as(target)
        self.downloads.append(target)

    def modeldesk(self, *args: str, **extra_env: str) -> str:
        """Run the CLI against the app's database; its stdout and stderr (kept)."""
        done = subprocess.run(
            [sys.executable, "-m", "core.cli", *args],
            cwd=ROOT,
            env={**os.environ, **self.env, "PYTHONPATH": str(ROOT), **extra_env},
            capture_output=True,
            text=True,
            timeout=120,
        )
        out = done.stdout + done.stderr
        self.cli.append((" ".join(args[:2]), out))
        assert done.returncode == 0, f"modeldesk {' '.join(args)} failed: {out}"
        return out


@pytest.fixture
def session(sqlite_template: Path, tmp_path: Path) -> Iterator[tuple[Session, list]]:
    """The app over a fresh SQLite file (an admin from the environment), two echoing fakes."""
    from playwright.sync_api import sync_playwright

    from tests.fakes import FakeProvider

    require_browser()
    work = tmp_path / "sweep"
    work.mkdir()
    shutil.copy(sqlite_template, work / "app.db")
    env = {
        "MODELDESK_DATABASE_URL": f"sqlite:///{work / 'app.db'}",
        "MODELDESK_SECRET_KEY": TEST_SECRET,
        "MODELDESK_DATA_DIR": str(work),
        "MODELDESK_DISABLE_SYSTEM_PROVIDERS": "all",
        "MODELDESK_ENV": "test",
        "MODELDESK_ALLOWED_NETWORKS": "127.0.0.0/8",
        "MODELDESK_ADMIN_USERNAME": ADMIN,
        "MODELDESK_ADMIN_PASSWORD": PASSWORD,
        "MODELDESK_HEALTH_DEADLINE": "5",
        "MODELDESK_DEBUG": "1",  # the CLI's tracebacks too, should one happen
    }
    with (
        FakeProvider("anthropic", key=KEY, mode="echo_key") as anthropic,
        FakeProvider("bedrock", mode="echo_key") as bedrock,
        serve(env) as base,
        sync_playwright() as pw,
    ):
        browser = launch(pw)
        context = browser.new_context(viewport={"width": 1400, "height": 1400})
        page = context.new_page()
        sweep = Session(page=page, base=base, work=work, env=env)
        sweep.wire.attach(page)
        page.on("response", lambda r: sweep.pending.append(r))
        yield sweep, [anthropic, bedrock]
        context.close()
        browser.close()


def _fill(page, fields: dict[str, str]) -> None:  # noqa: ANN001
    form = page.get_by_test_id("stForm").first
    for label, value in fields.items():
        form.get_by_role("textbox", name=label, exact=True).fill(value)


def _add_provider(
    s: Session, type_label: str, name: str, refused: dict[str, str], rest: dict[str, str]
) -> None:
    """On the Providers add form: a submit the form refuses (the secrets typed into it are
    kept server-side), then the rest of the fields, "Test connection" (refused: the fake's
    401) and "Add provider"."""
    page = s.page
    add_tab = page.get_by_role("tab", name="Add provider")
    if add_tab.is_visible():
        add_tab.click()
        wait_for_app(page)
    choose(page, "Provider type", type_label)
    _fill(page, refused)
    page.get_by_role("button", name="Add provider").click()
    # The run after the submit blanks the secret inputs (what was typed is held server-side)
    page.get_by_text("entered, kept (not shown)").first.wait_for(timeout=30_000)
    wait_for_app(page)
    page.get_by_test_id("stAlert").first.wait_for(timeout=30_000)
    s.snapshot(f"providers: {name} refused")
    assert not page.get_by_text(f"Provider '{name}' added").count(), "not refused"
    _fill(page, rest)
    page.get_by_role("button", name="Test connection").click()
    wait_for_app(page)
    page.get_by_text("refused (HTTP 401)").first.wait_for(timeout=30_000)
    s.snapshot(f"providers: test connection of {name}")
    page.get_by_role("button", name="Add provider").click()
    page.get_by_text(f"Provider '{name}' added").first.wait_for(timeout=30_000)
    wait_for_app(page)
    s.snapshot(f"providers: {name} added")


def _plant(s: Session, anthropic, bedrock) -> None:  # noqa: ANN001
    open_page(s.page, "Providers")
    extra = {"organization": "org-sweep", "client_secret": EXTRA}  # a secret-looking key
    _add_provider(
        s,
        "Anthropic · anthropic",
        "Canary Anthropic",
        # JSON that cannot be read and names a secret-looking key: cleared, not shown again
        {
            "Name *": "Canary Anthropic",
            "API key *": KEY,
            "Advanced: extra JSON": json.dumps(extra)[:-1],
        },
        {"Base URL": anthropic.base_url, "Advanced: extra JSON": json.dumps(extra)},
    )
    _add_provider(
        s,
        "Amazon Bedrock · amazon_bedrock",
        "Canary Bedrock",
        # no name: refused, the secret fields kept
        {"Secret access key": CONFIG, "Session token": SESSION_TOKEN},
        {
            "Name *": "Canary Bedrock",
            "Base URL": bedrock.base_url,
            "Region *": "us-east-1",
            "Access key ID": "AKIASWEEP0000000000",
        },
    )


def _every_page(s: Session) -> None:
    from pages import _ui

    for spec in _ui.PAGES:
        open_page(s.page, spec.title)
        s.snapshot(spec.title)


def _health(s: Session) -> None:
    page = s.page
    open_page(page, "Health")
    page.get_by_role("button", name="Check now").click()
    page.get_by_text("Checked 2 provider(s)").wait_for(timeout=60_000)
    wait_for_app(page)
    s.snapshot("health: after Check now")
    out = s.modeldesk("check")
    assert "Canary Anthropic" in out and "Canary Bedrock" in out, out


def _ingest(s: Session) -> str:
    """A usage CSV uploaded on Costs, an ingest token made there, an OTLP span posted with it;
    returns the token."""
    from tests.test_usage_otlp import SPEC, line, span

    page = s.page
    open_page(page, "Costs")
    at = (datetime.now(UTC) - timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%SZ")
    upload = (
        "timestamp,provider,model,user,input_tokens,output_tokens,id\n"
        f"{at},Canary Anthropic,claude-sonnet-4-5,{ADMIN},1000000,0,sweep-upload-1\n"
    )
    page.get_by_text("Import usage").click()
    page.locator("input[type=file]").set_input_files(
        files=[{"name": "usage.csv", "mimeType": "text/csv", "buffer": upload.encode()}]
    )
    page.get_by_text("usage.csv").wait_for(timeout=30_000)
    # The upload's own rerun ends before the click, or the click can land in it and be lost.
    wait_for_app(page)
    page.get_by_role("button", name="Import", exact=True).click()
    wait_for_app(page)
    page.get_by_text("1 line(s)").wait_for(state="attached", timeout=90_000)
    wait_for_app(page)
    s.snapshot("costs: usage imported")
    page.get_by_text("Ingest tokens", exact=True).click()
    page.get_by_role("textbox", name="Source name").fill("sweep-collector")
    booked = page.get_by_role("textbox", name="Book every span to provider (optional)")
    booked.fill("Canary Anthropic")
    page.get_by_role("button", name="Create token").click()
    code = page.locator("code", has_text="mdk_").first
    code.wait_for(timeout=30_000)
    token = code.inner_text().strip()
    wait_for_app(page)
    response = httpx.post(
        f"{s.base}/v1/traces",
        content=line(span({**SPEC, "gen_ai.response.id": "sweep-1"})),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    return token


def _exports(s: Session) -> None:
    page = s.page
    open_page(page, "Costs")  # a fresh run: the token's one showing is gone
    table = page.get_by_test_id("stDataFrame").first
    table.wait_for(timeout=30_000)
    box = table.bounding_box()
    assert box is not None
    page.mouse.click(box["x"] + 18, box["y"] + 35 + 17)  # the first row's selection box
    page.get_by_role("heading", name="Events").wait_for(timeout=30_000)
    wait_for_app(page)
    s.snapshot("costs: drill-down")
    s.download(page.get_by_role("button", name="Download these rows (CSV)"), "events.csv")

    open_page(page, "Access & audit")
    page.get_by_role("tab", name="Audit log").click()  # the audit review
    wait_for_app(page)
    s.snapshot("access: audit log")
    audit = page.get_by_role("button", name="Download CSV")
    s.download(audit, "audit.csv")
    assert b"Canary Anthropic" in s.downloads[-1].read_bytes(), "the audit export is empty"

    s.modeldesk("export", "--output", str(s.work / "export.yaml"))


def _backups_and_rotation(s: Session) -> None:
    s.modeldesk("backup", str(s.work / "before-rotation.db"))
    rotated = {"MODELDESK_SECRET_KEY": NEW_SECRET, "MODELDESK_RETIRED_SECRET_KEYS": TEST_SECRET}
    out = s.modeldesk("rotate-keys", **rotated)
    done = re.search(r"Re-encrypted (\d+) secret", out)
    assert done and int(done.group(1)) >= 2, out  # the key and the Bedrock config at least
    s.modeldesk("backup", str(s.work / "after-rotation.db"), **rotated)
    s.modeldesk("providers", "list", **rotated)


def _health_rows(s: Session) -> list[tuple[str, str]]:
    """Every stored health result and state, as text."""
    from core.startup import open_runtime
    from core.store.tables import HealthCheck, HealthState
    from tests.conftest import make_settings

    rt = open_runtime(
        make_settings(
            s.env["MODELDESK_DATABASE_URL"],
            s.work,
            MODELDESK_SECRET_KEY=NEW_SECRET,
            MODELDESK_RETIRED_SECRET_KEYS=TEST_SECRET,
        )
    )
    with rt.sessions() as db:
        checks = [repr(vars(c)) for c in db.scalars(select(HealthCheck))]
        states = [repr(vars(h)) for h in db.scalars(select(HealthState))]
    rt.dispose()
    assert any("unauthorized" in c for c in checks), checks  # the checks did fail
    return [(f"check {i}", c) for i, c in enumerate(checks)] + [
        (f"state {i}", h) for i, h in enumerate(states)
    ]


def test_no_canary_anywhere_after_a_whole_session(session) -> None:  # noqa: ANN001
    s, (anthropic, bedrock) = session
    sign_in(s.page, s.base, ADMIN, PASSWORD)
    _plant(s, anthropic, bedrock)
    planted = len(s.wire.sent)
    _health(s)
    token = _ingest(s)
    _every_page(s)
    _exports(s)
    _backups_and_rotation(s)

    # The fakes did receive both canaries, so a redaction had something to redact.
    sent = b"".join(
        repr(r.headers).encode() + r.body for r in (*anthropic.requests, *bedrock.requests)
    )
    assert KEY.encode() in sent and SESSION_TOKEN.encode() in sent

    hay = Haystack()
    hay.add_files("file", sorted(p for p in s.work.rglob("*") if p.is_file()))
    for name, out in s.cli:
        hay.add("cli output", name, out)
    for where, html in s.html:
        hay.add("page html", where, html)
    for i, frame in enumerate(s.wire.received):
        hay.add("frame received", str(i), frame)
    for url, body in s.bodies:
        hay.add("http response", url, body)
    for name, row in _health_rows(s):
        hay.add("health history", name, row)
    kinds = {k: len(v) for k, v in hay.places.items()}
    assert kinds["file"] >= 8 and kinds["page html"] >= 15 and kinds["frame received"] > 50, kinds
    assert any(name == "streamlit.log" for name, _ in hay.places["file"])
    for kind in ("file", "cli output", "page html", "frame received", "health history"):
        public = Haystack(places={kind: hay.places[kind]})  # the search sees what is there
        assert public.find("Canary Bedrock"), f"no provider name in any {kind}"
    print(f"secret sweep: {hay.count()} places searched: {kinds}")

    leaks = hay.find(KEY, partial=True) + hay.find(CONFIG, partial=True)
    where = sorted({hit.split(" (")[0] for hit in leaks})
    assert not leaks, "\n".join([*where, *leaks[:3]])
    # The browser sends a typed secret in its submits; once they are done, never again.
    typed = [i for i, f in enumerate(s.wire.sent) if KEY.encode() in f or CONFIG.encode() in f]
    assert typed, "the typed canaries were not captured"
    assert max(typed) < planted, f"the browser still sent a canary in frame {max(typed)}"
    # The ingest token is shown once (page, frames) but stored only as a hash.
    stored = Haystack(places={k: hay.places[k] for k in ("file", "cli output")})
    assert not stored.find(token), "\n".join(stored.find(token))


def test_the_search_finds_a_canary_wherever_it_is_written(tmp_path: Path) -> None:
    """A positive control: the same search finds a canary written in each of its forms."""
    canary = f"sk-{uuid.uuid4().hex}-canary"
    hay = Haystack()
    forms = needles(canary)
    for name, form in forms.items():
        (tmp_path / f"leak-{name}.txt").write_bytes(b"prefix " + form + b" suffix")
    for pad in range(3):  # base64 of text that holds the canary at any offset
        blob = base64.b64encode(b"x" * pad + b'{"key": "' + canary.encode() + b'"}')
        (tmp_path / f"leak-b64-{pad}.txt").write_bytes(blob)
    (tmp_path / "clean.txt").write_bytes(b"sk-" + b"0" * 32 + b"-canary")
    (tmp_path / "prefix.txt").write_bytes(f"(starts {canary[:16]}...)".encode())
    hay.add_files("file", sorted(tmp_path.iterdir()))
    assert not any("prefix.txt" in h for h in hay.find(canary))
    assert any("prefix.txt" in h for h in hay.find(canary, partial=True))
    assert not any("clean.txt" in h for h in hay.find(canary, partial=True))
    hits = hay.find(canary)
    for name in forms:
        assert any(f"leak-{name}.txt" in h for h in hits), name
    for pad in range(3):
        assert any(f"leak-b64-{pad}.txt" in h for h in hits), pad
    assert not any("clean.txt" in h for h in hits)
    assert {"plain", "hex", "utf-16"} <= set(forms) and len(forms) >= 7
