"""``moderate models list|use|verify`` and ``moderate compare``: bundle versions side by side, and what a new one would change.

Registered on the ``moderate`` group by ``service.cli``; heavy modules load inside the commands.
"""

from __future__ import annotations

import math
import os
import pickle
import shlex
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

import click

from service.cli.common import BadInput, echo_table, load_scorer_or_fail, os_error_message, progress_bar, table_format_option


def _number(value) -> str:
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.3f}"


@click.group()
def models() -> None:
    """Bundle versions kept side by side under bundles/ ($MODERATION_BUNDLES_DIR)."""


@models.command("list")
@table_format_option
def list_command(table_format: str | None) -> None:
    """List the bundles with their test ROC AUC (from the manifests); * marks bundles/CURRENT.

    Notes (what the columns mean, bundles that cannot be read, hidden folders that killed trainings left) go to stderr.
    """
    from model.bundle import BUNDLES_DIR_ENV, BundleError, bundles_dir
    from model.versions import check_bundles_folder, current_name, list_bundles

    root = bundles_dir()
    try:
        check_bundles_folder(root)  # as `models use` does
    except BundleError as error:
        raise BadInput(error) from error
    if not root.exists():
        raise BadInput(f"the folder of bundles {root} does not exist: point ${BUNDLES_DIR_ENV} at the folder holding "
                       "them, or create it and run `moderate train`")
    try:
        summaries, current = list_bundles(root), current_name(root)
    except BundleError as error:  # CURRENT is a folder
        raise BadInput(error) from error
    except OSError as error:
        raise BadInput(os_error_message(error)) from error
    if summaries:
        _echo_bundles(summaries, table_format)
    else:
        click.echo(f"no bundles in {root}: run `moderate train`", err=True)
    _echo_abandoned_folders(root)
    if summaries:
        _echo_current_problem(root, current, summaries)


def _echo_current_problem(root: Path, current: str | None, summaries) -> None:
    """Say on stderr when ``root``'s CURRENT names no listed bundle: missing, a dangling symlink, or another name."""
    from model.bundle import CURRENT_FILE

    path = root / CURRENT_FILE
    if current is None and path.is_symlink():  # read_text met a missing target: the file is there, what it names is not
        click.echo(f"{path} is a symlink to {os.readlink(path)}, which does not exist (a removed bundle?): the service "
                   "cannot start; choose a bundle with `moderate models use VERSION`", err=True)
    elif current is None and path.is_file():  # read_current strips it to nothing
        click.echo(f"{path} is empty: the service has no bundle to serve by default; "
                   "choose one with `moderate models use VERSION`", err=True)
    elif current is None:
        click.echo(f"no {path}: the service has no bundle to serve by default; "
                   "choose one with `moderate models use VERSION`", err=True)
    elif not any(s.current for s in summaries):
        click.echo(f"{path} names {current!r}, which is not among these bundles: the service cannot start; "
                   "choose one with `moderate models use VERSION`", err=True)


def _echo_bundles(summaries, table_format: str | None) -> None:
    """The table of ``models list``, then its notes on stderr."""
    sets = sorted({name for s in summaries for name in s.test_auc})
    rows = []
    for s in summaries:
        if s.error:
            rows.append(["*" if s.current else "", s.name, "", "", "", *(["-"] * len(sets))])
            continue
        rows.append(["*" if s.current else "", s.name, s.created[:19] or "-", str(s.training_rows or "-"),
                     str(s.site_rows) if s.site_rows is not None else "-", *(_number(s.test_auc.get(n)) for n in sets)])
    echo_table(["", "version", "created", "training rows", "site rows", *sets], rows, table_format)
    if sets:
        click.echo("(test-set columns: toxicity or unsupported_claim ROC AUC, from each manifest)", err=True)
    unmeasured = [s for s in summaries if not s.error and not s.test_auc]
    if unmeasured:
        # The real folder: bundles/<version> is another one when $MODERATION_BUNDLES_DIR is set.
        folder = unmeasured[0].path
        model = shlex.quote(str(folder)) if len(unmeasured) == 1 else f"{shlex.quote(str(folder.parent))}/<version>"
        click.echo(f"({', '.join(s.name for s in unmeasured)}: no test figures in the manifest; "
                   f"`moderate eval --model {model} --out <folder>` measures them)", err=True)
    for s in summaries:
        if s.error:
            click.echo(f"{s.name}: {s.error}", err=True)


