"""Per-key rate limits with Flask-Limiter on the API blueprints; 429 JSON with ``Retry-After``.

One shared budget (``RATE_LIMIT``, e.g. "600 per minute") per API key covers every API surface
(``/v1`` and, when registered, the Perspective-compatible ``/v1alpha1`` and Google's ``/batch``). It counts HTTP
requests: a ``/v1/moderate`` of 100 comments counts once (its comments count in ``KEY_COMMENT_LIMIT``), and a batch
counts once itself and once more for each call it holds, which runs as a request of its own, as Google counts a batch
of n calls as n requests. Requests without a key (a batch itself), and every request when keys are not required
(``AUTH_REQUIRED`` false: an unchecked key would be a fresh budget), count against the client address. Coral's
endpoint has its own limit (``CORAL_RATE_LIMIT``) per client address (an IPv6 one's /64, as every limit per
address: ``service.budgets.limited_address``). Operations endpoints (health, metrics, docs)
are never limited. Other budgets (failed authentications, comments and characters per key) are counted in the same
storage (``service.budgets``).
One request may carry at most ``MAX_REQUEST_CHARS`` characters of comment text to score
(``check_request_chars``): more is refused whole with 413 before anything is scored, so that no request
outlasts gunicorn's ``TIMEOUT_SECONDS``; and every API surface reads its body with ``read_body``, which refuses one
over ``MAX_CONTENT_LENGTH`` (413) however it was sent.
Counts live in ``RATELIMIT_STORAGE_URI``: ``memory://`` counts in each worker process, so with N
workers a key can reach up to N times the limit; point it at Redis or Memcached to share counts.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from flask import Flask, Response, current_app, g, request
from flask_limiter import Limiter
from limits.storage import MemoryStorage
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.middleware.proxy_fix import ProxyFix

from service.auth import rate_limit_identity
from service.budgets import LIMIT_HEADERS, init_budgets, limited_address
from service.errors import ApiError
from service.metrics import count_limited
from service.redis_client import storage_options

RATE_LIMITED_BLUEPRINTS = ("api_v1", "perspective", "google_batch")
"""Blueprints under the per-key limit, by name; one that is not registered is skipped. Google's batch is one request
like any other (read and parsed whole, even when refused), and each call inside it counts again as it runs."""
LIMIT_SCOPE = "api"
CORAL_BLUEPRINT = "coral"
"""Coral's endpoint has its own limit (``CORAL_RATE_LIMIT``) per client address: Coral sends no API key."""
REQUEST_COUNT = "requests"
SIGN_IN_COUNT = "sign_in"
SIGN_IN_ENDPOINT = "ui.sign_in"
"""The moderation page's sign-in view (``service.ui.signin``), limited per address by ``SIGN_IN_RATE_LIMIT``."""
MIN_RETRY_AFTER_SECONDS = 1
RETRY_AFTER = "Retry-After"
TOO_MANY_REQUESTS = 429
MEMORY_URI = "memory://"
SWEPT_MEMORY_SCHEME = "moderation-memory"
"""``memory://`` is served by ``SweptMemoryStorage``, registered with limits under this scheme."""
SWEEP_SECONDS = 1.0
"""How often, at most, a worker drops expired counts from its memory."""
REQUEST_CHARS_SETTING = "MAX_REQUEST_CHARS"
TOO_MUCH_TEXT = "too_much_text"
"""The error code of a request over ``MAX_REQUEST_CHARS`` (413; Google's ErrorInfo reason ``TOO_MUCH_TEXT``)."""
PAYLOAD_TOO_LARGE = 413


class SweptMemoryStorage(MemoryStorage):
    """limits' ``memory://`` storage without a new thread per request.

    ``MemoryStorage`` starts a 10 ms ``threading.Timer`` on every hit whose previous timer has run, that is
    on almost every request of a server, only to drop expired counts from memory (a count past its
    window is already ignored when read). Here the request that comes at least ``SWEEP_SECONDS`` after
    the last sweep does it inline instead; counting and every strategy are limits' own.
    """

    STORAGE_SCHEME = [SWEPT_MEMORY_SCHEME]

    def __init__(self, uri: str | None = None, wrap_exceptions: bool = False, **options: Any):
        super().__init__(uri, wrap_exceptions=wrap_exceptions, **options)
        self._sweep_lock = threading.Lock()
        self._next_sweep = 0.0

    def _MemoryStorage__schedule_expiry(self) -> None:  # replaces MemoryStorage's private timer start
        now = time.monotonic()
        if now < self._next_sweep or not self._sweep_lock.acquire(blocking=False):
            return
        try:
            self._next_sweep = now + SWEEP_SECONDS
            self._MemoryStorage__expire_events()
        finally:
            self._sweep_lock.release()


def _rate_limit() -> str:
    return current_app.config["RATE_LIMIT"]


