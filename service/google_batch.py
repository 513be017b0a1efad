"""Google's batch endpoint (``POST /batch``, the discovery document's ``batchPath``) for the Perspective surface.

Google's client libraries send several API calls in one HTTP request: googleapiclient's
``service.new_batch_http_request()`` (HELM and other research scripts score thousands of comments this way), the Java
and .NET clients' ``BatchRequest``. The body is ``multipart/mixed``; each part (``Content-Type: application/http``)
holds one whole HTTP request, ``POST /v1alpha1/comments:analyze?key=KEY HTTP/1.1`` with its headers and JSON body (the
Java client writes the whole URL, ``POST https://HOST/v1alpha1/...``, and the .NET client no ``HTTP/1.1`` after it),
and the answer is ``multipart/mixed`` too, its boundary not quoted (the .NET client reads it as written), one
``application/http`` part per request, its ``Content-ID`` the request's with ``response-`` in front. Each inner
request goes through the app like any other (its own key, scopes, limits, logs; the batch's client address and
X-Forwarded-* headers, never its own), so a batch can do nothing its requests could not do one by one; the batch
itself counts once more against ``RATE_LIMIT``, by its client address as a request without a key (``service.limits``),
since it is read and parsed whole even when none of its requests runs. Only the Perspective methods are offered. Every
part is read before any is run: a body over ``MAX_CONTENT_LENGTH`` (chunked too), a part that is not an HTTP request,
or comments:analyze texts of more than ``MAX_REQUEST_CHARS`` characters in all (413) refuse the whole batch with
nothing scored.
"""

from __future__ import annotations

import re
import secrets
from email.message import Message
from email.parser import BytesParser
from email.policy import compat32
from http import HTTPStatus
from urllib.parse import unquote, urlsplit

from flask import Blueprint, Response, current_app, json, request
from flask.typing import ResponseReturnValue
from werkzeug.test import Client

from service.errors import shown_name
from service.google_body import is_gzip
from service.google_errors import error_body, error_info, invalid_argument, register_google_error_handlers
from service.limits import check_request_chars, read_body
from service.metrics import BATCH_PART
from service.perspective import ANALYZE_PATH, API_VERSION, PROTO_FIELD_NAMES

bp = Blueprint("google_batch", __name__)
register_google_error_handlers(bp)

BATCH_PATH = "batch"
INNER_PREFIX = f"/{API_VERSION}/"
"""Inner requests must be Perspective calls: paths under this prefix."""
PASSED_ENVIRON = ("REMOTE_ADDR", "HTTP_X_FORWARDED_FOR", "HTTP_X_FORWARDED_PROTO", "HTTP_X_FORWARDED_HOST",
                  "HTTP_X_FORWARDED_PREFIX", "wsgi.url_scheme")
"""What an inner request inherits from the batch: who sent it (limits count per address) and how."""
INHERITED_HEADERS = frozenset(name.removeprefix("HTTP_").replace("_", "-").lower() for name in PASSED_ENVIRON
                              if name.startswith("HTTP_"))
"""Headers of a part that are dropped, not obeyed: the batch's own say who sent it. The load balancer replaces the
outer request's X-Forwarded-For but cannot see inside the body, so a part's own would choose its client address (and
escape AUTH_FAILURE_LIMIT) behind a trusted proxy."""
EXAMPLE = "a multipart/mixed body of application/http parts, as googleapiclient's new_batch_http_request() sends"
SPAN_ANNOTATIONS_NAMES = ("spanAnnotations", *(proto for proto, name in PROTO_FIELD_NAMES.items() if name == "spanAnnotations"))
"""The field asking for a score per sentence, in JSON and proto spelling (as ``service.perspective`` reads it)."""
FOLDING = re.compile(r"\r?\n|\r")
"""Line breaks of a folded header value (RFC 5322 2.2.3); unfolding removes them, keeping the white space after."""
ABSOLUTE_FORM_SCHEMES = ("http://", "https://")
"""How a request target in absolute form (RFC 9112 3.2.2) begins."""
InnerRequest = tuple[str, str, dict[str, str], bytes]
"""(method, path with query, headers, body) of the HTTP request a part holds."""


