"""The key that signs session cookies: configured, or generated once and kept in a file only its owner can read."""

from __future__ import annotations

import os
import secrets
import stat
from pathlib import Path

from flask import Flask

from model.bundle import temporary_beside
from service.config import DEFAULT_SECRET_KEY_PATH, ConfigError

SECRET_KEY_BYTES = 32
PRIVATE_FILE_MODE = 0o600


def read_or_create_secret(path: Path) -> str:
    """The secret kept in ``path``, creating it (mode 600) when absent.

    The new file is written under a temporary name and linked into place, so workers starting together
    all end up with the one key the first of them wrote, never a half-written file. Raises ConfigError
    when the file is empty, readable by others, or cannot be written.
    """
    if not path.exists():
        partial = temporary_beside(path)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise _unwritable(path, error) from error
        try:
            descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE)
            with os.fdopen(descriptor, "w", encoding="ascii") as handle:
                handle.write(secrets.token_hex(SECRET_KEY_BYTES) + "\n")
                handle.flush()
                os.fsync(handle.fileno())
            os.link(partial, path)
        except FileExistsError:
            pass  # another worker linked its key first: use that one
        except OSError as error:
            raise _unwritable(path, error) from error
        finally:
            try:
                partial.unlink(missing_ok=True)
            except OSError:  # a read-only file system refuses even to say it is not there: the error above tells
                pass
    if stat.S_IMODE(path.stat().st_mode) & 0o077:
        raise ConfigError(f"SECRET_KEY_FILE {path}: others may read it; run `chmod 600 {path}`")
    secret = path.read_text(encoding="ascii").strip()
    if not secret:
        raise ConfigError(f"SECRET_KEY_FILE {path}: empty; delete it to have a new key made")
    return secret


def _unwritable(path: Path, error: OSError) -> ConfigError:
    return ConfigError(f"SECRET_KEY_FILE {path}: cannot be written ({error.strerror or error}); set SECRET_KEY or a "
                       "writable SECRET_KEY_FILE")


def init_secret_key(app: Flask) -> None:
    """Give ``app`` its SECRET_KEY: the configured one, else the one kept in SECRET_KEY_FILE (made if needed)."""
    if app.config.get("SECRET_KEY"):
        return
    app.config["SECRET_KEY"] = read_or_create_secret(Path(app.config.get("SECRET_KEY_FILE") or DEFAULT_SECRET_KEY_PATH))
