"""Plain typed values that flow from the scorer to the adapters (CLI, HTTP)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace

from model.characters import whole_characters


@dataclass(frozen=True)
class Span:
    """A character range ``text[begin:end]`` that raised an attribute's score."""

    begin: int
    end: int
    score: float

    def to_dict(self) -> dict:
        """Return the span as a JSON-ready mapping."""
        return {"begin": self.begin, "end": self.end, "score": round(self.score, 6)}

    def in_whole_characters(self, text: str) -> Span:
        """The span widened to whole characters as drawn in ``text`` (``model.characters.whole_characters``)."""
        begin, end = whole_characters(text, self.begin, self.end)
        return self if (begin, end) == (self.begin, self.end) else Span(begin, end, self.score)


def whole_spans(text: str, spans: Mapping[str, list[Span]]) -> dict[str, list[Span]]:
    """``spans`` of ``text`` by attribute, each widened to whole characters as drawn (``Span.in_whole_characters``).

    Parameters
    ----------
    text : str
        The comment as written.
    spans : mapping
        Attribute -> spans of ``text``.

    Returns
    -------
    dict of str to list of Span
        The same attributes and spans in the same order, each span whole.
    """
    return {attribute: [span.in_whole_characters(text) for span in found] for attribute, found in spans.items()}


@dataclass(frozen=True)
class Reason:
    """Why a phase of the policy acted: the attribute, its score, the threshold and the span."""

    code: str
    action: str | None = None
    attribute: str | None = None
    score: float | None = None
    threshold: float | None = None
    span: Span | None = None
    text: str | None = None

    def to_dict(self) -> dict:
        """Return the reason as a JSON-ready mapping without empty fields."""
        out = {k: v for k, v in asdict(self).items() if v is not None and k != "span"}
        if "score" in out:
            out["score"] = round(out["score"], 6)
        if self.span is not None:
            out["span"] = self.span.to_dict()
        return out

    def in_whole_characters(self, text: str) -> Reason:
        """The reason with its span widened to whole characters as drawn in ``text``, and its words the span's."""
        if self.span is None:
            return self
        span = self.span.in_whole_characters(text)
        if span is self.span:
            return self
        return replace(self, span=span, text=None if self.text is None else text[span.begin : span.end])


@dataclass(frozen=True)
class Decision:
    """The scorer's answer for one comment."""

    action: str  # "approve" | "review" | "reject"
    reasons: tuple[Reason, ...]
    scores: dict[str, float]
    spans: dict[str, list[Span]] = field(default_factory=dict)
    model_version: str = ""

    def in_whole_characters(self, text: str) -> Decision:
        """The decision for ``text`` with every span, its reasons' too, widened to whole characters as drawn.

        Spans are found on words, sentences and the encoder's word pieces, whose offsets can fall inside one character
        on screen (between an emoji and its skin tone, a flag and its tags, a letter and its accent). Every client
        (``/v1``, Perspective's UTF-16 offsets, Coral, the moderation pages) takes the offsets as they are, so they are
        made whole here, once, for all of them: the bundle models' spans are whole already (``whole_spans``), the
        threat phrases' and any other model's are made so. Two spans that met inside one character both take it in.
        """
        spans = whole_spans(text, self.spans)
        reasons = tuple(reason.in_whole_characters(text) for reason in self.reasons)
        if spans == self.spans and reasons == self.reasons:
            return self
        return replace(self, spans=spans, reasons=reasons)

    def to_dict(self) -> dict:
        """Return the decision as a JSON-ready mapping (the shape of ``/v1/moderate`` results)."""
        return {
            "decision": self.action,
            "scores": {k: round(float(v), 6) for k, v in self.scores.items()},
            "reasons": [r.to_dict() for r in self.reasons],
            "spans": [
                {"attribute": attribute, **span.to_dict()}
                for attribute, spans in self.spans.items()
                for span in spans
            ],
        }