def _echo_abandoned_folders(root: Path) -> None:
    """Name the hidden folders killed trainings left in ``root``, and how to remove them."""
    from model.bundle import abandoned_partial_folders

    for folder in abandoned_partial_folders(root):
        click.echo(f"{folder}: left by a `moderate train` that was killed (its process is gone); the next "
                   f"`moderate train` removes it, or remove it now with `rm -r {shlex.quote(str(folder))}`", err=True)


@models.command("use")
@click.argument("version")
@click.option("--no-load", "no_load", is_flag=True,
              help="Check only the files, manifest and policy, not the probe scores (quicker: no bundle is loaded).")
def use_command(version: str, no_load: bool) -> None:
    """Verify bundle VERSION as `moderate models verify --load` does and make it bundles/CURRENT.

    A bundle verify would fail (a file not listed in its manifest, probe scores that differ on this host, ...) is
    refused and CURRENT left as it was: a server started on it would not be ready. A running `moderate serve`
    switches on SIGHUP (`kill -HUP <gunicorn master pid>`): new workers load the new bundle while the old ones
    finish their requests.
    """
    from model.bundle import CURRENT_FILE, BundleError, bundles_dir
    from model.versions import use_bundle, version_folder

    try:
        folder = version_folder(version)
    except BundleError as error:
        raise BadInput(error) from error
    except OSError as error:  # as use_bundle's, which asked the same before
        raise BadInput(os_error_message(error)) from error
    problems = _verify_one(folder, load=not no_load)
    if problems:
        raise BadInput(f"{version} fails verification, CURRENT is unchanged: {'; '.join(problems)}")
    try:
        folder = use_bundle(version)
    except BundleError as error:
        raise BadInput(error) from error
    except PermissionError as error:  # a read-only folder of bundles, or another user's
        raise BadInput(f"{os_error_message(error)}: `moderate models use` writes {CURRENT_FILE} in {bundles_dir()}; run it "
                       "as a user who may write there (the one who owns it), CURRENT is unchanged") from error
    except OSError as error:
        raise BadInput(os_error_message(error)) from error
    click.echo(f"CURRENT -> {folder.name}; send SIGHUP to the server's master process to serve it")
    pinned = _pinned_model()
    if pinned:
        click.echo(f"note: the setting MODEL is {pinned!r} here, so a server started with these settings serves that "
                   "bundle whatever CURRENT names (SIGHUP reloads it); unset MODEL to serve CURRENT", err=True)


LOAD_ERRORS = (RuntimeError, OSError, ImportError, ValueError, AttributeError, EOFError, pickle.UnpicklingError)
"""What loading a bundle whose files check out may still raise (``BundleError`` is a RuntimeError; onnxruntime's
errors are RuntimeErrors): ``models verify --load`` reports it as that bundle's problem."""


@models.command("verify")
@click.argument("versions", nargs=-1, metavar="[VERSION]...")
@click.option("--load", "load", is_flag=True,
              help="Also unpickle each bundle and score its probe texts again, as a server does at start (several "
                   "seconds a bundle): catches another numpy or onnxruntime that scores differently on this host.")
