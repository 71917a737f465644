"""Measuring a saved model's speed, and keeping a deep connection test's timings.

    Models page "Measure speed"
        ─ measure_speed ─▶ connection.run_completion ─▶ speed.record_sample
    Providers page deep test
        ─ connection.test_connection ─▶ record_deep_test ─▶ speed.record_sample

Both completions are paid: their tokens are recorded as usage too (core.probes.own_usage:
tagged app=modeldesk, feature=speed-check / connection-test, the clicking user's).

Both go through the guarded outbound client of ``core.probes.connection`` and only ever on a
person's click (never from a page view). A completion spends tokens with the provider's
key, so a member may measure only models of providers they manage themselves (admins any);
the measured model must be an inference model. A failure is returned as a one-sentence
message (connection's) and stores nothing. The caller commits.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.accounts import access
from core.accounts.viewer import Actor
from core.adapters.base import Adapter
from core.config import Settings
from core.errors import ModeldeskError, PermissionDeniedError, ValidationError
from core.probes import connection, own_usage
from core.records import model_records, providers, speed
from core.records.credentials import provider_credentials
from core.store.tables import ModelRecord, ModelSpeedSample, Provider

# Long enough a reply (about 80 tokens) for a decode rate; short enough to cost little.
SPEED_PROMPT = "Count from one to forty in words, separated by commas. Reply with nothing else."
SOURCE_MEASURE = "measure speed"
SOURCE_DEEP_TEST = "deep check"


@dataclass(frozen=True)
class SpeedCheck:
    """The outcome of one Measure speed click. Holds no secret (safe in a page's state)."""

    ok: bool
    message: str  # one sentence: what was measured, or exactly what failed
    detail: str | None = None  # the provider's short reason of a failure
    summary: str | None = None  # speed.describe() of the model after this sample
    tier: str | None = None  # speed.speed_tier() of the model after this sample


@dataclass(frozen=True)
class SpeedStatus:
    """What the Models page shows about one model's speed."""

    summary: str | None  # speed.describe() of the kept samples; None if never measured
    tier: str | None
    refusal: str | None  # why this user cannot measure it now; None when they can


def _refusal(actor: Actor, model: ModelRecord, provider: Provider) -> ModeldeskError | None:
    if not access.can_manage(actor, model):
        return PermissionDeniedError("You can only measure the speed of a model you can change.")
    if model.model_type != "inference":
        return ValidationError(
            f"Speed is measured with a chat completion, and "
            f"'{model.name}' is an {model.model_type} model.",
            field="model_type",
        )
    if not access.can_manage(actor, provider):
        return PermissionDeniedError(
            f"Measuring spends tokens with the key of "
            f"'{provider.name}': only an admin or the provider's "
            "owner can do it."
        )
    return None


def speed_status(
    session: Session, *, actor: Actor, model_record_id: uuid.UUID | str
) -> SpeedStatus:
    """The stored measurement of a model the actor can see, and whether they may measure."""
    model = model_records.get_model(session, user=actor, model_record_id=model_record_id)
    provider = providers.load_provider(session, model.provider_id)
    found = speed.measurements(session, [model.id]).get(model.id)
    refusal = _refusal(actor, model, provider)
    return SpeedStatus(
        summary=speed.describe(found) if found else None,
        tier=speed.speed_tier(found),
        refusal=str(refusal) if refusal else None,
    )


def _result_message(model: ModelRecord, report: connection.ConnectionReport) -> str:
    parts = []
    if report.ttft_ms is not None:
        parts.append(f"first token after {report.ttft_ms:,.0f} ms")
    if report.output_tokens is not None:
        rate = speed.tokens_per_s(report.ttft_ms, report.total_ms or 0.0, report.output_tokens)
        parts.append(
            f"{report.output_tokens} output tokens"
            + (f" at {rate:,.0f} tok/s" if rate is not None else "")
        )
    said = f": {', '.join(parts)}" if parts else ""
    return f"'{model.name}' answered in {report.total_ms or 0:,.0f} ms{said}."


def measure_speed(
    session: Session,
    *,
    actor: Actor,
    model_record_id: uuid.UUID | str,
    settings: Settings,
    adapter: Adapter | None = None,
    client_factory: connection.ClientFactory | None = None,
    at: datetime | None = None,
) -> SpeedCheck:
    """Run one short completion on the model at its saved provider and keep its timings
    as a sample (only when it succeeded). Raises NotFoundError / PermissionDeniedError /
    ValidationError before any request; a provider failure is returned, not raised."""
    model = model_records.get_model(session, user=actor, model_record_id=model_record_id)
    provider = providers.load_provider(session, model.provider_id)
    refusal = _refusal(actor, model, provider)
    if refusal is not None:
        raise refusal
    target = connection.saved_target(session, provider)
    report = connection.run_completion(
        settings,
        target,
        model=model.model_id,
        prompt=SPEED_PROMPT,
        adapter=adapter,
        client_factory=client_factory,
    )
    if not report.ok or report.total_ms is None:
        return SpeedCheck(ok=False, message=report.message, detail=report.detail)
    own_usage.record_own_call(
        session,
        actor=actor,
        provider=provider,
        model_id=model.model_id,
        input_tokens=report.input_tokens,
        output_tokens=report.output_tokens,
        feature=own_usage.SPEED_CHECK,
        timezone=settings.timezone,
        at=at,
    )
    speed.record_sample(
        session,
        model_record_id=model.id,
        ttft_ms=report.ttft_ms,
        total_ms=report.total_ms,
        output_tokens=report.output_tokens,
        source=SOURCE_MEASURE,
        at=at,
    )
    found = speed.measurements(session, [model.id]).get(model.id)
    return SpeedCheck(
        ok=True,
        message=_result_message(model, report),
        summary=speed.describe(found) if found else None,
        tier=speed.speed_tier(found),
    )


def record_deep_test(
    session: Session,
    *,
    actor: Actor,
    provider_id: uuid.UUID | str,
    report: connection.ConnectionReport,
    at: datetime | None = None,
    timezone: str = "UTC",
) -> ModelSpeedSample | None:
    """Keep a successful deep connection test of a saved provider as a speed sample of the
    model it named, when that model is configured on the provider and the test ran against
    the provider's saved endpoint (an edit form may be testing another one). Its tokens are
    recorded as usage of the provider (configured model or not); ``timezone``:
    MODELDESK_TIMEZONE, for the usage's day."""
    if not report.ok or report.total_ms is None or not report.model:
        return None
    provider = session.get(
        Provider, provider_id if isinstance(provider_id, uuid.UUID) else uuid.UUID(str(provider_id))
    )
    if provider is None or not access.can_manage(actor, provider):
        return None
    if provider_credentials(session, provider.id).base_url != report.base_url:
        return None
    own_usage.record_own_call(
        session,
        actor=actor,
        provider=provider,
        model_id=report.model,
        input_tokens=report.input_tokens,
        output_tokens=report.output_tokens,
        feature=own_usage.CONNECTION_TEST,
        timezone=timezone,
        at=at,
    )
    model_id = session.scalar(
        select(ModelRecord.id).where(
            ModelRecord.provider_id == provider.id, ModelRecord.model_id == report.model
        )
    )
    if model_id is None:
        return None
    return speed.record_sample(
        session,
        model_record_id=model_id,
        ttft_ms=report.ttft_ms,
        total_ms=report.total_ms,
        output_tokens=report.output_tokens,
        source=SOURCE_DEEP_TEST,
        at=at,
    )
