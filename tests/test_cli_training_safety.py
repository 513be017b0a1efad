"""``moderate train`` as a data person meets it: bad data files, bad versions, the served bundle, Ctrl-C, progress."""

from __future__ import annotations

import gzip
import io
import logging
import re
import shutil
import subprocess
import sys

import pytest

from model.bundle import BUNDLES_DIR_ENV
from model.training.data import DATA_DIR_ENV, DATASETS
from service.cli import cli

FOX_NEWS = ("hostility", DATASETS["fox_news"].folder, "fox_news_comments.csv.gz")
"""A training file read early (the second loader), so a broken one is told within a second."""


def one_error_line(result, pattern: str) -> str:
    """Exit status 2 and a single ``Error:`` line on stderr matching ``pattern``; no traceback."""
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    lines = result.stderr.strip().splitlines()
    errors = [line for line in lines if line.startswith("Error: ")]
    assert len(errors) == 1, result.stderr
    assert re.search(pattern, errors[0]), errors[0]
    return errors[0]


@pytest.fixture
def bundles(tiny_bundle_path, tmp_path, monkeypatch):
    """A bundles folder selected by $MODERATION_BUNDLES_DIR: ``served`` (CURRENT) and ``other``, copies of the tiny bundle."""
    root = tmp_path / "bundles"
    for name in ("served", "other"):
        shutil.copytree(tiny_bundle_path, root / name)
    (root / "CURRENT").write_text("served\n", encoding="utf-8")
    monkeypatch.setenv(BUNDLES_DIR_ENV, str(root))
    return root


def _files(folder):
    return {path.name: path.read_bytes() for path in folder.iterdir()}


@pytest.fixture
def data_copy(fake_data_dir, tmp_path):
    """A copy of the fake data directory that a test may break."""
    return shutil.copytree(fake_data_dir, tmp_path / "data")


# The served bundle and the version's name: refused before any data is read (the data directory does not exist).

@pytest.mark.parametrize("overwrite", [[], ["--overwrite"]])
def test_train_never_overwrites_the_served_bundle(runner, bundles, tmp_path, overwrite):
    before = _files(bundles / "served")
    result = runner.invoke(cli, ["train", "--data-dir", str(tmp_path / "absent"), "--version", "served", *overwrite])
    one_error_line(result, r"bundles/served is the served bundle \(bundles/CURRENT names it\) and is never overwritten: "
                           r"name another with --version or --out, or first serve another one with `moderate models use")
    assert _files(bundles / "served") == before


def test_train_refuses_the_served_bundle_named_by_its_folder(runner, bundles, tmp_path):
    result = runner.invoke(cli, ["train", "--data-dir", str(tmp_path / "absent"), "--out", str(bundles / "served"), "--overwrite"])
    one_error_line(result, r"is the served bundle")


@pytest.mark.parametrize("version", ["../escaped", "a/b", "", ".", "..", ".hidden", "CURRENT", "1.0 beta"])
def test_train_refuses_a_version_that_cannot_name_a_bundle_folder(runner, bundles, tmp_path, version):
    result = runner.invoke(cli, ["train", "--data-dir", str(tmp_path / "absent"), "--version", version])
    one_error_line(result, rf"^Error: {re.escape(repr(version))} is not a bundle version: use letters, digits and \. _ \+ -")
    assert sorted(path.name for path in bundles.iterdir()) == ["CURRENT", "other", "served"]
    assert not (tmp_path / "escaped").exists()


def test_train_refuses_a_bundles_folder_it_cannot_write_before_reading_data(runner, tmp_path, monkeypatch):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    monkeypatch.setenv(BUNDLES_DIR_ENV, str(blocker / "bundles"))
    result = runner.invoke(cli, ["train", "--data-dir", str(tmp_path / "absent"), "--version", "1.3.0"])
    one_error_line(result, rf"cannot write a bundle in {re.escape(str(blocker / 'bundles'))} \(Not a directory\): "
                           rf"choose a writable folder with --out or \${BUNDLES_DIR_ENV}")


