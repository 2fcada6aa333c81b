"""The migrations and the ORM models describe the same schema, on both backends."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine

from vrm.migrate import current_revision, head_revision
from vrm.models import Base


def test_database_is_at_head(engine: Engine) -> None:
    assert current_revision(engine) == head_revision()


def test_models_match_migrations(engine: Engine) -> None:
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        diff = compare_metadata(context, Base.metadata)
    assert diff == [], f"models and migrations differ; write a migration: {diff}"
