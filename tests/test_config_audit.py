"""Every setting given a wrong value in the environment or a TOML file: refused at start in one line naming it."""

from __future__ import annotations

import logging

import pytest

from service.app import create_app
from service.config import _WARNED, ConfigError, load_config


@pytest.fixture(autouse=True)
def _fresh_warnings():
    """Each test sees its warnings logged, though the process logs each only once."""
    _WARNED.clear()
    yield
    _WARNED.clear()


def _toml(tmp_path, monkeypatch, text):
    path = tmp_path / "moderation.toml"
    path.write_text(text, encoding="utf-8")
    monkeypatch.setenv("MODERATION_CONFIG", str(path))
    monkeypatch.delenv("MODERATION_DB_URL")  # the suite's, which would override the file's (load_config opens nothing)
    return path


@pytest.mark.parametrize(
    ("variable", "raw", "message"),
    [
        # A limit of 0 parses, then refuses every request.
        ("MODERATION_RATE_LIMIT", "0 per minute", "RATE_LIMIT (MODERATION_RATE_LIMIT) is '0 per minute'; it must be a rate limit allowing at least 1"),
        ("MODERATION_CORAL_RATE_LIMIT", "1200 per minute; 0 per second", "CORAL_RATE_LIMIT (MODERATION_CORAL_RATE_LIMIT) is '1200 per minute; 0 per second'"),
        ("MODERATION_AUTH_FAILURE_LIMIT", "0/minute", "it must be a rate limit allowing at least 1"),
        # null (JSON) once passed as None: a traceback at start (LOG_LEVEL), an unknown Coral format (CORAL_BODY_FORMAT).
        ("MODERATION_LOG_LEVEL", "null", "LOG_LEVEL (MODERATION_LOG_LEVEL) is a NoneType; it must be one of DEBUG, INFO"),
        ("MODERATION_CORAL_BODY_FORMAT", "null", "CORAL_BODY_FORMAT (MODERATION_CORAL_BODY_FORMAT) is a NoneType; it must be one of HTML, PLAIN_TEXT"),
        # Empty strings once meant the default (or the current folder) without a word: an unset variable substituted.
        ("MODERATION_DB_URL", "", "DB_URL (MODERATION_DB_URL) is ''; it must be a non-empty string (unset it for the default)"),
        ("MODERATION_HOST", "", "HOST (MODERATION_HOST) is ''; it must be a non-empty string"),
        ("MODERATION_SECRET_KEY", "", "SECRET_KEY (MODERATION_SECRET_KEY) is a string (value withheld); it must be a non-empty string"),
        ("MODERATION_DECISION_SPOOL_DIR", "", "DECISION_SPOOL_DIR (MODERATION_DECISION_SPOOL_DIR) is ''; it must be a file or folder path (unset it"),
        ("MODERATION_SECRET_KEY_FILE", "", "SECRET_KEY_FILE (MODERATION_SECRET_KEY_FILE) is ''"),
        ("MODERATION_POLICY", "", "POLICY (MODERATION_POLICY) is ''"),
        ("MODERATION_MODEL", "", "MODEL (MODERATION_MODEL) is ''"),
        ("MODERATION_REPORTS_DIR", "", "REPORTS_DIR (MODERATION_REPORTS_DIR) is ''"),
        ("MODERATION_CORAL_SECRET", "", "CORAL_SECRET (MODERATION_CORAL_SECRET) is a string (value withheld); it must be a non-empty secret"),
        ("MODERATION_CORAL_SECRET", '["old", ""]', "CORAL_SECRET (MODERATION_CORAL_SECRET) is a list (value withheld); it must be a non-empty secret"),
        ("MODERATION_CORAL_SECRET", "[]", "it must be a non-empty secret or a list of them (unset it to turn the endpoint off)"),
        # A URL without a scheme: refused later by SQLAlchemy, without the setting's variable.
        ("MODERATION_DB_URL", "var/moderation.db", "DB_URL (MODERATION_DB_URL) is 'var/moderation.db'; it must be a database URL such as sqlite:///"),
        ("MODERATION_DB_URL", "localhost:5432/moderation", "it must be a database URL"),
    ],
)
def test_a_wrong_value_in_the_environment_is_refused_in_one_line(monkeypatch, variable, raw, message):
    monkeypatch.setenv(variable, raw)
    with pytest.raises(ConfigError) as raised:
        load_config()
    assert message in str(raised.value)
    assert "\n" not in str(raised.value)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('rate_limit = "0 per minute"', "it must be a rate limit allowing at least 1"),
        ('db_url = "moderation.db"', "DB_URL (MODERATION_DB_URL) is 'moderation.db'; it must be a database URL"),
        ('decision_spool_dir = ""', "DECISION_SPOOL_DIR (MODERATION_DECISION_SPOOL_DIR) is ''"),
        ('coral_secret = ""', "CORAL_SECRET (MODERATION_CORAL_SECRET) is a string (value withheld)"),
    ],
)
def test_a_wrong_value_in_a_toml_file_is_refused_in_one_line(tmp_path, monkeypatch, text, message):
    _toml(tmp_path, monkeypatch, text)
    with pytest.raises(ConfigError) as raised:
        load_config()
    assert message in str(raised.value)


