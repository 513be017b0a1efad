"""Text normalisation as a stateless scikit-learn transformer, with offsets back to the raw text.

Every step is either a per-character mapping (unicode NFKC, case, accents, homoglyphs, zero-width
characters) or a regular-expression substitution (URLs, @mentions, masked and leetspeak words, spaced
letters, elongations, whitespace). The same steps run in three modes: ``normalize`` for speed,
``normalize_many`` for more speed on a batch, and ``normalize_with_offsets`` which also returns, for each
normalised character, the index of the raw character it came from, so that spans found on the normalised
text point into the comment as written.
"""

from __future__ import annotations

import re
import string
import unicodedata
from collections.abc import Callable, Container, Iterable, Iterator, Sequence
from functools import cached_property, lru_cache

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin

from model.run_patterns import RunPattern

URL_TOKEN = " xxurl "
USER_TOKEN = " xxuser "

ZERO_WIDTH = "\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180e\u200b\u200c\u200d\u200e\u200f\u2060\u2061\u2062\u2063\u2064\ufeff"

COMBINING_DIACRITICS = ((0x0300, 0x036F), (0x1AB0, 0x1AFF), (0x1DC0, 0x1DFF), (0x20D0, 0x20FF), (0xFE20, 0xFE2F))
"""The Unicode blocks of combining diacritical marks: the accents of Latin, Greek and Cyrillic letters (a decomposed
"e\\u0301" is the "\\u00e9" it is drawn as), and the strokes and circles that filter dodges put over letters
("i\\u0336d\\u0336i\\u0336o\\u0336t\\u0336"). Each is dropped, as an accent of a precomposed letter is; the marks of
other scripts (viramas, vowel signs, harakat) are kept."""

# Letters from other scripts that look like Latin ones, used to dodge word filters.
HOMOGLYPHS = {
    "а": "a", "в": "b", "с": "c", "ԁ": "d", "е": "e", "ё": "e", "һ": "h", "і": "i", "ї": "i", "ј": "j",
    "к": "k", "м": "m", "н": "h", "о": "o", "р": "p", "ԛ": "q", "г": "r", "ѕ": "s", "т": "t", "ц": "u",
    "у": "y", "х": "x", "ԝ": "w", "ɡ": "g", "ɩ": "i", "ο": "o", "α": "a", "ν": "v", "ι": "i", "κ": "k",
    "τ": "t", "υ": "u", "ρ": "p", "ε": "e", "β": "b", "η": "n", "μ": "u", "χ": "x", "ω": "w", "ѡ": "w",
    "ß": "ss", "æ": "ae", "œ": "oe", "ø": "o", "ł": "l", "đ": "d", "ħ": "h", "ı": "i",
}
# The letter styles of "fancy text" generators that NFKC leaves as they are (it maps the bold, italic, script,
# circled, squared and full-width ones): small capitals ("\u026a\u1d05\u026a\u1d0f\u1d1b"), and negative circled
# and negative squared capitals ("\U0001f178\U0001f173\U0001f178\U0001f17e\U0001f183").
LETTER_STYLES = {
    **dict(zip("ᴀʙᴄᴅᴇꜰɢʜɪᴊᴋʟᴍɴᴏᴘʀꜱᴛᴜᴠᴡʏᴢ", "abcdefghijklmnoprstuvwyz")),
    **{chr(0x1F150 + i): letter for i, letter in enumerate(string.ascii_lowercase)},
    **{chr(0x1F170 + i): letter for i, letter in enumerate(string.ascii_lowercase)},
}
HOMOGLYPHS.update(LETTER_STYLES)


MAX_CACHED_CHARACTERS = 1 << 16
"""Characters a mapping table keeps once worked out (a few MB): every character of the BMP a real comment uses. Past
it a character is worked out at each use, so that comments of made-up characters (1.1 million exist) cannot grow a
worker by some 160 MB per table."""


class _CharacterTable(dict):
    """A ``str.translate`` table that works out each character's mapping (``mapping``) when first met and keeps at
    most ``MAX_CACHED_CHARACTERS`` of them."""

    def mapping(self, code: int) -> str:
        raise NotImplementedError

    def __missing__(self, code: int) -> str:
        out = self.mapping(code)
        if len(self) < MAX_CACHED_CHARACTERS:
            self[code] = out
        return out


class _PlainLetters(_CharacterTable):
    """A ``str.translate`` table from each styled Latin letter to the plain one, one character for one: the styles NFKC
    maps to a single ASCII letter (bold, italic, script, fraktur, double-struck, circled, squared, full-width) and
    ``LETTER_STYLES``. Every other character maps to itself, so offsets into the result are offsets into the text."""

    def mapping(self, code: int) -> str:
        char = chr(code)
        plain = unicodedata.normalize("NFKC", char)
        return plain if len(plain) == 1 and plain.isascii() and plain.isalpha() else LETTER_STYLES.get(char, char)


_PLAIN_LETTERS = _PlainLetters()


def plain_letters(text: str) -> str:
    """``text`` with every styled Latin letter written plainly ("\U0001d422\U0001d41d\U0001d422\U0001d428\U0001d42d",
    "\u026a\u1d05\u026a\u1d0f\u1d1b" -> "idiot"), character for character: for a reader, such as the encoder's word-piece
    tokenizer, that does not apply ``normalize``'s character table."""
    return text if text.isascii() else text.translate(_PLAIN_LETTERS)

