"""Every answer /openapi.json documents is one the service gives, and every answer the service gives is documented.

A client generated from the document (openapi-generator, openapi-typescript) types each operation's answers by their
status: an answer of a status the document does not give the operation (a 400 of ``GET /v1/model``), or a body its
schema refuses (a JSON document said to have no body), is one the client cannot read. A table of requests gets every
(operation, status, error code) of the service's own; each answer must be documented for its operation, its body
valid against the documented schema (a JSON Schema validator, OpenAPI 3.0's ``nullable`` as JSON Schema's null, the
``date-time`` format checked), its media type and headers the documented ones. Each error response's description
names the codes (``(code x)``) of its status, and the table must give exactly those: a code the document names for an
operation that never answers it (``too_much_text`` of ``/v1/feedback``) is drift too. The request bodies of the
successes are the document's own examples.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from typing import Any, NamedTuple

import pytest
from jsonschema import Draft4Validator, FormatChecker
from sqlalchemy.exc import OperationalError

from service.app import create_app
from service.auth import create_key
from service.migrations import SchemaMismatch, head_revision
from service.ops import READINESS_KEY
from service.schema_gate import init_schema_gate
from service.store import get_session
from tests.test_openapi_requests import json_schema

JSON = "application/json"
CODE = re.compile(r"\(code ([a-z_]+)\)")
"""How an error response's description names each code it may have."""
FORMATS = FormatChecker(formats=())
INTEGER = re.compile(r"-?\d+")


@FORMATS.checks("date-time", raises=ValueError)
def _is_date_time(value: Any) -> bool:
    """RFC 3339's date-time (a date, ``T``, a time and an offset); jsonschema checks it only with a package not installed."""
    return not isinstance(value, str) or (value[10:11] in ("T", "t") and datetime.fromisoformat(value).tzinfo is not None)


def document_problems(spec: dict, schema: dict, value: Any) -> list[str]:
    """Why the document's ``schema`` (a ``$ref`` or inline) refuses ``value`` (empty when it takes it)."""
    root = {**json_schema(schema), "components": {"schemas": json_schema(spec["components"]["schemas"])}}
    return [f"{'.'.join(map(str, error.absolute_path)) or 'the body'}: {error.message}"
            for error in Draft4Validator(root, format_checker=FORMATS).iter_errors(value)]


@pytest.fixture
def spec(client):
    return client.get("/openapi.json").get_json()


def example_body(spec: dict, method: str, path: str) -> Any:
    """The document's example request body of an operation."""
    return spec["paths"][path][method]["requestBody"]["content"][JSON]["example"]


class Sent(NamedTuple):
    """What a case may use: the app, its client, its document, a key with every scope and one of each scope alone."""

    app: Any
    client: Any
    spec: dict
    key: str
    moderate_key: str
    feedback_key: str


class Case(NamedTuple):
    method: str
    path: str
    status: int
    code: str | None
    """The error code of the answer (None: a success, or a body that is no error, as /readyz's 503)."""
    send: Callable[[Sent], Any]
    settings: dict[str, Any] = {}


def _with(key: str, **headers: str) -> dict[str, str]:
    return {"X-API-Key": key, **headers}


def _example(method: str, path: str) -> Callable[[Sent], Any]:
    """Send the operation's documented example with a key of every scope (no body for a GET)."""
    def send(sent: Sent) -> Any:
        body = example_body(sent.spec, method, path) if method == "post" else None
        return sent.client.open(path, method=method.upper(), json=body, headers=_with(sent.key))
    return send


def _plain(method: str, path: str, **kwargs: Any) -> Callable[[Sent], Any]:
    """Send ``kwargs`` (``headers`` holding ``KEY``, ``MODERATE_KEY`` or ``FEEDBACK_KEY`` for the case's keys) to the
    operation."""
    def send(sent: Sent) -> Any:
        keys = {"KEY": sent.key, "MODERATE_KEY": sent.moderate_key, "FEEDBACK_KEY": sent.feedback_key}
        headers = {name: keys.get(value, value) for name, value in kwargs.get("headers", {}).items()}
        return sent.client.open(path, method=method.upper(), **{**kwargs, "headers": headers})
    return send


