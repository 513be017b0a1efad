"""The real gunicorn server in a subprocess: starts, answers /healthz and /v1/moderate, stops."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from service.server import bind_address

STARTUP_SECONDS = 60
REPO = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def get_json(url: str, body: dict | None = None) -> tuple[int, dict]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.status, json.load(response)


@pytest.fixture(scope="module")
def server(tiny_bundle_path, tmp_path_factory):
    """``moderate serve`` on a free loopback port with one worker, started once; yields its base URL."""
    port = free_port()
    log_path = tmp_path_factory.mktemp("server") / "server.log"
    command = [sys.executable, "-m", "service.cli", "serve", "--port", str(port), "--workers", "1", "--threads", "2"]
    with open(log_path, "wb") as log:
        process = subprocess.Popen([*command, "--model", str(tiny_bundle_path)], cwd=REPO, stdout=log, stderr=log)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        while True:
            if process.poll() is not None:
                pytest.fail(f"server exited with {process.returncode}:\n{log_path.read_text()}")
            try:
                get_json(f"{base}/healthz")
                break
            except (urllib.error.URLError, ConnectionError):
                if time.monotonic() > deadline:
                    pytest.fail(f"server not up after {STARTUP_SECONDS}s:\n{log_path.read_text()}")
                time.sleep(0.2)
        yield base
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0, log_path.read_text()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_server_answers_healthz_and_moderate(server, scorer):
    status, health = get_json(f"{server}/healthz")
    assert (status, health) == (200, {"status": "ok", "model_version": scorer.model_version})
    text = "You are a stupid clown, the minister ignores the vote."
    status, body = get_json(f"{server}/v1/moderate", {"comments": [{"id": "c1", "text": text}]})
    assert status == 200
    assert body == {"model_version": scorer.model_version, "results": [{"id": "c1", **scorer.moderate([text])[0].to_dict()}]}


def test_server_bad_request_is_json_400(server):
    with pytest.raises(urllib.error.HTTPError) as caught:
        get_json(f"{server}/v1/moderate", {"comments": []})
    with caught.value as response:
        assert response.status == 400
        assert json.load(response)["error"] == {"code": "invalid_request", "message": "comments must not be empty"}


@pytest.mark.parametrize(("host", "expected"), [("127.0.0.1", "127.0.0.1:8000"), ("::1", "[::1]:8000")])
def test_bind_address(host, expected):
    assert bind_address(host, 8000) == expected
