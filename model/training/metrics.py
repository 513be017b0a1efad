"""Test-split metrics (AUC, Brier, reliability, F1 at a threshold, span F1) as pure functions on arrays.

A metric that is undefined for the labels given (AUC with one class, for example) is returned as
``nan`` rather than raising or warning, so one thin test set cannot stop a whole report.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
from sklearn.calibration import calibration_curve
from sklearn.metrics import (
    average_precision_score,
    brier_score_loss,
    precision_recall_curve,
    roc_auc_score,
)

RELIABILITY_BINS = 10
"""Equal-width probability bins of the reliability curve."""
SCORE_BATCH_ROWS = 1000
"""Texts per scoring call when a figure is measured (``make eval``, a manifest's ``test_metrics``). An int8
encoder of bundles 2.2.0-2.6.0 quantises its activations per call, so their figures depend on the batches: all
of them use these (2.7.0's activations are quantised per token, ``model.training.quantisation``)."""


def batches(items: Sequence, size: int = SCORE_BATCH_ROWS) -> list[Sequence]:
    """``items`` cut into consecutive slices of at most ``size``."""
    return [items[start:start + size] for start in range(0, len(items), size)]


def scores_in_batches(predict, texts: Sequence[str], size: int = SCORE_BATCH_ROWS, progress=iter) -> np.ndarray:
    """``predict`` called on consecutive batches of ``texts``, rows concatenated.

    ``progress`` wraps the batches (a tqdm bar, say); figures measured in the same batches agree exactly.
    """
    return np.concatenate([np.asarray(predict(list(batch))) for batch in progress(batches(texts, size))])


def _check_binary(y_true: Sequence[int], y_score: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    """Return labels and scores as 1-d arrays after checking shapes, 0/1 labels and score range."""
    labels = np.asarray(y_true)
    scores = np.asarray(y_score, dtype=float)
    if labels.ndim != 1 or scores.ndim != 1 or labels.shape != scores.shape:
        raise ValueError(
            f"y_true and y_score must be 1-d arrays of the same length, got shapes "
            f"{labels.shape} and {scores.shape}"
        )
    if not np.isin(labels, (0, 1)).all():
        raise ValueError("y_true must hold only 0 and 1")
    if np.isnan(scores).any():
        raise ValueError("y_score must not contain NaN")
    return labels.astype(int), scores


def _has_both_classes(labels: np.ndarray) -> bool:
    """Whether ``labels`` holds at least one 0 and one 1."""
    return labels.size > 0 and 0 < labels.sum() < labels.size


def roc_auc(y_true: Sequence[int], y_score: Sequence[float]) -> float:
    """Area under the ROC curve.

    Parameters
    ----------
    y_true : array-like of shape (n,)
        Binary labels, 1 = positive (hostile).
    y_score : array-like of shape (n,)
        Scores; higher means more likely positive.

    Returns
    -------
    float
        ROC AUC in [0, 1], or ``nan`` when ``y_true`` has a single class.
    """
    labels, scores = _check_binary(y_true, y_score)
    if not _has_both_classes(labels):
        return float("nan")
    return float(roc_auc_score(labels, scores))


def average_precision(y_true: Sequence[int], y_score: Sequence[float]) -> float:
    """Average precision, the step-wise area under the precision-recall curve (PR AUC).

    Parameters
    ----------
    y_true : array-like of shape (n,)
        Binary labels, 1 = positive.
    y_score : array-like of shape (n,)
        Scores; higher means more likely positive.

    Returns
    -------
    float
        Average precision in [0, 1], or ``nan`` when ``y_true`` has no positive.
    """
    labels, scores = _check_binary(y_true, y_score)
    if labels.sum() == 0:
        return float("nan")
    return float(average_precision_score(labels, scores))


def brier(y_true: Sequence[int], y_prob: Sequence[float]) -> float:
    """Brier score: mean squared difference between probability and label (lower is better).

    Parameters
    ----------
    y_true : array-like of shape (n,)
        Binary labels, 1 = positive.
    y_prob : array-like of shape (n,)
        Predicted probabilities of the positive class, in [0, 1].

    Returns
    -------
    float
        Brier score in [0, 1]; defined for single-class labels too; ``nan`` for no rows.
    """
    labels, probabilities = _check_binary(y_true, y_prob)
    if labels.size == 0:
        return float("nan")
    return float(brier_score_loss(labels, probabilities, labels=[0, 1]))


def reliability_curve(
    y_true: Sequence[int], y_prob: Sequence[float], n_bins: int = RELIABILITY_BINS
) -> tuple[np.ndarray, np.ndarray]:
    """Reliability (calibration) curve: observed positive rate against mean predicted probability.

    Parameters
    ----------
    y_true : array-like of shape (n,)
        Binary labels, 1 = positive.
    y_prob : array-like of shape (n,)
        Predicted probabilities in [0, 1].
    n_bins : int
        Number of equal-width bins over [0, 1]; empty bins are dropped.

    Returns
    -------
    fraction_positive : numpy.ndarray
        Observed fraction of positives in each non-empty bin.
    mean_predicted : numpy.ndarray
        Mean predicted probability in each non-empty bin.
    """
    labels, probabilities = _check_binary(y_true, y_prob)
    if labels.size == 0:
        return np.zeros(0), np.zeros(0)
    # pos_label fixed so a set with only negatives is not read as "only positives".
    fraction_positive, mean_predicted = calibration_curve(
        labels, probabilities, n_bins=n_bins, strategy="uniform", pos_label=1
    )
    return fraction_positive, mean_predicted


def best_f1_threshold(y_true: Sequence[int], y_score: Sequence[float]) -> tuple[float, float]:
    """The score threshold that maximises F1 of ``score >= threshold``.

    Parameters
    ----------
    y_true : array-like of shape (n,)
        Binary labels, 1 = positive.
    y_score : array-like of shape (n,)
        Scores; higher means more likely positive.

    Returns
    -------
    threshold : float
        The lowest score of the best cut, or ``nan`` when ``y_true`` has no positive.
    f1 : float
        F1 at that threshold, or ``nan`` when ``y_true`` has no positive.
    """
    labels, scores = _check_binary(y_true, y_score)
    if labels.sum() == 0:
        return float("nan"), float("nan")
    precision, recall, thresholds = precision_recall_curve(labels, scores)
    # The last (precision=1, recall=0) point has no threshold.
    precision, recall = precision[:-1], recall[:-1]
    denominator = precision + recall
    f1 = np.divide(2 * precision * recall, denominator, out=np.zeros_like(denominator), where=denominator > 0)
    best = int(np.argmax(f1))
    return float(thresholds[best]), float(f1[best])


def _f1(true_positive: int, false_positive: int, false_negative: int) -> float:
    """F1 from counts; ``nan`` when the class was neither present nor predicted."""
    denominator = 2 * true_positive + false_positive + false_negative
    return 2 * true_positive / denominator if denominator else float("nan")


def threshold_metrics(y_true: Sequence[int], y_score: Sequence[float], threshold: float | None) -> dict[str, float]:
    """Precision, recall, F1, macro-F1 and flagged share of the decision ``score >= threshold``.

    Parameters
    ----------
    y_true : array-like of shape (n,)
        Binary labels, 1 = positive.
    y_score : array-like of shape (n,)
        Scores; higher means more likely positive.
    threshold : float or None
        A fixed cut chosen elsewhere (never on these labels); ``None`` makes every value ``nan``.

    Returns
    -------
    dict
        ``precision``, ``recall``, ``f1`` (of the positive class), ``macro_f1`` (mean F1 of both classes,
        ``nan`` unless both occur in ``y_true``) and ``flagged_share`` (fraction at or above the threshold);
        a ratio with a zero denominator is ``nan``.
    """
    labels, scores = _check_binary(y_true, y_score)
    keys = ("precision", "recall", "f1", "macro_f1", "flagged_share")
    if threshold is None or labels.size == 0:
        return dict.fromkeys(keys, float("nan"))
    flagged = scores >= threshold
    true_positive = int(np.sum(flagged & (labels == 1)))
    false_positive = int(np.sum(flagged & (labels == 0)))
    false_negative = int(np.sum(~flagged & (labels == 1)))
    true_negative = int(np.sum(~flagged & (labels == 0)))
    n_flagged, n_positive = true_positive + false_positive, true_positive + false_negative
    f1 = _f1(true_positive, false_positive, false_negative)
    negative_f1 = _f1(true_negative, false_negative, false_positive)
    return {
        "precision": true_positive / n_flagged if n_flagged else float("nan"),
        "recall": true_positive / n_positive if n_positive else float("nan"),
        "f1": f1,
        "macro_f1": (f1 + negative_f1) / 2 if _has_both_classes(labels) else float("nan"),
        "flagged_share": float(flagged.mean()),
    }


def span_f1(predicted_offsets: Iterable[int], gold_offsets: Iterable[int]) -> float:
    """Character-offset F1 of one post, as defined by SemEval-2021 Task 5 (Toxic Spans Detection).

    Parameters
    ----------
    predicted_offsets : iterable of int
        Character offsets the system marked toxic.
    gold_offsets : iterable of int
        Character offsets of the gold toxic spans.

    Returns
    -------
    float
        ``2 |P & G| / (|P| + |G|)``; when the gold set is empty, 1.0 if the prediction is empty too,
        else 0.0. The task's system score is the mean of this over posts (see ``mean_span_f1``).
    """
    predicted, gold = set(predicted_offsets), set(gold_offsets)
    if not gold:
        return 1.0 if not predicted else 0.0
    if not predicted:
        return 0.0
    return 2 * len(predicted & gold) / (len(predicted) + len(gold))


def mean_span_f1(predicted: Iterable[Iterable[int]], gold: Iterable[Iterable[int]]) -> float:
    """The SemEval-2021 Task 5 system score: ``span_f1`` averaged over posts.

    Parameters
    ----------
    predicted : iterable of iterables of int
        Predicted character offsets, one collection per post.
    gold : iterable of iterables of int
        Gold character offsets, one collection per post, in the same order.

    Returns
    -------
    float
        Mean per-post F1 in [0, 1], or ``nan`` for no posts.
    """
    predicted, gold = list(predicted), list(gold)
    if len(predicted) != len(gold):
        raise ValueError(f"got {len(predicted)} predictions for {len(gold)} gold posts")
    if not gold:
        return float("nan")
    return float(np.mean([span_f1(p, g) for p, g in zip(predicted, gold)]))


def spans_to_offsets(spans: Iterable) -> set[int]:
    """Turn character ranges into the set of offsets they cover.

    Parameters
    ----------
    spans : iterable of Span or (begin, end) pairs
        Half-open ranges ``text[begin:end]``; overlapping ranges are merged.

    Returns
    -------
    set of int
        Every offset ``i`` with ``begin <= i < end`` for some range.
    """
    offsets: set[int] = set()
    for span in spans:
        begin, end = (span.begin, span.end) if hasattr(span, "begin") else span[:2]
        offsets.update(range(int(begin), int(end)))
    return offsets


PROBE_STEP = 4
"""A test set's probe is every ``PROBE_STEP``-th row from its first: ``make eval`` records one more ROC AUC on it, so
that the suite can check the served bundle still gives the report's figures by scoring a quarter of each set."""


def probe_roc_auc(y_true: Sequence[int], y_score: Sequence[float]) -> dict[str, float | int]:
    """ROC AUC on a set's probe rows (every ``PROBE_STEP``-th, in the set's order): ``step``, ``n_rows``, ``roc_auc``."""
    y_true, y_score = np.asarray(y_true)[::PROBE_STEP], np.asarray(y_score)[::PROBE_STEP]
    return {"step": PROBE_STEP, "n_rows": len(y_true), "roc_auc": roc_auc(y_true, y_score)}


def score_metrics(y_true: Sequence[int], y_score: Sequence[float]) -> dict[str, float]:
    """ROC AUC, PR AUC (average precision) and Brier score of one score column.

    Parameters
    ----------
    y_true : array-like of shape (n,)
        Binary labels, 1 = positive.
    y_score : array-like of shape (n,)
        Probabilities of the positive class.

    Returns
    -------
    dict
        ``{"roc_auc": float, "pr_auc": float, "brier": float}``; undefined values are ``nan``.
    """
    return {
        "roc_auc": roc_auc(y_true, y_score),
        "pr_auc": average_precision(y_true, y_score),
        "brier": brier(y_true, y_score),
    }
