"""The scoring core on the tiny bundle: scores, spans, decisions, order and empty rows."""

import json

import numpy as np
import pytest

from model.attributes import ATTRIBUTES, CLAIM_ATTRIBUTE, HOSTILITY_ATTRIBUTES
from model.characters import whole_characters
from model.spans import COMMENT_FLOOR, merge_spans
from model.training.train import fit_model
from tests.corpus import make_corpus


def test_scores_are_probabilities_in_attribute_order(scorer):
    texts = ["The council changes the budget.", "You are a pathetic loser."]
    scores = scorer.predict_scores(texts)
    assert scorer.attributes == ATTRIBUTES
    assert scores.shape == (2, len(ATTRIBUTES))
    assert ((scores >= 0) & (scores <= 1)).all()


def test_hostile_held_out_sentences_outscore_neutral_ones(scorer):
    held_out = make_corpus(60, seed=7)
    scores = scorer.predict_scores(held_out["text"].tolist())
    toxicity = scores[:, 0]
    hostile = held_out["toxicity"].to_numpy() == 1
    assert toxicity[hostile].min() > toxicity[~hostile].max()


def test_moderate_keeps_order_and_approves_empty_rows(scorer):
    texts = ["You are a stupid clown, the minister delays the vote.", "", None, float("nan"), "The editor explains the plan."]
    decisions = scorer.moderate(texts)
    assert len(decisions) == 5
    for empty in decisions[1:4]:
        assert empty.action == "approve"
        assert [r.code for r in empty.reasons] == ["empty"]
        assert set(empty.scores.values()) == {0.0}
    assert decisions[0].scores["insult"] > decisions[4].scores["insult"]
    assert all(d.model_version == scorer.model_version for d in decisions)


def test_spans_point_at_the_words_that_drove_the_score(scorer):
    text = "The minister delays the plan, pathetic loser."
    decision = scorer.moderate([text])[0]
    spans = decision.spans.get("toxicity")
    assert spans, decision
    covered = "".join(text[s.begin : s.end] for s in spans)
    assert "loser" in covered
    assert "minister" not in covered


def test_batched_explanations_equal_one_by_one(scorer):
    texts = ["You are a stupid clown.", "The plan, what crap.", "You are a dumb fool, a stupid clown."]
    together = scorer.moderate(texts)
    alone = [scorer.moderate([t])[0] for t in texts]
    assert [d.spans for d in together] == [d.spans for d in alone]


FLAG = "\U0001f3f4\U000e0067\U000e0062\U000e0065\U000e006e\U000e0067\U000e007f"
"""England's flag: a black flag and six tag characters, drawn as one character."""


def _split_characters(text, decision) -> list[tuple[str, int, int]]:
    """The spans of ``decision``, its reasons' too, that begin or end inside a character as drawn in ``text``."""
    spans = [(attribute, span) for attribute, found in decision.spans.items() for span in found]
    spans += [(reason.code, reason.span) for reason in decision.reasons if reason.span is not None]
    return [(name, span.begin, span.end) for name, span in spans
            if whole_characters(text, span.begin, span.end) != (span.begin, span.end)]


def test_a_span_ending_at_a_flag_takes_in_its_tags(scorer):
    """The tiny bundle's span was (0, 13): after the black flag, before its tags; API clients drew the flag broken."""
    text = f"stupid clown{FLAG}"
    decision = scorer.moderate([text])[0]
    assert [(span.begin, span.end) for span in decision.spans["toxicity"]] == [(0, len(text))]
    assert [(reason.code, reason.text) for reason in decision.reasons] == [("toxicity", text)]


