"""Google's batch endpoint (POST /batch) as a whole: what refuses a batch before any of its requests is run."""

from __future__ import annotations

import gzip
import json
import re
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from sqlalchemy import func, select

from service.app import create_app
from service.auth import create_key
from service.store import DecisionRecord, get_session
from tests.test_api_v1 import chunked_post
from tests.test_discovery import _batch_body

PROXY_HEADERS = {"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "https", "X-Forwarded-Host": "comments.example.org",
                 "X-Forwarded-Prefix": "/moderation"}
"""What a trusted proxy serving the service under https://comments.example.org/moderation/ sets on each request."""
SENTENCE = "Nice park. "
"""11 characters of English: a text of whole sentences is scored, never refused for its language."""
LONGEST = 11 * SENTENCE
LIMIT = 3 * len(LONGEST)
"""MAX_REQUEST_CHARS of these tests: three comments at the longest accepted (MAX_COMMENT_CHARS, PERSPECTIVE_MAX_TEXT_CHARS)."""
RATE = 3
"""RATE_LIMIT of the rate limit test, per minute."""
ROOT = Path(__file__).resolve().parents[1]
API_DOC_RATE_LIMIT = re.compile(r"`RATE_LIMIT` \(default [^)]*\) (across [^(]*`/batch` \([^)]*\))")
"""docs/api.md's word on what RATE_LIMIT counts: "across `/v1`, ... and Google's `/batch` (how a batch counts)"."""


@pytest.fixture
def app(tiny_bundle_path, tmp_path):
    return create_app({"TESTING": True, "MODEL": str(tiny_bundle_path), "DB_URL": f"sqlite:///{tmp_path / 'm.db'}",
                       "MAX_REQUEST_CHARS": LIMIT, "MAX_COMMENT_CHARS": len(LONGEST),
                       "PERSPECTIVE_MAX_TEXT_CHARS": len(LONGEST)})


@pytest.fixture
def key(app) -> str:
    with app.app_context():
        return create_key(get_session(), "batch")[1]


def part(key: str, text: str, path: str = "/v1alpha1/comments:analyze", **fields) -> str:
    """One application/http part: a Perspective call of ``text`` with the key in ?key=."""
    body = json.dumps({"comment": {"text": text}, "requestedAttributes": {"TOXICITY": {}}, **fields})
    return f"POST {path}?key={key} HTTP/1.1\nContent-Type: application/json\n\n{body}"


def post_batch(app, parts: list[str]):
    body, content_type = _batch_body(parts)
    return app.test_client().post("/batch", data=body, content_type=content_type)


def statuses(response) -> list[str]:
    return [line for line in response.get_data(as_text=True).split("\r\n") if line.startswith("HTTP/1.1")]


def decisions_logged(app) -> int:
    with app.app_context():
        return get_session().scalar(select(func.count()).select_from(DecisionRecord))


def test_a_batch_at_max_request_chars_is_answered(app, key):
    # Suggestscore and bodies without a text score nothing, so they do not count.
    parts = [part(key, LONGEST)] * 3 + [part(key, LONGEST, "/v1alpha1/comments:suggestscore",
                                               attributeScores={"TOXICITY": {"summaryScore": {"value": 0.1}}}),
                                          part(key, "").replace('"text": ""', '"text": 7')]
    response = post_batch(app, parts)
    assert response.status_code == 200
    assert statuses(response) == ["HTTP/1.1 200 OK"] * 4 + ["HTTP/1.1 400 Bad Request"]
    assert decisions_logged(app) == 3


@pytest.mark.parametrize("path", ["/v1alpha1/comments:analyze", "/v1alpha1/comments%3Aanalyze",
                                  "http://localhost/v1alpha1/comments:analyze"])  # as the Java client writes it
