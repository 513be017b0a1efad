"""POST /v1/moderate and GET /healthz through Flask's test client, on the tiny bundle."""

from __future__ import annotations

import json

import pytest

from model.bundle import BundleError
from service.app import create_app

HOSTILE = "You are a stupid clown, the minister ignores the vote."
NEUTRAL = "The council supports the plan and I think that is fair."


@pytest.fixture(scope="module")
def app(tiny_bundle_path):
    """The service on the tiny bundle (module scope: the app holds no per-request state)."""
    return create_app({"TESTING": True, "MODEL": str(tiny_bundle_path)})


@pytest.fixture
def client(app):
    return app.test_client()


def moderate(client, body):
    return client.post("/v1/moderate", json=body)


def test_results_follow_input_order_with_scores_and_decisions(client, scorer):
    comments = [{"id": "n", "text": NEUTRAL}, {"id": "h", "text": HOSTILE}, {"id": "e", "text": ""}]
    response = moderate(client, {"comments": comments})
    assert response.status_code == 200
    body = response.get_json()
    assert body["model_version"] == scorer.model_version
    assert [r["id"] for r in body["results"]] == ["n", "h", "e"]
    for result in body["results"]:
        assert set(result) == {"id", "decision", "scores", "reasons", "spans"}
        assert list(result["scores"]) == list(scorer.attributes)
        assert all(0.0 <= s <= 1.0 for s in result["scores"].values())
        assert result["decision"] in {"approve", "review", "reject"}
    neutral, hostile, empty = body["results"]
    assert hostile["scores"]["toxicity"] > neutral["scores"]["toxicity"]
    assert hostile["decision"] != "approve" and neutral["decision"] == "approve"
    assert any(span["attribute"] == "toxicity" for span in hostile["spans"])
    assert empty["decision"] == "approve" and [r["code"] for r in empty["reasons"]] == ["empty"]


def test_results_are_the_scorers_decisions(client, scorer):
    texts = [HOSTILE, NEUTRAL, "I will kill you, the editor delays the treaty."]
    response = moderate(client, {"comments": [{"id": str(i), "text": t} for i, t in enumerate(texts)]})
    expected = [{"id": str(i), **d.to_dict()} for i, d in enumerate(scorer.moderate(texts))]
    assert response.get_json()["results"] == expected


def test_the_limits_themselves_are_accepted(client):
    comments = [{"id": f"c{i}", "text": "x" * 20_000 if i == 0 else "ok"} for i in range(100)]
    response = moderate(client, {"comments": comments})
    assert response.status_code == 200
    assert len(response.get_json()["results"]) == 100


def test_body_is_read_as_json_whatever_the_content_type(client):
    body = json.dumps({"comments": [{"id": "a", "text": NEUTRAL}]})
    response = client.post("/v1/moderate", data=body, content_type="text/plain")
    assert response.status_code == 200


