"""Archive runs of ``moderate score``: chunking, resume after a kill or a full disk, rejects, and the Dask engine."""

from __future__ import annotations

import errno
import importlib
import json
import os
import random
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from service.cli import cli
from service.spool import spool_path
from tests.corpus import make_corpus

ROOT = Path(__file__).resolve().parents[1]


def archive_frame(n: int, seed: int = 0) -> pd.DataFrame:
    """``n`` comments with ids, a few of them empty, multi-line or quoted, as an archive holds them."""
    texts = make_corpus(n, seed=seed)["text"].tolist()
    for i in range(0, n, 17):
        texts[i] = ""
    for i in range(5, n, 23):
        texts[i] = f'line one, "quoted"\nline two of {i}'
    return pd.DataFrame({"id": [f"c{i}" for i in range(n)], "text": texts})


def write_table(frame: pd.DataFrame, path: Path, row_group_rows: int = 40) -> Path:
    if path.suffix == ".csv":
        frame.to_csv(path, index=False)
    elif path.suffix == ".jsonl":
        frame.to_json(path, orient="records", lines=True, force_ascii=False)
    else:
        pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), path, row_group_size=row_group_rows)
    return path


@pytest.fixture
def run(tiny_bundle_path):
    def invoke(*args):
        return CliRunner().invoke(cli, ["score", *map(str, args)], env={"MODERATION_MODEL": str(tiny_bundle_path)})

    return invoke


@pytest.mark.parametrize("suffix", [".csv", ".jsonl", ".parquet"])
def test_chunked_output_equals_whole_file_output(tmp_path, run, suffix):
    source = write_table(archive_frame(120), tmp_path / f"in{suffix}")
    whole = run(source, "-o", tmp_path / f"whole{suffix}", "--chunk-size", 10_000)
    chunked = run(source, "-o", tmp_path / f"chunked{suffix}", "--chunk-size", 7)
    assert whole.exit_code == 0 and chunked.exit_code == 0, chunked.output
    if suffix == ".parquet":
        assert pq.read_table(tmp_path / "chunked.parquet").to_pylist() == pq.read_table(tmp_path / "whole.parquet").to_pylist()
    else:
        assert (tmp_path / f"chunked{suffix}").read_bytes() == (tmp_path / f"whole{suffix}").read_bytes()
    assert not spool_path(tmp_path / f"chunked{suffix}").exists()