@pytest.mark.parametrize("text, with_spans, behind", [
    (f"You are a stupid clown{FLAG} the council", True, "toxicity"),  # a word span, as above
    ("stupid clown\u200c", True, "toxicity"),  # before a zero-width non-joiner, which the normaliser drops
    ("stupid clown\u034f", True, "toxicity"),  # before a combining grapheme joiner, dropped too
    ("Kenya paid $8.5bn for the vaccine plant in 1991.\u0301 I like it.", True, "unsupported_claim"),  # a sentence
    ("The mayor should be shot\u200d", False, "threat_phrase"),  # the threat phrase rule, without word spans
])
def test_no_span_or_reason_splits_a_character(scorer, text, with_spans, behind):
    """Word spans, claim sentences and threat phrases ended between a character and a mark that is drawn with it."""
    decision = scorer.moderate([text], with_spans=with_spans)[0]
    assert behind in decision.spans or behind in [reason.code for reason in decision.reasons], decision
    assert _split_characters(text, decision) == []
    assert all(reason.text == text[reason.span.begin : reason.span.end] for reason in decision.reasons if reason.span)


def test_merge_spans_joins_neighbouring_words():
    text = "so stupid idiot , fine"
    words = [(0, 2), (3, 9), (10, 15), (18, 22)]
    spans = merge_spans(text, words, np.array([0.1, 0.8, 0.9, 0.2]), 0.5)
    assert [(s.begin, s.end, s.score) for s in spans] == [(3, 15, 0.9)]


def test_training_is_deterministic():
    frame = make_corpus(120, seed=3)
    texts = make_corpus(30, seed=4)["text"].tolist()
    first = fit_model(frame, seed=5, n_jobs=1).predict_proba(texts)
    second = fit_model(frame, seed=5, n_jobs=1).predict_proba(texts)
    assert np.array_equal(first, second)


@pytest.mark.parametrize("text", ["I disagree with the government.", "This article is one-sided."])
def test_decisions_carry_every_score(scorer, text):
    decision = scorer.moderate([text])[0]
    assert set(decision.scores) == set(ATTRIBUTES)
    assert decision.action in {"approve", "review", "reject"}


def test_moderate_scores_each_claim_sentence_once(scorer, monkeypatch):
    claims = scorer.bundle.model.claims
    scored = []
    original = claims.sentence_scores

    def counting(texts, *head_scores):
        scored.extend(texts)
        return original(texts, *head_scores)

    monkeypatch.setattr(claims, "sentence_scores", counting)
    text = "Turkey paid $2.5bn in 2015. You are a stupid clown. The vote is on Monday."
    decision = scorer.moderate([text])[0]
    assert len(scored) == 3
    assert decision.scores == dict(zip(scorer.attributes, scorer.predict_scores([text])[0]))


def test_bytes_are_scored_as_their_utf8_text(scorer):
    hostile = "You are a stupid clown, the minister delays the vote. Café."
    decisions = scorer.moderate([hostile.encode("utf-8"), hostile, b"\xff\xfe not utf-8"], with_spans=False)
    assert decisions[0].scores == decisions[1].scores and decisions[0].action == decisions[1].action
    assert decisions[0].scores["insult"] > 0  # not the empty row it would be without its text
    assert [r.code for r in decisions[2].reasons] == ["empty"]  # bytes that are not UTF-8 are not text
    assert np.array_equal(scorer.predict_scores([hostile.encode("utf-8")]), scorer.predict_scores([hostile]))


