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

from model.prior import blend


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
            scores[read] = self.checkable.predict_proba(embeddings[read])[:, 1]
        return scores

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
