"""The evaluation report on a tiny fake data directory (same layout as the real one) and, if present, the real data."""

from __future__ import annotations

import json
import os

import numpy as np
import pandas as pd
import pytest

from model.training.data import DataError, resolve_data_dir
from model.evaluation.report import (
    SPAN_F1_TARGET,
    TOXICITY_AUC_TARGETS,
    evaluate_scores,
    write_eval_report,
)
from model.results import Decision, Span
from model.evaluation.claims_report import CLAIM_AUC_TARGETS
from tests.corpus import make_corpus, make_spans, write_claim_test_files

TEST_SETS = tuple(TOXICITY_AUC_TARGETS)
METRICS = ("roc_auc", "pr_auc", "brier")
HOSTILE_WORDS = ("idiot", "moron", "loser")


def _write(frame: pd.DataFrame, path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, index=False)


def write_fake_data_dir(root, texts, labels, spans: pd.DataFrame):
    """Write the five public test sets and the toxic-spans test split, laid out and named as the real files."""
    texts, labels = list(texts), np.asarray(labels, dtype=int)
    hostility = root / "hostility"
    _write(pd.DataFrame({"comment": texts, "hostile": labels}),
           hostility / "unhealthy_comments_corpus_ucc" / "test.csv.gz")
    _write(pd.DataFrame({"id": range(len(texts)), "tweet": texts,
                         "subtask_a": np.where(labels == 1, "OFF", "NOT"),
                         "subtask_b": np.where(labels == 1, "TIN", "NULL"), "subtask_c": "NULL"}),
           hostility / "olid_offenseval2019" / "olid_test.csv.gz")
    kaggle = pd.DataFrame({"Insult": labels, "Date": "", "Comment": [f'"{t}"' for t in texts], "Usage": "PublicTest"})
    _write(kaggle, hostility / "kaggle_insults_social_commentary_2012" / "test_with_solutions.csv.gz")
    _write(kaggle, hostility / "kaggle_insults_social_commentary_2012" / "impermium_verification_labels.csv.gz")
    _write(pd.DataFrame({"id": range(len(texts)), "text": texts, "label": labels,
                         "api": np.where(labels == 1, 0.8, 0.2), "parent": ""}),
           hostility / "wikipedia_talk_context_toxicity_cat2020" / "cat_large_gn_out_of_context.csv.gz")
    _write(spans.assign(spans=spans["spans"].map(str))[["spans", "text"]],
           hostility / "toxic_spans_semeval2021" / "tsd_test.csv.gz")
    return root


@pytest.fixture
def corpus_data_dir(tmp_path):
    """Fake data from the same generators as the tiny bundle's training corpora (other seeds), claims included."""
    corpus = make_corpus(48, seed=5)
    root = write_fake_data_dir(tmp_path / "data", corpus["text"], corpus["toxicity"],
                               make_spans(make_corpus(24, seed=6)))
    return write_claim_test_files(root)


def _keyword_texts():
    neutral = [f"Thanks for the article about topic {i}." for i in range(6)]
    hostile = [f"Reader {i}, you are an {HOSTILE_WORDS[i % 3]}." for i in range(6)]
    return neutral + hostile, [0] * 6 + [1] * 6


def _keyword_spans():
    rows = [("You idiot.", list(range(4, 9))),
            ("What a moron!", list(range(7, 12))),
            ("Nothing to mark here.", []),
            ("A stupid idiot.", list(range(2, 14)))]  # gold "stupid idiot", we find only "idiot"
    return pd.DataFrame(rows, columns=["text", "spans"])


KEYWORD_SPAN_F1 = (1 + 1 + 1 + 2 * 5 / (5 + 12)) / 4


