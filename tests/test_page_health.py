"""The Health page (AppTest): empty and seeded, admin and member, check now, and a page
view that never waits on (or even calls) a provider."""

from __future__ import annotations

import time
import uuid
from functools import partial
from typing import Any

import pytest
from sqlalchemy import func, select
from streamlit.testing.v1 import AppTest

from core.errors import ProviderUnauthorized, ProviderUnreachable
from core.probes import health
from core.store.tables import HealthCheck, User
from tests.support import factories as f
from tests.support.console import Console, texts
from tests.support.health_fakes import FakeAdapter, raises, seams

PAGE = "pages/health.py"
CANARY = "sk-CANARY-health-page-3c2b1a0f"


def url(name: str) -> str:
    return f"https://{name.replace(' ', '-').lower()}.example.com/v1"


def make(console: Console, owner: str, name: str, **kw: Any) -> uuid.UUID:
    kw.setdefault("provider_config", {"base_url": url(name)})
    with console.runtime.sessions.begin() as s:
        actor = s.scalar(select(User).where(User.username == owner))
        return f.provider(s, actor, name, **kw).id


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> FakeAdapter:
    """Route the page's checks to a fake adapter (the seam, not the network)."""
    adapter = FakeAdapter()
    monkeypatch.setattr(
        health, "check_providers", partial(health.check_providers, **seams(adapter))
    )
    return adapter


def grid(at: AppTest) -> Any:
    return at.dataframe[0].value


def check_now(at: AppTest, pick: str | None = None) -> AppTest:
    if pick is not None:
        at.selectbox(key="health_pick").set_value(pick)
    return at.button(key="health_check_now").click().run()


def checks(console: Console) -> int:
    with console.runtime.sessions() as s:
        return s.scalar(select(func.count()).select_from(HealthCheck))


def test_empty_database_says_there_is_nothing_to_watch(console: Console, people: None) -> None:
    at = console.open(PAGE, as_user="alice")
    assert not at.exception
    assert "No active providers to watch yet" in texts(at)
    assert not at.dataframe and not any(b.key == "health_check_now" for b in at.button)


def test_unchecked_providers_show_the_empty_state(console: Console, people: None) -> None:
    make(console, "alice", "OpenAI", instance_wide=True)
    at = console.open(PAGE, as_user="bob")
    assert "Nothing has been checked yet" in texts(at)
    assert list(grid(at)["Status"]) == ["not checked"]
    assert not at.get("plotly_chart")


def test_seeded_grid_and_chart_for_the_admin(
    console: Console, people: None, fake: FakeAdapter
) -> None:
    make(console, "alice", "Good")
    make(console, "alice", "Locked")
    fake.behaviours[url("Locked")] = raises(lambda t: ProviderUnauthorized("HTTP 401"))
    health.check_providers(console.runtime)
    at = console.open(PAGE, as_user="alice")
    assert not at.exception
    frame = grid(at)
    assert dict(zip(frame["Provider"], frame["Status"])) == {
        "Good": "healthy",
        "Locked": "unauthorized",
    }
    assert list(frame["Uptime 24 h"]) == [100.0, 0.0]
    assert "HTTP 401" in frame.to_csv()
    assert "Nothing has been checked yet" not in texts(at)
    assert len(at.get("plotly_chart")) == 1
    at.selectbox(key="health_chart_provider").set_value(
        next(k for k in at.selectbox(key="health_chart_provider").options)
    ).run()
    assert not at.exception


def test_a_member_sees_and_checks_only_their_providers(
    console: Console, people: None, fake: FakeAdapter
) -> None:
    make(console, "alice", "Alice private")
    make(console, "alice", "Shared", instance_wide=True)
    make(console, "bob", "Bob own")
    at = console.open(PAGE, as_user="bob")
    assert sorted(grid(at)["Provider"]) == ["Bob own", "Shared"]
    at = check_now(at)
    assert not at.exception
    assert sorted(fake.calls) == [url("Bob own"), url("Shared")]
    assert "Checked 2 provider(s): 2 up" in " ".join(s.label for s in at.status)
    assert list(grid(at)["Status"]) == ["healthy", "healthy"]  # the cache was cleared


