"""Hostile input typed into every form of the console (AppTest): each payload is saved and
then shown inert (no live Markdown or HTML in anything the page sends), or refused with a
message on the page, no exception, and nothing written.

The inventory of routes is in test_hostile_input.py (P1-P8 there are the tests here).
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

from pages import _ui
from tests.support import hostile
from tests.support.console import Console, texts
from tests.support.factories import table_counts
from tests.test_page_rendering import assert_inert

PAYLOADS = hostile.PAYLOADS
DEEP = '{"a":' + hostile.deep_json(30_000) + "}"  # under the 64 KB config cap


@pytest.fixture
def seeded(console: Console, people: dict) -> Console:
    """alice (admin) with an OpenAI provider and a model; bob (member)."""
    from core.accounts import users
    from tests.support import factories as f

    with console.runtime.sessions.begin() as s:
        alice = users.require_user(s, "alice")
        prov = f.provider(s, alice, "OpenAI")
        s.flush()
        f.model(s, alice, prov, "gpt-4o", name="GPT-4o")
    return console


def button(at: AppTest, label: str) -> Any:
    return next(b for b in at.button if b.label == label)


def settled(console: Console, at: AppTest, before: dict[str, int], where: str) -> str:
    """No exception, nothing live on the page; 'saved' or 'refused' (then nothing written)."""
    assert not at.exception, (where, [e.value for e in at.exception])
    assert_inert(at, where)
    if at.error:
        for error in at.error:  # short, and no invisible character quoted back
            assert "Traceback" not in error.value and len(error.value) < 2000, where
            assert not {hostile.RLO, hostile.ZWJ, "\x00"} & set(error.value), where
        counts = table_counts(console.runtime)
        changed = {k: (before[k], v) for k, v in counts.items() if before[k] != v}
        assert not {k for k in changed if k != "login_attempts"}, (where, changed)
        return "refused"
    return "saved"


# --- P1 Providers ---------------------------------------------------------------------------


PROVIDER_CASES = [
    *(("name", p) for p in PAYLOADS),
    *(("key", p) for p in ("html", "rlo", "zwj", "nul", "10k")),
    *(("extra", p) for p in ("html", "nul", "10k", "deep-json")),
]


@pytest.mark.parametrize("field, payload", PROVIDER_CASES)
def test_provider_add_form(seeded: Console, field: str, payload: str) -> None:
    from tests.support.provider_page import fill_add, open_add

    value = DEEP if payload == "deep-json" else PAYLOADS[payload]
    at = open_add(seeded.open("pages/providers.py", as_user="alice"))
    before = table_counts(seeded.runtime)
    given: dict[str, str] = {"name": "Hostile", "key": "sk-000000000000"}
    given[field] = json.dumps({"organization": value}) if field == "extra" else value
    if payload == "deep-json":
        given["extra"] = value
    at = fill_add(at, "openai", given["name"], key=given["key"], extra=given.get("extra", ""))
    outcome = settled(seeded, at, before, f"provider {field}={payload}")
    if payload in hostile.INVISIBLE and field != "extra" or payload == "deep-json":
        assert outcome == "refused", (field, payload)
    if payload == "deep-json":
        assert "nested too deeply" in " ".join(e.value for e in at.error)
    if field == "key" or outcome == "refused":
        assert value not in texts(at) or field == "name"  # a key is never shown back
    if outcome == "saved" and field == "name":
        at = seeded.open("pages/providers.py", as_user="alice")
        assert_inert(at, "providers list")
        assert value in at.dataframe[0].value.to_csv()  # the text itself, as typed


# --- P2 Models ------------------------------------------------------------------------------


MODEL_CASES = [
    *(("name", p) for p in PAYLOADS),
    *(("model_id", p) for p in PAYLOADS),
    *(("config", p) for p in ("html", "10k", "deep-json")),
]


@pytest.mark.parametrize("field, payload", MODEL_CASES)
def test_model_add_form(seeded: Console, field: str, payload: str) -> None:
    """The form's own rerun is checked here; the other pages once, in the next test."""
    from tests.support.models_page import add

    value = PAYLOADS.get(payload, DEEP)
    at = seeded.open("pages/models.py", as_user="alice")
    provider = at.selectbox(key="model_add_provider").value
    before = table_counts(seeded.runtime)
    given = {"name": "Hostile", "model_id": "hostile-1"}
    given[field] = (
        value
        if payload == "deep-json"
        else json.dumps({"note": value})
        if field == "config"
        else value
    )
    at = add(at, provider=provider, **given)
    outcome = settled(seeded, at, before, f"model {field}={payload}")
    if payload in hostile.INVISIBLE and field != "config" or payload == "deep-json":
        assert outcome == "refused", (field, payload)


