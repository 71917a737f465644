"""The error tree of Modeldesk.

Every error a person can cause or fix is a ``ModeldeskError`` whose message is one
sentence meant for them: no traceback, no secret, no SQL.

    ModeldeskError
    ├── ValidationError        bad input; ``field`` names the input, ``line``/``column`` for JSON
    ├── NotFoundError          no such record (or not visible to the caller)
    ├── PermissionDeniedError  the caller may not do this
    ├── ConflictError          someone saved the record in between (stale version)
    ├── IntegrityError         the change would break a rule (duplicate name, models left behind)
    ├── ConfigurationError     settings or environment are wrong (missing secret in production)
    ├── KeyringError           the secret key cannot open the stored data
    ├── DecryptionError        one stored secret cannot be opened (tampered, moved): needs re-entry
    └── SchemaError            the database schema is newer than this code, or not migrated
"""

from __future__ import annotations

from datetime import datetime


class ModeldeskError(Exception):
    """Base of every error Modeldesk raises on purpose."""


class ValidationError(ModeldeskError):
    """Input that does not pass validation."""

    def __init__(self, message: str, *, field: str | None = None,
                 line: int | None = None, column: int | None = None) -> None:
        super().__init__(message)
        self.field = field
        self.line = line
        self.column = column


class NotFoundError(ModeldeskError):
    """The record does not exist or the caller cannot see it."""


class PermissionDeniedError(ModeldeskError):
    """The caller may not perform the action."""


class ConflictError(ModeldeskError):
    """The record changed since the caller read it."""

    def __init__(self, message: str, *, changed_by: str | None = None,
                 changed_at: datetime | None = None) -> None:
        super().__init__(message)
        self.changed_by = changed_by
        self.changed_at = changed_at


class IntegrityError(ModeldeskError):
    """The change would break a data rule."""


class ConfigurationError(ModeldeskError):
    """Settings or environment are wrong."""


class KeyringError(ConfigurationError):
    """The configured keys cannot open the stored data."""


class DecryptionError(ModeldeskError):
    """A stored ciphertext cannot be decrypted with any configured key."""


class SchemaError(ModeldeskError):
    """The database schema does not match this code."""
