"""What a higher span floor spares civil comments and costs in toxic-spans F1: the table a site reads before it sets
``[spans] floor`` in its policy file.

A span floor withholds the word spans of a hostility attribute whose comment score is under it. The bundle step
chooses the bundle's own floor on toxic posts only (toxic-spans validation posts: the highest floor within a tolerance
of the best F1, ``span_floor`` in an encoder bundle's manifest), so it cannot see what a floor spares civil comments.
This module measures that side: for each floor, the share of civil validation news comments
(``policy_report.POLICY_SETS``) that still carry a hostility span, next to the F1 the bundle step recorded for it.

The comments are scored once, with a policy whose ``[spans] floor`` is the lowest floor of the table. A higher floor only
withholds the word spans of the attributes scoring under it, and a sentence span (an encoder window, added only from a
score of ``model.encoder_model.WINDOW_SPAN_PROBABILITY``) does not depend on the floor; so the shares are those a policy
with that floor gives, for floors up to ``WINDOW_SPAN_PROBABILITY``. Scoring at the bundle's own floor instead misread
a bundle whose floor the manifest does not record (a TF-IDF bundle's ``span_thresholds["comment_floor"]``, an encoder
bundle before 2.8.0 flooring its TF-IDF scores): floors under it were reported with its spans.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping, Sequence
from dataclasses import replace

import numpy as np
import pandas as pd

from model.encoder_model import WINDOW_SPAN_PROBABILITY
from model.evaluation.policy_report import POLICY_SETS, has_hostility_span
from model.scoring import Scorer
from model.spans import COMMENT_FLOOR, served_span_thresholds

DEFAULT_FLOORS = (0.10, 0.15, 0.20, 0.25, 0.30)
"""Floors the table shows unless told otherwise."""


def civil_span_shares(decisions: Sequence, labels: np.ndarray, floors: Sequence[float]) -> dict[float, float]:
    """Per floor, the share of the civil comments (label 0) among ``decisions`` that carry a hostility span."""
    civil = [decision for decision, label in zip(decisions, np.asarray(labels), strict=True) if label == 0]
    return {floor: round(float(np.mean([has_hostility_span(d, floor) for d in civil])), 4) if civil else 0.0
            for floor in floors}


def bundle_span_floor(manifest: Mapping) -> tuple[float | None, dict[float, float]]:
    """The bundle's own span floor and the toxic-spans validation F1 by floor that chose it, from an encoder bundle's
    manifest; ``(None, {})`` for a bundle that records none."""
    chosen = manifest.get("span_floor") or {}
    f1 = {float(floor): value for floor, value in chosen.get("span_f1_by_floor", {}).items()}
    return chosen.get("floor"), f1


def span_floor_table(scorer, validation: Mapping[str, pd.DataFrame], floors: Sequence[float] = DEFAULT_FLOORS,
                     names: Sequence[str] = POLICY_SETS) -> dict:
    """Civil comments with a hostility span per floor on each named validation set present, and the F1 by floor.

    Parameters
    ----------
    scorer : model.scoring.Scorer
        Its bundle is scored with its policy's thresholds and the lowest of ``floors`` as span floor; its own floor (the
        policy's, else the bundle's) is reported as ``floor``.
    validation : mapping of str to DataFrame
        Sets with ``text`` and ``label`` (1 = hostile), as ``model.training.data.load_validation_sets`` gives.
    floors : sequence of float
        Floors to report, from 0 to ``WINDOW_SPAN_PROBABILITY`` (others are refused).

    Returns
    -------
    dict
        ``floor`` (the scorer's), ``floors``, ``span_f1`` (floor -> F1, where the manifest records it) and ``sets``
        (set name -> floor -> share of its civil comments with a hostility span).
    """
    _, f1 = bundle_span_floor(scorer.bundle.manifest)
    floor = (served_span_thresholds(scorer.bundle.model, scorer.policy.span_floor) or {}).get(COMMENT_FLOOR)
    outside = [value for value in floors if not 0.0 <= value <= WINDOW_SPAN_PROBABILITY]
    if outside:
        raise ValueError(f"floors {outside} cannot be measured from one scoring: give floors from 0 to "
                         f"{WINDOW_SPAN_PROBABILITY:g}")
    # Spans at the lowest floor, applied as a policy's to the served scores: every floor of the table withholds some.
    lowest = Scorer(scorer.bundle, replace(scorer.policy, span_floor=min(floors, default=None)))
    present = [name for name in names if name in validation]
    sets = {name: civil_span_shares(lowest.moderate(validation[name]["text"].tolist(), with_spans=True),
                                    validation[name]["label"].to_numpy(), floors) for name in present}
    return {"floor": floor, "floors": list(floors), "span_f1": {value: f1.get(value) for value in floors}, "sets": sets}


def span_floor_markdown(table: Mapping, version: str) -> list[str]:
    """The table as Markdown lines: one row per floor."""
    names = list(table["sets"])
    lines = [f"Bundle {version}, served span floor {table['floor']}: civil validation comments with a hostility span, "
             "and the toxic-spans validation F1 the bundle step recorded for each floor.", "",
             "| floor | " + " | ".join(f"civil {name} with a span" for name in names) + " | toxic-spans validation F1 |",
             "|---|" + "---|" * (len(names) + 1)]
    for floor in table["floors"]:
        f1 = table["span_f1"].get(floor)
        shares = " | ".join(f"{table['sets'][name][floor]:.1%}" for name in names)
        lines.append(f"| {floor:.2f} | {shares} | {'' if f1 is None else f'{f1:.3f}'} |")
    return lines


def main(argv: Sequence[str] | None = None) -> None:
    """Print the span-floor table of a bundle on the validation news comments."""
    from model.bundle import BundleError
    from model.training.data import DataError, load_validation_sets

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="Bundle folder or version under bundles/ [default: bundles/CURRENT].")
    parser.add_argument("--data-dir", help="Data directory [default: $MODERATION_DATA_DIR or ../shared/data].")
    parser.add_argument("--floors", default=",".join(f"{floor:.2f}" for floor in DEFAULT_FLOORS),
                        help="Comma-separated floors [default: %(default)s].")
    args = parser.parse_args(argv)
    try:
        floors = [float(value) for value in args.floors.split(",")]
    except ValueError:
        parser.error(f"--floors: {args.floors!r} is not a comma-separated list of numbers, e.g. 0.1,0.2")
    try:
        scorer = Scorer.load(args.model)
        validation = load_validation_sets(args.data_dir)
        table = span_floor_table(scorer, validation, floors)
    except (BundleError, DataError, ValueError) as error:
        parser.error(str(error))
    print("\n".join(span_floor_markdown(table, scorer.model_version)))


if __name__ == "__main__":
    main()
