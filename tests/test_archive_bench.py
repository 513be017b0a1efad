"""The archive benchmark: its report, and memory that stays flat as the archive grows (at reduced size)."""

from __future__ import annotations

import functools
import json
import os
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from model.evaluation.archive_bench import FLAT_MEMORY_RATIO, main, measure, write_archive

ROWS_SMALL, ROWS_LARGE = 2_000, 20_000
CHUNK_ROWS = 500
"""Both archives are whole chunks (4 and 40, as the default 5,000 rows give 20,000 and 200,000): one chunk's memory is
the same in both runs, and only what grows with the archive can tell them apart."""
METADATA_BYTES = 8 * 1024
"""What each row carries beside its comment (an export's page HTML, a JSON blob): 160 MiB over the larger archive, so
that a run keeping its rows goes past ``FLAT_MEMORY_RATIO`` times the ~370 MiB any run takes (it peaked at 1.4 times).
The comments alone are 150 bytes: at 20,000 / 200,000 rows of them, a run that kept every row met the target (1.17)."""


def test_generated_archive_has_distinct_texts_and_is_reproducible(tmp_path):
    import pandas as pd

    write_archive(tmp_path / "a.csv", 500, data_dir=tmp_path / "absent")
    write_archive(tmp_path / "b.csv", 500, data_dir=tmp_path / "absent")
    assert (tmp_path / "a.csv").read_bytes() == (tmp_path / "b.csv").read_bytes()
    frame = pd.read_csv(tmp_path / "a.csv", dtype=str, keep_default_na=False)
    assert list(frame.columns) == ["id", "author", "text"] and len(frame) == 500
    assert frame["text"].nunique() > 450


def test_the_report_gives_each_run_the_encoder_threads_its_processes_get(monkeypatch):
    """The Dask run's LocalCluster workers get their share of the cores as --jobs workers do; the report said 1."""
    import model.parallel
    from model.evaluation.archive_bench import encoder_threads_per_run

    monkeypatch.delenv("MODERATION_ENCODER_THREADS", raising=False)
    monkeypatch.setattr(model.parallel, "usable_cores", lambda: 4)
    assert encoder_threads_per_run() == {"single": 4, "jobs2": 2, "dask2": 2}


def test_measure_reports_time_memory_and_failures():
    grow = measure([sys.executable, "-c", "import time; x = bytearray(300 * 2**20); time.sleep(1)"])
    assert grow["seconds"] >= 1 and grow["peak_rss_mib"] >= 300
    assert "exit status 3" in measure([sys.executable, "-c", "raise SystemExit(3)"])["error"]


@pytest.mark.slow  # three real runs and thirteen start-ups (one compiles the kernels): a few minutes under load
def test_tiny_archive_bench_writes_its_report(tmp_path, tiny_bundle_path, monkeypatch):
    from model.evaluation import archive_bench, startup

    # The start-up section, measured once and without the cold kernel cache (tests/test_startup.py checks the rest).
    monkeypatch.setattr(archive_bench, "run_startup", functools.partial(startup.run_startup, repeats=1, cold_kernel_cache=False))
    out = tmp_path / "archive_bench.md"
    result = CliRunner().invoke(main, ["--rows", "300", "--out", str(out), "--model", str(tiny_bundle_path),
                                       "--data-dir", str(tmp_path / "absent"), "--engines", "single"])
    assert result.exit_code == 0, result.output
    results = json.loads(out.with_suffix(".json").read_text())
    assert set(results["runs"]) == {"alt_profanity_check", "single_small", "single"}
    if "MODERATION_ENCODER_THREADS" not in os.environ:  # one process: every usable core, and the report says so
        assert results["encoder_threads"]["single"] == len(os.sched_getaffinity(0))
    assert "Encoder threads per process:" in out.read_text()
    for run in results["runs"].values():
        assert "error" not in run, run
        assert run["rows_per_second"] == pytest.approx(run["rows"] / run["seconds"])
    assert results["runs"]["single"]["summary"][0].startswith("Scored 300 rows")
    assert results["startup"]["command_seconds"]["score_text"] > 0 and results["startup"]["phases"]["bundle_load"] > 0
    assert "## Start-up" in out.read_text()
    assert "Memory flatness" in out.read_text() and "Not run (yet): `moderate score --jobs 2`" in out.read_text()
    from model.bundle import read_manifest

    version = read_manifest(tiny_bundle_path)["model_version"]
    assert results["model"]["version"] == version  # the report names the bundle it timed (it did not)
    assert f"Bundle: **{version}**" in out.read_text()


def write_wide_archive(path: Path, rows: int, data_dir: Path) -> None:
    """``write_archive``'s comments with ``METADATA_BYTES`` of other data each, distinct per row: a column the run
    only reads and writes, so that kept rows weigh without slowing the scoring, whose time grows with every character
    of a comment (about 0.25 MiB of text a second)."""
    write_archive(path, rows, data_dir=data_dir)
    lines = path.read_text(encoding="utf-8").splitlines()
    assert len(lines) == rows + 1  # one line a row, so that a column can be appended to each
    filler = METADATA_BYTES // 8
    wide = [f"{lines[0]},metadata", *(f"{line},{f'{i:08x}' * filler}" for i, line in enumerate(lines[1:]))]
    path.write_text("\n".join(wide) + "\n", encoding="utf-8")


@pytest.mark.slow  # scores 22,000 generated comments (180 MiB of CSV) with the tiny bundle
def test_peak_memory_is_flat_from_a_small_to_a_ten_times_larger_archive(tmp_path, tiny_bundle_path):
    """A run that keeps its rows (input and added columns) fails here. Not caught: a leak of what is kept per comment
    only, such as its decision (about 625 B) or a cache of scores by text: at 20,000 rows it weighs 12 MiB (1.03
    times); it would take about 180,000 rows, this test at its former size, 20,000 / 200,000 comments (40-50 s)."""
    env = {**os.environ, "MODERATION_MODEL": str(tiny_bundle_path)}
    peaks = {}
    for rows in (ROWS_SMALL, ROWS_LARGE):
        write_wide_archive(tmp_path / f"in{rows}.csv", rows, tmp_path / "absent")
        run = measure([sys.executable, "-m", "service.cli", "score", str(tmp_path / f"in{rows}.csv"),
                       "-o", str(tmp_path / f"out{rows}.csv"), "--chunk-size", str(CHUNK_ROWS)], env)
        assert "error" not in run, run
        peaks[rows] = run["peak_rss_mib"]
    assert peaks[ROWS_LARGE] <= FLAT_MEMORY_RATIO * peaks[ROWS_SMALL], peaks
