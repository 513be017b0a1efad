"""Claim data loading on tiny made-up files (no real rows), plus one slow check on the real data."""

from __future__ import annotations

import gzip
import json

import numpy as np
import pandas as pd
import pytest

from model.training import claims_data
from model.training.claims_data import (
    CLAIM_DATASETS,
    comment_level,
    load_claim_test_sets,
    load_claim_training_data,
    load_claim_validation_sets,
)
from model.training.data import DataError, overlap_key
from tests.real_data import real_claims_dir

TEST_SET_NAMES = {"claimbuster_test", "checkthat2022_test", "cdcp_test", "regulation_room_test", "cmv_test"}
SHARED_TEXT = "The tax rose by 12 percent in 2019."
"""Appears in a training split and in the ClaimBuster test split: must be removed from training."""


def _csv(folder, name, rows):
    folder.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_csv(folder / name, index=False, compression="gzip")


@pytest.fixture()
def data_dir(tmp_path):
    """A data root whose claims/ folder holds every file the loaders read, a few made-up rows each."""
    root = tmp_path / "claims"
    crowd = [{"Sentence_id": i, "Text": f"Crowd sentence number {i} says {i * 7} jobs were lost.",
              "Verdict": (-1, 0, 1)[i % 3]} for i in range(1, 40)]
    crowd.append({"Sentence_id": 99, "Text": SHARED_TEXT, "Verdict": 1})
    _csv(root / "claimbuster", "crowdsourced.csv.gz", crowd)
    _csv(root / "claimbuster", "groundtruth.csv.gz",
         [{"Sentence_id": 500 + i, "Text": f"Expert sentence {i}.", "Verdict": (-1, 1)[i % 2]} for i in range(6)])
    _csv(root / "claimbuster", "claimbuster_2class_ncs_sets.csv.gz",
         [{"sentence_id": 99, "text": "  the TAX rose by 12 percent\tin 2019.", "label": 1, "in_spotter_test": True},
          {"sentence_id": 1, "text": "Crowd sentence number 1 says 7 jobs were lost.", "label": 0,
           "in_spotter_test": False},
          {"sentence_id": 501, "text": "Expert sentence 1.", "label": 1, "in_spotter_test": True},
          {"sentence_id": 502, "text": "Expert sentence 2.", "label": 0, "in_spotter_test": True}])
    _csv(root / "checkthat2019_task1_en_debates", "ct19_task1_en.csv.gz",
         [{"split": s, "text": f"Debate line {s} {i}.", "label": i % 2} for s in ("train", "test") for i in range(4)])
    _csv(root / "checkthat2020_task1_en_tweets", "ct20_task1_en.csv.gz",
         [{"split": s, "tweet_text": f"Tweet 2020 {s} {i} about 5 cases", "claim": i % 2}
          for s in ("train", "dev", "test") for i in range(4)])
    _csv(root / "checkthat2022_task1b_en_tweets", "ct22_task1b_en.csv.gz",
         [{"split": s, "tweet_text": f"Tweet 2022 {s} {i}", "class_label": i % 2}
          for s in ("train", "dev", "dev_test", "test") for i in range(4)])
    props, comments = [], []
    for doc, split in ((1, "train"), (2, "train"), (3, "test"), (4, "test")):
        texts = [f"Collectors called {doc} times.", f"I think doc {doc} is unfair.", f"I was called {doc} times."]
        comments.append({"id": doc, "split": split, "text": " ".join(texts)})
        for prop, (text, kind) in enumerate(zip(texts, ("fact", "value", "testimony"))):
            props.append({"split": split, "doc_id": doc, "prop_id": prop, "text": " " + text, "type": kind,
                          "has_support": doc % 2 == 0 and prop == 0, "duplicate_doc": False})
    _csv(root / "cdcp", "cdcp_propositions.csv.gz", props)
    with gzip.open(root / "cdcp" / "cdcp_comments.jsonl.gz", "wt", encoding="utf-8") as out:
        out.writelines(json.dumps(comment) + "\n" for comment in comments)
    _csv(root / "regulation_room_verifiability", "park_cardie_2014_propositions.csv.gz",
         [{"split": s, "label": lab, "label_name": name, "text": f"RR {s} {i} {name}", "rule_name": "apr",
           "comment_number": i}
          for s in ("train", "test") for i, (lab, name) in enumerate(
              [("u", "unverifiable"), ("n", "verifiable_non_experiential"), ("e", "verifiable_experiential")])])
    _csv(root / "cmv_verifiability", "cmv_verifiability_sentences.csv.gz",
         [{"split": s, "sentence": f"CMV {s} {i} {v}", "comment_id": f"c{i}", "verifiability": v, "experiential": e}
          for s in ("train", "test") for i, (v, e) in enumerate(
              [("verifiable", "True"), ("verifiable", "False"), ("unverifiable", ""), ("nonargument", "")])])
    _csv(root / "cmv_elementary_units_morio2019", "cmv_eu_units.csv.gz",
         [{"text": "Unit fact 1.", "type": "Fact"}, {"text": "Unit value.", "type": "Value"}])
    _csv(root / "liar", "liar.csv.gz", [{"split": s, "statement": f"Liar {s}."} for s in ("train", "test")])
    return tmp_path


