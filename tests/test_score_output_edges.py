"""What ``moderate score`` leaves in OUTPUT when it runs again: parts of an earlier input in a folder OUTPUT, a
``--resume`` with nothing to resume, and a text column holding numbers (read as ``moderate compare`` reads it)."""

from __future__ import annotations

import errno
import json
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from service.cli import cli
from service.spool import spool_path
from tests.test_archive_cli_edges import one_error_line


@pytest.fixture
def run(tiny_bundle_path):
    def invoke(*args):
        return CliRunner().invoke(cli, ["score", *map(str, args)], env={"MODERATION_MODEL": str(tiny_bundle_path)})

    return invoke


def write_parts(folder: Path, ids: dict[str, list[int]]) -> Path:
    """A folder of Parquet parts: part name -> the ids of its rows."""
    folder.mkdir()
    for name, part_ids in ids.items():
        pq.write_table(pa.table({"id": part_ids, "text": [f"a fair point number {i}" for i in part_ids]}), folder / name)
    return folder


def parquet_names(folder: Path) -> list[str]:
    return sorted(path.name for path in folder.iterdir() if path.suffix == ".parquet" and not path.name.startswith("."))


def folder_ids(folder: Path) -> list[int]:
    """The ids a reader of every Parquet part of the folder gets (``scored/*.parquet``)."""
    return sorted(pd.concat([pd.read_parquet(path) for path in folder.glob("*.parquet")])["id"].tolist())


# A folder OUTPUT scored again from another input


@pytest.fixture
def earlier_and_later(tmp_path, run):
    """``scored/`` holds the parts of ``earlier/`` (part-1, 2, 3); ``later/`` has only part-1 and part-2."""
    write_parts(tmp_path / "earlier", {"part-1.parquet": [1, 2], "part-2.parquet": [3], "part-3.parquet": [4, 5]})
    write_parts(tmp_path / "later", {"part-1.parquet": [11], "part-2.parquet": [12, 13]})
    assert run(tmp_path / "earlier", "-o", tmp_path / "scored").exit_code == 0
    return tmp_path


def test_overwrite_removes_the_parts_an_earlier_run_wrote_that_input_no_longer_has(earlier_and_later, run):
    tmp_path = earlier_and_later
    (tmp_path / "scored" / "_SUCCESS").write_text("")  # not a Parquet part: never touched
    (tmp_path / "scored" / "README.txt").write_text("scored comments\n")
    result = run(tmp_path / "later", "-o", tmp_path / "scored", "--overwrite")
    assert result.exit_code == 0, result.output
    assert parquet_names(tmp_path / "scored") == ["part-1.parquet", "part-2.parquet"]
    assert folder_ids(tmp_path / "scored") == [11, 12, 13]
    assert (tmp_path / "scored" / "_SUCCESS").exists()
    assert (tmp_path / "scored" / "README.txt").read_text() == "scored comments\n"


def test_without_overwrite_the_parts_of_an_earlier_input_are_refused(earlier_and_later, run):
    tmp_path = earlier_and_later
    write_parts(tmp_path / "other", {"part-9.parquet": [99]})  # no name in common with scored/
    result = run(tmp_path / "other", "-o", tmp_path / "scored")
    assert result.exit_code == 2, result.output
    line = one_error_line(result)
    assert "part-1.parquet" in line and "and 1 more already exist: pass --overwrite" in line, line
    assert folder_ids(tmp_path / "scored") == [1, 2, 3, 4, 5]


def test_the_parts_of_an_earlier_input_stay_until_the_new_parts_are_complete(earlier_and_later, run, monkeypatch):
    from service import spool

    tmp_path = earlier_and_later
    real_write = spool.TableWriter.write

    def fill_the_disk_in_part_2(self, frame):
        if "part-00001" in str(self.path):
            raise OSError(errno.ENOSPC, "No space left on device", str(self.path))
        real_write(self, frame)

    monkeypatch.setattr(spool.TableWriter, "write", fill_the_disk_in_part_2)
    stopped = run(tmp_path / "later", "-o", tmp_path / "scored", "--overwrite")
    assert stopped.exit_code == 2 and "--resume" in stopped.stderr, stopped.output
    assert parquet_names(tmp_path / "scored") == ["part-1.parquet", "part-2.parquet", "part-3.parquet"]
    monkeypatch.setattr(spool.TableWriter, "write", real_write)
    resumed = run(tmp_path / "later", "-o", tmp_path / "scored", "--resume")
    assert resumed.exit_code == 0, resumed.output
    assert parquet_names(tmp_path / "scored") == ["part-1.parquet", "part-2.parquet"]
    assert folder_ids(tmp_path / "scored") == [11, 12, 13]


