"""Attribute names, defined once here and never renamed, and when a label marks one."""

from collections.abc import Mapping

import numpy as np
from numpy.typing import ArrayLike

THREAT_ATTRIBUTE = "threat"
"""The hostility attribute that the policy's threat phrases (``model.threats``) stand in for."""

HOSTILITY_ATTRIBUTES: tuple[str, ...] = (
    "toxicity",
    "severe_toxicity",
    "identity_attack",
    "insult",
    "profanity",
    THREAT_ATTRIBUTE,
)
"""The six hostility attributes, Perspective's production names in lower case."""

CLAIM_ATTRIBUTE = "unsupported_claim"
"""A checkable factual claim stated without support (sent to review, never rejected)."""

ATTRIBUTES: tuple[str, ...] = HOSTILITY_ATTRIBUTES + (CLAIM_ATTRIBUTE,)
"""Every attribute the shipped bundle scores, in column order."""

LABEL_PROBABILITY_CUT = 0.5
"""A label given as a probability (a moderator's, a share of raters) marks its attribute from this value on."""


def untoxic_hostility_rows(labels: Mapping[str, ArrayLike | None]) -> dict[str, np.ndarray]:
    """Where labels mark a hostility attribute (at least ``LABEL_PROBABILITY_CUT``) while they give toxicity as absent
    (under the cut): the one rule that ``/v1/feedback`` (``untoxic_hostility``) and training's site data
    (``model.training.site_data``) refuse by. An insult, a threat... is toxic, so such labels contradict each other,
    and training, which reads a comment that is not toxic as free of every hostility, would drop them.

    Parameters
    ----------
    labels : mapping of str to array-like or None
        Attribute name -> its labels, one a row: arrays of one length (a pandas DataFrame of label columns serves), or
        numbers for one comment. A label that is missing, None or NaN is not given: with toxicity not given no row is
        refused (training takes a marked hostility as toxic), and a hostility attribute not given is not marked.

    Returns
    -------
    dict of str to numpy.ndarray of bool
        For each hostility attribute but toxicity, in ``HOSTILITY_ATTRIBUTES`` order: True on the rows that mark it
        while giving toxicity under the cut (0-d arrays for one comment's numbers).
    """
    given = {name: np.asarray(labels.get(name), dtype=float) for name in HOSTILITY_ATTRIBUTES}  # None -> NaN
    shape = np.broadcast_shapes(*(values.shape for values in given.values()))  # a column not given marks no row
    not_toxic = np.broadcast_to(given[HOSTILITY_ATTRIBUTES[0]] < LABEL_PROBABILITY_CUT, shape)  # NaN compares False
    return {name: not_toxic & (given[name] >= LABEL_PROBABILITY_CUT) for name in HOSTILITY_ATTRIBUTES[1:]}


def untoxic_hostility(labels: Mapping[str, float | None]) -> list[str]:
    """The hostility attributes one comment's ``labels`` mark while giving toxicity as absent (``untoxic_hostility_rows``).

    Parameters
    ----------
    labels : mapping of str to float or None
        Attribute name -> probability; a name missing, None or NaN is not given.

    Returns
    -------
    list of str
        The attributes refused, in ``HOSTILITY_ATTRIBUTES`` order; empty when the labels agree.
    """
    return [name for name, marked in untoxic_hostility_rows(labels).items() if marked]

