"""A request body /openapi.json accepts is one the endpoint accepts, and one it refuses the endpoint refuses (400).

Clients generated from the document, and fuzzers such as schemathesis, build their bodies from it: a body the
document allows but the endpoint refuses is a request a correct client sends and gets a 400 for. Each case below is
checked both ways, by a JSON Schema validator over the document's component schemas (OpenAPI 3.0's ``nullable``
turned into JSON Schema's ``null`` type) and by sending it. The refused ones are those schemathesis found
(``schemathesis run .../openapi.json``): a context with an unknown field, a NUL in an id, a feedback that names no
comment or gives no verdict, and labels of no attribute. An unpaired surrogate (refused too) is the one exception: no
pattern says it that every regex engine compiles (``service.schemas.TEXT_PATTERN``); the document's description does.
"""

from __future__ import annotations

import re
import sys
from typing import Any

import pytest
from jsonschema import Draft4Validator

from service.schemas import NON_BLANK_PATTERN, TEXT_PATTERN
from service.text_rules import character_problem

REF_PREFIX = "#/components/schemas/"
REQUEST_SCHEMAS = {"/v1/moderate": "ModerateRequest", "/v1/feedback": "FeedbackRequest"}


def json_schema(value: Any) -> Any:
    """An OpenAPI 3.0 schema as JSON Schema draft 4: ``nullable: true`` adds ``null`` to the schema's type."""
    if isinstance(value, list):
        return [json_schema(item) for item in value]
    if not isinstance(value, dict):
        return value
    converted = {key: json_schema(item) for key, item in value.items() if key != "nullable" or not isinstance(item, bool)}
    if value.get("nullable") is True and isinstance(value.get("type"), str):
        converted["type"] = [value["type"], "null"]
    return converted


def document_problems(spec: dict, path: str, body: Any) -> list[str]:
    """Why the document refuses ``body`` as the request of ``POST path`` (empty when it accepts it)."""
    root = {"$ref": REF_PREFIX + REQUEST_SCHEMAS[path], "components": {"schemas": json_schema(spec["components"]["schemas"])}}
    return [error.message for error in Draft4Validator(root).iter_errors(body)]


@pytest.fixture
def spec(client):
    return client.get("/openapi.json").get_json()


def _moderate(**comment: Any) -> dict:
    return {"comments": [{"id": "c1", "text": "Thanks for the article.", **comment}]}


CASES = {
    "context null": ("/v1/moderate", _moderate(context=None)),
    "context with both fields": ("/v1/moderate", _moderate(context={"parent_text": None, "story_url": "https://news.example/a"})),
    "context with an unknown field": ("/v1/moderate", _moderate(context={"": {"": None}, "story_url": None})),
    "NUL in an id": ("/v1/moderate", _moderate(id="c\x00")),
    "NUL in a parent text": ("/v1/moderate", _moderate(context={"parent_text": "a\x00"})),
    "emoji and accents": ("/v1/moderate", _moderate(id="\U0001f600", text="Caf\u00e9 \U0001f44d\U0001f3fd")),
    "feedback naming nothing": ("/v1/feedback", {"comment_id": "0", "decision": None, "labels": {}, "text": ""}),
    "feedback with empty labels only": ("/v1/feedback", {"comment_id": "c1", "labels": {}}),
    "feedback with a blank text only": ("/v1/feedback", {"text": " \n\t", "decision": "reject"}),
    "feedback with a null id only": ("/v1/feedback", {"comment_id": None, "decision": "approve"}),
    "feedback with a text and labels": ("/v1/feedback", {"comment_id": None, "text": "Nice.", "labels": {"toxicity": 0.0}}),
    "feedback with an id and a decision": ("/v1/feedback", {"comment_id": "c1", "decision": "approve", "labels": None}),
    "feedback with labels of no attribute": ("/v1/feedback", {"comment_id": "c1", "labels": {"nope": 0.5}}),
    "feedback with a NUL in its text": ("/v1/feedback", {"text": "x\x00", "decision": "review"}),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_the_document_accepts_a_body_exactly_when_the_endpoint_does(spec, client, auth, case):
    path, body = CASES[case]
    problems = document_problems(spec, path, body)
    response = client.post(path, json=body, headers=auth)
    assert response.status_code in (200, 201, 400), response.get_json()
    accepted = response.status_code != 400
    assert accepted == (not problems), f"the endpoint answered {response.status_code} {response.get_json()}; the document: {problems or 'valid'}"


def test_the_case_table_has_bodies_either_side_accepts_and_refuses(spec):
    # Both verdicts occur for each endpoint, so that a document accepting (or refusing) everything fails a case.
    verdicts = {(path, not document_problems(spec, path, body)) for path, body in CASES.values()}
    assert verdicts == {(path, verdict) for path in REQUEST_SCHEMAS for verdict in (True, False)}


def test_a_nullable_object_field_takes_null_and_its_own_fields_only(spec):
    # apispec writes a nullable $ref for OpenAPI 3.0 as anyOf [{type: object, nullable: true}, {$ref}]: its first
    # branch takes any object at all, so the context's additionalProperties: false was never in force.
    context = spec["components"]["schemas"]["Comment"]["properties"]["context"]
    assert {"$ref": REF_PREFIX + "Context"} in context["anyOf"]
    for option in context["anyOf"]:
        if "$ref" not in option:
            assert option.get("enum") == [None], option


def test_the_non_blank_pattern_finds_what_strip_keeps():
    # "comment_id or a non-blank text": the document's pattern must find a character in exactly the texts that
    # str.strip leaves non-empty (\S would not do: JavaScript's and Python's whitespace differ).
    finds = re.compile(NON_BLANK_PATTERN).search
    differ = [hex(point) for point in range(sys.maxunicode + 1) if not 0xD800 <= point <= 0xDFFF and bool(finds(chr(point))) == chr(point).isspace()]
    assert differ == []


@pytest.mark.parametrize("text", ["", "plain", "Caf\u00e9 \U0001f44d\U0001f3fd", "\n", "a\x00", "\x00", "a\nb\x00\n", "\uffff"])
def test_the_text_pattern_refuses_a_nul_as_the_text_rule_does(text):
    assert bool(re.search(TEXT_PATTERN, text)) == (character_problem(text) is None)


def test_the_patterns_use_no_escape_some_regex_engine_lacks():
    # \uXXXX is unknown to Go's engine, \x{...} to JavaScript's and Python's, surrogates to Rust's and Go's: a client
    # whose validator cannot compile a pattern cannot use the document at all.
    for pattern in (TEXT_PATTERN, NON_BLANK_PATTERN):
        assert not re.search(r"\\[uUpP]|\\x\{|[\ud800-\udfff]", pattern), pattern
