"""``moderate db`` (schema migrations, backups, pruning old rows, forgetting comments) and ``moderate feedback`` (export stored feedback)."""

from __future__ import annotations

import contextlib
import datetime as dt
import re
from pathlib import Path
from collections.abc import Callable, Iterator
from typing import Any, TextIO

import click

from service.cli.common import (EXIT_INTERRUPTED, MISSING_DATABASE_HINT, BadInput, missing_sqlite_file, os_error_message,
                                progress_bar, with_existing_database)

DELETE_BATCH_ROWS = 5_000
"""Rows ``moderate db prune`` deletes per transaction by default."""
LARGEST_BATCH_ROWS = 2**63 - 1
"""The largest ``--batch-size``: the largest integer SQLite and PostgreSQL take for a LIMIT (above it, a traceback)."""
HOURS_PER_UNIT = {"": 24, "d": 24, "h": 1, "w": 24 * 7}
"""``--older-than`` units: none means days."""


class Age(click.ParamType):
    """An age such as 90 (days), 90d, 36h or 12w: never negative."""

    name = "DURATION"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> dt.timedelta:
        if isinstance(value, dt.timedelta):
            return value
        match = re.fullmatch(r"(-?\d+)\s*([dhw]?)", str(value).strip().lower())
        if match is None:
            self.fail(f"{value!r} is not an age: give days (90) or a number with h, d or w (36h, 90d, 12w)", param, ctx)
        if int(match[1]) < 0:
            self.fail(f"{value!r} is negative: give how long ago the oldest row to keep was logged, e.g. 90d", param, ctx)
        try:
            return dt.timedelta(hours=int(match[1]) * HOURS_PER_UNIT[match[2]])
        except OverflowError:
            self.fail(f"{value!r} is too long ago to be a date", param, ctx)


@click.group()
def db() -> None:
    """The database (SQLite file by default; $MODERATION_DB_URL for PostgreSQL): schema, backup, retention, erasure."""


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


@db.command("prune")
@click.option("--older-than", "age", required=True, type=Age(),
              help="Delete what was logged longer ago than this: days (90) or 36h, 90d, 12w.")
@click.option("--include-feedback", is_flag=True,
              help="Prune moderator feedback too. It is training data, so it is kept by default.")
@click.option("--all", "everything", is_flag=True, help="Allow --older-than 0, which deletes every row logged until now.")
@click.option("--batch-size", type=click.IntRange(min=1, max=LARGEST_BATCH_ROWS), default=DELETE_BATCH_ROWS, show_default=True,
              help="Rows deleted per transaction: the service's writers wait at most one batch.")
@click.option("--dry-run", is_flag=True, help="Count what would be deleted; delete nothing.")
@with_existing_database
def db_prune(session: Any, age: dt.timedelta, include_feedback: bool, everything: bool, batch_size: int, dry_run: bool) -> None:
    """Delete decision-log rows older than --older-than (and the spooled ones), for a retention policy.

    Run it from cron, e.g. daily `moderate db prune --older-than 90d`. Review-queue items older than that leave
    the queue; feedback on them keeps its text and labels unless --include-feedback prunes it too.
    """
    from service.decision_log import spooled_before
    from service.retention import count_older
    from service.store import DecisionRecord, Feedback, utc_now

    if not age and not everything:
        raise BadInput("--older-than 0 would delete every row logged until now; add --all if that is what you want")
    try:
        cutoff = utc_now() - age
    except OverflowError as error:
        raise BadInput(f"--older-than {age.days}d is too long ago to be a date") from error
    tables = [DecisionRecord, Feedback] if include_feedback else [DecisionRecord]
    deleted = [0] * len(tables)
    if dry_run:
        with _database_failure(lambda: "nothing was deleted (--dry-run)", dry_run=True):
            deleted = [count_older(session, model, cutoff) for model in tables]
        spooled = _sweep_spool(spooled_before(cutoff), dry_run)
    else:
        replayed_meanwhile = _spool_checked(spooled_before(cutoff))
        with _database_failure(lambda: _pruned(deleted, batch_size, None)):
            with progress_bar(sum(count_older(session, model, cutoff) for model in tables), "pruning", " rows") as advance:
                _prune_tables(session, tables, cutoff, batch_size, deleted, advance)
        spooled = _sweep_spool(spooled_before(cutoff), dry_run)
        if replayed_meanwhile:  # a worker may have replayed old spooled rows into the database meanwhile
            with _database_failure(lambda: _pruned(deleted, batch_size, spooled.n_rows)):
                _prune_tables(session, tables, cutoff, batch_size, deleted, lambda _n: None)
    what = f"{deleted[0]} decision-log row(s), {deleted[1]} feedback row(s)" if include_feedback else f"{deleted[0]} decision-log row(s)"
    click.echo(f"{'would prune' if dry_run else 'pruned'} {what} and {spooled.n_rows} spooled row(s) "
               f"logged before {cutoff:%Y-%m-%d %H:%M} UTC")
    with _database_failure(lambda: "every row was deleted; only counting the feedback kept failed"):
        n_kept = 0 if include_feedback else count_older(session, Feedback, cutoff)
    if n_kept:
        click.echo(f"{'Would keep' if dry_run else 'Kept'} {n_kept} feedback row(s) as old (training data); "
                   "--include-feedback prunes them too", err=True)
    _warn_busy(spooled.busy)


