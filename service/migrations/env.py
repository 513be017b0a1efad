"""Alembic environment: migrate the connection that ``service.migrations`` hands over."""

from __future__ import annotations

from alembic import context

from service.store import Base
from service.users import User  # noqa: F401  (its table joins Base.metadata for autogenerate)

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through `moderate db upgrade` or service.migrations, which pass a connection")

# Batch mode lets ALTER TABLE work on SQLite, which cannot alter most columns in place.
context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True, compare_type=True)
with context.begin_transaction():
    context.run_migrations()