@pytest.mark.parametrize("foreign", ["theirs.parquet", "part-3.parquet"])
def test_a_parquet_file_the_command_did_not_write_is_refused_and_kept(earlier_and_later, run, foreign):
    """theirs.parquet: put there by someone else; part-3.parquet: written by the earlier run, then replaced."""
    tmp_path = earlier_and_later
    pq.write_table(pa.table({"id": [7], "text": ["someone else's row"]}), tmp_path / "scored" / foreign)
    before = (tmp_path / "scored" / foreign).read_bytes()
    result = run(tmp_path / "later", "-o", tmp_path / "scored", "--overwrite")
    assert result.exit_code == 2, result.output
    line = one_error_line(result)
    assert f"{tmp_path / 'scored'}: holds Parquet files that are not parts of INPUT" in line, line
    assert str(tmp_path / "scored" / foreign) in line and "move them out" in line, line
    assert (tmp_path / "scored" / foreign).read_bytes() == before
    assert not spool_path(tmp_path / "scored").exists()


# --resume with no interrupted run


def test_resume_of_a_complete_output_has_nothing_to_do_and_says_so(tmp_path, run):
    source = tmp_path / "in.csv"
    source.write_text("id,text\n1,a fair point\n2,you are an idiot\n", encoding="utf-8")
    out = tmp_path / "out.csv"
    assert run(source, "-o", out).exit_code == 0
    written = out.stat().st_mtime_ns
    result = run(source, "-o", out, "--resume")
    assert result.exit_code == 0, result.output
    assert f"Nothing to resume: {out} is complete" in result.stderr and "nothing to do" in result.stderr
    assert "Scored" not in result.stderr
    assert out.stat().st_mtime_ns == written


def test_resume_with_no_run_started_says_it_scores_from_the_start(tmp_path, run):
    source = tmp_path / "in.csv"
    source.write_text("id,text\n1,a fair point\n2,you are an idiot\n", encoding="utf-8")
    assert run(source, "-o", tmp_path / "plain.csv").exit_code == 0
    result = run(source, "-o", tmp_path / "out.csv", "--resume")
    assert result.exit_code == 0, result.output
    assert "Nothing to resume" in result.stderr and "scoring from the start" in result.stderr
    assert "rows read 2; scored 2" in result.stderr
    assert (tmp_path / "out.csv").read_bytes() == (tmp_path / "plain.csv").read_bytes()


def test_resume_over_the_output_of_another_input_is_refused_unless_overwrite(tmp_path, run):
    source, out = tmp_path / "in.csv", tmp_path / "out.csv"
    source.write_text("id,text\n1,a fair point\n", encoding="utf-8")
    assert run(source, "-o", out).exit_code == 0
    earlier = out.read_bytes()
    source.write_text("id,text\n1,a fair point\n2,another row added since\n", encoding="utf-8")
    refused = run(source, "-o", out, "--resume")
    assert refused.exit_code == 2, refused.output
    line = one_error_line(refused)
    assert "nothing to resume" in line and "INPUT changed since" in line and "pass --overwrite" in line, line
    assert out.read_bytes() == earlier
    again = run(source, "-o", out, "--resume", "--overwrite")
    assert again.exit_code == 0, again.output
    assert "scoring from the start" in again.stderr and "rows read 2" in again.stderr


def test_the_help_says_what_resume_does_with_no_interrupted_run(run):
    result = run("--help")
    assert result.exit_code == 0
    text = " ".join(result.output.split())
    assert "nothing to do" in text and "from the start" in text


# A text column holding numbers: moderate compare reads it as moderate score does


NUMBERS_JSONL = [{"id": 1, "text": 12345}, {"id": 2, "text": 3.5}, {"id": 3, "text": True}, {"id": 4, "text": ["a"]},
                 {"id": 5, "text": None}, {"id": 6, "text": "a fair point"}]