def test_train_refuses_a_folder_holding_files_but_no_bundle(runner, bundles, tmp_path):
    (bundles / "1.3.0").mkdir()
    (bundles / "1.3.0" / "model.joblib").write_bytes(b"half")
    for args in ([], ["--overwrite"]):
        result = runner.invoke(cli, ["train", "--data-dir", str(tmp_path / "absent"), "--version", "1.3.0", *args])
        one_error_line(result, r"1\.3\.0 holds files but no manifest\.json .*: remove it, or give a new or empty folder")
        assert (bundles / "1.3.0" / "model.joblib").read_bytes() == b"half"


# Ctrl-C while training: no bundle that `models list` would show, and an overwritten bundle intact.

@pytest.mark.parametrize("version", ["fresh", "other"])
def test_an_interrupted_training_leaves_no_half_written_bundle(runner, bundles, fake_data_dir, monkeypatch, version):
    import model.training.train

    def interrupted(*args, **kwargs):  # the last stage, when the model, manifest and policy are written
        raise KeyboardInterrupt

    monkeypatch.setattr(model.training.train, "record_test_metrics", interrupted)
    before = _files(bundles / "other")
    result = runner.invoke(cli, ["train", "--data-dir", str(fake_data_dir), "--version", version, "--overwrite", "--seed", "0"])
    assert result.exit_code == 1 and "Aborted!" in result.output
    assert sorted(path.name for path in bundles.iterdir()) == ["CURRENT", "other", "served"]  # no hidden scratch left
    assert _files(bundles / "other") == before
    listed = runner.invoke(cli, ["models", "list"]).stdout.splitlines()
    assert [line.lstrip("* ").split()[0] for line in listed[1:3]] == ["other", "served"] and "fresh" not in "".join(listed)


def test_train_replaces_an_overwritten_bundle_whole(runner, bundles, fake_data_dir):
    result = runner.invoke(cli, ["train", "--data-dir", str(fake_data_dir), "--version", "other", "--overwrite", "--seed", "0"])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == str(bundles / "other")
    assert sorted(path.name for path in (bundles / "other").iterdir()) == ["manifest.json", "model.joblib", "policy.toml"]
    assert sorted(path.name for path in bundles.iterdir()) == ["CURRENT", "other", "served"]
    assert runner.invoke(cli, ["models", "use", "other"]).exit_code == 0  # verifies


# A training killed by SIGKILL (the OOM killer, kill -9) cannot remove its hidden folder: the next one does.

def finished_process_id() -> int:
    """The id of a process that has ended (and been reaped): what a killed training's folder is named for."""
    process = subprocess.Popen([sys.executable, "-c", ""])
    process.wait()
    return process.pid


@pytest.fixture
def running_process_id():
    """The id of another process still running, as a concurrent training's would be."""
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    yield process.pid
    process.kill()
    process.wait()


def test_train_removes_the_folders_killed_trainings_left(runner, bundles, tmp_path, running_process_id, caplog):
    dead = finished_process_id()
    killed = [bundles / f".1.3.0.partial-{dead}", bundles / f".other.replaced-{dead}"]
    running = bundles / f".1.4.0.partial-{running_process_id}"
    for folder in (*killed, running):
        shutil.copytree(bundles / "other", folder)
    with caplog.at_level(logging.INFO, logger="model.training.train"):
        result = runner.invoke(cli, ["train", "--data-dir", str(tmp_path / "absent"), "--version", "1.5.0"])
    one_error_line(result, r"data directory .*absent not found")  # the clean-up comes first, before any data is read
    assert sorted(path.name for path in bundles.iterdir()) == sorted(["CURRENT", "other", "served", running.name])
    assert _files(running) == _files(bundles / "other")  # another training's folder is left alone
    messages = [record.getMessage() for record in caplog.records]
    assert all(f"removed {folder}, left by a training that was killed" in messages for folder in killed)