def _prune_tables(session: Any, tables: list, cutoff: dt.datetime, batch_size: int, deleted: list[int],
                  advance: Callable[[int], None]) -> None:
    """``prune_older`` on each table, adding each committed batch to ``deleted`` (per table) and to ``advance``."""
    from service.feedback_export import keep_feedback_texts
    from service.retention import prune_older
    from service.store import DecisionRecord

    for number, model in enumerate(tables):
        def counted(n_batch: int, number: int = number) -> None:
            deleted[number] += n_batch
            advance(n_batch)

        if model is DecisionRecord:  # feedback sent by comment id takes its text from the log: kept in the feedback
            n_texts = keep_feedback_texts(session, cutoff)
            if n_texts:
                click.echo(f"Wrote the logged text into {n_texts} feedback row(s) sent by comment id alone, which "
                           "retraining pairs with it (training data; --include-feedback prunes old ones)", err=True)
        prune_older(session, model, cutoff, batch_size, on_batch=counted)


def _pruned(deleted: list[int], batch_size: int, n_spooled: int | None) -> str:
    """What a prune stopped midway deleted (every batch is committed; the spool is swept after the database)."""
    went = [f"{n} {name} row(s)" for n, name in zip(deleted, ("decision-log", "feedback"))]
    return _deleted(went, n_spooled, f"each batch of {batch_size:,} is committed")


def _deleted(went: list[str], n_spooled: int | None, committed: str) -> str:
    """``went`` (and the ``n_spooled`` spooled rows; None: the spool was not swept yet) were deleted, and what to do."""
    if n_spooled is None:
        return (f"{', '.join(went)} were deleted ({committed}), nothing from the spool (it is swept after the database); "
                "run the same command again to delete the rest")
    return f"{', '.join(went)} and {n_spooled} spooled row(s) were deleted ({committed}); run the same command again to delete the rest"


def _spool_checked(drop: Callable[[dict[str, Any]], bool]) -> bool:
    """Check that the configured server's spool can be swept (BadInput before anything is deleted, if not) and say
    whether rows wait in it: a worker may replay them into the database at any time."""
    from service.config import load_config
    from service.decision_log import spool_directory

    _sweep_spool(drop, dry_run=True)
    directory = spool_directory(load_config())
    return directory.is_dir() and any(directory.glob("decisions-*"))


@contextlib.contextmanager
def _database_failure(done: Callable[[], str], dry_run: bool = False) -> Iterator[None]:
    """Turn a database error into one ``Error:`` line (exit 2) and Ctrl-C into ``Interrupted:`` (``EXIT_INTERRUPTED``),
    each followed by ``done()``: what was deleted until then. Ctrl-C in a dry run stops it as usual."""
    from sqlalchemy.exc import SQLAlchemyError

    try:
        yield
    except (KeyboardInterrupt, SQLAlchemyError) as error:
        if dry_run and isinstance(error, KeyboardInterrupt):
            raise
        if isinstance(error, SQLAlchemyError):
            raise BadInput(f"the database failed ({_database_error(error)}): {done()}") from error
        click.echo(f"Interrupted: {done()}", err=True)
        raise click.exceptions.Exit(EXIT_INTERRUPTED) from None


def _database_error(error: Exception) -> str:
    """The driver's error in one line (``OperationalError: database is locked``), without SQLAlchemy's SQL and link."""
    from service.migrations import first_line  # here: alembic is slow to import, and most commands never need it

    return first_line(getattr(error, "orig", None) or error)


@db.command("forget")
@click.option("--comment-id", "comment_ids", multiple=True, metavar="ID", help="A comment id to forget (repeatable).")
# utf-8-sig: a byte-order mark (Notepad, Excel) would otherwise stick to the first id, which then matches no row.
@click.option("--from", "id_file", type=click.File("r", encoding="utf-8-sig"),
              help="A file of comment ids to forget, one per line ('-' reads standard input).")
@click.option("--same-text", is_flag=True,
              help="Also delete rows without a comment id (Perspective, Coral) holding the same text as a forgotten comment. "
                   "A short text such as 'First!' may be someone else's too.")
