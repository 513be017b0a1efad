"""``moderate train --site-data``, ``moderate models list|use`` and ``moderate compare`` through CliRunner."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil

import pandas as pd
import pytest

from model.bundle import BUNDLES_DIR_ENV, sha256_file
from model.scoring import Scorer
from service.cli import cli
from tests.fake_data import make_site
from tests.test_cli_training_safety import finished_process_id


@pytest.fixture
def bundles(versioned_bundles, tmp_path, monkeypatch):
    """A copy of the versioned bundles folder (``use`` writes CURRENT), selected by $MODERATION_BUNDLES_DIR."""
    root = tmp_path / "bundles"
    shutil.copytree(versioned_bundles, root)
    monkeypatch.setenv(BUNDLES_DIR_ENV, str(root))
    return root


def test_list_shows_versions_metrics_and_current(runner, bundles):
    result = runner.invoke(cli, ["models", "list"])
    assert result.exit_code == 0, result.output
    header, *rows = [line.split("\t") for line in result.stdout.splitlines()]
    assert "ucc_test" in header and "site rows" in header
    by_version = {row[1]: dict(zip(header, row)) for row in rows}
    assert [version for version, row in by_version.items() if row[""] == "*"] == ["public"]
    assert by_version["site"]["site rows"] == "120"  # site rows used, from the manifest


def test_list_lines_up_a_table_and_keeps_notes_off_a_piped_table(runner, bundles):
    from tests.test_cli_keys_users import assert_lined_up

    table, tsv = (runner.invoke(cli, ["models", "list", "--format", table_format]) for table_format in ("table", "tsv"))
    assert table.exit_code == tsv.exit_code == 0, table.output
    assert_lined_up(table.stdout, tsv.stdout)
    assert table.stdout.splitlines()[0].startswith("   version  created")  # the * column, then the versions
    widths = {len(line.split("\t")) for line in tsv.stdout.splitlines()}
    assert len(widths) == 1  # a row per bundle and nothing else: the notes are on stderr
    assert "(test-set columns: toxicity or unsupported_claim ROC AUC" in tsv.stderr


def test_list_warns_when_current_names_no_bundle(runner, bundles):
    assert "bundles/CURRENT names" not in runner.invoke(cli, ["models", "list"]).stderr
    (bundles / "CURRENT").write_text("9.9.9\n")
    result = runner.invoke(cli, ["models", "list"])
    assert result.exit_code == 0 and "public" in result.stdout and not any(line.startswith("*") for line in result.stdout.splitlines())
    assert "bundles/CURRENT names '9.9.9', which is not among these bundles" in result.stderr


def test_use_switches_current_and_refuses_a_broken_bundle(runner, bundles):
    result = runner.invoke(cli, ["models", "use", "site"])
    assert result.exit_code == 0, result.output
    assert (bundles / "CURRENT").read_text().strip() == "site"
    assert Scorer.load().model_version == "site"  # the default bundle follows CURRENT
    with open(bundles / "public" / "model.joblib", "ab") as handle:
        handle.write(b"tampered")
    result = runner.invoke(cli, ["models", "use", "public"])
    assert result.exit_code == 2 and "SHA-256" in result.output
    result = runner.invoke(cli, ["models", "use", "nothing-here"])
    assert result.exit_code == 2 and "no bundle 'nothing-here'" in result.output and "known: " in result.output
    assert (bundles / "CURRENT").read_text().strip() == "site"


def test_use_refuses_what_verify_would_fail_a_file_not_listed_or_other_probe_scores(runner, bundles):
    # `models use` checked less than `models verify --load` and the server: a bundle with a stray file or with probe
    # scores this host does not reproduce became CURRENT, and a server (re)started on it was never ready.
    (bundles / "site" / "extra.py").write_text("print('left here')\n")
    result = runner.invoke(cli, ["models", "use", "site"])
    assert result.exit_code == 2 and "site fails verification, CURRENT is unchanged" in result.output
    assert "extra.py" in result.output
    (bundles / "site" / "extra.py").unlink()
    path = bundles / "site" / "manifest.json"
    manifest = json.loads(path.read_text())
    first = manifest["probe"]["scores"][0]
    first[next(iter(first))] = 1.5
    path.write_text(json.dumps(manifest))
    result = runner.invoke(cli, ["models", "use", "site"])
    assert result.exit_code == 2 and "probe scores differ from the manifest" in result.output
    assert (bundles / "CURRENT").read_text().strip() == "public"
    result = runner.invoke(cli, ["models", "use", "site", "--no-load"])  # files only: the probe scores are not read
    assert result.exit_code == 0, result.output
    assert (bundles / "CURRENT").read_text().strip() == "site"


def test_compare_of_a_header_without_rows_says_so_before_loading_the_bundles(runner, bundles, tmp_path, monkeypatch):
    # It loaded both bundles, then blamed --drop-trained (not given): "the bundles were trained on every comment of it".
    import sys

    data = tmp_path / "header.csv"
    data.write_text("text,decision\n")
    monkeypatch.setattr(sys.modules["service.cli.models"], "load_scorer_or_fail", lambda *args, **kwargs: pytest.fail("loaded a bundle"))
    result = runner.invoke(cli, ["compare", "public", "site", "--data", str(data)])
    assert result.exit_code == 2
    assert result.stderr.strip() == f"Error: {data} has a header but no comments: give a table with a row per comment"


def test_compare_lists_exactly_the_changed_decisions(runner, bundles, tmp_path):
    held_out = make_site(30, seed=11)
    data = tmp_path / "held_out.csv"
    held_out.to_csv(data, index=False)
    result = runner.invoke(cli, ["compare", "public", "site", "--data", str(data), "--label-column", "decision"])
    assert result.exit_code == 0, result.output
    old = Scorer.load(bundles / "public").moderate(held_out["text"].tolist(), with_spans=False)
    new = Scorer.load(bundles / "site").moderate(held_out["text"].tolist(), with_spans=False)
    expected = {(i, a.action, b.action) for i, (a, b) in enumerate(zip(old, new)) if a.action != b.action}
    listed = {(int(m[1]), m[2], m[3]) for m in re.finditer(r"^row (\d+): (\w+) -> (\w+)", result.output, re.M)}
    assert expected and listed == expected
    assert f"{len(expected)} comments change decision:" in result.output
    assert re.search(r"^toxicity roc_auc\s+\S+\s+\S+\s+[+-]\d", result.output, re.M)
    assert re.search(r"^caught_share\s", result.output, re.M)


def test_compare_shows_progress_while_each_bundle_decides(runner, bundles, tmp_path):
    """Thousands of comments take minutes with an encoder bundle: compare said nothing until the table at the end."""
    data = tmp_path / "held_out.csv"
    make_site(5, seed=3).to_csv(data, index=False)
    result = runner.invoke(cli, ["compare", "public", "site", "--data", str(data)])
    assert result.exit_code == 0, result.output
    assert [line for line in result.stderr.splitlines() if line.startswith("moderate compare:")] == [
        "moderate compare: old bundle: deciding 5 comments", "moderate compare: new bundle: deciding 5 comments"]


def test_compare_warns_when_a_bundle_was_trained_on_the_data(runner, bundles, site_csv, tmp_path):
    args = ["compare", "public", "site", "--label-column", "decision", "--data"]
    result = runner.invoke(cli, [*args, str(site_csv)])
    assert result.exit_code == 0, result.output
    assert f"Warning: the new bundle was trained on 120 of the 120 comments of {site_csv}" in result.stderr
    held_out = tmp_path / "held_out.csv"
    unseen = make_site(20, seed=7)
    unseen = unseen[~unseen["text"].isin(pd.read_csv(site_csv)["text"])]  # one of its texts is also a site.csv text
    unseen.to_csv(held_out, index=False)
    assert "Warning" not in runner.invoke(cli, [*args, str(held_out)]).stderr
    every_row = runner.invoke(cli, [*args, str(site_csv), "--drop-trained"])
    assert every_row.exit_code == 2 and "--drop-trained leaves none" in every_row.output


def test_compare_on_a_site_bundle_without_the_fingerprint_keeps_the_sha256_warning(runner, bundles, site_csv):
    """Bundles trained before the fingerprint record only their file's SHA-256: warned as before, nothing dropped."""
    manifest_path = bundles / "site" / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    del manifest["site_data"]["trained_texts"]
    manifest_path.write_text(json.dumps(manifest))
    result = runner.invoke(cli, ["compare", "public", "site", "--data", str(site_csv), "--drop-trained"])
    assert result.exit_code == 0, result.output
    assert (f"Warning: the new bundle was trained on {site_csv} (--site-data), so its figures here are optimistic: compare "
            "on comments kept out of its training; its manifest does not say which rows") in result.stderr
    assert "compared on" not in result.stdout


