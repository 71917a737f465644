"""Provider failures as core.errors: status codes, error events and redacted reasons.

    401 / 403, or 400 naming the key ........ ProviderUnauthorized
    429 (Retry-After: seconds or HTTP date) .. ProviderRateLimited(retry_after=...)
    404 / 400 "model ... not found" for a model ProviderModelMissing
    404 otherwise ............................ ProviderBadResponse (wrong base URL)
    408 ...................................... ProviderUnreachable
    5xx ...................................... ProviderServerError
    3xx (a redirect the client did not follow), other 4xx .. ProviderBadResponse

Every reason passes through ``redact`` with the call's secrets. A provider message that
quotes any ten-character stretch of a credential is withheld entirely: providers echo
keys partially ("sk-abc...xyz"), which plain substitution would miss.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from core import catalog
from core.adapters.base import Target
from core.errors import (
    ProviderBadResponse,
    ProviderError,
    ProviderModelMissing,
    ProviderRateLimited,
    ProviderServerError,
    ProviderUnauthorized,
    ProviderUnreachable,
    ValidationError,
    redact,
)

_WINDOW = 10  # a quoted stretch of a secret this long withholds the whole provider message
_KEY_REFUSED = re.compile(r"api[_ -]?key|invalid[_ ]?(x-)?api|credential|unauthori[sz]ed", re.I)
_MODEL_UNKNOWN = re.compile(
    r"model.*(not (be )?found|does not exist|not exist|unknown|invalid"
    r"|not supported|unsupported)|(unknown|invalid|no such) model",
    re.I,
)


def secrets_of(target: Target, *extra: str | None) -> list[str]:
    """Everything to redact for a call: the target's secrets, a bare bearer token, extras."""
    values = target.secrets() + [e for e in extra if e]
    key = target.api_key or ""
    if key[:7].lower() == "bearer " and key[7:].strip():
        values.append(key[7:].strip())
    return values


def _strict_secrets(target: Target, secrets: Iterable[str]) -> list[str]:
    """The real credentials (not base URLs or regions): a fragment of these withholds a message."""
    try:
        ptype = catalog.get_provider_type(target.provider_type)
        secret_fields = {f.name for f in ptype.config_fields if f.secret}
    except ValidationError:  # an unknown type: treat every config string as secret
        secret_fields = set(target.config)
    values = [str(target.config[n]) for n in secret_fields if isinstance(target.config.get(n), str)]
    config_values = {str(v) for v in target.config.values()}
    values += [s for s in secrets if s not in config_values]
    return [v for v in values if len(v) >= _WINDOW]


def quotes_secret(text: str, secrets: Iterable[str]) -> bool:
    """True when ``text`` contains any ``_WINDOW``-character stretch of a secret."""
    for secret in secrets:
        if any(secret[i : i + _WINDOW] in text for i in range(len(secret) - _WINDOW + 1)):
            return True
    return False


def reason(target: Target, secrets: Iterable[str], summary: str, detail: str | None = None) -> str:
    """A redacted one-line reason; a provider detail quoting a credential is left out."""
    secrets = list(secrets)
    if detail:
        detail = " ".join(str(detail).split())[:300]
        if quotes_secret(detail, _strict_secrets(target, secrets)):
            detail = "(the provider's message quoted the credentials; withheld)"
        summary = f"{summary}: {detail}"
    return redact(summary, secrets)


def retry_after(value: str | None) -> float | None:
    """Seconds to wait from a Retry-After header: delta-seconds or an HTTP date."""
    if not value or not value.strip():
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        try:
            when = parsedate_to_datetime(value.strip())
        except (TypeError, ValueError, IndexError):
            return None
        when = when if when.tzinfo else when.replace(tzinfo=UTC)
        seconds = (when - datetime.now(UTC)).total_seconds()
    return max(0.0, seconds) if math.isfinite(seconds) else None


def provider_message(body: bytes, content_type: str = "") -> str | None:
    """The human message in an error body, from any of the usual JSON shapes; None for HTML."""
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        text = body[:400].decode("utf-8", "replace").strip()
        return None if "html" in content_type or text.startswith("<") else (text or None)
    if isinstance(payload, list) and payload:
        payload = payload[0]  # Gemini may wrap the error in a list
    if not isinstance(payload, dict):
        return None
    error = payload.get("error")
    for value in (
        (error or {}).get("message") if isinstance(error, dict) else error,
        payload.get("message"),
        payload.get("detail"),
        payload.get("error_description"),
        payload.get("Message"),
    ):
        if isinstance(value, str) and value.strip():
            return value
    return None


def error_for_status(
    target: Target,
    secrets: Iterable[str],
    response: httpx.Response,
    body: bytes,
    *,
    model: str | None = None,
) -> ProviderError:
    """The ProviderError for a non-2xx answer."""
    status = response.status_code
    message = provider_message(body, response.headers.get("content-type", "")) or ""

    def make(cls: type[ProviderError], summary: str, **kw: Any) -> ProviderError:
        return cls(
            reason(target, secrets, f"HTTP {status}: {summary}", message), status_code=status, **kw
        )

    if status in (401, 403) or (
        status == 400 and _KEY_REFUSED.search(message) and not _MODEL_UNKNOWN.search(message)
    ):
        return make(ProviderUnauthorized, "the provider refused the credentials")
    if status == 429:
        wait = retry_after(response.headers.get("retry-after"))
        hint = f"rate limited (retry after {wait:.0f} s)" if wait is not None else "rate limited"
        return make(ProviderRateLimited, hint, retry_after=wait)
    if model and (status == 404 or (status in (400, 422) and _MODEL_UNKNOWN.search(message))):
        return make(ProviderModelMissing, f"model '{model[:80]}' is not available there")
    if status == 404:
        return make(ProviderBadResponse, "no such endpoint (check the base URL)")
    if status == 408:
        return make(ProviderUnreachable, "the provider timed out")
    if status >= 500:
        return make(ProviderServerError, "the provider failed")
    if 300 <= status < 400:
        summary = f"HTTP {status}: redirected elsewhere, not followed"
        return ProviderBadResponse(reason(target, secrets, summary), status_code=status)
    return make(ProviderBadResponse, "the provider rejected the request")


def error_in_stream(
    target: Target, kind: str, message: object, *, extra_secrets: Iterable[str] = ()
) -> ProviderError:
    """The ProviderError for an error event inside a 200 stream (``kind``: its error type)."""
    secrets = secrets_of(target, *extra_secrets)
    text = str(message) if message else kind
    lowered = kind.lower()
    if "rate" in lowered or "quota" in lowered or "throttl" in lowered:
        return ProviderRateLimited(reason(target, secrets, "rate limited mid-stream", text))
    if "auth" in lowered or "permission" in lowered or "denied" in lowered:
        return ProviderUnauthorized(reason(target, secrets, "refused mid-stream", text))
    if "invalid" in lowered or "validation" in lowered or "not_found" in lowered:
        return ProviderBadResponse(reason(target, secrets, "request rejected mid-stream", text))
    return ProviderServerError(reason(target, secrets, "the provider failed mid-stream", text))
