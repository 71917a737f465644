"""Reordering providers (providers.reorder_providers): all or nothing, one audit event, and
refused when any row shown changed since."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from core.errors import (
    ConflictError,
    NotFoundError,
    PermissionDeniedError,
    ValidationError,
)
from core.records import providers
from core.startup import Runtime
from core.store.tables import Provider, User
from tests.support import factories as f
from tests.support.factories import events, table_counts

# --- Reorder: all or nothing ---------------------------------------------------------------


@pytest.fixture
def three(runtime: Runtime, staff: dict[str, Any]) -> list[uuid.UUID]:
    with runtime.sessions.begin() as s:
        olga = s.get(User, staff["olga"])
        return [
            f.provider(s, olga, name, priority=p).id
            for name, p in (("A", 10), ("B", 20), ("C", 30))
        ]


def priorities(runtime: Runtime, ids: list[uuid.UUID]) -> list[int]:
    with runtime.sessions() as s:
        return [s.get(Provider, i).priority for i in ids]


def test_reorder_sets_every_priority_and_writes_one_event(
    runtime: Runtime, staff: dict[str, Any], three: list[uuid.UUID]
) -> None:
    with runtime.sessions.begin() as s:
        providers.reorder_providers(
            s,
            actor=s.get(User, staff["olga"]),
            order=[(three[2], 0, 1), (three[0], 1, 1), (str(three[1]), 2, 1)],
        )
    assert priorities(runtime, three) == [1, 2, 0]
    (event,) = events(runtime, "provider.reorder")
    assert {m["name"] for m in event.after["moved"]} == {"A", "B", "C"}
    with runtime.sessions() as s:
        assert [v.name for v in providers.list_providers(s, user=s.get(User, staff["olga"]))] == [
            "C",
            "A",
            "B",
        ]


@pytest.mark.parametrize(
    "bad, error",
    [
        ((uuid.uuid4(), 1, 1), NotFoundError),
        (("not-a-uuid", 1, 1), NotFoundError),
        ("duplicate", ValidationError),
        ("bad-priority", ValidationError),
        ("not-mine", PermissionDeniedError),
    ],
)
def test_reorder_with_one_bad_entry_changes_nothing(
    runtime: Runtime,
    staff: dict[str, Any],
    three: list[uuid.UUID],
    bad: Any,
    error: type[Exception],
) -> None:
    if bad == "duplicate":
        bad = (three[0], 5, 1)
    elif bad == "bad-priority":
        bad = (three[1], -3, 1)
    elif bad == "not-mine":
        with runtime.sessions.begin() as s:
            bad = (f.provider(s, s.get(User, staff["vera"]), "Vera's").id, 0, 1)
    before = table_counts(runtime)

    with pytest.raises(error):
        with runtime.sessions.begin() as s:
            providers.reorder_providers(
                s, actor=s.get(User, staff["olga"]), order=[(three[0], 3, 1), (three[2], 2, 1), bad]
            )

    assert priorities(runtime, three) == [10, 20, 30]
    assert table_counts(runtime) == before


def test_reorder_racing_an_edit_raises_conflict(
    runtime: Runtime, staff: dict[str, Any], three: list[uuid.UUID]
) -> None:
    first, second = runtime.sessions(), runtime.sessions()
    try:
        loaded = [first.get(Provider, i) for i in three] + [second.get(Provider, i) for i in three]
        assert {p.version for p in loaded} == {1}
        providers.update_provider(
            first,
            actor=first.get(User, staff["olga"]),
            provider_id=three[0],
            expected_version=1,
            priority=15,
        )
        first.commit()
        with pytest.raises(ConflictError, match="Nothing was changed"):
            providers.reorder_providers(
                second,
                actor=second.get(User, staff["olga"]),
                order=[(three[0], 1, None), (three[1], 2, None)],
            )
        second.rollback()
    finally:
        first.close()
        second.close()
    assert priorities(runtime, three) == [15, 20, 30]


def test_stale_reorder_is_refused_naming_who_changed_what(
    runtime: Runtime, staff: dict[str, Any], three: list[uuid.UUID]
) -> None:
    """A Priorities tab opened before someone else's edit must not overwrite it."""
    with runtime.sessions() as s:  # the Priorities tab is opened: it shows every version
        opened = {i: s.get(Provider, i).version for i in three}
    with runtime.sessions.begin() as s:  # meanwhile the edit form saves B
        providers.update_provider(
            s,
            actor=s.get(User, staff["boss"]),
            provider_id=three[1],
            expected_version=opened[three[1]],
            priority=25,
        )
    before = table_counts(runtime)

    with pytest.raises(ConflictError) as caught:
        with runtime.sessions.begin() as s:
            providers.reorder_providers(
                s,
                actor=s.get(User, staff["olga"]),
                order=[
                    (three[0], 1, opened[three[0]]),
                    (three[1], 2, opened[three[1]]),
                    (three[2], 3, opened[three[2]]),
                ],
            )

    assert caught.value.changed_by == "boss" and caught.value.changed_at is not None
    assert "'B' was changed by boss" in str(caught.value)
    assert "Nothing was overwritten" in str(caught.value)
    assert priorities(runtime, three) == [10, 25, 30]  # nothing partially written
    assert table_counts(runtime) == before


def test_reorder_checks_the_versions_of_unmoved_rows_too(
    runtime: Runtime, staff: dict[str, Any], three: list[uuid.UUID]
) -> None:
    """The new order is one decision made on the rows as shown: any of them changing since
    makes it stale, even a row whose own priority stays."""
    with runtime.sessions.begin() as s:
        providers.update_provider(
            s,
            actor=s.get(User, staff["olga"]),
            provider_id=three[2],
            expected_version=1,
            name="C renamed",
        )
    with pytest.raises(ConflictError, match="'C renamed' was changed by olga"):
        with runtime.sessions.begin() as s:
            providers.reorder_providers(
                s,
                actor=s.get(User, staff["olga"]),
                order=[(three[0], 25, 1), (three[1], 20, 1), (three[2], 30, 1)],
            )
    assert priorities(runtime, three) == [10, 20, 30]


def test_fresh_reorder_with_versions_saves_and_counts_the_moves(
    runtime: Runtime, staff: dict[str, Any], three: list[uuid.UUID]
) -> None:
    with runtime.sessions.begin() as s:
        moved = providers.reorder_providers(
            s,
            actor=s.get(User, staff["olga"]),
            order=[(three[0], 25, 1), (three[1], 20, 1), (three[2], 30, 1)],
        )
    assert moved == 1
    assert priorities(runtime, three) == [25, 20, 30]
    with runtime.sessions() as s:
        assert [s.get(Provider, i).version for i in three] == [2, 1, 1]
