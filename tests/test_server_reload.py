"""A running server switches bundles on SIGHUP without failing a request (real gunicorn, two workers)."""

from __future__ import annotations

import os
import re
import shutil
import signal
import sys
import threading
import time

import pytest

from model.bundle import BUNDLES_DIR_ENV
from tests.test_server import get_json

SWITCH_SECONDS = 60
CLIENT_THREADS = 3


class Traffic:
    """Threads sending /healthz and /v1/moderate requests back to back, counting answers and failures."""

    def __init__(self, base: str):
        self.base, self.stop = base, threading.Event()
        self.lock = threading.Lock()
        self.versions: list[str] = []
        self.failures: list[str] = []
        self.threads = [threading.Thread(target=self._run, args=(i,), daemon=True) for i in range(CLIENT_THREADS)]

    def _run(self, number: int) -> None:
        i = 0
        while not self.stop.is_set():
            i += 1
            try:
                if (i + number) % 2:
                    status, body = get_json(f"{self.base}/healthz")
                else:
                    status, body = get_json(f"{self.base}/v1/moderate", {"comments": [{"id": str(i), "text": "You shill."}]})
                with self.lock:
                    self.versions.append(body["model_version"])
                    if status != 200:
                        self.failures.append(f"status {status}")
            except (OSError, ValueError, KeyError) as error:  # URLError, HTTPError, reset connections, bad JSON
                with self.lock:
                    self.failures.append(repr(error))

    def __enter__(self):
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=30)


def test_sighup_serves_the_newly_selected_bundle_without_dropping_requests(versioned_bundles, tmp_path, runner, monkeypatch, serve):
    from service.cli import cli

    bundles = tmp_path / "bundles"
    shutil.copytree(versioned_bundles, bundles)
    monkeypatch.setenv(BUNDLES_DIR_ENV, str(bundles))
    env = {**os.environ, "MODERATION_AUTH_REQUIRED": "false", "MODERATION_RATE_LIMIT": "100000 per minute",
           "MODERATION_DB_URL": f"sqlite:///{tmp_path / 'server.db'}"}
    with serve(["--workers", "2", "--threads", "2"], env, tmp_path / "server.log") as server:
        base = server.base
        assert get_json(f"{base}/healthz")[1]["model_version"] == "public"
        with Traffic(base) as traffic:
            time.sleep(1)
            result = runner.invoke(cli, ["models", "use", "site"])
            assert result.exit_code == 0, result.output
            server.process.send_signal(signal.SIGHUP)
            deadline = time.monotonic() + SWITCH_SECONDS
            while time.monotonic() < deadline:
                with traffic.lock:
                    recent = traffic.versions[-20:]
                if len(recent) == 20 and set(recent) == {"site"}:
                    break
                time.sleep(0.2)
            time.sleep(1)
        assert traffic.failures == [], server.log_tail()
        assert len(traffic.versions) > 50 and traffic.versions.count("public") > 10  # traffic flowed throughout
        assert traffic.versions[0] == "public" and traffic.versions[-1] == "site"
        assert set(traffic.versions[-20:]) == {"site"}, "old workers still answer after the switch"
        assert get_json(f"{base}/v1/moderate", {"comments": [{"id": "a", "text": "hi"}]})[1]["model_version"] == "site"
        assert get_json(f"{server.health_base}/healthz")[1]["model_version"] == "site"

        # A second reload works too: the old workers' exit must not take the new workers' ready markers with it.
        assert runner.invoke(cli, ["models", "use", "public"]).exit_code == 0
        server.process.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + SWITCH_SECONDS
        while get_json(f"{base}/healthz")[1]["model_version"] != "public" and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(1)
        versions = {get_json(f"{base}/healthz")[1]["model_version"] for _ in range(10)}
        assert versions == {"public"}, server.log_tail()
        assert "reload abandoned" not in server.log_tail(50_000)


