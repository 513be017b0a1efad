"""Cost limits per key besides the request count: comments and characters per window, scoring requests in progress."""

from __future__ import annotations

import threading

import pytest

from service import budgets
from service.app import create_app
from service.auth import create_key
from service.key_limits import FileSlots, LocalSlots, RedisSlots, concurrent_limit
from service.redis_client import RedisError
from service.store import get_session
from tests.conftest import redis_test_url

MAX_COMMENTS = 2
MAX_CHARS = 100
MODERATE = "/v1/moderate"
ANALYZE = "/v1alpha1/comments:analyze"


def make_app(tiny_bundle_path, **config):
    settings = {"TESTING": True, "MODEL": str(tiny_bundle_path), "DB_URL": "sqlite://", "RATE_LIMIT": "100000 per minute",
                "MAX_COMMENTS_PER_REQUEST": MAX_COMMENTS, "MAX_COMMENT_CHARS": MAX_CHARS, "KEY_CONCURRENT_REQUESTS": 0}
    return create_app({**settings, **config})


def new_key(app) -> dict[str, str]:
    with app.app_context():
        return {"Authorization": f"Bearer {create_key(get_session(), 'k')[1]}"}


def full_request(n_chars: int = MAX_CHARS) -> dict:
    return {"comments": [{"id": str(index), "text": "a" * n_chars} for index in range(MAX_COMMENTS)]}


def test_characters_per_window_are_limited_per_key(tiny_bundle_path):
    app = make_app(tiny_bundle_path, KEY_CHAR_LIMIT=f"{2 * MAX_COMMENTS * MAX_CHARS} per minute")
    client, key = app.test_client(), new_key(app)
    assert [client.post(MODERATE, json=full_request(), headers=key).status_code for _ in range(2)] == [200, 200]
    response = client.post(MODERATE, json=full_request(), headers=key)
    assert response.status_code == 429
    message = response.get_json()["error"]["message"]
    assert "too many characters of comment text" in message and "this request has 200" in message
    assert response.headers["X-RateLimit-Limit"] == "400"
    assert response.headers["X-RateLimit-Remaining"] == "0"
    assert 1 <= int(response.headers["Retry-After"]) <= 60
    assert client.post(MODERATE, json=full_request(), headers=new_key(app)).status_code == 200  # another key
    text = client.get("/metrics").get_data(as_text=True)
    assert 'moderation_limited_requests_total{limit="characters"} 1.0' in text


def test_a_refused_request_spends_nothing(tiny_bundle_path):
    app = make_app(tiny_bundle_path, KEY_CHAR_LIMIT=f"{MAX_COMMENTS * MAX_CHARS + 50} per minute")
    client, key = app.test_client(), new_key(app)
    assert client.post(MODERATE, json=full_request(), headers=key).status_code == 200
    assert client.post(MODERATE, json=full_request(), headers=key).status_code == 429
    assert client.post(MODERATE, json=full_request(25), headers=key).status_code == 200  # 50 left, not spent by the refusal


def test_budget_settings_are_parsed_once_not_at_every_request(tiny_bundle_path, monkeypatch):
    app = make_app(tiny_bundle_path)
    client, key = app.test_client(), new_key(app)
    parsed: list[str] = []
    parse_many = budgets.parse_many
    monkeypatch.setattr(budgets, "parse_many", lambda limits: parsed.append(limits) or parse_many(limits))
    assert client.post(MODERATE, json=full_request(5), headers=key).status_code == 200
    parsed.clear()
    assert client.post(MODERATE, json=full_request(5), headers=key).status_code == 200
    assert parsed == []
    app.config["KEY_COMMENT_LIMIT"] = f"{MAX_COMMENTS - 1} per minute"  # still read at each request: a new value counts
    assert client.post(MODERATE, json=full_request(5), headers=key).status_code == 429


