"""Thresholds chosen on a site's own labelled comments (notebooks/04_thresholds)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from model.attributes import ATTRIBUTES
from model.training.site_thresholds import MIN_REJECT_EXAMPLES, choose_reject_threshold


def _sample(toxicity: list[float], decisions: list[str]) -> tuple[np.ndarray, pd.DataFrame]:
    scores = np.zeros((len(toxicity), len(ATTRIBUTES)))
    scores[:, ATTRIBUTES.index("toxicity")] = toxicity
    return scores, pd.DataFrame({"decision": decisions})


def _reference(scores, site, current, precision=0.97, confidence=0.95):
    """The rule written out one threshold at a time, the bound from scipy's exact binomial test."""
    from scipy.stats import binomtest

    rejected = (site["decision"] == "reject").to_numpy()
    toxicity = scores[:, ATTRIBUTES.index("toxicity")]
    for threshold in sorted(set(np.round(toxicity, 4))):
        above = toxicity >= threshold
        n_rejected = int(rejected[above].sum())
        if n_rejected and binomtest(n_rejected, int(above.sum()), alternative="greater").proportion_ci(
                confidence, method="exact").low >= precision:
            return float(threshold)
    return current


def test_a_precision_on_a_handful_of_comments_keeps_the_bundles_threshold():
    # 7 comments at the top, all rejected; below them the editors rejected half: 1.0 on 7 comments says little.
    toxicity = [0.999] * 7 + list(np.linspace(0.5, 0.99, 60)) + [0.1] * 40
    decisions = ["reject"] * 7 + ["reject", "review"] * 30 + ["approve"] * 40
    threshold, why = choose_reject_threshold(*_sample(toxicity, decisions), current=0.99, precision=0.8)
    assert threshold == 0.99 and why.startswith("kept: no threshold reaches a rejected share of 0.8 with 95% confidence")


def test_the_lowest_threshold_with_enough_comments_at_the_precision_is_chosen():
    toxicity = list(np.linspace(0.9, 1.0, 150)) + list(np.linspace(0.4, 0.89, 50)) + [0.05] * 100
    decisions = ["reject"] * 150 + ["reject", "review"] * 25 + ["approve"] * 100
    threshold, why = choose_reject_threshold(*_sample(toxicity, decisions), current=0.99)
    assert threshold == 0.9 and why == "site precision 1.000 on 150 comments (at least 0.980 with 95% confidence)"


def test_a_perfect_precision_on_38_comments_keeps_the_bundles_reject_threshold():
    """Reject 0.472 was chosen a hair above review 0.46: 38 comments, all rejected, is not 0.97 with any confidence."""
    toxicity = list(np.linspace(0.472, 0.99, 38)) + list(np.linspace(0.3, 0.47, 40)) + [0.05] * 200
    decisions = ["reject"] * 38 + ["reject", "review"] * 20 + ["approve"] * 200
    threshold, why = choose_reject_threshold(*_sample(toxicity, decisions), current=0.9)
    assert threshold == 0.9
    assert why == (f"kept: 58 site rejections among 278 decided comments; a rejected share of at least 0.97 with 95% "
                   f"confidence needs {MIN_REJECT_EXAMPLES} or more above a threshold")


def test_a_sample_whose_every_decided_comment_was_rejected_keeps_the_bundles_threshold():
    # 150 comments, all rejected: every threshold had a precision of 1, so the lowest (0.0304) was chosen and the
    # written policy rejected anything toxic unread (review and reject both 0.66).
    toxicity = list(np.linspace(0.03, 0.99, 150))
    threshold, why = choose_reject_threshold(*_sample(toxicity, ["reject"] * 150), current=0.99)
    assert threshold == 0.99
    assert why == ("kept: every one of the 150 decided comments was rejected, so the sample says nothing of what the "
                   "site's editors let through; give a sample with its approved and reviewed comments too")


def test_the_fewest_rejections_needed_reach_the_bound_and_one_fewer_does_not():
    from model.training.site_thresholds import min_reject_examples, precision_lower_bound

    needed = min_reject_examples(0.97, 0.95)
    assert precision_lower_bound([needed], [needed])[0] >= 0.97 > precision_lower_bound([needed - 1], [needed - 1])[0]


def test_a_site_that_sends_only_toxicity_labels_is_told_why_the_reject_threshold_stays():
    """Coral sends toxicity labels, no decision: 04 said "0 site rejections" as if the editors had rejected nothing."""
    from model.training.site_data import site_labels

    toxicity = list(np.linspace(0.5, 1.0, 150)) + [0.05] * 100
    site = site_labels(pd.DataFrame({"text": [f"comment {i}" for i in range(250)], "toxicity": [1] * 150 + [0] * 100}))
    scores, _ = _sample(toxicity, [""] * 250)
    threshold, why = choose_reject_threshold(scores, site, current=0.9)
    assert threshold == 0.9
    assert why.startswith("kept: the sample gives no decision, only attribute labels (150 hostile comments)")


