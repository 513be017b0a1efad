"""``moderate score``: one text, or a whole table streamed through the scorer."""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

import click

from service.cli.common import BadInput, load_scorer_or_fail, os_error_message
from service.config import Defaults

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


@click.command()
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
        scorer = load_scorer_or_fail(model)
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
        raise BadInput(os_error_message(error)) from error
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
            scorer = load_scorer_or_fail(model)
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
