"""Service configuration: the one place for defaults; ``MODERATION_*`` environment variables override them."""

from __future__ import annotations

MIB = 1024 * 1024

EXTENSION_KEY = "moderation"
"""``app.extensions[EXTENSION_KEY]`` holds the loaded Scorer, the app's only shared state."""


class Defaults:
    """Configuration defaults, loaded first by ``create_app`` and by the CLI.

    Any key can be overridden by an environment variable with the ``MODERATION_`` prefix
    (``MODERATION_MODEL=/srv/bundle``, ``MODERATION_WORKERS=4``); Flask parses the value as
    JSON when it can, so numbers become numbers.
    """

    MODEL = None
    """Bundle directory; ``None`` means the committed default bundle."""

    POLICY = None
    """Policy TOML file; ``None`` means the bundle's own ``policy.toml``."""

    MAX_COMMENTS_PER_REQUEST = 100
    MAX_COMMENT_CHARS = 20_000

    # Room for a full request of comments at the character cap in 3-byte UTF-8 plus JSON overhead.
    MAX_CONTENT_LENGTH = 8 * MIB
    """Largest request body in bytes; larger bodies get 413."""

    SCORE_CHUNK_ROWS = 5_000
    """Rows ``moderate score`` reads, scores and writes at a time."""

    HOST = "127.0.0.1"
    PORT = 8000
    WORKERS = 2
    # More than one thread per worker lets /healthz answer while a long request is scored.
    THREADS = 2
    TIMEOUT_SECONDS = 120
    """Gunicorn restarts a worker silent for longer than this (a full request with spans can be slow)."""
