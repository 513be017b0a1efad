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
    (pd.DataFrame({"text": ["x"], "decision": ["delete"]}), "approve, review or reject; got 'delete'$"),
    # 1/0 in the decision column: the error listed the words but not where such labels go.
    (pd.DataFrame({"text": ["x", "y"], "decision": [1, 0]}), "got '0', '1' \\(labels such as 1/0 go in an attribute column: "
                                                           "rename 'decision' to the attribute it marks, e.g. 'toxicity'\\)"),
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
                           "api_key_id": [1, 1, 1, 2, 1, 2]})  # c1 and "no id" of key 2 are another site's comments
    site = site_labels(export)
    assert site["text"].tolist() == ["fine", "you shill", "you shill", "no id", "no id"]
    assert site["decision"].tolist() == ["approve", "approve", "reject", "approve", "approve"]  # key 1's c1 corrected
    assert site.attrs["n_superseded"] == 1
    assert len(site_labels(export, keep_all_rows=True)) == 6  # compare keeps the file's rows


@pytest.mark.parametrize("sort_by", [None, "decision", "text"])
def test_the_last_verdict_is_the_one_given_last_even_in_an_export_sorted_in_a_spreadsheet(sort_by):
    """An export sorted by decision or by text in a spreadsheet put a comment's corrected verdict before the one it
    corrected, and the file's last row won: three of 30 labels of a site flipped. Its created_at says which came last."""
    export = pd.DataFrame({"text": ["Kill yourself.", "Kill yourself.", "Typical lazy journalism.", "Typical lazy journalism."],
                           "comment_id": ["c1", "c1", "c2", "c2"], "decision": ["approve", "reject", "reject", "approve"],
                           "created_at": ["2026-12-01T10:00:00+00:00", "2026-12-01T11:00:00+00:00",
                                          "2026-12-01 10:00:00", "2026-12-02 09:30:00"], "api_key_id": [1, 1, 1, 1]})
    shuffled = export if sort_by is None else export.sort_values(sort_by, kind="stable", ascending=False)
    site = site_labels(shuffled)
    assert dict(zip(site["text"], site["decision"])) == {"Kill yourself.": "reject", "Typical lazy journalism.": "approve"}
    assert site.attrs["n_superseded"] == 2


def test_without_readable_times_the_files_last_verdict_is_the_last():
    export = pd.DataFrame({"text": ["x y", "x y"], "comment_id": ["c1", "c1"], "decision": ["reject", "approve"],
                           "created_at": ["yesterday", ""]})
    assert site_labels(export)["decision"].tolist() == ["approve"]


