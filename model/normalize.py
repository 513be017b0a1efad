"""Text normalisation as a stateless scikit-learn transformer, with offsets back to the raw text.

Every step is either a per-character mapping (unicode NFKC, case, accents, homoglyphs, zero-width
characters) or a regular-expression substitution (URLs, @mentions, masked and leetspeak words, spaced
letters, elongations, whitespace). The same steps run in two modes: ``normalize`` for speed, and
``normalize_with_offsets`` which also returns, for each normalised character, the index of the raw
character it came from, so that spans found on the normalised text point into the comment as written.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable

from sklearn.base import BaseEstimator, TransformerMixin

URL_TOKEN = " xxurl "
USER_TOKEN = " xxuser "

ZERO_WIDTH = "\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180e\u200b\u200c\u200d\u200e\u200f\u2060\u2061\u2062\u2063\u2064\ufeff"

# Letters from other scripts that look like Latin ones, used to dodge word filters.
HOMOGLYPHS = {
    "а": "a", "в": "b", "с": "c", "ԁ": "d", "е": "e", "ё": "e", "һ": "h", "і": "i", "ї": "i", "ј": "j",
    "к": "k", "м": "m", "н": "h", "о": "o", "р": "p", "ԛ": "q", "г": "r", "ѕ": "s", "т": "t", "ц": "u",
    "у": "y", "х": "x", "ԝ": "w", "ɡ": "g", "ɩ": "i", "ο": "o", "α": "a", "ν": "v", "ι": "i", "κ": "k",
    "τ": "t", "υ": "u", "ρ": "p", "ε": "e", "β": "b", "η": "n", "μ": "u", "χ": "x", "ω": "w", "ѡ": "w",
    "ß": "ss", "æ": "ae", "œ": "oe", "ø": "o", "ł": "l", "đ": "d", "ħ": "h", "ı": "i",
}

# Digits and symbols that stand for letters inside a word ("1d10t", "@ss", "$hit").
LEET = {"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "8": "b", "@": "a", "$": "s", "!": "i", "|": "l", "€": "e"}

# Words that people mask with symbols ("f*ck", "sh!t", "a**hole"); a masked word is restored when its
# visible letters match exactly one of these.
MASKABLE_WORDS = (
    "fuck", "fucking", "fucker", "fucked", "shit", "bitch", "bastard", "asshole", "ass", "cunt", "dick",
    "damn", "crap", "piss", "whore", "slut", "idiot", "stupid", "moron", "retard", "retarded", "nigger",
    "nigga", "faggot", "fag", "cock", "pussy", "motherfucker", "bullshit", "hell", "kill", "die", "dumb",
)


class _CharTable(dict):
    """Lazy ``str.translate`` table: each character's normalised form, computed once and cached."""

    def __missing__(self, code: int) -> str:
        char = chr(code)
        if char in ZERO_WIDTH or unicodedata.category(char) in ("Cf", "Cc") and char not in "\n\t\r":
            out = ""
        else:
            out = unicodedata.normalize("NFKC", char).casefold()
            out = "".join(HOMOGLYPHS.get(c, c) for c in out)
            decomposed = unicodedata.normalize("NFD", out)
            out = "".join(c for c in decomposed if not unicodedata.combining(c)) or out
        self[code] = out
        return out


_CHAR_TABLE = _CharTable()

_URL = re.compile(r"(?:https?://|www\.)\S+|\b[a-z0-9.-]+\.(?:com|org|net|gov|edu|co\.uk|ca|io)(?:/\S*)?\b")
_MENTION = re.compile(r"@\w+")
_MASKED = re.compile(r"(?<![\w*#@$!])[a-z][a-z*#%@$!.]*[*#%][a-z*#%@$!]*")
_LEET_WORD = re.compile(r"(?<!\w)(?=[\w@$!|€]*[a-z])(?=[\w@$!|€]*[0-9@$!|€])[a-z0-9@$!|€]+(?:[a-z0-9@$|€]*)")
_SPACED = re.compile(r"(?<![\w])(?:[a-z][ .\-_*]){2,}[a-z](?![\w])")
_ELONGATION = re.compile(r"([a-z])\1{2,}")
_PUNCT_RUN = re.compile(r"([!?.,*])\1{2,}")
_WHITESPACE = re.compile(r"\s+")


