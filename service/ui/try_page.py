"""The try-it page: paste comments (one per line) and see each decision, its scores, spans and reasons.

Nothing tried here is written to the decision log: it is a moderator testing the model, not a reader's comment.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from flask import current_app, render_template, request
from flask.typing import ResponseReturnValue
from markupsafe import Markup

from model.characters import whole_characters
from model.results import Decision
from service.config import EXTENSION_KEY
from service.text_rules import character_problem
from service.ui.blueprint import bp
from service.ui.explain import ACTION_WORDS, reason_sentence
from service.ui.highlight import highlight
from service.ui.signin import signed_in

PERCENT = 100
LINE_BREAK = re.compile(r"\r\n|\r|\n")
"""What ends a line of the text box (a browser sends CRLF); not str.splitlines, which would also cut one comment
at a form feed, U+2028 or a NEL pasted with it."""


@dataclass(frozen=True)
class ScoreRow:
    """One attribute's score beside its thresholds, in percent of the bar for drawing."""

    attribute: str
    score: float
    review: float | None
    reject: float | None

    @property
    def band(self) -> str:
        """Which side of the thresholds the score is on: "reject", "review" or "ok"."""
        if self.reject is not None and self.score >= self.reject:
            return "reject"
        if self.review is not None and self.score >= self.review:
            return "review"
        return "ok"

    @property
    def description(self) -> str:
        """The bar in words, for screen readers and the visible label."""
        limits = [f"{name} at {value:.2f}" for name, value in (("review", self.review), ("reject", self.reject)) if value is not None]
        return f"{self.attribute.replace('_', ' ')} {self.score:.2f}" + (f" ({', '.join(limits)})" if limits else "")

    def percent(self, value: float) -> str:
        """``value`` as a bar coordinate (0-100) with one decimal."""
        return f"{min(max(value, 0.0), 1.0) * PERCENT:.1f}"


@dataclass(frozen=True)
class TriedComment:
    """What the page shows of one comment."""

    text: str
    action: str
    action_words: str
    highlighted: Markup
    scores: list[ScoreRow]
    reasons: list[str]
    spans: list[tuple[str, str, float]]
    """(attribute, the words, span score) for each span of an attribute whose score reached a threshold or that a
    reason names: highlighted."""
    weak_spans: list[tuple[str, str, float]]
    """The same for attributes below their thresholds: listed, not highlighted (an approved civil comment's words
    are not marked as hostile)."""


def score_rows(decision: Decision, policy: Any) -> list[ScoreRow]:
    """A row per attribute, in the model's order, with the policy's review and reject thresholds."""
    return [ScoreRow(name, float(score), policy.review.get(name), policy.reject.get(name)) for name, score in decision.scores.items()]


def tried_comment(text: str, decision: Decision, policy: Any) -> TriedComment:
    """The page's view of one scored comment: the spans of attributes that reached a threshold (or gave a reason,
    like a threat phrase) are highlighted."""
    rows = score_rows(decision, policy)
    behind = {reason.attribute for reason in decision.reasons if reason.attribute} | {row.attribute for row in rows if row.band != "ok"}
    strong = {attribute: list(found) for attribute, found in decision.spans.items() if attribute in behind}
    weak = {attribute: found for attribute, found in decision.spans.items() if attribute not in behind}
    for reason in decision.reasons:  # a threat phrase's words are in its reason only, not among the attribute's spans
        if reason.attribute and reason.span is not None and reason.span not in strong.setdefault(reason.attribute, []):
            strong[reason.attribute].append(reason.span)
    return TriedComment(
        text=text,
        action=decision.action,
        action_words=ACTION_WORDS[decision.action],
        highlighted=highlight(text, strong),
        scores=rows,
        reasons=[reason_sentence(reason) for reason in decision.reasons],
        spans=_listed(text, strong),
        weak_spans=_listed(text, weak),
    )


def _listed(text: str, spans: dict[str, list]) -> list[tuple[str, str, float, int]]:
    """(attribute, the words, score, times) of the spans, their words as highlighted (whole characters): the same words
    of one attribute once, with how many times they were marked and their highest score, in the order first marked
    (a long comment repeating one insult listed 1,110 bullets of it per attribute)."""
    listed: dict[tuple[str, str], tuple[float, int]] = {}  # (attribute, words) -> (highest score, times); dicts keep order
    for attribute, found in spans.items():
        for span in found:
            words = text[slice(*whole_characters(text, span.begin, span.end))]
            best, times = listed.get((attribute, words), (span.score, 0))
            listed[attribute, words] = (max(best, span.score), times + 1)
    return [(attribute, words, score, times) for (attribute, words), (score, times) in listed.items()]


def comment_lines(pasted: str) -> list[str]:
    """The non-blank lines of the text box, each one comment."""
    return [line for line in LINE_BREAK.split(pasted) if line.strip()]


def check_lines(lines: list[str]) -> str | None:
    """A message saying what to change when there are no, too many or too long comments, or more than
    ``MAX_REQUEST_CHARS`` characters in all; else None."""
    config = current_app.config
    if not lines:
        return "Paste at least one comment, one per line."
    if len(lines) > config["MAX_COMMENTS_PER_REQUEST"]:
        return f"Paste at most {config['MAX_COMMENTS_PER_REQUEST']} comments at a time; you pasted {len(lines)}."
    for number, line in enumerate(lines, start=1):
        problem = character_problem(line)
        if problem:  # what the API answers 400 to: the page shows what one API request would give
            return f"Comment {number} {problem}, which the API refuses; remove it."
    too_long = [number for number, line in enumerate(lines, start=1) if len(line) > config["MAX_COMMENT_CHARS"]]
    if too_long:
        return f"Comment {too_long[0]} is longer than {config['MAX_COMMENT_CHARS']:,} characters; shorten it."
    n_chars = sum(map(len, lines))
    if n_chars > config["MAX_REQUEST_CHARS"]:
        # As the API's limit, so that scoring them does not outlast the server's timeout, which would cut the page off.
        return (f"The comments have {n_chars:,} characters in all; at most {config['MAX_REQUEST_CHARS']:,} can be tried "
                "at a time. Paste fewer at once.")
    return None


@bp.route("/try", methods=["GET", "POST"])
@signed_in()
def try_it() -> ResponseReturnValue:
    """Show the form; on POST score every line and show the results under it."""
    if request.method == "GET":
        return render_template("ui/try.html", pasted="", results=[], error=None)
    pasted = request.form.get("comments", "")
    lines = comment_lines(pasted)
    error = check_lines(lines)
    if error is not None:
        # A NUL is not written back into the page: U+FFFD shows where it was.
        return render_template("ui/try.html", pasted=pasted.replace("\x00", "\ufffd"), results=[], error=error), 400
    scorer = current_app.extensions[EXTENSION_KEY]
    decisions = scorer.moderate(lines, with_spans=True)
    results = [tried_comment(text, decision, scorer.policy) for text, decision in zip(lines, decisions, strict=True)]
    return render_template("ui/try.html", pasted=pasted, results=results, error=None, model_version=scorer.model_version)
