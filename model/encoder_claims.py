"""A checkable-claim head on the fine-tuned encoder, blended with the TF-IDF one (bundle 2.2.0 on).

The unsupported-claim score of a sentence stays P(checkable) x (1 - P(supported)) (``model.claims``). In an
encoder bundle P(checkable) is a logit-space mean (``model.prior.blend``) of the TF-IDF head's probability and a
second head's that reads the sentence's embedding: the mean of the encoder's last-layer states at the sentence's
pieces, taken from the same pass that scores the comment's hostility (``EncoderRunner.encode``), so claims cost
no second encoder pass. The encoder head is a standardised, sigmoid-calibrated logistic regression fitted by
``model.training.encoder_claims``. A sentence the encoder did not read (a comment the cascade left to the TF-IDF
heads) keeps the TF-IDF score.

P(supported) stays the TF-IDF head's: a support head on the encoder, chosen by validation ROC AUC, scored every
sourced fact of ``tests/test_claims.py`` above the same fact unsourced (CheckThat! 2022 counts a linked claim as
positive), and the product's definition is that citing a source lowers the score.
"""

from __future__ import annotations

import numpy as np
from sklearn.preprocessing import StandardScaler

from model.prior import blend
from model.stacked_linear import stacked_parts, stacked_proba


def _standardised(scaler: StandardScaler, X: np.ndarray) -> np.ndarray:
    """``scaler.transform(X)`` for a dense float array, in place on a copy in X's own precision as scikit-learn
    computes it (its input checks cost 0.6 ms a call)."""
    X = np.array(X, dtype=X.dtype if np.issubdtype(X.dtype, np.floating) else np.float64)
    if scaler.with_mean and scaler.mean_ is not None:
        X -= scaler.mean_.astype(X.dtype)
    if scaler.with_std and scaler.scale_ is not None:
        X /= scaler.scale_.astype(X.dtype)
    return X


class EncoderClaimHead:
    """The encoder's checkable-claim head and its weight in the blend with the TF-IDF head.

    Parameters
    ----------
    checkable : estimator
        A fitted classifier of a sentence embedding ``(n, hidden)`` with ``predict_proba``.
    weight : float
        The encoder head's weight in the blend (0 = the TF-IDF head alone, 1 = the encoder head alone).
    """

    def __init__(self, checkable, weight: float):
        self.checkable = checkable
        self.weight = float(weight)

    def encoder_scores(self, embeddings: np.ndarray) -> np.ndarray:
        """P(checkable) from the encoder head alone (NaN where an embedding is NaN)."""
        embeddings = np.asarray(embeddings, dtype=np.float32)
        scores = np.full(len(embeddings), np.nan)
        read = np.isfinite(embeddings).all(axis=1) if embeddings.size else np.zeros(len(embeddings), dtype=bool)
        if read.any():
            scores[read] = self._checkable_proba(embeddings[read])
        return scores

    def _checkable_proba(self, X: np.ndarray) -> np.ndarray:
        """``checkable.predict_proba(X)[:, 1]`` of a pipeline ending in a (calibrated) linear classifier, without
        scikit-learn's per-call checks: those cost 2 ms of a single comment's 10, the arithmetic 20 µs."""
        *steps, (_, classifier) = self.checkable.steps
        for _, step in steps:
            X = _standardised(step, X) if isinstance(step, StandardScaler) else step.transform(X)
        return stacked_proba(stacked_parts(classifier), X)[:, 0]


    def combine(self, tfidf: np.ndarray, encoder: np.ndarray, weight: float | None = None) -> np.ndarray:
        """The blend of the TF-IDF and encoder P(checkable); the TF-IDF one where the encoder's is NaN."""
        weight = self.weight if weight is None else weight
        mixed = np.array(tfidf, dtype=float)
        encoder = np.asarray(encoder, dtype=float)
        read = ~np.isnan(encoder)
        mixed[read] = blend(mixed[read], encoder[read], weight)
        return mixed

    def head_scores(self, tfidf: tuple[np.ndarray, np.ndarray], embeddings: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """P(checkable), blended, and the TF-IDF P(supported) of sentences (``ClaimScorer.head_scores``' form)."""
        checkable, supported = tfidf
        return self.combine(checkable, self.encoder_scores(embeddings)), np.asarray(supported, dtype=float)

    def summary(self) -> dict:
        """What a report shows: the blend weight."""
        return {"checkable_weight": self.weight, "supported": "TF-IDF head alone"}
