"""The ``moderate`` command: score tables or one text, train, evaluate, serve; manage keys, database, feedback.

Heavy modules (pandas, scikit-learn, gunicorn) are imported inside the commands so that
``moderate --help`` answers at once.
"""

from __future__ import annotations

import functools
import json
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

from service.config import Defaults

EXIT_BAD_INPUT = 2


class BadInput(click.ClickException):
    """A problem with what the user gave us: printed as one ``Error:`` line, exit status 2."""

    exit_code = EXIT_BAD_INPUT

    def __init__(self, message: object):
        super().__init__(" ".join(str(message).split()))


def _os_error_message(error: OSError) -> str:
    """Return ``file: reason`` for an OSError."""
    where = f"{error.filename}: " if error.filename else ""
    return f"{where}{error.strerror or error}"


def _load_scorer(model: Path | None) -> Any:
    """Load the Scorer, turning a bad bundle into BadInput."""
    from model.bundle import BundleError
    from service.app import load_scorer

    try:
        return load_scorer(model)
    except BundleError as error:
        raise BadInput(error) from error


def _result_columns(decisions: list, attributes: tuple[str, ...]) -> dict[str, list]:
    """Return the columns ``moderate score`` adds: one per attribute, then decision and reasons."""
    results = [decision.to_dict() for decision in decisions]
    columns: dict[str, list] = {name: [r["scores"][name] for r in results] for name in attributes}
    columns["decision"] = [r["decision"] for r in results]
    columns["reasons"] = [json.dumps(r["reasons"], ensure_ascii=False) for r in results]
    return columns


def _check_no_clash(path: Path, columns: list[str] | None, added: list[str]) -> None:
    """Refuse an input that already has a column we would add, rather than overwrite it."""
    clash = [name for name in added if columns is not None and name in columns]
    if clash:
        raise BadInput(
            f"{path}: already has column {', '.join(map(repr, clash))}, which moderate score adds; "
            "rename or drop it first"
        )


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="comment-moderation", prog_name="moderate")
def cli() -> None:
    """Self-hosted comment moderation: scores, reasons and a decision for every comment."""


@cli.command()
@click.argument("input_path", metavar="[INPUT]", required=False, type=click.Path(path_type=Path))
@click.option("-o", "--output", type=click.Path(path_type=Path), help="Output table (.csv, .jsonl or .parquet).")
@click.option("--text", "text", help="Score this one text and print its JSON result instead of a table.")
@click.option("--text-column", default="text", show_default=True, help="Column holding the comment text.")
@click.option("--id-column", help="Column identifying each comment; checked to exist when given.")
@click.option(
    "--model",
    type=click.Path(path_type=Path),
    envvar="MODERATION_MODEL",
    help="Bundle directory [default: $MODERATION_MODEL or the committed bundle].",
)
@click.option(
    "--spans/--no-spans",
    default=False,
    show_default=True,
    help="Add the span and text behind each reason of a table, as the API does (slower: reports/bench.md). "
         "A threat_phrase reason always has its span.",
)
@click.option(
    "--chunk-size",
    type=click.IntRange(min=1),
    default=Defaults.SCORE_CHUNK_ROWS,
    show_default=True,
    help="Rows read, scored and written at a time.",
)
@click.option(
    "--jobs",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Worker processes scoring each chunk side by side; each loads the model (a few seconds, its own memory). "
         "Use the number of cores for a large archive.",
)
def score(
    input_path: Path | None,
    output: Path | None,
    text: str | None,
    text_column: str,
    id_column: str | None,
    model: Path | None,
    spans: bool,
    chunk_size: int,
    jobs: int,
) -> None:
    """Score every comment of INPUT into OUTPUT, or one --text.

    OUTPUT keeps every column and row of INPUT, in order, and adds one score column per
    attribute (toxicity, ...), decision and reasons (a JSON list). Empty or missing texts are
    approved with reason "empty". Formats follow the file extensions: .csv, .jsonl, .parquet.
    """
    if text is not None:
        if input_path is not None or output is not None:
            raise click.UsageError("give either INPUT with -o OUTPUT, or --text, not both")
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as error:
            raise BadInput("--text is not valid UTF-8; pass UTF-8 text") from error
        scorer = _load_scorer(model)
        decision = scorer.moderate([text])[0]
        click.echo(json.dumps({"model_version": scorer.model_version, **decision.to_dict()}, ensure_ascii=False))
        return
    if input_path is None:
        raise click.UsageError("missing INPUT (or use --text)")
    if output is None:
        raise click.UsageError("missing -o/--output for INPUT")
    if output.resolve() == input_path.resolve():
        raise BadInput(f"{output}: OUTPUT must be a different file from INPUT")
    try:
        counts = _score_table(input_path, output, text_column, id_column, model, chunk_size, spans, jobs)
    except OSError as error:
        raise BadInput(_os_error_message(error)) from error
    summary = ", ".join(f"{n} {action}" for action, n in sorted(counts.items()))
    click.echo(f"Scored {sum(counts.values())} rows into {output} ({summary or 'no rows'})", err=True)


