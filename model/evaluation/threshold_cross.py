"""How much of a change in flagged civil rows comes from a new model and how much from its new thresholds.

``python -m model.evaluation.threshold_cross --data-dir ../shared/data --models 2.4.0 2.5.0`` scores a bias set
(default: the madlibs, evaluation only) with each bundle in ``make eval``'s batches and prints the share of its
civil rows flagged at the review thresholds of every bundle. The diagonal is ``make eval``'s "NOT_BAD flagged
share"; off the diagonal one bundle's scores meet another bundle's thresholds.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping, Sequence

import pandas as pd

from model.evaluation.bias import flagged_at_review, flagged_share
from model.evaluation.bias_data import BIAS_FILES, load_bias_set
from model.evaluation.bias_report import review_thresholds
from model.evaluation.report import _predict_in_batches


def cross_flagged(scorers: Mapping[str, object], frame: pd.DataFrame) -> dict[str, dict[str, float]]:
    """Share of ``frame``'s label-0 rows flagged, per (bundle whose scores, bundle whose thresholds).

    Parameters
    ----------
    scorers : mapping
        Name -> ``model.scoring.Scorer``.
    frame : pandas.DataFrame
        ``text`` and ``label`` (0 civil, 1 hostile), as ``load_bias_set`` returns.

    Returns
    -------
    dict
        ``{scores_of: {thresholds_of: share}}``.
    """
    labels = frame["label"].to_numpy(int)
    texts = frame["text"].tolist()
    table = {}
    for name, scorer in scorers.items():
        scores = _predict_in_batches(scorer.predict_scores, texts, f"{name}: scoring")
        table[name] = {other: flagged_share(flagged_at_review(scores, scorer.attributes, review_thresholds(judge)),
                                            labels)
                       for other, judge in scorers.items()}
    return table


def cross_markdown(table: Mapping[str, Mapping[str, float]]) -> str:
    """The table as Markdown: one row per bundle's scores, one column per bundle's thresholds."""
    names = list(table)
    lines = ["| scores of \\ thresholds of | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    lines += [f"| {row} | " + " | ".join(f"{table[row][column]:.1%}" for column in names) + " |" for row in names]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: print the table for ``--models`` on ``--set``."""
    from model.bundle import BundleError
    from model.scoring import Scorer

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", required=True, help="bundle versions or folders (two or more)")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--set", default="madlibs", choices=sorted(BIAS_FILES))
    args = parser.parse_args(argv)
    if len(args.models) < 2:
        parser.error("--models needs at least two bundles to compare")
    try:
        scorers = {model: Scorer.load(model) for model in args.models}
    except BundleError as error:
        parser.error(str(error))
    frame = load_bias_set(args.set, args.data_dir)
    print(cross_markdown(cross_flagged(scorers, frame)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
