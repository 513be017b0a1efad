"""alt-profanity-check as a prior: copied faithfully, blended in logit space, weighted on validation data."""

import pickle

import numpy as np
import pytest

from model.prior import PretrainedProfanityScore, blend
from model.training.prior_weight import choose_prior_weight

TEXTS = ["You are a complete idiot and a liar.", "Thanks for the thoughtful article.", "shut the f*ck up",
         "The council voted 7-2 to approve the budget.", "", "what a stupid, ugly take, moron"]


@pytest.fixture(scope="module")
def prior():
    return PretrainedProfanityScore().fit()


def test_prior_equals_the_package(prior):
    from profanity_check import predict_prob

    np.testing.assert_allclose(prior.predict_proba(TEXTS), predict_prob(TEXTS), atol=1e-12)


def test_prior_ranks_insults_above_civil_text(prior):
    scores = prior.predict_proba(TEXTS)
    assert scores[0] > scores[1] and scores[5] > scores[3]


def test_prior_survives_pickling_and_records_provenance(prior):
    copy = pickle.loads(pickle.dumps(prior))
    np.testing.assert_array_equal(copy.predict_proba(TEXTS), prior.predict_proba(TEXTS))
    assert copy.provenance()["license"] == "MIT" and copy.provenance()["version"]


def test_blend_ends_and_middle():
    ours, other = np.array([0.1, 0.5, 0.9]), np.array([0.9, 0.5, 0.1])
    np.testing.assert_allclose(blend(ours, other, 0.0), ours)
    np.testing.assert_allclose(blend(ours, other, 1.0), other)
    np.testing.assert_allclose(blend(ours, other, 0.5), [0.5, 0.5, 0.5])
    assert np.all((blend([0.0, 1.0], [1.0, 0.0], 0.3) > 0) & (blend([0.0, 1.0], [1.0, 0.0], 0.3) < 1))


def test_weight_helps_only_when_the_prior_carries_signal():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 2000)
    ours = np.clip(0.5 + 0.2 * (y - 0.5) + rng.normal(0, 0.25, y.size), 0.01, 0.99)
    informative = np.clip(0.5 + 0.2 * (y - 0.5) + rng.normal(0, 0.25, y.size), 0.01, 0.99)
    noise = rng.uniform(0.01, 0.99, y.size)
    helped, metrics = choose_prior_weight({"a": (y, ours, informative)})
    assert 0.3 <= helped <= 0.7
    assert metrics["grid"][str(helped)]["mean"] > metrics["grid"]["0.0"]["mean"]
    unhelped, _ = choose_prior_weight({"a": (y, ours, noise)})
    assert unhelped <= 0.05


def test_weight_needs_validation_data():
    with pytest.raises(ValueError, match="validation"):
        choose_prior_weight({})


def test_training_records_the_prior_and_the_model_blends_only_toxicity(tiny_bundle_path, prior):
    from model.bundle import load_bundle
    from model.moderation_model import ModerationModel

    bundle = load_bundle(tiny_bundle_path)
    recorded = bundle.manifest["prior"]
    assert recorded["license"] == "MIT" and recorded["attribute"] == "toxicity"
    assert str(recorded["weight"]) in recorded["grid"] and "tiny_val" in recorded["grid"]["0.0"]
    alone = ModerationModel(bundle.model.hostility)
    blended = ModerationModel(bundle.model.hostility, prior=prior, prior_weights={"toxicity": 0.5})
    a, b = alone.predict_proba(TEXTS[:4]), blended.predict_proba(TEXTS[:4])
    column = alone.hostility_attributes.index("toxicity")
    assert not np.allclose(a[:, column], b[:, column])
    np.testing.assert_array_equal(np.delete(a, column, axis=1), np.delete(b, column, axis=1))