def test_compare_warns_when_a_bundle_was_trained_on_the_part_of_the_data_notebook_05_kept(runner, bundles, tmp_path):
    import json

    from model.bundle import sha256_file

    site_file = tmp_path / "site_all.csv"
    make_site(20, seed=8).to_csv(site_file, index=False)
    manifest_path = bundles / "site" / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["site_data"]["split_from"] = {"file": site_file.name, "sha256": sha256_file(site_file)}  # as 05 records it
    manifest_path.write_text(json.dumps(manifest))
    result = runner.invoke(cli, ["compare", "public", "site", "--label-column", "decision", "--data", str(site_file)])
    assert result.exit_code == 0, result.output
    assert f"Warning: the new bundle was trained on {site_file}" in result.stderr


def test_compare_warns_on_a_later_export_holding_the_comments_a_bundle_trained_on(runner, bundles, site_csv, tmp_path):
    """Only the SHA-256 of the site file was matched: a later export holding it looked unseen (AUC 0.865 -> 0.999)."""
    from model.training.data import overlap_key

    assert json.loads((bundles / "site" / "manifest.json").read_text())["site_data"]["rows_used"] == 120  # all trained on
    trained = set(pd.read_csv(site_csv)["text"].map(overlap_key))
    later = pd.concat([make_site(30, seed=11), pd.read_csv(site_csv)], ignore_index=True)
    later_path = tmp_path / "later_export.csv"
    later.to_csv(later_path, index=False)
    seen = later["text"].map(overlap_key).isin(trained).to_numpy()
    assert 0 < seen.sum() < len(later)
    args = ["compare", "public", "site", "--label-column", "decision", "--data", str(later_path)]
    result = runner.invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert (f"Warning: the new bundle was trained on {seen.sum()} of the {len(later)} comments of {later_path} (the same "
            f"text), so its figures on them are optimistic: give --drop-trained to compare on the {(~seen).sum()} others") in result.stderr
    assert "the old bundle" not in result.stderr

    dropped = runner.invoke(cli, [*args, "--drop-trained"])
    assert dropped.exit_code == 0, dropped.output
    assert f"compared on {(~seen).sum()} of them: {seen.sum()} left out that a bundle was trained on" in dropped.stdout
    changed_rows = [int(row) for row in re.findall(r"^row (\d+):", dropped.stdout, flags=re.MULTILINE)]
    assert not any(seen[changed_rows])  # row numbers stay those of the file, and none of them was trained on
    expected = runner.invoke(cli, ["compare", "public", "site", "--label-column", "decision", "--data",
                                   str(_write(later[~seen], tmp_path / "unseen.csv"))])
    assert _metric_lines(dropped.stdout) == _metric_lines(expected.stdout)


