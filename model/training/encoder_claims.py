"""Fit the checkable-claim head of an encoder bundle and choose its blend weight on validation data.

The head reads each training unit's embedding (the mean of the exported int8 encoder's last-layer states at its
pieces, read as a comment of its own: ``EncoderRunner.encode``, as served) and is fitted on the same rows, labels
and weights as the TF-IDF checkable head (``model.claims``), with one offset per training source. The blend
weight is the one with the best mean ROC AUC over the claim validation sets, whose units are split into
sentences and scored as the service scores a comment. Never a test split. Why the support head stays TF-IDF:
``model.encoder_claims``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from model.claims import CHECKABLE_C, calibrated_head, split_sentences
from model.encoder_claims import EncoderClaimHead

log = logging.getLogger(__name__)

WEIGHT_GRID = tuple(round(0.1 * i, 1) for i in range(11))
"""Encoder weights tried (0 = the TF-IDF head alone, 1 = the encoder head alone)."""


def whole_spans(texts) -> list[list[tuple[int, int]]]:
    """Each text as one sentence: its characters without surrounding whitespace (none for a blank text)."""
    spans = []
    for text in texts:
        begin = len(text) - len(text.lstrip())
        spans.append([(begin, len(text.rstrip()))] if text.strip() else [])
    return spans


def fit_checkable_head(embeddings: np.ndarray, sentences: pd.DataFrame, random_state: int = 0,
                       C: float = CHECKABLE_C) -> Pipeline:
    """Standardised embedding -> sigmoid-calibrated logistic regression with per-source offsets.

    ``sentences`` is the claim training frame (``text``, ``checkable``, optional ``weight`` and ``source``), one
    row per row of ``embeddings``; rows without a checkable label are left out, as ``ClaimScorer.fit`` does.
    """
    labels = sentences["checkable"].to_numpy(float)
    rows = ~np.isnan(labels)
    if len(np.unique(labels[rows])) < 2:
        raise ValueError("the encoder's checkable head needs both positive and negative labelled rows")
    weights = sentences["weight"].to_numpy(float) if "weight" in sentences else np.ones(len(sentences))
    params = {"classifier__sample_weight": weights[rows]}
    offsets = "source" in sentences
    if offsets:
        params["classifier__sources"] = sentences["source"].astype(str).to_numpy(object)[rows]
    head = Pipeline([("scale", StandardScaler()), ("classifier", calibrated_head(C, random_state, offsets))])
    head.fit(embeddings[rows], labels[rows].astype(int), **params)
    log.info("encoder checkable head fitted on %d units", int(rows.sum()))
    return head


class ScoredUnits:
    """A validation set's units split into sentences, with both checkable heads' probabilities per sentence.

    ``scores`` pools sentence scores to units (max, 0 for a unit without a sentence) as the service pools a
    comment's, so choices here are made on the scores the service gives.
    """

    def __init__(self, texts, labels, claims, head: EncoderClaimHead, runner):
        texts = [str(text) for text in texts]
        spans = [split_sentences(text) for text in texts]
        self.labels = np.asarray(labels, dtype=int)
        self.owner = np.array([i for i, found in enumerate(spans) for _ in found], dtype=int)
        sentences = [text[b:e] for text, found in zip(texts, spans) for b, e in found]
        self.checkable, self.supported = (np.array(p, dtype=float) for p in claims.head_scores(sentences))
        self.encoder = head.encoder_scores(runner.encode(texts, sentences=spans)[2])

    def scores(self, head: EncoderClaimHead, weight: float) -> np.ndarray:
        """Unit scores with this blend weight."""
        pooled = np.zeros(len(self.labels))
        np.maximum.at(pooled, self.owner, head.combine(self.checkable, self.encoder, weight) * (1.0 - self.supported))
        return pooled


def _auc(labels: np.ndarray, scores: np.ndarray) -> float:
    return float(roc_auc_score(labels, scores)) if 0 < labels.sum() < len(labels) else float("nan")


def choose_weight(scored: Mapping[str, ScoredUnits], head: EncoderClaimHead) -> tuple[float, dict]:
    """The encoder weight with the best mean validation ROC AUC (ties: the smaller); the table of all."""
    table = {str(w): round(float(np.nanmean([_auc(u.labels, u.scores(head, w)) for u in scored.values()])), 4)
             for w in WEIGHT_GRID}
    best = max(WEIGHT_GRID, key=lambda w: table[str(w)])
    return best, {"rule": "best mean validation ROC AUC", "grid": table}


def build_claim_head(claims, runner, training: pd.DataFrame, validation: Mapping[str, pd.DataFrame],
                     random_state: int = 0) -> tuple[EncoderClaimHead, dict[str, tuple[np.ndarray, np.ndarray]], dict]:
    """Fit the encoder's checkable head and choose its blend weight; the validation unit scores as served.

    Parameters
    ----------
    claims : ClaimScorer
        The fitted TF-IDF claim heads the encoder's joins.
    runner : EncoderRunner
        The exported encoder with its ``hidden`` output.
    training : pandas.DataFrame
        Claim training units (``model.training.claims_data.load_claim_training_data``).
    validation : mapping name -> frame with ``text`` and ``label``
        The claim validation sets.

    Returns
    -------
    head : EncoderClaimHead
    validation_scores : dict name -> (labels, scores)
        Unit scores with the chosen weight (for the review threshold).
    summary : dict
        The choice and validation ROC AUC, TF-IDF heads alone against the blend, for the manifest.
    """
    texts = training["text"].astype(str).tolist()
    log.info("embedding %d claim training units", len(texts))
    embeddings = runner.encode(texts, sentences=whole_spans(texts))[2]
    read = np.isfinite(embeddings).all(axis=1)  # a unit without a word piece has no embedding
    head = EncoderClaimHead(fit_checkable_head(embeddings[read], training[read].reset_index(drop=True), random_state), 0.0)
    scored = {name: ScoredUnits(frame["text"].tolist(), frame["label"].to_numpy(int), claims, head, runner)
              for name, frame in validation.items()}
    head.weight, weight_table = choose_weight(scored, head)
    served = {name: (units.labels, units.scores(head, head.weight)) for name, units in scored.items()}
    summary = {
        **head.summary(), "weight_selection": weight_table, "training_units": int(read.sum()),
        "validation_auc": {name: round(_auc(labels, scores), 4) for name, (labels, scores) in served.items()},
        "validation_auc_tfidf_heads": {name: round(_auc(units.labels, units.scores(head, 0.0)), 4)
                                       for name, units in scored.items()},
    }
    return head, served, summary
