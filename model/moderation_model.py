"""What a bundle holds: the hostility pipeline, its word span tagger and the unsupported-claim scorer."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from model.attributes import CLAIM_ATTRIBUTE
from model.prior import blend
from model.results import Span, whole_spans
from model.spans import COMMENT_FLOOR, SPAN_PROBABILITY, explain_words, floored_word_scores, hostility_probabilities

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
    prior : PretrainedProfanityScore, optional
        A second model's P(offensive), blended into the attributes of ``prior_weights``.
    prior_weights : mapping, optional
        Attribute -> weight of the prior in the logit-space blend (see ``model.prior.blend``).
    """

    def __init__(self, hostility, span_tagger=None, claims=None, span_thresholds: Mapping[str, float] | None = None,
                 prior=None, prior_weights: Mapping[str, float] | None = None):
        self.hostility = hostility
        self.span_tagger = span_tagger
        self.claims = claims
        self.span_thresholds = dict(span_thresholds or {"default": SPAN_PROBABILITY})
        self.prior = prior
        self.prior_weights = dict(prior_weights or {})

    @property
    def hostility_attributes(self) -> tuple[str, ...]:
        """Attributes of the hostility heads, in column order."""
        return tuple(self.hostility.named_steps["heads"].attributes)

    def learned_words(self) -> frozenset[str]:
        """The single words of three letters or more that the hostility heads' word TF-IDF learned from the training
        comments (its vocabulary's unigrams of ASCII letters, insults among them: "moron", "slut"), empty for a
        pipeline without one."""
        features = self.hostility.named_steps.get("features")
        tfidf = features.named_steps.get("tfidf") if features is not None else None
        words = dict(getattr(tfidf, "transformer_list", ())).get("words")
        return frozenset(word for word in getattr(words, "vocabulary_", ())
                         if len(word) > 2 and word.isascii() and word.isalpha())

    @property
    def attributes(self) -> tuple[str, ...]:
        """Every attribute, in the column order of ``predict_proba``."""
        return self.hostility_attributes + ((CLAIM_ATTRIBUTE,) if self.claims is not None else ())

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """Calibrated probabilities, ``(n_texts, n_attributes)``."""
        return self._predict(list(texts))[0]

    def predict_hostility(self, texts: Sequence[str]) -> np.ndarray:
        """The hostility attributes' columns of ``predict_proba``, ``(n_texts, n_hostility_attributes)``,
        without scoring claims."""
        texts = list(texts)
        return self.blend_prior(texts, hostility_probabilities(self.hostility, texts))

    def _predict(self, texts: list[str]) -> tuple[np.ndarray, list | None]:
        """``predict_proba(texts)`` and each text's scored claim sentences (``ClaimScorer.scored_sentences``)."""
        scores = self.predict_hostility(texts)
        sentences = None
        if self.claims is not None:
            sentences = self.claims.scored_sentences(texts)
            scores = np.column_stack([scores, self.claims.pool(sentences)])
        return scores, sentences

    def predict_and_explain(self, texts: Sequence[str], span_floor: float | None = None
                            ) -> tuple[np.ndarray, list[dict[str, list[Span]]]]:
        """``predict_proba(texts)`` and ``explain(texts)`` together, each claim sentence scored once.

        ``span_floor`` (a policy's ``[spans] floor``) replaces ``span_thresholds["comment_floor"]`` for this call
        (``None``: the bundle's own); the model is left as it is, so other scorers of the bundle keep theirs.
        """
        texts = list(texts)
        probabilities, sentences = self._predict(texts)
        return probabilities, self.explain(texts, probabilities, claim_sentences=sentences, comment_floor=span_floor)

    def blend_prior(self, texts: Sequence[str], scores: np.ndarray) -> np.ndarray:
        """Hostility scores ``(n_texts, n_hostility_attributes)`` with the prior blended in where weighted."""
        # Bundles written before the prior existed unpickle without these attributes.
        prior, weights = getattr(self, "prior", None), getattr(self, "prior_weights", {})
        if prior is None or not weights or not len(texts):
            return scores
        prior_scores = prior.predict_proba(texts)
        scores = scores.copy()
        for j, attribute in enumerate(self.hostility_attributes):
            if weights.get(attribute):
                scores[:, j] = blend(scores[:, j], prior_scores, weights[attribute])
        return scores

    def explain(self, texts: Sequence[str], probabilities: np.ndarray | None = None,
                claim_sentences: list | None = None, served: np.ndarray | None = None,
                comment_floor: float | None = None) -> list[dict[str, list[Span]]]:
        """Spans behind each attribute's score for each text (word spans; sentence spans for claims), each made of
        whole characters as drawn (``model.results.whole_spans``).

        ``probabilities`` is ``predict_proba(texts)`` when the caller has it already: the toxicity word
        tagger reads each comment's own hostility probabilities, computed here when not given.
        ``claim_sentences``, likewise, is ``claims.scored_sentences(texts)`` (see ``predict_and_explain``).
        ``served`` and ``comment_floor`` are for a model that wraps this one and serves other scores
        (``EncoderModerationModel``): its scores ``(n, >= n_hostility)`` and its floor replace ``probabilities``
        and ``span_thresholds["comment_floor"]`` in the rule that an attribute scoring below the floor gets no word
        spans (0 = no floor).
        """
        texts = list(texts)
        thresholds = self.span_thresholds if comment_floor is None else {**self.span_thresholds, COMMENT_FLOOR: comment_floor}
        needs_probabilities = self.span_tagger is not None or (COMMENT_FLOOR in thresholds and served is None)
        if probabilities is None and needs_probabilities and texts:
            probabilities, claim_sentences = self._predict(texts)
        n_hostility = len(self.hostility_attributes)
        hostility = None if probabilities is None else np.asarray(probabilities)[:, :n_hostility]
        floor_scores = hostility if served is None else np.asarray(served)[:, :n_hostility]
        scored = floored_word_scores(self.hostility, self.span_tagger, texts, hostility, floor_scores,
                                     thresholds.get(COMMENT_FLOOR, 0.0))
        spans = explain_words(texts, scored, self.hostility_attributes, thresholds, floor_scores)
        if self.claims is not None:
            threshold = self.span_thresholds.get(CLAIM_ATTRIBUTE, CLAIM_SPAN_PROBABILITY)
            if claim_sentences is None:
                claim_sentences = self.claims.scored_sentences(texts)
            for scored_sentences, found in zip(claim_sentences, spans):
                sentences = [Span(b, e, s) for b, e, s in self.claims.rank(scored_sentences) if s >= threshold]
                if sentences:
                    found[CLAIM_ATTRIBUTE] = sentences
        # Words are found on the normalised text, whose offsets can fall inside one character as drawn.
        return [whole_spans(text, found) for text, found in zip(texts, spans)]
