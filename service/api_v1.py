"""Our JSON API: ``POST /v1/moderate``, ``POST /v1/feedback`` and ``GET /v1/model``; an API key on each."""

from __future__ import annotations

import codecs
import functools
import hashlib
import json
from typing import Any

from flask import Blueprint, current_app, g, jsonify, request
from flask.typing import ResponseReturnValue
from sqlalchemy import func, select

from model.bundle import without_fingerprint
from model.policy import Policy
from model.spans import served_span_thresholds
from service.auth import require_api_key, require_scope
from service.config import EXTENSION_KEY
from service.errors import ApiError, shown_name
from service.key_limits import charge
from service.limits import check_request_chars, read_body
from service.openapi import operation
from service.schemas import (
    INVALID_REQUEST,
    FeedbackRequestSchema,
    FeedbackResponseSchema,
    ModelResponseSchema,
    ModerateRequestSchema,
    ModerateResponseSchema,
    load,
)
from service.scopes import FEEDBACK_SCOPE, MODERATE_SCOPE
from service.store import DecisionRecord, Feedback, get_session, record_decisions, save_feedback, sha256_text

bp = Blueprint("api_v1", __name__)

SURFACE = "v1"
FEEDBACK_SOURCE = "v1_feedback"
MODERATE_EXAMPLE = '{"comments": [{"id": "c1", "text": "..."}]}'
FEEDBACK_EXAMPLE = '{"comment_id": "c1", "text": "You are an idiot.", "decision": "reject", "labels": {"toxicity": 1.0}}'
"""With the text: feedback by ``comment_id`` alone is paired with a text only where the decision log kept it (``STORE_TEXT``)."""
MODERATE_REQUEST_EXAMPLE = {
    "comments": [
        {"id": "c1", "text": "You stupid idiot, nobody wants you here.",
         "context": {"parent_text": "The council approved the new bridge.", "story_url": "https://news.example/bridge"}},
        {"id": "c2", "text": "Thanks for the article, very helpful."},
    ],
    "do_not_store": False,
}
"""The OpenAPI document's example body of ``/v1/moderate``, with every optional field (tests send it)."""
IDENTITY = "identity"
UNSUPPORTED_ENCODING = "unsupported_content_encoding"
KEYED = ("missing_key", "invalid_key", "rate_limited")
"""The errors (``service.openapi.ERROR_RESPONSES``) of every operation here: each needs a key."""
SCOPED = (*KEYED, "missing_scope")
"""The errors of an operation that needs a key with a scope."""
INTENDED_USE = (
    "Triage of reader comments for human moderators of news sites: approve, send to review or reject, "
    "with the attribute scores and the words behind them. Not for decisions about people without review."
)
LIMITATIONS = (
    "Trained on English comments; other languages score unreliably.",
    "Trained on public datasets whose labels carry their annotators' biases; identity terms can raise scores.",
    "Scores are calibrated probabilities on the validation data, not certainties; thresholds trade review load for misses.",
    "The context (parent comment, story) is accepted but not yet used by the model.",
)


def _invalid(message: str) -> ApiError:
    """Return the 400 error for a request the client must fix."""
    return ApiError(400, INVALID_REQUEST, message)


def _scorer() -> Any:
    """The Scorer loaded by ``create_app``."""
    return current_app.extensions[EXTENSION_KEY]


def _check_content_encoding() -> None:
    """Refuse (415) a compressed body: it is not decoded here, and read as JSON it would only be "not valid UTF-8"."""
    encoding = request.headers.get("Content-Encoding", IDENTITY).strip().lower()
    if encoding not in ("", IDENTITY):
        raise ApiError(415, UNSUPPORTED_ENCODING, f"Content-Encoding {encoding!r} is not supported; send the body uncompressed")


FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
JSON_STARTS = (b"{", b"[")
"""How a body that is meant as JSON begins (after white space and a UTF-8 byte order mark), whatever its Content-Type."""