def verify_command(versions: tuple[str, ...], load: bool) -> None:
    """Check every bundle (or the VERSIONs named) without serving: each file the manifest lists against its SHA-256,
    files missing or not listed, the scikit-learn version and the policy.

    For bundles copied to a new host, or a disk suspected of corruption. Prints one line per bundle, then its problems;
    exit status 0 when every bundle checked is sound, 1 when any is not, 2 for a version that is not there.
    """
    from model.bundle import BUNDLES_DIR_ENV, BundleError, bundles_dir
    from model.versions import check_bundles_folder

    root = bundles_dir()
    try:
        check_bundles_folder(root)
    except BundleError as error:
        raise BadInput(error) from error
    if not root.is_dir():
        raise BadInput(f"the folder of bundles {root} does not exist: point ${BUNDLES_DIR_ENV} at the folder holding them")
    try:
        folders = _folders_to_verify(root, versions)
    except BundleError as error:  # CURRENT is a folder
        raise BadInput(error) from error
    except OSError as error:
        raise BadInput(os_error_message(error)) from error
    if not folders:
        raise BadInput(f"no bundles in {root} to verify: run `moderate train`")
    with progress_bar(len(folders), "verifying", " bundles") as advance:
        results = []
        for folder in folders:
            results.append((folder, _verify_one(folder, load)))
            advance(1)
    failed = [folder.name for folder, problems in results if problems]
    for folder, problems in results:
        click.echo(f"{folder.name}: {'FAILED' if problems else 'ok'}")
        for problem in problems:
            click.echo(f"  {problem}")
    if failed:
        raise click.ClickException(f"{len(failed)} of {len(results)} bundles failed verification ({', '.join(failed)}): "
                                   "restore them from the original host or git, or retrain")
    checked = "files, manifest, policy and probe scores" if load else "files, manifest and policy"
    click.echo(f"{len(results)} bundle{'s' if len(results) > 1 else ''} verified ({checked})", err=True)


def _folders_to_verify(root: Path, versions: tuple[str, ...]) -> list[Path]:
    """The bundle folders ``models verify`` checks: those named (BadInput for a name that is none), else every one
    ``models list`` lists, in its order."""
    from model.versions import list_bundles

    listed = [summary.path for summary in list_bundles(root)]
    if not versions:
        return listed
    known = {folder.name: folder for folder in listed}
    unknown = [version for version in versions if version not in known]
    if unknown:
        raise BadInput(f"no bundle {', '.join(map(repr, unknown))} in {root} (known: {', '.join(known) or 'none'})")
    return [known[version] for version in dict.fromkeys(versions)]


def _verify_one(folder: Path, load: bool) -> list[str]:
    """The problems of the bundle in ``folder`` (``model.bundle.bundle_problems``); with ``load``, when its files check
    out, also whatever loading it and scoring its probe texts again finds."""
    from model.bundle import bundle_problems

    problems = bundle_problems(folder)
    if problems or not load:
        return problems
    from model.scoring import Scorer
    from service.ops import OK, check_model

    try:
        outcome = check_model(Scorer.load(folder, warm_up=False))
    except LOAD_ERRORS as error:
        return [f"{folder} does not load: {error}"]
    return [] if outcome == OK else [f"{folder}: {outcome}"]


def _pinned_model() -> str | None:
    """The MODEL setting of this environment (``MODERATION_MODEL`` or the ``MODERATION_CONFIG`` file), if any; None
    when the settings cannot be read (the server would refuse them anyway)."""
    from service.config import ConfigError, load_config

    try:
        return load_config().get("MODEL") or None
    except ConfigError:
        return None


def _progress(items: Sequence[Sequence[str]], description: str) -> Sequence[Sequence[str]] | Iterator[Sequence[str]]:
    """``compare``'s progress over a bundle's batches: a bar counting comments when a person watches stderr, else one
    line on stderr as the bundle starts (nohup, cron, a log file)."""
    if sys.stderr.isatty():
        return _counted(items, description)
    click.echo(f"moderate compare: {description}", err=True)
    return items


def _counted(items: Sequence[Sequence[str]], description: str) -> Iterator[Sequence[str]]:
    """``items`` one by one under a bar that counts the comments in them."""
    with progress_bar(sum(map(len, items)), description, " comments") as advance:
        for batch in items:
            yield batch
            advance(len(batch))


