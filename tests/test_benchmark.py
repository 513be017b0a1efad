"""The throughput benchmark: a tiny run writes its Markdown and JSON; texts and timing helpers behave."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from model.evaluation.benchmark import (
    THROUGHPUT_TARGET_RATIO,
    benchmark_markdown,
    benchmark_texts,
    generated_sentences,
    main,
    median_seconds,
    write_benchmark,
)

TINY = {"n": 40, "n_single": 5, "n_spans": 5, "repeats": 1}
RUNS = ("ours_moderate_first_pass", "profanity_check_first_pass", "ours_hostility_batch", "ours_batch", "ours_single", "ours_moderate_batch", "ours_moderate_batch_jobs", "ours_moderate_spans", "ours_moderate_single", "ours_moderate_spans_single",
        "profanity_check_batch", "profanity_check_single")


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory, tiny_bundle_path):
    """One small benchmark of the tiny bundle on generated sentences (the data directory is absent)."""
    root = tmp_path_factory.mktemp("bench")
    out = write_benchmark(root / "reports" / "bench.md", model_path=tiny_bundle_path,
                          data_dir=root / "absent", **TINY)
    return out, json.loads(out.with_suffix(".json").read_text())


def test_tiny_run_writes_markdown_and_json(tiny_run, scorer):
    out, results = tiny_run
    assert out.is_file() and out.with_suffix(".json").is_file()
    assert {"command", "model_version", "texts", "machine", "load_seconds", "throughput", "ratio", "target",
            "peak_memory_mib", "repeats"} <= set(results)
    assert results["model_version"] == scorer.model_version
    assert results["texts"]["source"].startswith("generated sentences")
    assert (results["texts"]["n"], results["texts"]["n_single"], results["texts"]["n_spans"]) == (40, 5, 5)
    assert set(results["throughput"]) == set(RUNS)
    for run in results["throughput"].values():
        assert run["seconds"] > 0 and run["comments_per_second"] == pytest.approx(run["n"] / run["seconds"])
    assert results["load_seconds"]["ours"] > 0
    memory = results["peak_memory_mib"]
    assert 0 < memory["before_loading_models"] <= memory["after_loading_ours"] <= memory["end_of_run"]


def test_ratio_and_target_follow_the_throughputs(tiny_run):
    _, results = tiny_run
    runs = results["throughput"]
    theirs = runs["profanity_check_batch"]["comments_per_second"]
    assert results["ratio"]["batch"] == pytest.approx(runs["ours_batch"]["comments_per_second"] / theirs)
    # The target is on the six hostility attributes, as the issue states it.
    ratio = runs["ours_hostility_batch"]["comments_per_second"] / theirs
    assert results["ratio"]["hostility_batch"] == pytest.approx(ratio)
    assert results["target"]["value"] == pytest.approx(ratio)
    assert results["target"]["target"] == THROUGHPUT_TARGET_RATIO
    assert results["target"]["met"] is (ratio >= THROUGHPUT_TARGET_RATIO)


def test_markdown_names_runs_target_and_version(tiny_run):
    out, results = tiny_run
    markdown = out.read_text()
    assert "python -m model.evaluation.benchmark" in markdown
    assert results["model_version"] in markdown
    assert "generated sentences" in markdown
    assert ("met" if results["target"]["met"] else "**missed**") in markdown
    for run in results["throughput"].values():
        assert run["name"] in markdown


def test_the_report_names_the_encoder_mode_it_timed(tiny_run):
    """bench.md and bench_cascade.md differ only by MODERATION_ENCODER_MODE, which neither report recorded."""
    _, results = tiny_run
    assert "encoder_mode" in results and results["encoder_mode"] is None  # the tiny bundle has no encoder
    assert "encoder mode" not in benchmark_markdown(results)
    assert "encoder mode `cascade`" in benchmark_markdown({**results, "encoder_mode": "cascade"})


def test_without_profanity_check_the_target_is_not_measured(tmp_path, tiny_bundle_path, monkeypatch):
    monkeypatch.setattr("model.evaluation.benchmark.load_profanity_check", lambda: None)
    out = write_benchmark(tmp_path / "bench.md", model_path=tiny_bundle_path, data_dir=tmp_path / "absent", **TINY)
    results = json.loads(out.with_suffix(".json").read_text())
    assert set(results["throughput"]) == {run for run in RUNS if run.startswith("ours_")}
    assert results["ratio"] == {"hostility_batch": None, "batch": None, "single": None}
    assert results["target"]["met"] is False
    assert "not measured" in out.read_text()


def test_cli_writes_both_files(tmp_path, tiny_bundle_path):
    out = tmp_path / "bench.md"
    result = CliRunner().invoke(main, ["--out", str(out), "--n", "20", "--n-single", "3", "--n-spans", "3",
                                       "--repeats", "1", "--model", str(tiny_bundle_path),
                                       "--data-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "wrote" in result.output
    assert out.is_file() and out.with_suffix(".json").is_file()


def test_cli_refuses_a_zero_count(tmp_path):
    result = CliRunner().invoke(main, ["--out", str(tmp_path / "bench.md"), "--n", "0"])
    assert result.exit_code != 0
    assert "--n" in result.output


def test_cli_names_a_missing_bundle(tmp_path):
    bundle = tmp_path / "not_a_bundle"
    bundle.mkdir()
    result = CliRunner().invoke(main, ["--out", str(tmp_path / "bench.md"), "--model", str(bundle), "--n", "3"])
    assert result.exit_code == 1
    assert "manifest.json not found" in result.output
    assert not (tmp_path / "bench.md").exists()


def test_cli_takes_a_bundle_version_and_refuses_a_data_dir_that_is_not_there(tmp_path, monkeypatch, tiny_bundle_path):
    from model.evaluation import benchmark

    given = {}
    monkeypatch.setattr(benchmark, "write_benchmark", lambda out, **options: given.update(options) or Path(out))
    assert CliRunner().invoke(main, ["--out", str(tmp_path / "b.md"), "--model", "1.2.0"]).exit_code == 0
    assert given["model_path"] == "1.2.0"  # resolved under bundles/ as moderate eval and score do
    # A mistyped --data-dir used to fall back to generated sentences, named only in the report's "Texts:" line.
    result = CliRunner().invoke(main, ["--out", str(tmp_path / "b.md"), "--data-dir", str(tmp_path / "shraed")])
    assert result.exit_code == 2 and "does not exist" in result.output


def test_cli_refuses_an_out_it_cannot_write_before_timing_anything(tmp_path, monkeypatch):
    """The report used to be written after the whole run: a traceback, and the timings lost."""
    from model.evaluation import benchmark

    def run_benchmark(**options):
        raise AssertionError("the benchmark ran before --out was checked")

    monkeypatch.setattr(benchmark, "run_benchmark", run_benchmark)
    blocker = tmp_path / "reports"
    blocker.write_text("a file where the folder should be")
    result = CliRunner().invoke(main, ["--out", str(blocker / "bench.md"), "--n", "3"])
    assert result.exit_code == 1
    assert result.output == f"Error: --out {blocker}: is a file, not a folder\n"


def test_texts_come_from_the_test_sets_when_present(monkeypatch):
    sets = {"a": pd.DataFrame({"text": ["one", "two"]}), "b": pd.DataFrame({"text": ["three"]})}
    monkeypatch.setattr("model.evaluation.benchmark.load_test_sets", lambda data_dir: sets)
    texts, source = benchmark_texts(7)
    assert len(texts) == 7 and set(texts) == {"one", "two", "three"}  # cycles when asked for more
    assert source.startswith("public test sets (a, b; 3 texts")


def test_generated_sentences_are_reproducible():
    assert generated_sentences(20, seed=3) == generated_sentences(20, seed=3)
    assert generated_sentences(20, seed=3) != generated_sentences(20, seed=4)
    assert len(set(generated_sentences(50))) > 25


def test_median_seconds_runs_the_call_each_time():
    calls = []
    assert median_seconds(lambda: calls.append(1), 5) >= 0
    assert len(calls) == 5
