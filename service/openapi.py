"""The OpenAPI document (``/openapi.json``) and a readable docs page (``/docs``), generated from the code.

A view joins the document by carrying ``@operation(...)``; its request and response shapes are the
marshmallow schemas of ``service.schemas`` (the same ones that validate requests), turned into JSON
Schema by apispec (``SchemaPlugin``: a schema's ``openapi_rules`` join it, and a nullable object field takes null or
its own fields only). The docs page is plain server-rendered HTML: no script, nothing from a CDN.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from importlib import metadata
from typing import Any, NamedTuple, TypeVar

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from apispec.ext.marshmallow.common import resolve_schema_instance
from flask import Blueprint, Flask, current_app, jsonify, render_template
from flask.typing import ResponseReturnValue

bp = Blueprint("docs", __name__, template_folder="templates")

OPENAPI_VERSION = "3.0.3"
JSON = "application/json"
TITLE = "Comment moderation"
DESCRIPTION = (
    "Self-hosted comment moderation: hostility scores, unsupported-claim flags and a decision "
    "(approve, review, reject) with its reasons for every comment. Errors are JSON "
    '`{"error": {"code", "message"}}`: branch on the code; the message names the field to fix. Every text field must have '
    "no NUL character and no unpaired surrogate (such as the JSON escape `\\ud800` alone), else 400. Every answer has an "
    "X-Request-ID header, and every answer of an operation that needs a key the X-RateLimit-* headers of its RATE_LIMIT "
    "(a 429: those of the limit that ran out, none for KEY_CONCURRENT_REQUESTS). This document describes this service's "
    "own API; the Perspective-compatible one (POST /v1alpha1/comments:analyze and POST /v1alpha1/comments:suggestscore, "
    "batched at POST /batch) is described by Google's discovery document at /$discovery/rest?version=v1alpha1 (also "
    "at /discovery/v1/apis/commentanalyzer/v1alpha1/rest), which Google's API clients read, and Coral Talk's external "
    "moderation endpoint (POST /coral/v1/moderate), which Coral calls, by Coral's own specification."
)
SECURITY_SCHEMES = {
    "bearer": {"type": "http", "scheme": "bearer"},
    "apiKeyHeader": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
    "googApiKeyHeader": {"type": "apiKey", "in": "header", "name": "X-Goog-Api-Key", "description": "the header Google API clients send"},
    "apiKeyQuery": {"type": "apiKey", "in": "query", "name": "key", "description": "in the query string, as Perspective clients send it"},
}
"""The ways to send an API key (``service.auth.presented_key`` reads them), in the order the docs page lists them."""
SECURITY = [{name: []} for name in SECURITY_SCHEMES]
ERROR_SCHEMA = "ErrorResponse"
READINESS_SCHEMA = "Readiness"
REQUEST_ID_HEADER = "X-Request-ID"
RATE_LIMIT_HEADERS = ("X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset")
HEADERS = {
    REQUEST_ID_HEADER: ("string", "This request's id: the client's X-Request-ID when it is 1-128 of A-Z a-z 0-9 . _ : -, else a new one."),
    "Retry-After": ("integer", "Seconds to wait before retrying."),
    "X-RateLimit-Limit": ("integer", "Requests per window of the key's RATE_LIMIT; on a 429, the amount of the limit that ran out."),
    "X-RateLimit-Remaining": ("integer", "What is left of that limit in this window."),
    "X-RateLimit-Reset": ("integer", "When that limit's window resets (Unix time)."),
    "WWW-Authenticate": ("string", 'Bearer realm="moderation"'),
}
"""Response headers the document names, with their type and meaning."""


class ErrorDoc(NamedTuple):
    """An error answer an operation may give: its status, when (naming the ``code`` of each case) and headers."""

    status: str
    description: str
    headers: tuple[str, ...] = ()
    schema: str = ERROR_SCHEMA


ERROR_RESPONSES = {
    "bad_request": ErrorDoc(
        "400", "The body is not a UTF-8 JSON object, or a field is missing, wrong, too long or unknown (code "
        "invalid_request); the message names it."),
    "conflicting_keys": ErrorDoc(
        "400", "The request carries two different API keys, in two places (code invalid_request), whichever is valid; "
        "the message names both places: send one key, in one place."),
    "missing_key": ErrorDoc("401", "No API key was sent (code missing_api_key).", ("WWW-Authenticate",)),
    "invalid_key": ErrorDoc("403", "The API key is unknown or revoked (code invalid_api_key)."),
    "missing_scope": ErrorDoc("403", "The API key lacks the scope this endpoint needs (code missing_scope)."),
    "too_large": ErrorDoc(
        "413", "The body is larger than MAX_CONTENT_LENGTH bytes (code request_entity_too_large); the message says what "
        "to send instead."),
    "too_much_text": ErrorDoc(
        "413", "The comments to score have more than MAX_REQUEST_CHARS characters of text in all (code too_much_text); "
        "nothing was scored: send them in several requests."),
    "unsupported_encoding": ErrorDoc("415", "The body is compressed (code unsupported_content_encoding); send it uncompressed."),
    "rate_limited": ErrorDoc(
        "429", "Over this key's requests (RATE_LIMIT), or this address sent too many unknown keys (code "
        "too_many_requests); wait for the Retry-After header's seconds. The X-RateLimit-* headers are those of the limit "
        "that ran out.",
        ("Retry-After", *RATE_LIMIT_HEADERS)),
    "scoring_limited": ErrorDoc(
        "429", "Over this key's comments (KEY_COMMENT_LIMIT) or characters (KEY_CHAR_LIMIT) to score, or its scoring "
        "requests in progress (KEY_CONCURRENT_REQUESTS) (code too_many_requests); nothing was scored. Requests in progress "
        "(KEY_CONCURRENT_REQUESTS) have no window: Retry-After: 1 and no X-RateLimit-* headers.",
        ("Retry-After", *RATE_LIMIT_HEADERS)),
    "database_unavailable": ErrorDoc(
        "503", "The database is needed (to look up a key not cached, to store feedback) and cannot be reached (code "
        "database_unavailable) or answers at another schema revision (code database_schema_outdated).", ("Retry-After",)),
    "not_ready": ErrorDoc(
        "503", "Not ready: a check failed; the body's checks say which (not an error body).", schema=READINESS_SCHEMA),
}
"""Each error an operation may answer, by name; errors of one status share a response, their descriptions joined
(``_error_responses``), so that each names only the codes its operation can answer."""
KEYED_ERRORS = ("conflicting_keys", "database_unavailable")
"""Errors of every operation that needs a key: two different keys are refused before either is looked up, and looking
up a key not cached needs the database."""
View = TypeVar("View", bound=Callable[..., Any])


def operation(
    *,
    summary: str,
    description: str = "",
    request: type | None = None,
    response: type | None = None,
    status: int = 200,
    errors: Iterable[str] = (),
    public: bool = False,
    content_type: str = JSON,
    example: dict | None = None,
) -> Callable[[View], View]:
    """Describe a view for the OpenAPI document: marshmallow schema classes for the bodies, error names
    from ``ERROR_RESPONSES``; ``public`` views need no API key; ``example`` is a request body that works when sent."""
    doc = {
        "summary": summary,
        "description": description,
        "request": request,
        "response": response,
        "status": status,
        "errors": tuple(errors),
        "public": public,
        "content_type": content_type,
        "example": example,
    }

    def mark(view: View) -> View:
        view.openapi = doc  # type: ignore[attr-defined]
        return view

    return mark


def _headers(names: Iterable[str]) -> dict:
    """OpenAPI Header objects for ``names`` (keys of ``HEADERS``)."""
    return {name: {"description": HEADERS[name][1], "schema": {"type": HEADERS[name][0]}} for name in names}


def _success_schema(doc: dict) -> Any:
    """The schema of an operation's success answer: its marshmallow schema, else any object for JSON (such as this
    document: without one, a generated client's method returned nothing), else a string (an HTML or text page)."""
    if doc["response"] is not None:
        return doc["response"]
    return {"type": "object"} if doc["content_type"] == JSON else {"type": "string"}


