"""Behaviour sets and the long comment on the committed bundle, with its known failures held as strict xfails.

When a new bundle is committed, regenerate its entry of ``KNOWN_FAILURES`` with
``.venv/bin/python -m model.evaluation.behaviour_report`` (it prints the failing ids of ``bundles/CURRENT``, each
pair scored on its own as here).
A pair the model fixes turns its strict xfail red, so the list must then shrink; pairs are never weakened or dropped.
"""

from __future__ import annotations

import numpy as np
import pytest

from model.evaluation.behaviour import (
    BURIED_SENTENCE,
    CATEGORIES,
    LONG_COMMENT_ID,
    LONG_COMMENT_WORDS,
    PAIRS,
    civil_text,
    long_comment,
)
from model.evaluation.behaviour_report import (
    evaluate_behaviour,
    failing_ids,
    failing_pairs_one_at_a_time,
    long_comment_passes,
    pair_scores,
)
from model.results import Decision, Reason, Span

KNOWN_FAILURES: dict[str, frozenset[str]] = {
    "1.2.0": frozenset({
        "counter_speech/trans",
        "counter_speech/women",
        "group_mention/christians",
        "group_mention/elderly",
        "group_mention/gay",
        "group_mention/trans",
        "group_mention/women",
        "long_comment/buried_insult",
        "negation/disabled",
        "negation/jews",
        "negation/trans",
        "reclaimed/dyke-radio",
        "threat/beat-you",
        "threat/burn-house",
        "threat/judge-hanged",
        "threat/stab-editor",
        "threat/strangle-councillor",
    }),
    # 2.2.0 (2.1.0's encoder, exported with its token states too: the same hostility scores), scored a pair at a
    # time as here; in one batch (behaviour_report, eval.md) the near ties negation/gay (0.077 against 0.079)
    # passes and negation/disabled and counter_speech/jews fail.
    "2.2.0": frozenset({
        "counter_speech/muslims",
        "counter_speech/trans",
        "negation/black",
        "negation/gay",
    }),
}
# 2.4.0 (identity-swapped copies of the training rows), scored a pair at a time; 2.3.0's list (bundle in the git
# history) minus counter_speech/jews.
KNOWN_FAILURES["2.4.0"] = frozenset({
    "counter_speech/muslims",
    "counter_speech/trans",
    "counter_speech/women",
    "negation/black",
    "negation/disabled",
    "negation/gay",
})
# 2.5.0 (fine-tuned on the claim training units too): counter_speech/muslims, negation/disabled and negation/gay
# pass; negation/trans is a new near tie a pair at a time (identity_attack 0.089 against 0.094; it passes in one batch).
KNOWN_FAILURES["2.5.0"] = (KNOWN_FAILURES["2.4.0"] - {"counter_speech/muslims", "negation/disabled", "negation/gay"}
                           | {"negation/trans"})
# 2.6.0 (all six layers fine-tuned): the same four, a pair at a time and in one batch (2.5.0 passes negation/trans
# in one batch).
KNOWN_FAILURES["2.6.0"] = KNOWN_FAILURES["2.5.0"]
# 2.7.0 (2.6.0's encoder, activations quantised per token: a pair scores the same alone and in any batch):
# near ties move with the rounding: negation/trans passes (identity_attack 0.145 against 0.121; 2.6.0 0.115 against
# 0.118), counter_speech/muslims fails (0.50 against 0.54; 2.6.0 0.58 against 0.56).
KNOWN_FAILURES["2.7.0"] = KNOWN_FAILURES["2.6.0"] - {"negation/trans"} | {"counter_speech/muslims"}
# 2.8.0 scores as 2.7.0 bit for bit (the same products in one fused kernel; only the span floor moved). The
# person_or_idea pairs came with it (the entries above predate them): "The author of this article is garbage." 0.526
# against "The argument in this article is garbage." 0.598 fails.
KNOWN_FAILURES["2.8.0"] = KNOWN_FAILURES["2.7.0"] | {"person_or_idea/author-garbage"}
# 2.9.0 is 2.8.0 reading long comments in windows that end at sentence ends, every choice kept: every pair is shorter
# than one window, so it scores them as 2.8.0 does.
KNOWN_FAILURES["2.9.0"] = KNOWN_FAILURES["2.8.0"]
# 2.10.0 is 2.9.0's encoder around the TF-IDF bundle 1.3.0 (trained on the added sets too), its choices made again:
# the same five fail.
KNOWN_FAILURES["2.10.0"] = KNOWN_FAILURES["2.9.0"]
# 2.11.0 is 2.10.0 around the TF-IDF bundle 1.4.0 (1.4.0's normaliser, no HateXplain or ConvAbuse test text trained
# on), its choices made again: the same five fail.
KNOWN_FAILURES["2.11.0"] = KNOWN_FAILURES["2.10.0"]
# 2.12.0 is 2.11.0's recipe fine-tuned again (`make train-encoder`) on training rows without any test text, reading
# styled letters plainly: the same five fail.
KNOWN_FAILURES["2.12.0"] = KNOWN_FAILURES["2.11.0"]
# 2.13.0 is 2.12.0's recipe at seed 7 (better on validation data): four more negation pairs fail, two of them by a tie
# at the bottom ("Women are too stupid to vote." identity_attack 0.020 against 0.020, Christians 0.037 / 0.038) and two
# by less than 0.04 (Muslims 0.431 / 0.467, Mexicans 0.614 / 0.623).
KNOWN_FAILURES["2.13.0"] = KNOWN_FAILURES["2.12.0"] | {
    "negation/christians", "negation/mexicans", "negation/muslims", "negation/women"}
