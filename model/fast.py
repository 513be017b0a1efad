"""Prediction without scikit-learn's per-call overhead, for the fitted shapes this project uses.

On one comment, input validation inside ``Pipeline``, ``FeatureUnion`` and ``CalibratedClassifierCV``
costs milliseconds per head, far more than the arithmetic. These functions read the fitted parts
(vocabularies, coefficients, sigmoid calibrators) and do the same arithmetic directly; the tests check
that they agree with scikit-learn's own ``predict_proba`` to 1e-12.
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp
from scipy.special import expit
from sklearn.calibration import CalibratedClassifierCV
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.pipeline import FeatureUnion, Pipeline
from sklearn.preprocessing import normalize as l2_normalize


_ANALYZERS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
"""Each fitted vectorizer's analyzer, built once (a cache beside the model, so nothing extra is pickled)."""


def tfidf_transform(vectorizer: TfidfVectorizer, docs) -> sp.csr_matrix:
    """``vectorizer.transform(docs)`` for a fitted ``TfidfVectorizer``, without per-call validation."""
    analyzer = _ANALYZERS.get(vectorizer)
    if analyzer is None:
        analyzer = _ANALYZERS[vectorizer] = vectorizer.build_analyzer()
    vocabulary = vectorizer.vocabulary_
    indices, indptr, values = [], [0], []
    for doc in docs:
        counts: dict[int, int] = {}
        for token in analyzer(doc):
            column = vocabulary.get(token)
            if column is not None:
                counts[column] = counts.get(column, 0) + 1
        indices.extend(counts)
        values.extend(counts.values())
        indptr.append(len(indices))
    X = sp.csr_matrix(
        (np.asarray(values, dtype=vectorizer.dtype), np.asarray(indices, dtype=np.int32), np.asarray(indptr, dtype=np.int64)),
        shape=(len(indptr) - 1, len(vocabulary)),
    )
    X.sort_indices()
    tfidf = vectorizer._tfidf
    if tfidf.sublinear_tf:
        np.log(X.data, out=X.data)
        X.data += 1.0
    if tfidf.use_idf:
        X.data *= tfidf.idf_[X.indices]
    if tfidf.norm:
        X = l2_normalize(X, norm=tfidf.norm, copy=False)
    return X


def transform(step, X):
    """``step.transform(X)``, with a ``FeatureUnion`` or ``Pipeline`` walked part by part."""
    if type(step) is TfidfVectorizer:
        return tfidf_transform(step, X)
    if isinstance(step, Pipeline):
        for _, part in step.steps:
            if part is not None and part != "passthrough":
                X = transform(part, X)
        return X
    if isinstance(step, FeatureUnion):
        weights = step.transformer_weights or {}
        blocks = []
        for name, part in step.transformer_list:
            if part == "drop" or part is None:
                continue
            block = transform(part, X)
            if name in weights:
                block = block * weights[name]
            blocks.append(block if sp.issparse(block) else sp.csr_matrix(block))
        return sp.hstack(blocks, format="csr")
    return step.transform(X)


def linear_parts(classifier) -> tuple[np.ndarray, float, float, float]:
    """``(coef, intercept, a, b)`` so that P(positive) = expit(-(a * (X @ coef + intercept) + b)).

    Parameters
    ----------
    classifier : CalibratedClassifierCV (sigmoid, ``ensemble=False``) around a linear model, or a linear model
    """
    if isinstance(classifier, CalibratedClassifierCV):
        if len(classifier.calibrated_classifiers_) != 1:
            raise ValueError("only a single calibrated model (ensemble=False) has a fast path")
        calibrated = classifier.calibrated_classifiers_[0]
        linear, (calibrator,) = calibrated.estimator, calibrated.calibrators
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
    """P(positive) of each stacked classifier (see ``stack_linear``), ``(n_samples, k)``."""
    coef, intercept, a, b = stacked
    return expit(-(a * (np.asarray(X @ coef) + intercept) + b))


def positive_proba(classifiers: Sequence, X) -> np.ndarray:
    """P(positive) of each fitted linear classifier on the same features, ``(n_samples, n_classifiers)``."""
    return stacked_proba(stack_linear(classifiers), X)


def pipeline_proba(pipeline: Pipeline, X) -> np.ndarray:
    """P(positive) of a fitted ``Pipeline`` whose last step is a (calibrated) linear classifier, ``(n,)``."""
    features = transform(Pipeline(pipeline.steps[:-1]), X) if len(pipeline.steps) > 1 else X
    return positive_proba([pipeline.steps[-1][1]], features)[:, 0]
