"""Unsupported-claim scorer on generated sentences: splitter, both heads, pooling, sourcing, opinions."""

from __future__ import annotations

import random

import numpy as np
import pytest
import sentencex
from sklearn.base import clone

from tests.corpus import make_claim_sentences
from sklearn.linear_model import LogisticRegression

from model.claims import (MAX_RUN_CHARS, SENTENCE_LANGUAGE, ClaimFeatures, ClaimScorer, SourceOffsetLogisticRegression,
                          _parts, build_claim_pipeline, cue_counts, split_sentences, weak_support_labels)

@pytest.fixture(scope="module")
def claim_scorer():
    """A ClaimScorer fitted on the generated sentences with a fixed seed."""
    return ClaimScorer(random_state=0).fit(make_claim_sentences())


@pytest.mark.parametrize("text, expected", [
    ("", []),
    ("   \n ", []),
    ("One sentence", ["One sentence"]),
    ("Dr. Smith said so. I agree!  Is it true?", ["Dr. Smith said so.", "I agree!", "Is it true?"]),
    ("Same. Same. Same.", ["Same.", "Same.", "Same."]),
    ("  Leading space. Trailing space.  ", ["Leading space.", "Trailing space."]),
    # A character as drawn stays whole, in the sentence it ends (sentencex cut after the "!" or "." of these).
    ("Urgency\u203c\ufe0f\u203c\ufe0f URL", ["Urgency\u203c\ufe0f", "\u203c\ufe0f", "URL"]),
    ("He lied.\u0301 Next one.", ["He lied.\u0301", "Next one."]),
    ("Stop.\u200d\U0001f525 Now.", ["Stop.\u200d\U0001f525", "Now."]),
])
def test_split_sentences_spans_point_into_the_text(text, expected):
    spans = split_sentences(text)
    assert [text[begin:end] for begin, end in spans] == expected
    ends = [0] + [end for _, end in spans]
    assert all(begin >= previous for (begin, _), previous in zip(spans, ends))


def test_a_run_longer_than_sentencex_is_given_at_once_is_split_as_a_whole():
    """Chinese is written without blanks: a comment of 3,000 characters is one run, which sentencex reads in parts
    (``model.claims.MAX_RUN_CHARS``), and every sentence still ends where sentencex ends it in the whole text."""
    sentences = ["我们今天很好。", "你好世界！", "为什么这样？", "他说了很多话，但是没有人听。"]
    text = "".join(sentences[i % len(sentences)] for i in range(400))
    assert len(text) > 2 * MAX_RUN_CHARS and len(_parts(text)) > 2
    assert [text[begin:end] for begin, end in split_sentences(text)] == [
        sentences[i % len(sentences)] for i in range(400)]
    # Marks and short words after a cut (sentencex ends no sentence after "Yum!") read as in the whole text.
    pieces = ["你好世界", "Yum", "Dr", "A", "1", "😀", "？", "！", "!", "?", "。", "，"]
    rng = random.Random(0)
    for _ in range(20):
        text = "".join(rng.choice(pieces) for _ in range(1_500))
        whole = [segment.strip() for segment in sentencex.segment(SENTENCE_LANGUAGE, text) if segment.strip()]
        assert [text[begin:end] for begin, end in split_sentences(text)] == whole


def test_claim_features_are_stateless_and_named():
    features = ClaimFeatures().fit([])
    matrix = features.transform(["According to Reuters, 45% rose in 2019.", "I think so?", ""])
    names = list(features.get_feature_names_out())
    assert matrix.shape == (3, len(names))
    row = dict(zip(names, matrix.toarray()[0]))
    assert row["according_to"] > 0 and row["percent"] > 0 and row["year"] > 0
    second = dict(zip(names, matrix.toarray()[1]))
    assert second["opinion"] > 0 and second["question"] > 0 and second["number"] == 0


def test_build_claim_pipeline_gives_two_heads():
    heads = build_claim_pipeline(random_state=0)
    assert set(heads) == {"checkable", "supported"}


def test_weak_support_labels_only_mark_cited_sentences():
    labels = weak_support_labels(["See https://example.org for data.", "Turkey paid $2bn."])
    assert labels[0] == 1.0 and np.isnan(labels[1])


