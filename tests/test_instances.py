"""Several instances on one Redis and one PostgreSQL: a key's limits and revocation hold across all of them.

Two real ``moderate serve`` processes on loopback share ``RATELIMIT_STORAGE_URI`` (Redis) and
``DB_URL`` (PostgreSQL). Skipped when ``MODERATION_TEST_REDIS_URL`` or ``MODERATION_TEST_PG_URL`` is
unset (``.ci/run`` starts both servers and sets them).
"""

from __future__ import annotations

import json
import os
import subprocess
import urllib.error
import urllib.request

import pytest

from service.loadtest import moderate_command
from tests.conftest import PG_URL_ENV, REDIS_URL_ENV, REPO, empty_postgres, postgres_test_url, redis_test_url

REQUEST_LIMIT = 6
KEY_CACHE_SECONDS = 300
"""Long, so that only a shared cache can explain a revocation refused at once by both instances."""

UNREACHABLE_REDIS = "redis://127.0.0.1:1/0"
"""Port 1 on loopback: nothing listens, the connection is refused at once."""


@pytest.fixture
def shared_stores():
    """(PostgreSQL URL, Redis URL), both emptied; skip when either server is absent."""
    pg_url, redis_url = postgres_test_url(), redis_test_url()
    if not pg_url or not redis_url:
        pytest.skip(f"{PG_URL_ENV} and {REDIS_URL_ENV} must both be set: .ci/run starts PostgreSQL and Redis")
    from redis import Redis

    client = Redis.from_url(redis_url, socket_timeout=5)
    try:
        client.flushdb()
    except OSError as error:  # redis' ConnectionError is an OSError
        pytest.skip(f"Redis at {redis_url} cannot be reached: {error}")
    empty_postgres(pg_url)
    yield pg_url, redis_url
    client.flushdb()


def status_of(base: str, path: str, key: str, body: dict | None = None) -> int:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(base + path, data=data, headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=20) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def moderate(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([*moderate_command(), *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=120, check=False)


@pytest.mark.slow
def test_a_key_limit_and_a_revocation_hold_across_two_instances(shared_stores, serve, tiny_bundle_path, tmp_path):
    pg_url, redis_url = shared_stores
    env = {
        **os.environ,
        "MODERATION_DB_URL": pg_url,
        "MODERATION_RATELIMIT_STORAGE_URI": redis_url,
        "MODERATION_RATE_LIMIT": f"{REQUEST_LIMIT} per minute",
        "MODERATION_KEY_CACHE_SECONDS": str(KEY_CACHE_SECONDS),
        "MODERATION_LOG_JSON": "false",
    }
    created = moderate("db", "upgrade", env=env)
    assert created.returncode == 0, created.stderr
    limited, spare = (moderate("keys", "create", name, env=env) for name in ("limited", "spare"))
    assert limited.returncode == 0 and spare.returncode == 0, limited.stderr + spare.stderr
    limited_key, spare_key = limited.stdout.strip(), spare.stdout.strip()
    args = ["--workers", "1", "--model", str(tiny_bundle_path)]
    with serve(args, env, tmp_path / "a.log") as first, serve(args, env, tmp_path / "b.log") as second:
        bases = [first.base, second.base]
        statuses = [status_of(bases[index % 2], "/v1/model", limited_key) for index in range(REQUEST_LIMIT)]
        assert statuses == [200] * REQUEST_LIMIT
        # Each instance has served only half the limit: only a shared count refuses now.
        assert [status_of(base, "/v1/model", limited_key) for base in bases] == [429, 429]
        assert [status_of(base, "/v1/model", spare_key) for base in bases] == [200, 200]

        revoked = moderate("keys", "revoke", "spare", env=env)
        assert revoked.returncode == 0, revoked.stderr
        assert [status_of(base, "/v1/model", spare_key) for base in bases] == [403, 403]


def test_an_unreachable_redis_does_not_stop_moderation(tiny_bundle_path):
    """Counts fall back to each worker's memory (the request limit still holds), the key cache to the database."""
    from service.app import create_app
    from service.auth import create_key, revoke_key
    from service.store import get_session

    app = create_app({"TESTING": True, "MODEL": str(tiny_bundle_path), "DB_URL": "sqlite://", "RATELIMIT_STORAGE_URI": UNREACHABLE_REDIS, "RATE_LIMIT": "3 per minute"})
    with app.app_context():
        key, other = create_key(get_session(), "k")[1], create_key(get_session(), "other")[1]
    client, headers = app.test_client(), {"X-API-Key": key}
    body = {"comments": [{"id": "a", "text": "hello"}]}
    assert [client.post("/v1/moderate", json=body, headers=headers).status_code for _ in range(4)] == [200, 200, 200, 429]
    assert client.get("/v1/model", headers={"X-API-Key": "mod_made_up"}).status_code == 403
    assert client.get("/v1/model", headers={"X-API-Key": other}).status_code == 200
    with app.app_context():
        revoke_key(get_session(), "other")
    assert client.get("/v1/model", headers={"X-API-Key": other}).status_code == 403