def _write(frame: pd.DataFrame, path):
    frame.to_csv(path, index=False)
    return path


def _metric_lines(output: str) -> list[str]:
    return output.split("\n\n")[1].splitlines()


def test_compare_with_every_label_column_counts_comments_labelled_only_by_toxicity(runner, bundles, tmp_path):
    """README's --label-column decision left a Coral site's toxicity-only rows unlabelled, without a word."""
    site = make_site(40, seed=12)
    site["toxicity"] = ""
    coral = site.index >= 20  # sent as toxicity labels, no decision
    site.loc[coral, "toxicity"] = (site.loc[coral, "decision"] == "reject").astype(int).astype(str)
    site.loc[coral, "decision"] = ""
    data = _write(site, tmp_path / "held_out.csv")
    decision_only = runner.invoke(cli, ["compare", "public", "site", "--label-column", "decision", "--data", str(data)])
    assert decision_only.exit_code == 0, decision_only.output
    assert ("Warning: 20 comments are labelled only in toxicity, which --label-column did not name: they count as "
            "unlabelled; give --label-column all") in decision_only.stderr
    every = runner.invoke(cli, ["compare", "public", "site", "--label-column", "all", "--data", str(data)])
    assert every.exit_code == 0, every.output
    assert "labelled only in" not in every.stderr
    named = runner.invoke(cli, ["compare", "public", "site", "--label-column", "decision", "--label-column", "toxicity",
                                "--data", str(data)])
    assert _metric_lines(every.stdout) == _metric_lines(named.stdout)
    assert _metric_lines(every.stdout) != _metric_lines(decision_only.stdout)


def test_readmes_compare_example_counts_the_comments_labelled_only_by_toxicity(runner, bundles, tmp_path):
    """The site retraining section's example named only the decision column: a Coral site's labels were all dropped."""
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    line = next(line for line in readme.splitlines() if line.startswith(".venv/bin/moderate compare "))
    args = shlex.split(line.split("#")[0])[1:]
    site = make_site(20, seed=13)
    site["toxicity"] = (site["decision"] == "reject").astype(int)
    site["decision"] = ""  # as a site that sends toxicity labels writes its held_out.csv
    data = _write(site, tmp_path / "held_out.csv")
    args = [{"held_out.csv": str(data), args[1]: "public", args[2]: "site"}.get(arg, arg) for arg in args]
    result = runner.invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert re.search(r"^caught_share +\d\.\d{3} +\d\.\d{3}", result.stdout, flags=re.MULTILINE), result.stdout  # not "-"
    assert "labelled only in" not in result.stderr


def test_compare_all_without_a_label_column_says_so(runner, bundles, tmp_path):
    data = _write(pd.DataFrame({"text": ["a comment"]}), tmp_path / "plain.csv")
    result = runner.invoke(cli, ["compare", "public", "site", "--label-column", "all", "--data", str(data)])
    assert result.exit_code == 2 and "no label column (decision, labels or an attribute" in result.output


def test_compare_explains_a_missing_column(runner, bundles, tmp_path):
    data = tmp_path / "comments.csv"
    make_site(4).to_csv(data, index=False)
    result = runner.invoke(cli, ["compare", "public", "site", "--data", str(data), "--text-column", "body"])
    assert result.exit_code == 2 and "no column 'body'" in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--text-column", "body"], "no column 'body' (columns: text, decision)"),
        (["--label-column", "decison"], "no label column 'decison' (columns: text, decision)"),
        (["--label-column", "decision"], "decision must be approve, review or reject; got 'rejected'"),
    ],
)
def test_compare_checks_the_data_before_loading_either_bundle(runner, tmp_path, args, message):
    data = tmp_path / "comments.csv"
    data.write_text("text,decision\nhello,rejected\n", encoding="utf-8")
    result = runner.invoke(cli, ["compare", str(tmp_path / "no-old"), str(tmp_path / "no-new"), "--data", str(data), *args])
    _one_error_line(result, data, message)


def test_train_with_site_data_records_it(runner, fake_data_dir, site_csv, bundles):
    result = runner.invoke(cli, ["train", "--data-dir", str(fake_data_dir), "--site-data", str(site_csv),
                                 "--site-weight", "2", "--version", "cli-site", "--seed", "0"])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == str(bundles / "cli-site")
    assert "site data site.csv: 120 rows read, 120 trained on (weight 2); left out: none" in result.stderr
    manifest = json.loads((bundles / "cli-site" / "manifest.json").read_text())
    assert manifest["site_data"]["sha256"] == sha256_file(site_csv)
    assert (manifest["site_data"]["rows"], manifest["site_data"]["weight"]) == (120, 2.0)
    assert manifest["model_version"] == "cli-site"
    assert (bundles / "CURRENT").read_text().strip() == "public"  # a named version is not served until `models use`


