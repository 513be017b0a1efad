"""Edges of ``moderate score INPUT -o OUTPUT`` an editor meets: nothing scored, an output already there, a later part
without the column, ``-`` for a file, a wrong text column, and Ctrl-C reaching worker processes."""

from __future__ import annotations

import errno
import gc
import json
import os
import re
import signal
import socket
import warnings
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from service.cli import cli
from service.spool import spool_path
from tests.test_archive import archive_frame, write_table

UNPARSEABLE = {".csv": ("id,text\n1,a,b\n2,c,d\n", 2), ".jsonl": ("{not json\n[\"a list\"]\n", 1)}
"""Two rows that cannot be parsed, and the line of the first."""


@pytest.fixture
def run(tiny_bundle_path):
    def invoke(*args):
        return CliRunner().invoke(cli, ["score", *map(str, args)], env={"MODERATION_MODEL": str(tiny_bundle_path)})

    return invoke


def one_error_line(result) -> str:
    """The last stderr line, which must be click's ``Error:`` line (no traceback)."""
    assert "Traceback" not in result.output
    line = result.stderr.splitlines()[-1]
    assert line.startswith("Error: "), result.stderr
    return line


@pytest.mark.parametrize("suffix", [".csv", ".jsonl"])
def test_a_run_that_sets_every_row_aside_exits_3_saying_how_many_where_and_why(tmp_path, run, suffix):
    source, first_line = UNPARSEABLE[suffix]
    (tmp_path / f"in{suffix}").write_text(source, encoding="utf-8")
    out = tmp_path / f"out{suffix}"
    result = run(tmp_path / f"in{suffix}", "-o", out)
    assert result.exit_code == 3, result.output
    assert "rows read 2; scored 0;" in result.stderr  # the summary is still printed, before the error
    line = one_error_line(result)
    assert re.search(rf"nothing was scored: all 2 rows read could not be parsed \(the first: in\{suffix} line {first_line}: .+\) "
                     rf"and were set aside in {re.escape(str(out))}\.rejects, .*run again with --overwrite$", line), line
    assert len((tmp_path / f"out{suffix}.rejects").read_text(encoding="utf-8").splitlines()) == 2


def test_a_run_that_scores_some_rows_exits_0_and_counts_the_others(tmp_path, run):
    (tmp_path / "in.csv").write_text("id,text\n1,a,b\n2,a fair point\n", encoding="utf-8")
    result = run(tmp_path / "in.csv", "-o", tmp_path / "out.csv")
    assert result.exit_code == 0, result.output
    assert "scored 1;" in result.stderr and "rejected 1" in result.stderr
    assert f"1 row could not be parsed and is in {tmp_path / 'out.csv.rejects'}" in result.stderr


@pytest.mark.parametrize("existing", ["out.csv", "out.csv.rejects"])
def test_an_earlier_output_is_refused_before_the_model_loads(tmp_path, run, existing):
    write_table(archive_frame(5), tmp_path / "in.csv")
    (tmp_path / existing).write_text("earlier results\n", encoding="utf-8")
    # A missing bundle would be the error if the model were loaded (or verified) first.
    result = run(tmp_path / "in.csv", "-o", tmp_path / "out.csv", "--model", tmp_path / "no-bundle")
    assert result.exit_code == 2, result.output
    line = one_error_line(result)
    assert line.startswith(f"Error: {tmp_path / existing} already exists: pass --overwrite"), line
    assert (tmp_path / existing).read_text(encoding="utf-8") == "earlier results\n"
    assert not spool_path(tmp_path / "out.csv").exists()


def test_overwrite_replaces_the_output_and_removes_a_stale_rejects_file(tmp_path, run):
    write_table(archive_frame(5), tmp_path / "in.csv")
    (tmp_path / "out.csv").write_text("earlier results\n", encoding="utf-8")
    (tmp_path / "out.csv.rejects").write_text("{}\n", encoding="utf-8")
    result = run(tmp_path / "in.csv", "-o", tmp_path / "out.csv", "--overwrite")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "out.csv").read_text(encoding="utf-8").startswith("id,text,")
    assert not (tmp_path / "out.csv.rejects").exists()


