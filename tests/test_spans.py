"""Word spans on the tiny bundle and small hand-made arrays: features, the tagger, the relative rule."""

import pickle

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.metrics import roc_auc_score

from model.bundle import load_bundle
from model.characters import whole_characters
from model.spans import (
    N_SURFACE,
    WordSpanTagger,
    _Batch,
    comment_words,
    context_features,
    explain_words,
    fit_span_tagger,
    floored_word_scores,
    hostility_probabilities,
    merge_spans,
    surface_features,
    tagger_input,
    word_labels,
    word_scores,
)
from model.training.thresholds import TOXICITY_SPAN_GRID, choose_span_thresholds
from tests.corpus import make_corpus, make_spans

TEXTS = [
    "The minister delays the plan, pathetic loser.",
    "You are a stupid clown, the council ignores the vote.",
    "What crap.",
    "The report explains the budget and I think that is fair.",
]


@pytest.fixture(scope="module")
def model(tiny_bundle_path):
    return load_bundle(tiny_bundle_path).model


def test_surface_features_describe_the_written_word():
    text = "YOU f*ck Idiot ok"
    words, raw = comment_words(text)
    features = surface_features(text, words, raw)
    assert features.shape == (4, N_SURFACE)
    caps, capitalised, masked, rewritten, length = features.T
    assert caps.tolist() == [1, 0, 0, 0]
    assert capitalised.tolist() == [1, 0, 1, 0]
    assert masked.tolist() == [0, 1, 0, 0]
    assert rewritten[1] == 1 and rewritten[[0, 2, 3]].tolist() == [0, 0, 0]  # "f*ck" -> "fuck"; case alone is no rewrite
    assert length.tolist() == [0.3, 0.4, 0.5, 0.2]
    assert surface_features("", [], []).shape == (0, N_SURFACE)


def test_context_features_compare_each_word_with_its_comment():
    alone = np.array([[0.2, 0.1], [0.9, 0.3], [0.5, 0.7]])
    comment = np.array([0.8, 0.4])
    surface = np.full((3, N_SURFACE), 7.0)
    features = context_features(alone, comment, surface, column=0)
    assert features.shape == (3, 6 * 2 + 1 + N_SURFACE)
    np.testing.assert_array_equal(features[:, 0:2], alone)
    np.testing.assert_array_equal(features[:, 2:4], np.tile(comment, (3, 1)))
    np.testing.assert_array_equal(features[:, 4:6], np.tile([0.9, 0.7], (3, 1)))
    np.testing.assert_allclose(features[:, 6:8], alone - [0.9, 0.7])
    np.testing.assert_array_equal(features[:, 8], [1.0, 0.0, 0.5])  # rank by column 0: best word 0, lowest 1
    np.testing.assert_array_equal(features[:, 9:11], [[0, 0], [0.2, 0.1], [0.9, 0.3]])  # previous word
    np.testing.assert_array_equal(features[:, 11:13], [[0.9, 0.3], [0.5, 0.7], [0, 0]])  # next word
    np.testing.assert_array_equal(features[:, 13:], surface)
    single = context_features(alone[:1], comment, surface[:1], column=0)
    assert single[0, 8] == 0.0 and not single[0, 9:13].any()


def test_merge_spans_relative_rule_drops_words_far_below_the_best():
    text = "aa bb cc dd"
    words = [(0, 2), (3, 5), (6, 8), (9, 11)]
    scores = np.array([0.9, 0.3, 0.05, 0.6])
    assert [(s.begin, s.end) for s in merge_spans(text, words, scores, 0.2)] == [(0, 5), (9, 11)]
    assert [(s.begin, s.end) for s in merge_spans(text, words, scores, 0.2, relative=0.5)] == [(0, 2), (9, 11)]
    # The absolute threshold still applies when the comment's best word is weak.
    assert merge_spans(text, words, scores / 10, 0.2, relative=0.5) == []


def test_explain_words_reads_the_relative_share_per_attribute():
    text = "aa bb cc"
    scored = [([(0, 2), (3, 5), (6, 8)], np.array([[0.9, 0.9], [0.3, 0.3], [0.6, 0.6]]))]
    found = explain_words([text], scored, ("toxicity", "insult"), {"toxicity": 0.2, "toxicity.relative": 0.5, "default": 0.2})[0]
    assert [(s.begin, s.end) for s in found["toxicity"]] == [(0, 2), (6, 8)]
    assert [(s.begin, s.end) for s in found["insult"]] == [(0, 8)]