def _parts(body: bytes, content_type: str) -> list[Message]:
    """The parts of a multipart/mixed body, each its headers and its body unparsed; a 400 unless it is one with at
    least one part, and at most ``MAX_BATCH_REQUESTS``.

    Split here, line by line as the email package finds its boundaries, not by ``email.message_from_bytes``: that parser
    follows every part that says it is multipart itself, one level of recursion each, testing each line against every
    open boundary, so a 250 KB body of 800 nested parts held a worker 15 s, with no key, and one of 1,000 answered 500.
    A part is an HTTP request (``application/http``): nothing inside it is parsed as MIME.
    """
    header = Message()
    header["Content-Type"] = content_type
    boundary = header.get_boundary() if header.get_content_type() == "multipart/mixed" else None
    if not boundary:
        raise invalid_argument("", f"a batch must be multipart/mixed with a boundary: {EXAMPLE}")
    limit = int(current_app.config["MAX_BATCH_REQUESTS"])
    delimiter, raw_parts, current = b"--" + boundary.encode("latin-1"), [], None
    for line in body.splitlines(keepends=True):
        stripped = line.rstrip(b"\r\n")
        if stripped.startswith(delimiter):
            after = stripped[len(delimiter):]
            if after.startswith(b"--") and not after[2:].strip(b" \t"):  # the close delimiter: the epilogue follows
                break
            if not after.strip(b" \t"):
                if current is not None:
                    raw_parts.append(current)
                current = []
                if len(raw_parts) >= limit + 1:
                    break  # enough to refuse the batch: the rest is not read
                continue
        if current is not None:
            current.append(line)
    if current is not None:
        raw_parts.append(current)
    if not raw_parts:
        raise invalid_argument("", f"the batch holds no request: {EXAMPLE}")
    if len(raw_parts) > limit:
        raise invalid_argument("", f"the batch holds more than {limit} requests; the limit is {limit}")
    parser = BytesParser(policy=compat32)
    return [parser.parsebytes(_without_last_line_end(b"".join(lines)), headersonly=True) for lines in raw_parts]


def _without_last_line_end(part: bytes) -> bytes:
    """A part's bytes without the line end before the next delimiter, which belongs to the delimiter (RFC 2046)."""
    for end in (b"\r\n", b"\n", b"\r"):
        if part.endswith(end):
            return part[: -len(end)]
    return part


def _inner_request(part: Message, index: int) -> InnerRequest:
    """(method, path with query, headers, body) of the HTTP request a part holds; a 400 naming the part if none."""
    raw = part.get_payload(decode=True) or b""
    head, _, rest = raw.replace(b"\r\n", b"\n").partition(b"\n")
    method, target = _request_line(head.decode("latin-1"), index)
    inner = BytesParser(policy=compat32).parsebytes(rest, headersonly=True)  # its body is the call's JSON, not MIME
    headers = {name: value for name, value in inner.items()
               if name.lower() not in ("host", "content-length", *INHERITED_HEADERS)}
    payload = inner.get_payload(decode=True) or b""
    return method, _app_target(_origin_form(target)), headers, payload


def _request_line(line: str, index: int) -> tuple[str, str]:
    """(method, target) of a part's request line, ``METHOD TARGET HTTP/1.1``, or ``METHOD TARGET`` as Google's .NET
    client writes it (``POST https://HOST/v1alpha1/comments:analyze?key=KEY``); a 400 naming the part if it is none."""
    fields = line.split()
    if len(fields) == 3 and fields[2].startswith("HTTP/"):
        return fields[0].upper(), fields[1]
    if len(fields) == 2 and fields[0].isalpha() and fields[1].startswith(("/", *ABSOLUTE_FORM_SCHEMES)):
        return fields[0].upper(), fields[1]
    raise invalid_argument(f"part {index + 1}", f"part {index + 1} of the batch does not start with a request "
                                                "line such as 'POST /v1alpha1/comments:analyze?key=KEY HTTP/1.1'")


def _origin_form(target: str) -> str:
    """A request target in absolute form, ``https://HOST/v1alpha1/comments:analyze?key=KEY`` as Google's Java and .NET
    clients write it, as its path and query alone (the form googleapiclient writes); any other target as it is."""
    if not target.lower().startswith(ABSOLUTE_FORM_SCHEMES):
        return target
    url = urlsplit(target)
    return (url.path or "/") + (f"?{url.query}" if url.query else "")


def _app_target(target: str) -> str:
    """A part's request target without the path the service is served under (``X-Forwarded-Prefix`` of a trusted
    proxy): Google's clients write rootUrl's path in front of the method's (``/moderation/v1alpha1/comments:analyze``),
    and the proxy that strips it from the batch's own URL cannot strip it inside the body."""
    prefix = request.script_root
    if prefix and target.startswith(prefix + "/"):
        return target[len(prefix):]
    return target


