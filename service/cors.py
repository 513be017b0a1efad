"""Cross-origin requests from browsers (CORS) to the API surfaces, off unless ``CORS_ORIGINS`` names the sites.

Some Perspective integrations call ``comments:analyze`` straight from the reader's browser (a comment box that
warns before posting). A browser sends such a call only if the answer allows the page's origin, so an operator
who wants that lists the sites' origins in ``CORS_ORIGINS`` (``["https://news.example"]``; ``["*"]`` allows any
site). The default allows none: a key in a web page is readable by anyone, so give such pages a key of their
own with the ``moderate`` scope only and a low ``RATE_LIMIT``. The moderation page (``/ui``) never answers other
origins, whatever the setting.
"""

from __future__ import annotations

from flask import Flask, Response, request

CORS_BLUEPRINTS = frozenset({"api_v1", "perspective", "google_batch", "discovery"})
"""Blueprints (API surfaces) whose answers may allow other origins."""
ALLOWED_HEADERS = "Content-Type, Authorization, X-API-Key, X-Goog-Api-Key, X-Request-ID"
ALLOWED_METHODS = "GET, POST, OPTIONS"
EXPOSED_HEADERS = "Retry-After, X-Request-ID, X-RateLimit-Limit, X-RateLimit-Remaining, X-RateLimit-Reset"
PREFLIGHT_MAX_AGE = "600"
"""Seconds a browser may reuse a preflight answer."""


def allowed_origin(origin: str | None, allowed: list[str] | None) -> str | None:
    """The ``Access-Control-Allow-Origin`` value for a request from ``origin``, or None when it is not allowed."""
    if not origin or not allowed:
        return None
    if "*" in allowed:
        return "*"
    return origin if origin in allowed else None


def init_cors(app: Flask) -> None:
    """Add the CORS headers to the API surfaces' answers (preflights included) for the origins of ``CORS_ORIGINS``."""

    @app.after_request
    def _cors(response: Response) -> Response:
        if request.blueprint not in CORS_BLUEPRINTS:
            return response
        configured = app.config["CORS_ORIGINS"]
        if configured and "*" not in configured:
            # Allowed for some sites and not others, every answer depends on Origin: a shared cache must not give one
            # site's answer (with or without the header) to another.
            response.vary.add("Origin")
        origin = allowed_origin(request.headers.get("Origin"), configured)
        if origin is None:
            return response
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Access-Control-Expose-Headers"] = EXPOSED_HEADERS
        if request.method == "OPTIONS":
            response.headers["Access-Control-Allow-Methods"] = ALLOWED_METHODS
            response.headers["Access-Control-Allow-Headers"] = ALLOWED_HEADERS
            response.headers["Access-Control-Max-Age"] = PREFLIGHT_MAX_AGE
        return response