def _json_body(example: str = MODERATE_EXAMPLE, keep_last_of_repeats: bool = False) -> Any:
    """Decode the request body as UTF-8 JSON, whatever the Content-Type says; an empty one is refused suggesting ``example``,
    a form that is not JSON saying so (a form post was told only "not valid JSON: Expecting value at line 1 column 1");
    ``keep_last_of_repeats``: see ``parse_json_body``.

    JSON sent with a form's Content-Type (``curl -d`` sends application/x-www-form-urlencoded) is told what is wrong
    with it (a name given twice, a syntax error), not that it is a form."""
    _check_content_encoding()
    raw = read_body(cache=False)
    try:
        return parse_json_body(raw, example, keep_last_of_repeats)
    except ApiError as error:
        if (request.mimetype not in FORM_TYPES or raw.removeprefix(codecs.BOM_UTF8).lstrip()[:1] in JSON_STARTS
                or json.detect_encoding(raw[:4]) in WIDE_ENCODINGS):  # UTF-16 JSON (Notepad's "Unicode"): say so
            raise
        raise _invalid(f"request body is a form ({request.mimetype}), not JSON: send JSON like {example}, "
                       "with Content-Type: application/json") from error


WIDE_ENCODINGS = {"utf-16": "UTF-16", "utf-16-le": "UTF-16", "utf-16-be": "UTF-16",
                  "utf-32": "UTF-32", "utf-32-le": "UTF-32", "utf-32-be": "UTF-32"}
"""What ``json.detect_encoding`` (RFC 4627's test: a byte order mark, or NUL bytes among the first four) names a body
that is not UTF-8, by the name a message gives it."""


def parse_json_body(raw: bytes, example: str = MODERATE_EXAMPLE, keep_last_of_repeats: bool = False) -> Any:
    """Decode a request body's bytes as UTF-8 JSON; a 400 saying what is wrong, an empty one suggesting ``example``.

    An object that gives a name twice is refused naming it: which value counts is a choice of the reader (Python's
    keeps the last, others the first), so a proxy or filter in front could check one text and this service score the
    other; Google's JSON parser refuses a repeated map key (``requestedAttributes``) and a field set twice too.
    ``keep_last_of_repeats`` keeps the last instead, as JavaScript's ``JSON.parse`` does: Coral's signed body, which
    Coral reads so, and where a 400 would publish the comment unmoderated."""
    wide = WIDE_ENCODINGS.get(json.detect_encoding(raw[:4]))
    if wide is not None:  # it was "not valid UTF-8 (byte 0)", or "not valid JSON" for UTF-16 without a byte order mark
        raise _invalid(f"request body is {wide}; send the JSON encoded as UTF-8, not {wide}")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise _invalid(f"request body is not valid UTF-8 (byte {error.start}); send UTF-8 JSON") from error
    if not text.strip():
        raise _invalid(f"request body is empty; send JSON like {example}")
    repeated: list[_Repeats] = []
    try:
        value = json.loads(text, object_pairs_hook=functools.partial(_object_noting_repeats, repeated))
    except json.JSONDecodeError as error:
        raise _invalid(
            f"request body is not valid JSON: {error.msg} at line {error.lineno} column {error.colno}"
        ) from error
    except ValueError as error:  # an integer literal over Python's digit limit
        raise _invalid(f"request body is not acceptable JSON: {str(error).split(':')[0]}") from error
    except RecursionError as error:
        raise _invalid("request body is nested too deeply") from error
    if repeated and not keep_last_of_repeats:
        raise _invalid(f"request body gives {_repeated_path(value, repeated[0])} twice; send each name once in an object")
    return value


class _Repeats(dict):
    """A JSON object that gave a name twice (``repeated``, the first such name); its values are the last given."""

    repeated: str


def _object_noting_repeats(repeated: list[_Repeats], pairs: list[tuple[str, Any]]) -> dict:
    """``json.loads``'s ``object_pairs_hook``: the object as a dict, and, when it gives a name twice, appended to
    ``repeated`` (as a ``_Repeats`` naming the first such name). A dict and a length check: a body of 8 MiB of tiny
    objects (a million) is read in about 0.25 s more, a real one of 100 long comments in no more time."""
    found = dict(pairs)
    if len(found) == len(pairs):
        return found
    marked = _Repeats(found)
    names: set[str] = set()
    for name, _ in pairs:
        if name in names:
            marked.repeated = name
            break
        names.add(name)
    repeated.append(marked)
    return marked


def _repeated_path(value: Any, marked: _Repeats) -> str:
    """Where in ``value`` the repeated name of ``marked`` is, as messages name fields (``comments[0].text``)."""
    stack: list[tuple[Any, str]] = [(value, "")]
    while stack:  # not recursive: the body may be nested as deep as json.loads reads
        item, path = stack.pop()
        if item is marked:
            return path + shown_name(marked.repeated)
        if isinstance(item, dict):
            stack.extend((child, f"{path}{shown_name(name)}.") for name, child in item.items())
        elif isinstance(item, list):
            stack.extend((child, f"{path[:-1] if path else ''}[{index}].") for index, child in enumerate(item))
    return shown_name(marked.repeated)


