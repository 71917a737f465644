"""The error tree of Modeldesk.

Every error a person can cause or fix is a ``ModeldeskError`` whose message is one
sentence meant for them: no traceback, no secret, no SQL.

    ModeldeskError
    ├── ValidationError        bad input; ``field`` names the input, ``line``/``column`` for JSON;
    │                          ``problems`` lists every field's problem when several were found
    ├── NotFoundError          no such record (or not visible to the caller)
    ├── PermissionDeniedError  the caller may not do this
    ├── ConflictError          someone saved the record in between (stale version)
    ├── IntegrityError         the change would break a rule (duplicate name, models left behind)
    ├── ConfigurationError     settings or environment are wrong (missing secret in production)
    ├── KeyringError           the secret key cannot open the stored data
    ├── DecryptionError        one stored secret cannot be opened (tampered, moved): needs re-entry
    ├── SchemaError            the database schema is newer than this code, or not migrated
    ├── DatabaseUnavailableError  the database cannot be reached or opened (server down,
    │                          refused, not a SQLite file); the URL shown has no password
    └── ProviderError          a call to a provider failed; ``reason`` is short and redacted
        ├── ProviderUnauthorized   401 / 403: the key is wrong or lacks permission
        ├── ProviderRateLimited    429; ``retry_after`` seconds when the provider said so
        ├── ProviderUnreachable    DNS, connect, TLS, timeout, deadline
        │   └── OutboundRefused    the guard refused the address; no connection was made
        ├── ProviderBadResponse    non-JSON, HTML, wrong shape, too large, redirect loop
        ├── ProviderModelMissing   the model does not exist there
        └── ProviderServerError    5xx

A reason that may quote a provider's answer or a URL goes through ``redact`` first: one
line of at most ``REASON_MAX`` characters, without the call's secrets, key query parameters
or bearer tokens.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime

REASON_MAX = 200


class ModeldeskError(Exception):
    """Base of every error Modeldesk raises on purpose."""


class ValidationError(ModeldeskError):
    """Input that does not pass validation."""

    def __init__(
        self,
        message: str,
        *,
        field: str | None = None,
        line: int | None = None,
        column: int | None = None,
    ) -> None:
        super().__init__(message)
        self.field = field
        self.line = line
        self.column = column
        # One entry per field problem (this error itself when it is a single one), so a
        # form can show each under its input at once instead of one per submit.
        self.problems: tuple[ValidationError, ...] = (self,)

    @classmethod
    def of(cls, problems: Iterable[ValidationError]) -> ValidationError:
        """One error for several: its message holds every sentence, ``field`` is the first's."""
        found = tuple(p for problem in problems for p in problem.problems)
        if not found:
            raise ValueError("ValidationError.of needs at least one problem")
        if len(found) == 1:
            return found[0]
        first = found[0]
        combined = cls(
            " ".join(str(p) for p in found), field=first.field, line=first.line, column=first.column
        )
        combined.problems = found
        return combined


class NotFoundError(ModeldeskError):
    """The record does not exist or the caller cannot see it."""


class PermissionDeniedError(ModeldeskError):
    """The caller may not perform the action."""


class ConflictError(ModeldeskError):
    """The record changed since the caller read it."""

    def __init__(
        self, message: str, *, changed_by: str | None = None, changed_at: datetime | None = None
    ) -> None:
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


class DatabaseUnavailableError(ModeldeskError):
    """The database cannot be reached or opened; the message names it without its password."""


class ProviderError(ModeldeskError):
    """A provider call failed. The message never holds a key, a ?key= URL or an echoed body."""

    kind = "error"

    def __init__(
        self, reason: str, *, status_code: int | None = None, retry_after: float | None = None
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status_code = status_code
        self.retry_after = retry_after


class ProviderUnauthorized(ProviderError):
    """The provider refused the credentials (401/403)."""

    kind = "unauthorized"


class ProviderRateLimited(ProviderError):
    """The provider is rate limiting (429)."""

    kind = "rate_limited"


class ProviderUnreachable(ProviderError):
    """The provider could not be reached in time (DNS, connect, TLS, timeout)."""

    kind = "unreachable"


class OutboundRefused(ProviderUnreachable):
    """The outbound guard refused the destination address; nothing was sent."""

    kind = "refused"


class ProviderBadResponse(ProviderError):
    """The provider answered with something that is not the expected API response."""

    kind = "bad_response"


class ProviderModelMissing(ProviderError):
    """The requested model does not exist at the provider."""

    kind = "model_missing"


class ProviderServerError(ProviderError):
    """The provider failed on its side (5xx)."""

    kind = "server_error"


_KEY_PARAMS = re.compile(
    r"([?&](?:key|api[_-]?key|token|access_token|sig|signature)=)[^&\s\"']+", re.IGNORECASE
)
_BEARER = re.compile(r"(bearer\s+)[A-Za-z0-9._~+/=-]{8,}", re.IGNORECASE)


def redact(text: object, secrets: Iterable[str] = ()) -> str:
    """A short, single-line reason without the given secrets, key query parameters or
    bearer tokens."""
    out = " ".join(str(text).split())
    for secret in sorted((s for s in secrets if s), key=len, reverse=True):
        out = out.replace(secret, "[redacted]")
    out = _KEY_PARAMS.sub(r"\1[redacted]", out)
    out = _BEARER.sub(r"\1[redacted]", out)
    return out if len(out) <= REASON_MAX else out[: REASON_MAX - 1] + "…"
