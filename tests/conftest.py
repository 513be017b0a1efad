"""Shared fixtures: a real tiny bundle trained on generated sentences (session scope), app and CLI."""

from __future__ import annotations

import pytest

from tests.corpus import make_claim_sentences, make_corpus, make_spans


@pytest.fixture(scope="session")
def tiny_bundle_path(tmp_path_factory):
    """A bundle fitted on the generated corpus with a fixed seed: small, fast, no network, no real data."""
    from model.train import train_from_frame

    frame = make_corpus()
    validation = make_corpus(120, seed=1)
    validation = {"tiny_val": validation.assign(label=validation["toxicity"])[["text", "label"]]}
    claims = make_claim_sentences(seed=0, n=40)
    held_out = make_claim_sentences(seed=1, n=10)
    claims_validation = {"tiny_claims": held_out.assign(label=(held_out["checkable"] == 1) & (held_out["supported"] == 0))[["text", "label"]]}
    out = tmp_path_factory.mktemp("bundle") / "tiny"
    return train_from_frame(frame, out, seed=0, validation=validation, claims_training=claims, claims_validation=claims_validation, span_training=make_spans(make_corpus(90, seed=2)), span_validation=make_spans(make_corpus(60, seed=3)), holdout_fraction=0.2, n_jobs=1)


@pytest.fixture(scope="session")
def scorer(tiny_bundle_path):
    """A Scorer on the tiny bundle."""
    from model.scoring import Scorer

    return Scorer.load(tiny_bundle_path)