@bp.post("/v1/moderate")
@operation(
    summary="Moderate comments",
    description="Score, explain and decide up to the configured number of comments, returned in order.",
    request=ModerateRequestSchema,
    response=ModerateResponseSchema,
    errors=(*SCOPED, "too_much_text", "scoring_limited"),
    example=MODERATE_REQUEST_EXAMPLE,
)
@require_scope(MODERATE_SCOPE)
def moderate() -> ResponseReturnValue:
    """Score, explain and decide every comment of the request, in order; log them unless do_not_store."""
    body = load(ModerateRequestSchema, _json_body(MODERATE_EXAMPLE), MODERATE_EXAMPLE)
    comments = body["comments"]
    texts = [comment["text"] for comment in comments]
    n_chars = sum(map(len, texts))
    check_request_chars(n_chars, "send its comments in several requests")
    charge(len(texts), n_chars)
    scorer = _scorer()
    decisions = scorer.moderate(texts, with_spans=True)
    ids = [comment["id"] for comment in comments]
    record_decisions(ids, texts, decisions, surface=SURFACE, do_not_store=body["do_not_store"])
    results = [{"id": comment_id, **decision.to_dict()} for comment_id, decision in zip(ids, decisions, strict=True)]
    return jsonify({"model_version": scorer.model_version, "request_id": g.get("request_id"), "results": results})


@bp.post("/v1/feedback")
@operation(
    summary="Send a moderator's decision",
    description=(
        "Store a moderator's final decision and/or attribute labels for a comment (by id, text or both) "
        "as training data. The text, when sent, is stored; send it with the id unless the server keeps texts "
        "(STORE_TEXT), else retraining has no text to pair the verdict with. The same feedback sent again (a retry) while it is still this "
        "key's last on the comment is answered 201 with the first one's id and not stored again."
    ),
    request=FeedbackRequestSchema,
    response=FeedbackResponseSchema,
    status=201,
    errors=SCOPED,
    example=json.loads(FEEDBACK_EXAMPLE),
)
@require_scope(FEEDBACK_SCOPE)
def feedback() -> ResponseReturnValue:
    """Store one piece of moderator feedback; answer 201 with its id."""
    body = load(FeedbackRequestSchema, _json_body(FEEDBACK_EXAMPLE), FEEDBACK_EXAMPLE)
    comment_id, text, decision, labels = body.get("comment_id"), _given_text(body.get("text")), body.get("decision"), body.get("labels")
    _one_at_a_time(comment_id, text)
    feedback_id = _same_as_last(comment_id, text, decision, labels)
    if feedback_id is None:
        feedback_id = save_feedback(comment_id=comment_id, text=text, decision=decision, labels=labels, source=FEEDBACK_SOURCE)
    else:
        get_session().rollback()  # nothing to store: let the lock go now
    return jsonify({"id": feedback_id, "request_id": g.get("request_id")}), 201


def _one_at_a_time(comment_id: str | None, text: str | None) -> None:
    """Hold, until this request's transaction ends, a lock that another feedback of this key on the same comment waits
    for: a retry sent while the first copy was still being stored found no copy, and both were stored. PostgreSQL: an
    advisory lock on the key and comment; SQLite: its write lock (``BEGIN IMMEDIATE``), taken before the look-up."""
    connection = get_session().connection()
    if connection.dialect.name == "postgresql":
        named = f"{g.get('api_key_id')}\0{comment_id if comment_id is not None else sha256_text(text or '')}"
        lock = int.from_bytes(hashlib.sha256(named.encode("utf-8")).digest()[:8], "big", signed=True)
        connection.execute(select(func.pg_advisory_xact_lock(lock)))
    elif connection.dialect.name == "sqlite" and not connection.connection.dbapi_connection.in_transaction:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def _same_as_last(comment_id: str | None, text: str | None, decision: str | None, labels: dict | None) -> int | None:
    """The id of the last feedback under this key on the comment (by its id, else its text) when that is a
    ``/v1/feedback`` with the same text, decision and labels, else None: a CMS that retries after a timeout sends it
    again, and each copy was stored, so the export had it twice (and a comment named by its text alone trained twice).
    Feedback that differs from the last is stored, as is a verdict given again after another one (on the moderation
    page too): either is a correction. So is a verdict by comment id alone on a comment scored again since the last one
    (``_scored_since``): the comment was edited, and this judges its new text. Copies arriving together are looked up
    one at a time (``_one_at_a_time``)."""
    key_id = g.get("api_key_id")
    query = select(Feedback).where(
        Feedback.api_key_id.is_(None) if key_id is None else Feedback.api_key_id == key_id,
        Feedback.comment_id.is_(None) if comment_id is None else Feedback.comment_id == comment_id,
    )
    if comment_id is None:  # a comment named by its text alone
        query = query.where(Feedback.text_sha256 == sha256_text(text or ""))
    last = get_session().scalars(query.order_by(Feedback.id.desc()).limit(1)).first()
    if last is None or (last.source, last.text, last.decision, last.labels) != (FEEDBACK_SOURCE, text, decision, labels):
        return None
    if text is None and _scored_since(comment_id, last.created_at):
        return None
    return last.id


