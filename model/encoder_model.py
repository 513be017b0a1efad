"""A bundle model whose hostility scores come from the fine-tuned encoder, on every comment or in a cascade.

``EncoderModerationModel`` wraps a fitted ``ModerationModel`` (TF-IDF heads, word span tagger, claim scorer)
and an ``EncoderRunner`` (``model.encoder``). The pickle holds the wrapped model and the calibration; the ONNX
session is attached after the bundle's SHA-256 checks (``model.bundle.load_bundle``), never pickled.

In ``cascade`` mode the TF-IDF heads score every comment and the encoder re-scores only those whose decision
could change: with the ``sentences`` gate, a comment whose TF-IDF ``toxicity`` is at most the band's top and whose
gate score (the higher of the whole comment's and its most hostile sentence's TF-IDF ``toxicity``) is at least the
band's bottom. Scoring sentences finds the hostile sentence in a long comment, which the whole comment's TF-IDF
score dilutes, at TF-IDF cost. Bundle 2.0.0 used the ``long`` gate: the TF-IDF score in ``band``, or any comment
longer than one encoder window (most news comments). In ``encoder`` mode the encoder scores all.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping, Sequence

import numpy as np

from model.claims import split_sentences
from model.encoder import Calibration, EncoderRunner
from model.prior import blend
from model.results import Span

MODES = ("encoder", "cascade")
GATES = ("long", "sentences")
"""How a cascade picks comments for the encoder (see the module docstring)."""
SENTENCE = re.compile(r"[^.!?\n]+[.!?]*")
"""A sentence for the long-comment span: a run up to and including its end punctuation."""
WINDOW_SPAN_PROBABILITY = 0.5
"""A long comment's best window is reported as a span (its best sentence) from this probability on."""