def _restore_masked(match: re.Match) -> str:
    word = match.group(0)
    if not any(c.isalpha() for c in word):
        return word
    pattern = re.compile("".join("[a-z]" if c in "*#%@$!." else re.escape(c) for c in word) + "$")
    hits = [w for w in MASKABLE_WORDS if len(w) == len(word) and pattern.match(w)]
    return hits[0] if len(hits) == 1 else word


_DISGUISED = re.compile(r"[a-z][0-9@$!|€]+[a-z]|[@$|€]")


def _unleet(match: re.Match) -> str:
    word = match.group(0)
    stripped = word.rstrip("!")
    if not _DISGUISED.search(stripped):
        return word  # "2015", "5bn", "covid19", "2nd": numbers and names, not disguised words
    return "".join(LEET.get(c, c) for c in stripped) + word[len(stripped):]


def _mention(match: re.Match) -> str:
    word = _unleet(match)
    return word if word in MASKABLE_WORDS else USER_TOKEN


_STEPS: tuple[tuple[re.Pattern, str | Callable[[re.Match], str]], ...] = (
    (_URL, URL_TOKEN),
    (_MENTION, _mention),
    (_MASKED, _restore_masked),
    (_LEET_WORD, _unleet),
    (_SPACED, lambda m: re.sub(r"[ .\-_*]", "", m.group(0))),
    # Callables, not r"\1" templates: re expands a template again for every match (~30 us each).
    (_ELONGATION, lambda m: m.group(1)),
    (_PUNCT_RUN, lambda m: m.group(1) * 2),
    (_WHITESPACE, " "),
)


_TLD = re.compile(r"\.(?:com|org|net|gov|edu|co\.uk|ca|io)")
_SPACED_OR_ELONGATED = re.compile(r"([a-z])\1\1|(?<!\w)[a-z][ .\-_*][a-z][ .\-_*][a-z]")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")

# Each group of steps runs only when a cheap test says one of its patterns could change the text: a test
# may say yes for nothing (the steps then change nothing), never no when a step would have changed it.
# What each test looks for is what each pattern (or its callback, for leetspeak) needs in order to match.
_STEP_GROUPS: tuple[tuple[Callable[[str], object], tuple], ...] = (
    (lambda t: "://" in t or "www." in t or ("." in t and _TLD.search(t)), _STEPS[0:1]),  # _URL
    (lambda t: "@" in t, _STEPS[1:2]),  # _MENTION
    (lambda t: "*" in t or "#" in t or "%" in t, _STEPS[2:3]),  # _MASKED
    (_DISGUISED.search, _STEPS[3:4]),  # _LEET_WORD: _unleet changes a word only where _DISGUISED finds something
    (_SPACED_OR_ELONGATED.search, _STEPS[4:6]),  # _SPACED's first three letters, or _ELONGATION
    (lambda t: "!!!" in t or "???" in t or "..." in t or ",,," in t or "***" in t, _STEPS[6:7]),  # _PUNCT_RUN
    (lambda t: True, _STEPS[7:8]),  # _WHITESPACE
)
assert tuple(step for _, steps in _STEP_GROUPS for step in steps) == _STEPS


def _map_ascii(text: str) -> str | None:
    """``text.translate(_CHAR_TABLE)`` for ASCII text without control characters (lower-casing is all it
    does to them), else ``None``."""
    return text.lower() if text.isascii() and _CONTROL.search(text) is None else None


