"""Choose the weight of alt-profanity-check's prior in the blend (``model.prior.blend``) on validation sets."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from model.prior import blend
from model.training.metrics import roc_auc

WEIGHT_GRID = tuple(np.round(np.arange(0.0, 0.71, 0.05), 2))
"""Weights of the prior tried by ``choose_prior_weight`` (0 = ours alone)."""


def choose_prior_weight(
    scored: Mapping[str, tuple[np.ndarray, np.ndarray, np.ndarray]], grid: Sequence[float] = WEIGHT_GRID
) -> tuple[float, dict]:
    """The weight with the best mean ROC AUC over validation sets (each set weighs the same).

    Parameters
    ----------
    scored : mapping name -> (labels, our probabilities, prior probabilities)
        Validation sets only, never test splits.
    grid : sequence of float

    Returns
    -------
    weight : float
    metrics : dict
        ``{"grid": {weight: {set: auc, ..., "mean": auc}}, "weight": chosen}`` for the manifest.
    """
    if not scored:
        raise ValueError("choosing the prior's weight needs at least one validation set")
    table = {}
    for weight in grid:
        aucs = {name: roc_auc(y, blend(ours, prior, weight)) for name, (y, ours, prior) in scored.items()}
        defined = [v for v in aucs.values() if not np.isnan(v)]
        table[float(weight)] = {**{k: round(v, 4) for k, v in aucs.items()}, "mean": round(float(np.mean(defined)), 4) if defined else float("nan")}
    # Ties go to the smaller weight: lean on our own model unless the prior clearly helps.
    best = max(table, key=lambda w: (np.nan_to_num(table[w]["mean"], nan=-1.0), -w))
    return best, {"grid": {str(w): row for w, row in table.items()}, "weight": best}