def test_fast_tagger_probability_matches_predict_proba(model):
    batch = _Batch(model.hostility, TEXTS)
    dense = batch.context(hostility_probabilities(model.hostility, TEXTS))
    expected = model.span_tagger.predict_proba(tagger_input(batch.X[batch.rows], dense))[:, 1]
    np.testing.assert_allclose(model.span_tagger.word_probability(batch.X, batch.rows, dense), expected, rtol=0, atol=1e-12)


def test_tagger_reads_context_features(model):
    width = _Batch(model.hostility, TEXTS[:1]).X.shape[1]
    assert model.span_tagger.classifier_.coef_.shape[1] == width + 6 * len(model.hostility_attributes) + 1 + N_SURFACE


def test_word_scores_batch_equals_one_by_one_and_uses_given_probabilities(model):
    probabilities = model.predict_proba(TEXTS)[:, : len(model.hostility_attributes)]
    together = word_scores(model.hostility, model.span_tagger, TEXTS, probabilities)
    for i, text in enumerate(TEXTS):
        (raw, scores), = word_scores(model.hostility, model.span_tagger, [text], probabilities[i : i + 1])
        assert raw == together[i][0]
        np.testing.assert_allclose(scores, together[i][1], rtol=0, atol=1e-12)
    # The comment's probabilities are a feature of the toxicity tagger, and only of it.
    column = model.hostility_attributes.index("toxicity")
    shifted = word_scores(model.hostility, model.span_tagger, TEXTS, 1 - probabilities)
    assert not np.allclose(shifted[0][1][:, column], together[0][1][:, column])
    others = [j for j in range(len(model.hostility_attributes)) if j != column]
    np.testing.assert_array_equal(shifted[0][1][:, others], together[0][1][:, others])


@pytest.mark.parametrize(("text", "written"), [
    ("thanks @stupididiot you moron", "@stupididiot"),  # was "stupididi": the letters of "xxuser" found in the name
    ("see http://www.example.com/path now", "http://www.example.com/path"),  # was "xampl"
    ("see:http://x.com/abc", "http://x.com/abc"),  # the token's own space comes from the URL's first character
    ("you are an idiooooo \u200b", "idiooooo"),  # was "idio": the elongation's first "o" only
    ("stuuupid 1d10t f*ck i d i o t", "i d i o t"),
])
def test_word_spans_cover_the_word_as_written(model, text, written):
    """Found in review: a word the normaliser replaces (a URL or @mention by a token) or shortens (an elongation) at its
    end got the raw range of the characters its letters were found in, so a span cut the word, and reasons quoted
    "stupididi" of "@stupididiot". The tagger still reads the word as before (``comment_words``)."""
    (ranges, _), = word_scores(model.hostility, model.span_tagger, [text])
    shown = [text[b:e] for b, e in ranges]
    assert written in shown, shown
    assert all(not part.startswith(" ") and not part.endswith(" ") for part in shown)
    assert all(end <= begin for (_, end), (begin, _) in zip(ranges, ranges[1:]))


FLAG = "\U0001f3f4\U000e0067\U000e0062\U000e0065\U000e006e\U000e0067\U000e007f"
"""England's flag: a black flag and six tag characters, drawn as one character."""


def test_explain_and_predict_and_explain_give_spans_of_whole_characters(model):
    """Words are found on the normalised text, where the flag's tags are gone: the tiny bundle's span of the first text
    ended after the black flag, before its tags (``Scorer.moderate`` widened it, ``explain`` did not)."""
    texts = [f"stupid clown{FLAG}", "ｉｄｉｏｔ\u200d@user hoo", "You stupid\u0301 clown\ufe0f, pathetic loser\U0001f44d\U0001f3fd"]
    _, explained = model.predict_and_explain(texts)
    for found in (model.explain(texts), explained):
        spans = [(text, span) for text, by_attribute in zip(texts, found) for spans in by_attribute.values()
                 for span in spans]
        assert any(text == texts[0] for text, _ in spans)
        for text, span in spans:
            assert whole_characters(text, span.begin, span.end) == (span.begin, span.end), (text, span)


