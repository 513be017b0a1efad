"""The cue baseline: fixed weights, what raises and lowers its score, pooling over sentences."""

from __future__ import annotations

import numpy as np
import pytest

from model.claims import CUE_PATTERNS
from model.evaluation.claims_baseline import (
    CUE_BIAS,
    CUE_FLAG_SCORE,
    CUE_WEIGHTS,
    cue_baseline_scores,
    cue_sentence_scores,
)

FACT = "Turkey paid $2.5bn for the missiles in 2015."


def test_weights_name_existing_cues_and_a_plain_sentence_is_not_flagged():
    assert set(CUE_WEIGHTS) <= set(CUE_PATTERNS)
    plain = cue_sentence_scores(["The committee met on a Tuesday."])[0]
    assert plain == pytest.approx(1 / (1 + np.exp(-CUE_BIAS)))
    assert plain < CUE_FLAG_SCORE


@pytest.mark.parametrize("text", [
    FACT,
    "Unemployment rose by 12% in 2019.",
    "Everyone knows the deal was signed in secret in 2015.",
])
def test_figures_and_hedged_claims_are_flagged(text):
    assert cue_baseline_scores([text])[0] >= CUE_FLAG_SCORE


@pytest.mark.parametrize("text", [
    "I think the deal is a mistake.",
    "Why did Turkey buy 2 systems?",
    "I was called 3 times last week by my bank.",
    "We should stop paying for it.",
    "According to Reuters, Turkey paid $2.5bn for the missiles in 2015.",
    "Turkey paid $2.5bn for the missiles in 2015, see https://example.org/deal.",
])
def test_opinion_questions_experience_proposals_and_sourced_facts_are_not_flagged(text):
    assert cue_baseline_scores([text])[0] < CUE_FLAG_SCORE


def test_a_source_lowers_and_a_hedge_raises_the_same_claim():
    bare, sourced, hedged = cue_baseline_scores([
        "The vaccine alters DNA in 2 days.",
        "According to the study, the vaccine alters DNA in 2 days.",
        "Everyone knows the vaccine alters DNA in 2 days.",
    ])
    assert sourced < bare < hedged


def test_comment_score_is_the_highest_sentence_and_blank_scores_zero():
    opinion = "I think the deal is a mistake."
    scores = cue_baseline_scores([f"{opinion} {FACT}", opinion, FACT, "", "   "])
    assert scores[0] == pytest.approx(scores[2])
    assert scores[1] < scores[0]
    assert scores[3] == scores[4] == 0.0
    assert ((scores >= 0) & (scores < 1)).all()


def test_repeated_cues_are_capped():
    few, many = cue_sentence_scores(["It cost 1 or 2 dollars.", "It cost 1, 2, 3, 4, 5, 6 or 7 dollars."])
    assert few == pytest.approx(many)
    assert cue_sentence_scores([]).shape == (0,)
