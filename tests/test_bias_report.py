"""The identity-bias, behaviour and side-by-side sections of the evaluation report, with scorers whose answers are known."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from model.evaluation.bias_data import BIAS_FILES, BIAS_FOLDER
from model.evaluation.bias_report import bias_markdown, bias_targets, evaluate_bias_set, review_thresholds
from model.evaluation.report import write_eval_report
from model.evaluation.side_by_side import comparison_rows
from model.policy import Policy
from tests.test_report import KeywordScorer, _keyword_spans, _keyword_texts, write_fake_data_dir


class PolicyKeywordScorer(KeywordScorer):
    """``KeywordScorer`` (hostile words 0.9, else 0.1) with a policy that reviews toxicity from 0.5."""

    policy = Policy(reject={}, review={"toxicity": 0.5, "unsupported_claim": 0.01})


class ConstantScorer(PolicyKeywordScorer):
    """Every text scores 0.5: it ranks nothing (every AUC 0.5) and flags every comment."""

    model_version = "constant-0"

    def predict_scores(self, texts):
        return np.full((len(texts), len(self.attributes)), 0.5)


def write_madlibs(root) -> None:
    """Five BAD and five NOT_BAD madlibs per identity (gay, muslim, deaf), BAD ones with a hostile word, plus one
    NOT_BAD muslim sentence that holds one; the Wikipedia files have too few rows for any identity to be scored."""
    rows = []
    for identity in ("gay", "muslim", "deaf"):
        rows += [(f"Sam {i} is a {identity} idiot", "BAD") for i in range(5)]
        rows += [(f"Sam {i} is a kind {identity}", "NOT_BAD") for i in range(5)]
    rows.append(("The muslim loser club meets today", "NOT_BAD"))
    folder = root / "hostility" / BIAS_FOLDER
    folder.mkdir(parents=True)
    pd.DataFrame(rows, columns=["Text", "Label"]).assign(Template="made_up").to_csv(folder / BIAS_FILES["madlibs"][0], index=False)
    for name in ("wiki_identity", "wiki_identity_fuzzed"):
        pd.DataFrame({"rev_id": [1, 2], "comment": ["Jewish history is long.", "You jewish idiot"], "toxic": [False, True]}
                     ).to_csv(folder / BIAS_FILES[name][0], index=False)


@pytest.fixture(scope="module")
def bias_report(tmp_path_factory):
    """The report of ``PolicyKeywordScorer`` with ``ConstantScorer`` as baseline, on keyword data with madlibs."""
    root = tmp_path_factory.mktemp("bias")
    texts, labels = _keyword_texts()
    data_dir = write_fake_data_dir(root / "data", texts, labels, _keyword_spans())
    write_madlibs(data_dir)
    markdown_path = write_eval_report(data_dir=data_dir, out_dir=root / "out", scorer=PolicyKeywordScorer(),
                                      baseline="constant", baseline_scorer=ConstantScorer())
    return markdown_path.read_text(), json.loads((root / "out" / "eval.json").read_text())


def test_review_thresholds_leave_out_the_claim_flag():
    assert review_thresholds(PolicyKeywordScorer()) == {"toxicity": 0.5}
    assert review_thresholds(KeywordScorer()) == {}  # no policy: nothing is flagged


def test_bias_section_has_known_figures(bias_report):
    _, report = bias_report
    madlibs = report["bias"]["sets"]["madlibs"]
    assert (madlibs["n_rows"], madlibs["n_positive"]) == (31, 15)
    assert madlibs["negative_flagged"] == pytest.approx(1 / 16)  # the one NOT_BAD row with "loser"
    muslim, gay = madlibs["identities"]["muslim"], madlibs["identities"]["gay"]
    assert muslim["negative_flagged"] == pytest.approx(1 / 6)
    # Muslim rows: hostile 0.9 x5 against civil 0.1 x5 and 0.9 x1 (a tie counts half): (25 + 2.5) / 30.
    assert muslim["subgroup_auc"] == pytest.approx(27.5 / 30)
    assert muslim["bpsn_auc"] == pytest.approx(55 / 60)  # 10 background hostile against the same 6 civil rows
    assert muslim["bnsp_auc"] == 1.0
    assert gay["bnsp_auc"] == pytest.approx(52.5 / 55)  # the flagged muslim row ties with gay hostile rows
    assert all(m["scored"] for m in madlibs["identities"].values())
    assert set(madlibs["identities"]) == {"gay", "muslim", "deaf"}  # only identities with rows are listed
    wiki = report["bias"]["sets"]["wiki_identity"]
    assert wiki["identities"]["jewish"]["scored"] is False and wiki["final_score"] is None


def test_bias_targets_say_met_missed_and_worst_identity(bias_report):
    markdown, report = bias_report
    rows = {(row["set"], row["metric"]): row for row in report["targets"] if row["set"] == "madlibs"}
    flagged = rows[("madlibs", "NOT_BAD flagged share")]
    assert flagged["value"] == pytest.approx(1 / 16) and flagged["met"] is False
    bpsn = rows[("madlibs", "min bpsn_auc")]
    assert bpsn["worst_identity"] == "muslim" and bpsn["met"] is True and bpsn["n_below"] == 0
    line = next(line for line in markdown.splitlines() if line.startswith("| madlibs | NOT_BAD flagged share |"))
    assert line.split(" | ")[2:6] == ["<= 0.05", "0.062 / 1.000", "-0.012", "**missed**"]  # 0.05 - 1/16, ours / baseline
    # No identity of the Wikipedia files is scored: no value, so the target is not met.
    assert not any(row["met"] for row in report["targets"] if row["set"] == "wiki_identity")


def test_bias_targets_show_a_near_miss_with_the_decimals_that_make_it_a_miss(bias_report):
    import copy

    _, report = bias_report
    section = copy.deepcopy(report["bias"])
    section["sets"]["madlibs"]["identities"]["muslim"]["bpsn_auc"] = 0.8996
    markdown = "\n".join(bias_markdown(section))
    assert "| madlibs | min bpsn_auc | >= 0.90 | 0.8996 | -0.0004 | **missed** | muslim (1 of 3 below) |" in markdown


def test_baseline_figures_sit_beside_ours(bias_report):
    markdown, report = bias_report
    baseline = report["baseline"]
    assert baseline["model_version"] == "constant-0" and baseline["model_path"] == "constant"
    assert report["sets"]["ucc_test"]["attributes"]["toxicity"]["roc_auc"] == 1.0
    assert baseline["sets"]["ucc_test"]["attributes"]["toxicity"]["roc_auc"] == 0.5
    assert baseline["bias"]["sets"]["madlibs"]["negative_flagged"] == 1.0  # 0.5 reaches the 0.5 review threshold
    assert "## Side by side: keyword-1 (ours) and constant-0 (baseline)" in markdown
    assert "| toxicity: roc_auc | ucc_test | 1.000 | 0.500 | +0.500 |" in markdown
    assert "| **baseline constant-0**: toxicity | 0.500 |" in markdown
    assert "passed (ours / constant-0)" in markdown


def test_comparison_rows_keep_figures_apart():
    ours = {"targets": [{"set": "a", "attribute": "toxicity", "metric": "roc_auc", "value": 0.9}],
            "bias": {"sets": {"madlibs": {"final_score": 0.8, "negative_flagged": 0.2}}},
            "behaviour": {"pass_rate": 0.7, "categories": {"threat": {"pass_rate": 0.6}}, "long_comment": {"passed": True}}}
    theirs = {"targets": [{"set": "b", "attribute": "toxicity", "metric": "roc_auc", "value": 0.5}],
              "bias": {"sets": {}}, "behaviour": {"pass_rate": 0.4, "categories": {}, "long_comment": {"passed": False}}}
    assert comparison_rows(ours, theirs) == [
        ("toxicity: roc_auc", "a", 0.9, None), ("toxicity: roc_auc", "b", None, 0.5),
        ("final bias score", "madlibs", 0.8, None), ("civil rows flagged at review", "madlibs", 0.2, None),
        ("behaviour pass rate", "all pairs", 0.7, 0.4), ("behaviour pass rate", "threat", 0.6, None),
        ("long comment caught (1 = yes)", "behaviour", 1.0, 0.0)]


def test_bias_markdown_without_sets_says_why():
    assert "Not evaluated" in "\n".join(bias_markdown({"sets": {}}))
    assert bias_targets({}) == []


def test_evaluate_bias_set_needs_enough_rows_per_class():
    frame = pd.DataFrame({"text": list("abcdef"), "label": [1, 0, 0, 0, 0, 0], "x": [True] * 6})
    frame.attrs["identities"] = ["x"]
    result = evaluate_bias_set(frame, np.linspace(0.9, 0.1, 6)[:, None], ("toxicity",), {"toxicity": 0.5})
    assert result["identities"]["x"]["scored"] is False  # one hostile row: listed, not scored
    assert result["overall_auc"] == 1.0 and result["negative_flagged"] == pytest.approx(2 / 5)  # 0.74, 0.58


def test_evaluate_bias_set_leaves_an_unscored_identity_out_of_the_power_means():
    # a: 5 hostile at 0.9, 5 civil at 0.2. b (1 hostile, 2 civil: listed, not scored). Two hostile, two civil of neither.
    rows = [("a", 1, 0.9)] * 5 + [("a", 0, 0.2)] * 5 + [("b", 1, 0.3), ("b", 0, 0.8), ("b", 0, 0.1)]
    rows += [("", 1, 0.7), ("", 1, 0.1), ("", 0, 0.5), ("", 0, 0.05)]
    frame = pd.DataFrame({"text": [f"row {i}" for i in range(len(rows))], "label": [label for _, label, _ in rows],
                          "a": [who == "a" for who, _, _ in rows], "b": [who == "b" for who, _, _ in rows]})
    frame.attrs["identities"] = ["a", "b"]
    scores = np.array([[score] for _, _, score in rows])
    result = evaluate_bias_set(frame, scores, ("toxicity",), {"toxicity": 0.5})
    a = result["identities"]["a"]
    # BPSN: hostile rows not about a (0.3, 0.7, 0.1) against a's civil 0.2: 0.3 and 0.7 win, 0.1 loses.
    # BNSP: a's hostile 0.9 beats every civil row not about a (0.8, 0.1, 0.5, 0.05).
    assert (a["subgroup_auc"], a["bpsn_auc"], a["bnsp_auc"]) == (1.0, pytest.approx(2 / 3), 1.0)
    assert result["identities"]["b"]["scored"] is False
    # Of the 8 x 9 hostile-civil pairs: 0.9 (x5) wins 45, 0.3 wins 7, 0.7 wins 8, the hostile 0.1 wins 1 and ties 1.
    assert result["overall_auc"] == pytest.approx(61.5 / 72)
    assert result["power_means"] == {"subgroup_auc": 1.0, "bpsn_auc": pytest.approx(2 / 3), "bnsp_auc": 1.0}
    assert result["final_score"] == pytest.approx(0.25 * 61.5 / 72 + 0.75 * (1 + 2 / 3 + 1) / 3)


def test_behaviour_section_counts_civil_twins_flagged(bias_report):
    from model.evaluation.behaviour import PAIRS
    from tests.test_report import HOSTILE_WORDS

    markdown, report = bias_report
    scored = [pair for pair in PAIRS if pair.attribute in KeywordScorer.attributes]  # no identity_attack column
    flagged = [any(word in pair.civil.lower() for word in HOSTILE_WORDS) for pair in scored]
    behaviour = report["behaviour"]
    assert behaviour["n_pairs"] == len(scored) and behaviour["civil_flagged"] == pytest.approx(np.mean(flagged))
    assert report["baseline"]["behaviour"]["civil_flagged"] == 1.0  # 0.5 everywhere reaches the review threshold
    assert "civil twins flagged (ours / constant-0)" in markdown
