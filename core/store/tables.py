"""ORM tables.

Secret values live only in ``*_enc`` columns as keyring envelopes (see ``core.store.crypto``);
``core.store.vault`` seals and opens them. Timestamps are timezone-aware UTC, money is Decimal,
primary keys are UUIDs generated in Python (so a row's id is known before it is written,
which the encryption context needs).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, ClassVar

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    Numeric,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
    Uuid,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from core.vocabulary import (
    GRANT_ENTITIES,
    HEALTH_STATUSES,
    MODEL_TYPES,
    QUALITY_TIERS,
    ROLES,
    STATUSES,
)


def utcnow() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator):
    """A timezone-aware datetime that always comes back in UTC (SQLite drops the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored; use timezone-aware UTC")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Money(TypeDecorator):
    """Decimal money: NUMERIC on PostgreSQL, exact text on SQLite (whose NUMERIC is a float)."""

    impl = Numeric(20, 8)
    cache_ok = True

    def load_dialect_impl(self, dialect: Any) -> Any:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(String(40))
        return dialect.type_descriptor(Numeric(20, 8, asdecimal=True))

    def process_bind_param(self, value: Decimal | None, dialect: Any) -> Any:
        if value is None:
            return None
        value = Decimal(value)
        return format(value, "f") if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Any) -> Decimal | None:
        if value is None:
            return None
        if not isinstance(value, Decimal):
            return Decimal(str(value)).normalize()
        return value.normalize()


def check_in(column: str, values: tuple[str, ...], name: str) -> CheckConstraint:
    listed = ", ".join(f"'{v}'" for v in values)
    return CheckConstraint(f"{column} IN ({listed})", name=name)


class Base(DeclarativeBase):
    if TYPE_CHECKING:  # every mapped class here has a Table (DeclarativeBase says FromClause)
        __table__: ClassVar[Table]


class User(Base):
    __tablename__ = "users"
    __table_args__ = (check_in("role", ROLES, "ck_users_role"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    username: Mapped[str] = mapped_column(String(64))
    username_key: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(100))
    email: Mapped[str | None] = mapped_column(String(254))
    password_hash: Mapped[str] = mapped_column(String(100))
    role: Mapped[str] = mapped_column(String(16), default="member")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # Logout and password change end every session: live ones notice the epoch moved,
    # and a sign-in cookie issued before sessions_valid_after is refused.
    session_epoch: Mapped[int] = mapped_column(Integer, default=0)
    sessions_valid_after: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    @property
    def is_admin(self) -> bool:
        """True for an active admin."""
        return self.role == "admin" and self.active

    def __repr__(self) -> str:
        return f"User({self.username!r}, {self.role})"


class _Record:
    """Columns shared by providers and models: ownership, scope, status, locking."""

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    name: Mapped[str] = mapped_column(String(100))
    instance_wide: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(16), default="active")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Provider(_Record, Base):
    __tablename__ = "providers"
    __table_args__ = (
        UniqueConstraint("owner_id", "name_key", name="uq_providers_owner_name"),
        check_in("status", STATUSES, "ck_providers_status"),
        check_in("health_status", HEALTH_STATUSES, "ck_providers_health"),
        Index("ix_providers_priority", "priority"),
    )

    name_key: Mapped[str] = mapped_column(String(100))
    provider_type: Mapped[str] = mapped_column(String(64))
    api_key_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    provider_config_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    priority: Mapped[int] = mapped_column(Integer, default=100)
    owner_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="RESTRICT"), index=True
    )
    updated_by_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    health_status: Mapped[str] = mapped_column(String(16), default="unknown")
    last_health_check_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    version: Mapped[int] = mapped_column(Integer, nullable=False)
    __mapper_args__ = {"version_id_col": version}

    def __repr__(self) -> str:  # no secrets, ever
        return f"Provider({self.name!r}, {self.provider_type})"


class ModelRecord(_Record, Base):
    __tablename__ = "models"
    __table_args__ = (
        UniqueConstraint("provider_id", "model_id", name="uq_models_provider_model_id"),
        check_in("status", STATUSES, "ck_models_status"),
        check_in("model_type", MODEL_TYPES, "ck_models_type"),
        check_in("quality_tier", QUALITY_TIERS, "ck_models_quality_tier"),
    )

    model_id: Mapped[str] = mapped_column(String(255))
    model_type: Mapped[str] = mapped_column(String(16), default="inference")
    model_config_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    input_cost_per_million: Mapped[Decimal | None] = mapped_column(Money)
    output_cost_per_million: Mapped[Decimal | None] = mapped_column(Money)
    cache_read_cost_per_million: Mapped[Decimal | None] = mapped_column(Money)
    cache_write_cost_per_million: Mapped[Decimal | None] = mapped_column(Money)
    context_window: Mapped[int | None] = mapped_column(Integer)
    # An admin's word on the model (core.records.model_ratings); NULL defers to the seed / catalog.
    quality_tier: Mapped[str | None] = mapped_column(String(8))
    features: Mapped[str | None] = mapped_column(Text)  # a sorted JSON list of feature names
    provider_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("providers.id", ondelete="RESTRICT"), index=True
    )
    owner_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="RESTRICT"), index=True
    )
    updated_by_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )

    version: Mapped[int] = mapped_column(Integer, nullable=False)
    __mapper_args__ = {"version_id_col": version}

    def __repr__(self) -> str:
        return f"ModelRecord({self.name!r}, {self.model_id!r})"


