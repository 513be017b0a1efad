"""``model.attributes``: the rule that refuses labels marking a hostility attribute while giving toxicity as absent,
for one comment's labels (``untoxic_hostility``, ``/v1/feedback``) and for whole label columns
(``untoxic_hostility_rows``, training's site data)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from model.attributes import HOSTILITY_ATTRIBUTES, untoxic_hostility, untoxic_hostility_rows

NAN = math.nan

UNTOXIC_CASES = [
    ({"toxicity": 0.49, "insult": 0.5}, ["insult"]),  # hostility exactly at the cut marks it
    ({"toxicity": 0.49, "insult": 0.49}, []),
    ({"toxicity": 0.5, "insult": 1}, []),  # toxicity exactly at the cut marks it: the labels agree
    ({"toxicity": 0, "threat": 1, "severe_toxicity": 0.7, "profanity": 0.2, "unsupported_claim": 1},
     ["severe_toxicity", "threat"]),  # in HOSTILITY_ATTRIBUTES order; a claim is no hostility
    ({"insult": 1}, []),  # toxicity not given: training takes the insult as toxic
    ({"toxicity": None, "insult": 1}, []),
    ({"toxicity": NAN, "insult": 1}, []),
    ({"toxicity": 0, "insult": NAN}, []),  # a hostility not given is not marked
    ({"toxicity": 0, "insult": None}, []),
    ({"toxicity": 0}, []),
    ({}, []),
]
"""One comment's labels (a name missing, None or NaN: not given) and the hostility attributes refused in them."""


@pytest.mark.parametrize(("labels", "refused"), UNTOXIC_CASES)
def test_untoxic_hostility_names_what_one_comments_labels_mark_while_toxicity_is_under_the_cut(labels, refused):
    """NaN toxicity counted as given and under the cut here while training's columns took NaN as not given."""
    assert untoxic_hostility(labels) == refused


def _label_columns(cases: list[dict]) -> dict[str, np.ndarray]:
    """The cases' labels as one float column per attribute named in any of them, NaN where not given."""
    names = sorted({name for labels in cases for name in labels})
    return {name: np.array([np.nan if labels.get(name) is None else labels[name] for labels in cases], dtype=float)
            for name in names}


@pytest.mark.parametrize("as_frame", [False, True], ids=["arrays", "frame"])
def test_untoxic_hostility_rows_marks_on_whole_columns_the_rows_untoxic_hostility_refuses(as_frame):
    columns = _label_columns([labels for labels, _ in UNTOXIC_CASES])
    rows = untoxic_hostility_rows(pd.DataFrame(columns) if as_frame else columns)
    assert list(rows) == list(HOSTILITY_ATTRIBUTES[1:])
    assert all(marked.dtype == bool and marked.shape == (len(UNTOXIC_CASES),) for marked in rows.values())
    for row, (_, refused) in enumerate(UNTOXIC_CASES):
        assert [name for name, marked in rows.items() if marked[row]] == refused, row


def test_a_column_not_given_marks_no_row_and_keeps_the_rows_length():
    """Toxicity not given refuses nothing; a hostility column not given is marked nowhere."""
    without_toxicity = untoxic_hostility_rows({"insult": np.array([1.0, 0.0, 1.0])})
    assert all(marked.tolist() == [False, False, False] for marked in without_toxicity.values())
    only_insult = untoxic_hostility_rows({"toxicity": np.array([0.0, 0.0, 1.0]), "insult": np.array([1.0, np.nan, 1.0])})
    assert only_insult["insult"].tolist() == [True, False, False]
    assert only_insult["threat"].tolist() == [False, False, False]
