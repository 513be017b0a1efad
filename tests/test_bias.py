"""Identity-bias metrics on hand-checkable arrays, the bias-set loader on generated files, and the real sets if present."""

from __future__ import annotations

import math
import re

import numpy as np
import pandas as pd
import pytest

from model.evaluation.bias import (
    bnsp_auc,
    bpsn_auc,
    final_bias_score,
    flagged_at_review,
    flagged_share,
    identity_metrics,
    power_mean,
    subgroup_auc,
)
from model.evaluation.bias_data import BIAS_FILES, BIAS_FOLDER, IDENTITY_TERMS, identity_columns, load_bias_set, load_bias_sets
from model.training.data import DataError
from tests.real_data import real_bias_dir

# Four rows mention the identity (civil 0.6, 0.7; hostile 0.8, 0.9), four do not (civil 0.1, 0.2; hostile 0.5, 0.65).
LABELS = np.array([0, 0, 1, 1, 0, 0, 1, 1])
SCORES = np.array([0.6, 0.7, 0.8, 0.9, 0.1, 0.2, 0.5, 0.65])
MEMBER = np.array([True] * 4 + [False] * 4)
OVERALL_AUC = 13 / 16  # of the 16 hostile-civil pairs, 0.5 beats 2 civil rows, 0.65 beats 3, 0.8 and 0.9 beat all 4


def test_subgroup_auc_ranks_within_the_subgroup_only():
    assert subgroup_auc(LABELS, SCORES, MEMBER) == 1.0


def test_bpsn_auc_pits_background_hostile_against_subgroup_civil():
    # 0.5 and 0.65 (hostile, background) against 0.6 and 0.7 (civil, subgroup): only 0.65 > 0.6 wins.
    assert bpsn_auc(LABELS, SCORES, MEMBER) == 0.25


def test_bnsp_auc_pits_subgroup_hostile_against_background_civil():
    assert bnsp_auc(LABELS, SCORES, MEMBER) == 1.0
    # Swapping which rows are the subgroup swaps the roles of BPSN and BNSP.
    assert bnsp_auc(LABELS, SCORES, ~MEMBER) == bpsn_auc(LABELS, SCORES, MEMBER)


def test_bpsn_and_bnsp_match_the_reference_subsets_scored_by_sklearn():
    """model_bias_analysis.py (conversationai): BPSN is the AUC of the subgroup's negatives with the background's
    positives, BNSP of the subgroup's positives with the background's negatives; ties and unequal groups included."""
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(3)
    labels = rng.integers(0, 2, 60)
    scores = rng.integers(0, 6, 60) / 5  # few distinct values: many ties
    member = rng.random(60) < 0.3
    bpsn_rows = (member & (labels == 0)) | (~member & (labels == 1))
    bnsp_rows = (member & (labels == 1)) | (~member & (labels == 0))
    assert bpsn_auc(labels, scores, member) == pytest.approx(roc_auc_score(labels[bpsn_rows], scores[bpsn_rows]))
    assert bnsp_auc(labels, scores, member) == pytest.approx(roc_auc_score(labels[bnsp_rows], scores[bnsp_rows]))
    assert subgroup_auc(labels, scores, member) == pytest.approx(roc_auc_score(labels[member], scores[member]))


def test_identity_metrics_counts_and_undefined_auc():
    metrics = identity_metrics(LABELS, SCORES, MEMBER)
    assert (metrics["n_rows"], metrics["n_positive"]) == (4, 2)
    only_civil = np.array([True, True, False, False, False, False, False, False])
    metrics = identity_metrics(LABELS, SCORES, only_civil)
    assert math.isnan(metrics["subgroup_auc"]) and math.isnan(metrics["bnsp_auc"])
    # Every hostile row is background now: 0.8 and 0.9 beat both civil members, 0.65 beats 0.6, 0.5 beats neither.
    assert metrics["bpsn_auc"] == 5 / 8
    with pytest.raises(ValueError, match="expected"):
        identity_metrics(LABELS, SCORES, MEMBER[:3])


