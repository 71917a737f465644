"""Modeldesk's own paid calls, recorded in the usage ledger like anyone's.

Measure speed and the deep connection test each spend one short completion with a
provider's key. ``record_own_call`` records its tokens as a usage event of the provider
record, the model id and the admin or owner who clicked, tagged ``app=modeldesk`` and
``feature=speed-check`` / ``connection-test``, in the caller's transaction (the caller
commits, as with the speed sample it keeps beside it). A completion whose adapter reported
no token usage at all is not recorded (its cost is unknown, never $0). A report the ledger
refuses (a model id it cannot keep) is logged and skipped: the measurement itself stands.
"""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime

from sqlalchemy.orm import Session

from core.accounts.viewer import Actor
from core.errors import ModeldeskError
from core.store.tables import Provider
from core.usage import ledger
from core.usage.inputs import UsageInput

log = logging.getLogger(__name__)
APP_TAG = "modeldesk"
SPEED_CHECK = "speed-check"
CONNECTION_TEST = "connection-test"


def record_own_call(
    session: Session,
    *,
    actor: Actor,
    provider: Provider,
    model_id: str,
    input_tokens: int | None,
    output_tokens: int | None,
    feature: str,
    timezone: str = "UTC",
    at: datetime | None = None,
) -> ledger.RecordResult | None:
    """Record one completion Modeldesk made (see the module docstring); None when nothing
    was recorded."""
    if input_tokens is None and output_tokens is None:
        return None
    report = UsageInput(
        timestamp=at or datetime.now(UTC),
        provider=provider.name,
        model=model_id,
        input_tokens=input_tokens or 0,
        output_tokens=output_tokens or 0,
        user=actor.username,
        tags={"app": APP_TAG, "feature": feature},
        idempotency_key=f"modeldesk:{feature}:{uuid.uuid4()}",
    )
    try:
        return ledger.record_usage(
            session, events=[report], timezone=timezone, now=at, provider=provider
        )
    except ModeldeskError as exc:
        log.warning("%s usage of %s not recorded: %s", feature, provider.provider_type, exc)
        return None