@pytest.mark.parametrize(("refusal", "abandoned"), [(ProcessLookupError, True), (PermissionError, False)])
def test_a_folder_is_abandoned_only_when_its_process_is_gone(tmp_path, monkeypatch, refusal, abandoned):
    from model.bundle import abandoned_partial_folders

    def kill(pid, signal):
        assert (pid, signal) == (4242, 0)  # signal 0 asks whether it exists, and sends nothing
        raise refusal

    folders = [tmp_path / ".1.3.0.partial-4242", tmp_path / ".1.2.0.replaced-4242"]
    for folder in (*folders, tmp_path / "1.3.0", tmp_path / "1.2.0"):
        folder.mkdir()
    (tmp_path / "1.2.0" / "manifest.json").write_text("{}")  # back in place: the replaced copy is not needed
    (tmp_path / ".notes.partial-4242").write_text("a file, not a training's folder")
    monkeypatch.setattr("os.kill", kill)
    assert abandoned_partial_folders(tmp_path) == (sorted(folders) if abandoned else [])  # another user's process: running


def test_a_replaced_bundle_is_kept_while_it_is_the_only_copy(tmp_path):
    from model.bundle import abandoned_partial_folders

    dead = finished_process_id()
    (tmp_path / f".1.2.0.replaced-{dead}").mkdir()  # killed between renaming 1.2.0 aside and the new one into place
    (tmp_path / "1.2.0").mkdir()  # an empty folder is no bundle
    assert abandoned_partial_folders(tmp_path) == []


# Broken data files: one line naming the file and what to fix, exit 2, never a traceback.

def _gzip_of(text: bytes) -> bytes:
    return gzip.compress(text)


