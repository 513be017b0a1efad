"""The fast prediction path equals scikit-learn's own transform and predict_proba (to 1e-12)."""

import random

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import FeatureUnion, Pipeline

from model.fast_transform import (
    _ANALYZERS,
    WORD_NGRAMS_MIN_DOCS,
    tfidf_block,
    tfidf_rows,
    tfidf_transform,
    transform,
)
from model.features import CharNgramTfidf
from model.sparse_rows import SMALL_BATCH_ROWS, Rows, hstack_rows, rows_dot
from model.stacked_linear import pipeline_proba, pipelines_proba
from model.tfidf_weights import TfidfWeights
from model.word_grams import WordGrams, char_wb_grams
from model.word_index import _IS_SPACE, ScannedWords, WordIndex, _Buffer
from model.word_ngrams import WordNgrams, tokens_stay_inside_words
from tests.corpus import make_corpus

TOLERANCE = 1e-12
_PIECES = ("idiot", "f*ck", "sh!t", "@user", "http://x.com/a", "2.5 billion", "According to", "I think", "www.bbc.co.uk",
           "Mr.", "U.S.", "e.g.", "stupiiiid", "i d i o t", "1d10t", "$hit", "...", "!!!", "?", "5%", "1999", "ΑΣ", "İstanbul")
_ALPHABET = "abcdefghijklmnopqrstuvwxyz ABCXYZ0123456789.,!?*#@$%'\"-_\n\t€éüßа\u0300\u200b😀ﬁ     "


def generated_texts(n: int, seed: int = 0) -> list[str]:
    """Comment-like noise: known tricky pieces and random characters (unicode, masks, whitespace runs)."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        parts = [rng.choice(_PIECES) if rng.random() < 0.5 else "".join(rng.choice(_ALPHABET) for _ in range(rng.randint(1, 12)))
                 for _ in range(rng.randint(0, 30))]
        out.append(rng.choice([" ", "  ", ". ", "\n", "! "]).join(parts))
    return out + ["", " ", "a", "?", "!" * 300, "word " * 200]


def _max_difference(a, b) -> float:
    difference = abs(sp.csr_matrix(a) - sp.csr_matrix(b))
    return float(difference.max()) if difference.nnz else 0.0


@pytest.fixture(scope="module")
def tiny_model(tiny_bundle_path):
    from model.bundle import load_bundle

    return load_bundle(tiny_bundle_path).model


def _sklearn_features(features: Pipeline) -> Pipeline:
    """The hostility features with ``CharNgramTfidf`` replaced by scikit-learn's own char_wb TF-IDF (same weights)."""
    normalizer, union = features.named_steps["normalize"], features.named_steps["tfidf"]
    parts = []
    for name, part in union.transformer_list:
        if isinstance(part, CharNgramTfidf):
            reference = TfidfVectorizer(analyzer="char_wb", lowercase=False, ngram_range=tuple(part.ngram_range),
                                        vocabulary=part.vocabulary_, sublinear_tf=True, dtype=np.float32).fit(["x"])
            reference.idf_ = part.idf_
            part = reference
        parts.append((name, part))
    return Pipeline([("normalize", normalizer), ("tfidf", FeatureUnion(parts))])


@pytest.mark.parametrize("n_texts", [1, 7, SMALL_BATCH_ROWS + 40])
def test_fast_hostility_scores_equal_sklearn(tiny_model, n_texts):
    texts = (make_corpus(40, seed=11)["text"].tolist() + generated_texts(n_texts, seed=n_texts))[-n_texts:]
    heads = tiny_model.hostility.named_steps["heads"]
    X = _sklearn_features(tiny_model.hostility.named_steps["features"]).transform(texts)
    reference = np.column_stack([est.predict_proba(X)[:, 1] for est in heads.estimators_])
    assert np.abs(tiny_model.predict_proba(texts)[:, : len(heads.attributes)] - reference).max() < TOLERANCE
    assert np.abs(tiny_model.hostility.predict_proba(texts) - reference).max() < TOLERANCE
    one_by_one = np.vstack([tiny_model.predict_proba([text])[:, : len(heads.attributes)] for text in texts[:20]])
    assert np.abs(one_by_one - reference[:20]).max() < TOLERANCE


def test_transform_walks_a_feature_union(tiny_model):
    features = tiny_model.hostility.named_steps["features"]
    texts = generated_texts(30, seed=3)
    assert _max_difference(transform(features, texts), _sklearn_features(features).transform(texts)) < TOLERANCE


