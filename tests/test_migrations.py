"""The database schema: the Alembic migrations build exactly the tables the code declares; errors hide parameters."""

from __future__ import annotations

import pytest

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


def test_database_errors_never_quote_the_parameters_that_may_hold_comment_text(tmp_path):
    from sqlalchemy import text
    from sqlalchemy.exc import IntegrityError

    from service.store import make_engine

    engine = make_engine(f"sqlite:///{tmp_path / 'errors.db'}")
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE kept (body TEXT UNIQUE)"))
        connection.execute(text("INSERT INTO kept VALUES (:body)"), {"body": "my neighbour is a liar"})
    with pytest.raises(IntegrityError) as raised, engine.begin() as connection:
        connection.execute(text("INSERT INTO kept VALUES (:body)"), {"body": "my neighbour is a liar"})
    engine.dispose()
    assert "UNIQUE" in str(raised.value) and "liar" not in str(raised.value)