@pytest.mark.parametrize("sentence", [
    "As the WHO report from March shows, 12 million doses were delivered.",
    "Turkey paid $2.5bn for the S-400, reported the BBC.",
    "The BBC reported that 40 people died in the floods.",
    "Reuters reported that the plant closed in 2018.",
    "A 2019 study in Nature found that insect numbers fell by 41%.",
    "Figures from the ONS show that inflation reached 11.1%.",
    "Met Office data show rainfall was 30% below average.",
    "Unemployment rose to 7.4% last year (source: Reuters).",
    "Per the CBO, the bill will add $1.9 trillion to the deficit.",
    "The minister told parliament that 3,000 troops were deployed.",
    "Global growth will slow to 2.7% in 2023, says the IMF.",
    "Spain recorded 1,100 heat deaths in July, the health ministry said.",
    "Police said 14 people were arrested after the match.",
    "As reported by the Financial Times, the merger cost 4,000 jobs.",
    "Official statistics published by Statistics Canada show the population grew.",
])
def test_named_source_cue_matches_a_cited_document_body_or_outlet(sentence):
    assert cue_counts([sentence], ["named_source"])[0, 0] >= 1


@pytest.mark.parametrize("sentence", [
    "People say 12 million doses were delivered.",
    "Some experts say the bill will add $1.9 trillion to the deficit.",
    "Experts say insect numbers fell by 41% since 1990.",
    "Studies show that 64% of adults get news from social media.",
    "They say 14 people were arrested after the match.",
    "Reportedly, the merger cost 4,000 jobs.",
    "Everyone knows Turkey paid $2.5bn for the S-400.",
    "Senator Smith said taxes rose by 4% in 2019.",  # a person speaking, as in debates: not a cited source
    "Researchers from @LeedsHospitals are taking part in the OCTAVE study.",  # a mention, not a finding
    "They outsource billing to a collection agency who immediately reports it.",  # no verb of the source's own
    "Prices rose 5 per cent in 2022.",
    "Turkey paid $2.5bn for the S-400.",
])
def test_named_source_cue_ignores_vague_subjects_people_and_bare_mentions(sentence):
    assert cue_counts([sentence], ["named_source"])[0, 0] == 0


def test_cue_counts_equal_case_insensitive_search_of_every_cue():
    """cue_counts runs most cues on lower-cased text and skips a costly cue whose hint words are absent:
    the counts must be those of plain case-insensitive matching."""
    import random
    import re

    from model.claims import CUE_PATTERNS

    rng = random.Random(5)
    pieces = [s for pair in NAMED_SOURCE_PAIRS + SOURCED_AND_UNSOURCED for s in pair] + [
        "ACCORDING TO", "Per Cent", "WWW.X.COM", "Studies Show", "I Think", "People Say", "MONDAY", "Reported By the FT",
        "(Source: AP)", "İstanbul", "ſ", "K", "$3 BN", "50 %", "Because", "?!", "\"", "Said", "it's WELL KNOWN"]
    texts = [" ".join(rng.choice(pieces) for _ in range(rng.randint(0, 6))) for _ in range(400)]
    texts += [text.upper() for text in texts[:50]] + [text.swapcase() for text in texts[50:100]]
    names = tuple(CUE_PATTERNS)
    expected = [[len(re.findall(CUE_PATTERNS[name], text, re.IGNORECASE)) for name in names] for text in texts]
    assert cue_counts(texts, names).tolist() == expected


def test_money_and_named_source_are_their_expressions_matches_in_linear_form():
    """``money`` is tried only where it can match (``RUN_CUES``) and ``named_source``'s names do not begin after 9
    capitals (``_NOT_DEEP_IN_CAPITALS``): the matches must be the expressions' own, case-insensitive and on lower-cased
    text, on runs of digits, separators and capitals long and short, days and months among them."""
    import random
    import re

    from model.claims import _NOT_DEEP_IN_CAPITALS, CUE_PATTERNS, _compiled_cue

    named_source = re.compile(CUE_PATTERNS["named_source"].replace(_NOT_DEEP_IN_CAPITALS, ""), re.IGNORECASE)
    rng = random.Random(6)
    alphabet = "1 9.,$€£aAbBnZ_é\n"
    pieces = ["1.", ",5", "12", " bn", "BN", " billion", "dollars", "Million", "$", "£ 3", "MAY", "SUNDAY", "WEDNESDAY",
              "SEPTEMBER", "ABC", "Reuters", " said", " report", " Report shows", " from the ", "figures from ",
              ", says ", " reported", "the ", "The BBC", "police said", "(source: ", "X", "٣", "ſ", "K"]
    for _ in range(3000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.choice([0, 5, 30])))
        for _ in range(rng.randint(1, 5)):
            text += rng.choice(pieces) * rng.choice([1, 2, 12, 40]) + "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 6)))
        assert ([m.span() for m in _compiled_cue("named_source", re.IGNORECASE).finditer(text)]
                == [m.span() for m in named_source.finditer(text)]), text
        for flags, probe in ((re.IGNORECASE, text), (0, text.lower())):
            money = _compiled_cue("money", flags)
            expected = [m.span() for m in money.pattern.finditer(probe)]
            assert [m.span() for m in money._linear_finditer(probe)] == expected, probe
            assert len(money.findall(probe)) == len(expected)


