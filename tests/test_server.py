"""The real gunicorn server in a subprocess (2 workers): keys, /healthz, /v1/moderate, shared metrics, stop."""

from __future__ import annotations

import http.client
import json
import logging
import os
import re
import signal
import sqlite3
import subprocess
import threading
import urllib.error
import urllib.request

import pytest
from flask import Flask
from gunicorn.config import Config as GunicornConfig

from service.config import load_config
from service.loadtest import moderate_command
from service.server import METRICS_DIR_ENV, bind_address, server_options
from tests.conftest import REPO
from tests.test_faults import wait_for, worker_pids


def get_json(url: str, body: dict | None = None, key: str | None = None) -> tuple[int, dict]:
    data = None if body is None else json.dumps(body).encode()
    headers = {"Content-Type": "application/json", **({"Authorization": f"Bearer {key}"} if key else {})}
    request = urllib.request.Request(url, data=data, headers=headers)
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.status, json.load(response)


def get_text(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.read().decode()


@pytest.fixture(scope="module")
def server_env(tmp_path_factory) -> dict[str, str]:
    """The environment of the server and of ``moderate keys``: one SQLite file for both."""
    return {**os.environ, "MODERATION_DB_URL": f"sqlite:///{tmp_path_factory.mktemp('serverdb') / 'server.db'}"}


@pytest.fixture(scope="module")
def key(server_env) -> str:
    """A key made with ``moderate keys create``, as an operator would."""
    made = subprocess.run([*moderate_command(), "keys", "create", "server-test"], env=server_env, cwd=REPO, capture_output=True, text=True, timeout=60, check=True)
    return made.stdout.strip()


@pytest.fixture(scope="module")
def server(tiny_bundle_path, tmp_path_factory, server_env, key, serve):
    """``moderate serve`` on a free loopback port with two workers, started once; yields its base URL."""
    log_path = tmp_path_factory.mktemp("server") / "server.log"
    with serve(["--workers", "2", "--threads", "2", "--model", str(tiny_bundle_path)], server_env, log_path) as running:
        yield running.base


def test_server_answers_healthz_and_moderate(server, scorer, key):
    status, health = get_json(f"{server}/healthz")
    assert (status, health) == (200, {"status": "ok", "model_version": scorer.model_version})
    text = "You are a stupid clown, the minister ignores the vote."
    status, body = get_json(f"{server}/v1/moderate", {"comments": [{"id": "c1", "text": text}]}, key=key)
    assert status == 200
    assert body.pop("request_id")
    assert body == {"model_version": scorer.model_version, "results": [{"id": "c1", **scorer.moderate([text])[0].to_dict()}]}


def test_server_bad_request_is_json_400(server, key):
    with pytest.raises(urllib.error.HTTPError) as caught:
        get_json(f"{server}/v1/moderate", {"comments": []}, key=key)
    with caught.value as response:
        assert response.status == 400
        assert json.load(response)["error"] == {"code": "invalid_request", "message": "comments must not be empty"}


def test_server_without_a_key_is_json_401(server):
    with pytest.raises(urllib.error.HTTPError) as caught:
        get_json(f"{server}/v1/model")
    with caught.value as response:
        assert response.status == 401
        assert json.load(response)["error"]["code"] == "missing_api_key"


def test_metrics_add_up_over_the_workers(server, key, scorer):
    n_requests = 12
    for _ in range(n_requests):
        assert get_json(f"{server}/readyz")[0] == 200
    get_json(f"{server}/v1/moderate", {"comments": [{"id": "a", "text": ""}, {"id": "b", "text": ""}]}, key=key)
    text = get_text(f"{server}/metrics")
    readyz = [line for line in text.splitlines() if line.startswith('moderation_http_requests_total{endpoint="/readyz"')]
    assert readyz and float(readyz[0].rsplit(" ", 1)[1]) >= n_requests
    assert 'moderation_decisions_total{decision="approve",surface="v1"} 2.0' in text
    assert f'moderation_model_info{{model_version="{scorer.model_version}"}} 1.0' in text


def test_replaced_workers_keep_their_counts_and_leave_no_metric_files(tiny_bundle_path, tmp_path, serve):
    """Workers killed and replaced (as after a timeout or out of memory): /metrics keeps every count, and the folder
    holds no file of an exited worker, so it and each scrape stay bounded however long the server runs."""
    metrics_dir = tmp_path / "metrics"
    env = {**os.environ, "MODERATION_DB_URL": f"sqlite:///{tmp_path / 'm.db'}", METRICS_DIR_ENV: str(metrics_dir)}
    n_replacements, n_requests = 3, 2
    with serve(["--workers", "1", "--model", str(tiny_bundle_path)], env, tmp_path / "server.log") as running:
        master = running.process.pid
        for _ in range(n_replacements):
            for _ in range(n_requests):
                assert get_json(f"{running.base}/readyz")[0] == 200
            (pid,) = worker_pids(master)
            os.kill(pid, signal.SIGKILL)
            wait_for(lambda: pid not in worker_pids(master), 30, f"the master reaping worker {pid}", running.log_tail)  # noqa: B023
            running.wait_for_workers(1)
        text = get_text(f"{running.base}/metrics")
        owners = {path.stem.rsplit("_", 1)[1] for path in metrics_dir.glob("*.db")}
        assert owners <= {str(master), *map(str, worker_pids(master)), "exited"}, sorted(path.name for path in metrics_dir.iterdir())
    assert f'moderation_http_requests_total{{endpoint="/readyz",method="GET",status="200"}} {float(n_replacements * n_requests)}' in text


FREEZE_REPORT = """import atexit, gc, os, pathlib

_folder = os.environ.get("FREEZE_REPORT_DIR")
if _folder:  # registered first, so run last: after the gc.freeze that moderate serve registers
    atexit.register(lambda: (pathlib.Path(_folder) / str(os.getpid())).write_text(str(gc.get_freeze_count())))
"""
"""A ``sitecustomize`` that writes, as each process of the server exits, how many objects it froze."""


def test_every_answered_decision_is_logged_when_the_server_stops_without_a_last_collection(tiny_bundle_path, tmp_path,
                                                                                          serve):
    """Clients on keep-alive connections, as a CMS keeps them; after SIGTERM the log holds every answered comment. The
    master and its workers leave their objects to the operating system (``service.quick_exit.freeze_at_exit``): a
    worker holding the model spent about 2 s of CPU in the interpreter's last collections at each stop and reload."""
    db_path, reports = tmp_path / "stop.db", tmp_path / "frozen"
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "sitecustomize.py").write_text(FREEZE_REPORT, encoding="utf-8")
    reports.mkdir()
    python_path = os.pathsep.join(filter(None, [str(tmp_path / "site"), os.environ.get("PYTHONPATH")]))
    env = {**os.environ, "MODERATION_DB_URL": f"sqlite:///{db_path}", "MODERATION_AUTH_REQUIRED": "false",
           "PYTHONPATH": python_path, "FREEZE_REPORT_DIR": str(reports)}
    n_clients, n_requests = 4, 15
    answered = []

    def client(base: str, number: int) -> None:
        connection = http.client.HTTPConnection(base.removeprefix("http://"), timeout=30)
        try:
            for i in range(n_requests):
                body = {"comments": [{"id": f"{number}-{i}-{j}", "text": "You shill."} for j in range(2)]}
                connection.request("POST", "/v1/moderate", body=json.dumps(body), headers={"Content-Type": "application/json"})
                response = connection.getresponse()
                response.read()
                if response.status == 200:
                    answered.extend(comment["id"] for comment in body["comments"])
        finally:
            connection.close()

    with serve(["--workers", "2", "--threads", "2", "--model", str(tiny_bundle_path)], env, tmp_path / "server.log") as running:
        threads = [threading.Thread(target=client, args=(running.base, n)) for n in range(n_clients)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        processes = {str(running.process.pid), *map(str, worker_pids(running.process.pid))}
    assert len(answered) == n_clients * n_requests * 2
    with sqlite3.connect(db_path) as db:
        logged = [row[0] for row in db.execute("SELECT comment_id FROM decisions")]
    assert sorted(logged) == sorted(answered)
    frozen = {path.name: int(path.read_text()) for path in reports.iterdir()}
    assert len(processes) == 3 and processes <= set(frozen), (processes, frozen)
    assert all(frozen[pid] > 0 for pid in processes), frozen


@pytest.mark.parametrize(("host", "expected"), [("127.0.0.1", "127.0.0.1:8000"), ("::1", "[::1]:8000")])
def test_bind_address(host, expected):
    assert bind_address(host, 8000) == expected


@pytest.mark.parametrize(("setting", "option"), [("PORT", "--port"), ("HEALTH_PORT", "--health-port")])
def test_a_port_the_service_may_not_use_is_named_with_the_privilege_it_needs(monkeypatch, setting, option):
    """A port below 1024 without root (EACCES; seen with ``setpriv --bounding-set -net_bind_service moderate serve
    --port 80``): the message said "stop what listens there", though nothing did."""
    import errno
    import socket

    from service.config import ConfigError
    from service.server import bind_health_port, check_port

    def refuse(_socket, _address):
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(socket.socket, "bind", refuse)
    config = load_config({"PORT": 8000, "HEALTH_PORT": 0, setting: 80})
    with pytest.raises(ConfigError) as raised:
        check_port(config) if setting == "PORT" else bind_health_port(config)
    message = str(raised.value)
    assert message.startswith(f"{setting} 80 on 127.0.0.1 cannot be used (Permission denied): ")
    assert "CAP_NET_BIND_SERVICE" in message and option in message and "stop what listens there" not in message


@pytest.mark.parametrize("timeout_seconds", [45, 120])
def test_a_stopping_worker_may_finish_any_request_the_timeout_allows(timeout_seconds):
    """SIGTERM (systemctl stop, a restart while upgrading) let a worker finish its request for gunicorn's 30 s only:
    a request of 33 s, well inside TIMEOUT_SECONDS, was killed and its client got no answer (seen on a real server)."""
    app = Flask(__name__)
    app.config.from_mapping(load_config({"TIMEOUT_SECONDS": timeout_seconds}))
    gunicorn_config = GunicornConfig()
    for name, value in server_options(app).items():
        gunicorn_config.set(name, value)
    assert gunicorn_config.graceful_timeout == gunicorn_config.timeout == timeout_seconds


@pytest.mark.parametrize("as_json", [True, False])
def test_gunicorns_own_lines_follow_log_json_and_log_level(as_json):
    """A worker timeout or kill is gunicorn's line, not the app's: with LOG_JSON it must parse like every other line."""
    app = Flask(__name__)
    app.config.from_mapping(load_config({"LOG_JSON": as_json, "LOG_LEVEL": "warning"}))
    gunicorn_config = GunicornConfig()
    for name, value in server_options(app).items():
        gunicorn_config.set(name, value)
    error_log = gunicorn_config.logger_class(gunicorn_config).error_log
    assert error_log.level == logging.WARNING
    record = error_log.makeRecord(error_log.name, logging.CRITICAL, __file__, 1, "WORKER TIMEOUT (pid:%s)", (42,), None)
    (line,) = [handler.format(record) for handler in error_log.handlers if getattr(handler, "_gunicorn", False)]
    if as_json:
        assert {key: json.loads(line)[key] for key in ("level", "logger", "message")} == {
            "level": "CRITICAL", "logger": "gunicorn.error", "message": "WORKER TIMEOUT (pid:42)"}
    else:  # the service's plain format, not gunicorn's "[2026-12-07 07:38:05 +0000] [14080] [INFO] ..."
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z CRITICAL gunicorn\.error WORKER TIMEOUT \(pid:42\)", line), line


def test_a_refused_reload_says_what_is_wrong_without_the_error_class(tiny_bundle_path, tmp_path):
    """The operator's ``reload refused`` line gives a BundleError's own message (it says what to fix), not ``BundleError: ...``."""
    import shutil

    from model.bundle import BundleError
    from service.app import verify_scorer
    from service.server import ModerationServer

    tampered = tmp_path / "tampered"
    shutil.copytree(tiny_bundle_path, tampered)
    with open(tampered / "model.joblib", "ab") as model_file:
        model_file.write(b"not the fitted model")
    settings = {"DB_URL": "sqlite://"}
    with pytest.raises(BundleError) as raised:
        verify_scorer(load_config(settings), tampered)
    master = ModerationServer(settings, {}, model_choice=str(tampered))
    try:
        problem = master.prepare_reload()
    finally:
        master.ready.remove()
    assert problem == str(raised.value)
    assert "SHA-256" in problem and not problem.startswith("BundleError")
    assert master.settings.get("MODEL") is None  # the workers' bundle is left as it was


def test_a_worker_whose_policy_file_broke_since_start_exits_to_be_replaced(tiny_bundle_path, tmp_path, monkeypatch):
    """A POLICY file edited into a bad one ([spans] floor = 2) after the server started: a worker started then (a
    replacement) raised PolicyError through gunicorn's boot-error path, which stops the whole server, instead of
    exiting with WORKER_START_FAILED for another to be tried while the others serve."""
    import service.server as server
    from service.reload import WORKER_START_FAILED

    policy = tmp_path / "site-policy.toml"
    policy.write_text("[review]\ntoxicity = 0.5\n\n[spans]\nfloor = 2\n", encoding="utf-8")
    master = server.ModerationServer({"DB_URL": "sqlite://", "MODEL": str(tiny_bundle_path), "POLICY": str(policy)}, {})
    monkeypatch.setattr(server.time, "sleep", lambda seconds: None)
    try:
        with pytest.raises(SystemExit) as exited:
            master.load()
    finally:
        master.ready.remove()
    assert exited.value.code == WORKER_START_FAILED


FLOORED_POLICY = "[reject]\nthreat = 0.9\n\n[review]\ninsult = 0.3\n\n[spans]\nfloor = {floor}\n"
"""A site's POLICY file whose span floor may be above its own [review] insult threshold."""


@pytest.fixture
def start_warnings(monkeypatch, caplog):
    """The warnings the settings' path (``service.config.warn_once``) logs from now on, as a fresh process would."""
    import service.config

    monkeypatch.setattr(service.config, "_WARNED", set())
    caplog.set_level(logging.WARNING, logger="service.config")
    return lambda: [record.getMessage() for record in caplog.records if record.name == "service.config"]


@pytest.mark.parametrize("master", [True, False])
def test_a_policy_span_floor_above_its_own_threshold_is_warned_about_once_at_start(tiny_bundle_path, tmp_path,
                                                                                   start_warnings, master):
    """A floor above [review] insult sends comments to review with a reason and no marked words; nothing said so. The
    master (bundle loaded in a child) logs it, and a worker, forked from it with what it logged, not again; an app
    built alone (``create_app``, the tests) logs it once too."""
    from service.app import create_app

    policy = tmp_path / "site-policy.toml"
    policy.write_text(FLOORED_POLICY.format(floor=0.5), encoding="utf-8")
    settings = {"TESTING": True, "MODEL": str(tiny_bundle_path), "POLICY": str(policy), "DB_URL": "sqlite://",
                "AUTH_REQUIRED": False}
    if master:
        create_app(settings, load_model=False)
    app = create_app(settings)  # a worker; it serves as before
    assert app.test_client().post("/v1/moderate", json={"comments": [{"id": "c", "text": "Thanks."}]}).status_code == 200
    warned = [message for message in start_warnings() if "[spans] floor" in message]
    assert len(warned) == 1, warned
    assert warned[0].startswith(f"policy file {policy}: [spans] floor = 0.5 is above [review] insult = 0.3, so comments "
                                "sent to review for insult at a score from 0.3 to 0.5 show no marked words")


def test_a_policy_span_floor_at_its_thresholds_is_not_warned_about_and_a_reload_warns_about_a_new_one(
        tiny_bundle_path, tmp_path, start_warnings):
    """A reload (SIGHUP) reads POLICY again: the master warns about the floor the new workers will apply."""
    from service.app import create_app
    from service.server import ModerationServer

    policy = tmp_path / "site-policy.toml"
    policy.write_text(FLOORED_POLICY.format(floor=0.3), encoding="utf-8")
    settings = {"TESTING": True, "MODEL": str(tiny_bundle_path), "POLICY": str(policy), "DB_URL": "sqlite://",
                "AUTH_REQUIRED": False}
    create_app(settings, load_model=False)
    assert not [message for message in start_warnings() if "[spans] floor" in message]
    policy.write_text(FLOORED_POLICY.format(floor=0.6), encoding="utf-8")
    master = ModerationServer(settings, {}, model_choice=str(tiny_bundle_path))
    try:
        assert master.prepare_reload() is None
    finally:
        master.ready.remove()
    (warned,) = [message for message in start_warnings() if "[spans] floor" in message]
    assert warned.startswith(f"policy file {policy}: [spans] floor = 0.6 is above [review] insult = 0.3")


@pytest.mark.parametrize("problem", ["missing", "tampered"])
def test_the_master_reports_a_bad_bundle_before_compiling_anything(tiny_bundle_path, tmp_path, monkeypatch, problem):
    """A mistyped ``--model`` or a bundle whose files changed is refused with the bundle's own message before the
    master compiles the threat phrases (about a second), so the operator reads it at once."""
    import shutil

    import service.app
    from model.bundle import MODEL_FILE, BundleError

    if problem == "missing":
        bundle = tmp_path / "no-such-bundle"
    else:
        bundle = tmp_path / "tampered"
        shutil.copytree(tiny_bundle_path, bundle)
        with (bundle / MODEL_FILE).open("ab") as model_file:
            model_file.write(b"\0")

    def compiled():
        raise AssertionError("the threat phrases were compiled before the bundle was checked")

    monkeypatch.setattr(service.app, "compile_before_forking", compiled)
    with pytest.raises(BundleError) as raised:
        service.app.create_app({"TESTING": True, "MODEL": str(bundle), "DB_URL": "sqlite://"}, load_model=False)
    assert ("not found" if problem == "missing" else "SHA-256") in str(raised.value)


def test_a_replaced_worker_takes_the_settings_the_master_checked_not_the_config_file_as_edited_since(
        tiny_bundle_path, tmp_path, monkeypatch):
    """A worker gunicorn replaced (a crash, a timeout, kill -9) read MODERATION_CONFIG again: a limit added since
    applied to it and not to the others, and a typo in the file stopped every replacement ("not valid TOML") until it
    was mended. Workers take the settings the master checked; the file is read again at a reload (SIGHUP), which
    refuses a broken one and keeps the settings served."""
    from service.server import ModerationServer

    config_file = tmp_path / "moderation.toml"
    config_file.write_text('rate_limit = "600 per minute"\n', encoding="utf-8")
    monkeypatch.setenv("MODERATION_CONFIG", str(config_file))
    settings = {"DB_URL": "sqlite://", "MODEL": str(tiny_bundle_path)}
    checked = {**load_config(settings), "MODEL": str(tiny_bundle_path)}
    master = ModerationServer(dict(settings), {}, model_choice=str(tiny_bundle_path), checked=checked)
    try:
        config_file.write_text('rate_limit = "1 per minute"\n', encoding="utf-8")
        assert master.load().config["RATE_LIMIT"] == "600 per minute"  # a replacement, as at start
        config_file.write_text("rate_limit = [unclosed\n", encoding="utf-8")
        assert master.load().config["RATE_LIMIT"] == "600 per minute"  # not a worker that cannot start
        assert "not valid TOML" in master.prepare_reload()
        assert master.checked["RATE_LIMIT"] == "600 per minute"
        config_file.write_text('rate_limit = "1 per minute"\n', encoding="utf-8")
        assert master.prepare_reload() is None
        assert master.load().config["RATE_LIMIT"] == "1 per minute"  # the new workers of a reload read the edit
    finally:
        master.ready.remove()


def test_serve_hands_its_options_to_the_workers_without_checking_the_settings_they_replaced(tiny_bundle_path, tmp_path,
                                                                                            monkeypatch):
    """`moderate serve --workers 1` over a config file whose workers = "two": the option wins in the master, but the
    server checked the settings again without its options and stopped, after loading the bundle."""
    import service.server as server
    from service.app import create_app

    config_file = tmp_path / "moderation.toml"
    config_file.write_text('workers = "two"\n', encoding="utf-8")
    monkeypatch.setenv("MODERATION_CONFIG", str(config_file))
    overrides = {"WORKERS": 1, "HEALTH_PORT": 0, "DB_URL": f"sqlite:///{tmp_path / 'm.db'}", "MODEL": str(tiny_bundle_path)}
    app = create_app({"TESTING": True, **overrides}, load_model=False)
    started = []
    monkeypatch.setattr(server.ModerationServer, "run", lambda master: started.append(master))
    monkeypatch.setattr(server, "freeze_at_exit", lambda: None)
    monkeypatch.setattr(server, "check_port", lambda config: None)
    server.serve(app, overrides)
    (master,) = started
    assert master.checked["WORKERS"] == 1 and master.settings["WORKERS"] == 1
    assert master.checked["DB_AUTO_UPGRADE"] is False and master.checked["MODEL"] == str(tiny_bundle_path.resolve())
