"""Hostile input in every form, import and the ingest route: stored and shown as plain text,
or refused with a message and nothing written.

The payloads (tests/support/hostile.py ``PAYLOADS``): ``<img src=x onerror=alert(1)>``,
``[x](javascript:alert(1))``, ``![x](http://127.0.0.1:9/x.png)``, a right-to-left override,
a zero-width joiner, NUL, 10,000 characters; plus homoglyph duplicates of an existing name,
JSON nested 100,000 deep, YAML alias bombs and 50 MB files.

Inventory (every way text gets in) and where each is covered. C: this file and
test_hostile_imports.py (core and CLI,
SQLite and PostgreSQL); P: test_hostile_forms.py (AppTest); B: test_hostile_browser.py.

| route                          | free text in                    | C  | P  | B  |
| ------------------------------ | ------------------------------- | -- | -- | -- |
| Providers: create, edit        | name, API key, config JSON      | C1 | P1 | B  |
| Providers: extra config JSON   | JSON text (secret keys split)   | C3 | P1 | -  |
| Providers: sharing (grants)    | none (users picked from a list) | -  | -  | B  |
| Models: create, edit           | name, model id, config          | C1 | P2 | B  |
| Models: import from provider   | ids a provider lists            | (tests/test_page_rendering) |
| Users: create, reset password  | username, display name, pass    | C1 | P3 | B  |
| Account: change password       | password                        | C1 | P4 | -  |
| Access: audit filters, review  | none (picked from lists)        | -  | -  | B  |
| Budgets (CLI `budgets create`) | name, tag, username             | C1 | -  | B  |
| Costs admin: reprice           | provider, model id (looked up)  | -  | P5 | -  |
| Costs admin: import usage      | every usage field; size         | C1 | P6 | B  |
| Costs admin: ingest tokens     | token name                      | C1 | P7 | B  |
| Explorer: inputs, query params | ?provider= ?model= ?tab=        | -  | P8 | B  |
| CLI `modeldesk import`         | YAML / JSON documents           | C4 | -  | -  |
| CLI `modeldesk usage import`   | CSV, JSONL, OTLP, LiteLLM       | C5 | -  | -  |
| CLI `modeldesk quality import` | leaderboard JSON / JSONL        | C6 | -  | -  |
| `POST /v1/traces`              | OTLP JSON / protobuf spans      | C7 | -  | -  |

C1 ``test_text_field`` (every payload into every field) and ``test_homoglyph_*``;
C3 ``test_config_json_*``, ``test_provider_form_extra_json_*``; C4 ``test_documents_*``,
``test_50_mb_records_*``; C5 ``test_usage_import_*``, ``test_50_mb_usage_*``; C6
``test_quality_import_*``, ``test_50_mb_quality_*``; C7 ``test_otlp_route_*`` (and
tests/test_usage_otlp_route.py: caps, gzip bombs, malformed bodies).

Core tests run on SQLite and PostgreSQL; a refusal is checked against a count of every table.
Nested JSON, YAML bombs, 50 MB files and the OTLP route are in test_hostile_imports.py, the
page tests in test_hostile_forms.py, the browser test in test_hostile_browser.py.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.accounts import users
from core.errors import IntegrityError, ValidationError
from core.records import model_records, providers
from core.records.credentials import provider_credentials
from core.startup import Runtime
from core.store import vault
from core.store.tables import ModelRecord, Provider, User
from core.store.usage_tables import Budget, IngestToken, UsageEvent
from core.usage import budgets, formats, ingest_tokens
from tests.support import factories as f
from tests.support import hostile
from tests.support.factories import table_counts

PAYLOADS = hostile.PAYLOADS


def _boss(s: Session) -> User:
    return users.require_user(s, "boss")


def _provider(s: Session) -> Provider:
    return s.scalars(select(Provider).where(Provider.name == "OpenAI")).one()


def _usage(field: str) -> Callable[[Session, str], Callable[[Session], Any]]:
    """A usage JSONL line whose field (or tag value) is the payload; refused lines raise."""

    def write(s: Session, value: str) -> Callable[[Session], Any]:
        import json

        line: dict[str, Any] = {
            "timestamp": "2026-01-01T00:00:00Z",
            "provider": "OpenAI",
            "model": "gpt-4o",
            "input_tokens": 1,
            "output_tokens": 1,
        }
        if field == "tag":
            line["tags"] = {"team": value}
        else:
            line[field] = value
        report = formats.import_text(s, json.dumps(line), all_or_nothing=True)
        if report.bad:
            raise ValidationError(str(report.bad[0]))
        column = {
            "tag": UsageEvent.tags,
            "id": UsageEvent.idempotency_key,
            "user": UsageEvent.username,
            "model": UsageEvent.model_id,
        }[field]

        def read(s2: Session) -> Any:
            stored = s2.scalars(select(column)).one()
            return stored["team"] if field == "tag" else stored

        return read

    return write


def _provider_name(s: Session, v: str) -> Callable[[Session], Any]:
    p = providers.create_provider(s, actor=_boss(s), name=v, provider_type="openai", api_key="k")
    pid = p.id
    return lambda s2: s2.get(Provider, pid).name


def _provider_rename(s: Session, v: str) -> Callable[[Session], Any]:
    p = _provider(s)
    providers.update_provider(s, actor=_boss(s), provider_id=p.id, expected_version=None, name=v)
    return lambda s2: _provider(s2).name if v == "OpenAI" else s2.get(Provider, p.id).name


def _api_key(s: Session, v: str) -> Callable[[Session], Any]:
    p = providers.create_provider(
        s, actor=_boss(s), name="Keyed", provider_type="openai", api_key=v
    )
    pid = p.id
    return lambda s2: provider_credentials(s2, pid).api_key


def _provider_config(s: Session, v: str) -> Callable[[Session], Any]:
    p = providers.create_provider(
        s,
        actor=_boss(s),
        name="Configured",
        provider_type="openai",
        api_key="sk-000000000000",
        provider_config={"organization": v},
    )
    pid = p.id
    return lambda s2: provider_credentials(s2, pid).config["organization"]


def _model(field: str) -> Callable[[Session, str], Callable[[Session], Any]]:
    def write(s: Session, v: str) -> Callable[[Session], Any]:
        kw: dict[str, Any] = {"name": "m", "model_id": "house-model"}
        if field == "config":
            kw["model_config"] = {"note": v}
        else:
            kw[field] = v
        m = model_records.create_model(s, actor=_boss(s), provider_id=_provider(s).id, **kw)
        mid = m.id
        if field == "config":
            return lambda s2: vault.open_json(s2, s2.get(ModelRecord, mid), "model_config_enc")[
                "note"
            ]
        return lambda s2: getattr(s2.get(ModelRecord, mid), field)

    return write


CONFIG = "model_config_enc"


def _display_name(s: Session, v: str) -> Callable[[Session], Any]:
    u = users.create_user(s, username="vera", password=f.PASSWORD, display_name=v)
    s.flush()
    uid = u.id
    return lambda s2: s2.get(User, uid).display_name


def _username(s: Session, v: str) -> Callable[[Session], Any]:
    users.create_user(s, username=v, password=f.PASSWORD)
    s.flush()
    return lambda s2: s2.scalars(select(User.username).where(User.username != "boss")).one()


def _password(s: Session, v: str) -> Callable[[Session], Any]:
    users.create_user(s, username="pat", password="pw-" + v)
    s.flush()
    return lambda s2: users.verify_password("pw-" + v, users.require_user(s2, "pat").password_hash)


def _budget(field: str) -> Callable[[Session, str], Callable[[Session], Any]]:
    def write(s: Session, v: str) -> Callable[[Session], Any]:
        kw: dict[str, Any] = {"name": "Search", "scope": "tag", "tag": "team=search"}
        if field == "name":
            kw["name"] = v
        elif field == "tag":
            kw["tag"] = f"team={v}"
        else:
            kw.update(scope="user", tag=None, username=v)
        b = budgets.create_budget(s, actor=_boss(s), amount_usd="100", **kw)
        bid = b.id
        column = {"name": "name", "tag": "tag_value", "username": "username"}[field]
        return lambda s2: getattr(s2.get(Budget, bid), column)

    return write


def _token_name(s: Session, v: str) -> Callable[[Session], Any]:
    ingest_tokens.create_token(s, actor=_boss(s), name=v)
    return lambda s2: s2.scalars(select(IngestToken.name)).one()


WRITERS: dict[str, Callable[[Session, str], Callable[[Session], Any]]] = {
    "provider-name": _provider_name,
    "provider-rename": _provider_rename,
    "provider-api-key": _api_key,
    "provider-config": _provider_config,
    "model-name": _model("name"),
    "model-id": _model("model_id"),
    "model-config": _model("config"),
    "user-display-name": _display_name,
    "user-username": _username,
    "password": _password,
    "budget-name": _budget("name"),
    "budget-tag": _budget("tag"),
    "budget-username": _budget("username"),
    "token-name": _token_name,
    "usage-model": _usage("model"),
    "usage-user": _usage("user"),
    "usage-tag": _usage("tag"),
    "usage-id": _usage("id"),
}
# Text another person reads as a name or a label: never invisible characters.
SHOWN = {w for w in WRITERS if w not in ("provider-config", "model-config", "password")}
SECRET = {"provider-api-key", "provider-config", "model-config", "password"}


def _invisible(text: str) -> list[str]:
    return [f"U+{ord(c):04X}" for c in text if unicodedata.category(c) in ("Cc", "Cf")]


@pytest.mark.parametrize("payload", list(PAYLOADS))
@pytest.mark.parametrize("writer", list(WRITERS))
def test_text_field(world: Runtime, writer: str, payload: str) -> None:
    """Stored exactly as given (and read back so), or refused with a short message that
    neither quotes an invisible character nor a secret, and nothing written."""
    value = PAYLOADS[payload]
    before = table_counts(world)
    try:
        with world.sessions.begin() as s:
            read = WRITERS[writer](s, value)
    except ValidationError as exc:
        message = str(exc)
        assert message and len(message) < 600, message[:600]
        assert not _invisible(message), (writer, payload, _invisible(message))
        if writer in SECRET:
            assert value not in message
        assert table_counts(world) == before, f"{writer} refused {payload} but wrote rows"
        return
    assert not (writer in SHOWN and payload in hostile.INVISIBLE), (
        f"{writer} stored {payload}: a name shown to others must not hold {_invisible(value)}"
    )
    with world.sessions() as s:
        stored = read(s)
    assert stored is True if writer == "password" else stored == value


@dataclass(frozen=True)
class Original:
    """A record whose name a lookalike copies, and a way to make the copy."""

    name: str
    alike: str
    make: Callable[[Session, str], Any]


def _make_provider(s: Session, name: str) -> Any:
    return providers.create_provider(
        s, actor=_boss(s), name=name, provider_type="openai", api_key="sk-0000000000"
    )


ORIGINALS = {
    "provider": Original("Acme OpenAI", "Acme \u041epenAI", _make_provider),  # Cyrillic O
    "user": Original(
        "olga", "o1ga", lambda s, n: users.create_user(s, username=n, password=f.PASSWORD)
    ),
    "budget": Original(
        "Search team",
        "Search tea\u217f",  # small roman numeral one thousand, read as m
        lambda s, n: budgets.create_budget(
            s, actor=_boss(s), name=n, scope="tag", tag="team=search", amount_usd="5"
        ),
    ),
    "ingest-token": Original(
        "chat-backend",
        "chat-backend\u00a0",  # a no-break space a list shows as nothing
        lambda s, n: ingest_tokens.create_token(s, actor=_boss(s), name=n),
    ),
    "ingest-token-greek": Original(
        "chat-backend",
        "chat-b\u0430ckend",  # Cyrillic a
        lambda s, n: ingest_tokens.create_token(s, actor=_boss(s), name=n),
    ),
}


@pytest.mark.parametrize("kind", list(ORIGINALS))
def test_homoglyph_duplicate_of_an_existing_name_is_refused(world: Runtime, kind: str) -> None:
    original = ORIGINALS[kind]
    with world.sessions.begin() as s:
        original.make(s, original.name)
    before = table_counts(world)
    with pytest.raises((ValidationError, IntegrityError)) as refused, world.sessions.begin() as s:
        original.make(s, original.alike)
    message = str(refused.value)
    assert "looks the same" in message or "already" in message, message
    assert table_counts(world) == before
