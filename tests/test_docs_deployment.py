"""docs/deployment.md and docs/archive-scoring.md say what the code does: settings, commands, snippets and figures.

Every ``MODERATION_*`` variable and every setting name in backticks is one ``service.config`` reads; every
``moderate ...`` line of a code block parses with the real CLI, and every ``moderate ...`` named in the text is a
real command with real options; the TOML example loads with ``load_config`` without a warning; the environment
file has no comment after a value (systemd would keep it); the systemd unit passes ``systemd-analyze verify`` (where
installed); the nginx block sets the headers ``TRUSTED_PROXY_HOPS`` trusts, lets ``MAX_CONTENT_LENGTH`` through and
times out below ``TIMEOUT_SECONDS``; the figures quoted from the committed reports are the reports'.
"""

from __future__ import annotations

import configparser
import json
import re
import shlex
import shutil
import subprocess
import tomllib
from pathlib import Path

import click
import pytest
from flask import Flask

from service.cli import cli
from service.config import Defaults, load_config, unknown_file_keys, unknown_variables
from service.config_checks import setting_warnings
from service.limits import init_rate_limits

ROOT = Path(__file__).resolve().parents[1]
DEPLOYMENT = ROOT / "docs" / "deployment.md"
ARCHIVE = ROOT / "docs" / "archive-scoring.md"
DOCS = (DEPLOYMENT, ARCHIVE)
INSTALL_DIR = "/srv/moderation"
"""Where the deployment doc installs the clone; the unit is checked with this project's folder in its place."""

FENCED = re.compile(r"^```(\w*)\n(.*?)^```", re.M | re.S)
INLINE = re.compile(r"`([^`\n]+)`")
MODERATE = re.compile(r"(?:^|(?<=[\s/]))moderate\s+(.+)")
SUBSTITUTION = re.compile(r"\$\([^)]*\)")
COMMAND_END = re.compile(r"\s#\s|['\"`;|&]")
"""Where a ``moderate ...`` command ends on a line: a comment, a quote closing a ``sh -c``, ``;``, ``|``, ``&&``."""
SETTING_NAME = re.compile(r"`([A-Z][A-Z0-9_]*[A-Z0-9])[`=]")
NOT_SETTINGS = frozenset({"ERROR", "INFO", "WARNING", "GET", "POST", "NAME", "NA", "NUMBA_CACHE_DIR", "PROMETHEUS_MULTIPROC_DIR"})
"""Upper-case words the docs put in backticks that are not ours to read: log levels, HTTP methods, placeholders, a
CSV cell, other programs' variables."""
ENV_LINE = re.compile(r"([A-Z_][A-Z0-9_]*)='([^'\s]*)'")
"""``NAME='value'``: single-quoted, so that systemd's EnvironmentFile and ``sh`` read the same characters."""
PROXY_FIX_HEADERS = {"x_for": "X-Forwarded-For", "x_proto": "X-Forwarded-Proto", "x_host": "X-Forwarded-Host",
                     "x_port": "X-Forwarded-Port", "x_prefix": "X-Forwarded-Prefix"}
"""werkzeug's ProxyFix: the header each of its arguments trusts."""
NGINX_DIRECTIVE = re.compile(r"^\s*(\w+)\s+([^;]*);", re.M)
NGINX_SIZE_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3}
HELP = frozenset({"--help", "-h"})
NUMBER = re.compile(r"\d[\d,]*(?:\.\d+)?")


def read(doc: Path) -> str:
    return doc.read_text(encoding="utf-8")


def fenced_blocks(text: str, language: str | None = None) -> list[str]:
    """The bodies of the doc's code blocks (of one language when given)."""
    return [body for lang, body in FENCED.findall(text) if language is None or lang == language]


def prose(text: str) -> str:
    """The doc without its code blocks."""
    return FENCED.sub("", text)


def moderate_arguments(line: str) -> list[str] | None:
    """The words after ``moderate`` in a line of a code block or an inline span, None when it names no command."""
    found = MODERATE.search(SUBSTITUTION.sub("X", line))
    if found is None:
        return None
    words = shlex.split(COMMAND_END.split(found[1])[0])
    return words if words and not words[0].startswith(("(", ")")) else None


def code_commands(text: str) -> list[list[str]]:
    return [words for body in fenced_blocks(text) for line in body.splitlines()
            if not line.lstrip().startswith("#") and (words := moderate_arguments(line))]


def prose_commands(text: str) -> list[list[str]]:
    return [words for span in INLINE.findall(prose(text)) if (words := moderate_arguments(span))]


