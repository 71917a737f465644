"""Load, the short variant (the full one is ``bench/load.py``): five websocket users on one
``streamlit run app.py`` for 20 s, working through Providers, Explorer, Costs and Health (three
of them renaming their own provider through the edit form), while the app's scheduler sweeps
a fake provider and the ingest route takes 200 OTLP spans a second. No error, no lost edit,
no lost event, p95 interaction under 2 s. On both databases."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.load import EDIT, PAGES, LoadConfig, run_load

pytestmark = pytest.mark.load

P95_S = 2.0


def test_five_users_a_sweep_and_ingest_lose_nothing(db_url: str, tmp_path: Path) -> None:
    config = LoadConfig(
        users=5,
        duration=20,
        ingest_rate=200,
        database_url=db_url,
        edit_every=2,
        health_interval=5,
        baseline_runs=1,
    )
    figures = run_load(config, tmp_path)

    assert figures.errors == []
    for page in (*PAGES, EDIT):
        assert figures.summary(page)[0] > 0, f"no {page} interaction measured"
    assert figures.edits_confirmed > 0
    assert figures.edits_lost == []
    assert figures.edits_verified == figures.edits_confirmed
    assert figures.ingest_failures == []
    assert figures.events_sent > 0
    assert figures.events_stored == figures.events_sent
    assert figures.health_checks > 0
    assert figures.p95 < P95_S, "\n".join(figures.report(config.ingest_rate))
