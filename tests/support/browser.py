"""Browser plumbing: `streamlit run app.py` on a free port, and Debian's chromium via
Playwright's ``executable_path`` (no browser download).

Used by the browser tests (tests/test_browser*.py) and runnable by hand to look at the pages:

    python -m tests.support.browser --out /tmp/shots   # demo database, a screenshot of each screen
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from functools import partial
from pathlib import Path

import httpx

from tests.support.demo_db import DEMO_PASSWORD, seed_demo

ROOT = Path(__file__).resolve().parents[2]
STRONG_PASSWORD = "first-admin-pass-1"  # an admin password the password rules accept
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium_path() -> str | None:
    """Debian's chromium binary, if installed."""
    return shutil.which("chromium") or shutil.which("chromium-browser")


def require_browser() -> None:
    """Skip the calling test when Playwright or chromium is missing; in CI, fail it."""
    import pytest

    from tests.conftest import IN_CI

    reason = None
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        reason = "Playwright is not installed"
    if reason is None and chromium_path() is None:
        reason = "Debian chromium is not installed (apt-get install -y chromium)"
    if reason:
        if IN_CI:
            pytest.fail(f"{reason}; CI requires the browser tests.", pytrace=False)
        pytest.skip(reason)


def free_port() -> int:
    """An unused loopback TCP port."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def serve(env: dict[str, str], *, timeout: float = 60) -> Iterator[str]:
    """Run the app with these environment variables; yield its base URL."""
    with serve_process(env, timeout=timeout) as (url, _proc):
        yield url


@contextmanager
def serve_process(
    env: dict[str, str], *, timeout: float = 60
) -> Iterator[tuple[str, subprocess.Popen]]:
    """Run the app with these environment variables; yield its base URL and its process."""
    port = free_port()
    command = [sys.executable, "-m", "streamlit", "run", str(ROOT / "app.py")]
    options = ["--server.port", str(port), "--server.address", "127.0.0.1"]
    options += ["--server.headless", "true", "--browser.gatherUsageStats", "false"]

    def healthy(url: str) -> bool:
        with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as resp:
            return bool(resp.status == 200)

    log = Path(env.get("MODELDESK_DATA_DIR", "/tmp")) / "streamlit.log"
    with run_until_ready(
        [*command, *options],
        env,
        port=port,
        ready=healthy,
        log=log,
        name="streamlit",
        timeout=timeout,
    ) as served:
        yield served


@contextmanager
def run_until_ready(
    command: list[str],
    env: dict[str, str],
    *,
    port: int,
    ready: Callable[[str], bool],
    log: Path,
    name: str,
    timeout: float = 60,
) -> Iterator[tuple[str, subprocess.Popen]]:
    """Start a server process of this repository (its output into log); yield its base URL
    and process once ready(url) holds; stop it when done (SIGTERM, then SIGKILL after 10 s).
    OSError or an httpx error from ready means not yet."""
    out = open(log, "w")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        command,
        cwd=ROOT,
        env={**os.environ, **env, "PYTHONPATH": str(ROOT)},
        stdout=out,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            with suppress(OSError, httpx.HTTPError):
                if ready(url):
                    break
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{name} did not become ready (see {log})")
            time.sleep(0.25)
        yield url, proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        out.close()


def launch(playwright):  # noqa: ANN001, ANN201 - Playwright types are optional here
    """Debian chromium through Playwright."""
    return playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)


def wait_for_app(page) -> None:  # noqa: ANN001
    """Wait until Streamlit has finished running the script and rendered a page title."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    # The run a click asks for starts a round trip later: see it start first. A timeout means
    # no run was asked for, or it has already ended.
    with suppress(PlaywrightTimeout):
        page.wait_for_selector(
            '[data-testid="stApp"]:not([data-test-script-state="notRunning"])',
            state="attached",
            timeout=400,
        )
    page.wait_for_selector(
        '[data-testid="stApp"][data-test-connection-state="CONNECTED"]',
        state="attached",
        timeout=30_000,
    )
    page.wait_for_selector(
        '[data-testid="stApp"][data-test-script-state="notRunning"]',
        state="attached",
        timeout=30_000,
    )
    page.wait_for_selector('[data-testid="stMain"] h1', timeout=30_000)
    page.wait_for_function(
        "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=30_000
    )
    page.wait_for_timeout(200)  # elements finish mounting after the run ends


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