def test_a_comment_sent_by_its_text_alone_and_corrected_counts_once_with_its_last_feedback(runner, tiny_bundle_path, tmp_path, monkeypatch):
    """Older Coral sends ``APPROVED`` then ``DELETED`` by text (suggestscore has no comment id), a CMS its correction to
    /v1/feedback by text alone: the export has both rows without a comment id, and training learnt the comment both
    approved and rejected. The API names such a comment by its text (its retry check); so does the export's reader."""
    from service.app import create_app
    from service.cli import cli

    db_url = f"sqlite:///{tmp_path / 'feedback.db'}"
    monkeypatch.setenv("MODERATION_DB_URL", db_url)
    client = create_app({"TESTING": True, "MODEL": str(tiny_bundle_path), "AUTH_REQUIRED": False}).test_client()
    for status in ("APPROVED", "DELETED"):
        body = {"comment": {"text": "you are vermin"}, "attributeScores": {status: {"summaryScore": {"value": 1}}}}
        assert client.post("/v1alpha1/comments:suggestscore", json=body).status_code == 200
    for body in ({"text": "what a clown", "decision": "approve"}, {"text": "what a clown", "decision": "reject"},
                 {"text": "a fair point", "decision": "approve"}, {"comment_id": "c9", "text": "a fair point", "decision": "approve"}):
        assert client.post("/v1/feedback", json=body).status_code == 201
    out = tmp_path / "feedback.csv"
    exported = runner.invoke(cli, ["feedback", "export", "-o", str(out)], env={"MODERATION_DB_URL": db_url})
    assert exported.exit_code == 0, exported.output
    site = read_site_data(out)
    assert sorted(zip(site["text"], site["decision"])) == [("a fair point", "approve"), ("a fair point", "approve"),
                                                          ("what a clown", "reject"), ("you are vermin", "reject")]
    assert site.attrs["n_superseded"] == 2  # the comment with an id is another comment than the one named by its text


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
    "no_text.csv": (b"body,decision\nfine,approve\n", r": the site data has no 'text' column \(columns: body, decision\): "
                    "rename the column that holds the comments 'text'"),
    # Excel saves "CSV" with semicolons in much of Europe: the message named the one column and said no more
    "semicolons.csv": (b"text;decision\nfine;approve\n", r": the site data has no 'text' column \(columns: text;decision\): "
                       "the file is separated by ';', not commas: save it as comma-separated CSV"),
    # ... and with decimal commas ("0,9") the rows split where the header does not: it was told to quote its commas
    "semicolons_decimal_comma.csv": (b"text;decision;toxicity\nGreat, thanks;approve;\nMeh;;0,2\nYou, you, idiot;reject;0,9\n",
                                     r" line 4: 4 fields where the header has 2; the header is separated by ';', not "
                                     "commas: save the file as comma-separated CSV"),
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


def test_an_ndjson_export_is_read_as_json_lines(tmp_path):
    """`moderate feedback export -o site.ndjson` wrote it; `moderate train --site-data site.ndjson` refused it."""
    path = tmp_path / "site.ndjson"
    path.write_text('{"text": "you idiot", "decision": "reject"}\n{"text": "thanks", "decision": "approve"}\n', encoding="utf-8")
    assert read_site_data(path)[["text", "decision"]].values.tolist() == [["you idiot", "reject"], ["thanks", "approve"]]


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


def test_a_correction_sent_by_comment_id_replaces_the_decision_sent_with_the_text(runner, tiny_bundle_path, tmp_path, monkeypatch):
    """A CMS sends feedback with the text, then an editor's correction by id only (the log keeps no text): the export
    gave the correction no text, so training dropped it and learnt the decision it replaced."""
    from service.app import create_app
    from service.cli import cli

    db_url = f"sqlite:///{tmp_path / 'feedback.db'}"
    monkeypatch.setenv("MODERATION_DB_URL", db_url)
    client = create_app({"TESTING": True, "MODEL": str(tiny_bundle_path), "AUTH_REQUIRED": False}).test_client()
    for body in ({"comment_id": "c1", "text": "you are a shill", "decision": "reject"}, {"comment_id": "c1", "decision": "approve"},
                 {"comment_id": "c2", "text": "a fair point", "decision": "approve"}):
        assert client.post("/v1/feedback", json=body).status_code == 201
    out = tmp_path / "feedback.csv"
    exported = runner.invoke(cli, ["feedback", "export", "-o", str(out)], env={"MODERATION_DB_URL": db_url})
    assert exported.exit_code == 0, exported.output
    site = read_site_data(out)
    assert sorted(zip(site["text"], site["decision"])) == [("a fair point", "approve"), ("you are a shill", "approve")]
    assert (site.attrs["n_superseded"], site.attrs["n_without_text"]) == (1, 0)


def test_a_categorical_decision_column_is_read(tmp_path):
    """pandas writes a category column to Parquet as a dictionary, read back as a category: a missing decision was a
    TypeError (fillna with a category the column did not have)."""
    path = tmp_path / "site.parquet"
    pd.DataFrame({"text": ["you shill", "fine", "no decision"],
                  "decision": pd.Categorical(["Reject", "approve", None])}).to_parquet(path)
    site = read_site_data(path)
    assert site["decision"].tolist() == ["reject", "approve"] and site.attrs["n_without_label"] == 1


