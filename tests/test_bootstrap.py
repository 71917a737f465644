"""The Bedrock provider from AWS_BEARER_TOKEN_BEDROCK, found or created at every
start, its token and region refreshed.

Each ``start`` opens a fresh runtime on the same database, as a process start does.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from core.bootstrap import BEDROCK_NAME
from core.records import providers
from core.records.credentials import Credentials, provider_credentials
from core.startup import open_runtime
from core.store.tables import AuditEvent, Provider, User
from tests.conftest import make_settings
from tests.support import factories as f

TOKEN = "bedrock-api-key-ABCDEFGH-0001"
NEW_TOKEN = "bedrock-api-key-IJKLMNOP-0002"


@pytest.fixture
def start(db_url: str, tmp_path: Path) -> Any:
    """start(**env) opens Modeldesk once with these environment variables, then closes it."""

    def run(**env: str) -> None:
        open_runtime(make_settings(db_url, tmp_path, **env)).dispose()

    return run


@pytest.fixture
def sessions(db_url: str, tmp_path: Path) -> Any:
    rt = open_runtime(make_settings(db_url, tmp_path))
    yield rt.sessions
    rt.dispose()


@pytest.fixture
def admins(sessions: Any) -> list[Any]:
    """Two admins, the first created first, and a member."""
    ids = []
    for name, role in (("first", "admin"), ("second", "admin"), ("member", "member")):
        with sessions.begin() as s:
            ids.append(f.user(s, name, role).id)
    return ids


def bedrock_rows(sessions: Any) -> list[Provider]:
    with sessions() as s:
        return list(s.scalars(select(Provider).where(Provider.provider_type == "amazon_bedrock")))


def credentials(sessions: Any, provider_id: Any) -> Credentials:
    with sessions() as s:
        return provider_credentials(s, provider_id)


def bootstrap_events(sessions: Any) -> list[AuditEvent]:
    with sessions() as s:
        return list(
            s.scalars(
                select(AuditEvent)
                .where(AuditEvent.action == "provider.bootstrap")
                .order_by(AuditEvent.at)
            )
        )


# --- Creation -----------------------------------------------------------------------------


def test_token_creates_an_instance_wide_provider_owned_by_the_first_admin(
    start: Any, sessions: Any, admins: list[Any]
) -> None:
    start(AWS_BEARER_TOKEN_BEDROCK=TOKEN)

    (row,) = bedrock_rows(sessions)
    assert (row.name, row.instance_wide, row.status, row.owner_id) == (
        BEDROCK_NAME,
        True,
        "active",
        admins[0],
    )
    creds = credentials(sessions, row.id)
    assert creds.api_key == TOKEN and dict(creds.config) == {"region": "us-east-1"}
    assert creds.base_url == "https://bedrock-runtime.us-east-1.amazonaws.com"
    (event,) = bootstrap_events(sessions)
    assert event.actor_label == "system" and event.after["api_key"] == "set (…0001)"
    assert TOKEN not in json.dumps(event.after)


def test_every_user_sees_it_in_their_model_selector_providers(
    start: Any, sessions: Any, admins: list[Any]
) -> None:
    start(AWS_BEARER_TOKEN_BEDROCK=TOKEN)
    with sessions() as s:
        member = s.get(User, admins[2])
        assert [v.name for v in providers.list_providers(s, user=member)] == [BEDROCK_NAME]


@pytest.mark.parametrize(
    "region, expected",
    [
        ("eu-west-1", "eu-west-1"),
        ("  ap-southeast-2 ", "ap-southeast-2"),
        ("not a region", "us-east-1"),
    ],
)
def test_region_comes_from_aws_region(
    start: Any, sessions: Any, admins: list[Any], region: str, expected: str
) -> None:
    start(AWS_BEARER_TOKEN_BEDROCK=TOKEN, AWS_REGION=region)
    (row,) = bedrock_rows(sessions)
    assert credentials(sessions, row.id).config["region"] == expected


def test_the_admin_from_the_environment_gets_it_at_the_same_start(
    start: Any, sessions: Any
) -> None:
    start(
        AWS_BEARER_TOKEN_BEDROCK=TOKEN,
        MODELDESK_ADMIN_USERNAME="root",
        MODELDESK_ADMIN_PASSWORD="Sup3r-secret-pw",
    )
    (row,) = bedrock_rows(sessions)
    with sessions() as s:
        assert s.get(User, row.owner_id).username == "root"


# --- Idempotence and refresh --------------------------------------------------------------


def test_running_twice_keeps_one_row_and_writes_nothing_new(
    start: Any, sessions: Any, admins: list[Any]
) -> None:
    start(AWS_BEARER_TOKEN_BEDROCK=TOKEN)
    (first,) = bedrock_rows(sessions)
    start(AWS_BEARER_TOKEN_BEDROCK=TOKEN)
    start(AWS_BEARER_TOKEN_BEDROCK=f"  {TOKEN}  ")

    (again,) = bedrock_rows(sessions)
    assert (again.id, again.version) == (first.id, first.version)
    assert len(bootstrap_events(sessions)) == 1


def test_deactivated_provider_is_active_again_after_a_restart(
    start: Any, sessions: Any, admins: list[Any]
) -> None:
    start(AWS_BEARER_TOKEN_BEDROCK=TOKEN)
    (row,) = bedrock_rows(sessions)
    with sessions.begin() as s:
        providers.set_provider_status(s, actor=s.get(User, admins[1]), provider_id=row.id)
    assert bedrock_rows(sessions)[0].status == "inactive"

    start(AWS_BEARER_TOKEN_BEDROCK=TOKEN)

    (row,) = bedrock_rows(sessions)
    assert row.status == "active"
    assert bootstrap_events(sessions)[-1].after == {"status": "active"}


def test_a_new_token_replaces_the_old_one(start: Any, sessions: Any, admins: list[Any]) -> None:
    start(AWS_BEARER_TOKEN_BEDROCK=TOKEN)
    start(AWS_BEARER_TOKEN_BEDROCK=NEW_TOKEN, AWS_REGION="eu-central-1")

    (row,) = bedrock_rows(sessions)
    creds = credentials(sessions, row.id)
    assert creds.api_key == NEW_TOKEN and creds.config["region"] == "eu-central-1"
    last = bootstrap_events(sessions)[-1].after
    assert last["api_key"] == "changed (…0002)"
    assert TOKEN not in json.dumps(last) and NEW_TOKEN not in json.dumps(last)


def test_without_the_token_nothing_happens(start: Any, sessions: Any, admins: list[Any]) -> None:
    start()
    start(AWS_BEARER_TOKEN_BEDROCK="   ")
    assert bedrock_rows(sessions) == []


def test_an_invalid_token_is_ignored_with_a_warning(
    start: Any, sessions: Any, admins: list[Any], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    start(AWS_BEARER_TOKEN_BEDROCK="first-line\nsecond-line")
    assert bedrock_rows(sessions) == []
    messages = " ".join(r.getMessage() for r in caplog.records)
    assert "AWS_BEARER_TOKEN_BEDROCK" in messages and "second-line" not in messages


def test_without_an_admin_nothing_is_created_and_nothing_fails(start: Any, sessions: Any) -> None:
    with sessions.begin() as s:
        f.user(s, "member", "member")
    start(AWS_BEARER_TOKEN_BEDROCK=TOKEN)
    assert bedrock_rows(sessions) == []

    with sessions.begin() as s:  # the first start after an admin exists creates it
        f.user(s, "boss", "admin")
    start(AWS_BEARER_TOKEN_BEDROCK=TOKEN)
    assert [r.name for r in bedrock_rows(sessions)] == [BEDROCK_NAME]


def test_a_members_record_with_the_same_name_is_never_taken_over(
    start: Any, sessions: Any, admins: list[Any]
) -> None:
    with sessions.begin() as s:
        mine = providers.create_provider(
            s,
            actor=s.get(User, admins[2]),
            name=BEDROCK_NAME,
            provider_type="amazon_bedrock",
            api_key="members-own-key-0003",
        ).id

    start(AWS_BEARER_TOKEN_BEDROCK=TOKEN)

    rows = {r.id: r for r in bedrock_rows(sessions)}
    assert len(rows) == 2
    assert rows[mine].instance_wide is False and rows[mine].owner_id == admins[2]
    assert credentials(sessions, mine).api_key == "members-own-key-0003"
    (env_row,) = [r for r in rows.values() if r.id != mine]
    assert env_row.instance_wide and env_row.owner_id == admins[0]
    assert credentials(sessions, env_row.id).api_key == TOKEN


def test_a_name_clash_with_another_type_is_reported_not_fatal(
    start: Any, sessions: Any, admins: list[Any], caplog: pytest.LogCaptureFixture
) -> None:
    with sessions.begin() as s:
        f.provider(s, s.get(User, admins[0]), BEDROCK_NAME.upper())  # an OpenAI record
    caplog.set_level(logging.WARNING)

    start(AWS_BEARER_TOKEN_BEDROCK=TOKEN)  # must not crash the start

    assert bedrock_rows(sessions) == []
    assert any("rename it" in r.getMessage() for r in caplog.records)
