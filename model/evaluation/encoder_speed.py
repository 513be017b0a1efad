"""Speed of an encoder bundle's hostility scores: TF-IDF alone, the cascade, and the encoder on every comment.

``python -m model.evaluation.encoder_speed --model bundles/2.4.0 --out reports/encoder_speed.md`` scores the
same news comments (UCC validation, Globe and Mail) each way, in one process, best of ``REPEATS`` runs. Several
bundles (``--model 2.6.0 2.7.0 2.8.0``) are timed in turn, ``--rounds`` times over, so that a slower stretch of a
shared machine falls on each of them and the comparison is side by side in one run.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from model.bundle import BundleError, load_bundle
from model.evaluation.report_format import check_writable, out_problem, write_report
from model.training.data import DataError, load_validation_sets

N_COMMENTS = 2000
REPEATS = 2
SPEED_SET = "ucc_val"


def _rate(predict, texts) -> float:
    best = float("inf")
    for _ in range(REPEATS):
        started = time.perf_counter()
        predict(texts)
        best = min(best, time.perf_counter() - started)
    return len(texts) / best


def speed_texts(data_dir=None, n_comments: int = N_COMMENTS) -> list[str]:
    """The comments timed: the first ``n_comments`` of ``SPEED_SET``; DataError without the validation data."""
    return load_validation_sets(data_dir)[SPEED_SET]["text"].tolist()[:n_comments]


def measure(model_path: str | Path, texts: list[str], threads: int = 1) -> dict:
    """Comments per second of the three ways to score hostility, with ``threads`` onnxruntime threads.

    Raises ``BundleError`` for a bundle without an encoder.
    """
    bundle = load_bundle(model_path, encoder_threads=threads)
    model = bundle.model
    if not hasattr(model, "base"):
        raise BundleError(f"bundle {bundle.version} has no encoder: pass an encoder bundle (2.x)")
    fast = model.base.predict_hostility(texts)
    mode = model.mode
    result = {"model_version": bundle.version, "threads": threads, "comments": len(texts), "set": SPEED_SET,
              "band": list(model.band), "rescored_share": float(model.rescored(texts, fast).mean()) if mode == "cascade" else None}
    result["tfidf_per_second"] = _rate(model.base.predict_hostility, texts)
    model.mode = "cascade"
    result["cascade_per_second"] = _rate(model.predict_hostility, texts)
    result["rescored_share"] = float(model.rescored(texts, fast).mean())
    model.mode = "encoder"
    result["encoder_per_second"] = _rate(model.predict_hostility, texts)
    model.mode = mode
    return result


def check_models(model_paths: list[str]) -> None:
    """Load each bundle once before any timing: BundleError for a missing one or one without an encoder."""
    for path in model_paths:
        bundle = load_bundle(path)
        if not hasattr(bundle.model, "base"):
            raise BundleError(f"bundle {bundle.version} has no encoder: pass an encoder bundle (2.x)")


def markdown(results: list[dict]) -> str:
    """A table of the measurements, a row per bundle, thread count and round, in the order they were taken."""
    versions = list(dict.fromkeys(r["model_version"] for r in results))
    named = ", ".join(f"**{version}**" for version in versions)
    several = len(versions) > 1 or any(r.get("round", 1) > 1 for r in results)
    lines = ["# Encoder speed", "", f"`python -m model.evaluation.encoder_speed` for model version{'s' * (len(versions) > 1)} "
             f"{named}: {results[0]['comments']} {results[0]['set']} comments, six hostility attributes, best of "
             f"{REPEATS} runs, one process" + (", the bundles timed in turn, round after round." if several else "."), ""]
    if several:
        lines += ["| round | model version | onnxruntime threads | TF-IDF heads | cascade (share re-scored) | encoder on every comment |",
                  "|---|---|---|---|---|---|"]
    else:
        lines += ["| onnxruntime threads | TF-IDF heads | cascade (share re-scored) | encoder on every comment |", "|---|---|---|---|"]
    for r in results:
        cells = f"| {r['threads']} | {r['tfidf_per_second']:,.0f}/s | {r['cascade_per_second']:,.0f}/s " \
                f"({r['rescored_share']:.1%}) | {r['encoder_per_second']:,.0f}/s |"
        lines.append(f"| {r.get('round', 1)} | {r['model_version']} " + cells if several else cells)
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    """Command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, nargs="+", help="one or more encoder bundles (folders or versions)")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--out", type=Path, default=Path("reports/encoder_speed.md"))
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--rounds", type=int, default=1, help="times each bundle is timed, in turn with the others")
    args = parser.parse_args(argv)
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    try:
        check_writable(args.out, args.out.with_suffix(".json"))
        texts = speed_texts(args.data_dir)
        check_models(args.model)
        results = [{**measure(model, texts, threads), "round": round_}
                   for round_ in range(1, args.rounds + 1) for model in args.model for threads in args.threads]
    except (BundleError, DataError) as error:
        parser.error(str(error))
    except OSError as error:
        parser.error(out_problem(error))
    print(markdown(results))
    write_report(args.out, markdown(results), results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