def _score_table(
    input_path: Path,
    output: Path,
    text_column: str,
    id_column: str | None,
    model: Path | None,
    chunk_size: int,
    with_spans: bool,
    jobs: int = 1,
) -> Counter:
    """Stream INPUT through the scorer (in ``jobs`` worker processes) into OUTPUT; return how many rows got each decision."""
    from tqdm import tqdm

    from model.bundle import BundleError
    from model.parallel import ScorerPool
    from service.tables import TableError, TableReader, TableWriter, text_values

    counts: Counter = Counter()
    try:
        with TableReader(input_path, chunk_size) as reader, TableWriter(output) as writer:
            reader.require_columns(text_column, id_column)
            scorer = _load_scorer(model)
            added = [*scorer.attributes, "decision", "reasons"]
            _check_no_clash(input_path, reader.columns, added)
            progress = tqdm(total=reader.n_rows, unit=" rows", file=sys.stderr, disable=not sys.stderr.isatty())
            with ScorerPool(scorer, jobs) as pool, progress:
                for frame in reader:
                    _check_no_clash(input_path, list(frame.columns), added)
                    decisions = pool.moderate(text_values(frame, text_column), with_spans=with_spans)
                    writer.write(frame.assign(**_result_columns(decisions, scorer.attributes)))
                    counts.update(decision.action for decision in decisions)
                    progress.update(len(frame))
    except (TableError, BundleError) as error:  # BundleError: a --jobs worker could not load the bundle
        raise BadInput(error) from error
    return counts


@cli.command()
@click.option("--data-dir", type=click.Path(path_type=Path), help="Labelled data [default: model.data's lookup].")
@click.option("--out", type=click.Path(path_type=Path), help="Directory for the new bundle [default: model.train's].")
@click.option("--seed", type=int, help="Random seed for every estimator and split [default: model.train.SEED].")
@click.option("--site-data", type=click.Path(path_type=Path), help="A site's labelled comments to add: text plus decision (approve/review/reject) or attribute columns.")
@click.option("--site-weight", type=click.FloatRange(min=0, min_open=True), help="Weight of one site comment [default: model.site_data.DEFAULT_SITE_WEIGHT].")
@click.option("--version", "version", help="Name the bundle bundles/VERSION (not made CURRENT; see `moderate models use`).")
def train(data_dir: Path | None, out: Path | None, seed: int | None, site_data: Path | None, site_weight: float | None, version: str | None) -> None:
    """Train and calibrate a bundle; print its directory."""
    from model.training.data import DataError
    from model.training.train import SEED, train_bundle

    extra = {"site_data": site_data, "site_weight": site_weight, "version": version}
    try:
        path = train_bundle(
            data_dir=data_dir, out_dir=out, seed=SEED if seed is None else seed, progress=sys.stderr.isatty(),
            **{key: value for key, value in extra.items() if value is not None},
        )
    except DataError as error:
        raise BadInput(error) from error
    except OSError as error:
        raise BadInput(_os_error_message(error)) from error
    click.echo(str(path))


@cli.command("eval")
@click.option("--data-dir", type=click.Path(path_type=Path), help="Labelled data [default: model.data's lookup].")
@click.option(
    "--model",
    type=click.Path(path_type=Path),
    envvar="MODERATION_MODEL",
    help="Bundle directory [default: $MODERATION_MODEL or the committed bundle].",
)
@click.option("--out", type=click.Path(path_type=Path), default=Path("reports"), show_default=True)
def eval_command(data_dir: Path | None, model: Path | None, out: Path) -> None:
    """Evaluate a bundle on the test split and write a report; print its path."""
    from model.bundle import BundleError
    from model.training.data import DataError
    from model.evaluation.report import write_eval_report

    try:
        path = write_eval_report(model_path=model, data_dir=data_dir, out_dir=out)
    except (BundleError, DataError) as error:
        raise BadInput(error) from error
    except OSError as error:
        raise BadInput(_os_error_message(error)) from error
    click.echo(str(path))


