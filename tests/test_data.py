"""Tests for model.training.data on a tiny generated data directory (no real rows) plus one slow real-data check."""

import math

import numpy as np
import pandas as pd
import pytest

from model.training import data
from model.attributes import HOSTILITY_ATTRIBUTES

TEST_SETS = ("ucc_test", "olid_test", "kaggle_test", "kaggle_verification", "cat_out_of_context")
SHARED_TEXT = "You are a total clown, friend"
"""A training text that also appears (other case, other spacing) in the UCC test split."""
SPANS_TEST_TEXT = "Only a fool would write this silly thing"
"""A toxic-spans test post that is also in the raw files, as in the real release."""


def write(root, dataset, filename, rows):
    """Write rows as the gzipped CSV the loaders expect."""
    folder = root / "hostility" / data.DATASETS[dataset].folder
    folder.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_csv(folder / filename, index=False, compression="gzip")


def ucc_rows(comments, hostile):
    """UCC rows with the columns the loaders read."""
    return {"comment": comments, "hostile": hostile, "antagonize": hostile, "healthy": [1 - h for h in hostile]}


@pytest.fixture
def data_dir(tmp_path):
    """A complete fake data directory: a few generated rows per file."""
    write(tmp_path, "davidson", "labeled_data.csv.gz", {
        "class": [0, 1, 2],
        "tweet": ["RT @someone: those people are vermin &amp; worse", "@pal this is damn rubbish", "lovely day &#8220;out&#8221;"],
    })
    write(tmp_path, "fox_news", "fox_news_comments.csv.gz", {
        "title": ["t", "t"], "text": ["send them all back", "good article"], "label": [1, 0],
        "user": ["somebody", "someone_else"], "mentions": ["", ""],
    })
    write(tmp_path, "kaggle_insults", "train.csv.gz", {
        "Insult": [1, 0, 0], "Date": ["", "", ""],
        "Comment": ['"you moron\\xa0indeed"', '"nice\\\\xc2\\\\xa0point\\nthanks"', '"bad escape \\x9 and \\U here"'],
    })
    write(tmp_path, "kaggle_insults", "test_with_solutions.csv.gz", {
        "Insult": [1, 0], "Date": ["", ""], "Comment": ['"idiot you are"', '"fair enough"'], "Usage": ["PublicTest"] * 2,
    })
    write(tmp_path, "kaggle_insults", "impermium_verification_labels.csv.gz", {
        "Insult": [0, 1], "Date": ["", ""], "Comment": ['"thanks all"', '"shut up loser"'], "Usage": ["PrivateTest"] * 2,
    })
    write(tmp_path, "olid", "olid_train.csv.gz", {
        "id": [1, 2, 3], "tweet": ['"@USER he said ""go away"" you fool"', "@USER what the hell URL", "@USER nice one"],
        "subtask_a": ["OFF", "OFF", "NOT"], "subtask_b": ["TIN", "UNT", "NULL"], "subtask_c": ["IND", "NULL", "NULL"],
    })
    write(tmp_path, "olid", "olid_test.csv.gz", {
        "id": [9, 10], "tweet": ["@USER you liar", "@USER agreed"], "subtask_a": ["OFF", "NOT"],
        "subtask_b": ["TIN", "NULL"], "subtask_c": ["IND", "NULL"],
    })
    write(tmp_path, "stormfront", "stormfront_sentences.csv.gz", {
        "file_id": ["1_1", "1_2", "2_1", "3_1", "4_1"], "label": ["hate", "noHate", "relation", "hate", "noHate"],
        "text": ["they are subhuman", "the weather was cold", "and so are they", "held out hate", "held out calm"],
        "split": ["sampled_train", "", "", "sampled_test", "sampled_test"],
    })
    for split, text in (("trial", "what a moron"), ("train", "shut it, idiot"), ("test", SPANS_TEST_TEXT)):
        write(tmp_path, "toxic_spans", f"tsd_{split}.csv.gz", {"spans": ["[0, 1, 2]"], "text": [text]})
    write(tmp_path, "toxic_spans", "raw_comments.csv.gz", {
        "comment_id": [10, 11, 12, 13],
        "comment_text": ["what a moron", "shut it, idiot, we will hurt you later tonight at home",
                         SPANS_TEST_TEXT, "this is fine and calm"],
    })
    write(tmp_path, "toxic_spans", "raw_annotations.csv.gz", {
        "annotation": [0, 1, 2, 3, 4, 5, 6], "comment_id": [10, 11, 11, 12, 13, 13, 13],
        "worker": [1, 1, 2, 1, 1, 2, 3], "country": ["USA"] * 7,
        "all toxic": [False] * 7, "not toxic": [False, False, False, False, True, True, False],
    })
    write(tmp_path, "toxic_spans", "raw_spans.csv.gz", {
        "annotation": [0, 1, 2, 2, 3], "type": ["Insult", "Insult", "Insult", "Threat", "Insult"],
        "start": [7, 9, 9, 24, 7], "end": [12, 14, 14, 32, 11],
    })
    write(tmp_path, "cat_in_context", "cat_large_gc_in_context.csv.gz", {
        "id": ["a", "b"], "text": ["you are an ass", "thanks for the edit"], "parent": ["", ""], "label": [1, 0], "api": [0.9, 0.1],
    })
    write(tmp_path, "cat_in_context", "cat_large_gn_out_of_context.csv.gz", {
        "id": ["c", "d"], "text": ["get lost jerk", "see talk page"], "label": [1, 0], "api": [0.8, 0.05], "parent": ["", ""],
    })
    write(tmp_path, "cat_in_context", "cat_small.csv.gz", {
        "text": ["dumb edit", "good edit"], "parent_text": ["", ""], "label_oc": [1, 0], "label_ic": [1, 0],
    })
    write(tmp_path, "ucc", "val.csv.gz", ucc_rows(["you are pathetic", "I disagree politely"], [1, 0]))
    write(tmp_path, "ucc", "test.csv.gz", ucc_rows(["YOU are a total   clown, friend", "a fine point"], [1, 0]))
    write(tmp_path, "sfu_ctc", "SFU_constructiveness_toxicity.csv.gz", {
        "comment": ["awful people", "rather rude", "helpful comment"], "is_toxic_popular_answer_1": [4, 2, 1],
    })
    write(tmp_path, "ethos", "Ethos_Dataset_Binary.csv.gz", {"comment": ["hateful words", "kind words"], "isHate": [0.8, 0.1]})
    return tmp_path


