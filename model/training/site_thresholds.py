"""Choose the policy's toxicity thresholds from a labelled sample of a site's own comments.

The trade-off an editor weighs: the share of all comments sent to a human (the review queue) against
the share of the hostile comments the policy catches (sent to review or rejected).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy.stats import beta

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
REJECT_CONFIDENCE = 0.95
"""Confidence that the site's precision above a reject threshold is at least ``REJECT_PRECISION``: its one-sided
Clopper-Pearson lower bound must reach it. A precision of 1.0 on 38 comments (a bound of 0.924) chose a reject
threshold a hair above the review one; a rejection removes a comment no one reads, so the sample must show it."""


def min_reject_examples(precision: float = REJECT_PRECISION, confidence: float = REJECT_CONFIDENCE) -> int:
    """The fewest comments above a threshold, every one rejected, whose precision bound reaches ``precision``.

    All ``n`` rejected, the Clopper-Pearson lower bound is ``(1 - confidence) ** (1 / n)``.
    """
    return math.ceil(math.log(1 - confidence) / math.log(precision) - 1e-9)


MIN_REJECT_EXAMPLES = min_reject_examples()
"""99 comments at 0.97 and 95 %: fewer site rejections than this cannot move the bundle's reject threshold."""


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


def precision_lower_bound(n_rejected: np.ndarray, n_above: np.ndarray, confidence: float = REJECT_CONFIDENCE) -> np.ndarray:
    """One-sided Clopper-Pearson lower bound of the share rejected: ``n_rejected`` of ``n_above`` comments.

    Parameters
    ----------
    n_rejected, n_above : numpy.ndarray of int
    confidence : float

    Returns
    -------
    numpy.ndarray of float
        0 where nothing (or no comment) was rejected.
    """
    n_rejected, n_above = np.asarray(n_rejected, dtype=float), np.asarray(n_above, dtype=float)
    bound = beta.ppf(1 - confidence, np.maximum(n_rejected, 1), np.maximum(n_above - n_rejected + 1, 1))
    return np.where((n_rejected > 0) & (n_above > 0), bound, 0.0)


def choose_reject_threshold(scores: np.ndarray, site: pd.DataFrame, current: float | None,
                            precision: float = REJECT_PRECISION, confidence: float = REJECT_CONFIDENCE) -> tuple[float | None, str]:
    """The lowest toxicity threshold above which the site's editors rejected at least ``precision`` of the comments
    they decided on, with ``confidence`` (``precision_lower_bound``).

    Only comments with a decision count: a toxicity label says a comment is hostile, not that the editors would remove
    it unread. Returns ``current`` and why, with the counts, when the sample gives no decision, has fewer rejections
    than ``min_reject_examples`` (no threshold could reach the bound), or no threshold reaches it.

    Parameters
    ----------
    scores : numpy.ndarray
        ``score_matrix`` of the site's comments.
    site : pandas.DataFrame
        ``model.training.site_data`` labels aligned with ``scores``.
    current : float or None
        The bundle's reject threshold, kept when the sample cannot replace it.
    precision, confidence : float

    Returns
    -------
    threshold : float or None
    why : str
        What the threshold was chosen on, or why ``current`` stays (``kept: ...``).
    """
    decided = (site[DECISION_COLUMN] != "").to_numpy()
    needed = min_reject_examples(precision, confidence)
    if not decided.any():
        return current, (f"kept: the sample gives no decision, only attribute labels ({int(hostile_labels(site).sum())} "
                         "hostile comments): they do not say what the site's editors reject; give a decision column")
    rejected = (site[DECISION_COLUMN] == REJECT).to_numpy()[decided]
    n_rejected = int(rejected.sum())
    if n_rejected == int(decided.sum()):  # every threshold has precision 1: the lowest would reject anything toxic unread
        return current, (f"kept: every one of the {n_rejected} decided comments was rejected, so the sample says nothing "
                         "of what the site's editors let through; give a sample with its approved and reviewed comments too")
    if n_rejected < needed:
        return current, (f"kept: {n_rejected} site rejections among {int(decided.sum())} decided comments; a rejected share "
                         f"of at least {precision} with {confidence:.0%} confidence needs {needed} or more above a threshold")
    toxicity = scores[decided, ATTRIBUTES.index(PRIMARY_ATTRIBUTE)]
    order = np.argsort(toxicity, kind="stable")
    ascending = toxicity[order]
    # Rejections among the comments from each position of the ascending order to the end.
    rejected_from = np.concatenate([np.cumsum(rejected[order][::-1])[::-1], [0]])
    thresholds = np.unique(np.round(toxicity, 4))
    first = np.searchsorted(ascending, thresholds, side="left")  # the comments at or above each threshold
    n_above = len(toxicity) - first
    bound = precision_lower_bound(rejected_from[first], n_above, confidence)
    reaching = np.flatnonzero(bound >= precision)
    if not len(reaching):
        best = int(np.argmax(bound))
        return current, (f"kept: no threshold reaches a rejected share of {precision} with {confidence:.0%} confidence "
                         f"(best: {rejected_from[first][best]} of {n_above[best]} comments at or above "
                         f"{thresholds[best]:.4g}, a lower bound of {bound[best]:.3f})")
    chosen = reaching[0]
    return float(thresholds[chosen]), (f"site precision {rejected_from[first][chosen] / n_above[chosen]:.3f} on "
                                       f"{int(n_above[chosen])} comments (at least {bound[chosen]:.3f} with "
                                       f"{confidence:.0%} confidence)")


def site_policy(policy: Policy, review_threshold: float, reject_threshold: float | None, source: str) -> Policy:
    """``policy`` with the toxicity review (and reject) thresholds replaced; reject is never below review (raised to
    it: read the written policy, ``Policy.reject``, for the value that applies)."""
    review = {**policy.review, PRIMARY_ATTRIBUTE: review_threshold}
    reject = dict(policy.reject)
    if reject_threshold is not None:
        reject[PRIMARY_ATTRIBUTE] = max(reject_threshold, review_threshold)
    elif PRIMARY_ATTRIBUTE in reject:  # the bundle's reject threshold, raised to the new review one if below it
        reject[PRIMARY_ATTRIBUTE] = max(reject[PRIMARY_ATTRIBUTE], review_threshold)
    return Policy(reject=reject, review=review, source=source, span_floor=policy.span_floor)
