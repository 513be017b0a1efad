"""The TTL memories behind the key cache and Coral's replay memory: in a process, and on Redis (a fake client here;
``tests/test_instances.py`` runs a real Redis)."""

from __future__ import annotations

import logging

import pytest

from service import redis_client
from service.auth import KEY_CACHE_CODEC, ActiveKey, make_key_cache
from service.redis_client import RedisError
from service.replays import REPLAY_CODEC, Answer, make_replay_memory
from service.ttl_cache import GENERATION_NAME, RedisTtlMemory, TtlMemory


class FakeRedis:
    """The few Redis commands the memories use, on a dict; ``broken`` makes every command fail as a lost Redis would."""

    def __init__(self):
        self.values: dict[str, tuple[str, int]] = {}
        self.broken = False

    def _check(self) -> None:
        if self.broken:
            raise RedisError("connection refused")

    def get(self, name):
        self._check()
        return self.values.get(name, (None, 0))[0]

    def set(self, name, value, px):
        self._check()
        self.values[name] = (value, px)

    def delete(self, name):
        self._check()
        self.values.pop(name, None)

    def incr(self, name):
        self._check()
        value = int(self.values.get(name, ("0", 0))[0]) + 1
        self.values[name] = (str(value), 0)
        return value

    def scan_iter(self, match):
        self._check()
        return [name for name in list(self.values) if name.startswith(match.rstrip("*"))]


@pytest.mark.parametrize(
    ("codec", "name", "value"),
    [(KEY_CACHE_CODEC, "sha", ActiveKey(7, "cms", frozenset({"moderate"}))), (REPLAY_CODEC, "digest", Answer(200, b'{"status": "APPROVED"}'))],
)
def test_redis_memory_round_trips_each_value_under_its_prefix_with_an_expiry(codec, name, value):
    client = FakeRedis()
    memory = RedisTtlMemory(2.5, client, codec)
    memory.put(name, value)
    assert memory.get(name) == value
    assert list(client.values) == [codec.prefix + name] and client.values[codec.prefix + name][1] == 2_500
    memory.forget(name)
    assert memory.get(name) is None
    memory.put(name, value)
    memory.clear()
    assert list(client.values) == [codec.prefix + GENERATION_NAME]  # the count of forgets stays


def test_an_unreachable_redis_is_a_logged_miss_but_forget_raises(caplog, monkeypatch):
    monkeypatch.setattr(redis_client, "WARNED", redis_client._Warned())  # no other test's warning holds this one back
    client = FakeRedis()
    memory = RedisTtlMemory(2.0, client, KEY_CACHE_CODEC)
    client.broken = True
    with caplog.at_level(logging.DEBUG, logger="service.ttl_cache"):  # the app's LOG_LEVEL (INFO) is another test's
        memory.put("sha", ActiveKey(1, "k"))
        assert memory.get("sha") is None
    # What each call did instead at DEBUG; one warning (service.redis_client) says what every feature does without Redis.
    assert [(record.levelno, record.getMessage()) for record in caplog.records if record.name == "service.ttl_cache"] == [
        (logging.DEBUG, "key cache unreachable, key not cached: RedisError"),
        (logging.DEBUG, "key cache unreachable, asking the database: RedisError"),
    ]
    (warned,) = [record for record in caplog.records if record.levelno >= logging.WARNING]
    assert "the key cache asks the database" in warned.getMessage()
    with pytest.raises(RedisError):
        memory.forget("sha")


def test_nothing_is_kept_for_zero_seconds_in_redis_either():
    client = FakeRedis()
    RedisTtlMemory(0, client, REPLAY_CODEC).put("digest", Answer(204, b""))
    assert client.values == {}


