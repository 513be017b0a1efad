"""Speed of an encoder bundle's hostility scores: TF-IDF alone, the cascade, and the encoder on every comment.

``python -m model.evaluation.encoder_speed --model bundles/2.4.0 --out reports/encoder_speed.md`` scores the
same news comments (UCC validation, Globe and Mail) each way, in one process, best of ``REPEATS`` runs.
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


def measure(model_path: str | Path, data_dir=None, threads: int = 1, n_comments: int = N_COMMENTS) -> dict:
    """Comments per second of the three ways to score hostility, with ``threads`` onnxruntime threads.

    Raises ``DataError`` without the validation set and ``BundleError`` for a bundle without an encoder.
    """
    texts = load_validation_sets(data_dir)[SPEED_SET]["text"].tolist()[:n_comments]
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


def markdown(results: list[dict]) -> str:
    """A table of the measurements."""
    lines = ["# Encoder speed", "", f"`python -m model.evaluation.encoder_speed` for model version "
             f"**{results[0]['model_version']}**: {results[0]['comments']} "
             f"{results[0]['set']} comments, six hostility attributes, best of {REPEATS} runs, one process.", "",
             "| onnxruntime threads | TF-IDF heads | cascade (share re-scored) | encoder on every comment |",
             "|---|---|---|---|"]
    for r in results:
        lines.append(f"| {r['threads']} | {r['tfidf_per_second']:,.0f}/s | {r['cascade_per_second']:,.0f}/s "
                     f"({r['rescored_share']:.1%}) | {r['encoder_per_second']:,.0f}/s |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    """Command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--out", type=Path, default=Path("reports/encoder_speed.md"))
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args(argv)
    try:
        check_writable(args.out, args.out.with_suffix(".json"))
        results = [measure(args.model, args.data_dir, threads) for threads in args.threads]
    except (BundleError, DataError) as error:
        parser.error(str(error))
    except OSError as error:
        parser.error(out_problem(error))
    print(markdown(results))
    write_report(args.out, markdown(results), results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
