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
