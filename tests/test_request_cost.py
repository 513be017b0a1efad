"""python -m service.request_cost: times the slowest requests MAX_REQUEST_CHARS allows."""

from __future__ import annotations

import re

from click.testing import CliRunner

from service.request_cost import main


def test_request_cost_times_every_kind_of_request_and_names_the_slowest(tiny_bundle_path, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the generated sentences stand in for the test sets
    result = CliRunner().invoke(main, ["--model", str(tiny_bundle_path), "--chars", "40960",
                                       "--data-dir", str(tmp_path / "no-data")])
    assert result.exit_code == 0, result.output
    lines = re.findall(r"^ +[\d.]+ s  HTTP (\d+)  (.*)$", result.output, flags=re.MULTILINE)
    assert [status for status, _ in lines] == ["200"] * 6
    assert sum("spanAnnotations" in label for _, label in lines) == 2
    assert "batch, 1 comments:analyze" in result.output  # 40,960 characters counted twice: one part of 20,480
    assert re.search(r"^slowest [\d.]+ s; TIMEOUT_SECONDS is 120 s$", result.output, flags=re.MULTILINE)
