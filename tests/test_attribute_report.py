"""Attributes on their own labels: the loaders on generated files, the figures on stub decisions, the real sets."""

from __future__ import annotations

import pandas as pd
import pytest

from model.evaluation.attribute_data import ATTRIBUTE_SETS, labelled_attributes, load_attribute_sets
from model.evaluation.attribute_report import attribute_markdown, attribute_rows, evaluate_attributes
from model.results import Decision, Reason
from model.training import added_sets
from tests.real_data import _real_data_dir_with

ATTRIBUTES = ("toxicity", "threat")


def _csv(path, frame) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(frame).to_csv(path, index=False)


def write_attribute_dir(root):
    """Small files laid out as the real ones: toxic spans (raw and test), HateXplain, ConvAbuse, OLID test, ETHOS."""
    spans = root / "hostility" / "toxic_spans_semeval2021"
    texts = ["I will hurt you, idiot.", "You are an idiot.", "Those people are vermin.", "A training post, idiot."]
    # Post 1 twice in the raw release (the same text with other spacing): one test row only.
    _csv(spans / "raw_comments.csv.gz", {"comment_id": [0, 1, 2, 3, 4],
                                         "comment_text": texts + ["You are an  idiot."]})
    # Two raters per post, three for post 2. Post 0: both mark a threat, one an insult (half is enough, as in
    # training); post 1: both an insult; post 2: one of three an identity attack (not enough).
    _csv(spans / "raw_annotations.csv.gz", {
        "annotation": range(11), "comment_id": [0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 2], "worker": 1, "country": "USA",
        "all toxic": False, "not toxic": False})
    _csv(spans / "raw_spans.csv.gz", {
        "annotation": [0, 1, 0, 2, 3, 4, 6, 7], "type": ["Threat", "Threat", "Insult", "Insult", "Insult",
                                                         "Identity based Attack", "Threat", "Threat"],
        "start": [0, 0, 17, 8, 8, 0, 0, 0], "end": [16, 16, 22, 13, 13, 24, 5, 5]})
    _csv(spans / "tsd_test.csv.gz", {"spans": ["[]", "[]", "[]"], "text": texts[:3]})
    # "offensive post" is written in the training split too (with other spacing and case), and so is ETHOS's "kill them
    # all".
    _csv(root / "hostility" / "hatexplain" / "hatexplain.csv.gz", {
        "split": ["test", "test", "test", "train", "train", "train"],
        "majority_label": ["hatespeech", "offensive", "normal", "hatespeech", "offensive", "hatespeech"],
        "text": ["hate post", "offensive post", "normal post", "train post", "Offensive  post", "Kill them all"],
        "toxic": [1, 1, 0, 1, 1, 1]})
    # Stormfront: only sampled_test rows labelled hate or noHate are read ("relation" is hate only in context).
    _csv(root / "hostility" / "stormfront_hate_degibert2018" / "stormfront_sentences.csv.gz", {
        "file_id": ["1_1", "2_1", "3_1", "4_1"], "label": ["hate", "noHate", "relation", "hate"],
        "text": ["group hate", "a fine day", "in context", "training hate"],
        "split": ["sampled_test", "sampled_test", "sampled_test", "sampled_train"]})
    _csv(root / "hostility" / "ethos" / "Ethos_Dataset_Multi_Label.csv.gz", {
        "comment": ["kill them all", "they are stupid"], "violence": [0.8, 0.2]})
    return root


def _primary_sets(monkeypatch, validation_texts=()) -> None:
    """The primary test sets and the validation sets, absent from ``write_attribute_dir``: none, and one validation set
    of ``validation_texts``. Training keeps out these and the test splits written there (``forbidden_keys``)."""
    monkeypatch.setattr(added_sets, "load_test_sets", lambda data_dir: {})
    monkeypatch.setattr(added_sets, "load_validation_sets",
                        lambda data_dir: {"validation": pd.DataFrame({"text": list(validation_texts), "label": 1})})