# 2.14.0 is 2.13.0 also reading each comment with its disguises undone: no pair has one, so the same nine fail.
KNOWN_FAILURES["2.14.0"] = KNOWN_FAILURES["2.13.0"]
# 2.15.0 is 2.14.0 also reading each sentence of a one-window comment alone: the pairs of two sentences and more (the
# counter-speech and negation ones that quote the hostile sentence) move, the same nine still fail.
KNOWN_FAILURES["2.15.0"] = KNOWN_FAILURES["2.14.0"]
# 2.16.0 is 2.15.0 undoing wider disguises in its undisguised reading: no pair has one, so the same nine fail.
KNOWN_FAILURES["2.16.0"] = KNOWN_FAILURES["2.15.0"]
# 2.17.0 is 2.16.0 also reading spaced letters as words: no pair spaces its letters, so the same nine fail.
KNOWN_FAILURES["2.17.0"] = KNOWN_FAILURES["2.16.0"]
# 2.18.0 is 2.17.0 also undoing disguises made with symbols: no pair has one, so the same nine fail.
KNOWN_FAILURES["2.18.0"] = KNOWN_FAILURES["2.17.0"]
"""Bundle version -> ids the committed bundle of that version fails (printed by ``model.evaluation.behaviour_report``)."""


@pytest.fixture(scope="module")
def committed_scorer():
    """The committed bundle (bundles/CURRENT): what `make run` serves."""
    from model.scoring import Scorer

    return Scorer.load()


def _expect_known_failure(request, scorer, test_id: str) -> None:
    if test_id in KNOWN_FAILURES.get(scorer.model_version, frozenset()):
        request.applymarker(pytest.mark.xfail(strict=True, reason=f"bundle {scorer.model_version} fails {test_id}: "
                                              "if it passes now, remove it from KNOWN_FAILURES"))


def test_pairs_are_well_formed():
    ids = [pair.id for pair in PAIRS]
    assert len(ids) == len(set(ids))
    assert {pair.category for pair in PAIRS} == set(CATEGORIES)
    for category in CATEGORIES:
        assert 10 <= sum(pair.category == category for pair in PAIRS) <= 20
    assert {pair.attribute for pair in PAIRS} <= {"toxicity", "identity_attack", "threat"}
    assert all(pair.hostile != pair.civil for pair in PAIRS)


def test_known_failures_name_real_checks():
    known = {LONG_COMMENT_ID} | {pair.id for pair in PAIRS}
    for version, ids in KNOWN_FAILURES.items():
        assert ids <= known, f"{version}: unknown ids {sorted(ids - known)}"


@pytest.mark.parametrize("pair", PAIRS, ids=[pair.id for pair in PAIRS])
def test_hostile_form_outscores_its_civil_twin(request, committed_scorer, pair):
    _expect_known_failure(request, committed_scorer, pair.id)
    hostile, civil = pair_scores(committed_scorer, [pair])[0]
    assert hostile > civil, f"{pair.attribute}: {pair.hostile!r} {hostile:.3f} <= {pair.civil!r} {civil:.3f}"


def _styled(text: str, style: str) -> str:
    """``text`` in a "fancy text" style: mathematical bold, small capitals (q and x have none) or negative squared."""
    from model.normalize import LETTER_STYLES

    small_capitals = {plain: styled for styled, plain in LETTER_STYLES.items() if ord(styled) < 0x10000}
    out = []
    for char in text:
        if not char.isascii() or not char.isalpha():
            out.append(char)
        elif style == "bold":
            out.append(chr((0x1D400 if char.isupper() else 0x1D41A) + ord(char.lower()) - ord("a")))
        elif style == "small_capitals":
            out.append(small_capitals.get(char.lower(), char))
        else:
            out.append(chr(0x1F170 + ord(char.lower()) - ord("a")))
    return "".join(out)


@pytest.mark.parametrize("style", ["bold", "small_capitals", "negative_squared"])
def test_styled_letters_do_not_hide_hostility_from_the_committed_bundle(committed_scorer, style):
    # Until the encoder read styled letters as plain ones, "you are an idiot and a moron" in small capitals had insult
    # 0.002 (0.821 written plainly): every styled word was one unknown word piece.
    texts = ["You are an idiot and a moron.", "Shut up, you stupid clown.", "I will find you and hurt you."]
    plain = committed_scorer.moderate(texts, with_spans=False)
    styled = committed_scorer.moderate([_styled(text, style) for text in texts], with_spans=False)
    for text, ours, theirs in zip(texts, styled, plain):
        assert ours.action != "approve", text
        for attribute in ("toxicity", "insult", "threat"):
            assert abs(ours.scores[attribute] - theirs.scores[attribute]) <= 0.05, (text, attribute, ours.scores)