def _trained_on(scorer, path: Path) -> bool:
    """Whether ``scorer``'s bundle was trained on ``path`` (same SHA-256), whole or on the part notebook 05 kept."""
    from model.bundle import sha256_file
    from model.training.site_data import trained_on_file

    return trained_on_file(scorer.bundle.manifest, sha256_file(path))


def _trained_rows(name: str, scorer, texts: Sequence[str], data_path: Path, dropping: bool):
    """The warning to print about the rows of ``texts`` that ``scorer``'s bundle trained on, and those rows (a bool
    array, same text: ``trained_texts.trained_rows``; None when its manifest cannot tell, an older site bundle)."""
    from model.training.trained_texts import trained_rows

    seen = trained_rows(scorer.bundle.manifest, texts)
    if seen is not None and seen.any():
        n_seen = int(seen.sum())
        advice = ("they are left out (--drop-trained)" if dropping else
                  f"give --drop-trained to compare on the {len(texts) - n_seen:,} others, or compare on comments kept out of its training")
        return [f"Warning: the {name} bundle was trained on {n_seen:,} of the {len(texts):,} comments of {data_path} "
                f"(the same text), so its figures on them are optimistic: {advice}"], seen
    if _trained_on(scorer, data_path):
        unknown = "; its manifest does not say which rows, so --drop-trained cannot leave them out" if seen is None else ""
        return [f"Warning: the {name} bundle was trained on {data_path} (--site-data), so its figures here are "
                f"optimistic: compare on comments kept out of its training{unknown}"], seen
    if seen is None and dropping:  # else --drop-trained left nothing out without a word, as if none were trained on
        site_file = (scorer.bundle.manifest.get("site_data") or {}).get("file") or "a site file"
        return [f"Warning: the {name} bundle was trained on site data whose texts its manifest does not record (an older "
                f"site bundle), so --drop-trained cannot leave them out: if {data_path} holds comments of {site_file}, "
                "its figures on them are optimistic; compare on comments kept out of its training"], seen
    return [], seen


def _unnamed_label_note(table, text_column: str, label_columns: Sequence[str], site) -> str | None:
    """A warning when the file has label columns that ``--label-column`` did not name and rows labelled only there (a
    Coral site sends toxicity labels, not decisions): those rows count as unlabelled."""
    from model.evaluation.compare import ALL_LABEL_COLUMNS, label_columns_of, table_comments
    from model.training.data import DataError

    if not label_columns or ALL_LABEL_COLUMNS in label_columns:
        return None
    others = [c for c in label_columns_of(table) if c not in label_columns]
    if not others:
        return None
    try:
        _, every = table_comments(table, text_column, (ALL_LABEL_COLUMNS,))
    except (DataError, KeyError):  # a column not named cannot be read either: not this command's to refuse
        return None
    n_lost = int(_n_labelled(every) - _n_labelled(site))
    if not n_lost:
        return None
    return (f"Warning: {n_lost:,} comments are labelled only in {', '.join(others)}, which --label-column did not name: "
            f"they count as unlabelled; give --label-column all to use every label column of the file")


def _n_labelled(site) -> int:
    from model.attributes import ATTRIBUTES

    return int(((site["decision"] != "") | site[list(ATTRIBUTES)].notna().any(axis=1)).sum())


@click.command("compare")
@click.argument("old", type=click.Path(path_type=Path))
@click.argument("new", type=click.Path(path_type=Path))
@click.option("--data", "data_path", required=True, type=click.Path(path_type=Path),
              help="Comments to decide with both bundles (.csv, .jsonl or .parquet).")
@click.option("--text-column", default="text", show_default=True)
@click.option("--label-column", "label_columns", multiple=True,
              help="A label column: decision (approve/review/reject), labels (the feedback export's JSON) or an attribute "
                   "(toxicity, ...); all: every one of those the file has, as training reads them. Repeatable.")
@click.option("--drop-trained", is_flag=True,
              help="Leave out the comments either bundle was trained on (the same text, as a site bundle's manifest "
                   "records them): its figures on them are optimistic.")
