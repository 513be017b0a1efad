"""What ``moderate score`` makes of the texts of an INPUT an editor exports from a CMS: a Windows-1252 file
(``--encoding``), HTML bodies (``--html``) and comments of invisible characters alone (empty, as blank ones are)."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from service.cli import cli
from service.html_text import html_to_text
from service.spool import spool_path
from tests.test_archive_cli_edges import one_error_line
from tests.test_score_output_edges import fill_the_disk_after_one_chunk

CMS_ROWS = [("1", "A fair point, well made."), ("2", "\u201cYou idiot\u201d \u2013 caf\u00e9 owner"),
            ("3", "Thanks for the article."), ("4", "5 \u20ac is too much, na\u00efve")]
"""Comments as a CMS exports them: ASCII ones, and ones with curly quotes, a dash, accents and the euro sign (all in
Windows-1252, the last three not in Latin-1's printable range)."""


@pytest.fixture
def run(tiny_bundle_path):
    def invoke(*args):
        return CliRunner().invoke(cli, ["score", *map(str, args)], env={"MODERATION_MODEL": str(tiny_bundle_path)})

    return invoke


def write_rows(path: Path, rows: list[tuple[str, str]], encoding: str) -> Path:
    """``rows`` (id, text) as a .csv or .jsonl table in ``encoding``."""
    if path.suffix == ".csv":
        content = "id,text\n" + "".join(f"{row_id},\"{text}\"\n" for row_id, text in rows)
    else:
        content = "".join(json.dumps({"id": row_id, "text": text}, ensure_ascii=False) + "\n" for row_id, text in rows)
    path.write_bytes(content.encode(encoding))
    return path


def output_rows(path: Path) -> list[dict]:
    if path.suffix == ".csv":
        return pd.read_csv(path, dtype=str, keep_default_na=False).to_dict("records")
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


# --encoding


@pytest.mark.parametrize("suffix", [".csv", ".jsonl"])
def test_a_windows_1252_export_is_refused_naming_line_and_byte_and_read_right_with_encoding_cp1252(tmp_path, run, suffix):
    source = write_rows(tmp_path / f"in{suffix}", CMS_ROWS, "cp1252")
    out = tmp_path / f"out{suffix}"
    refused = run(source, "-o", out)
    # Before: exit 0, rows 2 and 4 set aside as "not UTF-8" and the ASCII rows scored, silently half an archive.
    assert refused.exit_code == 2, refused.output
    line = one_error_line(refused)
    first = 3 if suffix == ".csv" else 2  # the header is line 1 of the CSV
    assert f"byte 0x93 cannot be decoded (line {first})" in line and "pass --encoding cp1252" in line, line
    assert not out.exists() and not Path(f"{out}.rejects").exists() and not spool_path(out).exists()

    read = run(source, "-o", out, "--encoding", "cp1252")
    assert read.exit_code == 0, read.output
    assert "rejected 0" in read.stderr
    # As the same comments saved as UTF-8 are scored without --encoding: the same texts, the same scores.
    assert run(write_rows(tmp_path / f"utf8{suffix}", CMS_ROWS, "utf-8"), "-o", tmp_path / f"utf8_out{suffix}").exit_code == 0
    assert output_rows(out) == output_rows(tmp_path / f"utf8_out{suffix}")
    assert [row["text"] for row in output_rows(out)] == [text for _, text in CMS_ROWS]


def test_a_utf8_file_with_a_byte_order_mark_needs_no_encoding(tmp_path, run):
    source = tmp_path / "in.csv"
    source.write_bytes("id,text\n1,caf\u00e9\n".encode("utf-8-sig"))
    result = run(source, "-o", tmp_path / "out.csv")
    assert result.exit_code == 0, result.output
    assert output_rows(tmp_path / "out.csv")[0]["text"] == "caf\u00e9"


@pytest.mark.parametrize(("name", "encoding", "message"), [
    ("in.csv", "utf-16", r"--encoding 'utf-16': only encodings that write ASCII as ASCII are read .*"
                         r"`iconv -f utf-16 -t utf-8 IN > OUT`$"),
    ("in.csv", "klingon", r"--encoding 'klingon': unknown encoding; give one such as utf-8, cp1252"),
    ("in.parquet", "cp1252", r"in\.parquet: --encoding is for a \.csv or \.jsonl INPUT; Parquet text is always UTF-8$"),
    # A UTF-8 file read as Windows-1252 would score "cafÃ©": said, not done.
    ("in.csv", "cp1252", r"in\.csv: the file is UTF-8 text, with characters beyond ASCII that --encoding cp1252 would "
                         r"read wrong .*; leave out --encoding$"),
])
def test_an_encoding_that_cannot_read_the_input_is_refused_saying_what_to_do(tmp_path, run, name, encoding, message):
    import re

    source = tmp_path / name
    if name.endswith(".parquet"):
        pq.write_table(pa.table({"id": ["1"], "text": ["caf\u00e9"]}), source)
    else:
        write_rows(source, CMS_ROWS, "utf-8")
    result = run(source, "-o", tmp_path / "out.csv", "--encoding", encoding)
    assert result.exit_code == 2, result.output
    assert re.search(message, one_error_line(result)), result.stderr
    assert not (tmp_path / "out.csv").exists()


# mtime=0 and ids: a gzip header holds its time, and test ids that differ between pytest-xdist's workers stop the run.
@pytest.mark.parametrize(("content", "message"), [
    (gzip.compress(b"id,text\n1,a fair point\n", mtime=0), "the file is gzip-compressed, not CSV text"),
    ("id,text\n1,caf\u00e9\n".encode("utf-16"), "the file is UTF-16 text; re-encode it as UTF-8"),
], ids=["gzip", "utf-16"])
def test_a_file_that_is_not_text_is_still_named_for_what_it_is_not_taken_for_another_encoding(tmp_path, run, content,
                                                                                              message):
    (tmp_path / "in.csv").write_bytes(content)
    result = run(tmp_path / "in.csv", "-o", tmp_path / "out.csv")
    assert result.exit_code == 2 and message in one_error_line(result) and "--encoding" not in result.stderr


def test_a_run_stopped_with_an_encoding_resumes_only_with_it(tmp_path, run, monkeypatch):
    source = write_rows(tmp_path / "in.csv", CMS_ROWS, "cp1252")
    disk_freed = fill_the_disk_after_one_chunk(monkeypatch)
    assert run(source, "-o", tmp_path / "out.csv", "--encoding", "windows-1252", "--chunk-size", 2).exit_code == 2
    disk_freed()
    refused = run(source, "-o", tmp_path / "out.csv", "--encoding", "latin-1", "--chunk-size", 2, "--resume")
    assert refused.exit_code == 2 and "--encoding was cp1252, now iso8859-1" in one_error_line(refused)
    resumed = run(source, "-o", tmp_path / "out.csv", "--encoding", "cp1252", "--chunk-size", 2, "--resume")
    assert resumed.exit_code == 0, resumed.output
    assert run(source, "-o", tmp_path / "straight.csv", "--encoding", "cp1252", "--chunk-size", 2).exit_code == 0
    assert (tmp_path / "out.csv").read_bytes() == (tmp_path / "straight.csv").read_bytes()


def test_a_run_started_before_encoding_and_html_existed_resumes_without_them(tmp_path):
    from service.archive import Job, run_settings

    source = write_rows(tmp_path / "in.csv", CMS_ROWS, "utf-8")
    job = Job(inputs=(source,), outputs=(tmp_path / "out.csv",), output=tmp_path / "out.csv")
    assert "encoding" not in run_settings(job, {}, "local") and "html" not in run_settings(job, {}, "local")
    given = Job(inputs=(source,), outputs=(tmp_path / "out.csv",), output=tmp_path / "out.csv", encoding="cp1252", html=True)
    assert run_settings(given, {}, "local")["encoding"] == "cp1252" and run_settings(given, {}, "local")["html"] is True


@pytest.mark.slow  # a LocalCluster of one worker loading the bundle
def test_the_dask_engine_reads_the_encoding_given(tmp_path, run):
    source = write_rows(tmp_path / "in.csv", CMS_ROWS, "cp1252")
    assert run(source, "-o", tmp_path / "local.csv", "--encoding", "cp1252", "--html").exit_code == 0
    result = run(source, "-o", tmp_path / "dask.csv", "--encoding", "cp1252", "--html", "--engine", "dask", "--jobs", 1,
                 "--chunk-size", 2)
    assert result.exit_code == 0, result.output
    assert (tmp_path / "dask.csv").read_bytes() == (tmp_path / "local.csv").read_bytes()


# --html


HTML_ROWS = [("1", "<p>You <b>moron</b>, I will <i>kill</i> you</p>"), ("2", "You moron, I will kill you"),
             ("3", "<p>A fair&nbsp;point &amp; well made</p>"), ("4", "<p></p><br>")]


def test_html_scores_the_visible_text_and_its_spans_point_into_the_visible_text_column(tmp_path, run):
    source = write_rows(tmp_path / "in.jsonl", HTML_ROWS, "utf-8")
    result = run(source, "-o", tmp_path / "out.jsonl", "--html", "--spans")
    assert result.exit_code == 0, result.output
    rows = output_rows(tmp_path / "out.jsonl")
    assert [row["text"] for row in rows] == [text for _, text in HTML_ROWS]  # INPUT's cells as they were
    # As the Coral and Perspective endpoints read HTML.
    assert [row["visible_text"] for row in rows] == [html_to_text(text) for _, text in HTML_ROWS]
    assert rows[0]["visible_text"] == "You moron, I will kill you" and rows[3]["visible_text"] == ""
    html, plain = rows[0], rows[1]
    assert {key: html[key] for key in html if key not in ("id", "text")} == {key: plain[key] for key in plain
                                                                           if key not in ("id", "text")}
    spans = [reason for row in rows for reason in json.loads(row["reasons"]) if "span" in reason]
    assert spans and all(row["visible_text"][r["span"]["begin"]:r["span"]["end"]] == r["text"]
                         for row in rows for r in json.loads(row["reasons"]) if "span" in r)
    assert json.loads(rows[3]["reasons"]) == [{"code": "empty", "action": "approve"}]
    assert "empty 1 " in result.stderr
    assert run(source, "-o", tmp_path / "raw.jsonl").exit_code == 0  # without --html: no column added
    assert "visible_text" not in output_rows(tmp_path / "raw.jsonl")[0]


def test_one_html_text_is_scored_as_its_visible_text_which_the_json_shows(run):
    html = json.loads(run("--text", HTML_ROWS[0][1], "--html").stdout)
    plain = json.loads(run("--text", HTML_ROWS[1][1]).stdout)
    assert html["visible_text"] == HTML_ROWS[1][1]
    assert {key: html[key] for key in plain} == plain
    refused = run("--text", "caf\u00e9", "--encoding", "cp1252")
    assert refused.exit_code == 2 and "--encoding is for an INPUT file" in refused.stderr


@pytest.mark.parametrize(("options", "named"), [
    (("--text-column", "body"), "--text-column is"),
    (("--jobs", 2, "--resume"), "--jobs, --resume are"),
    (("--spreadsheet-safe", "--chunk-size", 10), "--spreadsheet-safe, --chunk-size are"),
])
def test_table_options_beside_one_text_are_refused_not_ignored(run, options, named):
    refused = run("--text", "You are kind.", *options)
    assert refused.exit_code == 2 and f"Error: {named} for INPUT with -o OUTPUT, not for --text" in refused.stderr
    assert refused.stdout == ""  # nothing scored
    assert run("--text", "You are kind.", "--spans").exit_code == 0  # options of one text still work


def test_an_input_with_a_visible_text_column_is_refused_with_html(tmp_path, run):
    source = tmp_path / "in.csv"
    source.write_text("id,text,visible_text\n1,<p>hi</p>,hi\n", encoding="utf-8")
    result = run(source, "-o", tmp_path / "out.csv", "--html")
    assert result.exit_code == 2 and "already has column 'visible_text'" in one_error_line(result)


def test_resume_after_a_complete_run_with_html_is_not_up_to_date_without_it(tmp_path, run):
    source = write_rows(tmp_path / "in.csv", HTML_ROWS, "utf-8")
    assert run(source, "-o", tmp_path / "out.csv", "--html").exit_code == 0
    result = run(source, "-o", tmp_path / "out.csv", "--resume")
    assert result.exit_code == 2 and "--html was given, now not given" in one_error_line(result)


# Empty


INVISIBLE = ["\u200b\u200b", "\u2060\u200d \ufeff", "\u00ad", "\u200e\u200f\t"]
"""Texts with nothing to read: zero-width spaces and joiners, a word joiner, soft hyphen, direction marks."""


def test_a_comment_of_invisible_characters_alone_is_empty_as_a_blank_one_is(tmp_path, run, scorer):
    source = write_rows(tmp_path / "in.jsonl", [(str(i), text) for i, text in enumerate(["", "   ", *INVISIBLE])], "utf-8")
    result = run(source, "-o", tmp_path / "out.jsonl")
    assert result.exit_code == 0, result.output
    rows = output_rows(tmp_path / "out.jsonl")
    attributes = scorer.attributes
    # Before: the invisible ones were scored as text (not 0) and approved with no reason, and not counted as empty.
    assert all(json.loads(row["reasons"]) == [{"code": "empty", "action": "approve"}] for row in rows), rows
    assert all(row[name] == 0.0 for row in rows for name in attributes), rows
    assert f"empty {len(rows)} " in result.stderr
    assert [decision.reasons[0].code for decision in scorer.moderate(INVISIBLE)] == ["empty"] * len(INVISIBLE)
    assert not scorer.predict_scores(INVISIBLE).any()


def test_compare_counts_invisible_comments_as_empty_as_score_does(tmp_path, run, tiny_bundle_path):
    source = write_rows(tmp_path / "in.jsonl", [("1", "a fair point"), ("2", " "), *((str(i), t) for i, t in enumerate(INVISIBLE, 3))],
                        "utf-8")
    compared = CliRunner().invoke(cli, ["compare", str(tiny_bundle_path), str(tiny_bundle_path), "--data", str(source)])
    assert compared.exit_code == 0, compared.output
    expected = f"empty {1 + len(INVISIBLE)} (of which not text 0)"
    assert compared.stdout.splitlines()[0].startswith(f"{2 + len(INVISIBLE)} comments, {expected};"), compared.stdout
    scored = run(source, "-o", tmp_path / "out.jsonl")
    assert scored.exit_code == 0 and expected in scored.stderr  # the same count, in the same words