def test_long_comment_is_civil_text_around_the_sentence():
    text, begin, end = long_comment()
    assert text[begin:end] == BURIED_SENTENCE
    assert abs(len(text.split()) - LONG_COMMENT_WORDS) < 60  # whole sentences: a little over
    assert text.count(BURIED_SENTENCE) == 1 and civil_text(50) == civil_text(50)


def test_buried_insult_is_caught_with_its_span(request, committed_scorer):
    _expect_known_failure(request, committed_scorer, LONG_COMMENT_ID)
    text, begin, end = long_comment()
    decision = committed_scorer.moderate([text], with_spans=True)[0]
    assert decision.action != "approve", decision.scores
    assert long_comment_passes(decision, begin, end), (decision.reasons, decision.spans)


def _decision(action: str, spans: dict, reason: str = "toxicity") -> Decision:
    reasons = () if action == "approve" else (Reason(reason, action, reason, 0.9, 0.5),)
    return Decision(action, reasons, {"toxicity": 0.9}, spans, "test")


def test_long_comment_passes_needs_a_hostility_reason_and_span_inside_the_sentence():
    assert long_comment_passes(_decision("review", {"toxicity": [Span(12, 20, 0.9)]}), 10, 30)
    assert not long_comment_passes(_decision("approve", {"toxicity": [Span(12, 20, 0.9)]}), 10, 30)
    assert not long_comment_passes(_decision("review", {"toxicity": [Span(5, 20, 0.9)]}), 10, 30)  # starts before it
    assert not long_comment_passes(_decision("review", {"unsupported_claim": [Span(12, 20, 0.9)]}), 10, 30)
    # Sent to review only as an unsupported claim: the insult was not what the policy saw.
    assert not long_comment_passes(_decision("review", {"toxicity": [Span(12, 20, 0.1)]}, "unsupported_claim"), 10, 30)


class LengthScorer:
    """Scores a text by its length on every attribute (longer is more hostile); approves everything."""

    attributes = ("toxicity", "identity_attack", "threat")
    model_version = "length"

    def predict_scores(self, texts):
        return np.array([[len(text) / 1000] * 3 for text in texts])

    def moderate(self, texts, with_spans=True):
        return [_decision("approve", {}) for _ in texts]


def test_evaluate_behaviour_counts_passes_per_category():
    result = evaluate_behaviour(LengthScorer())
    expected = {pair.id for pair in PAIRS if len(pair.hostile) > len(pair.civil)}
    assert expected and set(result["failed"]) == {pair.id for pair in PAIRS} - expected
    for category, row in result["categories"].items():
        in_category = [pair for pair in PAIRS if pair.category == category]
        assert (row["n_pairs"], row["n_passed"]) == (len(in_category), sum(pair.id in expected for pair in in_category))
    assert result["n_pairs"] == len(PAIRS) and result["n_skipped"] == 0
    assert failing_ids(result) == sorted([*result["failed"], LONG_COMMENT_ID])


def test_pairs_on_unscored_attributes_are_skipped():
    class ToxicityOnly(LengthScorer):
        attributes = ("toxicity",)

        def predict_scores(self, texts):
            return super().predict_scores(texts)[:, :1]

    result = evaluate_behaviour(ToxicityOnly())
    n_toxicity = sum(pair.attribute == "toxicity" for pair in PAIRS)
    assert (result["n_pairs"], result["n_skipped"]) == (n_toxicity, len(PAIRS) - n_toxicity)


def test_the_same_check_passes_on_the_insult_alone(committed_scorer):
    # What the long comment would give if length did not matter: the check itself can pass.
    text, begin, end = long_comment(n_words=0)
    assert long_comment_passes(committed_scorer.moderate([text], with_spans=True)[0], begin, end)


def test_known_failures_are_listed_as_the_test_scores_pairs_one_at_a_time():
    """A near tie that batching flips must be listed as this test sees it: a pair scored on its own."""
    pair = PAIRS[0]

    class BatchSensitive:  # hostile above civil alone, below in a batch of more than one pair
        attributes = (pair.attribute,)

        def predict_scores(self, texts):
            flip = len(texts) > 2
            return np.array([[0.5 if (text == pair.hostile) != flip else 0.4] for text in texts])

    scorer = BatchSensitive()
    assert failing_pairs_one_at_a_time(scorer, [pair]) == []
    assert not (pair_scores(scorer, [pair, pair])[:, 0] > pair_scores(scorer, [pair, pair])[:, 1]).any()


def test_behaviour_report_refuses_a_missing_bundle_with_exit_status_2(capsys):
    from model.evaluation.behaviour_report import main

    with pytest.raises(SystemExit) as stopped:
        main(["--model", "no-such-bundle"])
    assert stopped.value.code == 2
    assert "no-such-bundle not found" in capsys.readouterr().err
