"""``moderate serve``: the HTTP API under gunicorn."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

from service.cli.common import ENCODER_MODES, BadInput
from service.config import Defaults

@click.command()
@click.option("--host", help=f"Address to bind [default: $MODERATION_HOST, else host in the $MODERATION_CONFIG file, else {Defaults.HOST}].")
@click.option("--port", type=click.IntRange(0, 65535), help=f"[default: $MODERATION_PORT, else port in the $MODERATION_CONFIG file, else {Defaults.PORT}]")
@click.option("--workers", type=click.IntRange(min=1), help=f"[default: $MODERATION_WORKERS, else workers in the $MODERATION_CONFIG file, else {Defaults.WORKERS}]")
@click.option("--threads", type=click.IntRange(min=1), help=f"[default: $MODERATION_THREADS, else threads in the $MODERATION_CONFIG file, else {Defaults.THREADS}]")
@click.option("--health-port", type=click.IntRange(0, 65535), help="Port where the master answers GET /healthz and GET /metrics while every worker is busy; 0 = off [default: $MODERATION_HEALTH_PORT, else health_port in the $MODERATION_CONFIG file, else the port + 1].")
@click.option("--model", type=click.Path(path_type=Path), help="Bundle directory or version; pins it, so that a SIGHUP reloads this one, whatever `moderate models use` chose [default: $MODERATION_MODEL, else model in the $MODERATION_CONFIG file, else the bundle bundles/CURRENT names, at each start and SIGHUP].")
@click.option("--encoder-mode", type=ENCODER_MODES,
              help="For a bundle with an encoder: encoder reads every comment (best ranking); cascade re-scores only "
                   "comments whose decision could change, about twice the requests per second (MODEL_CARD.md). "
                   "[default: $MODERATION_ENCODER_MODE, else the bundle's own]")
def serve(host: str | None, port: int | None, workers: int | None, threads: int | None, health_port: int | None, model: Path | None,
          encoder_mode: str | None) -> None:
    """Serve the HTTP API under gunicorn; each worker loads the bundle, and SIGHUP swaps in a newly selected one and
    the $MODERATION_CONFIG file as edited since (checked first; a broken one is refused and the workers go on).

    Settings come from service.config: defaults, the $MODERATION_CONFIG file, $MODERATION_* variables,
    then these options.
    """
    from service.config import ConfigError, deferred_warnings, load_config, warn_once
    from service.logs import configure_logging
    from service.server import prepare_metrics_dir

    options = {"HOST": host, "PORT": port, "WORKERS": workers, "THREADS": threads, "HEALTH_PORT": health_port, "MODEL": model,
               "ENCODER_MODE": encoder_mode}
    overrides = {key: value for key, value in options.items() if value is not None}
    try:
        # A bad setting is one line here, before anything starts, naming the option when it came from one.
        with deferred_warnings() as pending:
            config = load_config(overrides, {name: _option_name(name) for name in overrides})
        configure_logging(config["LOG_LEVEL"], bool(config["LOG_JSON"]))  # the settings' warnings in the log's format
        warn_once(pending)
        # Before prometheus_client is imported (by service.app): the workers keep their metrics in files.
        prepare_metrics_dir()
    except ConfigError as error:
        raise BadInput(error) from error
    from service.server import serve as run_server

    with _metrics_dir_removed_on_failure():
        app = _create_app(overrides)
        try:
            run_server(app, overrides)
        except ConfigError as error:  # PORT or HEALTH_PORT cannot be bound
            raise BadInput(error) from error


@contextmanager
def _metrics_dir_removed_on_failure() -> Iterator[None]:
    """Remove the metrics folder made for this server when it stops before gunicorn runs (gunicorn's ``on_exit``
    removes it after). SystemExit passes untouched: gunicorn's master ends with it once it has removed the folder,
    and so does each worker, forked inside ``run_server``, while the master still uses it."""
    from service.server import remove_owned_metrics_dir

    try:
        yield
    except SystemExit:
        raise
    except BaseException:  # a bad bundle, database or port (BadInput), Ctrl-C while the bundle loads: re-raised
        remove_owned_metrics_dir()
        raise


def _option_name(setting: str) -> str:
    """The option of ``serve`` that sets ``setting`` (``--health-port`` for ``HEALTH_PORT``)."""
    return "--" + setting.lower().replace("_", "-")


def _create_app(overrides: dict[str, Any]) -> Any:
    """create_app, turning a bad bundle, database or setting into BadInput."""
    from model.bundle import BundleError
    from service.app import create_app
    from service.config import ConfigError
    from service.store import StoreError

    try:
        return create_app(overrides, load_model=False)
    except (BundleError, StoreError, ConfigError) as error:
        raise BadInput(error) from error
