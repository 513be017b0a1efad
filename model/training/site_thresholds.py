"""Choose the policy's toxicity thresholds from a labelled sample of a site's own comments.

The trade-off an editor weighs: the share of all comments sent to a human (the review queue) against
the share of the hostile comments the policy catches (sent to review or rejected).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from model.attributes import ATTRIBUTES
from model.policy import APPROVE, REJECT, REVIEW, Policy, decide
from model.training.data import DataError
from model.training.site_data import DECISION_COLUMN, hostile_labels

PRIMARY_ATTRIBUTE = "toxicity"
THRESHOLD_GRID = tuple(np.round(np.arange(0.05, 0.96, 0.01), 2))
"""Candidate toxicity review thresholds."""
TARGET_CAUGHT = 0.9
"""Default goal: the policy catches nine hostile comments in ten."""
REJECT_PRECISION = 0.97
"""Reject only where the site's editors rejected at least this share of what the policy would reject."""
MIN_REJECT_EXAMPLES = 20
"""Fewer site rejections than this, or fewer comments above a threshold, cannot estimate a reject precision: the
bundle's reject threshold stays."""


def _actions(scores: np.ndarray, texts: Sequence[str], policy: Policy) -> np.ndarray:
    """Decisions for a scores matrix (columns ``ATTRIBUTES``, NaN where a bundle lacks one)."""
    actions = []
    for text, row in zip(texts, scores):
        present = {a: float(p) for a, p in zip(ATTRIBUTES, row) if not np.isnan(p)}
        actions.append(decide(text, present, {}, policy)[0])
    return np.array(actions, dtype=object)


def score_matrix(scorer, texts: Sequence[str]) -> np.ndarray:
    """Scores of ``texts`` in ``ATTRIBUTES`` order (NaN for attributes the bundle does not score)."""
    scores = scorer.predict_scores(list(texts))
    matrix = np.full((len(texts), len(ATTRIBUTES)), np.nan)
    for j, attribute in enumerate(scorer.attributes):
        matrix[:, ATTRIBUTES.index(attribute)] = scores[:, j]
    return matrix


def review_tradeoff(scores: np.ndarray, texts: Sequence[str], site: pd.DataFrame, policy: Policy,
                    grid: Sequence[float] = THRESHOLD_GRID) -> pd.DataFrame:
    """For each toxicity review threshold, the share sent to review and the share of hostile comments caught.

    Every other threshold of ``policy`` stays as it is, so the table shows what the whole policy would do.

    Parameters
    ----------
    scores : numpy.ndarray
        ``score_matrix`` of the site's comments.
    texts : sequence of str
    site : pandas.DataFrame
        ``model.training.site_data`` labels aligned with ``texts``.
    policy : Policy
        The bundle's policy.
    grid : sequence of float
        Toxicity review thresholds to try.

    Returns
    -------
    pandas.DataFrame
        ``threshold``, ``review_share``, ``reject_share``, ``flagged_share`` (not approved), ``caught``
        (hostile comments flagged), ``false_flags`` (non-hostile comments flagged) and ``precision``
        (hostile share of what is flagged).
    """
    hostile = hostile_labels(site).astype(bool)
    records = []
    for threshold in grid:
        candidate = Policy(reject=policy.reject, review={**policy.review, PRIMARY_ATTRIBUTE: float(threshold)}, source=policy.source)
        actions = _actions(scores, texts, candidate)
        flagged = actions != APPROVE
        records.append({
            "threshold": float(threshold),
            "review_share": float(np.mean(actions == REVIEW)),
            "reject_share": float(np.mean(actions == REJECT)),
            "flagged_share": float(flagged.mean()),
            "caught": float(flagged[hostile].mean()) if hostile.any() else np.nan,
            "false_flags": float(flagged[~hostile].mean()) if (~hostile).any() else np.nan,
            "precision": float(hostile[flagged].mean()) if flagged.any() else np.nan,
        })
    return pd.DataFrame(records)


