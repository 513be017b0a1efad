"""Check every setting's type and range once, at start, so that a bad value is a one-line error and not a 500 later.

Flask reads ``MODERATION_*`` values as JSON when they parse, so ``MODERATION_CORAL_SECRET=12345`` arrives
as a number and ``MODERATION_WORKERS=two`` as a string; ``check_config`` names the setting, what it got
and what it needs, and ``load_config`` raises it as ``ConfigError`` (``moderate serve`` prints it and
exits with status 2).
"""

from __future__ import annotations

import ipaddress
import math
import os
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from limits import parse_many
from limits.storage import SCHEMES as LIMIT_STORAGE_SCHEMES

from service.config import CORAL_BODY_FORMATS, ENV_PREFIX, ConfigError, Defaults
from service.health_port import resolve_health_port

UNBOUNDED = None
INTEGERS: dict[str, tuple[int, int | None]] = {
    "MAX_COMMENTS_PER_REQUEST": (1, UNBOUNDED),
    "MAX_COMMENT_CHARS": (1, UNBOUNDED),
    "MAX_REQUEST_CHARS": (1, UNBOUNDED),
    "MAX_ID_CHARS": (1, 256),  # the database's id columns hold 256 characters
    "MAX_URL_CHARS": (1, UNBOUNDED),
    "MAX_CONTENT_LENGTH": (1, UNBOUNDED),
    "SCORE_CHUNK_ROWS": (1, UNBOUNDED),
    "PORT": (0, 65_535),
    "HEALTH_PORT": (0, 65_535),
    "WORKERS": (1, UNBOUNDED),
    "ENCODER_THREADS": (1, UNBOUNDED),
    "THREADS": (1, UNBOUNDED),
    "TIMEOUT_SECONDS": (1, UNBOUNDED),
    "PERSPECTIVE_MAX_TEXT_CHARS": (1, UNBOUNDED),
    "MAX_BATCH_REQUESTS": (1, 1_000),
    "KEY_CONCURRENT_REQUESTS": (0, UNBOUNDED),
    "TRUSTED_PROXY_HOPS": (0, 10),
    "CORAL_REPLAY_SECONDS": (0, UNBOUNDED),
    "CORAL_MAX_SCORED_CHARS": (1, UNBOUNDED),
    "DB_MIN_FREE_MIB": (0, UNBOUNDED),
    "PERMANENT_SESSION_LIFETIME": (1, UNBOUNDED),
}
"""Integer settings and their inclusive (min, max)."""
PATHS = ("MODEL", "POLICY", "DECISION_SPOOL_DIR", "SECRET_KEY_FILE", "REPORTS_DIR")
"""File or folder settings (``MODEL`` also takes a bundle version): a string or a path; None is the default."""
FOLDERS = ("DECISION_SPOOL_DIR",)
"""Path settings that name a folder: one naming a file is refused (``db prune``/``forget`` swept "0 rows" of it)."""
OPTIONAL = frozenset({"KEY_CONCURRENT_REQUESTS", "HEALTH_PORT", "ENCODER_THREADS", "DB_URL", "SECRET_KEY", "ENCODER_MODE",
                      "SESSION_COOKIE_SAMESITE", *PATHS})
"""Settings for which ``None`` means "work it out" (see ``service.config.Defaults``; no SameSite attribute for Flask's
``SESSION_COOKIE_SAMESITE``)."""
NUMBERS: dict[str, tuple[float, float | None]] = {"KEY_CACHE_SECONDS": (0.0, UNBOUNDED)}
BOOLEANS = ("DB_AUTO_UPGRADE", "DB_REQUIRED_AT_START", "STORE_TEXT", "AUTH_REQUIRED", "RATELIMIT_HEADERS_ENABLED",
            "RATELIMIT_IN_MEMORY_FALLBACK_ENABLED", "LOG_JSON", "LOG_TEXT", "SESSION_COOKIE_SECURE", "SESSION_COOKIE_HTTPONLY")
