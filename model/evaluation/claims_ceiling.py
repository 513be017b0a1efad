"""What one claim model for every set costs: each set's own expert against the shipped scorer, on validation only.

The claim sets label different things (ClaimBuster: check-worthy factual sentences of debates; CDCP: facts
without an incoming reason or evidence link; Regulation Room: verifiable non-experiential propositions; CMV:
verifiable sentences, personal experience included). The shipped model is one scorer for all of them, as the
issue asks. This study fits the same recipe (``ClaimScorer``, same features, same seed) on one source's training
rows only and scores that source's validation slice, next to the shipped scorer on the same rows. An expert is
the most the set's own training rows give this model class on its own labels; where even it stays below a
target, more tuning of the shared model cannot reach that target.

Run with ``make ceiling`` (or ``python -m model.evaluation.claims_ceiling``): it writes ``reports/claims_ceiling.md``.
Validation sets only: no test split is read.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from model.claims import ClaimScorer
from model.evaluation.claims_report import CLAIM_AUC_TARGETS
from model.evaluation.report_format import format_number

EXPERTS: dict[str, tuple[str, str]] = {
    "claimbuster": ("claimbuster_heldout", "claimbuster_test"),
    "cdcp": ("cdcp_heldout", "cdcp_test"),
    "regulation_room": ("regulation_room_heldout", "regulation_room_test"),
    "cmv_verifiability": ("cmv_heldout", "cmv_test"),
}
"""Training source -> (its validation set, the test set whose target it stands for). CheckThat 2022 has no
expert: its training rows are covid19_disinfo_en tweets (CC BY-NC-SA), which no shipped model may learn from."""

Score = Callable[[list[str]], np.ndarray]


def _auc(frame: pd.DataFrame, score: Score) -> float:
    return float(roc_auc_score(frame["label"].to_numpy().astype(int), score(frame["text"].astype(str).tolist())))


def ceiling_rows(training: pd.DataFrame, validation: Mapping[str, pd.DataFrame], shipped: Score,
                 random_state: int, sources: str | Iterable[str] | None = None) -> list[dict]:
    """One row per expert: its validation ROC AUC, the shipped scorer's on the same rows, and the test target.

    Parameters
    ----------
    training : DataFrame
        ``load_claim_training_data``'s frame (``text``, ``source``, labels, ``weight``, ``weak_support``).
    validation : mapping of str to DataFrame
        ``load_claim_validation_sets``'s frames (``text``, ``label``).
    shipped : callable
        Comment texts -> the shipped model's ``unsupported_claim`` probabilities.
    random_state : int
        Seed of every expert.
    sources : str or iterable of str or None
        The ``EXPERTS`` to fit (each costs a fit of the shipped recipe on its rows); every one when None.

    Returns
    -------
    list of dict
        ``source``, ``validation_set``, ``n_training``, ``n_validation``, ``shipped``, ``expert``, ``gap``
        (expert - shipped), ``test_set`` and ``target``. A source without training rows, or whose validation
        slice is missing or lacks positives or negatives (no ROC AUC), is left out.
    """
    sources = list(EXPERTS) if sources is None else [sources] if isinstance(sources, str) else list(sources)
    unknown = [source for source in sources if source not in EXPERTS]
    if unknown:
        raise ValueError(f"no expert for {', '.join(map(repr, unknown))}: use some of {', '.join(EXPERTS)}")
    chosen = {source: EXPERTS[source] for source in sources}
    rows = []
    for source, (validation_set, test_set) in chosen.items():
        own = training[training["source"] == source]
        frame = validation.get(validation_set)
        if own.empty or frame is None or frame["label"].astype(int).nunique() < 2:
            continue
        expert = ClaimScorer(random_state=random_state).fit(own)
        shipped_auc, expert_auc = _auc(frame, shipped), _auc(frame, expert.predict_proba)
        rows.append({
            "source": source, "validation_set": validation_set, "n_training": len(own), "n_validation": len(frame),
            "shipped": shipped_auc, "expert": expert_auc, "gap": expert_auc - shipped_auc,
            "test_set": test_set, "target": CLAIM_AUC_TARGETS[test_set],
        })
    return rows


def ceiling_markdown(rows: list[dict], bundle: str) -> str:
    """The report: a table of ``ceiling_rows`` and how to read it."""
    lines = [
        "# What one claim model for every set costs (validation only)",
        "",
        f"Written by `make ceiling` (`python -m model.evaluation.claims_ceiling`) with the shipped bundle `{bundle}`. Each "
        "expert is the shipped recipe (`ClaimScorer`: the same features, heads and seed) fitted on one source's "
        "training rows only and scored on that source's validation slice; the shipped column scores the same rows. "
        "No test split is read. The target column is the issue's target on the source's official test split, "
        "for scale only: a validation slice is not its test split (ClaimBuster's test is the balanced spotter "
        "set, CDCP's and CMV's test comments are harder than their held-out ones; `reports/eval.md` has the test "
        "figures), so an expert's figure here predicts no test figure.",
        "",
        "| source | validation set | training rows | validation rows | shipped (one model) | own expert | "
        "expert - shipped | test target |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        lines.append(
            f"| {row['source']} | {row['validation_set']} | {row['n_training']:,} | {row['n_validation']:,} | "
            f"{format_number(row['shipped'])} | {format_number(row['expert'])} | {row['gap']:+.3f} | "
            f"{format_number(row['target'])} ({row['test_set']}) |")
    below = [row["source"] for row in rows if row["expert"] < row["target"]]
    lines += [
        "",
        "An expert learns its own set's sense of a claim and nothing else. A positive gap is what sharing one "
        "model with the other sets' labels costs on that set; a negative one is what the other sets' rows add. "
        "One shared model can follow only one sense of a claim per sentence. Experts below their set's test "
        "target: " + (", ".join(below) if below else "none") + ".",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point: write the report and print its table."""
    from model.training import claims_data
    from model.bundle import BundleError, load_bundle
    from model.training.data import DataError
    from model.training.train import SEED

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=None, help="labelled data (default: model.training.data's lookup)")
    parser.add_argument("--model", default=None, help="bundle to compare (default: the committed one)")
    parser.add_argument("--out", type=Path, default=Path("reports") / "claims_ceiling.md")
    parser.add_argument("--seed", type=int, default=SEED)
    args = parser.parse_args(argv)
    try:
        bundle = load_bundle(args.model)
        training = claims_data.load_claim_training_data(args.data_dir)
        validation = claims_data.load_claim_validation_sets(args.data_dir)
    except (BundleError, DataError) as exc:
        parser.exit(2, f"error: {exc}\n")
    if bundle.model.claims is None:
        parser.exit(2, f"error: bundle {bundle.path} has no unsupported-claim scorer\n")
    rows = ceiling_rows(training, validation, bundle.model.claims.predict_proba, args.seed)
    text = ceiling_markdown(rows, bundle.version)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text, encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
