"""Perspective-compatible API: ``comments:analyze`` and ``comments:suggestscore`` of Google's v1alpha1.

A client of Google's Perspective API switches by changing only its base URL and key. Requests and
responses follow Perspective's documented JSON; errors follow Google's shape (service.google_errors).
Perspective's upper-case attribute names live only here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from flask import Blueprint, current_app, jsonify, request
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import MethodNotAllowed, NotFound

from service.api_v1 import _json_body as json_body
from service.auth import require_scope
from service.config import EXTENSION_KEY
from service.google_errors import GoogleApiError, invalid_argument, perspective_error, register_google_error_handlers
from service.html_text import html_to_text
from service.key_limits import charge
from service.language import detect_language, init_language_identifier, is_language_tag, is_supported
from service.scopes import FEEDBACK_SCOPE, MODERATE_SCOPE
from service.store import record_decisions, save_feedback
from service.text_rules import check_text

API_VERSION = "v1alpha1"
bp = Blueprint("perspective", __name__)
register_google_error_handlers(bp)
bp.record_once(lambda state: init_language_identifier(state.app))

ATTRIBUTE_NAMES: dict[str, str] = {
    "TOXICITY": "toxicity",
    "SEVERE_TOXICITY": "severe_toxicity",
    "IDENTITY_ATTACK": "identity_attack",
    "INSULT": "insult",
    "PROFANITY": "profanity",
    "THREAT": "threat",
    "UNSUPPORTED_CLAIM": "unsupported_claim",  # ours, experimental: offered when the bundle has the claims head
}
"""Perspective's attribute names -> the scorer's."""

SCORE_TYPE = "PROBABILITY"
ACCEPTED_SCORE_TYPES = (SCORE_TYPE, "SCORE_TYPE_UNSPECIFIED")
TEXT_TYPES = ("TEXT_TYPE_UNSPECIFIED", "PLAIN_TEXT", "HTML")
SCORE_DIGITS = 6
SUGGESTSCORE_SOURCE = "perspective:suggestscore"
EXAMPLE = '{"comment": {"text": "..."}, "requestedAttributes": {"TOXICITY": {}}}'
MAX_LANGUAGES = 16
"""Most entries a ``languages`` list may have (a comment is in one or two; the answer echoes the list)."""


@dataclass(frozen=True)
class AnalyzeRequest:
    """A checked ``comments:analyze`` request."""

    text: str
    thresholds: dict[str, float | None]  # Perspective name -> scoreThreshold
    span_annotations: bool
    languages: list[str]
    do_not_store: bool
    drop_unsupported_attributes: bool
    client_token: str | None


def _scorer() -> Any:
    """The Scorer loaded by ``create_app``."""
    return current_app.extensions[EXTENSION_KEY]


def offered_attributes(scorer: Any) -> dict[str, str]:
    """The Perspective attribute names this scorer can answer, with the scorer's name for each."""
    return {name: ours for name, ours in ATTRIBUTE_NAMES.items() if ours in scorer.attributes}


def _optional(body: Mapping, field: str, kind: type, default: Any, path: str = "") -> Any:
    """``body[field]`` if present and of ``kind``, ``default`` if absent or null; else a 400 naming the field."""
    value = body.get(field)
    if value is None:
        return default
    if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
        name = {str: "a string", bool: "true or false", dict: "an object", list: "a list"}[kind]
        raise invalid_argument(path + field, f"{path}{field} must be {name}")
    if kind is str:
        check_text(value, path + field, int(current_app.config["MAX_ID_CHARS"]), invalid_argument)
    return value


def _object_body() -> dict:
    """The request body, which must be a JSON object."""
    if not request.get_data().strip():
        raise invalid_argument("", f"request body is empty; send JSON like {EXAMPLE}")
    body = json_body()
    if not isinstance(body, dict):
        raise invalid_argument("", f"request body must be a JSON object like {EXAMPLE}")
    return body


def parse_comment(body: Mapping, max_chars: int) -> str:
    """Return the text to score from ``comment`` (``text`` and optional ``type``); HTML is reduced to its text."""
    if "comment" not in body:
        raise invalid_argument("comment", 'comment is required: {"comment": {"text": "..."}}')
    comment = _optional(body, "comment", dict, {})
    text = comment.get("text")
    if not isinstance(text, str):
        raise invalid_argument("comment.text", "comment.text must be a non-empty string")
    check_text(text, "comment.text", max_chars, invalid_argument)
    text_type = _optional(comment, "type", str, "PLAIN_TEXT", "comment.")
    if text_type not in TEXT_TYPES:
        raise invalid_argument("comment.type", f"comment.type must be one of {', '.join(TEXT_TYPES)}")
    if text_type == "HTML":
        text = html_to_text(text)
    if not text.strip():
        raise GoogleApiError(400, "Comment must be non-empty.", [perspective_error("COMMENT_EMPTY")])
    return text