def test_check_now_for_one_provider_shows_what_failed(
    console: Console, people: None, fake: FakeAdapter
) -> None:
    make(console, "alice", "Up")
    down = make(console, "alice", "Down")
    fake.behaviours[url("Down")] = raises(lambda t: ProviderUnreachable("connection refused"))
    at = console.open(PAGE, as_user="alice")
    at = check_now(at, str(down))
    assert fake.calls == [url("Down")]
    assert "unreachable: connection refused" in texts(at)
    frame = grid(at)
    assert dict(zip(frame["Provider"], frame["Status"]))["Down"] == "unreachable"
    assert checks(console) == 1


def test_a_page_view_never_calls_a_provider(
    console: Console, people: None, fake: FakeAdapter
) -> None:
    for i in range(5):
        make(console, "alice", f"Hanging {i}")
        fake.behaviours[url(f"Hanging {i}")] = fake.hang
    started = time.monotonic()
    at = console.open(PAGE, as_user="alice")
    at.run()
    elapsed = time.monotonic() - started
    fake.release.set()
    assert fake.calls == [] and checks(console) == 0
    assert elapsed < 10 and not at.exception
    assert len(grid(at)) == 5


def test_the_canary_key_never_reaches_the_page(
    console: Console, people: None, fake: FakeAdapter
) -> None:
    make(console, "alice", "Leaky", api_key=CANARY)
    fake.behaviours[url("Leaky")] = raises(
        lambda t: ProviderUnauthorized(f"invalid key {t.api_key} (echoed by the provider)")
    )
    at = check_now(console.open(PAGE, as_user="alice"))
    at.run()
    shown = texts(at) + " ".join(s.label for s in at.status)
    assert "invalid key [redacted]" in shown
    assert CANARY not in shown
    assert CANARY not in repr(at.session_state.to_dict())


def _chart_spec(at: AppTest) -> dict:
    import json

    return json.loads(at.get("plotly_chart")[0].proto.spec)


def test_history_plots_latency_only_for_checks_that_reached_the_provider(
    console: Console, people: None, fake: FakeAdapter
) -> None:
    make(console, "alice", "Flaky")
    health.check_providers(console.runtime)  # healthy, 5 ms
    fake.behaviours[url("Flaky")] = raises(lambda t: ProviderUnreachable("refused"))
    health.check_providers(console.runtime)  # a failed check
    at = console.open(PAGE, as_user="alice")
    spec = _chart_spec(at)
    latency = [t for t in spec["data"] if t.get("yaxis", "y") == "y"]
    plotted = [y for t in latency for y in t.get("y") or []]
    assert plotted == [5.0]  # the failed check has no point
    assert {t.get("name") for t in latency if t.get("mode") == "markers"} == {"healthy"}
    strip = [t for t in spec["data"] if t.get("yaxis") == "y2"]
    assert sorted(y for t in strip for y in t["y"]) == ["degraded", "healthy"]


def test_one_check_still_gets_a_time_axis_the_width_of_the_window(
    console: Console, people: None, fake: FakeAdapter
) -> None:
    from datetime import datetime

    make(console, "alice", "Once")
    health.check_providers(console.runtime)
    at = console.open(PAGE, as_user="alice")
    lo, hi = (datetime.fromisoformat(v) for v in _chart_spec(at)["layout"]["xaxis"]["range"])
    assert 23.9 * 3600 < (hi - lo).total_seconds() <= 24.1 * 3600


def test_a_long_error_note_can_be_read_whole(
    console: Console, people: None, fake: FakeAdapter
) -> None:
    make(console, "alice", "Wordy")
    long_reason = "upstream said: " + " ".join(f"d{i}" for i in range(40)) + " END"
    fake.behaviours[url("Wordy")] = raises(lambda t: ProviderUnreachable(long_reason))
    health.check_providers(console.runtime)
    at = console.open(PAGE, as_user="alice")
    assert any("d39 END" in c.value for c in at.code)