def test_resume_continues_over_the_parts_a_stopped_run_wrote_without_overwrite(tmp_path, run, monkeypatch):
    from service import spool

    (tmp_path / "parts").mkdir()
    frame = archive_frame(40)
    write_table(frame.iloc[:20], tmp_path / "parts" / "a.parquet", row_group_rows=5)
    write_table(frame.iloc[20:], tmp_path / "parts" / "b.parquet", row_group_rows=5)
    assert run(tmp_path / "parts", "-o", tmp_path / "expected", "--chunk-size", 10).exit_code == 0
    real_write, calls = spool.TableWriter.write, []

    def fill_the_disk_in_part_b(self, frame):
        calls.append(1)
        if len(calls) == 3:  # a: chunks 1 and 2 written, then b's first
            raise OSError(errno.ENOSPC, "No space left on device", str(self.path))
        real_write(self, frame)

    monkeypatch.setattr(spool.TableWriter, "write", fill_the_disk_in_part_b)
    stopped = run(tmp_path / "parts", "-o", tmp_path / "scored", "--chunk-size", 10)
    assert stopped.exit_code == 2 and "--resume" in stopped.stderr, stopped.output
    assert (tmp_path / "scored" / "a.parquet").exists() and not (tmp_path / "scored" / "b.parquet").exists()
    monkeypatch.setattr(spool.TableWriter, "write", real_write)
    again = run(tmp_path / "parts", "-o", tmp_path / "scored", "--chunk-size", 10)
    line = one_error_line(again)
    assert "a.parquet already exists: pass --overwrite" in line and line.endswith("pass --resume"), line
    resumed = run(tmp_path / "parts", "-o", tmp_path / "scored", "--chunk-size", 10, "--resume")
    assert resumed.exit_code == 0, resumed.output
    for name in ("a.parquet", "b.parquet"):
        assert (pq.read_table(tmp_path / "scored" / name).to_pylist()
                == pq.read_table(tmp_path / "expected" / name).to_pylist())


def test_a_later_part_without_the_text_column_is_refused_before_any_part_is_scored(tmp_path, run):
    (tmp_path / "parts").mkdir()
    pq.write_table(pa.table({"id": [1, 2], "text": ["a fair point", "another"]}), tmp_path / "parts" / "a.parquet")
    pq.write_table(pa.table({"id": [3, 4], "Text": ["a fair point", "another"]}), tmp_path / "parts" / "b.parquet")
    result = run(tmp_path / "parts", "-o", tmp_path / "scored")
    assert result.exit_code == 2, result.output
    line = one_error_line(result)
    assert f"{tmp_path / 'parts' / 'b.parquet'}: no column 'text'; columns found: 'id', 'Text'; did you mean 'Text'? (pass --text-column NAME to read another)" in line
    assert not list((tmp_path / "scored").iterdir()) and not spool_path(tmp_path / "scored").exists()


def test_a_dash_for_standard_output_is_refused_saying_why(tmp_path, run):
    result = run(write_table(archive_frame(3), tmp_path / "in.csv"), "-o", "-")
    assert result.exit_code == 2
    assert re.search(r"^Error: OUTPUT '-': moderate score writes a file, not standard output .*name a \.csv",
                     one_error_line(result))


def test_a_dash_for_standard_input_is_refused_saying_why(tmp_path, run):
    result = run("-", "-o", tmp_path / "out.csv")
    assert result.exit_code == 2
    assert re.search(r"^Error: INPUT '-': moderate score reads a file, not standard input .*save the table",
                     one_error_line(result))


@pytest.mark.parametrize(("name", "message"), [
    ("comments.xlsx", r"comments\.xlsx: a spreadsheet workbook is not read: save the sheet from the spreadsheet as a "
                      r"\.csv \(Excel: \"CSV UTF-8\"\)$"),
    ("comments.tsv", r"comments\.tsv: tab-separated text is not read: save it with commas"),
    ("comments.json", r"comments\.json: a JSON document is not read, JSON Lines is .*`jq -c '\.\[\]' IN\.json > OUT\.jsonl`$"),
])
def test_a_workbook_tsv_or_json_input_is_refused_saying_how_to_make_a_table_that_is_read(tmp_path, run, name, message):
    (tmp_path / name).write_bytes(b"id\ttext\n1\ta\n")
    result = run(tmp_path / name, "-o", tmp_path / "out.csv")
    assert result.exit_code == 2
    assert re.search(message, one_error_line(result)), result.stderr


