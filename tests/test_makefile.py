"""The Makefile's `run` target, read with `make -n` (nothing is installed or served)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")


def serve_line(*arguments: str, **environment: str) -> str:
    """The `moderate serve` command `make run` would run."""
    env = {key: value for key, value in os.environ.items() if key not in ("HOST", "PORT")} | environment
    shown = subprocess.run(["make", "-n", "-C", str(ROOT), "run", *arguments], env=env, capture_output=True, text=True,
                           check=True).stdout
    (line,) = [line for line in shown.splitlines() if "moderate serve" in line]
    return line.split("moderate serve", 1)[1].strip()


def test_make_run_takes_host_and_port_from_its_command_line_only():
    # `HOST ?=` took a HOST or PORT already in the environment (a PaaS's PORT, zsh's HOST) and always passed
    # --host/--port, so MODERATION_PORT and the MODERATION_CONFIG file were ignored under `make run`.
    assert serve_line() == ""
    assert serve_line(PORT="3000", HOST="devbox.local", MODERATION_PORT="9001") == ""  # the settings decide
    assert serve_line("PORT=8080") == "--port 8080"
    assert serve_line("HOST=0.0.0.0", "PORT=8080") == "--host 0.0.0.0 --port 8080"
