"""Perspective-compatible API: ``comments:analyze`` and ``comments:suggestscore`` of Google's v1alpha1.

A client of Google's Perspective API switches by changing only its base URL and key. Requests and
responses follow Perspective's documented JSON; errors follow Google's shape (service.google_errors).
Perspective's upper-case attribute names live only here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import accumulate
from typing import Any

from flask import Blueprint, current_app, jsonify
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import MethodNotAllowed, NotFound

from model.attributes import HOSTILITY_ATTRIBUTES, LABEL_PROBABILITY_CUT, untoxic_hostility
from model.normalize import is_blank
from service.api_v1 import parse_json_body
from service.auth import require_scope
from service.config import EXTENSION_KEY
from service.errors import shown_name
from service.feedback_export import label_sources, names_export_column
from service.google_body import request_bytes
from service.google_errors import GoogleApiError, field_violation, invalid_argument, perspective_error
from service.google_errors import register_google_error_handlers
from service.html_text import html_to_text
from service.key_limits import charge
from service.language import detect_language, init_language_identifier, is_language_tag, is_supported
from service.scopes import FEEDBACK_SCOPE, MODERATE_SCOPE
from service.store import record_decisions, save_feedback
from service.text_rules import check_text, length_problem

API_VERSION = "v1alpha1"
ANALYZE_PATH = f"/{API_VERSION}/comments:analyze"
"""The one method that scores (``comments:suggestscore`` stores feedback)."""
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
LAST_BMP_CHARACTER = "\uffff"
"""Characters after this one (emoji, ...) are two UTF-16 code units."""
SUGGESTSCORE_SOURCE = "perspective:suggestscore"
EXAMPLE = '{"comment": {"text": "..."}, "requestedAttributes": {"TOXICITY": {}}}'
MAX_LANGUAGES = 16
"""Most entries a ``languages`` list may have (a comment is in one or two; the answer echoes the list)."""
PROTO_FIELD_NAMES: dict[str, str] = {
    "requested_attributes": "requestedAttributes", "span_annotations": "spanAnnotations", "do_not_store": "doNotStore",
    "client_token": "clientToken", "session_id": "sessionId", "community_id": "communityId",
    "attribute_scores": "attributeScores", "summary_score": "summaryScore", "span_scores": "spanScores",
    "score_type": "scoreType", "score_threshold": "scoreThreshold", "drop_unsupported_attributes": "dropUnsupportedAttributes",
}
"""Perspective's proto field names -> their JSON names. Proto3's JSON mapping accepts both, and Google's own clients
send the first (perspectiveapi-simple-server), so both are read; attribute names (map keys) are never renamed."""
STATUS_DECISIONS: dict[str, str] = {"APPROVED": "approve", "DELETED": "reject", "REJECTED": "reject"}
"""suggestscore labels that are a moderator's decision, not an attribute: older Coral Talk sends ``{"APPROVED" |
"DELETED": {"summaryScore": {"value": 1}}}`` after each moderation (current Coral sends its attribute, 0 or 1)."""
SUGGESTED_NAME_CHARS = 64
"""Longest free-form label a suggestscore may carry (Perspective takes any name as a training label)."""


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
    html: str | None = None
    """The comment as sent when its ``type`` is ``HTML`` (``text`` is then its visible text): span offsets must point
    into what the client sent."""


def _scorer() -> Any:
    """The Scorer loaded by ``create_app``."""
    return current_app.extensions[EXTENSION_KEY]


def offered_attributes(scorer: Any) -> dict[str, str]:
    """The Perspective attribute names this scorer can answer, with the scorer's name for each."""
    attributes = scorer.attributes  # once: the app's scorer is wrapped (``service.metrics.TimedScorer``)
    return {name: ours for name, ours in ATTRIBUTE_NAMES.items() if ours in attributes}


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


def _enum_name(body: Mapping, field: str, default: str, path: str = "") -> str:
    """An enum field (``comment.type``, ``scoreType``) in upper case: Google's front end upper-cases an enum name it does
    not know, so Perspective takes n8n's ``"scoreType": "probability"``; a 400 naming the field if not a string."""
    return _optional(body, field, str, default, path).upper()


