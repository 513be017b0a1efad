"""Counterfactual copies of training rows with one group's name swapped for another's, labels unchanged.

In the hate-speech sets some groups are named mostly in hostile posts ("homosexual", "Arab", "Muslim") and others
mostly in civil ones, so a fine-tuned encoder learns that the name itself predicts hostility. A copy of a row
with every group name replaced by another group's keeps the row's labels: hostile stays hostile whoever it is
about, civil stays civil. Across the copies every listed group is seen in the same mix of hostile and civil
contexts (counterfactual data augmentation, as in Park et al. 2018 and Dixon et al. 2018's balancing). This is
training data, not a list of exempt words: nothing is scored differently at serving time.

Only unambiguous group names are swapped ("white", "straight", "young" or "blind" have other senses), and only
within a grammatical class, so the copy stays a sentence: names that are both adjective and noun with a plural in
-s ("a Muslim", "Muslims", "Muslim families"), and adjectives only ("Jewish", "transgender").
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from model.training.identity_templates import indefinite_article

NOUN_LIKE: tuple[str, ...] = (
    "gay", "lesbian", "bisexual", "queer", "homosexual", "heterosexual", "Muslim", "Christian", "Catholic", "Hindu",
    "Sikh", "Buddhist", "atheist", "Latino", "Mexican", "Arab", "Asian", "African", "Hispanic", "immigrant",
    "refugee", "Somali", "Pakistani", "Jamaican", "Canadian", "American", "European",
)
"""Group names used as adjective and as noun, plural in -s."""
ADJECTIVES: tuple[str, ...] = ("Jewish", "transgender", "Chinese", "nonbinary", "Japanese", "Vietnamese")
"""Group names used as adjectives only."""
SWAP_SHARE = 1.0
"""Share of the rows naming a listed group that get a swapped copy."""


def _pattern(names: tuple[str, ...], plural: bool) -> re.Pattern:
    alternatives = "|".join(sorted((re.escape(name) for name in names), key=len, reverse=True))
    return re.compile(r"\b(?:(an?)(\s+))?(%s)%s\b" % (alternatives, "(s?)" if plural else "()"), re.IGNORECASE)


CLASSES = ((NOUN_LIKE, _pattern(NOUN_LIKE, plural=True)), (ADJECTIVES, _pattern(ADJECTIVES, plural=False)))


def _cased(replacement: str, original: str) -> str:
    if original.isupper() and len(original) > 1:
        return replacement.upper()
    if original[:1].isupper():
        return replacement[:1].upper() + replacement[1:]
    return replacement.lower()


def swap_identities(text: str, rng: np.random.Generator) -> str:
    """``text`` with each listed group name replaced by another of its class, the same one at every occurrence.

    Parameters
    ----------
    text : str
    rng : numpy.random.Generator
        Draws the replacements.

    Returns
    -------
    str
        The swapped text (``text`` itself when it names no listed group).
    """
    for names, pattern in CLASSES:
        chosen: dict[str, str] = {}

        def replace(match: re.Match) -> str:
            article, space, found, plural = match.groups()
            name = found.lower()
            if name not in chosen:
                others = [other for other in names if other.lower() != name]
                chosen[name] = others[rng.integers(len(others))]
            swapped = _cased(chosen[name], found) + plural
            if article:
                swapped = _cased(indefinite_article(swapped), article) + space + swapped
            return swapped

        text = pattern.sub(replace, text)
    return text


def names_a_group(texts: pd.Series) -> np.ndarray:
    """True for each text that names a listed group."""
    found = np.zeros(len(texts), dtype=bool)
    for _, pattern in CLASSES:
        found |= np.fromiter((pattern.search(text) is not None for text in texts), dtype=bool, count=len(texts))
    return found


def swapped_copies(frame: pd.DataFrame, seed: int, share: float = SWAP_SHARE) -> pd.DataFrame:
    """Swapped copies of a seeded ``share`` of the rows of ``frame`` that name a listed group.

    Parameters
    ----------
    frame : pandas.DataFrame
        Rows with a ``text`` column; every other column (labels, weight) is copied unchanged.
    seed : int
        Seed of the rows drawn and of the replacements.
    share : float
        Share of the naming rows copied, in [0, 1].

    Returns
    -------
    pandas.DataFrame
        The copies, ``source`` set to ``"identity_swaps"``.
    """
    if not 0.0 <= share <= 1.0:
        raise ValueError(f"share must be in [0, 1], got {share}")
    rng = np.random.default_rng(seed)
    drawn = names_a_group(frame["text"]) & (rng.random(len(frame)) < share)
    copies = frame[drawn].copy()
    copies["text"] = [swap_identities(text, rng) for text in copies["text"]]
    return copies.assign(source="identity_swaps").reset_index(drop=True)