def test_registry_keeps_share_alike_and_gpl_out_of_training():
    for info in CLAIM_DATASETS.values():
        if "NC" in info.license or "GPL" in info.license:
            assert not info.trainable, info.name
    assert not CLAIM_DATASETS["checkthat2022"].trainable


def test_training_frame_shape_and_labels(data_dir):
    train = load_claim_training_data(data_dir)
    assert list(train.columns) == ["text", "source", "weight", "weak_support", "checkable", "supported"]
    tweets = train["source"].isin(claims_data.NO_WEAK_SUPPORT_SOURCES)
    assert tweets.any() and not train.loc[tweets, "weak_support"].any() and train.loc[~tweets, "weak_support"].all()
    assert set(train["checkable"].dropna().unique()) <= {0.0, 1.0}
    assert train["supported"].notna().sum() > 0
    assert train.loc[train["source"] != "cdcp", "supported"].isna().all()
    assert sum(train.attrs["rows_by_source"].values()) == len(train)
    cdcp = train[train["source"] == "cdcp"]
    assert set(cdcp["text"]) <= {f"Collectors called {d} times." for d in (1, 2)} | {
        f"I think doc {d} is unfair." for d in (1, 2)} | {f"I was called {d} times." for d in (1, 2)}
    facts = cdcp[cdcp["text"].str.startswith("Collectors")]
    assert (facts["checkable"] == 1).all()
    assert (cdcp[cdcp["text"].str.startswith("I was")]["checkable"] == 0).all()


def test_training_drops_rows_found_in_a_test_split(data_dir):
    train = load_claim_training_data(data_dir)
    test_keys = claims_data.claim_test_keys(data_dir)
    assert not train["text"].map(overlap_key).isin(test_keys).any()
    assert overlap_key(SHARED_TEXT) not in set(train["text"].map(overlap_key))
    assert train.attrs["removed_overlap"] >= 1


def test_training_never_sees_test_or_validation_splits(data_dir):
    train = load_claim_training_data(data_dir)
    assert not train["text"].str.contains(" test ").any()
    assert not train["text"].str.contains("Expert sentence").any()
    validation_keys = {overlap_key(t) for f in load_claim_validation_sets(data_dir).values() for t in f["text"]}
    assert not train["text"].map(overlap_key).isin(validation_keys).any()


def test_non_trainable_source_is_refused(data_dir):
    with pytest.raises(DataError, match="not licensed"):
        load_claim_training_data(data_dir, sources=("checkthat2022",))


def test_test_sets_have_the_agreed_names_labels_and_kinds(data_dir):
    sets = load_claim_test_sets(data_dir)
    assert set(sets) == TEST_SET_NAMES
    for name, frame in sets.items():
        assert {"text", "label"} <= set(frame.columns), name
        assert set(frame["label"].unique()) <= {0, 1}, name
        assert frame.attrs["description"] and frame.attrs["license"], name
    cdcp = sets["cdcp_test"]
    assert cdcp.loc[cdcp["label"] == 1, "kind"].eq("fact").all()
    # doc 4's fact is supported, doc 3's is not.
    assert cdcp.groupby("comment_id")["label"].max().to_dict() == {3: 1, 4: 0}
    assert set(cdcp.attrs["comments"]) == {3, 4}
    regulation = sets["regulation_room_test"]
    assert regulation.set_index("kind")["label"].to_dict() == {
        "unverifiable": 0, "verifiable_non_experiential": 1, "verifiable_experiential": 0}
    cmv = sets["cmv_test"]
    assert cmv.set_index("kind")["label"].to_dict() == {
        "verifiable_experiential": 1, "verifiable_non_experiential": 1, "unverifiable": 0, "nonargument": 0}
    assert len(sets["checkthat2022_test"]) == 4
    assert sets["claimbuster_test"]["label"].tolist() == [1, 1, 0]