@pytest.mark.parametrize(("n_texts", "fraction"), [(4, 0.1), (8, 0.1), (10, 0.1)])
def test_a_few_site_comments_are_split_without_stratifying_where_it_cannot(n_texts, fraction):
    """Stratifying needs two texts of each label and two on each side; sklearn refused the split otherwise."""
    site = site_labels(pd.DataFrame({"text": [f"comment {i}" for i in range(n_texts)],
                                     "decision": ["reject", "approve"] * (n_texts // 2)}))
    train, held_out = split_site(site, fraction, seed=0)
    assert len(held_out) == int(np.ceil(fraction * n_texts)) and len(train) == n_texts - len(held_out) > 0


@pytest.mark.parametrize(("n_texts", "fraction", "message"), [
    (1, 0.3, "holding out 0.3 of 1 distinct site comments leaves none to train on: give at least 2 distinct comments"),
    (4, 0.9, "holding out 0.9 of 4 distinct site comments leaves none to train on: give at least 10 distinct comments"),
    (4, 0.0, "the share of site comments held out must be between 0 and 1, got 0.0"),
    (4, 1.0, "the share of site comments held out must be between 0 and 1, got 1.0"),
])
def test_a_site_too_small_to_hold_out_any_comment_says_so(n_texts, fraction, message):
    site = site_labels(pd.DataFrame({"text": [f"comment {i}" for i in range(n_texts)], "decision": ["reject"] * n_texts}))
    with pytest.raises(DataError, match=re.escape(message)):
        split_site(site, fraction, seed=0)


def _public_and_site(site_texts: list[str]) -> pd.DataFrame:
    public = pd.DataFrame({"text": [f"public comment {i}" for i in range(60)], "source": ["kaggle", "olid"] * 30})
    return pd.concat([public, pd.DataFrame({"text": site_texts, "source": "site"})], ignore_index=True)


@pytest.mark.parametrize("texts", [["the only site comment"], ["the only site comment"] * 6 + ["The only  site comment"] * 4])
def test_a_single_site_text_is_fitted_on_rather_than_split(texts):
    """One row: sklearn refused to stratify. One text given ten times: a copy chose thresholds, the others were fitted."""
    from model.training.train import split_holdout

    fit, holdout = split_holdout(_public_and_site(texts), seed=0)
    assert (fit["source"] == "site").sum() == len(texts) and "site" not in set(holdout["source"])
    assert len(fit) + len(holdout) == 60 + len(texts)


def test_copies_of_a_held_out_site_text_are_held_out_too():
    """Thresholds are chosen on the held-out rows: a site's repeated comment must not be fitted on as well."""
    from model.training.train import split_holdout

    texts = ["Buy cheap pills at example.com"] * 24 + ["buy  cheap pills at EXAMPLE.com"] * 6 + [f"site comment {i}" for i in range(10)]
    fit, holdout = split_holdout(_public_and_site(texts), seed=0)
    assert len(fit) + len(holdout) == 100 and "site" in set(holdout["source"])
    fitted = set(fit["text"].str.casefold().str.split().str.join(" "))
    held = set(holdout["text"].str.casefold().str.split().str.join(" "))
    assert not fitted & held


def test_train_with_a_one_comment_site_file(runner, fake_data_dir, tmp_path):
    """``moderate train --site-data`` with one usable comment was a traceback (a source of one row cannot be stratified)."""
    from service.cli import cli

    site = tmp_path / "one.csv"
    site.write_text("text,decision\nyou are a paid stooge,reject\n", encoding="utf-8")
    result = runner.invoke(cli, ["train", "--data-dir", str(fake_data_dir), "--site-data", str(site), "--out",
                                 str(tmp_path / "bundle"), "--seed", "0"])
    assert result.exit_code == 0, result.output
    entry = load_bundle(tmp_path / "bundle").manifest["site_data"]
    assert (entry["rows_used"], entry["rows_held_out"]) == (1, 0)
    assert "1 rows read, 1 trained on (weight 5); left out: none\n" in result.stderr


def test_the_site_rows_held_out_to_choose_thresholds_are_recorded(versioned_bundles):
    """"120 trained on" counted the site rows training held out to choose thresholds, which the heads never fitted."""
    from model.training.site_data import describe_site_manifest

    entry = load_bundle(versioned_bundles / "site").manifest["site_data"]
    assert 0 < entry["rows_held_out"] < entry["rows_used"] == 120
    assert f"; {entry['rows_held_out']} of the 120 kept out of the fit to choose thresholds" in describe_site_manifest(entry)


def test_site_comments_in_the_hatexplain_or_convabuse_test_splits_are_not_trained_on(fake_data_dir):
    """``moderate eval`` reports HateXplain's and ConvAbuse's official test splits: a site row with one of their texts
    trained the bundle on its own test comments."""
    from model.training import data
    from model.training.added_sets import convabuse_rows, hatexplain_rows
    from model.training.train import _with_site_rows

    root = fake_data_dir / "hostility"
    other = data._keys({**data.load_test_sets(fake_data_dir), **data.load_validation_sets(fake_data_dir),
                        "spans": data.load_toxic_spans("test", fake_data_dir)})
    tests = [next(t for t in rows(root, "test")["text"] if data.overlap_key(t) not in other) for rows in (hatexplain_rows, convabuse_rows)]
    site = site_labels(pd.DataFrame({"text": [*tests, "only on this site, said the shill."], "decision": ["reject"] * 3}))
    public = data.load_training_data(fake_data_dir)
    combined, entry = _with_site_rows(public, site, None, fake_data_dir)
    assert combined[combined["source"] == "site"]["text"].tolist() == ["only on this site, said the shill."]
    assert (entry["rows_used"], entry["removed_test_overlap"]) == (1, 2)


def test_a_bundle_trained_on_part_of_a_site_file_names_that_file(fake_data_dir, site_csv, tmp_path):
    """Notebook 05 trains on a scratch ``site_train.csv`` (the rows not held out), replaced on each run: the manifest
    named only that file, so a published bundle did not say which site file it had learnt from."""
    from model.training.site_data import describe_site_manifest, split_origin
    from model.training.train import train_bundle

    site = read_site_data(site_csv)
    train, held_out = split_site(site, 0.3, seed=0)
    train_path = tmp_path / "site_train.csv"
    train[["text", "decision"]].to_csv(train_path, index=False)
    bundle = train_bundle(fake_data_dir, tmp_path / "bundle", seed=0, progress=False, version="split", site_data=train_path,
                          site_split_from=split_origin(site, held_out, 0.3, 0))
    entry = load_bundle(bundle).manifest["site_data"]
    assert entry["sha256"] == sha256_file(train_path) and entry["rows"] == len(train)
    assert entry["split_from"] == {"file": "site.csv", "sha256": sha256_file(site_csv), "rows": 120,
                                   "rows_held_out": len(held_out), "holdout_fraction": 0.3, "seed": 0}
    assert describe_site_manifest(entry).endswith(f"the training part of site.csv (sha256 {sha256_file(site_csv)[:12]}), "
                                                  f"{len(held_out)} of whose rows were held out")


def test_perspective_names_stored_as_free_form_labels_are_exported_under_ours(runner, tmp_path, monkeypatch):
    """A suggestscore of ``UNSUPPORTED_CLAIM`` to a bundle without the claims head is stored as sent: exported under that
    name, training refused the whole export (a column spelt otherwise than ``unsupported_claim``)."""
    from service.app import create_app
    from service.cli import cli
    from model.training.train import train_from_frame
    from tests.corpus import make_corpus

    bundle = train_from_frame(make_corpus(), tmp_path / "hostility_only", seed=0, holdout_fraction=0.2, n_jobs=1, with_prior=False)
    assert "unsupported_claim" not in load_bundle(bundle).attributes
    db_url = f"sqlite:///{tmp_path / 'feedback.db'}"
    monkeypatch.setenv("MODERATION_DB_URL", db_url)
    client = create_app({"TESTING": True, "MODEL": str(bundle), "AUTH_REQUIRED": False}).test_client()
    for text, name in (("The moon is made of cheese, all scientists agree.", "UNSUPPORTED_CLAIM"), ("you idiot", "INSULT")):
        body = {"comment": {"text": text}, "attributeScores": {name: {"summaryScore": {"value": 1}}}}
        assert client.post("/v1alpha1/comments:suggestscore", json=body).status_code == 200
    out = tmp_path / "feedback.csv"
    exported = runner.invoke(cli, ["feedback", "export", "-o", str(out)], env={"MODERATION_DB_URL": db_url})
    assert exported.exit_code == 0, exported.output
    site = read_site_data(out)
    assert site[["insult", "unsupported_claim"]].fillna(-1).values.tolist() == [[-1, 1], [1, -1]]  # -1: not labelled
    from service.feedback_export import our_label_names

    assert our_label_names({"INSULT": 0.0, "insult": 1.0, "ATTACK_ON_AUTHOR": 1.0}) == {"insult": 1.0, "ATTACK_ON_AUTHOR": 1.0}


def _suggested_then_exported(runner, tmp_path, monkeypatch, bundle, names: list[str]) -> tuple[list[int], object]:
    """suggestscore ``you clown`` with each label name in turn, feedback ``a fair point`` approved; export; the
    statuses and the export's path."""
    from service.app import create_app
    from service.cli import cli

    db_url = f"sqlite:///{tmp_path / 'feedback.db'}"
    monkeypatch.setenv("MODERATION_DB_URL", db_url)
    client = create_app({"TESTING": True, "MODEL": str(bundle), "AUTH_REQUIRED": False}).test_client()
    statuses = [client.post("/v1alpha1/comments:suggestscore", json={
        "comment": {"text": f"you clown {i}"}, "attributeScores": {name: {"summaryScore": {"value": 0.9}}}}).status_code
        for i, name in enumerate(names)]
    assert client.post("/v1/feedback", json={"text": "a fair point", "decision": "approve"}).status_code == 201
    out = tmp_path / "feedback.csv"
    exported = runner.invoke(cli, ["feedback", "export", "-o", str(out)], env={"MODERATION_DB_URL": db_url})
    assert exported.exit_code == 0, exported.output
    return statuses, out


@pytest.mark.parametrize(("name", "attribute"), [("Toxicity", "toxicity"), ("Severe Toxicity", "severe_toxicity"),
                                                 ("identity-attack", "identity_attack")])
def test_our_attribute_spelt_otherwise_in_a_suggestscore_is_exported_as_ours(runner, tiny_bundle_path, tmp_path, monkeypatch,
                                                                             name, attribute):
    """A free-form label ``Toxicity`` was exported as a column ``Toxicity``: training refused the whole export."""
    statuses, out = _suggested_then_exported(runner, tmp_path, monkeypatch, tiny_bundle_path, [name])
    assert statuses == [200]
    site = read_site_data(out)
    assert site.set_index("text").loc["you clown 0", ["toxicity", attribute]].tolist() == [1.0, 1.0]


@pytest.mark.parametrize("name", ["labels", "LABELS", "Labels"])
def test_a_suggestscore_label_named_labels_is_refused_so_the_export_stays_readable(runner, tiny_bundle_path, tmp_path,
                                                                                    monkeypatch, name):
    """Stored as a free-form label, it became the export's ``labels`` column, which training reads as JSON objects:
    ``row 0: labels must be a JSON object``, or ``rename it 'labels'``, and the whole export refused."""
    statuses, out = _suggested_then_exported(runner, tmp_path, monkeypatch, tiny_bundle_path, [name, "ATTACK_ON_AUTHOR"])
    assert statuses == [400, 200]
    assert read_site_data(out)["text"].tolist() == ["a fair point"]  # ATTACK_ON_AUTHOR is not one of our labels


def test_a_bundle_is_known_to_have_trained_on_a_site_file_given_whole_or_split():
    from model.training.site_data import trained_on_file

    whole = {"site_data": {"sha256": "aaa"}}
    split = {"site_data": {"sha256": "bbb", "split_from": {"sha256": "ccc"}}}
    assert trained_on_file(whole, "aaa") and trained_on_file(split, "bbb") and trained_on_file(split, "ccc")
    assert not trained_on_file(split, "aaa") and not trained_on_file({}, "aaa")
    assert not trained_on_file({"site_data": {}}, None)  # a table read from no file is no bundle's


def test_a_bundle_that_may_have_trained_on_the_rows_held_out_is_known():
    """Notebook 05 judged an old bundle trained on the same site file (whole, or split otherwise) on rows it had
    trained on, and said nothing: the new bundle looked worse than it was."""
    from model.training.site_data import saw_held_out_rows

    whole = {"site_data": {"sha256": "aaa"}}
    split = {"site_data": {"sha256": "bbb", "split_from": {"sha256": "aaa", "holdout_fraction": 0.3, "seed": 0}}}
    assert saw_held_out_rows(whole, "aaa", 0.3, 0)
    assert saw_held_out_rows(split, "aaa", 0.3, 1) and saw_held_out_rows(split, "aaa", 0.2, 0)
    assert not saw_held_out_rows(split, "aaa", 0.3, 0)  # the same split: its held-out rows were never trained on
    assert not saw_held_out_rows(whole, "ccc", 0.3, 0) and not saw_held_out_rows({}, "aaa", 0.3, 0)


def test_the_rows_left_out_add_up_with_those_labelled_only_in_unread_columns():
    """Notebook 05 printed "39 rows read; left out: 6 ..., 1 without text, 1 without a decision or label" and then 30
    comments: the row labelled only in a column training does not read was not named."""
    from model.training.site_data import unread_label_count

    export = pd.DataFrame({"text": ["you shill", "fine", "an attack on the author", ""], "comment_id": ["c1", "c2", "c3", "c4"],
                           "decision": ["reject", "approve", "", "approve"], "ATTACK_ON_AUTHOR": ["", "", "1", ""]})
    site = site_labels(export)
    counts = site.attrs
    assert counts["n_without_text"] + counts["n_without_label"] + counts["n_unread_label_only"] + len(site) == counts["n_read"]
    assert unread_label_count(counts).startswith(", 1 ") and "ATTACK_ON_AUTHOR" in unread_label_count(counts)
    assert unread_label_count(site_labels(export.drop(columns="ATTACK_ON_AUTHOR").iloc[:2]).attrs) == ""


def test_a_review_of_a_comment_labelled_an_unsupported_claim_is_no_toxicity_label(tmp_path):
    # The policy sends civil claims to review: an editor's confirmed "review" of one was read as toxic, and trained
    # the toxicity head that claims are hostile (a lifecycle audit: 0.03 -> 0.22 for two claim texts).
    from model.training.site_data import hostile_labels, read_site_data

    path = tmp_path / "site.csv"
    pd.DataFrame({
        "text": ["The plant employs 2,100 people.", "You are a clown.", "Nice park.", "Smith took a bribe."],
        "decision": ["review", "review", "approve", "reject"],
        "unsupported_claim": [1, None, None, 1],
    }).to_csv(path, index=False)
    site = read_site_data(path)
    assert np.isnan(site["toxicity"].iloc[0]) and site["unsupported_claim"].iloc[0] == 1  # trains the claim head only
    assert site["toxicity"].tolist()[1:] == [1.0, 0.0, 1.0]  # a rejected claim is still the site's hostility call
    assert hostile_labels(site).tolist() == [0, 1, 0, 1]


def test_hostile_labels_of_a_table_without_a_claim_column():
    # decision_toxicity masked with a bare False when the column was missing, which pandas refuses (ValueError).
    from model.training.site_data import hostile_labels

    site = pd.DataFrame({"decision": ["review", "approve", ""], "toxicity": [np.nan, np.nan, 1.0]})
    assert hostile_labels(site).tolist() == [1, 0, 1]
