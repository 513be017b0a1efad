"""Old against new bundle: metric deltas and exactly the comments whose decision changes (model.evaluation.compare)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from model.evaluation.compare import compare_bundles, compare_on_sets, compare_table, no_worse
from model.results import Decision
from model.training.site_data import site_labels


class FixedScorer:
    """A stand-in bundle: the toxicity of each text is given, and the decision follows a 0.5 / 0.9 cut."""

    attributes = ("toxicity",)

    def __init__(self, toxicity: dict[str, float], version: str):
        self.toxicity, self.model_version = toxicity, version

    def predict_scores(self, texts):
        return np.array([[self.toxicity.get(t, 0.0)] for t in texts])

    def moderate(self, texts, with_spans=True):
        out = []
        for text, (score,) in zip(texts, self.predict_scores(texts)):
            action = "reject" if score >= 0.9 else "review" if score >= 0.5 else "approve"
            out.append(Decision(action, (), {"toxicity": float(score)}, {}, self.model_version))
        return out


TEXTS = ["calm one", "calm two", "shill one", "shill two", "nasty", "borderline"]
OLD = FixedScorer({"nasty": 0.95, "borderline": 0.6, "shill one": 0.2, "shill two": 0.1, "calm two": 0.3}, "old")
NEW = FixedScorer({"nasty": 0.95, "borderline": 0.4, "shill one": 0.7, "shill two": 0.92, "calm two": 0.55}, "new")
DECISIONS = ["approve", "approve", "reject", "reject", "reject", "review"]


def test_progress_sees_every_batch_and_changes_nothing(monkeypatch):
    from model.evaluation import compare
    from model.training import metrics

    monkeypatch.setattr(compare, "batches", lambda items: metrics.batches(items, 4))
    seen = []

    def progress(batches, description):
        seen.append((description, [list(batch) for batch in batches]))
        return batches

    site = site_labels(pd.DataFrame({"text": TEXTS, "decision": DECISIONS}))
    shown, quiet = compare_bundles(OLD, NEW, TEXTS, site, progress=progress), compare_bundles(OLD, NEW, TEXTS, site)
    assert seen == [(f"{name} bundle: deciding 6 comments", [TEXTS[:4], TEXTS[4:]]) for name in ("old", "new")]
    pd.testing.assert_frame_equal(shown.metrics, quiet.metrics)
    pd.testing.assert_frame_equal(shown.changed, quiet.changed)


def test_changed_decisions_are_exactly_those_that_differ():
    comparison = compare_bundles(OLD, NEW, TEXTS, site_labels(pd.DataFrame({"text": TEXTS, "decision": DECISIONS})))
    changed = comparison.changed
    assert changed[["row", "text", "old", "new"]].values.tolist() == [
        [1, "calm two", "approve", "review"],
        [2, "shill one", "approve", "review"],
        [3, "shill two", "approve", "reject"],
        [5, "borderline", "review", "approve"],
    ]
    assert changed["label"].tolist() == ["approve", "reject", "reject", "review"]
    metrics = comparison.metrics
    assert metrics.loc["caught_share", "old"] == pytest.approx(2 / 4)  # nasty, borderline
    assert metrics.loc["caught_share", "new"] == pytest.approx(3 / 4)  # nasty, both shills
    assert metrics.loc["false_flag_share", "new"] == pytest.approx(1 / 2) and not metrics.loc["false_flag_share", "better"]
    assert metrics.loc["decision_agreement", "old"] == pytest.approx(4 / 6)
    assert metrics.loc["decision_agreement", "new"] == pytest.approx(3 / 6)
    assert metrics.loc["share_reject", "delta"] == pytest.approx(1 / 6)
    assert metrics.loc["toxicity roc_auc", "delta"] == pytest.approx(metrics.loc["toxicity roc_auc", "new"] - metrics.loc["toxicity roc_auc", "old"])


def test_same_bundle_changes_nothing():
    comparison = compare_bundles(OLD, OLD, TEXTS)
    assert comparison.changed.empty
    assert (comparison.metrics["delta"] == 0).all()


def test_table_keeps_file_row_numbers_with_blank_and_unlabelled_rows():
    table = pd.DataFrame({"body": ["", "shill one", "calm one", "shill two"], "decision": ["", "reject", "", "reject"]})
    comparison = compare_table(OLD, NEW, table, text_column="body", label_columns=["decision"])
    assert comparison.changed["row"].tolist() == [1, 3]
    with pytest.raises(KeyError, match="no label column 'toxicity'"):
        compare_table(OLD, NEW, table, text_column="body", label_columns=["toxicity"])


def test_labelled_rows_without_text_do_not_count():
    """A feedback export from a server that kept no text: its rows sent by comment id have a decision but no text."""
    table = pd.DataFrame({"text": TEXTS, "decision": DECISIONS})
    textless = pd.DataFrame({"text": [None, ""], "decision": ["reject", "approve"]})
    with_textless = compare_table(OLD, NEW, pd.concat([textless, table], ignore_index=True), label_columns=["decision"])
    alone = compare_table(OLD, NEW, table, label_columns=["decision"])
    labelled = ["toxicity roc_auc", "toxicity pr_auc", "toxicity brier", "caught_share", "false_flag_share", "decision_agreement"]
    pd.testing.assert_frame_equal(with_textless.metrics.loc[labelled], alone.metrics.loc[labelled])
    assert with_textless.metrics.loc["share_approve", "old"] != alone.metrics.loc["share_approve", "old"]  # every row decided


def test_a_decision_an_editor_replaced_does_not_count():
    """A feedback export lists a comment's every decision; only its last counts, as in training."""
    table = pd.DataFrame({"text": TEXTS, "decision": DECISIONS, "comment_id": [f"c{i}" for i in range(len(TEXTS))],
                          "api_key_id": 1})
    replaced = table.iloc[[0, 4]].assign(decision=["reject", "approve"])  # later replaced by the table's own rows
    with_replaced = compare_table(OLD, NEW, pd.concat([replaced, table], ignore_index=True), label_columns=["decision"])
    alone = compare_table(OLD, NEW, table, label_columns=["decision"])
    labelled = ["toxicity roc_auc", "toxicity pr_auc", "toxicity brier", "caught_share", "false_flag_share", "decision_agreement"]
    pd.testing.assert_frame_equal(with_replaced.metrics.loc[labelled], alone.metrics.loc[labelled])


