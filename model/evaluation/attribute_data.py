"""Data that labels the hostility attributes other than toxicity, one attribute at a time, for the report.

The report's other hostility sets carry one label each (hostile, offensive, insult, toxic), which only the
``toxicity`` score is measured against. These sets say whether a comment is a threat, an identity attack, an
insult, profane or severe, so each attribute's score can be read against its own meaning. Every set is an
official test split except ETHOS, a validation set (GPL-3.0, never trained on; its binary file helps choose the
toxicity review threshold, its violence labels choose nothing). Nothing here feeds training or any choice.

An official split is not free of its set's training texts: 303 of ConvAbuse's 853 test turns are written, word for
word, in a training split ("yes", "hi", "fuck you"), which the encoder of 2.6.0-2.11.0 trained on. Training leaves
them out from 2.12.0 on (1.4.0 for the TF-IDF heads). Each frame's ``in_training`` column marks the rows whose text
training reads (``training_keys``, through the same functions training uses), so the report shows a test text that
reaches training again, and gives the figures on the others too.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from model.training.data import (
    DATASETS,
    load_training_data,
    HOSTILITY_SUBDIR,
    SPAN_TYPE_ATTRIBUTES,
    DataError,
    _olid,
    _read,
    evaluation_frame,
    load_toxic_spans,
    in_keys,
    overlap_key,
    resolve_data_dir,
    stormfront_test,
    typed_labels_of,
    typed_toxic_spans_posts,
)
from model.training.added_sets import ADDED_SETS, convabuse_rows, forbidden_keys, hatexplain_rows, without

ETHOS_VIOLENCE_MAJORITY = 0.5
"""An ETHOS hate comment incites violence when at least this share of its raters said so (the authors' cut-off)."""
SPAN_TYPE_NAMES = {attribute: span_type for span_type, attribute in SPAN_TYPE_ATTRIBUTES.items()}


def _toxic_spans_test(root: Path) -> pd.DataFrame:
    """The official toxic-spans test posts, typed by the majority of their raters (as the training posts are)."""
    posts, _ = typed_toxic_spans_posts(root)
    test_keys = set(load_toxic_spans("test", root.parent)["text"].map(overlap_key))
    keys = posts["comment_text"].map(overlap_key)
    posts = posts[in_keys(keys, test_keys) & ~keys.duplicated()]
    labels = typed_labels_of(posts)
    frame = evaluation_frame(posts["comment_text"], np.ones(len(posts)),
                             "SemEval-2021 toxic spans, official test posts (Civil Comments news comments, all rated "
                             "toxic); each attribute = a majority of the post's raters marked a span of its type",
                             DATASETS["toxic_spans"].license, **labels)
    frame.attrs["labels"] = {attribute: f"a majority of raters marked a span of type {SPAN_TYPE_NAMES[attribute]}"
                             for attribute in labels}
    return frame


def _hatexplain_test(root: Path) -> pd.DataFrame:
    rows = hatexplain_rows(root, "test")
    frame = evaluation_frame(rows["text"], rows["toxicity"],
                             "HateXplain official test split (Twitter and Gab posts: hatespeech, offensive or normal)",
                             ADDED_SETS["hatexplain"][1], identity_attack=rows["identity_attack"])
    frame.attrs["labels"] = {"identity_attack": "hatespeech by majority (offensive and normal posts are 0)"}
    return frame


def _convabuse_test(root: Path) -> pd.DataFrame:
    rows = convabuse_rows(root, "test")
    frame = evaluation_frame(rows["text"], rows["toxicity"],
                             "ConvAbuse official test split (users' turns to chatbots)", ADDED_SETS["convabuse"][1],
                             identity_attack=rows["identity_attack"], severe_toxicity=rows["severe_toxicity"])
    frame.attrs["labels"] = {"identity_attack": "abusive, and a majority marked it racist, homophobic, sexist, "
                                                "transphobic or ableist",
                             "severe_toxicity": "abusive with mean severity >= 2 of 3 (strongly abusive)"}
    return frame


def _stormfront_test(root: Path) -> pd.DataFrame:
    """Stormfront's ``sampled_test``, where "hate" is strictly group-based hate speech: an identity attack."""
    frame = stormfront_test(root.parent)
    frame = frame.assign(identity_attack=frame["label"])
    frame.attrs["labels"] = {"identity_attack": "hate (an attack on a group; insults without a group target are "
                                                "noHate)"}
    return frame


def _olid_test(root: Path) -> pd.DataFrame:
    raw = _olid(root, "olid_test.csv.gz")
    frame = evaluation_frame(raw["text"], raw["label"], "OLID / OffensEval 2019 official test (tweets)",
                             DATASETS["olid"].license, insult=raw["subtask_b"] == "TIN",
                             profanity=raw["subtask_b"] == "UNT")
    frame.attrs["labels"] = {"insult": "offensive and targeted (TIN: a targeted insult or threat)",
                             "profanity": "offensive and untargeted (UNT: profanity aimed at no one)"}
    return frame


def _ethos_violence(root: Path) -> pd.DataFrame:
    raw = _read(root, "ethos", "Ethos_Dataset_Multi_Label.csv.gz", ("comment", "violence"))
    violence = raw["violence"].astype(float) >= ETHOS_VIOLENCE_MAJORITY
    frame = evaluation_frame(raw["comment"], np.ones(len(raw)),
                             "ETHOS multi-label (YouTube and Reddit hate comments only); a validation set, not a test "
                             "split", DATASETS["ethos"].license, threat=violence)
    frame.attrs["labels"] = {"threat": "a majority of raters said it incites violence"}
    return frame


ATTRIBUTE_SETS: dict[str, Callable[[Path], pd.DataFrame]] = {
    "toxic_spans_test": _toxic_spans_test,
    "hatexplain_test": _hatexplain_test,
    "convabuse_test": _convabuse_test,
    "stormfront_test": _stormfront_test,
    "olid_test": _olid_test,
    "ethos_violence": _ethos_violence,
}
"""Set name -> loader of a frame with ``text``, ``label`` and a 0/1 column per attribute it labels
(``attrs["labels"]`` says what 1 means for each)."""


def training_keys(data_dir: str | Path | None = None) -> set[str]:
    """``overlap_key`` of the texts that bundles from 2.12.0 on train on: the public training rows
    (``load_training_data``) and HateXplain's and ConvAbuse's training splits less every test and validation text
    (``forbidden_keys``, read once), as training reads them (``added_sets.added_training_rows``); a part whose files
    are missing is left out, and so are the two splits when the test or validation sets cannot be read (training then
    refuses to start). (The encoder of 2.6.0-2.11.0 read those two splits whole, 294 ConvAbuse test turns and 6
    HateXplain test posts among them.)"""
    root = resolve_data_dir(data_dir) / HOSTILITY_SUBDIR
    forbidden = functools.cache(lambda: forbidden_keys(root.parent))
    parts = [lambda: load_training_data(root.parent),
             lambda: without(hatexplain_rows(root, "train"), forbidden()),
             lambda: without(convabuse_rows(root, "train"), forbidden())]
    keys = set()
    for part in parts:
        try:
            keys |= set(part()["text"].map(overlap_key))
        except DataError:
            continue
    return keys


def load_attribute_sets(data_dir: str | Path | None = None) -> tuple[dict[str, pd.DataFrame], dict[str, str]]:
    """Load every set that labels single attributes; a set whose files are missing is skipped, not fatal.

    Parameters
    ----------
    data_dir : str or Path or None
        Data directory (see ``model.training.data.resolve_data_dir``).

    Returns
    -------
    sets : dict of str to pandas.DataFrame
        The sets found, in ``ATTRIBUTE_SETS`` order; the boolean column ``in_training`` marks rows whose text is
        among ``training_keys``.
    skipped : dict of str to str
        Set name -> why it was not loaded.
    """
    root = resolve_data_dir(data_dir) / HOSTILITY_SUBDIR
    sets, skipped = {}, {}
    trained = training_keys(data_dir)
    for name, loader in ATTRIBUTE_SETS.items():
        try:
            frame = loader(root)
        except DataError as error:
            skipped[name] = str(error)
            continue
        if frame.empty:
            skipped[name] = "no rows"
            continue
        sets[name] = frame.assign(in_training=in_keys(frame["text"].map(overlap_key), trained))
    return sets, skipped


def labelled_attributes(frame: pd.DataFrame) -> list[str]:
    """The attributes a set from ``load_attribute_sets`` labels, in its column order."""
    return list(frame.attrs.get("labels", {}))