def _unknown_attribute(name: str, path: str, offered: Mapping[str, str]) -> GoogleApiError:
    """The 400 for an attribute this service does not score."""
    return invalid_argument(path, f"unknown attribute {name!r}; this service offers {', '.join(offered)}")


def _threshold(parameters: Mapping, path: str) -> float | None:
    """Check one attribute's AttributeParameters and return its scoreThreshold."""
    score_type = _optional(parameters, "scoreType", str, SCORE_TYPE, path + ".")
    if score_type not in ACCEPTED_SCORE_TYPES:
        raise invalid_argument(path + ".scoreType", f"{path}.scoreType must be {SCORE_TYPE}, the only score type offered")
    threshold = parameters.get("scoreThreshold")
    if threshold is None:
        return None
    if isinstance(threshold, bool) or not isinstance(threshold, int | float) or not 0.0 <= threshold <= 1.0:
        raise invalid_argument(path + ".scoreThreshold", f"{path}.scoreThreshold must be a number in [0, 1]")
    return float(threshold)


def parse_languages(body: Mapping) -> list[str]:
    """The request's ``languages`` as given (empty means: detect)."""
    languages = _optional(body, "languages", list, [])
    if len(languages) > MAX_LANGUAGES:
        raise invalid_argument("languages", f"languages has {len(languages)} entries; the limit is {MAX_LANGUAGES}")
    for index, language in enumerate(languages):
        if not isinstance(language, str) or not is_language_tag(language):
            raise invalid_argument(f"languages[{index}]", f"languages[{index}] must be a language code such as \"en\"")
    return languages


def check_unused_fields(body: Mapping) -> None:
    """Check the types of the fields both methods accept but do not use: context, sessionId, communityId."""
    _optional(body, "context", dict, {})
    for field in ("sessionId", "communityId"):
        _optional(body, field, str, None)


def parse_analyze(body: dict, offered: Mapping[str, str], max_chars: int) -> AnalyzeRequest:
    """Check a ``comments:analyze`` body against Perspective's AnalyzeCommentRequest."""
    text = parse_comment(body, max_chars)
    requested = _optional(body, "requestedAttributes", dict, {})
    if not requested:
        raise invalid_argument("requestedAttributes", 'requestedAttributes must name at least one attribute, e.g. {"TOXICITY": {}}')
    thresholds = {}
    for name, parameters in requested.items():
        path = f"requestedAttributes.{name}"
        if name not in offered:
            raise _unknown_attribute(name, path, offered)
        if parameters is not None and not isinstance(parameters, dict):
            raise invalid_argument(path, f"{path} must be an object such as {{}} or {{\"scoreThreshold\": 0.5}}")
        thresholds[name] = _threshold(parameters or {}, path)
    check_unused_fields(body)
    return AnalyzeRequest(
        text=text,
        thresholds=thresholds,
        span_annotations=_optional(body, "spanAnnotations", bool, False),
        languages=parse_languages(body),
        do_not_store=_optional(body, "doNotStore", bool, False),
        drop_unsupported_attributes=_optional(body, "dropUnsupportedAttributes", bool, False),
        client_token=_optional(body, "clientToken", str, None),
    )


def check_languages(analyze: AnalyzeRequest, detected: str) -> bool:
    """True if the comment's languages can be scored; else raise Perspective's error or, if asked, drop all."""
    languages = analyze.languages or [detected]
    if all(is_supported(language) for language in languages):
        return True
    if analyze.drop_unsupported_attributes:
        return False
    attribute = next(iter(analyze.thresholds))
    which = "requestedLanguages" if analyze.languages else "detectedLanguages"
    message = (
        f"Attribute {attribute} does not support request languages: {', '.join(languages)}; "
        "this service scores English (en) only"
    )
    detail = perspective_error(
        "LANGUAGE_NOT_SUPPORTED_BY_ATTRIBUTE",
        languageNotSupportedByAttributeError={which: languages, "attribute": attribute},
    )
    raise GoogleApiError(400, message, [detail])