@click.option("--dry-run", is_flag=True, help="Count what would be deleted; delete nothing.")
@with_existing_database
def db_forget(session: Any, comment_ids: tuple[str, ...], id_file: TextIO | None, same_text: bool, dry_run: bool) -> None:
    """Delete every stored row about these comment ids (an erasure request): decision log, feedback, review queue, spool.

    Prints the rows deleted per table and the ids not found (not an error). With several servers, run it on each:
    every server spools its own rows. Perspective's and Coral's rows carry no comment id: --same-text reaches
    those holding the same text as a row that has one.
    """
    from service.decision_log import spooled_about
    from service.retention import Forgotten, forget_comments, text_digests

    wanted = list(dict.fromkeys([*comment_ids, *_ids_in(id_file)]))
    if not wanted:
        raise BadInput("no comment id given: pass --comment-id ID (repeatable) or --from FILE with one id per line")
    forgotten = Forgotten()
    with _database_failure(lambda: "nothing was deleted", dry_run=dry_run):
        digests = sorted(text_digests(session, wanted)) if same_text else []
    replayed_meanwhile = not dry_run and _spool_checked(spooled_about(set(wanted), set(digests)))
    with _database_failure(lambda: _forgot(forgotten, None, dry_run), dry_run=dry_run):
        with progress_bar(len(wanted), "forgetting", " ids") as advance:
            forget_comments(session, wanted, same_text=digests, dry_run=dry_run, result=forgotten, on_chunk=advance)
    # After the database: rows a failed run left spooled are still there for the next run (and still replayed).
    spooled = _sweep_spool(spooled_about(set(wanted), set(digests)), dry_run)
    if replayed_meanwhile:  # a worker may have replayed spooled rows about these comments into the database meanwhile
        with _database_failure(lambda: _forgot(forgotten, spooled.n_rows, dry_run)):
            forget_comments(session, wanted, same_text=digests, result=forgotten)
    verb = "would delete" if dry_run else "deleted"
    for table, n_rows in (("decisions", forgotten.decisions), ("feedback", forgotten.feedback), ("spool", spooled.n_rows)):
        click.echo(f"{table}: {verb} {n_rows} row(s)")
    missing = [comment_id for comment_id in wanted if comment_id not in forgotten.found | spooled.comment_ids]
    click.echo(f"found {len(wanted) - len(missing)} of {len(wanted)} comment id(s)" + (f"; not found: {', '.join(missing)}" if missing else ""))
    if not forgotten.wal_truncated:
        click.echo("SQLite's write-ahead log is in use and could not be emptied: it may hold copies of the deleted rows "
                   "until its next checkpoint; run the command again when the service is quiet", err=True)
    _warn_busy(spooled.busy)


def _forgot(forgotten: Any, n_spooled: int | None, dry_run: bool) -> str:
    """What a forget stopped midway deleted (every ``IDS_PER_QUERY`` ids are committed; the spool is swept after)."""
    from service.retention import IDS_PER_QUERY

    if dry_run:
        return "nothing was deleted (--dry-run)"
    went = [f"{forgotten.decisions} decision-log row(s)", f"{forgotten.feedback} feedback row(s)"]
    return _deleted(went, n_spooled, f"every {IDS_PER_QUERY} ids are committed together")


