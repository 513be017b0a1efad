"""Coral Talk's external moderation phase: ``POST /coral/v1/moderate`` checks X-Coral-Signature and maps our Decision.

Coral (``server/src/core/server/services/comments/pipeline/phases/external.ts``) POSTs an External
Moderation Request signed like its webhooks: ``X-Coral-Signature: sha256=<hex>[,sha256=<hex>]``, one
HMAC-SHA256 of the raw body per active signing secret (more than one while rotated secrets are still valid). It
waits ``timeout`` milliseconds (200 by default in its admin form), then skips the phase.

Answers, from Coral's EXTERNAL_MODERATION_PHASES.md:

- approve: 204, no opinion; Coral's own settings (pre- or post-moderation) decide.
- review: 200 ``{"status": "SYSTEM_WITHHELD", "actions": [FLAG ...]}``, the comment waits in the Pending queue.
- reject: 200 ``{"status": "REJECTED", "actions": [FLAG ...]}``.

Coral's response validator accepts only the flag reasons ``COMMENT_DETECTED_TOXIC`` and
``COMMENT_DETECTED_SPAM`` and drops the whole answer for any other, so a decision whose reasons are
neither hostility nor spam (an unsupported claim) is withheld or rejected without a flag.

The decision is logged once the answer has been sent (``record_decisions(after=...)``): an answer that waited on
the database (another writer's lock, a server gone silent) came after Coral's timeout, and the comment went out
unmoderated. A signed body seen again within ``CORAL_REPLAY_SECONDS`` by the same bundle version gets its first answer
back without being scored or logged again (``service.replays``); the endpoint has its own rate limit per client address
(``CORAL_RATE_LIMIT``, ``service.limits``). A body over ``MAX_CONTENT_LENGTH`` gets a 413 of its own (``too_large``):
the app's advice to send fewer comments per request does not fit Coral, which sends one.
"""

from __future__ import annotations

import html
import hashlib
import hmac
import logging
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import RequestEntityTooLarge

from model.attributes import HOSTILITY_ATTRIBUTES
from model.results import Decision, Reason
from service.api_v1 import _json_body as json_body
from service.config import EXTENSION_KEY
from service.errors import ApiError, error_body
from service.html_text import html_to_text
from service.limits import read_body
from service.metrics import count_coral_replay
from service.replays import REPLAYS_KEY, Answer, body_digest, init_replay_memory
from service.store import record_decisions
from service.text_rules import NUL, character_problem

bp = Blueprint("coral", __name__)
bp.record_once(lambda state: init_replay_memory(state.app))
log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Coral-Signature"
SIGNATURE_PREFIX = "sha256="
TOXIC_FLAG = "COMMENT_DETECTED_TOXIC"
SPAM_FLAG = "COMMENT_DETECTED_SPAM"
FLAG_REASONS = {**{attribute: TOXIC_FLAG for attribute in HOSTILITY_ATTRIBUTES}, "spam": SPAM_FLAG}
"""The Coral flag reason for each attribute behind a decision; attributes not listed raise no flag."""
EXAMPLE = '{"action": "NEW", "comment": {"body": "...", "parentID": null}, ...}'
CORAL_STATUS = {"review": "SYSTEM_WITHHELD", "reject": "REJECTED"}
"""Coral comment status by our action; ``approve`` has none (204)."""
ABUSIVE_REJECTION, SPAM_REJECTION = "ABUSIVE", "SPAM"
"""Coral's rejection reason codes (its DSA ``REJECTION_REASON_CODE``) for a comment rejected as hostile, or as spam."""
TOO_LONG = "too_long"
"""Reason code of a comment longer than ``scored_chars``: withheld for a person, not scored."""
TOO_LARGE_CODE = "request_entity_too_large"
"""Error code of a body over ``MAX_CONTENT_LENGTH`` (413), as on every other surface of our JSON shape."""


def _invalid(message: str) -> ApiError:
    """The 400 for a request body that is not an External Moderation Request."""
    return ApiError(400, "invalid_request", message)


