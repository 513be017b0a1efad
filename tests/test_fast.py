"""The fast prediction path equals scikit-learn's own predict_proba."""

import numpy as np

from model.fast import pipeline_proba, transform
from tests.corpus import make_corpus


def test_fast_hostility_scores_equal_sklearn(tiny_bundle_path):
    from model.bundle import load_bundle

    model = load_bundle(tiny_bundle_path).model
    texts = make_corpus(40, seed=11)["text"].tolist() + ["", "1d10t!!", "Ünïcödé ｔｅｘｔ"]
    heads = model.hostility.named_steps["heads"]
    reference = np.column_stack([est.predict_proba(model.hostility.named_steps["features"].transform(texts))[:, 1] for est in heads.estimators_])
    assert np.allclose(model.predict_proba(texts)[:, : len(heads.attributes)], reference, atol=1e-12, rtol=0)
    assert np.allclose(model.hostility.predict_proba(texts), reference, atol=1e-12, rtol=0)


def test_fast_claim_scores_equal_sklearn(tiny_bundle_path):
    from model.bundle import load_bundle

    claims = load_bundle(tiny_bundle_path).model.claims
    texts = ["Turkey paid $2.5bn in 2015.", "I think so.", "According to Reuters, it rained."]
    for pipeline in (claims.checkable_, claims.supported_):
        assert np.allclose(pipeline_proba(pipeline, texts), pipeline.predict_proba(texts)[:, 1], atol=1e-12, rtol=0)


def test_transform_walks_a_feature_union(tiny_bundle_path):
    from model.bundle import load_bundle

    features = load_bundle(tiny_bundle_path).model.hostility.named_steps["features"]
    texts = ["you are an idiot", "the plan is late"]
    assert abs(transform(features, texts) - features.transform(texts)).max() < 1e-12


def test_tfidf_transform_equals_sklearn():
    from sklearn.feature_extraction.text import TfidfVectorizer

    from model.fast import tfidf_transform

    texts = make_corpus(80, seed=12)["text"].tolist()
    for options in ({"ngram_range": (1, 2), "sublinear_tf": True}, {"analyzer": "char_wb", "ngram_range": (2, 4)}, {"norm": None, "use_idf": False}):
        vectorizer = TfidfVectorizer(**options).fit(texts)
        probe = texts[:20] + ["", "unseen words only"]
        assert abs(tfidf_transform(vectorizer, probe) - vectorizer.transform(probe)).max() < 1e-12
