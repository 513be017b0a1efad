"""The encoder's training and held-out rows: the heads' sets plus HateXplain, ConvAbuse and identity sentences.

Held-out rows (for calibration and thresholds) are the heads' own held-out slice (``split_holdout``, the same
seed and rows as ``make train``), HateXplain's official ``val`` and ConvAbuse's official ``valid`` split.
Training rows that name a group also get swapped copies (``identity_swaps``); held-out rows are never copied.
With ``claim_task`` the claim heads' training units join as well, each labelled only in a ``checkable`` column of
its own source (``claim_task_rows``), so the encoder is fine-tuned for the claim heads that read its states too;
``distil_claim_units`` can give them a teacher's hostility probabilities as soft targets.
No test split, no validation set and no NC or GPL set is read for training; the madlibs are never read.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from model.attributes import HOSTILITY_ATTRIBUTES
from model.training.added_sets import (ADDED_SETS, added_holdout_rows, added_training_rows, forbidden_keys,
                                       with_identity_swaps, without)
from model.training.claims_data import TRAINING_SOURCES as CLAIM_SOURCES
from model.training.claims_data import load_claim_training_data
from model.training.data import _keys, _labelled, load_training_data
from model.training.train import SEED, split_holdout
from model.training.idea_templates import idea_sentences
from model.training.identity_templates import balancing_sentences
from model.training.threat_templates import threat_sentences

NEW_DATASETS: dict[str, tuple[str, str]] = {
    **{name: ADDED_SETS[name] for name in ("hatexplain", "convabuse", "identity_sentences")},
    "threat_sentences": ("", "written for this project"),
    "idea_sentences": ("", "written for this project"),
    "identity_balance": ("", "written for this project"),
    "identity_swaps": ADDED_SETS["identity_swaps"],
}
"""Sets the encoder adds to the heads' training sets: folder and licence."""
SAMPLE_FRACTION: dict[str, float] = {
    "davidson": 0.3,
    "toxic_spans": 0.5,
    "toxic_spans_context": 0.7,
}
"""Share of a source's rows drawn for the fine-tune (1 when not listed): the heads' down-weighting, as sampling."""
CLAIM_UNIT_PREFIX = "claims:"
"""``source`` of a claim unit among the encoder's rows: this prefix and its claim set."""
CLAIM_TASK_COLUMNS = tuple(f"checkable_{source}" for source in CLAIM_SOURCES)
"""Extra training targets with ``claim_task``: one per claim source, since the sources define "checkable" apart
(the TF-IDF and encoder claim heads give each source an offset of its own for the same reason)."""


def _threats(n_sentences: int, seed: int) -> pd.DataFrame:
    """Written threats (toxic, threat and, as toxic spans' threats are, severe) and violent words in civil use."""
    texts, labels = threat_sentences(n_sentences, seed)
    return _labelled(texts, labels, threat=labels, severe_toxicity=labels).assign(source="threat_sentences")


def _ideas(n_sentences: int, seed: int) -> pd.DataFrame:
    """Written insults of a person (toxic, insult) and rude judgements of an idea (civil)."""
    texts, labels = idea_sentences(n_sentences, seed)
    return _labelled(texts, labels, insult=labels).assign(source="idea_sentences")


def claim_task_rows(claims: pd.DataFrame) -> pd.DataFrame:
    """Claim training units as encoder rows: ``checkable_<source>`` labelled, every other target NaN.

    ``claims`` is ``load_claim_training_data``'s frame; its source weights are kept, ``source`` becomes
    ``CLAIM_UNIT_PREFIX`` + its source.
    """
    sources = claims["source"].astype(str)
    rows = pd.DataFrame({"text": claims["text"].astype(str).to_numpy(), "source": (CLAIM_UNIT_PREFIX + sources).to_numpy(),
                         "weight": claims["weight"].to_numpy(float)})
    for attribute in HOSTILITY_ATTRIBUTES:
        rows[attribute] = np.nan
    for source, column in zip(CLAIM_SOURCES, CLAIM_TASK_COLUMNS):
        rows[column] = np.where(sources.to_numpy() == source, claims["checkable"].to_numpy(float), np.nan)
    return rows[rows[list(CLAIM_TASK_COLUMNS)].notna().any(axis=1)].reset_index(drop=True)


def is_claim_unit(fit: pd.DataFrame) -> np.ndarray:
    """Whether each row is a claim unit (its ``source`` starts with ``CLAIM_UNIT_PREFIX``)."""
    return fit["source"].astype(str).str.startswith(CLAIM_UNIT_PREFIX).to_numpy()


