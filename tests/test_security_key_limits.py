"""Security review of the per-key concurrency slots: their folder in the shared temporary directory must be the service's own."""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import tempfile

import pytest

from service.app import create_app
from service.auth import create_key
from service.key_limits import FileSlots, slots_directory
from service.store import get_session

BODY = {"comments": [{"id": "c1", "text": "The council met on Tuesday."}]}


@pytest.fixture
def app(tiny_bundle_path, tmp_path, monkeypatch):
    """A service on a SQLite file (so slots are lock files) whose temporary folder is ``tmp_path / "tmp"``."""
    shared_tmp = tmp_path / "tmp"
    shared_tmp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(shared_tmp))
    return create_app({"TESTING": True, "MODEL": str(tiny_bundle_path), "DB_URL": f"sqlite:///{tmp_path / 'm.db'}",
                       "KEY_CONCURRENT_REQUESTS": 1})


def _key(app) -> tuple[int, str]:
    with app.app_context():
        row, secret = create_key(get_session(), "cms")
        return row.id, secret


def test_a_slots_folder_others_may_write_to_is_not_used(app, caplog):
    """Its name can be guessed: another user who made it (or can write to it) could hold every slot of every key."""
    key_id, secret = _key(app)
    directory = slots_directory(app.config)
    directory.mkdir(mode=0o777)
    os.chmod(directory, 0o777)  # as another user would leave it (the umask does not apply to chmod)
    # That user holds the key's only slot: their own lock file, locked by their own process.
    stem = hashlib.sha256(f"key:{key_id}".encode()).hexdigest()[:16]
    descriptor = os.open(directory / f"{stem}.0", os.O_CREAT | os.O_RDWR, 0o666)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        with caplog.at_level(logging.WARNING, logger="service.key_limits"):
            answer = app.test_client().post("/v1/moderate", json=BODY, headers={"Authorization": f"Bearer {secret}"})
    finally:
        os.close(descriptor)
    assert answer.status_code == 200  # not 429: the folder is not trusted, so nobody can hold the key's slots
    assert "may be used by other users" in caplog.text and "chmod 700" in caplog.text


def test_a_link_in_place_of_the_slots_folder_is_not_followed(tmp_path, caplog):
    target = tmp_path / "elsewhere"
    target.mkdir(mode=0o700)
    (tmp_path / "slots").symlink_to(target)
    slots = FileSlots(tmp_path / "slots")
    with caplog.at_level(logging.WARNING, logger="service.key_limits"):
        token = slots.acquire("key:1", 1)
    slots.release(token)
    assert list(target.iterdir()) == []  # no lock file made through the link
    assert "not a directory" in caplog.text


def test_a_private_slots_folder_still_limits_the_key(app):
    key_id, secret = _key(app)
    held = FileSlots(slots_directory(app.config))
    token = held.acquire(f"key:{key_id}", 1)  # another worker's request in progress
    try:
        answer = app.test_client().post("/v1/moderate", json=BODY, headers={"Authorization": f"Bearer {secret}"})
    finally:
        held.release(token)
    assert answer.status_code == 429