def _error_responses(names: Iterable[str]) -> dict:
    """The OpenAPI Responses of the errors ``names`` (keys of ``ERROR_RESPONSES``): errors of one status share one, its
    description theirs in turn and its headers all of theirs."""
    responses: dict[str, dict] = {}
    for name in names:
        error = ERROR_RESPONSES[name]
        response = responses.get(error.status)
        if response is None:
            responses[error.status] = {"description": error.description, "headers": _headers((REQUEST_ID_HEADER, *error.headers)),
                                       "content": {JSON: {"schema": error.schema}}}
        elif response["content"][JSON]["schema"] != error.schema:
            raise ValueError(f"error {name!r} has another body than the {error.status} answer before it: one response has one schema")
        else:
            response["description"] += " " + error.description
            response["headers"].update(_headers(error.headers))
    return responses


def _operation_object(doc: dict, operation_id: str) -> dict:
    """The OpenAPI Operation for one ``@operation`` description."""
    success_headers = (REQUEST_ID_HEADER, *([] if doc["public"] else RATE_LIMIT_HEADERS))
    success: dict[str, Any] = {"description": doc["summary"], "headers": _headers(success_headers),
                               "content": {doc["content_type"]: {"schema": _success_schema(doc)}}}
    errors = list(doc["errors"])
    if doc["request"] is not None:
        errors = ["bad_request", "too_large", "unsupported_encoding", *errors]
    if not doc["public"]:
        errors += KEYED_ERRORS
    responses = {str(doc["status"]): success, **_error_responses(dict.fromkeys(errors))}
    result: dict[str, Any] = {
        "operationId": operation_id,
        "summary": doc["summary"],
        "description": doc["description"],
        "responses": dict(sorted(responses.items())),
        "security": [] if doc["public"] else SECURITY,
    }
    if doc["request"] is not None:
        body: dict[str, Any] = {"schema": doc["request"]}
        if doc["example"] is not None:
            body["example"] = doc["example"]
        result["requestBody"] = {"required": True, "content": {JSON: body}}
    return result