def distil_claim_units(fit: pd.DataFrame, teacher) -> pd.DataFrame:
    """``fit`` with each claim unit's hostility targets set to ``teacher``'s probabilities (soft targets).

    Learning without forgetting (Li and Hoiem, 2016): the claim units carry no hostility labels, so without
    targets the encoder's hostility behaviour drifts on such text; a teacher (an earlier encoder bundle, see
    ``model.training.encoder.bundle_teacher``) pins it. ``teacher(texts)`` returns ``(len(texts), 6)``
    probabilities in ``HOSTILITY_ATTRIBUTES`` order. Rows that are not claim units are returned unchanged.
    """
    claim = is_claim_unit(fit)
    if not claim.any():
        return fit
    probabilities = np.asarray(teacher(fit.loc[claim, "text"].tolist()), dtype=float)
    if probabilities.shape != (int(claim.sum()), len(HOSTILITY_ATTRIBUTES)):
        raise ValueError(f"the teacher gave probabilities of shape {probabilities.shape} for {int(claim.sum())} "
                         f"claim units and {len(HOSTILITY_ATTRIBUTES)} hostility attributes")
    if not np.all((probabilities >= 0) & (probabilities <= 1)):
        raise ValueError("the teacher's outputs must be probabilities in [0, 1]")
    distilled = fit.copy()
    distilled.loc[claim, list(HOSTILITY_ATTRIBUTES)] = probabilities
    return distilled


def _balance(fit: pd.DataFrame, seed: int) -> pd.DataFrame:
    """Civil sentences naming each group term as often as ``fit``'s toxic share requires (``balancing_sentences``)."""
    texts, _ = balancing_sentences(fit["text"].tolist(), fit["toxicity"].to_numpy(float), seed)
    return _labelled(texts, np.zeros(len(texts))).assign(source="identity_balance")


def encoder_training_frames(data_dir=None, seed: int = SEED, max_samples: int | None = None, claim_task: bool = False,
                            n_threat_sentences: int = 0, n_idea_sentences: int = 0,
                            balance_identities: bool = False) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Training sample and held-out rows for the encoder.

    Parameters
    ----------
    data_dir : str or Path or None
        Data directory.
    seed : int
        Seed of the sample, the identity sentences and the swapped copies. The held-out slice of the heads' rows
        is always ``make train``'s (seed ``SEED``): the TF-IDF bundle the encoder joins was fitted without it,
        and ``bundle`` calibrates on it, so a run with another seed must not train on it either.
    max_samples : int, optional
        Cap on the training sample (drawn uniformly from the source-weighted sample).
    claim_task : bool
        Add every claim training unit after the cap (``claim_task_rows``): the hostility rows stay the same sample.
    n_threat_sentences : int
        Written threats and civil uses of violent words (``threat_templates``) to add to the training rows after
        the cap (the drawn sample stays the same), half each; 0 (bundles up to 2.8.0) adds none.
    n_idea_sentences : int
        Written insults of a person and rude judgements of ideas (``idea_templates``), half each, added the same way;
        0 (bundles up to 2.8.0) adds none.
    balance_identities : bool
        Add civil sentences naming each group term whose share of toxic rows in the drawn sample (the swapped
        copies and written sentences included) is above the sample's (``identity_templates.balancing_sentences``),
        the same way; ``False`` (every bundle to 2.13.0) adds none.

    Returns
    -------
    fit : pandas.DataFrame
        ``text``, ``source``, ``weight`` (1.0; a claim unit's source weight) and one column per attribute (NaN
        where not labelled), then with ``claim_task`` the ``CLAIM_TASK_COLUMNS``.
    holdout : pandas.DataFrame
        Same columns; never trained on.
    """
    heads_rows = load_training_data(data_dir)
    fit, holdout = split_holdout(heads_rows, SEED)
    forbidden = forbidden_keys(data_dir)
    new_fit = added_training_rows(data_dir, seed, forbidden)
    new_holdout = added_holdout_rows(data_dir, forbidden | _keys({"fit": new_fit}))
    rng = np.random.default_rng(seed)
    fraction = fit["source"].map(SAMPLE_FRACTION).fillna(1.0).to_numpy()
    fit = fit[rng.random(len(fit)) < fraction]
    fit = pd.concat([fit, new_fit], ignore_index=True)
    fit = with_identity_swaps(fit, seed)
    if max_samples is not None and len(fit) > max_samples:
        fit = fit.iloc[np.sort(rng.choice(len(fit), max_samples, replace=False))]
    # Written threat and idea sentences join after the cap, so that the drawn sample is the same with or without
    # them and a run with them differs from the run without only by them (before stop 36 they joined before the
    # cap, which drew another sample: the runs of stops 34 and 35 confounded the two).
    held_out = forbidden | _keys({"holdout": holdout, "new_holdout": new_holdout})
    written = [without(make(n, seed), held_out) for n, make in
               ((n_threat_sentences, _threats), (n_idea_sentences, _ideas)) if n]
    if balance_identities:
        written.append(without(_balance(pd.concat([fit, *written], ignore_index=True), seed), held_out))
    fit = pd.concat([fit, *written], ignore_index=True)
    columns = ["text", "source", "weight", *HOSTILITY_ATTRIBUTES]
    fit = fit.assign(weight=1.0)[columns].reset_index(drop=True)
    if claim_task:
        claims = without(claim_task_rows(load_claim_training_data(data_dir)), forbidden)
        fit = pd.concat([fit, claims], ignore_index=True)
    holdout = pd.concat([holdout, new_holdout], ignore_index=True).assign(weight=1.0)[columns].reset_index(drop=True)
    return fit, holdout