def choose_review_threshold(tradeoff: pd.DataFrame, target_caught: float = TARGET_CAUGHT) -> tuple[float, dict]:
    """The highest threshold (smallest review queue) that still catches ``target_caught`` of hostile comments.

    Parameters
    ----------
    tradeoff : pandas.DataFrame
        From ``review_tradeoff``.
    target_caught : float

    Returns
    -------
    threshold : float
        When no threshold reaches the target, the one that catches most (the lowest).
    row : dict
        The trade-off row of the chosen threshold.

    Raises
    ------
    DataError
        The sample has no hostile comment: nothing to catch, so no threshold to choose (the lowest was chosen,
        sending nearly every comment to review).
    """
    if tradeoff["caught"].isna().all():
        raise DataError("the site sample has no hostile comment (a review or reject decision, or a toxicity label of 1), "
                        "so a review threshold cannot be chosen on it: add comments the editors flagged, "
                        "or keep the bundle's thresholds")
    reaching = tradeoff[tradeoff["caught"] >= target_caught]
    chosen = reaching.iloc[-1] if len(reaching) else tradeoff.sort_values(["caught", "threshold"], ascending=[False, True]).iloc[0]
    return float(chosen["threshold"]), {key: float(value) for key, value in chosen.items()}


def choose_reject_threshold(scores: np.ndarray, site: pd.DataFrame, current: float | None,
                            precision: float = REJECT_PRECISION) -> tuple[float | None, str]:
    """The lowest toxicity threshold whose rejections the site's editors rejected at ``precision``, measured on at
    least ``MIN_REJECT_EXAMPLES`` comments at or above it.

    Returns ``current`` (and why) when the sample has fewer than ``MIN_REJECT_EXAMPLES`` rejections or no such
    threshold reaches the precision: a precision of 1.0 on the 7 highest comments says little.
    """
    rejected = (site[DECISION_COLUMN] == REJECT).to_numpy()
    if rejected.sum() < MIN_REJECT_EXAMPLES:
        return current, f"kept: {int(rejected.sum())} site rejections, fewer than {MIN_REJECT_EXAMPLES}"
    toxicity = scores[:, ATTRIBUTES.index(PRIMARY_ATTRIBUTE)]
    order = np.argsort(toxicity, kind="stable")
    ascending = toxicity[order]
    # Rejections among the comments from each position of the ascending order to the end.
    rejected_from = np.concatenate([np.cumsum(rejected[order][::-1])[::-1], [0]])
    thresholds = np.unique(np.round(toxicity, 4))
    first = np.searchsorted(ascending, thresholds, side="left")  # the comments at or above each threshold
    n_above = len(toxicity) - first
    share = rejected_from[first] / np.maximum(n_above, 1)
    reaching = np.flatnonzero((n_above >= MIN_REJECT_EXAMPLES) & (share >= precision))
    if not len(reaching):
        return current, f"kept: no threshold reaches precision {precision} on {MIN_REJECT_EXAMPLES} comments or more"
    chosen = reaching[0]
    return float(thresholds[chosen]), f"site precision {share[chosen]:.3f} on {int(n_above[chosen])} comments"


def site_policy(policy: Policy, review_threshold: float, reject_threshold: float | None, source: str) -> Policy:
    """``policy`` with the toxicity review (and reject) thresholds replaced; reject is never below review."""
    review = {**policy.review, PRIMARY_ATTRIBUTE: review_threshold}
    reject = dict(policy.reject)
    if reject_threshold is not None:
        reject[PRIMARY_ATTRIBUTE] = max(reject_threshold, review_threshold)
    elif PRIMARY_ATTRIBUTE in reject:  # the bundle's reject threshold, raised to the new review one if below it
        reject[PRIMARY_ATTRIBUTE] = max(reject[PRIMARY_ATTRIBUTE], review_threshold)
    return Policy(reject=reject, review=review, source=source)