@pytest.mark.parametrize("n_texts", [1, 5, SMALL_BATCH_ROWS + 40])
def test_fast_claim_scores_equal_sklearn(tiny_model, n_texts):
    claims = tiny_model.claims
    texts = (["Turkey paid $2.5bn in 2015.", "I think so.", "According to Reuters, it rained."] + generated_texts(n_texts, seed=5))[:n_texts]
    heads = (claims.checkable_, claims.supported_)
    together = pipelines_proba(heads, texts)
    for pipeline, fast_scores in zip(heads, together):
        reference = pipeline.predict_proba(texts)[:, 1]
        assert np.abs(fast_scores - reference).max() < TOLERANCE
        assert np.abs(pipeline_proba(pipeline, texts) - reference).max() < TOLERANCE


def test_claim_sentences_are_scored_once_for_scores_and_spans(tiny_model):
    claims = tiny_model.claims
    comments = ["Turkey paid $2.5bn in 2015. I think so! According to Reuters, it rained.", "", "Taxes rose 5% in 2019."]
    scored = claims.scored_sentences(comments)
    assert [[(b, e) for b, e, _ in found] for found in scored] == [
        [(b, e) for b, e, _ in sorted(claims.explain(c))] for c in comments]
    for comment, found in zip(comments, scored):
        pieces = [comment[b:e] for b, e, _ in found]
        expected = claims.checkable_.predict_proba(pieces)[:, 1] * (1 - claims.supported_.predict_proba(pieces)[:, 1]) if pieces else []
        assert np.abs(np.array([s for _, _, s in found]) - expected).max(initial=0) < TOLERANCE
        assert claims.explain(comment) == sorted(found, key=lambda item: -item[2])
    assert np.array_equal(claims.predict_proba(comments), [max([0.0] + [s for _, _, s in f]) for f in scored])


def test_predict_and_explain_equals_predict_proba_and_explain(tiny_model):
    texts = generated_texts(12, seed=9)[:12] + ["You are a stupid clown. Turkey paid $2.5bn in 2015."]
    probabilities, spans = tiny_model.predict_and_explain(texts)
    assert np.array_equal(probabilities, tiny_model.predict_proba(texts))
    assert spans == tiny_model.explain(texts)


def test_predict_hostility_is_predict_proba_without_the_claim_column(tiny_model):
    texts = generated_texts(12, seed=5) + ["You are a stupid clown. Turkey paid $2.5bn in 2015."]
    hostility = tiny_model.predict_hostility(texts)
    assert hostility.shape == (len(texts), len(tiny_model.hostility_attributes))
    assert np.array_equal(hostility, tiny_model.predict_proba(texts)[:, : len(tiny_model.hostility_attributes)])


def test_moderate_scores_equal_predict_scores(scorer):
    texts = generated_texts(10, seed=2) + ["You are a pathetic loser.", "", None]
    scores = scorer.predict_scores(texts)
    for with_spans in (True, False):
        decisions = scorer.moderate(texts, with_spans=with_spans)
        assert np.array_equal(np.array([list(d.scores.values()) for d in decisions]), scores)


class _CountingCues(TransformerMixin, BaseEstimator):
    """Stateless: text length as one column; counts its calls."""

    calls = 0

    def __init__(self, scale: float = 1.0):
        self.scale = scale

    def fit(self, X, y=None):
        return self

    def transform(self, X):
        type(self).calls += 1
        return sp.csr_matrix(np.array([[len(x) * self.scale] for x in X], dtype=np.float64))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.requires_fit = False
        tags.input_tags.string = True
        tags.input_tags.two_d_array = False
        return tags