def _twice(method: str, path: str) -> Callable[[Sent], Any]:
    """Send the operation's example twice (under a RATE_LIMIT of one request): the second answer."""
    def send(sent: Sent) -> Any:
        _example(method, path)(sent)
        return _example(method, path)(sent)
    return send


def _database_lost(method: str, path: str) -> Callable[[Sent], Any]:
    def send(sent: Sent) -> Any:
        def lost(*_args: Any, **_kwargs: Any) -> Any:
            raise OperationalError("SELECT 1", {}, ConnectionError("server closed the connection"))

        with pytest.MonkeyPatch.context() as patch:
            patch.setattr("service.auth.find_active_key", lost)
            return _example(method, path)(sent)
    return send


def _schema_behind(method: str, path: str) -> Callable[[Sent], Any]:
    def send(sent: Sent) -> Any:
        behind = SchemaMismatch("database at revision 0002", "0002", head_revision())

        def check() -> None:
            raise behind

        init_schema_gate(sent.app, check, behind)
        return _example(method, path)(sent)
    return send


def _not_ready(sent: Sent) -> Any:
    sent.app.extensions[READINESS_KEY] = "probe scores differ from the manifest by 0.5 (tolerance 1e-06): check library versions"
    return sent.client.get("/readyz")


MODERATE = ("post", "/v1/moderate")
FEEDBACK = ("post", "/v1/feedback")
MODEL = ("get", "/v1/model")
TWO_KEYS = {"headers": {"X-API-Key": "KEY", "Authorization": "Bearer mod_another"}}
TOO_LARGE = {"MAX_CONTENT_LENGTH": 1_000}


def _keyed_cases(method: str, path: str, other_scope: str | None) -> dict[str, Case]:
    """The errors every operation that needs a key answers; with ``other_scope`` (a key of a scope it does not take,
    as ``_plain`` names them), the key's scope too."""
    name = f"{method.upper()} {path}"
    cases = {
        f"{name} 400 two keys": Case(method, path, 400, "invalid_request", _plain(method, path, **TWO_KEYS)),
        f"{name} 401": Case(method, path, 401, "missing_api_key", _plain(method, path)),
        f"{name} 403 unknown key": Case(method, path, 403, "invalid_api_key", _plain(method, path, headers={"X-API-Key": "mod_unknown"})),
        f"{name} 429": Case(method, path, 429, "too_many_requests", _twice(method, path), {"RATE_LIMIT": "1 per minute"}),
        f"{name} 503 database lost": Case(method, path, 503, "database_unavailable", _database_lost(method, path)),
        f"{name} 503 schema behind": Case(method, path, 503, "database_schema_outdated", _schema_behind(method, path)),
    }
    if other_scope is not None:
        cases[f"{name} 403 scope"] = Case(method, path, 403, "missing_scope", _plain(method, path, headers={"X-API-Key": other_scope}, json={}))
    return cases


def _body_cases(method: str, path: str) -> dict[str, Case]:
    """The errors every operation with a request body answers."""
    name = f"{method.upper()} {path}"
    return {
        f"{name} 400 body": Case(method, path, 400, "invalid_request", _plain(method, path, headers={"X-API-Key": "KEY"}, json=[1])),
        f"{name} 413 body": Case(method, path, 413, "request_entity_too_large",
                                 _plain(method, path, headers={"X-API-Key": "KEY"}, data=b" " * 2_000), TOO_LARGE),
        f"{name} 415": Case(method, path, 415, "unsupported_content_encoding",
                            _plain(method, path, headers={"X-API-Key": "KEY", "Content-Encoding": "gzip"}, data=b"\x1f\x8b")),
    }


