"""Coral's endpoint under abuse: a replayed signed body is not scored or logged again, and the endpoint is rate limited."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from service.app import create_app
from service.replays import Answer, make_replay_memory
from service.store import DecisionRecord, get_session
from tests.test_coral import HOSTILE, NEUTRAL, SECRET, coral_request, encode, post, sign

CORAL_LIMIT = 5


@pytest.fixture
def app(tiny_bundle_path):
    return create_app({"TESTING": True, "MODEL": str(tiny_bundle_path), "DB_URL": "sqlite://", "CORAL_SECRET": SECRET, "CORAL_RATE_LIMIT": f"{CORAL_LIMIT} per minute"})


def coral_rows(app) -> int:
    with app.app_context():
        return get_session().scalar(select(func.count()).select_from(DecisionRecord).filter_by(surface="coral"))


@pytest.mark.parametrize("text", [HOSTILE, NEUTRAL])
def test_a_replayed_signed_body_gets_the_same_answer_without_scoring_or_logging(app, client, text, monkeypatch):
    body = encode(coral_request(text))
    first = post(client, body, sign(body, SECRET))
    assert first.status_code in (200, 204)
    scored = []
    scorer = app.extensions["moderation"]
    monkeypatch.setattr(scorer, "moderate", lambda *args, **kwargs: scored.append(args))
    for _ in range(3):
        again = post(client, body, sign(body, SECRET))
        assert (again.status_code, again.get_data()) == (first.status_code, first.get_data())
    assert scored == []
    assert coral_rows(app) == 1
    metrics = client.get("/metrics").get_data(as_text=True)
    assert "moderation_coral_replays_total 3.0" in metrics


def test_a_body_seen_by_another_bundle_version_is_scored_again(app, client, monkeypatch):
    # After `moderate models use` and a reload (or with instances sharing the memory in Redis serving two bundles), a
    # body seen within CORAL_REPLAY_SECONDS got the answer of the bundle that was replaced.
    body = encode(coral_request(HOSTILE))
    assert post(client, body, sign(body, SECRET)).status_code in (200, 204)
    scorer = app.extensions["moderation"]
    scored = []
    moderate = scorer.moderate
    monkeypatch.setattr(scorer, "moderate", lambda *args, **kwargs: scored.append(args) or moderate(*args, **kwargs))
    monkeypatch.setattr(scorer, "model_version", scorer.model_version + "-next")
    for _ in range(2):
        assert post(client, body, sign(body, SECRET)).status_code in (200, 204)
    assert len(scored) == 1  # scored by the new version once, then answered from memory again
    assert coral_rows(app) == 2


def test_a_different_body_is_scored(app, client):
    for text in (HOSTILE, HOSTILE + " Again.", NEUTRAL):
        body = encode(coral_request(text))
        post(client, body, sign(body, SECRET))
    assert coral_rows(app) == 3


def test_a_replay_with_a_bad_signature_is_still_401(app, client):
    body = encode(coral_request(HOSTILE))
    post(client, body, sign(body, SECRET))
    assert post(client, body, sign(body, "not the secret")).status_code == 401


def test_the_coral_endpoint_is_rate_limited_per_address(client):
    statuses = []
    for index in range(CORAL_LIMIT + 2):
        body = encode(coral_request(f"{NEUTRAL} {index}"))
        statuses.append(post(client, body, sign(body, SECRET)).status_code)
    assert all(status in (200, 204) for status in statuses[:CORAL_LIMIT])
    assert statuses[CORAL_LIMIT:] == [429, 429]
    body = encode(coral_request("unsigned"))
    limited = post(client, body, None)
    assert limited.status_code == 429  # limited before the signature is even checked
    assert limited.is_json and 1 <= int(limited.headers["Retry-After"]) <= 60
    assert "for this address" in limited.get_json()["error"]["message"]  # Coral sends no key: it said "this API key"
    metrics = client.get("/metrics").get_data(as_text=True)
    assert 'moderation_limited_requests_total{limit="coral"} 3.0' in metrics


def test_one_ipv6_network_shares_the_coral_limit(client):
    # Counted per address, an IPv6 client changed the last bits of its address for a fresh CORAL_RATE_LIMIT each time,
    # as the other limits per address no longer allow (they count its /64 network).
    statuses = []
    for index in range(CORAL_LIMIT + 1):
        body = encode(coral_request(f"{NEUTRAL} {index}"))
        headers = {"Content-Type": "application/json", "X-Coral-Signature": sign(body, SECRET)}
        statuses.append(client.post("/coral/v1/moderate", data=body, headers=headers,
                                    environ_base={"REMOTE_ADDR": f"2001:db8:5:7::{index + 1:x}"}).status_code)
    assert statuses[-1] == 429 and all(status in (200, 204) for status in statuses[:-1])
    body = encode(coral_request(NEUTRAL + " elsewhere"))
    other = client.post("/coral/v1/moderate", data=body, headers={"Content-Type": "application/json", "X-Coral-Signature":
                        sign(body, SECRET)}, environ_base={"REMOTE_ADDR": "2001:db8:5:8::1"})
    assert other.status_code in (200, 204)  # another network


def test_the_memory_forgets_after_the_window_and_stays_bounded():
    now = [0.0]
    memory = make_replay_memory(10, "memory://")
    memory.clock, memory.max_entries = (lambda: now[0]), 2
    memory.put("a", Answer(204, b""))
    assert memory.get("a") == Answer(204, b"")
    now[0] = 10.0
    assert memory.get("a") is None
    for digest in ("b", "c", "d"):
        memory.put(digest, Answer(200, b"{}"))
    # Full: the oldest goes (a flood forgets one body at a time, never the whole window at once).
    assert (memory.get("b"), memory.get("c"), memory.get("d")) == (None, Answer(200, b"{}"), Answer(200, b"{}"))
    off = make_replay_memory(0, "memory://")
    assert off.put("x", Answer(204, b"")) is None and off.get("x") is None
