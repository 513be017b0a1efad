"""Choose the policy's thresholds and the span threshold on held-out and validation data."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from sklearn.metrics import precision_recall_curve

from model.policy import Policy

REVIEW_ATTRIBUTES = ("toxicity", "insult", "identity_attack", "threat", "profanity")
"""Attributes whose best-F1 threshold sends a comment to review."""
REJECT_PRECISION = {"severe_toxicity": 0.9, "threat": 0.9, "toxicity": 0.97}
"""Reject only where a human would agree this often (precision on held-out data)."""
MIN_REJECT_PROBABILITY = 0.8
MIN_REVIEW_PROBABILITY = 0.3
DEFAULT_REVIEW_PROBABILITY = 0.5
CLAIM_F_BETA = 0.5
SPAN_GRID = tuple(np.round(np.arange(0.2, 0.96, 0.05), 2))
"""Span thresholds tried for a head's own word scores."""
TOXICITY_SPAN_GRID = tuple(np.round(np.arange(0.1, 0.41, 0.025), 3))
"""Span thresholds tried for the toxicity tagger's word scores (lower: the relative rule prunes as well)."""
SPAN_RELATIVE = 0.5
"""A toxicity word must also score half the comment's best word (found on toxic-spans trial data)."""
COMMENT_FLOOR_GRID = (0.0, 0.025, 0.05, 0.075, 0.1, 0.125, 0.15, 0.2, 0.25, 0.3)
"""Comment scores tried as the floor below which an attribute gets no word spans."""
COMMENT_FLOOR_TOLERANCE = 0.01
"""The floor is the highest one that costs at most this much toxic-spans trial F1. The trial posts are all
toxic, so F1 alone would always choose no floor; on civil news comments the floor is what keeps spans away
(``make eval`` counts civil UCC validation comments with a hostility span)."""


def best_f1_threshold(labels: np.ndarray, scores: np.ndarray) -> tuple[float, float]:
    """The score threshold with the highest F1, and that F1."""
    precision, recall, thresholds = precision_recall_curve(labels, scores)
    f1 = 2 * precision[:-1] * recall[:-1] / np.maximum(precision[:-1] + recall[:-1], 1e-12)
    best = int(np.argmax(f1))
    return float(thresholds[best]), float(f1[best])


def best_fbeta_threshold(labels: np.ndarray, scores: np.ndarray, beta: float) -> tuple[float, float]:
    """The score threshold with the highest F-beta (beta < 1 weighs precision more), and that F-beta."""
    precision, recall, thresholds = precision_recall_curve(labels, scores)
    b2 = beta**2
    fbeta = (1 + b2) * precision[:-1] * recall[:-1] / np.maximum(b2 * precision[:-1] + recall[:-1], 1e-12)
    best = int(np.argmax(fbeta))
    return float(thresholds[best]), float(fbeta[best])


def choose_claim_threshold(validation: Mapping[str, tuple[np.ndarray, np.ndarray]]) -> tuple[float, dict]:
    """Review threshold for ``unsupported_claim``: best F0.5 on the pooled validation sets.

    F0.5 weighs precision twice as much as recall: every false flag lengthens an editor's queue.
    """
    labels = np.concatenate([np.asarray(v[0], float) for v in validation.values()])
    scores = np.concatenate([np.asarray(v[1], float) for v in validation.values()])
    if not _usable(labels):
        return DEFAULT_REVIEW_PROBABILITY, {"chosen_on": "default (no labelled validation rows)"}
    threshold, fbeta = best_fbeta_threshold(labels, scores, CLAIM_F_BETA)
    flagged = scores >= threshold
    return threshold, {
        "chosen_on": "validation:" + "+".join(validation),
        "rows": int(len(labels)),
        "f0.5": round(fbeta, 4),
        "precision": round(float(labels[flagged].mean()) if flagged.any() else 0.0, 4),
        "recall": round(float(flagged[labels == 1].mean()), 4),
        "flagged_share": round(float(flagged.mean()), 4),
    }


