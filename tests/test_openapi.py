"""The OpenAPI document and the docs page are generated from the views and schemas that serve requests."""

from __future__ import annotations

import re

import pytest

from model.attributes import ATTRIBUTES
from service.app import create_app


@pytest.fixture
def spec(client):
    response = client.get("/openapi.json")
    assert response.status_code == 200
    return response.get_json()


def test_every_v1_operation_is_documented_with_its_schemas(spec):
    assert spec["openapi"].startswith("3.")
    paths = spec["paths"]
    assert {"/v1/moderate", "/v1/feedback", "/v1/model", "/healthz", "/readyz", "/metrics", "/openapi.json", "/docs"} <= set(paths)
    moderate = paths["/v1/moderate"]["post"]
    assert moderate["requestBody"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/ModerateRequest"}
    assert set(moderate["responses"]) >= {"200", "400", "401", "403", "413", "429"}
    assert paths["/v1/feedback"]["post"]["responses"]["201"]
    assert moderate["security"] and paths["/healthz"]["get"]["security"] == []
    assert set(spec["components"]["securitySchemes"]) == {"bearer", "apiKeyHeader", "googApiKeyHeader", "apiKeyQuery"}


def test_the_documented_limits_are_the_configured_ones(tiny_bundle_path):
    app = create_app({"TESTING": True, "MODEL": str(tiny_bundle_path), "DB_URL": "sqlite://", "MAX_COMMENTS_PER_REQUEST": 7, "MAX_COMMENT_CHARS": 500})
    schemas = app.test_client().get("/openapi.json").get_json()["components"]["schemas"]
    comments = schemas["ModerateRequest"]["properties"]["comments"]
    assert (comments["minItems"], comments["maxItems"]) == (1, 7)
    assert comments["items"] == {"$ref": "#/components/schemas/Comment"}
    assert schemas["ModerateRequest"]["required"] == ["comments"]
    assert schemas["Comment"]["properties"]["text"]["maxLength"] == 500
    assert set(schemas["Comment"]["required"]) == {"id", "text"}
    assert schemas["ModerateRequest"]["properties"]["do_not_store"] == {"type": "boolean", "default": False, "description": "Keep nothing about these comments, not even a hash."}


def test_docs_page_lists_operations_and_fields_without_scripts(client):
    response = client.get("/docs")
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    page = response.get_data(as_text=True)
    for needle in ("/v1/moderate", "/v1/feedback", "/v1/model", "/readyz", "do_not_store", "Authorization: Bearer KEY", "at most 100 items", 'href="/openapi.json"'):
        assert needle in page
    assert "<script" not in page and "http://" not in page.replace("http://localhost/", "")


def _schema(spec: dict, ref: dict) -> dict:
    return spec["components"]["schemas"][ref["$ref"].rsplit("/", 1)[1]]


def test_the_documented_result_fields_are_the_answered_ones(spec, client, auth):
    answer = client.post("/v1/moderate", json={"comments": [{"id": "a", "text": "I will kill you, you stupid idiot."}]},
                         headers=auth).get_json()["results"][0]
    result = _schema(spec, spec["components"]["schemas"]["ModerateResponse"]["properties"]["results"]["items"])
    reason_schema = _schema(spec, result["properties"]["reasons"]["items"])
    spanned = [reason for reason in answer["reasons"] if "span" in reason]
    assert spanned and answer["spans"]
    for reason in answer["reasons"]:
        assert set(reason) <= set(reason_schema["properties"])
    for reason in spanned:  # a reason's span has no attribute of its own: the reason's is it
        assert set(reason["span"]) == set(_schema(spec, reason_schema["properties"]["span"])["properties"])
    for span in answer["spans"]:
        assert set(span) == set(_schema(spec, result["properties"]["spans"]["items"])["properties"])


def test_the_docs_page_describes_the_model_card_field_by_field(client):
    page = client.get("/docs").get_data(as_text=True)
    card = page[page.index('<h3 id="schema-ModelCard">') :]
    card = card[: card.index("</table>")]
    for field, kind in (("created", "string"), ("training_rows", "integer"), ("datasets", "map of Dataset"),
                        ("test_metrics", "map of SplitMetric"), ("thresholds", "Thresholds"), ("span_thresholds", "map of number")):
        assert f"<td><code>{field}</code></td><td>{kind}</td><td>yes</td>" in card
    assert '<h3 id="schema-Dataset">' in page


def test_the_document_bounds_the_labels_the_feedback_endpoint_accepts(spec, client, auth):
    # The labels' values were documented as any number; the endpoint refuses one outside [0, 1]. Their names were
    # documented as any string; the endpoint refuses one that is no attribute (OpenAPI 3.0: a property each, no other).
    labels = spec["components"]["schemas"]["FeedbackRequest"]["properties"]["labels"]
    assert labels["properties"] == {name: {"type": "number", "minimum": 0, "maximum": 1} for name in ATTRIBUTES}
    assert labels["additionalProperties"] is False
    assert client.post("/v1/feedback", json={"comment_id": "c1", "labels": {"toxicity": 1.5}}, headers=auth).status_code == 400
    assert client.post("/v1/feedback", json={"comment_id": "c1", "labels": {"toxic": 1.0}}, headers=auth).status_code == 400
    assert "<td><code>labels</code></td><td>map of number</td>" in client.get("/docs").get_data(as_text=True)


def test_docs_page_says_1_character_and_1_item_in_the_singular(client):
    page = client.get("/docs").get_data(as_text=True)
    assert re.search(r"at least 1 character\b", page) and re.search(r"at least 1 item\b", page)  # Comment.id, ModerateRequest.comments
    assert not re.search(r"\b1 (characters|items)\b", page)
    assert "at most 100 items" in page  # other counts keep the plural


def test_the_document_says_which_429_has_no_rate_limit_headers(tiny_bundle_path):
    # It promised RATE_LIMIT's X-RateLimit-* headers on the 429 for requests in progress, which has none.
    from service.auth import create_key
    from service.key_limits import SLOTS_KEY
    from service.store import get_session

    app = create_app({"TESTING": True, "MODEL": str(tiny_bundle_path), "DB_URL": "sqlite://", "KEY_CONCURRENT_REQUESTS": 1})
    with app.app_context():
        row, key = create_key(get_session(), "cms")
    client = app.test_client()
    app.extensions[SLOTS_KEY].acquire(f"key:{row.id}", 1)  # another request of the key is in progress
    response = client.post("/v1/moderate", json={"comments": [{"id": "a", "text": "hi"}]}, headers={"X-API-Key": key})
    assert response.status_code == 429
    assert not [name for name in response.headers.keys() if name.startswith("X-RateLimit-")]
    spec = client.get("/openapi.json").get_json()
    documented = spec["paths"]["/v1/moderate"]["post"]["responses"]["429"]["description"]
    assert "KEY_CONCURRENT_REQUESTS) have no window: Retry-After: 1 and no X-RateLimit-* headers" in documented
    assert "none for KEY_CONCURRENT_REQUESTS" in spec["info"]["description"]