def test_models_saved_through_the_form_render_inert_on_every_page(seeded: Console) -> None:
    from tests.support.models_page import add

    at = seeded.open("pages/models.py", as_user="alice")
    provider = at.selectbox(key="model_add_provider").value
    for i, label in enumerate(("html", "js-link", "remote-image")):
        value = PAYLOADS[label]
        at = add(at, provider=provider, name=value, model_id=f"{value}-{i}".replace(" ", "/"))
        assert not at.error, [e.value for e in at.error]
    for spec in _ui.PAGES:
        at.switch_page(spec.path).run()
        assert not at.exception, (spec.path, at.exception)
        assert_inert(at, spec.path)


# --- P3 Users, P4 Account -------------------------------------------------------------------


USER_CASES = [
    *(("add_username", p) for p in ("html", "rlo", "10k")),
    *(("add_display", p) for p in PAYLOADS),
    *(("add_email", p) for p in ("html", "js-link", "nul")),
]


@pytest.mark.parametrize("field, payload", USER_CASES)
def test_user_add_form(seeded: Console, field: str, payload: str) -> None:
    at = seeded.open("pages/users.py", as_user="alice")
    before = table_counts(seeded.runtime)
    given = {"add_username": "carol", "add_display": "", "add_email": ""}
    given[field] = PAYLOADS[payload]
    for key, value in given.items():
        at.text_input(key=key).input(value)
    for box in at.text_input:
        if box.label in ("Initial password", "Repeat the password"):
            box.input("carol-pass-12345")
    at = at.button(key="add_user_save").click().run()
    outcome = settled(seeded, at, before, f"user {field}={payload}")
    if payload in hostile.INVISIBLE:
        assert outcome == "refused", (field, payload)
    if outcome == "saved" and field == "add_display":
        at.switch_page("pages/access.py").run()
        assert_inert(at, "access")


@pytest.mark.parametrize("payload", ["html", "rlo", "nul", "10k"])
def test_account_password_form(seeded: Console, payload: str) -> None:
    from tests.support.factories import PASSWORD

    at = seeded.open("pages/account.py", as_user="bob")
    before = table_counts(seeded.runtime)
    at.text_input(key="pw_current").input(PASSWORD)
    at.text_input(key="pw_new").input("pw-" + PAYLOADS[payload])
    at.text_input(key="pw_again").input("pw-" + PAYLOADS[payload])
    at = button(at, "Change password").click().run()
    settled(seeded, at, before, f"password {payload}")
    assert PAYLOADS[payload] not in texts(at)


# --- P5-P7 Costs admin ----------------------------------------------------------------------


def costs(console: Console) -> AppTest:
    at = console.open(None, as_user="alice", timeout=60)
    at.switch_page("pages/costs.py").run()
    assert not at.exception
    return at


@pytest.mark.parametrize("payload", ["html", "rlo", "10k"])
def test_reprice_form(seeded: Console, payload: str) -> None:
    at = costs(seeded)
    before = table_counts(seeded.runtime)
    next(t for t in at.text_input if t.label.startswith("Provider (empty")).input(PAYLOADS[payload])
    next(t for t in at.text_input if t.label == "Model id").input(PAYLOADS[payload])
    at = button(at, "Reprice").click().run()
    assert settled(seeded, at, before, f"reprice {payload}") == "refused"