def precision_threshold(labels: np.ndarray, scores: np.ndarray, target: float) -> float | None:
    """The lowest threshold whose precision reaches ``target``, or None."""
    precision, _, thresholds = precision_recall_curve(labels, scores)
    reached = np.flatnonzero(precision[:-1] >= target)
    return float(thresholds[reached[0]]) if len(reached) else None


def _usable(labels: np.ndarray) -> bool:
    return len(labels) > 0 and 0 < np.nansum(labels) < np.sum(~np.isnan(labels))


def choose_policy(
    attributes: Sequence[str],
    holdout_labels: np.ndarray,
    holdout_scores: np.ndarray,
    validation: Mapping[str, tuple[np.ndarray, np.ndarray]] | None = None,
) -> tuple[Policy, dict]:
    """Thresholds for every attribute: best F1 to review, a precision target to reject.

    Parameters
    ----------
    attributes : sequence of str
    holdout_labels, holdout_scores : arrays ``(n, n_attributes)``
        Held-out training rows (labels may be NaN).
    validation : mapping name -> (labels, toxicity scores), optional
        External validation sets; when given they set the toxicity review threshold, because they are
        news comments at a natural rate of hostility, unlike the training mix.

    Returns
    -------
    policy : Policy
    metrics : dict
        What each threshold was chosen on, and the F1 or precision it reached.
    """
    review, reject, metrics = {}, {}, {}
    for j, attribute in enumerate(attributes):
        labels, scores = holdout_labels[:, j], holdout_scores[:, j]
        known = ~np.isnan(labels)
        labels, scores = labels[known], scores[known]
        source = "holdout"
        if attribute == "toxicity" and validation:
            labels = np.concatenate([np.asarray(v[0], float) for v in validation.values()])
            scores = np.concatenate([np.asarray(v[1], float) for v in validation.values()])
            source = "validation:" + "+".join(validation)
        if attribute in REVIEW_ATTRIBUTES:
            if _usable(labels):
                threshold, f1 = best_f1_threshold(labels, scores)
                review[attribute] = max(threshold, MIN_REVIEW_PROBABILITY)
                metrics[f"review.{attribute}"] = {"chosen_on": source, "rows": int(len(labels)), "f1": round(f1, 4)}
            else:
                review[attribute] = DEFAULT_REVIEW_PROBABILITY
                metrics[f"review.{attribute}"] = {"chosen_on": "default (no labelled validation rows)"}
        if attribute in REJECT_PRECISION:
            found = precision_threshold(labels, scores, REJECT_PRECISION[attribute]) if _usable(labels) else None
            reject[attribute] = max(found if found is not None else 1.0, MIN_REJECT_PROBABILITY)
            metrics[f"reject.{attribute}"] = {
                "chosen_on": source if found is not None else "floor (precision target not reached)",
                "precision_target": REJECT_PRECISION[attribute],
            }
    # Rejecting is the stronger act: never below the same attribute's review threshold (load_policy refuses that),
    # and at most 0.99 unless the review threshold is higher still.
    reject = {k: max(min(v, 0.99), review.get(k, 0.0)) for k, v in reject.items()}
    return Policy(reject=reject, review=review, source="training"), metrics