def init_rate_limits(app: Flask) -> Limiter:
    """Create the app's Limiter and put the registered API blueprints under the shared per-key limit.

    Call after the blueprints are registered; ``service.config_checks`` has checked the limits parse.
    """
    # Registered before the Limiter's own hook, so it runs after it (Flask runs after_request hooks in reverse).
    app.after_request(_tidy_retry_after)
    hops = int(app.config["TRUSTED_PROXY_HOPS"])
    if hops:
        # Behind a load balancer every request comes from it: the client is in X-Forwarded-For, and the URL the
        # client used (which the discovery document hands to Google's clients) in X-Forwarded-Proto, -Host, -Prefix.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops,  # type: ignore[method-assign]
                                x_prefix=hops)
    storage_uri = app.config["RATELIMIT_STORAGE_URI"]
    if storage_uri == MEMORY_URI:
        storage_uri = f"{SWEPT_MEMORY_SCHEME}://"
    # Short timeouts and fail-fast calls for a Redis that does not answer (service.redis_client); an operator's
    # RATELIMIT_STORAGE_OPTIONS, which Flask-Limiter reads itself, win over them.
    limiter = Limiter(rate_limit_identity, app=app, storage_uri=storage_uri, storage_options=storage_options(storage_uri))
    limiter.request_filter(_is_preflight)
    shared = limiter.shared_limit(_rate_limit, scope=LIMIT_SCOPE)
    for name in RATE_LIMITED_BLUEPRINTS:
        blueprint = app.blueprints.get(name)
        if blueprint is not None:
            shared(blueprint)
    coral = app.blueprints.get(CORAL_BLUEPRINT)
    if coral is not None:
        limiter.limit(_coral_rate_limit, key_func=limited_address, scope=CORAL_BLUEPRINT)(coral)
    init_budgets(app, limiter.storage)
    return limiter


def _is_preflight() -> bool:
    """A CORS preflight (``OPTIONS``) is never limited: it scores nothing, a browser sends one before each new request
    it must check, and one answered 429 fails the page's request with a bare network error, whose ``Retry-After`` the
    page cannot read."""
    return request.method == "OPTIONS"


def check_request_chars(n_chars: int, split: str) -> None:
    """Refuse (413) a request with more than ``MAX_REQUEST_CHARS`` characters of comment text to score in all; call it
    before scoring any. ``split`` tells the client how to send the same text in smaller requests."""
    limit = int(current_app.config[REQUEST_CHARS_SETTING])
    if n_chars > limit:
        raise ApiError(PAYLOAD_TOO_LARGE, TOO_MUCH_TEXT,
                       f"this request has {n_chars} characters of comment text to score; the limit is {limit} per "
                       f"request ({REQUEST_CHARS_SETTING}): {split}")


def read_body(cache: bool = True) -> bytes:
    """The request body; 413 (``RequestEntityTooLarge``, in the surface's own error shape) for one sent without a
    Content-Length (chunked) that is over ``MAX_CONTENT_LENGTH``, as for one whose Content-Length is.

    Werkzeug cuts such a body at the limit without a word (it raises only for a Content-Length over it), so the
    client was told its JSON was broken ("Unterminated string"), Coral that its signature was wrong, and a batch was
    run without its last requests. ``cache`` false for a caller that reads the body once: it is then not kept.
    """
    raw = request.get_data(cache=cache)
    limit = request.max_content_length
    if request.content_length is None and limit is not None and len(raw) >= limit and request.environ["wsgi.input"].read(1):
        raise RequestEntityTooLarge()
    return raw


def _coral_rate_limit() -> str:
    return current_app.config["CORAL_RATE_LIMIT"]


RATE_LIMIT_HEADER_PREFIX = "X-RateLimit-"


def _limit_name() -> str:
    """The ``limit`` label of a 429 Flask-Limiter gave: Coral's, the moderation page's sign-in, or the API's request count."""
    if request.blueprint == CORAL_BLUEPRINT:
        return CORAL_BLUEPRINT
    return SIGN_IN_COUNT if request.endpoint == SIGN_IN_ENDPOINT else REQUEST_COUNT


def _tidy_retry_after(response: Response) -> Response:
    """Flask-Limiter puts its window's reset into ``Retry-After`` on every answer: keep it on 429 only (at
    least one second); elsewhere keep only what the app asked for in ``g.retry_after`` (a 503, say)."""
    if response.status_code == TOO_MANY_REQUESTS and LIMIT_HEADERS in g:
        # One of our budgets refused it: its headers, not those of the request count, tell the client when to retry.
        # A budget without a window (the concurrent requests) has no X-RateLimit-* to give, and the request count's
        # ("Remaining: 599") would say that nothing ran out: none are sent.
        budget = g.get(LIMIT_HEADERS)
        for name in [name for name in response.headers.keys() if name.startswith(RATE_LIMIT_HEADER_PREFIX) and name not in budget]:
            del response.headers[name]
        for name, value in budget.items():
            response.headers[name] = value
    elif response.status_code == TOO_MANY_REQUESTS:
        count_limited(_limit_name())
        try:
            seconds = int(response.headers.get(RETRY_AFTER, MIN_RETRY_AFTER_SECONDS))
        except ValueError:  # an HTTP date: leave it
            return response
        response.headers[RETRY_AFTER] = str(max(seconds, MIN_RETRY_AFTER_SECONDS))
    elif "retry_after" in g:
        response.headers[RETRY_AFTER] = str(g.retry_after)
    else:
        response.headers.pop(RETRY_AFTER, None)
    return response