CASES: dict[str, Case] = {
    "POST /v1/moderate 200": Case(*MODERATE, 200, None, _example(*MODERATE)),
    "POST /v1/feedback 201": Case(*FEEDBACK, 201, None, _example(*FEEDBACK)),
    "GET /v1/model 200": Case(*MODEL, 200, None, _example(*MODEL)),
    "GET /healthz 200": Case("get", "/healthz", 200, None, _plain("get", "/healthz")),
    "GET /readyz 200": Case("get", "/readyz", 200, None, _plain("get", "/readyz")),
    "GET /readyz 503": Case("get", "/readyz", 503, None, _not_ready),
    "GET /metrics 200": Case("get", "/metrics", 200, None, _plain("get", "/metrics")),
    "GET /docs 200": Case("get", "/docs", 200, None, _plain("get", "/docs")),
    "GET /openapi.json 200": Case("get", "/openapi.json", 200, None, _plain("get", "/openapi.json")),
    "POST /v1/moderate 413 too much text": Case(*MODERATE, 413, "too_much_text", _plain(
        *MODERATE, headers={"X-API-Key": "KEY"}, json={"comments": [{"id": str(n), "text": "a" * 20_000} for n in range(5)] + [{"id": "5", "text": "b"}]})),
    **_body_cases(*MODERATE),
    **_body_cases(*FEEDBACK),
    **_keyed_cases(*MODERATE, other_scope="FEEDBACK_KEY"),
    **_keyed_cases(*FEEDBACK, other_scope="MODERATE_KEY"),
    **_keyed_cases(*MODEL, other_scope=None),
}


def answer_problems(spec: dict, case: Case, response: Any) -> list[str]:
    """How ``response`` differs from what the document says of its operation's answers of its status."""
    documented = spec["paths"][case.path][case.method]["responses"].get(str(response.status_code))
    if documented is None:
        return [f"{case.method.upper()} {case.path} answered {response.status_code}, which the document does not give it"]
    problems = []
    if case.code is not None and case.code not in CODE.findall(documented["description"]):
        problems.append(f"the {response.status_code} description does not name the code {case.code}")
    content = documented.get("content", {})
    if response.mimetype not in content:
        problems.append(f"the answer is {response.mimetype}, the document gives {sorted(content) or 'no body'}")
    else:
        body = response.get_json() if response.mimetype == JSON else response.get_data(as_text=True)
        problems += document_problems(spec, content[response.mimetype]["schema"], body)
    for name, header in documented.get("headers", {}).items():
        if name not in response.headers:
            problems.append(f"the documented header {name} is missing")
        elif header["schema"]["type"] == "integer" and not INTEGER.fullmatch(response.headers[name]):
            problems.append(f"the header {name} is {response.headers[name]!r}, not the documented integer")
    return problems


@pytest.mark.parametrize("name", CASES)
def test_every_answer_is_one_the_document_describes(name, tiny_bundle_path):
    case = CASES[name]
    app = create_app({"TESTING": True, "MODEL": str(tiny_bundle_path), "DB_URL": "sqlite://", **case.settings})
    with app.app_context():
        key = create_key(get_session(), "every scope")[1]
        moderate_key, feedback_key = (create_key(get_session(), f"{scope} only", (scope,))[1] for scope in ("moderate", "feedback"))
    client = app.test_client()
    spec = client.get("/openapi.json").get_json()
    response = case.send(Sent(app, client, spec, key, moderate_key, feedback_key))
    answered = response.get_json(silent=True)
    code = answered.get("error", {}).get("code") if isinstance(answered, dict) and case.code else None
    assert (response.status_code, code) == (case.status, case.code), response.get_data(as_text=True)[:500]
    assert answer_problems(spec, case, response) == []


def documented_answers(spec: dict) -> set[tuple[str, str, int, str | None]]:
    """Every (method, path, status, code) the document gives: the codes its descriptions name, None for a success."""
    found = set()
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            for status, response in operation["responses"].items():
                codes = CODE.findall(response["description"]) or [None]
                found |= {(method, path, int(status), code) for code in codes}
    return found


def test_the_cases_give_every_documented_answer_and_no_other(spec):
    assert documented_answers(spec) == {(case.method, case.path, case.status, case.code) for case in CASES.values()}


