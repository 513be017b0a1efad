"""Scorer: bundle -> scores -> spans -> policy -> Decision. The one scoring core every adapter calls."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from model.bundle import Bundle, load_bundle
from model.normalize import is_blank
from model.policy import Policy, decide, load_policy
from model.results import Decision
from model.threats import threat_pattern


def _as_text(value: object) -> str:
    """Turn a missing value (None, NaN) into the empty string and bytes into their UTF-8 text (bytes that are
    not UTF-8 into the empty string: not text); keep strings as they are, but for unpaired surrogates, which become
    U+FFFD in place (the sentence splitter and the tokenizer cannot take them; offsets stay those of the text)."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return ""
    if isinstance(value, bytes | bytearray):
        try:
            return bytes(value).decode("utf-8")
        except UnicodeDecodeError:
            return ""
    text = value if isinstance(value, str) else str(value)
    if text.isascii():
        return text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "".join("\ufffd" if "\ud800" <= character <= "\udfff" else character for character in text)
    return text


def present_scores(model, texts: Sequence[str], n_attributes: int) -> np.ndarray:
    """Score the texts that have words in one batch and give the empty ones 0: an empty comment has nothing
    hostile in it, and the int8 encoders of bundles 2.2.0-2.6.0 give scores that depend on the other comments of
    their batch, so every caller that must reproduce the service's scores (the manifest's probe scores) batches as
    this does."""
    scores = np.zeros((len(texts), n_attributes))
    present = [i for i, text in enumerate(texts) if not is_blank(text)]
    if present:
        scores[present] = model.predict_proba([texts[i] for i in present])
    return scores


class Scorer:
    """Score comments with one verified bundle and one policy.

    Parameters
    ----------
    bundle : Bundle
        A loaded, verified model bundle.
    policy : Policy, optional
        The decision policy; defaults to the bundle's own ``policy.toml``. Its ``span_floor``, when set, replaces
        the bundle's word-span floor in ``moderate`` (passed to the model on each call, never set on it).
    """

    def __init__(self, bundle: Bundle, policy: Policy | None = None):
        self.bundle = bundle
        self.policy = policy if policy is not None else bundle.policy

    @classmethod
    def load(cls, model_path: str | Path | None = None, policy_path: str | Path | None = None,
             warm_up: bool = True, encoder_mode: str | None = None, default_encoder_mode: str | None = None,
             encoder_threads: int | None = None) -> Scorer:
        """Load and verify a bundle (default: the committed one) and build a scorer.

        ``warm_up=False`` leaves the one-off costs (``warm_up``) to the first call: for a process that scores
        once and exits (``moderate score --text``), warming up would only add to them. ``encoder_mode``,
        ``default_encoder_mode`` and ``encoder_threads``: see ``model.bundle.load_bundle``.
        """
        bundle = load_bundle(model_path, encoder_threads=encoder_threads, encoder_mode=encoder_mode,
                             default_encoder_mode=default_encoder_mode)
        policy = load_policy(policy_path) if policy_path else None
        scorer = cls(bundle, policy)
        if warm_up:
            scorer.warm_up()
        return scorer

    def warm_up(self) -> None:
        """Pay the one-off costs before the first real request: score one short text (the compiled kernels of
        ``model.kernels`` are loaded from their cache, or compiled when there is none; the fitted vocabularies are
        indexed) and compile the threat phrases (``model.threats.threat_pattern``)."""
        self.predict_scores(["Warming up the scorer."])
        threat_pattern()

    @property
    def encoder_mode(self) -> str | None:
        """``encoder`` or ``cascade`` for an encoder bundle, as loaded; ``None`` for a bundle without an encoder."""
        return getattr(self.bundle.model, "mode", None)

    @property
    def encoder_threads(self) -> int | None:
        """onnxruntime threads of an encoder bundle's encoder, as loaded; ``None`` for a bundle without an encoder."""
        runner = getattr(self.bundle.model, "runner", None)
        return None if runner is None else runner.threads

    @property
    def model_version(self) -> str:
        """The bundle's version string."""
        return self.bundle.version

    @property
    def attributes(self) -> tuple[str, ...]:
        """The attributes this scorer returns, in a fixed order."""
        return self.bundle.attributes

    def predict_scores(self, texts: Sequence[object]) -> np.ndarray:
        """Return an array ``(n_texts, n_attributes)`` of calibrated probabilities.

        Parameters
        ----------
        texts : sequence of str or None
            Comments; missing values are scored as the empty string, and empty comments score 0.

        Returns
        -------
        numpy.ndarray
            Column ``j`` holds ``self.attributes[j]``.
        """
        return present_scores(self.bundle.model, [_as_text(t) for t in texts], len(self.attributes))

    def moderate(self, texts: Sequence[object], with_spans: bool = True) -> list[Decision]:
        """Score, explain and decide every comment, in order.

        Parameters
        ----------
        texts : sequence of str or None
            Comments; an empty or missing text is approved with reason ``empty``.
        with_spans : bool
            Compute the character spans behind each score (slower); word spans follow the policy's span floor
            (``Policy.span_floor``) when it sets one, else the bundle's.

        Returns
        -------
        list of Decision
            One decision per input text, in the input's order; every span begins and ends between characters as
            drawn (``Decision.in_whole_characters``).
        """
        cleaned = [_as_text(t) for t in texts]
        present = [i for i, text in enumerate(cleaned) if not is_blank(text)]
        spans: list[dict] = [{} for _ in cleaned]
        if with_spans and present:
            # Spans reuse the comment probabilities and the scored claim sentences: nothing is scored twice.
            probabilities = np.zeros((len(cleaned), len(self.attributes)))
            # The policy's span floor (``None``: the bundle's) is passed, not set on the model, which other
            # scorers of the same bundle share.
            found, explained = self.bundle.model.predict_and_explain([cleaned[i] for i in present],
                                                                     span_floor=self.policy.span_floor)
            probabilities[present] = found
            for i, found_spans in zip(present, explained):
                spans[i] = found_spans
        else:
            probabilities = self.predict_scores(cleaned)
        decisions = []
        for text, row, found in zip(cleaned, probabilities, spans):
            scores = dict(zip(self.attributes, (float(p) for p in row)))
            action, reasons = decide(text, scores, found, self.policy)
            # Every span passes here (words, sentences, encoder windows, threat phrases): none may cut a character.
            decisions.append(Decision(action, reasons, scores, found, self.model_version).in_whole_characters(text))
        return decisions