def resolve(words: list[str]) -> tuple[click.Command, str, list[str]]:
    """The ``moderate`` subcommand the words name, its full name and the words after it; UsageError if none."""
    command, name, rest = cli, "moderate", list(words)
    context = click.Context(cli, info_name="moderate")
    while isinstance(command, click.Group) and not (rest and rest[0] in HELP):
        if not rest or rest[0].startswith("-"):
            raise click.UsageError(f"`{name}` needs a subcommand")
        sub = command.get_command(context, rest[0])
        if sub is None:
            raise click.UsageError(f"`{name}` has no subcommand {rest[0]!r}")
        command, name, rest = sub, f"{name} {rest[0]}", rest[1:]
    return command, name, rest


def parse_command(words: list[str]) -> None:
    """Parse a whole command line as ``moderate`` would, without running it; UsageError naming the problem."""
    command, name, rest = resolve(words)
    if HELP & set(rest):
        return
    command.make_context(name, rest)


def check_named_command(words: list[str]) -> None:
    """A command named in the text, perhaps without its arguments: the command and every option it shows exist."""
    command, name, rest = resolve(words)
    known = {option for param in command.params for option in (*param.opts, *param.secondary_opts)} | HELP
    for word in rest:
        option = word.split("=", 1)[0]
        if option.startswith("-") and option not in known:
            raise click.UsageError(f"`{name}` has no option {option}")


def unknown_names(text: str) -> list[str]:
    """What ``service.config`` would warn about for the doc's ``MODERATION_*`` variables and backticked setting names."""
    variables = set(re.findall(r"MODERATION_[A-Z0-9_]*[A-Z0-9]", text))
    names = {name for name in SETTING_NAME.findall(text) if not name.startswith("MODERATION_") and name not in NOT_SETTINGS}
    return unknown_variables(dict.fromkeys(variables | {f"MODERATION_{name}" for name in names}, ""))


@pytest.mark.parametrize("doc", DOCS, ids=lambda doc: doc.name)
def test_every_variable_and_setting_the_docs_name_is_read(doc):
    assert unknown_names(read(doc)) == []


@pytest.mark.parametrize("doc", DOCS, ids=lambda doc: doc.name)
def test_every_moderate_command_line_in_a_code_block_parses(doc):
    commands = code_commands(read(doc))
    assert commands
    for words in commands:
        parse_command(words)


@pytest.mark.parametrize("doc", DOCS, ids=lambda doc: doc.name)
def test_every_moderate_command_named_in_the_text_exists_with_its_options(doc):
    commands = prose_commands(read(doc))
    assert commands
    for words in commands:
        check_named_command(words)


@pytest.mark.parametrize("text", ["`MODERATION_WORKERZ=4`", "`TRUSTED_PROXY_HOP`", "MODERATION_BUNDLE_DIR=/srv/bundles"])
def test_a_misspelt_variable_or_setting_is_caught(text):
    assert unknown_names(text)


@pytest.mark.parametrize("line", ["moderate serve --workerz 2", "moderate serve --port 99999", "moderate models use",
                                  "as_service .venv/bin/moderate keys create", "moderate db migrate"])
def test_a_command_line_that_would_not_run_is_caught(line):
    with pytest.raises(click.UsageError):
        parse_command(moderate_arguments(line))


@pytest.mark.parametrize("span", ["moderate model use", "moderate db prune --older 90d", "moderate serve --health 0"])
def test_a_command_named_in_the_text_that_does_not_exist_is_caught(span):
    with pytest.raises(click.UsageError):
        check_named_command(moderate_arguments(span))


def deployment_toml() -> str:
    blocks = fenced_blocks(read(DEPLOYMENT), "toml")
    assert len(blocks) == 1, "docs/deployment.md should show one TOML settings file"
    return blocks[0]


def test_the_toml_example_loads_without_a_warning_and_sets_what_it_says(tmp_path, monkeypatch):
    path = tmp_path / "moderation.toml"
    path.write_text(deployment_toml(), encoding="utf-8")
    values = tomllib.loads(deployment_toml())
    for name in values:  # the test session's own settings would win over the file's
        monkeypatch.delenv(f"MODERATION_{name.upper()}", raising=False)
    monkeypatch.setenv("MODERATION_CONFIG", str(path))
    config = load_config()
    assert unknown_file_keys(path, values) == []
    assert setting_warnings(config) == []
    assert {name.upper(): config[name.upper()] for name in values} == {name.upper(): value for name, value in values.items()}


def test_a_toml_example_with_a_misspelt_key_is_caught(tmp_path):
    values = tomllib.loads(deployment_toml().replace("trusted_proxy_hops", "trusted_proxy_hop"))
    assert unknown_file_keys(tmp_path / "moderation.toml", values)


def environment_file() -> list[str]:
    """The lines of the doc's environment file: the code block that sets ``MODERATION_CONFIG``."""
    blocks = [body for body in fenced_blocks(read(DEPLOYMENT), "sh") if body.startswith("MODERATION_CONFIG=")]
    assert len(blocks) == 1, "docs/deployment.md should show one environment file"
    return [line for line in blocks[0].splitlines() if line and not line.startswith("#")]


