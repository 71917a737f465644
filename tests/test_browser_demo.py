"""Browser flows over the demo database, each on a server of its own: screenshots of every
page, the Costs page's upload and drill-downs, the Health page's checks, Measure speed.

Skipped locally when chromium or Playwright is missing; in CI (CI=true) that fails the run.
"""

from __future__ import annotations

import os
import shutil
import struct
from decimal import Decimal
from pathlib import Path

import pytest

from tests.support.browser import (
    ROOT,
    STRONG_PASSWORD,
    choose,
    demo_env,
    open_page,
    serve,
    sign_in,
    table_row,
    take_screenshots,
    wait_for_app,
)
from tests.support.demo_db import DEMO_PASSWORD, seed_demo

pytestmark = pytest.mark.browser


def _png_size(path: Path) -> tuple[int, int]:
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n", f"{path.name} is not a PNG"
    return struct.unpack(">II", head[16:24])


def test_screenshots_of_every_page(
    browser,
    sqlite_template: Path,  # noqa: ANN001
    tmp_path: Path,
) -> None:
    """Every page over the demo database; into docs/screenshots with MODELDESK_SCREENSHOTS=1,
    else into tmp_path (CI must not change the tree)."""
    from pages import _ui

    out = (
        ROOT / "docs" / "screenshots"
        if os.environ.get("MODELDESK_SCREENSHOTS") == "1"
        else tmp_path / "shots"
    )
    work = tmp_path / "demo"
    work.mkdir()
    url, env = demo_env(work)
    shutil.copy(sqlite_template, work / "demo.db")
    with serve(env) as base:
        shots = take_screenshots(
            browser, base, out, seed=lambda: seed_demo(url, work, organisation=True)
        )
    names = {p.name for p in shots}
    expected = {f"{Path(s.path).stem}.png" for s in _ui.PAGES} | {
        "setup.png",
        "signin.png",
        "models-member.png",
        "explorer-catalog.png",
        "explorer-compare.png",
        "explorer-workload.png",
        "explorer-best.png",
    }
    assert expected <= names
    for path in shots:
        width, height = _png_size(path)
        assert width == 1400 and height >= 900, path.name
        assert path.stat().st_size > 20_000, f"{path.name} looks blank"


def _spend_shown(page) -> Decimal:  # noqa: ANN001
    metric = page.get_by_test_id("stMetric").filter(has_text="Spend (priced)")
    return Decimal(metric.get_by_test_id("stMetricValue").inner_text().strip("$").replace(",", ""))


