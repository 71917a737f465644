"""Migrations: they build exactly the ORM's schema, on both databases, and run idempotently."""

from __future__ import annotations

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, text

from core.store import db
from core.store.tables import Base


def test_migrated_schema_matches_the_models(db_url):
    engine = create_engine(db_url)
    with engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []
    assert db.current_revision(engine) == db.head_revision()
    engine.dispose()


def test_upgrade_twice_is_a_no_op(db_url):
    engine = db.create_db_engine(db_url)
    db.upgrade(engine)
    db.upgrade(engine)
    assert db.current_revision(engine) == db.head_revision()
    engine.dispose()


def test_the_keys_occurred_at_index_is_brin_on_postgresql_and_downgrades_to_a_btree(db_url):
    engine = db.create_db_engine(db_url)
    if engine.dialect.name != "postgresql":
        engine.dispose()
        pytest.skip("SQLite keeps a B-tree (it has no BRIN)")

    def method() -> str:
        with engine.connect() as conn:
            return conn.scalar(
                text(
                    "SELECT am.amname FROM pg_class c JOIN pg_am am ON am.oid = c.relam "
                    "WHERE c.relname = 'ix_usage_event_keys_occurred_at'"
                )
            )

    assert method() == "brin"
    config = db._alembic_config(engine)
    command.downgrade(config, "0011")
    assert method() == "btree"
    command.upgrade(config, "head")
    assert method() == "brin"
    engine.dispose()
