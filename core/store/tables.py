"""ORM tables.

Secret values live only in ``*_enc`` columns as keyring envelopes (see ``core.store.crypto``);
``core.store.vault`` seals and opens them. Timestamps are timezone-aware UTC, money is Decimal,
primary keys are UUIDs generated in Python (so a row's id is known before it is written,
which the encryption context needs).
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    Numeric,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
    Uuid,
    text,
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


def _check_in(column: str, values: tuple[str, ...], name: str) -> CheckConstraint:
    listed = ", ".join(f"'{v}'" for v in values)
    return CheckConstraint(f"{column} IN ({listed})", name=name)


class Base(DeclarativeBase):
    if TYPE_CHECKING:  # every mapped class here has a Table (DeclarativeBase says FromClause)
        __table__: ClassVar[Table]


class User(Base):
    __tablename__ = "users"
    __table_args__ = (_check_in("role", ROLES, "ck_users_role"),)

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
        _check_in("status", STATUSES, "ck_providers_status"),
        _check_in("health_status", HEALTH_STATUSES, "ck_providers_health"),
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
        _check_in("status", STATUSES, "ck_models_status"),
        _check_in("model_type", MODEL_TYPES, "ck_models_type"),
        _check_in("quality_tier", QUALITY_TIERS, "ck_models_quality_tier"),
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
        _check_in("entity_type", GRANT_ENTITIES, "ck_grants_entity_type"),
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
        _check_in("source", HEALTH_SOURCES, "ck_health_checks_source"),
        _check_in("status", HEALTH_STATUSES, "ck_health_checks_status"),
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
    __table_args__ = (_check_in("status", HEALTH_STATUSES, "ck_health_state_status"),)

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


# --- Usage ledger (core.usage) -------------------------------------------------------------

NO_PROVIDER_ID = uuid.UUID(int=0)  # the rollups' provider id for usage of no provider record


class UsageEvent(Base):
    """One reported usage (one request, or ``requests`` of them), priced at ingest.

    The provider's name and type are kept on the row and its id is no foreign key, so history
    survives a provider's deletion; ``day`` is the rollup day the event was counted in.
    Token convention: ``input_tokens`` counts every input token, cached reads
    (``cached_input_tokens``) and cache writes (``cache_write_tokens``) included;
    ``reasoning_tokens`` are part of ``output_tokens``. ``cost_usd`` NULL means unpriced.
    """

    __tablename__ = "usage_events"
    __table_args__ = (
        # On PostgreSQL the table is range-partitioned by month of occurred_at (migration
        # 0009, core.store.partitions), so its primary key must hold occurred_at; in this
        # order it is also the drill-down's (occurred_at, id) index. An idempotency key is
        # kept unique by UsageEventKey, which is not partitioned.
        PrimaryKeyConstraint("occurred_at", "id", name="pk_usage_events"),
        Index("ix_usage_events_model_day", "model_id", "day"),
        Index("ix_usage_events_model_record", "model_record_id"),
        Index("ix_usage_events_user", "user_id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, default=uuid.uuid4)
    idempotency_key: Mapped[str] = mapped_column(String(200))
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime)
    day: Mapped[date] = mapped_column(Date)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # user_id and model_record_id are no foreign keys (a locked lookup per inserted event):
    # triggers on users and models set them to NULL on delete (migration 0011), and an
    # ingest locks the rows it references once per batch (core.usage.ledger).
    user_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    username: Mapped[str | None] = mapped_column(String(64))
    provider_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    provider_name: Mapped[str] = mapped_column(String(100))
    provider_type: Mapped[str] = mapped_column(String(64))
    model_record_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    model_id: Mapped[str] = mapped_column(String(255))
    configured: Mapped[bool] = mapped_column(Boolean)
    input_tokens: Mapped[int] = mapped_column(BigInteger)
    cached_input_tokens: Mapped[int] = mapped_column(BigInteger)
    cache_write_tokens: Mapped[int] = mapped_column(BigInteger)
    output_tokens: Mapped[int] = mapped_column(BigInteger)
    reasoning_tokens: Mapped[int] = mapped_column(BigInteger)
    requests: Mapped[int] = mapped_column(BigInteger)
    tags: Mapped[dict] = mapped_column(JSON)
    cost_usd: Mapped[Decimal | None] = mapped_column(Money)
    price_source: Mapped[str | None] = mapped_column(String(200))
    # The cost the source computed (LiteLLM's response_cost), kept beside ours; NULL: none.
    source_cost_usd: Mapped[Decimal | None] = mapped_column(Money)


# Byte order ("C") on PostgreSQL: the cheapest comparisons for the busiest unique index, and
# the order ingests take keys in (core.usage.bulk), as Python sorts str.
KEY_TEXT = String(200).with_variant(String(200, collation="C"), "postgresql")


class UsageEventKey(Base):
    """An idempotency key already stored, and its event's instant (hence its partition).

    Unpartitioned on purpose: a unique index on the partitioned usage_events would have to
    hold occurred_at, so an event resent with another timestamp would be stored twice.
    Retention removes the keys of the events it drops (core.usage.retention).
    """

    __tablename__ = "usage_event_keys"
    __table_args__ = (Index("ix_usage_event_keys_occurred_at", "occurred_at"),)

    idempotency_key: Mapped[str] = mapped_column(KEY_TEXT, primary_key=True)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime)


class _UsageTotals:
    """The sums a daily rollup row keeps; cost_usd sums the priced events only."""

    requests: Mapped[int] = mapped_column(BigInteger, default=0)
    input_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    cached_input_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    cache_write_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    output_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    reasoning_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    cost_usd: Mapped[Decimal] = mapped_column(Money, default=Decimal(0))
    unpriced_requests: Mapped[int] = mapped_column(BigInteger, default=0)
    # The source's own cost (e.g. LiteLLM's) of the requests that carried one, and how many.
    source_cost_usd: Mapped[Decimal] = mapped_column(Money, default=Decimal(0))
    source_costed_requests: Mapped[int] = mapped_column(BigInteger, default=0)


class UsageDaily(_UsageTotals, Base):
    """Usage per day (in MODELDESK_TIMEZONE), provider, model and user.

    Every key column is NOT NULL so the primary key can be upserted: ``NO_PROVIDER_ID`` and
    an empty username stand for "none".
    """

    __tablename__ = "usage_daily"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    provider_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    provider_name: Mapped[str] = mapped_column(String(100), primary_key=True)
    provider_type: Mapped[str] = mapped_column(String(64), primary_key=True)
    model_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    username: Mapped[str] = mapped_column(String(64), primary_key=True)


class UsageDailyModel(_UsageTotals, Base):
    """usage_daily summed over users: per day, provider and model (a dozen rows a day where
    usage_daily has hundreds), for totals by day, provider or model (core.usage.summary).
    Kept in the same transaction as usage_daily, from the same deltas (core.usage.rollups)."""

    __tablename__ = "usage_daily_models"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    provider_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    provider_name: Mapped[str] = mapped_column(String(100), primary_key=True)
    provider_type: Mapped[str] = mapped_column(String(64), primary_key=True)
    model_id: Mapped[str] = mapped_column(String(255), primary_key=True)


class UsageDailyUser(_UsageTotals, Base):
    """usage_daily summed over providers and models: per day and username ('' for none),
    for totals by user. Kept like UsageDailyModel."""

    __tablename__ = "usage_daily_users"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), primary_key=True)


class UsageMeta(Base):
    """Facts about the ledger as a whole, one row per key (``rollup_timezone``: the zone the
    rollups' day buckets were built in)."""

    __tablename__ = "usage_meta"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(String(200))


class UsageDailyTag(_UsageTotals, Base):
    """Usage per day (in MODELDESK_TIMEZONE) and tag (key, value)."""

    __tablename__ = "usage_daily_tags"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    tag_key: Mapped[str] = mapped_column(String(64), primary_key=True)
    tag_value: Mapped[str] = mapped_column(String(200), primary_key=True)


class IngestToken(Base):
    """A bearer token for the live OTLP route (core.usage.ingest_tokens), one per ingest source.

    Only the SHA-256 of the token is kept (``token_hash``); ``prefix`` (the first characters,
    never enough to use) tells tokens apart in listings. An active token's name is unique
    (a revoked token keeps its row and name for the audit trail, and its name may be reused).
    ``provider_id`` books every span to that provider record; ``provider_map`` maps a span's
    ``gen_ai.provider.name`` to a provider record id. Neither is a foreign key: a token whose
    provider was deleted refuses its spans with the reason instead of guessing.
    """

    __tablename__ = "ingest_tokens"
    __table_args__ = (
        UniqueConstraint("token_hash", name="uq_ingest_tokens_hash"),
        Index(
            "ux_ingest_tokens_active_name",
            "name_key",
            unique=True,
            sqlite_where=text("revoked_at IS NULL"),
            postgresql_where=text("revoked_at IS NULL"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    name: Mapped[str] = mapped_column(String(100))
    name_key: Mapped[str] = mapped_column(String(100))
    token_hash: Mapped[str] = mapped_column(String(64))
    prefix: Mapped[str] = mapped_column(String(16))
    provider_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    provider_map: Mapped[dict | None] = mapped_column(JSON)
    created_by_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    def __repr__(self) -> str:  # the hash is not shown either
        return f"IngestToken({self.name!r}, {self.prefix}…)"


# --- Budgets (core.usage.budgets) ----------------------------------------------------------

BUDGET_SCOPES = ("provider", "model", "user", "tag")
BUDGET_WINDOWS = ("month", "rolling")


class Budget(Base):
    """A spending limit in USD over one scope (a provider, one model of a provider, a user,
    or a tag value) per window: the calendar month in MODELDESK_TIMEZONE, or the last
    ``window_days`` days. ``thresholds`` are whole percents of ``amount_usd``."""

    __tablename__ = "budgets"
    __table_args__ = (
        _check_in("scope", BUDGET_SCOPES, "ck_budgets_scope"),
        _check_in("window_kind", BUDGET_WINDOWS, "ck_budgets_window"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    name: Mapped[str] = mapped_column(String(100))
    name_key: Mapped[str] = mapped_column(String(100), unique=True)
    scope: Mapped[str] = mapped_column(String(16))
    # provider and model scopes: the provider record (its budgets go with it)
    provider_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("providers.id", ondelete="CASCADE")
    )
    model_id: Mapped[str | None] = mapped_column(String(255))
    username: Mapped[str | None] = mapped_column(String(64))
    tag_key: Mapped[str | None] = mapped_column(String(64))
    tag_value: Mapped[str | None] = mapped_column(String(200))
    amount_usd: Mapped[Decimal] = mapped_column(Money)
    window_kind: Mapped[str] = mapped_column(String(16))
    window_days: Mapped[int | None] = mapped_column(Integer)
    thresholds: Mapped[list] = mapped_column(JSON)
    created_by_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class BudgetAlert(Base):
    """A threshold a budget crossed in one window: the unique key makes the crossing (and
    its audit event) happen once, however many evaluations race to record it."""

    __tablename__ = "budget_alerts"
    __table_args__ = (
        UniqueConstraint(
            "budget_id", "window_start", "threshold", name="uq_budget_alerts_crossing"
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    budget_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("budgets.id", ondelete="CASCADE"))
    window_start: Mapped[date] = mapped_column(Date)
    threshold: Mapped[int] = mapped_column(Integer)
    spent_usd: Mapped[Decimal] = mapped_column(Money)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