def test_a_timeout_too_short_for_a_worker_to_start_is_warned_about_at_start(tiny_bundle_path, tmp_path, monkeypatch, caplog):
    """With TIMEOUT_SECONDS under a worker's start, every SIGHUP reload gave up ("new workers not ready after 3 s") and
    stopping the new workers took an old one with it; nothing at start said that the timeout was too short."""
    import logging

    import service.app
    from service.app import create_app

    load_scorer = service.app.load_scorer

    def slow_load(*args, **kwargs):
        time.sleep(1.0)
        return load_scorer(*args, **kwargs)

    monkeypatch.setattr(service.app, "load_scorer", slow_load)  # the master loads the bundle in a forked child
    settings = {"TESTING": True, "MODEL": str(tiny_bundle_path), "DB_URL": f"sqlite:///{tmp_path / 'm.db'}"}
    with caplog.at_level(logging.WARNING, logger="service.app"):
        create_app({**settings, "TIMEOUT_SECONDS": 2}, load_model=False)
        assert re.search(r"loading the bundle took \d+\.\d s.*TIMEOUT_SECONDS \(2 s\): set TIMEOUT_SECONDS to at least \d", caplog.text)
        caplog.clear()
        create_app({**settings, "TIMEOUT_SECONDS": 120}, load_model=False)
        assert "TIMEOUT_SECONDS" not in caplog.text


SLOW_LOAD_SECONDS = 6.0
"""How long the stand-in makes a worker's start on the ``site`` bundle take: twice the server's TIMEOUT_SECONDS below."""
SHORT_TIMEOUT_SECONDS = 3
SLOW_SITE_LAUNCHER = """\
import sys
import time

import pytest

from service.server import ModerationServer

load = ModerationServer.load


def slow_load(self):
    # A worker on a bundle that takes longer to load than TIMEOUT_SECONDS. Only a worker's load (gunicorn calls it in
    # the worker): the master's check of the bundle has no timeout, and slowing it too would only make the test longer.
    if str(self.settings.get("MODEL")).rstrip("/").endswith("site"):
        time.sleep({seconds})
    return load(self)


ModerationServer.load = slow_load
from service.cli import cli  # noqa: E402

cli(sys.argv[sys.argv.index("serve"):], prog_name="moderate")
"""


def test_an_abandoned_reload_leaves_the_old_worker_serving(versioned_bundles, tmp_path, runner, monkeypatch, serve):
    """With a bundle slower to load than TIMEOUT_SECONDS, the reload was abandoned, yet the old worker got SIGTERM too
    once the master stopped waiting for the still-loading new one (gunicorn stops the oldest of one worker too many)."""
    from service.cli import cli
    from tests.test_faults import wait_for, worker_pids

    bundles = tmp_path / "bundles"
    shutil.copytree(versioned_bundles, bundles)
    monkeypatch.setenv(BUNDLES_DIR_ENV, str(bundles))
    launcher = tmp_path / "slow_site.py"
    launcher.write_text(SLOW_SITE_LAUNCHER.format(seconds=SLOW_LOAD_SECONDS), encoding="utf-8")
    env = {**os.environ, "MODERATION_AUTH_REQUIRED": "false", "MODERATION_RATE_LIMIT": "100000 per minute",
           "MODERATION_TIMEOUT_SECONDS": str(SHORT_TIMEOUT_SECONDS), "MODERATION_DB_URL": f"sqlite:///{tmp_path / 'server.db'}"}
    with serve(["--workers", "1"], env, tmp_path / "server.log", (sys.executable, str(launcher))) as server:
        server.wait_for_workers(1)
        (old,) = worker_pids(server.process.pid)
        assert runner.invoke(cli, ["models", "use", "site"]).exit_code == 0
        server.process.send_signal(signal.SIGHUP)
        wait_for(lambda: "reload abandoned" in server.log_tail(50_000), SWITCH_SECONDS, "the abandoned reload", server.log_tail)
        # The new worker is gone once its load would have ended, and gunicorn's loop has run since.
        wait_for(lambda: worker_pids(server.process.pid) == {old} or old not in worker_pids(server.process.pid),
                 SWITCH_SECONDS, "the end of the new worker", server.log_tail)
        time.sleep(SLOW_LOAD_SECONDS + 2)
        assert worker_pids(server.process.pid) == {old}, server.log_tail()
        assert get_json(f"{server.base}/v1/moderate", {"comments": [{"id": "a", "text": "hi"}]})[1]["model_version"] == "public"


