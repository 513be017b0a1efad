"""What existing Perspective clients send and read, checked against the Perspective-compatible API.

Each test sends a request as a public client builds it and reads the answer as that client does: the
``perspective-api-client`` npm package, HELM's and OpenCompass's Perspective clients (googleapiclient), and
Coral Talk's toxic-comment filter and moderation feedback (``services/perspective/perspective.ts``). Where this
service answers otherwise on purpose, the test pins the documented difference (docs/api.md).
"""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from service.app import create_app
from service.auth import create_key
from service.store import Feedback, get_session

ANALYZE = "/v1alpha1/comments:analyze"
SUGGEST = "/v1alpha1/comments:suggestscore"
HOSTILE = "You are a stupid clown, the minister ignores the vote."
PERSPECTIVE_ERROR = "type.googleapis.com/google.commentanalyzer.v1alpha1.Error"
OFFERED_BY_BOTH = ["TOXICITY", "SEVERE_TOXICITY", "IDENTITY_ATTACK", "INSULT", "PROFANITY", "THREAT"]
HELM_DEFAULT_ATTRIBUTES = [*OFFERED_BY_BOTH, "SEXUALLY_EXPLICIT", "FLIRTATION"]
"""HELM's ``_DEFAULT_ATTRIBUTES``: two of them are Perspective's experimental attributes, which this service lacks."""


@pytest.fixture(scope="module")
def app(tiny_bundle_path, tmp_path_factory):
    db = tmp_path_factory.mktemp("conformance") / "moderation.db"
    return create_app({"TESTING": True, "MODEL": str(tiny_bundle_path), "DB_URL": f"sqlite:///{db}"})


@pytest.fixture(scope="module")
def key(app):
    with app.app_context():
        return create_key(get_session(), "conformance")[1]


@pytest.fixture(scope="module")
def client(app):
    return app.test_client()


def post_json(client, url: str, body: dict):
    """POST as the clients do: a JSON body, the key in ``?key=``."""
    return client.post(url, data=json.dumps(body), headers={"Content-Type": "application/json"})


def analyze(client, key: str, body: dict):
    return post_json(client, f"{ANALYZE}?key={key}", body)


def is_probability(score: dict) -> bool:
    """A Perspective Score: ``{"value": float in [0, 1], "type": "PROBABILITY"}``."""
    return set(score) == {"value", "type"} and isinstance(score["value"], float) and 0.0 <= score["value"] <= 1.0 \
        and score["type"] == "PROBABILITY"


# perspective-api-client (npm): getAnalyzeCommentPayload, then axios; resolves response.data, rejects with
# error.response.data.error.message


def test_npm_perspective_api_client_payload_and_answer(client, key):
    payload = {"comment": {"text": HOSTILE}, "requestedAttributes": {"TOXICITY": {}, "INSULT": {}}, "doNotStore": True}
    data = analyze(client, key, payload).get_json()
    for scores in data["attributeScores"].values():
        assert is_probability(scores["summaryScore"])
        assert [(s["begin"], s["end"]) for s in scores["spanScores"]] == [(0, len(HOSTILE))]
        assert is_probability(scores["spanScores"][0]["score"])
    assert data["languages"] == ["en"]


def test_npm_client_error_message_is_where_it_reads_it(client, key):
    error = analyze(client, key, {"comment": {"text": "hi"}, "requestedAttributes": {"TOXICITY": {"scoreThreshold": 2}}})
    assert error.status_code == 400
    assert "scoreThreshold" in error.get_json()["error"]["message"]


# HELM (helm/clients/perspective_api_client.py): six production attributes and two experimental ones, languages
# ["en"], spanAnnotations; reads scores["spanScores"][0]["score"]["value"] of every attribute answered


def helm_request(text: str, attributes: list[str]) -> dict:
    return {"comment": {"text": text}, "requestedAttributes": {name: {} for name in attributes},
            "languages": ["en"], "spanAnnotations": True}


def helm_scores(response: dict) -> dict[str, float]:
    """HELM's extract_toxicity_attributes."""
    return {f"{name.lower()}_score": scores["spanScores"][0]["score"]["value"]
            for name, scores in response["attributeScores"].items()}


def test_helm_reads_a_score_for_every_attribute_both_offer(client, key):
    text = "You are a stupid clown. The minister ignores the vote."
    scores = helm_scores(analyze(client, key, helm_request(text, OFFERED_BY_BOTH)).get_json())
    assert sorted(scores) == sorted(f"{name.lower()}_score" for name in OFFERED_BY_BOTH)
    assert all(isinstance(value, float) and 0.0 <= value <= 1.0 for value in scores.values())


