"""Run the service under gunicorn, the app preloaded so the model loads once before the workers fork."""

from __future__ import annotations

from typing import Any

from flask import Flask
from gunicorn.app.base import BaseApplication


class ModerationServer(BaseApplication):
    """A gunicorn application serving one already-created Flask app."""

    def __init__(self, app: Flask, options: dict[str, Any]):
        self.application = app
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        """Apply our options; gunicorn's own command line and config files are not read."""
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Flask:
        """Return the preloaded app (gunicorn calls this once, before forking, with preload_app)."""
        return self.application


def bind_address(host: str, port: int) -> str:
    """Return gunicorn's bind string, bracketing IPv6 hosts."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def server_options(app: Flask) -> dict[str, Any]:
    """Gunicorn settings from the app's configuration (HOST, PORT, WORKERS, THREADS, TIMEOUT_SECONDS)."""
    config = app.config
    return {
        "bind": bind_address(config["HOST"], int(config["PORT"])),
        "workers": int(config["WORKERS"]),
        "threads": int(config["THREADS"]),
        "timeout": int(config["TIMEOUT_SECONDS"]),
        "preload_app": True,
        "accesslog": "-",
        "errorlog": "-",
    }


def serve(app: Flask) -> None:
    """Serve ``app`` under gunicorn until stopped (SIGTERM or SIGINT); does not return normally."""
    ModerationServer(app, server_options(app)).run()
