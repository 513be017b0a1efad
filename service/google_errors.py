"""Google's JSON error shape, ``{"error": {"code", "message", "status", "details"}}``, for the Google-compatible surfaces.

Google's clients (googleapiclient's ``HttpError``, Perspective client libraries, Coral Talk) read this shape,
so the Perspective blueprint and the discovery document answer every error in it.
"""

from __future__ import annotations

from collections.abc import Iterable

from flask import Blueprint, Response, current_app, json, request
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from service.errors import ApiError

# google.rpc.Code names by HTTP status, as Google's own APIs pair them.
GOOGLE_STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    405: "UNIMPLEMENTED",
    409: "ABORTED",
    413: "INVALID_ARGUMENT",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    501: "UNIMPLEMENTED",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}

ERROR_INFO_TYPE = "type.googleapis.com/google.rpc.ErrorInfo"
BAD_REQUEST_TYPE = "type.googleapis.com/google.rpc.BadRequest"
PERSPECTIVE_ERROR_TYPE = "type.googleapis.com/google.commentanalyzer.v1alpha1.Error"


class GoogleApiError(ApiError):
    """An ApiError that carries Google's ``details`` (field violations, Perspective's ``errorType``)."""

    def __init__(self, status: int, message: str, details: Iterable[dict] = (), code: str = "invalid_argument"):
        super().__init__(status, code, message)
        self.details = list(details)


def google_status(status: int) -> str:
    """Google's status name for an HTTP status."""
    return GOOGLE_STATUS.get(status, "FAILED_PRECONDITION" if status < 500 else "INTERNAL")


def field_violation(field: str, description: str) -> dict:
    """A ``google.rpc.BadRequest`` detail naming the request field to fix."""
    return {"@type": BAD_REQUEST_TYPE, "fieldViolations": [{"field": field, "description": description}]}


def perspective_error(error_type: str, **extra: object) -> dict:
    """A Perspective error detail, e.g. ``errorType: LANGUAGE_NOT_SUPPORTED_BY_ATTRIBUTE``."""
    return {"@type": PERSPECTIVE_ERROR_TYPE, "errorType": error_type, **extra}


def error_info(reason: str) -> dict:
    """A ``google.rpc.ErrorInfo`` detail: a machine-readable reason such as ``API_KEY_INVALID``."""
    return {"@type": ERROR_INFO_TYPE, "reason": reason, "domain": request.host}


def invalid_argument(field: str, message: str) -> GoogleApiError:
    """The 400 for a request field the client must fix."""
    return GoogleApiError(400, message, [field_violation(field, message)] if field else [])


def error_body(status: int, message: str, details: list[dict]) -> dict:
    """Google's error body."""
    return {"error": {"code": status, "message": message, "status": google_status(status), "details": details}}


def _json(body: dict) -> bytes:
    """Serialise with the app's JSON provider (keeps key order)."""
    return json.dumps(body).encode()


def handle_api_error(error: ApiError) -> Response:
    """Render an ApiError (ours, or service.auth's 401/403) in Google's shape."""
    details = getattr(error, "details", None) or [error_info(error.code.upper())]
    body = error_body(error.status, error.message, details)
    return Response(_json(body), status=error.status, headers=getattr(error, "headers", None), mimetype="application/json")


def handle_http_exception(error: HTTPException) -> Response:
    """Render a werkzeug error (404, 405, 413, 429 from the rate limiter) in Google's shape, keeping its headers."""
    status = error.code or 500
    message = error.description or error.name
    if isinstance(error, RequestEntityTooLarge) and current_app.config.get("MAX_CONTENT_LENGTH"):
        message = f"request body is larger than {current_app.config['MAX_CONTENT_LENGTH']} bytes"
    reason = "RATE_LIMIT_EXCEEDED" if status == 429 else (error.name or "error").upper().replace(" ", "_")
    response = error.get_response()  # keeps Allow (405) and Retry-After (429)
    response.set_data(_json(error_body(status, message, [error_info(reason)])))
    response.content_type = "application/json"
    return response


def register_google_error_handlers(bp: Blueprint) -> None:
    """Render the blueprint's errors in Google's shape; as in service.errors, nothing for bare Exception."""
    bp.register_error_handler(ApiError, handle_api_error)
    bp.register_error_handler(HTTPException, handle_http_exception)