def test_train_says_which_site_rows_it_left_out_and_why(runner, fake_data_dir, tmp_path, bundles):
    export = tmp_path / "feedback.csv"  # as `moderate feedback export` writes it
    export.write_text("text,comment_id,decision,unsupported_claim,api_key_id\n"
                      "you shill,c1,reject,,1\n"  # corrected below
                      "you shill,c1,approve,,1\n"
                      ",c2,reject,,1\n"  # sent by id while the server kept no text
                      "a calm remark,c3,,,1\n"
                      "The budget doubled in 2015.,c4,,1,1\n"
                      + "".join(f"comment {i},d{i},approve,,1\n" for i in range(4)))
    from model.training.data import load_test_sets, load_validation_sets

    public = [next(iter(load_test_sets(fake_data_dir).values()))["text"].iloc[0],  # never trained on, and
              next(iter(load_validation_sets(fake_data_dir).values()))["text"].iloc[0]]  # they choose C, thresholds
    pd.DataFrame({"text": public, "comment_id": ["e1", "e2"], "decision": "reject", "unsupported_claim": None,
                  "api_key_id": 1}).to_csv(export, mode="a", header=False, index=False)
    result = runner.invoke(cli, ["train", "--data-dir", str(fake_data_dir), "--site-data", str(export), "--version", "left-out"])
    assert result.exit_code == 0, result.output
    line = next(line for line in result.stderr.splitlines() if line.startswith("site data"))
    assert line.startswith("site data feedback.csv: 11 rows read, 5 trained on (weight 5); left out: "
                           "1 earlier feedback on a comment given again (the last kept); 1 without text")
    assert "MODERATION_STORE_TEXT=true" in line and "1 without a decision or label" in line
    assert "1 labelled only unsupported_claim" in line
    assert "1 also in a public test set; 1 also in a public validation set" in line
    entry = json.loads((bundles / "left-out" / "manifest.json").read_text())["site_data"]
    assert (entry["rows_superseded"], entry["rows_without_text"], entry["rows_without_label"], entry["rows_claim_label_only"],
            entry["removed_test_overlap"], entry["removed_validation_overlap"]) == (1, 1, 1, 1, 1, 1)


def test_train_logs_progress_when_stderr_is_not_a_terminal(runner, tmp_path, monkeypatch):
    import model.training.train

    given = {}
    monkeypatch.setattr(model.training.train, "train_bundle", lambda **kwargs: given.update(kwargs) or tmp_path)
    result = runner.invoke(cli, ["train", "--out", str(tmp_path)])  # CliRunner's stderr is no terminal
    assert result.exit_code == 0, result.output
    assert given["progress"] is True


def test_train_with_a_bad_site_file_is_bad_input(runner, fake_data_dir, tmp_path, bundles):
    bad = tmp_path / "site.csv"
    bad.write_text("text,decision\nhello,delete\n")
    result = runner.invoke(cli, ["train", "--data-dir", str(fake_data_dir), "--site-data", str(bad), "--version", "x"])
    assert result.exit_code == 2 and "approve, review or reject" in result.output


def _manifest(folder, **fields):
    folder.mkdir(parents=True)
    manifest = {"model_version": folder.name, "attributes": ["toxicity"], "model_sha256": "0" * 64, "versions": {}}
    (folder / "manifest.json").write_text(json.dumps(manifest | fields))


def test_list_orders_by_version_number_and_reads_an_encoder_bundles_rows(runner, tmp_path, monkeypatch):
    root = tmp_path / "bundles"
    _manifest(root / "2.10.0", encoder_training={"rows": 120502})
    _manifest(root / "2.9.0", created="2026-12-01T00:00:00+00:00", training_rows=500,
              test_metrics={"ucc_test": {"attribute": "toxicity", "rows": 10, "positives": 2, "roc_auc": 0.8}})
    _manifest(root / "1.2.0", created="2026-11-26T04:21:50+00:00", training_rows=78198,
              test_metrics={"ucc_test": {"attribute": "toxicity", "rows": 10, "positives": 2, "roc_auc": 0.7589}})
    (root / "CURRENT").write_text("2.10.0")
    monkeypatch.setenv(BUNDLES_DIR_ENV, str(root))
    result = runner.invoke(cli, ["models", "list"])
    assert result.exit_code == 0, result.output
    rows = [line.lstrip("* ").split() for line in result.output.splitlines()[1:4]]
    assert [row[0] for row in rows] == ["1.2.0", "2.9.0", "2.10.0"]  # not by created: 2.10.0 records none
    assert rows[2] == ["2.10.0", "-", "120502", "-", "-"] and rows[0][-1] == "0.759"  # every column shown
    assert "(2.10.0: no test figures in the manifest;" in result.output
    # The hint named bundles/<version>, another folder than $MODERATION_BUNDLES_DIR's.
    assert f"`moderate eval --model {root / '2.10.0'} --out <folder>` measures them" in result.stderr
    _manifest(root / "2.11.0")
    result = runner.invoke(cli, ["models", "list"])
    assert f"(2.10.0, 2.11.0: no test figures in the manifest; `moderate eval --model {root}/<version> --out" in result.stderr


UNREADABLE = {
    "latin1.csv": ("text,decision\ncaf\xe9 ok,approve\n".encode("latin-1"), "is not UTF-8 (byte 0xe9 at position 17, line 2): save it as UTF-8"),
    "empty.csv": (b"", "is empty: give a header row"),
    "bad.jsonl": (b'{"text": "fine", "decision": "approve"}\n{"text": oops}\n', "line 2: not valid JSON"),
    "unclosed.csv": (b'text,decision\nfine,approve\n"never closed,reject\n', "line 3: a quoted field is never closed"),
    "comments.xlsx": (b"PK", "unknown table format"),
}


def _one_error_line(result, path, message):
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    lines = result.output.strip().splitlines()
    assert lines[-1].startswith(f"Error: {path}") and message in lines[-1], result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize("name", sorted(UNREADABLE))
def test_compare_explains_an_unreadable_data_file(runner, tiny_bundle_path, tmp_path, name):
    content, message = UNREADABLE[name]
    path = tmp_path / name
    path.write_bytes(content)
    result = runner.invoke(cli, ["compare", str(tiny_bundle_path), str(tiny_bundle_path), "--data", str(path), "--label-column", "decision"])
    _one_error_line(result, path, message)