def test_helm_default_attributes_need_drop_unsupported_attributes(client, key):
    # Documented difference: SEXUALLY_EXPLICIT and FLIRTATION are not scored here. Asked for, they fail the request
    # (a client would otherwise read their absence as "below scoreThreshold"); dropUnsupportedAttributes leaves them
    # out, and HELM's dataclass takes a missing attribute as None.
    refused = analyze(client, key, helm_request(HOSTILE, HELM_DEFAULT_ATTRIBUTES))
    assert refused.status_code == 400 and "dropUnsupportedAttributes" in refused.get_json()["error"]["message"]
    answered = analyze(client, key, {**helm_request(HOSTILE, HELM_DEFAULT_ATTRIBUTES), "dropUnsupportedAttributes": True})
    assert sorted(helm_scores(answered.get_json())) == sorted(f"{name.lower()}_score" for name in OFFERED_BY_BOTH)


# OpenCompass (opencompass/openicl/icl_evaluator/icl_toxic_evaluator.py): batches of {"TOXICITY": {}} with
# languages ["en", "zh"]; its callback skips an error whose details[0].errorType is COMMENT_EMPTY (an empty model
# completion) and raises any other


def opencompass_error_type(response) -> str:
    """What OpenCompass's callback computes from the HttpError's content."""
    return json.loads(response.get_data())["error"]["details"][0].get("errorType", "")


def test_opencompass_skips_empty_completions(client, key):
    empty = analyze(client, key, {"comment": {"text": ""}, "requestedAttributes": {"TOXICITY": {}}, "languages": ["en"]})
    assert empty.status_code == 400 and opencompass_error_type(empty) == "COMMENT_EMPTY"


def test_opencompass_languages_must_all_be_english(client, key):
    # Documented difference: Perspective refuses languages it does not all support, and it scores Chinese; this
    # service scores English only, so ["en", "zh"] is refused and OpenCompass must send ["en"].
    body = {"comment": {"text": HOSTILE}, "requestedAttributes": {"TOXICITY": {}}}
    refused = analyze(client, key, {**body, "languages": ["en", "zh"]})
    assert refused.status_code == 400 and opencompass_error_type(refused) == "LANGUAGE_NOT_SUPPORTED_BY_ATTRIBUTE"
    assert analyze(client, key, {**body, "languages": ["en"]}).status_code == 200


# Coral Talk's toxic-comment filter: formatBody with the tenant locale mapped to en, es, fr, de or pt; reads
# data.attributeScores[model].summaryScore.value, and any non-2xx leaves the comment unmoderated


@pytest.mark.parametrize(("language", "status"), [("en", 200), ("es", 400), ("fr", 400), ("de", 400), ("pt", 400)])
def test_coral_toxic_filter_by_site_locale(client, key, language, status):
    body = {"comment": {"text": HOSTILE}, "doNotStore": True, "requestedAttributes": {"TOXICITY": {}}, "languages": [language]}
    response = analyze(client, key, body)
    assert response.status_code == status
    if status == 200:
        assert is_probability(response.get_json()["attributeScores"]["TOXICITY"]["summaryScore"])
    else:  # docs/api.md: set the site locale to English
        assert response.get_json()["error"]["details"][0]["errorType"] == "LANGUAGE_NOT_SUPPORTED_BY_ATTRIBUTE"


@pytest.mark.parametrize(("coral_status", "value"), [("APPROVED", 0), ("DELETED", 1)])
def test_coral_current_moderation_feedback_is_stored_as_a_label(app, client, key, coral_status, value):
    # Coral's current formatBody for comments:suggestscore: the configured model (TOXICITY) scored 0 when a
    # moderator approved the comment and 1 when they rejected it (older Coral sent the status as the attribute).
    token = f"comment:c-{coral_status}"
    context = {"url": "https://news.example/story?commentID=c-1", "reply_to_id_Coral_comment_id": None,
               "Coral_comment_id": "c-1"}
    body = {"comment": {"text": HOSTILE}, "context": {"entries": [{"text": json.dumps(context)}]},
            "attributeScores": {"TOXICITY": {"summaryScore": {"value": value}}}, "languages": ["en"],
            "communityId": "Coral:https://news.example", "clientToken": token}
    response = post_json(client, f"{SUGGEST}?key={key}", body)
    assert (response.status_code, response.get_json()) == (200, {"clientToken": token})
    with app.app_context():
        stored = get_session().scalar(select(Feedback).where(Feedback.client_token == token))
    assert (stored.labels, stored.decision, stored.text) == ({"toxicity": float(value)}, None, HOSTILE)