def test_explain_with_given_probabilities_equals_explain_alone(model):
    assert model.explain(TEXTS, model.predict_proba(TEXTS)) == model.explain(TEXTS)
    assert model.explain([]) == []


def test_tagger_ranks_held_out_toxic_words_above_the_rest(model):
    held_out = make_spans(make_corpus(60, seed=5))
    texts = held_out["text"].tolist()
    labels = np.concatenate([word_labels(text, set(gold)) for text, gold in zip(texts, held_out["spans"])])
    column = model.hostility_attributes.index("toxicity")
    scores = np.concatenate([s[:, column] for _, s in word_scores(model.hostility, model.span_tagger, texts)])
    assert 0 < labels.sum() < len(labels)
    assert roc_auc_score(labels, scores) > 0.95


def test_training_chose_a_relative_toxicity_rule(tiny_bundle_path):
    bundle = load_bundle(tiny_bundle_path)
    thresholds, selection = bundle.model.span_thresholds, bundle.manifest["span_selection"]
    assert thresholds["toxicity.relative"] == 0.5
    assert thresholds["toxicity"] in TOXICITY_SPAN_GRID
    assert selection["toxicity"]["span_f1"] > selection["default"]["span_f1"]


def test_choose_span_thresholds_without_relative_share(model):
    frame = make_spans(make_corpus(30, seed=6))
    chosen, metrics = choose_span_thresholds(model, frame, relative=0.0)
    assert "toxicity.relative" not in chosen and "relative" not in metrics["toxicity"]
    chosen, metrics = choose_span_thresholds(model, frame, toxicity_grid=(0.3,), relative=0.25)
    assert chosen["toxicity"] == 0.3 and chosen["toxicity.relative"] == 0.25 and metrics["toxicity"]["relative"] == 0.25


def test_word_span_tagger_follows_estimator_conventions(model):
    tagger = WordSpanTagger(C=0.1, random_state=3)
    assert tagger.get_params() == {"C": 0.1, "random_state": 3}
    with pytest.raises(NotFittedError):
        tagger.predict_proba(np.zeros((1, 2)))
    assert clone(model.span_tagger).get_params() == model.span_tagger.get_params()
    restored = pickle.loads(pickle.dumps(model.span_tagger))
    batch = _Batch(model.hostility, TEXTS[:2])
    dense = batch.context(hostility_probabilities(model.hostility, TEXTS[:2]))
    np.testing.assert_array_equal(restored.word_probability(batch.X, batch.rows, dense), model.span_tagger.word_probability(batch.X, batch.rows, dense))


def test_fit_span_tagger_reads_the_given_probabilities(model):
    frame = make_spans(make_corpus(30, seed=8))
    heads = hostility_probabilities(model.hostility, frame["text"].tolist())
    computed = fit_span_tagger(model.hostility, frame)
    given = fit_span_tagger(model.hostility, frame, comment_probabilities=heads)
    flipped = fit_span_tagger(model.hostility, frame, comment_probabilities=1 - heads)
    assert computed.C == 0.25
    np.testing.assert_array_equal(given.classifier_.coef_, computed.classifier_.coef_)
    assert not np.allclose(flipped.classifier_.coef_, computed.classifier_.coef_)


def test_taggers_from_before_the_context_features_still_work(model):
    """A 1.0 bundle's tagger read a word's TF-IDF row and its probabilities alone."""
    frame = make_spans(make_corpus(30, seed=9))
    texts = frame["text"].tolist()
    batch = _Batch(model.hostility, texts)
    labels = np.concatenate([word_labels(text, set(gold)) for text, gold in zip(texts, frame["spans"])])
    old = WordSpanTagger().fit(tagger_input(batch.X[batch.rows], batch.alone[batch.rows]), labels)
    scored = word_scores(model.hostility, old, texts[:3])
    expected = old.predict_proba(tagger_input(batch.X[batch.rows], batch.alone[batch.rows]))[:, 1]
    column = model.hostility_attributes.index("toxicity")
    np.testing.assert_allclose(np.concatenate([s[:, column] for _, s in scored]), expected[: sum(len(r) for r, _ in scored)], atol=1e-12)


