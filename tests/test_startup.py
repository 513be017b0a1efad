"""Fast start (issue 16): ``moderate --help`` loads only click and the CLI, ``moderate score --text`` only what scoring
needs; the start-up report (``model.evaluation.startup``).

Each check runs the command in a fresh interpreter and reads ``sys.modules`` there: what this test process has
imported already would hide an import.
"""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys

import click
import pytest
from click.testing import CliRunner

from model.evaluation.startup import PHASE_NAMES, phase_seconds, run_startup, startup_markdown
from service.cli import cli

HEAVY = ("numpy", "scipy", "pandas", "pyarrow", "sklearn", "joblib", "numba", "onnxruntime", "tokenizers", "flask",
         "werkzeug", "sqlalchemy", "alembic", "gunicorn", "dask", "distributed", "torch", "transformers", "matplotlib",
         "model")
"""Top-level packages a ``--help`` must not import (``model``: the serving core pulls in scikit-learn)."""
NOT_FOR_SCORING = ("model.training", "model.evaluation", "service.app", "service.archive", "service.tables",
                   "service.table_reader", "service.table_writer", "flask", "sqlalchemy", "gunicorn", "dask",
                   "distributed", "torch", "transformers", "matplotlib")
"""What ``score --text`` has no use for: training and evaluation code, the web service, archives, Dask, torch."""
NO_KEY_WORD = "Thanks for the article, you are an idiot."
"""Hostile, but with none of ``model.threats._KEY_WORDS``: the threat phrases are not needed."""

_RUN = """
import atexit, gc, json, sys

def report():  # registered first, so run last at exit
    threats = sys.modules.get("model.threats")
    print(json.dumps({"modules": sorted(sys.modules), "frozen_at_exit": gc.get_freeze_count(),
                      "threat_pattern_compiled": None if threats is None else threats.threat_pattern.cache_info().currsize > 0}))

atexit.register(report)
from service.cli import cli
for args in json.loads(sys.argv[1]):
    try:
        cli.main(args, prog_name="moderate", standalone_mode=False)
    except SystemExit:
        pass
"""


def run_fresh(*commands: list[str], env: dict | None = None) -> tuple[dict, str]:
    """Run ``moderate`` with each argument list in turn, in one new interpreter; return what it had imported and its output."""
    result = subprocess.run([sys.executable, "-c", _RUN, json.dumps(commands)], capture_output=True, text=True,
                            check=True, timeout=300, env=env)
    *output, last = result.stdout.strip().splitlines()
    return json.loads(last), "\n".join(output)


def reached(modules: list[str], packages: tuple[str, ...]) -> list[str]:
    """The modules that are one of ``packages`` or inside one."""
    return sorted(m for m in modules if any(m == p or m.startswith(p + ".") for p in packages))


def help_commands(group: click.Group = cli, prefix: tuple[str, ...] = ()) -> list[list[str]]:
    """``--help`` of the group and of every command and subcommand under it."""
    found = [[*prefix, "--help"]]
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            found += help_commands(command, (*prefix, name))
        else:
            found.append([*prefix, name, "--help"])
    return found


def test_every_help_imports_only_click_and_the_cli():
    commands = help_commands()
    assert ["score", "--help"] in commands and ["keys", "create", "--help"] in commands
    loaded, output = run_fresh(*commands)
    assert output.count("Usage: moderate") == len(commands)
    assert reached(loaded["modules"], HEAVY) == []
    assert {m.split(".")[0] for m in loaded["modules"]} >= {"click", "service"}


@pytest.mark.parametrize("bundle", ["tiny", "committed"])
def test_score_text_imports_only_what_scoring_needs(bundle, tiny_bundle_path):
    """The committed bundle too: its encoder brings onnxruntime, and nothing else should come with it."""
    model_args = ["--model", str(tiny_bundle_path)] if bundle == "tiny" else []
    loaded, output = run_fresh(["score", "--text", NO_KEY_WORD, *model_args])
    decision = json.loads(output)
    assert decision["decision"] in {"approve", "review", "reject"} and decision["scores"]
    assert reached(loaded["modules"], NOT_FOR_SCORING) == []
    assert "model.scoring" in loaded["modules"]
    assert loaded["threat_pattern_compiled"] is False
    # Left to the operating system at exit: Python's final collection would walk the whole model (about 1 s).
    assert loaded["frozen_at_exit"] > 100_000


def test_score_text_leaves_garbage_collection_as_it_found_it(tiny_bundle_path):
    """``--text`` pauses the collector while it loads and scores; a caller's process (CliRunner) gets it back, and
    nothing is frozen before it exits."""
    assert gc.isenabled()
    try:
        result = CliRunner().invoke(cli, ["score", "--text", NO_KEY_WORD, "--model", str(tiny_bundle_path)])
        assert result.exit_code == 0, result.output
        assert gc.isenabled() and gc.get_freeze_count() == 0
    finally:
        gc.enable()  # the rest of the session, should this test fail


def test_the_start_up_report_times_each_phase_in_new_processes(tiny_bundle_path):
    results = run_startup(tiny_bundle_path, repeats=1, cold_kernel_cache=False)
    phases = results["phases"]
    # The phases follow one another from the child's start; the last, the rest of its wall clock, is positive too.
    assert all(phases[key] > 0 for key in PHASE_NAMES)
    assert phases["kernels"]["cache_hits"] > 0 and phases["kernels"]["compiled"] == 0
    assert results["command_seconds"]["score_text"] > results["command_seconds"]["help"] > 0
    assert results["import_seconds_score_text"]["total"] >= max(results["import_seconds_score_text"]["top"].values()) > 0
    report = "\n".join(startup_markdown(results))
    assert all(name in report for name in PHASE_NAMES.values()) and "empty kernel cache" not in report


def test_an_empty_kernel_cache_is_measured_as_compiling(tiny_bundle_path, tmp_path):
    """What the first start after an install pays: every kernel compiled, none read."""
    phases = phase_seconds(tiny_bundle_path, repeats=1, env={**os.environ, "NUMBA_CACHE_DIR": str(tmp_path)})
    assert phases["kernels"]["compiled"] > 0 and phases["kernels"]["cache_hits"] == 0
    assert phases["kernels"]["cache_path"].startswith(str(tmp_path))
