"""``moderate db`` (schema migrations) and ``moderate feedback`` (export stored moderator feedback)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from service.cli.common import BadInput, with_existing_database

@click.group()
def db() -> None:
    """Database schema (SQLite file by default; $MODERATION_DB_URL for PostgreSQL)."""


@db.command("upgrade")
def db_upgrade() -> None:
    """Apply the schema migrations to the configured database."""
    from service.config import ConfigError, load_config
    from service.migrations import current_revision, upgrade
    from service.store import StoreError, make_engine, safe_url

    try:
        engine = make_engine(load_config()["DB_URL"])
    except (StoreError, ConfigError) as error:
        raise BadInput(error) from error
    try:
        upgrade(engine)
        revision = current_revision(engine)
    except StoreError as error:
        raise BadInput(error) from error
    finally:
        engine.dispose()
    click.echo(f"{safe_url(str(engine.url))} is at schema revision {revision}")


@click.group()
def feedback() -> None:
    """Moderator feedback stored by the API."""


@feedback.command("export")
@click.option("-o", "--output", required=True, type=click.Path(path_type=Path), help="Table to write (.csv, .jsonl or .parquet).")
@click.option(
    "--key",
    "key_name_or_id",
    metavar="ID_OR_NAME",
    help="Only the feedback sent with this API key: its id, or every key with this name, as `moderate keys revoke` reads them "
    "(id:N or name:X to say which).",
)
@with_existing_database
def feedback_export(session: Any, output: Path, key_name_or_id: str | None) -> None:
    """Write stored feedback as a training table: text, comment_id, decision, one column per label, created_at, source, the key that sent it."""
    from service.feedback_export import UnknownKeyFilter, export_feedback, keys_matching
    from service.tables import TableError

    try:
        key_ids = None if key_name_or_id is None else keys_matching(session, key_name_or_id)
        n_rows = export_feedback(session, output, key_ids=key_ids)
    except (TableError, UnknownKeyFilter) as error:
        raise BadInput(error) from error
    click.echo(f"Wrote {n_rows} feedback rows to {output}", err=True)
