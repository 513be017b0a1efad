"""``moderate keys``: create, list and revoke API keys."""

from __future__ import annotations

from typing import Any

import click

from service.cli.common import BadInput, echo_table, table_format_option, with_database, with_existing_database
from service.scopes import SCOPES

SCOPE_SEPARATOR = ","
"""Between a key's scopes wherever the command line shows them (``keys create``, ``keys list``): one field, no spaces."""


def _scopes_text(stored: str) -> str:
    """A key row's scopes as the commands show them: ``moderate,feedback`` (space-separated in the database)."""
    return SCOPE_SEPARATOR.join(stored.split())


@click.group()
def keys() -> None:
    """Create, list and revoke API keys (only a SHA-256 of each key is stored)."""


def _key_name(_context: click.Context, _parameter: click.Parameter, name: str) -> str:
    """Check NAME before the database is opened (``service.auth.key_name_problem``)."""
    from service.auth import key_name_problem

    problem = key_name_problem(name)
    if problem is not None:
        raise BadInput(f"NAME {problem}")
    return name


@keys.command("create")
@click.argument("name", callback=_key_name)
@click.option(
    "--scope",
    "scopes",
    multiple=True,
    type=click.Choice(SCOPES),
    help="What the key may do; repeat for several. moderate: score comments; feedback: send moderator "
    "decisions (training data); admin: everything. [default: moderate and feedback]",
)
@with_database
def keys_create(session: Any, name: str, scopes: tuple[str, ...]) -> None:
    """Create a key called NAME and print it: it is shown only this once.

    NAME is what the key is for (the site or program using it); no active key may have it already, and it
    may not be all digits, start with "id:" or "name:", have spaces around it or control characters.
    """
    from service.auth import BadKeyName, check_new_key_name, create_key
    from service.scopes import DEFAULT_SCOPES

    try:
        check_new_key_name(session, name)
    except BadKeyName as error:
        raise BadInput(f"NAME {error}") from error
    row, secret = create_key(session, name, scopes or DEFAULT_SCOPES)
    click.echo(f"Created key {row.id} ({name}, scopes: {_scopes_text(row.scopes)}). Store it now; it cannot be shown again:", err=True)
    click.echo(secret)


@keys.command("list")
@table_format_option
@with_existing_database
def keys_list(session: Any, table_format: str | None) -> None:
    """List keys: id, name, prefix, created time (UTC), scopes (comma-separated), revoked time or -."""
    from service.auth import list_keys

    rows = list_keys(session)
    if not rows:
        click.echo("No keys; create one with `moderate keys create NAME`.", err=True)
        return
    echo_table(["id", "name", "prefix", "created", "scopes", "revoked"], (
        [str(row.id), row.name, f"{row.prefix}...", row.created_at.isoformat(timespec="seconds"), _scopes_text(row.scopes),
         row.revoked_at.isoformat(timespec="seconds") if row.revoked_at else "-"] for row in rows), table_format)


@keys.command("revoke")
@click.argument("key_id_or_name", metavar="ID_OR_NAME")
@with_existing_database
def keys_revoke(session: Any, key_id_or_name: str) -> None:
    """Revoke the key with this id, or every active key with this name (servers refuse it within KEY_CACHE_SECONDS).

    "id:N" is only key N, "name:X" only the keys named X. A number that is one key's id and another key's
    name (possible for keys made before names were checked) is refused until you say which.
    """
    from service.auth import UnknownKey, revoke_key

    try:
        rows = revoke_key(session, key_id_or_name)
    except UnknownKey as error:
        raise BadInput(error) from error
    click.echo(f"Revoked {', '.join(f'key {row.id} ({row.name})' for row in rows)}", err=True)


@keys.command("ensure-local")
@with_database
def keys_ensure_local(session: Any) -> None:
    """Create the "local" key if no active one exists, and print it; print nothing if it exists."""
    from service.auth import LOCAL_KEY_NAME, ensure_local_key

    secret = ensure_local_key(session)
    if secret is None:
        click.echo(f"An active '{LOCAL_KEY_NAME}' API key already exists (see `.venv/bin/moderate keys list`); keys are stored "
                   "only as hashes, so it cannot be shown again: if you lost it, make another with "
                   "`.venv/bin/moderate keys create NAME`.", err=True)
        return
    click.echo(f"Created the '{LOCAL_KEY_NAME}' API key; it is shown only now. Send it as 'Authorization: Bearer KEY':", err=True)
    click.echo(secret)