@db.command("backup")
@click.argument("output", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--overwrite", is_flag=True, help="Replace OUTPUT if it exists (only once the new copy is complete and checked).")
def db_backup(output: Path, overwrite: bool) -> None:
    """Copy the SQLite database to OUTPUT as of one moment, safely while the service runs.

    The copy holds every committed row (API keys, users, decisions, feedback), passes SQLite's integrity check
    before it appears under OUTPUT, is readable by its owner only and is one self-contained file. To restore it, stop
    the service, delete the database's -wal and -shm files if they are there (a crash leaves them: SQLite would
    replay that log into the restored file), and copy it over the database file as the service's user (a new file is
    its copier's, readable by no other: chown it). For PostgreSQL use pg_dump.
    """
    from sqlalchemy.engine import make_url

    from service.backup import BackupError, backup_sqlite
    from service.config import ConfigError, load_config
    from service.store import database_url, safe_url, sqlite_file

    try:
        config = load_config()
    except ConfigError as error:
        raise BadInput(error) from error
    url = make_url(database_url(config["DB_URL"]))
    if url.get_backend_name() != "sqlite":
        raise BadInput(f"{safe_url(str(url))} is PostgreSQL: back it up with pg_dump, e.g. pg_dump --format=custom "
                       f"--file {output} (with the connection settings of MODERATION_DB_URL; the password from "
                       "PGPASSWORD or ~/.pgpass)")
    source = sqlite_file(url)
    if source is None:
        raise BadInput("MODERATION_DB_URL names an in-memory database: it lives and dies with its process, there is no file to back up")
    if missing_sqlite_file(config["DB_URL"]) is not None:
        raise BadInput(f"no database at {source}: {MISSING_DATABASE_HINT}")
    try:
        summary = backup_sqlite(source, output, overwrite=overwrite)
    except BackupError as error:
        raise BadInput(error) from error
    rows = ", ".join(f"{n:,} {table}" for table, n in summary.rows.items())
    click.echo(f"backed up {source} to {summary.target} ({summary.n_bytes / 2**20:.1f} MiB, schema revision "
               f"{summary.revision or 'none'}: {rows})")
    _warn_spooled(config)


def _warn_spooled(config: Any) -> None:
    """Say so when decisions wait in the spool (the database was unreachable): they are not in the backup yet."""
    from service.decision_log import drop_spooled_rows, spool_directory

    with contextlib.suppress(OSError):
        spooled = drop_spooled_rows(spool_directory(config), lambda _row: True, dry_run=True)
        waiting = spooled.n_rows - spooled.n_rejected
        if waiting:
            click.echo(f"{waiting} decision-log row(s) wait in the spool for the database and are not in the backup: "
                       "the service writes them once the database answers", err=True)
        if spooled.n_rejected:
            click.echo(f"{spooled.n_rejected} decision-log row(s) the database refused are in rejected-* files of "
                       f"{spool_directory(config)}, not in the backup, and nothing writes them later: keep a copy of "
                       "those files with the backup (README, *Operations: faults*)", err=True)


def _ids_in(id_file: TextIO | None) -> list[str]:
    """The comment ids of a --from file: one per line, surrounding spaces and blank lines ignored; BadInput if not UTF-8."""
    if id_file is None:
        return []
    if id_file.isatty():  # `--from -` in a terminal: it would wait for input, saying nothing
        click.echo("reading comment ids from the terminal, one per line, until end of file (Ctrl-D on a line of its own)",
                   err=True)
    try:
        return [line.strip() for line in id_file if line.strip()]
    except UnicodeDecodeError as error:
        raise BadInput(f"--from {id_file.name}: not UTF-8 text (byte {error.object[error.start]:#04x}): save it as UTF-8, "
                       "one comment id per line") from error


def _sweep_spool(drop: Callable[[dict[str, Any]], bool], dry_run: bool) -> Any:
    """``drop_spooled_rows`` on the configured server's spool (``DECISION_SPOOL_DIR``); BadInput if it cannot be read or written."""
    from service.config import load_config
    from service.decision_log import drop_spooled_rows, spool_directory

    directory = spool_directory(load_config())
    try:
        return drop_spooled_rows(directory, drop, dry_run=dry_run)
    except OSError as error:
        raise BadInput(f"the decision-log spool cannot be swept ({os_error_message(error)}): run the command as the "
                       f"service's user, or set MODERATION_DECISION_SPOOL_DIR to the folder the service uses") from error


def _warn_busy(busy: list[Path]) -> None:
    if busy:
        click.echo(f"{len(busy)} spool file(s) are being replayed or written by a running worker and were left: "
                   f"{', '.join(map(str, busy))}; run the command again in a few seconds", err=True)


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
@click.option("--overwrite", is_flag=True, help="Replace OUTPUT if it exists (only once the new table is complete).")
@click.option(
    "--spreadsheet-safe",
    is_flag=True,
    help="For a .csv OUTPUT to open in Excel, LibreOffice or Google Sheets (comments are anyone's text, and one can be a "
         "formula: =HYPERLINK(...)): a text cell a spreadsheet would run gets a ' before it and the file starts with a "
         "UTF-8 byte-order mark, as with `moderate score --spreadsheet-safe`. A spreadsheet shows and saves such a cell "
         "as written; a program reading the file itself (`moderate train --site-data`) reads the ' too.",
)
@with_existing_database
def feedback_export(session: Any, output: Path, key_name_or_id: str | None, overwrite: bool, spreadsheet_safe: bool) -> None:
    """Write stored feedback as a training table: text, comment_id, decision, one column per label, created_at, source, the key that sent it.

    Without --spreadsheet-safe every cell is written exactly, for `moderate train --site-data` to read: open such a
    CSV in a spreadsheet only with that option, as a comment can be a formula."""
    from service.feedback_export import UnknownKeyFilter, export_feedback, keys_matching
    from service.tables import TableError

    try:
        key_ids = None if key_name_or_id is None else keys_matching(session, key_name_or_id)
        n_rows = export_feedback(session, output, key_ids=key_ids, overwrite=overwrite, spreadsheet_safe=spreadsheet_safe)
    except (TableError, UnknownKeyFilter) as error:
        raise BadInput(error) from error
    click.echo(f"Wrote {n_rows} feedback rows to {output}", err=True)
