"""Identity-term bias metrics (Borkan et al. 2019, the Jigsaw Unintended Bias competition) as pure functions on arrays.

For one identity, the *subgroup* is the rows that mention it and the *background* is every other row:
- subgroup AUC: ROC AUC on the subgroup alone (does the model rank hostile above civil among these rows?);
- BPSN AUC (background positive, subgroup negative): low when civil mentions of the identity outscore
  hostile comments about other things (false alarms on the identity);
- BNSP AUC (background negative, subgroup positive): low when hostile comments about the identity score
  below civil comments about other things (missed attacks on the identity).
The final bias score is ``0.25 * overall AUC + 0.75 * mean over the three metrics of the power mean
(p = -5) of that metric across identities``; the negative power pulls the mean towards the worst identity.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from model.training.metrics import roc_auc

SUBGROUP_AUC, BPSN_AUC, BNSP_AUC = "subgroup_auc", "bpsn_auc", "bnsp_auc"
BIAS_METRICS: tuple[str, ...] = (SUBGROUP_AUC, BPSN_AUC, BNSP_AUC)
POWER = -5
"""Exponent of the generalised mean across identities, as in the Jigsaw competition."""
OVERALL_WEIGHT = 0.25
"""Weight of the overall AUC in the final bias score; the three power means share the rest equally."""


def _masks(labels: np.ndarray, in_subgroup: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return labels.astype(bool), np.asarray(in_subgroup, dtype=bool)


def subgroup_auc(y_true: Sequence[int], y_score: Sequence[float], in_subgroup: Sequence[bool]) -> float:
    """ROC AUC on the rows of one subgroup (``nan`` when it lacks a class)."""
    labels, scores = np.asarray(y_true), np.asarray(y_score, dtype=float)
    _, member = _masks(labels, in_subgroup)
    return roc_auc(labels[member], scores[member])


def bpsn_auc(y_true: Sequence[int], y_score: Sequence[float], in_subgroup: Sequence[bool]) -> float:
    """ROC AUC on the background's positives and the subgroup's negatives (``nan`` when either is empty)."""
    labels, scores = np.asarray(y_true), np.asarray(y_score, dtype=float)
    positive, member = _masks(labels, in_subgroup)
    keep = (positive & ~member) | (~positive & member)
    return roc_auc(labels[keep], scores[keep])


def bnsp_auc(y_true: Sequence[int], y_score: Sequence[float], in_subgroup: Sequence[bool]) -> float:
    """ROC AUC on the background's negatives and the subgroup's positives (``nan`` when either is empty)."""
    labels, scores = np.asarray(y_true), np.asarray(y_score, dtype=float)
    positive, member = _masks(labels, in_subgroup)
    keep = (~positive & ~member) | (positive & member)
    return roc_auc(labels[keep], scores[keep])


def power_mean(values: Sequence[float], power: float = POWER) -> float:
    """Generalised mean ``(mean(v ** p)) ** (1 / p)`` of the defined values (``nan`` when there is none).

    With a negative ``power`` a zero value makes the mean zero (its limit), without a division warning.
    """
    defined = np.asarray([v for v in values if not np.isnan(v)], dtype=float)
    if defined.size == 0:
        return float("nan")
    if power < 0 and (defined == 0).any():
        return 0.0
    return float(np.mean(defined ** power) ** (1.0 / power))


def identity_metrics(y_true: Sequence[int], y_score: Sequence[float], in_subgroup: Sequence[bool]) -> dict[str, float]:
    """Subgroup, BPSN and BNSP AUC of one identity, with its row and positive counts.

    Parameters
    ----------
    y_true : array-like of shape (n,)
        0/1 labels, 1 = hostile.
    y_score : array-like of shape (n,)
        Scores; higher means more likely hostile.
    in_subgroup : array-like of bool, shape (n,)
        True where the row mentions the identity.

    Returns
    -------
    dict
        ``n_rows``, ``n_positive`` (in the subgroup) and the three AUCs (``nan`` where undefined).
    """
    labels, member = np.asarray(y_true, dtype=int), np.asarray(in_subgroup, dtype=bool)
    if member.shape != labels.shape:
        raise ValueError(f"in_subgroup has shape {member.shape}, expected {labels.shape}")
    return {
        "n_rows": int(member.sum()),
        "n_positive": int(labels[member].sum()),
        SUBGROUP_AUC: subgroup_auc(labels, y_score, member),
        BPSN_AUC: bpsn_auc(labels, y_score, member),
        BNSP_AUC: bnsp_auc(labels, y_score, member),
    }


def final_bias_score(overall_auc: float, per_identity: Mapping[str, Mapping[str, float]], power: float = POWER) -> float:
    """``0.25 * overall_auc + 0.75 * mean(power mean of each bias metric across identities)``.

    Parameters
    ----------
    overall_auc : float
        ROC AUC on every row.
    per_identity : mapping
        Identity -> ``identity_metrics`` result; undefined (NaN) AUCs are left out of the power means.
    power : float
        Exponent of the generalised mean.

    Returns
    -------
    float
        The score in [0, 1] (``nan`` when a power mean or the overall AUC is undefined).
    """
    means = [power_mean([metrics[name] for metrics in per_identity.values()], power) for name in BIAS_METRICS]
    return float(OVERALL_WEIGHT * overall_auc + (1 - OVERALL_WEIGHT) * np.mean(means))


def flagged_share(flagged: Sequence[bool], y_true: Sequence[int], in_subgroup: Sequence[bool] | None = None) -> float:
    """Share of the negative rows (label 0), optionally of one subgroup, that are flagged (``nan`` if none)."""
    flagged, labels = np.asarray(flagged, dtype=bool), np.asarray(y_true, dtype=int)
    keep = labels == 0
    if in_subgroup is not None:
        keep &= np.asarray(in_subgroup, dtype=bool)
    return float(flagged[keep].mean()) if keep.any() else float("nan")


def flagged_at_review(scores: np.ndarray, attributes: Sequence[str], review: Mapping[str, float]) -> np.ndarray:
    """True for each row where a scored attribute reaches its ``[review]`` threshold (what the policy flags).

    Parameters
    ----------
    scores : numpy.ndarray of shape (n_rows, n_attributes)
        Probabilities, column ``j`` for ``attributes[j]``.
    attributes : sequence of str
        Attribute names of the columns.
    review : mapping
        Attribute -> review threshold; only those given (and scored) are checked.

    Returns
    -------
    numpy.ndarray of bool, shape (n_rows,)
    """
    scores = np.asarray(scores, dtype=float)
    flagged = np.zeros(len(scores), dtype=bool)
    for attribute, threshold in review.items():
        if attribute in attributes:
            flagged |= scores[:, list(attributes).index(attribute)] >= threshold
    return flagged
