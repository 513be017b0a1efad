"""One head per attribute, fitted only on the rows that label it."""

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from model.heads import MultiAttributeClassifier


def _data(seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(400, 3))
    Y = np.column_stack([(X[:, 0] > 0), (X[:, 1] > 0)]).astype(float)
    Y[:200, 1] = np.nan  # the first half of the rows does not label the second attribute
    return X, Y


def test_heads_learn_their_own_attribute_and_skip_unlabelled_rows():
    X, Y = _data()
    model = MultiAttributeClassifier(("a", "b"), LogisticRegression()).fit(X, Y)
    proba = model.predict_proba(X)
    assert proba.shape == (400, 2)
    assert ((proba >= 0) & (proba <= 1)).all()
    assert np.mean((proba[:, 0] > 0.5) == (X[:, 0] > 0)) > 0.95
    assert np.mean((proba[:, 1] > 0.5) == (X[:, 1] > 0)) > 0.95
    coef, _ = model.linear_weights("b")
    assert abs(coef[1]) > abs(coef[0])


def test_heads_refuse_an_attribute_with_one_class():
    X, Y = _data()
    Y[:, 1] = np.where(np.isnan(Y[:, 1]), np.nan, 1.0)
    with pytest.raises(ValueError, match="'b' needs both positive and negative"):
        MultiAttributeClassifier(("a", "b"), LogisticRegression()).fit(X, Y)


def test_heads_refuse_a_label_matrix_of_the_wrong_width():
    X, Y = _data()
    with pytest.raises(ValueError, match="one column per attribute"):
        MultiAttributeClassifier(("a",), LogisticRegression()).fit(X, Y)


def test_heads_score_fast_rows_and_blocks_like_a_sparse_matrix():
    import scipy.sparse as sp

    from model.heads import calibrated_logistic
    from model.sparse_rows import Rows

    X, Y = _data(1)
    X = sp.csr_matrix(np.where(np.abs(X) > 0.5, X, 0.0))
    model = MultiAttributeClassifier(("a", "b"), calibrated_logistic()).fit(X, Y)
    assert model.linear_ is not None
    expected = np.column_stack([est.predict_proba(X)[:, 1] for est in model.estimators_])
    blocks = [Rows.from_sparse(X[:, :1]), Rows.from_sparse(X[:, 1:])]
    for found in (model.predict_proba(X), model.predict_proba(Rows.from_sparse(X)), model.predict_proba(blocks)):
        assert np.abs(found - expected).max() < 1e-12
    model.linear_ = None  # the general path stacks the blocks for each head's own predict_proba
    assert np.abs(model.predict_proba(blocks) - expected).max() < 1e-12