def test_loaders_label_each_attribute_and_skip_what_is_missing(tmp_path, monkeypatch):
    _primary_sets(monkeypatch)
    sets, skipped = load_attribute_sets(write_attribute_dir(tmp_path / "data"))
    assert list(sets) == ["toxic_spans_test", "hatexplain_test", "stormfront_test", "ethos_violence"]
    assert set(skipped) == {"convabuse_test", "olid_test"} and all("not found" in why for why in skipped.values())
    spans = sets["toxic_spans_test"]
    # Only the three test posts (the training post is not read, the doubled one counted once).
    assert spans["text"].tolist() == ["I will hurt you, idiot.", "You are an idiot.", "Those people are vermin."]
    assert spans["threat"].tolist() == [1, 0, 0]
    assert spans["insult"].tolist() == [1, 1, 0]
    assert spans["identity_attack"].tolist() == [0, 0, 0]
    hatexplain = sets["hatexplain_test"]
    assert (hatexplain["text"].tolist(), hatexplain["identity_attack"].tolist()) == (
        ["hate post", "offensive post", "normal post"], [1, 0, 0])
    stormfront = sets["stormfront_test"]
    assert (stormfront["text"].tolist(), stormfront["identity_attack"].tolist()) == (["group hate", "a fine day"], [1, 0])
    assert labelled_attributes(stormfront) == ["identity_attack"]
    assert sets["ethos_violence"]["threat"].tolist() == [1, 0]
    assert labelled_attributes(sets["ethos_violence"]) == ["threat"]
    # "offensive post" is in HateXplain's training split too, but training leaves every test text out (the encoder of
    # 2.6.0-2.11.0 read it): no row is marked (the public training files are absent here: left out)...
    assert hatexplain["in_training"].tolist() == [False, False, False]
    # ...unless training reads it: "kill them all", in no test or validation set here.
    assert sets["ethos_violence"]["in_training"].tolist() == [True, False]
    assert not spans["in_training"].any() and hatexplain.attrs["labels"] == {
        "identity_attack": "hatespeech by majority (offensive and normal posts are 0)"}


def test_a_text_of_a_validation_set_is_not_marked_as_trained_on(tmp_path, monkeypatch):
    # ETHOS's binary file, a validation set, holds every comment of its multi-label file. Training leaves validation
    # texts out of HateXplain's and ConvAbuse's training splits as it does test texts (``forbidden_keys``): "kill them
    # all", in HateXplain's training split too, was marked as trained on.
    _primary_sets(monkeypatch, validation_texts=["Kill them  all", "they are stupid"])
    sets, _ = load_attribute_sets(write_attribute_dir(tmp_path / "data"))
    assert sets["ethos_violence"]["in_training"].tolist() == [False, False]


def _decision(scores, reasons=(), action="approve"):
    return Decision(action=action, reasons=tuple(reasons), scores=dict(zip(ATTRIBUTES, scores)))


def test_rows_give_each_attribute_its_auc_beside_toxicity_and_what_the_policy_did():
    frame = pd.DataFrame({"text": list("abcd"), "label": 1, "threat": [1, 1, 0, 0]})
    frame.attrs["labels"] = {"threat": "a threat", "severe_toxicity": "not scored by this model"}
    decisions = [
        _decision((0.2, 0.9), [Reason("threat_phrase", "review", "threat")], "review"),
        _decision((0.3, 0.3), [Reason("toxicity", "review", "toxicity")], "review"),  # flagged, not for threat
        _decision((0.8, 0.4)),
        _decision((0.1, 0.1), [Reason("threat", "review", "threat")], "review"),
    ]
    [row] = attribute_rows("set", frame, decisions, list(ATTRIBUTES))
    assert (row["set"], row["attribute"], row["label"], row["rows"], row["positives"]) == ("set", "threat", "a threat", 4, 2)
    assert row["roc_auc"] == 0.75  # threat 0.9 beats 0.4 and 0.1, 0.3 only 0.1: three pairs of four
    assert row["toxicity_roc_auc"] == 0.5  # toxicity 0.2 and 0.3 beat 0.1, not 0.8: two of four
    assert row["positives_flagged"] == 0.5 and row["negatives_flagged"] == 0.5
    assert row["positives_not_approved"] == 1.0
    assert row["rows_in_training"] == 0 and row["roc_auc_not_in_training"] is None


