"""Archive benchmark: whole ``moderate score`` jobs on a generated archive of distinct comments, as a user runs them.

Every figure is one first pass of a real command over texts it has not seen (no warm caches): wall-clock time
from start to exit, rows per second, and the peak resident memory of the whole process tree (workers
included), sampled every ``SAMPLE_SECONDS``. Runs: ``moderate score`` in one process, with ``--jobs 2``, and
on 2 local Dask workers; alt-profanity-check's whole job on the same file (read, predict, write, in chunks);
the same single-process run on a tenth of the archive, for memory flatness; and the start-up of ``moderate score
--text`` and ``moderate --help`` (``model.evaluation.startup``: wall clock, import time, bundle load, first decision).

Run ``python -m model.evaluation.archive_bench [--rows 1000000] [--out reports/archive_bench.md]``.
"""

from __future__ import annotations

import os
import platform
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from pathlib import Path

import click

from model.evaluation.benchmark import benchmark_texts
from model.evaluation.report_format import write_report
from model.evaluation.startup import run_startup, startup_markdown

DEFAULT_ROWS = 1_000_000
SMALL_FRACTION = 10
"""The memory-flatness run scores ``rows // SMALL_FRACTION`` rows."""
FLAT_MEMORY_RATIO = 1.3
"""The issue's target: peak memory on the whole archive at most this times that on a tenth of it."""
SAMPLE_SECONDS = 0.1
BYTES_PER_MIB = 1024 * 1024
CHUNK_ROWS = 5_000
POOL_TEXTS = 50_000
SEED = 0
ENGINES = {
    "single": [],
    "jobs2": ["--jobs", "2"],
    "dask2": ["--engine", "dask", "--jobs", "2"],
}


def write_archive(path: Path, n_rows: int, data_dir: str | Path | None = None, seed: int = SEED) -> str:
    """Write a CSV archive of ``n_rows`` comments (id, author, text) and return where its texts come from.

    Each text joins two random texts of the public test sets (or of generated sentences), so nearly every
    row is distinct, as in a real archive, while words and lengths stay those of real comments.
    """
    import pandas as pd

    pool, source = benchmark_texts(POOL_TEXTS, data_dir, seed)
    pool = sorted(set(pool))
    rng = random.Random(seed)
    header = True
    with open(path, "w", encoding="utf-8", newline="") as handle:
        for start in range(0, n_rows, 100_000):
            n = min(100_000, n_rows - start)
            texts = [f"{rng.choice(pool)} {rng.choice(pool)}" for _ in range(n)]
            frame = pd.DataFrame({"id": [f"c{start + i}" for i in range(n)],
                                  "author": [f"reader{rng.randrange(50_000)}" for _ in range(n)], "text": texts})
            frame.to_csv(handle, index=False, header=header, lineterminator="\n")
            header = False
    return f"pairs of {source}"


