"""Policy outcomes: shares by action overall, among hostile and among civil comments."""

import numpy as np

from model.evaluation.policy_report import policy_markdown, policy_outcomes
from model.results import Decision, Reason


def _decision(action, code=None):
    return Decision(action, (Reason(code, action),) if code else (), {})


def test_policy_outcomes_count_shares_and_reasons():
    decisions = [_decision("approve"), _decision("review", "toxicity"), _decision("reject", "threat"), _decision("approve")]
    outcome = policy_outcomes(decisions, np.array([0, 1, 1, 1]))
    assert outcome["share"] == {"approve": 0.5, "review": 0.25, "reject": 0.25}
    assert outcome["share_of_hostile"] == {"approve": 0.3333, "review": 0.3333, "reject": 0.3333}
    assert outcome["share_of_civil"] == {"approve": 1.0, "review": 0.0, "reject": 0.0}
    assert outcome["reasons"] == {"toxicity": 1, "threat": 1}
    assert "| demo | 4 | 3 |" in "\n".join(policy_markdown({"demo": outcome}))


def test_policy_outcomes_count_civil_comments_with_a_hostility_span():
    from model.results import Span

    spans = [{"toxicity": [Span(0, 3, 0.4)]}, {"unsupported_claim": [Span(0, 9, 0.9)]}, {}, {"insult": [Span(0, 3, 0.9)]}]
    decisions = [Decision("approve", (), {}, found) for found in spans]
    outcome = policy_outcomes(decisions, np.array([0, 0, 0, 1]))
    assert outcome["civil_with_hostility_span"] == 0.3333


def test_reject_tradeoff_takes_the_lowest_threshold_within_the_civil_budget():
    from model.evaluation.policy_report import reject_tradeoff

    labels = np.array([0] * 10 + [1] * 4)
    scores = np.array([0.1] * 8 + [0.6, 0.95] + [0.99, 0.9, 0.7, 0.2])
    zero, tenth = reject_tradeoff(labels, scores, budgets=(0.0, 0.1))
    # No civil comment rejected: only scores above the best civil one (0.95).
    assert zero == {"civil_budget": 0.0, "threshold": 0.9501, "civil_rejected": 0.0, "hostile_recall": 0.25}
    # One civil comment in ten may go: the threshold falls to just above the second civil score.
    assert tenth == {"civil_budget": 0.1, "threshold": 0.6001, "civil_rejected": 0.1, "hostile_recall": 0.75}


def test_reject_tradeoff_keeps_tied_civil_scores_on_the_same_side_of_the_threshold():
    from model.evaluation.policy_report import reject_tradeoff

    labels = np.array([0] * 5 + [1] * 3)
    scores = np.array([0.9, 0.9, 0.5, 0.2, 0.1] + [0.95, 0.9, 0.6])
    one, two = reject_tradeoff(labels, scores, budgets=(0.2, 0.4))
    # One civil comment of five may go, but the top two tie at 0.9: any threshold at or below 0.9 rejects both.
    assert one == {"civil_budget": 0.2, "threshold": 0.9001, "civil_rejected": 0.0, "hostile_recall": 0.3333}
    # Two may go: both 0.9s are rejected, and the lowest threshold that spares the 0.5 is just above it.
    assert two == {"civil_budget": 0.4, "threshold": 0.5001, "civil_rejected": 0.4, "hostile_recall": 1.0}


def test_reject_tradeoff_thresholds_work_as_the_policy_applies_them():
    """The policy rejects a comment whose score reaches a [reject] threshold: a threshold from the table, put in
    policy.toml, must reject exactly the shares the table gives, also when the civil score has more decimals."""
    from model.evaluation.policy_report import reject_tradeoff

    labels = np.array([0] * 5 + [1] * 3)
    scores = np.array([0.99253, 0.98531, 0.5, 0.3, 0.1, 0.9999, 0.99253, 0.9])
    civil, hostile = scores[labels == 0], scores[labels == 1]
    for row in reject_tradeoff(labels, scores, budgets=(0.0, 0.2, 0.4, 0.6)):
        rejected_civil = float(np.mean(civil >= row["threshold"]))
        assert rejected_civil == row["civil_rejected"] <= row["civil_budget"]
        assert np.isclose(np.mean(hostile >= row["threshold"]), row["hostile_recall"], atol=1e-4)
        assert row["threshold"] == round(row["threshold"], 4)


def test_policy_markdown_reports_the_reject_target_and_the_civil_comments_that_block_it():
    from model.evaluation.policy_report import reject_tradeoff

    labels, scores = np.array([0, 0, 1, 1]), np.array([0.2, 0.9, 0.95, 0.99])
    tradeoff = {"sets": ["demo"], "attributes": ["toxicity"], "rows": 4, "hostile": 2,
                "curve": reject_tradeoff(labels, scores, budgets=(0.0,)),
                "highest_civil": [{"score": 0.9, "text": "what an `idiot`"}]}
    text = "\n".join(policy_markdown({"reject_tradeoff": tradeoff}))
    assert "**met**" in text and "| 0.00% | 0.9001 | 0.00% | 100.00% |" in text
    # The civil scores are listed with the threshold's decimals: 0.900 beside 0.9001 would read as rejected.
    assert "- 0.9000: `what an 'idiot'`" in text
    tradeoff["curve"] = reject_tradeoff(labels, np.array([0.2, 0.97, 0.95, 0.99]), budgets=(0.0,))
    assert "**missed**" in "\n".join(policy_markdown({"reject_tradeoff": tradeoff}))


def test_the_civil_scores_under_the_trade_off_read_below_the_threshold_they_set():
    """0.05605 was shown as 0.056 (three decimals), then 0.0561: the same figure as the threshold it does not reach."""
    import pandas as pd

    from model.evaluation.policy_report import evaluate_policy
    from model.policy import Policy

    class TableScorer:
        """Known toxicity per text; the decisions do not matter here."""

        policy = Policy(reject={"toxicity": 0.9}, review={})
        toxicity = {"fine": 0.05605, "also fine": 0.01, "you idiot": 0.95}

        def moderate(self, texts, with_spans=True):
            return [Decision("approve", (), {"toxicity": self.toxicity[text]}) for text in texts]

    validation = {"ucc_val": pd.DataFrame({"text": ["fine", "also fine", "you idiot"], "label": [0, 0, 1]})}
    outcomes = evaluate_policy(TableScorer(), validation)
    assert outcomes["reject_tradeoff"]["curve"][0]["threshold"] == 0.0561
    text = "\n".join(policy_markdown(outcomes))
    assert "| 0.00% | 0.0561 | 0.00% | 100.00% |" in text and "- 0.0560: `fine`" in text
