"""Throughput benchmark: our scorer against alt-profanity-check, same texts, same process, same machine.

Run ``python -m model.evaluation.benchmark [--out reports/bench.md] [--n 5000]``; writes the Markdown report and
a JSON twin next to it.
"""

from __future__ import annotations

import os
import platform
import random
import resource
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

import click
from tqdm import tqdm

from model.bundle import BundleError
from model.evaluation.report_format import check_writable, out_problem, write_report
from model.training.data import DataError, load_test_sets
from model.parallel import ScorerPool
from model.scoring import Scorer

SEED = 0
DEFAULT_N_TEXTS = 5000
DEFAULT_N_SINGLE = 500
"""One-comment-at-a-time calls are timed on this many texts (a prefix of the batch)."""
DEFAULT_N_SPANS = 500
"""The full ``moderate()`` path with spans is timed on this many texts (a prefix of the batch)."""
DEFAULT_REPEATS = 5
"""Runs per timing, of which the median is reported: on a shared machine one run in three or four can take
twice as long as the others (seen here), and the median of five moves less with one such run."""
DEFAULT_JOBS = 2
"""Worker processes of the parallel run: the cores of the machine the targets are set on."""
WARM_UP_TEXTS = 8
THROUGHPUT_TARGET_RATIO = 0.5
"""The issue's target: our batch throughput at least this fraction of alt-profanity-check's."""
BYTES_PER_MIB = 1024 * 1024
COMMAND = "python -m model.evaluation.benchmark"
REPORTED_PACKAGES = ("comment-moderation", "scikit-learn", "numpy", "alt-profanity-check")

_SUBJECTS = ("The council", "My neighbour", "This article", "The new policy", "Your comment", "The mayor",
             "Everyone here", "The author", "That team", "Our school board")
_VERBS = ("makes a fair point about", "is completely wrong about", "should reconsider", "clearly explains",
          "keeps ignoring", "wrote something sensible on", "has no idea about", "deserves credit for")
_OBJECTS = ("the budget", "public transit", "the housing market", "climate policy", "local taxes",
            "the election", "road safety", "the hospital wait times", "the new stadium")
_ENDINGS = (".", ", thanks for sharing.", ", what an idiot.", "; you people are pathetic.", ", and I agree.",
            ", shut up already.", ". Stupid take.", ", well written.")


def generated_sentences(n: int, seed: int = SEED) -> list[str]:
    """Return ``n`` reproducible comment-like sentences, some of them rude, for runs without the data."""
    rng = random.Random(seed)
    return [f"{rng.choice(_SUBJECTS)} {rng.choice(_VERBS)} {rng.choice(_OBJECTS)}{rng.choice(_ENDINGS)}"
            for _ in range(n)]


def benchmark_texts(n: int, data_dir: str | Path | None = None, seed: int = SEED) -> tuple[list[str], str]:
    """Return ``n`` texts and where they came from: the shuffled public test sets if present, else generated."""
    try:
        sets = load_test_sets(data_dir)
    except DataError as error:
        return generated_sentences(n, seed), f"generated sentences (no public test sets: {error})"
    pool = [text for frame in sets.values() for text in frame["text"]]
    random.Random(seed).shuffle(pool)
    # Cycle through the pool when more texts are asked for than the test sets hold.
    texts = [pool[i % len(pool)] for i in range(n)]
    return texts, f"public test sets ({', '.join(sets)}; {len(pool)} texts, shuffled with seed {seed})"


def first_pass_texts(seen: Sequence[str], n: int, data_dir: str | Path | None = None) -> list[str]:
    """Up to ``n`` distinct texts not in ``seen``, each joining two texts of the same source, as a first pass needs."""
    pool, _ = benchmark_texts(2 * n, data_dir, seed=SEED + 1)
    known = set(seen)
    rng = random.Random(SEED + 1)
    fresh = dict.fromkeys(f"{rng.choice(pool)} {rng.choice(pool)}" for _ in range(n))
    return [text for text in fresh if text not in known]


def load_profanity_check() -> Callable[[Sequence[str]], object] | None:
    """Return alt-profanity-check's ``predict_prob``, or ``None`` when the package is not installed."""
    try:
        from profanity_check import predict_prob  # the package loads its model on import
    except ImportError:
        return None
    return predict_prob