def sign_out(page) -> None:  # noqa: ANN001
    """Sign out through the sidebar button; wait for the sign-in form.

    Not for the "You are signed out" notice: the run after the sign-out (the cookie
    component's) replaces it within a second, sometimes before it is ever seen."""
    page.get_by_role("button", name="Sign out").click()
    page.get_by_role("button", name="Sign in").wait_for(timeout=30_000)
    page.get_by_role("button", name="Sign out").wait_for(state="detached", timeout=30_000)
    wait_for_app(page)


def open_page(page, title: str) -> None:  # noqa: ANN001
    """Open a console page through its sidebar link: a switch inside the same session,
    where a page.goto would start a new one (and depend on the cookie)."""
    nav = page.get_by_test_id("stSidebarNav")
    nav.get_by_role("link", name=title, exact=True).click()
    page.get_by_role("heading", name=title, level=1).first.wait_for(timeout=30_000)
    wait_for_app(page)


def choose(page, label: str, option: str, *, within=None) -> None:  # noqa: ANN001
    """Pick an option of a selectbox (a combobox whose list opens in a popover)."""
    (within or page).get_by_role("combobox", name=label, exact=True).click()
    page.get_by_role("option", name=option, exact=True).click()
    wait_for_app(page)


def options_of(page, label: str, *, within=None) -> list[str]:  # noqa: ANN001
    """The options a selectbox offers (opens its list, reads it, closes it)."""
    (within or page).get_by_role("combobox", name=label, exact=True).click()
    listed = page.get_by_role("option")
    listed.first.wait_for(timeout=10_000)
    texts = listed.all_inner_texts()
    page.keyboard.press("Escape")
    return texts


SHOT_SIZE = {"width": 1400, "height": 1600}


def screenshot(page, target: Path) -> Path:  # noqa: ANN001
    """A screenshot of the whole page, however long: the viewport grows to the content
    (Streamlit scrolls inside its own container, which a full-page shot does not unroll)."""
    page.wait_for_function(  # tables are drawn on a canvas a moment after they mount
        """() => [...document.querySelectorAll('[data-testid="stDataFrame"]')]
                 .every(e => e.querySelector('canvas table tr'))""",
        timeout=30_000,
    )
    height = page.evaluate("""() => Math.max(document.documentElement.scrollHeight,
        ...[...document.querySelectorAll('[data-testid="stMain"], '
            + '[data-testid="stAppViewContainer"], [data-testid="stMainBlockContainer"]')]
          .map(e => e.scrollHeight))""")
    size = page.viewport_size or SHOT_SIZE
    if height > size["height"]:
        page.set_viewport_size({"width": size["width"], "height": min(int(height) + 40, 6000)})
        page.wait_for_timeout(300)
    target.parent.mkdir(parents=True, exist_ok=True)
    page.mouse.move(size["width"] - 10, 10)  # no hover effects, the same in every shot
    page.wait_for_timeout(100)
    page.screenshot(path=str(target), full_page=True)
    page.set_viewport_size(size)
    return target


def table_row(page, text: str):  # noqa: ANN001, ANN201
    """A table row holding text. st.dataframe draws on a canvas; the rows live in the
    canvas's accessible (never visible) table, so role locators do not see them."""
    return page.locator('[data-testid="stDataFrame"] tr[role="row"]', has_text=text).first


