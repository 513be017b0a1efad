"""``moderate train`` and ``moderate eval``: fit a bundle from the data directory, report on the test splits."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import click

from service.cli.common import DATA_DIR_HELP, BadInput, os_error_message

@click.command()
@click.option("--data-dir", type=click.Path(path_type=Path), help=DATA_DIR_HELP)
@click.option("--out", type=click.Path(path_type=Path), help="Directory for the new bundle [default: bundles/VERSION, "
              "under $MODERATION_BUNDLES_DIR if set].")
@click.option("--seed", type=int, help="Random seed for every estimator and split [default: 20261231].")
@click.option("--site-data", type=click.Path(path_type=Path), help="A site's labelled comments to add: text plus decision (approve/review/reject) or attribute columns.")
@click.option("--site-weight", type=click.FloatRange(min=0, min_open=True), help="Weight of one site comment [default: 5.0].")
@click.option("--version", "version", help="Name the bundle bundles/VERSION: letters, digits and . _ + - (e.g. 1.4.0, 1.4.0-mysite) "
              "[default: 1.4.0, the TF-IDF bundle; with --site-data 1.4.0+site.<hash of the file>]. It is not served until "
              "`moderate models use VERSION`.")
@click.option("--added-sets/--no-added-sets", default=True, show_default=True,
              help="Fit on HateXplain, ConvAbuse, the project's neutral identity sentences and identity-swapped copies "
              "as well, as from 1.3.0 (--no-added-sets --version 1.2.0 rebuilds 1.2.0).")
@click.option("--overwrite", is_flag=True, help="Replace a bundle already in the folder (without it, training refuses to start); "
              "never the served one, which bundles/CURRENT names.")
def train(data_dir: Path | None, out: Path | None, seed: int | None, site_data: Path | None, site_weight: float | None, version: str | None,
          added_sets: bool, overwrite: bool) -> None:
    """Train and calibrate a TF-IDF bundle; print its directory.

    The served bundle is an encoder bundle (built by `make train-encoder`); this one is its TF-IDF base, or a
    site's own TF-IDF model: compare it with the served one (`moderate compare`) before `moderate models use`.
    Progress goes to stderr, a line per stage. The bundle is written in a hidden folder beside its own and
    renamed when complete: an interrupted run leaves no half-written bundle, and the hidden folder of a run that was
    killed (kill -9, the OOM killer) is removed by the next `moderate train`.
    """
    from model.bundle import BundleError
    from model.training.data import DataError
    from model.training.train import SEED, train_bundle
    from model.versions import BundleTargetError

    if site_weight is not None and site_data is None:  # else minutes of training a bundle without the weight asked for
        raise click.UsageError("--site-weight weighs the comments of --site-data: give --site-data FILE too, "
                               "or leave --site-weight out")
    extra = {"site_data": site_data, "site_weight": site_weight, "version": version}
    try:
        path = train_bundle(
            # Progress lines on stderr, terminal or not: a run takes minutes, under nohup or make too.
            data_dir=data_dir, out_dir=out, seed=SEED if seed is None else seed, progress=True,
            overwrite=overwrite, added_sets=added_sets, **{key: value for key, value in extra.items() if value is not None},
        )
    except (DataError, BundleTargetError, BundleError) as error:
        raise BadInput(error) from error
    except OSError as error:
        raise BadInput(os_error_message(error)) from error
    if site_data is not None:
        _echo_site_rows(path)
    click.echo(str(path))


def _echo_site_rows(bundle_dir: Path) -> None:
    """Say on stderr how many site rows the new bundle trained on, and why the others were left out."""
    from model.bundle import read_manifest
    from model.training.site_data import describe_site_manifest

    click.echo(describe_site_manifest(read_manifest(bundle_dir)["site_data"]), err=True)


@click.command("eval")
@click.option("--data-dir", type=click.Path(path_type=Path), help=DATA_DIR_HELP)
@click.option(
    "--model",
    type=click.Path(path_type=Path),
    envvar="MODERATION_MODEL",
    help="Bundle folder, or a version under bundles/ [default: $MODERATION_MODEL, else the bundle bundles/CURRENT names].",
)
@click.option("--out", type=click.Path(path_type=Path), default=Path("reports"), show_default=True,
              help="Folder for eval.md, eval.json and plots/.")
@click.option("--baseline", help="A bundle to score too and put beside ours: a version under bundles/ (e.g. 1.2.0) or a folder.")
def eval_command(data_dir: Path | None, model: Path | None, out: Path, baseline: str | None) -> None:
    """Evaluate a bundle on the test split and write a report; print its path."""
    from model.bundle import BundleError
    from model.training.data import DataError

    write_eval_report = _eval_report_writer()
    try:
        path = write_eval_report(model_path=model, data_dir=data_dir, out_dir=out, baseline=baseline)
    except (BundleError, DataError) as error:
        raise BadInput(error) from error
    except OSError as error:
        raise BadInput(os_error_message(error)) from error
    click.echo(str(path))


def _eval_report_writer() -> Callable[..., Path]:
    """``model.evaluation.report.write_eval_report``, or a one-line error saying how to install the ``eval`` extra
    when matplotlib, which draws the plots, is missing: ``make run`` installs only what serving needs, and ``moderate
    eval`` after it stopped with a ``ModuleNotFoundError`` traceback."""
    try:
        from model.evaluation.report import write_eval_report
    except ModuleNotFoundError as error:
        if (error.name or "").partition(".")[0] != "matplotlib":
            raise
        raise BadInput("moderate eval needs matplotlib, which `make run` does not install: install the eval extra with "
                       "`.venv/bin/pip install -e '.[eval]'` (make eval and make test install it)") from error
    return write_eval_report