RATE_LIMITS = ("RATE_LIMIT", "KEY_COMMENT_LIMIT", "KEY_CHAR_LIMIT", "AUTH_FAILURE_LIMIT", "CORAL_RATE_LIMIT", "SIGN_IN_RATE_LIMIT",
               "SIGN_IN_NAME_LIMIT")
"""Flask-Limiter strings such as "600 per minute" (``;`` separates several), each allowing at least 1; a message gives
the setting's default as the example (10 sign-in attempts a minute, not the API's 600 requests)."""
SECRETS = ("CORAL_SECRET",)
"""None (off), one string, or a list of strings (while rotating)."""
ORIGIN_LISTS = ("CORS_ORIGINS",)
"""None, or a list of web origins ("https://news.example") or "*"."""
CHOICES = ("ENCODER_MODE", "CORAL_BODY_FORMAT", "LOG_LEVEL", "SESSION_COOKIE_SAMESITE")
"""One of ``choices(name)`` (or None when in OPTIONAL: the bundle's own, for ENCODER_MODE)."""
ANY_CASE_CHOICES = frozenset({"LOG_LEVEL", "SESSION_COOKIE_SAMESITE"})
"""Choices read whatever their case (``logging`` upper-cases a level, werkzeug title-cases SameSite): compared upper-cased."""
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
SAME_SITE_VALUES = ("Lax", "Strict", "None")
TEXTS: dict[str, tuple[type, ...]] = {"HOST": (str,), "RATELIMIT_STORAGE_URI": (str,), "DB_URL": (str,), "SECRET_KEY": (str, bytes)}
"""Settings that must be a string (None too when in OPTIONAL): Flask reads MODERATION_SECRET_KEY=12345 as a number."""
UNPADDED = frozenset({"HOST", "RATELIMIT_STORAGE_URI", "DB_URL"})
"""Text settings (besides ``PATHS``) that never start or end with a space: one copied in with the value (an env file
line ``MODERATION_DB_URL=sqlite:////srv/m.db `` ) made a new, empty SQLite file ``m.db `` without a word."""
PADDING_NEED = "written without spaces or line breaks at its start or end (a name or URL with them is another one)"
STORAGE_SETTING = "RATELIMIT_STORAGE_URI"
DB_URL_SETTING = "DB_URL"
CREDENTIAL_URLS = frozenset({DB_URL_SETTING, STORAGE_SETTING})
"""URL settings that may carry a password (``postgresql://user:password@host/db``): a message withholds such a value."""
UNSET_HINT = "unset it for the default"
QUOTE_HINT = "quote one that looks like a number or boolean: '\"12345\"'"


def choices(name: str) -> tuple[str, ...]:
    """The values a ``CHOICES`` setting may take (imported here: ``moderate --help`` needs no model code)."""
    if name == "CORAL_BODY_FORMAT":
        return CORAL_BODY_FORMATS
    if name == "LOG_LEVEL":
        return LOG_LEVELS
    if name == "SESSION_COOKIE_SAMESITE":
        return SAME_SITE_VALUES
    from model.encoder_model import MODES

    return {"ENCODER_MODE": MODES}[name]


def _is_choice(name: str, value: Any) -> bool:
    """Whether ``value`` is one of ``choices(name)`` (in any case for ``ANY_CASE_CHOICES``)."""
    if name not in ANY_CASE_CHOICES:
        return value in choices(name)
    return isinstance(value, str) and value.upper() in {choice.upper() for choice in choices(name)}


def _storage_scheme(uri: str) -> str | None:
    """The scheme of a limits storage URI it can use synchronously (``redis`` for ``redis://host``), else None."""
    scheme, separator, _ = uri.partition("://")
    return scheme if separator and scheme in LIMIT_STORAGE_SCHEMES and not scheme.startswith("async+") else None


def _described(value: Any) -> str:
    """How a value was read, for the message: ``the number 12345``, ``true (a boolean)``."""
    if isinstance(value, bool):
        return f"{str(value).lower()} (a boolean)"
    if isinstance(value, int | float):
        return f"the number {value!r}"
    if isinstance(value, str):
        return repr(value[:40])
    if value is None:
        return "null"
    return f"a {type(value).__name__}"


