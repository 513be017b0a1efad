"""One calibrated linear classifier per attribute, each fitted on the rows that label its attribute."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp
from joblib import Parallel, delayed
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.calibration import CalibratedClassifierCV
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold
from sklearn.utils.validation import check_is_fitted

from model.sparse_rows import as_matrix
from model.stacked_linear import linear_parts, stack_linear, stacked_proba

C = 1.0
MAX_ITER = 2000
CV_FOLDS = 3


def calibrated_logistic(C: float = C, random_state: int = 0) -> CalibratedClassifierCV:
    """Logistic regression with sigmoid calibration on out-of-fold scores; one model kept (small bundle)."""
    base = LogisticRegression(C=C, max_iter=MAX_ITER, solver="liblinear", random_state=random_state)
    folds = StratifiedKFold(n_splits=CV_FOLDS, shuffle=True, random_state=random_state)
    return CalibratedClassifierCV(base, method="sigmoid", cv=folds, ensemble=False)


def _fit_head(estimator, X, y, sample_weight):
    return estimator.fit(X, y, sample_weight=sample_weight)


class MultiAttributeClassifier(ClassifierMixin, BaseEstimator):
    """Fit ``estimator`` once per attribute on the rows where that attribute is labelled.

    Datasets label different attributes (an insult corpus says nothing about threats), so a label
    matrix holds NaN where a row's set does not label an attribute; each head sees only its rows.

    Parameters
    ----------
    attributes : sequence of str
        Column names of the label matrix, in order.
    estimator : classifier, optional
        Cloned for every attribute; defaults to ``calibrated_logistic``.
    n_jobs : int
        Heads fitted in parallel.
    """

    def __init__(self, attributes: Sequence[str] = (), estimator=None, n_jobs: int = 1):
        self.attributes = attributes
        self.estimator = estimator
        self.n_jobs = n_jobs

    def fit(self, X, Y, sample_weight=None):
        """Fit every head; ``Y`` is ``(n_samples, n_attributes)`` with 0, 1 or NaN (unlabelled)."""
        Y = np.asarray(Y, dtype=float)
        if sp.issparse(X):
            # Worker processes receive X read-only (memory-mapped); scikit-learn must not need to sort it.
            X = sp.csr_matrix(X)
            X.sort_indices()
        if Y.ndim != 2 or Y.shape[1] != len(self.attributes):
            raise ValueError(f"Y must have one column per attribute {tuple(self.attributes)}, got shape {Y.shape}")
        weights = np.ones(Y.shape[0]) if sample_weight is None else np.asarray(sample_weight, dtype=float)
        base = self.estimator if self.estimator is not None else calibrated_logistic()
        jobs = []
        for j, attribute in enumerate(self.attributes):
            rows = np.flatnonzero(~np.isnan(Y[:, j]))
            labels = Y[rows, j].astype(int)
            if len(np.unique(labels)) < 2:
                raise ValueError(f"attribute {attribute!r} needs both positive and negative labelled rows")
            jobs.append(delayed(_fit_head)(clone(base), X[rows], labels, weights[rows]))
        self.estimators_ = Parallel(n_jobs=self.n_jobs)(jobs)
        self.classes_ = np.array([0, 1])
        self.linear_ = stack_linear(self.estimators_) if self._all_linear() else None
        return self

    def _all_linear(self) -> bool:
        try:
            stack_linear(self.estimators_)
        except (AttributeError, ValueError):
            return False
        return True

    def predict_proba(self, X) -> np.ndarray:
        """Probability of each attribute, shape ``(n_samples, n_attributes)``.

        ``X`` is a matrix, ``Rows`` or a list of ``Rows`` blocks side by side (see ``model.sparse_rows``).
        Calibrated linear heads are evaluated as one product per block; the result equals each head's
        own ``predict_proba``.
        """
        check_is_fitted(self)
        if self.linear_ is not None:
            return stacked_proba(self.linear_, X)
        X = as_matrix(X)
        return np.column_stack([est.predict_proba(X)[:, 1] for est in self.estimators_])

    def predict(self, X) -> np.ndarray:
        """Attribute present (probability at least one half), shape ``(n_samples, n_attributes)``."""
        return (self.predict_proba(X) >= 0.5).astype(int)

    def linear_weights(self, attribute: str) -> tuple[np.ndarray, float]:
        """Coefficients and intercept of an attribute's linear model (for explanations)."""
        check_is_fitted(self)
        coef, intercept, _, _ = linear_parts(self.estimators_[list(self.attributes).index(attribute)])
        return coef, intercept