@pytest.fixture
def training(data_dir, monkeypatch):
    """Training rows from the fake directory, with a shared text planted in the Kaggle training file."""
    write(data_dir, "kaggle_insults", "train.csv.gz", {
        "Insult": [1, 0, 1], "Date": ["", "", ""],
        "Comment": ['"you moron\\xa0indeed"', '"nice\\\\xc2\\\\xa0point"', f'"{SHARED_TEXT}"'],
    })
    monkeypatch.setitem(data.HELD_OUT_PERCENT, "kaggle_insults", 0)
    monkeypatch.setitem(data.HELD_OUT_PERCENT, "olid", 0)
    return data.load_training_data(data_dir)


def test_resolve_data_dir_prefers_argument_then_environment(data_dir, tmp_path_factory, monkeypatch):
    other = tmp_path_factory.mktemp("other")
    monkeypatch.setenv(data.DATA_DIR_ENV, str(other))
    assert data.resolve_data_dir(data_dir) == data_dir
    assert data.resolve_data_dir() == other


def test_resolve_data_dir_missing_says_what_to_set(tmp_path, monkeypatch):
    monkeypatch.delenv(data.DATA_DIR_ENV, raising=False)
    with pytest.raises(data.DataError, match="MODERATION_DATA_DIR or pass --data-dir"):
        data.resolve_data_dir(tmp_path / "absent")


def test_missing_file_is_named(data_dir):
    (data_dir / "hostility" / data.DATASETS["olid"].folder / "olid_test.csv.gz").unlink()
    with pytest.raises(data.DataError, match="olid_test.csv.gz not found"):
        data.load_test_sets(data_dir)


def test_missing_column_is_named(data_dir):
    write(data_dir, "ethos", "Ethos_Dataset_Binary.csv.gz", {"comment": ["x"]})
    with pytest.raises(data.DataError, match="isHate"):
        data.load_validation_sets(data_dir)


