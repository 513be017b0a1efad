"""Start-up of ``moderate``: how long ``moderate --help`` and ``moderate score --text`` take, and where the time goes.

Every figure comes from new processes, the median of ``REPEATS`` runs each:

- the wall clock of the commands themselves, from start to exit, as a user waits for them;
- the import time of ``score --text`` as ``python -X importtime`` has it (the sum over its top-level imports, those
  made while the bundle is unpickled included) and its heaviest top-level imports;
- the phases of ``score --text``, timed inside a child process that does what the command does
  (``model.evaluation.startup_phases``), the first from the moment the parent started it: interpreter start-up,
  the CLI's imports, the serving core's imports, the bundle load (SHA-256 checks, unpickling and the modules its
  classes live in, the ONNX session), the first decision (compiled kernels read from their on-disk cache, fitted
  vocabularies indexed), and output and exit;
- the same phases once with an empty kernel cache (``NUMBA_CACHE_DIR`` set to a new folder): what the first
  ``score --text`` after an install, or after ``model/kernels.py`` changed, pays to compile the kernels.

The kernels are cached beside ``model/kernels.py`` (``model/__pycache__/kernels.*.nbi`` and ``.nbc``), or in
``$NUMBA_CACHE_DIR`` when set, or in the user's cache folder when the code's folder is read-only.

Run ``python -m model.evaluation.startup [--out reports/startup.md]``; ``make bench`` reports it as part of
``model.evaluation.archive_bench``. The phases are timed by ``model.evaluation.startup_phases``.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import click

from model.evaluation.report_format import write_report

REPEATS = 3
TEXT = "Thanks for the article, you are an idiot."
"""Scored by ``score --text``: hostile, but without a threat key word (the common case: no threat pattern needed)."""
MODERATE = ("-m", "service.cli")
CHILD = "model.evaluation.startup_phases"
"""The child process that times the phases (stdlib imports only, so that it times every import of the command)."""
PHASE_NAMES = {
    "interpreter": "interpreter start-up",
    "cli_imports": "imports of the CLI (click, `service.cli`)",
    "core_imports": "imports of the serving core (`model.scoring`: scikit-learn, joblib)",
    "bundle_load": "bundle load (`Scorer.load`: SHA-256 checks, unpickling with the modules it needs, ONNX session)",
    "first_decision": "first decision (kernels from their cache, vocabulary indexes, encoder)",
    "exit": "output and exit (the rest of the wall clock)",
}
"""The phases in order: ``model.evaluation.startup_phases`` times all but the last."""
TOP_IMPORTS = 8


def command_seconds(args: Sequence[str], repeats: int = REPEATS, env: dict | None = None) -> float:
    """Median wall time of running ``moderate ARGS`` to its end."""
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        subprocess.run([sys.executable, *MODERATE, *args], check=True, capture_output=True, env=env)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def import_seconds(args: Sequence[str], repeats: int = REPEATS, env: dict | None = None) -> dict:
    """``python -X importtime`` of ``moderate ARGS``: the median total over top-level imports, and the heaviest of
    them (cumulative seconds, from the run with the median total)."""
    runs = []
    for _ in range(repeats):
        result = subprocess.run([sys.executable, "-X", "importtime", *MODERATE, *args], check=True,
                                capture_output=True, text=True, env=env)
        top: dict[str, float] = {}
        for line in result.stderr.splitlines():
            if not line.startswith("import time:") or "|" not in line:
                continue
            _, cumulative, name = line.split("|")
            if not name.startswith(" ") or name.startswith("  "):  # top-level imports only: one space of indent
                continue
            try:
                top[name.strip()] = top.get(name.strip(), 0.0) + int(cumulative) / 1e6
            except ValueError:  # the header line
                continue
        runs.append((sum(top.values()), top))
    total, top = sorted(runs, key=lambda run: run[0])[len(runs) // 2]
    return {"total": total, "top": dict(sorted(top.items(), key=lambda item: -item[1])[:TOP_IMPORTS])}


def phase_seconds(model_path: str | Path | None = None, text: str = TEXT, repeats: int = REPEATS,
                  env: dict | None = None) -> dict:
    """The phases of ``score --text`` (see the module docstring), each the median over ``repeats`` child processes,
    with the child's wall time and whether its kernels came from the cache."""
    runs = []
    for _ in range(repeats):
        spawned_at = time.time()
        command = [sys.executable, "-m", CHILD, repr(spawned_at), text, *([str(model_path)] if model_path else [])]
        result = subprocess.run(command, check=True, capture_output=True, text=True, env=env)
        wall = time.time() - spawned_at
        run = json.loads(result.stdout.strip().splitlines()[-1])
        runs.append({**run, "exit": wall - sum(run[key] for key in PHASE_NAMES if key != "exit"), "wall": wall})
    medians = {key: statistics.median(run[key] for run in runs) for key in (*PHASE_NAMES, "wall")}
    return {**medians, "kernels": runs[-1]["kernels"]}


