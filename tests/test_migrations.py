"""Migrations: they build exactly the ORM's schema, on both databases, and run idempotently."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine

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
