"""docs/api.md and /openapi.json say what the service answers, on the tiny bundle.

Every example of docs/api.md marked ``<!-- example: METHOD PATH STATUS -->`` (a request body for POST, then the
answer) is sent, and the answer must have the fields the doc shows, of the same types: a field the doc shows and
the answer lacks fails, and so does one the answer has and the doc leaves out (unless it writes ``"...": "..."``).
Every error code of the doc's table must be answered by some request, and what the OpenAPI document promises for it
(the status, the code in the description, the headers) must be in the answer.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, NamedTuple

import pytest
from sqlalchemy.exc import OperationalError

from service.app import create_app
from service.auth import KEY_HEADERS, create_key
from service.key_limits import SLOTS_KEY
from service.migrations import SchemaMismatch, head_revision
from service.ops import READINESS_KEY
from service.schema_gate import init_schema_gate
from service.store import get_session

DOC = Path(__file__).resolve().parents[1] / "docs" / "api.md"
DOC_TEXT = DOC.read_text(encoding="utf-8")
MARKER = re.compile(r"<!-- example: (GET|POST) (\S+) (\d{3}) -->")
FENCE = "```"
ELIDED = "..."
"""``"...": "..."`` in an object, or ``"..."`` in a list: the doc leaves the rest out."""
EXACT_KEYS = frozenset({"id", "decision", "code", "action", "attribute", "status", "message"})
"""Strings the answer must repeat exactly; other values need only be of the shown type."""
IN_ORDER = frozenset({"results"})
"""Lists whose items answer the request's items in order."""
ERROR_ROW = re.compile(r"^\| (\d{3}) \| `([a-z_]+)` \| (.*) \|$", re.M)
"""A row of the doc's error table: status, code, when (which may quote a header, as `Retry-After: 5`)."""
QUOTED_HEADER = re.compile(r"`([A-Za-z-]+): ([^`]+)`")
DOCUMENTED_ENDPOINTS = {("POST", "/v1/moderate"), ("POST", "/v1/feedback"), ("GET", "/v1/model"), ("GET", "/healthz"), ("GET", "/readyz")}
HOSTILE = "You stupid idiot, nobody wants you here."


class Example(NamedTuple):
    method: str
    path: str
    status: int
    request: Any
    answer: Any


def doc_examples(text: str = DOC_TEXT) -> list[Example]:
    """The marked examples of the doc: the JSON blocks that follow each marker (request body for POST, then answer)."""
    examples = []
    lines = text.splitlines()
    for number, line in enumerate(lines):
        found = MARKER.fullmatch(line.strip())
        if found is None:
            continue
        method, path, status = found.groups()
        blocks, index = [], number + 1
        while len(blocks) < (2 if method == "POST" else 1):
            while not lines[index].strip():
                index += 1
            if lines[index].strip() != f"{FENCE}json":
                raise AssertionError(f"docs/api.md line {index + 1}: the example {method} {path} needs a ```json block here")
            end = lines.index(FENCE, index + 1)
            blocks.append(json.loads("\n".join(lines[index + 1 : end])))
            index = end + 1
        examples.append(Example(method, path, int(status), blocks[0] if method == "POST" else None, blocks[-1]))
    return examples


def kind(value: Any) -> str:
    return {bool: "boolean", int: "integer", float: "number", str: "string", dict: "object", list: "list"}[type(value)]


def differences(doc: Any, answer: Any, where: str = "answer", key: str = "", exact: bool = True) -> list[str]:
    """How ``answer`` differs from the doc's ``doc``: fields missing on either side, other types, other exact values.

    A null on either side matches any value (a nullable field: null for one bundle, set for another).
    """
    if doc is None or answer is None:
        return []
    if kind(doc) != kind(answer):
        return [f"{where} is {kind(answer)} {answer!r:.80}, the doc shows {kind(doc)} {doc!r:.80}"]
    if isinstance(doc, dict):
        return _object_differences(doc, answer, where, exact)
    if isinstance(doc, list):
        return _list_differences(doc, answer, where, key, exact)
    if exact and key in EXACT_KEYS and doc != answer:
        return [f"{where} is {answer!r}, the doc says {doc!r}"]
    return []


