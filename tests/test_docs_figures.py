"""The test figures README.md and MODEL_CARD.md quote for the served bundle are those of the committed `make eval`
report (``reports/eval.json``), so a re-run that moves a figure, or a figure copied wrong, fails here.

Two figures of MODEL_CARD.md had been copied wrong (OLID 0.875 for 0.874, Kaggle 0.863 for 0.862) and four of README.md
were an older bundle's, with nothing to tell.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EVAL = json.loads((ROOT / "reports" / "eval.json").read_text(encoding="utf-8"))
README = (ROOT / "README.md").read_text(encoding="utf-8")
MODEL_CARD = (ROOT / "MODEL_CARD.md").read_text(encoding="utf-8")
CURRENT = (ROOT / "bundles" / "CURRENT").read_text(encoding="utf-8").strip()
CARD_TARGETS = MODEL_CARD.split(f"The targets, with {CURRENT}'s figures as the README quotes them:", 1)[1].split("\n\n", 2)[1]
"""MODEL_CARD.md's table of the served bundle's targets (its version history has tables with the same rows)."""

README_ROWS = {
    "ucc_test": "| UCC test `hostile` (Globe and Mail comments) |",
    "olid_test": "| OLID test OFF (tweets) |",
    "kaggle_test": "| Kaggle insults test |",
    "kaggle_verification": "| Kaggle insults verification |",
    "cat_out_of_context": "| CAT-LARGE out of context (Wikipedia talk) |",
    "toxic_spans_test": "| SemEval-2021 toxic spans test |",
    "claimbuster_test": "| ClaimBuster spotter test |",
    "checkthat2022_test": "| CheckThat! 2022 1B test |",
    "cdcp_test": "| CDCP unsupported fact |",
    "regulation_room_test": "| Regulation Room |",
    "cmv_test": "| CMV verifiability |",
}
"""eval.json target set -> how its row of README's test table starts."""
CARD_ROWS = {**README_ROWS, "ucc_test": "| UCC test `hostile` |", "olid_test": "| OLID test OFF |",
             "cat_out_of_context": "| CAT-LARGE out of context |", "toxic_spans_test": "| toxic spans test |"}
"""The same rows in MODEL_CARD.md's table of targets."""


def table_row(text: str, start: str) -> list[str]:
    """The cells of the one table row of ``text`` that starts with ``start``."""
    rows = [line for line in text.splitlines() if line.startswith(start)]
    assert len(rows) == 1, f"{len(rows)} rows start with {start!r}"
    return [cell.strip() for cell in rows[0].strip("|").split("|")]


def shows(cell: str, value: float) -> bool:
    """Whether ``cell`` starts with ``value`` rounded to the 3 or 4 decimals it is written with."""
    match = re.match(r"\*{0,2}(\d\.\d{3,4})", cell)
    return match is not None and match.group(1) == f"{value:.{len(match.group(1)) - 2}f}"


def targets(report: dict) -> dict[str, dict]:
    return {target["set"]: target for target in report["targets"]}


def test_the_report_is_of_the_served_bundle():
    assert EVAL["model_version"] == CURRENT
    assert EVAL["baseline"]["model_version"] == "1.2.0"


@pytest.mark.parametrize("set_name", sorted(README_ROWS))
def test_readme_test_table_shows_the_reported_figures(set_name):
    target = targets(EVAL)[set_name]
    _, _, ours, alt_profanity_check, _, goal, met = table_row(README, README_ROWS[set_name])
    assert shows(ours, target["value"]), (ours, target["value"])
    baseline = re.search(r"\((?:1\.2\.0: )?([\d.]+)\)", ours)
    assert baseline is not None and shows(baseline.group(1), targets(EVAL["baseline"])[set_name]["value"]), ours
    assert float(goal) == target["target"]
    assert met.startswith("**met**") if target["met"] else met.startswith("missed")
    scorers = EVAL["sets"].get(set_name, {}).get("baselines", {})
    if "alt_profanity_check" in scorers:
        assert shows(alt_profanity_check, scorers["alt_profanity_check"]["roc_auc"]), alt_profanity_check
    else:
        assert alt_profanity_check == ""


@pytest.mark.parametrize("set_name", sorted(CARD_ROWS))
def test_model_card_targets_table_shows_the_reported_figures_and_margins(set_name):
    target = targets(EVAL)[set_name]
    _, _, ours, goal, met = table_row(CARD_TARGETS, CARD_ROWS[set_name])
    assert shows(ours, target["value"]) and float(goal) == target["target"], (ours, target)
    if target["met"]:
        assert met == "**met**"
    else:
        margin = met.removeprefix("missed by ")
        assert shows(margin, -target["margin"]), (met, target["margin"])


def own_labels(set_name: str, attribute: str) -> dict:
    (row,) = [row for row in EVAL["attributes_own_labels"]["rows"] if row["set"] == set_name and row["attribute"] == attribute]
    return row


def test_readme_quotes_the_attributes_on_their_own_labels_of_the_served_bundle():
    """README's sentence on identity_attack and threat (section *Results*) quotes ``attributes_own_labels``."""
    hate = own_labels("hatexplain_test", "identity_attack")
    threats = own_labels("toxic_spans_test", "threat")
    flagged = sorted(row["positives_flagged"] for row in EVAL["attributes_own_labels"]["rows"] if row["attribute"] == "threat")
    hate_before = [row for row in EVAL["baseline"]["attributes_own_labels"]["rows"] if row["set"] == "hatexplain_test"
                   and row["attribute"] == "identity_attack"][0]
    readme = " ".join(README.split())  # one paragraph, whatever its line breaks
    assert (f"identity_attack ranks HateXplain's hate speech at ROC AUC {hate['roc_auc']:.3f} (toxicity "
            f"{hate['toxicity_roc_auc']:.3f}; 1.2.0's identity_attack {hate_before['roc_auc']:.3f})") in readme
    assert f"(toxic-spans test {threats['roc_auc']:.3f}, toxicity {threats['toxicity_roc_auc']:.3f})" in readme
    assert f"flags only {flagged[0]:.1%}-{flagged[-1]:.1%} of them" in readme
    api = " ".join((ROOT / "docs" / "api.md").read_text(encoding="utf-8").split())
    assert f"only {flagged[0]:.1%}-{flagged[-1]:.1%} of labelled threats get a `threat` reason" in api
