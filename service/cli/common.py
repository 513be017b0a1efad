"""What every ``moderate`` command shares: the bad-input error (exit 2), loading a bundle, opening the database."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

EXIT_BAD_INPUT = 2
ENCODER_MODES = click.Choice(["encoder", "cascade"])
"""``--encoder-mode`` of ``score`` and ``serve``: ``model.encoder_model.MODES``, written out so that ``moderate --help``
imports no model code (a test keeps the two equal)."""

class BadInput(click.ClickException):
    """A problem with what the user gave us: printed as one ``Error:`` line, exit status 2."""

    exit_code = EXIT_BAD_INPUT

    def __init__(self, message: object):
        super().__init__(" ".join(str(message).split()))


def os_error_message(error: OSError) -> str:
    """Return ``file: reason`` for an OSError."""
    where = f"{error.filename}: " if error.filename else ""
    return f"{where}{error.strerror or error}"


def load_scorer_or_fail(model: Path | None, warm_up: bool = True, encoder_mode: str | None = None) -> Any:
    """Load the Scorer (``Scorer.load``), turning a bad bundle into BadInput."""
    # model.scoring, not service.app.load_scorer: `moderate score --text` should not import Flask and SQLAlchemy.
    from model.bundle import BundleError
    from model.scoring import Scorer

    try:
        return Scorer.load(model, warm_up=warm_up, encoder_mode=encoder_mode)
    except BundleError as error:
        raise BadInput(error) from error



@contextmanager
def open_database() -> Iterator[Any]:
    """A session on the configured database, migrated (or checked) as the app would; BadInput if unusable."""
    from sqlalchemy.orm import Session

    from service.config import ConfigError, load_config
    from service.migrations import check_current, upgrade
    from service.store import StoreError, make_engine

    try:
        config = load_config()
        engine = make_engine(config["DB_URL"])
        if config["DB_AUTO_UPGRADE"]:
            upgrade(engine)
        else:
            check_current(engine)
    except (StoreError, ConfigError) as error:
        raise BadInput(error) from error
    try:
        with Session(engine) as session:
            yield session
    finally:
        engine.dispose()


def with_database(command: Callable[..., None]) -> Callable[..., None]:
    """Decorator of the commands that work on the configured database (``keys``, ``feedback``).

    The command gets a session as its first argument, on the database that ``open_database`` migrated or
    checked as the app would (BadInput if it cannot be used); the session and engine are closed after it.
    """

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        with open_database() as session:
            command(session, *args, **kwargs)

    return wrapper
