"""ScorerPool: the scorer's own results, in order, from worker processes."""

from __future__ import annotations

import numpy as np
import pytest

from model.parallel import ScorerPool
from tests.corpus import make_corpus

TEXTS = make_corpus(40, seed=8)["text"].tolist()[:23] + ["You are a pathetic loser.", "", None, "Turkey paid $2.5bn in 2015."]


def test_one_job_starts_no_process_and_is_the_scorer(scorer):
    with ScorerPool(scorer, 1) as pool:
        assert pool._pool is None
        assert pool.moderate(TEXTS) == scorer.moderate(TEXTS)


@pytest.mark.parametrize("jobs", [0, -1])
def test_jobs_must_be_positive(scorer, jobs):
    with pytest.raises(ValueError, match="at least 1"):
        ScorerPool(scorer, jobs)


@pytest.mark.parametrize("n_texts, jobs", [(0, 3), (1, 3), (2, 3), (7, 3), (27, 2)])
def test_parts_are_contiguous_non_empty_and_cover_the_input(scorer, n_texts, jobs):
    pool = ScorerPool.__new__(ScorerPool)  # the cutting alone, without starting workers
    pool.jobs = jobs
    texts = list(range(n_texts))
    parts = pool._parts(texts)
    assert [t for part in parts for t in part] == texts
    assert all(parts) and len(parts) == min(jobs, n_texts)
    assert max(map(len, parts), default=0) - min(map(len, parts), default=0) <= 1


def _shown(decisions):
    """What the API and the CLI show of decisions (scores rounded to 6 decimals)."""
    return [decision.to_dict() for decision in decisions]


def test_two_workers_give_the_scorers_results_in_order(scorer):
    # A batch of many words is summed in another order than a small one (model.sparse_rows: the count product is not
    # sorted), so scores may differ in the last bit between batch sizes: compare what users see.
    with ScorerPool(scorer, 2) as pool:
        assert pool._pool is not None
        for with_spans in (False, True):
            assert _shown(pool.moderate(TEXTS, with_spans=with_spans)) == _shown(scorer.moderate(TEXTS, with_spans=with_spans))
        assert np.allclose(pool.predict_scores(TEXTS), scorer.predict_scores(TEXTS), rtol=0, atol=1e-12)
        assert pool.moderate(TEXTS[:1]) == scorer.moderate(TEXTS[:1])  # too small to split: scored here
    assert pool._pool is None  # stopped at the end of the block


def test_a_worker_that_cannot_load_the_bundle_raises_instead_of_hanging(scorer, tmp_path):
    from model.bundle import BundleError
    from model.scoring import Scorer

    broken = Scorer(scorer.bundle, scorer.policy)
    broken.bundle = type(scorer.bundle)(tmp_path / "gone", scorer.bundle.manifest, scorer.bundle.model, scorer.policy)
    with ScorerPool(broken, 2) as pool, pytest.raises(BundleError, match="could not load the model bundle"):
        pool.moderate(TEXTS)
