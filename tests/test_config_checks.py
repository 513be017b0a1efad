"""Settings are checked once, at start: a wrong type or range is a one-line ConfigError naming the setting."""

from __future__ import annotations

import pytest

from service.app import create_app
from service.cli import cli
from service.config import ConfigError, load_config
from tests.ui_support import sign_in


@pytest.mark.parametrize(
    ("variable", "raw", "message"),
    [
        ("MODERATION_CORAL_SECRET", "12345", "setting CORAL_SECRET (MODERATION_CORAL_SECRET) is a number (value withheld); it must be a string"),
        ("MODERATION_CORAL_SECRET", "true", "CORAL_SECRET (MODERATION_CORAL_SECRET) is a boolean (value withheld)"),
        ("MODERATION_CORAL_SECRET", "[1, 2]", "CORAL_SECRET (MODERATION_CORAL_SECRET) is a list (value withheld)"),
        ("MODERATION_WORKERS", "two", "setting WORKERS (MODERATION_WORKERS) is 'two'; it must be a whole number at least 1"),
        ("MODERATION_WORKERS", "0", "WORKERS (MODERATION_WORKERS) is the number 0"),
        ("MODERATION_PORT", "70000", "must be a whole number between 0 and 65535"),
        ("MODERATION_HEALTH_PORT", "-1", "HEALTH_PORT (MODERATION_HEALTH_PORT) is the number -1; it must be a whole number between 0 and 65535"),
        ("MODERATION_HEALTH_PORT", "8000", "HEALTH_PORT (8000) must differ from PORT"),
        ("MODERATION_MAX_ID_CHARS", "1000", "must be a whole number between 1 and 256"),
        ("MODERATION_MAX_COMMENT_CHARS", "true", "MAX_COMMENT_CHARS (MODERATION_MAX_COMMENT_CHARS) is true (a boolean)"),
        ("MODERATION_KEY_CACHE_SECONDS", "-1", "must be a number at least 0.0"),
        ("MODERATION_AUTH_REQUIRED", "no", "AUTH_REQUIRED (MODERATION_AUTH_REQUIRED) is 'no'; it must be true or false"),
        ("MODERATION_STORE_TEXT", "1", "it must be true or false"),
        ("MODERATION_RATE_LIMIT", "lots", "it must be a rate limit like '600 per minute'"),
        ("MODERATION_KEY_CHAR_LIMIT", "1000 per minute", "KEY_CHAR_LIMIT ('1000 per minute') must allow at least one full request"),
        ("MODERATION_KEY_CHAR_LIMIT", "99999 per minute", "must allow at least one full request, 100000 characters (the smaller of MAX_REQUEST_CHARS"),
        ("MODERATION_MAX_REQUEST_CHARS", "0", "MAX_REQUEST_CHARS (MODERATION_MAX_REQUEST_CHARS) is the number 0; it must be a whole number at least 1"),
        ("MODERATION_MAX_REQUEST_CHARS", "many", "MAX_REQUEST_CHARS (MODERATION_MAX_REQUEST_CHARS) is 'many'; it must be a whole number"),
        ("MODERATION_MAX_REQUEST_CHARS", "20000", "MAX_REQUEST_CHARS (20000) must be at least MAX_COMMENT_CHARS (20000) and PERSPECTIVE_MAX_TEXT_CHARS (20480), so that a request of one comment"),
        # Each of these once started and failed later: a traceback, a 500, or a setting silently read as true.
        ("MODERATION_LOG_LEVEL", "verbose", "LOG_LEVEL (MODERATION_LOG_LEVEL) is 'verbose'; it must be one of DEBUG, INFO, WARNING"),
        ("MODERATION_DB_MIN_FREE_MIB", "lots", "DB_MIN_FREE_MIB (MODERATION_DB_MIN_FREE_MIB) is 'lots'; it must be a whole number at least 0"),
        ("MODERATION_DB_REQUIRED_AT_START", "no", "DB_REQUIRED_AT_START (MODERATION_DB_REQUIRED_AT_START) is 'no'; it must be true or false"),
        ("MODERATION_SESSION_COOKIE_SECURE", "False", "SESSION_COOKIE_SECURE (MODERATION_SESSION_COOKIE_SECURE) is 'False'; it must be true or false"),
        ("MODERATION_SESSION_COOKIE_SAMESITE", "lux", "it must be one of Lax, Strict, None"),
        ("MODERATION_PERMANENT_SESSION_LIFETIME", "8h", "PERMANENT_SESSION_LIFETIME (MODERATION_PERMANENT_SESSION_LIFETIME) is '8h'; it must be a whole number"),
        ("MODERATION_SECRET_KEY", "12345", "SECRET_KEY (MODERATION_SECRET_KEY) is a number (value withheld); it must be a string (quote one"),
        ("MODERATION_DB_URL", "5432", "DB_URL (MODERATION_DB_URL) is the number 5432; it must be a string"),
        ("MODERATION_HOST", "0", "HOST (MODERATION_HOST) is the number 0; it must be a string"),
        ("MODERATION_MODEL", "3", "MODEL (MODERATION_MODEL) is the number 3; it must be a file or folder path (quote one"),
        ("MODERATION_DECISION_SPOOL_DIR", "true", "DECISION_SPOOL_DIR (MODERATION_DECISION_SPOOL_DIR) is true (a boolean)"),
        ("MODERATION_RATELIMIT_STORAGE_URI", "localhost:6379", "RATELIMIT_STORAGE_URI (MODERATION_RATELIMIT_STORAGE_URI) is 'localhost:6379'; it must be memory://"),
        ("MODERATION_RATELIMIT_STORAGE_URI", "redis:/127.0.0.1", "it must be memory:// (each worker counts alone) or a storage URL such as redis://"),
    ],
)
def test_a_bad_setting_is_one_line_naming_it(monkeypatch, variable, raw, message):
    monkeypatch.setenv(variable, raw)
    with pytest.raises(ConfigError) as raised:
        load_config()
    assert message in str(raised.value)
    assert "\n" not in str(raised.value)