def test_a_batch_over_max_request_chars_is_google_413_with_nothing_scored(app, key, path):
    # 100 parts of 20,480 characters took many minutes, past gunicorn's TIMEOUT_SECONDS: the worker was killed
    # midway, the client got a dropped connection and the decisions of the parts scored were half logged.
    response = post_batch(app, [part(key, LONGEST)] * 3 + [part(key, "Fine.", path)])
    assert response.status_code == 413 and response.mimetype == "application/json"
    error = response.get_json()["error"]
    assert (error["code"], error["status"]) == (413, "INVALID_ARGUMENT")
    assert error["message"] == (f"this request has {LIMIT + 5} characters of comment text to score; the limit is "
                                f"{LIMIT} per request (MAX_REQUEST_CHARS): send its comments:analyze calls in several batches")
    assert [detail["reason"] for detail in error["details"]] == ["TOO_MUCH_TEXT"]
    assert decisions_logged(app) == 0


def test_a_part_that_is_no_request_refuses_the_batch_before_any_is_scored(app, key):
    response = post_batch(app, [part(key, SENTENCE), "not a request"])
    assert response.status_code == 400 and "part 2" in response.get_json()["error"]["message"]
    assert decisions_logged(app) == 0


@pytest.mark.parametrize("name", ["spanAnnotations", "span_annotations"])
def test_a_text_scored_sentence_by_sentence_too_counts_twice(app, key, name):
    # With spanAnnotations every sentence is scored again on its own: about as long again as the comment itself.
    refused = post_batch(app, [part(key, LONGEST)] * 2 + [part(key, LONGEST, **{name: True})])
    assert refused.status_code == 413 and f"has {LIMIT + len(LONGEST)} characters" in refused.get_json()["error"]["message"]
    answered = post_batch(app, [part(key, LONGEST, **{name: True})] + [part(key, SENTENCE, **{name: False})])
    assert answered.status_code == 200 and statuses(answered) == ["HTTP/1.1 200 OK"] * 2
    assert decisions_logged(app) == 2


def test_a_batch_counts_once_and_each_of_its_calls_once_more(tiny_bundle_path, tmp_path):
    # Each call runs as a request of its own, counted against its key as if sent alone (Google too counts a batch of n
    # calls as n requests); the batch itself was never counted, so batches refused whole (400, 413) or whose calls never
    # run could be sent without end, each read and parsed whole, and they left the address's budget untouched.
    app = create_app({"TESTING": True, "MODEL": str(tiny_bundle_path), "DB_URL": f"sqlite:///{tmp_path / 'm.db'}",
                      "RATE_LIMIT": f"{RATE} per minute"})
    with app.app_context():
        key = create_key(get_session(), "batch")[1]
    answered = post_batch(app, [part(key, SENTENCE)] * (RATE + 1))
    assert answered.status_code == 200
    assert statuses(answered) == ["HTTP/1.1 200 OK"] * RATE + ["HTTP/1.1 429 Too Many Requests"]
    client = app.test_client()
    not_run, content_type = _batch_body(["GET /elsewhere HTTP/1.1\n\n"])
    refused = [client.post("/batch", data=b"{}", content_type="application/json"),
               client.post("/batch", data=not_run, content_type=content_type),
               client.post("/batch", data=b"{}", content_type="application/json")]
    assert [response.status_code for response in refused] == [400, 200, 429]  # the batch above was the address's first
    error = refused[-1].get_json()["error"]
    assert (error["code"], error["status"]) == (429, "RESOURCE_EXHAUSTED") and int(refused[-1].headers["Retry-After"]) >= 1
    assert client.get("/v1/model").status_code == 429  # one budget with the address's other requests without a key