WITHHELD = frozenset({"CORAL_SECRET", "SECRET_KEY"})
"""Settings whose value an error names by its kind only: the message reaches the terminal and the logs."""


class SettingError(ConfigError):
    """A setting with a bad value; the message names where it was given: ``MODERATION_<NAME>`` unless ``source`` says
    otherwise (the settings file, whose keys an operator looks for there, not in the environment)."""

    def __init__(self, name: str, found: str, needs: str, source: str | None = None):
        self.name, self.found, self.needs = name, found, needs
        super().__init__(f"setting {name} ({source or f'{ENV_PREFIX}_{name}'}) is {found}; it must be {needs}")

    def given_in(self, source: str) -> SettingError:
        """The same error, naming ``source`` (``in MODERATION_CONFIG=/etc/moderation/moderation.toml``) as where it was given."""
        return SettingError(self.name, self.found, self.needs, source)


def _bad(name: str, value: Any, needs: str) -> SettingError:
    withheld = name in WITHHELD or (name in CREDENTIAL_URLS and isinstance(value, str) and "@" in value)
    found = f"a {_kind(value)} (value withheld)" if withheld else _described(value)
    return SettingError(name, found, needs)


def _kind(value: Any) -> str:
    """The kind of value a setting was read as: number, boolean, string, list, ..."""
    if isinstance(value, bool):
        return "boolean"
    return "number" if isinstance(value, int | float) else {"str": "string"}.get(type(value).__name__, type(value).__name__)


def _range_text(low: float, high: float | None) -> str:
    return f"at least {low}" if high is None else f"between {low} and {high}"


def check_setting(name: str, value: Any) -> None:
    """Raise ConfigError naming ``name`` when ``value`` has the wrong type or range; unknown names pass."""
    if name in OPTIONAL and value is None:
        return
    if name in INTEGERS:
        low, high = INTEGERS[name]
        if isinstance(value, bool) or not isinstance(value, int) or value < low or (high is not None and value > high):
            raise _bad(name, value, f"a whole number {_range_text(low, high)}")
    elif name in NUMBERS:
        low, high = NUMBERS[name]
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < low or (high is not None and value > high):
            raise _bad(name, value, f"a number {_range_text(low, high)}")
    elif name in BOOLEANS:
        if not isinstance(value, bool):
            raise _bad(name, value, "true or false")
    elif name in RATE_LIMITS:
        example = getattr(Defaults, name)
        if not isinstance(value, str):
            raise _bad(name, value, f"a rate limit like {example!r}")
        try:
            parse_many(value)
        except ValueError as error:
            raise _bad(name, value, f"a rate limit like {example!r}") from error
        if smallest_amount(value) < 1:
            raise _bad(name, value, f"a rate limit allowing at least 1 per window, like {example!r} (0 refuses everything)")
    elif name in CHOICES:
        if not _is_choice(name, value):
            unset = " (or unset for the bundle's own)" if name == "ENCODER_MODE" else ""
            raise _bad(name, value, f"one of {', '.join(choices(name))}{unset}")
    elif name in TEXTS:
        if not isinstance(value, TEXTS[name]):
            raise _bad(name, value, f"a string ({QUOTE_HINT})")
        if not value:
            raise _bad(name, value, f"a non-empty string ({UNSET_HINT})")
        if name in UNPADDED and _padded(value):
            raise _bad(name, value, PADDING_NEED)
        if name == STORAGE_SETTING and _storage_scheme(value) is None:
            raise _bad(name, value, "memory:// (each worker counts alone) or a storage URL such as redis://host:6379/0")
        if name == DB_URL_SETTING and not _has_scheme(value):
            raise _bad(name, value, "a database URL such as sqlite:////srv/moderation/moderation.db or "
                                    "postgresql://user@host/moderation")
    elif name in PATHS:
        if not isinstance(value, str | os.PathLike):
            raise _bad(name, value, f"a file or folder path ({QUOTE_HINT})")
        if not os.fspath(value):
            raise _bad(name, value, f"a file or folder path ({UNSET_HINT}; an empty one would mean the current folder)")
        if isinstance(value, str) and _padded(value):
            raise _bad(name, value, PADDING_NEED)
        if name in FOLDERS and os.path.exists(value) and not os.path.isdir(value):
            raise _bad(name, value, "a folder, not a file (rows kept there would be looked for in vain)")
    elif name in ORIGIN_LISTS:
        if value is not None and (not isinstance(value, list) or not all(
                isinstance(origin, str) and (origin == "*" or _is_origin(origin)) for origin in value)):
            raise _bad(name, value, 'a list of origins such as ["https://news.example"] (scheme and host, no path), or ["*"]')
    elif name in SECRETS:
        secrets = [value] if isinstance(value, str) else value
        if value is not None and (not isinstance(secrets, list) or not all(isinstance(secret, str) for secret in secrets)):
            raise _bad(name, value, 'a string (quote a secret that looks like a number or boolean: \'"12345"\') or a list of strings')
        if value is not None and (not secrets or not all(secrets)):
            raise _bad(name, value, "a non-empty secret or a list of them (unset it to turn the endpoint off)")