def json_field_names(value: Any, path: str = "") -> Any:
    """``value`` with every proto field name (``PROTO_FIELD_NAMES``) renamed to its JSON name, at any depth; a 400
    when an object gives a field both ways."""
    if isinstance(value, list):
        return [json_field_names(item, f"{path}[{index}]") for index, item in enumerate(value)]
    if not isinstance(value, dict):
        return value
    renamed: dict = {}
    for name, item in value.items():
        field = PROTO_FIELD_NAMES.get(name, name) if isinstance(name, str) else name
        if field in renamed:
            raise invalid_argument(path + field, f"{path}{field} is given twice (as {field} and {name}): send it once")
        renamed[field] = json_field_names(item, f"{path}{shown_name(str(field))}.")
    return renamed


def _object_body() -> dict:
    """The request body (gzip too, ``service.google_body``), which must be a JSON object; proto field names are read as
    their JSON names."""
    raw = request_bytes()
    if not raw.strip():
        raise invalid_argument("", f"request body is empty; send JSON like {EXAMPLE}")
    body = parse_json_body(raw, EXAMPLE)
    if not isinstance(body, dict):
        raise invalid_argument("", f"request body must be a JSON object like {EXAMPLE}")
    try:
        return json_field_names(body)
    except RecursionError as error:  # JSON that json.loads could nest (nearly 1,000 deep) is deeper than this walk may go
        raise invalid_argument("", "request body is nested too deeply") from error


def parse_comment(body: Mapping, max_chars: int) -> tuple[str, str | None]:
    """Return the text to score from ``comment`` (``text`` and optional ``type``), HTML reduced to its text, and the
    comment as sent when it is HTML (else None)."""
    if "comment" not in body:
        raise invalid_argument("comment", 'comment is required: {"comment": {"text": "..."}}')
    comment = _optional(body, "comment", dict, {})
    text = comment.get("text")
    if text is None:  # proto3's JSON reads a missing or null field as its default, "": an empty comment (below)
        text = ""
    if not isinstance(text, str):
        raise invalid_argument("comment.text", "comment.text must be a non-empty string")
    too_long = length_problem(text, max_chars)
    if too_long is not None:
        raise perspective_invalid("COMMENT_TOO_LONG", "comment.text", f"comment.text {too_long}")
    check_text(text, "comment.text", max_chars, invalid_argument)
    text_type = _enum_name(comment, "type", "PLAIN_TEXT", "comment.")
    if text_type not in TEXT_TYPES:
        raise invalid_argument("comment.type", f"comment.type must be one of {', '.join(TEXT_TYPES)}")
    html = text if text_type == "HTML" else None
    if html is not None:
        text = html_to_text(html)
    if is_blank(text):
        raise GoogleApiError(400, "Comment must be non-empty.", [perspective_error("COMMENT_EMPTY")])
    return text, html


def perspective_invalid(error_type: str, field: str, message: str) -> GoogleApiError:
    """A 400 with Perspective's ``errorType`` (``COMMENT_TOO_LONG``, ...) as its first detail, where clients look for
    it (OpenCompass reads ``details[0].errorType``), and the field to fix."""
    return GoogleApiError(400, message, [perspective_error(error_type), field_violation(field, message)])


def _unknown_attribute(name: str, path: str, offered: Mapping[str, str]) -> GoogleApiError:
    """The 400 for an attribute this service does not score."""
    return invalid_argument(path, f"unknown attribute {shown_name(name)!r}; this service offers {', '.join(offered)} "
                                  "(or send dropUnsupportedAttributes: true to leave out the others)")


def _threshold(parameters: Mapping, path: str) -> float | None:
    """Check one attribute's AttributeParameters and return its scoreThreshold."""
    score_type = _enum_name(parameters, "scoreType", SCORE_TYPE, path + ".")
    if score_type not in ACCEPTED_SCORE_TYPES:
        raise invalid_argument(path + ".scoreType", f"{path}.scoreType must be {SCORE_TYPE}, the only score type offered")
    threshold = parameters.get("scoreThreshold")
    if threshold is None:
        return None
    return _probability(threshold, path + ".scoreThreshold")


