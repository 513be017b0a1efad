"""Every setting given a wrong value in the environment or a TOML file: refused at start in one line naming it."""

from __future__ import annotations

import json
import logging
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest

from service.app import create_app
from service.config import _WARNED, ConfigError, Defaults, load_config


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
        ("MODERATION_LOG_LEVEL", "null", "LOG_LEVEL (MODERATION_LOG_LEVEL) is null; it must be one of DEBUG, INFO"),
        ("MODERATION_CORAL_BODY_FORMAT", "null", "CORAL_BODY_FORMAT (MODERATION_CORAL_BODY_FORMAT) is null; it must be one of HTML, PLAIN_TEXT"),
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
        ('db_url = "moderation.db"', "DB_URL (in MODERATION_CONFIG={path}) is 'moderation.db'; it must be a database URL"),
        ('decision_spool_dir = ""', "DECISION_SPOOL_DIR (in MODERATION_CONFIG={path}) is ''"),
        ('coral_secret = ""', "CORAL_SECRET (in MODERATION_CONFIG={path}) is a string (value withheld)"),
        ('workers = "4"', "WORKERS (in MODERATION_CONFIG={path}) is '4'; it must be a whole number at least 1"),
    ],
)
def test_a_wrong_value_in_a_toml_file_is_refused_in_one_line(tmp_path, monkeypatch, text, message):
    """The message names the file the value is in: it named MODERATION_<NAME>, which the operator may not have set,
    and sent them looking in the environment for a value the file holds."""
    path = _toml(tmp_path, monkeypatch, text)
    with pytest.raises(ConfigError) as raised:
        load_config()
    assert message.format(path=path) in str(raised.value)


def test_a_wrong_value_in_a_python_settings_file_names_the_file(tmp_path, monkeypatch):
    path = tmp_path / "moderation.py"
    path.write_text('WORKERS = "4"\n', encoding="utf-8")
    monkeypatch.setenv("MODERATION_CONFIG", str(path))
    with pytest.raises(ConfigError, match=re.escape(f"setting WORKERS (in MODERATION_CONFIG={path}) is '4'")):
        load_config()


def test_a_wrong_value_in_the_environment_is_named_as_the_environments_though_the_file_has_the_setting(tmp_path, monkeypatch):
    _toml(tmp_path, monkeypatch, "workers = 4\n")
    monkeypatch.setenv("MODERATION_WORKERS", "0")
    with pytest.raises(ConfigError, match=re.escape("setting WORKERS (MODERATION_WORKERS) is the number 0")):
        load_config()


@pytest.mark.parametrize(
    ("variable", "raw"),
    [
        # A space copied in after the value: a new, empty SQLite file "moderation.db " served without a word (keys
        # made with the value as meant were then unknown), a spool folder or secret key file beside the real one.
        ("MODERATION_DB_URL", "sqlite:////srv/moderation/moderation.db "),
        ("MODERATION_DECISION_SPOOL_DIR", "/var/lib/moderation/spool "),
        ("MODERATION_SECRET_KEY_FILE", "/var/lib/moderation/secret_key\t"),
        ("MODERATION_HOST", " 0.0.0.0"),
        ("MODERATION_RATELIMIT_STORAGE_URI", "redis://10.0.0.3:6379/0 "),
    ],
)
def test_a_name_or_url_with_spaces_around_it_is_refused(monkeypatch, variable, raw):
    monkeypatch.setenv(variable, raw)
    setting = variable.removeprefix("MODERATION_")
    with pytest.raises(ConfigError, match=rf"^setting {setting} \({variable}\) is .*; it must be written without spaces "
                                          r"or line breaks at its start or end"):
        load_config()


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


# README's table of settings against service/config.py

README = Path(__file__).resolve().parents[1] / "README.md"
SETTINGS_HEADING = "## Settings"
SETTING_ROW = re.compile(r"^\| `([A-Z][A-Z0-9_]*)` \|([^|]*)\|", re.M)
"""A row of README's settings table: ``| `NAME` | default | meaning |``."""
LITERAL = re.compile(r"`([^`]+)`")