def _scored_since(comment_id: str, moment: Any) -> bool:
    """Whether the decision log has comment ``comment_id`` scored after ``moment`` (under any key: the CMS may score
    with one key and send feedback with another): the same verdict sent by id after it is one on the edited text, which
    the export pairs with that text, not a retry (storing it once was storing only the verdict on the old text)."""
    query = select(DecisionRecord.id).where(DecisionRecord.comment_id == comment_id, DecisionRecord.created_at > moment)
    return get_session().scalar(query.limit(1)) is not None


def _given_text(text: str | None) -> str | None:
    """A feedback's text, None when blank: a CMS sending ``"text": ""`` beside the comment id gives no text, and a blank one
    stored was exported as the comment's text in place of the one its decision logged, so training left the row out."""
    return text if text is not None and text.strip() else None


def model_card(bundle: Any, policy: Policy | None = None) -> dict:
    """A model card summary from the bundle: use, limits, data, metrics, and the decision thresholds and word-span floor
    of the served ``policy`` (a site's ``POLICY`` file; ``None``: the bundle's own ``policy.toml``)."""
    policy = bundle.policy if policy is None else policy
    manifest = bundle.manifest
    encoder_training = manifest.get("encoder_training", {})
    return {
        "model_version": bundle.version,
        "created": manifest.get("created"),
        "attributes": list(bundle.attributes),
        "intended_use": INTENDED_USE,
        "limitations": list(LIMITATIONS),
        "training_rows": manifest.get("training_rows", encoder_training.get("rows")),
        "datasets": _tfidf_datasets(manifest) or _encoder_datasets(manifest),
        "test_metrics": manifest.get("test_metrics", {}),
        "thresholds": {"reject": dict(policy.reject), "review": dict(policy.review)},
        "span_thresholds": served_span_thresholds(bundle.model, policy.span_floor),
    }


def _tfidf_datasets(manifest: dict) -> dict:
    """A TF-IDF bundle's datasets, with the sets added to its heads' rows from 1.3.0 on (``added_sets``, role training)."""
    added = {name: {**entry, "role": "training"} for name, entry in manifest.get("added_sets", {}).items()}
    return {**manifest.get("datasets", {}), **added}


def _encoder_datasets(manifest: dict) -> dict:
    """An encoder bundle's training rows by source (its manifest has no ``datasets``), each with its licence where the
    manifest names it (the sets it added to its base bundle's; the others are listed in the base bundle's manifest)."""
    licences = manifest.get("encoder_datasets", {})
    rows = manifest.get("encoder_training", {}).get("rows_by_source", {})
    return {source: {"rows": n, **({"license": licences[source]} if source in licences else {})} for source, n in rows.items()}


@bp.get("/v1/model")
@operation(
    summary="Describe the served model",
    description="The bundle's manifest and a model card summary (intended use, limitations, data, metrics, thresholds).",
    response=ModelResponseSchema,
    errors=KEYED,
)
@require_api_key
def model() -> ResponseReturnValue:
    """Return the served bundle's model card summary and manifest, and the encoder mode it is served in."""
    scorer = _scorer()
    bundle = scorer.bundle
    return jsonify({"model_version": bundle.version, "encoder_mode": scorer.encoder_mode,
                    "card": model_card(bundle, scorer.policy),
                    "manifest": without_fingerprint(bundle.manifest)})