class EncoderModerationModel:
    """Hostility from the encoder (calibrated), the rest from the wrapped TF-IDF model.

    Parameters
    ----------
    base : ModerationModel
        Fitted TF-IDF model: claims, word spans, and the cascade's first pass.
    calibration : Calibration
        Platt scaling of the encoder's logits, per hostility attribute.
    mode : {"encoder", "cascade"}
    band : tuple of float
        In cascade mode, TF-IDF toxicity probabilities ``[low, high]`` that the encoder re-scores.
    blend_weights : mapping, optional
        Attribute -> weight of the encoder in a logit-space mean with the TF-IDF score (``model.prior.blend``)
        where the encoder scores a comment; 1 (the encoder alone) for attributes not listed.
    gate : {"sentences", "long"}
        How the cascade picks comments (module docstring); pickles without it (2.0.0) load as ``long``.
    claim_head : EncoderClaimHead, optional
        A checkable-claim head on the encoder's sentence embeddings, blended with the TF-IDF one
        (``model.encoder_claims``); without it (bundles before 2.2.0) claims are the TF-IDF model's alone.
    span_floor : float, optional
        The score of an attribute, as this model serves it, below which the attribute gets no word spans (0 = no
        floor). Without it (bundles before 2.8.0) the base's ``comment_floor`` applies to the TF-IDF scores, which
        in encoder mode are not the scores served: a civil comment the encoder approves at 0.02 could still get
        words marked.
    """

    def __init__(self, base, calibration: Calibration, mode: str = "encoder", band: tuple[float, float] = (0.0, 1.0),
                 blend_weights: Mapping[str, float] | None = None, gate: str = "sentences", claim_head=None,
                 span_floor: float | None = None):
        self.base = base
        self.calibration = calibration
        self.mode = mode
        self.band = tuple(band)
        self.blend_weights = dict(blend_weights or {})
        self.gate = gate
        self.claim_head = claim_head
        self.span_floor = span_floor
        self.runner = None

    def __getstate__(self) -> dict:
        # The onnxruntime session cannot be pickled; load_bundle attaches it after verifying the file.
        return {key: value for key, value in self.__dict__.items() if key != "runner"}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update({"gate": "long", "claim_head": None, "span_floor": None, **state})
        self.runner = None

    def attach(self, runner: EncoderRunner) -> EncoderModerationModel:
        """Use ``runner`` (built from the bundle's verified ONNX and tokenizer files); returns ``self``."""
        if tuple(runner.attributes) != self.hostility_attributes:
            raise ValueError(f"encoder attributes {runner.attributes} differ from the heads' {self.hostility_attributes}")
        if self.mode not in MODES:
            raise ValueError(f"mode {self.mode!r} unknown: use one of {MODES}")
        if self.gate not in GATES:
            raise ValueError(f"gate {self.gate!r} unknown: use one of {GATES}")
        if self.claim_head is not None and not runner.has_embeddings:
            raise ValueError("the bundle has claim heads on the encoder but its graph has no hidden-state output")
        self.runner = runner
        return self

    def in_mode(self, mode: str) -> EncoderModerationModel:
        """This model scoring in ``mode`` (``MODES``), sharing its parts and its attached encoder."""
        if mode not in MODES:
            raise ValueError(f"mode {mode!r} unknown: use one of {MODES}")
        other = copy.copy(self)  # through __getstate__: every part but the session, whatever parts a model has
        other.mode, other.runner = mode, self.runner
        return other

    @property
    def claims(self):
        """The TF-IDF claim heads (``base``'s); ``claim_head`` blends the encoder's into them in ``predict_proba``."""
        return self.base.claims


    @property
    def hostility_attributes(self) -> tuple[str, ...]:
        """Hostility attributes, in column order (the wrapped model's)."""
        return self.base.hostility_attributes

    @property
    def attributes(self) -> tuple[str, ...]:
        """Every attribute, in the column order of ``predict_proba``."""
        return self.base.attributes

    def _runner(self) -> EncoderRunner:
        if self.runner is None:
            raise RuntimeError("no encoder attached: load the bundle with model.load_bundle")
        return self.runner

    def encoder_scores(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """Calibrated encoder probabilities ``(n, n_hostility)`` and each one's window ``(n, n_hostility, 2)``."""
        logits, windows = self._runner().logits(texts)
        return self.calibration.apply(self.hostility_attributes, logits), windows

    def encoder_scores_and_embeddings(self, texts: Sequence[str], sentences: Sequence[Sequence[tuple[int, int]]]
                                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``encoder_scores`` and, from the same pass, the embedding of each of the texts' ``sentences``."""
        logits, windows, embeddings = self._runner().encode(texts, sentences=sentences)
        return self.calibration.apply(self.hostility_attributes, logits), windows, embeddings

    def blended(self, fast: np.ndarray, encoder: np.ndarray) -> np.ndarray:
        """Encoder probabilities with each ``blend_weights`` attribute mixed with the TF-IDF one."""
        out = np.array(encoder, dtype=float)
        for j, attribute in enumerate(self.hostility_attributes):
            weight = self.blend_weights.get(attribute, 1.0)
            if weight < 1.0:
                out[:, j] = blend(fast[:, j], encoder[:, j], weight)
        return out

    def gate_scores(self, texts: Sequence[str], toxicity: np.ndarray) -> np.ndarray:
        """Per comment, the higher of its TF-IDF ``toxicity`` (given) and that of its most hostile sentence."""
        gate = np.array(toxicity, dtype=float)
        pieces, owners = [], []
        for i, text in enumerate(texts):
            sentences = [m.group() for m in SENTENCE.finditer(text) if m.group().strip()]
            if len(sentences) > 1:
                pieces += sentences
                owners += [i] * len(sentences)
        if pieces:
            found = self.base.predict_hostility(pieces)[:, self.hostility_attributes.index("toxicity")]
            np.maximum.at(gate, np.array(owners), found)
        return gate

    def rescored(self, texts: Sequence[str], fast: np.ndarray) -> np.ndarray:
        """Which comments the encoder scores: all in ``encoder`` mode; in ``cascade`` mode those whose decision could change."""
        if self.mode == "encoder":
            return np.ones(len(texts), dtype=bool)
        toxicity = fast[:, self.hostility_attributes.index("toxicity")]
        if self.gate == "long":
            uncertain = (toxicity >= self.band[0]) & (toxicity <= self.band[1])
            return uncertain | self._runner().is_long(texts)
        return (self.gate_scores(texts, toxicity) >= self.band[0]) & (toxicity <= self.band[1])

    def _hostility(self, texts: list[str], sentences: list | None = None):
        """Hostility scores, the TF-IDF ones, each score's encoder window (-1 where not encoder-scored) and, with
        ``sentences`` (each text's sentence spans), their embeddings in that order (NaN where the encoder did not
        read the comment; ``None`` without ``sentences``)."""
        fast = self.base.predict_hostility(texts)
        chosen = np.flatnonzero(self.rescored(texts, fast)) if len(texts) else np.zeros(0, dtype=int)
        scores = fast.copy()
        windows = np.full(fast.shape + (2,), -1, dtype=np.int64)
        embeddings = None
        if len(chosen) and sentences is None:
            found, spans = self.encoder_scores([texts[i] for i in chosen])
            scores[chosen], windows[chosen] = self.blended(fast[chosen], found), spans
        elif len(chosen):
            found, spans, read = self.encoder_scores_and_embeddings([texts[i] for i in chosen], [sentences[i] for i in chosen])
            scores[chosen], windows[chosen] = self.blended(fast[chosen], found), spans
            first = np.cumsum([0] + [len(found_spans) for found_spans in sentences])
            rows = np.concatenate([np.arange(first[i], first[i + 1]) for i in chosen])
            embeddings = np.full((first[-1], read.shape[1]), np.nan, dtype=np.float32)
            embeddings[rows] = read
        return scores, fast, windows, embeddings

    def _predict(self, texts: list[str]):
        claims = self.base.claims
        spans = [split_sentences(text) for text in texts] if claims is not None and self.claim_head is not None else None
        scores, fast, windows, embeddings = self._hostility(texts, spans)
        sentences = None
        if claims is not None:
            head_scores = None
            if embeddings is not None:
                def head_scores(pieces):
                    return self.claim_head.head_scores(claims.head_scores(pieces), embeddings)
            sentences = claims.scored_sentences(texts, head_scores, spans=spans)
            scores = np.column_stack([scores, claims.pool(sentences)])
        return scores, fast, windows, sentences

    def predict_hostility(self, texts: Sequence[str]) -> np.ndarray:
        """Hostility probabilities ``(n, n_hostility)``, without scoring claims."""
        return self._hostility(list(texts))[0]

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """Calibrated probabilities, ``(n_texts, n_attributes)``."""
        return self._predict(list(texts))[0]

    def predict_and_explain(self, texts: Sequence[str], span_floor: float | None = None
                            ) -> tuple[np.ndarray, list[dict[str, list[Span]]]]:
        """``predict_proba(texts)`` and the spans behind each score, in whole characters as drawn.

        ``span_floor`` (a policy's ``[spans] floor``) replaces this model's ``span_floor`` for this call (``None``:
        the bundle's own); the model is left as it is, so other scorers of the bundle keep theirs.
        """
        texts = list(texts)
        scores, fast, windows, sentences = self._predict(texts)
        n_hostility = len(self.hostility_attributes)
        # Word spans come from the TF-IDF tagger, which was trained on the TF-IDF comment scores; whether an
        # attribute gets any is decided on the served score (bundles from 2.8.0, ``span_floor``; a policy's floor
        # likewise, whatever the bundle's version).
        base_scores = np.column_stack([fast, scores[:, n_hostility:]])
        span_floor = self.span_floor if span_floor is None else span_floor
        floor = {} if span_floor is None else {"served": scores, "comment_floor": span_floor}
        spans = self.base.explain(texts, base_scores, claim_sentences=sentences, **floor)
        for i, text in enumerate(texts):
            for j, attribute in enumerate(self.hostility_attributes):
                begin, end = windows[i, j]
                if spans[i].get(attribute) or begin < 0 or scores[i, j] < WINDOW_SPAN_PROBABILITY:
                    continue
                if begin == 0 and end >= len(text.rstrip()):
                    continue  # the window is the whole comment: it points at nothing
                spans[i][attribute] = [self.sentence_span(text, int(begin), int(end), j, float(scores[i, j]))]
        return scores, spans

    def sentence_span(self, text: str, begin: int, end: int, column: int, score: float) -> Span:
        """The best-scoring sentence inside a window (the window itself when it holds one sentence), in whole characters
        as drawn (a window's word pieces and ``SENTENCE`` can begin or end inside one)."""
        found = [(m.start() + begin, m.end() + begin) for m in SENTENCE.finditer(text[begin:end]) if m.group().strip()]
        if len(found) <= 1:
            return Span(begin, end, score).in_whole_characters(text)
        logits, _ = self._runner().logits([text[b:e] for b, e in found], whole_only=True)
        probabilities = self.calibration.apply(self.hostility_attributes, logits)[:, column]
        best = int(np.argmax(probabilities))
        b, e = found[best]
        stripped = text[b:e]
        b += len(stripped) - len(stripped.lstrip())
        return Span(b, b + len(text[b:e].rstrip()), float(probabilities[best])).in_whole_characters(text)

    def explain(self, texts: Sequence[str], probabilities: np.ndarray | None = None,
                claim_sentences: list | None = None) -> list[dict[str, list[Span]]]:
        """Spans behind each attribute's score (see ``predict_and_explain``)."""
        return self.predict_and_explain(texts)[1]

