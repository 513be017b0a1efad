"""ApiError and the JSON error handlers of the service; ``shown_name``, how long a client's name a message repeats."""

from __future__ import annotations

import re

from flask import Flask, Response, current_app, jsonify, request
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge, TooManyRequests


MAX_SHOWN_NAME_CHARS = 100
"""Most characters of a name the client chose (an unknown field, attribute or label) that an error message repeats."""
ELLIPSIS = "…"


def shown_name(name: str) -> str:
    """``name`` as an error message may repeat it: whole up to ``MAX_SHOWN_NAME_CHARS`` characters, else its start and
    an ellipsis: a 100 kB key name came back whole in the 400 answer (three times in Google's shape)."""
    return name if len(name) <= MAX_SHOWN_NAME_CHARS else name[:MAX_SHOWN_NAME_CHARS] + ELLIPSIS


class ApiError(Exception):
    """An error the client can fix, rendered as ``{"error": {"code", "message"}}`` with ``status``.

    ``headers`` (e.g. ``WWW-Authenticate`` on a 401) are added to the response.
    """

    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = dict(headers or {})


def error_body(code: str, message: str) -> dict:
    """Return the JSON body every error of our API has."""
    return {"error": {"code": code, "message": message}}


def handle_api_error(error: ApiError) -> tuple[Response, int, dict[str, str]]:
    """Render an ApiError as JSON."""
    return jsonify(error_body(error.code, error.message)), error.status, error.headers


def _code_for(error: HTTPException) -> str:
    """Turn werkzeug's name ("Method Not Allowed") into a code ("method_not_allowed")."""
    return re.sub(r"[^a-z0-9]+", "_", (error.name or "error").lower()).strip("_")


def _is_page_path() -> bool:
    """A request that matched no route (an unknown path, a wrong method) under the moderation page's ``/ui``: its
    error is a page too, which the page blueprint's own handler cannot give, since no blueprint was matched."""
    from service.ui.blueprint import bp

    return request.blueprint is None and (request.path == bp.url_prefix or request.path.startswith(f"{bp.url_prefix}/"))


def _page_error(error: HTTPException) -> Response:
    from service.ui import page_error
    from service.ui.headers import add_security_headers

    body, status = page_error(error)
    response = error.get_response()  # its headers (Allow on a 405)
    response.set_data(body)
    response.status_code, response.content_type = status, "text/html; charset=utf-8"
    return add_security_headers(response)


MODERATE_ENDPOINT = "api_v1.moderate"
FEEDBACK_ENDPOINT = "api_v1.feedback"


def too_large_advice() -> str:
    """What a client whose body is over ``MAX_CONTENT_LENGTH`` can do, by route: a feedback is one comment, so "send
    fewer comments per request" (right for /v1/moderate) told its sender nothing it could do."""
    if request.endpoint == FEEDBACK_ENDPOINT:
        return (f"a feedback is one comment, whose text may have {current_app.config['MAX_COMMENT_CHARS']} characters: "
                "send a shorter text, or the comment_id alone")
    if request.endpoint == MODERATE_ENDPOINT:
        return "send fewer comments per request"
    return "send a smaller body"


def handle_http_exception(error: HTTPException) -> Response:
    """Render a werkzeug HTTPException (404, 405, 413, ...) as JSON, keeping its headers (Allow); as a page under /ui."""
    if _is_page_path():
        return _page_error(error)
    message = error.description or error.name
    if isinstance(error, RequestEntityTooLarge) and current_app.config.get("MAX_CONTENT_LENGTH"):
        message = f"request body is larger than {current_app.config['MAX_CONTENT_LENGTH']} bytes; {too_large_advice()}"
    elif isinstance(error, TooManyRequests):
        # Flask-Limiter's description is the limit itself ("600 per 1 minute").
        # Coral's endpoint is limited per client address (it sends no key); every other route per API key.
        whom = "this address" if request.blueprint == "coral" else "this API key"
        message = f"rate limit exceeded ({error.description}) for {whom}; retry after the Retry-After header's seconds"
    response = error.get_response()
    response.set_data(jsonify(error_body(_code_for(error), message)).get_data())
    response.content_type = "application/json"
    return response


def register_error_handlers(app: Flask) -> None:
    """Register the JSON handlers; deliberately none for bare Exception, so bugs stay 500s with tracebacks."""
    app.register_error_handler(ApiError, handle_api_error)
    app.register_error_handler(HTTPException, handle_http_exception)
