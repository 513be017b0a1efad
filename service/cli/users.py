"""``moderate users``: the people who sign in to the moderation page (create, list, set-password, sign-out, delete,
unlock)."""

from __future__ import annotations

import sys
from typing import Any

import click

from service.cli.common import BadInput, echo_table, table_format_option, with_database, with_existing_database

ROLE_CHOICES = ("moderator", "admin")
"""``service.users.ROLES``, repeated here so that ``moderate --help`` need not import SQLAlchemy."""


PASSWORD_HELP = ("Asked for when not given (or read as one line from standard input when piped); avoid passing it on "
                 "the command line, where others may see it.")


def _new_password(given: str | None) -> str:
    """``given``, else one line of piped standard input, else asked for twice without echoing it."""
    if given is not None:
        return given
    if sys.stdin.isatty():
        return click.prompt("Password", hide_input=True, confirmation_prompt=True)
    # A piped password (`printf '%s\n' "$PW" | moderate users create ann`) comes once, without a confirmation.
    line = sys.stdin.readline().removesuffix("\n").removesuffix("\r")
    if not line:
        raise BadInput("no password on standard input: pipe one line holding it, or run the command in a terminal to be asked")
    return line


@click.group()
def users() -> None:
    """Moderators and admins of the moderation page at /ui (passwords are stored as argon2 hashes)."""


@users.command("create")
@click.argument("name")
@click.option("--role", type=click.Choice(ROLE_CHOICES), default="moderator", show_default=True,
              help="moderator: review queue and try-it page; admin: also API keys and the model page.")
@click.option("--password", help=PASSWORD_HELP)
@with_database
def users_create(session: Any, name: str, role: str, password: str | None) -> None:
    """Create user NAME, who signs in at /ui with the password asked for."""
    from service.users import UserError, check_name, create_user, find_user

    try:
        if find_user(session, check_name(name)) is not None:  # before asking for a password that would be wasted
            raise UserError(f"a user called {name.strip()!r} exists; choose another name or "
                            f"`moderate users set-password {name.strip()}`")
        user = create_user(session, name, _new_password(password), role)
    except UserError as error:
        raise BadInput(error) from error
    click.echo(f"Created {user.role} {user.name}; they sign in at /ui", err=True)


@users.command("list")
@table_format_option
@with_existing_database
def users_list(session: Any, table_format: str | None) -> None:
    """List users: name, role, created time (UTC)."""
    from service.users import list_users

    rows = list_users(session)
    if not rows:
        click.echo("No users; create one with `moderate users create NAME --role admin`.", err=True)
        return
    echo_table(["name", "role", "created"],
               ([user.name, user.role, user.created_at.isoformat(timespec="seconds")] for user in rows), table_format)


@users.command("set-password")
@click.argument("name")
@click.option("--password", help=PASSWORD_HELP)
@with_existing_database
def users_set_password(session: Any, name: str, password: str | None) -> None:
    """Give NAME a new password; their open sessions end."""
    from service.users import UserError, existing_user, set_password

    try:
        existing_user(session, name)  # before asking for a password that would be wasted
        set_password(session, name, _new_password(password))
    except UserError as error:
        raise BadInput(error) from error
    click.echo(f"New password set for {name}; their open sessions have ended", err=True)


@users.command("sign-out")
@click.argument("name")
@with_existing_database
def users_sign_out(session: Any, name: str) -> None:
    """End NAME's open sessions on every device, keeping their password (a lost laptop, a copied cookie)."""
    from service.users import UserError, end_sessions, existing_user

    try:
        end_sessions(session, existing_user(session, name))
    except UserError as error:
        raise BadInput(error) from error
    click.echo(f"Signed {name} out on every device; they sign in again with their password", err=True)


@users.command("delete")
@click.argument("name")
@with_existing_database
def users_delete(session: Any, name: str) -> None:
    """Delete NAME (the feedback they gave keeps their name)."""
    from service.users import UserError, delete_user, list_users

    try:
        delete_user(session, name)
    except UserError as error:
        raise BadInput(error) from error
    click.echo(f"Deleted {name}", err=True)
    if not any(user.is_admin for user in list_users(session)):
        click.echo("No admin is left to manage API keys on the moderation page; make one with "
                   "`moderate users create NAME --role admin`", err=True)


@users.command("unlock")
@click.argument("name")
def users_unlock(name: str) -> None:
    """Let sign-ins as NAME through again now: clear what they spent of SIGN_IN_NAME_LIMIT.

    Past that limit (20 an hour by default) a sign-in as NAME is refused, right password or wrong, from any browser that
    has not signed in as NAME before, until its hour is over. The counts are cleared where the service keeps them,
    RATELIMIT_STORAGE_URI (Redis, Memcached...), for every server using it. With memory:// (the default) each server
    worker counts in its own memory, which no command can reach: this says so and clears nothing. NAME need not be a
    user's (any name is counted). The limit per client address (SIGN_IN_RATE_LIMIT) is not changed.
    """
    from service.budgets import storage_outside_the_app
    from service.config import ConfigError, load_config
    from service.redis_client import RedisError
    from service.ui.name_limit import SETTING, unlock

    name = name.strip()  # as the sign-in form counts it
    try:
        config = load_config()
    except ConfigError as error:
        raise BadInput(error) from error
    storage = storage_outside_the_app(config)
    if storage is None:
        raise BadInput(f"RATELIMIT_STORAGE_URI is {config['RATELIMIT_STORAGE_URI']}: each server worker counts sign-ins in "
                       f"its own memory, which this command cannot reach, so nothing was cleared. {name} can sign in "
                       f"again when the window of SIGN_IN_NAME_LIMIT ({config[SETTING]}) ends, or at once after the "
                       "server's workers are replaced (`kill -HUP <master pid>`, or a restart), which clears every "
                       "count they hold, for every name and address")
    try:
        spent = unlock(storage, config[SETTING], name)
    except (RedisError, OSError) as error:
        raise click.ClickException(f"the limit storage (RATELIMIT_STORAGE_URI) cannot be reached ({type(error).__name__}): "
                                   f"nothing was cleared; try again once it answers, or wait for the window of "
                                   f"SIGN_IN_NAME_LIMIT ({config[SETTING]}) to end") from error
    if spent:
        click.echo(f"Unlocked {name}: {spent} sign-ins counted against SIGN_IN_NAME_LIMIT ({config[SETTING]}) were "
                   "cleared; they may sign in again now", err=True)
    else:
        click.echo(f"No sign-ins as {name} were counted against SIGN_IN_NAME_LIMIT ({config[SETTING]}) in this window: "
                   "nothing to clear (a name typed otherwise? `moderate users list` shows them)", err=True)
