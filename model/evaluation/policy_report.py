"""What the decision policy does to labelled comments: shares approved, reviewed and rejected."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping

import numpy as np
import pandas as pd

from model.attributes import CLAIM_ATTRIBUTE
from model.policy import ACTIONS

POLICY_SETS = ("ucc_val", "sfu_ctc")
"""Validation sets of news comments at their natural rate of hostility: what an editor's queue looks like."""


def policy_outcomes(decisions: list, labels: np.ndarray) -> dict:
    """Share of comments per action, overall and among the hostile ones, and reason counts.

    Parameters
    ----------
    decisions : list of Decision
    labels : array of 0/1
        1 where the comment is hostile.

    Returns
    -------
    dict
    """
    actions = np.array([d.action for d in decisions])
    hostile = np.asarray(labels) == 1
    return {
        "rows": int(len(actions)),
        "hostile": int(hostile.sum()),
        "share": {a: round(float((actions == a).mean()), 4) if len(actions) else 0.0 for a in ACTIONS},
        "share_of_hostile": {a: round(float((actions[hostile] == a).mean()), 4) if hostile.any() else 0.0 for a in ACTIONS},
        "share_of_civil": {a: round(float((actions[~hostile] == a).mean()), 4) if (~hostile).any() else 0.0 for a in ACTIONS},
        "reasons": dict(Counter(r.code for d in decisions for r in d.reasons).most_common()),
        # Spans mark words as hostile: on a civil comment every one of them is a false mark.
        "civil_with_hostility_span": round(float(np.mean([_has_hostility_span(d) for d, h in zip(decisions, hostile) if not h])), 4)
        if (~hostile).any() else 0.0,
    }


def _has_hostility_span(decision) -> bool:
    return any(attribute != CLAIM_ATTRIBUTE and found for attribute, found in decision.spans.items())


def evaluate_policy(scorer, validation: Mapping[str, pd.DataFrame], names=POLICY_SETS) -> dict:
    """``policy_outcomes`` of the scorer's policy on each named validation set that is present."""
    return {
        name: policy_outcomes(scorer.moderate(validation[name]["text"].tolist(), with_spans=True), validation[name]["label"].to_numpy())
        for name in names
        if name in validation
    }


def policy_markdown(outcomes: Mapping[str, dict]) -> list[str]:
    """The policy section of ``eval.md``."""
    lines = [
        "",
        "## Decisions at the policy thresholds (validation data)",
        "",
        "What the bundle's `policy.toml` does to news comments at their natural rate of hostility. These are "
        "validation sets (never used for training; the toxicity review threshold was chosen on them, among others), "
        "so read this as the queue an editor would see, not as a test score.",
        "",
        "| set | comments | hostile | approve | review | reject | hostile approved (missed) | hostile reviewed | hostile rejected | civil sent to review or reject | civil with a hostility span |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, o in outcomes.items():
        s, h, c = o["share"], o["share_of_hostile"], o["share_of_civil"]
        lines.append(
            f"| {name} | {o['rows']} | {o['hostile']} | {s['approve']:.3f} | {s['review']:.3f} | {s['reject']:.3f} | "
            f"{h['approve']:.3f} | {h['review']:.3f} | {h['reject']:.3f} | {c['review'] + c['reject']:.3f} | "
            f"{o.get('civil_with_hostility_span', float('nan')):.3f} |"
        )
    for name, o in outcomes.items():
        reasons = ", ".join(f"{code} {count}" for code, count in o["reasons"].items()) or "none"
        lines.append(f"\nReasons given on {name}: {reasons}.")
    if not outcomes:
        lines.append("No validation set of news comments was found in the data directory.")
    return lines