def test_each_call_of_a_batch_counts_its_own_refusal_by_the_limit_that_refused_it(tiny_bundle_path, tmp_path):
    # The calls of a batch run one after another inside the batch's request: had they shared one ``g``, the budget's
    # headers a call refused by KEY_COMMENT_LIMIT leaves there would have made the next call's refusal by RATE_LIMIT
    # look like a budget's own 429, never counted in moderation_limited_requests_total{limit="requests"}.
    app = create_app({"TESTING": True, "MODEL": str(tiny_bundle_path), "DB_URL": f"sqlite:///{tmp_path / 'm.db'}",
                      "RATE_LIMIT": "2 per minute", "KEY_COMMENT_LIMIT": "1 per minute", "MAX_COMMENTS_PER_REQUEST": 1})
    with app.app_context():
        key = create_key(get_session(), "batch")[1]
    answered = post_batch(app, [part(key, SENTENCE)] * 3)
    assert statuses(answered) == ["HTTP/1.1 200 OK"] + ["HTTP/1.1 429 Too Many Requests"] * 2
    reasons = re.findall(r'"reason": "(\w+)"', answered.get_data(as_text=True))
    assert reasons == ["TOO_MANY_REQUESTS", "RATE_LIMIT_EXCEEDED"]  # the comment budget, then the request count
    retry_after = [int(seconds) for seconds in re.findall(r"Retry-After: (\d+)", answered.get_data(as_text=True))]
    assert len(retry_after) == 2 and all(1 <= seconds <= 60 for seconds in retry_after)
    metrics = app.test_client().get("/metrics").get_data(as_text=True)
    assert 'moderation_limited_requests_total{limit="comments"} 1.0' in metrics
    assert 'moderation_limited_requests_total{limit="requests"} 1.0' in metrics


def test_readme_says_how_a_batch_counts_against_rate_limit_as_docs_api_does():
    # docs/api.md said that a batch counts once itself and each of its calls once more; README's RATE_LIMIT row still
    # read "requests per key", as if a batch's calls were all it counted.
    (counted,) = API_DOC_RATE_LIMIT.findall((ROOT / "docs" / "api.md").read_text(encoding="utf-8"))
    (row,) = [line for line in (ROOT / "README.md").read_text(encoding="utf-8").splitlines() if line.startswith("| `RATE_LIMIT` |")]
    assert counted in row, f"README's RATE_LIMIT row should say, as docs/api.md does: {counted}"


def test_a_chunked_batch_over_max_content_length_is_google_413_with_nothing_scored(tiny_bundle_path, tmp_path):
    # Werkzeug cut such a body at the limit without a word: the batch was parsed cut short, its last part refused as
    # "not a request" or its last calls left out, and the calls before run.
    app = create_app({"TESTING": True, "MODEL": str(tiny_bundle_path), "DB_URL": f"sqlite:///{tmp_path / 'c.db'}",
                      "MAX_CONTENT_LENGTH": 2_000})
    with app.app_context():
        key = create_key(get_session(), "batch")[1]
    client = app.test_client()
    body, content_type = _batch_body([part(key, SENTENCE * 10)] * 8)
    assert len(body) > 2_000
    chunked = chunked_post(client, "/batch", body, content_type)
    assert chunked.status_code == 413
    assert chunked.get_json() == client.post("/batch", data=body, content_type=content_type).get_json()
    assert chunked.get_json()["error"]["message"] == "request body is larger than 2000 bytes"
    assert decisions_logged(app) == 0
    within, content_type = _batch_body([part(key, SENTENCE * 10)] * 2)
    assert len(within) <= 2_000
    assert statuses(chunked_post(client, "/batch", within, content_type)) == ["HTTP/1.1 200 OK"] * 2


@pytest.mark.parametrize("target, shown", [
    ("/v1/moderate?key={key}", "/v1/moderate"),
    ("https://comments.example.org/v1/moderate?key={key}&x=1", "/v1/moderate"),
    ("/" + "p" * 5_000 + "?key={key}", "/" + "p" * 99 + "…"),
])
def test_a_call_that_cannot_be_batched_is_named_by_its_path_never_its_key(app, key, target, shown):
    # The 404 repeated the part's whole target, with the ?key= Google's clients put there: the key came back in the
    # answer (and in whatever logs or shows it), and a path of any length came back whole.
    response = post_batch(app, [f"POST {target.format(key=key)} HTTP/1.1\nContent-Type: application/json\n\n{{}}",
                                part(key, SENTENCE)])
    assert statuses(response) == ["HTTP/1.1 404 Not Found", "HTTP/1.1 200 OK"]
    answered = response.get_data(as_text=True)
    assert key not in answered
    (refused,) = [json.loads(line) for line in answered.split("\r\n") if line.startswith('{"error"')]
    assert refused["error"]["message"] == f"{shown} cannot be batched: only the v1alpha1 methods can"