def test_summary_counts_rows_empty_non_text_rejects_and_writes_the_rejects_file(tmp_path, run):
    lines = [json.dumps({"id": 1, "text": "You are a stupid clown, the minister ignores the vote."}),
             json.dumps({"id": 2, "text": 42}),
             "{not json",
             json.dumps({"id": 4}),
             json.dumps(["a list"]),
             json.dumps({"id": 6, "text": "The council supports the plan and I think that is fair."})]
    (tmp_path / "in.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = run(tmp_path / "in.jsonl", "-o", tmp_path / "out.jsonl", "--chunk-size", 2)
    assert result.exit_code == 0, result.output
    assert "rows read 6; scored 4; empty 2 (of which not text 1); rejected 2" in result.stderr
    assert "in.jsonl line 3: not valid JSON" in result.stderr
    out = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [row["id"] for row in out] == [1, 2, 4, 6]
    assert out[1]["text"] == 42 and out[1]["decision"] == "approve"
    rejects = [json.loads(line) for line in (tmp_path / "out.jsonl.rejects").read_text(encoding="utf-8").splitlines()]
    assert [(r["part"], r["line"], r["raw"].strip()) for r in rejects] == [("in.jsonl", 3, "{not json"), ("in.jsonl", 5, '["a list"]')]
    # A later clean run over it removes the stale rejects file rather than leave it beside a good output.
    (tmp_path / "in.jsonl").write_text(lines[0] + "\n", encoding="utf-8")
    assert run(tmp_path / "in.jsonl", "-o", tmp_path / "out.jsonl", "--overwrite").exit_code == 0
    assert not (tmp_path / "out.jsonl.rejects").exists()


def test_bad_csv_rows_are_rejected_with_line_numbers_not_dropped(tmp_path, run):
    # A UTF-8 file (row 5's accent) with one damaged row: that row is set aside (a file not UTF-8 at all is refused).
    (tmp_path / "in.csv").write_bytes(b'id,text\n1,fine\n2,too,many\n3,"multi\nline"\n4,caf\xe9\n5,l\xc3\xa4st\n')
    result = run(tmp_path / "in.csv", "-o", tmp_path / "out.csv")
    assert result.exit_code == 0, result.output
    assert pd.read_csv(tmp_path / "out.csv", dtype=str)["id"].tolist() == ["1", "3", "5"]
    rejects = [json.loads(line) for line in (tmp_path / "out.csv.rejects").read_text(encoding="utf-8").splitlines()]
    assert [r["line"] for r in rejects] == [3, 6]
    assert "expected 2 fields" in rejects[0]["error"] and "not UTF-8" in rejects[1]["error"]
    # The file is UTF-8 elsewhere ("läst"): re-encoding it whole, the advice for a file in another encoding, would
    # turn every good letter beyond ASCII into two.
    assert "where the rest of the file is UTF-8, fix this line's bytes; a file in another encoding: re-encode" in \
        rejects[1]["error"]


def full_disk_at_the_fourth_chunk(monkeypatch) -> Callable[[], None]:
    """Make the run's fourth chunk write fail as a full disk does; return what gives the disk its room back."""
    from service import spool

    real_write = spool.TableWriter.write
    calls = []

    def write_until_full(self, frame):
        calls.append(1)
        if len(calls) == 4:
            raise OSError(errno.ENOSPC, "No space left on device", str(self.path))
        real_write(self, frame)

    monkeypatch.setattr(spool.TableWriter, "write", write_until_full)
    return lambda: monkeypatch.setattr(spool.TableWriter, "write", real_write)


def test_a_full_disk_stops_the_run_and_resume_finishes_it_exactly(tmp_path, run, monkeypatch):
    source = write_table(archive_frame(60), tmp_path / "in.csv")
    assert run(source, "-o", tmp_path / "expected.csv", "--chunk-size", 8).exit_code == 0
    room_again = full_disk_at_the_fourth_chunk(monkeypatch)
    full = run(source, "-o", tmp_path / "out.csv", "--chunk-size", 8)
    assert full.exit_code == 2
    assert "No space left on device" in full.stderr and "24 rows scored so far are kept" in full.stderr
    assert "--resume" in full.stderr and not (tmp_path / "out.csv").exists()
    room_again()
    resumed = run(source, "-o", tmp_path / "out.csv", "--chunk-size", 8, "--resume")
    assert resumed.exit_code == 0, resumed.output
    assert "36 rows scored by this run" in resumed.stderr and "rows read 60" in resumed.stderr
    assert (tmp_path / "out.csv").read_bytes() == (tmp_path / "expected.csv").read_bytes()
    assert not spool_path(tmp_path / "out.csv").exists()


def test_a_work_file_cut_short_after_its_record_is_scored_again_on_resume(tmp_path, run, monkeypatch):
    """A crash of the machine can leave a chunk's record on the disk and its segment cut short (the record said the
    chunk was done); resume joined the cut segment and reported every row scored. The chunk is scored again instead."""
    source = write_table(archive_frame(60), tmp_path / "in.csv")
    assert run(source, "-o", tmp_path / "expected.csv", "--chunk-size", 8).exit_code == 0
    room_again = full_disk_at_the_fourth_chunk(monkeypatch)
    assert run(source, "-o", tmp_path / "out.csv", "--chunk-size", 8).exit_code == 2
    room_again()
    (cut,) = spool_path(tmp_path / "out.csv").glob("part-00000/chunk-000001.csv")
    cut.write_bytes(cut.read_bytes()[: cut.stat().st_size // 2])
    resumed = run(source, "-o", tmp_path / "out.csv", "--chunk-size", 8, "--resume")
    assert resumed.exit_code == 0, resumed.output
    assert "44 rows scored by this run" in resumed.stderr  # the 36 left and the 8 of the cut chunk
    assert (tmp_path / "out.csv").read_bytes() == (tmp_path / "expected.csv").read_bytes()


def test_a_work_file_cut_short_is_never_joined_into_the_output(tmp_path):
    from service.spool import Spool, SpoolError, Tally

    work = Spool(tmp_path / "out.csv", {"chunk_rows": 2, "outputs": [str(tmp_path / "out.csv")]}, resume=False)
    for chunk in range(2):
        frame = pd.DataFrame({"id": [2 * chunk, 2 * chunk + 1], "text": ["a comment", "another comment"]})
        work.write_chunk(0, chunk, frame, ".csv", Tally(read=2, scored=2), [], "in.csv")
    segment = work.segment(0, 1, ".csv")
    segment.write_bytes(segment.read_bytes()[:-3])
    with pytest.raises(SpoolError, match="chunk-000001.csv has .* bytes where .* were written"):
        work.finish_part(0, 2, tmp_path / "out.csv", ".csv")
    assert not (tmp_path / "out.csv").exists()


@pytest.mark.parametrize("wrapped", [False, True])
def test_ctrl_c_inside_a_compiled_kernel_keeps_the_scored_rows_for_resume(tmp_path, run, monkeypatch, wrapped):
    """Ctrl-C that lands inside a numba kernel's call arrives as a SystemError chained to the KeyboardInterrupt
    (seen in a real SIGINT run); it must stop the run as Ctrl-C does, exit 130 with the resume hint."""
    from service import spool

    source = write_table(archive_frame(60), tmp_path / "in.csv")
    real_write = spool.TableWriter.write
    calls = []

    def write_then_interrupt(self, frame):
        calls.append(1)
        if len(calls) == 3:
            if not wrapped:
                raise KeyboardInterrupt
            try:
                raise KeyboardInterrupt
            except KeyboardInterrupt as interrupt:
                raise SystemError("CPUDispatcher(<function scan_words>) returned a result with an exception set") from interrupt
        real_write(self, frame)

    monkeypatch.setattr(spool.TableWriter, "write", write_then_interrupt)
    stopped = run(source, "-o", tmp_path / "out.csv", "--chunk-size", 8)
    assert stopped.exit_code == 130, stopped.output
    assert "Interrupted." in stopped.stderr and "--resume" in stopped.stderr and "Traceback" not in stopped.stderr
    monkeypatch.setattr(spool.TableWriter, "write", real_write)
    assert run(source, "-o", tmp_path / "out.csv", "--chunk-size", 8, "--resume").exit_code == 0


def test_only_an_interrupt_or_what_it_caused_counts_as_one():
    from service.cli.score import interrupted

    try:
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt as interrupt:
            raise SystemError("returned a result with an exception set") from interrupt
    except SystemError as error:
        assert interrupted(error)
    assert not interrupted(SystemError("a real bug")) and not interrupted(None)


def _default_sigint() -> None:
    # A shell's background job starts with SIGINT ignored, and Python then never raises KeyboardInterrupt:
    # give the child Ctrl-C's default, as a terminal would.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _moderate(args: list, env: dict) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "service.cli", "score", *map(str, args)], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=_default_sigint)


RESUME_ROWS, RESUME_CHUNK_ROWS = 3_000, 25
"""120 chunks: a stop lands at one of 38 chunk boundaries in the first third, and the other 80 chunks (2,000 rows) leave
the test time to send the signal before the run ends, on a loaded machine too."""


@pytest.mark.slow  # three real runs of `moderate score` per case, the one stopped in a process of its own
@pytest.mark.parametrize(("suffix", "stop"), [(".csv", signal.SIGKILL), (".jsonl", signal.SIGINT), (".parquet", signal.SIGKILL)])
def test_resume_after_a_stop_at_a_random_row_equals_an_uninterrupted_run(tmp_path, tiny_bundle_path, run, suffix, stop):
    env = {**os.environ, "MODERATION_MODEL": str(tiny_bundle_path)}
    source = write_table(archive_frame(RESUME_ROWS, seed=3), tmp_path / f"in{suffix}", row_group_rows=1_000)
    chunk = ["--chunk-size", RESUME_CHUNK_ROWS]
    expected, out = tmp_path / f"expected{suffix}", tmp_path / f"out{suffix}"
    # Only the run that is stopped needs a process of its own: the others are the same command, run in this one.
    uninterrupted = run(source, "-o", expected, *chunk)
    assert uninterrupted.exit_code == 0, uninterrupted.output
    n_chunks = RESUME_ROWS // RESUME_CHUNK_ROWS
    stop_after = random.Random(str(stop) + suffix).randrange(2, n_chunks // 3)  # a chunk count, i.e. row 25 * k
    process = _moderate([source, "-o", out, *chunk], env)
    folder = spool_path(out) / "part-00000"
    deadline = time.monotonic() + 240
    while len(list(folder.glob("chunk-*.json"))) < stop_after and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.002)
    assert process.poll() is None, "the run ended before it could be stopped: make the input larger"
    process.send_signal(stop)
    _, stderr = process.communicate(timeout=60)
    if stop == signal.SIGKILL:
        assert process.returncode == -signal.SIGKILL
    if stop == signal.SIGINT:
        assert process.returncode == 130 and "--resume" in stderr, stderr
    assert not out.exists()
    done = len(list(folder.glob("chunk-*.json")))
    assert stop_after <= done < n_chunks
    resumed = run(source, "-o", out, *chunk, "--resume")
    assert resumed.exit_code == 0, resumed.output
    assert f"{RESUME_ROWS - RESUME_CHUNK_ROWS * done:,} rows scored by this run" in resumed.stderr
    if suffix == ".parquet":
        assert pq.read_table(out).to_pylist() == pq.read_table(expected).to_pylist()
    else:
        assert out.read_bytes() == expected.read_bytes()
    assert not spool_path(out).exists()


def test_a_parquet_folder_gives_one_output_part_per_input_part(tmp_path, run):
    (tmp_path / "parts").mkdir()
    frame = archive_frame(50)
    write_table(frame.iloc[:30], tmp_path / "parts" / "a.parquet", row_group_rows=7)
    write_table(frame.iloc[30:], tmp_path / "parts" / "B.PARQUET", row_group_rows=7)  # any case, as output names
    (tmp_path / "parts" / "_SUCCESS").write_text("")
    result = run(tmp_path / "parts", "-o", tmp_path / "scored", "--chunk-size", 9)
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (tmp_path / "scored").iterdir()) == ["B.PARQUET", "a.parquet"]
    for name, rows in (("a.parquet", frame.iloc[:30]), ("B.PARQUET", frame.iloc[30:])):
        assert pq.read_table(tmp_path / "scored" / name).column("id").to_pylist() == rows["id"].tolist()


def one_local_cluster_for_every_run(monkeypatch) -> list:
    """Make the Dask runs of a test share the LocalCluster the first one starts (as ``moderate score --engine dask``
    starts one), rather than each start and stop its own: each run still connects its own client and registers its
    scorer on the workers. Returns the list the cluster is put in, for the test to close."""
    from distributed import Client

    from service import archive_dask

    real_client, clusters = archive_dask._client, []

    def shared(jobs: int, scheduler: str | None):
        if clusters:
            return Client(clusters[0]), None
        client, cluster = real_client(jobs, scheduler)
        clusters.append(cluster)
        return client, None  # None: the run closes its client, not the cluster

    monkeypatch.setattr(archive_dask, "_client", shared)
    return clusters


@pytest.mark.slow  # a LocalCluster of two workers, each loading the bundle, for two runs: 11 s here when quiet
def test_dask_engine_equals_the_local_engine_row_by_row(tmp_path, run, monkeypatch):
    (tmp_path / "parts").mkdir()
    frame = archive_frame(90)
    write_table(frame.iloc[:50], tmp_path / "parts" / "a.parquet", row_group_rows=10)
    write_table(frame.iloc[50:], tmp_path / "parts" / "b.parquet", row_group_rows=10)
    write_table(frame, tmp_path / "in.csv")
    (tmp_path / "in.csv").write_text((tmp_path / "in.csv").read_text(encoding="utf-8") + "x,y,z\n", encoding="utf-8")
    clusters = one_local_cluster_for_every_run(monkeypatch)
    try:
        for source, local, dask in (("parts", "local_parts", "dask_parts"), ("in.csv", "local.csv", "dask.csv")):
            assert run(tmp_path / source, "-o", tmp_path / local, "--chunk-size", 20).exit_code == 0
            result = run(tmp_path / source, "-o", tmp_path / dask, "--chunk-size", 20, "--engine", "dask", "--jobs", 2)
            assert result.exit_code == 0, result.output
        assert len(clusters) == 1 and len(clusters[0].workers) == 2  # both runs scored on the same two workers
    finally:
        for cluster in clusters:
            cluster.close()
    for name in ("a.parquet", "b.parquet"):
        assert (pq.read_table(tmp_path / "dask_parts" / name).to_pylist()
                == pq.read_table(tmp_path / "local_parts" / name).to_pylist())
    assert (tmp_path / "dask.csv").read_bytes() == (tmp_path / "local.csv").read_bytes()
    assert (tmp_path / "dask.csv.rejects").read_text() == (tmp_path / "local.csv.rejects").read_text()
    assert "rejected 1" in result.stderr


@pytest.mark.slow  # a LocalCluster of one worker loading the bundle
def test_dask_engine_keeps_the_json_types_of_json_lines_cells(tmp_path, run):
    """Dask turned every object column of a partition into strings: ids 1 -> "1", {"a": 1} -> "{'a': 1}", true -> "True"."""
    rows = [{"id": 1, "text": "a fair point", "meta": {"likes": [1, 2]}, "flag": True, "score": 1.5},
            {"id": 2, "text": None, "meta": None, "flag": False, "score": None},
            {"id": 3, "text": 12, "meta": {"a": "b"}, "flag": None, "score": 2}]
    source = tmp_path / "in.jsonl"
    source.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    for engine in ("local", "dask"):
        result = run(source, "-o", tmp_path / f"{engine}.jsonl", "--chunk-size", 2, "--engine", engine, "--jobs", 1)
        assert result.exit_code == 0, result.output
    scored = [json.loads(line) for line in (tmp_path / "dask.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [{key: row.get(key) for key in rows[0]} for row in scored] == rows
    assert (tmp_path / "dask.jsonl").read_bytes() == (tmp_path / "local.jsonl").read_bytes()


def test_scheduler_needs_the_dask_engine(tmp_path, run):
    result = run(tmp_path / "in.csv", "-o", tmp_path / "out.csv", "--scheduler", "tcp://127.0.0.1:8786")
    assert result.exit_code == 2 and "--scheduler needs --engine dask" in result.stderr


def test_away_from_a_terminal_progress_is_a_log_line_with_rate_and_time_left(tmp_path, monkeypatch):
    import io

    from service import archive

    source = write_table(archive_frame(10), tmp_path / "in.csv")
    job = archive.plan_job(source, tmp_path / "out.csv")
    stream = io.StringIO()
    progress = archive.Progress(job, stream)
    progress.update(source.stat().st_size // 4, 1_000)
    assert stream.getvalue() == ""  # not a minute yet
    monkeypatch.setattr(archive, "LOG_INTERVAL_SECONDS", 0.0)
    progress.update(source.stat().st_size // 4, 1_000)
    line = stream.getvalue()
    assert re.fullmatch(r"moderate score: 2,000 rows scored, 50% of the input, [\d,]+ rows/s, about .+ left\n", line), line


def test_the_time_left_after_a_resume_counts_only_the_work_of_this_run(tmp_path, monkeypatch):
    import io

    from service import archive

    source = write_table(archive_frame(40), tmp_path / "in.csv")
    size = source.stat().st_size
    stream = io.StringIO()
    progress = archive.Progress(archive.plan_job(source, tmp_path / "out.csv"), stream)
    progress.skip(size // 2)  # done by the interrupted run: no time of this one
    monkeypatch.setattr(archive, "LOG_INTERVAL_SECONDS", 0.0)
    progress.started -= 60  # a quarter of the input scored in a minute: the last quarter takes another
    progress.update(size // 4, 1_000)
    line = stream.getvalue().splitlines()[-1]
    assert re.search(r"1,000 rows scored, 75% of the input, .* about 6\d s left$", line), line


def test_score_text_imports_neither_the_web_service_nor_dask(tiny_bundle_path):
    result = subprocess.run([sys.executable, "-X", "importtime", "-m", "service.cli", "score", "--text", "Hello there."],
                            cwd=ROOT, env={**os.environ, "MODERATION_MODEL": str(tiny_bundle_path)},
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    imported = {line.split("|")[-1].strip() for line in result.stderr.splitlines() if line.startswith("import time:")}
    assert not {"flask", "sqlalchemy", "gunicorn", "dask", "distributed"} & imported
    assert json.loads(result.stdout)["decision"] == "approve"


def test_the_summary_writes_every_count_with_thousands_separators(tmp_path):
    from collections import Counter

    from service.archive import Job, summary_lines
    from service.spool import Tally

    job = Job(inputs=(tmp_path / "in.csv",), outputs=(tmp_path / "out.csv",), output=tmp_path / "out.csv")
    tally = Tally(read=1_000_000, scored=999_998, rejected=2, decisions=Counter(approve=812_344, review=187_654))
    first = summary_lines(job, tally, [], 512.3, 999_998)[0]
    assert first == f"Scored 999,998 rows into {tmp_path / 'out.csv'} (812,344 approve, 187,654 review)"


@pytest.mark.parametrize("again", [True, False])
def test_what_a_stopped_run_kept_is_counted_with_thousands_separators(tmp_path, again):
    from service.cli.score import _kept
    from service.spool import Tally

    class Stopped:
        root = tmp_path

        def finished(self):
            return Tally(read=55_000, scored=55_000)

    assert "55,000 rows scored so far" in _kept([Stopped()], again=again)


def _moderate_in_a_session(args: list, env: dict) -> subprocess.Popen:
    """``_moderate`` in a process group of its own: a signal to the group reaches its workers, never pytest."""
    return subprocess.Popen([sys.executable, "-m", "service.cli", "score", *map(str, args)], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=_default_sigint,
                            start_new_session=True)


STOPPED_ROWS = 1_200
"""48 chunks of RESUME_CHUNK_ROWS: the run is stopped after its first, about 1 s before it would end (here, unloaded)."""


@pytest.mark.parametrize(("jobs", "to"), [(1, "command"), (2, "command"), (2, "group")])
def test_sigterm_stops_a_run_as_ctrl_c_does_and_resume_finishes_it(tmp_path, tiny_bundle_path, run, jobs, to):
    """`kill PID`, `timeout`, `systemctl stop`, `docker stop`: the run ended without a word (status 143 or -15), with
    --jobs 2 sometimes with the workers' BrokenPipeError tracebacks and a leaked-semaphore warning. Now as Ctrl-C:
    one line saying what is kept, status 143. "group": SIGTERM to every process of the run, as `timeout` and
    systemd send it; the workers leave it to the command, which stops them."""
    env = {**os.environ, "MODERATION_MODEL": str(tiny_bundle_path)}
    source = write_table(archive_frame(STOPPED_ROWS, seed=4), tmp_path / "in.csv")
    chunk = ["--chunk-size", RESUME_CHUNK_ROWS]
    out = tmp_path / "out.csv"
    process = _moderate_in_a_session([source, "-o", out, *chunk, "--jobs", jobs], env)
    folder = spool_path(out) / "part-00000"
    deadline = time.monotonic() + 240
    while not any(folder.glob("chunk-*.json")) and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.002)
    assert process.poll() is None, "the run ended before it could be stopped: make the input larger"
    if to == "group":
        os.killpg(process.pid, signal.SIGTERM)
    else:
        process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=60)
    done = len(list(folder.glob("chunk-*.json")))
    assert process.returncode == 143, stderr
    assert stderr.splitlines() == [f"Terminated. {RESUME_CHUNK_ROWS * done:,} rows scored so far are kept in "
                                   f"{spool_path(out)}; run the same command with --resume to continue"], stderr
    assert not out.exists() and 1 <= done < STOPPED_ROWS // RESUME_CHUNK_ROWS
    resumed = run(source, "-o", out, *chunk, "--resume")
    assert resumed.exit_code == 0, resumed.output
    assert f"{STOPPED_ROWS - RESUME_CHUNK_ROWS * done:,} rows scored by this run" in resumed.stderr
    assert run(source, "-o", tmp_path / "expected.csv", *chunk).exit_code == 0
    assert out.read_bytes() == (tmp_path / "expected.csv").read_bytes()


@pytest.fixture
def sigterm_at_its_default():
    """SIGTERM as a command started from a shell finds it, whatever the test runner set; put back after the test."""
    previous = signal.signal(signal.SIGTERM, signal.SIG_DFL)
    yield
    signal.signal(signal.SIGTERM, previous)


@pytest.mark.parametrize("stop", ["ctrl-c", "sigterm"])
@pytest.mark.parametrize("table", [True, False])
def test_a_stop_before_the_scoring_starts_or_during_text_is_one_line_and_130_or_143(tmp_path, run, monkeypatch, table,
                                                                                    stop, sigterm_at_its_default):
    """Ctrl-C while a table run started (imports, settings) or during --text gave click's "Aborted!" and status 1."""
    score = importlib.import_module("service.cli.score")  # the module: service.cli.score is also the command

    def stopped(*args, **kwargs):
        if stop == "ctrl-c":
            raise KeyboardInterrupt
        if not callable(signal.getsignal(signal.SIGTERM)):
            raise RuntimeError("SIGTERM is not handled: it would end the test run")
        signal.raise_signal(signal.SIGTERM)
        raise AssertionError("SIGTERM did not stop the command")

    monkeypatch.setattr(score, "_settings" if table else "load_scorer_or_fail", stopped)
    source = write_table(archive_frame(10), tmp_path / "in.csv")
    result = run(source, "-o", tmp_path / "out.csv") if table else run("--text", "A comment.")
    word, status = ("Interrupted.", 130) if stop == "ctrl-c" else ("Terminated.", 143)
    assert (result.exit_code, result.stderr) == (status, f"{word}{' Nothing was kept.' if table else ''}\n")
    assert result.stdout == "" and not (tmp_path / "out.csv").exists()
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # the command's handler is gone with it (CliRunner)


def test_a_stop_before_a_resume_scores_does_not_say_that_nothing_was_kept(tmp_path, run, monkeypatch):
    """A --resume stopped while it reads its settings leaves the interrupted run's work where it was: "Nothing was
    kept." denied it (review of the SIGTERM change)."""
    score = importlib.import_module("service.cli.score")

    def stopped(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(score, "_settings", stopped)
    source = write_table(archive_frame(10), tmp_path / "in.csv")
    result = run(source, "-o", tmp_path / "out.csv", "--resume")
    assert (result.exit_code, result.stderr) == (130, "Interrupted.\n")
