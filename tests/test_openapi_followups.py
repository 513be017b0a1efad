"""What /openapi.json promises about answers is what the service sends, and the document is well-formed OpenAPI 3.0.

A response field the document marks required is one generated clients (openapi-generator, openapi-typescript) type
as always there: every real answer must have it. A field it leaves optional must be missing from some real answer,
else it should be required. A field the answer has and the document does not (``additionalProperties: false``), or an
object the document leaves free-form, is drift too. The answers are those of the tiny TF-IDF bundle (``encoder_mode``
is null there), and ``GET /v1/model`` of the committed bundle and its base: their model cards name the data sets and
test metrics the tiny bundle has none of.
No OpenAPI validator is installed, so ``openapi_problems`` checks the OpenAPI 3.0 rules the document relies on.
"""

from __future__ import annotations

import copy
import re
from collections import defaultdict
from typing import Any

import pytest

import service.openapi

JSON = "application/json"
REF_PREFIX = "#/components/schemas/"
MODERATE_BODY = {
    "comments": [
        {"id": "hostile", "text": "I will kill you, you stupid idiot."},
        {"id": "empty", "text": ""},  # its reason has a code and an action only
        {"id": "neutral", "text": "Thanks for the article, very helpful."},
    ]
}
SUCCESS_REQUESTS = {
    ("post", "/v1/moderate"): {"json": MODERATE_BODY},
    ("post", "/v1/feedback"): {"json": {"comment_id": "hostile", "decision": "reject", "labels": {"toxicity": 1.0}}},
    ("get", "/v1/model"): {},
    ("get", "/healthz"): {},
    ("get", "/readyz"): {},
    ("get", "/openapi.json"): {},
}
"""A request for every operation whose 2xx answer has a JSON schema (the test fails when one is missing here)."""
FREE_FORM = frozenset({"ModelResponse.manifest"})
"""Objects the document may leave free-form: the bundle's manifest.json as written, whose fields differ between
bundles and grow with the training code (MODEL_CARD.md describes it); the card summarises it with a schema."""
ERROR_REQUESTS = {
    ("post", "/v1/moderate", "400"): {"json": {"comments": []}},
    ("get", "/v1/model", "401"): {"headers": {}},
}
"""Some error answers: their ErrorResponse must hold what it promises too."""


# Real answers against their documented schemas


def _component(spec: dict, schema: dict) -> tuple[str | None, dict]:
    """The component name and body of a ``$ref`` schema (None and the schema itself otherwise)."""
    ref = schema.get("$ref", "")
    if ref.startswith(REF_PREFIX):
        name = ref.removeprefix(REF_PREFIX)
        return name, spec["components"]["schemas"][name]
    return None, schema


def _nullable(schema: dict) -> bool:
    return bool(schema.get("nullable")) or any(option.get("nullable") for option in schema.get("anyOf", ()))


def _described(spec: dict, schema: dict) -> dict:
    """The schema a value is answered by: a nullable ``$ref``'s (apispec writes it as ``anyOf``), a component's body."""
    if "anyOf" in schema:
        schema = next(option for option in schema["anyOf"] if "$ref" in option)
    return _component(spec, schema)[1]


def _free_form(spec: dict, schema: dict) -> bool:
    """Whether ``schema`` is an object the document says nothing about: no properties, no type for its values."""
    body = _described(spec, schema)
    return body.get("type") == "object" and not body.get("properties") and not body.get("additionalProperties")


def _object_problems(spec: dict, name: str | None, schema: dict, value: dict, where: str, seen: dict[str, list[set[str]]]) -> list[str]:
    """``answer_problems`` for an object with properties: required ones missing, ones the document lacks, free-form ones."""
    owner = name or "the document"
    if name is not None:
        seen[name].append(set(value))
    problems = [f"{where}.{field} is required by {owner}, the answer lacks it" for field in schema.get("required", ()) if field not in value]
    if schema.get("additionalProperties") is False:
        problems += [f"{where}.{field} is in the answer, not in {owner}" for field in sorted(set(value) - set(schema["properties"]))]
    for field, prop in schema["properties"].items():
        if field not in value:
            continue
        if isinstance(value[field], dict) and _free_form(spec, prop) and f"{name}.{field}" not in FREE_FORM:
            problems.append(f"{where}.{field} is an object {owner} leaves free-form: describe its fields")
        problems += answer_problems(spec, prop, value[field], f"{where}.{field}", seen)
    return problems


