"""Fitted (calibrated) linear classifiers side by side: their coefficients, intercepts and sigmoid calibrators
read once (``stack_linear``, ``stacked_parts``), and P(positive) computed from them on the fast path's feature
blocks (``stacked_proba``, ``pipelines_proba``) instead of through ``predict_proba``.
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence

import numpy as np
from scipy.special import expit
from sklearn.calibration import CalibratedClassifierCV
from sklearn.pipeline import Pipeline

from model.fast_transform import _steps_blocks
from model.sparse_rows import rows_dot


def linear_parts(classifier) -> tuple[np.ndarray, float, float, float]:
    """``(coef, intercept, a, b)`` so that P(positive) = expit(-(a * (X @ coef + intercept) + b)).

    Parameters
    ----------
    classifier : CalibratedClassifierCV (sigmoid, ``ensemble=False``) around a linear model, one of the
        (sigmoid, binary) ``calibrated_classifiers_`` of any CalibratedClassifierCV, or a linear model
    """
    if isinstance(classifier, CalibratedClassifierCV):
        if len(classifier.calibrated_classifiers_) != 1:
            raise ValueError("only a single calibrated model (ensemble=False) has a fast path")
        classifier = classifier.calibrated_classifiers_[0]
    if hasattr(classifier, "calibrators"):  # one fold's calibrated model
        linear, (calibrator,) = classifier.estimator, classifier.calibrators
        a, b = float(calibrator.a_), float(calibrator.b_)
    else:
        linear, a, b = classifier, -1.0, 0.0
    return np.asarray(linear.coef_, dtype=np.float64).ravel(), float(np.ravel(linear.intercept_)[0]), a, b


def stack_linear(classifiers: Sequence) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Fitted linear classifiers side by side: ``(coef (n_features, k), intercept (k,), a (k,), b (k,))``."""
    parts = [linear_parts(c) for c in classifiers]
    return (
        np.column_stack([p[0] for p in parts]),
        np.array([p[1] for p in parts]),
        np.array([p[2] for p in parts]),
        np.array([p[3] for p in parts]),
    )


def stacked_proba(stacked: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray], X) -> np.ndarray:
    """P(positive) of each stacked classifier (see ``stack_linear``), ``(n_samples, k)``; ``X`` may be ``Rows``."""
    coef, intercept, a, b = stacked
    return expit(-(a * (rows_dot(X, coef) + intercept) + b))


def positive_proba(classifiers: Sequence, X) -> np.ndarray:
    """P(positive) of each fitted linear classifier on the same features, ``(n_samples, n_classifiers)``."""
    return stacked_proba(stack_linear(classifiers), X)


_STACKED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
"""Each fitted final classifier's ``stack_linear`` parts, built once (rebuilt when it is refitted)."""


def stacked_parts(classifier):
    """``stack_linear([classifier])`` of a fitted (calibrated) linear classifier, built once and kept."""
    fitted = getattr(classifier, "calibrated_classifiers_", None) or getattr(classifier, "coef_", None)
    cached = _STACKED.get(classifier)
    if cached is None or cached[0] is not fitted:
        cached = _STACKED[classifier] = (fitted, stack_linear([classifier]))
    return cached[1]


def pipeline_proba(pipeline: Pipeline, X) -> np.ndarray:
    """P(positive) of a fitted ``Pipeline`` whose last step is a (calibrated) linear classifier, ``(n,)``."""
    return pipelines_proba([pipeline], X)[0]


def pipelines_proba(pipelines: Sequence[Pipeline], X) -> list[np.ndarray]:
    """``pipeline_proba`` of each pipeline on the same ``X``; a stateless union part they share runs once."""
    X = X if isinstance(X, list) else list(X)
    shared: dict = {}
    out = []
    for pipeline in pipelines:
        blocks = _steps_blocks(pipeline.steps[:-1], X, shared)
        out.append(stacked_proba(stacked_parts(pipeline.steps[-1][1]), blocks)[:, 0])
    return out