def _object_differences(doc: dict, answer: dict, where: str, exact: bool) -> list[str]:
    shown = set(doc) - {ELIDED}
    problems = [f"{where}.{name} is in the doc, not in the answer" for name in sorted(shown - set(answer))]
    if ELIDED not in doc:
        problems += [f"{where}.{name} is in the answer, not in the doc" for name in sorted(set(answer) - shown)]
    for name in sorted(shown & set(answer)):
        problems += differences(doc[name], answer[name], f"{where}.{name}", name, exact)
    return problems


def _list_differences(doc: list, answer: list, where: str, key: str, exact: bool) -> list[str]:
    shown = [item for item in doc if item != ELIDED]
    if bool(shown) != bool(answer):
        return [f"{where} has {len(answer)} items, the doc shows {len(shown)}"]
    if key in IN_ORDER:
        if len(shown) != len(answer):
            return [f"{where} has {len(answer)} items, the doc shows {len(shown)}"]
        return [problem for index, (item, got) in enumerate(zip(shown, answer)) for problem in differences(item, got, f"{where}[{index}]", exact=exact)]
    problems = []
    for index, item in enumerate(shown):  # everything the doc shows is in the answer ...
        if all(differences(item, got, exact=exact) for got in answer):
            problems.append(f"the doc's {where}[{index}] matches no item of the answer: {differences(item, answer[0], f'{where}[0]', exact=exact)}")
    if ELIDED not in doc:  # ... and every kind of item the answer has is shown
        for index, got in enumerate(answer):
            if all(differences(item, got, exact=False) for item in shown):
                problems.append(f"{where}[{index}] has a shape no item of the doc shows: {got!r:.200}")
    return problems


def _flat(text: str) -> str:
    """``text`` with every run of whitespace one space (the doc wraps its lines)."""
    return " ".join(text.split())


def make_app(tiny_bundle_path, **settings):
    return create_app({"TESTING": True, "MODEL": str(tiny_bundle_path), "DB_URL": "sqlite://", **settings})


def new_key(app, scopes: tuple[str, ...] = ("moderate", "feedback")) -> str:
    with app.app_context():
        return create_key(get_session(), "docs", scopes)[1]


@pytest.fixture
def spec(client):
    return client.get("/openapi.json").get_json()


def test_the_doc_has_an_example_for_every_endpoint():
    assert {(example.method, example.path) for example in doc_examples()} >= DOCUMENTED_ENDPOINTS


@pytest.mark.parametrize("example", doc_examples(), ids=lambda example: f"{example.method} {example.path} {example.status}")
def test_doc_examples_are_real_answers(example, client, auth, spec):
    response = client.open(example.path, method=example.method, json=example.request, headers=auth)
    assert response.status_code == example.status, response.get_json()
    assert differences(example.answer, response.get_json()) == []
    documented = spec["paths"][example.path][example.method.lower()]["responses"][str(example.status)]
    assert set(documented.get("headers", {})) <= set(response.headers.keys())


@pytest.mark.parametrize(
    ("doc", "answer", "problem"),
    [
        ({"a": 1, "b": "x"}, {"a": 1}, "answer.b is in the doc, not in the answer"),
        ({"a": 1}, {"a": 1, "b": 2}, "answer.b is in the answer, not in the doc"),
        ({"a": 1}, {"a": "1"}, "answer.a is string '1', the doc shows integer 1"),
        ({"code": "empty"}, {"code": "toxicity"}, "answer.code is 'toxicity', the doc says 'empty'"),
        ({"r": [{"a": 1}]}, {"r": [{"a": 1}, {"b": 1}]}, "answer.r[1] has a shape no item of the doc shows: {'b': 1}"),
        ({"r": []}, {"r": [{"a": 1}]}, "answer.r has 1 items, the doc shows 0"),
    ],
)
def test_an_example_that_drifted_from_the_answer_is_caught(doc, answer, problem):
    assert problem in differences(doc, answer)