def test_the_environment_file_has_one_assignment_a_line_and_no_comment_after_a_value():
    lines = environment_file()
    assert [line for line in lines if not ENV_LINE.fullmatch(line)] == []
    assert "MODERATION_SECRET_KEY" in {line.split("=", 1)[0] for line in lines}  # several instances must share it


def test_the_shell_commands_read_the_environment_file_as_systemd_does(tmp_path):
    # Unquoted, `sh` ended the documented URL's options at '&' (MODERATION_DB_URL then unset: `keys create` and the
    # nightly prune ran on the clone's SQLite file) while systemd kept the whole value.
    lines = environment_file()
    path = tmp_path / "moderation.env"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert any("&" in ENV_LINE.fullmatch(line)[2] for line in lines)  # the example shows the case that differed
    script = f"set -a; . {shlex.quote(str(path))}; exec env"
    shown = dict(line.split("=", 1) for line in subprocess.run(["sh", "-c", script], capture_output=True, text=True,
                                                                  check=True, env={}).stdout.splitlines() if "=" in line)
    for line in lines:
        name, value = ENV_LINE.fullmatch(line).groups()
        assert shown.get(name) == value, line


def systemd_unit() -> str:
    blocks = [body for body in fenced_blocks(read(DEPLOYMENT), "ini") if "[Service]" in body]
    assert len(blocks) == 1, "docs/deployment.md should show one systemd unit"
    return blocks[0]


def test_the_unit_serves_reloads_with_sighup_and_stops_through_the_master():
    unit = configparser.ConfigParser(interpolation=None, comment_prefixes=("#", ";"), strict=False)
    unit.optionxform = str  # systemd's keys are case-sensitive
    unit.read_string(systemd_unit())
    service = unit["Service"]
    assert moderate_arguments(service["ExecStart"]) == ["serve"]
    assert service["ExecReload"] == "/bin/kill -HUP $MAINPID"  # service.server: SIGHUP swaps in bundles/CURRENT
    assert service["KillMode"] == "mixed"  # SIGTERM to gunicorn's master alone, which stops its workers gracefully
    assert service["User"] != "root"


def test_the_unit_waits_for_the_workers_to_finish_their_requests_before_killing_them():
    """systemd kills what is left after TimeoutStopSec: a worker finishing a request may take up to TIMEOUT_SECONDS
    (gunicorn's graceful timeout), so the unit must wait longer, or a slow request is cut at every stop and restart."""
    from service.config import Defaults

    unit = configparser.ConfigParser(interpolation=None, comment_prefixes=("#", ";"), strict=False)
    unit.optionxform = str
    unit.read_string(systemd_unit())
    assert int(unit["Service"]["TimeoutStopSec"]) > Defaults.TIMEOUT_SECONDS


def verify_unit(unit: str, folder: Path) -> tuple[int, str]:
    """``systemd-analyze verify`` of the unit, with this project in place of the install folder: exit status, output."""
    environment = folder / "moderation.env"
    environment.write_text("\n".join(environment_file()) + "\n", encoding="utf-8")
    path = folder / "moderation.service"
    path.write_text(unit.replace("/etc/moderation/moderation.env", str(environment)).replace(INSTALL_DIR, str(ROOT)), encoding="utf-8")
    result = subprocess.run(["systemd-analyze", "verify", str(path)], capture_output=True, text=True, timeout=60)
    return result.returncode, result.stdout + result.stderr


needs_systemd_analyze = pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")


@needs_systemd_analyze
def test_the_systemd_unit_verifies_without_a_warning(tmp_path):
    assert verify_unit(systemd_unit(), tmp_path) == (0, "")


@needs_systemd_analyze
@pytest.mark.parametrize("old, new", [("KillMode=mixed", "KillMod=mixed"), ("Type=notify", "Type=notifyy"),
                                      ("/.venv/bin/moderate", "/.venv/bin/moderat")])
def test_a_unit_systemd_would_not_take_as_written_is_caught(tmp_path, old, new):
    assert verify_unit(systemd_unit().replace(old, new), tmp_path) != (0, "")


def nginx_directives() -> list[tuple[str, str]]:
    blocks = fenced_blocks(read(DEPLOYMENT), "nginx")
    assert len(blocks) == 1, "docs/deployment.md should show one nginx configuration"
    return [(name, value.strip()) for name, value in NGINX_DIRECTIVE.findall(blocks[0])]


def nginx_size(value: str) -> int:
    number, unit = re.fullmatch(r"(\d+)([kKmMgG]?)", value).groups()
    return int(number) * NGINX_SIZE_UNITS[unit.lower()]


