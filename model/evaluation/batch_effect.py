"""How far a comment's scores and decision move with the comments scored beside it: alone against in batches.

``python -m model.evaluation.batch_effect --model 2.7.0 --out reports/batch_effect.md`` scores the texts of ``make
bench`` (the shuffled public test sets, or generated sentences without data) once each on its own, as the
Perspective and Coral endpoints do, and once in consecutive batches, as ``/v1/moderate`` and ``moderate score`` do,
and reports the largest differences. Bundles 2.2.0-2.6.0 quantise the encoder's activations per call, so their
scores move; 2.7.0 quantises them per token (``model.training.quantisation``), so what is left is rounding.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from model.evaluation.benchmark import benchmark_texts
from model.evaluation.report_format import write_report
from model.scoring import Scorer

N_TEXTS = 500
BATCH = 100


def measure(model_path: str | Path | None, n_texts: int = N_TEXTS, batch: int = BATCH, data_dir=None,
            progress=iter) -> dict:
    """Differences between each text decided alone and in batches of ``batch``, per attribute and in decisions."""
    scorer = Scorer.load(model_path)
    texts, source = benchmark_texts(n_texts, data_dir)
    alone = [decision for text in progress(texts) for decision in scorer.moderate([text], with_spans=False)]
    together = [decision for start in range(0, len(texts), batch)
                for decision in scorer.moderate(texts[start:start + batch], with_spans=False)]
    attributes = scorer.attributes
    first = np.array([[d.scores[a] for a in attributes] for d in alone])
    second = np.array([[d.scores[a] for a in attributes] for d in together])
    gaps = np.abs(first - second)
    changed = [i for i, (a, b) in enumerate(zip(alone, together)) if a.action != b.action]
    return {
        "model_version": scorer.model_version, "encoder_mode": scorer.encoder_mode, "texts": len(texts),
        "source": source, "batch": batch,
        "attributes": {a: {"mean": float(gaps[:, j].mean()), "p99": float(np.percentile(gaps[:, j], 99)),
                           "max": float(gaps[:, j].max())} for j, a in enumerate(attributes)},
        "decisions_changed": len(changed),
        "changed": [{"text": texts[i][:80], "alone": alone[i].action, "in_batch": together[i].action} for i in changed],
    }


def markdown(results: list[dict]) -> str:
    """One table per bundle: score differences per attribute, and the decisions that changed."""
    lines = ["# Scores alone and in a batch", "",
             f"`python -m model.evaluation.batch_effect`: {results[0]['texts']} texts ({results[0]['source']}), "
             f"each decided alone and in batches of {results[0]['batch']}, without spans; absolute differences of "
             "the probabilities.", ""]
    for result in results:
        lines += [f"## {result['model_version']} (encoder mode: {result['encoder_mode'] or 'none'})", "",
                  f"Decisions changed: **{result['decisions_changed']} of {result['texts']}**.", "",
                  "| attribute | mean | 99th percentile | largest |", "|---|---|---|---|"]
        for name, gap in result["attributes"].items():
            lines.append(f"| {name} | {gap['mean']:.2g} | {gap['p99']:.2g} | {gap['max']:.2g} |")
        lines += [""] + [f"- {c['alone']} alone, {c['in_batch']} in a batch: {c['text']!r}" for c in result["changed"]]
        lines.append("")
    return "\n".join(lines)


def main(argv=None) -> int:
    """Command line."""
    from tqdm import tqdm

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", nargs="+", default=[None], help="bundle folders or versions (default: CURRENT)")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--texts", type=int, default=N_TEXTS)
    parser.add_argument("--batch", type=int, default=BATCH)
    parser.add_argument("--out", type=Path, default=Path("reports/batch_effect.md"))
    args = parser.parse_args(argv)
    if args.texts < 1 or args.batch < 1:
        parser.error("--texts and --batch must be at least 1")
    results = [measure(model, args.texts, args.batch, args.data_dir, progress=lambda t: tqdm(t, desc="alone", unit="text"))
               for model in args.model]
    print(markdown(results))
    write_report(args.out, markdown(results), results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
