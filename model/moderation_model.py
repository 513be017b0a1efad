"""What a bundle holds: the hostility pipeline, its word span tagger and the unsupported-claim scorer."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from model.attributes import CLAIM_ATTRIBUTE
from model.fast import transform
from model.results import Span
from model.spans import SPAN_PROBABILITY, explain_words, word_scores

CLAIM_SPAN_PROBABILITY = 0.1
"""Sentences scoring at least this are listed as unsupported-claim spans (the policy decides what counts)."""


class ModerationModel:
    """Fitted parts, scored together: ``predict_proba`` gives one column per attribute.

    Parameters
    ----------
    hostility : Pipeline
        Normaliser, TF-IDF and one calibrated head per hostility attribute.
    span_tagger : WordSpanTagger, optional
        Finds the toxic words; without it the toxicity head scores words alone.
    claims : ClaimScorer, optional
        Adds the ``unsupported_claim`` attribute and its sentence spans.
    span_thresholds : mapping, optional
        Minimum word score for a span, by attribute, with a ``default``.
    """

    def __init__(self, hostility, span_tagger=None, claims=None, span_thresholds: Mapping[str, float] | None = None):
        self.hostility = hostility
        self.span_tagger = span_tagger
        self.claims = claims
        self.span_thresholds = dict(span_thresholds or {"default": SPAN_PROBABILITY})

    @property
    def hostility_attributes(self) -> tuple[str, ...]:
        """Attributes of the hostility heads, in column order."""
        return tuple(self.hostility.named_steps["heads"].attributes)

    @property
    def attributes(self) -> tuple[str, ...]:
        """Every attribute, in the column order of ``predict_proba``."""
        return self.hostility_attributes + ((CLAIM_ATTRIBUTE,) if self.claims is not None else ())

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """Calibrated probabilities, ``(n_texts, n_attributes)``."""
        texts = list(texts)
        heads = self.hostility.named_steps["heads"]
        scores = heads.predict_proba(transform(self.hostility.named_steps["features"], texts))
        if self.claims is not None:
            scores = np.column_stack([scores, self.claims.predict_proba(texts)])
        return scores

    def explain(self, texts: Sequence[str]) -> list[dict[str, list[Span]]]:
        """Spans behind each attribute's score for each text (word spans; sentence spans for claims)."""
        texts = list(texts)
        scored = word_scores(self.hostility, self.span_tagger, texts)
        spans = explain_words(texts, scored, self.hostility_attributes, self.span_thresholds)
        if self.claims is not None:
            threshold = self.span_thresholds.get(CLAIM_ATTRIBUTE, CLAIM_SPAN_PROBABILITY)
            for text, found in zip(texts, spans):
                sentences = [Span(b, e, s) for b, e, s in self.claims.explain(text) if s >= threshold]
                if sentences:
                    found[CLAIM_ATTRIBUTE] = sentences
        return spans
