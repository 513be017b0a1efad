"""Failed authentication is limited per client address: made-up keys get 429, without a database look-up each."""

from __future__ import annotations

import secrets

import pytest

from service.app import create_app
from service.auth import create_key, revoke_key
from service.store import get_session
from tests.test_auth import Clock

FAILURES = 5


@pytest.fixture
def app(tiny_bundle_path):
    return create_app({"TESTING": True, "MODEL": str(tiny_bundle_path), "DB_URL": "sqlite://", "RATE_LIMIT": "100000 per minute", "AUTH_FAILURE_LIMIT": f"{FAILURES} per minute"})


def made_up() -> dict[str, str]:
    return {"Authorization": f"Bearer mod_{secrets.token_urlsafe(32)}"}


def from_address(address: str) -> dict:
    return {"environ_base": {"REMOTE_ADDR": address}}


def app_with_good_key(tiny_bundle_path, key_cache_seconds: float) -> tuple:
    """An app limiting failed authentications to ``FAILURES``, its key cache kept ``key_cache_seconds``, with an active
    key: the app, a client and that key's headers."""
    app = create_app({"TESTING": True, "MODEL": str(tiny_bundle_path), "DB_URL": "sqlite://", "RATE_LIMIT": "100000 per minute",
                      "AUTH_FAILURE_LIMIT": f"{FAILURES} per minute", "KEY_CACHE_SECONDS": key_cache_seconds})
    with app.app_context():
        good = {"Authorization": f"Bearer {create_key(get_session(), 'cms')[1]}"}
    return app, app.test_client(), good


def count_lookups(monkeypatch) -> list:
    import service.auth

    lookups: list = []
    real = service.auth.find_active_key

    def counted(*args, **kwargs):
        lookups.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(service.auth, "find_active_key", counted)
    return lookups


def test_made_up_keys_get_429_once_the_address_failed_too_often(client, monkeypatch):
    lookups = count_lookups(monkeypatch)
    statuses = [client.get("/v1/model", headers=made_up()).status_code for _ in range(FAILURES)]
    assert statuses == [403] * FAILURES
    assert len(lookups) == FAILURES
    for _ in range(50):
        response = client.get("/v1/model", headers=made_up())
        assert response.status_code == 429
    assert len(lookups) == FAILURES  # no database look-up once limited
    error = response.get_json()["error"]
    assert error["code"] == "too_many_requests"
    assert "unknown or revoked API key from this address" in error["message"]
    assert 1 <= int(response.headers["Retry-After"]) <= 60
    assert response.headers["X-RateLimit-Limit"] == str(FAILURES)
    assert response.headers["X-RateLimit-Remaining"] == "0"
    assert response.headers.getlist("X-RateLimit-Limit") == [str(FAILURES)]  # ours replaced the request count's


def test_the_perspective_surface_counts_the_same_failures(client):
    body = {"comment": {"text": "hello"}, "requestedAttributes": {"TOXICITY": {}}}
    for _ in range(FAILURES):
        client.post("/v1alpha1/comments:analyze", json=body, headers=made_up())
    response = client.post("/v1alpha1/comments:analyze", json=body, headers=made_up())
    assert response.status_code == 429
    assert response.get_json()["error"]["status"] == "RESOURCE_EXHAUSTED"
    assert "Retry-After" in response.headers


def test_other_addresses_and_cached_good_keys_are_still_served(app, client):
    with app.app_context():
        good = {"Authorization": f"Bearer {create_key(get_session(), 'cms')[1]}"}
    assert client.get("/v1/model", headers=good).status_code == 200  # now cached as active
    for _ in range(FAILURES + 3):
        client.get("/v1/model", headers=made_up())
    assert client.get("/v1/model", headers=made_up()).status_code == 429
    assert client.get("/v1/model", headers=good).status_code == 200
    assert client.get("/v1/model", headers=made_up(), **from_address("192.0.2.7")).status_code == 403


def test_behind_a_proxy_the_forwarded_address_is_the_client(tiny_bundle_path):
    app = create_app({"TESTING": True, "MODEL": str(tiny_bundle_path), "DB_URL": "sqlite://", "AUTH_FAILURE_LIMIT": f"{FAILURES} per minute", "TRUSTED_PROXY_HOPS": 1})
    client = app.test_client()
    for _ in range(FAILURES):
        client.get("/v1/model", headers={**made_up(), "X-Forwarded-For": "198.51.100.1"})
    assert client.get("/v1/model", headers={**made_up(), "X-Forwarded-For": "198.51.100.1"}).status_code == 429
    assert client.get("/v1/model", headers={**made_up(), "X-Forwarded-For": "198.51.100.2"}).status_code == 403


