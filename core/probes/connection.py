"""Test connection: probe a provider's UNSAVED settings and say exactly what failed.

The add/edit form of the Providers page calls ``test_connection`` with what is typed in it.
The flow is: validate the form values like a save would (a ``ValidationError`` becomes
status 'invalid') → pick the key (typed, or the stored one when the field is left empty on
an edit, and then only for the saved endpoint) → ``adapter.probe()`` through the outbound
guard → with ``deep`` (an admin's explicit request) also one short ``complete()``. Every
failure becomes a ``ConnectionReport`` whose message is one sentence naming what failed;
nothing is raised, nothing is stored.

The key leaves this module only as an adapter argument: each message and detail is passed
through ``redact`` with every secret of the target, and the log line names only the type,
the host and the outcome.

``run_completion`` is the deep test of a SAVED provider's target (Measure speed on the
Models page, ``core.probes.speed_check``); it shares the probe → completion flow and its messages.

``make_adapter`` and ``make_client`` are the seams (also used by ``core.probes.discovery``): tests
may replace them.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx
from sqlalchemy.orm import Session

from core import catalog
from core.accounts import access
from core.accounts.viewer import Actor
from core.adapters import adapter_for
from core.adapters.base import Adapter, Target
from core.config import Settings
from core.errors import (
    ModeldeskError,
    PermissionDeniedError,
    ProviderError,
    ProviderUnreachable,
    ValidationError,
    redact,
)
from core.outbound import OutboundPolicy, guarded_client
from core.probes.failures import describe_failure, endpoint_label, translate_transport
from core.records import providers
from core.records.credentials import Credentials, provider_credentials, target_from_credentials
from core.records.provider_checks import validate_provider_config
from core.validation import check_api_key, check_config_object, parse_config_json

log = logging.getLogger(__name__)

STATUSES = (
    "ok",
    "unauthorized",
    "rate_limited",
    "unreachable",
    "refused",
    "bad_response",
    "model_missing",
    "server_error",
    "invalid",
)
DEFAULT_DEADLINE_S = 10.0
DEEP_PROMPT = "Reply with the single word OK."
PREVIEW_MAX = 200
ClientFactory = Callable[[], httpx.Client]


@dataclass(frozen=True)
class ConnectionReport:
    """The outcome of a connection test. Holds no secret (safe to keep in a page's state)."""

    ok: bool
    status: str  # one of STATUSES
    message: str  # one sentence: what worked, or exactly what failed
    latency_ms: float | None = None
    detail: str | None = None  # e.g. '23 models listed', or the provider's short reason
    preview: str | None = None  # the deep test's completion text (truncated)
    model: str | None = None  # the model the deep test used
    # A successful deep test's timings (core.records.speed keeps them as a sample) and where it ran.
    ttft_ms: float | None = None
    total_ms: float | None = None
    output_tokens: int | None = None
    input_tokens: int | None = None  # what the provider reported the completion used
    base_url: str | None = None  # the tested endpoint (a base URL never holds credentials)


def make_adapter(provider_type: str) -> Adapter:
    """The adapter of a provider type's wire protocol."""
    return adapter_for(provider_type)


def deadline_of(settings: Settings | None) -> float:
    """The per-request deadline for provider calls (the health deadline when configured)."""
    value = getattr(settings, "health_deadline", None) if settings is not None else None
    return float(value) if value else DEFAULT_DEADLINE_S


def make_client(settings: Settings) -> httpx.Client:
    """The guarded outbound client (address rules, one deadline per request, body cap)."""
    return guarded_client(OutboundPolicy.from_settings(settings), deadline_s=deadline_of(settings))


def _report_failure(
    exc: ProviderError,
    target: Target,
    *,
    started: float,
    deadline_s: float,
    model: str | None = None,
    prefix: str = "",
) -> ConnectionReport:
    secrets = target.secrets()
    message = describe_failure(
        exc, base_url=target.base_url, deadline_s=deadline_s, secrets=secrets, model=model
    )
    reason = redact(exc.reason or "", secrets)
    # The provider's own short reason helps after an HTTP answer; a refused or failed
    # connection is already said in full by the message.
    detail = reason if reason and reason.rstrip(".").lower() not in message.lower() else None
    if isinstance(exc, ProviderUnreachable):
        detail = (
            ("An admin can allow this network with MODELDESK_ALLOWED_NETWORKS (CIDR ranges).")
            if "MODELDESK_ALLOWED_NETWORKS" in reason
            else None
        )
    return ConnectionReport(
        ok=False,
        status=exc.kind if exc.kind in STATUSES else "bad_response",
        message=redact(prefix + message, secrets),
        detail=detail,
        model=redact(model, secrets) if model else None,
        latency_ms=round((time.perf_counter() - started) * 1000, 1),
    )


def _invalid(message: str) -> ConnectionReport:
    return ConnectionReport(ok=False, status="invalid", message=message)


def _stored_secrets(
    session: Session | None, actor: Actor | None, provider_id: uuid.UUID | str
) -> Any:
    """The stored credentials (key, config, saved endpoint) of a provider the actor may
    manage (for an edit form)."""
    if session is None or actor is None:
        raise PermissionDeniedError("Testing with the stored key needs a signed-in user.")
    provider = providers.load_provider(session, provider_id)
    access.require_manage(actor, provider)
    return provider_credentials(session, provider.id)


def _with_stored_secrets(
    ptype: catalog.ProviderType, given: Mapping[str, Any], key: str | None, stored: Any
) -> tuple[dict[str, Any], str | None]:
    """The config and key to test an edit form with. The form leaves secret fields empty to
    keep them, as a save would; but a stored secret (possibly a member's key) goes only to
    the endpoint it was saved for: for any other endpoint (base URL, or a field the URL is
    built from, such as region or resource name) only what was typed is used."""
    merged = validate_provider_config(
        ptype.id, catalog.merge_secret_config(stored.config, given, ptype)
    )
    endpoint = ptype.base_url_for(merged)
    if endpoint == stored.base_url:
        return merged, key or stored.api_key
    borrowed = (key is None and stored.api_key) or any(k not in given for k in merged)
    # A new secret typed for the new endpoint: the key, or a write-only config field.
    typed = key is not None or any(
        v not in (None, "")
        and (spec.secret if (spec := ptype.field(k)) else catalog.looks_secret(k, ptype))
        for k, v in given.items()
    )
    if borrowed and not typed:
        raise ValidationError(
            f"The stored key is only sent to the saved endpoint "
            f"({endpoint_label(stored.base_url)}): type the key again to test "
            f"{endpoint_label(endpoint)}.",
            field="api_key",
        )
    return validate_provider_config(ptype.id, given), key


def saved_target(session: Session, provider: Any) -> Target:
    """The adapter's Target of a saved provider (decrypted key and config, its endpoint);
    ValidationError when it has no endpoint. The caller has checked the actor may use it."""
    creds = provider_credentials(session, provider.id)
    if not creds.base_url:
        raise ValidationError(
            f"'{provider.name}' has no endpoint: set its base URL.", field="base_url"
        )
    return target_from_credentials(creds)


def build_target(
    *,
    provider_type: str,
    api_key: str | None,
    config: Any,
    stored_provider_id: uuid.UUID | str | None = None,
    actor: Actor | None = None,
    session: Session | None = None,
) -> Target:
    """Validate form values like a save would and make the adapter's Target (raises
    ModeldeskError: ValidationError, PermissionDeniedError, NotFoundError, DecryptionError)."""
    ptype = catalog.get_provider_type(provider_type)
    key = check_api_key(api_key) if api_key not in (None, "") else None
    if stored_provider_id is None:
        cfg = validate_provider_config(ptype.id, config)
    else:
        given = (
            parse_config_json(config, field="provider_config")
            if isinstance(config, str)
            else check_config_object(config or {}, field="provider_config")
        )
        cfg, key = _with_stored_secrets(
            ptype, given, key, _stored_secrets(session, actor, stored_provider_id)
        )
    if key is None and ptype.api_key_required:
        raise ValidationError(f"{ptype.label} needs an API key.", field="api_key")
    base_url = ptype.base_url_for(cfg)
    if not base_url:
        raise ValidationError(
            f"{ptype.label} has no default endpoint: fill in the base URL.",
            field="provider_config.base_url",
        )
    return target_from_credentials(
        Credentials(provider_type=ptype.id, api_key=key, config=cfg, base_url=base_url)
    )


def test_connection(
    settings: Settings,
    *,
    provider_type: str,
    api_key: str | None,
    config: Any,
    stored_provider_id: uuid.UUID | str | None = None,
    actor: Actor | None = None,
    session: Session | None = None,
    deep: bool = False,
    model: str | None = None,
    adapter: Adapter | None = None,
    client_factory: ClientFactory | None = None,
) -> ConnectionReport:
    """Probe unsaved provider settings; an empty api_key with stored_provider_id means the
    stored key. deep=True (admins only) also runs one short completion on ``model``."""
    try:
        if deep and (actor is None or not actor.is_admin):
            raise PermissionDeniedError("Only admins can run a test completion.")
        if deep and not (model or "").strip():
            raise ValidationError("Name the model for the test completion.", field="model")
        target = build_target(
            provider_type=provider_type,
            api_key=api_key,
            config=config,
            stored_provider_id=stored_provider_id,
            actor=actor,
            session=session,
        )
        adapter = adapter or make_adapter(target.provider_type)
    except ModeldeskError as exc:
        return _invalid(str(exc))
    deadline_s = deadline_of(settings)
    report = _run(
        adapter,
        target,
        settings=settings,
        deep=deep,
        model=(model or "").strip(),
        deadline_s=deadline_s,
        client_factory=client_factory,
    )
    log.info(
        "connection test: %s at %s -> %s",
        target.provider_type,
        endpoint_label(target.base_url),
        report.status,
    )
    return report


# pytest must not collect the function above as a test where a test module imports it.
test_connection.__test__ = False  # type: ignore[attr-defined]


def _works(target: Target) -> str:
    # Keyless endpoints (a local Ollama) prove only that they answer.
    return "the key works" if target.secrets() else "it answers"


def run_completion(
    settings: Settings,
    target: Target,
    *,
    model: str,
    prompt: str = DEEP_PROMPT,
    adapter: Adapter | None = None,
    client_factory: ClientFactory | None = None,
) -> ConnectionReport:
    """A deep test of a saved provider's target (the caller checked access): the probe,
    then one completion of ``prompt`` on ``model``. Never raises; nothing is stored."""
    try:
        adapter = adapter or make_adapter(target.provider_type)
    except ModeldeskError as exc:
        return _invalid(str(exc))
    report = _run(
        adapter,
        target,
        settings=settings,
        deep=True,
        model=model,
        deadline_s=deadline_of(settings),
        client_factory=client_factory,
        prompt=prompt,
    )
    log.info(
        "completion test: %s at %s -> %s",
        target.provider_type,
        endpoint_label(target.base_url),
        report.status,
    )
    return report


def _run(
    adapter: Adapter,
    target: Target,
    *,
    settings: Settings,
    deep: bool,
    model: str,
    deadline_s: float,
    client_factory: ClientFactory | None,
    prompt: str = DEEP_PROMPT,
) -> ConnectionReport:
    started = time.perf_counter()
    try:
        with (client_factory or (lambda: make_client(settings)))() as client:
            try:
                probe = adapter.probe(client, target)
            except ProviderError as exc:
                return _report_failure(exc, target, started=started, deadline_s=deadline_s)
            if not deep:
                return ConnectionReport(
                    ok=True,
                    status="ok",
                    latency_ms=round(probe.latency_ms, 1),
                    message=f"Connected to {endpoint_label(target.base_url)}: {_works(target)}.",
                    detail=redact(probe.detail, target.secrets()) or None,
                )
            started = time.perf_counter()
            try:
                done = adapter.complete(client, target, model=model, prompt=prompt)
            except ProviderError as exc:
                return _report_failure(
                    exc,
                    target,
                    started=started,
                    deadline_s=deadline_s,
                    model=model,
                    prefix="The key works, but the test completion failed: ",
                )
    except Exception as exc:  # an adapter bug must not take the page down or leak a key
        translated = translate_transport(exc, target)
        if translated is not None:
            return _report_failure(
                translated,
                target,
                started=started,
                deadline_s=deadline_s,
                model=model if deep else None,
            )
        log.error(
            "connection test of %s at %s failed unexpectedly: %s: %s",
            target.provider_type,
            endpoint_label(target.base_url),
            type(exc).__name__,
            redact(exc, target.secrets()),
        )
        return ConnectionReport(
            ok=False,
            status="bad_response",
            detail=redact(exc, target.secrets()),
            message=f"The test failed unexpectedly ({type(exc).__name__}); the server log "
            "has the details.",
            latency_ms=round((time.perf_counter() - started) * 1000, 1),
        )
    text = redact(done.text or "", target.secrets())
    tokens = (
        f"{done.input_tokens or 0} in / {done.output_tokens or 0} out tokens"
        if done.input_tokens is not None or done.output_tokens is not None
        else "no token usage"
    )
    first = f", first token after {done.ttft_ms:.0f} ms" if done.ttft_ms is not None else ""
    model = redact(model, target.secrets())
    return ConnectionReport(
        ok=True,
        status="ok",
        latency_ms=round(probe.latency_ms, 1),
        model=model,
        message=f"Connected to {endpoint_label(target.base_url)}: {_works(target)} and "
        f"'{model}' answered in {done.total_ms:.0f} ms.",
        detail=f"{redact(probe.detail, target.secrets())}; {tokens}{first}",
        preview=text[:PREVIEW_MAX] + ("…" if len(text) > PREVIEW_MAX else ""),
        ttft_ms=done.ttft_ms,
        total_ms=done.total_ms,
        output_tokens=done.output_tokens,
        input_tokens=done.input_tokens,
        base_url=target.base_url,
    )