def _padded(text: str) -> bool:
    """Whether ``text`` starts or ends with white space (a space, a tab, a line break)."""
    return text != text.strip()


def _has_scheme(url: str) -> bool:
    """Whether ``url`` starts with a scheme and ``://`` (``sqlite://``, ``postgresql+psycopg://``), as SQLAlchemy needs."""
    scheme, separator, _ = url.partition("://")
    return bool(separator and scheme) and all(part.isalnum() for part in scheme.replace("_", "+").split("+"))


def _is_origin(text: str) -> bool:
    """Whether ``text`` is a web origin: http(s), a host, maybe a port, nothing after it."""
    parts = urlsplit(text)
    return parts.scheme in ("http", "https") and bool(parts.hostname) and parts.path == "" and not parts.query \
        and not parts.fragment and text == f"{parts.scheme}://{parts.netloc}"


def check_config(config: Mapping[str, Any], sources: Mapping[str, str] | None = None) -> None:
    """Check every known setting, then the ones that depend on each other; raise ConfigError for the first problem.

    ``sources`` names where settings not given as ``MODERATION_<NAME>`` were given (the settings file), for the message.
    """
    for name, value in config.items():
        try:
            check_setting(name, value)
        except SettingError as error:
            if sources and name in sources:
                raise error.given_in(sources[name]) from None
            raise
    longest_comment = max(int(config["MAX_COMMENT_CHARS"]), int(config["PERSPECTIVE_MAX_TEXT_CHARS"]))
    if int(config["MAX_REQUEST_CHARS"]) < longest_comment:
        raise ConfigError(
            f"setting MAX_REQUEST_CHARS ({config['MAX_REQUEST_CHARS']}) must be at least MAX_COMMENT_CHARS "
            f"({config['MAX_COMMENT_CHARS']}) and PERSPECTIVE_MAX_TEXT_CHARS ({config['PERSPECTIVE_MAX_TEXT_CHARS']}), "
            "so that a request of one comment of the longest accepted can be scored; lower those with it"
        )
    largest_request_chars = min(int(config["MAX_COMMENTS_PER_REQUEST"]) * int(config["MAX_COMMENT_CHARS"]),
                                int(config["MAX_REQUEST_CHARS"]))
    if smallest_amount(config["KEY_CHAR_LIMIT"]) < largest_request_chars:
        raise ConfigError(
            f"setting KEY_CHAR_LIMIT ({config['KEY_CHAR_LIMIT']!r}) must allow at least one full request, "
            f"{largest_request_chars} characters (the smaller of MAX_REQUEST_CHARS and MAX_COMMENTS_PER_REQUEST x "
            "MAX_COMMENT_CHARS)"
        )
    if smallest_amount(config["KEY_COMMENT_LIMIT"]) < int(config["MAX_COMMENTS_PER_REQUEST"]):
        raise ConfigError(
            f"setting KEY_COMMENT_LIMIT ({config['KEY_COMMENT_LIMIT']!r}) must allow at least one full request "
            f"of MAX_COMMENTS_PER_REQUEST = {config['MAX_COMMENTS_PER_REQUEST']} comments"
        )
    health_port = resolve_health_port(config)
    if health_port != 0 and health_port == config["PORT"]:
        raise ConfigError(f"setting HEALTH_PORT ({health_port}) must differ from PORT, or be 0 to turn the health listener off")