def test_the_app_refuses_a_numeric_coral_secret_at_start(tiny_bundle_path, monkeypatch):
    monkeypatch.setenv("MODERATION_CORAL_SECRET", "12345")
    with pytest.raises(ConfigError, match="CORAL_SECRET"):
        create_app({"TESTING": True, "MODEL": str(tiny_bundle_path), "DB_URL": "sqlite://"})


@pytest.mark.parametrize("secret", ['"12345"', "whsec_abc", '["old", "new"]'])
def test_string_secrets_and_lists_of_them_are_accepted(monkeypatch, secret):
    monkeypatch.setenv("MODERATION_CORAL_SECRET", secret)
    assert load_config()["CORAL_SECRET"] in ("12345", "whsec_abc", ["old", "new"])


def test_serve_stops_with_one_line_and_status_2(runner):
    result = runner.invoke(cli, ["serve", "--port", "0"], env={"MODERATION_CORAL_SECRET": "98765"})
    assert result.exit_code == 2
    assert "Error: setting CORAL_SECRET (MODERATION_CORAL_SECRET) is a number (value withheld)" in result.output
    assert "98765" not in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize(("host", "needs"), [("", "a non-empty string"), (" 127.0.0.1", "written without spaces")])
def test_serve_names_the_option_a_bad_setting_came_from(runner, monkeypatch, host, needs):
    """``--host ''`` was reported as MODERATION_HOST, a variable the operator had not set, and may look for in vain."""
    monkeypatch.delenv("MODERATION_HOST", raising=False)
    result = runner.invoke(cli, ["serve", "--port", "0", "--host", host])
    assert result.exit_code == 2
    assert f"Error: setting HOST (--host) is {host!r}; it must be {needs}" in result.output
    assert "MODERATION_HOST" not in result.output


def test_the_defaults_pass():
    load_config()