def trusted_headers() -> set[str]:
    """The X-Forwarded-* headers the app reads with one trusted proxy (``service.limits.init_rate_limits``)."""
    app = Flask(__name__)
    app.config.from_mapping(load_config({"TRUSTED_PROXY_HOPS": 1}))
    init_rate_limits(app)
    return {header for argument, header in PROXY_FIX_HEADERS.items() if getattr(app.wsgi_app, argument)}


def test_nginx_replaces_every_forwarded_header_the_service_trusts():
    headers = dict(value.split(None, 1) for name, value in nginx_directives() if name == "proxy_set_header")
    assert trusted_headers() <= set(headers)
    assert headers["X-Forwarded-For"] == "$remote_addr"  # replaced: $proxy_add_x_forwarded_for would keep the client's


def test_nginx_lets_the_largest_body_through_and_times_out_before_gunicorn():
    directives = dict(nginx_directives())
    assert nginx_size(directives.get("client_max_body_size", "1m")) >= Defaults.MAX_CONTENT_LENGTH  # nginx's default: 1m
    assert int(directives["proxy_read_timeout"].removesuffix("s")) < Defaults.TIMEOUT_SECONDS


def report(name: str) -> dict:
    return json.loads((ROOT / "reports" / name).read_text(encoding="utf-8"))


def level(results: dict, concurrency: int) -> dict:
    return next(row for row in results["single_comment"] if row["concurrency"] == concurrency)


SIZING_ROWS = {
    "one-comment requests / s at": lambda results: [row["requests_per_second"] for row in results["single_comment"]],
    "p99 at 8 concurrent clients": lambda results: [level(results, 8)["p99_ms"]],
    "comments / s in requests of 100": lambda results: [results["batch"]["comments_per_second"]],
    "server CPU per one-comment request (8 clients)": lambda results: [level(results, 8)["server_cpu_ms_per_request"]],
    "resident memory": lambda results: [*results["server"]["rss_after_runs"]["worker_mib"], results["server"]["rss_after_runs"]["master_mib"]],
}
"""Rows of the sizing table and the figures of ``service.loadtest``'s JSON report they quote."""


def sizing_table() -> dict[str, list[str]]:
    text = read(DEPLOYMENT)
    table = text[text.index("## Sizing"):text.index("## One instance")]
    return {cells[0]: cells[1:] for line in table.splitlines() if line.startswith("| ") and len(cells := [cell.strip() for cell in line.strip("|").split("|")]) == 3}


def numbers(text: str) -> list[float]:
    return [float(number.replace(",", "")) for number in NUMBER.findall(text)]


@pytest.mark.parametrize("row", SIZING_ROWS)
def test_the_sizing_figures_are_those_of_the_load_test_reports(row):
    table = sizing_table()
    label = next(label for label in table if label.startswith(row))
    for cell, name in zip(table[label], ("bench_service.json", "bench_service_cascade.json"), strict=True):
        assert numbers(cell) == pytest.approx(SIZING_ROWS[row](report(name)), abs=0.5), (label, name)  # RSS is quoted in whole MiB
    if row == "one-comment requests / s at":
        assert numbers(label) == [level["concurrency"] for level in report("bench_service.json")["single_comment"]]


def test_the_archive_doc_quotes_the_encoder_and_cascade_batch_rates_of_the_reports():
    quoted = re.search(r"`reports/bench.md` against `reports/bench_cascade.md`[^:]*: ([\d.,]+) against ([\d.,]+) comments/s",
                       read(ARCHIVE))
    assert quoted is not None
    measured = [report(name)["throughput"]["ours_moderate_batch"]["comments_per_second"] for name in ("bench.json", "bench_cascade.json")]
    assert numbers(" ".join(quoted.groups())) == pytest.approx(measured, abs=0.05)


def test_the_request_cost_figures_are_those_of_the_report():
    """docs/deployment.md quotes the seconds of every request of ``reports/request_cost.json``, and docs/api.md those
    of its two long comments."""
    timed = report("request_cost.json")["requests"]
    text = " ".join(read(DEPLOYMENT).split())
    quoted = text[text.index("at 100,000 characters:"):text.index("Without the cap")]
    seconds = [float(number) for number in re.findall(r"(\d+\.\d+)(?= s\b| and \d+\.\d+ s\b)", quoted)]
    assert sorted(seconds) == sorted(round(r["seconds"], 1) for r in timed if r["kind"] == "request")
    api = " ".join((ROOT / "docs" / "api.md").read_text(encoding="utf-8").split())
    long_ones = re.search(r"one news comment took ([\d.]+) s for 5,000 characters and ([\d.]+) s for 20,000", api)
    assert long_ones is not None
    assert [float(value) for value in long_ones.groups()] == [round(r["seconds"], 2) for r in timed if r["kind"] == "one comment"]