def _probability(value: Any, path: str) -> float:
    """A float field that must be in [0, 1]: a JSON number, or a string holding one, as proto3's JSON mapping (which
    Google's front end follows) takes for float fields; else a 400 naming the field."""
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            pass
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0.0 <= value <= 1.0:
        raise invalid_argument(path, f"{path} must be a number in [0, 1]")
    return float(value)


def parse_languages(body: Mapping) -> list[str]:
    """The request's ``languages`` as given (empty means: detect).

    One code sent alone, not in a list, is a list of that one, as Google's front end reads any repeated field given a
    single value (protobuf's JSON parser keeps that "legacy syntax" because "the original ESF parser permits a single
    element in place of an array"): n8n's Google Perspective node sends ``"languages": "en"``, and Perspective answers.
    """
    single = body.get("languages")
    if isinstance(single, str):
        if not is_language_tag(single):
            raise invalid_argument("languages", 'languages must be a language code such as "en", or a list of them')
        return [single]
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
    text, html = parse_comment(body, max_chars)
    requested = _optional(body, "requestedAttributes", dict, {})
    if not requested:
        raise perspective_invalid("NO_REQUESTED_ATTRIBUTES", "requestedAttributes",
                                  'requestedAttributes must name at least one attribute, e.g. {"TOXICITY": {}}')
    drop_unsupported = _optional(body, "dropUnsupportedAttributes", bool, False)
    thresholds = {}
    for name, parameters in requested.items():
        path = f"requestedAttributes.{shown_name(name)}"
        if name not in offered:
            if drop_unsupported:  # Perspective drops what it cannot score instead of failing (SEXUALLY_EXPLICIT here)
                continue
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
        drop_unsupported_attributes=drop_unsupported,
        client_token=_client_token(body),
        html=html,
    )


def _client_token(body: Mapping) -> str | None:
    """The request's ``clientToken``, None when absent or empty: proto3 cannot tell an empty string from none, so Google
    echoes no empty token (proto3's JSON leaves out a field at its default), and suggestscore stored ``""`` as one."""
    return _optional(body, "clientToken", str, None) or None


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


def utf16_offsets(text: str) -> Sequence[int]:
    """The UTF-16 code-unit offset of every character index of ``text`` (0 to ``len(text)``): Perspective's span
    offsets are UTF-16, as a JavaScript client slices strings (a character outside the Basic Multilingual Plane, an
    emoji, counts twice). Made once per text: counting anew for each of 10,000 sentences took longer than scoring."""
    if max(text, default="\0") <= LAST_BMP_CHARACTER:
        return range(len(text) + 1)
    return list(accumulate((2 if character > LAST_BMP_CHARACTER else 1 for character in text), initial=0))


def sentence_scores(scorer: Any, text: str, attributes: list[str]) -> list[tuple[int, int, dict[str, float]]]:
    """``(begin, end, {scorer attribute: score})`` of each sentence of ``text``, each sentence scored on its own
    (Perspective's span scores are per sentence); ``[]`` for a text of one sentence, whose score is the summary."""
    from model.claims import split_sentences  # the scoring core, imported with the scorer (``moderate --help`` stays fast)

    spans = split_sentences(text)
    if len(spans) < 2:
        return []
    scores = scorer.predict_scores([text[begin:end] for begin, end in spans])
    columns = [scorer.attributes.index(attribute) for attribute in attributes]
    return [(begin, end, {attribute: float(row[column]) for attribute, column in zip(attributes, columns)})
            for (begin, end), row in zip(spans, scores)]


