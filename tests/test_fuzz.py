"""Fuzzing the /v1 endpoints: hundreds of malformed bodies, headers and keys get JSON 4xx, never a 5xx.

Hypothesis generates JSON-shaped and raw-byte bodies (derandomized, so CI sees the same cases); a
seeded random mutator corrupts valid bodies byte by byte. After each run the app must still answer
a valid request.
"""

from __future__ import annotations

import json
import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from service.app import create_app
from service.auth import create_key
from service.store import get_session

N_EXAMPLES = 300
N_MUTATIONS = 300
SEED = 20261231

FUZZ_SETTINGS = settings(
    max_examples=N_EXAMPLES,
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.function_scoped_fixture],
)

VALID = {
    "/v1/moderate": {"comments": [{"id": "c1", "text": "You are an idiot.", "context": {"parent_text": "p", "story_url": "u"}}], "do_not_store": True},
    "/v1/feedback": {"comment_id": "c1", "text": "You are an idiot.", "decision": "reject", "labels": {"toxicity": 1.0}},
}
ENDPOINTS = [("post", "/v1/moderate"), ("post", "/v1/feedback"), ("get", "/v1/model")]
FIELD_NAMES = ["comments", "do_not_store", "id", "text", "context", "parent_text", "story_url", "comment_id", "decision", "labels", "toxicity", "threat", ""]

scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=30)
json_values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.sampled_from(FIELD_NAMES) | st.text(max_size=6), children, max_size=4),
    max_leaves=12,
)
comment_like = st.fixed_dictionaries({}, optional={"id": json_values, "text": json_values, "context": json_values, "extra": json_values})
body_like = st.fixed_dictionaries(
    {},
    optional={
        "comments": st.lists(comment_like, max_size=4) | json_values,
        "do_not_store": json_values,
        "comment_id": json_values,
        "text": json_values,
        "decision": st.sampled_from(["approve", "review", "reject", "delete", ""]) | json_values,
        "labels": st.dictionaries(st.sampled_from(["toxicity", "threat", "nope"]) | st.text(max_size=5), json_values, max_size=3) | json_values,
    },
)
raw_bodies = st.binary(max_size=200) | json_values.map(lambda v: json.dumps(v).encode()) | body_like.map(lambda v: json.dumps(v).encode())
header_text = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=60)


@pytest.fixture(scope="module")
def fuzz_app(tiny_bundle_path):
    """One app for the whole module (Hypothesis calls the test hundreds of times), rate and failed-key limits lifted."""
    lifted = "1000000 per minute"
    app = create_app({"TESTING": True, "MODEL": str(tiny_bundle_path), "DB_URL": "sqlite://", "RATE_LIMIT": lifted, "AUTH_FAILURE_LIMIT": lifted, "MAX_CONTENT_LENGTH": 64 * 1024})
    with app.app_context():
        key = create_key(get_session(), "fuzz")[1]
    return app, {"Authorization": f"Bearer {key}"}


def check_answer(response) -> None:
    """A JSON answer below 500; errors in our shape."""
    assert response.status_code < 500, response.get_data(as_text=True)
    assert response.is_json
    if response.status_code >= 400:
        error = response.get_json()["error"]
        assert isinstance(error["code"], str) and isinstance(error["message"], str) and error["message"]


def still_answers(app, auth) -> None:
    response = app.test_client().post("/v1/moderate", json=VALID["/v1/moderate"], headers=auth)
    assert response.status_code == 200
    assert response.get_json()["results"][0]["id"] == "c1"


@pytest.mark.parametrize(("method", "path"), ENDPOINTS)
@FUZZ_SETTINGS
@given(body=raw_bodies, content_type=st.sampled_from(["application/json", "text/plain", "application/x-www-form-urlencoded", ""]))
def test_generated_bodies_never_give_a_5xx(fuzz_app, method, path, body, content_type):
    app, auth = fuzz_app
    response = getattr(app.test_client(), method)(path, data=body, content_type=content_type or None, headers=auth)
    check_answer(response)


@pytest.mark.parametrize(("method", "path"), ENDPOINTS)
@FUZZ_SETTINGS
@given(key=header_text, scheme=st.sampled_from(["Bearer ", "bearer", "Basic ", "", "Bearer  "]), query=st.dictionaries(st.sampled_from(["key", "x", "key "]), header_text, max_size=2))
def test_generated_keys_and_queries_never_give_a_5xx(fuzz_app, method, path, key, scheme, query):
    app, _ = fuzz_app
    headers = {"Authorization": scheme + key, "X-API-Key": key[::-1]}
    response = getattr(app.test_client(), method)(path, json=VALID.get(path), headers=headers, query_string=query)
    check_answer(response)
    assert response.status_code in {200, 201, 400, 401, 403}
    if response.status_code == 400:  # the Bearer key and X-API-Key's differ: refused whichever is valid
        assert "two different API keys" in response.get_json()["error"]["message"]


def mutate(data: bytes, rng: random.Random) -> bytes:
    """Corrupt a few bytes: flip, delete, duplicate or insert something awkward."""
    data = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        position = rng.randrange(len(data) + 1)
        choice = rng.randrange(4)
        if choice == 0 and position < len(data):
            data[position] ^= 1 << rng.randrange(8)
        elif choice == 1 and position < len(data):
            del data[position : position + rng.randint(1, 8)]
        elif choice == 2:
            data[position:position] = data[position : position + rng.randint(1, 16)]
        else:
            data[position:position] = rng.choice([b"\xff", b"\\ud800", b"null", b"[", b"}", b'"', b"1e999", b"-0", b"\x00", b"\xc3("])
    return bytes(data)


@pytest.mark.parametrize("path", list(VALID))
def test_mutated_valid_bodies_never_give_a_5xx(fuzz_app, path):
    app, auth = fuzz_app
    client = app.test_client()
    rng = random.Random(SEED)
    valid = json.dumps(VALID[path]).encode()
    statuses = set()
    for _ in range(N_MUTATIONS):
        response = client.post(path, data=mutate(valid, rng), content_type="application/json", headers=auth)
        check_answer(response)
        statuses.add(response.status_code)
    assert 400 in statuses
    still_answers(app, auth)


def test_the_app_still_answers_after_the_fuzzing(fuzz_app):
    app, auth = fuzz_app
    still_answers(app, auth)
    assert app.test_client().get("/readyz").status_code == 200