def test_compare_explains_a_missing_data_file(runner, tiny_bundle_path, tmp_path):
    result = runner.invoke(cli, ["compare", str(tiny_bundle_path), str(tiny_bundle_path), "--data", str(tmp_path / "absent.csv")])
    _one_error_line(result, tmp_path / "absent.csv", "not found")


@pytest.mark.parametrize("name", ["latin1.csv", "bad.jsonl"])
def test_train_explains_an_unreadable_site_file(runner, fake_data_dir, tmp_path, name):
    content, message = UNREADABLE[name]
    path = tmp_path / name
    path.write_bytes(content)
    result = runner.invoke(cli, ["train", "--data-dir", str(fake_data_dir), "--site-data", str(path), "--out", str(tmp_path / "bundle")])
    _one_error_line(result, path, message)
    assert not (tmp_path / "bundle").exists()


def test_a_bad_site_file_is_refused_before_the_public_data_is_read(runner, tmp_path):
    site = tmp_path / "site.csv"
    site.write_text("text,decision\nhello,delete\n")
    # No public data at all: the site's mistake is found first, not after minutes of loading.
    result = runner.invoke(cli, ["train", "--data-dir", str(tmp_path / "no data here"), "--site-data", str(site),
                                 "--out", str(tmp_path / "bundle")])
    assert result.exit_code == 2 and "approve, review or reject" in result.output


def test_list_says_when_there_is_no_current(runner, bundles):
    (bundles / "CURRENT").unlink()
    result = runner.invoke(cli, ["models", "list"])
    assert result.exit_code == 0 and "public" in result.stdout
    assert (f"no {bundles / 'CURRENT'}: the service has no bundle to serve by default; choose one with "
            "`moderate models use VERSION`") in result.stderr


def test_list_of_a_missing_bundles_folder_is_bad_input_naming_it(runner, bundles, monkeypatch):
    """A mistyped $MODERATION_BUNDLES_DIR exited 0 with "no bundles in ...: run `moderate train`"."""
    missing = bundles.parent / "bundels"
    monkeypatch.setenv(BUNDLES_DIR_ENV, str(missing))
    result = runner.invoke(cli, ["models", "list"])
    assert result.exit_code == 2, result.output
    assert result.stderr.strip() == (f"Error: the folder of bundles {missing} does not exist: point ${BUNDLES_DIR_ENV} at "
                                     "the folder holding them, or create it and run `moderate train`")
    assert not missing.exists()


def test_list_says_a_current_symlink_points_to_a_missing_bundle(runner, bundles):
    """A dangling CURRENT symlink was reported as "no CURRENT", although the file is there."""
    (bundles / "CURRENT").unlink()
    (bundles / "CURRENT").symlink_to(bundles / "removed" / "CURRENT")
    result = runner.invoke(cli, ["models", "list"])
    assert result.exit_code == 0 and "public" in result.stdout
    assert f"no {bundles / 'CURRENT'}" not in result.stderr
    assert (f"{bundles / 'CURRENT'} is a symlink to {bundles / 'removed' / 'CURRENT'}, which does not exist (a removed "
            "bundle?): the service cannot start") in result.stderr


def test_a_folder_without_a_manifest_is_named_not_hidden(runner, bundles):
    (bundles / "9.9.9").mkdir()
    shutil.copy(bundles / "public" / "model.joblib", bundles / "9.9.9")
    result = runner.invoke(cli, ["models", "list"])
    assert result.exit_code == 0 and "9.9.9" in result.stdout
    assert f"9.9.9: {bundles / '9.9.9' / 'manifest.json'} not found: a bundle folder holds" in result.stderr
    result = runner.invoke(cli, ["models", "use", "9.9.9"])
    assert result.exit_code == 2 and "9.9.9/manifest.json not found" in result.output and "known" not in result.output
    assert (bundles / "CURRENT").read_text().strip() == "public"


def test_a_bundle_still_being_written_is_not_listed_or_served(runner, bundles):
    writing = f".next.partial-{os.getpid()}"  # complete files, but the `moderate train` still running has not renamed it
    shutil.copytree(bundles / "site", bundles / writing)
    result = runner.invoke(cli, ["models", "list"])
    assert result.exit_code == 0 and ".next" not in result.output
    result = runner.invoke(cli, ["models", "use", writing])
    assert result.exit_code == 2 and "is not a bundle version" in result.output
    assert (bundles / "CURRENT").read_text().strip() == "public"


def test_list_names_the_folders_killed_trainings_left(runner, bundles):
    dead_pid = finished_process_id()
    killed, replaced, running = (bundles / f".1.3.0.partial-{dead_pid}", bundles / f".site.replaced-{dead_pid}",
                                 bundles / f".1.4.0.partial-{os.getpid()}")
    for folder in (killed, replaced, running):
        shutil.copytree(bundles / "site", folder)
    result = runner.invoke(cli, ["models", "list"])
    assert result.exit_code == 0, result.output
    for folder in (killed, replaced):
        assert (f"{folder}: left by a `moderate train` that was killed (its process is gone); the next `moderate train` "
                f"removes it, or remove it now with `rm -r {folder}`") in result.stderr
    assert running.name not in result.output  # a training still running
    assert killed.is_dir() and replaced.is_dir()  # listing removes nothing