def test_power_mean():
    assert power_mean([0.5, 0.5]) == pytest.approx(0.5)
    assert power_mean([1.0, 0.5]) == pytest.approx(16.5 ** -0.2)  # mean(1, 2**5) ** (-1/5)
    assert power_mean([1.0, 0.5], power=1) == pytest.approx(0.75)
    assert power_mean([1.0, 0.5]) < 0.75  # p = -5 leans towards the worst value
    assert power_mean([0.9, 0.0]) == 0.0
    assert power_mean([0.8, float("nan")]) == pytest.approx(0.8)
    assert math.isnan(power_mean([float("nan")]))


def test_final_bias_score_weights_overall_and_power_means():
    per_identity = {"group": identity_metrics(LABELS, SCORES, MEMBER)}
    # One identity: each power mean is its own AUC (1, 0.25, 1).
    assert final_bias_score(OVERALL_AUC, per_identity) == pytest.approx(0.25 * 13 / 16 + 0.75 * (1 + 0.25 + 1) / 3)
    two = {"a": {"subgroup_auc": 1.0, "bpsn_auc": 1.0, "bnsp_auc": 1.0},
           "b": {"subgroup_auc": 0.5, "bpsn_auc": 0.5, "bnsp_auc": 0.5}}
    assert final_bias_score(1.0, two) == pytest.approx(0.25 + 0.75 * 16.5 ** -0.2)


def test_flagged_at_review_and_share():
    scores = np.array([[0.5, 0.1], [0.2, 0.96], [0.1, 0.1], [0.49, 0.9]])
    flagged = flagged_at_review(scores, ("toxicity", "threat"), {"toxicity": 0.5, "threat": 0.95, "insult": 0.1})
    assert flagged.tolist() == [True, True, False, False]  # insult is not scored: ignored
    labels = np.array([0, 1, 0, 0])
    assert flagged_share(flagged, labels) == pytest.approx(1 / 3)
    assert flagged_share(flagged, labels, [True, True, False, False]) == 1.0  # the only civil member is flagged
    assert math.isnan(flagged_share(flagged, labels, [False, True, False, False]))


def test_identity_columns_match_whole_words_in_any_case():
    columns = identity_columns(["Being Gay is fine.", "gaystreet", "An African American writer.", "older people"],
                               ("gay", "african", "african american", "old"))
    assert columns["gay"].tolist() == [True, False, False, False]
    assert columns["african"].tolist() == [False, False, True, False]
    assert columns["african american"].tolist() == [False, False, True, False]
    assert columns["old"].tolist() == [False, False, False, False]


@pytest.mark.parametrize("text", ["İndian", "ſikh and Chriſtian", "KELVIN \u212a", "African  American", "AFRICAN-AMERICAN",
                                  "gay_man", "middle-aged", "ＧＡＹ", "LGBTQ+", "an old\u00a0man", "eastern middle", ""])
def test_identity_columns_agree_with_a_regex_per_term_that_ignores_case(text):
    """The columns are found one pass per text, not one regex per term (50 times faster); a regex that ignores case
    takes "İ" for "i" and "ſ" for "s", which lower-cased words do not."""
    expected = [re.search(rf"\b{re.escape(term)}\b", text, re.IGNORECASE) is not None for term in IDENTITY_TERMS]
    assert identity_columns([text]).iloc[0].tolist() == expected


def write_bias_dir(root) -> None:
    """Tiny bias files, laid out and named as the real ones."""
    folder = root / "hostility" / BIAS_FOLDER
    folder.mkdir(parents=True)
    pd.DataFrame({"Text": ["hug muslim", "Being gay is awful.", "You are a kind lawyer"],
                  "Label": ["NOT_BAD", "BAD", "NOT_BAD"], "Template": ["verb_adj", "being_adj", "you_occupation"]}
                 ).to_csv(folder / BIAS_FILES["madlibs"][0], index=False)
    for name in ("wiki_identity", "wiki_identity_fuzzed"):
        pd.DataFrame({"rev_id": [1, 2], "comment": ["  Jewish history is long. ", "You gay idiot"], "toxic": [False, True]}
                     ).to_csv(folder / BIAS_FILES[name][0], index=False)