def answer_problems(spec: dict, schema: dict, value: Any, where: str, seen: dict[str, list[set[str]]]) -> list[str]:
    """How ``value`` breaks ``schema``'s promises (a required field missing, a null that is not nullable, a field or an
    object's contents left undescribed); record in ``seen`` the fields of every object answered for a component schema."""
    if value is None:
        return [] if _nullable(schema) else [f"{where} is null, the document does not say it may be"]
    if "anyOf" in schema:  # apispec's form of a nullable $ref
        schema = next(option for option in schema["anyOf"] if "$ref" in option)
    name, schema = _component(spec, schema)
    problems = []
    if schema.get("type") == "array" and isinstance(value, list):
        for index, item in enumerate(value):
            problems += answer_problems(spec, schema["items"], item, f"{where}[{index}]", seen)
    if "properties" in schema and isinstance(value, dict):
        problems += _object_problems(spec, name, schema, value, where, seen)
    elif isinstance(schema.get("additionalProperties"), dict) and isinstance(value, dict):  # a mapping: name -> value
        for key, item in value.items():
            problems += answer_problems(spec, schema["additionalProperties"], item, f"{where}.{key}", seen)
    return problems


def reachable(spec: dict, schema: dict, found: set[str] | None = None) -> set[str]:
    """The component schemas ``schema`` names, directly or through other components."""
    found = set() if found is None else found
    name, body = _component(spec, schema)
    if name is not None:
        if name in found:
            return found
        found.add(name)
    children = (*body.get("anyOf", ()), *body.get("properties", {}).values(),
                *[body[key] for key in ("items", "additionalProperties") if isinstance(body.get(key), dict)])
    for child in children:
        reachable(spec, child, found)
    return found


def documented_json_successes(spec: dict) -> dict[tuple[str, str], tuple[str, dict]]:
    """``{(method, path): (status, schema)}`` for every 2xx answer the document gives a JSON schema."""
    found = {}
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            for status, response in operation["responses"].items():
                schema = response.get("content", {}).get(JSON, {}).get("schema")
                if status.startswith("2") and schema is not None:
                    found[(method, path)] = (status, schema)
    return found


def optional_fields_always_sent(spec: dict, seen: dict[str, list[set[str]]]) -> list[str]:
    """Optional properties of the seen components that every answer had: they should be required."""
    problems = []
    for name, answered in sorted(seen.items()):
        schema = spec["components"]["schemas"][name]
        for field in sorted(set(schema["properties"]) - set(schema.get("required", ()))):
            if all(field in fields for fields in answered):
                problems.append(f"{name}.{field} is optional in the document, but all {len(answered)} answers sent it")
    return problems


@pytest.fixture
def spec(client):
    return client.get("/openapi.json").get_json()


def _committed_versions() -> list[str]:
    """The committed bundle (bundles/CURRENT) and the TF-IDF bundle it is built on, if any: an encoder bundle's card
    and a TF-IDF one's name their data sets differently."""
    from model.bundle import read_manifest, resolve_bundle_path

    current = read_manifest(resolve_bundle_path())
    base = current.get("base_bundle", {}).get("version")
    return [str(current["model_version"]), *([base] if base else [])]


@pytest.fixture(scope="module")
def committed_model_answers(tiny_bundle_path) -> dict[str, Any]:
    """``GET /v1/model``'s answer for each of ``_committed_versions``."""
    from service.app import create_app
    from service.auth import create_key
    from service.store import get_session

    answers = {}
    for version in _committed_versions():
        app = create_app({"TESTING": True, "MODEL": version, "DB_URL": "sqlite://"})
        with app.app_context():
            key = create_key(get_session(), "test")[1]
        response = app.test_client().get("/v1/model", headers={"Authorization": f"Bearer {key}"})
        assert response.status_code == 200, response.get_json()
        answers[version] = response.get_json()
    return answers


