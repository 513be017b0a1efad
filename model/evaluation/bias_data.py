"""Load the identity-bias sets (Dixon et al. 2018): template madlibs and Wikipedia comments with identity terms.

Evaluation only: nothing here may feed training, tuning or threshold choice (see the folder's SOURCE.md).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from model.training.data import HOSTILITY_SUBDIR, DataError, read_data_file, resolve_data_dir

BIAS_FOLDER = "jigsaw_bias_madlibs"
MADLIBS = "madlibs"
WIKI_IDENTITY = "wiki_identity"
WIKI_IDENTITY_FUZZED = "wiki_identity_fuzzed"
BIAS_FILES: dict[str, tuple[str, str, str]] = {
    MADLIBS: ("bias_madlibs_77k.csv.gz", "Text", "Label"),
    WIKI_IDENTITY: ("toxicity_nonfuzzed_testset.csv.gz", "comment", "toxic"),
    WIKI_IDENTITY_FUZZED: ("toxicity_fuzzed_testset.csv.gz", "comment", "toxic"),
}
"""Set name -> (file, text column, label column)."""
BIAS_LICENSE = "Apache-2.0 (comment text CC BY-SA 3.0)"
BIAS_DESCRIPTIONS: dict[str, str] = {
    MADLIBS: "Dixon et al. 2018 template sentences (\"Being gay is vile.\", \"hug muslim\"); label 1 = BAD.",
    WIKI_IDENTITY: "Wikipedia talk comments picked for containing identity terms; label 1 = toxic (Wulczyn et al. 2017).",
    WIKI_IDENTITY_FUZZED: "The same comments with identity terms randomly swapped for others; same labels.",
}
IDENTITY_TERMS: tuple[str, ...] = (
    "lesbian", "gay", "bisexual", "transgender", "trans", "queer", "lgbt", "lgbtq", "homosexual", "straight",
    "heterosexual", "male", "female", "nonbinary", "african", "african american", "black", "white", "european",
    "hispanic", "latino", "latina", "latinx", "mexican", "canadian", "american", "asian", "indian", "middle eastern",
    "chinese", "japanese", "christian", "muslim", "jewish", "buddhist", "catholic", "protestant", "sikh", "taoist",
    "old", "older", "young", "younger", "teenage", "millenial", "middle aged", "elderly", "blind", "deaf", "paralyzed",
)
"""The 50 identity terms of the madlibs (each template's slot), also used to find identities in the Wikipedia comments."""
MADLIBS_LABELS = {"BAD": 1, "NOT_BAD": 0}


def identity_columns(texts: Sequence[str], terms: Sequence[str] = IDENTITY_TERMS) -> pd.DataFrame:
    """One boolean column per term: the text contains it as whole words, any case.

    As in Dixon et al.'s analysis code, a longer term also counts for the words in it
    ("african american" is in the ``african`` and ``american`` subgroups too).
    """
    texts, terms = list(texts), list(terms)
    column = {term.lower(): index for index, term in enumerate(terms) if _WORD.fullmatch(term)}
    several = [(index, _WORD.findall(term.lower())[0], term) for index, term in enumerate(terms) if not _WORD.fullmatch(term)]
    found = np.zeros((len(texts), len(terms)), dtype=bool)
    for row, text in enumerate(texts):
        if _folds_to_ascii(text):  # "İ" is "i" to a regex that ignores case, not once lower-cased: the regexes decide
            found[row] = [_term_pattern(term).search(text) is not None for term in terms]
            continue
        words = set(_WORD.findall(text.lower()))  # one pass, where a regex per term took 50
        found[row, [column[word] for word in words & column.keys()]] = True
        for index, first, term in several:  # a term of several words needs its first word
            found[row, index] = first in words and _term_pattern(term).search(text) is not None
    return pd.DataFrame(found, columns=terms)


_WORD = re.compile(r"\w+")
"""A word as ``\\b`` delimits one."""


def _folds_to_ascii(text: str) -> bool:
    """Whether a character of ``text`` beyond ASCII changes case into one of ASCII's letters."""
    return not text.isascii() and any(_char_folds_to_ascii(char) for char in set(text))


@functools.cache
def _char_folds_to_ascii(char: str) -> bool:
    return not char.isascii() and any(folded.isascii() and folded.isalpha()
                                       for form in (char.lower(), char.upper(), char.casefold()) for folded in form)


@functools.cache
def _term_pattern(term: str) -> re.Pattern:
    return re.compile(rf"\b{re.escape(term)}\b", re.IGNORECASE)


def _label(values: pd.Series, name: str, path: Path) -> np.ndarray:
    if name == MADLIBS:
        unknown = set(values) - set(MADLIBS_LABELS)
        if unknown:
            raise DataError(f"{path}: labels must be BAD or NOT_BAD, found {sorted(unknown)[:3]}")
        return values.map(MADLIBS_LABELS).to_numpy(int)
    text = values.astype(str).str.lower()
    if not text.isin(("true", "false")).all():
        raise DataError(f"{path}: column toxic must be True or False")
    return (text == "true").to_numpy(int)


def load_bias_set(name: str, data_dir: str | Path | None = None) -> pd.DataFrame:
    """Read one bias set as ``text``, ``label`` (0/1) and one boolean column per identity term.

    Parameters
    ----------
    name : str
        ``madlibs``, ``wiki_identity`` or ``wiki_identity_fuzzed``.
    data_dir : str or Path or None
        Data directory (see ``model.training.data.resolve_data_dir``).

    Returns
    -------
    pandas.DataFrame
        ``attrs`` carry ``description``, ``license`` and ``identities`` (the term columns).
    """
    if name not in BIAS_FILES:
        raise DataError(f"unknown bias set {name!r}: choose one of {sorted(BIAS_FILES)}")
    filename, text_column, label_column = BIAS_FILES[name]
    path = resolve_data_dir(data_dir) / HOSTILITY_SUBDIR / BIAS_FOLDER / filename
    raw = read_data_file(path, (text_column, label_column))
    frame = pd.DataFrame({"text": raw[text_column].astype(str).str.strip(),
                          "label": _label(raw[label_column], name, path)})
    frame = pd.concat([frame, identity_columns(frame["text"])], axis=1)
    frame.attrs.update(description=BIAS_DESCRIPTIONS[name], license=BIAS_LICENSE, identities=list(IDENTITY_TERMS))
    return frame


def load_bias_sets(data_dir: str | Path | None = None) -> dict[str, pd.DataFrame]:
    """Every bias set present in the data directory (none is an empty dict; a malformed file is a ``DataError``)."""
    folder = resolve_data_dir(data_dir) / HOSTILITY_SUBDIR / BIAS_FOLDER
    return {name: load_bias_set(name, data_dir) for name, (filename, _, _) in BIAS_FILES.items()
            if (folder / filename).is_file()}