def test_segmentable_text_is_split_where_sentencex_splits_the_text_as_written():
    """``_segmentable`` gives sentencex an ASCII space for the wide space before a period after a name initial, on
    which sentencex 1.0.32 panics; where it does not panic, the segments must be those of the text as written."""
    import random

    import sentencex

    from model.claims import SENTENCE_LANGUAGE, _segmentable

    rng = random.Random(8)
    pieces = ["Z", "I", "Plan B", "x/Q", "U.S.A", "ab", "\u00a0", "\u3000", "\u2009", "\x85", "\u2028", " ", "\t", "\n\n",
              ".", "..", ". . .", ".com", ".5", ". Then", ". the", ". J. R.", "!", "?", "\"", "''", ")", "Mr.", "e.g.", "é"]
    n_panics = 0
    for _ in range(2000):
        text = ("".join(rng.choice(pieces) for _ in range(rng.randint(0, 5))) + rng.choice(["", " ", "x.", "/"])
                + rng.choice("ZAIWJ") + rng.choice(["", " ", "\u2009"]) + rng.choice(["\u00a0", "\u3000", "\u2028", "\x85"])
                + "".join(rng.choice(pieces) for _ in range(rng.randint(0, 6))))
        safe = _segmentable(text)
        assert len(safe) == len(text) and [c for c in safe if not c.isspace()] == [c for c in text if not c.isspace()]
        try:
            expected = sentencex.segment(SENTENCE_LANGUAGE, text)
        except BaseException as error:  # pyo3's PanicException, which _segmentable is there to avoid
            if type(error).__name__ != "PanicException":
                raise
            n_panics += 1
            continue
        assert [len(segment) for segment in sentencex.segment(SENTENCE_LANGUAGE, safe)] == [len(s) for s in expected], text
    assert n_panics  # the form still makes sentencex panic (when it no longer does, _segmentable can go)


def test_cue_gates_equal_testing_each_literal_in_each_text():
    """One Aho-Corasick pass over the joined texts finds what ``literal in text`` finds, and nothing across texts."""
    import random

    from model.claims import CUE_PATTERNS, _compiled_cues, cue_gates

    names = tuple(CUE_PATTERNS)
    rng = random.Random(9)
    pieces = ["according", " to", "i ", "said", "%", "$", "bn", "per", " cent", "http", "\n", "é", "?", "", "studies show"]
    texts = ["".join(rng.choice(pieces) for _ in range(rng.randint(0, 8))) for _ in range(500)]
    texts += ["accord", "ing to", "i was", "n"]  # "according to" and "i wasn" only across two texts
    expected = [[not cue.required or any(literal in text for literal in cue.required) for cue in _compiled_cues(names)]
                for text in texts]
    assert cue_gates(texts, names).tolist() == expected
    assert cue_gates([], names).shape == (0, len(names))


@pytest.mark.parametrize("pattern, literals", [
    (r"\bi think\b|\bwe (?:know|say)\b", {"i think", "we "}),
    (r"\bi think\b|\bin my (?:opinion|view)\b", {" think", "n my "}),  # re's parser takes the common "i" out
    (r"\bsources?\s*:", {"source"}),
    (r"[\"“”]", {'"', "“", "”"}),
    (r"(?:ab)+c?", {"ab"}),
    (r"x?[a-z]+", set()),
    (r"\d+|foo", set()),  # one alternative requires nothing: so does the whole
])
def test_required_literals(pattern, literals):
    from model.claims import required_literals

    assert set(required_literals(pattern)) == literals