def test_every_json_success_answer_is_exercised(spec):
    assert set(documented_json_successes(spec)) == set(SUCCESS_REQUESTS)


def test_real_answers_have_every_required_field_and_lack_every_optional_one_somewhere(spec, client, auth, committed_model_answers):
    seen: dict[str, list[set[str]]] = defaultdict(list)
    problems = []
    components: set[str] = set()
    for (method, path), (status, schema) in documented_json_successes(spec).items():
        response = client.open(path, method=method.upper(), **{"headers": auth, **SUCCESS_REQUESTS[(method, path)]})
        assert str(response.status_code) == status, (method, path, response.get_json())
        problems += answer_problems(spec, schema, response.get_json(), f"{method.upper()} {path} {status}", seen)
        components |= reachable(spec, schema)
    model_schema = documented_json_successes(spec)[("get", "/v1/model")][1]
    for version, answer in committed_model_answers.items():
        problems += answer_problems(spec, model_schema, answer, f"GET /v1/model 200 (bundle {version})", seen)
    for (method, path, status), request in ERROR_REQUESTS.items():
        response = client.open(path, method=method.upper(), **{"headers": auth, **request})
        assert str(response.status_code) == status, (method, path, response.get_json())
        schema = spec["paths"][path][method]["responses"][status]["content"][JSON]["schema"]
        problems += answer_problems(spec, schema, response.get_json(), f"{method.upper()} {path} {status}", seen)
    assert problems == []
    assert components <= set(seen), f"no answer had {sorted(components - set(seen))}: send a request that gets one"
    assert optional_fields_always_sent(spec, seen) == []


def test_the_model_card_is_described_field_by_field(spec, committed_model_answers):
    card = spec["components"]["schemas"]["ModelCard"]
    assert card["additionalProperties"] is False
    for version, answer in committed_model_answers.items():
        assert set(answer["card"]) == set(card["properties"]) == set(card["required"]), version
    assert {spec["components"]["schemas"]["ModelResponse"]["properties"]["card"]["$ref"],
            card["properties"]["datasets"]["additionalProperties"]["$ref"]} == {REF_PREFIX + "ModelCard", REF_PREFIX + "Dataset"}


def test_the_tfidf_bundle_answers_a_null_encoder_mode_as_documented(spec, client, auth):
    model = spec["components"]["schemas"]["ModelResponse"]
    assert client.get("/v1/model", headers=auth).get_json()["encoder_mode"] is None
    assert "encoder_mode" in model["required"] and model["properties"]["encoder_mode"]["nullable"] is True


