"""The Flask application factory."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask

from service.api_v1 import bp as api_v1
from service.config import EXTENSION_KEY, Defaults
from service.errors import register_error_handlers

def load_scorer(model_path: str | Path | None = None, policy_path: str | Path | None = None) -> Any:
    """Load and verify a bundle into a Scorer (imported here so ``moderate --help`` stays fast)."""
    from model.scoring import Scorer

    return Scorer.load(model_path=model_path, policy_path=policy_path)


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Create the service: defaults, then ``MODERATION_*`` environment, then ``config``; load the model once.

    Raises ``model.bundle.BundleError`` when the bundle cannot be loaded.
    """
    app = Flask(__name__)
    app.config.from_object(Defaults)
    app.config.from_prefixed_env("MODERATION")
    if config is not None:
        app.config.from_mapping(config)
    app.json.sort_keys = False  # keep "id" first and scores in attribute order

    app.extensions[EXTENSION_KEY] = load_scorer(app.config["MODEL"], app.config["POLICY"])

    register_error_handlers(app)

    app.register_blueprint(api_v1)
    return app