def normalize(text: str) -> str:
    """Return the normalised form of ``text`` (what the model's features see)."""
    out = _map_ascii(text)
    if out is None:
        out = text.translate(_CHAR_TABLE)
    for may_change, steps in _STEP_GROUPS[:-1]:
        if may_change(out):
            for pattern, repl in steps:
                out = pattern.sub(repl, out)
    return " ".join(out.split())  # = _WHITESPACE.sub(" ", out).strip(): \s and str.isspace agree


def _align(matched: str, replacement: str, offsets: list[int]) -> list[int]:
    """Raw offsets for each replacement character: its own character when it was kept, else in proportion."""
    if not offsets:
        return [0] * len(replacement)
    aligned = []
    cursor = 0
    width = len(matched)
    for j, char in enumerate(replacement):
        found = matched.find(char, cursor)
        if found < 0:
            found = max(cursor, min(j * width // max(len(replacement), 1), width - 1))
        found = min(found, width - 1)
        aligned.append(offsets[found])
        cursor = found + 1 if matched[found] == char else cursor
    return aligned


def _sub_with_offsets(pattern: re.Pattern, repl, text: str, offsets: list[int]) -> tuple[str, list[int]]:
    """Apply ``pattern.sub(repl, text)`` and carry each output character's raw offset along."""
    pieces: list[str] = []
    new_offsets: list[int] = []
    position = 0
    for match in pattern.finditer(text):
        start, end = match.span()
        if callable(repl):
            replacement = repl(match)
        else:  # Match.expand parses its template on every call; a literal needs no parsing
            replacement = match.expand(repl) if "\\" in repl else repl
        if replacement == text[start:end]:
            continue  # unchanged (a single space for a single space): its characters keep their offsets
        pieces.append(text[position:start])
        new_offsets.extend(offsets[position:start])
        new_offsets.extend(_align(text[start:end], replacement, offsets[start:end]))
        pieces.append(replacement)
        position = end
    pieces.append(text[position:])
    new_offsets.extend(offsets[position:])
    return "".join(pieces), new_offsets


def _map_characters(text: str) -> tuple[str, list[int]]:
    """``text.translate(_CHAR_TABLE)`` and the raw index of each of its characters."""
    chars: list[str] = []
    offsets: list[int] = []
    for index, char in enumerate(text):
        mapped = _CHAR_TABLE[ord(char)]
        chars.append(mapped)
        offsets.extend([index] * len(mapped))
    return "".join(chars), offsets


def normalize_with_offsets(text: str) -> tuple[str, list[int]]:
    """Normalise ``text`` and return, for each output character, the index of its raw character.

    Parameters
    ----------
    text : str
        The comment as written.

    Returns
    -------
    normalised : str
        Exactly ``normalize(text)``.
    offsets : list of int
        ``offsets[i]`` is the index in ``text`` that ``normalised[i]`` comes from.
    """
    out = _map_ascii(text)
    if out is not None:  # lower-casing ASCII keeps every character in its place
        offsets = list(range(len(text)))
    else:
        out, offsets = _map_characters(text)
    for may_change, steps in _STEP_GROUPS:
        if may_change(out):
            for pattern, repl in steps:
                out, offsets = _sub_with_offsets(pattern, repl, out, offsets)
    stripped = out.lstrip()
    lead = len(out) - len(stripped)
    stripped = stripped.rstrip()
    return stripped, offsets[lead : lead + len(stripped)]


class StatelessTextTransformer(TransformerMixin, BaseEstimator):
    """Base of transformers that take a list of strings and learn nothing (scikit-learn tags say so)."""

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.string = True
        tags.input_tags.two_d_array = False
        tags.requires_fit = False
        return tags


class TextNormalizer(StatelessTextTransformer):
    """Stateless transformer: raw comments in, normalised comments out (see ``normalize``)."""

    def fit(self, X: Iterable[str], y=None):
        """Do nothing and return self; the transformer learns nothing."""
        return self

    def transform(self, X: Iterable[str]) -> list[str]:
        """Normalise every text of ``X``."""
        return [normalize(text) for text in X]