class KeywordScorer:
    """A stand-in scorer whose answers are known: hostile words score 0.9, everything else 0.1."""

    attributes = ("toxicity", "insult", "threat")
    model_version = "keyword-1"

    def predict_scores(self, texts):
        hostile = np.array([any(w in t.lower() for w in HOSTILE_WORDS) for t in texts], dtype=float)
        toxicity = 0.1 + 0.8 * hostile
        return np.column_stack([toxicity, toxicity, np.full(len(texts), 0.05)])

    def moderate(self, texts, with_spans=True):
        decisions = []
        for text, row in zip(texts, self.predict_scores(texts)):
            found = [Span(text.lower().find(w), text.lower().find(w) + len(w), 0.9)
                     for w in HOSTILE_WORDS if w in text.lower()]
            decisions.append(Decision("review" if found else "approve", (), dict(zip(self.attributes, row)),
                                      {"toxicity": found} if found else {}, self.model_version))
        return decisions


def _all_metric_values(report: dict):
    for result in report["sets"].values():
        for metrics in [*result["attributes"].values(), *result["baselines"].values()]:
            yield from (metrics[key] for key in METRICS)


@pytest.fixture(scope="module")
def keyword_report(tmp_path_factory):
    """The report of ``KeywordScorer`` on keyword data: its output folder, eval.md path and eval.json."""
    root = tmp_path_factory.mktemp("keyword")
    texts, labels = _keyword_texts()
    data_dir = write_fake_data_dir(root / "data", texts, labels, _keyword_spans())
    markdown_path = write_eval_report(data_dir=data_dir, out_dir=root / "out", scorer=KeywordScorer())
    return root / "out", markdown_path, json.loads((root / "out" / "eval.json").read_text())


def test_known_scores_give_known_report(keyword_report):
    out_dir, markdown_path, report = keyword_report
    assert markdown_path == out_dir / "eval.md"
    assert set(report["sets"]) == set(TEST_SETS)
    for name, result in report["sets"].items():
        assert (result["n_rows"], result["n_positive"]) == (12, 6)
        assert result["attributes"]["toxicity"]["roc_auc"] == 1.0
        assert result["attributes"]["threat"]["roc_auc"] == 0.5  # a constant score ranks nothing
        assert result["attributes"]["toxicity"]["brier"] == pytest.approx(0.01)
        assert "alt_profanity_check" in result["baselines"]
        assert ("perspective" in result["baselines"]) == (name == "cat_out_of_context")
        for plot in result["plots"].values():
            assert (out_dir / plot).stat().st_size > 0
    assert report["sets"]["cat_out_of_context"]["baselines"]["perspective"]["roc_auc"] == 1.0
    assert report["toxic_spans"]["f1"] == pytest.approx(KEYWORD_SPAN_F1)
    assert report["toxic_spans"]["n_posts"] == 4
    assert report["toxic_spans"]["n_with_gold_spans"] == 3
    assert all(row["met"] for row in report["targets"])
    assert {row["set"] for row in report["targets"]} == {*TEST_SETS, "toxic_spans_test"}
    assert report["model_version"] == "keyword-1"
    assert set(report["claims"]) == {"skipped"}  # no unsupported_claim attribute: no claim data needed


def test_the_targets_table_says_by_how_much_a_target_is_missed_and_where_what_was_tried_is(keyword_report):
    import copy

    from model.evaluation.report import MISSED_TARGETS_NOTE, _markdown
    from model.evaluation.report_format import target_margin

    _, markdown_path, report = keyword_report
    markdown = markdown_path.read_text()
    assert "| margin (+ met) | met |" in markdown and MISSED_TARGETS_NOTE not in markdown  # every target met
    for row in report["targets"]:
        assert row["margin"] == pytest.approx(row["value"] - row["target"])
    missed = copy.deepcopy(report)
    row = next(row for row in missed["targets"] if row["set"] == "ucc_test")
    row.update(value=0.789, target=0.85, met=False)
    madlibs = {"set": "madlibs", "attribute": "review thresholds", "metric": "NOT_BAD flagged share",
               "target": 0.05, "at_most": True, "value": 0.131, "met": False}
    missed["targets"].append(madlibs)
    for row in missed["targets"]:
        row["margin"] = target_margin(row)
    assert madlibs["margin"] == pytest.approx(-0.081)
    markdown = _markdown(missed)
    assert "| ucc_test | toxicity | roc_auc | 0.85 | 0.789 | -0.061 | **missed** |" in markdown
    assert "| madlibs | review thresholds | NOT_BAD flagged share | <= 0.05 | 0.131 | -0.081 | **missed** |" in markdown
    assert MISSED_TARGETS_NOTE in markdown and "MODEL_CARD.md" in MISSED_TARGETS_NOTE


