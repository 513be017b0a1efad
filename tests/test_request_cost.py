"""python -m service.request_cost: times the slowest requests MAX_REQUEST_CHARS allows, and one long comment."""

from __future__ import annotations

import json
import re

from click.testing import CliRunner

from service.config import Defaults
from service.request_cost import long_comment, main


def test_request_cost_times_every_kind_of_request_and_names_the_slowest(tiny_bundle_path, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the generated sentences stand in for the test sets
    out = tmp_path / "reports" / "request_cost.md"
    result = CliRunner().invoke(main, ["--model", str(tiny_bundle_path), "--chars", "40960",
                                       "--data-dir", str(tmp_path / "no-data"), "--out", str(out)])
    assert result.exit_code == 0, result.output
    lines = re.findall(r"^ +[\d.]+ s  HTTP (\d+)  (.*)$", result.output, flags=re.MULTILINE)
    assert [status for status, _ in lines] == ["200"] * 8
    assert sum("spanAnnotations" in label for _, label in lines) == 2
    assert "batch, 1 comments:analyze" in result.output  # 40,960 characters counted twice: one part of 20,480
    assert [label for _, label in lines if "one comment of" in label] == [
        f"/v1/moderate, one comment of {Defaults.CORAL_MAX_SCORED_CHARS:,} characters of news comments (public test "
        "sets) (CORAL_MAX_SCORED_CHARS)",
        f"/v1/moderate, one comment of {Defaults.MAX_COMMENT_CHARS:,} characters of news comments (public test sets) "
        "(MAX_COMMENT_CHARS)"]
    assert re.search(r"^slowest [\d.]+ s; TIMEOUT_SECONDS is 120 s$", result.output, flags=re.MULTILINE)

    results = json.loads(out.with_suffix(".json").read_text())
    assert [r["rounds"] for r in results["requests"]] == [1] * 6 + [3, 3]
    slowest = max(r["seconds"] for r in results["requests"] if r["kind"] == "request")
    assert results["slowest_seconds"] == slowest
    markdown = out.read_text()
    assert f"Slowest: **{slowest:.1f} s**" in markdown
    assert markdown.count("| /v1/moderate, one comment of") == 2
    assert markdown.count("| /batch,") == 2


def test_a_long_comment_has_exactly_the_characters_asked_for(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    text = long_comment(5_000, str(tmp_path / "no-data"))
    assert len(text) <= 5_000 and len(text) > 4_900 and text == text.strip()


def test_an_out_path_that_cannot_be_written_is_refused_before_anything_is_timed(tmp_path):
    (tmp_path / "taken").write_text("a file, not a folder")
    result = CliRunner().invoke(main, ["--out", str(tmp_path / "taken" / "request_cost.md")])
    assert result.exit_code == 2
    assert "is a file, not a folder" in result.output and "model " not in result.output