def run_startup(model_path: str | Path | None = None, env: dict | None = None, repeats: int = REPEATS,
                cold_kernel_cache: bool = True) -> dict:
    """Every start-up figure (see the module docstring), JSON-ready.

    Parameters
    ----------
    model_path : str or Path, optional
        Bundle that ``score --text`` loads (default: ``$MODERATION_MODEL`` in ``env``, else the committed one).
    env : dict, optional
        Environment of the commands (default: this process's).
    repeats : int
        Runs of each measure; the median is kept.
    cold_kernel_cache : bool
        Also time the phases once with an empty kernel cache (several seconds: the kernels are compiled).

    Returns
    -------
    dict
        ``command_seconds`` (``score_text``, ``help``), ``import_seconds_score_text``, ``phases`` and, with
        ``cold_kernel_cache``, ``phases_cold_kernel_cache``.
    """
    env = dict(os.environ if env is None else env)
    if model_path is not None:
        env["MODERATION_MODEL"] = str(model_path)
    model = env.get("MODERATION_MODEL")
    results = {
        "repeats": repeats,
        "text": TEXT,
        "load_average_at_start": os.getloadavg()[0],
        "command_seconds": {"score_text": command_seconds(["score", "--text", TEXT], repeats, env),
                            "help": command_seconds(["--help"], repeats, env)},
        "import_seconds_score_text": import_seconds(["score", "--text", TEXT], repeats, env),
        "phases": phase_seconds(model, TEXT, repeats, env),
    }
    if cold_kernel_cache:
        with tempfile.TemporaryDirectory() as empty:
            results["phases_cold_kernel_cache"] = phase_seconds(model, TEXT, 1, {**env, "NUMBA_CACHE_DIR": empty})
    return results


def startup_markdown(results: dict, heading: str = "## Start-up") -> list[str]:
    """The start-up section of a report (``run_startup`` results) as Markdown lines, under ``heading``."""
    commands, imports = results["command_seconds"], results["import_seconds_score_text"]
    columns = {"seconds": results["phases"]}
    if "phases_cold_kernel_cache" in results:
        columns["empty kernel cache (one run)"] = results["phases_cold_kernel_cache"]
    kernels = results["phases"]["kernels"]
    lines = [
        heading, "",
        f"New processes, median of {results['repeats']} runs each (load average {results['load_average_at_start']:.1f} "
        f"at the start); `score --text` scores \"{results['text']}\".", "",
        "| command | seconds |", "|---|---|",
        f"| `moderate score --text ...` | {commands['score_text']:.2f} |",
        f"| `moderate --help` | {commands['help']:.2f} |",
        f"| imports of `moderate score --text` (`python -X importtime`, all top-level imports) | {imports['total']:.2f} |",
        "", "Where `moderate score --text` spends its time (a child process that does what the command does; the first "
            "phase from its start):", "",
        f"| phase | {' | '.join(columns)} |", f"|---|{'---|' * len(columns)}",
    ]
    for key, name in [*PHASE_NAMES.items(), ("wall", "total (the child's wall clock)")]:
        lines.append(f"| {name} | {' | '.join(f'{phases[key]:.2f}' for phases in columns.values())} |")
    lines += [
        "", f"Compiled kernels read from the on-disk cache: {kernels['cache_hits']} of "
            f"{kernels['cache_hits'] + kernels['compiled']} (cache: `{kernels['cache_path']}`).", "",
        "Heaviest top-level imports of `moderate score --text` (`python -X importtime`, cumulative seconds):", "",
        "| module | seconds |", "|---|---|",
        *[f"| {name} | {seconds:.2f} |" for name, seconds in imports["top"].items()],
    ]
    return lines


@click.command()
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=Path("reports/startup.md"),
              show_default=True, help="Markdown report; the JSON twin goes next to it.")
@click.option("--model", "model_path", type=click.Path(exists=True, path_type=Path), default=None,
              help="Bundle that score --text loads (default: $MODERATION_MODEL, else the committed bundle).")
@click.option("--repeats", type=click.IntRange(min=1), default=REPEATS, show_default=True,
              help="Runs of each measure; the median is reported.")
def main(out: Path, model_path: Path | None, repeats: int) -> None:
    """Time `moderate --help` and `moderate score --text`; write a Markdown report and its JSON twin."""
    results = run_startup(model_path, repeats=repeats)
    write_report(out, "\n".join(startup_markdown(results, heading="# Start-up")) + "\n", results)
    click.echo(f"wrote {out} and {out.with_suffix('.json')}")


if __name__ == "__main__":
    main()