def choose_span_thresholds(
    model,
    frame,
    grid: Sequence[float] = SPAN_GRID,
    toxicity_grid: Sequence[float] = TOXICITY_SPAN_GRID,
    relative: float = SPAN_RELATIVE,
    floors: Sequence[float] = COMMENT_FLOOR_GRID,
    floor_tolerance: float = COMMENT_FLOOR_TOLERANCE,
) -> tuple[dict[str, float], dict]:
    """Word-score thresholds with the best SemEval-2021 span F1 on ``frame`` (text, spans = gold offsets).

    The toxicity threshold is chosen on the tagger's word scores, under the rule that a word must also
    reach ``relative`` x the comment's best word score; the other hostility attributes, which have no span
    annotations, take the threshold that works best for the toxicity head's own word scores.

    Parameters
    ----------
    model : ModerationModel
    frame : DataFrame(text, spans)
    grid : sequence of float
        Thresholds tried for the head's own word scores (``default``, and toxicity without a tagger).
    toxicity_grid : sequence of float
        Thresholds tried for the tagger's word scores.
    relative : float
        Share of the comment's best tagger word score a toxicity word must reach as well (0 = none).
    floors : sequence of float
        Comment toxicity floors tried (empty = no floor): the highest whose F1 is within
        ``floor_tolerance`` of the best becomes ``comment_floor`` for every attribute.
    floor_tolerance : float

    Returns
    -------
    thresholds : dict
        ``toxicity``, ``toxicity.relative`` (with a tagger), ``default`` and ``comment_floor`` (when above 0).
    metrics : dict
        The span F1 reached by each on ``frame``.
    """
    from model.training.metrics import span_f1, spans_to_offsets
    from model.spans import COMMENT_FLOOR, RELATIVE_SUFFIX, merge_spans, word_scores

    texts = frame["text"].tolist()
    gold = [set(s) for s in frame["spans"]]
    column = list(model.hostility_attributes).index("toxicity")
    probabilities = model.predict_proba(texts)
    chosen, metrics, scored_by_key = {}, {}, {}
    for key, tagger in (("toxicity", model.span_tagger), ("default", None)):
        tried, share = (toxicity_grid, relative) if tagger is not None else (grid, 0.0)
        scored = scored_by_key[key] = word_scores(model.hostility, tagger, texts, probabilities if tagger is not None else None)
        best = (tried[0], -1.0)
        for threshold in tried:
            f1 = np.mean(
                [
                    span_f1(spans_to_offsets(merge_spans(text, raw, scores[:, column], threshold, share)) if raw else set(), g)
                    for text, (raw, scores), g in zip(texts, scored, gold)
                ]
            )
            if f1 > best[1]:
                best = (float(threshold), float(f1))
        chosen[key] = best[0]
        metrics[key] = {"threshold": best[0], "span_f1": round(best[1], 4), "rows": len(texts)}
        if share:
            chosen[key + RELATIVE_SUFFIX] = float(share)
            metrics[key]["relative"] = float(share)
    if floors:
        comment_scores = probabilities[:, column]
        threshold, share = chosen["toxicity"], chosen.get("toxicity" + RELATIVE_SUFFIX, 0.0)
        predicted = [spans_to_offsets(merge_spans(text, raw, scores[:, column], threshold, share)) if raw else set()
                     for text, (raw, scores) in zip(texts, scored_by_key["toxicity"])]
        floor, metrics[COMMENT_FLOOR] = choose_comment_floor(comment_scores, predicted, gold, floors, floor_tolerance)
        if floor > 0:
            chosen[COMMENT_FLOOR] = floor
    return chosen, metrics


def choose_comment_floor(comment_scores: np.ndarray, predicted: Sequence[set[int]], gold: Sequence[set[int]],
                         floors: Sequence[float] = COMMENT_FLOOR_GRID,
                         tolerance: float = COMMENT_FLOOR_TOLERANCE) -> tuple[float, dict]:
    """The highest comment ``toxicity`` floor whose span F1 is within ``tolerance`` of the best floor's.

    Parameters
    ----------
    comment_scores : array of shape (n,)
        Each post's comment ``toxicity``, as the model that reports the spans serves it.
    predicted, gold : sequences of sets of int
        Each post's predicted character offsets with no floor, and its gold ones (SemEval-2021 Task 5).
    floors : sequence of float
        The floors tried; a post whose score is below the floor gets no span.
    tolerance : float

    Returns
    -------
    floor : float
    metrics : dict
        ``floor``, its ``span_f1``, ``tolerance`` and ``span_f1_by_floor``.
    """
    from model.training.metrics import span_f1

    comment_scores = np.asarray(comment_scores, dtype=float)
    by_floor = {float(f): float(np.mean([span_f1(p if c >= f else set(), g) for p, c, g in zip(predicted, comment_scores, gold)]))
                for f in floors}
    best_f1 = max(by_floor.values())
    floor = max(f for f, f1 in by_floor.items() if f1 >= best_f1 - tolerance)
    return floor, {"floor": floor, "span_f1": round(by_floor[floor], 4), "tolerance": tolerance,
                   "span_f1_by_floor": {str(f): round(v, 4) for f, v in by_floor.items()}}