def test_keep_fresh_touches_the_folders_and_their_files(tmp_path):
    # systemd-tmpfiles deletes what in /tmp is untouched for 10 days: the ready markers are written once.
    from service.reload import keep_fresh

    folder = tmp_path / "moderation-ready-x"
    folder.mkdir()
    marker = folder / "123"
    marker.write_text("")
    old = time.time() - 30 * 24 * 3600
    for path in (marker, folder):
        os.utime(path, (old, old))
    keep_fresh(str(folder), str(tmp_path / "gone"))  # a missing folder is passed over
    for path in (folder, marker):
        assert time.time() - path.stat().st_mtime < 60 and time.time() - path.stat().st_atime < 60


def test_the_master_keeps_its_folders_fresh_once_per_interval(monkeypatch, tmp_path):
    from types import SimpleNamespace

    from gunicorn.arbiter import Arbiter

    import service.reload
    from service.reload import FRESH_SECONDS, METRICS_DIR_ENV, ModerationArbiter

    touched: list[tuple] = []
    monkeypatch.setattr(Arbiter, "manage_workers", lambda self: None)
    monkeypatch.setattr(service.reload, "keep_fresh", lambda *folders: touched.append(folders))
    monkeypatch.setenv(METRICS_DIR_ENV, str(tmp_path / "metrics"))
    now = [1_000.0]
    monkeypatch.setattr(service.reload.time, "monotonic", lambda: now[0])
    arbiter = object.__new__(ModerationArbiter)
    arbiter.app = SimpleNamespace(ready=SimpleNamespace(path=str(tmp_path / "ready")))
    for _ in range(3):
        arbiter.manage_workers()
    assert touched == [(str(tmp_path / "ready"), str(tmp_path / "metrics"))]
    now[0] += FRESH_SECONDS
    arbiter.manage_workers()
    assert len(touched) == 2


def test_a_ready_worker_stays_ready_when_its_marker_is_deleted_and_a_new_one_marks_in_a_deleted_folder():
    from service.reload import ReadyMarkers

    markers = ReadyMarkers()
    try:
        markers.mark(11)
        assert markers.is_ready(11) and not markers.is_ready(12)
        shutil.rmtree(markers.path)  # a clean of the temporary directory
        assert markers.is_ready(11)  # seen ready by the master: still serving
        markers.mark(12)  # a replaced worker: failed with FileNotFoundError, again and again
        assert markers.is_ready(12)
        assert os.stat(markers.path).st_mode & 0o777 == 0o700  # as mkdtemp made it, not 755
        markers.forget(11)
        assert not markers.is_ready(11)
    finally:
        markers.remove()