def test_loader_reads_labels_and_identities(tmp_path):
    write_bias_dir(tmp_path)
    madlibs = load_bias_set("madlibs", tmp_path)
    assert madlibs["label"].tolist() == [0, 1, 0]
    assert madlibs["muslim"].tolist() == [True, False, False]
    assert madlibs.attrs["identities"] == list(IDENTITY_TERMS) and "Apache-2.0" in madlibs.attrs["license"]
    wiki = load_bias_set("wiki_identity", tmp_path)
    assert wiki["text"].tolist() == ["Jewish history is long.", "You gay idiot"]
    assert wiki["label"].tolist() == [0, 1]
    assert set(load_bias_sets(tmp_path)) == set(BIAS_FILES)


def test_loader_errors_say_what_to_fix(tmp_path, monkeypatch):
    assert load_bias_sets(tmp_path) == {}  # a data directory without the bias folder: nothing to report
    with pytest.raises(DataError, match="not found"):
        load_bias_set("madlibs", tmp_path)
    with pytest.raises(DataError, match="unknown bias set"):
        load_bias_set("madlib", tmp_path)
    write_bias_dir(tmp_path)
    path = tmp_path / "hostility" / BIAS_FOLDER / BIAS_FILES["madlibs"][0]
    pd.DataFrame({"Text": ["x"], "Label": ["MAYBE"]}).to_csv(path, index=False)
    with pytest.raises(DataError, match="BAD or NOT_BAD"):
        load_bias_set("madlibs", tmp_path)
    monkeypatch.setenv("MODERATION_DATA_DIR", str(tmp_path / "absent"))
    with pytest.raises(DataError, match="MODERATION_DATA_DIR"):
        load_bias_set("wiki_identity")


REAL_DATA = real_bias_dir()


@pytest.mark.slow
@pytest.mark.data
@pytest.mark.skipif(REAL_DATA is None, reason="the bias sets (hostility/jigsaw_bias_madlibs) are absent")
def test_real_bias_sets_have_the_documented_counts():
    sets = load_bias_sets(REAL_DATA)
    madlibs = sets["madlibs"]
    assert (len(madlibs), int(madlibs["label"].sum())) == (76_564, 38_282)  # SOURCE.md: BAD and NOT_BAD, 38,282 each
    # Every madlib but the occupation template names exactly one identity slot, so every term is found.
    assert all(madlibs[term].any() for term in IDENTITY_TERMS)
    for name in ("wiki_identity", "wiki_identity_fuzzed"):
        assert (len(sets[name]), int(sets[name]["label"].sum())) == (1_492, 248)


def test_threshold_cross_scores_each_bundle_at_every_bundles_thresholds(scorer):
    from types import SimpleNamespace

    from model.evaluation.bias_report import review_thresholds
    from model.evaluation.threshold_cross import cross_flagged, cross_markdown, main

    frame = pd.DataFrame({"text": ["you are a moron", "the budget is late", "idiots, all of you", "nice park"],
                          "label": [1, 0, 1, 0]})
    civil = scorer.predict_scores(["the budget is late", "nice park"])
    strict = SimpleNamespace(policy=SimpleNamespace(review={attribute: 0.0 for attribute in scorer.attributes}))
    lenient = SimpleNamespace(policy=SimpleNamespace(review={}))

    class Judged:  # the tiny scorer's scores under another policy
        def __init__(self, judge):
            self.attributes, self.policy, self.predict_scores = scorer.attributes, judge.policy, scorer.predict_scores

    table = cross_flagged({"own": scorer, "strict": Judged(strict), "lenient": Judged(lenient)}, frame)
    own = float(flagged_at_review(civil, scorer.attributes, review_thresholds(scorer)).mean())
    for row in table.values():
        assert row == {"own": own, "strict": 1.0, "lenient": 0.0}
    assert "| own | " in cross_markdown(table) and "100.0%" in cross_markdown(table)
    with pytest.raises(SystemExit) as stopped:
        main(["--models", "1.2.0"])
    assert stopped.value.code == 2
    with pytest.raises(SystemExit) as stopped:
        main(["--models", "no-such-bundle", "1.2.0"])
    assert stopped.value.code == 2