@pytest.mark.parametrize(
    ("variable", "raw", "setting", "value"),
    [
        ("MODERATION_LOG_LEVEL", "warning", "LOG_LEVEL", "warning"),  # logging upper-cases it
        ("MODERATION_SESSION_COOKIE_SAMESITE", "strict", "SESSION_COOKIE_SAMESITE", "strict"),
        ("MODERATION_SECRET_KEY", '"12345"', "SECRET_KEY", "12345"),
        ("MODERATION_MODEL", "2.8.0", "MODEL", "2.8.0"),
        ("MODERATION_RATELIMIT_STORAGE_URI", "rediss://cache.internal:6380/1", "RATELIMIT_STORAGE_URI", "rediss://cache.internal:6380/1"),
        ("MODERATION_DB_MIN_FREE_MIB", "0", "DB_MIN_FREE_MIB", 0),
    ],
)
def test_good_values_of_the_newly_checked_settings_pass(monkeypatch, variable, raw, setting, value):
    monkeypatch.setenv(variable, raw)
    assert load_config()[setting] == value


def test_key_char_limit_needs_room_for_one_request_of_max_request_chars_only():
    # A request carries at most MAX_REQUEST_CHARS, not MAX_COMMENTS_PER_REQUEST x MAX_COMMENT_CHARS (2,000,000).
    config = load_config({"KEY_CHAR_LIMIT": "40000 per minute", "MAX_REQUEST_CHARS": 40_000})
    assert config["KEY_CHAR_LIMIT"] == "40000 per minute"
    with pytest.raises(ConfigError, match="KEY_CHAR_LIMIT .* must allow at least one full request, 50000 characters"):
        load_config({"KEY_CHAR_LIMIT": "40000 per minute", "MAX_REQUEST_CHARS": 50_000})
    # Lowered together, a smaller request cap passes: one comment of the longest accepted still fits.
    assert load_config({"MAX_REQUEST_CHARS": 5_000, "MAX_COMMENT_CHARS": 5_000, "PERSPECTIVE_MAX_TEXT_CHARS": 5_000})["MAX_REQUEST_CHARS"] == 5_000


def test_a_path_object_from_the_command_line_passes(tmp_path):
    assert load_config({"MODEL": tmp_path})["MODEL"] == tmp_path


def test_a_spool_folder_setting_that_names_a_file_is_refused(tmp_path):
    """DECISION_SPOOL_DIR naming a file: `db prune` and `db forget` swept "0 spooled rows" of it and exited 0."""
    (tmp_path / "spool").write_text("not a folder", encoding="utf-8")
    with pytest.raises(ConfigError, match="DECISION_SPOOL_DIR .* must be a folder, not a file"):
        load_config({"DECISION_SPOOL_DIR": str(tmp_path / "spool")})
    assert load_config({"DECISION_SPOOL_DIR": str(tmp_path / "new")})["DECISION_SPOOL_DIR"] == str(tmp_path / "new")


def test_checking_the_settings_registers_no_metrics():
    # The server's master checks the settings before it sets up Prometheus' multiprocess mode; a metric registered
    # earlier (by importing service.coral for a setting's choices, once) counts per worker, not across them.
    import subprocess
    import sys

    code = "import sys; from service.config import load_config; load_config(); print('service.metrics' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert done.stdout.strip() == "False"


# SIGN_IN_RATE_LIMIT: checked with the other settings, not when the moderation page is set up


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("often", "setting SIGN_IN_RATE_LIMIT (MODERATION_SIGN_IN_RATE_LIMIT) is 'often'; it must be a rate limit like '10 per minute'"),
        ("0 per minute", "SIGN_IN_RATE_LIMIT (MODERATION_SIGN_IN_RATE_LIMIT) is '0 per minute'; it must be a rate limit "
                         "allowing at least 1 per window, like '10 per minute' (0 refuses everything)"),
        ("10", "SIGN_IN_RATE_LIMIT (MODERATION_SIGN_IN_RATE_LIMIT) is the number 10; it must be a rate limit like '10 per minute'"),
    ],
)
def test_a_bad_sign_in_rate_limit_is_refused_with_the_other_settings(monkeypatch, raw, message):
    monkeypatch.setenv("MODERATION_SIGN_IN_RATE_LIMIT", raw)
    with pytest.raises(ConfigError) as raised:
        load_config()  # no app, no blueprint: the settings alone
    assert message in str(raised.value)