def measure(command: Sequence[str], env: dict | None = None) -> dict:
    """Run ``command`` to its end; return wall seconds and the peak summed RSS of its process tree in MiB.

    The process's stderr is read only at its end: the commands timed here print a few lines, not a stream.
    A failed command gives ``{"error": ...}`` instead.
    """
    import psutil

    started = time.perf_counter()
    process = subprocess.Popen(list(command), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    root = psutil.Process(process.pid)
    peak = 0
    while process.poll() is None:
        try:
            tree = [root, *root.children(recursive=True)]
            total = 0
            for member in tree:
                try:
                    total += member.memory_info().rss
                except psutil.Error:  # a worker that just ended
                    pass
            peak = max(peak, total)
        except psutil.Error:
            pass
        time.sleep(SAMPLE_SECONDS)
    stderr = process.stderr.read()
    process.stderr.close()
    seconds = time.perf_counter() - started
    if process.returncode != 0:
        return {"error": f"exit status {process.returncode}: {stderr.strip()[-2000:]}"}
    return {"seconds": seconds, "peak_rss_mib": peak / BYTES_PER_MIB, "summary": stderr.strip().splitlines()[-4:]}


def profanity_check_job(source: Path, target: Path, chunk_rows: int = CHUNK_ROWS) -> int:
    """alt-profanity-check's whole job on an archive: read in chunks, ``predict_prob``, write; return rows."""
    import pandas as pd
    from profanity_check import predict_prob

    n = 0
    with open(target, "w", encoding="utf-8", newline="") as handle:
        for i, frame in enumerate(pd.read_csv(source, dtype=str, keep_default_na=False, chunksize=chunk_rows)):
            frame["profanity"] = predict_prob(frame["text"].tolist())
            frame.to_csv(handle, index=False, header=i == 0, lineterminator="\n")
            n += len(frame)
    return n


def run_archive_bench(rows: int = DEFAULT_ROWS, model_path: Path | None = None, data_dir: Path | None = None,
                      engines: Sequence[str] = tuple(ENGINES), workdir: Path | None = None,
                      on_progress: Callable[[dict], None] | None = None) -> dict:
    """Generate the archive and time every run on it; return JSON-ready results.

    ``on_progress`` gets the results so far after each run (the full run takes long: a report is kept as it goes).
    A run that fails is recorded with its error, and the others still run.
    """
    env = {**os.environ, **({"MODERATION_MODEL": str(model_path)} if model_path else {})}
    moderate = [sys.executable, "-m", "service.cli", "score"]
    small_rows = max(rows // SMALL_FRACTION, 1)
    results: dict = {
        "command": "python -m model.evaluation.archive_bench",
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": {"platform": platform.platform(), "cpu_count": os.cpu_count(), "python": platform.python_version(),
                    "load_average_at_start": os.getloadavg()[0]},
        "model": bundle_timed(model_path),
        "encoder_threads": encoder_threads_per_run(),
        "startup": run_startup(env=env),
        "runs": {},
        "memory": {"ratio_full_to_tenth": None, "target": FLAT_MEMORY_RATIO, "met": False},
    }
    with tempfile.TemporaryDirectory(dir=workdir) as folder:
        root = Path(folder)
        archive, small = root / "archive.csv", root / "small.csv"
        source = write_archive(archive, rows, data_dir)
        write_archive(small, small_rows, data_dir)
        results["archive"] = {"rows": rows, "mib": archive.stat().st_size / BYTES_PER_MIB, "texts": source,
                              "chunk_rows": CHUNK_ROWS}
        commands = {
            "alt_profanity_check": (rows, [sys.executable, "-m", "model.evaluation.archive_bench", "profanity-job",
                                           str(archive), str(root / "profanity.csv")]),
            "single_small": (small_rows, [*moderate, str(small), "-o", str(root / "small_out.csv")]),
            **{name: (rows, [*moderate, str(archive), "-o", str(root / f"{name}.csv"), *ENGINES[name]])
               for name in engines},
        }
        for name, (n_rows, command) in commands.items():
            run = measure(command, env)
            run["rows"] = n_rows
            if "seconds" in run:
                run["rows_per_second"] = n_rows / run["seconds"]
            results["runs"][name] = run
            runs = results["runs"]
            if "peak_rss_mib" in runs.get("single", {}) and "peak_rss_mib" in runs.get("single_small", {}):
                ratio = runs["single"]["peak_rss_mib"] / runs["single_small"]["peak_rss_mib"]
                results["memory"].update(ratio_full_to_tenth=ratio, met=ratio <= FLAT_MEMORY_RATIO)
            results["machine"]["load_average_at_end"] = os.getloadavg()[0]
            if on_progress is not None:
                on_progress(results)
    return results


def bundle_timed(model_path: Path | None) -> dict:
    """The bundle and encoder mode the ``moderate score`` runs use (``MODERATION_ENCODER_MODE`` of this process, which
    they inherit), so that the report says what it timed; a bundle that cannot be read is told by the runs."""
    from model.bundle import BundleError, chosen_encoder_mode, read_manifest, resolve_bundle_path

    folder = resolve_bundle_path(os.environ.get("MODERATION_MODEL") if model_path is None else model_path)
    try:
        manifest = read_manifest(folder)
        return {"version": manifest.get("model_version"), "folder": str(folder),
                "encoder_mode": chosen_encoder_mode(manifest)}
    except (BundleError, OSError, ValueError) as error:
        return {"version": None, "folder": str(folder), "error": str(error)}


PROCESSES = {"single": 1, "jobs2": 2, "dask2": 2}
"""Scoring processes of each run: local workers, or the workers of the LocalCluster the Dask run starts."""


def encoder_threads_per_run() -> dict:
    """onnxruntime threads of each process's encoder in each run: what ``service.archive.run_archive`` gives each of
    a run's processes, local or on the LocalCluster it starts (``model.parallel.threads_per_process``)."""
    from model.bundle import BundleError
    from model.parallel import threads_per_process

    try:
        return {name: threads_per_process(processes) for name, processes in PROCESSES.items()}
    except BundleError as error:  # a bad MODERATION_ENCODER_THREADS: the runs say so too
        return {"error": str(error)}


def _threads_line(threads: dict | None) -> list[str]:
    """The encoder threads of each run, as a paragraph (none for reports written before they were recorded)."""
    if not threads or "single" not in threads:
        return []
    return [f"Encoder threads per process: {threads['single']} in one process, {threads['jobs2']} in each of `--jobs 2`'s "
            f"workers, {threads['dask2']} in each Dask worker (a local run shares the usable cores among its "
            "processes; `MODERATION_ENCODER_THREADS` overrides).", ""]


RUN_NAMES = {
    "single": "`moderate score` (one process)",
    "jobs2": "`moderate score --jobs 2`",
    "dask2": "`moderate score --engine dask --jobs 2` (LocalCluster, 2 workers)",
    "single_small": "`moderate score` (one process) on a tenth of the archive",
    "alt_profanity_check": "alt-profanity-check, whole job (read, predict_prob, write in chunks of 5,000)",
}


def _load(results: dict, when: str) -> str:
    value = results["machine"].get(f"load_average_at_{when}")
    return "n/a" if value is None else f"{value:.1f}"


def _model_line(model: dict | None) -> list[str]:
    """The bundle timed, as a paragraph (none for reports written before it was recorded)."""
    if not model or not model.get("version"):
        return []
    mode = model.get("encoder_mode")
    return [f"Bundle: **{model['version']}** (`{model['folder']}`)" + (f", encoder mode `{mode}`." if mode else "."), ""]


def archive_bench_markdown(results: dict) -> str:
    """Render ``run_archive_bench`` results as Markdown."""
    archive, memory = results["archive"], results["memory"]
    lines = [
        "# Archive benchmark", "",
        f"Produced by `{results['command']}` at {results['created_at']} on {results['machine']['platform']}, "
        f"{results['machine']['cpu_count']} CPUs, load average {_load(results, 'start')} at the start and "
        f"{_load(results, 'end')} at the end (other work shares the machine). Numbers are in the JSON twin.",
        "", *_model_line(results.get("model")), *_threads_line(results.get("encoder_threads")),
        f"Archive: {archive['rows']:,} comments ({archive['mib']:,.0f} MiB of CSV), each text {archive['texts']}, so "
        "nearly every row is distinct: every figure is one first pass, as over a real archive, timed from start to "
        "exit (loading included). Peak memory is the sum over the process tree (workers included).", "",
        "| run | rows | seconds | rows / second | peak RSS, MiB |", "|---|---|---|---|---|",
    ]
    for key, run in results["runs"].items():
        if "error" in run:
            lines.append(f"| {RUN_NAMES[key]} | {run['rows']:,} | failed: {run['error'].splitlines()[-1]} | | |")
            continue
        lines.append(f"| {RUN_NAMES[key]} | {run['rows']:,} | {run['seconds']:,.1f} | {run['rows_per_second']:,.0f} | "
                     f"{run['peak_rss_mib']:,.0f} |")
    missing = [RUN_NAMES[key] for key in ("single", "jobs2", "dask2") if key not in results["runs"]]
    if missing:
        lines += ["", f"Not run (yet): {', '.join(missing)}."]
    ratio = memory["ratio_full_to_tenth"]
    lines += [
        "", f"Memory flatness: peak RSS on the whole archive / on a tenth of it, one process: "
        f"**{'n/a' if ratio is None else f'{ratio:.2f}'}** (target <= {memory['target']}): "
        f"{'met' if memory['met'] else '**missed**'}.", "",
        *startup_markdown(results["startup"]),
    ]
    return "\n".join(lines) + "\n"


@click.group(invoke_without_command=True)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=Path("reports/archive_bench.md"),
              show_default=True)