def write_numbers(path: Path) -> Path:
    if path.suffix == ".jsonl":
        path.write_text("".join(json.dumps(row) + "\n" for row in NUMBERS_JSONL), encoding="utf-8")
    elif path.suffix == ".parquet":
        pq.write_table(pa.table({"id": [1, 2], "text": [12345.0, 3.5]}), path)
    else:
        path.write_text("id,text\n1,12345\n2,3.5\n", encoding="utf-8")
    return path


@pytest.mark.parametrize(("suffix", "expected"), [
    (".jsonl", ["", "", "", "", "", "a fair point"]),  # a JSON number, boolean or list is not text
    (".parquet", ["", ""]),  # nor is a number column
    (".csv", ["12345", "3.5"]),  # every CSV cell is the text it was
])
def test_compare_reads_the_text_column_as_score_does(tmp_path, run, suffix, expected):
    from model.evaluation.compare import table_comments
    from model.training.site_data import read_table

    source = write_numbers(tmp_path / f"in{suffix}")
    texts, _ = table_comments(read_table(source))
    assert texts == expected
    result = run(source, "-o", tmp_path / "out.jsonl")
    assert result.exit_code == 0, result.output
    scored = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [("empty" in row["reasons"]) for row in scored] == [text == "" for text in expected]


def test_resume_after_a_run_that_scored_nothing_is_not_nothing_to_do(tmp_path, run):
    """That run exited 3: a resume must not turn it into a success."""
    source, out = tmp_path / "in.csv", tmp_path / "out.csv"
    source.write_text("id,text\n1,a,b\n2,c,d\n", encoding="utf-8")
    assert run(source, "-o", out).exit_code == 3
    result = run(source, "-o", out, "--resume")
    assert result.exit_code == 2, result.output
    line = one_error_line(result)
    assert "nothing to resume" in line and "could parse no row of INPUT" in line and "pass --overwrite" in line, line


def test_overwrite_by_a_run_that_scores_nothing_keeps_the_earlier_output(tmp_path, run):
    """A scheduled job pointed at a broken file exits 3 ("nothing was scored"); the good output of the last run stays, as
    every output stays until its replacement is complete."""
    good, broken, out = tmp_path / "good.csv", tmp_path / "broken.csv", tmp_path / "out.csv"
    good.write_text("id,text\n1,a fine comment\n2,another one\n", encoding="utf-8")
    broken.write_text("id,text\n1,a,b\n2,c,d\n", encoding="utf-8")
    assert run(good, "-o", out).exit_code == 0
    before = out.read_bytes()
    assert run(broken, "-o", out, "--overwrite").exit_code == 3
    assert out.read_bytes() == before
    assert (tmp_path / "out.csv.rejects").exists()


# Formulas in comments and a spreadsheet


FORMULA_CSV = ('id,text\n1,"=HYPERLINK(""http://x.example"",""details"")"\n2,-5\n3,@SUM(A1)\n4,un café\n'
               '5,"+cmd|\' /C calc\'!A0"\n')


def test_spreadsheet_safe_marks_formulas_as_text_and_the_default_keeps_every_cell(tmp_path, run):
    source = tmp_path / "in.csv"
    source.write_text(FORMULA_CSV, encoding="utf-8")
    assert run(source, "-o", tmp_path / "exact.csv").exit_code == 0
    texts = pd.read_csv(source, dtype=str)["text"].tolist()
    assert pd.read_csv(tmp_path / "exact.csv", dtype=str)["text"].tolist() == texts
    result = run(source, "-o", tmp_path / "safe.csv", "--spreadsheet-safe", "--chunk-size", 2)
    assert result.exit_code == 0, result.output
    data = (tmp_path / "safe.csv").read_bytes()
    assert data.startswith(b"\xef\xbb\xbfid,text,") and data.count(b"\xef\xbb\xbf") == 1
    safe = pd.read_csv(tmp_path / "safe.csv", dtype=str, encoding="utf-8-sig")
    assert safe["text"].tolist() == ["'" + texts[0], "-5", "'@SUM(A1)", "un café", "'" + texts[4]]
    exact = pd.read_csv(tmp_path / "exact.csv", dtype=str)
    assert safe.drop(columns="text").equals(exact.drop(columns="text"))


def fill_the_disk_after_one_chunk(monkeypatch) -> Callable[[], None]:
    """Make the run's second chunk fail as on a full disk (a run stopped midway, to resume); return what frees it."""
    import service.spool

    written = service.spool.Spool.write_chunk

    def full_disk_after_one_chunk(self, part, chunk, *args, **kwargs):
        if chunk == 1:
            raise OSError(errno.ENOSPC, "No space left on device")
        written(self, part, chunk, *args, **kwargs)

    monkeypatch.setattr(service.spool.Spool, "write_chunk", full_disk_after_one_chunk)
    return lambda: monkeypatch.setattr(service.spool.Spool, "write_chunk", written)