ANY_OBJECT_OR_NULL = {"type": "object", "nullable": True}
"""apispec's first branch of a nullable ``$ref`` for OpenAPI 3.0 (``anyOf: [this, {$ref}]``): it takes any object at all."""


def _null_only(converter: Any, field: Any, ret: dict, **_kwargs: Any) -> dict:
    """A nullable nested field's ``anyOf``, its null branch made to take null only (``enum: [null]``, OpenAPI 3.0's
    way), so that an object is checked against the nested schema (its ``additionalProperties: false`` too)."""
    if "anyOf" not in ret:
        return {}
    return {"anyOf": [{**option, "enum": [None]} if option == ANY_OBJECT_OR_NULL else option for option in ret["anyOf"]]}


class SchemaPlugin(MarshmallowPlugin):
    """apispec's marshmallow plugin, writing what a marshmallow schema checks and its fields do not say: a schema's
    ``openapi_rules`` (JSON Schema of the whole object, for its ``validates_schema`` checks) join its component, and a
    nullable nested field takes null or an object of its schema, not any object."""

    def init_spec(self, spec: APISpec) -> None:
        super().init_spec(spec)
        assert self.converter is not None
        self.converter.add_attribute_function(_null_only)

    def schema_helper(self, name: str, _: Any, schema: Any = None, **kwargs: Any) -> dict | None:
        json_schema = super().schema_helper(name, _, schema=schema, **kwargs)
        rules = getattr(resolve_schema_instance(schema), "openapi_rules", None) if schema is not None else None
        return {**json_schema, **rules} if json_schema is not None and rules else json_schema


def _openapi_path(rule: str) -> str:
    """Flask's ``/items/<int:id>`` -> OpenAPI's ``/items/{id}``."""
    parts = []
    for part in rule.split("/"):
        if part.startswith("<") and part.endswith(">"):
            part = "{" + part[1:-1].split(":")[-1] + "}"
        parts.append(part)
    return "/".join(parts)


def build_spec(app: Flask) -> dict:
    """The OpenAPI document of every ``@operation`` view registered on ``app`` (call in an app context)."""
    from service.schemas import ErrorResponseSchema, ReadinessSchema

    spec = APISpec(
        title=TITLE,
        version=metadata.version("comment-moderation"),
        openapi_version=OPENAPI_VERSION,
        plugins=[SchemaPlugin()],
        info={"description": DESCRIPTION},
    )
    for name, scheme in SECURITY_SCHEMES.items():
        spec.components.security_scheme(name, scheme)
    spec.components.schema(ERROR_SCHEMA, schema=ErrorResponseSchema)
    spec.components.schema(READINESS_SCHEMA, schema=ReadinessSchema)
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        doc = getattr(app.view_functions[rule.endpoint], "openapi", None)
        if doc is None:
            continue
        methods = sorted((rule.methods or set()) - {"HEAD", "OPTIONS"})
        operations = {method.lower(): _operation_object(doc, rule.endpoint.replace(".", "_")) for method in methods}
        spec.path(path=_openapi_path(rule.rule), operations=operations)
    return spec.to_dict()


def _resolve(spec: dict, schema: dict) -> tuple[str | None, dict]:
    """A ``$ref`` schema's component name and body (or None and the schema itself)."""
    ref = schema.get("$ref", "")
    if ref.startswith("#/components/schemas/"):
        name = ref.rsplit("/", 1)[1]
        return name, spec["components"]["schemas"][name]
    return None, schema


