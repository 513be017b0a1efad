"""The encoder speed command: one-line errors before any timing, and a report that names the bundle it timed."""

from __future__ import annotations

import re

import pytest

from model.evaluation.encoder_speed import main, markdown


def _error(capsys, argv) -> str:
    with pytest.raises(SystemExit) as stopped:
        main(argv)
    assert stopped.value.code == 2
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    return captured.err.splitlines()[-1]


@pytest.mark.parametrize("case, message", [
    ("missing bundle", r"model bundle .*no-bundle not found"),
    ("bundle without an encoder", r"bundle .* has no encoder: pass an encoder bundle"),
    ("missing data", r"data directory .*absent not found"),
    ("out under a file", r"--out .*blocker: is a file, not a folder"),
])
def test_bad_input_is_one_line_before_any_timing(capsys, tmp_path, tiny_bundle_path, fake_data_dir, case, message):
    """Each of these was a traceback (an AttributeError for a TF-IDF bundle), the last one after every timing."""
    (tmp_path / "blocker").write_text("a file where the folder should be")
    argv = {"missing bundle": ["--model", str(tmp_path / "no-bundle"), "--data-dir", str(fake_data_dir)],
            "bundle without an encoder": ["--model", str(tiny_bundle_path), "--data-dir", str(fake_data_dir)],
            "missing data": ["--model", str(tiny_bundle_path), "--data-dir", str(tmp_path / "absent")],
            "out under a file": ["--model", str(tiny_bundle_path), "--data-dir", str(fake_data_dir),
                                 "--out", str(tmp_path / "blocker" / "speed.md")]}[case]
    out = ["--out", str(tmp_path / "speed.md")] if "--out" not in argv else []
    assert re.search(message, _error(capsys, [*argv, *out]))
    assert not (tmp_path / "speed.md").exists()


def test_markdown_names_the_bundle_it_timed():
    row = {"model_version": "2.8.0", "threads": 1, "comments": 10, "set": "ucc_val", "tfidf_per_second": 1000.0,
           "cascade_per_second": 300.0, "rescored_share": 0.9, "encoder_per_second": 250.0}
    text = markdown([row])
    assert "model version **2.8.0**" in text
    assert "| 1 | 1,000/s | 300/s (90.0%) | 250/s |" in text


def test_markdown_of_several_bundles_has_a_row_per_bundle_and_round():
    """Bundles timed in turn (--model A B --rounds 2) are told apart: the table names each row's bundle and round."""
    base = {"threads": 1, "comments": 10, "set": "ucc_val", "tfidf_per_second": 1000.0, "cascade_per_second": 300.0,
            "rescored_share": 0.9, "encoder_per_second": 250.0}
    rows = [{**base, "model_version": version, "round": round_} for round_ in (1, 2) for version in ("2.7.0", "2.8.0")]
    text = markdown(rows)
    assert "model versions **2.7.0**, **2.8.0**" in text
    assert "| 2 | 2.8.0 | 1 | 1,000/s | 300/s (90.0%) | 250/s |" in text
    assert text.count("| 2.7.0 |") == 2


def test_a_bad_bundle_among_several_is_told_before_any_timing(capsys, tmp_path, tiny_bundle_path, fake_data_dir):
    argv = ["--model", str(tiny_bundle_path), str(tmp_path / "no-bundle"), "--data-dir", str(fake_data_dir),
            "--out", str(tmp_path / "speed.md")]
    assert re.search(r"has no encoder|not found", _error(capsys, argv))
    assert not (tmp_path / "speed.md").exists()