def test_validation_sets_avoid_test_texts(data_dir):
    validation = load_claim_validation_sets(data_dir)
    test_keys = claims_data.claim_test_keys(data_dir)
    assert "checkthat2022_dev" in validation
    for name, frame in validation.items():
        assert not frame["text"].map(overlap_key).isin(test_keys).any(), name
    truth = validation["claimbuster_groundtruth"]["text"].tolist()
    assert "Expert sentence 1." not in truth and "Expert sentence 3." in truth


def test_comment_level_pools_labels_and_scores():
    frame = pd.DataFrame({"text": ["a", "b", "c"], "label": [0, 1, 0], "comment_id": [1, 1, 2]})
    pooled = comment_level(frame, [0.2, 0.9, 0.4])
    assert pooled.loc[1].tolist() == [1, 0.9]
    assert pooled.loc[2].tolist() == [0, 0.4]


def test_missing_file_names_the_path(tmp_path):
    (tmp_path / "claims").mkdir()
    with pytest.raises(DataError, match="claimbuster_2class_ncs_sets.csv.gz not found"):
        load_claim_test_sets(tmp_path)


def test_a_missing_file_read_by_path_says_to_pass_data_dir(data_dir):
    """The comments of CDCP are found by path, not read as a CSV: its message named only MODERATION_DATA_DIR."""
    missing = data_dir / "claims" / "cdcp" / "cdcp_comments.jsonl.gz"
    missing.unlink()
    with pytest.raises(DataError) as raised:
        load_claim_training_data(data_dir)
    assert str(raised.value) == (f"data file {missing} not found: restore it, or pass --data-dir (or set "
                                 "$MODERATION_DATA_DIR) naming a complete copy of the data folder")




@pytest.mark.slow
@pytest.mark.data
@pytest.mark.skipif(real_claims_dir() is None, reason="claims data directory absent")
def test_real_data_counts_match_the_source_notes():
    sets = load_claim_test_sets()
    assert len(sets["claimbuster_test"]) == 702 and sets["claimbuster_test"]["label"].sum() == 351
    assert len(sets["checkthat2022_test"]) == 251
    assert len(sets["cdcp_test"]) == 1026
    assert len(sets["regulation_room_test"]) == 2424
    assert len(sets["cmv_test"]) == 1962
    train = load_claim_training_data()
    assert train.attrs["removed_overlap"] > 0
    keys = claims_data.claim_test_keys()
    assert not train["text"].map(overlap_key).isin(keys).any()
    assert np.isin(train["source"].unique(), [n for n, i in CLAIM_DATASETS.items() if i.trainable]).all()


def test_claim_frames_use_the_shared_evaluation_frame(data_dir):
    sets = load_claim_validation_sets(data_dir)
    frame = claims_data._claim_frame(["Fact 1.", "   ", "Fact 2."], [True, False, False], "made up", "cdcp",
                                     kind=np.array(["fact", "value", "fact"]))
    assert frame["text"].tolist() == ["Fact 1.", "Fact 2."] and frame["label"].tolist() == [1, 0]
    assert frame["kind"].tolist() == ["fact", "fact"]
    assert frame.attrs == {"description": "made up", "license": CLAIM_DATASETS["cdcp"].license}
    assert sets["cdcp_heldout"].attrs["license"] == CLAIM_DATASETS["cdcp"].license


@pytest.mark.parametrize("content", [b"", b"Sentence_id,Text,Verdict\n"], ids=["empty", "header_only"])
def test_a_broken_claims_file_is_named_not_a_traceback(tmp_path, content):
    folder = tmp_path / claims_data.CLAIM_DATASETS["claimbuster"].folder
    folder.mkdir(parents=True)
    (folder / "crowdsourced.csv.gz").write_bytes(gzip.compress(content))
    with pytest.raises(DataError, match=r"crowdsourced\.csv\.gz .*(cannot be read|no rows)"):
        claims_data._read(tmp_path, "claimbuster", "crowdsourced.csv.gz", ("Sentence_id", "Text", "Verdict"))