def _scored_chars(inner: InnerRequest) -> int:
    """Characters of comment text a part sends to be scored: the ``comment.text`` of a comments:analyze, as sent, twice
    with ``spanAnnotations`` (every sentence is scored again on its own); 0 for another method, or a body without
    such a text (the part's own answer refuses it)."""
    method, target, _, body = inner
    if method != "POST" or unquote(urlsplit(target).path) != ANALYZE_PATH:
        return 0
    try:
        analyze = json.loads(body)
    except (ValueError, RecursionError):  # not JSON, not UTF-8, an integer literal over Python's limit, too deep
        return 0
    if not isinstance(analyze, dict):
        return 0
    comment = analyze.get("comment")
    text = comment.get("text") if isinstance(comment, dict) else None
    if not isinstance(text, str):
        return 0
    by_sentence = any(analyze.get(name) is True for name in SPAN_ANNOTATIONS_NAMES)
    return len(text) * (2 if by_sentence else 1)


def _http_part(status: int, headers: list[tuple[str, str]], body: bytes) -> bytes:
    """One answer in application/http form: status line, headers, a blank line, the body (CRLF, as clients split)."""
    reason = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else ""
    lines = [f"HTTP/1.1 {status} {reason}", *(f"{name}: {value}" for name, value in headers)]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def _content_id(part: Message, index: int) -> str:
    """A part's Content-ID without its angle brackets (its number from 1 if it has none), unfolded: googleapiclient's
    email generator folds a header longer than 78 characters (``<uuid +`` CRLF `` request-id>`` for a request id of more
    than about 25, a UUID's 36 among them) and reads the answer's Content-ID unfolded, as ``base + id``; echoed folded,
    its reading of the whole answer failed (``ValueError: not enough values to unpack``) and every answer was lost. A
    Content-ID is ASCII: any other character is escaped (``\\ufffd``), never a 500 for the answer's header."""
    content_id = str(part.get("Content-ID") or f"<{index + 1}>")  # an email Header, not a str, when it is not ASCII
    unfolded = FOLDING.sub("", content_id).strip().strip("<>")
    return unfolded.encode("ascii", "backslashreplace").decode("ascii")


def _refusal(status: int, message: str, details: list[dict]) -> bytes:
    """The application/http answer, in Google's error shape, to a part that is not run."""
    return _http_part(status, [("Content-Type", "application/json")], json.dumps(error_body(status, message, details)).encode())


def _answer(client: Client, inner: InnerRequest, environ: dict) -> bytes:
    """Run the request of one part through the app and return its application/http answer."""
    method, target, headers, body = inner
    if not target.startswith(INNER_PREFIX):
        # The path alone: Google's clients put the API key in the query string (?key=), and an answer repeats no key.
        path = shown_name(urlsplit(target).path)
        return _refusal(404, f"{path} cannot be batched: only the {API_VERSION} methods can", [])
    if any(name.lower() == "content-encoding" and is_gzip(value) for name, value in headers.items()):
        # If run, its text would go uncounted against MAX_REQUEST_CHARS (counted from the part as sent) and 100 parts
        # could unpack to 100 x MAX_CONTENT_LENGTH; Google's clients never compress a call inside a batch.
        return _refusal(415, "a call inside a batch must be sent uncompressed, without Content-Encoding",
                        [error_info("UNSUPPORTED_CONTENT_ENCODING")])
    # An app context of its own, so the part has its own ``g`` (key, database session) and not the batch's.
    with current_app.app_context():
        answer = client.open(target, method=method, headers=headers, data=body, environ_base=environ)
    kept = [(name, value) for name, value in answer.headers.items() if name.lower() in ("content-type", "retry-after")]
    return _http_part(answer.status_code, kept, answer.get_data())


@bp.post(f"/{BATCH_PATH}")
def batch() -> ResponseReturnValue:
    """Answer every request of a Google batch, in order, in one multipart/mixed response."""
    parts = _parts(read_body(cache=False), request.headers.get("Content-Type", ""))
    inner_requests = [_inner_request(part, index) for index, part in enumerate(parts)]
    check_request_chars(sum(map(_scored_chars, inner_requests)), "send its comments:analyze calls in several batches")
    client = Client(current_app._get_current_object())  # type: ignore[attr-defined]
    environ = {name: request.environ[name] for name in PASSED_ENVIRON if name in request.environ} | {BATCH_PART: True}
    boundary = "batch_" + secrets.token_hex(12)
    chunks = []
    for index, (part, inner) in enumerate(zip(parts, inner_requests, strict=True)):
        answer = _answer(client, inner, environ)
        chunks.append(f"--{boundary}\r\nContent-Type: application/http\r\nContent-ID: <response-{_content_id(part, index)}>"
                      f"\r\n\r\n".encode("latin-1") + answer + b"\r\n")
    chunks.append(f"--{boundary}--\r\n".encode())
    # Not quoted (the boundary is a token, as Google's own are): the .NET client takes everything after "boundary=" as it.
    return Response(b"".join(chunks), content_type=f"multipart/mixed; boundary={boundary}")