def test_list_names_a_bundles_folder_it_cannot_read(runner, bundles, monkeypatch):
    blocker = bundles / "public" / "model.joblib"
    monkeypatch.setenv(BUNDLES_DIR_ENV, str(blocker))
    result = runner.invoke(cli, ["models", "list"])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert result.stderr.strip() == (f"Error: {blocker} is a file, not a folder of bundles: point ${BUNDLES_DIR_ENV} at the "
                                     "folder holding them")
    monkeypatch.setenv(BUNDLES_DIR_ENV, str(bundles))
    (bundles / "CURRENT").unlink()
    (bundles / "CURRENT").mkdir()
    result = runner.invoke(cli, ["models", "list"])
    assert result.exit_code == 2 and result.stderr.strip() == f"Error: {current_is_a_folder_message(bundles)}"


def test_compare_counts_the_cells_that_are_not_text_as_score_does(runner, tiny_bundle_path, tmp_path):
    data = tmp_path / "comments.jsonl"
    rows = [{"text": "a fair point"}, {"text": 12}, {"text": ["a", "list"]}, {"text": None}, {"text": " "}]
    data.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    result = runner.invoke(cli, ["compare", str(tiny_bundle_path), str(tiny_bundle_path), "--data", str(data)])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0] == (f"5 comments, empty 4 (of which not text 2); old {tiny_bundle_path}, "
                                             f"new {tiny_bundle_path}")
    scored = runner.invoke(cli, ["score", str(data), "-o", str(tmp_path / "scored.csv"), "--model", str(tiny_bundle_path)])
    assert scored.exit_code == 0 and "empty 4 (of which not text 2)" in scored.stderr  # the same count, in the same words


@pytest.mark.parametrize("under", ["", "sub"])
def test_use_says_when_the_bundles_folder_is_a_file(runner, bundles, monkeypatch, under):
    blocker = bundles / "public" / "model.joblib"
    monkeypatch.setenv(BUNDLES_DIR_ENV, str(blocker / under if under else blocker))
    result = runner.invoke(cli, ["models", "use", "public"])
    assert result.exit_code == 2 and "Traceback" not in result.output
    lies_under = f" ({blocker / under} lies under it)" if under else ""
    assert result.stderr.strip() == (f"Error: {blocker} is a file, not a folder of bundles{lies_under}: point "
                                     f"${BUNDLES_DIR_ENV} at the folder holding them")


def test_use_names_a_current_it_cannot_replace_and_leaves_no_temporary(runner, bundles):
    (bundles / "CURRENT").unlink()
    (bundles / "CURRENT").mkdir()
    result = runner.invoke(cli, ["models", "use", "site"])
    assert result.exit_code == 2 and result.stderr.strip() == f"Error: {current_is_a_folder_message(bundles)}"
    assert not [path.name for path in bundles.iterdir() if path.name.startswith(".CURRENT")]
    assert (bundles / "CURRENT").is_dir()  # left for the operator to move, as the message says


def current_is_a_folder_message(bundles) -> str:
    """What CURRENT should be and how to make it so, when it is a folder (it said only "CURRENT: Is a directory")."""
    return (f"{bundles / 'CURRENT'} is a folder, but CURRENT must be a file holding the version name of the bundle to "
            f"serve (e.g. 1.3.0): move the folder out of {bundles}, then choose the bundle with `moderate models use "
            f"VERSION` (VERSION: the name of a bundle folder in {bundles})")


@pytest.mark.parametrize(("target", "suggested"), [("site", "site"), ("{elsewhere}", "VERSION")])
def test_a_current_symlinked_to_a_folder_says_what_current_should_be(runner, bundles, tmp_path, target, suggested):
    """``ln -s site bundles/CURRENT`` gave "CURRENT: Is a directory" to `models list`, and a traceback to `score`."""
    elsewhere = tmp_path / "elsewhere"
    shutil.copytree(bundles / "site", elsewhere)
    target = target.format(elsewhere=elsewhere)
    (bundles / "CURRENT").unlink()
    (bundles / "CURRENT").symlink_to(target, target_is_directory=True)
    which = "" if suggested != "VERSION" else f" (VERSION: the name of a bundle folder in {bundles})"
    expected = (f"Error: {bundles / 'CURRENT'} is a symlink to the folder {target}, but CURRENT must be a file holding "
                f"the version name of the bundle to serve (e.g. 1.3.0): replace it with `moderate models use {suggested}`{which}")
    for command in (["models", "list"], ["score", "--text", "a fair point"]):
        result = runner.invoke(cli, command)
        assert result.exit_code == 2 and "Traceback" not in result.output, (command, result.output)
        assert result.stderr.strip() == expected, command
    used = runner.invoke(cli, ["models", "use", "site"])  # as the message says: the symlink is replaced by the file
    assert used.exit_code == 0, used.output
    assert not (bundles / "CURRENT").is_symlink() and (bundles / "CURRENT").read_text(encoding="utf-8") == "site\n"
    assert (elsewhere / "manifest.json").is_file() and (bundles / "site" / "manifest.json").is_file()  # nothing removed


def test_use_warns_when_the_model_setting_pins_another_bundle(runner, bundles, monkeypatch):
    """With MODEL set, a server reloads the same bundle on SIGHUP: `use` said "send SIGHUP ... to serve it" anyway."""
    monkeypatch.delenv("MODERATION_MODEL", raising=False)
    quiet = runner.invoke(cli, ["models", "use", "site"])
    assert quiet.exit_code == 0 and "MODEL" not in quiet.stderr
    monkeypatch.setenv("MODERATION_MODEL", "public")
    pinned = runner.invoke(cli, ["models", "use", "site"])
    assert pinned.exit_code == 0, pinned.output
    assert "the setting MODEL is 'public'" in pinned.stderr and "unset MODEL" in pinned.stderr