def test_serve_refuses_a_bad_sign_in_rate_limit_before_it_opens_the_database(runner, tmp_path):
    database = tmp_path / "never.db"
    result = runner.invoke(cli, ["serve", "--port", "0"], env={"MODERATION_SIGN_IN_RATE_LIMIT": "often",
                                                               "MODERATION_DB_URL": f"sqlite:///{database}"})
    assert result.exit_code == 2
    assert "Error: setting SIGN_IN_RATE_LIMIT (MODERATION_SIGN_IN_RATE_LIMIT) is 'often'" in result.output
    assert not database.exists()  # refused before create_app migrated (created) the database


def test_a_good_sign_in_rate_limit_still_limits_sign_ins(tiny_bundle_path):
    app = create_app({"TESTING": True, "MODEL": str(tiny_bundle_path), "DB_URL": "sqlite://", "SIGN_IN_RATE_LIMIT": "1 per minute; 5 per hour"})
    client = app.test_client()
    assert [sign_in(client, "nobody", "wrong password").status_code for _ in range(2)] == [401, 429]


# MAX_CONTENT_LENGTH against MAX_REQUEST_CHARS: a warning, not an error


EMOJI = "\U0001F600"
"""One character to MAX_REQUEST_CHARS; 12 bytes of JSON as Python's json.dumps writes it (\\ud83d\\ude00)."""
CHARS = 1_000
JSON_ROOM = 200
"""Bytes of a one-comment /v1/moderate body around its text."""


def _small_text_limits(body_bytes: int) -> dict:
    return {"TESTING": True, "DB_URL": "sqlite://", "AUTH_REQUIRED": False, "MAX_REQUEST_CHARS": CHARS,
            "MAX_COMMENT_CHARS": CHARS, "PERSPECTIVE_MAX_TEXT_CHARS": CHARS, "MAX_CONTENT_LENGTH": body_bytes}


@pytest.fixture
def config_warnings(monkeypatch, caplog):
    """The warnings load_config logs from now on (the process logs each only once)."""
    import logging

    import service.config

    monkeypatch.setattr(service.config, "_WARNED", set())
    caplog.set_level(logging.WARNING, logger="service.config")
    return lambda: [record.getMessage() for record in caplog.records if record.name == "service.config"]


def test_a_body_limit_too_small_for_the_text_limit_is_warned_about(config_warnings):
    load_config({"MAX_CONTENT_LENGTH": 1_000_000})
    (warning,) = [message for message in config_warnings() if message.startswith("MAX_CONTENT_LENGTH")]
    assert warning.startswith("MAX_CONTENT_LENGTH (1000000 bytes) is too small for MAX_REQUEST_CHARS (100000) characters")
    assert "set MAX_CONTENT_LENGTH to at least 1200000" in warning
    assert "\n" not in warning


def test_the_default_limits_and_a_body_limit_at_the_bound_are_not_warned_about(config_warnings):
    load_config()
    load_config({"MAX_CONTENT_LENGTH": 1_200_000})
    assert not [message for message in config_warnings() if "MAX_CONTENT_LENGTH" in message]


@pytest.mark.parametrize(("bytes_per_char", "status", "warned"), [(12, 200, False), (4, 413, True)])
def test_the_warned_bound_carries_the_longest_text_as_python_clients_send_it(tiny_bundle_path, config_warnings,
                                                                               bytes_per_char, status, warned):
    # UTF-8's 4 bytes a character is not enough: json.dumps escapes an emoji as two \uXXXX, 12 bytes.
    import json

    app = create_app({**_small_text_limits(CHARS * bytes_per_char + JSON_ROOM), "MODEL": str(tiny_bundle_path)})
    body = json.dumps({"comments": [{"id": "c", "text": EMOJI * CHARS}]})
    assert len(body) <= CHARS * 12 + JSON_ROOM
    response = app.test_client().post("/v1/moderate", data=body, content_type="application/json")
    assert response.status_code == status, response.get_json()
    assert any("MAX_CONTENT_LENGTH" in message for message in config_warnings()) is warned
