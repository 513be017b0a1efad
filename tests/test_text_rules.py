"""One text rule for every field (no NUL, no unpaired surrogate, a maximum length): 400 naming the field on SQLite and PostgreSQL alike."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from service.app import create_app
from service.store import DecisionRecord, Feedback, app_engine, get_session
from service.text_rules import character_problem, text_problem

NUL = "\x00"
LONG_TOKEN = "t" * 257
SURROGATE = "\ud800"
V1_MODERATE = "/v1/moderate"
V1_FEEDBACK = "/v1/feedback"
ANALYZE = "/v1alpha1/comments:analyze"
SUGGEST = "/v1alpha1/comments:suggestscore"


@pytest.fixture
def keyless_app(tiny_bundle_path, db_url):
    """The service on ``db_url`` (SQLite file, then PostgreSQL), keeping texts, keys off."""
    app = create_app({"TESTING": True, "MODEL": str(tiny_bundle_path), "DB_URL": db_url, "AUTH_REQUIRED": False, "STORE_TEXT": True})
    yield app
    app_engine(app).dispose()


def analyze_body(**fields) -> dict:
    return {"comment": {"text": "hello there"}, "requestedAttributes": {"TOXICITY": {}}, **fields}


def suggest_body(**fields) -> dict:
    return {"comment": {"text": "hello there"}, "attributeScores": {"TOXICITY": {"summaryScore": {"value": 0.9}}}, **fields}


CASES = [
    (V1_MODERATE, {"comments": [{"id": "a" + NUL, "text": "hi"}]}, "comments[0].id contains a NUL character at character 1"),
    (V1_MODERATE, {"comments": [{"id": "a", "text": "hi" + NUL}]}, "comments[0].text contains a NUL character"),
    (V1_MODERATE, {"comments": [{"id": "a", "text": "hi", "context": {"story_url": NUL}}]}, "comments[0].context.story_url contains a NUL"),
    (V1_FEEDBACK, {"comment_id": NUL, "decision": "reject"}, "comment_id contains a NUL character"),
    (V1_FEEDBACK, {"text": "bad" + NUL, "decision": "reject"}, "text contains a NUL character"),
    (V1_FEEDBACK, {"comment_id": "x" * 257, "decision": "reject"}, "comment_id has 257 characters; the limit is 256"),
    (ANALYZE, analyze_body(clientToken="tok" + NUL), "clientToken contains a NUL character"),
    (ANALYZE, analyze_body(clientToken=LONG_TOKEN), "clientToken has 257 characters; the limit is 256"),
    (ANALYZE, analyze_body(comment={"text": "hi" + NUL}), "comment.text contains a NUL character"),
    (ANALYZE, analyze_body(sessionId=LONG_TOKEN), "sessionId has 257 characters"),
    (SUGGEST, suggest_body(clientToken=LONG_TOKEN), "clientToken has 257 characters; the limit is 256"),
    (SUGGEST, suggest_body(clientToken=NUL), "clientToken contains a NUL character"),
    (SUGGEST, suggest_body(comment={"text": "bad" + NUL}), "comment.text contains a NUL character"),
]


def error_message(response) -> str:
    return response.get_json()["error"]["message"]


@pytest.mark.parametrize(("path", "body", "message"), CASES)
def test_a_broken_text_field_is_400_naming_it_and_nothing_is_stored(keyless_app, path, body, message):
    response = keyless_app.test_client().post(path, json=body)
    assert response.status_code == 400, response.get_data(as_text=True)[:300]
    assert message in error_message(response)
    with keyless_app.app_context():
        session = get_session()
        assert session.scalar(select(func.count()).select_from(Feedback)) == 0
        assert session.scalar(select(func.count()).select_from(DecisionRecord)) == 0


def test_the_longest_accepted_token_and_id_are_stored(keyless_app):
    client = keyless_app.test_client()
    token = "t" * 256
    assert client.post(SUGGEST, json=suggest_body(clientToken=token)).status_code == 200
    assert client.post(V1_FEEDBACK, json={"comment_id": "c" * 256, "decision": "reject"}).status_code == 201
    with keyless_app.app_context():
        tokens = set(get_session().scalars(select(Feedback.client_token)))
    assert token in tokens


def test_an_unpaired_surrogate_is_400_on_every_surface(client, auth):
    assert "comments[0].text contains an unpaired surrogate at character 2" in error_message(
        client.post(V1_MODERATE, json={"comments": [{"id": "a", "text": "hi" + SURROGATE}]}, headers=auth)
    )
    assert "clientToken contains an unpaired surrogate" in error_message(
        client.post(ANALYZE, json=analyze_body(clientToken=SURROGATE), headers=auth)
    )


def test_the_rule():
    assert text_problem("ok", 2) is None
    assert text_problem("abc", 2) == "has 3 characters; the limit is 2"
    assert text_problem("", 5, min_chars=1) == "must be a non-empty string"
    assert character_problem("a\x00") == "contains a NUL character at character 1"
    assert character_problem("ab" + SURROGATE) == "contains an unpaired surrogate at character 2"
    assert character_problem("émoji 🙂 and tab\t") is None


def test_a_long_languages_list_is_400_and_not_echoed(client, auth):
    response = client.post(ANALYZE, json=analyze_body(languages=["en"] * 200_000), headers=auth)
    assert response.status_code == 400
    assert "languages has 200000 entries; the limit is 16" in error_message(response)
    assert len(response.get_data()) < 2_000
    assert client.post(ANALYZE, json=analyze_body(languages=["en"] * 16), headers=auth).status_code == 200