def test_pipelines_share_a_stateless_part_and_stay_equal_to_sklearn():
    texts = make_corpus(60, seed=1)["text"].tolist()
    y = np.arange(len(texts)) % 2
    first = Pipeline([("features", FeatureUnion([("words", TfidfVectorizer()), ("cues", _CountingCues())])),
                      ("classifier", LogisticRegression())]).fit(texts, y)
    # The same tokens as the first pipeline's words (shared), counted against another vocabulary.
    second = Pipeline([("features", FeatureUnion([("words", TfidfVectorizer(max_features=40, sublinear_tf=True)),
                                                  ("chars", TfidfVectorizer(analyzer="char_wb")), ("cues", _CountingCues())],
                                                 transformer_weights={"cues": 0.5})),
                       ("classifier", LogisticRegression())]).fit(texts, y)
    other = Pipeline([("features", FeatureUnion([("cues", _CountingCues(scale=2.0))])), ("classifier", LogisticRegression())]).fit(texts, y)
    _CountingCues.calls = 0
    scores = pipelines_proba([first, second, other], texts)
    assert _CountingCues.calls == 2  # shared by the first two (equal parameters), not by the third
    for pipeline, found in zip((first, second, other), scores):
        assert np.abs(found - pipeline.predict_proba(texts)[:, 1]).max() < TOLERANCE


@pytest.mark.parametrize("options", [
    {"ngram_range": (1, 2), "sublinear_tf": True},
    {"analyzer": "char_wb", "ngram_range": (2, 4), "sublinear_tf": True},
    {"analyzer": "char_wb", "ngram_range": (1, 3), "lowercase": False, "dtype": np.float32},
    {"analyzer": "char", "ngram_range": (2, 3)},
    {"norm": None, "use_idf": False},
    {"norm": "l1", "binary": True},
    {"stop_words": "english", "ngram_range": (1, 3), "sublinear_tf": True},
    {"ngram_range": (2, 2), "token_pattern": r"(?u)\b\w+\b|[!?]", "lowercase": False},
    {"token_pattern": r"(\w+)'?", "ngram_range": (1, 2), "min_df": 2, "max_features": 50},
])
@pytest.mark.parametrize("n_texts", [1, WORD_NGRAMS_MIN_DOCS, 9, SMALL_BATCH_ROWS + 30])
def test_tfidf_transform_equals_sklearn(options, n_texts):
    texts = make_corpus(80, seed=12)["text"].tolist() + generated_texts(40, seed=1)
    vectorizer = TfidfVectorizer(**options).fit(texts)
    probe = (generated_texts(n_texts, seed=n_texts) + ["", "unseen wordsss only"])[-n_texts:]
    expected = vectorizer.transform(probe)
    found = tfidf_transform(vectorizer, probe)
    assert found.shape == expected.shape and found.dtype == expected.dtype
    assert _max_difference(found, expected) < TOLERANCE
    # The second call goes through the per-word cache (char_wb) and must give the same matrix.
    assert _max_difference(tfidf_rows(vectorizer, probe).tocsr(), expected) < TOLERANCE


_VECTORIZER_OPTIONS = [
    {"analyzer": "char_wb", "ngram_range": (2, 4), "sublinear_tf": True},
    {"analyzer": "char_wb", "ngram_range": (1, 3), "lowercase": False, "dtype": np.float32, "sublinear_tf": True},
    {"analyzer": "char_wb", "ngram_range": (2, 3), "lowercase": False, "binary": True, "norm": None},
    {"norm": None, "use_idf": False},
    {"stop_words": "english", "ngram_range": (1, 3), "sublinear_tf": True},
    {"ngram_range": (2, 2), "token_pattern": r"(?u)\b\w+\b|[!?]", "lowercase": False, "dtype": np.float32},
    {"token_pattern": r"(\w+)'?", "ngram_range": (1, 2), "min_df": 2, "max_features": 50, "binary": True},
    {"token_pattern": r"\S+", "ngram_range": (1, 2)},  # sees no space: tokens through the analyzer, not by word
]


@pytest.mark.parametrize("options", _VECTORIZER_OPTIONS)
@pytest.mark.parametrize("n_texts", [1, WORD_NGRAMS_MIN_DOCS, 9, SMALL_BATCH_ROWS + 30])
def test_linear_block_product_equals_sklearn(options, n_texts):
    """A kernel's ``X @ coef`` equals scikit-learn's matrix times the coefficients; the block builds that matrix."""
    texts = make_corpus(80, seed=12)["text"].tolist() + generated_texts(40, seed=1)
    vectorizer = TfidfVectorizer(**options).fit(texts)
    probe = (generated_texts(n_texts, seed=n_texts) + ["", "unseen wordsss only"])[-n_texts:]
    block = tfidf_block(vectorizer, probe)
    assert block is not None and (block.n_rows, block.n_columns) == (n_texts, len(vectorizer.vocabulary_))
    coef = np.random.default_rng(0).normal(size=(block.n_columns, 3))
    expected = vectorizer.transform(probe)
    assert np.abs(block.dot(coef) - expected @ coef).max() < TOLERANCE
    assert _max_difference(block.rows().tocsr(), expected) < TOLERANCE
    assert np.abs(rows_dot([block, block], np.vstack([coef, coef])) - 2 * (expected @ coef)).max() < TOLERANCE