def test_costs_upload_moves_the_totals_and_a_row_drills_down(  # noqa: ANN001
    browser, sqlite_template: Path, tmp_path: Path
) -> None:
    """An admin uploads a one-line usage CSV on the Costs page and the period's spend grows
    by the file's cost ($2.50: 1M input tokens of gpt-4o at $2.50 per million); selecting a
    row of the Models table opens its events and puts the row in the URL."""
    from datetime import UTC, datetime, timedelta

    work = tmp_path / "demo"
    work.mkdir()
    url, env = demo_env(work)
    shutil.copy(sqlite_template, work / "demo.db")
    seed_demo(url, work)
    at = (datetime.now(UTC) - timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%SZ")
    upload = (
        "timestamp,provider,model,user,input_tokens,output_tokens,id\n"
        f"{at},Production OpenAI,gpt-4o,alice,1000000,0,browser-upload-1\n"
    )
    with serve(env) as base:
        context = browser.new_context(viewport={"width": 1400, "height": 1600})
        page = context.new_page()
        sign_in(page, base, "alice", DEMO_PASSWORD)
        open_page(page, "Costs")
        before = _spend_shown(page)
        page.get_by_text("Import usage").click()
        page.locator("input[type=file]").set_input_files(
            files=[{"name": "usage.csv", "mimeType": "text/csv", "buffer": upload.encode()}]
        )
        page.get_by_text("usage.csv").wait_for(timeout=30_000)  # uploaded before submitting
        wait_for_app(page)  # a click landing in the upload's own rerun would be lost
        page.get_by_role("button", name="Import", exact=True).click()
        page.get_by_text("1 line(s)").wait_for(timeout=90_000)
        wait_for_app(page)
        assert _spend_shown(page) - before == Decimal("2.50")
        table = page.get_by_test_id("stDataFrame").first
        table.scroll_into_view_if_needed()  # the import form is further down the page
        box = table.bounding_box()
        assert box is not None
        page.mouse.click(box["x"] + 18, box["y"] + 35 + 17)  # the first row's selection box
        page.get_by_role("heading", name="Events").wait_for(timeout=30_000)
        wait_for_app(page)
        assert "provider=" in page.url and "model=" in page.url
        assert page.get_by_role("button", name="Download these rows (CSV)").is_visible()
        context.close()


def test_costs_chart_bar_drills_down_and_the_savings_finder_takes_the_catalog(  # noqa: ANN001
    browser, sqlite_template: Path, tmp_path: Path
) -> None:
    """Clicking a bar of the cost-over-time chart opens the events of that day and group
    (the day and the provider in the URL); the savings finder switches to alternatives
    from the whole catalog."""
    work = tmp_path / "demo"
    work.mkdir()
    url, env = demo_env(work)
    shutil.copy(sqlite_template, work / "demo.db")
    seed_demo(url, work, organisation=True)
    with serve(env) as base:
        context = browser.new_context(viewport={"width": 1400, "height": 1600})
        page = context.new_page()
        sign_in(page, base, "alice", DEMO_PASSWORD)
        open_page(page, "Costs")
        page.locator(".js-plotly-plot .bars path").first.click(force=True)
        page.get_by_role("heading", name="Events").wait_for(timeout=30_000)
        wait_for_app(page)
        assert "days=" in page.url and "provider=" in page.url
        day = page.url.split("days=", 1)[1].split("&", 1)[0]
        assert page.get_by_text(f"day {day}").first.is_visible()
        page.get_by_role("heading", name="Savings finder").scroll_into_view_if_needed()
        page.get_by_text("The whole catalog", exact=True).click()
        page.get_by_text("Alternatives come from the whole catalog").wait_for(timeout=30_000)
        wait_for_app(page)
        assert page.get_by_test_id("stMetric").filter(has_text="Could have saved").is_visible()
        context.close()


def test_health_page_checks_and_shows_every_provider(
    browser,
    sqlite_template: Path,  # noqa: ANN001
    tmp_path: Path,
) -> None:
    """Three stored providers behind real fake servers on loopback (allowed by
    MODELDESK_ALLOWED_NETWORKS): "Check now" probes them all from the page, and the grid then
    shows each one's status."""
    from core.accounts import users
    from core.records import providers
    from core.startup import open_runtime
    from tests.conftest import make_settings
    from tests.fakes import FakeProvider

    work = tmp_path / "health"
    work.mkdir()
    url, env = demo_env(work)
    shutil.copy(sqlite_template, work / "demo.db")
    env["MODELDESK_ALLOWED_NETWORKS"] = "127.0.0.0/8"
    with FakeProvider("openai") as good, FakeProvider("anthropic", mode="401") as refused:
        rt = open_runtime(make_settings(url, work))
        with rt.sessions.begin() as s:
            admin = users.create_user(s, username="hana", password=STRONG_PASSWORD, role="admin")
            s.flush()
            for name, ptype, base, key in (
                ("Fake OpenAI", "openai", good.base_url, good.key),
                ("Fake Anthropic", "anthropic", refused.base_url, "wrong-key-000000000"),
                ("Gone vLLM", "vllm", "http://127.0.0.1:9/v1", None),
            ):
                providers.create_provider(
                    s,
                    actor=admin,
                    name=name,
                    provider_type=ptype,
                    api_key=key,
                    provider_config={"base_url": base},
                )
        rt.dispose()
        with serve(env) as base:
            context = browser.new_context(viewport={"width": 1400, "height": 1000})
            page = context.new_page()
            sign_in(page, base, "hana", STRONG_PASSWORD)
            open_page(page, "Health")
            page.get_by_role("button", name="Check now").click()
            page.get_by_text("Checked 3 provider(s)").wait_for(timeout=30_000)
            wait_for_app(page)
            expected = {
                "Fake OpenAI": "healthy",
                "Fake Anthropic": "unauthorized",
                "Gone vLLM": "unreachable",
            }
            for name, status in expected.items():
                row = table_row(page, name)
                row.wait_for(state="attached", timeout=30_000)
                assert status in row.text_content(), (name, row.text_content())
            context.close()


def test_measure_speed_calls_each_azure_models_own_deployment(  # noqa: ANN001
    browser, sqlite_template: Path, tmp_path: Path
) -> None:
    """An Azure provider whose provider-level deployment is set (as older records have it)
    and two model records: "Measure speed" on the second calls that record's deployment,
    as the fake Azure server's request log shows."""
    from core.accounts import users
    from core.records import model_records, providers
    from core.startup import open_runtime
    from tests.conftest import make_settings
    from tests.fakes import FakeProvider

    work = tmp_path / "azure"
    work.mkdir()
    url, env = demo_env(work)
    shutil.copy(sqlite_template, work / "demo.db")
    env["MODELDESK_ALLOWED_NETWORKS"] = "127.0.0.0/8"
    key = "az-browser-key-0123456789"
    with FakeProvider("azure_openai", key=key, models=("dep-gpt4o", "gpt-4o-mini")) as azure:
        rt = open_runtime(make_settings(url, work))
        with rt.sessions.begin() as s:
            admin = users.create_user(s, username="ines", password=STRONG_PASSWORD, role="admin")
            s.flush()
            prov = providers.create_provider(
                s,
                actor=admin,
                name="Azure EU",
                provider_type="azure_openai",
                api_key=key,
                provider_config={"base_url": azure.base_url, "deployment_id": "dep-gpt4o"},
            )
            for mid, name in (("dep-gpt4o", "GPT-4o"), ("gpt-4o-mini", "GPT-4o mini")):
                model_records.create_model(
                    s, actor=admin, provider_id=prov.id, model_id=mid, name=name
                )
        rt.dispose()
        with serve(env) as base:
            context = browser.new_context(viewport={"width": 1400, "height": 1000})
            page = context.new_page()
            sign_in(page, base, "ines", STRONG_PASSWORD)
            open_page(page, "Models")
            choose(page, "Model to change", "GPT-4o mini — Azure EU (gpt-4o-mini)")
            page.get_by_role("button", name="Measure speed").click()
            page.get_by_text("'GPT-4o mini' answered in").wait_for(timeout=30_000)
            context.close()
    posts = [r.route for r in azure.requests if r.method == "POST"]
    assert posts == ["/openai/deployments/gpt-4o-mini/chat/completions"]
