"""Sealing and opening secret columns, and the key canaries that guard the keyring.

Services never call the cipher directly: they seal a value into ``row.<column>_enc`` with
the row's table, column and id as context, and open it the same way. The keyring travels
on the session (``session.info['keyring']``), set by ``core.store.db.session_factory``. Which of
its keys seals is the database's decision (``encryption_key_id``): never one that key rotation
has retired, so rotation can run while the console does.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import CursorResult, select, update
from sqlalchemy.orm import Session

from core.errors import DecryptionError, KeyringError
from core.store.crypto import Keyring, associated_data
from core.store.tables import KeyCanary, ModelRecord, Provider

log = logging.getLogger(__name__)

SecretRow = Provider | ModelRecord  # the tables with encrypted columns

# Every encrypted column, once: rotation and the leak tests derive from this list.
SECRET_COLUMNS: tuple[tuple[type[Provider] | type[ModelRecord], str], ...] = (
    (Provider, "api_key_enc"),
    (Provider, "provider_config_enc"),
    (ModelRecord, "model_config_enc"),
)

_CANARY_PLAINTEXT = b"modeldesk key canary"
_CLAIMED = "modeldesk.encryption_key"  # session.info: (transaction, key id) checked for it


def keyring_of(session: Session) -> Keyring:
    """The keyring bound to this session."""
    keyring = session.info.get("keyring")
    if keyring is None:
        raise KeyringError("This database session has no keyring; open it via core.startup.")
    return keyring


def _context(row: SecretRow, column: str) -> bytes:
    if row.id is None:  # ids come from Python so the context exists before the INSERT
        raise ValueError("assign row.id before sealing a secret")
    return associated_data(row.__tablename__, column, row.id)


def _claim(session: Session, key_id: str) -> bool:
    # Lock the key's canary row if the key is not retired, until this transaction ends:
    # rotation's retiring UPDATE waits for it, so a value sealed here is committed (and seen
    # by rotation) before the key can be retired. PostgreSQL: a shared row lock, so writers do
    # not queue behind each other; SQLite: a no-op UPDATE, which takes the database's write
    # lock (a plain SELECT there would not hold anything).
    table = KeyCanary.__table__
    usable = (table.c.key_id == key_id) & table.c.retired_at.is_(None)
    if session.get_bind().dialect.name == "postgresql":
        return (
            session.execute(select(table.c.key_id).where(usable).with_for_update(read=True)).first()
            is not None
        )
    result = cast(
        CursorResult[Any],
        session.execute(  # DML: a CursorResult
            update(table).where(usable).values(key_id=table.c.key_id)
        ),
    )
    return result.rowcount == 1


def encryption_key_id(session: Session) -> str:
    """The key id this transaction encrypts with: the first configured key not retired.

    Checked once per transaction, before its first sealed value. A process started with only
    a secret that rotation has since retired cannot write secrets any more: it would write
    values that the new secret alone cannot open.
    """
    keyring = keyring_of(session)
    claimed = session.info.get(_CLAIMED)
    if claimed is not None and claimed[0] == _transaction_of(session):
        return claimed[1]
    with session.no_autoflush:  # the row being sealed may not be complete yet
        for key_id in keyring.key_ids:
            if _claim(session, key_id):
                session.info[_CLAIMED] = (_transaction_of(session), key_id)
                return key_id
    raise KeyringError(
        "The secret key was rotated while Modeldesk was running: this process no longer has "
        "the key new secrets are encrypted with, so nothing was saved. Restart Modeldesk with "
        "the new MODELDESK_SECRET_KEY (and the old one in MODELDESK_RETIRED_SECRET_KEYS until "
        "rotation has finished)."
    )


def _transaction_of(session: Session) -> tuple[object, object]:
    # A savepoint rolled back releases the locks taken inside it: claim again in a new one.
    return (session.get_transaction(), session.get_nested_transaction())


def seal_text(session: Session, row: SecretRow, column: str, value: str | None) -> None:
    """Encrypt value into row.<column> (None clears it)."""
    if value is None:
        setattr(row, column, None)
        return
    setattr(
        row,
        column,
        keyring_of(session).encrypt(
            value.encode("utf-8"), context=_context(row, column), key_id=encryption_key_id(session)
        ),
    )


def open_text(session: Session, row: SecretRow, column: str) -> str | None:
    """Decrypt row.<column>; DecryptionError when it cannot be opened here."""
    envelope = getattr(row, column)
    if envelope is None:
        return None
    return keyring_of(session).decrypt(bytes(envelope), context=_context(row, column)).decode()


def seal_json(session: Session, row: SecretRow, column: str, value: dict[str, Any] | None) -> None:
    """Encrypt a JSON object into row.<column> (None or {} clears it)."""
    seal_text(
        session,
        row,
        column,
        json.dumps(value, sort_keys=True, separators=(",", ":")) if value else None,
    )


def open_json(session: Session, row: SecretRow, column: str) -> dict[str, Any]:
    """Decrypt a JSON object column; {} when empty."""
    text = open_text(session, row, column)
    return json.loads(text) if text else {}


@dataclass(frozen=True)
class Opened:
    """A secret column opened for display: the value or the reason it cannot be."""

    value: Any
    needs_reentry: bool = False


def try_open_text(session: Session, row: SecretRow, column: str) -> Opened:
    """Open a text column for a listing: never raises for a bad ciphertext."""
    try:
        return Opened(open_text(session, row, column))
    except DecryptionError:
        log.warning(
            "%s.%s of %s cannot be decrypted: needs re-entry", row.__tablename__, column, row.id
        )
        return Opened(None, needs_reentry=True)


def try_open_json(session: Session, row: SecretRow, column: str) -> Opened:
    """Open a JSON column for a listing: never raises for a bad ciphertext."""
    try:
        return Opened(open_json(session, row, column))
    except (DecryptionError, ValueError):
        log.warning(
            "%s.%s of %s cannot be decrypted: needs re-entry", row.__tablename__, column, row.id
        )
        return Opened({}, needs_reentry=True)


def _canary_context(key_id: str) -> bytes:
    return associated_data(KeyCanary.__tablename__, "envelope", key_id)


def verify_canaries(session: Session) -> None:
    """Fail loudly if any key id the stored data uses cannot be opened by the keyring.

    Reads only; called before anything is written at start.
    """
    keyring = keyring_of(session)
    # Only the columns every schema revision has: this runs before migrations.
    for canary in session.execute(select(KeyCanary.key_id, KeyCanary.envelope)):
        if canary.key_id not in keyring.key_ids:
            raise KeyringError(
                f"Stored secrets use key {canary.key_id}, which the configured keys do not "
                "include. Set MODELDESK_SECRET_KEY to the secret this database was created "
                "with, or list that secret in MODELDESK_RETIRED_SECRET_KEYS."
            )
        try:
            plain = keyring.decrypt(canary.envelope, context=_canary_context(canary.key_id))
        except DecryptionError:
            plain = None
        if plain != _CANARY_PLAINTEXT:
            raise KeyringError(
                f"The key canary for key {canary.key_id} does not decrypt: the secret key is "
                "wrong for this database. Nothing was written."
            )


def ensure_current_canary(session: Session) -> None:
    """Record a canary for the current key (after verify_canaries passed)."""
    keyring = keyring_of(session)
    canary = session.get(KeyCanary, keyring.current_key_id)
    if canary is None:
        session.add(
            KeyCanary(
                key_id=keyring.current_key_id,
                envelope=keyring.encrypt(
                    _CANARY_PLAINTEXT, context=_canary_context(keyring.current_key_id)
                ),
            )
        )
        session.flush()  # encryption_key_id looks for this row, without autoflush
    elif canary.retired_at is not None:  # a retired key is never made current again here
        log.warning(
            "MODELDESK_SECRET_KEY is key %s, which key rotation retired; new secrets "
            "are encrypted with another configured key. Set MODELDESK_SECRET_KEY to "
            "the new secret.",
            canary.key_id,
        )