def test_elided_fields_and_nulls_are_not_compared():
    assert differences({"a": {"...": "..."}, "b": None, "c": ["x", "..."]}, {"a": {"z": 1}, "b": "set", "c": ["y", "z"]}) == []
    assert differences({"a": 1, "...": "..."}, {"b": 1}) == ["answer.a is in the doc, not in the answer"]


class ErrorCase(NamedTuple):
    status: int
    code: str
    operation: tuple[str, str] | None
    """The OpenAPI operation whose responses must document it (None: any path, as 404)."""
    send: Any
    """``send(client, auth, app, monkeypatch) -> response``"""
    settings: dict[str, Any] = {}


def _moderate(client, headers, body=None):
    return client.post("/v1/moderate", json=body or {"comments": [{"id": "c1", "text": "Thanks."}]}, headers=headers)


def _twice(client, auth, _app, _patch):
    _moderate(client, auth)
    return _moderate(client, auth)


def _crash(client, auth, _app, monkeypatch):
    def broken(**_kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr("service.api_v1.save_feedback", broken)
    return client.post("/v1/feedback", json={"comment_id": "c1", "decision": "reject"}, headers=auth)


def _database_lost(client, auth, _app, monkeypatch):
    def lost(*_args, **_kwargs):
        raise OperationalError("SELECT 1", {}, ConnectionError("server closed the connection"))

    monkeypatch.setattr("service.auth.find_active_key", lost)
    return client.get("/v1/model", headers=auth)


def _schema_behind(client, auth, app, _patch):
    behind = SchemaMismatch("database at revision 0002", "0002", head_revision())

    def check():
        raise behind

    init_schema_gate(app, check, behind)
    return client.get("/v1/model", headers=auth)


ERROR_CASES = {
    "invalid_request": ErrorCase(400, "invalid_request", ("post", "/v1/moderate"), lambda c, a, _app, _p: c.post("/v1/moderate", json=[1], headers=a)),
    "missing_api_key": ErrorCase(401, "missing_api_key", ("post", "/v1/moderate"), lambda c, a, _app, _p: _moderate(c, {})),
    "invalid_api_key": ErrorCase(403, "invalid_api_key", ("get", "/v1/model"), lambda c, a, _app, _p: c.get("/v1/model", headers={"X-API-Key": "mod_wrong"})),
    "missing_scope": ErrorCase(403, "missing_scope", ("post", "/v1/moderate"),
                               lambda c, a, app, _p: _moderate(c, {"X-API-Key": new_key(app, ("feedback",))})),
    "not_found": ErrorCase(404, "not_found", None, lambda c, a, _app, _p: c.get("/v1/moderation", headers=a)),
    "method_not_allowed": ErrorCase(405, "method_not_allowed", None, lambda c, a, _app, _p: c.get("/v1/moderate", headers=a)),
    "request_entity_too_large": ErrorCase(413, "request_entity_too_large", ("post", "/v1/feedback"),
                                          lambda c, a, _app, _p: c.post("/v1/feedback", data=b" " * 2_000, headers=a), {"MAX_CONTENT_LENGTH": 1_000}),
    "too_much_text": ErrorCase(413, "too_much_text", ("post", "/v1/moderate"),
                               lambda c, a, _app, _p: _moderate(c, a, {"comments": [{"id": str(n), "text": "a" * 20_000} for n in range(5)] + [{"id": "5", "text": "b"}]})),
    "unsupported_content_encoding": ErrorCase(415, "unsupported_content_encoding", ("post", "/v1/moderate"),
                                              lambda c, a, _app, _p: c.post("/v1/moderate", data=b"\x1f\x8b", headers={**a, "Content-Encoding": "gzip"})),
    "too_many_requests": ErrorCase(429, "too_many_requests", ("post", "/v1/moderate"), _twice, {"RATE_LIMIT": "1 per minute"}),
    "internal_server_error": ErrorCase(500, "internal_server_error", None, _crash, {"PROPAGATE_EXCEPTIONS": False}),
    "database_unavailable": ErrorCase(503, "database_unavailable", ("get", "/v1/model"), _database_lost),
    "database_schema_outdated": ErrorCase(503, "database_schema_outdated", ("get", "/v1/model"), _schema_behind),
}


def doc_errors() -> dict[tuple[int, str], str]:
    """The doc's error table: (status, code) -> when."""
    start = DOC_TEXT.index("### Errors")
    section = DOC_TEXT[start : DOC_TEXT.index("\n## ", start)]
    return {(int(status), code): when for status, code, when in ERROR_ROW.findall(section)}


def test_the_doc_lists_exactly_the_error_codes_answered_here():
    assert set(doc_errors()) == {(case.status, case.code) for case in ERROR_CASES.values()}


@pytest.mark.parametrize("name", ERROR_CASES)
def test_each_documented_error_is_answered_as_the_openapi_document_says(name, tiny_bundle_path, monkeypatch):
    case = ERROR_CASES[name]
    app = make_app(tiny_bundle_path, **case.settings)
    client = app.test_client()
    response = case.send(client, {"X-API-Key": new_key(app)}, app, monkeypatch)
    assert (response.status_code, response.get_json()["error"]["code"]) == (case.status, case.code), response.get_json()
    assert set(response.get_json()) == {"error"} and set(response.get_json()["error"]) == {"code", "message"}
    assert response.headers["X-Request-ID"]
    for header, value in QUOTED_HEADER.findall(doc_errors()[case.status, case.code]):
        assert response.headers.get(header) == value
    if case.operation is None:
        return
    method, path = case.operation
    documented = client.get("/openapi.json").get_json()["paths"][path][method]["responses"][str(case.status)]
    assert f"code {case.code}" in documented["description"]
    assert documented["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/ErrorResponse"}
    assert set(documented["headers"]) <= set(response.headers.keys())


def test_a_key_without_its_slot_gets_retry_after_one_second_as_documented(tiny_bundle_path):
    app = make_app(tiny_bundle_path, KEY_CONCURRENT_REQUESTS=1)
    with app.app_context():
        row, key = create_key(get_session(), "docs")
    app.extensions[SLOTS_KEY].acquire(f"key:{row.id}", 1)  # another request of the key is in progress
    response = _moderate(app.test_client(), {"X-API-Key": key})
    assert response.status_code == 429
    assert "`KEY_CONCURRENT_REQUESTS`, which has no window: `Retry-After: 1` and no `X-RateLimit-*` headers" in _flat(DOC_TEXT)
    assert response.headers["Retry-After"] == "1"
    # RATE_LIMIT's headers ("Remaining: 599") said that nothing had run out
    assert not [name for name in response.headers.keys() if name.startswith("X-RateLimit-")]


@pytest.mark.parametrize(
    "body",
    [
        {"comments": [{"id": str(n), "text": "a" * 20_000} for n in range(5)] + [{"id": "5", "text": "b"}]},
        {"comments": [{"id": str(n), "text": "a"} for n in range(101)]},
        {"comments": [{"id": "c1", "text": "a" * 20_001}]},
    ],
    ids=["MAX_REQUEST_CHARS", "MAX_COMMENTS_PER_REQUEST", "MAX_COMMENT_CHARS"],
)
def test_the_messages_the_doc_quotes_for_the_limits_are_the_answers(client, auth, body):
    message = client.post("/v1/moderate", json=body, headers=auth).get_json()["error"]["message"]
    assert f"`{_flat(message)}`" in _flat(DOC_TEXT)


def _with_key(scheme: dict, key: str) -> dict[str, Any]:
    """The request arguments that present ``key`` the way an OpenAPI security scheme says."""
    if scheme["type"] == "http":
        return {"headers": {"Authorization": f"Bearer {key}"}}
    if scheme["in"] == "header":
        return {"headers": {scheme["name"]: key}}
    return {"query_string": {scheme["name"]: key}}


def test_every_documented_way_to_send_a_key_works_and_every_working_one_is_documented(client, api_key, spec):
    schemes = spec["components"]["securitySchemes"]
    for name, scheme in schemes.items():
        assert client.get("/v1/model", **_with_key(scheme, api_key)).status_code == 200, name
    assert {scheme["name"] for scheme in schemes.values() if scheme.get("in") == "header"} == set(KEY_HEADERS)
    section = DOC_TEXT[: DOC_TEXT.index("### `POST /v1/moderate`")]
    for way in ("Authorization: Bearer KEY", *(f"{header}: KEY" for header in KEY_HEADERS), "?key=KEY"):
        assert f"`{way}`" in section


@pytest.mark.parametrize("ready", [True, False])
def test_readyz_answers_the_documented_readiness_body(app, ready, spec):
    if not ready:
        app.extensions[READINESS_KEY] = "probe scores differ from the manifest by 0.5 (tolerance 1e-06): check library versions"
    response = app.test_client().get("/readyz")
    assert response.status_code == (200 if ready else 503)
    schemas = spec["components"]["schemas"]
    body = response.get_json()
    assert set(body) == set(schemas["Readiness"]["properties"]) and set(body["checks"]) == set(schemas["ReadinessChecks"]["properties"])
    assert body["status"] in schemas["Readiness"]["properties"]["status"]["enum"]
    if not ready:
        assert spec["paths"]["/readyz"]["get"]["responses"]["503"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Readiness"}


@pytest.mark.parametrize(("given", "kept"), [("a" * 128, True), ("a" * 129, False), ("cms-42.a:b_c", True), ("cms 42", False)])
def test_request_ids_are_kept_as_documented_also_on_errors(client, auth, given, kept):
    answered = _moderate(client, {**auth, "X-Request-ID": given})
    refused = client.post("/v1/moderate", json={"comments": []}, headers={**auth, "X-Request-ID": given})
    assert answered.get_json()["request_id"] == answered.headers["X-Request-ID"]
    assert (answered.headers["X-Request-ID"] == given) is kept and (refused.headers["X-Request-ID"] == given) is kept
    assert "1 to 128 characters among `A-Z a-z 0-9 . _ : -`" in _flat(DOC_TEXT)


def test_span_offsets_count_code_points_and_spans_come_below_thresholds(client, auth):
    texts = ["\U0001f600\U0001f600 " + HOSTILE, "Thanks for the article, very helpful."]
    results = _moderate(client, auth, {"comments": [{"id": str(n), "text": text} for n, text in enumerate(texts)]}).get_json()["results"]
    reason = next(reason for reason in results[0]["reasons"] if "span" in reason)
    assert texts[0][reason["span"]["begin"] : reason["span"]["end"]] == reason["text"]  # an emoji counts one
    assert results[1]["decision"] == "approve" and results[1]["spans"]  # words behind a score below every threshold


def test_the_doc_says_an_empty_labels_does_not_count_as_the_service_answers(client, auth):
    # The doc said "decision or labels": a client sending `"labels": {}` alone read that as enough, and got a 400.
    answer = client.post("/v1/feedback", json={"comment_id": "c1", "labels": {}}, headers=auth)
    assert answer.status_code == 400
    error = answer.get_json()["error"]
    section = _flat(DOC_TEXT.split("### `POST /v1/feedback`", 1)[1].split("###", 1)[0])
    assert '`"labels": {}` does not count' in section
    assert f"400 `{error['code']}`, `{_flat(error['message'])}`" in section