def test_every_cue_match_holds_one_of_its_required_literals():
    import re

    from model.claims import CUE_PATTERNS, required_literals

    texts = [s for pair in NAMED_SOURCE_PAIRS + SOURCED_AND_UNSOURCED for s in pair]
    for name, pattern in CUE_PATTERNS.items():
        literals = required_literals(pattern)
        for text in texts:
            for match in re.finditer(pattern, text, re.IGNORECASE):
                assert not literals or any(lit in match.group(0).lower() for lit in literals), (name, match.group(0))


def test_weak_support_labels_count_named_sources_but_not_hedges():
    labels = weak_support_labels(["Figures from the ONS show inflation reached 11.1%.",
                                  "Experts say inflation reached 11.1%.", "People say inflation reached 11.1%."])
    assert labels[0] == 1.0 and np.isnan(labels[1]) and np.isnan(labels[2])


def test_heads_learn_their_labels(claim_scorer):
    checkable, supported = claim_scorer.head_scores(
        ["Kenya paid $4.2bn for the dam in 2003.", "I think the dam is a mistake.",
         "According to Reuters, kenya paid $4.2bn for the dam in 2003."])
    assert checkable[0] > checkable[1]
    assert supported[2] > supported[0]
    assert np.all((checkable >= 0) & (checkable <= 1) & (supported >= 0) & (supported <= 1))


def test_sourced_fact_scores_lower_than_the_same_fact_unsourced(claim_scorer):
    sourced, unsourced = claim_scorer.predict_proba(
        ["According to Reuters, Turkey paid $2.5bn for the S-400.", "Turkey paid $2.5bn for the S-400."])
    assert sourced < unsourced


@pytest.mark.parametrize("comment", ["I think the new airport is a mistake.", "Why did Norway buy the pipeline?",
                                     "I was at the bridge last week with my family."])
def test_opinion_questions_and_experience_stay_low(claim_scorer, comment):
    claim = claim_scorer.predict_proba(["Chile paid $3.1bn for the bridge in 2011."])[0]
    score = claim_scorer.predict_proba([comment])[0]
    assert score < 0.5 < claim


def test_comment_score_is_the_max_over_its_sentences(claim_scorer):
    sentences = ["I think the dam is a mistake.", "Egypt paid $7.7bn for the dam in 1999.", "Why?"]
    comment = " ".join(sentences)
    assert claim_scorer.predict_proba([comment])[0] == pytest.approx(claim_scorer.sentence_scores(sentences).max())
    assert claim_scorer.predict_proba(["", "   "]).tolist() == [0.0, 0.0]
    assert claim_scorer.predict_proba([]).shape == (0,)


def test_explain_ranks_sentence_spans(claim_scorer):
    comment = "I think the dam is a mistake. Egypt paid $7.7bn for the dam in 1999."
    spans = claim_scorer.explain(comment)
    assert [comment[b:e] for b, e, _ in spans][0] == "Egypt paid $7.7bn for the dam in 1999."
    assert [s for _, _, s in spans] == sorted((s for _, _, s in spans), reverse=True)
    assert claim_scorer.explain("") == []


def test_fit_checks_its_input():
    frame = make_claim_sentences(n=5)
    with pytest.raises(ValueError, match="lacks columns"):
        ClaimScorer().fit(frame.drop(columns="supported"))
    with pytest.raises(ValueError, match="checkable head"):
        ClaimScorer().fit(frame.assign(checkable=1.0))


def test_scorer_follows_estimator_conventions():
    scorer = ClaimScorer(random_state=3, checkable_C=2.0)
    assert clone(scorer).get_params() == scorer.get_params()
    assert not hasattr(scorer, "checkable_")