def _usage_line(**changes: Any) -> str:
    line: dict[str, Any] = {
        "timestamp": "2026-01-01T00:00:00Z",
        "provider": "OpenAI",
        "model": "gpt-4o",
        "input_tokens": 10,
        "output_tokens": 5,
        **changes,
    }
    return json.dumps(line)


@pytest.mark.parametrize("deep", [False, True], ids=["payloads", "deep-json"])
def test_usage_paste(seeded: Console, deep: bool) -> None:
    """Every payload in every field of a pasted line (five lines each): bad lines are
    listed (in a code block), good ones stored; Costs and Overview show them inert."""
    at = costs(seeded)
    lines = [hostile.deep_json()] if deep else []
    for label, v in PAYLOADS.items() if not deep else ():
        lines += [
            _usage_line(model=v, id=f"m-{label}"),
            _usage_line(user=v, id=f"u-{label}"),
            _usage_line(tags={"team": v}, id=f"t-{label}"),
            _usage_line(provider=v, id=f"p-{label}"),
            _usage_line(id=v),
        ]
    next(t for t in at.text_area if t.label == "Or paste the lines").set_value("\n".join(lines))
    at = button(at, "Import").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert_inert(at, "usage import")
    report = " ".join(c.value for c in at.code)
    expected = "nested too deeply" if deep else "line 16: model has surrounding spaces"
    assert expected in report, report[:500]
    for page in ("pages/costs.py", "pages/overview.py"):
        at.switch_page(page).run()
        assert not at.exception
        assert_inert(at, page)


def test_usage_paste_over_the_size_cap_is_refused(
    seeded: Console, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pages import _ui

    monkeypatch.setenv("MODELDESK_IMPORT_MAX_BYTES", "2048")
    _ui._open.clear()  # the page's runtime reads the settings again
    at = costs(seeded)
    before = table_counts(seeded.runtime)
    text = "\n".join(_usage_line(id=f"r{i}") for i in range(40))
    assert len(text) > 2048
    next(t for t in at.text_area if t.label == "Or paste the lines").set_value(text)
    at = button(at, "Import").click().run()
    assert settled(seeded, at, before, "paste over the cap") == "refused"
    assert any("larger than 2 KiB" in e.value for e in at.error), [e.value for e in at.error]


@pytest.mark.parametrize("payload", list(PAYLOADS))
def test_ingest_token_form(seeded: Console, payload: str) -> None:
    at = costs(seeded)
    before = table_counts(seeded.runtime)
    next(t for t in at.text_input if t.label == "Source name").set_value(PAYLOADS[payload])
    at = button(at, "Create token").click().run()
    outcome = settled(seeded, at, before, f"token {payload}")
    if payload in hostile.INVISIBLE or payload == "10k":
        assert outcome == "refused"
    else:
        assert outcome == "saved"
        at.run()  # the list of tokens
        assert_inert(at, "token list")


# --- P8 Query parameters --------------------------------------------------------------------


@pytest.mark.parametrize(
    "page, keys",
    [
        ("pages/explorer.py", ("scope", "providers", "features", "q", "model", "tab")),
        ("pages/costs.py", ("period", "from", "by", "provider", "model", "user", "tag")),
        ("pages/models.py", ("model", "provider")),
        ("pages/providers.py", ("provider",)),
        ("pages/health.py", ("provider",)),
    ],
)
def test_hostile_query_params(seeded: Console, page: str, keys: tuple) -> None:
    at = seeded.open(None, as_user="alice", timeout=60)
    for payload, value in PAYLOADS.items():
        at.query_params.clear()
        for key in keys:
            at.query_params[key] = value
        at.switch_page(page).run()
        assert not at.exception, (payload, [e.value for e in at.exception])
        assert_inert(at, f"{page}?{payload}")