def test_linear_block_counts_beyond_the_first_tf_table():
    """A word repeated thousands of times needs a longer table of term-frequency weights than the first one."""
    vectorizer = TfidfVectorizer(analyzer="char_wb", ngram_range=(1, 2), sublinear_tf=True).fit(["ab ba", "a b"])
    probe = ["ab " * 5000, "ba", "b a " * 3000, ""]
    coef = np.arange(len(vectorizer.vocabulary_), dtype=float)[:, None]
    assert np.abs(tfidf_block(vectorizer, probe).dot(coef) - vectorizer.transform(probe) @ coef).max() < TOLERANCE


def test_no_linear_block_where_no_kernel_reproduces_the_vectorizer():
    texts = make_corpus(30, seed=3)["text"].tolist()
    docs = texts[: WORD_NGRAMS_MIN_DOCS]
    assert tfidf_block(TfidfVectorizer(norm="l1").fit(texts), docs) is None
    assert tfidf_block(TfidfVectorizer(analyzer="char", ngram_range=(2, 3)).fit(texts), docs) is None


@pytest.mark.parametrize("n_texts", [1, 7, SMALL_BATCH_ROWS + 40])
def test_char_ngram_linear_block_equals_its_transform(n_texts):
    texts = make_corpus(80, seed=5)["text"].tolist()
    part = CharNgramTfidf(ngram_range=(2, 4), min_df=1, max_features=None).fit(texts)
    probe = generated_texts(n_texts, seed=3)[-n_texts:]
    block = part.linear_block(probe)
    coef = np.random.default_rng(1).normal(size=(block.n_columns, 2))
    assert np.abs(block.dot(coef) - part.transform(probe) @ coef).max() < TOLERANCE


def test_char_wb_grams_equal_sklearn_analyzer():
    rng = random.Random(0)
    for ngram_range in [(1, 1), (2, 5), (1, 3), (3, 3)]:
        analyzer = TfidfVectorizer(analyzer="char_wb", lowercase=False, ngram_range=ngram_range).build_analyzer()
        grams = char_wb_grams(ngram_range)
        for _ in range(500):
            word = "".join(rng.choice("ab€😀c") for _ in range(rng.randint(1, 9)))
            assert sorted(grams(word)) == sorted(analyzer(word)), word


def _random_csr(rng, n_rows, n_columns, dtype, density=0.2):
    matrix = sp.random(n_rows, n_columns, density=density, format="csr", dtype=dtype, random_state=rng)
    kept = (rng.random(n_rows) > 0.3).astype(dtype)  # some empty rows
    matrix = (sp.diags(kept) @ matrix).astype(dtype).tocsr()
    matrix.eliminate_zeros()
    return matrix


@pytest.mark.parametrize("n_rows", [0, 1, 6, 40])
def test_hstack_rows_equals_scipy_hstack(n_rows):
    rng = np.random.default_rng(n_rows)
    blocks = [_random_csr(rng, n_rows, width, dtype) for width, dtype in ((7, np.float32), (1, np.float32), (12, np.float64))]
    found = hstack_rows([Rows.from_sparse(b) for b in blocks])
    expected = sp.hstack(blocks, format="csr") if n_rows else sp.csr_matrix((0, 20))
    assert found.shape == expected.shape and found.data.dtype == expected.dtype
    assert _max_difference(found.tocsr(), expected) == 0.0


@pytest.mark.parametrize("n_rows", [0, 1, 5, SMALL_BATCH_ROWS + 1])
def test_rows_dot_equals_sparse_product(n_rows):
    rng = np.random.default_rng(n_rows)
    X = _random_csr(rng, n_rows, 30, np.float32)
    coef = rng.normal(size=(30, 3))
    found = rows_dot(Rows.from_sparse(X), coef)
    assert found.shape == (n_rows, 3)
    assert np.abs(found - X @ coef).max(initial=0) < TOLERANCE