def test_comments_labelled_without_a_decision_do_not_lower_the_rejected_share():
    """Toxicity-only rows above the threshold counted as not rejected: a site mixing both never got a reject threshold."""
    from model.training.site_data import site_labels

    toxicity = list(np.linspace(0.9, 1.0, 150)) + list(np.linspace(0.9, 1.0, 30)) + [0.05] * 100
    labels = pd.DataFrame({"text": [f"comment {i}" for i in range(280)],
                           "decision": ["reject"] * 150 + [""] * 30 + ["approve"] * 100,
                           "toxicity": [""] * 150 + [1] * 30 + [""] * 100})
    scores, _ = _sample(toxicity, [""] * 280)
    threshold, why = choose_reject_threshold(scores, site_labels(labels), current=0.99)
    assert threshold == 0.9 and why.startswith("site precision 1.000 on 150 comments")


def test_the_choice_equals_the_rule_written_one_threshold_at_a_time():
    rng = np.random.default_rng(3)
    for _ in range(50):
        toxicity = np.round(rng.random(300) ** 0.3, rng.integers(2, 5))
        decisions = np.where(rng.random(300) < toxicity ** 8, "reject", "approve")
        scores, site = _sample(list(toxicity), list(decisions))
        chosen, _ = choose_reject_threshold(scores, site, current=None, precision=0.8)
        assert chosen == _reference(scores, site, None, precision=0.8)


def test_a_sample_without_hostile_comments_chooses_no_review_threshold():
    """All approved: nothing to catch, and the lowest threshold (nearly every comment to review) was chosen."""
    from model.policy import Policy
    from model.training.data import DataError
    from model.training.site_data import site_labels
    from model.training.site_thresholds import choose_review_threshold, review_tradeoff

    texts = [f"a calm remark {i}" for i in range(10)]
    scores, _ = _sample(list(np.linspace(0.01, 0.6, 10)), ["approve"] * 10)
    site = site_labels(pd.DataFrame({"text": texts, "decision": ["approve"] * 10}))
    tradeoff = review_tradeoff(scores, texts, site, Policy(reject={"toxicity": 0.9}, review={"toxicity": 0.5}, source="test"))
    with pytest.raises(DataError, match="no hostile comment .* add comments the editors flagged"):
        choose_review_threshold(tradeoff)
    site = site_labels(pd.DataFrame({"text": texts, "decision": ["approve"] * 9 + ["reject"]}))
    tradeoff = review_tradeoff(scores, texts, site, Policy(reject={"toxicity": 0.9}, review={"toxicity": 0.5}, source="test"))
    assert choose_review_threshold(tradeoff)[0] == 0.6  # one hostile comment, caught up to its own score


def test_a_site_review_threshold_above_the_bundles_reject_one_raises_it_so_the_policy_loads(tmp_path):
    """load_policy refuses a review threshold above the reject one; a site policy must never write one."""
    from model.policy import Policy, load_policy
    from model.training.site_thresholds import site_policy

    bundle = Policy(reject={"toxicity": 0.99}, review={"toxicity": 0.35})
    policy = site_policy(bundle, review_threshold=0.995, reject_threshold=None, source="site")
    path = tmp_path / "policy.toml"
    path.write_text(policy.to_toml())
    loaded = load_policy(path)
    assert (loaded.review["toxicity"], loaded.reject["toxicity"]) == (0.995, 0.995)
    assert site_policy(bundle, 0.5, None, "site").reject["toxicity"] == 0.99  # otherwise left as it was



def test_trained_reject_thresholds_are_never_below_review_ones_even_above_the_cap(tmp_path):
    """choose_policy capped reject at 0.99 below a higher review threshold: a policy load_policy refuses."""
    from model.policy import load_policy
    from model.training.thresholds import choose_policy

    labels = np.array([0] * 60 + [1] * 20, float)[:, None]
    scores = np.array([0.5] * 50 + [0.996] * 10 + [0.999] * 20)[:, None]
    policy, _ = choose_policy(["toxicity"], labels, scores)
    path = tmp_path / "policy.toml"
    path.write_text(policy.to_toml())
    loaded = load_policy(path)
    assert loaded.review["toxicity"] == 0.999 and loaded.reject["toxicity"] >= loaded.review["toxicity"]


def test_a_site_policy_keeps_the_span_floor_of_the_policy_it_starts_from():
    """Re-choosing the toxicity thresholds (notebook 04) kept every threshold but dropped a [spans] floor."""
    from model.policy import Policy
    from model.training.site_thresholds import site_policy

    start = Policy({"toxicity": 0.99}, {"toxicity": 0.4, "insult": 0.3}, span_floor=0.2)
    chosen = site_policy(start, 0.5, None, "site")
    assert chosen.span_floor == 0.2
    assert dict(chosen.review) == {"toxicity": 0.5, "insult": 0.3} and dict(chosen.reject) == {"toxicity": 0.99}