def peak_memory_mib() -> float:
    """Peak resident memory of this process so far, in MiB."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # Linux reports KiB, macOS bytes.
    return peak / BYTES_PER_MIB if sys.platform == "darwin" else peak / 1024


def median_seconds(call: Callable[[], object], repeats: int) -> float:
    """Run ``call`` ``repeats`` times and return the median wall-clock duration in seconds."""
    durations = []
    for _ in range(repeats):
        started = time.perf_counter()
        call()
        durations.append(time.perf_counter() - started)
    return statistics.median(durations)


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def _one_at_a_time(predict: Callable, texts: Sequence[str]) -> Callable[[], None]:
    def run() -> None:
        for text in texts:
            predict([text])
    return run


def _throughput(name: str, n: int, seconds: float) -> dict:
    return {"name": name, "n": n, "seconds": seconds, "comments_per_second": n / seconds if seconds > 0 else None}


def run_benchmark(
    model_path: str | Path | None = None,
    data_dir: str | Path | None = None,
    n: int = DEFAULT_N_TEXTS,
    n_single: int = DEFAULT_N_SINGLE,
    n_spans: int = DEFAULT_N_SPANS,
    repeats: int = DEFAULT_REPEATS,
    jobs: int = DEFAULT_JOBS,
) -> dict:
    """Time model loading and scoring of ours and alt-profanity-check's on the same texts.

    Parameters
    ----------
    model_path : str or Path or None
        Bundle to benchmark; ``None`` means the committed bundle.
    data_dir : str or Path or None
        Data directory; when it lacks the public test sets, generated sentences are used.
    n : int
        Texts scored in one batch call.
    n_single, n_spans : int
        Texts (a prefix of the batch) for the one-at-a-time and the ``moderate()``-with-spans timings.
    repeats : int
        Each timing is repeated this many times and the median kept.
    jobs : int
        Worker processes of the ``moderate score --jobs`` run (its memory is not in the peak figures: they
        are this process's own).

    Returns
    -------
    dict
        JSON-ready results: ``texts``, ``machine``, ``load_seconds``, ``throughput`` (by run),
        ``ratio``, ``target``, ``peak_memory_mib``.
    """
    texts, source = benchmark_texts(n, data_dir)
    n_single, n_spans = min(n_single, n), min(n_spans, n)
    memory_before_models = peak_memory_mib()
    loaded: list[Scorer] = []

    def load() -> None:
        loaded.clear()  # drop the previous copy first, so peak memory counts one model
        loaded.append(Scorer.load(model_path))

    load_seconds = median_seconds(load, repeats)
    scorer = loaded.pop()
    memory_after_our_load = peak_memory_mib()

    already_imported = "profanity_check" in sys.modules
    started = time.perf_counter()
    predict_prob = load_profanity_check()
    profanity_load_seconds = None if already_imported or predict_prob is None else time.perf_counter() - started

    runs: list[tuple[str, str, int, Callable[[], object]]] = [
        # The target: the six hostility attributes (the claim head is a separate, later issue).
        ("ours_hostility_batch", "ours: six hostility attributes (predict_hostility), one batch", n,
         lambda: scorer.bundle.model.predict_hostility(texts)),
        ("ours_batch", "ours: predict_scores (all attributes), one batch", n, lambda: scorer.predict_scores(texts)),
        ("ours_single", "ours: predict_scores, one comment per call", n_single,
         _one_at_a_time(scorer.predict_scores, texts[:n_single])),
        ("ours_moderate_batch", "ours: moderate() without spans, one batch (`moderate score`)", n,
         lambda: scorer.moderate(texts, with_spans=False)),
        ("ours_moderate_batch_jobs", f"ours: moderate() without spans, one batch, {jobs} worker processes "
         f"(`moderate score --jobs {jobs}`)", n, lambda: pool.moderate(texts, with_spans=False)),
        ("ours_moderate_spans", "ours: moderate() with spans, one batch", n_spans,
         lambda: scorer.moderate(texts[:n_spans], with_spans=True)),
        # What the service pays per request: one comment per call, full decision.
        ("ours_moderate_single", "ours: moderate() without spans, one comment per call", n_single,
         _one_at_a_time(lambda batch: scorer.moderate(batch, with_spans=False), texts[:n_single])),
        ("ours_moderate_spans_single", "ours: moderate() with spans, one comment per call", n_single,
         _one_at_a_time(scorer.moderate, texts[:n_single])),
    ]
    if predict_prob is not None:
        runs += [
            ("profanity_check_batch", "alt-profanity-check: predict_prob, one batch", n, lambda: predict_prob(texts)),
            ("profanity_check_single", "alt-profanity-check: predict_prob, one comment per call", n_single,
             _one_at_a_time(predict_prob, texts[:n_single])),
        ]
    # A user's archive is scored once, over texts the process has not seen: time that first, on distinct texts
    # outside the batch, before the repeated runs below warm the word caches on the batch's own texts.
    fresh = first_pass_texts(texts, n, data_dir)
    throughput = {"ours_moderate_first_pass": _throughput(
        "ours: moderate() without spans, one batch, first pass over distinct unseen texts (timed once)",
        len(fresh), median_seconds(lambda: scorer.moderate(fresh, with_spans=False), 1))}
    if predict_prob is not None:
        throughput["profanity_check_first_pass"] = _throughput(
            "alt-profanity-check: predict_prob, one batch, first pass over the same texts (timed once)",
            len(fresh), median_seconds(lambda: predict_prob(fresh), 1))
    scorer.moderate(texts[:WARM_UP_TEXTS], with_spans=True)  # first calls pay one-off costs
    if predict_prob is not None:
        predict_prob(texts[:WARM_UP_TEXTS])
    started = time.perf_counter()
    with ScorerPool(scorer, jobs) as pool:  # the workers stop at the end, also when a run fails
        pool.moderate(texts[: WARM_UP_TEXTS * jobs], with_spans=False)  # workers loaded and warm
        pool_start_seconds = time.perf_counter() - started
        pool.moderate(texts, with_spans=False)  # warm the workers' word caches, as earlier runs warm the scorer's
        for key, name, n_run, call in tqdm(runs, desc="benchmark", disable=not sys.stderr.isatty()):
            throughput[key] = _throughput(name, n_run, median_seconds(call, repeats))

    def ratio(ours: str, theirs: str) -> float | None:
        if theirs not in throughput or not throughput[theirs]["comments_per_second"]:
            return None
        return throughput[ours]["comments_per_second"] / throughput[theirs]["comments_per_second"]

    ratios = {"hostility_batch": ratio("ours_hostility_batch", "profanity_check_batch"),
              "batch": ratio("ours_batch", "profanity_check_batch"),
              "single": ratio("ours_single", "profanity_check_single")}
    return {
        "command": COMMAND,
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "model_version": scorer.model_version,
        "model_path": str(model_path) if model_path is not None else "committed bundle",
        "encoder_mode": scorer.encoder_mode,
        "attributes": list(scorer.attributes),
        "texts": {"source": source, "n": n, "n_single": n_single, "n_spans": n_spans,
                  "mean_chars": sum(map(len, texts)) / len(texts)},
        "repeats": repeats,
        "machine": {"python": platform.python_version(), "platform": platform.platform(),
                    "cpu_count": os.cpu_count(),
                    "packages": {package: _version(package) for package in REPORTED_PACKAGES}},
        "load_seconds": {"ours": load_seconds, "alt_profanity_check": profanity_load_seconds,
                         "worker_pool": pool_start_seconds},
        "jobs": jobs,
        "throughput": throughput,
        "ratio": ratios,
        "target": {"metric": "batch throughput ratio, ours (six hostility attributes) / alt-profanity-check, "
                             "one process each",
                   "target": THROUGHPUT_TARGET_RATIO, "value": ratios["hostility_batch"],
                   "met": ratios["hostility_batch"] is not None and ratios["hostility_batch"] >= THROUGHPUT_TARGET_RATIO},
        "peak_memory_mib": {"before_loading_models": memory_before_models, "after_loading_ours": memory_after_our_load,
                            "end_of_run": peak_memory_mib()},
    }


def _format(value: float | None, digits: int = 1) -> str:
    return "n/a" if value is None else f"{value:,.{digits}f}"


def benchmark_markdown(results: dict) -> str:
    """Render benchmark results (as ``run_benchmark`` returns them) as a Markdown report."""
    texts, target, memory = results["texts"], results["target"], results["peak_memory_mib"]
    verdict = "not measured (alt-profanity-check not installed)" if target["value"] is None else (
        "met" if target["met"] else "**missed**")
    lines = [
        "# Throughput benchmark", "",
        f"Produced by `{results['command']}` at {results['created_at']} for model version "
        f"**{results['model_version']}** (bundle: `{results['model_path']}`"
        + (f", encoder mode `{results['encoder_mode']}`" if results.get("encoder_mode") else "")
        + "). Numbers are in the JSON twin.", "",
        f"Machine: {results['machine']['platform']}, {results['machine']['cpu_count']} CPUs, "
        f"Python {results['machine']['python']}; "
        + ", ".join(f"{name} {version}" for name, version in results["machine"]["packages"].items() if version) + ".",
        "",
        f"Texts: {texts['source']}; {texts['n']} texts, {texts['mean_chars']:.0f} characters on average. "
        f"Every timing is the median of {results['repeats']} runs in one process; ours scores all "
        f"{len(results['attributes'])} attributes ({', '.join(results['attributes'])}), alt-profanity-check one.", "",
        "## Target", "",
        f"Our batch throughput on the six hostility attributes / alt-profanity-check's, one process each: "
        f"**{_format(target['value'], 2)}** (target >= {target['target']}): {verdict}. "
        f"All {len(results['attributes'])} attributes (with the unsupported-claim head): "
        f"{_format(results['ratio']['batch'], 2)}. One comment per call: {_format(results['ratio']['single'], 2)}.",
        "", "## Throughput", "", "| run | comments | seconds | comments / second |", "|---|---|---|---|",
    ]
    for run in results["throughput"].values():
        lines.append(f"| {run['name']} | {run['n']} | {run['seconds']:.3f} | {_format(run['comments_per_second'])} |")
    lines += [
        "", "## Load time and memory", "", "| measure | value |", "|---|---|",
        f"| our bundle load (`Scorer.load`), seconds | {_format(results['load_seconds']['ours'], 2)} |",
        f"| alt-profanity-check import, seconds | {_format(results['load_seconds']['alt_profanity_check'], 2)} |",
        f"| {results['jobs']} worker processes started, loaded and warm (`ScorerPool`), seconds | "
        f"{_format(results['load_seconds']['worker_pool'], 2)} |",
        f"| peak memory before loading any model (interpreter, libraries, texts), MiB | "
        f"{_format(memory['before_loading_models'])} |",
        f"| peak memory after loading ours, MiB | {_format(memory['after_loading_ours'])} |",
        f"| peak memory at the end (both models, all runs), MiB | {_format(memory['end_of_run'])} |",
    ]
    return "\n".join(lines) + "\n"


def write_benchmark(out: str | Path = "reports/bench.md", **options) -> Path:
    """Run the benchmark and write ``out`` (Markdown) and its ``.json`` twin; return ``out``.

    Parameters
    ----------
    out : str or Path
        Markdown path; the JSON goes next to it with the suffix ``.json``.
    **options
        Passed to ``run_benchmark``.

    Returns
    -------
    Path
        The Markdown path.

    Raises
    ------
    OSError
        Before any timing, when ``out`` or its twin cannot be written.
    """
    out = Path(out)
    check_writable(out, out.with_suffix(".json"))
    results = run_benchmark(**options)
    return write_report(out, benchmark_markdown(results), results)


@click.command()
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=Path("reports/bench.md"),
              show_default=True, help="Markdown report; the JSON twin goes next to it.")
@click.option("--n", "n", type=click.IntRange(min=1), default=DEFAULT_N_TEXTS, show_default=True,
              help="Comments scored in the batch runs.")
@click.option("--n-single", type=click.IntRange(min=1), default=DEFAULT_N_SINGLE, show_default=True,
              help="Comments for the one-comment-per-call runs.")
@click.option("--n-spans", type=click.IntRange(min=1), default=DEFAULT_N_SPANS, show_default=True,
              help="Comments for the moderate()-with-spans run.")
@click.option("--repeats", type=click.IntRange(min=1), default=DEFAULT_REPEATS, show_default=True,
              help="Runs per timing; the median is reported.")
@click.option("--jobs", type=click.IntRange(min=1), default=DEFAULT_JOBS, show_default=True,
              help="Worker processes of the `moderate score --jobs` run.")
@click.option("--model", "model_path", default=None,
              help="Bundle to benchmark: a folder or a version under bundles/ (default: the committed bundle).")
@click.option("--data-dir", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None,
              help="Data directory holding hostility/ (default: $MODERATION_DATA_DIR or ../shared/data; without the "
                   "public test sets there, generated sentences).")
def main(out: Path, **options) -> None:
    """Benchmark our scorer against alt-profanity-check and write a Markdown report plus JSON."""
    try:
        path = write_benchmark(out, **options)
    except (BundleError, DataError) as error:
        raise click.ClickException(str(error)) from error
    except OSError as error:
        raise click.ClickException(out_problem(error)) from error
    click.echo(f"wrote {path} and {path.with_suffix('.json')}")


if __name__ == "__main__":
    main()