@pytest.mark.parametrize("value, shown", [(-0.0611, "-0.061"), (0.0124, "+0.012"), (-0.0001, "-0.0001"), (0.00004, "+0.0000"),
                                          (0.0, "+0.000"), (None, "n/a"), (float("nan"), "n/a")])
def test_a_margin_never_reads_as_zero_when_it_is_not(value, shown):
    """ClaimBuster missed its 0.95 target by 0.0001: three decimals showed -0.000."""
    from model.evaluation.report_format import format_signed

    assert format_signed(value) == shown


@pytest.mark.parametrize("value, target, shown", [(0.94994, 0.95, "0.9499"), (0.95004, 0.95, "0.95004"),
                                                  (0.899996, 0.90, "0.899996"), (0.95, 0.95, "0.950"),
                                                  (0.789, 0.85, "0.789"), (0.9499, None, "0.950"), (None, 0.95, "n/a")])
def test_a_value_never_reads_as_its_target_when_it_is_not(value, target, shown):
    """ClaimBuster's ROC AUC 0.9499 read 0.950 beside its target 0.95 and **missed**."""
    from model.evaluation.report_format import format_number

    assert format_number(value, target) == shown


def test_the_targets_table_shows_a_near_miss_with_the_decimals_that_make_it_a_miss(keyword_report):
    import copy

    from model.evaluation.report import _markdown
    from model.evaluation.report_format import target_margin

    _, _, report = keyword_report
    near = copy.deepcopy(report)
    row = next(row for row in near["targets"] if row["set"] == "ucc_test")
    row.update(value=0.84996, met=False)
    row["margin"] = target_margin(row)
    assert "| ucc_test | toxicity | roc_auc | 0.85 | 0.84996 | -0.0000 | **missed** |" in _markdown(near)


def test_claims_section_is_skipped_with_a_note(keyword_report):
    _, markdown_path, _ = keyword_report
    assert "## Unsupported claims\n\nNot evaluated: the bundle has no `unsupported_claim`" in markdown_path.read_text()


def test_markdown_is_readable_by_a_newcomer(keyword_report):
    out_dir, markdown_path, _ = keyword_report
    markdown = markdown_path.read_text()
    assert "`make eval`" in markdown and "`moderate eval`" in markdown
    assert "keyword-1" in markdown
    for name in TEST_SETS:
        assert f"## {name}" in markdown
        assert f"](plots/{name}_curves.png)" in markdown
        assert f"](plots/{name}_attributes.png)" in markdown
    for license in ("CC BY-NC-SA 4.0", "Apache-2.0", "CC0-1.0"):
        assert license in markdown
    assert "Perspective API" in markdown and "alt-profanity-check" in markdown
    assert f"{SPAN_F1_TARGET:.2f}" in markdown and "0.708" in markdown


