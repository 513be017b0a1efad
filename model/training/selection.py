"""Model selection on validation data: the regularisation ``C`` of the toxicity and checkable-claim heads.

Only validation sets are scored here (never a test split); the features are fitted once and every
candidate ``C`` refits the head alone, so a grid costs little more than one fit.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pandas as pd

from model.claims import ClaimScorer
from model.training.metrics import roc_auc
from model.features import build_features
from model.heads import MultiAttributeClassifier, calibrated_logistic

C_GRID = (0.25, 0.5, 1.0, 2.0)
"""Candidate inverse regularisations, around the shipped ``model.heads.C = 1``."""
PRIMARY_ATTRIBUTE = "toxicity"


def _sample(frame: pd.DataFrame, max_rows: int | None, seed: int) -> pd.DataFrame:
    return frame if max_rows is None or len(frame) <= max_rows else frame.sample(max_rows, random_state=seed)


def select_hostility_C(frame: pd.DataFrame, validation: Mapping[str, pd.DataFrame], grid: Sequence[float] = C_GRID,
                       seed: int = 0, max_rows: int | None = None, n_jobs: int = 1) -> pd.DataFrame:
    """ROC AUC of the toxicity head on every validation set, for each ``C`` of ``grid``.

    Parameters
    ----------
    frame : pandas.DataFrame
        Training rows (``text``, ``weight``, ``toxicity``), as ``model.training.data.load_training_data`` gives.
    validation : mapping name -> DataFrame(text, label)
        ``model.training.data.load_validation_sets``.
    grid : sequence of float
    seed : int
    max_rows : int, optional
        Fit on a random sample of this many rows (quick runs).
    n_jobs : int

    Returns
    -------
    pandas.DataFrame
        Index ``C``; one column per validation set and ``mean`` (sets weigh equally).
    """
    rows = _sample(frame[frame[PRIMARY_ATTRIBUTE].notna()], max_rows, seed)
    features = build_features().fit(rows["text"].tolist())
    X = features.transform(rows["text"].tolist())
    labels = rows[[PRIMARY_ATTRIBUTE]].to_numpy(float)
    weights = rows["weight"].to_numpy(float) if "weight" in rows else None
    validation_X = {name: features.transform(v["text"].tolist()) for name, v in validation.items()}
    records = []
    for C in grid:
        head = MultiAttributeClassifier((PRIMARY_ATTRIBUTE,), calibrated_logistic(C=C, random_state=seed), n_jobs=n_jobs)
        head.fit(X, labels, sample_weight=weights)
        record = {"C": C}
        record |= {name: roc_auc(v["label"].to_numpy(int), head.predict_proba(validation_X[name])[:, 0])
                   for name, v in validation.items()}
        records.append(record)
    table = pd.DataFrame(records).set_index("C")
    table["mean"] = table.mean(axis=1, skipna=True)
    return table


def select_claims_C(sentences: pd.DataFrame, validation: Mapping[str, pd.DataFrame], grid: Sequence[float] = C_GRID,
                    seed: int = 0, max_rows: int | None = None) -> pd.DataFrame:
    """ROC AUC of the unsupported-claim score on every claims validation set, for each checkable-head ``C``.

    Parameters
    ----------
    sentences : pandas.DataFrame
        ``model.training.claims_data.load_claim_training_data``.
    validation : mapping name -> DataFrame(text, label)
        ``model.training.claims_data.load_claim_validation_sets``.
    grid : sequence of float
    seed : int
    max_rows : int, optional
        Fit on a random sample of this many sentences (quick runs).

    Returns
    -------
    pandas.DataFrame
        Index ``C``; one column per validation set and ``mean``.
    """
    rows = _sample(sentences, max_rows, seed)
    records = []
    for C in grid:
        scorer = ClaimScorer(random_state=seed, checkable_C=C).fit(rows)
        record = {"C": C}
        record |= {name: roc_auc(v["label"].to_numpy(int), scorer.predict_proba(v["text"].tolist()))
                   for name, v in validation.items()}
        records.append(record)
    table = pd.DataFrame(records).set_index("C")
    table["mean"] = table.mean(axis=1, skipna=True)
    return table


def best_C(table: pd.DataFrame) -> float:
    """The ``C`` with the highest mean validation ROC AUC (the smaller ``C`` on a tie: more regularised)."""
    means = table["mean"].dropna()
    if means.empty:
        raise ValueError("no validation set has both classes: cannot choose C")
    return float(means[means == means.max()].index.min())