def test_limited_failures_are_counted_in_metrics(client):
    for _ in range(FAILURES + 2):
        client.get("/v1/model", headers=made_up())
    text = client.get("/metrics").get_data(as_text=True)
    assert 'moderation_limited_requests_total{limit="auth_failures"} 2.0' in text


def test_the_addresses_of_one_ipv6_network_share_one_budget(app):
    # Counted per address, a client with an IPv6 /64 (what a provider gives one customer) has 2**64 addresses, and
    # could try made-up keys, and send keyless requests, without end by changing the last bits.
    client = app.test_client()
    statuses = [client.get("/v1/model", headers=made_up(), **from_address(f"2001:db8:5:7::{n + 1:x}")).status_code
                for n in range(FAILURES + 3)]
    assert statuses == [403] * FAILURES + [429] * 3
    assert client.get("/v1/model", headers=made_up(), **from_address("2001:db8:5:8::1")).status_code == 403  # another network
    assert client.get("/v1/model", headers=made_up(), **from_address("192.0.2.1")).status_code == 403  # IPv4 as before
    assert client.get("/v1/model", headers=made_up(), **from_address("192.0.2.2")).status_code == 403


def test_keyless_requests_from_one_ipv6_network_share_one_request_count(tiny_bundle_path):
    app = create_app({"TESTING": True, "MODEL": str(tiny_bundle_path), "DB_URL": "sqlite://", "RATE_LIMIT": "3 per minute"})
    client = app.test_client()
    statuses = [client.get("/v1/model", **from_address(f"2001:db8:5:7::{n + 1:x}")).status_code for n in range(5)]
    assert statuses == [401] * 3 + [429] * 2
    assert client.get("/v1/model", **from_address("2001:db8:5:8::1")).status_code == 401  # another network


def test_a_good_key_from_a_failing_address_is_served_after_the_key_cache_forgot_it(tiny_bundle_path, monkeypatch):
    # The key cache keeps a key KEY_CACHE_SECONDS (2 s): past that, a client behind the same address (a NAT) as someone
    # trying made-up keys got 429 for its good key at every look-up, for as long as the guessing went on. The cache is
    # off here (0), as if every request came more than KEY_CACHE_SECONDS after the last.
    app, client, good = app_with_good_key(tiny_bundle_path, 0)
    assert client.get("/v1/model", headers=good).status_code == 200  # found active once from this process
    for _ in range(FAILURES):
        client.get("/v1/model", headers=made_up())
    lookups = count_lookups(monkeypatch)
    assert client.get("/v1/model", headers=made_up()).status_code == 429
    assert [client.get("/v1/model", headers=good).status_code for _ in range(3)] == [200] * 3
    assert len(lookups) == 3  # each a look-up (a revocation is seen at once), the made-up key none
    with app.app_context():
        revoke_key(get_session(), "cms")
    assert client.get("/v1/model", headers=good).status_code == 429  # revoked: no longer let past the limit
    assert len(lookups) == 3


def test_a_good_key_served_from_a_shared_key_cache_is_remembered_too(tiny_bundle_path, tmp_path):
    # With Redis the key cache is shared by every worker and instance: a worker may serve a client's key from it only,
    # never looking it up itself. Once the cache forgot the key and someone at the client's address had spent
    # AUTH_FAILURE_LIMIT, that worker refused the good key (429), though it had found it active (in the cache) just before.
    from service.auth import KEY_CACHE_KEY

    config = {"TESTING": True, "MODEL": str(tiny_bundle_path), "DB_URL": f"sqlite:///{tmp_path / 'db.sqlite'}",
              "DB_AUTO_UPGRADE": True, "RATE_LIMIT": "100000 per minute", "AUTH_FAILURE_LIMIT": f"{FAILURES} per minute",
              "KEY_CACHE_SECONDS": 60}
    first, second = create_app(config), create_app(config)
    second.extensions[KEY_CACHE_KEY] = shared = first.extensions[KEY_CACHE_KEY]  # as one Redis gives both
    with first.app_context():
        good = {"Authorization": f"Bearer {create_key(get_session(), 'cms')[1]}"}
    assert first.test_client().get("/v1/model", headers=good).status_code == 200  # looked up, put in the shared cache
    client = second.test_client()
    assert client.get("/v1/model", headers=good).status_code == 200  # from the shared cache
    for _ in range(FAILURES):
        client.get("/v1/model", headers=made_up())
    assert client.get("/v1/model", headers=made_up()).status_code == 429
    shared.clear()  # KEY_CACHE_SECONDS later
    assert client.get("/v1/model", headers=good).status_code == 200