def test_rows_give_the_roc_auc_without_the_rows_also_in_training():
    frame = pd.DataFrame({"text": list("abcd"), "label": 1, "threat": [1, 1, 0, 0],
                          "in_training": [False, True, False, False]})
    frame.attrs["labels"] = {"threat": "a threat"}
    # Threat scores 0.2 (positive), 0.9 (positive, also in training), 0.4 and 0.1.
    decisions = [_decision((0.5, score)) for score in (0.2, 0.9, 0.4, 0.1)]
    [row] = attribute_rows("set", frame, decisions, list(ATTRIBUTES))
    assert row["roc_auc"] == 0.75 and row["rows_in_training"] == 1
    assert row["roc_auc_not_in_training"] == 0.5  # 0.2 against 0.4 and 0.1: one pair of two
    text = "\n".join(attribute_markdown({"rows": [row]}))
    assert "| set | threat | a threat | 4 | 2 | 0.750 | 1, 0.500 | 0.500 |" in text
    # The column counts the texts training reads (``training_keys``: no test or validation text), not every text in a
    # training split: the explanation said ConvAbuse's test turns "yes" and "hi" were among them, beside a count of 0.
    explained = text.split("*Also in training* = ")[1].split("; the ROC AUC beside it")[0]
    assert explained.startswith("rows whose text training reads") and "are in its training split too" not in explained


def test_evaluate_and_markdown_put_the_baseline_beside_ours_and_link_the_figure(tmp_path):
    frame = pd.DataFrame({"text": ["x", "y"], "label": 1, "threat": [1, 0]})
    frame.attrs["labels"] = {"threat": "a threat"}
    plots = tmp_path / "plots"
    plots.mkdir()
    ours = evaluate_attributes(lambda texts, description: [_decision((0.5, 0.9)), _decision((0.5, 0.1))],
                               {"s": frame}, ATTRIBUTES, {"gone": "data file x not found"}, plots)
    assert ours["plot"] == "plots/attributes_own_labels.png" and (plots / "attributes_own_labels.png").stat().st_size
    theirs = evaluate_attributes(lambda texts, description: [_decision((0.5, 0.1)), _decision((0.5, 0.9))],
                                 {"s": frame}, ATTRIBUTES, {})
    text = "\n".join(attribute_markdown(ours, theirs, "1.2.0"))
    assert "| s | threat | a threat | 2 | 1 | 1.000 / 0.000 | 0 | 0.500 | 0.000 | 0.000 | 0.000 |" in text
    assert "ROC AUC / 1.2.0" in text and "Not evaluated: gone (data file x not found)." in text
    assert "](plots/attributes_own_labels.png)" in text and "plot" not in theirs  # no plot_dir, no figure


REAL_DATA = _real_data_dir_with("hostility/hatexplain")


@pytest.mark.data
@pytest.mark.skipif(REAL_DATA is None, reason="the public hostility sets are absent")
def test_real_attribute_sets_have_the_documented_counts():
    sets, skipped = load_attribute_sets(REAL_DATA)
    assert not skipped and list(sets) == list(ATTRIBUTE_SETS)
    counts = {name: (len(frame), {a: int(frame[a].sum()) for a in labelled_attributes(frame)})
              for name, frame in sets.items()}
    # toxic spans: every official test post found in the raw release (SOURCE.md: 2,000); HateXplain test 1,924
    # with 594 hatespeech; ConvAbuse test 853; Stormfront sampled_test 478 (239 hate); OLID test 860 (TIN 213, UNT 27); ETHOS violence 142 of 433.
    assert counts["toxic_spans_test"][0] == 2_000
    assert counts["hatexplain_test"] == (1_924, {"identity_attack": 594})
    assert counts["convabuse_test"][0] == 853
    assert counts["stormfront_test"] == (478, {"identity_attack": 239})
    assert counts["olid_test"] == (860, {"insult": 213, "profanity": 27})
    assert counts["ethos_violence"] == (433, {"threat": 142})
    # No test text is trained on from 2.12.0 on. 2.6.0-2.11.0's encoder read 294 ConvAbuse test turns ("yes", "hi", ...)
    # and 6 HateXplain test posts in those sets' training splits (and, up to 1.3.0, 9 more ConvAbuse turns among the
    # primary sets' training rows: 303 in all).
    assert {name: int(frame["in_training"].sum()) for name, frame in sets.items()} == dict.fromkeys(ATTRIBUTE_SETS, 0)
