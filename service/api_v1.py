"""Our JSON API: ``POST /v1/moderate`` and ``GET /healthz``."""

from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, current_app, jsonify, request
from flask.typing import ResponseReturnValue

from service.config import EXTENSION_KEY
from service.errors import ApiError

bp = Blueprint("api_v1", __name__)

INVALID_REQUEST = "invalid_request"


def _invalid(message: str) -> ApiError:
    """Return the 400 error for a request the client must fix."""
    return ApiError(400, INVALID_REQUEST, message)


def _scorer() -> Any:
    """The Scorer loaded by ``create_app``."""
    return current_app.extensions[EXTENSION_KEY]


def _json_body() -> Any:
    """Decode the request body as UTF-8 JSON, whatever the Content-Type says."""
    raw = request.get_data(cache=False)
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise _invalid(f"request body is not valid UTF-8 (byte {error.start}); send UTF-8 JSON") from error
    if not text.strip():
        raise _invalid('request body is empty; send JSON like {"comments": [{"id": "c1", "text": "..."}]}')
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise _invalid(
            f"request body is not valid JSON: {error.msg} at line {error.lineno} column {error.colno}"
        ) from error
    except ValueError as error:  # an integer literal over Python's digit limit
        raise _invalid(f"request body is not acceptable JSON: {str(error).split(':')[0]}") from error
    except RecursionError as error:
        raise _invalid("request body is nested too deeply") from error


def _check_string(value: Any, field: str, *, max_chars: int | None = None, non_empty: bool = False) -> str:
    """Return ``value`` if it is a well-formed string, else raise a 400 naming ``field``."""
    if not isinstance(value, str) or (non_empty and not value):
        raise _invalid(f"{field} must be a {'non-empty ' if non_empty else ''}string")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as error:
        raise _invalid(f"{field} contains an unpaired surrogate at character {error.start}") from error
    if max_chars is not None and len(value) > max_chars:
        raise _invalid(f"{field} has {len(value)} characters; the limit is {max_chars}")
    return value


def parse_comments(body: Any, max_comments: int, max_chars: int) -> list[tuple[str, str]]:
    """Validate a ``/v1/moderate`` body and return its ``(id, text)`` pairs in order."""
    if not isinstance(body, dict):
        raise _invalid('request body must be a JSON object like {"comments": [...]}')
    if "comments" not in body:
        raise _invalid("comments is required")
    comments = body["comments"]
    if not isinstance(comments, list):
        raise _invalid("comments must be a list of {id, text} objects")
    if not comments:
        raise _invalid("comments must not be empty")
    if len(comments) > max_comments:
        raise _invalid(f"comments has {len(comments)} items; the limit is {max_comments} per request")
    pairs = []
    for index, comment in enumerate(comments):
        field = f"comments[{index}]"
        if not isinstance(comment, dict):
            raise _invalid(f"{field} must be an object with id and text")
        comment_id = _check_string(comment.get("id"), f"{field}.id", non_empty=True)
        text = _check_string(comment.get("text"), f"{field}.text", max_chars=max_chars)
        pairs.append((comment_id, text))
    return pairs


@bp.post("/v1/moderate")
def moderate() -> ResponseReturnValue:
    """Score, explain and decide every comment of the request, in order."""
    pairs = parse_comments(
        _json_body(),
        max_comments=current_app.config["MAX_COMMENTS_PER_REQUEST"],
        max_chars=current_app.config["MAX_COMMENT_CHARS"],
    )
    scorer = _scorer()
    decisions = scorer.moderate([text for _, text in pairs], with_spans=True)
    results = [{"id": comment_id, **decision.to_dict()} for (comment_id, _), decision in zip(pairs, decisions)]
    return jsonify({"model_version": scorer.model_version, "results": results})


@bp.get("/healthz")
def healthz() -> ResponseReturnValue:
    """Report that the model is loaded (``create_app`` loads it before serving)."""
    return jsonify({"status": "ok", "model_version": _scorer().model_version})
