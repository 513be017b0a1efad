"""The ``moderate`` command: score tables or one text, train, evaluate and serve.

Heavy modules (pandas, scikit-learn, gunicorn) are imported inside the commands so that
``moderate --help`` answers at once.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
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
    help="Add the span and text behind each reason of a table, as the API does (about 100x slower).",
)
@click.option(
    "--chunk-size",
    type=click.IntRange(min=1),
    default=Defaults.SCORE_CHUNK_ROWS,
    show_default=True,
    help="Rows read, scored and written at a time.",
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
        counts = _score_table(input_path, output, text_column, id_column, model, chunk_size, spans)
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
) -> Counter:
    """Stream INPUT through the scorer into OUTPUT; return how many rows got each decision."""
    from tqdm import tqdm

    from service.tables import TableError, TableReader, TableWriter, text_values

    counts: Counter = Counter()
    try:
        with TableReader(input_path, chunk_size) as reader, TableWriter(output) as writer:
            reader.require_columns(text_column, id_column)
            scorer = _load_scorer(model)
            added = [*scorer.attributes, "decision", "reasons"]
            _check_no_clash(input_path, reader.columns, added)
            progress = tqdm(total=reader.n_rows, unit=" rows", file=sys.stderr, disable=not sys.stderr.isatty())
            with progress:
                for frame in reader:
                    _check_no_clash(input_path, list(frame.columns), added)
                    decisions = scorer.moderate(text_values(frame, text_column), with_spans=with_spans)
                    writer.write(frame.assign(**_result_columns(decisions, scorer.attributes)))
                    counts.update(decision.action for decision in decisions)
                    progress.update(len(frame))
    except TableError as error:
        raise BadInput(error) from error
    return counts


@cli.command()
@click.option("--data-dir", type=click.Path(path_type=Path), help="Labelled data [default: model.data's lookup].")
@click.option("--out", type=click.Path(path_type=Path), help="Directory for the new bundle [default: model.train's].")
@click.option("--seed", type=int, help="Random seed for every estimator and split [default: model.train.SEED].")
def train(data_dir: Path | None, out: Path | None, seed: int | None) -> None:
    """Train and calibrate a bundle; print its directory."""
    from model.data import DataError
    from model.train import SEED, train_bundle

    try:
        path = train_bundle(
            data_dir=data_dir, out_dir=out, seed=SEED if seed is None else seed, progress=sys.stderr.isatty()
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
    from model.data import DataError
    from model.report import write_eval_report

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
    """Serve the HTTP API under gunicorn; the model loads once, before the workers start."""
    from model.bundle import BundleError
    from service.app import create_app
    from service.server import serve as run_server

    options = {"HOST": host, "PORT": port, "WORKERS": workers, "THREADS": threads, "MODEL": model}
    try:
        app = create_app({key: value for key, value in options.items() if value is not None})
    except BundleError as error:
        raise BadInput(error) from error
    run_server(app)


def main() -> None:
    """Console-script entry point for ``moderate``."""
    cli(prog_name="moderate")


if __name__ == "__main__":
    main()
