"""Google's batch endpoint (POST /batch) as a whole: what refuses a batch before any of its requests is run."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from service.app import create_app
from service.auth import create_key
from service.store import DecisionRecord, get_session
from tests.test_discovery import _batch_body

SENTENCE = "Nice park. "
"""11 characters of English: a text of whole sentences is scored, never refused for its language."""
LONGEST = 11 * SENTENCE
LIMIT = 3 * len(LONGEST)
"""MAX_REQUEST_CHARS of these tests: three comments at the longest accepted (MAX_COMMENT_CHARS, PERSPECTIVE_MAX_TEXT_CHARS)."""


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


@pytest.mark.parametrize("path", ["/v1alpha1/comments:analyze", "/v1alpha1/comments%3Aanalyze"])
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