@click.option("--rows", type=click.IntRange(min=10), default=DEFAULT_ROWS, show_default=True)
@click.option("--model", "model_path", type=click.Path(exists=True, path_type=Path), default=None)
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path), default=None)
@click.option("--engines", default=",".join(ENGINES), show_default=True, help="Comma-separated runs of ours.")
@click.pass_context
def main(context: click.Context, out: Path, rows: int, model_path: Path | None, data_dir: Path | None,
         engines: str) -> None:
    """Time whole `moderate score` jobs on a generated archive; write Markdown and a JSON twin."""
    if context.invoked_subcommand is not None:
        return

    def write(results: dict) -> None:
        write_report(out, archive_bench_markdown(results), results)

    write(run_archive_bench(rows, model_path, data_dir, [e for e in engines.split(",") if e], on_progress=write))
    click.echo(f"wrote {out} and {out.with_suffix('.json')}")


@main.command("profanity-job")
@click.argument("source", type=click.Path(exists=True, path_type=Path))
@click.argument("target", type=click.Path(path_type=Path))
def profanity_job(source: Path, target: Path) -> None:
    """alt-profanity-check's whole job on SOURCE into TARGET (timed by the benchmark)."""
    profanity_check_job(source, target)


if __name__ == "__main__":
    main()
