"""Settings from one place: defaults, then the MODERATION_CONFIG file, then MODERATION_* variables, then code."""

from __future__ import annotations

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
    [("missing.toml", None, "no such file"), ("bad.toml", "workers = [", "not valid TOML"), ("settings.yaml", "a: 1", "use a .toml or .py file"), ("bad.py", "x = (", "cannot be read")],
)
def test_a_bad_config_file_is_a_config_error(tmp_path, monkeypatch, name, content, message):
    path = tmp_path / name
    if content is not None:
        path.write_text(content, encoding="utf-8")
    monkeypatch.setenv("MODERATION_CONFIG", str(path))
    with pytest.raises(ConfigError, match=message):
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