def test_word_cache_is_bounded_and_stays_exact(monkeypatch):
    texts = make_corpus(80, seed=4)["text"].tolist()
    vectorizer = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 4)).fit(texts)
    expected = vectorizer.transform(texts)
    tfidf_rows(vectorizer, texts[:1])
    cache = next(cell.cell_contents for cell in _ANALYZERS[vectorizer][1].__closure__ if isinstance(cell.cell_contents, WordGrams))
    cache.max_words = 5
    assert _max_difference(tfidf_transform(vectorizer, texts), expected) < TOLERANCE
    assert len(cache.words) <= 5
    for text in texts[:10] + [" ".join(texts[:3])]:
        assert _max_difference(tfidf_transform(vectorizer, [text]), vectorizer.transform([text])) < TOLERANCE
        assert len(cache.words) <= 5


def test_a_refitted_vectorizer_is_not_served_from_the_old_cache():
    texts = make_corpus(80, seed=4)["text"].tolist()
    vectorizer = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 3)).fit(texts[:40])
    tfidf_transform(vectorizer, texts)
    vectorizer.fit(texts[40:] + ["zzz qqq"])
    assert _max_difference(tfidf_transform(vectorizer, texts), vectorizer.transform(texts)) < TOLERANCE


def test_a_refitted_pipeline_is_not_scored_with_its_old_coefficients():
    texts = make_corpus(80, seed=6)["text"].tolist()
    pipeline = Pipeline([("words", TfidfVectorizer()), ("classifier", LogisticRegression())])
    pipeline.fit(texts, np.arange(len(texts)) % 2)
    pipeline_proba(pipeline, texts)
    pipeline.fit(texts, (np.arange(len(texts)) // 3) % 2)
    assert np.abs(pipeline_proba(pipeline, texts) - pipeline.predict_proba(texts)[:, 1]).max() < TOLERANCE


def test_word_ngrams_never_join_tokens_across_documents_or_stop_words():
    vectorizer = TfidfVectorizer(ngram_range=(1, 2), stop_words=["the"]).fit(["red car", "car red", "red the car"])
    assert WordNgrams.is_plain_word(vectorizer)
    docs = ["red", "car", "red the car", "the", "", "car red red car"]
    found = WordNgrams(vectorizer).count_rows(WordNgrams(vectorizer).tokens(docs), np.float64).tocsr()
    expected = CountVectorizer(vocabulary=vectorizer.vocabulary_, ngram_range=(1, 2), stop_words=["the"]).transform(docs)
    assert _max_difference(found, expected) == 0.0
    assert found[0, vectorizer.vocabulary_["red car"]] == 0  # "red" | "car" are two documents
    assert found[2, vectorizer.vocabulary_["red car"]] == 1  # "the" is dropped before bigrams are made


def test_a_word_vocabulary_with_spaces_in_tokens_takes_the_analyzer_path():
    vectorizer = TfidfVectorizer(tokenizer=lambda text: [text], token_pattern=None).fit(["a b", "c"])
    assert not WordNgrams.is_plain_word(vectorizer)
    docs = ["a b"] * WORD_NGRAMS_MIN_DOCS
    assert _max_difference(tfidf_transform(vectorizer, docs), vectorizer.transform(docs)) < TOLERANCE


@pytest.mark.parametrize("pattern, inside", [
    (r"(?u)\b\w\w+\b", True), (r"(?u)\b\w+\b|[!?]", True), (r"(?u)\b\w+\b|[?!%$\"]", True),
    (r"\S+", False), (r"\w+(?= )", False), (r"[^a]+", False), (r".+", False), (r"^\w+", False),
    (r"\w+$", False), (r"[ a]+", False), (r"\w+|[!\s]", False), (r"(\w+)\'?", False),
])
def test_tokens_stay_inside_words(pattern, inside):
    assert tokens_stay_inside_words(pattern) is inside


@pytest.mark.parametrize("pattern", [r"(?u)\b\w\w+\b", r"(?u)\b\w+\b|[!?]", r"(?u)\b\w+\b|[?!%$\"]"])
def test_word_by_word_tokens_equal_sklearn_on_awkward_whitespace(pattern):
    rng = random.Random(3)
    pieces = ["ab", "b", "c_d", "1", "22", "!", "?", "%", "$", '"', " ", "  ", "\t", "\n", "\xa0", "\u2003", "é", "x-y", ".", ","]
    texts = ["".join(rng.choice(pieces) for _ in range(rng.randint(0, 30))) for _ in range(300)]
    vectorizer = TfidfVectorizer(token_pattern=pattern, ngram_range=(1, 3), stop_words=["b"]).fit(texts)
    assert WordNgrams(vectorizer).by_word is not None
    for probe in (texts[:WORD_NGRAMS_MIN_DOCS], texts):
        assert _max_difference(tfidf_transform(vectorizer, probe), vectorizer.transform(probe)) < TOLERANCE


def test_buffer_appends_like_concatenate():
    rng = np.random.default_rng(1)
    buffer, parts = _Buffer(np.int32), []
    for _ in range(40):
        part = rng.integers(0, 100, size=int(rng.integers(0, 30)), dtype=np.int32)
        buffer.extend(part)
        parts.append(part)
        assert len(buffer) == sum(map(len, parts))
        assert np.array_equal(buffer.array, np.concatenate(parts))


def test_word_cache_is_shared_safely_by_threads():
    """A threaded server scores with one model: words added by concurrent calls must keep their own columns."""
    from concurrent.futures import ThreadPoolExecutor

    texts = generated_texts(400, seed=21)
    vectorizer = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 4)).fit(texts)
    groups = [texts[i::8] for i in range(8)]  # each thread brings words the others have not cached yet
    expected = [vectorizer.transform(group) for group in groups]
    with ThreadPoolExecutor(8) as pool:
        found = list(pool.map(lambda group: tfidf_transform(vectorizer, group), groups))
    for got, want in zip(found, expected):
        assert _max_difference(got, want) < TOLERANCE


