"""CLI edge cases: a file where ``moderate train`` and ``moderate eval`` need a folder is named as such."""

from __future__ import annotations

import pytest

from model.bundle import BUNDLES_DIR_ENV
from service.cli import cli


@pytest.fixture
def afile(tmp_path):
    path = tmp_path / "afile"
    path.write_text("not a folder\n")
    return path


def test_train_out_under_a_file_names_the_file(runner, tmp_path, afile):
    result = runner.invoke(cli, ["train", "--data-dir", str(tmp_path), "--out", str(afile / "sub" / "bundle")])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert result.stderr.strip() == (f"Error: {afile} is a file, not a folder: cannot write a bundle in {afile / 'sub'} "
                                     f"(Not a directory): choose a writable folder with --out or ${BUNDLES_DIR_ENV}")
    assert afile.read_text() == "not a folder\n"


def test_train_into_a_bundles_folder_that_is_a_file_names_the_file(runner, tmp_path, afile, monkeypatch):
    monkeypatch.setenv(BUNDLES_DIR_ENV, str(afile))
    result = runner.invoke(cli, ["train", "--data-dir", str(tmp_path), "--version", "9.9.9"])
    assert result.exit_code == 2
    assert result.stderr.startswith(f"Error: {afile} is a file, not a folder: cannot write a bundle in {afile} ")


@pytest.mark.parametrize("command", [["train", "--out", "bundle"], ["eval", "--out", "report"]])
def test_a_data_dir_that_is_a_file_is_named_as_a_file(runner, tiny_bundle_path, tmp_path, afile, monkeypatch, command):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MODERATION_MODEL", str(tiny_bundle_path))
    result = runner.invoke(cli, [*command, "--data-dir", str(afile)])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert result.stderr.strip().startswith(f"Error: data directory {afile} is a file, not a folder (given as --data-dir")