def test_report_on_tiny_bundle_has_keys_and_probabilities(tmp_path, tiny_bundle_path, corpus_data_dir, scorer):
    write_eval_report(model_path=tiny_bundle_path, data_dir=corpus_data_dir, out_dir=tmp_path / "out")
    report = json.loads((tmp_path / "out" / "eval.json").read_text())
    assert {"command", "created_at", "model_version", "model_path", "data_dir", "attributes", "targets", "sets",
            "toxic_spans", "claims", "seconds"} <= set(report)
    assert report["model_version"] == scorer.model_version
    assert report["encoder_mode"] is None and "encoder mode" not in (tmp_path / "out" / "eval.md").read_text()
    assert report["attributes"] == list(scorer.attributes)
    for result in report["sets"].values():
        assert set(result["attributes"]) == set(scorer.attributes)
        assert {"description", "license", "n_rows", "n_positive", "baselines", "plots"} <= set(result)
    values = list(_all_metric_values(report))
    assert values and all(0.0 <= value <= 1.0 for value in values)
    assert 0.0 <= report["toxic_spans"]["f1"] <= 1.0
    assert all(isinstance(row["met"], bool) for row in report["targets"])
    # Generated hostile sentences are what the tiny bundle was trained to find.
    assert report["sets"]["ucc_test"]["attributes"]["toxicity"]["roc_auc"] > 0.8
    # Two per hostility set, one per claim set, the claims' flag rates, and the attributes figure (OLID's TIN and UNT
    # labels are in the fake data).
    assert report["attributes_own_labels"]["plot"] == "plots/attributes_own_labels.png"
    assert len(list((tmp_path / "out" / "plots").glob("*.png"))) == 2 * len(TEST_SETS) + len(CLAIM_AUC_TARGETS) + 2
    claims = report["claims"]
    assert claims["threshold"] == scorer.policy.review["unsupported_claim"]
    claim_targets = [row for row in report["targets"] if row["attribute"] == "unsupported_claim"]
    assert {row["set"] for row in claim_targets} == set(CLAIM_AUC_TARGETS)
    assert all(row["value"] is not None and 0.0 <= row["value"] <= 1.0 for row in claim_targets)
    # Each set's probe (every fourth row) is scored again by the quoted-figures test of an encoder bundle: its ROC AUC
    # must be that of those rows, in the order the loaders give them.
    from sklearn.metrics import roc_auc_score

    from model.training.claims_data import load_claim_test_sets
    from model.training.data import load_test_sets
    from model.training.metrics import PROBE_STEP

    for results, sets, attribute in ((report["sets"], load_test_sets(corpus_data_dir), "toxicity"),
                                     (claims["sets"], load_claim_test_sets(corpus_data_dir), "unsupported_claim")):
        for name, frame in sets.items():
            probe = frame.iloc[::PROBE_STEP]
            scores = scorer.predict_scores(probe["text"].tolist())[:, scorer.attributes.index(attribute)]
            assert (results[name]["probe"]["n_rows"], results[name]["probe"]["step"]) == (len(probe), PROBE_STEP)
            assert results[name]["probe"]["roc_auc"] == pytest.approx(roc_auc_score(probe["label"], scores), abs=1e-12), name
    # Made-up unsupported claims from the templates the tiny bundle's claim heads were trained on.
    assert claims["sets"]["claimbuster_test"]["scorers"]["model"]["roc_auc"] > 0.8
    markdown = (tmp_path / "out" / "eval.md").read_text()
    assert "## Unsupported claims" in markdown and "](plots/claims_flag_rates.png)" in markdown


def test_single_class_set_reports_not_available(tmp_path):
    texts, _ = _keyword_texts()
    data_dir = write_fake_data_dir(tmp_path / "data", texts, [0] * len(texts), _keyword_spans())
    markdown = write_eval_report(data_dir=data_dir, out_dir=tmp_path / "out", scorer=KeywordScorer()).read_text()
    report = json.loads((tmp_path / "out" / "eval.json").read_text())
    ucc = report["sets"]["ucc_test"]["attributes"]["toxicity"]
    assert ucc["roc_auc"] is None and ucc["pr_auc"] is None  # NaN is written as null, not as invalid JSON
    assert 0.0 <= ucc["brier"] <= 1.0
    assert not report["targets"][0]["met"]
    assert "n/a" in markdown


def test_missing_profanity_check_is_reported(tmp_path, monkeypatch):
    monkeypatch.setattr("model.evaluation.report.load_profanity_check", lambda: None)
    texts, labels = _keyword_texts()
    data_dir = write_fake_data_dir(tmp_path / "data", texts, labels, _keyword_spans())
    markdown = write_eval_report(data_dir=data_dir, out_dir=tmp_path / "out", scorer=KeywordScorer()).read_text()
    report = json.loads((tmp_path / "out" / "eval.json").read_text())
    assert report["missing_baselines"] == ["alt-profanity-check"]
    assert all("alt_profanity_check" not in result["baselines"] for result in report["sets"].values())
    assert "Not compared: alt-profanity-check" in markdown


