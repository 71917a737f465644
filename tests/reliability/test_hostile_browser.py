"""Hostile input in a real browser (Playwright + Debian chromium, tests/support/browser.py):
a member's markup in provider, model and display names and in a health error
(tests/support/hostile.py ``seed``), plus usage whose model, user and tags hold every payload
(imported as the Costs page imports, and one line pasted through the page), a budget, an
ingest token and URL query parameters. Every page of the console is opened as the admin:
no dialog fires, no link is live (no ``javascript:`` href, nothing pointing at the image's
host), no request leaves for ``http://127.0.0.1:9/x.png``, no element carries an event
handler attribute, and the text is shown as typed.

Skipped locally without chromium or Playwright; in CI (CI=true) that fails the run.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from urllib.parse import quote

import pytest

from tests.support import hostile
from tests.support.browser import (
    demo_env,
    launch,
    open_page,
    serve,
    sign_in,
    wait_for_app,
)

pytestmark = pytest.mark.browser
IMAGE = "127.0.0.1:9"  # the payloads' image: nothing listens there, a request is the failure
HREFS = """() => [...document.querySelectorAll('a')].map(a =>
    a.getAttribute('href') || a.getAttribute('xlink:href') || '')"""
HANDLERS = """() => [...document.querySelectorAll('*')].flatMap(e =>
    [...e.attributes].filter(a => a.name.startsWith('on')).map(a => e.tagName + ' ' + a.name))"""
IMAGES = """() => [...document.querySelectorAll('img')].map(i => i.getAttribute('src') || '')"""


def _usage(names: dict[str, str]) -> str:
    """JSONL lines: each payload (that usage takes) as a model, a user and a tag value."""
    lines = []
    for label, value in hostile.PAYLOADS.items():
        if label in hostile.INVISIBLE or label == "10k":
            continue  # refused at ingest (test_hostile_input covers it)
        for field, extra in (
            ("model", {"model": value}),
            ("user", {"user": value}),
            ("tag", {"tags": {"team": value, "note": value}}),
        ):
            lines.append(
                json.dumps(
                    {
                        "timestamp": "2026-12-01T10:00:00Z",
                        "provider": names["provider"],
                        "model": "gpt-4o",
                        "input_tokens": 1_000_000,
                        "output_tokens": 1_000,
                        "id": f"hostile-{label}-{field}",
                        **extra,
                    }
                )
            )
    return "\n".join(lines)


def _seed(url: str, work: Path) -> dict[str, str]:
    from datetime import UTC, datetime

    from core.accounts import users
    from core.startup import open_runtime
    from core.usage import budgets, formats, ingest_tokens
    from tests.conftest import make_settings
    from tests.test_page_model_ratings import a_deprecated_model

    rt = open_runtime(make_settings(url, work))
    names = hostile.seed(rt, IMAGE, a_deprecated_model())
    names["budget"] = hostile.text(IMAGE, "B")
    names["token"] = hostile.text(IMAGE, "T")
    with rt.sessions.begin() as s:
        report = formats.import_text(s, _usage(names), now=datetime(2026, 12, 2, tzinfo=UTC))
        assert not report.bad, report.bad
        alice = users.require_user(s, "alice")
        budgets.create_budget(
            s,
            actor=alice,
            name=names["budget"],
            scope="tag",
            tag=f"team={hostile.LINK}",
            amount_usd="0.01",
        )
        ingest_tokens.create_token(s, actor=alice, name=names["token"])
    rt.dispose()
    return names


@pytest.fixture(scope="module")
def chromium():  # noqa: ANN201
    from playwright.sync_api import sync_playwright

    from tests.support.browser import require_browser

    require_browser()
    with sync_playwright() as pw:
        b = launch(pw)
        yield b
        b.close()


def test_every_page_shows_hostile_text_inert(
    chromium,  # noqa: ANN001
    sqlite_template: Path,
    tmp_path: Path,
) -> None:
    from pages import _ui

    work = tmp_path / "hostile"
    work.mkdir()
    url, env = demo_env(work)
    shutil.copy(sqlite_template, work / "demo.db")
    names = _seed(url, work)
    with serve({**env, "MODELDESK_TIMEZONE": "UTC"}) as base:
        context = chromium.new_context(viewport={"width": 1400, "height": 1600})
        page = context.new_page()
        dialogs: list[str] = []
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        sent: list[str] = []
        page.on("request", lambda r: sent.append(r.url) if f"//{IMAGE}/" in r.url else None)
        outside: list[str] = []  # nothing the console loads comes from anywhere but its server
        page.on(
            "request",
            lambda r: None if r.url.startswith((base, "data:", "blob:")) else outside.append(r.url),
        )
        checked: list[str] = []

        def check(where: str) -> None:
            page.wait_for_timeout(400)  # an image would be fetched as it mounts
            hrefs = [
                h
                for h in page.evaluate(HREFS)
                if h.strip().lower().startswith(("javascript", "vbscript", "data:")) or IMAGE in h
            ]
            assert not hrefs, (where, hrefs)
            assert not [i for i in page.evaluate(IMAGES) if IMAGE in i or i == "x"], where
            assert not page.evaluate(HANDLERS), (where, page.evaluate(HANDLERS))
            assert not sent, (where, sent)
            assert not outside, (where, outside)
            assert not dialogs, (where, dialogs)
            checked.append(where)

        def main_text() -> str:
            return page.get_by_test_id("stMain").inner_text().replace(_ui.JOINER, "")

        sign_in(page, base, "alice", hostile.PASSWORD)
        check("sign-in")
        for spec in _ui.PAGES:
            open_page(page, spec.title)
            check(spec.title)

        # Costs, split by the hostile tag, then its admin actions: the token list (a table
        # whose cells are Markdown) and one more hostile line pasted through the page.
        open_page(page, "Costs")
        page.get_by_text("Ingest tokens").click()
        wait_for_app(page)
        check("costs, ingest tokens")
        assert names["token"] in main_text()  # shown as typed
        page.get_by_text("Import usage").click()
        wait_for_app(page)
        pasted = json.loads(_usage(names).splitlines()[0])
        pasted.update(id="pasted", tags={"team": hostile.TAG}, user="x" * 65)  # a bad user
        page.get_by_label("Or paste the lines").fill(json.dumps(pasted))
        page.get_by_role("button", name="Import").click()
        wait_for_app(page)
        page.get_by_text("1 bad").first.wait_for(timeout=30_000)
        check("costs, import report")

        # Shared links: every query parameter a page reads holds the payloads.
        labels = ("html", "js-link", "remote-image", "rlo", "zwj")
        for path, keys in (
            ("costs", ("by", "provider", "model", "user", "tag")),
            ("explorer", ("scope", "providers", "q", "model", "tab")),
        ):
            query = "&".join(
                f"{k}={quote(hostile.PAYLOADS[label], safe='')}"
                for k, label in zip(keys, labels, strict=True)
            )
            page.goto(f"{base}/{path}?{query}")
            wait_for_app(page)
            check(f"{path}?{query}")
        page.goto(f"{base}/costs?by={quote('tag:team')}")
        wait_for_app(page)
        check("costs by team")

        # The checks can fail: the same markup made live by hand is caught by each of them.
        for live, caught in (
            ("<img src='http://127.0.0.1:9/x.png'>", sent),
            ("<a href='javascript:alert(1)'>x</a>", None),
            ("<b onclick='alert(1)'>x</b>", None),
        ):
            page.evaluate(f"() => document.body.insertAdjacentHTML('beforeend', `{live}`)")
            with pytest.raises(AssertionError):
                check(f"planted {live}")
            page.evaluate("() => document.body.lastElementChild.remove()")
            if caught is not None:
                caught.clear()
        page.evaluate("() => setTimeout(() => alert(1))")
        page.wait_for_timeout(300)
        with pytest.raises(AssertionError):
            check("planted alert")
        context.close()
    assert len(checked) >= len(_ui.PAGES) + 5
