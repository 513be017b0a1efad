"""Per-key rate limits: 429 JSON with Retry-After, counted per key across API surfaces, never on operations."""

from __future__ import annotations

import threading
import time

import pytest
from limits.storage import storage_from_string

import service.limits
from service.app import create_app
from service.auth import create_key
from service.config import ConfigError
from service.store import get_session

LIMIT = 3


@pytest.fixture
def app(tiny_bundle_path):
    return create_app({"TESTING": True, "MODEL": str(tiny_bundle_path), "DB_URL": "sqlite://", "RATE_LIMIT": f"{LIMIT} per minute"})


def new_key(app) -> dict[str, str]:
    with app.app_context():
        return {"X-API-Key": create_key(get_session(), "k")[1]}


def test_over_the_limit_is_429_json_with_retry_after(client, auth):
    for _ in range(LIMIT):
        response = client.get("/v1/model", headers=auth)
        assert response.status_code == 200
        assert "Retry-After" not in response.headers
    response = client.get("/v1/model", headers=auth)
    assert response.status_code == 429
    assert response.is_json
    error = response.get_json()["error"]
    assert error["code"] == "too_many_requests"
    assert f"{LIMIT} per 1 minute" in error["message"]
    assert 1 <= int(response.headers["Retry-After"]) <= 60
    assert response.headers["X-Request-ID"]


def test_the_budget_is_shared_by_the_endpoints_of_a_key(client, auth):
    assert client.get("/v1/model", headers=auth).status_code == 200
    assert client.post("/v1/feedback", json={"comment_id": "a", "decision": "approve"}, headers=auth).status_code == 201
    assert client.post("/v1/moderate", json={"comments": [{"id": "a", "text": "hi"}]}, headers=auth).status_code == 200
    assert client.post("/v1/moderate", json={"comments": [{"id": "a", "text": "hi"}]}, headers=auth).status_code == 429


def test_each_key_has_its_own_budget(app, client, auth):
    for _ in range(LIMIT + 1):
        client.get("/v1/model", headers=auth)
    assert client.get("/v1/model", headers=auth).status_code == 429
    assert client.get("/v1/model", headers=new_key(app)).status_code == 200


def test_the_same_key_counts_the_same_however_it_is_sent(client, api_key):
    client.get("/v1/model", headers={"Authorization": f"Bearer {api_key}"})
    client.get("/v1/model", headers={"X-API-Key": api_key})
    client.get("/v1/model", query_string={"key": api_key})
    assert client.get("/v1/model", headers={"X-API-Key": api_key}).status_code == 429


def test_requests_without_a_key_are_limited_by_address(client):
    statuses = [client.get("/v1/model").status_code for _ in range(LIMIT + 1)]
    assert statuses == [401] * LIMIT + [429]


def test_with_keys_not_required_a_made_up_key_is_no_fresh_budget(tiny_bundle_path):
    # No key is checked then: counted per key, a client sending a new made-up key each time was never limited.
    app = create_app({"TESTING": True, "MODEL": str(tiny_bundle_path), "DB_URL": "sqlite://", "RATE_LIMIT": f"{LIMIT} per minute",
                      "AUTH_REQUIRED": False})
    client = app.test_client()
    statuses = [client.get("/v1/model", headers={"X-API-Key": f"mod_made-up-{number}"}).status_code for number in range(LIMIT + 1)]
    assert statuses == [200] * LIMIT + [429]
    assert client.get("/v1/model").status_code == 429  # the same address's budget, key or no key


@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/metrics", "/openapi.json", "/docs"])
def test_operations_are_never_limited(client, path):
    assert all(client.get(path).status_code == 200 for _ in range(LIMIT * 3))


def test_the_perspective_surface_shares_the_budget(app, client, auth):
    if "perspective" not in app.blueprints:
        pytest.skip("the Perspective blueprint is not registered")
    for _ in range(LIMIT):
        client.get("/v1/model", headers=auth)
    body = {"comment": {"text": "hello"}, "requestedAttributes": {"TOXICITY": {}}}
    assert client.post("/v1alpha1/comments:analyze", json=body, headers=auth).status_code == 429


@pytest.mark.parametrize("limit", ["lots", "5 per fortnight", ""])
def test_a_bad_limit_is_refused_at_start(tiny_bundle_path, limit):
    with pytest.raises(ConfigError, match="RATE_LIMIT"):
        create_app({"MODEL": str(tiny_bundle_path), "DB_URL": "sqlite://", "RATE_LIMIT": limit})


def test_counting_in_memory_starts_no_thread_per_request(client, auth, monkeypatch):
    started = []
    monkeypatch.setattr(threading.Thread, "start", lambda thread: started.append(thread))
    for _ in range(LIMIT + 1):
        client.get("/v1/model", headers=auth)
    assert client.get("/v1/model", headers=auth).status_code == 429
    assert started == []


def test_expired_counts_are_swept_from_memory_inline(monkeypatch):
    monkeypatch.setattr(service.limits, "SWEEP_SECONDS", 0.0)
    storage = storage_from_string(f"{service.limits.SWEPT_MEMORY_SCHEME}://")
    assert isinstance(storage, service.limits.SweptMemoryStorage)
    storage.incr("old", expiry=0.01)
    time.sleep(0.02)
    storage.incr("new", expiry=60)
    assert "old" not in storage.storage
    assert (storage.get("old"), storage.get("new")) == (0, 1)
