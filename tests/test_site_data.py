"""A site's labelled comments: reading and labelling them, and retraining with them (model.training.site_data, model.training.train)."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from model.bundle import load_bundle, sha256_file
from model.training.data import DataError
from model.scoring import Scorer
from model.training.site_data import hostile_labels, read_site_data, site_labels, site_training_rows, split_site
from tests.fake_data import SITE_WORDS, make_site


def test_decisions_become_toxicity_labels_and_approval_clears_every_attribute():
    raw = pd.DataFrame({"text": ["fine", "nasty", "borderline", "", "an insult"],
                        "decision": ["approve", "reject", "Review", "approve", ""],
                        "insult": ["", "", "", "", "1"]})
    site = site_labels(raw)
    assert site["text"].tolist() == ["fine", "nasty", "borderline", "an insult"]  # the empty text is dropped
    assert site.attrs["n_without_text"] == 1
    assert site["toxicity"].tolist() == [0.0, 1.0, 1.0, 1.0]  # an insult is toxic without a decision
    assert site.loc[0, ["insult", "threat", "profanity"]].tolist() == [0.0, 0.0, 0.0]
    assert np.isnan(site.loc[1, "insult"])  # a rejection says nothing about which attribute
    assert hostile_labels(site).tolist() == [0, 1, 1, 1]


def test_feedback_export_columns_and_json_labels_are_read(tmp_path):
    export = pd.DataFrame({"text": ["a calm remark", "you shill", "no text kept", "something"],
                           "comment_id": ["1", "2", "3", "4"], "decision": [None, "reject", "approve", None],
                           "toxicity": [0.1, None, None, 0.8], "created_at": "2026-01-01", "source": "v1"})
    export.loc[2, "text"] = None
    path = tmp_path / "feedback.jsonl"
    export.to_json(path, orient="records", lines=True)
    site = read_site_data(path)
    assert site["text"].tolist() == ["a calm remark", "you shill", "something"]
    assert site["toxicity"].tolist() == [0.0, 1.0, 1.0]  # probabilities cut at one half
    assert site.attrs["sha256"] == sha256_file(path) and site.attrs["n_read"] == 4
    labelled = site_labels(pd.DataFrame({"text": ["x"], "labels": [json.dumps({"threat": 1})]}))
    assert labelled.loc[0, ["toxicity", "threat"]].tolist() == [1.0, 1.0]


@pytest.mark.parametrize(("raw", "message"), [
    (pd.DataFrame({"comment": ["x"], "decision": ["approve"]}), "no 'text' column"),
    (pd.DataFrame({"text": ["x"]}), "needs a 'decision' column"),
    (pd.DataFrame({"text": ["x"], "decision": ["delete"]}), "approve, review or reject"),
    (pd.DataFrame({"text": ["x"], "toxicity": ["maybe"]}), "probability in \\[0, 1\\]"),
    (pd.DataFrame({"text": ["x"], "labels": ['{"rudeness": 1}']}), "unknown attributes"),
    # A label column spelt otherwise was ignored: the decision alone trained the bundle, the insults lost.
    (pd.DataFrame({"text": ["x"], "decision": ["approve"], "Insult": [1]}), "'Insult' would be ignored: rename it 'insult'"),
    (pd.DataFrame({"text": ["x"], "toxicity": [0], "Severe Toxicity": [1]}), "rename it 'severe_toxicity'"),
    (pd.DataFrame({"text": ["x"], "insult": [1], "Decision": ["reject"]}), "rename it 'decision'"),
])
def test_bad_site_tables_say_what_to_fix(raw, message):
    with pytest.raises(DataError, match=message):
        site_labels(raw)


def test_training_rows_skip_public_test_texts_and_carry_the_weight():
    site = site_labels(pd.DataFrame({"text": ["In a test set", "Only here"], "decision": ["reject", "approve"]}))
    rows = site_training_rows(site, 3.0, exclude_texts={"in a test set"})
    assert rows["text"].tolist() == ["Only here"] and rows["weight"].tolist() == [3.0]
    assert rows.attrs["removed_test_overlap"] == 1 and set(rows["source"]) == {"site"}


def test_training_rows_skip_public_validation_texts_too_and_count_them_apart():
    site = site_labels(pd.DataFrame({"text": ["In a test set", "In a validation set", "Only here", "In both"],
                                     "decision": ["reject", "reject", "approve", "reject"]}))
    rows = site_training_rows(site, 1.0, exclude_texts={"in a test set", "in both"},
                              validation_texts={"in a validation set", "in both"})
    assert rows["text"].tolist() == ["Only here"]
    assert (rows.attrs["removed_test_overlap"], rows.attrs["removed_validation_overlap"]) == (2, 1)


def test_a_comment_given_again_counts_once_with_its_last_feedback():
    export = pd.DataFrame({"text": ["you shill", "fine", "you shill", "you shill", "no id", "no id"],
                           "comment_id": ["c1", "c2", "c1", "c1", None, None],
                           "decision": ["reject", "approve", "approve", "reject", "approve", "approve"],
                           "api_key_id": [1, 1, 1, 2, 1, 1]})  # c1 of key 2 is another site's comment
    site = site_labels(export)
    assert site["text"].tolist() == ["fine", "you shill", "you shill", "no id", "no id"]
    assert site["decision"].tolist() == ["approve", "approve", "reject", "approve", "approve"]  # key 1's c1 corrected
    assert site.attrs["n_superseded"] == 1
    assert len(site_labels(export, keep_all_rows=True)) == 6  # compare keeps the file's rows


def test_rows_kept_for_alignment_carry_no_label():
    """``moderate compare`` keeps the file's rows: feedback whose text was not kept, and an editor's decision she
    later replaced, must not judge either bundle (every textless rejection counted as a miss of both)."""
    export = pd.DataFrame({"text": ["you shill", None, "you shill", "fine"], "comment_id": ["c1", "c2", "c1", "c3"],
                           "decision": ["approve", "reject", "reject", "approve"]})
    site = site_labels(export, keep_all_rows=True)
    assert site["decision"].tolist() == ["", "", "reject", "approve"]
    assert site["toxicity"].isna().tolist() == [True, True, False, False]
    assert site[["insult", "threat"]].isna().all(axis=1).tolist() == [True, True, True, False]


def test_split_keeps_each_text_on_one_side():
    site = site_labels(make_site(120, seed=0))  # 120 comments, 82 distinct texts
    train, held_out = split_site(site, 0.3, seed=0)
    assert len(train) + len(held_out) == 120
    assert not set(train["text"]) & set(held_out["text"])
    assert set(hostile_labels(held_out)) == {0, 1} and set(hostile_labels(train)) == {0, 1}


def test_split_keeps_both_labels_on_each_side():
    site = site_labels(make_site(40))
    train, held_out = split_site(site, 0.25, seed=0)
    assert len(train) + len(held_out) == 40
    assert set(hostile_labels(held_out)) == {0, 1} and set(hostile_labels(train)) == {0, 1}


def test_site_data_moves_the_model_towards_the_site(versioned_bundles):
    """The public data never calls anyone a shill; the site rejects it. Trained with the site, the model agrees."""
    public, site = Scorer.load(versioned_bundles / "public"), Scorer.load(versioned_bundles / "site")
    held_out = make_site(40, seed=7)  # other sentences, same habits
    hostile = held_out[held_out["decision"] == "reject"]["text"].tolist()
    neutral = held_out[held_out["decision"] == "approve"]["text"].tolist()
    assert all(any(word in text for word in SITE_WORDS) for text in hostile)
    column = list(public.attributes).index("toxicity")
    before, after = public.predict_scores(hostile)[:, column], site.predict_scores(hostile)[:, column]
    assert after.mean() > before.mean() + 0.3
    assert np.mean(after > before) > 0.9
    assert site.predict_scores(neutral)[:, column].mean() < 0.3  # not "everything is hostile" now
    assert _hostility_flagged(site, hostile) > _hostility_flagged(public, hostile) + 0.5
    assert _hostility_flagged(site, neutral) <= _hostility_flagged(public, neutral) + 0.1


def _hostility_flagged(scorer, texts) -> float:
    """Share of texts a hostility threshold sends to review or rejects (the tiny claim head flags nearly all)."""
    decisions = scorer.moderate(texts, with_spans=False)
    return float(np.mean([any(r.attribute != "unsupported_claim" for r in d.reasons) for d in decisions]))


def test_site_bundle_records_its_data_and_verifies(versioned_bundles, site_csv):
    bundle = load_bundle(versioned_bundles / "site")  # checks the SHA-256 and the scikit-learn version
    entry = bundle.manifest["site_data"]
    assert entry["sha256"] == sha256_file(site_csv)
    assert (entry["rows"], entry["rows_used"], entry["hostile_rows"]) == (120, 120, 60)
    assert bundle.manifest["model_version"] == "site"
    assert "site_data" not in load_bundle(versioned_bundles / "public").manifest
    assert bundle.manifest["training_rows"] > load_bundle(versioned_bundles / "public").manifest["training_rows"]


BAD_FILES = {
    # name: (bytes, the DataError's message after the file's path)
    "latin1.csv": ("text,decision\ncaf\xe9 ok,approve\n".encode("latin-1"),
                   r" is not UTF-8 \(byte 0xe9 at position 17, line 2\): save it as UTF-8"),
    "empty.csv": (b"", r" is empty: give a header row"),
    "blank.csv": (b"\n\n", r" is empty: give a header row"),
    "unclosed.csv": (b'text,decision\n"two\nlines",approve\n\nfine,approve\n"never closed,reject\nmore,approve\n',
                     r" line 6: a quoted field is never closed .*close its quote"),
    "fields.csv": (b"text,decision\nfine,approve\nyou, idiot,reject\n",
                   r" line 3: 3 fields where the header has 2: put a field that holds a comma in double quotes"),
    "bad.jsonl": (b'{"text": "fine", "decision": "approve"}\n\n{"text": oops}\n',
                  r" line 3: not valid JSON \(Expecting value at column 10\): write one JSON object per line"),
    "scalar.jsonl": (b'{"text": "fine", "decision": "approve"}\n5\n', r" line 2: a JSON int, not an object"),
    "latin1.jsonl": ('{"text": "caf\xe9", "decision": "approve"}\n'.encode("latin-1"), r" is not UTF-8 \(byte 0xe9 at position 13, line 1\)"),
    "empty.jsonl": (b"", r" is empty"),
    "broken.parquet": (b"PAR1 not really", r": not a readable Parquet file \(.*\): write it again"),
    "broken.csv.gz": (b"not gzip", r": not a readable gzip file \(.*\): compress it with gzip, or drop the .gz"),
    "comments.txt": (b"text\nfine\n", r": unknown table format; use .csv, .jsonl or .parquet"),
    "header_only.csv": (b"text,decision\n", r": no comment has both a text and a label \(0 rows read"),
    "no_text.csv": (b"body,decision\nfine,approve\n", r": the site data has no 'text' column \(columns: body, decision\)"),
}


@pytest.mark.parametrize("name", sorted(BAD_FILES))
def test_unreadable_site_files_say_which_file_where_and_what_to_fix(tmp_path, name):
    content, message = BAD_FILES[name]
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(DataError) as raised:
        read_site_data(path)
    assert re.fullmatch(re.escape(str(path)) + message + ".*", str(raised.value)), str(raised.value)
    assert "\n" not in str(raised.value)


def test_a_missing_site_file_is_named(tmp_path):
    with pytest.raises(DataError, match=re.escape(f"{tmp_path / 'absent.csv'} not found")):
        read_site_data(tmp_path / "absent.csv")


def test_parquet_binary_text_is_decoded_as_utf8(tmp_path):
    path = tmp_path / "site.parquet"
    pq.write_table(pa.table({
        "text": pa.array([b"you idiot", "caf\xe9".encode(), b"\xff\xfe not utf-8"], pa.binary()),
        "decision": pa.array([b"reject", b"approve", b"reject"], pa.binary()),
    }), path)
    site = read_site_data(path)
    assert site["text"].tolist() == ["you idiot", "caf\xe9"]  # bytes that are not UTF-8 are no text
    assert site["decision"].tolist() == ["reject", "approve"]
    assert site.attrs["n_without_text"] == 1


def test_json_lines_texts_that_look_like_numbers_stay_as_written(tmp_path):
    from model.training.site_data import read_table

    path = tmp_path / "site.jsonl"
    rows = [{"text": "007", "decision": "approve"}, {"text": "12", "decision": "review"}, {"text": "1e3", "decision": "reject"}]
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    assert read_table(path)["text"].tolist() == ["007", "12", "1e3"]  # were the numbers 7, 12 and 1000.0


BOM = b"\xef\xbb\xbf"
TWO_SITE_FILES = {
    ".jsonl": (b'{"text": "a fair point", "decision": "approve"}\n', b'{"text": "you idiot", "decision": "reject"}\n'),
    ".csv": (b"text,decision\na fair point,approve\n", b"you idiot,reject\n"),
}


@pytest.mark.parametrize("name", ["site.jsonl", "site.jsonl.gz", "site.csv", "site.csv.gz"])
def test_a_byte_order_mark_opening_a_later_line_is_not_part_of_a_row(tmp_path, name):
    """``cat a.jsonl b.jsonl > site.jsonl`` where b was saved with a BOM: its rows are rows like the others, as
    ``moderate score`` reads them (``service.table_reader``)."""
    import gzip

    from model.training.site_data import read_table

    first, second = TWO_SITE_FILES[".csv" if ".csv" in name else ".jsonl"]
    content = BOM + first + BOM + second
    path = tmp_path / name
    path.write_bytes(gzip.compress(content) if name.endswith(".gz") else content)
    assert read_table(path).to_dict("records") == [{"text": "a fair point", "decision": "approve"},
                                                   {"text": "you idiot", "decision": "reject"}]


def test_a_bad_json_line_after_a_byte_order_mark_is_the_line_named(tmp_path):
    path = tmp_path / "site.jsonl"
    path.write_bytes(TWO_SITE_FILES[".jsonl"][0] + BOM + TWO_SITE_FILES[".jsonl"][1] + b'{"text": oops}\n')
    with pytest.raises(DataError, match=re.escape(f"{path} line 3: not valid JSON (Expecting value at column 10)")):
        read_site_data(path)
