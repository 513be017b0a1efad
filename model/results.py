"""Plain typed values that flow from the scorer to the adapters (CLI, HTTP)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass(frozen=True)
class Span:
    """A character range ``text[begin:end]`` that raised an attribute's score."""

    begin: int
    end: int
    score: float

    def to_dict(self) -> dict:
        """Return the span as a JSON-ready mapping."""
        return {"begin": self.begin, "end": self.end, "score": round(self.score, 6)}


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


@dataclass(frozen=True)
class Decision:
    """The scorer's answer for one comment."""

    action: str  # "approve" | "review" | "reject"
    reasons: tuple[Reason, ...]
    scores: dict[str, float]
    spans: dict[str, list[Span]] = field(default_factory=dict)
    model_version: str = ""

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