def counted_known_keys(app) -> tuple[list[str], Clock]:
    """Give ``app`` a memory of good keys on a hand-moved clock that records each write; return the writes and clock."""
    from service.auth_failures import KNOWN_KEYS

    memory = app.extensions[KNOWN_KEYS]
    memory.clock = clock = Clock()
    writes: list[str] = []
    put = memory.put

    def counted_put(name, *args, **kwargs):
        writes.append(name)
        return put(name, *args, **kwargs)

    memory.put = counted_put
    return writes, clock


@pytest.mark.parametrize("key_cache_seconds", [60, 0], ids=["from-the-key-cache", "from-the-database"])
def test_a_good_key_is_written_to_the_memory_once_until_it_is_half_expired(tiny_bundle_path, key_cache_seconds):
    # Every request with a good key wrote it again (a lock and a new deadline), a key cache hit included.
    from service.auth import KEY_CACHE_KEY
    from service.auth_failures import KNOWN_KEY_SECONDS

    app, client, good = app_with_good_key(tiny_bundle_path, key_cache_seconds)
    writes, clock = counted_known_keys(app)
    assert [client.get("/v1/model", headers=good).status_code for _ in range(5)] == [200] * 5
    assert len(writes) == 1
    clock.now += KNOWN_KEY_SECONDS / 2 - 1
    assert client.get("/v1/model", headers=good).status_code == 200
    assert len(writes) == 1  # still more than half its time left
    clock.now += 2
    assert [client.get("/v1/model", headers=good).status_code for _ in range(3)] == [200] * 3
    assert len(writes) == 2  # renewed once, for KNOWN_KEY_SECONDS from now
    # Still remembered past the first write's expiry: a spent AUTH_FAILURE_LIMIT does not refuse it.
    clock.now += KNOWN_KEY_SECONDS / 2 + 1
    for _ in range(FAILURES):
        client.get("/v1/model", headers=made_up())
    assert client.get("/v1/model", headers=made_up()).status_code == 429
    app.extensions[KEY_CACHE_KEY].clear()  # the key cache forgot it: the known-keys memory lets it past
    assert client.get("/v1/model", headers=good).status_code == 200


def test_a_good_key_this_process_never_met_is_served_past_a_spent_limit(tiny_bundle_path):
    # A worker knew only the keys it had found active itself: after a restart, a reload (SIGHUP) or on the other
    # worker, a client behind the same address as a key guesser got 429 ("retry ... with a valid key") for as long as
    # the guessing went on. Before it refuses, the process reads the active keys (at most once per interval).
    app, client, good = app_with_good_key(tiny_bundle_path, 0)
    for _ in range(FAILURES):
        client.get("/v1/model", headers=made_up())
    assert client.get("/v1/model", headers=made_up()).status_code == 429
    assert client.get("/v1/model", headers=good).status_code == 200


def test_made_up_keys_past_the_limit_read_the_active_keys_at_most_once_per_interval(tiny_bundle_path, monkeypatch):
    import service.auth
    from service.auth_failures import ACTIVE_KEYS_REREAD_SECONDS

    app, client, good = app_with_good_key(tiny_bundle_path, 0)
    _, clock = counted_known_keys(app)
    reads: list = []
    real = service.auth.active_key_hashes
    monkeypatch.setattr(service.auth, "active_key_hashes", lambda *args: reads.append(args) or real(*args))
    lookups = count_lookups(monkeypatch)
    assert [client.get("/v1/model", headers=made_up()).status_code for _ in range(FAILURES)] == [403] * FAILURES
    assert reads == []  # nothing read while the address has failures left
    assert {client.get("/v1/model", headers=made_up()).status_code for _ in range(50)} == {429}
    assert len(reads) == 1 and len(lookups) == FAILURES  # one read of the active keys for 50 refusals, no look-up
    clock.now += ACTIVE_KEYS_REREAD_SECONDS
    assert client.get("/v1/model", headers=made_up()).status_code == 429
    assert len(reads) == 2


def test_a_good_key_unused_for_the_memory_time_is_let_past_a_spent_limit_once_the_active_keys_are_read(tiny_bundle_path):
    from service.auth_failures import KNOWN_KEY_SECONDS

    app, client, good = app_with_good_key(tiny_bundle_path, 0)
    writes, clock = counted_known_keys(app)
    assert client.get("/v1/model", headers=good).status_code == 200
    clock.now += KNOWN_KEY_SECONDS  # forgotten by the memory
    for _ in range(FAILURES):
        client.get("/v1/model", headers=made_up())
    assert client.get("/v1/model", headers=good).status_code == 200  # read from the database's active keys
    assert len(writes) == 2