def test_a_database_password_never_reaches_the_message(monkeypatch):
    monkeypatch.setenv("MODERATION_DB_URL", "postgresql//moderation:hunter2@db/moderation")  # the ':' forgotten
    with pytest.raises(ConfigError, match=r"DB_URL \(MODERATION_DB_URL\) is a string \(value withheld\); it must be a database URL") as raised:
        load_config()
    assert "hunter2" not in str(raised.value)


def test_the_app_refuses_an_empty_database_url_rather_than_use_the_default(tiny_bundle_path, monkeypatch):
    monkeypatch.setenv("MODERATION_DB_URL", "")
    with pytest.raises(ConfigError, match="DB_URL"):
        create_app({"TESTING": True, "MODEL": str(tiny_bundle_path)})


@pytest.mark.parametrize(
    ("variable", "raw", "value"),
    [
        ("MODERATION_SESSION_COOKIE_SAMESITE", "null", None),  # Flask's own: no SameSite attribute
        ("MODERATION_ENCODER_MODE", "null", None),  # the bundle's own
        ("MODERATION_DB_URL", "postgresql+psycopg://moderation@db/moderation", "postgresql+psycopg://moderation@db/moderation"),
        ("MODERATION_DB_URL", "sqlite://", "sqlite://"),
        ("MODERATION_CORAL_SECRET", '["old", "new"]', ["old", "new"]),
    ],
)
def test_good_values_still_pass(monkeypatch, variable, raw, value):
    monkeypatch.setenv(variable, raw)
    assert load_config()[variable.removeprefix("MODERATION_")] == value


def test_a_misspelt_key_in_a_toml_file_is_warned_about(tmp_path, monkeypatch, caplog):
    path = _toml(tmp_path, monkeypatch, "auth_requird = false\nworkers = 3\n[moderation]\nport = 9000\n")
    with caplog.at_level(logging.WARNING, logger="service.config"):
        config = load_config()
    assert config["AUTH_REQUIRED"] is True and config["WORKERS"] == 3
    assert f"MODERATION_CONFIG={path}: auth_requird is not a setting and is ignored (did you mean AUTH_REQUIRED?)" in caplog.text
    assert f"MODERATION_CONFIG={path}: moderation is not a setting and is ignored" in caplog.text
    assert "workers is not a setting" not in caplog.text


@pytest.mark.parametrize(
    ("settings", "warning"),
    [
        ({"HOST": "0.0.0.0", "AUTH_REQUIRED": False}, "AUTH_REQUIRED is false while HOST 0.0.0.0 is not a loopback address"),
        ({"HOST": "10.0.0.5", "SESSION_COOKIE_SECURE": False}, "SESSION_COOKIE_SECURE is false while HOST 10.0.0.5 is not a loopback address"),
        ({"SECRET_KEY": "changeme"}, "SECRET_KEY has fewer than 16 characters (value withheld)"),
    ],
)
def test_unsafe_settings_are_warned_about(caplog, settings, warning):
    with caplog.at_level(logging.WARNING, logger="service.config"):
        load_config(settings)
    assert warning in caplog.text
    assert "changeme" not in caplog.text


@pytest.mark.parametrize("host", ["127.0.0.1", "::1", "localhost", "[::1]"])
def test_plain_http_without_keys_on_loopback_is_not_warned_about(caplog, host):
    with caplog.at_level(logging.WARNING, logger="service.config"):
        load_config({"HOST": host, "AUTH_REQUIRED": False, "SESSION_COOKIE_SECURE": False})
    assert "loopback" not in caplog.text