def comments_with(index: int, comment) -> dict:
    """A body whose comment number ``index`` is ``comment`` and the others are fine."""
    return {"comments": [{"id": f"c{i}", "text": "fine"} for i in range(index)] + [comment]}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "request body is empty"),
        (b"{", "request body is not valid JSON: Expecting property name enclosed in double quotes at line 1 column 2"),
        (b'{"comments": [}', "request body is not valid JSON"),
        (b"caf\xe9", "request body is not valid UTF-8 (byte 3)"),
        (b'{"comments": [{"id": "a", "text": "caf\xe9"}]}', "request body is not valid UTF-8"),
        (b"[" * 100_000, "request body is nested too deeply"),
        (b'{"comments": ' + b"1" * 5_000 + b"}", "request body is not acceptable JSON: Exceeds the limit (4300 digits)"),
        (b'{"comments": [{"id": "a", "text": "\\ud800"}]}', "comments[0].text contains an unpaired surrogate at character 0"),
        ([], "request body must be a JSON object"),
        ("comments", "request body must be a JSON object"),
        (b"null", "request body must be a JSON object"),
        (b"42", "request body must be a JSON object"),
        ({}, "comments is required"),
        ({"comment": []}, "comments is required"),
        ({"comments": None}, "comments must be a list"),
        ({"comments": {"id": "a", "text": "b"}}, "comments must be a list"),
        ({"comments": "hello"}, "comments must be a list"),
        ({"comments": []}, "comments must not be empty"),
        ({"comments": [{"id": str(i), "text": "a"} for i in range(101)]}, "comments has 101 items; the limit is 100 per request"),
        (comments_with(2, "hello"), "comments[2] must be an object with id and text"),
        (comments_with(0, None), "comments[0] must be an object with id and text"),
        (comments_with(1, ["c1", "text"]), "comments[1] must be an object with id and text"),
        (comments_with(2, {"text": "a"}), "comments[2].id must be a non-empty string"),
        (comments_with(2, {"id": 3, "text": "a"}), "comments[2].id must be a non-empty string"),
        (comments_with(2, {"id": "", "text": "a"}), "comments[2].id must be a non-empty string"),
        (comments_with(2, {"id": "c2"}), "comments[2].text must be a string"),
        (comments_with(2, {"id": "c2", "text": None}), "comments[2].text must be a string"),
        (comments_with(2, {"id": "c2", "text": 5}), "comments[2].text must be a string"),
        (comments_with(2, {"id": "c2", "text": ["a"]}), "comments[2].text must be a string"),
        (comments_with(3, {"id": "c3", "text": "x" * 20_001}), "comments[3].text has 20001 characters; the limit is 20000"),
    ],
)
def test_bad_requests_get_400_naming_the_field(client, body, message):
    if isinstance(body, bytes):
        response = client.post("/v1/moderate", data=body, content_type="application/json")
    else:
        response = client.post("/v1/moderate", json=body)
    assert response.status_code == 400
    assert response.is_json
    error = response.get_json()["error"]
    assert error["code"] == "invalid_request"
    assert error["message"].startswith(message)


def test_empty_text_is_valid_and_approved(client):
    response = moderate(client, {"comments": [{"id": "a", "text": ""}]})
    assert response.status_code == 200
    (result,) = response.get_json()["results"]
    assert result["decision"] == "approve"
    assert result["reasons"][0]["code"] == "empty"


def test_healthz_reports_the_loaded_model(client, scorer):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok", "model_version": scorer.model_version}


def test_unknown_path_is_json_404(client):
    response = client.get("/v1/nothing")
    assert response.status_code == 404
    assert response.is_json
    assert response.get_json()["error"]["code"] == "not_found"


@pytest.mark.parametrize(("method", "path", "allowed"), [("get", "/v1/moderate", "POST"), ("post", "/healthz", "GET")])
def test_wrong_method_is_json_405_with_allow(client, method, path, allowed):
    response = getattr(client, method)(path)
    assert response.status_code == 405
    assert response.is_json
    assert response.get_json()["error"]["code"] == "method_not_allowed"
    assert allowed in response.headers["Allow"]


def test_body_over_max_content_length_is_json_413(tiny_bundle_path):
    client = create_app({"TESTING": True, "MODEL": str(tiny_bundle_path), "MAX_CONTENT_LENGTH": 1_000}).test_client()
    response = client.post("/v1/moderate", json={"comments": [{"id": "a", "text": "x" * 2_000}]})
    assert response.status_code == 413
    assert response.is_json
    assert response.get_json()["error"] == {
        "code": "request_entity_too_large",
        "message": "request body is larger than 1000 bytes; send fewer comments per request",
    }


def test_environment_overrides_defaults_and_config_overrides_environment(monkeypatch, tiny_bundle_path):
    monkeypatch.setenv("MODERATION_MAX_COMMENTS_PER_REQUEST", "2")
    monkeypatch.setenv("MODERATION_MODEL", str(tiny_bundle_path))
    monkeypatch.setenv("MODERATION_PORT", "9000")
    app = create_app({"TESTING": True, "PORT": 9001})
    assert app.config["MAX_COMMENTS_PER_REQUEST"] == 2
    assert app.config["PORT"] == 9001
    response = app.test_client().post("/v1/moderate", json={"comments": [{"id": str(i), "text": "a"} for i in range(3)]})
    assert response.get_json()["error"]["message"] == "comments has 3 items; the limit is 2 per request"


def test_a_bad_bundle_fails_create_app(tmp_path):
    with pytest.raises(BundleError, match="not found"):
        create_app({"MODEL": str(tmp_path / "missing")})