@pytest.mark.parametrize("broken", ["null", "versions", "metrics", "folder"])
def test_one_broken_manifest_hides_no_other_bundle(runner, tmp_path, monkeypatch, broken):
    """A manifest of another shape stopped `models list` with a traceback, one that is a folder with "Error: ...: Is a
    directory": no bundle was listed."""
    root = tmp_path / "bundles"
    _manifest(root / "2.9.0", training_rows=500)
    _manifest(root / "2.10.0")
    path = root / "2.10.0" / "manifest.json"
    if broken == "folder":
        path.unlink()
        path.mkdir()
    else:
        path.write_text({"null": "null", "versions": json.dumps({**json.loads(path.read_text()), "versions": "x"}),
                         "metrics": json.dumps({**json.loads(path.read_text()), "test_metrics": {"ucc_test": 1}})}[broken])
    (root / "CURRENT").write_text("2.9.0\n")
    monkeypatch.setenv(BUNDLES_DIR_ENV, str(root))
    result = runner.invoke(cli, ["models", "list"])
    assert result.exit_code == 0, result.output
    assert [line.split("\t")[1] for line in result.stdout.splitlines()[1:]] == ["2.9.0", "2.10.0"]
    assert f"2.10.0: {path}" in result.stderr


def test_use_refuses_a_hand_edited_manifest_without_a_traceback(runner, tiny_bundle_path, tmp_path, monkeypatch):
    root = tmp_path / "bundles"
    shutil.copytree(tiny_bundle_path, root / "1.0.0")
    path = root / "1.0.0" / "manifest.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), "versions": "1.9.1"}))
    monkeypatch.setenv(BUNDLES_DIR_ENV, str(root))
    result = runner.invoke(cli, ["models", "use", "1.0.0"])
    assert result.exit_code == 2 and isinstance(result.exception, SystemExit), repr(result.exception)
    assert result.stderr.strip() == (f"Error: 1.0.0 fails verification, CURRENT is unchanged: {path}: versions not as "
                                     "`moderate train` writes it (edited by hand?); restore it from git or retrain")
    assert not (root / "CURRENT").exists()


def test_list_says_when_current_is_empty(runner, tmp_path, monkeypatch):
    """An empty CURRENT was reported as "no CURRENT", although the file is there."""
    root = tmp_path / "bundles"
    _manifest(root / "2.9.0")
    (root / "CURRENT").write_text("\n")
    monkeypatch.setenv(BUNDLES_DIR_ENV, str(root))
    result = runner.invoke(cli, ["models", "list"])
    assert result.exit_code == 0 and "2.9.0" in result.stdout
    assert f"no {root / 'CURRENT'}" not in result.stderr
    assert f"{root / 'CURRENT'} is empty: the service has no bundle to serve by default" in result.stderr


def test_list_names_a_bundle_symlinked_to_a_folder_gone(runner, tmp_path, monkeypatch):
    """A bundle folder that is a symlink to a missing target (a disk not mounted) was left out of the list silently."""
    root = tmp_path / "bundles"
    _manifest(root / "2.9.0")
    (root / "2.10.0").symlink_to(tmp_path / "unmounted" / "2.10.0")
    (root / "CURRENT").write_text("2.10.0\n")
    monkeypatch.setenv(BUNDLES_DIR_ENV, str(root))
    result = runner.invoke(cli, ["models", "list"])
    assert result.exit_code == 0, result.output
    assert [line.split("\t")[:2] for line in result.stdout.splitlines()[1:]] == [["", "2.9.0"], ["*", "2.10.0"]]
    assert (f"2.10.0: {root / '2.10.0'} is a symlink to {tmp_path / 'unmounted' / '2.10.0'}, which does not exist") in result.stderr


def test_use_without_write_access_says_what_to_do(runner, bundles, monkeypatch):
    """A read-only folder of bundles gave "Error: .../CURRENT: Permission denied", not what to do about it."""
    from pathlib import Path

    write_text = Path.write_text

    def read_only_folder(path, *args, **kwargs):
        if path.parent == bundles:
            raise PermissionError(13, "Permission denied", str(path))
        return write_text(path, *args, **kwargs)

    monkeypatch.setattr(Path, "write_text", read_only_folder)
    result = runner.invoke(cli, ["models", "use", "site"])
    assert result.exit_code == 2, result.output
    assert result.stderr.strip() == (f"Error: {bundles / 'CURRENT'}: Permission denied: `moderate models use` writes "
                                     f"CURRENT in {bundles}; run it as a user who may write there (the one who owns it), "
                                     "CURRENT is unchanged")
    assert (bundles / "CURRENT").read_text().strip() == "public"


def _add_hashed_file(bundle, name: str, content: bytes) -> None:
    """Give ``bundle`` a further file its manifest hashes, as an encoder bundle's encoder.onnx."""
    (bundle / name).write_bytes(content)
    path = bundle / "manifest.json"
    manifest = json.loads(path.read_text())
    manifest["files"] = {**manifest.get("files", {}), name: {"sha256": sha256_file(bundle / name), "bytes": len(content)}}
    path.write_text(json.dumps(manifest))