def _score(value: float) -> dict:
    """Perspective's Score object."""
    return {"value": round(float(value), SCORE_DIGITS), "type": SCORE_TYPE}


def attribute_scores(analyze: AnalyzeRequest, decision: Any, offered: Mapping[str, str]) -> dict:
    """``attributeScores`` for the requested attributes, leaving out those under their scoreThreshold."""
    scores = {}
    for name, threshold in analyze.thresholds.items():
        value = decision.scores[offered[name]]
        if threshold is not None and value < threshold:
            continue
        entry = {}
        if analyze.span_annotations:
            spans = decision.spans.get(offered[name], [])
            entry["spanScores"] = [{"begin": s.begin, "end": s.end, "score": _score(s.score)} for s in spans]
        entry["summaryScore"] = _score(value)
        scores[name] = entry
    return scores


def _record(analyze: AnalyzeRequest, decision: Any) -> None:
    """Log the decision (the store keeps nothing under doNotStore)."""
    record_decisions([None], [analyze.text], [decision], surface="perspective", do_not_store=analyze.do_not_store)


@bp.post(f"/{API_VERSION}/comments:analyze")
@require_scope(MODERATE_SCOPE)
def analyze() -> ResponseReturnValue:
    """Score a comment for the requested attributes, as Perspective's AnalyzeComment does."""
    scorer = _scorer()
    offered = offered_attributes(scorer)
    parsed = parse_analyze(_object_body(), offered, current_app.config["PERSPECTIVE_MAX_TEXT_CHARS"])
    charge(1, len(parsed.text))
    detected = detect_language(parsed.text)
    scores: dict = {}
    if check_languages(parsed, detected):
        decision = scorer.moderate([parsed.text], with_spans=parsed.span_annotations)[0]
        _record(parsed, decision)
        scores = attribute_scores(parsed, decision, offered)
    response: dict[str, Any] = {
        "attributeScores": scores,
        "languages": parsed.languages or [detected],
        "detectedLanguages": [detected],
    }
    if parsed.client_token is not None:
        response["clientToken"] = parsed.client_token
    return jsonify(response)


def parse_suggested_scores(body: Mapping, offered: Mapping[str, str]) -> dict[str, float]:
    """Check ``attributeScores`` of a suggestscore body; return ``{scorer attribute: suggested probability}``."""
    suggested = _optional(body, "attributeScores", dict, {})
    if not suggested:
        raise invalid_argument("attributeScores", 'attributeScores must hold at least one {"NAME": {"summaryScore": {"value": 0.9}}}')
    labels = {}
    for name, scores in suggested.items():
        path = f"attributeScores.{name}"
        if name not in offered:
            raise _unknown_attribute(name, path, offered)
        summary = scores.get("summaryScore") if isinstance(scores, dict) else None
        value = summary.get("value") if isinstance(summary, dict) else None
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0.0 <= value <= 1.0:
            raise invalid_argument(f"{path}.summaryScore.value", f"{path}.summaryScore.value must be a number in [0, 1]")
        labels[offered[name]] = float(value)
    return labels


@bp.post(f"/{API_VERSION}/comments:suggestscore")
@require_scope(FEEDBACK_SCOPE)
def suggestscore() -> ResponseReturnValue:
    """Store a client's suggested scores for a comment as feedback for retraining."""
    body = _object_body()
    offered = offered_attributes(_scorer())
    text = parse_comment(body, current_app.config["PERSPECTIVE_MAX_TEXT_CHARS"])
    labels = parse_suggested_scores(body, offered)
    parse_languages(body)
    check_unused_fields(body)
    client_token = _optional(body, "clientToken", str, None)
    save_feedback(
        comment_id=None, text=text, decision=None, labels=labels, source=SUGGESTSCORE_SOURCE, client_token=client_token
    )
    return jsonify({} if client_token is None else {"clientToken": client_token})


_ROUTES = {f"/{API_VERSION}/comments:analyze", f"/{API_VERSION}/comments:suggestscore"}


@bp.route(f"/{API_VERSION}/<path:rest>", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
def not_found(rest: str) -> ResponseReturnValue:
    """Answer unknown paths and wrong methods under /v1alpha1/ in Google's shape rather than ours."""
    if f"/{API_VERSION}/{rest}" in _ROUTES:
        raise MethodNotAllowed(valid_methods=["POST"], description="use POST for this method")
    raise NotFound(f"/{API_VERSION}/{rest} is not a method of this API; use comments:analyze or comments:suggestscore")