def _type_label(spec: dict, prop: dict) -> str:
    """A short human type: ``string``, ``list of Comment``, ``Context or null``, ``string: a | b``, ``map of Dataset``
    (also for an object of named properties of one type, such as labels' attribute names)."""
    if "$ref" in prop:
        return _resolve(spec, prop)[0] or "object"
    if "anyOf" in prop:
        labels = [_type_label(spec, option) for option in prop["anyOf"] if "$ref" in option]
        return " or ".join(labels + (["null"] if any(o.get("nullable") for o in prop["anyOf"]) else []))
    kind = prop.get("type", "any")
    kind = " or ".join(kind) if isinstance(kind, list) else kind
    if kind == "array" and "items" in prop:
        return f"list of {_type_label(spec, prop['items'])}"
    if kind == "object" and prop.get("additionalProperties"):  # a mapping whose names vary, of values of one type
        return f"map of {_type_label(spec, prop['additionalProperties'])}"
    values = list(prop.get("properties", {}).values())
    if kind == "object" and prop.get("additionalProperties") is False and values and all(value == values[0] for value in values):
        return f"map of {_type_label(spec, values[0])}"  # a mapping of known names (its description names them)
    if "enum" in prop:
        return f"{kind}: " + " | ".join(str(value) for value in prop["enum"] if value is not None)
    return kind


LIMIT_LABELS = (("minLength", "at least", "character"), ("maxLength", "at most", "character"), ("minItems", "at least", "item"),
                ("maxItems", "at most", "item"))
"""A schema's bound, its words on the docs page and its unit (singular: ``_limit_label`` adds the plural's s)."""


def _limit_label(bound: str, count: int, unit: str) -> str:
    """``at least 1 character``, ``at most 100 items``: the unit in the plural for any count but 1."""
    return f"{bound} {count} {unit}{'' if count == 1 else 's'}"


def _field_rows(spec: dict, schema: dict) -> list[dict]:
    """One row per property of a component schema, for the docs table."""
    required = set(schema.get("required", ()))
    rows = []
    for name, prop in schema.get("properties", {}).items():
        limits = [_limit_label(bound, prop[key], unit) for key, bound, unit in LIMIT_LABELS if prop.get(key)]
        note = prop.get("description", "")
        if limits:
            note = f"{note} ({', '.join(limits)})".strip()
        rows.append({"name": name, "type": _type_label(spec, prop), "required": name in required, "description": note, "default": prop.get("default")})
    return rows


def _key_example(scheme: dict) -> str:
    """How a request carries KEY for one security scheme: ``Authorization: Bearer KEY``, ``X-API-Key: KEY``, ``?key=KEY``."""
    if scheme["type"] == "http":
        return f"Authorization: {scheme['scheme'].capitalize()} KEY"
    if scheme["in"] == "query":
        return f"?{scheme['name']}=KEY"
    if scheme["in"] == "header":
        return f"{scheme['name']}: KEY"
    raise ValueError(f"security scheme {scheme!r}: the docs page shows only http, header and query keys; add its case to _key_example")


def key_ways(spec: dict) -> list[dict]:
    """The ways to send a key the document names, for the docs page: an example and its note."""
    schemes = spec.get("components", {}).get("securitySchemes", {})
    return [{"example": _key_example(scheme), "description": scheme.get("description", "")} for scheme in schemes.values()]


def docs_context(spec: dict) -> dict:
    """What the docs template shows: operations in path order and every schema's fields."""
    operations = []
    for path, item in spec["paths"].items():
        for method, op in item.items():
            request = op.get("requestBody", {}).get("content", {}).get(JSON, {}).get("schema")
            operations.append(
                {
                    "method": method.upper(),
                    "path": path,
                    "summary": op.get("summary", ""),
                    "description": op.get("description", ""),
                    "needs_key": bool(op.get("security")),
                    "request": _resolve(spec, request)[0] if request else None,
                    "responses": [
                        {"status": status, "description": response.get("description", ""), "schema": _resolve(spec, schema)[0] if (schema := next(iter(response.get("content", {}).values()), {}).get("schema")) else None}
                        for status, response in sorted(op["responses"].items())
                    ],
                }
            )
    operations.sort(key=lambda op: (not op["needs_key"], op["path"]))  # the API first, then operations endpoints
    schemas = {name: _field_rows(spec, schema) for name, schema in spec.get("components", {}).get("schemas", {}).items()}
    return {"info": spec["info"], "operations": operations, "schemas": schemas, "key_ways": key_ways(spec)}


@bp.get("/openapi.json")
@operation(summary="This OpenAPI document", public=True)
def openapi_json() -> ResponseReturnValue:
    """Serve the OpenAPI document."""
    return jsonify(build_spec(current_app))


@bp.get("/docs")
@operation(summary="Human-readable API documentation", public=True, content_type="text/html")
def docs() -> ResponseReturnValue:
    """Serve the API documentation as one HTML page rendered from the OpenAPI document."""
    return render_template("docs.html", **docs_context(build_spec(current_app)))
