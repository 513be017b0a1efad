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
CIVIL_BUDGETS = (0.0, 0.0005, 0.001, 0.005, 0.01)
"""Shares of civil comments a reject threshold may reject, for the reject trade-off table."""
REJECT_RECALL_TARGET = 0.8
"""The issue's target: reject this share of hostile comments with no civil comment rejected."""
SHOWN_CIVIL = 5
"""Civil-labelled comments shown that score highest: what stands between the threshold and the target."""
THRESHOLD_DECIMALS = 4
"""Decimals of a reject threshold in the trade-off table, and of the civil scores listed under it."""


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
        "civil_with_hostility_span": round(float(np.mean([has_hostility_span(d) for d, h in zip(decisions, hostile) if not h])), 4)
        if (~hostile).any() else 0.0,
    }


def reject_tradeoff(labels: np.ndarray, scores: np.ndarray, budgets=CIVIL_BUDGETS) -> list[dict]:
    """Per civil budget: the lowest reject threshold that rejects at most that share of civil comments, and its recall.

    Parameters
    ----------
    labels : array of 0/1
        1 where the comment is hostile.
    scores : array
        The score a reject threshold would apply to (the highest of the rejecting attributes).
    budgets : sequence of float
        Shares of civil comments allowed to be rejected.

    Returns
    -------
    list of dict
        ``civil_budget``, ``threshold`` (with ``THRESHOLD_DECIMALS`` decimals; a comment is rejected when its score
        reaches it, as the policy's ``[reject]`` thresholds work, so it can be put in ``policy.toml`` as it is),
        ``civil_rejected``, ``hostile_recall``.
    """
    labels, scores = np.asarray(labels) == 1, np.asarray(scores, float)
    civil = np.sort(scores[~labels])[::-1]
    rows = []
    for budget in budgets:
        allowed = int(np.floor(budget * len(civil)))
        threshold = _threshold_above(float(civil[allowed])) if allowed < len(civil) else -np.inf
        rows.append({"civil_budget": budget, "threshold": threshold,
                     "civil_rejected": round(float((scores[~labels] >= threshold).mean()), 4) if len(civil) else 0.0,
                     "hostile_recall": round(float((scores[labels] >= threshold).mean()), 4) if labels.any() else 0.0})
    return rows


def _round_down(score: float) -> float:
    """``score`` rounded down to ``THRESHOLD_DECIMALS`` decimals."""
    rounded = round(score, THRESHOLD_DECIMALS)
    return rounded if rounded <= score else round(rounded - 10.0 ** -THRESHOLD_DECIMALS, THRESHOLD_DECIMALS)


def _threshold_above(score: float) -> float:
    """The smallest threshold of ``THRESHOLD_DECIMALS`` decimals that a comment scoring ``score`` does not reach."""
    return round(_round_down(score) + 10.0 ** -THRESHOLD_DECIMALS, THRESHOLD_DECIMALS)


def _reject_scores(decisions: list, attributes) -> np.ndarray:
    return np.array([max((d.scores.get(a, 0.0) for a in attributes), default=0.0) for d in decisions])


def has_hostility_span(decision, floor: float = 0.0) -> bool:
    """Whether ``decision`` marks words for a hostility attribute; with ``floor``, whether it still would with that span
    floor (``model.evaluation.span_floors``: a decision scored at a floor no higher): an attribute with spans whose
    comment score reaches it."""
    return any(attribute != CLAIM_ATTRIBUTE and found and (floor <= 0.0 or decision.scores[attribute] >= floor)
               for attribute, found in decision.spans.items())


def evaluate_policy(scorer, validation: Mapping[str, pd.DataFrame], names=POLICY_SETS) -> dict:
    """``policy_outcomes`` of the scorer's policy on each named validation set that is present, and the reject trade-off.

    The trade-off pools the named sets and scores each comment by the highest of the attributes the policy rejects
    on; the civil comments scoring highest are listed with it, because at the top of the scale the labels, not
    the scores, decide whether "no civil comment rejected" can be met.
    """
    present = [name for name in names if name in validation]
    decisions = {name: scorer.moderate(validation[name]["text"].tolist(), with_spans=True) for name in present}
    outcomes = {name: policy_outcomes(decisions[name], validation[name]["label"].to_numpy()) for name in present}
    if present:
        attributes = tuple(scorer.policy.reject)
        labels = np.concatenate([validation[name]["label"].to_numpy(int) for name in present])
        scores = np.concatenate([_reject_scores(decisions[name], attributes) for name in present])
        texts = [text for name in present for text in validation[name]["text"]]
        civil = np.flatnonzero(labels == 0)
        top = civil[np.argsort(-scores[civil], kind="stable")[:SHOWN_CIVIL]]
        outcomes["reject_tradeoff"] = {
            "sets": present, "attributes": list(attributes), "rows": int(len(labels)), "hostile": int(labels.sum()),
            "curve": reject_tradeoff(labels, scores),
            # Rounded down: a civil score must not read as the threshold just above it that it does not reach.
            "highest_civil": [{"score": _round_down(float(scores[i])), "text": texts[i][:200]} for i in top],
        }
    return outcomes


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
    tradeoff = outcomes.get("reject_tradeoff")
    outcomes = {name: o for name, o in outcomes.items() if name != "reject_tradeoff"}
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
    if tradeoff:
        lines += _tradeoff_markdown(tradeoff)
    return lines


def _tradeoff_markdown(tradeoff: Mapping) -> list[str]:
    reached = [row for row in tradeoff["curve"] if row["civil_budget"] == 0.0 and row["hostile_recall"] >= REJECT_RECALL_TARGET]
    lines = [
        "",
        "### Reject trade-off (validation data)",
        "",
        f"Pooled {', '.join(tradeoff['sets'])} ({tradeoff['rows']} comments, {tradeoff['hostile']} hostile); a comment's "
        f"score is the highest of {', '.join(tradeoff['attributes'])}. Each row is the lowest single threshold that rejects "
        f"at most that share of civil-labelled comments (a comment is rejected when its score reaches the threshold, as "
        f"with `[reject]` in `policy.toml`). Target: {REJECT_RECALL_TARGET:.0%} of hostile comments rejected "
        f"with no civil comment rejected: **{'met' if reached else 'missed'}**.",
        "",
        "| civil budget | threshold | civil rejected | hostile rejected (recall) |",
        "|---|---|---|---|",
    ]
    lines += [f"| {row['civil_budget']:.2%} | {row['threshold']:.{THRESHOLD_DECIMALS}f} | {row['civil_rejected']:.2%} | {row['hostile_recall']:.2%} |"
              for row in tradeoff["curve"]]
    lines += ["", "The civil-labelled comments that score highest (they set the zero-budget threshold):", ""]
    lines += [f"- {row['score']:.{THRESHOLD_DECIMALS}f}: {_quoted(row['text'])}" for row in tradeoff["highest_civil"]]
    return lines


def _quoted(text: str) -> str:
    return "`" + " ".join(text.split()).replace("`", "'") + "`"
