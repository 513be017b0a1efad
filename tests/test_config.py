"""Settings from one place: defaults, then the MODERATION_CONFIG file, then MODERATION_* variables, then code."""

from __future__ import annotations

import re

import pytest

from service.config import ConfigError, Defaults, load_config


def test_defaults_are_safe():
    config = load_config()
    assert (config["HOST"], config["AUTH_REQUIRED"], config["STORE_TEXT"], config["LOG_TEXT"]) == ("127.0.0.1", True, False, False)
    assert config["RATELIMIT_STORAGE_URI"] == "memory://"


def test_file_then_environment_then_overrides(tmp_path, monkeypatch):
    path = tmp_path / "moderation.toml"
    path.write_text('workers = 4\nport = 9000\nrate_limit = "5 per second"\nstore_text = true\n', encoding="utf-8")
    monkeypatch.setenv("MODERATION_CONFIG", str(path))
    monkeypatch.setenv("MODERATION_PORT", "9100")
    config = load_config({"WORKERS": 3})
    assert (config["WORKERS"], config["PORT"], config["RATE_LIMIT"], config["STORE_TEXT"]) == (3, 9100, "5 per second", True)
    assert config["MAX_COMMENT_CHARS"] == Defaults.MAX_COMMENT_CHARS
    assert "CONFIG" not in config


def test_a_python_config_file(tmp_path, monkeypatch):
    path = tmp_path / "settings.py"
    path.write_text("RATE_LIMIT = '10 per second'\nlowercase_is_ignored = 1\n", encoding="utf-8")
    monkeypatch.setenv("MODERATION_CONFIG", str(path))
    config = load_config()
    assert config["RATE_LIMIT"] == "10 per second"
    assert "lowercase_is_ignored" not in config and "LOWERCASE_IS_IGNORED" not in config


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [("missing.toml", None, "no such file"), ("bad.toml", "workers = [", "not valid TOML"), ("settings.yaml", "a: 1", "use a .toml or .py file"), ("bad.py", "x = (", "cannot be read"),
     # Code that raises once stopped `moderate serve` with a traceback.
     ("raises.py", "WORKERS = FOUR\n", "raises.py: its code stops with NameError: name 'FOUR' is not defined$")],
)
def test_a_bad_config_file_is_a_config_error(tmp_path, monkeypatch, name, content, message):
    path = tmp_path / name
    if content is not None:
        path.write_text(content, encoding="utf-8")
    monkeypatch.setenv("MODERATION_CONFIG", str(path))
    with pytest.raises(ConfigError, match=message):
        load_config()


def test_a_toml_file_giving_one_setting_under_two_keys_is_a_config_error(tmp_path, monkeypatch):
    """``port`` and ``PORT`` are two TOML keys but one setting: the later one was used without a word."""
    path = tmp_path / "moderation.toml"
    path.write_text("port = 8000\nworkers = 2\nPORT = 9000\n", encoding="utf-8")
    monkeypatch.setenv("MODERATION_CONFIG", str(path))
    with pytest.raises(ConfigError, match=rf"^MODERATION_CONFIG={re.escape(str(path))}: port and PORT both set PORT "
                                          r"\(keys are read in any case\): keep one$"):
        load_config()


def test_a_misspelt_variable_is_named_with_the_setting_it_resembles():
    from service.config import unknown_variables

    environ = {"MODERATION_STORE_TXT": "true", "MODERATION_STORE_TEXT": "true", "PATH": "/bin",
               "MODERATION_RATELIMIT_STRATEGY": "moving-window",  # Flask-Limiter's own: passed on
               "MODERATION_SESSION_COOKIE_DOMAIN": "news.example",  # Flask's own
               "MODERATION_DATA_DIR": "/data", "MODERATION_TEST_PG_URL": "postgresql://"}  # not settings
    assert unknown_variables(environ) == [
        "MODERATION_STORE_TXT is not a setting and is ignored (did you mean MODERATION_STORE_TEXT?); "
        "the settings are those of service/config.py"]


@pytest.mark.parametrize(
    ("variable", "meant"),
    [
        # Environment variables are case-sensitive: these were read by nothing, and nothing said so (the lower-case
        # prefix), or said so without naming the setting (the lower-case name).
        ("moderation_workers", "MODERATION_WORKERS"),
        ("Moderation_Auth_Required", "MODERATION_AUTH_REQUIRED"),
        ("MODERATION_workers", "MODERATION_WORKERS"),
        ("moderation_config", "MODERATION_CONFIG"),
    ],
)
def test_a_variable_in_the_wrong_case_is_named_with_the_one_read(variable, meant):
    from service.config import unknown_variables

    (warning,) = unknown_variables({variable: "4", "PATH": "/bin", "modern": "x"})
    assert warning.startswith(f"{variable} is ") and f"(did you mean {meant}?)" in warning


@pytest.mark.parametrize(
    ("variable", "setting"),
    [
        # Prefixes of Flask's and Flask-Limiter's settings once passed any name on: the limits counted in each
        # worker, not in Redis, without a word.
        ("MODERATION_RATELIMIT_STORAGE_URL", "MODERATION_RATELIMIT_STORAGE_URI"),
        ("MODERATION_RATELIMIT_HEADER_ENABLED", "MODERATION_RATELIMIT_HEADERS_ENABLED"),
        ("MODERATION_SESSION_COOKIE_SECUR", "MODERATION_SESSION_COOKIE_SECURE"),
        ("MODERATION_PERMANENT_SESSION_LIFETIM", "MODERATION_PERMANENT_SESSION_LIFETIME"),
    ],
)
def test_a_misspelt_flask_or_limiter_name_is_warned_about(variable, setting):
    from service.config import unknown_variables

    assert unknown_variables({variable: "x"}) == [
        f"{variable} is not a setting and is ignored (did you mean {setting}?); the settings are those of service/config.py"]


def test_a_misspelt_flask_limiter_name_in_a_toml_file_is_warned_about(tmp_path):
    from service.config import unknown_file_keys

    path = tmp_path / "moderation.toml"
    warnings = unknown_file_keys(path, {"ratelimit_storage_url": "redis://10.0.0.3:6379/0", "ratelimit_strategy": "moving-window",
                                        "session_cookie_domain": "news.example"})
    assert warnings == [f"MODERATION_CONFIG={path}: ratelimit_storage_url is not a setting and is ignored (did you mean "
                        "RATELIMIT_STORAGE_URI?); the settings are those of service/config.py"]


@pytest.mark.parametrize("variable", ["MODERATION_WORKERS__MAX", "MODERATION_RATE_LIMIT__API", "MODERATION_CORAL_SECRET__OLD"])
def test_a_double_underscore_after_a_setting_is_one_line_not_a_traceback(monkeypatch, variable):
    # Flask sets a key inside the setting's value: a TypeError traceback at start ('int' object does not support item assignment).
    monkeypatch.setenv(variable, "3")
    setting = variable.removeprefix("MODERATION_").partition("__")[0]
    with pytest.raises(ConfigError, match=rf"^{variable} is not a setting \(a double underscore names a key inside a "
                                          rf"setting, and {setting} has none\): write MODERATION_{setting}$"):
        load_config()
