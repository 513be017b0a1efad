"""The Alembic migrations build exactly the tables, columns and indexes the code declares."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine

import service.users  # noqa: F401  (its table joins Base.metadata)
from service.migrations import upgrade
from service.store import Base


def test_the_migrated_schema_matches_the_declared_tables(tmp_path):
    engine = create_engine(f"sqlite:///{tmp_path / 'schema.db'}")
    upgrade(engine)
    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    engine.dispose()
    # A model changed without a migration (or the reverse): `python -m service.migrations revision -m ...` writes one.
    assert differences == []