@pytest.mark.parametrize("raw, expected", [
    ('"you moron\\xa0indeed"', "you moron\xa0indeed"),
    ('"nice\\\\xc2\\\\xa0point\\\\nthanks"', "nice\xa0point\nthanks"),
    ('"caf\\xe9 \\u2026 it\\\'s"', "caf\xe9 \u2026 it's"),
    ('"bad \\x9 and \\U here\\"', 'bad \\x9 and \\U here\\'),
    ("no quotes", "no quotes"),
])
def test_decode_kaggle_comment(raw, expected):
    assert data.decode_kaggle_comment(raw) == expected


def test_unquote_olid_and_clean_tweet():
    assert data.unquote_olid('"he said ""go"" now"') == 'he said "go" now'
    assert data.unquote_olid("plain tweet") == "plain tweet"
    assert data.clean_tweet("RT @bob: hi &amp; bye @amy") == "@USER: hi & bye @USER"


def test_only_licensed_sets_are_trainable():
    for info in data.DATASETS.values():
        assert info.trainable == ("NC" not in info.license and "GPL" not in info.license), info.name
        assert set(info.attributes) <= set(HOSTILITY_ATTRIBUTES)
    assert set(data.TRAINING_LOADERS) <= {name for name, info in data.DATASETS.items() if info.trainable}


def test_test_sets_have_exact_keys_labels_and_metadata(data_dir):
    sets = data.load_test_sets(data_dir)
    assert tuple(sets) == TEST_SETS
    for frame in sets.values():
        assert {"text", "label"} <= set(frame.columns)
        assert set(frame["label"]) == {0, 1}
        assert frame.attrs["description"] and frame.attrs["license"]
    assert sets["olid_test"].set_index("text")["label"].to_dict() == {"@USER you liar": 1, "@USER agreed": 0}
    assert sets["kaggle_test"]["text"].tolist() == ["idiot you are", "fair enough"]
    assert sets["cat_out_of_context"]["perspective"].tolist() == [0.8, 0.05]


def test_validation_sets_labels(data_dir):
    sets = data.load_validation_sets(data_dir)
    assert sets["sfu_ctc"]["label"].tolist() == [1, 0, 0]
    assert sets["sfu_ctc"]["mild"].tolist() == [1, 1, 0]
    assert sets["ethos"]["label"].tolist() == [1, 0]
    assert not set(sets) & set(TEST_SETS)
    # Stormfront's test split chose thresholds up to bundle 1.3.0 (as "stormfront_sampled_test"): a test split never does.
    stormfront = data.stormfront_test(data_dir)["text"].tolist()
    assert stormfront == ["held out hate", "held out calm"]
    assert not {text for frame in sets.values() for text in frame["text"]} & set(stormfront)


def test_training_columns_sources_and_weights(training):
    assert list(training.columns) == ["text", "source", "weight", *HOSTILITY_ATTRIBUTES]
    assert set(training["source"]) <= set(data.SOURCE_WEIGHTS)
    assert {data.DATASETS[name].trainable for name in training["source"] if name in data.DATASETS} == {True}
    assert math.isclose(training["weight"].mean(), 1.0)
    assert training.attrs["rows_by_source"] == training["source"].value_counts().to_dict()
    assert training[list(HOSTILITY_ATTRIBUTES)].isin([0.0, 1.0]).where(training.notna(), True).all().all()


def test_training_label_mapping(training):
    by_text = training.set_index("text")
    assert by_text.loc["@USER: those people are vermin & worse", ["toxicity", "identity_attack", "severe_toxicity"]].tolist() == [1, 1, 1]
    assert by_text.loc["@USER this is damn rubbish", "profanity"] == 1
    assert (by_text.loc["lovely day \u201cout\u201d", list(HOSTILITY_ATTRIBUTES)] == 0).all()
    assert by_text.loc['@USER he said "go away" you fool', ["toxicity", "insult"]].tolist() == [1, 1]
    assert by_text.loc["@USER what the hell URL", ["insult", "profanity"]].tolist() == [0, 1]
    assert np.isnan(by_text.loc["you moron\xa0indeed", "threat"])
    assert by_text.loc["they are subhuman", "identity_attack"] == 1
    assert by_text.loc["the weather was cold", "toxicity"] == 0
    threat_post = by_text.loc["shut it, idiot, we will hurt you later tonight at home"]
    assert threat_post[["toxicity", "insult", "threat", "severe_toxicity"]].tolist() == [1, 1, 1, 1]