def _source_marked_rows(seed: int = 0, n: int = 600):
    """Column 0 mostly marks source "b" (80% positive vs 20% for "a"); column 1 carries the label within each."""
    rng = np.random.default_rng(seed)
    sources = np.repeat(["a", "b"], n // 2)
    y = (rng.random(n) < np.where(sources == "b", 0.8, 0.2)).astype(int)
    marker = np.where(rng.random(n) < 0.9, sources == "b", sources != "b").astype(float)
    signal = y + rng.normal(0.0, 0.8, n)
    return np.column_stack([marker, signal]), y, sources


def test_source_offsets_absorb_a_source_base_rate():
    X, y, sources = _source_marked_rows()
    plain = SourceOffsetLogisticRegression(random_state=0).fit(X, y)
    offset = SourceOffsetLogisticRegression(random_state=0).fit(X, y, sources=sources)
    assert offset.coef_.shape == plain.coef_.shape == (1, 2)
    assert plain.coef_[0, 0] > 1.0
    assert abs(offset.coef_[0, 0]) < 0.3 * plain.coef_[0, 0]
    assert offset.coef_[0, 1] > 1.0
    proba = offset.predict_proba(X)
    assert np.allclose(proba.sum(axis=1), 1.0) and np.all((proba >= 0) & (proba <= 1))
    assert np.array_equal(offset.predict(X), (proba[:, 1] > 0.5).astype(int))


def test_source_offsets_without_sources_is_plain_liblinear():
    X, y, _ = _source_marked_rows()
    weights = np.linspace(0.5, 2.0, len(y))
    ours = SourceOffsetLogisticRegression(C=0.5, random_state=0).fit(X, y, sample_weight=weights)
    reference = LogisticRegression(C=0.5, solver="liblinear", random_state=0).fit(X, y, sample_weight=weights)
    assert np.allclose(ours.coef_, reference.coef_) and np.allclose(ours.intercept_, reference.intercept_)
    assert np.allclose(ours.predict_proba(X), reference.predict_proba(X))


@pytest.fixture(scope="module")
def sourced_claim_scorer():
    """A ClaimScorer fitted with a ``source`` column (two made-up sources), fixed seed."""
    frame = make_claim_sentences(n=60)
    return ClaimScorer(random_state=0).fit(frame.assign(source=np.where(frame.index % 16 < 8, "debates", "forum")))


def test_fit_with_sources_keeps_the_fast_path_and_the_sourcing_rule(sourced_claim_scorer):
    sentences = ["According to Reuters, Turkey paid $2.5bn for the S-400.", "Turkey paid $2.5bn for the S-400.",
                 "I think the new airport is a mistake."]
    checkable, supported = sourced_claim_scorer.head_scores(sentences)
    assert np.allclose(checkable, sourced_claim_scorer.checkable_.predict_proba(sentences)[:, 1])
    assert np.allclose(supported, sourced_claim_scorer.supported_.predict_proba(sentences)[:, 1])
    sourced, unsourced, opinion = sourced_claim_scorer.predict_proba(sentences)
    assert sourced < unsourced and opinion < 0.5 < unsourced


def test_rows_without_weak_support_get_no_weak_support_label():
    frame = make_claim_sentences(n=20)
    # The only supported rows are cited ones without a label: they come from weak labels alone.
    frame["supported"] = np.where(frame["supported"] == 0.0, 0.0, np.nan)
    ClaimScorer(random_state=0).fit(frame.assign(weak_support=True))
    with pytest.raises(ValueError, match="supported head"):
        ClaimScorer(random_state=0).fit(frame.assign(weak_support=False))



SOURCED_AND_UNSOURCED = [
    ("According to Reuters, Turkey paid $2.5bn for the S-400.", "Turkey paid $2.5bn for the S-400."),
    ("The ministry said on Tuesday that 40 people died, according to the BBC.", "40 people died on Tuesday."),
    ("Unemployment rose to 7% last year (source: https://www.bls.gov/news).", "Unemployment rose to 7% last year."),
]
NAMED_SOURCE_PAIRS = [
    ("As the WHO report from March shows, 12 million doses were delivered.", "12 million doses were delivered."),
    ("Turkey paid $2.5bn for the S-400, reported the BBC.", "Turkey paid $2.5bn for the S-400."),
    ("The BBC reported that 40 people died in the floods in 2021.", "40 people died in the floods in 2021."),
    ("A 2019 study in Nature found that insect numbers fell by 41% since 1990.", "Insect numbers fell by 41% since 1990."),
    ("Figures from the ONS show that inflation reached 11.1% in October 2022.", "Inflation reached 11.1% in October 2022."),
    ("Unemployment rose to 7.4% last year (source: Reuters).", "Unemployment rose to 7.4% last year."),
    ("Per the CBO, the bill will add $1.9 trillion to the deficit by 2031.",
     "The bill will add $1.9 trillion to the deficit by 2031."),
    ("The minister told parliament that 3,000 troops were deployed in 2020.", "3,000 troops were deployed in 2020."),
    ("Global growth will slow to 2.7% in 2023, says the IMF.", "Global growth will slow to 2.7% in 2023."),
    ("Data from Eurostat show that 21% of households could not afford a holiday in 2022.",
     "21% of households could not afford a holiday in 2022."),
    ("The Guardian reported that the company paid no corporation tax in 2019.", "The company paid no corporation tax in 2019."),
    ("A Pew Research Center survey found that 64% of adults get news from social media.",
     "64% of adults get news from social media."),
    ("Spain recorded 1,100 heat deaths in July, the health ministry said.", "Spain recorded 1,100 heat deaths in July."),
    ("As reported by the Financial Times, the merger cost 4,000 jobs.", "The merger cost 4,000 jobs."),
    ("The 2021 census shows that 46% of residents identify as Christian.", "46% of residents identify as Christian."),
    ("Rainfall was 30% below average in 2022, Met Office data show.", "Rainfall was 30% below average in 2022."),
    ("Police said 14 people were arrested after the match.", "14 people were arrested after the match."),
    ("Official statistics published by Statistics Canada show the population grew by 1.1 million in 2022.",
     "The population grew by 1.1 million in 2022."),
]
"""Sourced and unsourced forms of the same fact that only ``named_source`` recognises (written for these tests, and
used to design the cue: they show it works as meant, not how well it generalises)."""
ABOVE_THRESHOLD_DESPITE_SOURCE = {
    "1.2.0": {"The BBC reported that 40 people died in the floods in 2021."},  # 0.535 against 0.465
    "2.6.0": {"The BBC reported that 40 people died in the floods in 2021."},  # 0.529 against a threshold of 0.497
    "2.7.0": set(),  # the same sentence 0.527, under 2.7.0's higher claim threshold of 0.535
    "2.8.0": set(),  # 2.7.0's scores and threshold
    "2.9.0": set(),  # 2.8.0 in other windows: a sentence shorter than one window scores as in 2.8.0
    "2.10.0": set(),  # 0.527 against 0.538 (1.3.0's TF-IDF claim heads are 1.2.0's; the encoder's, fitted on
    # sentence windows, moved it by 0.0001)
    "2.11.0": set(),  # 0.527 against 0.538: the claim heads and choices of 2.10.0 (1.4.0's are 1.3.0's)
    "2.12.0": set(),  # 0.523 against 0.537 (the encoder fine-tuned again, without test texts)
    "2.13.0": {"The BBC reported that 40 people died in the floods in 2021."},  # 0.515 against 0.480 (2.12.0's
    # recipe at seed 7, whose claim threshold, chosen on validation data, is lower; the unsourced form scores 0.786)
    "2.14.0": {"The BBC reported that 40 people died in the floods in 2021."},  # 2.13.0's claims: the undisguised
    # reading changes hostility scores only
    "2.15.0": {"The BBC reported that 40 people died in the floods in 2021."},  # 2.14.0's claims: sentences read
    # alone pool no claim sentence
    "2.16.0": {"The BBC reported that 40 people died in the floods in 2021."},  # 2.15.0's claims: the wider
    # undisguised reading changes hostility scores only
    "2.17.0": {"The BBC reported that 40 people died in the floods in 2021."},  # 2.16.0's claims: spaced letters
    # read as words change hostility scores only
    "2.18.0": {"The BBC reported that 40 people died in the floods in 2021."},  # 2.17.0's claims: symbol
    # disguises undone change hostility scores only
}
"""Bundle version -> sourced forms it still scores above its review threshold, though below the unsourced form."""


@pytest.fixture(scope="module")
def shipped_scorer():
    """The committed bundle (bundles/CURRENT): what `make run` serves."""
    from model.scoring import Scorer

    return Scorer.load()


@pytest.mark.parametrize("sourced, unsourced", SOURCED_AND_UNSOURCED + NAMED_SOURCE_PAIRS)
def test_shipped_model_scores_a_sourced_fact_below_the_review_threshold_and_the_unsourced_fact(shipped_scorer, sourced, unsourced):
    from model.attributes import CLAIM_ATTRIBUTE

    column = shipped_scorer.attributes.index(CLAIM_ATTRIBUTE)
    with_source, without = shipped_scorer.predict_scores([sourced, unsourced])[:, column]
    assert with_source < without
    below = bool(with_source < shipped_scorer.policy.review[CLAIM_ATTRIBUTE])
    missed = ABOVE_THRESHOLD_DESPITE_SOURCE.get(shipped_scorer.model_version, set())
    assert below is (sourced not in missed)  # a fixed miss turns this red: update the set