def test_comments_per_window_are_limited_across_surfaces(tiny_bundle_path):
    app = make_app(tiny_bundle_path, KEY_COMMENT_LIMIT=f"{MAX_COMMENTS + 1} per minute")
    client, key = app.test_client(), new_key(app)
    assert client.post(MODERATE, json=full_request(5), headers=key).status_code == 200
    body = {"comment": {"text": "hello"}, "requestedAttributes": {"TOXICITY": {}}}
    assert client.post(ANALYZE, json=body, headers=key).status_code == 200
    response = client.post(ANALYZE, json=body, headers=key)
    assert response.status_code == 429
    assert response.get_json()["error"]["status"] == "RESOURCE_EXHAUSTED"
    assert "too many comments" in response.get_json()["error"]["message"]
    assert response.headers["X-RateLimit-Limit"] == str(MAX_COMMENTS + 1)


@pytest.mark.parametrize("database", ["memory", "file"])
def test_a_key_may_have_only_so_many_scoring_requests_in_progress(tiny_bundle_path, tmp_path, database):
    db_url = "sqlite://" if database == "memory" else f"sqlite:///{tmp_path / 'slots.db'}"
    app = make_app(tiny_bundle_path, KEY_CONCURRENT_REQUESTS=1, DB_URL=db_url)
    key = new_key(app)
    scorer = app.extensions["moderation"]
    started, release = threading.Event(), threading.Event()
    real_moderate = scorer.moderate

    def slow_moderate(texts, **kwargs):
        if not started.is_set():  # only the first request waits
            started.set()
            assert release.wait(30)
        return real_moderate(texts, **kwargs)

    statuses: list[int] = []
    slow = threading.Thread(target=lambda: statuses.append(app.test_client().post(MODERATE, json=full_request(5), headers=key).status_code))
    try:
        scorer.moderate = slow_moderate
        slow.start()
        assert started.wait(30)
        response = app.test_client().post(MODERATE, json=full_request(5), headers=key)
        assert response.status_code == 429
        assert "already has 1 scoring request(s) in progress" in response.get_json()["error"]["message"]
        assert response.headers["Retry-After"] == "1"
        assert app.test_client().post(MODERATE, json=full_request(5), headers=new_key(app)).status_code == 200  # another key
        assert app.test_client().get("/v1/model", headers=key).status_code == 200  # not scoring: no slot needed
    finally:
        release.set()
        slow.join(30)
        scorer.moderate = real_moderate
    assert statuses == [200]
    assert app.test_client().post(MODERATE, json=full_request(5), headers=key).status_code == 200  # the slot was freed


def test_a_failed_request_frees_its_slot(tiny_bundle_path, monkeypatch):
    app = make_app(tiny_bundle_path, KEY_CONCURRENT_REQUESTS=1)
    key = new_key(app)
    scorer = app.extensions["moderation"]
    monkeypatch.setattr(scorer, "moderate", lambda *args, **kwargs: (_ for _ in ()).throw(RuntimeError("boom")))
    app.config["PROPAGATE_EXCEPTIONS"] = False
    assert app.test_client().post(MODERATE, json=full_request(5), headers=key).status_code == 500
    monkeypatch.undo()
    assert app.test_client().post(MODERATE, json=full_request(5), headers=key).status_code == 200


@pytest.mark.parametrize(("configured", "workers", "threads", "expected"), [(None, 2, 1, 1), (None, 4, 2, 7), (None, 1, 1, 1), (3, 2, 1, 3), (0, 2, 1, 0)])
def test_the_default_leaves_one_worker_free(configured, workers, threads, expected):
    assert concurrent_limit({"KEY_CONCURRENT_REQUESTS": configured, "WORKERS": workers, "THREADS": threads}) == expected


def slot_stores(tmp_path):
    """Every slot store: in this process, lock files, and Redis when ``MODERATION_TEST_REDIS_URL`` is set."""
    stores = [LocalSlots(), FileSlots(tmp_path / "slots")]
    redis_url = redis_test_url()
    if redis_url:
        from redis import Redis

        stores.append(RedisSlots(Redis.from_url(redis_url), stale_seconds=60))
    return stores