def test_a_lookup_with_the_cache_turned_off_asks_redis_nothing_more():
    # KEY_CACHE_SECONDS=0 ("0 checks every request") with Redis: the generation taken before each database look-up was
    # a second GET on every request, for a put that keeps nothing.
    asked = []

    class CountingRedis(FakeRedis):
        def get(self, name):
            asked.append(name)
            return super().get(name)

    client = CountingRedis()
    memory = RedisTtlMemory(0, client, KEY_CACHE_CODEC)
    assert memory.get("sha") is None  # as service.auth.active_key does: get, generation, database, put
    memory.put("sha", ActiveKey(7, "cms", frozenset({"moderate"})), memory.generation())
    assert asked == [KEY_CACHE_CODEC.prefix + "sha"] and client.values == {}


def test_each_memory_is_redis_only_for_a_redis_storage_uri():
    assert isinstance(make_key_cache({"KEY_CACHE_SECONDS": 2.0, "RATELIMIT_STORAGE_URI": "memory://"}), TtlMemory)
    assert isinstance(make_replay_memory(600, "memory://"), TtlMemory)
    shared = make_key_cache({"KEY_CACHE_SECONDS": 2.0, "RATELIMIT_STORAGE_URI": "redis://127.0.0.1:1/0"})
    assert isinstance(shared, RedisTtlMemory) and shared.codec is KEY_CACHE_CODEC
    assert make_replay_memory(600, "redis://127.0.0.1:1/0").codec is REPLAY_CODEC


def test_a_process_memory_can_be_emptied_one_value_or_all():
    memory = TtlMemory(10, max_entries=4)
    memory.put("a", 1)
    memory.put("b", 2)
    memory.forget("a")
    assert (memory.get("a"), memory.get("b")) == (None, 2)
    memory.clear()
    assert memory.get("b") is None


@pytest.fixture(params=["process", "redis"])
def key_memory(request):
    """The key cache's memory in a process, or on (fake) Redis."""
    if request.param == "process":
        return TtlMemory(10, max_entries=4)
    return RedisTtlMemory(10, FakeRedis(), KEY_CACHE_CODEC)


@pytest.mark.parametrize("forget", ["forget", "clear"])
def test_a_value_read_before_a_forget_is_not_put_back(key_memory, forget):
    """A key revoked (forgotten) while a request was reading it from the database was put back by that request, and
    served from the cache for KEY_CACHE_SECONDS more."""
    key = ActiveKey(7, "cms")
    generation = key_memory.generation()  # the lookup starts: the key is still active in the database
    getattr(key_memory, forget)(*(["sha"] if forget == "forget" else []))  # the revocation commits, the cache is told
    key_memory.put("sha", key, generation)  # the lookup ends with what it read before
    assert key_memory.get("sha") is None
    key_memory.put("sha", key, key_memory.generation())  # a lookup started after it is cached as before
    assert key_memory.get("sha") == key
    key_memory.put("other", key)  # without a generation, as Coral's replay memory puts
    assert key_memory.get("other") == key


class ForgetDuringSet(FakeRedis):
    """Runs ``during_set`` once, just after a value is set: a revocation reaching Redis inside a ``put``."""

    during_set = None

    def set(self, name, value, px):
        super().set(name, value, px)
        during, self.during_set = self.during_set, None
        if during is not None:
            during()


def test_a_forget_that_reaches_redis_during_a_put_still_wins():
    client = ForgetDuringSet()
    memory = RedisTtlMemory(10, client, KEY_CACHE_CODEC)
    generation = memory.generation()
    client.during_set = lambda: memory.forget("sha")
    memory.put("sha", ActiveKey(7, "cms"), generation)
    assert memory.get("sha") is None


def test_a_put_keeps_nothing_when_redis_cannot_say_what_was_forgotten():
    client = FakeRedis()
    memory = RedisTtlMemory(10, client, KEY_CACHE_CODEC)
    client.broken = True
    generation = memory.generation()
    client.broken = False
    memory.put("sha", ActiveKey(7, "cms"), generation)
    assert client.values == {}