# Digits and symbols that stand for letters inside a word ("1d10t", "@ss", "$hit").
LEET = {"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "8": "b", "@": "a", "$": "s", "!": "i", "|": "l", "€": "e"}

# Words that people mask with symbols ("f*ck", "sh!t", "a**hole"); a masked word is restored when its
# visible letters match exactly one of these.
MASKABLE_WORDS = (
    "fuck", "fucking", "fucker", "fucked", "shit", "bitch", "bastard", "asshole", "ass", "cunt", "dick",
    "damn", "crap", "piss", "whore", "slut", "idiot", "stupid", "moron", "retard", "retarded", "nigger",
    "nigga", "faggot", "fag", "cock", "pussy", "motherfucker", "bullshit", "hell", "kill", "die", "dumb",
)


class _CharTable(_CharacterTable):
    """Lazy ``str.translate`` table: each character's normalised form, computed once and cached."""

    def mapping(self, code: int) -> str:
        char = chr(code)
        if (char in ZERO_WIDTH or unicodedata.category(char) in ("Cf", "Cc") and char not in "\n\t\r"
                or any(low <= code <= high for low, high in COMBINING_DIACRITICS)):
            return ""
        out = unicodedata.normalize("NFKC", char).casefold()
        decomposed = unicodedata.normalize("NFD", out)
        out = "".join(c for c in decomposed if not unicodedata.combining(c)) or out
        # After the accents: "\u03ce" is the "\u03c9" of HOMOGLYPHS with an accent, as "\u03c9\u0301" is.
        return "".join(HOMOGLYPHS.get(c, c) for c in out)


_CHAR_TABLE = _CharTable()


def is_blank(text: str) -> bool:
    """Whether ``text`` has nothing to read: only whitespace and the characters the normaliser drops (zero-width and
    other invisible format or control characters). The one meaning of an empty comment: the policy approves it as
    "empty", the scorer gives it 0, and ``moderate score`` counts it as empty (a comment of zero-width spaces alone
    was scored and counted as text)."""
    return all(character.isspace() or not _CHAR_TABLE[ord(character)] for character in text)

_TLDS = ("com", "org", "net", "gov", "edu", "co.uk", "ca", "io")
_TLD_ALTERNATIVES = "|".join(map(re.escape, _TLDS))
_URL_PATTERN = re.compile(rf"(?:https?://|www\.)\S+|\b[a-z0-9.-]+\.(?:{_TLD_ALTERNATIVES})(?:/\S*)?\b")
# The second form reads its run of [a-z0-9.-] to the end and back to the run's last top-level domain: only starts
# before one (a dot, the domain and a word's end: then the rest of the form always fits) can match.
_URL = RunPattern(_URL_PATTERN, run="[a-z0-9.-]", start=r"\b[a-z0-9.-]",
                  marker=rf"[a-z0-9.-](?=\.(?:{_TLD_ALTERNATIVES})\b)", others=r"(?=https?://|www\.)")
_MENTION = re.compile(r"@\w+")
_MASKED_PATTERN = re.compile(r"(?<![\w*#@$!])[a-z][a-z*#%@$!.]*[*#%][a-z*#%@$!]*")
# Reads its run of [a-z*#%@$!.] to the end and back to the run's last [*#%]: only starts before one can match.
_MASKED = RunPattern(_MASKED_PATTERN, run="[a-z*#%@$!.]", start=r"(?<![\w*#@$!])[a-z]", marker="[a-z*#%@$!.](?=[*#%])")
_LEET_WORD = re.compile(r"(?<!\w)(?=[\w@$!|€]*[a-z])(?=[\w@$!|€]*[0-9@$!|€])[a-z0-9@$!|€]+(?:[a-z0-9@$|€]*)")
_SPACED = re.compile(r"(?<![\w])(?:[a-z][ .\-_*]){2,}[a-z](?![\w])")
_ELONGATION = re.compile(r"([a-z])\1{2,}")
_PUNCT_RUN = re.compile(r"([!?.,*])\1{2,}")
_WHITESPACE = re.compile(r"\s+")


def _restore_masked(match: re.Match) -> str:
    word = match.group(0)
    same_length = [w for w in MASKABLE_WORDS if len(w) == len(word)]
    if not same_length or not any(c.isalpha() for c in word):
        return word  # not compiled: a pattern for a masked run of 20,000 characters took 0.1 s to compile
    pattern = re.compile("".join("[a-z]" if c in "*#%@$!." else re.escape(c) for c in word) + "$")
    hits = [w for w in same_length if pattern.match(w)]
    return hits[0] if len(hits) == 1 else word


_DISGUISED = re.compile(r"[a-z][0-9@$!|€]+[a-z]|[@$|€]")
_RUN = re.compile(r"[\w@$!|€]+")
"""A run of the characters ``_LEET_WORD``'s lookaheads read through: a match and its lookaheads stay inside one."""
_LONG_RUN = re.compile(r"[\w@$!|€]{65,}")
_LEET_CANDIDATE = re.compile(r"(?<!\w)[a-z0-9@$!|€]+")
"""``_LEET_WORD`` without its lookaheads."""
_LETTER = re.compile(r"[a-z]")
_DIGIT_OR_SYMBOL = re.compile(r"[0-9@$!|€]")


def _last_start(run: str) -> int:
    """The last index of ``run`` from which both of ``_LEET_WORD``'s lookaheads hold (a letter and a digit or symbol
    at or after it), -1 if none: the last of the two kinds' last occurrences, found from the end."""
    backwards = run[::-1]
    letter, other = _LETTER.search(backwards), _DIGIT_OR_SYMBOL.search(backwards)
    if letter is None or other is None:
        return -1
    return len(run) - 1 - max(letter.start(), other.start())


class _LeetWords:
    """``_LEET_WORD``'s ``finditer`` and ``sub`` (a callable replacement), the same matches in time linear in the text.

    At each start its two lookaheads read to the end of the run when what they look for is not there, so a run of
    20,000 "@" took 1.7 s. Where they hold is known per run: at every index up to ``_last_start``. So the matches are
    ``_LEET_CANDIDATE``'s (the same scan without the lookaheads) that start there. Texts without a run longer than 64
    characters, where the lookaheads cost little, keep the regular expression itself.
    """

    def finditer(self, text: str) -> Iterator[re.Match]:
        if _LONG_RUN.search(text) is None:
            return _LEET_WORD.finditer(text)
        return self._linear_finditer(text)

    @staticmethod
    def _linear_finditer(text: str) -> Iterator[re.Match]:
        runs = _RUN.finditer(text)
        run_end = limit = -1
        for match in _LEET_CANDIDATE.finditer(text):
            while match.start() >= run_end:  # the run holding this match (every match lies in one)
                run = next(runs)
                run_end, limit = run.end(), run.start() + _last_start(run.group())
            if match.start() <= limit:
                yield match

    def sub(self, repl: Callable[[re.Match], str], text: str) -> str:
        pieces, position = [], 0
        for match in self.finditer(text):
            pieces += [text[position:match.start()], repl(match)]
            position = match.end()
        return "".join(pieces) + text[position:] if pieces else text


def _unleet(match: re.Match) -> str:
    word = match.group(0)
    stripped = word.rstrip("!")
    if not _DISGUISED.search(stripped):
        return word  # "2015", "5bn", "covid19", "2nd": numbers and names, not disguised words
    return "".join(LEET.get(c, c) for c in stripped) + word[len(stripped):]


def _mention(match: re.Match) -> str:
    word = _unleet(match)
    return word if word in MASKABLE_WORDS else USER_TOKEN


_STEPS: tuple[tuple[re.Pattern | RunPattern | _LeetWords, str | Callable[[re.Match], str]], ...] = (
    (_URL, URL_TOKEN),
    (_MENTION, _mention),
    (_MASKED, _restore_masked),
    (_LeetWords(), _unleet),
    (_SPACED, lambda m: re.sub(r"[ .\-_*]", "", m.group(0))),
    # Callables, not r"\1" templates: re expands a template again for every match (~30 us each).
    (_ELONGATION, lambda m: m.group(1)),
    (_PUNCT_RUN, lambda m: m.group(1) * 2),
    (_WHITESPACE, " "),
)


_TLD = re.compile(rf"\.(?:{_TLD_ALTERNATIVES})")
_TLD_INITIALS = "".join(sorted({tld[0] for tld in _TLDS}))
_SPACED_START = re.compile(r"(?<!\w)[a-z][ .\-_*][a-z][ .\-_*][a-z]")
_TRIPLE_LETTER = re.compile(r"([a-z])\1\1")
_CONTROL_BYTES = bytes(range(0x20)).translate(None, b"\t\n\r") + b"\x7f"
_NON_ASCII_RUN = re.compile(r"([^\x00-\x7f]+)")

# Each group of steps runs only when a cheap test says one of its patterns could change the text: a test
# may say yes for nothing (the steps then change nothing), never no when a step would have changed it.
# What each test looks for is what each pattern (or its callback, for leetspeak) needs in order to match.
_STEP_GROUPS: tuple[tuple[Callable[[str], object], tuple], ...] = (
    (lambda t: "://" in t or "www." in t or ("." in t and _TLD.search(t)), _STEPS[0:1]),  # _URL
    (lambda t: "@" in t, _STEPS[1:2]),  # _MENTION
    (lambda t: "*" in t or "#" in t or "%" in t, _STEPS[2:3]),  # _MASKED
    (_DISGUISED.search, _STEPS[3:4]),  # _LEET_WORD: _unleet changes a word only where _DISGUISED finds something
    (_SPACED_START.search, _STEPS[4:5]),  # _SPACED: its first three letters
    (_TRIPLE_LETTER.search, _STEPS[5:6]),  # _ELONGATION (two searches cost less than one for either pattern)
    (lambda t: "!!!" in t or "???" in t or "..." in t or ",,," in t or "***" in t, _STEPS[6:7]),  # _PUNCT_RUN
    (lambda t: True, _STEPS[7:8]),  # _WHITESPACE
)
assert tuple(step for _, steps in _STEP_GROUPS for step in steps) == _STEPS
_ADDRESS_GROUPS = _STEP_GROUPS[:2]
"""URLs and @mentions: tokens, not disguises."""
_DISGUISE_GROUPS = _STEP_GROUPS[2:6]
"""Masked, leetspeak, spaced-letter and elongation steps: what hides a word from a reader of the text as written."""
assert [steps[0][0] for _, steps in _ADDRESS_GROUPS + _DISGUISE_GROUPS] == [_URL, _MENTION, _MASKED, _STEPS[3][0],
                                                                             _SPACED, _ELONGATION]


def _map_ascii(text: str) -> str | None:
    """``text.translate(_CHAR_TABLE)`` for ASCII text without control characters (lower-casing is all it
    does to them), else ``None``. Deleting the control bytes from the encoded text and comparing lengths
    finds them about twice as fast as a regular-expression search."""
    if text.isascii() and len(text.encode("ascii").translate(None, _CONTROL_BYTES)) == len(text):
        return text.lower()
    return None


def _map(text: str) -> str:
    """``text.translate(_CHAR_TABLE)``, faster on text with a few non-ASCII characters.

    ``str.translate`` looks such text up in the table one character at a time (~30 ns each). The table
    maps each character on its own, so the ASCII runs between the other characters can be mapped apart,
    through ``_map_ascii``.
    """
    out = _map_ascii(text)
    if out is not None:
        return out
    pieces = _NON_ASCII_RUN.split(text)  # ASCII, non-ASCII, ASCII, ..., ASCII
    for i, piece in enumerate(pieces):
        mapped = _map_ascii(piece) if i % 2 == 0 else None
        pieces[i] = piece.translate(_CHAR_TABLE) if mapped is None else mapped
    return "".join(pieces)


def _run_group(text: str, may_change: Callable[[str], object], steps: tuple) -> str:
    """Apply a group's ``steps`` to ``text`` in turn, when its test ``may_change`` says they may change it."""
    if may_change(text):
        for pattern, repl in steps:
            text = pattern.sub(repl, text)
    return text


def _collapse_whitespace(text: str) -> str:
    """The last group's step and a strip, ``_WHITESPACE.sub(" ", text).strip()``, faster (``\\s`` and
    ``str.isspace`` agree on every character)."""
    return " ".join(text.split())


def normalize(text: str) -> str:
    """Return the normalised form of ``text`` (what the model's features see)."""
    out = _map(text)
    for may_change, steps in _STEP_GROUPS[:-1]:
        out = _run_group(out, may_change, steps)
    return _collapse_whitespace(out)


_LOOK_ALIKE = frozenset(ord(c) for c in HOMOGLYPHS if unicodedata.name(c, "").startswith(("CYRILLIC", "GREEK")))
"""Letters of other scripts that ``HOMOGLYPHS`` reads as Latin ones (Cyrillic "о" as "o"; not "ß" or "ø",
which are Latin)."""
_SELECTORS = "".join(map(chr, range(0xFE00, 0xFE10)))
"""Variation selectors, which the character table keeps (an emoji needs them) and a disguise may hide in a word."""
_HIDDEN = frozenset(map(ord, ZERO_WIDTH + _SELECTORS))
"""Characters that hide inside a word: zero-width and format characters, variation selectors."""
_NO_SELECTORS = dict.fromkeys(map(ord, _SELECTORS))
_WORD_RUN = re.compile(rf"[^\W_]+(?:[{re.escape(ZERO_WIDTH + _SELECTORS)}]+[^\W_]+)*")
"""A word, with any hidden characters between its letters."""


def _disguised_word(text: str) -> bool:
    """Whether a word of ``text`` mixes Latin letters with look-alikes of other scripts ("Yоu"), or hides a
    zero-width character or variation selector between its letters ("id​iot"). A word written wholly in another
    script ("Москва") is not a disguise."""
    if text.isascii():
        return False
    for match in _WORD_RUN.finditer(text):
        word = match.group()
        if any(ord(c) in _HIDDEN for c in word):
            return True
        if any(ord(c) in _LOOK_ALIKE for c in word) and any("a" <= c <= "z" or "A" <= c <= "Z" for c in word):
            return True
    return False


_REGIONAL_LETTER = re.compile("(?<![\U0001f1e6-\U0001f1ff])[\U0001f1e6-\U0001f1ff](?![\U0001f1e6-\U0001f1ff])")
"""A regional indicator symbol (U+1F1E6-U+1F1FF, drawn as the boxed capitals A-Z) with no other one beside it. Two
side by side are drawn as a flag ("\U0001f1fa\U0001f1f8"), so a writer who wants letters seen puts a space or a
zero-width character between them ("\U0001f1ee \U0001f1e9 \U0001f1ee \U0001f1f4 \U0001f1f9"): a lone one is the letter
it is drawn as, a pair stays a flag (and a run of them, a row of flags)."""
_TURNED = {"ɐ": "a", "ɔ": "c", "ǝ": "e", "ɟ": "f", "ƃ": "g", "ɥ": "h", "ı": "i", "ᴉ": "i", "ɾ": "j", "ʞ": "k",
           "ꞁ": "l", "ɯ": "m", "ɹ": "r", "ʇ": "t", "ʌ": "v", "ʍ": "w", "ʎ": "y"}
"""The turned letters of upside-down text ("\u0250" a, "\u0279" r, "\u0287" t): Latin letters rotated half a turn that
look like no ASCII one. Their capitals ("\u2c6f", "\u018e") are not read: a writer of upside-down text rarely uses
them."""
_FLIPPED = {**_TURNED, "b": "q", "d": "p", "n": "u", "p": "d", "q": "b", "u": "n"}
"""What each letter of upside-down text stands for: the turned letters, the ASCII letters that are another one turned
("p" is "d"), and (absent: themselves) those that look the same turned (i l o s x z)."""
_TURNED_MARK = re.compile("[" + "".join(_TURNED).replace("ı", "") + "]")
"""A turned letter but the dotless "\u0131", which Turkish writes as a letter of its own."""
_TURNED_WORD = "[" + "".join(_TURNED) + "bdilnopqsuxz]+"
_TURNED_RUN = re.compile(rf"(?<![^\W\d_]){_TURNED_WORD}(?: {_TURNED_WORD})*(?![^\W\d_])")
"""Words written only in the letters of upside-down text (the turned ones and b d i l n o p q s u x z), a space
apart."""
_TURNED_LETTER = re.compile("[" + "".join(_TURNED) + "]")
_RELETTERED_MARK = re.compile("[\U0001f1e6-\U0001f1ff" + _TURNED_MARK.pattern[1:])
"""A regional indicator or a ``_TURNED_MARK``: what ``_relettered`` may change."""


def _unturned(match: re.Match) -> str:
    """A ``_TURNED_RUN``'s words from the first to the last that hold a turned letter, read back twice: reversed, as
    upside-down text generators write them (so that the text reads right with the screen turned), then in the order
    written, as "flip text" generators do. Which of the two a writer used cannot be told without a word list
    ("\u0287o\u0131p\u0131" is "idiot" reversed, "\u026fo\u0279ou" is "moron" in order), so the reading holds both. A
    run without a turned letter but "\u0131" is kept (Turkish "\u0131s\u0131")."""
    run = match.group()
    if not _TURNED_MARK.search(run):
        return run
    words = run.split(" ")
    turned = [i for i, word in enumerate(words) if _TURNED_LETTER.search(word)]
    first, last = turned[0], turned[-1] + 1
    in_order = "".join(_FLIPPED.get(c, c) for c in " ".join(words[first:last]))
    return " ".join(words[:first] + [in_order[::-1], in_order] + words[last:])


def _relettered(text: str) -> str:
    """``text`` with lone regional indicators (``_REGIONAL_LETTER``) and upside-down words (``_unturned``) written as
    the ASCII letters they are drawn as: the character table keeps both, and an uncased reader takes them for symbols
    or for letters they are not. Flags, and text with no turned letter but "\u0131", are kept."""
    if text.isascii() or not _RELETTERED_MARK.search(text):
        return text
    text = _REGIONAL_LETTER.sub(lambda m: chr(ord(m.group()) - 0x1F1E6 + ord("a")), text)
    return _TURNED_RUN.sub(_unturned, text) if _TURNED_MARK.search(text) else text


_FILLER = re.compile(r"(?<=[a-z])[\u1160\u2800]+|(?<![\u1160\u2800])[\u1160\u2800]++(?=[a-z])")
"""Blank letters beside a Latin one: the Hangul fillers (U+3164, U+FFA0, which the character table maps to the
jungseong filler U+1160) and the Braille blank (U+2800). Each is drawn as a blank but is no space to a reader that
splits words at spaces ("you\u3164idiot" is one word to it): read as a space. In Korean a filler stands among jamo, and
a blank cell among Braille cells, never beside a Latin letter; U+115F and U+1160 written as such are zero-width
(``ZERO_WIDTH``) and dropped already. A run is tried from its start only, and whole (possessive): tried from each of
its blanks, 20,000 of them took seconds."""
_WIDE_SPACED = re.compile(r"(?<!\w)[a-z](\s{2,}|[^\S ])[a-z](?:\1[a-z])+(?!\w)")
"""Three or more single letters with the same wider gap between each, of two or more blanks or holding a line break
("i  d  i  o  t", "i\\nd\\ni\\no\\nt"), which ``_SPACED`` (single gaps) does not read. The same gap throughout: a run
does not reach across a paragraph into letters spaced otherwise."""


def _may_be_wide_spaced(text: str) -> object:
    """Whether ``_WIDE_SPACED`` may match: two blanks, or a blank but a space. In mapped ASCII text the only blanks
    but a space are a tab and line breaks (the character table drops the other control characters)."""
    if text.isascii():
        return "  " in text or "\n" in text or "\t" in text or "\r" in text
    return _WIDE_SPACED.search(text)


_SPACED_GAP = re.compile(r"[.\-_*]")
_NOT_LETTER = re.compile(r"[^a-z]")


def _joined_letters(match: re.Match) -> str:
    """A run of spaced letters (``_SPACED``, ``_WIDE_SPACED``) read as words, where ``normalize`` joins them all.

    A run that puts spaces between some letters and other gaps (dots, dashes) between the rest writes its words with
    the other gaps and puts spaces between words ("y.o.u a.r.e a l.o.s.e.r" -> "you are a loser", not
    "youarealoser"); single letters a space apart in it are one word still ("y o u a.r.e" -> "you are"). A run of
    letters all a blank apart (or all a dot apart) is one word, as ``normalize`` reads it: "a m o r o n" stays
    "amoron", since "a n a l y s i s" and "a n i m a l" cannot be told from it without a word list.
    """
    run = match.group()
    if match.re is _SPACED and " " in run and _SPACED_GAP.search(run):
        words: list[str] = []
        joining = False  # whether the last word is being joined from single letters
        for group in run.split(" "):
            if len(group) == 1 and joining:
                words[-1] += group
            else:
                words.append(_SPACED_GAP.sub("", group))
                joining = len(group) == 1
        return " ".join(words)
    return _NOT_LETTER.sub("", run)


_WIDER_GROUPS: tuple[tuple[Callable[[str], object], tuple], ...] = (
    (lambda t: "\u1160" in t or "\u2800" in t, ((_FILLER, " "),)),
    *_DISGUISE_GROUPS[:2],  # masked, leetspeak
    (_may_be_wide_spaced, ((_WIDE_SPACED, _joined_letters),)),
    (_SPACED_START.search, ((_SPACED, _joined_letters),)),
    *_DISGUISE_GROUPS[3:],  # elongation
)
"""``undisguised(text, wider=True)``'s steps after the address ones: ``_DISGUISE_GROUPS`` with blank fillers read as
spaces first, and letters spaced wider (``_WIDE_SPACED``) and spaced letters read as words (``_joined_letters``)."""
assert _DISGUISE_GROUPS[2][1][0][0] is _SPACED and len(_DISGUISE_GROUPS) == 4


ONE_LETTER_WORDS = ("a", "i")
"""The one-letter words of English: the only letters ``parted`` parts from the spaced letters after them."""


def parted(letters: str, words: Container[str]) -> str:
    """``letters`` (a run of spaced letters, joined) with its first letter parted from the rest where that letter is a
    word of one letter (``ONE_LETTER_WORDS``), the rest, of three letters or more, is one of ``words``, and the whole
    is none: "aloser" -> "a loser", "ihate" -> "i hate", "apig" -> "a pig". Kept: "analysis" (a word), "amoron" (where
    "moron" is none of ``words``), "acockroach" (where "cockroach" is none either) and "ima" ("i m a bitch" is "I'm a",
    not "i ma"). Only a first letter is parted: a first version searched for any words that spell a run, and read "a
    cock roach", "kill deer" and "penis tone" where a list lacked the word (a review found them sent to review)."""
    if letters[:1] in ONE_LETTER_WORDS and len(letters) > 3 and letters not in words and letters[1:] in words:
        return f"{letters[0]} {letters[1:]}"
    return letters


@lru_cache(maxsize=8)
def _parted_groups(words: frozenset[str]) -> tuple[tuple[Callable[[str], object], tuple], ...]:
    """``_WIDER_GROUPS`` with each word that a run of spaced letters is read as ``parted`` by ``words``: "You are a l o
    s e r" -> "you are a loser" where ``_joined_letters`` reads "you are aloser". Made once per word list (a frozenset
    keeps its hash)."""

    def read(match: re.Match) -> str:
        return " ".join(parted(word, words) for word in _joined_letters(match).split(" "))

    return tuple((may_change, tuple((pattern, read if repl is _joined_letters else repl) for pattern, repl in steps))
                 for may_change, steps in _WIDER_GROUPS)


_BRACKETED = re.compile(r"(?<![\w)\]}])(?:[(\[{][a-z0-9@$!*#][)\]}](?: (?=[(\[{]))?){3,}(?![(\[{])")
"""Three or more characters each in brackets, side by side or a space apart, letters or what the masked and leetspeak
steps read: "(i)(d)(i)(o)(t)", "[c] [u] [n] [t]", "(i)(d)(i)(o)(t)s", "(f)(*)(c)(k)" (read "idiot", "cunt", "idiots",
"f*ck"); not "(a) and (b)", nor "Section 5(a)(i)", two, nor a run after a word's letters ("word(a)(b)(c)")."""
_BRACKETED_CHARACTER = re.compile(r"[(\[{](.)[)\]}]")
_MIXED_CLASS = f"[a-z{''.join(sorted(char for char in LEET if char.isdigit()))}@$]"
"""A letter, a digit that stands for one (``LEET``: not 2, 6, 9), "@" or "$": what a ``_SPACED_MIXED`` run holds."""
_MIXED_GAP = r"(?:[.\-_]| +)"
_SPACED_START_MIXED = re.compile(rf"(?<![\w@$]){_MIXED_CLASS}{_MIXED_GAP}{_MIXED_CLASS}{_MIXED_GAP}{_MIXED_CLASS}")
"""``_SPACED_MIXED``'s first three characters: the cheap test of its step."""
_SPACED_MIXED = re.compile(rf"(?<![\w@$]){_MIXED_CLASS}(?:{_MIXED_GAP}{_MIXED_CLASS}){{3,}}(?![\w@$])")
"""Four or more ``_MIXED_CLASS`` characters a gap apart (a dot, dash, underscore or spaces): "i d 1 o t", "l 0 s e r",
"l  0  s  e  r", where a digit breaks the runs of letters that the spaced-letter steps join ("i d 1 o t 2 you": the
run ends before the 2)."""
_MIXED_CHARACTER = re.compile(_MIXED_CLASS)


def _unbracketed(match: re.Match) -> str:
    """``_BRACKETED``'s characters side by side: "(i)(d)(i)(o)(t)", "(i) (d)(i)(o)(t)" -> "idiot"."""
    return "".join(_BRACKETED_CHARACTER.findall(match.group()))


def _mixed_letters(match: re.Match) -> str:
    """A ``_SPACED_MIXED`` run with its digits and symbols read as the letters they stand for (``LEET``), gaps
    kept, so that the spaced-letter steps join it: "i d 1 o t" -> "i d i o t". Only a run with more letters than other
    characters ("l 0 s e r", "m 0 r 0 n"; not "5 5 5 1 3 4", "a 1 3 4", and not seats and grid references, "F 4 G 5",
    "A 5 S 3", which a review found read "fags" and "asse")."""
    run = match.group()
    characters = _MIXED_CHARACTER.findall(run)
    letters = sum(char.isalpha() for char in characters)
    if letters <= len(characters) - letters:
        return run
    return "".join(LEET.get(char, char) for char in run)


_MENTION_AT_START = re.compile(r"(?<!\w)@\w+(?:@\w+)*")
"""An @mention that starts a word, with the mentions written on after it ("@john", "@ann@bob"), not the "@g" of
"f@g", which the symbol reading reads as leetspeak."""
_SYMBOL_ADDRESS_GROUPS = (_ADDRESS_GROUPS[0], (lambda t: "@" in t, ((_MENTION_AT_START, _mention),)))
assert _ADDRESS_GROUPS[1][1][0][0] is _MENTION
_BRACKET_GROUP = (lambda t: "(" in t or "[" in t or "{" in t, ((_BRACKETED, _unbracketed),))
_MIXED_GROUP = (_SPACED_START_MIXED.search, ((_SPACED_MIXED, _mixed_letters),))


@lru_cache(maxsize=8)
def _with_symbols(groups: tuple) -> tuple:
    """The wider reading's ``groups`` (``_WIDER_GROUPS`` or ``_parted_groups``'s) with the symbol steps: bracketed
    characters joined first, and spaced runs of letters and digits read as letters before the spaced-letter steps."""
    assert groups[1] == _DISGUISE_GROUPS[0] and groups[2] == _DISGUISE_GROUPS[1]  # masked, leetspeak
    return (groups[0], _BRACKET_GROUP, groups[1], groups[2], _MIXED_GROUP, *groups[3:])


def _addressed(text: str, symbols: bool = False) -> str:
    """``text`` through the character table and ``normalize``'s URL and @mention steps, variation selectors dropped
    (the table keeps them, as emoji need them; a reading not): where the disguise steps of ``undisguised`` start.
    ``symbols``: an "@" inside a word is no mention ("f@g" stays for the leetspeak step)."""
    out = _map(text).translate(_NO_SELECTORS)
    for may_change, steps in _SYMBOL_ADDRESS_GROUPS if symbols else _ADDRESS_GROUPS:
        out = _run_group(out, may_change, steps)
    return out


def undisguised(text: str, wider: bool = False, words: frozenset[str] | None = None,
                symbols: bool = False) -> str | None:
    """``text`` with the disguises of hostile words undone, or ``None`` when it has none.

    A disguise is a word that mixes look-alike letters of another script with Latin ones or hides a zero-width
    character between its letters, or what the masked, leetspeak, spaced-letter and elongation steps of ``normalize``
    change ("i.d.i.o.t", "1d10t", "k i l l", "stuuupid" -> "idiot", "kill", "stupid"; they run after its URL and
    @mention steps, which keep the leetspeak step off addresses). The reading is the text through ``normalize``'s
    character table and those steps, whitespace kept. Characters an uncased reader sees through anyway (case, accents,
    a non-breaking space, "…", a ligature) and words wholly in another script are no disguise: such a comment is
    read once by an encoder that also reads this text (a bundle whose manifest says ``"undisguised": true``).

    ``wider=True`` also undoes disguises that this reading keeps (it stays as it was without ``wider``, for the
    bundles that read it: 2.14.0, 2.15.0): lone regional indicator letters and upside-down words (``_relettered``:
    "\U0001f1ee \U0001f1e9 \U0001f1ee \U0001f1f4 \U0001f1f9" -> "idiot", "\u0287o\u0131p\u0131" -> "idiot toidi"),
    blank fillers between letters (``_FILLER``: "you\u3164idiot" -> "you idiot"), letters spaced wider
    (``_WIDE_SPACED``: "i  d  i  o  t", "i\\nd\\ni\\no\\nt" -> "idiot"), and the words of a dotted run parted
    where its writer put blanks (``_joined_letters``: "y.o.u a.r.e a l.o.s.e.r" -> "you are a loser").

    ``words`` (with ``wider`` only; a word list, such as an encoder's vocabulary) also parts a one-letter word from
    the spaced letters after it where they are one of its words and the whole is none (``parted``): "You are a l o s
    e r" -> "you are a loser", "I h a t e you" -> "i hate you", where without ``words`` they read "aloser" and "ihate";
    "a n a l y s i s" (a word) stays joined.

    ``symbols`` (with ``wider`` only) also reads disguises made with symbols: characters each in brackets
    ("(i)(d)(i)(o)(t)" -> "idiot"), digits among spaced letters ("i d 1 o t", "l 0 s e r" -> "idiot", "loser") and an
    "@" inside a word, which ``normalize`` reads as an @mention ("f@g", "b@stard" -> "fag", "bastard").
    """
    if words is not None and not wider:
        raise ValueError("words part one-letter words from spaced letters in the wider reading only: pass wider=True "
                         "as well")
    if symbols and not wider:
        raise ValueError("symbol disguises are read in the wider reading only: pass wider=True as well")
    plain = _addressed(text, symbols)
    out, groups = plain, _DISGUISE_GROUPS
    if wider:
        groups = _WIDER_GROUPS if words is None else _parted_groups(words)
        if symbols:
            groups = _with_symbols(groups)
        lettered = _relettered(text)
        if lettered != text:
            out = _addressed(lettered, symbols)
    for may_change, steps in groups:
        out = _run_group(out, may_change, steps)
    return out if out != plain or _disguised_word(text) else None


_SEPARATOR = "\x00"
_PADDING = 4
"""Separators after the last text of a ``_Batch``: as many as its tests look ahead."""
_NOT_ASCII = 0x80
"""What a ``_Batch``'s array holds in place of each character above ASCII."""
SPACES = "".join(char for char in map(chr, range(0x3001)) if char.isspace())
"""The characters ``str.isspace`` holds for (what ``str.split`` cuts at): none is above U+3000, as a test checks.
Also what ``model.word_index.WordIndex`` splits at."""


def _ahead(marks: np.ndarray, k: int) -> np.ndarray:
    """``marks[i + k]`` at each ``i`` (behind for ``k < 0``), wrapping around as ``np.roll(marks, -k)`` does, with
    less overhead. At a character of a text, ``i + k`` never wraps around, for ``-1 <= k <= _PADDING``: a
    separator comes before every text and ``_PADDING`` of them end the batch."""
    return np.concatenate((marks[k:], marks[:k]))


class _Batch:
    """Mapped texts as one array, on which the groups' cheap tests run at once with numpy.

    The array holds each text's characters, ASCII ones as their code and every other one as ``_NOT_ASCII``
    (uint8, which numpy compares faster than code points; ``others`` and ``other_codes`` say which it was).
    Each text comes after a separator (NUL) and separators pad the end. The separator is in none of the
    character classes the tests look for, and is not ``\\w``, as the start of a text is not, so no match in
    the array runs from one text into the next. Each test marks positions holding a character of one of
    its classes, so it marks positions inside texts only.
    """

    def __init__(self, texts: Sequence[str]):
        joined = _SEPARATOR + _SEPARATOR.join(texts) + _SEPARATOR * _PADDING
        # surrogatepass: a lone surrogate (which a str may hold) is one code point like any other.
        codes = np.frombuffer(joined.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
        self.chars = np.minimum(codes, _NOT_ASCII).astype(np.uint8)
        self.others = np.flatnonzero(codes >= _NOT_ASCII)
        self.other_codes = codes[self.others]
        lengths = np.fromiter(map(len, texts), dtype=np.intp, count=len(texts))
        self.starts = np.cumsum(lengths + 1) - lengths  # text k comes after k + 1 separators and texts 0..k-1

    def texts_with(self, marks: np.ndarray) -> np.ndarray:
        """One boolean per text: whether it holds a marked position (its segment runs on over the separator
        after it, which is never marked)."""
        return np.logical_or.reduceat(marks, self.starts)

    def among(self, chars: str) -> np.ndarray:
        """Where the character is one of ``chars``."""
        marks = np.zeros(len(self.chars), dtype=bool)
        for char in chars:
            if char.isascii():
                marks |= self.chars == ord(char)
        others = [ord(char) for char in chars if not char.isascii()]
        if others and len(self.others):  # np.isin costs ~20 us even on nothing
            marks[self.others[np.isin(self.other_codes, others)]] = True
        return marks

    def between(self, first: str, last: str) -> np.ndarray:
        """Where the character is in ``[first-last]`` (two ASCII characters)."""
        return (self.chars >= ord(first)) & (self.chars <= ord(last))

    @cached_property
    def letters(self) -> np.ndarray:
        """``[a-z]``."""
        return self.between("a", "z")

    @cached_property
    def digits(self) -> np.ndarray:
        """``[0-9]``."""
        return self.between("0", "9")

    @cached_property
    def triples(self) -> np.ndarray:
        """Where the character and the next two are the same (or all three above ASCII)."""
        return (self.chars == _ahead(self.chars, 1)) & (self.chars == _ahead(self.chars, 2))


# The same tests for a whole batch (``normalize_many``), one per group but the last. Each marks positions of a
# ``_Batch`` and, like the group's own test, must mark one in every text that the group's steps would change;
# it may mark more, as the group's own test then decides. The docstrings say why each marks enough: most
# mark where the group's own test would find something, some a little more, ``_masked_marks`` less.


def _url_marks(batch: _Batch) -> np.ndarray:
    """``"://"`` holds ``":/"``, ``"www."`` holds ``"w."``, and ``_TLD`` needs a dot before a top-level domain's
    first letter."""
    return (batch.among(":") & _ahead(batch.among("/"), 1) | batch.among("w") & _ahead(batch.among("."), 1)
            | batch.among(".") & _ahead(batch.among(_TLD_INITIALS), 1))


def _mention_marks(batch: _Batch) -> np.ndarray:
    """Exactly the group's test: an ``@``."""
    return batch.among("@")


def _masked_marks(batch: _Batch) -> np.ndarray:
    """A ``*``, ``#`` or ``%`` after one of ``[a-z*#%@$!.]``, which the first of them in a ``_MASKED`` match
    comes after (its word starts with a letter). Tighter than the group's test: "50%" and "#tag" are not."""
    return batch.among("*#%") & _ahead(batch.letters | batch.among("*#%@$!."), -1)


def _disguised_marks(batch: _Batch) -> np.ndarray:
    """Exactly ``_DISGUISED``: each of ``@$|€``, and each run of ``[0-9!]`` with a letter either side. A match
    of ``[a-z][0-9@$!|€]+[a-z]`` holds one of ``@$|€`` or else its middle is such a run, whole (letters end it)."""
    run = batch.digits | batch.among("!")
    firsts = np.flatnonzero(run & ~_ahead(run, -1))  # the i-th run starts at firsts[i] and ends at lasts[i]
    lasts = np.flatnonzero(run & ~_ahead(run, 1))
    marks = batch.among("@$|€")
    marks[firsts[batch.letters[firsts - 1] & batch.letters[lasts + 1]]] = True
    return marks


def _spaced_marks(batch: _Batch) -> np.ndarray:
    """``_SPACED_START``: letter, gap, letter, gap, letter with no word character before. ``\\w`` is tested
    as ``[A-Za-z0-9_]``, which it holds and more (Unicode letters and digits): this finds "no word character
    before" wherever ``(?<!\\w)`` does, and a few times more."""
    letters, gaps = batch.letters, batch.among(" .-_*")
    ascii_word = letters | batch.between("A", "Z") | batch.digits | batch.among("_")
    return (~_ahead(ascii_word, -1) & letters & _ahead(gaps, 1) & _ahead(letters, 2) & _ahead(gaps, 3)
            & _ahead(letters, 4))


def _elongation_marks(batch: _Batch) -> np.ndarray:
    """Exactly ``_TRIPLE_LETTER``: three equal letters."""
    return batch.triples & batch.letters


def _punct_run_marks(batch: _Batch) -> np.ndarray:
    """Exactly the group's test: three equal characters of ``!?.,*``."""
    return batch.triples & batch.among("!?.,*")


_BATCH_TESTS: tuple[Callable[[_Batch], np.ndarray], ...] = (
    _url_marks, _mention_marks, _masked_marks, _disguised_marks, _spaced_marks, _elongation_marks, _punct_run_marks,
)
assert len(_BATCH_TESTS) == len(_STEP_GROUPS) - 1


def _untidy_whitespace_marks(batch: _Batch) -> np.ndarray:
    """Where ``_collapse_whitespace`` changes a text: at a ``str.isspace`` character but a space, and at a
    space first or last in its text or followed by a space. Where it finds none, ``str.split`` cuts the text
    at single spaces between words, which the join puts back."""
    space, edge = batch.chars == ord(" "), batch.chars == ord(_SEPARATOR)
    return batch.among(SPACES) & ~space | space & (_ahead(space, 1) | _ahead(edge, 1) | _ahead(edge, -1))


MIN_BATCH = 32
"""From this many texts, ``normalize_many`` tests them as a batch. Below it (break-even is ~25 comments), the
~150 us that numpy's calls take on a batch of any size outweigh what testing the texts together saves."""
MAX_BATCH = 4096
"""``normalize_many`` tests at most this many texts as one batch: the arrays stay in the processor's caches
(twice as many are ~10% slower per text) and a few megabytes in size, whatever the number of texts."""


def normalize_many(texts: Sequence[str]) -> list[str]:
    """Return ``[normalize(text) for text in texts]``, faster on many texts.

    Most of ``normalize``'s time goes to the groups' tests (regular expressions over every text), while
    the steps change a few texts in a hundred. Here each test runs once on the whole batch (``_Batch``,
    ``_BATCH_TESTS``), and each group's own test then runs only on the texts it marks, so every text goes
    through exactly the steps ``normalize`` would apply. A text that a group changes no longer matches the
    batch's array: the later groups test it on its own.
    """
    if len(texts) > MAX_BATCH:
        chunks = (texts[start : start + MAX_BATCH] for start in range(0, len(texts), MAX_BATCH))
        return [out for chunk in chunks for out in normalize_many(chunk)]
    if len(texts) < MIN_BATCH:
        return [normalize(text) for text in texts]
    outs = [_map(text) for text in texts]
    batch = _Batch(outs)
    changed = np.zeros(len(outs), dtype=bool)
    for (may_change, steps), marks in zip(_STEP_GROUPS[:-1], _BATCH_TESTS, strict=True):
        for i in np.flatnonzero(batch.texts_with(marks(batch)) | changed).tolist():
            out = _run_group(outs[i], may_change, steps)
            if out != outs[i]:
                outs[i] = out
                changed[i] = True
    for i in np.flatnonzero(batch.texts_with(_untidy_whitespace_marks(batch)) | changed).tolist():
        outs[i] = _collapse_whitespace(outs[i])
    return outs


def _align(matched: str, replacement: str, offsets: list[int]) -> list[int]:
    """Raw offsets for each replacement character: its own character when it was kept, else in proportion; never
    before the previous character's, so that offsets stay in order (an "x" of " xxuser " in proportion could lie past
    the "u" of a long "@username", and the word's raw span end before it began: 2% of the data's texts)."""
    if not offsets:
        return [0] * len(replacement)
    aligned = []
    cursor = previous = 0
    width = len(matched)
    for j, char in enumerate(replacement):
        found = matched.find(char, cursor)
        if found < 0:
            found = max(cursor, min(j * width // max(len(replacement), 1), width - 1))
        found = previous = min(max(found, previous), width - 1)
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


def raw_range(text: str, normalised: str, offsets: Sequence[int], begin: int, end: int) -> tuple[int, int]:
    """Where ``normalised[begin:end]`` is written in ``text`` (``normalised, offsets = normalize_with_offsets(text)``).

    From its first character's raw index to past its last one's, widened over the written characters beside them
    that no other normalised character comes from, up to a blank: the rest of the URL or @mention that a token
    stands for ("http://www.example.com/path", not the "xampl" that the letters of "xxurl" were found in), the letters
    an elongation dropped ("idiooooo", not "idio"). The widening does not end on a character the normaliser drops
    (zero-width, control).
    """
    first, last = offsets[begin], offsets[end - 1] + 1
    # A space next to the range may be a token's own, taken from a character of the URL or mention: look past it.
    before = begin - 1 - (begin > 0 and normalised[begin - 1] == " ")
    after = end + (end < len(normalised) and normalised[end] == " ")
    floor = offsets[before] + 1 if before >= 0 else 0
    ceiling = offsets[after] if after < len(normalised) else len(text)
    while first > floor and not text[first - 1].isspace():
        first -= 1
    while last < ceiling and not text[last].isspace():
        last += 1
    while first < offsets[begin] and not _CHAR_TABLE[ord(text[first])]:
        first += 1
    while last > offsets[end - 1] + 1 and not _CHAR_TABLE[ord(text[last - 1])]:
        last -= 1
    return first, last


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
        """Normalise every text of ``X`` (``normalize_many``)."""
        return normalize_many(list(X))
