"""Persistence and secrets at rest: engine and sessions, the ORM tables, the keyring
(AES-256-GCM envelope, HKDF), sealing helpers, optimistic locking, key rotation, Alembic
migrations."""