def test_kernels_compile_in_memory_where_no_cache_directory_is_writable(monkeypatch):
    """numba refuses ``cache=True`` when it finds no writable directory; the kernels then compile without it."""
    from model import kernels

    compiled = []

    def fake_njit(**options):
        if options.get("cache"):
            raise RuntimeError("cannot cache function 'f': no locator available for file 'kernels.py'")
        compiled.append(options)
        return lambda function: function

    monkeypatch.setattr(kernels, "njit", fake_njit)
    assert kernels._compiled()(lambda x: x + 1)(1) == 2
    assert compiled == [{"nogil": True}]


_SPACES = " \t\n\r\x0b\x0c\x1c\x1d\x1e\x1f\x85\xa0\u1680\u2000\u2003\u2028\u2029\u202f\u205f\u3000"


def _random_docs(rng: random.Random, n: int) -> list[str]:
    pieces = ["ab", "b", "é", "😀", "\ud800", "x1", "", "word", "Wörd", "\u200b", "a.b"] + list(_SPACES)
    return ["".join(rng.choice(pieces) for _ in range(rng.randint(0, 12))) for _ in range(n)]


def _scanned_as_words(scanned: ScannedWords) -> list[list[str]]:
    return [[scanned.words[i] for i in scanned.ids[a:b]] for a, b in zip(scanned.doc_ptr[:-1], scanned.doc_ptr[1:])]


def test_word_index_scan_splits_as_str_split():
    rng = random.Random(4)
    index = WordIndex(max_words=60)  # small: the index is emptied again and again
    for _ in range(200):
        docs = _random_docs(rng, rng.randint(0, 9))
        assert _scanned_as_words(index.scan(docs)) == [doc.split() for doc in docs], docs


def test_no_space_above_the_word_index_table():
    assert all(not chr(code).isspace() for code in range(len(_IS_SPACE), 0x110000))
    assert all(_IS_SPACE[code] == chr(code).isspace() for code in range(len(_IS_SPACE)))


def test_word_index_confirms_a_hash_match_character_by_character():
    """A word whose hash equals a known word's is not taken for it."""
    from model import kernels

    codes = np.frombuffer("ab cd".encode("utf-32-le"), dtype=np.uint32)
    seed = np.uint64(12345)
    cd_hash = kernels._hash(codes, 3, 5, seed)
    slots = np.full(8, -1, dtype=np.int64)
    hashes = np.array([cd_hash], dtype=np.uint64)  # "ab" stored under the hash of "cd"
    kernels.insert_words(slots, hashes, 0, 1)
    found = kernels.scan_words(codes, np.array([0]), np.array([5]), _IS_SPACE, slots, hashes, codes[:2],
                               np.array([0]), np.array([2]), seed)
    assert found[1].tolist() == [-1, -1]  # "ab" has another hash; "cd" matches the hash but not the letters
    found = kernels.scan_words(codes, np.array([0]), np.array([5]), _IS_SPACE, slots, hashes, codes[3:5],
                               np.array([0]), np.array([2]), seed)
    assert found[1].tolist() == [-1, 0]