class ThroughProxy:
    """An ``httplib2.Http`` for googleapiclient that reaches the app as the proxy of ``PROXY_HEADERS`` would: it strips
    /moderation from the URL and sets its headers."""

    def __init__(self, client):
        self.client = client

    def request(self, uri, method="GET", body=None, headers=None, **_):
        import httplib2

        url = urlsplit(uri)
        assert url.path.startswith("/moderation/"), uri
        answer = self.client.open(url.path.removeprefix("/moderation") + (f"?{url.query}" if url.query else ""),
                                  method=method, data=body, headers={**(headers or {}), **PROXY_HEADERS})
        return httplib2.Response({"status": answer.status_code, **dict(answer.headers)}), answer.get_data()


def test_google_client_batches_through_a_proxy_serving_under_a_path(tiny_bundle_path, tmp_path):
    # googleapiclient writes each part's path under rootUrl's (/moderation/v1alpha1/comments:analyze); the proxy strips
    # /moderation from the batch's own URL but cannot inside its body: every part was answered 404.
    from googleapiclient import discovery
    from googleapiclient.errors import HttpError

    app = create_app({"TESTING": True, "MODEL": str(tiny_bundle_path), "DB_URL": f"sqlite:///{tmp_path / 'm.db'}",
                      "TRUSTED_PROXY_HOPS": 1, "MAX_REQUEST_CHARS": LIMIT, "MAX_COMMENT_CHARS": len(LONGEST),
                      "PERSPECTIVE_MAX_TEXT_CHARS": len(LONGEST)})
    with app.app_context():
        key = create_key(get_session(), "batch")[1]
    client = app.test_client()
    document = client.get("/$discovery/rest?version=v1alpha1", headers=PROXY_HEADERS).get_json()
    service = discovery.build_from_document(document, developerKey=key, http=ThroughProxy(client))

    def analyze(text):
        return service.comments().analyze(body={"comment": {"text": text}, "requestedAttributes": {"TOXICITY": {}}})

    answers = {}
    batch = service.new_batch_http_request(callback=lambda request_id, answer, error: answers.update({request_id: error or answer}))
    batch.add(analyze(SENTENCE), request_id="a")
    batch.execute()
    assert isinstance(answers["a"], dict), answers["a"]  # was HttpError 404: "/moderation/v1alpha1/... cannot be batched"
    assert 0.0 <= answers["a"]["attributeScores"]["TOXICITY"]["summaryScore"]["value"] <= 1.0
    # Its parts are counted against MAX_REQUEST_CHARS as any others.
    too_much = service.new_batch_http_request()
    for _ in range(4):
        too_much.add(analyze(LONGEST))
    with pytest.raises(HttpError) as caught:
        too_much.execute()
    assert caught.value.status_code == 413
    assert decisions_logged(app) == 1


JAVA_REQUEST_LINE = "POST http://localhost{path}?key={key} HTTP/1.1"
"""google-api-java-client's HttpRequestContent: the whole URL (``request.getUrl().build()``), then the version."""
DOTNET_REQUEST_LINE = "POST http://localhost{path}?key={key}"
"""google-api-dotnet-client's BatchRequest.CreateRequestContentString: ``"{0} {1}", Method, RequestUri.AbsoluteUri``."""