BROKEN = {
    "empty file": (b"", r"cannot be read \(No columns to parse from file\): restore it"),
    "empty gzip": (_gzip_of(b""), r"cannot be read \(No columns to parse from file\): restore it"),
    "header only": (_gzip_of(b"text,label\n"), r"has a header but no rows: restore it"),
    "truncated gzip": (_gzip_of(b"text,label\n" + b"a calm remark,0\n" * 2000)[:80], r"cannot be read \(Compressed file ended"),
    "plain csv named .gz": (b"text,label\nhello,0\n", r"cannot be read \(Not a gzipped file"),
    "not UTF-8": (_gzip_of("text,label\ncaf\xe9 au lait,0\n".encode("latin-1")), r"cannot be read \('utf-8' codec can't decode"),
    "quote never closed": (_gzip_of(b'text,label\n"never closed,0\n'), r"cannot be read \(Error tokenizing data"),
    "misspelt column": (_gzip_of(b"text,lable\nhello,0\n"), r"lacks columns \['label'\]: expected \['text', 'label'\], found \['text', 'lable'\]"),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_train_names_a_broken_data_file(runner, bundles, data_copy, case):
    content, message = BROKEN[case]
    path = data_copy.joinpath(*FOX_NEWS)
    path.write_bytes(content)
    result = runner.invoke(cli, ["train", "--data-dir", str(data_copy), "--version", "1.3.0"])
    one_error_line(result, rf"^Error: data file {re.escape(str(path))} {message}")
    assert not (bundles / "1.3.0").exists()


def test_eval_skips_a_broken_optional_set_by_name(runner, data_copy, tiny_bundle_path, tmp_path):
    broken = data_copy / "hostility" / DATASETS["ethos"].folder / "Ethos_Dataset_Multi_Label.csv.gz"
    broken.write_bytes(b"")
    result = runner.invoke(cli, ["eval", "--data-dir", str(data_copy), "--model", str(tiny_bundle_path), "--out", str(tmp_path / "r")])
    assert result.exit_code == 0, result.output
    report = (tmp_path / "r" / "eval.md").read_text(encoding="utf-8")
    assert f"Not evaluated: ethos_violence (data file {broken} cannot be read (No columns to parse from file)" in report


def test_eval_names_a_broken_test_set(runner, data_copy, tiny_bundle_path, tmp_path):
    broken = data_copy / "hostility" / DATASETS["ucc"].folder / "test.csv.gz"
    broken.write_bytes(_gzip_of(b""))
    result = runner.invoke(cli, ["eval", "--data-dir", str(data_copy), "--model", str(tiny_bundle_path), "--out", str(tmp_path / "r")])
    one_error_line(result, rf"^Error: data file {re.escape(str(broken))} cannot be read")


# Where the data comes from, and progress.

def test_a_missing_data_directory_says_where_its_path_came_from(runner, bundles, tmp_path, monkeypatch):
    monkeypatch.setenv(DATA_DIR_ENV, str(tmp_path / "from-env"))
    result = runner.invoke(cli, ["train", "--version", "1.3.0"])
    one_error_line(result, rf"data directory .*from-env not found \(from \${DATA_DIR_ENV}\): set {DATA_DIR_ENV} or pass --data-dir, "
                           "naming the folder that holds hostility/ and claims/")
    result = runner.invoke(cli, ["train", "--version", "1.3.0", "--data-dir", str(tmp_path / "given")])  # the option wins
    one_error_line(result, r"data directory .*given not found \(given as --data-dir or data_dir\)")


@pytest.mark.parametrize("command", ["train", "eval"])
def test_help_says_data_dir_wins_over_the_environment(runner, command):
    help_text = " ".join(runner.invoke(cli, [command, "--help"]).output.split())
    assert f"this option wins over ${DATA_DIR_ENV} [default: ${DATA_DIR_ENV}, else shared/data beside the project folder]" in help_text


def test_train_logs_a_line_per_stage_off_a_terminal(runner, bundles, fake_data_dir, caplog):
    with caplog.at_level(logging.INFO, logger="model.training.train"):
        result = runner.invoke(cli, ["train", "--data-dir", str(fake_data_dir), "--version", "1.3.0", "--seed", "0"])
    assert result.exit_code == 0, result.output
    messages = [record.getMessage() for record in caplog.records if record.name == "model.training.train"]
    assert messages[0] == f"reading the public data in {fake_data_dir}"
    assert "test metrics: ucc_test" in messages and "test metrics: cmv_test" in messages
    assert messages[-1] == f"wrote {bundles / '1.3.0'}"


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_test_metrics_show_a_bar_on_a_terminal(tiny_bundle_path, tmp_path, monkeypatch):
    from model.training.train import record_test_metrics
    from tests.corpus import make_corpus

    bundle = shutil.copytree(tiny_bundle_path, tmp_path / "bundle")
    test = make_corpus(40, seed=5)
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    metrics = record_test_metrics(bundle, {"toxicity": {"tiny_test": test.assign(label=test["toxicity"].astype(int))}})
    assert set(metrics) == {"tiny_test"}
    assert "\rtest metrics: tiny_test:   0%|" in terminal.getvalue()  # a bar, not a log line
    assert sorted(path.name for path in bundle.iterdir()) == ["manifest.json", "model.joblib", "policy.toml"]


def test_a_missing_data_file_says_to_pass_data_dir(runner, bundles, data_copy):
    """It said only "point MODERATION_DATA_DIR at a complete copy", though --data-dir wins over that variable."""
    path = data_copy.joinpath(*FOX_NEWS)
    path.unlink()
    result = runner.invoke(cli, ["train", "--data-dir", str(data_copy), "--version", "1.3.0"])
    one_error_line(result, rf"^Error: data file {re.escape(str(path))} not found: restore it, or pass --data-dir "
                           rf"\(or set \${DATA_DIR_ENV}\) naming a complete copy of the data folder$")


def test_make_current_replaces_a_current_symlink_rather_than_writing_through_it(bundles, tmp_path, monkeypatch):
    # CURRENT was written with write_text: not atomic (a worker starting could read it empty) and, when CURRENT was a
    # symlink (to a shared deployment's file, say), it overwrote the link's target rather than the link.
    import model.training.data
    import model.training.train

    def fit(_data_path, scratch, **_kwargs):
        (scratch / "model.joblib").write_bytes(b"fitted")

    monkeypatch.setattr(model.training.train, "_train_bundle_from", fit)  # the fitting is not what is tested
    monkeypatch.setattr(model.training.data, "resolve_data_dir", lambda _path: tmp_path)
    elsewhere = tmp_path / "elsewhere" / "CURRENT"
    elsewhere.parent.mkdir()
    elsewhere.write_text("served\n", encoding="utf-8")
    (bundles / "CURRENT").unlink()
    (bundles / "CURRENT").symlink_to(elsewhere)
    out = model.training.train.train_bundle(tmp_path, version="new", progress=False, make_current=True)
    assert out == bundles / "new" and (out / "model.joblib").read_bytes() == b"fitted"
    assert not (bundles / "CURRENT").is_symlink()
    assert (bundles / "CURRENT").read_text(encoding="utf-8") == "new\n"
    assert elsewhere.read_text(encoding="utf-8") == "served\n"
    assert sorted(path.name for path in bundles.iterdir()) == ["CURRENT", "new", "other", "served"]  # no temporary left


def test_make_current_refuses_a_bundle_outside_the_bundles_folder_before_reading_data(bundles, tmp_path, monkeypatch):
    # CURRENT names a folder of the bundles folder: a bundle written elsewhere left CURRENT naming one not there.
    import model.training.train
    from model.versions import BundleTargetError

    monkeypatch.setattr(model.training.train, "_train_bundle_from", lambda *args, **kwargs: pytest.fail("trained"))
    with pytest.raises(BundleTargetError, match="not in the bundles folder"):
        model.training.train.train_bundle(tmp_path, out_dir=tmp_path / "elsewhere" / "new", progress=False, make_current=True)
    assert (bundles / "CURRENT").read_text(encoding="utf-8") == "served\n" and not (tmp_path / "elsewhere" / "new").exists()


def test_eval_without_the_eval_extra_says_how_to_install_it(tiny_bundle_path, tmp_path):
    """`make run` installs no matplotlib: `moderate eval` after it stopped with a ModuleNotFoundError traceback."""
    code = ("import sys; sys.modules['matplotlib'] = None; from service.cli import cli; "
            "cli(['eval', '--model', sys.argv[1], '--out', sys.argv[2]], prog_name='moderate')")
    result = subprocess.run([sys.executable, "-c", code, str(tiny_bundle_path), str(tmp_path / "out")],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("Error: moderate eval needs matplotlib")
    assert "pip install -e '.[eval]'" in result.stderr
    assert not (tmp_path / "out").exists()


def test_a_site_weight_without_site_data_is_refused_before_training(runner, bundles, tmp_path):
    """``--site-weight 10`` alone trained the public recipe for minutes and said nothing: the weight weighed nothing."""
    result = runner.invoke(cli, ["train", "--site-weight", "10", "--version", "x", "--data-dir", str(tmp_path / "absent")])
    one_error_line(result, r"--site-weight weighs the comments of --site-data: give --site-data FILE too")
    assert not (bundles / "x").exists()


# The encoder's bundle step (`make train-encoder`, `make requantise`): the same folder rules, checked before the hour
# of fine-tuning (`--check-folder`) and again before the minutes of calibration. It used to write into any folder,
# the served bundle's included.

def _encoder_bundle_step(*args):
    from model.training.encoder import main

    return main(["bundle", "--work", "absent-work", *args])


@pytest.mark.parametrize("overwrite", [[], ["--overwrite"]])
@pytest.mark.parametrize("check_only", [[], ["--check-folder"]])
def test_the_encoder_bundle_step_never_replaces_the_served_bundle(bundles, capsys, overwrite, check_only):
    before = _files(bundles / "served")
    with pytest.raises(SystemExit) as stopped:
        _encoder_bundle_step("--version", "served", *overwrite, *check_only)
    assert stopped.value.code == 2 and "is the served bundle (bundles/CURRENT names it)" in capsys.readouterr().err
    assert _files(bundles / "served") == before


def test_the_encoder_bundle_step_replaces_another_bundle_only_with_overwrite(bundles, capsys):
    with pytest.raises(SystemExit) as stopped:
        _encoder_bundle_step("--version", "other", "--check-folder")
    assert stopped.value.code == 2 and "already holds a bundle" in capsys.readouterr().err
    assert _encoder_bundle_step("--version", "other", "--overwrite", "--check-folder") == 0
    assert _encoder_bundle_step("--version", "new", "--check-folder") == 0
    assert f"{bundles / 'new'} may take bundle new" in capsys.readouterr().out
    assert not (bundles / "new").exists()


@pytest.mark.parametrize("version", ["../elsewhere", ".hidden"])
def test_the_encoder_bundle_step_refuses_a_version_that_cannot_name_a_bundle_folder(bundles, capsys, version):
    with pytest.raises(SystemExit) as stopped:
        _encoder_bundle_step("--version", version, "--check-folder")
    assert stopped.value.code == 2 and "Traceback" not in capsys.readouterr().err
