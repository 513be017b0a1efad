"""Metric functions on hand-made arrays, and span F1 as SemEval-2021 Task 5 defines it."""

import math

import numpy as np
import pytest

from model.training.metrics import (
    average_precision,
    best_f1_threshold,
    brier,
    mean_span_f1,
    reliability_curve,
    roc_auc,
    score_metrics,
    span_f1,
    spans_to_offsets,
    threshold_metrics,
)
from model.results import Span


@pytest.mark.parametrize(
    ("predicted", "gold", "expected"),
    [
        (set(), set(), 1.0),  # nothing toxic and nothing predicted: perfect
        ({3, 4}, set(), 0.0),  # any prediction on an empty gold scores 0
        (set(), {3, 4}, 0.0),  # missing a gold span scores 0
        ({1, 2, 3}, {1, 2, 3}, 1.0),
        ({1, 2, 3, 4}, {3, 4}, 2 * 2 / (4 + 2)),
        ({1, 2}, {3, 4}, 0.0),
        ([1, 1, 2], [2, 2], 2 * 1 / (2 + 1)),  # offsets are sets: duplicates count once
        ([0, 1, 4, 5], [0, 1, 6], 4 / 7),  # the doctest of the task's evaluation script (semeval2021.py f1)
    ],
)
def test_span_f1_follows_semeval_definition(predicted, gold, expected):
    assert span_f1(predicted, gold) == pytest.approx(expected)


def test_mean_span_f1_is_mean_over_posts():
    predicted = [set(), {1, 2}, {5}]
    gold = [set(), {1, 2, 3, 4}, set()]
    assert mean_span_f1(predicted, gold) == pytest.approx((1.0 + 2 * 2 / 6 + 0.0) / 3)


def test_mean_span_f1_refuses_mismatched_lengths():
    with pytest.raises(ValueError, match="2 predictions for 1 gold"):
        mean_span_f1([set(), set()], [set()])


def test_spans_to_offsets_merges_half_open_ranges():
    spans = [Span(2, 5, 0.9), Span(4, 7, 0.8), (10, 11)]
    assert spans_to_offsets(spans) == {2, 3, 4, 5, 6, 10}
    assert spans_to_offsets([]) == set()


def test_perfect_and_inverted_rankings():
    labels = np.array([0, 0, 1, 1])
    assert roc_auc(labels, [0.1, 0.2, 0.8, 0.9]) == 1.0
    assert roc_auc(labels, [0.9, 0.8, 0.2, 0.1]) == 0.0
    assert average_precision(labels, [0.1, 0.2, 0.8, 0.9]) == 1.0


def test_roc_auc_counts_ties_as_half():
    assert roc_auc([0, 1], [0.5, 0.5]) == pytest.approx(0.5)
    # Four hostile-civil pairs: 0.9 beats 0.2 and 0.5, the hostile 0.5 beats 0.2 and ties the civil 0.5 (half a win).
    assert roc_auc([0, 0, 1, 1], [0.2, 0.5, 0.5, 0.9]) == pytest.approx(3.5 / 4)


def test_average_precision_by_hand():
    # Ranking: 1 (pos), 0.8 (neg), 0.6 (pos): AP = 0.5 * 1 + 0.5 * 2/3.
    assert average_precision([1, 0, 1], [1.0, 0.8, 0.6]) == pytest.approx(0.5 + 1 / 3)


def test_brier_by_hand():
    assert brier([0, 1], [0.0, 1.0]) == 0.0
    assert brier([0, 1], [1.0, 0.0]) == 1.0
    assert brier([0, 1, 1], [0.2, 0.6, 1.0]) == pytest.approx((0.04 + 0.16 + 0.0) / 3)


@pytest.mark.parametrize("label", [0, 1])
def test_single_class_labels_give_nan_not_warnings(label):
    labels = np.full(4, label)
    scores = [0.1, 0.2, 0.3, 0.4]
    assert math.isnan(roc_auc(labels, scores))
    assert brier(labels, scores) == pytest.approx(np.mean((labels - np.array(scores)) ** 2))
    if label == 0:
        assert math.isnan(average_precision(labels, scores))
        assert all(math.isnan(v) for v in best_f1_threshold(labels, scores))
    else:
        assert average_precision(labels, scores) == 1.0
    fraction_positive, _ = reliability_curve(labels, scores)
    assert (fraction_positive == label).all()