LOOPBACK_NAMES = ("localhost",)
SHORTEST_SECRET_KEY = 16
"""Characters below which a configured ``SECRET_KEY`` is warned about (the generated one has 64)."""


def is_loopback(host: str) -> bool:
    """Whether ``host`` is reachable from this machine only (``127.0.0.1``, ``::1``, ``localhost``)."""
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def unsafe_settings(config: Mapping[str, Any]) -> list[str]:
    """Warnings for settings that work but expose the service: run after ``check_config``."""
    found = []
    host = config["HOST"]
    if not is_loopback(host):
        if not config["AUTH_REQUIRED"]:
            found.append(f"AUTH_REQUIRED is false while HOST {host} is not a loopback address: anyone who reaches it may "
                         "score comments without an API key; set AUTH_REQUIRED true, or HOST 127.0.0.1 behind a proxy")
        if not config["SESSION_COOKIE_SECURE"]:
            found.append(f"SESSION_COOKIE_SECURE is false while HOST {host} is not a loopback address: moderators' "
                         "session cookies may travel unencrypted; serve HTTPS (a proxy in front) and set it true")
    secret_key = config.get("SECRET_KEY")
    if secret_key is not None and len(secret_key) < SHORTEST_SECRET_KEY:
        found.append(f"SECRET_KEY has fewer than {SHORTEST_SECRET_KEY} characters (value withheld): session cookies "
                     "signed with it can be forged; unset it to have a random key made and kept in SECRET_KEY_FILE")
    return found


JSON_BYTES_PER_CHAR = 12
"""Most bytes a JSON body spends on one character of comment text, as ``MAX_REQUEST_CHARS`` counts them (code points):
a character beyond the Basic Multilingual Plane (an emoji) written as two ``\\uXXXX`` escapes, as Python's
``json.dumps`` and ``requests`` do by default. UTF-8 alone takes at most 4 bytes, an escaped BMP or control character 6."""


def body_size_warnings(config: Mapping[str, Any]) -> list[str]:
    """A warning when ``MAX_CONTENT_LENGTH`` may refuse (413) a body that ``MAX_REQUEST_CHARS`` allows: run after
    ``check_config``. Not an error: a small body limit may be chosen on purpose (tests of the 413 do)."""
    body_bytes, request_chars = int(config["MAX_CONTENT_LENGTH"]), int(config["MAX_REQUEST_CHARS"])
    text_bytes = request_chars * JSON_BYTES_PER_CHAR
    if body_bytes >= text_bytes:
        return []
    return [f"MAX_CONTENT_LENGTH ({body_bytes} bytes) is too small for MAX_REQUEST_CHARS ({request_chars}) characters of "
            f"comment text, which take up to {text_bytes} bytes of JSON ({JSON_BYTES_PER_CHAR} a character: an emoji "
            "escaped as \\uXXXX\\uXXXX, as Python clients send it): a request the character limit allows may get 413 "
            f"instead of being scored; set MAX_CONTENT_LENGTH to at least {text_bytes} plus room for the JSON around the "
            "texts, or lower MAX_REQUEST_CHARS"]


def setting_warnings(config: Mapping[str, Any]) -> list[str]:
    """Every warning about settings that pass ``check_config``: unsafe ones, then ones that work against each other."""
    return unsafe_settings(config) + body_size_warnings(config)


def smallest_amount(limit: str) -> int:
    """The smallest number a rate limit string allows in one window (each of several must let a full request through)."""
    return min(item.amount for item in parse_many(limit))