def test_spreadsheet_safe_is_refused_for_another_output_format_and_by_a_resume_without_it(tmp_path, run, monkeypatch):
    source = tmp_path / "in.csv"
    source.write_text(FORMULA_CSV, encoding="utf-8")
    result = run(source, "-o", tmp_path / "out.jsonl", "--spreadsheet-safe")
    assert result.exit_code == 2 and "--spreadsheet-safe is for a .csv OUTPUT" in one_error_line(result)
    disk_freed = fill_the_disk_after_one_chunk(monkeypatch)
    assert run(source, "-o", tmp_path / "out.csv", "--spreadsheet-safe", "--chunk-size", 2).exit_code == 2
    disk_freed()
    result = run(source, "-o", tmp_path / "out.csv", "--chunk-size", 2, "--resume")
    assert result.exit_code == 2 and "--spreadsheet-safe was given, now not given" in one_error_line(result)
    result = run(source, "-o", tmp_path / "out.csv", "--chunk-size", 2, "--resume", "--spreadsheet-safe")
    assert result.exit_code == 0, result.output
    assert run(source, "-o", tmp_path / "straight.csv", "--chunk-size", 2, "--spreadsheet-safe").exit_code == 0
    assert (tmp_path / "out.csv").read_bytes() == (tmp_path / "straight.csv").read_bytes()


def test_a_run_started_before_spreadsheet_safe_existed_resumes_without_it(tmp_path):
    # Its saved settings have no such key: recorded as False, every such run was refused "was None, now False".
    from service.archive import Job, run_settings

    source = tmp_path / "in.csv"
    source.write_text(FORMULA_CSV, encoding="utf-8")
    plain, safe = (Job(inputs=(source,), outputs=(tmp_path / "out.csv",), output=tmp_path / "out.csv", spreadsheet_safe=flag)
                   for flag in (False, True))
    assert "spreadsheet_safe" not in run_settings(plain, {}, "local")
    assert run_settings(safe, {}, "local")["spreadsheet_safe"] is True


def test_resume_after_a_complete_run_with_spreadsheet_safe_is_not_up_to_date_without_it(tmp_path, run):
    # A setting recorded only when given was compared only when given now: "Nothing to resume ... up to date", and the
    # output kept its ' marks and byte-order mark that this command would not write.
    source, out = tmp_path / "in.csv", tmp_path / "out.csv"
    source.write_text(FORMULA_CSV, encoding="utf-8")
    assert run(source, "-o", out, "--spreadsheet-safe").exit_code == 0
    earlier = out.read_bytes()
    result = run(source, "-o", out, "--resume")
    assert result.exit_code == 2, result.output
    line = one_error_line(result)
    assert "nothing to resume" in line and "--spreadsheet-safe was given, now not given" in line, line
    assert out.read_bytes() == earlier


@pytest.mark.parametrize("change", ["deleted", "edited"])
def test_resume_after_a_complete_run_whose_rejects_file_is_gone_or_changed_is_not_up_to_date(tmp_path, run, change):
    # It was "Nothing to resume: ... complete and up to date", the rows that run set aside lost.
    source, out = tmp_path / "in.csv", tmp_path / "out.csv"
    source.write_text("id,text\n1,a,b\n2,a fair point\n", encoding="utf-8")
    assert run(source, "-o", out).exit_code == 0
    rejects = tmp_path / "out.csv.rejects"
    if change == "deleted":
        rejects.unlink()
    else:
        rejects.write_text("{}\n", encoding="utf-8")
    result = run(source, "-o", out, "--resume")
    assert result.exit_code == 2, result.output
    line = one_error_line(result)
    expected = "is missing" if change == "deleted" else "changed since that run wrote it"
    assert "nothing to resume" in line and f"{rejects} {expected}" in line and "pass --overwrite" in line, line
    again = run(source, "-o", out, "--resume", "--overwrite")
    assert again.exit_code == 0 and rejects.read_text(encoding="utf-8").count('"line": 2') == 1, again.output
    assert "Nothing to resume" in run(source, "-o", out, "--resume").stderr