def test_slots_are_limited_per_identity_and_freed(tmp_path):
    for store in slot_stores(tmp_path):
        identity = f"key:test-{type(store).__name__}"
        first, second = store.acquire(identity, 2), store.acquire(identity, 2)
        assert first is not None and second is not None, store
        assert store.acquire(identity, 2) is None, store
        assert store.acquire(identity + "-other", 2) is not None, store
        store.release(first)
        third = store.acquire(identity, 2)
        assert third is not None, store
        store.release(second)
        store.release(third)


def test_a_file_slot_is_held_until_released_even_by_another_open_file(tmp_path):
    """flock works per open file: a second FileSlots on the same directory (another worker) sees the slot taken."""
    held = FileSlots(tmp_path).acquire("key:1", 1)
    assert FileSlots(tmp_path).acquire("key:1", 1) is None
    FileSlots(tmp_path).release(held)
    assert FileSlots(tmp_path).acquire("key:1", 1) is not None


class StallingRedis:
    """Enough of a Redis client for ``RedisSlots``: sorted sets in a dict; while ``stalled`` every command raises, as
    a paused or failing-over Redis does (its timeouts)."""

    def __init__(self):
        self.sets: dict[str, dict[str, float]] = {}
        self.stalled = False

    def _check(self):
        if self.stalled:
            raise RedisError("Timeout reading from socket")

    def zrem(self, name, member):
        self._check()
        return int(self.sets.get(name, {}).pop(member, None) is not None)

    def pipeline(self):
        redis, commands = self, []

        class Pipeline:
            def __getattr__(self, command):
                return lambda *args: commands.append((command, args))

            def execute(self):
                redis._check()
                results = []
                for command, args in commands:
                    members = redis.sets.setdefault(args[0], {})
                    if command == "zrem":
                        results.append(int(members.pop(args[1], None) is not None))
                    elif command == "zremrangebyscore":
                        stale = [m for m, score in members.items() if score <= args[2]]
                        results.append(len([members.pop(m) for m in stale]))
                    elif command == "zadd":
                        members.update(args[1])
                        results.append(1)
                    elif command == "zcard":
                        results.append(len(members))
                    else:  # expire
                        results.append(True)
                return results

        return Pipeline()


def test_a_slot_redis_was_too_slow_to_free_is_freed_with_the_next_command_not_held_until_it_expires():
    # A Redis pause of a few seconds: the release failed, the slot stayed for TIMEOUT_SECONDS (120 s), and with
    # KEY_CONCURRENT_REQUESTS reached every request of the key was answered 429 on every instance meanwhile.
    redis = StallingRedis()
    slots = RedisSlots(redis, stale_seconds=120)
    held = slots.acquire("key:1", 1)
    assert held is not None and held[0]
    redis.stalled = True
    slots.release(held)  # not freed: Redis did not answer
    redis.stalled = False
    assert redis.sets["moderation:slots:key:1"]  # still in Redis
    again = slots.acquire("key:1", 1)  # the next request: frees the old slot first, then takes one
    assert again is not None and again[0]
    slots.release(again)
    assert redis.sets["moderation:slots:key:1"] == {}


def test_a_slot_taken_by_a_command_whose_answer_was_lost_is_freed_later():
    # A timeout after Redis had run ZADD: the request was let through with no slot to free, and the member stayed.
    redis = StallingRedis()
    slots = RedisSlots(redis, stale_seconds=120)
    real_pipeline = redis.pipeline

    def lost_answer():
        pipeline = real_pipeline()
        run = pipeline.execute

        def execute():
            run()
            raise RedisError("Timeout reading from socket")

        pipeline.execute = execute
        return pipeline

    redis.pipeline = lost_answer
    assert slots.acquire("key:1", 1) == ("", "")  # let through
    assert len(redis.sets["moderation:slots:key:1"]) == 1
    redis.pipeline = real_pipeline
    assert slots.acquire("key:1", 1) is not None  # the lost one was freed first
    assert len(redis.sets["moderation:slots:key:1"]) == 1
