"""Ingest tokens: created by admins, shown once, stored as a hash, listed, revoked, verified,
audited without the token; on both databases."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from core.accounts import users
from core.errors import NotFoundError, PermissionDeniedError, ValidationError
from core.records import providers
from core.store.tables import Provider
from core.store.usage_tables import IngestToken
from core.usage import ingest_tokens as tokens
from tests.support import factories as f
from tests.test_usage_otlp_live import _database_text


@pytest.fixture
def seeded(runtime, admin):
    with runtime.sessions.begin() as s:
        boss = users.require_user(s, "admin")
        f.provider(s, boss, name="OpenAI")
        f.provider(s, boss, name="Gateway", provider_type="litellm", provider_config={})
    return runtime


def _create(runtime, name="ci-app", **kw):
    with runtime.sessions.begin() as s:
        return tokens.create_token(s, actor=users.require_user(s, "admin"), name=name, **kw)


def test_the_token_is_shown_once_and_only_its_hash_is_stored(seeded):
    created = _create(seeded, provider="OpenAI")
    assert created.token.startswith("mdk_") and len(created.token) == 4 + 43
    assert created.token not in repr(created)
    assert created.info.prefix == created.token[:10] and created.info.provider == "OpenAI"
    with seeded.sessions() as s:
        row = s.scalar(select(IngestToken))
    assert row.token_hash == hashlib.sha256(created.token.encode()).hexdigest()
    stored = _database_text(seeded)
    assert row.token_hash in stored  # the scan sees the row...
    assert created.token not in stored and created.token[10:] not in stored  # ...not the token
    (event,) = f.events(seeded, "ingest_token.create")
    assert event.after == {"name": "ci-app", "prefix": created.info.prefix, "provider": "OpenAI"}
    assert event.entity_label == "ci-app"


def test_tokens_are_random(seeded):
    a, b = _create(seeded, "a"), _create(seeded, "b")
    assert a.token != b.token and a.info.prefix != b.info.prefix


def test_verify_accepts_the_token_and_refuses_anything_else(seeded):
    created = _create(seeded, mapping={"OpenAI": "Gateway", "anthropic": "OpenAI"})
    with seeded.sessions() as s:
        source = tokens.verify(s, created.token)
        assert source is not None and source.name == "ci-app" and source.problem is None
        assert source.explicit == {"openai": "Gateway", "anthropic": "OpenAI"}
        for bad in (
            None,
            "",
            created.token[:-1],
            created.token + "x",
            "Bearer " + created.token,
            created.token.replace("mdk_", "xyz_"),
            "mdk_" + "a" * 300,
        ):
            assert tokens.verify(s, bad) is None, bad


def test_revoked_tokens_are_refused_and_the_name_can_be_reused(seeded):
    old = _create(seeded)
    with seeded.sessions.begin() as s:
        info = tokens.revoke_token(s, actor=users.require_user(s, "admin"), name="CI-APP")
    assert info.revoked_at is not None and not info.active
    with seeded.sessions() as s:
        assert tokens.verify(s, old.token) is None
    (event,) = f.events(seeded, "ingest_token.revoke")
    assert event.before["revoked_at"] is None and event.after["prefix"] == old.info.prefix
    new = _create(seeded)  # the name is free again
    with seeded.sessions() as s:
        listed = tokens.list_tokens(s, actor=users.require_user(s, "admin"))
        assert [(t.name, t.prefix, t.active) for t in listed] == [
            ("ci-app", new.info.prefix, True),
            ("ci-app", old.info.prefix, False),
        ]
        active = tokens.list_tokens(s, actor=users.require_user(s, "admin"), include_revoked=False)
        assert [t.prefix for t in active] == [new.info.prefix]
        assert tokens.verify(s, new.token) is not None
    with seeded.sessions.begin() as s, pytest.raises(NotFoundError, match="No active"):
        tokens.revoke_token(s, actor=users.require_user(s, "admin"), name="nope")


def test_an_active_name_is_unique(seeded):
    _create(seeded)
    with pytest.raises(ValidationError, match="already named"):
        _create(seeded, " Ci-App ")


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"name": ""}, "cannot be empty"),
        ({"name": "a\u202eb"}, "invisible control"),
        ({"name": "x" * 101}, "at most 100"),
        ({"provider": "Nobody"}, "no provider record is named 'Nobody'"),
        ({"mapping": {"Open AI!": "OpenAI"}}, "is not a gen_ai.provider.name"),
        ({"mapping": {"openai": "Nobody"}}, "no provider record is named 'Nobody'"),
    ],
)
def test_bad_input_is_refused_with_nothing_written(seeded, kw, message):
    before = f.table_counts(seeded)
    with pytest.raises(ValidationError, match=message):
        _create(seeded, **{"name": "ok", **kw})
    assert f.table_counts(seeded) == before


def test_only_admins_manage_tokens(seeded):
    with seeded.sessions.begin() as s:
        bob = users.require_user(s, "bob")
        with pytest.raises(PermissionDeniedError):
            tokens.create_token(s, actor=bob, name="x")
        with pytest.raises(PermissionDeniedError):
            tokens.list_tokens(s, actor=bob)
        with pytest.raises(PermissionDeniedError):
            tokens.revoke_token(s, actor=bob, name="x")


def test_a_deleted_provider_is_a_problem_not_a_guess(seeded):
    created = _create(seeded, provider="Gateway")
    with seeded.sessions.begin() as s:
        boss = users.require_user(s, "admin")
        gateway = s.scalar(select(Provider).where(Provider.name == "Gateway"))
        providers.delete_provider(s, actor=boss, provider_id=gateway.id)
    with seeded.sessions() as s:
        source = tokens.verify(s, created.token)
        assert source is not None and source.explicit == {}
        assert "was deleted" in source.problem
        (info,) = tokens.list_tokens(s, actor=users.require_user(s, "admin"))
        assert info.provider == "(deleted provider)"


def test_mark_used_notes_the_time_and_sees_a_revocation(seeded):
    created = _create(seeded)
    now = datetime.now(UTC)
    with seeded.sessions.begin() as s:
        source = tokens.verify(s, created.token)
        assert tokens.mark_used(s, source, now=now)
    with seeded.sessions.begin() as s:  # within the minute: not written again
        assert tokens.mark_used(s, source, now=now + timedelta(seconds=5))
    with seeded.sessions() as s:
        assert s.scalar(select(IngestToken.last_used_at)) == now
    with seeded.sessions.begin() as s:
        tokens.revoke_token(s, actor=users.require_user(s, "admin"), name="ci-app")
    with seeded.sessions.begin() as s:
        assert not tokens.mark_used(s, source, now=now + timedelta(minutes=5))


# --- The commands -------------------------------------------------------------------------


def test_cli_create_prints_the_token_alone_on_stdout_list_and_revoke(seeded, run):
    code, out, err = run("usage", "tokens", "create", "chat-backend", "--provider", "OpenAI")
    assert code == 0, err
    token = out.strip()
    assert token.startswith("mdk_") and len(out.splitlines()) == 1
    assert "shown once" in err and token not in err and "'OpenAI'" in err
    with seeded.sessions() as s:
        assert tokens.verify(s, token).explicit == {None: "OpenAI"}

    code, out, err = run("usage", "tokens", "create", "gw", "--provider", "cohere=Gateway")
    assert code == 0 and "cohere spans to 'Gateway'" in err

    code, out, _ = run("usage", "tokens", "list")
    assert code == 0 and token not in out and token[:10] + "…" in out
    assert "chat-backend" in out and "cohere=Gateway" in out and "active" in out
    code, out, _ = run("usage", "tokens", "list", "--json")
    listed = json.loads(out)
    assert [t["name"] for t in listed] == ["chat-backend", "gw"]
    assert listed[0]["provider"] == "OpenAI" and listed[0]["last_used_at"] is None

    code, out, err = run("usage", "tokens", "revoke", "chat-backend")
    assert code == 0 and "Revoked ingest token 'chat-backend'" in out
    code, out, _ = run("usage", "tokens", "list", "--json")
    assert [t["status"] for t in json.loads(out)] == ["active", "revoked"]
    with seeded.sessions() as s:
        assert tokens.verify(s, token) is None


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("create", ""), "The name cannot be empty."),
        (("create", "x", "--provider", "Nobody"), "no provider record is named 'Nobody'"),
        (("create", "x", "--provider", "A", "--provider", "B"), "at most once"),
        (("revoke", "nope"), "No active ingest token is named 'nope'."),
        (("list", "--as", "bob"), "Only admins can see ingest tokens."),
    ],
)
def test_cli_errors_are_one_line_and_write_nothing(seeded, run, args, message):
    before = f.table_counts(seeded)
    code, out, err = run("usage", "tokens", *args)
    assert code == 1 and out == ""
    assert err.startswith("modeldesk: error: ") and message in err
    assert "Traceback" not in err
    assert f.table_counts(seeded) == before
