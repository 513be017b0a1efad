"""Training rows beyond the heads' public sets: HateXplain, ConvAbuse, identity sentences and identity swaps.

The fine-tuned encoder has trained on them since bundle 2.1.0 (``encoder_data``). From TF-IDF bundle 1.3.0 on the
TF-IDF heads train on them too (``train.train_bundle(added_sets=True)``): an encoder bundle blends the TF-IDF
toxicity into its own, and the TF-IDF heads of 1.2.0, which never saw a group named in civil use, flagged "a
good queer person" for review whatever the encoder said (MODEL_CARD.md, *Version 2.10.0*).

Rows are always added after the held-out slice is drawn (never held out themselves), and none whose text is in a
test split, a validation set or the held-out rows. The madlibs are never read.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from model.training.data import (DataError, _hostility_dir, _keys, _labelled, load_test_sets, load_toxic_spans,
                                 load_validation_sets, in_keys, overlap_key, read_data_file, stormfront_test)
from model.training.identity_swaps import swapped_copies
from model.training.identity_templates import identity_sentences

ADDED_SETS: dict[str, tuple[str, str]] = {
    "hatexplain": ("hatexplain", "MIT"),
    "convabuse": ("convabuse", "CC BY 4.0"),
    "identity_sentences": ("", "written for this project"),
    "identity_swaps": ("", "copies of the training rows above, under their licences"),
}
"""Sets added to the heads' training sets: folder under the hostility data (empty: written here) and licence."""
N_IDENTITY_SENTENCES = 10000
IDENTITY_ATTACK_TYPES = ("frac_racist", "frac_homophobic", "frac_sexist", "frac_transphobic", "frac_ableist")
SEVERE_ABUSE = 2.0
"""ConvAbuse mean severity (0-3) from which an abusive turn counts as severe."""
ADDED_WEIGHT = 1.0
"""Sample weight of an added row in the TF-IDF fit (the heads' rows have mean weight 1); a swapped copy keeps its
original's weight."""


def hatexplain_rows(root, split: str) -> pd.DataFrame:
    """HateXplain's official ``split``: toxic = hatespeech or offensive by majority, identity_attack = hatespeech."""
    raw = read_data_file(root / ADDED_SETS["hatexplain"][0] / "hatexplain.csv.gz", ("split", "majority_label", "text", "toxic"))
    raw = raw[raw["split"] == split]
    hate = (raw["majority_label"] == "hatespeech").to_numpy(float)
    return _labelled(raw["text"], raw["toxic"].to_numpy(float), identity_attack=hate).assign(source="hatexplain")


def convabuse_rows(root, split: str) -> pd.DataFrame:
    """ConvAbuse's official ``split``: abusive by majority; identity_attack from the identity types, severe_toxicity
    from the mean severity."""
    raw = read_data_file(root / ADDED_SETS["convabuse"][0] / "convabuse.csv.gz",
                         ("split", "text", "is_abuse_majority", "mean_severity", *IDENTITY_ATTACK_TYPES))
    raw = raw[raw["split"] == split]
    identity = (raw[list(IDENTITY_ATTACK_TYPES)].max(axis=1) >= 0.5).to_numpy(float)
    severe = (raw["mean_severity"] >= SEVERE_ABUSE).to_numpy(float)
    return _labelled(raw["text"], raw["is_abuse_majority"].to_numpy(float), identity_attack=identity,
                     severe_toxicity=severe).assign(source="convabuse")


def identity_rows(seed: int) -> pd.DataFrame:
    """``N_IDENTITY_SENTENCES`` written neutral and friendly sentences naming groups (``identity_templates``), all civil."""
    texts = identity_sentences(N_IDENTITY_SENTENCES, seed)
    return _labelled(texts, np.zeros(len(texts))).assign(source="identity_sentences")


def without(frame: pd.DataFrame, keys: set[str]) -> pd.DataFrame:
    """``frame`` minus empty texts and texts whose ``overlap_key`` is in ``keys``."""
    return frame[~in_keys(frame["text"].map(overlap_key), keys) & (frame["text"].str.strip() != "")]


def test_keys(data_dir) -> set[str]:
    """``overlap_key`` of every official hostility test split: the test sets ``moderate eval`` reports, the toxic-spans
    test posts, Stormfront's test split, and HateXplain's and ConvAbuse's (skipped when their file is not in the data
    folder, as the report skips them). No bundle from 1.4.0 on trains on any of them: before, the last two were left in
    the training rows of every set (303 of ConvAbuse's 853 test turns, "yes" and "hi" among them)."""
    keys = _keys({**load_test_sets(data_dir), "spans": load_toxic_spans("test", data_dir),
                  "stormfront": stormfront_test(data_dir)})
    root = _hostility_dir(data_dir)
    for rows in (hatexplain_rows, convabuse_rows):
        try:
            keys |= _keys({"test": rows(root, "test")})
        except DataError:
            continue
    return keys


def forbidden_keys(data_dir) -> set[str]:
    """Overlap keys of every test split (``test_keys``) and validation set: never trained on."""
    return test_keys(data_dir) | _keys(load_validation_sets(data_dir))


def added_training_rows(data_dir, seed: int, forbidden: set[str]) -> pd.DataFrame:
    """HateXplain's and ConvAbuse's official training splits and the identity sentences, minus ``forbidden`` texts."""
    root = _hostility_dir(data_dir)
    added = pd.concat([hatexplain_rows(root, "train"), convabuse_rows(root, "train"), identity_rows(seed)],
                      ignore_index=True)
    return without(added, forbidden)


def added_holdout_rows(data_dir, forbidden: set[str]) -> pd.DataFrame:
    """HateXplain's ``val`` and ConvAbuse's ``valid`` splits, minus ``forbidden`` texts."""
    root = _hostility_dir(data_dir)
    return without(pd.concat([hatexplain_rows(root, "val"), convabuse_rows(root, "valid")], ignore_index=True), forbidden)


def with_identity_swaps(fit: pd.DataFrame, seed: int) -> pd.DataFrame:
    """``fit`` plus identity-swapped copies of its rows that name a group (not of the identity sentences)."""
    return pd.concat([fit, swapped_copies(fit[fit["source"] != "identity_sentences"], seed)], ignore_index=True)


def extend_heads_rows(fit: pd.DataFrame, holdout: pd.DataFrame, data_dir, seed: int) -> pd.DataFrame:
    """The TF-IDF heads' fit rows with the added sets and the identity swaps of both (``ADDED_WEIGHT`` each).

    Parameters
    ----------
    fit, holdout : pandas.DataFrame
        The heads' rows after ``train.split_holdout``: ``text``, ``source``, ``weight`` and the attribute columns.
        No added row has a text of ``holdout``, a test split or a validation set.
    data_dir : str or Path or None
    seed : int
        Seed of the identity sentences and of the swapped copies.

    Returns
    -------
    pandas.DataFrame
        ``fit``'s columns; the added rows' ``source`` names their set (``ADDED_SETS``).
    """
    added = added_training_rows(data_dir, seed, forbidden_keys(data_dir) | _keys({"holdout": holdout}))
    rows = pd.concat([fit, added.assign(weight=ADDED_WEIGHT)], ignore_index=True)
    return with_identity_swaps(rows, seed)[list(fit.columns)].reset_index(drop=True)