def test_a_text_column_that_holds_no_text_is_pointed_out(tmp_path, run):
    rows = [{"id": 1, "text": "a fair point", "votes": 3}, {"id": 2, "text": "another one", "votes": 5}]
    (tmp_path / "in.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    wrong = run(tmp_path / "in.jsonl", "-o", tmp_path / "wrong.jsonl", "--text-column", "votes")
    assert wrong.exit_code == 0, wrong.output
    assert ("every text was empty or not text, so every row was approved as \"empty\": is the text of the comments in "
            "column 'votes'? (--text-column)") in wrong.stderr
    right = run(tmp_path / "in.jsonl", "-o", tmp_path / "right.jsonl")
    assert right.exit_code == 0 and "every text was empty" not in right.stderr


def ignores_sigint(pid: int) -> bool:
    """Whether process ``pid`` ignores SIGINT (Linux: the SigIgn mask of /proc/PID/status)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("SigIgn:"):
            return bool(int(line.split()[1], 16) & (1 << (signal.SIGINT - 1)))
    raise AssertionError(f"no SigIgn line for process {pid}")


@pytest.fixture
def ctrl_c_stops_this_process():
    """SIGINT handled as in a terminal, even when the tests run where it is ignored (a shell's background job)."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads /proc/PID/status (Linux)")
def test_worker_processes_leave_ctrl_c_to_the_command(tmp_path, run, monkeypatch, ctrl_c_stops_this_process):
    """A terminal's Ctrl-C reaches the workers too; one it stopped could hang Pool.terminate (seen with --jobs 2)."""
    from service import archive

    real_score, seen = archive.score_parts_locally, {}

    def note_the_workers(job, spool, moderate, attributes, progress):
        workers = moderate.__self__._pool._pool  # ScorerPool -> multiprocessing.Pool -> its processes
        seen.update({process.pid: ignores_sigint(process.pid) for process in workers})
        seen["command"] = ignores_sigint(os.getpid())
        real_score(job, spool, moderate, attributes, progress)

    monkeypatch.setattr(archive, "score_parts_locally", note_the_workers)
    source = write_table(archive_frame(20), tmp_path / "in.csv")
    result = run(source, "-o", tmp_path / "out.csv", "--jobs", 2)
    assert result.exit_code == 0, result.output
    assert seen.pop("command") is False  # the command itself still stops on Ctrl-C
    assert len(seen) == 2 and all(seen.values()), seen
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


@pytest.mark.slow  # a LocalCluster of two workers, each loading the bundle
@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads /proc/PID/status (Linux)")
def test_dask_worker_processes_leave_ctrl_c_to_the_command(tmp_path, run, monkeypatch, ctrl_c_stops_this_process):
    from service import archive_dask

    real_client, seen = archive_dask._client, {}

    def note_the_workers(jobs, scheduler):
        client, cluster = real_client(jobs, scheduler)
        seen.update({pid: ignores_sigint(pid) for pid in client.run(os.getpid).values()})
        return client, cluster

    monkeypatch.setattr(archive_dask, "_client", note_the_workers)
    source = write_table(archive_frame(20), tmp_path / "in.csv")
    result = run(source, "-o", tmp_path / "out.csv", "--engine", "dask", "--jobs", 2)
    assert result.exit_code == 0, result.output
    assert len(seen) == 2 and all(seen.values()), seen


@pytest.mark.slow  # a LocalCluster of one worker
def test_a_local_dask_cluster_starts_cleanly_while_port_8787_is_taken():
    """Two local Dask jobs at once (two editors, or two test processes): the scheduler's HTTP routes asked for port
    8787 first, and when it was taken distributed leaked the socket it had tried (a ResourceWarning, which failed
    this suite when two such tests overlapped) and warned that it chose another port."""
    from service import archive_dask

    holder = socket.socket()
    try:
        holder.bind((archive_dask.LOCAL_HOST, 8787))
        holder.listen()
    except OSError:
        pass  # taken already: the same condition
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            client, cluster = archive_dask._client(1, None)
            client.close()
            cluster.close()
            del client, cluster
            gc.collect()
    finally:
        holder.close()
    about_ports = [str(w.message) for w in caught
                   if issubclass(w.category, ResourceWarning) or "already in use" in str(w.message)]
    assert about_ports == []


def test_the_help_lists_the_exit_statuses(run):
    result = run("--help")
    assert result.exit_code == 0
    statuses = result.output[result.output.index("Exit status:"):]
    assert [line.split()[0] for line in statuses.splitlines()[1:] if re.match(r"\s+\d+\s", line)] == ["0", "2", "3",
                                                                                                       "130"]


def test_json_lines_ids_missing_from_the_first_chunk_still_make_a_parquet_output(tmp_path, tiny_bundle_path):
    """The first chunk's all-null id column was typed null and every later chunk's ids failed to cast to it."""
    rows = [{"id": None if i < 4 else i, "text": f"comment number {i}"} for i in range(10)]
    source = tmp_path / "in.jsonl"
    source.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    result = CliRunner().invoke(cli, ["score", str(source), "-o", str(tmp_path / "out.parquet"), "--chunk-size", "4"],
                                env={"MODERATION_MODEL": str(tiny_bundle_path)})
    assert result.exit_code == 0, result.output
    assert pq.read_table(tmp_path / "out.parquet").column("id").to_pylist() == [None] * 4 + list(range(4, 10))


def test_a_column_with_text_and_numbers_in_different_chunks_keeps_the_first_chunks_type(tmp_path, tiny_bundle_path):
    rows = [{"id": f"c{i}" if i < 4 else i, "text": f"comment number {i}"} for i in range(8)]
    source = tmp_path / "in.jsonl"
    source.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    result = CliRunner().invoke(cli, ["score", str(source), "-o", str(tmp_path / "out.parquet"), "--chunk-size", "4"],
                                env={"MODERATION_MODEL": str(tiny_bundle_path)})
    assert result.exit_code == 0, result.output
    assert pq.read_table(tmp_path / "out.parquet").column("id").to_pylist() == ["c0", "c1", "c2", "c3", "4", "5", "6", "7"]


@pytest.mark.parametrize("first_ids", [[0, 1], ["c0", "c1"]])
def test_a_json_lines_key_first_seen_after_the_first_chunk_is_a_column_of_the_parquet_output(tmp_path, tiny_bundle_path,
                                                                                            first_ids):
    """An optional key (a reply's parent id, an edit time) first met in a later chunk failed the join of the scored
    chunks at the end of the run, saying a column held values of different types: the whole run was lost."""
    rows = [{"id": first_ids[0], "text": "a fair point"}, {"id": first_ids[1], "text": "another fair point"},
            {"id": 2, "text": "a reply", "parent": 0}, {"id": 3, "parent": 1, "text": "a second reply"},
            {"id": 4, "text": "no parent"}]
    source = tmp_path / "in.jsonl"
    source.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    result = CliRunner().invoke(cli, ["score", str(source), "-o", str(tmp_path / "out.parquet"), "--chunk-size", "2"],
                                env={"MODERATION_MODEL": str(tiny_bundle_path)})
    assert result.exit_code == 0, result.output
    table = pq.read_table(tmp_path / "out.parquet")
    assert table.column("parent").to_pylist() == [None, None, 0, 1, None]
    assert table.column("text").to_pylist() == [row["text"] for row in rows]
    assert table.column("id").to_pylist() == [str(i) if isinstance(first_ids[0], str) else i
                                              for i in [*first_ids, 2, 3, 4]]


def test_a_column_of_numbers_then_text_in_a_later_chunk_is_named_when_the_parquet_output_cannot_hold_it(tmp_path,
                                                                                                        tiny_bundle_path):
    rows = [{"id": 1, "n": 1, "text": "a fair point"}, {"id": 2, "n": 2, "text": "another"},
            {"id": 3, "n": "three", "text": "a third"}]
    source = tmp_path / "in.jsonl"
    source.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    result = CliRunner().invoke(cli, ["score", str(source), "-o", str(tmp_path / "out.parquet"), "--chunk-size", "2"],
                                env={"MODERATION_MODEL": str(tiny_bundle_path)})
    assert result.exit_code == 2, result.output
    assert "cannot write Parquet, column 'n' holds values of different types in different rows" in one_error_line(result)


@pytest.mark.parametrize(("suffix", "first", "second"), [
    (".jsonl", '{"id": "1", "text": "a fair point"}\n', '{"id": "2", "text": "another fair point"}\n'),
    (".csv", "id,text\n1,a fair point\n", "2,another fair point\n"),
])
def test_a_byte_order_mark_of_a_file_concatenated_to_another_is_not_part_of_a_row(tmp_path, run, suffix, first, second):
    """``cat a.jsonl b.jsonl > all.jsonl`` where b was saved with a BOM: its rows are rows like the others."""
    source = tmp_path / f"in{suffix}"
    source.write_bytes(b"\xef\xbb\xbf" + first.encode() + b"\xef\xbb\xbf" + second.encode())
    result = run(source, "-o", tmp_path / "out.jsonl", "--chunk-size", 1)
    assert result.exit_code == 0, result.output
    assert "rejected 0" in result.stderr
    rows = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [row["id"] for row in rows] == ["1", "2"]


@pytest.mark.parametrize("output", ["out.csv", "parts"])
def test_the_join_a_killed_run_left_is_removed_by_the_next_run_but_not_a_running_ones(tmp_path, run, output):
    """A run killed (SIGKILL) while joining its chunks leaves ``.<OUTPUT>.<pid>.partial`` beside its output."""
    from tests.test_cli_training_safety import finished_process_id

    if output == "parts":
        (tmp_path / "in").mkdir()
        write_table(archive_frame(3), tmp_path / "in" / "part-0.parquet")
        source, folder, name = tmp_path / "in", tmp_path / "parts", "part-0.parquet"
        folder.mkdir()
    else:
        (tmp_path / "in.csv").write_text("id,text\n1,a fair point\n", encoding="utf-8")
        source, folder, name = tmp_path / "in.csv", tmp_path, "out.csv"
    killed = folder / f".{name}.{finished_process_id()}.partial"
    joining = folder / f".{name}.{os.getppid()}.partial"  # a process still running
    another_output = folder / f".other.csv.{finished_process_id()}.partial"
    for path in (killed, joining, another_output):
        path.write_bytes(b"half a join")
    result = run(source, "-o", tmp_path / output)
    assert result.exit_code == 0, result.output
    assert not killed.exists()
    assert joining.read_bytes() == another_output.read_bytes() == b"half a join"


def test_a_header_row_repeated_by_concatenated_csv_files_is_rejected_not_scored(tmp_path, run):
    """``cat a.csv b.csv > all.csv`` keeps b's header: it was scored as a comment whose text is "text"."""
    source = tmp_path / "in.csv"
    source.write_text("id,text\n1,a fair point\nid,text\n2,another view\n", encoding="utf-8")
    result = run(source, "-o", tmp_path / "out.csv")
    assert result.exit_code == 0, result.output
    assert "rejected 1" in result.stderr and "the header row again" in result.stderr
    assert [line.split(",")[0] for line in (tmp_path / "out.csv").read_text(encoding="utf-8").splitlines()[1:]] == ["1", "2"]
    rejects = [json.loads(line) for line in (tmp_path / "out.csv.rejects").read_text(encoding="utf-8").splitlines()]
    assert [reject["line"] for reject in rejects] == [3]


@pytest.mark.parametrize(("name", "content", "ids", "lines"), [
    # An export cut off while writing, after a whole chunk: the last chunk is one unreadable line and no row.
    ("in.jsonl", '{"id": "01", "text": "a fair point"}\n{"id": "02", "text": "another view"}\n{"id": "03", "te',
     ["01", "02"], [3]),
    # A garbled stretch in the middle of a JSON Lines file: a chunk of unreadable lines only.
    ("in.jsonl", '{"id": "01", "text": "a fair point"}\n{"id": "02", "text": "another view"}\n<html>\n{bad\n'
                 '{"id": "05", "text": "the last comment"}\n', ["01", "02", "05"], [3, 4]),
    # The same at the start of a CSV: the first chunk has the columns, but no row to type them.
    ("in.csv", "id,text\n01,a,b\n02,c,d\n03,a fair point\n", ["03"], [2, 3]),
], ids=["jsonl-cut-off", "jsonl-garbled", "csv-garbled-start"])
def test_a_chunk_whose_rows_were_all_set_aside_does_not_stop_a_parquet_output(tmp_path, run, name, content, ids, lines):
    """Its segment has no rows (a JSON Lines one not even the input's columns) and failed to join with the others."""
    source = tmp_path / name
    source.write_text(content, encoding="utf-8")
    result = run(source, "-o", tmp_path / "out.parquet", "--chunk-size", 2)
    assert result.exit_code == 0, result.output
    table = pq.read_table(tmp_path / "out.parquet")
    assert table.column("id").to_pylist() == ids
    assert {table.schema.field(name).type for name in ("id", "decision")} <= {pa.string(), pa.large_string()}
    rejects = [json.loads(line) for line in (tmp_path / "out.parquet.rejects").read_text(encoding="utf-8").splitlines()]
    assert [reject["line"] for reject in rejects] == lines


@pytest.mark.parametrize("name", ["in.csv", "in.parquet"])
def test_an_input_with_no_rows_gives_a_parquet_output_of_the_same_types_as_one_with_rows(tmp_path, run, name):
    """A day's export with no comments: its columns were typed null and decision and reasons double, so the day's output
    did not read together with the others'."""
    rows, empty = tmp_path / "rows" / name, tmp_path / "empty" / name
    for path, ids in ((rows, ["007"]), (empty, [])):
        path.parent.mkdir()
        write_table(pd.DataFrame({"id": pd.Series(ids, dtype=str), "text": pd.Series(["a fair point"][:len(ids)], dtype=str)}), path)
        result = run(path, "-o", path.parent / "out.parquet")
        assert result.exit_code == 0, result.output
    assert pq.read_table(empty.parent / "out.parquet").num_rows == 0
    assert pq.read_schema(empty.parent / "out.parquet") == pq.read_schema(rows.parent / "out.parquet")


def test_the_chunk_size_comes_from_the_score_chunk_rows_setting_unless_given(tmp_path, tiny_bundle_path, monkeypatch):
    """README lists SCORE_CHUNK_ROWS as a setting; `moderate score` read only its own default."""
    import importlib

    score_command = importlib.import_module("service.cli.score")  # the module, not the command it names
    used = []
    monkeypatch.setattr(score_command, "_score_archive", lambda *args: used.append(args[5]))
    source = write_table(archive_frame(5), tmp_path / "in.csv")

    def invoke(*args, **env):
        return CliRunner().invoke(cli, ["score", str(source), "-o", str(tmp_path / "out.csv"), *args],
                                  env={"MODERATION_MODEL": str(tiny_bundle_path), **env})

    assert invoke(MODERATION_SCORE_CHUNK_ROWS="2").exit_code == 0
    assert invoke("--chunk-size", "3", MODERATION_SCORE_CHUNK_ROWS="2").exit_code == 0
    assert invoke().exit_code == 0
    assert used == [2, 3, 5000]
    result = invoke(MODERATION_SCORE_CHUNK_ROWS="0")
    assert result.exit_code == 2 and "SCORE_CHUNK_ROWS" in one_error_line(result)


def test_ndjson_is_read_and_written_as_json_lines(tmp_path, run):
    """Newline-delimited JSON is JSON Lines under another name; ``.ndjson`` was refused as an unknown extension."""
    rows = [{"id": 1, "text": "You are a stupid clown."}, {"id": 2, "text": "Thanks for the article."}]
    (tmp_path / "in.ndjson").write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    result = run(tmp_path / "in.ndjson", "-o", tmp_path / "out.ndjson")
    assert result.exit_code == 0, result.output
    scored = [json.loads(line) for line in (tmp_path / "out.ndjson").read_text(encoding="utf-8").splitlines()]
    assert [(row["id"], row["text"]) for row in scored] == [(1, rows[0]["text"]), (2, rows[1]["text"])]
    assert all(row["decision"] in ("approve", "review", "reject") for row in scored)