class ModelSpeedSample(Base):
    """One measured completion of a model (core.records.speed); the newest few per model are
    kept."""

    __tablename__ = "model_speed_samples"
    __table_args__ = (Index("ix_model_speed_samples_model_at", "model_record_id", "measured_at"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    model_record_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("models.id", ondelete="CASCADE"))
    measured_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    ttft_ms: Mapped[float | None] = mapped_column(Float)
    total_ms: Mapped[float] = mapped_column(Float)
    output_tokens: Mapped[int | None] = mapped_column(Integer)
    source: Mapped[str] = mapped_column(String(32))


class Grant(Base):
    """An ACL entry: ``user`` may see the provider or model ``entity_id``."""

    __tablename__ = "grants"
    __table_args__ = (
        UniqueConstraint("entity_type", "entity_id", "user_id", name="uq_grants_entity_user"),
        check_in("entity_type", GRANT_ENTITIES, "ck_grants_entity_type"),
        Index("ix_grants_user_entity", "user_id", "entity_type"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    entity_type: Mapped[str] = mapped_column(String(16))
    entity_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    granted_by_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class AuditEvent(Base):
    """Who changed what, when; before/after snapshots carry no secret values."""

    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_at", "at"), Index("ix_audit_entity", "entity_id"))

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    actor_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    actor_label: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(64))
    entity_type: Mapped[str] = mapped_column(String(16))
    entity_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    entity_label: Mapped[str] = mapped_column(String(200), default="")
    before: Mapped[dict | None] = mapped_column(JSON)
    after: Mapped[dict | None] = mapped_column(JSON)


class LoginAttempt(Base):
    """One sign-in attempt, kept for the time-window throttle (pruned after a day)."""

    __tablename__ = "login_attempts"
    __table_args__ = (
        Index("ix_login_attempts_user_at", "username_key", "at"),
        Index("ix_login_attempts_client_at", "client_key", "at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    username_key: Mapped[str] = mapped_column(String(64))
    client_key: Mapped[str] = mapped_column(String(64))
    success: Mapped[bool] = mapped_column(Boolean)


class KeyCanary(Base):
    """One row per key id that stored data may use; proves the configured secret opens it.

    ``retired_at`` is set by rotation: from then on no process encrypts with that key (it
    still decrypts until rotation has re-encrypted every row and deletes the canary).
    """

    __tablename__ = "key_canaries"

    key_id: Mapped[str] = mapped_column(String(16), primary_key=True)
    envelope: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    retired_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


HEALTH_SOURCES = ("database", "system")


class HealthCheck(Base):
    """One probe result. ``provider_key`` is a record id or a system provider's stable id,
    so history survives for providers that are not rows (and is no foreign key)."""

    __tablename__ = "health_checks"
    __table_args__ = (
        Index("ix_health_checks_key_at", "provider_key", "checked_at"),
        Index("ix_health_checks_at", "checked_at"),
        check_in("source", HEALTH_SOURCES, "ck_health_checks_source"),
        check_in("status", HEALTH_STATUSES, "ck_health_checks_status"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    provider_key: Mapped[uuid.UUID] = mapped_column(Uuid)
    provider_name: Mapped[str] = mapped_column(String(100))
    provider_type: Mapped[str] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(String(16))
    checked_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    status: Mapped[str] = mapped_column(String(16))
    latency_ms: Mapped[float | None] = mapped_column(Float)
    reason: Mapped[str | None] = mapped_column(String(200))


class HealthState(Base):
    """The current health of one provider (stored or system) and its failure streak."""

    __tablename__ = "health_state"
    __table_args__ = (check_in("status", HEALTH_STATUSES, "ck_health_state_status"),)

    provider_key: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    status: Mapped[str] = mapped_column(String(16), default="unknown")
    consecutive_failures: Mapped[int] = mapped_column(Integer, default=0)
    last_checked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_latency_ms: Mapped[float | None] = mapped_column(Float)
    last_reason: Mapped[str | None] = mapped_column(String(200))
    last_failure_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_failure_reason: Mapped[str | None] = mapped_column(String(200))


class SchedulerLease(Base):
    """Which process runs a periodic job (one per deployment) and when it last ran."""

    __tablename__ = "scheduler_leases"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    holder: Mapped[str] = mapped_column(String(128))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_run_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