def test_no_worse_needs_the_site_and_the_public_sets():
    sets = {"public": pd.DataFrame({"text": TEXTS, "label": [0, 0, 0, 0, 1, 1]})}
    public = compare_on_sets(OLD, NEW, sets)
    assert public.loc["public", "delta_roc_auc"] < 0  # the new one ranks "borderline" below calm comments
    site = compare_bundles(OLD, NEW, TEXTS, site_labels(pd.DataFrame({"text": TEXTS, "decision": DECISIONS}))).metrics
    ok, reasons = no_worse(site, public)
    assert not ok and any("public public roc_auc" in line and "lost more" in line for line in reasons)
    assert no_worse(compare_bundles(OLD, OLD, TEXTS, site_labels(pd.DataFrame({"text": TEXTS, "decision": DECISIONS}))).metrics,
                    compare_on_sets(OLD, OLD, sets))[0]


def test_no_worse_refuses_when_no_site_ranking_could_be_measured():
    # Held-out comments all approved: toxicity ROC AUC and caught share were NaN and skipped without a word, and the
    # bundle was published on decision agreement 1.000 -> 1.000.
    sets = {"public": pd.DataFrame({"text": TEXTS, "label": [0, 0, 0, 0, 1, 1]})}
    one_label = site_labels(pd.DataFrame({"text": TEXTS, "decision": ["approve"] * len(TEXTS)}))
    ok, reasons = no_worse(compare_bundles(OLD, OLD, TEXTS, one_label).metrics, compare_on_sets(OLD, OLD, sets))
    assert not ok
    assert "site toxicity roc_auc: not measured (the held-out comments lack the labels it needs)" in reasons
    assert reasons[-1].startswith("not published: neither the site's toxicity ROC AUC nor its caught share")


def test_a_flag_on_a_claim_the_site_reviewed_is_neither_caught_hostility_nor_a_false_flag():
    # A review of a comment labelled an unsupported claim says nothing of hostility (site_data.decision_toxicity):
    # counted as civil, a bundle that sends it to review, as the site did, was charged a false flag.
    from model.evaluation.compare import decision_metrics

    site = site_labels(pd.DataFrame({"text": ["a claim", "calm", "nasty"], "decision": ["review", "approve", "reject"],
                                     "unsupported_claim": [1, None, None]}))
    metrics = decision_metrics(np.array(["review", "approve", "reject"]), site)
    assert metrics["false_flag_share"] == 0.0 and metrics["caught_share"] == 1.0
    assert metrics["decision_agreement"] == 1.0  # the decisions themselves still agree