@pytest.mark.parametrize(
    ("schema", "value", "problem"),
    [
        ({"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]}, {}, "x.a is required by the document, the answer lacks it"),
        ({"type": "object", "properties": {"a": {"type": "string"}}}, {"a": None}, "x.a is null, the document does not say it may be"),
        ({"type": "array", "items": {"$ref": REF_PREFIX + "Span"}}, [{"begin": 1}], "x[0].end is required by Span, the answer lacks it"),
    ],
)
def test_an_answer_missing_a_promised_field_is_caught(schema, value, problem):
    spec = {"components": {"schemas": {"Span": {"type": "object", "properties": {"begin": {}, "end": {}}, "required": ["begin", "end"]}}}}
    assert problem in answer_problems(spec, schema, value, "x", defaultdict(list))


CARD = {"type": "object", "properties": {"model_version": {"type": "string"}, "datasets": {"type": "object", "additionalProperties": {"$ref": REF_PREFIX + "Dataset"}}},
        "required": ["model_version", "datasets"], "additionalProperties": False}
CARD_SPEC = {"components": {"schemas": {
    "Card": CARD, "Dataset": {"type": "object", "properties": {"rows": {"type": "integer"}}, "required": ["rows"], "additionalProperties": False},
    "ModelResponse": {"type": "object", "properties": {"card": {"type": "object"}, "manifest": {"type": "object", "additionalProperties": {}}}}}}}


@pytest.mark.parametrize(
    ("schema", "value", "problem"),
    [
        (REF_PREFIX + "Card", {"model_version": "1", "datasets": {}, "created": "2026"}, "x.created is in the answer, not in Card"),
        (REF_PREFIX + "Card", {"model_version": "1", "datasets": {"olid": {"license": "MIT"}}}, "x.datasets.olid.rows is required by Dataset, the answer lacks it"),
        (REF_PREFIX + "ModelResponse", {"card": {"model_version": "1"}}, "x.card is an object ModelResponse leaves free-form: describe its fields"),
    ],
)
def test_an_answer_that_drifted_from_its_schema_is_caught(schema, value, problem):
    assert problem in answer_problems(CARD_SPEC, {"$ref": schema}, value, "x", defaultdict(list))


def test_the_manifest_alone_may_be_free_form():
    answer = {"card": {"model_version": "1"}, "manifest": {"model_version": "1", "seed": 0}}
    problems = answer_problems(CARD_SPEC, {"$ref": REF_PREFIX + "ModelResponse"}, answer, "x", defaultdict(list))
    assert problems == ["x.card is an object ModelResponse leaves free-form: describe its fields"]
    assert reachable(CARD_SPEC, {"$ref": REF_PREFIX + "Card"}) == {"Card", "Dataset"}


def test_an_optional_field_every_answer_sent_is_caught():
    spec = {"components": {"schemas": {"Health": {"type": "object", "properties": {"status": {}, "model_version": {}}, "required": ["status"]}}}}
    answers = {"Health": [{"status", "model_version"}, {"status", "model_version"}]}
    assert optional_fields_always_sent(spec, answers) == ["Health.model_version is optional in the document, but all 2 answers sent it"]
    assert optional_fields_always_sent(spec, {"Health": [*answers["Health"], {"status"}]}) == []


def test_healthz_and_readyz_document_their_200_body(spec):
    def body(path: str, status: str) -> dict:
        return spec["paths"][path]["get"]["responses"][status]["content"][JSON]["schema"]

    assert body("/readyz", "200") == body("/readyz", "503") == {"$ref": REF_PREFIX + "Readiness"}
    assert body("/healthz", "200") == {"$ref": REF_PREFIX + "Health"}
    assert spec["components"]["schemas"]["Health"]["properties"]["status"]["enum"] == ["ok"]


# The document as OpenAPI 3.0

METHODS = frozenset({"get", "put", "post", "delete", "options", "head", "patch", "trace"})
PATH_ITEM_FIELDS = frozenset({"summary", "description", "servers", "parameters"})
STATUS = re.compile(r"default|[1-5](\d\d|XX)")
SCHEMA_TYPES = frozenset({"string", "number", "integer", "boolean", "array", "object"})
"""OpenAPI 3.0's types: no "null" (``nullable`` says it) and no list of types (both are 3.1)."""
SCHEME_FIELDS = {"apiKey": ("name", "in"), "http": ("scheme",), "oauth2": ("flows",), "openIdConnect": ("openIdConnectUrl",)}
KEY_PLACES = frozenset({"query", "header", "cookie"})
PATH_PARAMETER = re.compile(r"{([^}]+)}")


def _pointer(spec: dict, ref: str) -> Any:
    """What a local ``$ref`` points at (KeyError or TypeError when nothing)."""
    target: Any = spec
    for part in ref.removeprefix("#/").split("/"):
        target = target[part.replace("~1", "/").replace("~0", "~")]
    return target


def _refs(value: Any, where: str = "#") -> list[tuple[str, str]]:
    if isinstance(value, dict):
        found = [(where, value["$ref"])] if isinstance(value.get("$ref"), str) else []
        return found + [ref for key, child in value.items() for ref in _refs(child, f"{where}/{key}")]
    if isinstance(value, list):
        return [ref for index, child in enumerate(value) for ref in _refs(child, f"{where}/{index}")]
    return []


def schema_problems(schema: dict, where: str) -> list[str]:
    """OpenAPI 3.0 Schema Object rules: one known type, arrays with items, ``required`` non-empty, unique and
    naming properties (a name that is none is a typo a generated client cannot type)."""
    problems = []
    kind = schema.get("type")
    if kind is not None and (not isinstance(kind, str) or kind not in SCHEMA_TYPES):
        problems.append(f"{where}: type {kind!r} is not an OpenAPI 3.0 type")
    if kind == "array" and "items" not in schema:
        problems.append(f"{where}: an array needs items")
    required = schema.get("required")
    if required is not None:
        if not isinstance(required, list) or not required or len(set(required)) != len(required):
            problems.append(f"{where}: required must be a non-empty list of distinct names, not {required!r}")
        else:
            problems += [f"{where}: required names {name!r}, which is not a property" for name in required if name not in schema.get("properties", {})]
    children = {**{f"properties/{k}": v for k, v in schema.get("properties", {}).items()},
                **{f"anyOf/{i}": v for i, v in enumerate(schema.get("anyOf", ()))}}
    for key in ("items", "additionalProperties"):
        if isinstance(schema.get(key), dict):
            children[key] = schema[key]
    for key, child in children.items():
        problems += schema_problems(child, f"{where}/{key}")
    return problems


def _operation_problems(spec: dict, path: str, method: str, operation: dict) -> list[str]:
    where = f"{method.upper()} {path}"
    problems = []
    if not operation.get("responses"):
        problems.append(f"{where}: no responses")
    for status, response in operation.get("responses", {}).items():
        if not STATUS.fullmatch(status):
            problems.append(f"{where}: {status!r} is not a status code")
        if not isinstance(response.get("description"), str):
            problems.append(f"{where} {status}: a response needs a description")
        for header, header_object in response.get("headers", {}).items():
            if "schema" not in header_object and "content" not in header_object:
                problems.append(f"{where} {status}: header {header} needs a schema")
        for media, content in response.get("content", {}).items():
            problems += schema_problems(content.get("schema", {}), f"{where} {status} {media}")
    for media, content in operation.get("requestBody", {}).get("content", {}).items():
        problems += schema_problems(content.get("schema", {}), f"{where} request {media}")
    schemes = spec.get("components", {}).get("securitySchemes", {})
    for requirement in operation.get("security", ()):
        problems += [f"{where}: security names {name!r}, which is no securityScheme" for name in requirement if name not in schemes]
    path_parameters = {p["name"] for p in operation.get("parameters", ()) if p.get("in") == "path" and p.get("required") is True}
    problems += [f"{where}: {{{name}}} needs a required path parameter" for name in PATH_PARAMETER.findall(path) if name not in path_parameters]
    return problems


def openapi_problems(spec: dict) -> list[str]:
    """What makes ``spec`` an invalid OpenAPI 3.0 document, as far as the rules this service's document uses go."""
    problems = []
    if not re.fullmatch(r"3\.0\.\d+", str(spec.get("openapi"))):
        problems.append(f"openapi is {spec.get('openapi')!r}, not 3.0.x")
    info = spec.get("info", {})
    problems += [f"info.{name} must be a string" for name in ("title", "version") if not isinstance(info.get(name), str)]
    operation_ids = defaultdict(list)
    for path, item in spec.get("paths", {}).items():
        if not path.startswith("/"):
            problems.append(f"path {path!r} must start with /")
        problems += [f"{path}: {key!r} is not a method or a path item field" for key in item if key not in METHODS | PATH_ITEM_FIELDS]
        for method, operation in item.items():
            if method in METHODS:
                operation_ids[operation.get("operationId")].append(f"{method.upper()} {path}")
                problems += _operation_problems(spec, path, method, operation)
    problems += [f"operationId {name!r} is used by {', '.join(where)}" for name, where in operation_ids.items() if name is not None and len(where) > 1]
    components = spec.get("components", {})
    for name, schema in components.get("schemas", {}).items():
        problems += schema_problems(schema, f"{REF_PREFIX}{name}")
    for name, scheme in components.get("securitySchemes", {}).items():
        needed = SCHEME_FIELDS.get(scheme.get("type"))
        if needed is None:
            problems.append(f"securityScheme {name}: type {scheme.get('type')!r} is unknown")
            continue
        problems += [f"securityScheme {name}: {field} is missing" for field in needed if not scheme.get(field)]
        if scheme["type"] == "apiKey" and scheme.get("in") not in KEY_PLACES:
            problems.append(f"securityScheme {name}: in must be one of {sorted(KEY_PLACES)}")
    for where, ref in _refs(spec):
        try:
            _pointer(spec, ref)
        except (KeyError, TypeError, IndexError):
            problems.append(f"{where}: $ref {ref} points at nothing")
    return problems


def test_the_document_is_valid_openapi_3_0(spec):
    assert openapi_problems(spec) == []


def _break(spec: dict, how: str) -> None:
    schemas = spec["components"]["schemas"]
    if how == "required typo":
        schemas["Result"]["required"] = ["decison"]
    elif how == "empty required":
        schemas["Result"]["required"] = []
    elif how == "3.1 null type":
        schemas["ModelResponse"]["properties"]["encoder_mode"]["type"] = ["string", "null"]
    elif how == "dangling ref":
        schemas["Result"]["properties"]["reasons"]["items"] = {"$ref": REF_PREFIX + "Reasons"}
    elif how == "no description":
        del spec["paths"]["/healthz"]["get"]["responses"]["200"]["description"]
    elif how == "unknown scheme":
        spec["paths"]["/v1/model"]["get"]["security"] = [{"cookie": []}]
    elif how == "key without place":
        del spec["components"]["securitySchemes"]["apiKeyQuery"]["in"]


BROKEN = {
    "required typo": "required names 'decison', which is not a property",
    "empty required": "required must be a non-empty list of distinct names, not []",
    "3.1 null type": "type ['string', 'null'] is not an OpenAPI 3.0 type",
    "dangling ref": "$ref #/components/schemas/Reasons points at nothing",
    "no description": "GET /healthz 200: a response needs a description",
    "unknown scheme": "GET /v1/model: security names 'cookie', which is no securityScheme",
    "key without place": "securityScheme apiKeyQuery: in is missing",
}


@pytest.mark.parametrize("how", sorted(BROKEN))
def test_an_invalid_document_is_caught(spec, how):
    broken = copy.deepcopy(spec)
    _break(broken, how)
    assert any(BROKEN[how] in problem for problem in openapi_problems(broken)), openapi_problems(broken)


# The docs page's ways to send a key


def _way(scheme: dict) -> str:
    """How a client writes the key for an OpenAPI security scheme."""
    if scheme["type"] == "http":
        return "Authorization: Bearer KEY"
    return f"{scheme['name']}: KEY" if scheme["in"] == "header" else f"?{scheme['name']}=KEY"


def _shown_ways(page: str) -> list[str]:
    section = page[page.index("<h2>Authentication</h2>") : page.index("<h2>Operations</h2>")]
    return re.findall(r"<li><code>([^<]+)</code>", section)


def test_the_docs_page_shows_every_way_to_send_a_key_in_the_document(client, spec):
    shown = _shown_ways(client.get("/docs").get_data(as_text=True))
    assert shown == [_way(scheme) for scheme in spec["components"]["securitySchemes"].values()]
    assert "X-Goog-Api-Key: KEY" in shown


def test_the_docs_page_follows_a_changed_security_scheme(client, monkeypatch):
    renamed = {**service.openapi.SECURITY_SCHEMES["apiKeyHeader"], "name": "X-Moderation-Key"}
    monkeypatch.setitem(service.openapi.SECURITY_SCHEMES, "apiKeyHeader", renamed)
    shown = _shown_ways(client.get("/docs").get_data(as_text=True))
    assert "X-Moderation-Key: KEY" in shown and "X-API-Key: KEY" not in shown