def signing_secrets() -> list[str]:
    """The configured signing secrets: ``CORAL_SECRET`` is one secret or a list (ours rotated too).

    Surrounding whitespace is dropped: Coral's secrets have none (a prefix, ``_`` and hex digits), and a newline
    carried in from a file (``echo SECRET > file`` for a Kubernetes or Docker secret) failed every signature, so that
    Coral published every comment unmoderated.
    """
    configured = current_app.config.get("CORAL_SECRET")
    secrets = [configured] if isinstance(configured, str) else list(configured or [])
    return [secret.strip() for secret in secrets if isinstance(secret, str) and secret.strip()]


def signature_is_valid(body: bytes, header: str | None, secrets: list[str]) -> bool:
    """True if any ``sha256=<hex>`` in ``header`` is the HMAC-SHA256 of ``body`` under any secret."""
    if not header:
        return False
    offered = [
        part.strip()[len(SIGNATURE_PREFIX) :].encode("utf-8", "replace")
        for part in header.split(",")
        if part.strip().startswith(SIGNATURE_PREFIX)
    ]
    expected = [hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest().encode() for secret in secrets]
    # Compare every pair, so the time taken does not depend on which one matched.
    matches = [hmac.compare_digest(good, given) for good in expected for given in offered]
    return any(matches)


def parse_moderation_request(body: Any, body_format: str = "HTML") -> str:
    """Check an External Moderation Request and return the comment's plain text (``body_format``: Coral's HTML, or
    its plain text taken as typed).

    Coral publishes a comment when the phase answers anything but 2xx, so nothing in the comment itself may make
    this a 400: a NUL or an unpaired surrogate is replaced (``scrubbed``) and the comment scored, and a comment of
    any length is accepted (``moderate`` withholds one over ``scored_chars``). Only a body that is not an
    External Moderation Request at all is refused.
    """
    if not isinstance(body, dict):
        raise _invalid(f"request body must be a JSON object like {EXAMPLE}")
    comment = body.get("comment")
    if not isinstance(comment, dict):
        raise _invalid("comment must be an object with body")
    text = comment.get("body")
    if not isinstance(text, str):
        raise _invalid("comment.body must be a string")
    parent_id = comment.get("parentID")
    if parent_id is not None and not isinstance(parent_id, str):
        raise _invalid("comment.parentID must be a string or null")
    action = body.get("action")
    if action is not None and not isinstance(action, str):
        raise _invalid('action must be "NEW" or "EDIT"')
    text = scrubbed(text)
    # Plain text from older Coral (striptags alone, before its getHTMLPlainText decoded entities) still holds
    # "&nbsp;" and "&amp;": decoded, as a reader saw them. Current Coral sends them decoded, so this changes nothing there.
    return html_to_text(text) if body_format == "HTML" else html.unescape(text)


def scrubbed(text: str) -> str:
    """``text`` with NUL characters as spaces and unpaired surrogates as U+FFFD: a comment to score, not to refuse."""
    text = text.replace(NUL, " ")
    if character_problem(text) is None:
        return text
    return "".join("\ufffd" if 0xD800 <= ord(character) <= 0xDFFF else character for character in text)


def scored_chars(config) -> int:
    """Longest comment text the phase scores: ``CORAL_MAX_SCORED_CHARS``, and never more than ``MAX_COMMENT_CHARS``."""
    return min(int(config["CORAL_MAX_SCORED_CHARS"]), int(config["MAX_COMMENT_CHARS"]))


def withheld_unscored(version: str) -> Decision:
    """The decision on a comment too long to score within Coral's timeout: a person reads it (fail closed)."""
    return Decision("review", (Reason(TOO_LONG, "review"),), {}, model_version=version)