def test_explain_words_gives_no_spans_to_attributes_below_the_comment_floor():
    text = "aa bb cc"
    scored = [([(0, 2), (3, 5), (6, 8)], np.array([[0.9, 0.9], [0.3, 0.3], [0.6, 0.6]]))] * 2
    thresholds = {"toxicity": 0.2, "default": 0.2, "comment_floor": 0.1}
    comment_scores = np.array([[0.05, 0.5], [0.1, 0.09]])
    low_toxicity, low_insult = explain_words([text, text], scored, ("toxicity", "insult"), thresholds, comment_scores)
    assert "toxicity" not in low_toxicity and "insult" in low_toxicity
    assert "toxicity" in low_insult and "insult" not in low_insult
    # Without comment scores (or without a floor) the rule is off.
    assert set(explain_words([text], scored[:1], ("toxicity", "insult"), thresholds)[0]) == {"toxicity", "insult"}


def test_comment_floor_is_the_highest_within_the_tolerance(model):
    frame = make_spans(make_corpus(40, seed=7))
    chosen, metrics = choose_span_thresholds(model, frame, floors=(0.0, 0.1, 0.5, 0.99), floor_tolerance=0.01)
    by_floor = {float(k): v for k, v in metrics["comment_floor"]["span_f1_by_floor"].items()}
    floor = metrics["comment_floor"]["floor"]
    assert by_floor[floor] >= max(by_floor.values()) - 0.01 - 1e-4
    assert all(by_floor[f] < max(by_floor.values()) - 0.01 for f in by_floor if f > floor)
    assert chosen.get("comment_floor", 0.0) == floor
    chosen, metrics = choose_span_thresholds(model, frame, floors=())
    assert "comment_floor" not in chosen and "comment_floor" not in metrics


def test_explain_applies_the_bundle_comment_floor(model):
    from model.moderation_model import ModerationModel

    floored = ModerationModel(model.hostility, model.span_tagger, model.claims, {**model.span_thresholds, "comment_floor": 1.0})
    spans = floored.explain(TEXTS)
    assert all(not set(found) - {"unsupported_claim"} for found in spans)
    assert any(set(found) - {"unsupported_claim"} for found in model.explain(TEXTS))


def test_floored_word_scores_score_only_comments_reaching_the_floor(model, monkeypatch):
    import model.spans as spans_module

    probabilities = model.predict_proba(TEXTS)[:, : len(model.hostility_attributes)]
    every = word_scores(model.hostility, model.span_tagger, TEXTS, probabilities)
    floor = float(np.median(probabilities.max(axis=1)))
    reaching = probabilities.max(axis=1) >= floor
    assert reaching.any() and not reaching.all()
    seen = []
    monkeypatch.setattr(spans_module, "word_scores", lambda h, t, texts, p: seen.extend(texts) or word_scores(h, t, texts, p))
    floored = floored_word_scores(model.hostility, model.span_tagger, TEXTS, probabilities, probabilities, floor)
    assert seen == [text for text, keep in zip(TEXTS, reaching) if keep]  # the civil comments' words are not scored
    for keep, (raw, scores), (every_raw, every_scores) in zip(reaching, floored, every):
        assert raw == (every_raw if keep else [])
        np.testing.assert_array_equal(scores, every_scores if keep else np.zeros((0, len(model.hostility_attributes))))
    # The spans explain_words gives are the same as from every comment's words.
    thresholds = {**model.span_thresholds, "comment_floor": floor}
    assert (explain_words(TEXTS, floored, model.hostility_attributes, thresholds, probabilities)
            == explain_words(TEXTS, every, model.hostility_attributes, thresholds, probabilities))
    seen.clear()
    floored_word_scores(model.hostility, model.span_tagger, TEXTS, probabilities, probabilities, 0.0)
    assert seen == TEXTS  # no floor: every comment


@pytest.mark.parametrize("text", ["@user_account_that_is_very_long_indeed_and_longer_still you idiot", "@user" + "A" * 100])
def test_every_word_has_a_raw_span_that_begins_before_it_ends(text):
    """The raw offsets of a normalised word (its spans') were out of order after a token replaced a long word: the
    raw span of "xxuser" for the first mention was (6, 5)."""
    from model.spans import comment_words

    words, raw = comment_words(text)
    assert words and all(0 <= begin < end <= len(text) for begin, end in raw), raw