def test_a_run_that_fails_before_its_end_leaves_the_previous_report_pair_whole(tmp_path, monkeypatch):
    """eval.json was written before eval.md was rendered: a failure in between paired a new JSON with an old report."""
    texts, labels = _keyword_texts()
    data_dir = write_fake_data_dir(tmp_path / "data", texts, labels, _keyword_spans())
    out = tmp_path / "out"
    out.mkdir()
    (out / "eval.json").write_text('{"created_at": "before"}\n')
    (out / "eval.md").write_text("# Evaluation report (before)\n")

    def failing_markdown(report):
        raise KeyError("plots")

    monkeypatch.setattr("model.evaluation.report._markdown", failing_markdown)
    with pytest.raises(KeyError):
        write_eval_report(data_dir=data_dir, out_dir=out, scorer=KeywordScorer())
    assert (out / "eval.json").read_text() == '{"created_at": "before"}\n'
    assert (out / "eval.md").read_text() == "# Evaluation report (before)\n"
    assert sorted(path.name for path in out.iterdir()) == ["eval.json", "eval.md"]  # nor plots without their report


def test_an_interrupted_run_leaves_the_previous_plots_beside_the_previous_report(tmp_path, monkeypatch):
    """Plots were drawn straight into OUT/plots: Ctrl-C after them left new figures beside the old eval.md."""
    texts, labels = _keyword_texts()
    data_dir = write_fake_data_dir(tmp_path / "data", texts, labels, _keyword_spans())
    out = tmp_path / "out"
    (out / "plots").mkdir(parents=True)
    (out / "plots" / "ucc_test_curves.png").write_bytes(b"the previous run's figure")
    (out / "eval.md").write_text("# Evaluation report (before)\n")

    def interrupted(report):
        raise KeyboardInterrupt

    monkeypatch.setattr("model.evaluation.report._markdown", interrupted)
    with pytest.raises(KeyboardInterrupt):
        write_eval_report(data_dir=data_dir, out_dir=out, scorer=KeywordScorer())
    assert [path.name for path in (out / "plots").iterdir()] == ["ucc_test_curves.png"]
    assert (out / "plots" / "ucc_test_curves.png").read_bytes() == b"the previous run's figure"
    assert sorted(path.name for path in out.iterdir()) == ["eval.md", "plots"]  # no hidden folder left either


def test_a_finished_run_replaces_the_plots_with_its_own(tmp_path):
    from model.bundle import temporary_beside
    from tests.test_cli_training_safety import finished_process_id

    texts, labels = _keyword_texts()
    data_dir = write_fake_data_dir(tmp_path / "data", texts, labels, _keyword_spans())
    out = tmp_path / "out"
    (out / "plots").mkdir(parents=True)
    (out / "plots" / "ucc_test_curves.png").write_bytes(b"the previous run's figure")
    killed = out / temporary_beside(out / "plots").name.replace(str(os.getpid()), str(finished_process_id()))
    (killed / "plots").mkdir(parents=True)  # what a run killed with kill -9 left
    write_eval_report(data_dir=data_dir, out_dir=out, scorer=KeywordScorer())
    report = json.loads((out / "eval.json").read_text())
    linked = {report["sets"]["ucc_test"]["plots"]["curves"], report["sets"]["ucc_test"]["plots"]["attributes"]}
    assert all((out / path).is_file() for path in linked)
    assert (out / "plots" / "ucc_test_curves.png").read_bytes().startswith(b"\x89PNG")
    assert sorted(path.name for path in out.iterdir()) == ["eval.json", "eval.md", "plots"]


@pytest.mark.parametrize("left", ["plots/baseline/ucc_test_curves.png", "previous/ucc_test_curves.png"])
def test_a_hidden_folder_left_by_a_killed_run_with_this_process_id_is_not_reused(tmp_path, left):
    """In a container every run has the same process id (1): the hidden folder of a run killed there (the OOM killer)
    was taken for this run's own, so its plots (a baseline this run does not draw) were published with the new report,
    or its ``previous`` folder stopped the run at its very end (os.replace: directory not empty)."""
    from model.bundle import temporary_beside

    texts, labels = _keyword_texts()
    data_dir = write_fake_data_dir(tmp_path / "data", texts, labels, _keyword_spans())
    out = tmp_path / "out"
    (out / "plots").mkdir(parents=True)
    (out / "plots" / "ucc_test_curves.png").write_bytes(b"the previous run's figure")
    stale = temporary_beside(out / "plots") / left  # this process's id: what the killed run in the container left
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"the killed run's figure")
    write_eval_report(data_dir=data_dir, out_dir=out, scorer=KeywordScorer())
    assert not (out / "plots" / "baseline").exists()
    assert (out / "plots" / "ucc_test_curves.png").read_bytes().startswith(b"\x89PNG")
    assert sorted(path.name for path in out.iterdir()) == ["eval.json", "eval.md", "plots"]