def coral_response(decision: Any) -> Response:
    """Map our Decision to Coral's External Moderation Response (204 when we have nothing to say)."""
    status = CORAL_STATUS.get(decision.action)
    if status is None:
        return Response(status=204)
    flags = dict.fromkeys(FLAG_REASONS[r.attribute] for r in decision.reasons if r.attribute in FLAG_REASONS)
    body: dict[str, Any] = {"status": status}
    if flags:
        body["actions"] = [{"actionType": "FLAG", "reason": reason} for reason in flags]
    if decision.action == "reject":
        # Coral with its Digital Services Act features on (v8.7+, coralproject/talk#4516) records a rejection with its
        # reason and tells the author only when the phase sends a moderationAction; older Coral drops the key.
        code = SPAM_REJECTION if list(flags) == [SPAM_FLAG] else ABUSIVE_REJECTION
        body["moderationAction"] = {"status": status, "rejectionReason": {"code": code}}
    return jsonify(body)


def too_large(error: RequestEntityTooLarge) -> Response:
    """The 413 of a body over ``MAX_CONTENT_LENGTH``, in our JSON error shape, saying what the operator can do: the
    app's "send fewer comments per request" means nothing to Coral, which sends one comment per request."""
    config = current_app.config
    message = (f"request body is larger than {config['MAX_CONTENT_LENGTH']} bytes (MAX_CONTENT_LENGTH); Coral sends one "
               "comment per request, so to have comments this long moderated raise MODERATION_MAX_CONTENT_LENGTH (one "
               f"longer than CORAL_MAX_SCORED_CHARS, {scored_chars(config)} characters, is withheld for review unscored)")
    response = error.get_response()
    response.set_data(jsonify(error_body(TOO_LARGE_CODE, message)).get_data())
    response.content_type = "application/json"
    return response


bp.register_error_handler(RequestEntityTooLarge, too_large)


# strict_slashes off: Coral publishes every comment when its phase URL answers 404, and an operator may well type it
# with a trailing slash.
@bp.post("/coral/v1/moderate", strict_slashes=False)
def moderate() -> ResponseReturnValue:
    """Moderate one Coral comment: verify the signature, score without spans (fast), answer Coral."""
    secrets = signing_secrets()
    if not secrets:
        raise ApiError(
            503,
            "coral_not_configured",
            "the Coral endpoint is off: set MODERATION_CORAL_SECRET to the signing secret of Coral's external moderation phase",
        )
    body = read_body()  # the whole body Coral signed: a chunked one over MAX_CONTENT_LENGTH is a 413, not a bad signature
    if not signature_is_valid(body, request.headers.get(SIGNATURE_HEADER), secrets):
        raise ApiError(
            401,
            "invalid_signature",
            f"{SIGNATURE_HEADER} is missing or matches no configured secret; check MODERATION_CORAL_SECRET",
        )
    if not body.strip():
        raise _invalid(f"request body is empty; send Coral's External Moderation Request like {EXAMPLE}")
    memory = current_app.extensions[REPLAYS_KEY]
    scorer = current_app.extensions[EXTENSION_KEY]
    digest = body_digest(body, scorer.model_version)
    seen = memory.get(digest)
    if seen is not None:
        log.warning("coral: a signed body seen within CORAL_REPLAY_SECONDS was answered from memory, not scored again")
        count_coral_replay()
        return Response(seen.body, status=seen.status, mimetype="application/json" if seen.body else None)
    # A name given twice keeps its last value, as Coral's JSON.parse reads the body it signed: a 400 would publish it.
    text = parse_moderation_request(json_body(keep_last_of_repeats=True), current_app.config["CORAL_BODY_FORMAT"])
    if len(text) > scored_chars(current_app.config):
        log.warning("coral: a comment of %d characters (over CORAL_MAX_SCORED_CHARS) was withheld for review "
                    "without scoring", len(text))
        decision = withheld_unscored(scorer.model_version)
    else:
        decision = scorer.moderate([text], with_spans=False)[0]
    response = coral_response(decision)
    # Logged once the answer is sent: an answer that waited on the database (another writer's lock, a server gone
    # silent) came after Coral's timeout, and Coral published the comment unmoderated.
    record_decisions([None], [text], [decision], surface="coral", do_not_store=False, after=response)
    memory.put(digest, Answer(response.status_code, response.get_data()))
    return response