@pytest.mark.parametrize("request_line", [JAVA_REQUEST_LINE, DOTNET_REQUEST_LINE])
def test_java_and_dotnet_clients_calls_are_answered(app, key, request_line):
    # Google's Java and .NET clients write the whole URL in a part's request line, the .NET client without HTTP/1.1:
    # the Java client's calls were answered 404 "/v1alpha1/comments:analyze cannot be batched", a .NET batch refused
    # whole (400, "does not start with a request line").
    body = json.dumps({"comment": {"text": SENTENCE}, "requestedAttributes": {"TOXICITY": {}}})
    line = request_line.format(path="/v1alpha1/comments:analyze", key=key)
    response = post_batch(app, [f"{line}\r\nContent-Type: application/json; charset=UTF-8\r\n\r\n{body}",
                                part(key, SENTENCE)])
    assert response.status_code == 200, response.get_data(as_text=True)
    assert statuses(response) == ["HTTP/1.1 200 OK"] * 2
    assert decisions_logged(app) == 2


def test_a_request_line_without_a_version_must_still_be_one(app, key):
    # Taking the .NET client's "METHOD URL" leaves any other two words a part that is no request, refusing the batch.
    response = post_batch(app, [part(key, SENTENCE), "not requested"])
    assert response.status_code == 400 and "part 2" in response.get_json()["error"]["message"]
    assert decisions_logged(app) == 0


def dotnet_statuses(response) -> list[int]:
    """Each answer's status as google-api-dotnet-client's BatchRequest.ExecuteAsync reads a batch answer: the boundary
    is whatever follows "boundary=" in Content-Type, taken as written, and a part is what lies between two of them."""
    content_type = response.headers["Content-Type"]
    boundary = "--" + content_type[content_type.index("boundary=") + len("boundary="):]
    content, found = response.get_data(as_text=True), []
    while (start := content.find(boundary)) != -1:
        content = content[start + len(boundary):]
        end = content.find(boundary)
        if end == -1:
            break
        lines = iter(content[:end].splitlines())
        line = next(lines)
        while not line:  # the line break after the boundary
            line = next(lines)
        while line:  # the part's own headers
            line = next(lines)
        line = next(lines)
        while not line:
            line = next(lines)
        found.append(int(line.split(" ")[1]))
        content = content[end:]
    return found


def test_the_answer_is_read_by_the_dotnet_client(app, key):
    # The answer's boundary was quoted (boundary="batch_..."): the .NET client looked for --"batch_..." in the body,
    # found none and called no callback, every call of the batch lost without an error.
    response = post_batch(app, [part(key, SENTENCE), part(key, "Fine.", "/v1alpha1/comments:nothing")])
    assert dotnet_statuses(response) == [200, 404]


def test_a_compressed_call_inside_a_batch_is_refused_unrun(app, key):
    # comments:analyze reads gzip bodies now; run inside a batch, such a call's text would escape MAX_REQUEST_CHARS
    # (counted from the parts as sent) and 100 of them could unpack to 100 x MAX_CONTENT_LENGTH.
    body = gzip.compress(json.dumps({"comment": {"text": LONGEST}, "requestedAttributes": {"TOXICITY": {}}}).encode())
    head = f"POST /v1alpha1/comments:analyze?key={key} HTTP/1.1\r\nContent-Type: application/json\r\nContent-Encoding: gzip\r\n\r\n"
    boundary = "b0undary"
    data = (f"--{boundary}\r\nContent-Type: application/http\r\n\r\n{head}".encode() + body
            + f"\r\n--{boundary}\r\nContent-Type: application/http\r\n\r\n{part(key, SENTENCE)}\r\n--{boundary}--\r\n".encode())
    response = app.test_client().post("/batch", data=data, content_type=f"multipart/mixed; boundary={boundary}")
    assert statuses(response) == ["HTTP/1.1 415 Unsupported Media Type", "HTTP/1.1 200 OK"]
    assert "must be sent uncompressed" in response.get_data(as_text=True)
    assert decisions_logged(app) == 1


class ThroughTestClient:
    """An ``httplib2.Http`` for googleapiclient that sends its requests to the app through Flask's test client."""

    def __init__(self, client):
        self.client = client

    def request(self, uri, method="GET", body=None, headers=None, **_):
        import httplib2

        url = urlsplit(uri)
        answer = self.client.open(url.path + (f"?{url.query}" if url.query else ""), method=method, data=body,
                                  headers=headers or {})
        return httplib2.Response({"status": answer.status_code, **dict(answer.headers)}), answer.get_data()


