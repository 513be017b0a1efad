"""Retrain the TF-IDF bundle from the data into a scratch folder and check it reproduces the committed one.

Run with ``make reproduce`` (or ``python -m model.training.reproduce``): it prints the largest probe-score
difference and whether the model file is byte-identical, and exits 1 when predictions differ. The reference is
``bundles/1.4.0`` (``TFIDF_VERSION``), the TF-IDF bundle ``make train`` rebuilds, or the one ``--model`` names
(``--model bundles/1.2.0`` retrains without the added sets, as its manifest says; 1.2.0 and 1.3.0 are rebuilt
exactly by the code of commit 240ff17, the last before 1.4.0's normaliser and test-split hygiene); an encoder bundle is
rebuilt by ``make train-encoder`` or ``make requantise`` instead, and refused here.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

from model.bundle import BundleError, bundles_dir, load_bundle, read_manifest
from model.training.train import PROBE_TEXTS, SEED, TFIDF_VERSION, train_bundle

TOLERANCE = 1e-9


def compare(reference: Path, candidate: Path) -> dict:
    """Probe-score difference and model hash equality between two bundles."""
    old, new = load_bundle(reference), load_bundle(candidate)
    texts = list(PROBE_TEXTS)
    diff = float(np.max(np.abs(old.model.predict_proba(texts) - new.model.predict_proba(texts))))
    return {
        "max_probe_difference": diff,
        "same_predictions": diff <= TOLERANCE,
        "same_model_file": old.manifest["model_sha256"] == new.manifest["model_sha256"],
        "reference": str(reference),
        "candidate": str(candidate),
    }


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--model", default=None, help=f"TF-IDF bundle folder to reproduce (default: bundles/{TFIDF_VERSION})")
    args = parser.parse_args(argv)
    reference = Path(args.model) if args.model else bundles_dir() / TFIDF_VERSION
    try:
        manifest = read_manifest(reference)
    except BundleError as error:
        parser.error(str(error))
    if "encoder" in manifest:
        parser.error(f"{reference} is an encoder bundle: `make train-encoder` or `make requantise` rebuilds it; "
                     f"this command reproduces the TF-IDF bundle (bundles/{TFIDF_VERSION})")
    with tempfile.TemporaryDirectory() as scratch:
        candidate = train_bundle(args.data_dir, Path(scratch) / reference.name, make_current=False,
                                 seed=manifest.get("seed", SEED), added_sets="added_sets" in manifest)
        result = compare(reference, candidate)
    for key, value in result.items():
        print(f"{key}: {value}")
    return 0 if result["same_predictions"] else 1


if __name__ == "__main__":
    sys.exit(main())