@pytest.mark.slow
def test_a_worker_replaced_after_the_temporary_folders_were_deleted_starts_and_serves(tiny_bundle_path, tmp_path, serve):
    from tests.test_faults import wait_for, worker_pids
    from tests.test_health_port import get

    temporary = tmp_path / "tmp"
    temporary.mkdir()
    env = {**os.environ, "TMPDIR": str(temporary), "MODERATION_AUTH_REQUIRED": "false",
           "MODERATION_DB_URL": f"sqlite:///{tmp_path / 'db.sqlite'}"}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    with serve(["--workers", "2", "--model", str(tiny_bundle_path)], env, tmp_path / "server.log") as server:
        wait_for(lambda: get(f"{server.health_base}/healthz", timeout=5)[1]["workers"] == 2, 60, "both workers live", server.log_tail)
        folders = sorted(path.name.split("-")[1] for path in temporary.glob("moderation-*"))
        assert folders == ["metrics", "ready"]
        for path in temporary.glob("moderation-*"):
            shutil.rmtree(path)
        assert get(f"{server.health_base}/healthz", timeout=5)[1]["workers"] == 2  # no orchestrator restart
        victim = min(worker_pids(server.process.pid))
        os.kill(victim, signal.SIGKILL)
        wait_for(lambda: victim not in worker_pids(server.process.pid), 30, "the worker gone", server.log_tail)
        wait_for(lambda: get(f"{server.health_base}/healthz", timeout=5)[1]["workers"] == 2, 60,
                 "the replacement live", server.log_tail)
        for _ in range(4):
            status, _ = get_json(f"{server.base}/v1/moderate", {"comments": [{"id": "a", "text": "Thanks."}]})
            assert status == 200
        assert "Exception in worker process" not in server.log_tail(100_000)


def test_a_reload_of_a_pinned_bundle_says_that_current_names_another(versioned_bundles, monkeypatch, caplog):
    # `serve --model site`, then `models use public` + SIGHUP: the workers reloaded site without a word.
    from service.server import ModerationServer

    monkeypatch.setenv(BUNDLES_DIR_ENV, str(versioned_bundles))
    server = object.__new__(ModerationServer)
    with caplog.at_level("WARNING", logger="service.server"):
        server.model_choice = "site"
        server._warn_if_pinned(versioned_bundles / "site")
        server.model_choice = None  # follows CURRENT: nothing to say
        server._warn_if_pinned(versioned_bundles / "public")
        server.model_choice = "public"  # pinned to the one CURRENT names: nothing to say
        server._warn_if_pinned(versioned_bundles / "public")
    (line,) = [record.getMessage() for record in caplog.records if record.name == "service.server"]
    assert "pins" in line and "bundles/CURRENT names public" in line and "--model public" in line


def test_a_reload_names_a_setting_of_the_master_the_file_now_sets_otherwise(caplog):
    # workers = 2 -> 3 in the config file, then SIGHUP: the rate limit of the same edit applied, WORKERS silently not.
    from service.config import load_config
    from service.server import ModerationServer

    server = object.__new__(ModerationServer)
    server.checked = dict(load_config({"WORKERS": 2}))
    with caplog.at_level("WARNING", logger="service.server"):
        server._warn_of_master_settings(dict(load_config({"WORKERS": 3, "RATE_LIMIT": "7 per minute"})))
        server._warn_of_master_settings(dict(load_config({"WORKERS": 2})))  # as running: nothing to say
    lines = [record.getMessage() for record in caplog.records if record.name == "service.server"]
    assert lines == ["reload: WORKERS is 3 in the settings now but 2 is running: it takes a restart"]


def test_a_folder_made_again_must_be_this_users_own(tmp_path):
    # Made again with os.makedirs(exist_ok=True), a folder another local user had made in its place, or a link, was
    # taken as it was: planted ready markers, metric files written where the link pointed.
    from service.reload import own_folder

    link = tmp_path / "moderation-ready-link"
    link.symlink_to(tmp_path)
    with pytest.raises(OSError, match="is not a folder of this user's"):
        own_folder(str(link))
    if os.getuid() == 0:  # only root can make a folder another user owns
        theirs = tmp_path / "moderation-ready-theirs"
        theirs.mkdir()
        os.chown(theirs, 65534, 65534)
        with pytest.raises(OSError, match="another user made it"):
            own_folder(str(theirs))
    mine = tmp_path / "moderation-ready-mine"
    own_folder(str(mine))
    assert mine.is_dir() and mine.stat().st_mode & 0o777 == 0o700
