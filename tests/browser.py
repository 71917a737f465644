"""Browser plumbing: `streamlit run app.py` on a free port, and Debian's chromium via
Playwright's ``executable_path`` (no browser download).

Used by the browser tests (``browser_app`` fixture) and runnable by hand to look at a page:

    python -m tests.browser --out /tmp/shots   # demo database, a screenshot of each page
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]


def chromium_path() -> str | None:
    """Debian's chromium binary, if installed."""
    return shutil.which("chromium") or shutil.which("chromium-browser")


def free_port() -> int:
    """An unused loopback TCP port."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def serve(env: dict[str, str], *, timeout: float = 60) -> Iterator[str]:
    """Run the app with these environment variables; yield its base URL."""
    port = free_port()
    full_env = {**os.environ, **env, "PYTHONPATH": str(ROOT)}
    log = open(Path(env.get("MODELDESK_DATA_DIR", "/tmp")) / "streamlit.log", "w")  # noqa: SIM115
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(ROOT / "app.py"),
         "--server.port", str(port), "--server.address", "127.0.0.1",
         "--server.headless", "true", "--browser.gatherUsageStats", "false"],
        cwd=ROOT, env=full_env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as resp:
                    if resp.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"streamlit did not become healthy (see {log.name})")
            time.sleep(0.25)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def launch(playwright):  # noqa: ANN001, ANN201 - Playwright types are optional here
    """Debian chromium through Playwright."""
    return playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)


def wait_for_app(page) -> None:  # noqa: ANN001
    """Wait until Streamlit has rendered a page title and finished running the script."""
    page.wait_for_selector('[data-testid="stApp"]', timeout=30_000)
    page.wait_for_selector('[data-testid="stMain"] h1', timeout=30_000)
    page.wait_for_function(
        "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=30_000)
    page.wait_for_timeout(500)


def sign_in(page, base_url: str, username: str, password: str) -> None:  # noqa: ANN001
    """Sign in through the form."""
    page.goto(base_url)
    wait_for_app(page)
    page.get_by_role("textbox", name="Username").fill(username)
    page.get_by_role("textbox", name="Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("button", name="Sign out").wait_for(timeout=30_000)
    wait_for_app(page)
    # The sign-in cookie is written by a component in the run after sign-in; wait for it
    # so a navigation right away does not land on the sign-in form.
    for _ in range(100):
        if any(c["name"] == "modeldesk_session" for c in page.context.cookies()):
            break
        page.wait_for_timeout(100)


DEMO_PASSWORD = "demo-password-1"


def seed_demo(url: str, data_dir: Path) -> None:
    """A small realistic database: an admin, a member, a few providers and models."""
    from core import access, llm_models, providers, users
    from core.startup import open_runtime
    from tests.conftest import make_settings

    rt = open_runtime(make_settings(url, data_dir))
    with rt.sessions.begin() as s:
        admin = users.create_user(s, username="alice", password=DEMO_PASSWORD, role="admin",
                                  display_name="Alice Admin")
        bob = users.create_user(s, username="bob", password=DEMO_PASSWORD, display_name="Bob")
        s.flush()
        openai = providers.create_provider(s, actor=admin, name="Production OpenAI",
                                           provider_type="openai", api_key="sk-demo-0000wxyz",
                                           instance_wide=True)
        azure = providers.create_provider(
            s, actor=admin, name="Azure EU", provider_type="azure_openai",
            api_key="az-demo-00001234", provider_config={
                "resource_name": "acme-eu", "deployment_id": "gpt-4o",
                "api_version": "2025-04-01-preview"})
        providers.create_provider(s, actor=bob, name="Bob's Groq", provider_type="groq",
                                  api_key="gsk-demo-0000abcd")
        for prov, mid, name, price in ((openai, "gpt-4o", "GPT-4o", ("2.5", "10")),
                                       (openai, "text-embedding-3-small", "Embeddings small",
                                        ("0.02", "0")),
                                       (azure, "gpt-4o", "GPT-4o (Azure EU)", ("2.5", "10"))):
            model = llm_models.create_model(
                s, actor=admin, provider_id=prov.id, model_id=mid, name=name,
                model_type="embedding" if "embedding" in mid else "inference",
                instance_wide=prov is openai, input_cost_per_million=price[0],
                output_cost_per_million=price[1], context_window=128000)
            if prov is azure:
                access.grant(s, actor=admin, record=model, user=bob)
        access.grant(s, actor=admin, record=azure, user=bob)
    rt.dispose()


def main() -> int:
    """Seed a demo database, serve the app, sign in as alice and screenshot every page."""
    import argparse
    import tempfile

    from playwright.sync_api import sync_playwright

    from pages import _ui

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    parser.add_argument("--user", default="alice")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="modeldesk-shots-"))
    url = f"sqlite:///{work / 'demo.db'}"
    seed_demo(url, work)
    env = {"MODELDESK_DATABASE_URL": url, "MODELDESK_SECRET_KEY": "test-secret-key-for-"
           "modeldesk-0123456789", "MODELDESK_DATA_DIR": str(work),
           "MODELDESK_DISABLE_SYSTEM_PROVIDERS": "all"}
    with serve(env) as base, sync_playwright() as pw:
        browser = launch(pw)
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        sign_in(page, base, args.user, DEMO_PASSWORD)
        for index, spec in enumerate(_ui.PAGES):
            slug = Path(spec.path).stem
            page.goto(base if index == 0 else f"{base}/{slug}")  # the first page lives at /
            wait_for_app(page)
            target = args.out / f"{slug}.png"
            page.screenshot(path=str(target), full_page=True)
            print(target)
        browser.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