def test_a_run_without_a_terminal_says_which_stage_it_is_in(tmp_path, capsys):
    """Under `make eval > log` or nohup a 10-minute run printed nothing until it ended."""
    texts, labels = _keyword_texts()
    data_dir = write_fake_data_dir(tmp_path / "data", texts, labels, _keyword_spans())
    write_eval_report(data_dir=data_dir, out_dir=tmp_path / "out", scorer=KeywordScorer())
    lines = capsys.readouterr().err.splitlines()
    assert "moderate eval: ucc_test: our scores" in lines and "moderate eval: toxic spans" in lines
    assert lines[-1] == "moderate eval: behaviour sets"


def test_missing_data_dir_is_a_data_error(tmp_path):
    with pytest.raises(DataError, match="not found"):
        write_eval_report(data_dir=tmp_path / "absent", out_dir=tmp_path / "out", scorer=KeywordScorer())


def test_evaluate_scores_per_attribute():
    frame = pd.DataFrame({"text": list("abcd"), "label": [0, 0, 1, 1]})
    scores = np.array([[0.1, 0.9], [0.2, 0.8], [0.8, 0.2], [0.9, 0.1]])
    result = evaluate_scores(scores, ("toxicity", "threat"), frame)
    assert (result["n_rows"], result["n_positive"]) == (4, 2)
    assert result["attributes"]["toxicity"]["roc_auc"] == 1.0
    assert result["attributes"]["threat"]["roc_auc"] == 0.0
    with pytest.raises(ValueError, match="expected"):
        evaluate_scores(scores[:, :1], ("toxicity", "threat"), frame)


def _real_data_dir():
    try:
        return resolve_data_dir()
    except DataError:
        return None


REAL_DATA_DIR = _real_data_dir()


@pytest.mark.slow
@pytest.mark.data
@pytest.mark.skipif(REAL_DATA_DIR is None or not (REAL_DATA_DIR / "hostility").is_dir(),
                    reason="public data directory absent")
def test_report_on_real_test_sets(tmp_path, scorer):
    write_eval_report(data_dir=REAL_DATA_DIR, out_dir=tmp_path, scorer=scorer)
    report = json.loads((tmp_path / "eval.json").read_text())
    assert report["sets"]["olid_test"]["n_rows"] == 860
    assert report["sets"]["olid_test"]["n_positive"] == 240
    assert report["toxic_spans"]["n_posts"] == 2000
    perspective = report["sets"]["cat_out_of_context"]["baselines"]["perspective"]["roc_auc"]
    assert perspective > 0.9  # the shipped scores are Perspective's, which does well on Wikipedia talk
    assert all(value is not None and 0.0 <= value <= 1.0 for value in _all_metric_values(report))
    assert all(row["value"] is not None for row in report["targets"])  # every real set has both classes
    claim_sets = {row["set"] for row in report["targets"] if row["attribute"] == "unsupported_claim"}
    assert claim_sets == set(CLAIM_AUC_TARGETS)
    assert report["claims"]["sets"]["claimbuster_test"]["n_rows"] == 702


@pytest.mark.parametrize("row, shown", [({"value": 0.91, "met": True}, "met"), ({"value": 0.89, "met": False}, "**missed**"),
                                        ({"value": None, "met": False}, "n/a"), ({"value": float("nan"), "met": False}, "n/a")])
def test_a_target_whose_value_could_not_be_computed_is_neither_met_nor_missed(row, shown):
    from model.evaluation.report_format import target_status

    assert target_status(row) == shown