def compare_command(old: Path, new: Path, data_path: Path, text_column: str, label_columns: tuple[str, ...],
                    drop_trained: bool) -> None:
    """Decide every comment of --data with bundles OLD and NEW (versions or folders).

    Prints the number of comments and of empty ones (a cell that is not text, a number or a list, counts as empty, as
    in `moderate score`), the metric deltas (with labels) and every comment whose decision changes: its row number in
    the file (0 = first data row), old -> new, and its text. Warns when a bundle was trained on some of the comments
    (a site bundle's manifest names the texts it trained on; an older one only its file's SHA-256).
    """
    import numpy as np

    from model.evaluation.compare import compare_bundles, table_comments
    from model.normalize import is_blank
    from model.training.data import DataError
    from model.training.site_data import read_table
    from service.table_reader import count_non_text
    from service.tables import empty_counts

    try:
        table = read_table(data_path)  # DataError naming the file and what to fix
    except DataError as error:
        raise BadInput(error) from error
    except OSError as error:
        raise BadInput(os_error_message(error)) from error
    try:  # before the bundles load (seconds each): a misspelt column is told at once
        texts, site = table_comments(table, text_column, label_columns)
    except (DataError, KeyError) as error:
        raise BadInput(f"{data_path}: {error.args[0] if error.args else error}") from error
    if not texts:  # a header and no rows: said before the bundles load, and not as --drop-trained's doing
        raise BadInput(f"{data_path} has a header but no comments: give a table with a row per comment")
    try:
        old_scorer, new_scorer = load_scorer_or_fail(old, batch=True), load_scorer_or_fail(new, batch=True)
    except OSError as error:
        raise BadInput(os_error_message(error)) from error
    keep = np.ones(len(texts), dtype=bool)
    for name, scorer in (("old", old_scorer), ("new", new_scorer)):  # said before minutes of scoring, not after
        warnings, seen = _trained_rows(name, scorer, texts, data_path, drop_trained)
        for warning in warnings:
            click.echo(warning, err=True)
        if drop_trained and seen is not None:
            keep &= ~seen
    if site is not None and (note := _unnamed_label_note(table, text_column, label_columns, site)):
        click.echo(note, err=True)
    rows = np.flatnonzero(keep)
    if not len(rows):
        raise BadInput(f"{data_path}: the bundles were trained on every comment of it, so --drop-trained leaves none: "
                       "compare on comments kept out of their training (notebook 05's held_out.csv)")
    kept_site = site.iloc[rows].reset_index(drop=True) if site is not None else None
    comparison = compare_bundles(old_scorer, new_scorer, [texts[i] for i in rows], kept_site, progress=_progress)
    comparison.changed["row"] = rows[comparison.changed["row"].to_numpy(int)]  # the file's row numbers
    n_empty, n_non_text = sum(1 for text in texts if is_blank(text)), count_non_text(table, text_column)
    click.echo(f"{len(table):,} comments, {empty_counts(n_empty, n_non_text)}; old {old}, new {new}")
    if len(rows) < len(texts):
        click.echo(f"compared on {len(rows):,} of them: {len(texts) - len(rows):,} left out that a bundle was trained on (--drop-trained)")
    click.echo("")
    click.echo(f"{'metric':<28}{'old':>8}{'new':>8}{'delta':>9}")
    for name, row in comparison.metrics.iterrows():
        delta = "-" if math.isnan(row["delta"]) else f"{row['delta']:+.3f}"
        click.echo(f"{name:<28}{_number(row['old']):>8}{_number(row['new']):>8}{delta:>9}")
    click.echo("")
    changed = comparison.changed
    click.echo(f"{len(changed)} comments change decision:")
    for record in changed.itertuples():
        label = f" [label: {record.label}]" if "label" in changed and record.label else ""
        text = " ".join(str(record.text).split())
        click.echo(f"row {record.row}: {record.old} -> {record.new}{label}: {text}")