def take_screenshots(
    browser,
    base_url: str,
    out: Path,  # noqa: ANN001
    seed: Callable[[], None] | None = None,
) -> list[Path]:
    """Screenshot the console into out/<slug>.png: the first-admin screen (when the
    database has no accounts yet; seed then fills it), the sign-in screen, every page of
    PAGES as alice (admin), a provider's edit form, the Models page's "What users see"
    view, the Explorer over the whole catalog (explorer-*.png: its charts and other tabs),
    and the pages bob (member) can open, as <slug>-member.png."""
    from pages import _ui

    context = browser.new_context(viewport=SHOT_SIZE)
    page = context.new_page()
    shots: list[Path] = []
    page.goto(base_url)
    wait_for_app(page)
    if page.get_by_role("heading", name="Welcome to Modeldesk").is_visible():
        shots.append(screenshot(page, out / "setup.png"))
        if seed is not None:
            seed()
        page.reload()
        wait_for_app(page)
    page.get_by_role("button", name="Sign in").wait_for(timeout=30_000)
    shots.append(screenshot(page, out / "signin.png"))
    sign_in(page, base_url, "alice", DEMO_PASSWORD)
    for spec in _ui.PAGES:
        open_page(page, spec.title)
        shots.append(screenshot(page, out / f"{Path(spec.path).stem}.png"))
    open_page(page, "Providers")
    choose(page, "Selected provider", "Production OpenAI")
    page.get_by_role("button", name="Save changes").wait_for(timeout=30_000)
    shots.append(screenshot(page, out / "providers-edit.png"))
    open_page(page, "Models")
    page.get_by_role("radio", name="What users see").click()
    page.get_by_text("model selector").first.wait_for(timeout=30_000)
    wait_for_app(page)
    shots.append(screenshot(page, out / "models-what-users-see.png"))
    shots += explorer_screenshots(page, out)
    sign_out(page)
    sign_in(page, base_url, "bob", DEMO_PASSWORD)
    for spec in _ui.PAGES:
        if not spec.admin_only:
            open_page(page, spec.title)
            shots.append(screenshot(page, out / f"{Path(spec.path).stem}-member.png"))
    context.close()
    return shots


EXPLORER_TABS = {
    "Compare": "explorer-compare.png",
    "Workload": "explorer-workload.png",
    "Best model": "explorer-best.png",
}


PLOTTED = """() => [...document.querySelectorAll('.js-plotly-plot')].map(e =>
    (e._fullData || []).reduce((n, t) => n + (t._length || (t.z ? t.z.length : 0) || 0), 0))"""


def plotted(page) -> list[int]:  # noqa: ANN001
    """How many data points (or heatmap rows) each plotly chart on the page has drawn."""
    return page.evaluate(PLOTTED)


def wait_for_charts(page, count: int = 1) -> None:  # noqa: ANN001
    """Wait until count plotly charts have drawn data (points, bars or heatmap rows)."""
    page.wait_for_function(
        f"() => ({PLOTTED})().filter(n => n > 0).length >= {count}", timeout=30_000
    )
    page.wait_for_timeout(300)  # WebGL points are drawn a frame after the plot mounts


def explorer_screenshots(page, out: Path) -> list[Path]:  # noqa: ANN001
    """The Explorer over the whole catalog: its charts, then each other tab."""
    open_page(page, "Explorer")
    page.get_by_role("radio", name="Whole catalog").click()  # segmented control buttons
    wait_for_app(page)
    wait_for_charts(page, 3)
    shots = [screenshot(page, out / "explorer-catalog.png")]
    for tab, name in EXPLORER_TABS.items():
        page.get_by_role("tab", name=tab).click()
        wait_for_app(page)
        if tab == "Workload":
            wait_for_charts(page, 1)
        shots.append(screenshot(page, out / name))
    page.get_by_role("tab", name="Charts").click()
    wait_for_app(page)
    return shots


def demo_env(work: Path) -> tuple[str, dict[str, str]]:
    """The database URL and the app's environment for a throwaway folder."""
    url = f"sqlite:///{work / 'demo.db'}"
    return url, {
        "MODELDESK_DATABASE_URL": url,
        "MODELDESK_SECRET_KEY": "test-secret-key-for-modeldesk-0123456789",
        "MODELDESK_DATA_DIR": str(work),
        "MODELDESK_ENV": "test",
        "MODELDESK_DISABLE_SYSTEM_PROVIDERS": "all",
    }


def main() -> int:
    """Serve the app over a new demo database and screenshot every screen into --out."""
    import argparse
    import tempfile

    from playwright.sync_api import sync_playwright

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    parser.add_argument(
        "--user",
        help="ignored: both alice's (admin) and bob's (member) "
        "pages are always taken; bob's are named <page>-member.png",
    )
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="modeldesk-shots-"))
    url, env = demo_env(work)
    with serve(env) as base, sync_playwright() as pw:
        browser = launch(pw)
        seed = partial(seed_demo, url, work, organisation=True)
        for path in take_screenshots(browser, base, args.out, seed=seed):
            print(path)
        browser.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