def attribute_scores(analyze: AnalyzeRequest, decision: Any, offered: Mapping[str, str],
                     sentences: list[tuple[int, int, dict[str, float]]]) -> dict:
    """``attributeScores`` for the requested attributes, leaving out every score under its scoreThreshold.

    Each has ``spanScores`` as Perspective's have: one span over the whole text with the summary score, or with
    ``spanAnnotations`` one per sentence (``sentences``, from ``sentence_scores``); offsets in UTF-16 code units.
    A scoreThreshold leaves out the spans under it too, as Google documents it ("Don't return scores for this
    attribute that are below this threshold"); with none left, ``spanScores`` is left out, as proto3's JSON leaves out
    an empty list (and as Perspective answers attributes without spans).

    For an HTML comment the whole-text span covers the comment as sent (``analyze.html``), and ``sentences`` must be
    empty: sentences of its visible text have offsets the client cannot use on the HTML it sent.
    """
    sent = analyze.text if analyze.html is None else analyze.html
    offsets = utf16_offsets(sent)
    scores = {}
    for name, threshold in analyze.thresholds.items():
        value = decision.scores[offered[name]]
        if threshold is not None and value < threshold:
            continue
        found = [(begin, end, scored[offered[name]]) for begin, end, scored in sentences] or [(0, len(sent), value)]
        spans = [{"begin": offsets[begin], "end": offsets[end], "score": _score(span_value)}
                 for begin, end, span_value in found if threshold is None or span_value >= threshold]
        scores[name] = {**({"spanScores": spans} if spans else {}), "summaryScore": _score(value)}
    return scores


def _record(analyze: AnalyzeRequest, decision: Any) -> None:
    """Log the decision (the store keeps nothing under doNotStore)."""
    record_decisions([None], [analyze.text], [decision], surface="perspective", do_not_store=analyze.do_not_store)


@bp.post(ANALYZE_PATH)
@require_scope(MODERATE_SCOPE)
def analyze() -> ResponseReturnValue:
    """Score a comment for the requested attributes, as Perspective's AnalyzeComment does."""
    scorer = _scorer()
    offered = offered_attributes(scorer)
    parsed = parse_analyze(_object_body(), offered, current_app.config["PERSPECTIVE_MAX_TEXT_CHARS"])
    charge(1, len(parsed.text))
    detected = detect_language(parsed.text)
    scores: dict = {}
    if parsed.thresholds and check_languages(parsed, detected):
        decision = scorer.moderate([parsed.text], with_spans=False)[0]
        _record(parsed, decision)
        requested = [offered[name] for name in parsed.thresholds]
        # An HTML comment's sentences are not scored: their offsets are not the HTML's (``attribute_scores``).
        sentences = sentence_scores(scorer, parsed.text, requested) if parsed.span_annotations and parsed.html is None else []
        scores = attribute_scores(parsed, decision, offered, sentences)
    response: dict[str, Any] = {
        "attributeScores": scores,
        "languages": parsed.languages or [detected],
        "detectedLanguages": [detected],
    }
    if parsed.client_token is not None:
        response["clientToken"] = parsed.client_token
    return jsonify(response)


def _suggested_value(scores: Any, path: str) -> float:
    """The suggested probability of one attribute: its ``summaryScore.value``, or with span scores alone (Perspective
    takes "just summary scores, just span scores, or both") the highest span's, since a comment has what one of its
    parts has."""
    if isinstance(scores, dict) and scores.get("summaryScore") is None and isinstance(scores.get("spanScores"), list) \
            and scores["spanScores"]:
        values = [_unit_value(span.get("score") if isinstance(span, dict) else None, f"{path}.spanScores[{index}].score")
                  for index, span in enumerate(scores["spanScores"])]
        return max(values)
    return _unit_value(scores.get("summaryScore") if isinstance(scores, dict) else None, f"{path}.summaryScore")


def _unit_value(score: Any, path: str) -> float:
    """``score["value"]``, which must be a number in [0, 1]."""
    return _probability(score.get("value") if isinstance(score, dict) else None, f"{path}.value")