def settings_table(readme: str) -> dict[str, str]:
    """README's settings section as ``{setting: default cell}``; empty when it has none."""
    start = readme.find(f"\n{SETTINGS_HEADING}\n")
    if start < 0:
        return {}
    end = readme.find("\n## ", start + 1)
    return dict(SETTING_ROW.findall(readme[start : end if end >= 0 else None]))


def _same(written: Any, default: Any) -> bool:
    """Whether a value README writes is the default: 2 is 2.0, true is not 1."""
    if isinstance(default, bool) or isinstance(written, bool):
        return written is default
    if isinstance(default, int | float) and isinstance(written, int | float):
        return written == default
    return type(written) is type(default) and written == default


def _literals(cell: str) -> list[Any]:
    """The values a README cell writes as TOML literals in backticks (`100`, `"600 per minute"`, `true`, `8_388_608`)."""
    found = []
    for text in LITERAL.findall(cell):
        try:
            found.append(tomllib.loads(f"value = {text}")["value"])
        except tomllib.TOMLDecodeError:
            continue  # a name or a path, as in `PORT` + 1
    return found


def _row(name: str, default: Any) -> str:
    shown = "none: ..." if default is None else f"`{json.dumps(default)}`"
    return f"| `{name}` | {shown} | ... |"


def readme_problems(readme: str, defaults: dict[str, Any]) -> list[str]:
    """How README's settings table differs from ``defaults``: settings missing, names that are none, wrong defaults."""
    table = settings_table(readme)
    if not table:
        return [f"README.md has no '{SETTINGS_HEADING}' section with a | setting | default | meaning | table"]
    problems = [f"README.md lacks the setting {name}: add {_row(name, defaults[name])}" for name in sorted(set(defaults) - set(table))]
    problems += [f"README.md documents {name}, which is no setting of service/config.py" for name in sorted(set(table) - set(defaults))]
    for name in sorted(set(defaults) & set(table)):
        default = defaults[name]
        if default is not None and not any(_same(value, default) for value in _literals(table[name])):
            problems.append(f"README.md gives {name} the default {table[name].strip()!r}; it is {_row(name, default)}")
    return problems


def test_the_readme_documents_every_setting_with_its_default():
    # Fails until README.md has the section (none before): its message lists each row to add or fix.
    defaults = {name: getattr(Defaults, name) for name in dir(Defaults) if name.isupper()}
    problems = readme_problems(README.read_text(encoding="utf-8"), defaults)
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize(
    ("rows", "problem"),
    [
        ("| `PORT` | `8000` | |\n| `STORE_TEXT` | `false` | |\n| `MODEL` | none: the committed bundle | |", None),
        ("| `PORT` | `8_000` (the health port: `PORT` + 1) | |\n| `STORE_TEXT` | `false` | |\n| `MODEL` | | |", None),
        ("| `PORT` | `8080` | |\n| `STORE_TEXT` | `false` | |\n| `MODEL` | | |", "README.md gives PORT the default '`8080`'; it is | `PORT` | `8000` | ... |"),
        ("| `PORT` | `8000` | |\n| `STORE_TEXT` | `0` | |\n| `MODEL` | | |", "README.md gives STORE_TEXT the default '`0`'; it is | `STORE_TEXT` | `false` | ... |"),
        ("| `PORT` | `8000` | |\n| `STORE_TEXT` | `false` | |", "README.md lacks the setting MODEL: add | `MODEL` | none: ... | ... |"),
        ("| `PORT` | `8000` | |\n| `STORE_TEXT` | `false` | |\n| `MODEL` | | |\n| `WORKER` | `2` | |", "README.md documents WORKER, which is no setting of service/config.py"),
    ],
)
def test_a_readme_that_drifted_from_the_settings_is_caught(rows, problem):
    readme = f"# x\n\n{SETTINGS_HEADING}\n\n| setting | default | meaning |\n|---|---|---|\n{rows}\n\n## Next\n\n| `HOST` | `1` | |\n"
    assert readme_problems(readme, {"PORT": 8000, "STORE_TEXT": False, "MODEL": None}) == ([] if problem is None else [problem])
