"""Alembic environment: runs on the engine Modeldesk hands over (never a URL in a file)."""

from alembic import context

from core.store.tables import Base

config = context.config
engine = config.attributes["engine"]

with engine.begin() as connection:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=True,  # SQLite cannot ALTER most things; batch mode rebuilds tables
        compare_type=True,
    )
    context.run_migrations()
