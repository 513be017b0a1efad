"""``moderate keys``: create, list and revoke API keys."""

from __future__ import annotations

from typing import Any

import click

from service.cli.common import BadInput, with_database
from service.scopes import SCOPES

@click.group()
def keys() -> None:
    """Create, list and revoke API keys (only a SHA-256 of each key is stored)."""


def _key_name(_context: click.Context, _parameter: click.Parameter, name: str) -> str:
    """Check NAME before the database is opened."""
    from service.store import KEY_NAME_CHARS

    if not name.strip() or len(name) > KEY_NAME_CHARS:
        raise BadInput(f"NAME must be 1 to {KEY_NAME_CHARS} characters")
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
    """Create a key called NAME and print it: it is shown only this once."""
    from service.auth import create_key
    from service.scopes import DEFAULT_SCOPES

    row, secret = create_key(session, name, scopes or DEFAULT_SCOPES)
    click.echo(f"Created key {row.id} ({name}, scopes: {row.scopes}). Store it now; it cannot be shown again:", err=True)
    click.echo(secret)


@keys.command("list")
@with_database
def keys_list(session: Any) -> None:
    """List keys: id, name, prefix, created time, scopes, revoked time."""
    from service.auth import list_keys

    rows = list_keys(session)
    if not rows:
        click.echo("No keys; create one with `moderate keys create NAME`.", err=True)
        return
    click.echo("id\tname\tprefix\tcreated\tscopes\trevoked")
    for row in rows:
        revoked = row.revoked_at.isoformat(timespec="seconds") if row.revoked_at else "-"
        created = row.created_at.isoformat(timespec="seconds")
        click.echo(f"{row.id}\t{row.name}\t{row.prefix}...\t{created}\t{row.scopes.replace(' ', ',')}\t{revoked}")


@keys.command("revoke")
@click.argument("key_id_or_name")
@with_database
def keys_revoke(session: Any, key_id_or_name: str) -> None:
    """Revoke the key with this id, or every active key with this name (servers refuse it within KEY_CACHE_SECONDS)."""
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
        click.echo(f"An active '{LOCAL_KEY_NAME}' API key already exists (see `moderate keys list`).", err=True)
        return
    click.echo(f"Created the '{LOCAL_KEY_NAME}' API key; it is shown only now. Send it as 'Authorization: Bearer KEY':", err=True)
    click.echo(secret)

