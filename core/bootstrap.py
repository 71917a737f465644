"""Start-up bootstraps from the environment: the first admin and the Bedrock provider.

Both are idempotent and safe to run on every start.
"""

from __future__ import annotations

import logging
import re
import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.accounts import audit
from core.accounts.users import count_users, create_user, first_admin
from core.config import Settings
from core.errors import ValidationError
from core.store import vault
from core.store.tables import Provider, User, utcnow
from core.validation import check_api_key, name_key

log = logging.getLogger(__name__)

BEDROCK_NAME = "Bedrock (environment)"
BEDROCK_TYPE = "amazon_bedrock"
DEFAULT_REGION = "us-east-1"
_REGION_RE = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d{1,2}$")


def ensure_admin_from_env(session: Session, settings: Settings) -> User | None:
    """Create the first admin from MODELDESK_ADMIN_USERNAME/PASSWORD when there are no users."""
    if not (settings.admin_username and settings.admin_password) or count_users(session):
        return None
    user = create_user(
        session, username=settings.admin_username, password=settings.admin_password, role="admin"
    )
    log.info("Created the first admin %r from the environment.", user.username)
    return user


def ensure_bedrock_provider(session: Session, settings: Settings) -> Provider | None:
    """Find or create the instance-wide 'Bedrock (environment)' provider from
    AWS_BEARER_TOKEN_BEDROCK; re-activate it and refresh token and region every start."""
    raw = settings.environ.get("AWS_BEARER_TOKEN_BEDROCK", "").strip()
    if not raw:
        return None
    try:
        token = check_api_key(raw, field="AWS_BEARER_TOKEN_BEDROCK")
    except ValidationError as exc:
        log.warning("AWS_BEARER_TOKEN_BEDROCK is ignored: %s", exc)
        return None
    region = (settings.environ.get("AWS_REGION") or DEFAULT_REGION).strip()
    if not _REGION_RE.match(region):
        log.warning("AWS_REGION is not an AWS region name; using %s.", DEFAULT_REGION)
        region = DEFAULT_REGION
    admin = first_admin(session)
    if admin is None:
        log.warning(
            "AWS_BEARER_TOKEN_BEDROCK is set but there is no admin yet; the Bedrock "
            "provider is created at the first start after an admin exists."
        )
        return None
    # Only an admin's record is ours: a member's private provider that happens to carry the
    # same name must never become instance-wide or receive the environment's token.
    provider = session.scalar(
        select(Provider)
        .join(User, Provider.owner_id == User.id)
        .where(
            Provider.provider_type == BEDROCK_TYPE,
            Provider.name_key == name_key(BEDROCK_NAME),
            User.role == "admin",
        )
        .order_by(Provider.created_at)
        .limit(1)
    )
    if provider is None and session.scalar(
        select(Provider.id).where(
            Provider.owner_id == admin.id, Provider.name_key == name_key(BEDROCK_NAME)
        )
    ):
        log.warning(
            "AWS_BEARER_TOKEN_BEDROCK is set but %s already owns a provider named "
            "'%s' of another type; rename it so the Bedrock provider can be created.",
            admin.username,
            BEDROCK_NAME,
        )
        return None
    if provider is None:
        provider = Provider(
            id=uuid.uuid4(),
            name=BEDROCK_NAME,
            name_key=name_key(BEDROCK_NAME),
            provider_type=BEDROCK_TYPE,
            instance_wide=True,
            status="active",
            priority=0,
            owner_id=admin.id,
            health_status="unknown",
        )
        vault.seal_text(session, provider, "api_key_enc", token)
        vault.seal_json(session, provider, "provider_config_enc", {"region": region})
        session.add(provider)
        session.flush()
        audit.record(
            session,
            actor=None,
            action="provider.bootstrap",
            record=provider,
            after={
                "instance_wide": True,
                "status": "active",
                "api_key": audit.describe_key_change(None, token),
                "provider_config": "set (keys: region)",
            },
        )
        return provider
    changes: dict[str, object] = {}
    old_token = vault.try_open_text(session, provider, "api_key_enc")
    if old_token.needs_reentry or old_token.value != token:
        vault.seal_text(session, provider, "api_key_enc", token)
        changes["api_key"] = audit.describe_key_change(old_token.value, token) or "re-entered"
    config = vault.try_open_json(session, provider, "provider_config_enc")
    if config.needs_reentry or config.value.get("region") != region:
        vault.seal_json(
            session,
            provider,
            "provider_config_enc",
            {**({} if config.needs_reentry else config.value), "region": region},
        )
        changes["provider_config"] = "changed (keys: region)"
    if provider.status != "active":
        provider.status, changes["status"] = "active", "active"
    if not provider.instance_wide:
        provider.instance_wide, changes["instance_wide"] = True, True
    if changes:
        provider.updated_at = utcnow()
        session.flush()
        audit.record(
            session, actor=None, action="provider.bootstrap", record=provider, after=changes
        )
    return provider
