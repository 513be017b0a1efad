"""What every ``moderate`` command shares: the bad-input error (exit 2), list tables, loading a bundle, opening the database."""

from __future__ import annotations

import functools
import sys
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130
"""Exit status of a command stopped by Ctrl-C (128 + SIGINT, as a shell reports it)."""
ENCODER_MODES = click.Choice(["encoder", "cascade"])
"""``--encoder-mode`` of ``score`` and ``serve``: ``model.encoder_model.MODES``, written out so that ``moderate --help``
imports no model code (a test keeps the two equal)."""

DATA_DIR_HELP = ("The public data folder, holding hostility/ and claims/; this option wins over $MODERATION_DATA_DIR "
                 "[default: $MODERATION_DATA_DIR, else shared/data beside the project folder].")
"""``--data-dir`` of ``train`` and ``eval``: the order ``model.training.data.resolve_data_dir`` (and the notebooks) follow."""


TABLE_FORMATS = ("table", "tsv")
TABLE_FORMAT_HELP = ("table: columns lined up with spaces, for reading [default on a terminal]; tsv: a header row, then a "
                     "row per line with one tab between columns, a stable format for scripts [default when the output is "
                     "piped or redirected].")
COLUMN_GAP = "  "
"""Between two columns of a ``table``."""


def table_format_option(command: Callable[..., None]) -> Callable[..., None]:
    """Decorator: the ``--format table|tsv`` option of the list commands, passed as ``table_format``."""
    return click.option("--format", "table_format", type=click.Choice(TABLE_FORMATS), help=TABLE_FORMAT_HELP)(command)


def default_table_format() -> str:
    """``table`` when stdout is a terminal, else ``tsv``: what a script reads stays the same."""
    return "table" if sys.stdout.isatty() else "tsv"


def echo_table(header: Sequence[str], rows: Iterable[Sequence[str]], table_format: str | None = None) -> None:
    """Print ``header`` and ``rows`` on stdout as ``table_format`` says (None: ``default_table_format()``)."""
    lines = [list(header), *(list(row) for row in rows)]
    if (table_format or default_table_format()) == "tsv":
        for line in lines:
            click.echo("\t".join(line))
        return
    widths = [max(map(display_width, (line[column] for line in lines))) for column in range(len(header))]
    for line in lines:
        click.echo(COLUMN_GAP.join(cell + " " * (width - display_width(cell)) for cell, width in zip(line, widths)).rstrip())


def display_width(text: str) -> int:
    """Columns ``text`` takes on a terminal: two for a wide character (CJK, most emoji), none for a combining mark."""
    return sum(0 if unicodedata.combining(char) else 2 if unicodedata.east_asian_width(char) in "WF" else 1 for char in text)


@contextmanager
def progress_bar(total: int, description: str, unit: str) -> Iterator[Callable[[int], None]]:
    """``advance(n)``, which moves a tqdm bar on stderr by ``n`` of ``total`` when a person watches stderr; away from a
    terminal (cron, a log file) it does nothing, so that a scheduled run's output stays its summary lines."""
    if not sys.stderr.isatty():
        yield lambda _n: None
        return
    from tqdm import tqdm

    with tqdm(total=total, desc=description, unit=unit, leave=False, file=sys.stderr, dynamic_ncols=True) as bar:
        yield bar.update


class BadInput(click.ClickException):
    """A problem with what the user gave us: printed as one ``Error:`` line, exit status 2."""

    exit_code = EXIT_BAD_INPUT

    def __init__(self, message: object):
        super().__init__(" ".join(str(message).split()))


def os_error_message(error: OSError) -> str:
    """Return ``file: reason`` for an OSError."""
    where = f"{error.filename}: " if error.filename else ""
    return f"{where}{error.strerror or error}"


def load_scorer_or_fail(model: Path | None, warm_up: bool = True, encoder_mode: str | None = None,
                        batch: bool = False, policy_path: Path | None = None,
                        default_encoder_mode: str | None = None) -> Any:
    """Load the Scorer (``Scorer.load``), turning a bad bundle, policy file (or encoder-threads setting) into BadInput.

    ``batch``: the scorer scores large batches in this one process, so its encoder gets every core
    (``model.parallel.threads_per_process``); otherwise one thread (or ``$MODERATION_ENCODER_THREADS``).
    ``policy_path``: a policy file applied instead of the bundle's own ``policy.toml``, as the server's ``POLICY``.
    ``default_encoder_mode``: the mode when ``encoder_mode`` is not given, as the server's ``ENCODER_MODE``.
    """
    # model.scoring, not service.app.load_scorer: `moderate score --text` should not import Flask and SQLAlchemy.
    from model.bundle import BundleError
    from model.parallel import threads_per_process
    from model.policy import PolicyError, load_policy
    from model.scoring import Scorer

    try:
        if policy_path is not None:
            load_policy(policy_path)  # checked before the bundle, which takes seconds to load
        threads = threads_per_process() if batch else None
        return Scorer.load(model, policy_path=policy_path, warm_up=warm_up, encoder_mode=encoder_mode,
                           default_encoder_mode=default_encoder_mode, encoder_threads=threads)
    except (BundleError, PolicyError) as error:
        raise BadInput(error) from error