def test_empty_input_gives_nan():
    assert all(math.isnan(v) for v in score_metrics([], []).values())
    assert all(len(a) == 0 for a in reliability_curve([], []))


def test_reliability_curve_of_calibrated_scores_follows_diagonal():
    rng = np.random.default_rng(0)
    probabilities = rng.uniform(size=20_000)
    labels = (rng.uniform(size=probabilities.size) < probabilities).astype(int)
    fraction_positive, mean_predicted = reliability_curve(labels, probabilities, n_bins=5)
    assert len(mean_predicted) == 5
    np.testing.assert_allclose(fraction_positive, mean_predicted, atol=0.03)


def test_best_f1_threshold_separates_classes():
    labels = [0, 0, 0, 1, 1]
    threshold, f1 = best_f1_threshold(labels, [0.1, 0.2, 0.3, 0.7, 0.9])
    assert threshold == pytest.approx(0.7)
    assert f1 == 1.0


def test_best_f1_threshold_by_hand():
    # Cut at 0.4 keeps 3 positives and 1 negative: P = 3/4, R = 1, F1 = 6/7; higher cuts do worse.
    labels = [1, 0, 1, 1, 0]
    threshold, f1 = best_f1_threshold(labels, [0.9, 0.8, 0.6, 0.4, 0.1])
    assert threshold == pytest.approx(0.4)
    assert f1 == pytest.approx(6 / 7)


@pytest.mark.parametrize(
    ("labels", "scores", "message"),
    [
        ([0, 1], [0.1], "same length"),
        ([0, 2], [0.1, 0.2], "only 0 and 1"),
        ([0, 1], [0.1, float("nan")], "NaN"),
    ],
)
def test_bad_inputs_are_refused(labels, scores, message):
    with pytest.raises(ValueError, match=message):
        roc_auc(labels, scores)


def test_score_metrics_keys_and_range():
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 2, size=200)
    scores = np.clip(labels * 0.3 + rng.uniform(size=200) * 0.7, 0, 1)
    metrics = score_metrics(labels, scores)
    assert set(metrics) == {"roc_auc", "pr_auc", "brier"}
    assert all(0.0 <= v <= 1.0 for v in metrics.values())
    assert metrics["roc_auc"] > 0.6


def test_threshold_metrics_match_sklearn_at_a_fixed_threshold():
    from sklearn.metrics import f1_score, precision_score, recall_score

    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 200)
    scores = np.clip(0.3 * labels + rng.random(200) * 0.7, 0, 1)
    result = threshold_metrics(labels, scores, 0.5)
    flagged = scores >= 0.5
    assert result["precision"] == pytest.approx(precision_score(labels, flagged))
    assert result["recall"] == pytest.approx(recall_score(labels, flagged))
    assert result["f1"] == pytest.approx(f1_score(labels, flagged))
    assert result["macro_f1"] == pytest.approx(f1_score(labels, flagged, average="macro"))
    assert result["flagged_share"] == pytest.approx(flagged.mean())


def test_threshold_metrics_without_threshold_or_with_one_class_are_nan():
    assert all(math.isnan(value) for value in threshold_metrics([0, 1], [0.2, 0.8], None).values())
    one_class = threshold_metrics([0, 0, 0], [0.1, 0.6, 0.2], 0.5)
    assert math.isnan(one_class["recall"]) and math.isnan(one_class["macro_f1"])
    assert one_class["precision"] == 0.0 and one_class["f1"] == 0.0
    assert one_class["flagged_share"] == pytest.approx(1 / 3)
    nothing_flagged = threshold_metrics([0, 1], [0.2, 0.3], 0.9)
    assert nothing_flagged["f1"] == 0.0 and math.isnan(nothing_flagged["precision"])
