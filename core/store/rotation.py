"""Key rotation: retire the old keys, then re-encrypt every secret column in batches.

Run after setting a new MODELDESK_SECRET_KEY and listing the old one in
MODELDESK_RETIRED_SECRET_KEYS; the console may keep running. The order is what makes that
safe::

    1. retire    every key but the current one (key_canaries.retired_at): from that commit on
                 no process encrypts with them; it waits for writes that already chose one
                 (see vault.encryption_key_id)
    2. passes    re-encrypt, one transaction per batch
    3. final     check every secret column in the transaction that forgets keys: a retired
                 key still used by a readable value is re-encrypted in another round, and
                 only a key no value uses has its canary deleted

A killed rotation keeps what it finished and a re-run continues (rows already on the current
key are skipped). Rows are updated with compare-and-set on the old envelope and without
touching the record's version, so a concurrent edit is neither lost nor turned into a
conflict. Until a retired key's canary is deleted, start-up refuses to run without that key,
so it cannot be forgotten by mistake.
"""

from __future__ import annotations

import logging
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, cast

from sqlalchemy import CursorResult, delete, select, update
from sqlalchemy.orm import Session, sessionmaker

from core.errors import DecryptionError, KeyringError
from core.store import vault
from core.store.crypto import Keyring, associated_data, key_id_of
from core.store.tables import KeyCanary, ModelRecord, Provider, utcnow

log = logging.getLogger(__name__)

DEFAULT_BATCH = 200
FINAL_ROUNDS = 3  # passes before giving up on values something keeps writing with an old key


@dataclass
class RotationReport:
    """What a rotation did; no secret values."""

    reencrypted: int = 0
    already_current: int = 0
    undecryptable: int = 0
    by_column: dict[str, int] = field(default_factory=dict)
    retired_still_used: dict[str, int] = field(default_factory=dict)
    forgotten_key_ids: list[str] = field(default_factory=list)


def _retire_others(sessions: sessionmaker[Session], keyring: Keyring) -> None:
    # The operator's explicit choice: the current key encrypts (even one retired before).
    current, table = keyring.current_key_id, KeyCanary.__table__
    with sessions.begin() as session:
        session.execute(update(table).where(table.c.key_id == current).values(retired_at=None))
        vault.ensure_current_canary(session)
        session.execute(
            update(table)
            .where(table.c.key_id != current, table.c.retired_at.is_(None))
            .values(retired_at=utcnow())
        )


def _encrypting_key(session: Session, current: str) -> str:
    key_id = vault.encryption_key_id(session)
    if key_id != current:
        raise KeyringError(
            f"Key {current} was retired by another rotation meanwhile; run "
            "rotate-keys again with the newest MODELDESK_SECRET_KEY."
        )
    return key_id


def _column_pass(
    sessions: sessionmaker[Session],
    keyring: Keyring,
    cls: type[Provider] | type[ModelRecord],
    column: str,
    batch_size: int,
    report: RotationReport,
    bad: set[tuple[str, uuid.UUID]],
    after_batch: Callable[[str, int], None] | None,
    *,
    first: bool,
) -> None:
    col, table = getattr(cls, column), cls.__table__
    last_id: uuid.UUID | None = None
    label = f"{cls.__tablename__}.{column}"
    while True:
        with sessions.begin() as session:
            stmt = select(cls.id, col).where(col.is_not(None)).order_by(cls.id).limit(batch_size)
            if last_id is not None:
                stmt = stmt.where(cls.id > last_id)
            rows = session.execute(stmt).all()
            if not rows:
                return
            for row_id, envelope in rows:
                envelope = bytes(envelope)
                if keyring.is_current(envelope):
                    if first:  # later rounds see the same rows again
                        report.already_current += 1
                    continue
                context = associated_data(cls.__tablename__, column, row_id)
                try:
                    plain = keyring.decrypt(envelope, context=context)
                except DecryptionError:
                    bad.add((label, row_id))
                    continue
                key_id = _encrypting_key(session, keyring.current_key_id)
                result = cast(
                    CursorResult[Any],
                    session.execute(  # DML: a CursorResult
                        update(table)
                        .where(table.c.id == row_id, table.c[column] == envelope)
                        .values({column: keyring.encrypt(plain, context=context, key_id=key_id)})
                    ),
                )
                if result.rowcount:  # 0: someone saved a new value meanwhile (current key)
                    report.reencrypted += 1
                    report.by_column[label] = report.by_column.get(label, 0) + 1
            last_id = rows[-1][0]
        if after_batch is not None:
            after_batch(label, len(rows))


def _key_usage(session: Session, bad: set[tuple[str, uuid.UUID]]) -> Counter[str]:
    usage: Counter[str] = Counter()
    for cls, column in vault.SECRET_COLUMNS:
        label = f"{cls.__tablename__}.{column}"
        col = getattr(cls, column)
        for row_id, envelope in session.execute(select(cls.id, col).where(col.is_not(None))):
            if (label, row_id) in bad:
                continue
            try:
                usage[key_id_of(bytes(envelope))] += 1
            except DecryptionError:
                continue
    return usage


def rotate_keys(
    sessions: sessionmaker[Session],
    keyring: Keyring,
    *,
    batch_size: int = DEFAULT_BATCH,
    after_batch: Callable[[str, int], None] | None = None,
) -> RotationReport:
    """Re-encrypt every secret with the current key; forget retired keys nothing uses.
    ``keyring`` is the one ``sessions`` carry (``db.session_factory``)."""
    if batch_size < 1:
        raise ValueError("batch_size must be positive")
    report = RotationReport()
    bad: set[tuple[str, uuid.UUID]] = set()
    current = keyring.current_key_id
    _retire_others(sessions, keyring)
    for round_no in range(1, FINAL_ROUNDS + 1):
        for cls, column in vault.SECRET_COLUMNS:
            _column_pass(
                sessions,
                keyring,
                cls,
                column,
                batch_size,
                report,
                bad,
                after_batch,
                first=round_no == 1,
            )
        with sessions.begin() as session:
            usage = _key_usage(session, bad)
            retired = [k for k in session.scalars(select(KeyCanary.key_id)) if k != current]
            if round_no < FINAL_ROUNDS and any(usage.get(k) for k in retired):
                continue  # written with an old key behind our back: another round
            for key_id in retired:
                if usage.get(key_id):
                    report.retired_still_used[key_id] = usage[key_id]
                else:
                    session.execute(delete(KeyCanary).where(KeyCanary.key_id == key_id))
                    report.forgotten_key_ids.append(key_id)
            break
    report.undecryptable = len(bad)
    if bad:
        log.warning(
            "%d stored secret(s) cannot be decrypted with any configured key and need re-entry.",
            len(bad),
        )
    return report
