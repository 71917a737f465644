"""Browser flows about trust, each on a server of its own: the sign-in address comes from a
trusted proxy only, and members' text loads nothing in an admin's browser.

Skipped locally when chromium or Playwright is missing; in CI (CI=true) that fails the run.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.support.browser import (
    choose,
    demo_env,
    open_page,
    serve,
    sign_in,
    wait_for_app,
    wait_for_charts,
)

pytestmark = pytest.mark.browser


def test_sign_in_address_comes_from_a_trusted_proxy_only(
    browser,
    sqlite_template: Path,  # noqa: ANN001
    tmp_path: Path,
) -> None:
    """Behind a trusted loopback proxy the throttle counts against the X-Forwarded-For
    client (right-most untrusted hop); a proxy that names nobody leaves the address
    unknown, which no per-address bucket counts."""
    from sqlalchemy import select

    from core.accounts import auth
    from core.startup import open_runtime
    from core.store.tables import LoginAttempt
    from tests.conftest import make_settings
    from tests.support.factories import user

    work = tmp_path / "proxy"
    work.mkdir()
    url, env = demo_env(work)
    shutil.copy(sqlite_template, work / "demo.db")
    rt = open_runtime(make_settings(url, work))
    with rt.sessions.begin() as s:
        user(s, "alice", "admin")
    # The server's own X-Forwarded-For handling (uvicorn's, for loopback) is off, as in
    # the Docker image: the app sees the proxy's address and decides itself.
    env.update(MODELDESK_TRUSTED_PROXIES="127.0.0.1, ::1", FORWARDED_ALLOW_IPS="")
    sent = {
        "behind the proxy": {"X-Forwarded-For": "198.51.100.1, 203.0.113.9"},
        "from the proxy itself": {},
    }
    with serve(env) as base:
        for headers in sent.values():
            context = browser.new_context(extra_http_headers=headers)
            page = context.new_page()
            page.goto(base)
            wait_for_app(page)
            page.get_by_role("textbox", name="Username").fill("alice")
            page.get_by_role("textbox", name="Password").fill("wrong-password-1")
            page.get_by_role("button", name="Sign in").click()
            page.get_by_text(auth.FAILED).wait_for(timeout=30_000)
            context.close()
    with rt.sessions() as s:
        keys = [a.client_key for a in s.scalars(select(LoginAttempt).order_by(LoginAttempt.at))]
    rt.dispose()
    assert keys == [auth.client_key("203.0.113.9"), auth.UNKNOWN_CLIENT]


IMAGE_HOST = "127.0.0.2"
HREFS = """() => [...document.querySelectorAll('a')].map(a =>
    a.getAttribute('href') || a.getAttribute('xlink:href') || '')"""


def test_members_text_loads_nothing_in_the_admins_browser(
    browser,
    sqlite_template: Path,  # noqa: ANN001
    tmp_path: Path,
) -> None:
    """A member's provider and model names, model id, a base URL with a backtick, his
    display name and a provider's error text, all holding an image, a javascript: link and
    an <img onerror>, on every page the admin opens (the provider selected, "Show all
    records", the deprecation warning, every Explorer tab, Health, the member's account):
    no request reaches the image's server, no link points at it or at javascript:, no
    dialog fires, and the text is shown as typed."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from core.startup import open_runtime
    from tests.conftest import make_settings
    from tests.support import hostile
    from tests.test_page_model_ratings import a_deprecated_model

    hits: list[str] = []

    class Counter(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the http.server interface
            hits.append(self.path)
            self.send_response(404)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    # Its own loopback address, so a link to it is told apart from the console's links.
    images = ThreadingHTTPServer((IMAGE_HOST, 0), Counter)
    threading.Thread(target=images.serve_forever, daemon=True).start()
    host = f"{IMAGE_HOST}:{images.server_address[1]}"
    work = tmp_path / "hostile"
    work.mkdir()
    url, env = demo_env(work)
    shutil.copy(sqlite_template, work / "demo.db")
    rt = open_runtime(make_settings(url, work))
    names = hostile.seed(rt, host, a_deprecated_model())
    rt.dispose()
    try:
        with serve(env) as base:
            context = browser.new_context(viewport={"width": 1400, "height": 1600})
            page = context.new_page()
            dialogs: list[str] = []
            page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
            sent: list[str] = []
            page.on("request", lambda r: sent.append(r.url) if host in r.url else None)

            def check(where: str) -> None:
                page.wait_for_timeout(500)  # an image would be fetched as it mounts
                bad = [
                    h
                    for h in page.evaluate(HREFS)  # no link to the member's host at all
                    if h.strip().lower().startswith("javascript") or IMAGE_HOST in h
                ]
                assert not bad, (where, bad)
                assert not hits and not sent, (where, hits, sent)
                assert not dialogs, (where, dialogs)

            def main_text() -> str:
                return page.get_by_test_id("stMain").inner_text().replace("\u2060", "")

            sign_in(page, base, "alice", hostile.PASSWORD)
            open_page(page, "Providers")
            check("providers")
            page.get_by_text("Show all records").click()
            wait_for_app(page)
            check("providers, every record")
            choose(page, "Selected provider", names["provider"])
            page.get_by_role("button", name="Save changes").wait_for(timeout=30_000)
            check("the member's provider selected")
            assert names["provider"] in main_text()  # shown as typed
            assert page.locator("code", has_text=hostile.base_url(host)).count() == 1

            open_page(page, "Models")
            page.get_by_text("is marked deprecated").first.wait_for(timeout=30_000)
            check("models and the deprecation warning")
            page.get_by_text("Show all records").click()
            wait_for_app(page)
            check("models, every record")
            assert names["old"] in main_text()

            open_page(page, "Explorer")
            wait_for_charts(page, 3)
            check("explorer charts")
            for name in ("Models", "Compare", "Workload", "Best model"):
                page.get_by_role("tab", name=name).click()
                wait_for_app(page)
                check(f"explorer {name}")
                if name == "Compare":  # st.table: cells are Markdown
                    assert names["model"] in main_text()

            open_page(page, "Health")
            wait_for_charts(page, 1)
            check("health")
            open_page(page, "Access & audit")
            check("access")
            open_page(page, "Users")
            choose(page, "Account", f"bob — {names['display']} (member)")
            check("users, the member's account")
            assert names["display"] in main_text()
            open_page(page, "My account")
            check("my account")
            context.close()
    finally:
        images.shutdown()
        images.server_close()