def test_training_drops_unclear_and_private_rows(training):
    texts = set(training["text"])
    assert "and so are they" not in texts  # Stormfront "relation"
    assert "held out hate" not in texts  # Stormfront sampled_test is validation
    assert "this is fine and calm" not in texts  # most raters said "not toxic"
    assert "send them all back" in texts and "user" not in training.columns


def test_training_removes_test_overlap(training):
    keys = set(training["text"].map(data.overlap_key))
    assert data.overlap_key(SHARED_TEXT) not in keys
    assert data.overlap_key(SPANS_TEST_TEXT) not in keys
    assert not any("fool would" in text for text in training["text"])  # nor its span-free context
    assert training.attrs["removed_overlap"] == 2


def test_in_keys_agrees_with_isin_and_stays_boolean_when_empty():
    keys = pd.Series(["a b", "c", "", "a b", "d"])
    known = {"a b", ""}
    assert data.in_keys(keys, known).tolist() == keys.isin(known).tolist() == [True, False, True, True, False]
    empty = data.in_keys(pd.Series([], dtype="str"), known)
    assert empty.dtype == bool and empty.empty
    assert not data.in_keys(keys, frozenset()).any()
    as_series = pd.Series(["a b"], index=["c"])  # its values are the keys, not its index
    assert data.in_keys(keys, as_series).tolist() == keys.isin(as_series).tolist() == [True, False, False, True, False]


def test_toxic_spans_context_negatives(training):
    context = training[training["source"] == "toxic_spans_context"]
    assert context["text"].tolist() == ["shut it, , we will later tonight at home"]
    assert (context[list(HOSTILITY_ATTRIBUTES)] == 0).all().all()


def test_held_out_slice_is_validation_not_training(data_dir):
    training = data.load_training_data(data_dir)
    validation = data.load_validation_sets(data_dir)
    held_out = set(validation["kaggle_train_heldout"]["text"]) | set(validation["olid_train_heldout"]["text"])
    assert not held_out & set(training["text"])


def test_load_toxic_spans_parses_offsets(data_dir):
    frame = data.load_toxic_spans("test", data_dir)
    assert frame["spans"].tolist() == [[0, 1, 2]]
    with pytest.raises(data.DataError, match="use one of trial, train, test"):
        data.load_toxic_spans("dev", data_dir)


@pytest.mark.slow
@pytest.mark.data
def test_real_data_loads_without_leaks():
    try:
        data_dir = data.resolve_data_dir()
    except data.DataError as error:
        pytest.skip(str(error))
    training = data.load_training_data(data_dir)
    tests = data.load_test_sets(data_dir)
    assert {name: len(frame) for name, frame in tests.items()} == {
        "ucc_test": 4425, "olid_test": 860, "kaggle_test": 2647, "kaggle_verification": 2235, "cat_out_of_context": 10000}
    test_keys = {data.overlap_key(text) for frame in tests.values() for text in frame["text"]}
    test_keys |= {data.overlap_key(text) for text in data.load_toxic_spans("test", data_dir)["text"]}
    assert not test_keys & set(training["text"].map(data.overlap_key))
    assert training.attrs["removed_overlap"] >= 2000
    assert not any("\\xa0" in text for text in tests["kaggle_test"]["text"])
    assert set(training["source"]) == set(data.SOURCE_WEIGHTS)


def test_resolve_data_dir_that_is_a_file_says_so(tmp_path, monkeypatch):
    monkeypatch.delenv(data.DATA_DIR_ENV, raising=False)
    afile = tmp_path / "afile"
    afile.write_text("not a folder\n")
    with pytest.raises(data.DataError, match=f"data directory {afile} is a file, not a folder "
                       r"\(given as --data-dir or data_dir\): set MODERATION_DATA_DIR or pass --data-dir"):
        data.resolve_data_dir(afile)
    monkeypatch.setenv(data.DATA_DIR_ENV, str(afile))
    with pytest.raises(data.DataError, match=rf"data directory {afile} is a file, not a folder \(from \$MODERATION_DATA_DIR\)"):
        data.resolve_data_dir()
