"""Features: the cached character TF-IDF equals scikit-learn's own char_wb TF-IDF."""

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer

from model.features import CharNgramTfidf, build_features
from model.sparse_rows import SMALL_BATCH_ROWS
from tests.corpus import make_corpus


def test_cached_char_tfidf_equals_sklearn_char_wb():
    texts = make_corpus(200)["text"].str.lower().tolist()
    ours = CharNgramTfidf(ngram_range=(2, 4), min_df=2, max_features=None).fit(texts)
    reference = TfidfVectorizer(analyzer="char_wb", lowercase=False, ngram_range=(2, 4), min_df=2, sublinear_tf=True,
                                dtype=np.float32).fit(texts)
    # One text, a few, and more than SMALL_BATCH_ROWS (counted by a sparse product instead).
    for probe in (texts[:1], texts[:50] + ["never seen wordsss here", ""], texts + texts[:SMALL_BATCH_ROWS]):
        assert abs(ours.transform(probe) - reference.transform(probe)).max() < 1e-12
        # A second call goes through the word cache and must give the same matrix.
        assert abs(ours.transform(probe) - reference.transform(probe)).max() < 1e-12


def test_pickled_char_tfidf_drops_its_cache():
    import pickle

    texts = make_corpus(60)["text"].tolist()
    ours = CharNgramTfidf().fit(texts)
    ours.transform(texts)
    restored = pickle.loads(pickle.dumps(ours))
    assert "_grams" in ours.__dict__ and "_grams" not in restored.__dict__
    assert np.allclose(restored.transform(texts).toarray(), ours.transform(texts).toarray())


def test_feature_pipeline_sees_through_obfuscation():
    features = build_features().fit(make_corpus(200)["text"].tolist())
    plain, disguised = features.transform(["you are an idiot", "you are an 1d10t"])
    assert abs(plain - disguised).max() < 1e-6
