"""Coral's signed bodies remembered for ``CORAL_REPLAY_SECONDS``: a replay is answered from memory, not scored or logged again.

Coral signs the body only (``X-Coral-Signature``) and sends no timestamp or request id, so a captured
request stays valid for ever. Within the window, the same signed body gets the answer it got the first
time, without scoring it again and without a second decision-log row; after the window, or once another
bundle version serves, it counts as new. It is not refused with an error: Coral skips a phase that answers an
error, and a reader who posts the same comment twice (the same author, story and text make the same body) must
still be moderated.

Memory: each worker's own (bounded) with ``memory://`` rate-limit storage, Redis (shared by every
instance, expiring in Redis) when ``RATELIMIT_STORAGE_URI`` is Redis.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from flask import Flask

from service.ttl_cache import RedisCodec, RedisTtlMemory, TtlMemory, make_ttl_memory

REPLAYS_KEY = "moderation.coral_replays"
"""``app.extensions[REPLAYS_KEY]``: the app's replay memory (``make_replay_memory``)."""
MAX_REMEMBERED = 50_000
"""Bodies a worker remembers before it forgets the oldest (Coral sends one request per comment)."""


@dataclass(frozen=True)
class Answer:
    """What was answered to a signed body: status and JSON (empty for 204)."""

    status: int
    body: bytes

    def to_json(self) -> str:
        """The answer as JSON, for a shared memory."""
        return json.dumps({"status": self.status, "body": self.body.decode("utf-8")})

    @classmethod
    def from_json(cls, text: str | bytes) -> Answer:
        """The answer ``to_json`` wrote."""
        fields = json.loads(text)
        return cls(int(fields["status"]), fields["body"].encode("utf-8"))


ReplayMemory = TtlMemory[Answer] | RedisTtlMemory[Answer]
"""The replay memory ``make_replay_memory`` returns."""

REPLAY_CODEC = RedisCodec("moderation:coral:", Answer.to_json, Answer.from_json, "Coral replay memory", "body treated as new", "answer not remembered")
"""How the shared replay memory stores an answer in Redis."""


def body_digest(body: bytes, model_version: str) -> str:
    """The name a body's answer is remembered by: the version of the bundle that answered it, and SHA-256 of the raw
    signed body (the same body has the same signature, under every secret).

    The version is part of it because an answer is the bundle's: after ``moderate models use`` and a reload, or while
    instances sharing the memory in Redis serve two bundles, a body seen within the window was answered from memory
    with the decision of the bundle it replaced.
    """
    return f"{model_version}:{hashlib.sha256(body).hexdigest()}"


def make_replay_memory(seconds: float, storage_uri: str) -> ReplayMemory:
    """Answers by ``body_digest`` for ``seconds``: in Redis when ``storage_uri`` is Redis, else in this process (the oldest go first when full)."""
    return make_ttl_memory(seconds, storage_uri, REPLAY_CODEC, MAX_REMEMBERED)


def init_replay_memory(app: Flask) -> None:
    """Give ``app`` its replay memory for ``CORAL_REPLAY_SECONDS``."""
    app.extensions[REPLAYS_KEY] = make_replay_memory(float(app.config["CORAL_REPLAY_SECONDS"]), app.config["RATELIMIT_STORAGE_URI"])
