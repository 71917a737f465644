"""ORM tables of the usage ledger (core.usage) and of budgets (core.usage.budgets): the raw
events (monthly partitions on PostgreSQL) and their idempotency keys, the daily rollups, the
ledger's settings row, ingest tokens, budgets and their alerts. The console's own records
(users, providers, models, grants, audit, health) are in ``core.store.tables``, whose ``Base``
these share.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    UniqueConstraint,
    Uuid,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from core.store.tables import Base, Money, UTCDateTime, check_in, utcnow

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
    # Read only by retention; BRIN on PostgreSQL (migration 0012): keys arrive in about time
    # order, and a B-tree entry per ingested event cost more than the daily delete gains.
    __table_args__ = (
        Index("ix_usage_event_keys_occurred_at", "occurred_at", postgresql_using="brin"),
    )

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
        check_in("scope", BUDGET_SCOPES, "ck_budgets_scope"),
        check_in("window_kind", BUDGET_WINDOWS, "ck_budgets_window"),
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