def parse_suggested_scores(body: Mapping, offered: Mapping[str, str]) -> tuple[dict[str, float], str | None]:
    """Check ``attributeScores`` of a suggestscore body; return the labels and the moderator's decision.

    An attribute this service scores is stored under its own name (``{"toxicity": 0.9}``); a moderation status
    (``STATUS_DECISIONS``, Coral Talk's feedback) with a value of at least ``LABEL_PROBABILITY_CUT`` (0.5) becomes the
    decision; any other name
    is a free-form label, as Perspective takes them, stored as sent. Labels that mark a hostility attribute while
    giving toxicity as absent (``model.attributes.untoxic_hostility``) are refused, as ``/v1/feedback`` refuses them:
    training would read them as free of that hostility.
    """
    suggested = _optional(body, "attributeScores", dict, {})
    if not suggested:
        raise invalid_argument("attributeScores", 'attributeScores must hold at least one {"NAME": {"summaryScore": {"value": 0.9}}}')
    labels, decisions, sent_as = {}, set(), {}
    for name, scores in suggested.items():
        path = f"attributeScores.{shown_name(name)}"
        if not name or len(name) > SUGGESTED_NAME_CHARS or not name.isprintable() or name != name.strip():
            raise invalid_argument(path, f"attribute names are 1 to {SUGGESTED_NAME_CHARS} printable characters "
                                         "without surrounding spaces, such as TOXICITY")
        if names_export_column(name):  # the export writes a column of each label beside these
            raise invalid_argument(path, f"{name!r} names a column of the feedback export; choose another label name")
        value = _suggested_value(scores, path)
        if name in STATUS_DECISIONS:
            if value >= LABEL_PROBABILITY_CUT:
                decisions.add(STATUS_DECISIONS[name])
        else:
            stored = offered.get(name, name)
            labels[stored], sent_as[stored] = value, name
    if len(decisions) > 1:
        raise invalid_argument("attributeScores", f"attributeScores suggests both {' and '.join(sorted(decisions))}: send one")
    exported = label_sources(labels)  # the names the export, and so training, reads them under ("Insult" is insult)
    for ours in untoxic_hostility({attribute: labels[name] for attribute, name in exported.items()}):
        name, toxicity = sent_as[exported[ours]], sent_as[exported[HOSTILITY_ATTRIBUTES[0]]]
        value, toxic, cut = labels[exported[ours]], labels[exported[HOSTILITY_ATTRIBUTES[0]]], f"{LABEL_PROBABILITY_CUT:g}"
        raise invalid_argument(f"attributeScores.{shown_name(name)}", (
            f"{name} is {value:g}, which marks {ours}, but {toxicity} is {toxic:g}, under {cut}: {ours} is toxic, so "
            f"training would read {name} as 0; suggest {toxicity} of {cut} or more, or {name} under {cut}"))
    return labels, next(iter(decisions), None)


@bp.post(f"/{API_VERSION}/comments:suggestscore")
@require_scope(FEEDBACK_SCOPE)
def suggestscore() -> ResponseReturnValue:
    """Store a client's suggested scores for a comment as feedback for retraining."""
    body = _object_body()
    offered = offered_attributes(_scorer())
    text, _html = parse_comment(body, current_app.config["PERSPECTIVE_MAX_TEXT_CHARS"])
    labels, decision = parse_suggested_scores(body, offered)
    parse_languages(body)
    check_unused_fields(body)
    client_token = _client_token(body)
    save_feedback(
        comment_id=None, text=text, decision=decision, labels=labels or None, source=SUGGESTSCORE_SOURCE,
        client_token=client_token
    )
    return jsonify({} if client_token is None else {"clientToken": client_token})


_ROUTES = {ANALYZE_PATH, f"/{API_VERSION}/comments:suggestscore"}


@bp.route(f"/{API_VERSION}/<path:rest>", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
def not_found(rest: str) -> ResponseReturnValue:
    """Answer unknown paths and wrong methods under /v1alpha1/ in Google's shape rather than ours."""
    if f"/{API_VERSION}/{rest}" in _ROUTES:
        raise MethodNotAllowed(valid_methods=["POST"], description="use POST for this method")
    raise NotFound(f"/{API_VERSION}/{rest} is not a method of this API; use comments:analyze or comments:suggestscore")
