"""The span-floor table (``model.evaluation.span_floors``): what a higher floor spares civil comments."""

from __future__ import annotations

import numpy as np
import pytest

from model.evaluation.policy_report import has_hostility_span
from model.evaluation.span_floors import bundle_span_floor, civil_span_shares, span_floor_markdown
from model.results import Decision, Span


def decision(scores: dict[str, float], spans: dict[str, list[Span]]) -> Decision:
    full = {"toxicity": 0.0, "insult": 0.0, "unsupported_claim": 0.0, **scores}
    return Decision(action="approve", reasons=(), scores=full, spans=spans)


WORD = [Span(0, 4, 0.9)]


def test_a_span_stays_while_its_attribute_scores_at_least_the_floor():
    marked = decision({"toxicity": 0.2}, {"toxicity": WORD})
    assert has_hostility_span(marked, 0.2)
    assert not has_hostility_span(marked, 0.21)


def test_claim_spans_and_attributes_without_spans_do_not_count():
    claim_only = decision({"toxicity": 0.9, "unsupported_claim": 0.9}, {"unsupported_claim": WORD, "toxicity": []})
    assert not has_hostility_span(claim_only, 0.1)


def test_civil_span_shares_count_civil_comments_only_per_floor():
    decisions = [decision({"toxicity": 0.12}, {"toxicity": WORD}),
                 decision({"insult": 0.4}, {"insult": WORD}),
                 decision({}, {}),
                 decision({"toxicity": 0.99}, {"toxicity": WORD})]  # hostile: not counted
    shares = civil_span_shares(decisions, np.array([0, 0, 0, 1]), [0.1, 0.2, 0.5])
    assert shares == {0.1: pytest.approx(2 / 3, abs=1e-4), 0.2: pytest.approx(1 / 3, abs=1e-4), 0.5: 0.0}


def test_the_bundle_floor_and_f1_come_from_the_manifest_and_a_tfidf_bundle_has_none():
    manifest = {"span_floor": {"floor": 0.1, "span_f1_by_floor": {"0.1": 0.69, "0.15": 0.68}}}
    assert bundle_span_floor(manifest) == (0.1, {0.1: 0.69, 0.15: 0.68})
    assert bundle_span_floor({}) == (None, {})


def test_the_markdown_has_one_row_per_floor_with_its_f1():
    table = {"floor": 0.1, "floors": [0.1, 0.3], "span_f1": {0.1: 0.69, 0.3: None},
             "sets": {"ucc_val": {0.1: 0.35, 0.3: 0.116}}}
    lines = span_floor_markdown(table, "9.9.9")
    assert lines[-2:] == ["| 0.10 | 35.0% | 0.690 |", "| 0.30 | 11.6% |  |"]


def test_the_shares_from_one_scoring_are_those_a_policy_with_that_floor_gives(scorer, tmp_path):
    """The table scores once, at the bundle's floor, and reads higher floors off the scores: a scorer whose policy
    file sets each floor must find the same civil comments marked (tiny bundle, tests/conftest.py)."""
    from model.policy import load_policy
    from model.scoring import Scorer
    from tests.corpus import make_corpus

    corpus = make_corpus(80, seed=11)
    texts, labels = corpus["text"].tolist(), np.zeros(len(corpus), dtype=int)  # every comment counted as civil
    once = scorer.moderate(texts)
    marked = sorted(d.scores[a] for d in once for a, s in d.spans.items() if s and a != "unsupported_claim")
    floors = [float(np.quantile(marked, q)) for q in (0.25, 0.5, 0.75)]
    shares = civil_span_shares(once, labels, floors)
    assert len(set(shares.values())) > 1, "the floors must split the marked comments differently"
    for floor in floors:
        path = tmp_path / f"policy-{floor}.toml"
        path.write_text(scorer.policy.to_toml() + f"\n[spans]\nfloor = {floor!r}\n", encoding="utf-8")
        floored = Scorer(scorer.bundle, load_policy(path)).moderate(texts)
        direct = np.mean([any(s for a, s in d.spans.items() if a != "unsupported_claim") for d in floored])
        assert shares[floor] == pytest.approx(direct, abs=1e-4)


def test_floors_under_a_floor_the_manifest_does_not_record_are_measured_as_a_policy_gives_them(scorer):
    """A TF-IDF bundle keeps its floor in ``span_thresholds["comment_floor"]`` (the tiny one's: 0.3), not in the
    manifest: the table took the served floor for 0, scored at the bundle's floor and gave a lower floor the share of
    the bundle's (too low)."""
    from dataclasses import replace

    import pandas as pd

    from model.attributes import CLAIM_ATTRIBUTE
    from model.evaluation.span_floors import span_floor_table
    from model.scoring import Scorer
    from model.spans import COMMENT_FLOOR
    from tests.corpus import make_corpus

    def marked_share(decisions) -> float:
        return float(np.mean([any(s for a, s in d.spans.items() if a != CLAIM_ATTRIBUTE) for d in decisions]))

    own = scorer.bundle.model.span_thresholds[COMMENT_FLOOR]
    assert bundle_span_floor(scorer.bundle.manifest)[0] is None and scorer.policy.span_floor is None
    texts = make_corpus(80, seed=11)["text"].tolist()
    unfloored = Scorer(scorer.bundle, replace(scorer.policy, span_floor=0.0)).moderate(texts)
    under = [d.scores[a] for d in unfloored for a, s in d.spans.items() if s and a != CLAIM_ATTRIBUTE and d.scores[a] < own]
    assert under, "the tiny bundle marks words of attributes scored under its own floor when it has none"
    floors = [float(np.median(under)), own]
    table = span_floor_table(scorer, {"ucc_val": pd.DataFrame({"text": texts, "label": 0})}, floors)
    assert table["floor"] == own  # the header's served floor: the one /v1/model reports, not None
    shares = table["sets"]["ucc_val"]
    for floor in floors:
        direct = marked_share(Scorer(scorer.bundle, replace(scorer.policy, span_floor=floor)).moderate(texts))
        assert shares[floor] == pytest.approx(direct, abs=1e-4), floor
    assert shares[floors[0]] > shares[own]