MISSING_DATABASE_HINT = "create it with `moderate db upgrade` (or `make run`), or point MODERATION_DB_URL at the right database"


def missing_sqlite_file(configured_url: str | None) -> Path | None:
    """The SQLite file ``DB_URL`` names when it does not exist; None when it exists or is not a SQLite file."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    from service.store import database_url, sqlite_file

    try:
        path = sqlite_file(make_url(database_url(configured_url)))
    except ArgumentError:
        return None  # make_engine says what is wrong with the URL
    return path if path is not None and not path.exists() else None


def _never_migrated(engine: Any) -> bool:
    """Whether the database holds no schema revision (no tables of ours); False when it cannot be asked (the upgrade
    that follows says why)."""
    from sqlalchemy.exc import SQLAlchemyError

    from service.migrations import current_revision

    try:
        return current_revision(engine) is None
    except SQLAlchemyError:
        return False


@contextmanager
def open_database(create: bool = True, migrate: bool = True) -> Iterator[Any]:
    """A session on the configured database, migrated (or checked) as the app would; BadInput if unusable.

    With ``create`` false, or ``DB_AUTO_UPGRADE`` off, a missing SQLite file is BadInput naming it (and
    how to create it) rather than a new empty database, and no folder is made for it. With ``migrate`` false (a
    dry run) the schema is only checked, whatever ``DB_AUTO_UPGRADE`` says: a database behind is BadInput.
    """
    from sqlalchemy.orm import Session

    from service.config import ConfigError, load_config
    from service.migrations import SchemaMismatch, check_current, is_known, upgrade
    from service.store import StoreError, database_url, make_engine, safe_url

    try:
        config = load_config()
        migrate = migrate and bool(config["DB_AUTO_UPGRADE"])
        existing_only = not create
        create = create and migrate
        if not create and (missing := missing_sqlite_file(config["DB_URL"])) is not None:
            raise BadInput(f"no database at {missing}: {MISSING_DATABASE_HINT}")
        engine = make_engine(config["DB_URL"], create=create)
        if existing_only and migrate and _never_migrated(engine):
            # An empty PostgreSQL database (or SQLite file) a mistyped MODERATION_DB_URL names: `keys list` made the
            # service's tables in it and answered "No keys".
            raise BadInput(f"database {safe_url(database_url(config['DB_URL']))} holds no moderation tables: "
                           f"{MISSING_DATABASE_HINT}")
        if migrate:
            upgrade(engine)
        else:
            check_current(engine)
    except SchemaMismatch as error:
        if migrate or not config["DB_AUTO_UPGRADE"] or (error.found is not None and not is_known(error.found)):
            raise BadInput(error) from error
        raise BadInput(f"database {safe_url(database_url(config['DB_URL']))} is at schema revision {error.found or 'none'} but "
                       f"this version needs {error.needed}: a dry run changes nothing, not even the schema; run "
                       "`moderate db upgrade` first") from error
    except (StoreError, ConfigError) as error:
        raise BadInput(error) from error
    try:
        with Session(engine) as session:
            yield session
    finally:
        engine.dispose()


def _database_command(command: Callable[..., None], create: bool) -> Callable[..., None]:
    """``command`` run with a session from ``open_database(create)`` as its first argument; with ``--dry-run`` (its
    ``dry_run`` argument true) the schema is checked, never migrated: a dry run changes nothing."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        with open_database(create, migrate=not kwargs.get("dry_run", False)) as session:
            command(session, *args, **kwargs)

    return wrapper


def with_database(command: Callable[..., None]) -> Callable[..., None]:
    """Decorator of the commands that may start a database (``keys create``, ``keys ensure-local``, ``users create``).

    The command gets a session as its first argument, on the database that ``open_database`` migrated or
    checked as the app would (BadInput if it cannot be used; a missing SQLite file is created, with its
    folder, when ``DB_AUTO_UPGRADE`` is on); the session and engine are closed after it.
    """
    return _database_command(command, create=True)


def with_existing_database(command: Callable[..., None]) -> Callable[..., None]:
    """Decorator of the commands that read or change what a database holds (``keys list``, ``feedback export``...).

    As ``with_database``, except that a missing SQLite file is BadInput naming it and saying how to create
    it: never a new empty database (nor its folder) where a mistyped ``MODERATION_DB_URL`` points.
    """
    return _database_command(command, create=False)