def test_verify_checks_every_bundle_and_names_every_problem(runner, bundles):
    """No command checked the bundles without serving one: a bundle copied to a new host was found broken when a
    server (or `models use`) met it. Every problem of a bundle is named, not only the first."""
    _add_hashed_file(bundles / "site", "encoder.onnx", b"weights")
    _add_hashed_file(bundles / "site", "tokenizer.json", b"{}")
    sound = runner.invoke(cli, ["models", "verify"])
    assert sound.exit_code == 0, sound.output
    assert sound.stdout.splitlines() == ["public: ok", "site: ok"]
    with open(bundles / "site" / "model.joblib", "ab") as handle:
        handle.write(b"flipped")
    (bundles / "site" / "tokenizer.json").unlink()
    (bundles / "site" / "notes.txt").write_text("copied in by hand")
    result = runner.invoke(cli, ["models", "verify"])
    assert result.exit_code == 1, result.output
    lines = result.stdout.splitlines()
    assert lines[:2] == ["public: ok", "site: FAILED"]
    site = bundles / "site"
    assert any(line.startswith(f"  {site / 'model.joblib'} has SHA-256 ") for line in lines)
    assert f"  {site / 'tokenizer.json'} not found: the bundle is incomplete" in lines
    assert any(line.startswith(f"  {site / 'notes.txt'} is not listed in {site / 'manifest.json'}") for line in lines)
    assert not any("encoder.onnx" in line for line in lines)  # its SHA-256 matches
    assert "1 of 2 bundles failed verification (site)" in result.stderr
    only_public = runner.invoke(cli, ["models", "verify", "public"])
    assert only_public.exit_code == 0 and only_public.stdout.splitlines() == ["public: ok"], only_public.output


def test_a_policy_changed_by_one_byte_is_refused_by_verify_use_and_loading(runner, bundles):
    # The manifest hashed no policy: a threshold changed from 0.3 to 0.9 (one byte) passed verify and use, and the
    # server decided with it under the bundle's version.
    from model.bundle import BundleError, load_bundle

    path = bundles / "site" / "policy.toml"
    assert "policy_sha256" in json.loads((bundles / "site" / "manifest.json").read_text())
    text = path.read_text()
    changed = re.sub(r"(toxicity = 0\.)(\d)", lambda found: found[1] + str((int(found[2]) + 1) % 10), text, count=1)
    assert changed != text and len(changed) == len(text)
    path.write_text(changed)
    verify = runner.invoke(cli, ["models", "verify", "site"])
    assert verify.exit_code == 1 and f"  {path} has SHA-256 " in verify.stdout, verify.output
    use = runner.invoke(cli, ["models", "use", "site", "--no-load"])
    assert use.exit_code == 2 and "policy.toml has SHA-256" in use.output
    with pytest.raises(BundleError, match="policy.toml has SHA-256"):
        load_bundle(bundles / "site")


def test_verify_names_a_bundle_that_cannot_be_read_and_a_policy_that_is_broken(runner, bundles):
    (bundles / "public" / "manifest.json").write_text("{")
    (bundles / "site" / "policy.toml").write_text("[reject]\ntoxicity = 2\n")
    result = runner.invoke(cli, ["models", "verify"])
    assert result.exit_code == 1, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == "public: FAILED" and lines[1].startswith(f"  {bundles / 'public' / 'manifest.json'} is not valid JSON")
    assert "site: FAILED" in lines and any(str(bundles / "site" / "policy.toml") in line for line in lines)


def test_verify_of_a_version_that_is_not_there_is_bad_input(runner, bundles):
    result = runner.invoke(cli, ["models", "verify", "public", "nothing-here"])
    assert result.exit_code == 2
    assert "no bundle 'nothing-here'" in result.stderr and "known: public, site" in result.stderr
    assert result.stdout == ""  # nothing was checked


def test_verify_with_load_scores_the_probe_texts_again(runner, bundles):
    """A manifest's probe scores are not hashed: only loading the bundle and scoring them tells they differ."""
    path = bundles / "site" / "manifest.json"
    manifest = json.loads(path.read_text())
    assert manifest["probe"]["scores"], "the tiny bundle records probe scores"
    first = manifest["probe"]["scores"][0]
    first[next(iter(first))] = 1.5  # no probability
    path.write_text(json.dumps(manifest))
    assert runner.invoke(cli, ["models", "verify"]).exit_code == 0
    result = runner.invoke(cli, ["models", "verify", "--load"])
    assert result.exit_code == 1, result.output
    assert result.stdout.splitlines()[:2] == ["public: ok", "site: FAILED"]
    assert f"  {bundles / 'site'}: probe scores differ from the manifest" in result.stdout


def test_verify_moves_a_progress_bar_a_bundle_at_a_time(runner, bundles, monkeypatch):
    import importlib
    from contextlib import contextmanager

    models_cli = importlib.import_module("service.cli.models")  # the module: service.cli's `models` is the group
    bars = []

    @contextmanager
    def recording_bar(total, description, unit):
        bars.append([total, description, unit, 0])
        yield lambda n: bars[-1].__setitem__(3, bars[-1][3] + n)

    monkeypatch.setattr(models_cli, "progress_bar", recording_bar)
    result = runner.invoke(cli, ["models", "verify"])
    assert result.exit_code == 0, result.output
    assert bars == [[2, "verifying", " bundles", 2]]


def test_compare_drop_trained_says_when_a_site_bundle_cannot_tell_which_comments_it_trained_on(runner, bundles, site_csv,
                                                                                               tmp_path):
    """A site bundle from before the fingerprint, on another file (a later export holding its own): --drop-trained
    left nothing out, and nothing said so, as if the file held none of its comments."""
    manifest_path = bundles / "site" / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    del manifest["site_data"]["trained_texts"]
    manifest_path.write_text(json.dumps(manifest))
    later = _write(pd.concat([make_site(30, seed=11), pd.read_csv(site_csv)], ignore_index=True), tmp_path / "later.csv")
    result = runner.invoke(cli, ["compare", "public", "site", "--data", str(later), "--drop-trained"])
    assert result.exit_code == 0, result.output
    assert ("Warning: the new bundle was trained on site data whose texts its manifest does not record (an older site "
            "bundle), so --drop-trained cannot leave them out") in result.stderr
    assert "the old bundle" not in result.stderr