def test_word_cache_follows_the_index_across_generations():
    """A cache translates index ids through an array; emptying the index or the cache must not mix words up."""
    vectorizer = TfidfVectorizer(analyzer="char_wb", ngram_range=(1, 3), lowercase=False).fit(make_corpus(40, seed=2)["text"])
    rng = random.Random(5)
    index = WordIndex(max_words=50)
    cache = WordGrams(char_wb_grams((1, 3)), vectorizer.vocabulary_, max_words=30)
    weights = TfidfWeights.of_vectorizer(vectorizer)
    coef = np.random.default_rng(2).normal(size=(len(vectorizer.vocabulary_), 2))
    for _ in range(60):
        docs = _random_docs(rng, rng.randint(1, 8))
        block = cache.block(index.scan(docs), weights, lambda: None)
        assert np.abs(block.dot(coef) - vectorizer.transform(docs) @ coef).max() < TOLERANCE, docs


def test_word_index_scans_from_many_threads():
    from concurrent.futures import ThreadPoolExecutor

    index = WordIndex(max_words=300)

    def check(seed):
        rng = random.Random(seed)
        for _ in range(30):
            docs = _random_docs(rng, 20)
            assert _scanned_as_words(index.scan(docs)) == [doc.split() for doc in docs]

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(check, range(8)))


@pytest.mark.parametrize("options", [{"analyzer": "char_wb", "ngram_range": (2, 3)}, {"ngram_range": (1, 2)},
                                     {"token_pattern": r"\S+"}])
def test_a_vectorizer_used_by_the_fast_path_can_be_freed(options):
    """Its analysis is kept beside it (weakly keyed): nothing in it may hold the vectorizer, or it lives for ever."""
    import gc
    import weakref

    texts = make_corpus(30, seed=6)["text"].tolist()
    vectorizer = TfidfVectorizer(**options).fit(texts)
    tfidf_rows(vectorizer, texts)
    tfidf_rows(vectorizer, texts[:1])
    block = tfidf_block(vectorizer, texts)
    if block is not None:
        block.dot(np.ones((block.n_columns, 1)))
    gone = weakref.ref(vectorizer)
    del vectorizer, block
    gc.collect()
    assert gone() is None


def test_word_cache_takes_a_batch_with_more_distinct_words_than_it_keeps():
    """The cache is emptied to make room, and once more when the batch alone overfills it: still the right ids."""
    vectorizer = TfidfVectorizer(analyzer="char_wb", ngram_range=(1, 3)).fit([f"w{i} x y" for i in range(100)])
    weights = TfidfWeights.of_vectorizer(vectorizer)
    index = WordIndex(max_words=1000)
    cache = WordGrams(char_wb_grams((1, 3)), vectorizer.vocabulary_, max_words=30)
    coef = np.random.default_rng(0).normal(size=(len(vectorizer.vocabulary_), 2))
    for docs in ([f"a{i}" for i in range(20)], [f"a{i}" for i in range(5)] + [f"b{i}" for i in range(35)],
                 [f"b{i}" for i in range(3)], [f"c{i} a1" for i in range(50)]):
        block = cache.block(index.scan(docs), weights, lambda: None)
        assert np.abs(block.dot(coef) - vectorizer.transform(docs) @ coef).max() < TOLERANCE


def test_linear_block_products_with_many_and_new_coefficient_arrays():
    """The packed coefficient tables are cached by array: new arrays (however many columns) get their own."""
    texts = make_corpus(60, seed=8)["text"].tolist()
    vectorizer = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 3)).fit(texts)
    probe = generated_texts(30, seed=4)
    block, expected = tfidf_block(vectorizer, probe), vectorizer.transform(probe)
    rng = np.random.default_rng(3)
    for k in (1, 7, 8, 9, 20) * 10:  # more arrays than the cache keeps
        coef = rng.normal(size=(block.n_columns, k))
        assert np.abs(block.dot(coef) - expected @ coef).max() < TOLERANCE
        coef *= 2  # changed in place: the cache (keyed by the array) must not be asked again; a copy is
        assert np.abs(block.dot(coef.copy()) - expected @ coef).max() < TOLERANCE