def test_every_request_body_has_an_example_the_document_accepts(spec):
    bodies = {(method, path): operation["requestBody"]["content"][JSON]
              for path, item in spec["paths"].items() for method, operation in item.items() if "requestBody" in operation}
    assert set(bodies) == {MODERATE, FEEDBACK}
    for operation, body in bodies.items():
        assert "example" in body, operation
        assert document_problems(spec, body["schema"], body["example"]) == [], operation


@pytest.mark.parametrize(
    ("schema", "value", "problem"),
    [
        ({"$ref": "#/components/schemas/Health"}, {"status": "ok"}, "the body: 'model_version' is a required property"),
        ({"$ref": "#/components/schemas/ErrorResponse"}, {"error": {"code": "x", "message": "y", "hint": "z"}},
         "error: Additional properties are not allowed ('hint' was unexpected)"),
        ({"type": "string", "format": "date-time", "nullable": True}, "2026-12-06 10:00", "the body: '2026-12-06 10:00' is not a 'date-time'"),
        ({"type": "string", "format": "date-time", "nullable": True}, "2026-12-06T10:00:00", "the body: '2026-12-06T10:00:00' is not a 'date-time'"),
    ],
)
def test_a_body_the_document_refuses_is_caught(spec, schema, value, problem):
    assert problem in document_problems(spec, schema, value)


def test_a_null_where_the_document_allows_it_and_a_date_time_pass(spec):
    created = {"type": "string", "format": "date-time", "nullable": True}
    assert document_problems(spec, created, None) == document_problems(spec, created, "2026-12-06T10:00:00+00:00") == []


PAGE_PREFIXES = ("/ui/", "/static/")
"""Routes of the moderation page (HTML forms behind a session) and its files: no API of a client's."""
CATCH_ALL = "/v1alpha1/<path:rest>"
"""Answers only Google's 404 and 405 for what is no method of the Perspective-compatible API."""


def test_every_api_route_is_in_the_document_or_named_in_its_description(app, spec):
    # An integrator reading /openapi.json did not learn that the Perspective-compatible API, its batch endpoint and
    # discovery document, and the Coral endpoint exist: the description now names each route and where it is described.
    from service.perspective import API_VERSION

    description = spec["info"]["description"]
    rules = {rule.rule for rule in app.url_map.iter_rules()} - {CATCH_ALL}
    missing = [rule for rule in sorted(rules) if not rule.startswith(PAGE_PREFIXES)
               and rule not in spec["paths"] and rule.replace("<version>", API_VERSION) not in description]
    assert missing == []


def test_the_description_points_at_a_discovery_document_of_the_routes_it_names(client, spec):
    description = spec["info"]["description"]
    found = re.search(r"/\$discovery/rest\?version=\w+", description)
    assert found is not None
    discovery = client.get(found.group(0)).get_json()
    methods = discovery["resources"]["comments"]["methods"].values()
    for path in [f"/{method['path']}" for method in methods] + [f"/{discovery['batchPath']}"]:
        assert f"POST {path}" in description, path


@pytest.mark.parametrize(("method", "path"), [MODERATE, FEEDBACK, MODEL])
def test_a_429_for_requests_in_progress_is_documented_where_it_is_answered(method, path, tiny_bundle_path):
    # Every operation's 429 named the key's comments, characters and requests in progress; only scoring charges
    # them: with the key's one slot taken, /v1/feedback and /v1/model answer as usual.
    from service.key_limits import SLOTS_KEY

    app = create_app({"TESTING": True, "MODEL": str(tiny_bundle_path), "DB_URL": "sqlite://", "KEY_CONCURRENT_REQUESTS": 1})
    with app.app_context():
        row, key = create_key(get_session(), "every scope")
    client = app.test_client()
    spec = client.get("/openapi.json").get_json()
    app.extensions[SLOTS_KEY].acquire(f"key:{row.id}", 1)  # another request of the key is in progress
    response = _example(method, path)(Sent(app, client, spec, key, key, key))
    assert response.status_code in (200, 201, 429), response.get_json()
    description = spec["paths"][path][method]["responses"]["429"]["description"]
    assert (response.status_code == 429) == ("KEY_CONCURRENT_REQUESTS" in description)