def test_score_command_decodes_a_binary_parquet_text_column(tmp_path, tiny_bundle_path, scorer):
    """`moderate score` end to end: a Parquet text column stored as Arrow binary is scored as its UTF-8 text."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    from click.testing import CliRunner

    from service.cli import cli

    hostile = "You are a stupid clown, the minister delays the vote."
    pq.write_table(pa.table({"id": [1, 2], "text": pa.array([hostile.encode(), b"\xff not utf-8"], pa.binary())}),
                   tmp_path / "in.parquet")
    result = CliRunner().invoke(cli, ["score", str(tmp_path / "in.parquet"), "-o", str(tmp_path / "out.parquet")],
                                env={"MODERATION_MODEL": str(tiny_bundle_path)})
    assert result.exit_code == 0, result.output
    out = pq.read_table(tmp_path / "out.parquet").to_pylist()
    expected = scorer.moderate([hostile], with_spans=False)[0].scores["toxicity"]
    assert expected > 0.5 and out[0]["toxicity"] == pytest.approx(expected, abs=1e-6)  # the output keeps 6 decimals
    assert out[1]["decision"] == "approve" and "not text 1" in result.output


# A policy file's [spans] floor: no word span for a hostility attribute whose served score is below it, in place of the
# bundle's floor (``span_thresholds["comment_floor"]`` of a TF-IDF bundle; tests/test_encoder.py has the encoder's).

SPAN_TEXTS = make_corpus(60, seed=7).query("toxicity == 1")["text"].tolist()[:12] + [
    "The council explains the budget and I think that is fair.", "", "You are a stupid clown, the minister delays the vote."]
"""Comments most of which the tiny bundle marks words of, a civil one and an empty one."""


def _with_spans_section(scorer, tmp_path, section: str):
    """A Scorer on ``scorer``'s bundle (the same object: a floor set on it would show in ``scorer``) with a policy file
    of the bundle's thresholds and ``section``."""
    from model.policy import load_policy
    from model.scoring import Scorer

    path = tmp_path / "site-policy.toml"
    path.write_text(scorer.policy.to_toml() + section, encoding="utf-8")
    return Scorer(scorer.bundle, load_policy(path))


def _hostility_spans(decision) -> dict:
    return {attribute: spans for attribute, spans in decision.spans.items() if attribute in HOSTILITY_ATTRIBUTES}


def _decided(decision) -> tuple:
    """What a span never changes: the action, the scores and each reason but for the span it quotes."""
    return decision.action, decision.scores, [(r.code, r.action, r.attribute, r.score, r.threshold) for r in decision.reasons]


def test_a_policy_span_floor_removes_the_word_spans_of_scores_below_it(scorer, tmp_path):
    """Bundle 2.13.0's floor 0.10 marked words in 35% of civil UCC comments: a site raises it in its policy file."""
    own = scorer.moderate(SPAN_TEXTS)
    marked = sorted(d.scores[a] for d in own for a in _hostility_spans(d))
    floor = float(np.median(marked))
    assert marked[0] < floor <= marked[-1], "the tiny bundle marks words of attributes scored on both sides of the floor"
    assert floor > scorer.bundle.model.span_thresholds.get(COMMENT_FLOOR, 0.0)  # higher than the bundle's own
    floored = _with_spans_section(scorer, tmp_path, f"\n[spans]\nfloor = {floor!r}\n")
    assert floored.policy.span_floor == floor
    decisions = floored.moderate(SPAN_TEXTS)
    for before, after in zip(own, decisions, strict=True):
        assert _decided(after) == _decided(before)
        # The spans kept are the bundle's, where the score reaches the site's floor; claim sentences are not words.
        assert _hostility_spans(after) == {a: s for a, s in _hostility_spans(before).items() if before.scores[a] >= floor}
        assert after.spans.get(CLAIM_ATTRIBUTE) == before.spans.get(CLAIM_ATTRIBUTE)
    assert sum(map(len, map(_hostility_spans, decisions))) < len(marked)
    # The other scorer of the same bundle still applies the bundle's floor.
    assert [d.to_dict() for d in scorer.moderate(SPAN_TEXTS)] == [d.to_dict() for d in own]


@pytest.mark.parametrize("section", ["", "bundle's floor"])
def test_a_policy_without_a_floor_or_with_the_bundles_changes_no_byte(scorer, tmp_path, section):
    """A policy file without [spans] (every bundle's policy.toml) serves what it served; [spans] floor set to the
    bundle's own floor applies the same rule to the same scores."""
    if section:
        section = f"\n[spans]\nfloor = {scorer.bundle.model.span_thresholds.get(COMMENT_FLOOR, 0.0)!r}\n"
    site = _with_spans_section(scorer, tmp_path, section)
    assert (site.policy.span_floor is None) is (not section)
    assert (json.dumps([d.to_dict() for d in site.moderate(SPAN_TEXTS)])
            == json.dumps([d.to_dict() for d in scorer.moderate(SPAN_TEXTS)]))