def test_google_client_batches_with_request_ids_as_long_as_a_uuid(app, key):
    # googleapiclient folds a part's Content-ID past 78 characters ("<uuid +" CRLF " request-id>"); the answer echoed it
    # folded and googleapiclient, reading "base + id" from it, failed the whole batch with "ValueError: not enough values
    # to unpack": a request id of a UUID's 36 characters lost every answer.
    from googleapiclient import discovery

    client = app.test_client()
    service = discovery.build_from_document(client.get("/$discovery/rest?version=v1alpha1").get_json(), developerKey=key,
                                            http=ThroughTestClient(client))
    request_ids = ["1", "comment-0b9f6f7e-5d1c-4f3a-9a57-2f0e8e1c7d42", "a" * 200]
    answers = {}
    batch = service.new_batch_http_request(callback=lambda request_id, answer, error: answers.update({request_id: error or answer}))
    for request_id in request_ids:
        body = {"comment": {"text": SENTENCE}, "requestedAttributes": {"TOXICITY": {}}, "clientToken": request_id}
        batch.add(service.comments().analyze(body=body), request_id=request_id)
    batch.execute()
    assert sorted(answers) == sorted(request_ids)
    assert all(answers[request_id]["clientToken"] == request_id for request_id in request_ids)


def test_a_content_id_that_is_not_ascii_is_echoed_escaped_not_a_500(app, key):
    # The email parser gives such a header as an email.header.Header, not a str: the answer was a 500 for the batch.
    data = (b"--b\r\nContent-Type: application/http\r\nContent-ID: <caf\xc3\xa9>\r\n\r\n" + part(key, SENTENCE).encode()
            + b"\r\n--b--\r\n")
    response = app.test_client().post("/batch", data=data, content_type="multipart/mixed; boundary=b")
    assert response.status_code == 200 and statuses(response) == ["HTTP/1.1 200 OK"]
    assert "Content-ID: <response-caf\\ufffd\\ufffd>" in response.get_data(as_text=True)


def test_nested_multipart_parts_are_not_parsed_and_the_batch_is_refused_at_once(app):
    """Python's email parser followed every part that called itself multipart, a level of recursion each: without a
    key, 1,000 nested levels answered 500 (a RecursionError), and a few hundred with filler lines held a worker for
    seconds a batch. A part is an HTTP request; nothing inside it is parsed as MIME."""
    depth = 1_000
    body = "".join(f'--b{i}\r\nContent-Type: multipart/mixed; boundary="b{i + 1}"\r\n\r\n' for i in range(depth))
    response = app.test_client().post("/batch", data=body.encode(), content_type='multipart/mixed; boundary="b0"')
    assert response.status_code == 400, response.get_data(as_text=True)[:300]
    assert "part 1 of the batch does not start with a request line" in response.get_json()["error"]["message"]


def test_a_batch_over_max_batch_requests_is_refused_without_reading_its_other_parts(app, key):
    limit = app.config["MAX_BATCH_REQUESTS"]
    response = post_batch(app, [part(key, "Fine.")] * (limit + 1))
    assert response.status_code == 400
    assert response.get_json()["error"]["message"] == f"the batch holds more than {limit} requests; the limit is {limit}"
    assert post_batch(app, [part(key, "Fine.")] * 2).status_code == 200


def test_a_part_whose_call_says_it_is_multipart_is_read_as_the_call_it_is(app, key):
    """The call's own body is JSON whatever its Content-Type claims: not parsed as MIME either."""
    call = part(key, "Fine.").replace("Content-Type: application/json", 'Content-Type: multipart/mixed; boundary="x"')
    response = post_batch(app, [call])
    assert response.status_code == 200 and statuses(response) == ["HTTP/1.1 200 OK"]
