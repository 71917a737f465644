"""Persistence and secrets at rest: engine and sessions, the ORM tables, the keyring
(AES-256-GCM envelope, HKDF), sealing helpers, optimistic locking, key rotation, Alembic
migrations."""

# Every mapped table on the one Base.metadata (migrations compare against it, and a backup
# or a test walks its sorted_tables) as soon as any part of core.store is imported.
from core.store import tables, usage_tables  # noqa: E402, F401