@cli.command()
@click.option("--host", help=f"Address to bind [default: $MODERATION_HOST or {Defaults.HOST}].")
@click.option("--port", type=click.IntRange(0, 65535), help=f"[default: $MODERATION_PORT or {Defaults.PORT}]")
@click.option("--workers", type=click.IntRange(min=1), help=f"[default: $MODERATION_WORKERS or {Defaults.WORKERS}]")
@click.option("--threads", type=click.IntRange(min=1), help=f"[default: $MODERATION_THREADS or {Defaults.THREADS}]")
@click.option("--model", type=click.Path(path_type=Path), help="Bundle directory [default: $MODERATION_MODEL or the committed bundle].")
def serve(host: str | None, port: int | None, workers: int | None, threads: int | None, model: Path | None) -> None:
    """Serve the HTTP API under gunicorn; each worker loads the bundle, and SIGHUP swaps in a newly selected one.

    Settings come from service.config: defaults, the $MODERATION_CONFIG file, $MODERATION_* variables,
    then these options.
    """
    from service.config import ConfigError, load_config
    from service.server import prepare_metrics_dir

    options = {"HOST": host, "PORT": port, "WORKERS": workers, "THREADS": threads, "MODEL": model}
    overrides = {key: value for key, value in options.items() if value is not None}
    try:
        # Before prometheus_client is imported (by service.app): several workers share metrics through files.
        prepare_metrics_dir(int(load_config(overrides)["WORKERS"]))
    except ConfigError as error:
        raise BadInput(error) from error
    from service.server import serve as run_server

    run_server(_create_app(overrides))


def _create_app(overrides: dict[str, Any]) -> Any:
    """create_app, turning a bad bundle, database or setting into BadInput."""
    from model.bundle import BundleError
    from service.app import create_app
    from service.config import ConfigError
    from service.store import StoreError

    try:
        return create_app(overrides)
    except (BundleError, StoreError, ConfigError) as error:
        raise BadInput(error) from error


@contextmanager
def _open_database() -> Iterator[Any]:
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

    The command gets a session as its first argument, on the database that ``_open_database`` migrated or
    checked as the app would (BadInput if it cannot be used); the session and engine are closed after it.
    """

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        with _open_database() as session:
            command(session, *args, **kwargs)

    return wrapper


@cli.group()
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
@with_database
def keys_create(session: Any, name: str) -> None:
    """Create a key called NAME and print it: it is shown only this once."""
    from service.auth import create_key

    row, secret = create_key(session, name)
    click.echo(f"Created key {row.id} ({name}). Store it now; it cannot be shown again:", err=True)
    click.echo(secret)


@keys.command("list")
@with_database
def keys_list(session: Any) -> None:
    """List keys: id, name, prefix, created and revoked times."""
    from service.auth import list_keys

    rows = list_keys(session)
    if not rows:
        click.echo("No keys; create one with `moderate keys create NAME`.", err=True)
        return
    click.echo("id\tname\tprefix\tcreated\trevoked")
    for row in rows:
        revoked = row.revoked_at.isoformat(timespec="seconds") if row.revoked_at else "-"
        click.echo(f"{row.id}\t{row.name}\t{row.prefix}...\t{row.created_at.isoformat(timespec='seconds')}\t{revoked}")


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


@cli.group()
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


@cli.group()
def feedback() -> None:
    """Moderator feedback stored by the API."""


@feedback.command("export")
@click.option("-o", "--output", required=True, type=click.Path(path_type=Path), help="Table to write (.csv, .jsonl or .parquet).")
@with_database
def feedback_export(session: Any, output: Path) -> None:
    """Write stored feedback as a training table: text, comment_id, decision, one column per label, created_at."""
    from service.feedback_export import export_feedback
    from service.tables import TableError

    try:
        n_rows = export_feedback(session, output)
    except TableError as error:
        raise BadInput(error) from error
    click.echo(f"Wrote {n_rows} feedback rows to {output}", err=True)


from service.cli_models import compare_command, models  # noqa: E402 (kept beside the commands they join)

cli.add_command(models)
cli.add_command(compare_command)


def main() -> None:
    """Console-script entry point for ``moderate``."""
    cli(prog_name="moderate")


if __name__ == "__main__":
    main()
