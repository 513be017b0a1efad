"""The normalisation transformer: obfuscations undone, offsets pointing back into the raw text."""

import unicodedata

import pytest
from sklearn.base import clone

from model.normalize import (TextNormalizer, normalize, normalize_many, normalize_with_offsets, parted, plain_letters, raw_range,
                             undisguised)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("You are an 1d10t!!!!", "you are an idiot!!"),
        ("what a f*ck up", "what a fuck up"),
        ("kiss my @ss", "kiss my ass"),
        ("a$$hole", "asshole"),
        ("sh!t happens", "shit happens"),
        ("i d i o t", "idiot"),
        ("you s.t.u.p.i.d man", "you stupid man"),
        ("stuuuuupid", "stupid"),
        ("Ｆｕｃｋ уоu", "fuck you"),  # full-width letters and Cyrillic homoglyphs
        ("id\u200biot", "idiot"),  # zero-width space
        ("see https://example.com/x?y=1 now", "see xxurl now"),
        ("@reporter you are wrong", "xxuser you are wrong"),
        ("Café  crème", "cafe creme"),
        ("i\u0336d\u0336i\u0336o\u0336t\u0336", "idiot"),  # struck through: a combining stroke on each letter
        ("you i\u0301d\u20ddiot", "you idiot"),  # combining marks written after the letters
        ("\u026a\u1d05\u026a\u1d0f\u1d1b \ua730\u1d1c\u1d04\u1d0b", "idiot fuck"),  # small capitals
        ("\U0001f178\U0001f173\U0001f178\U0001f17e\U0001f183 \U0001f155\U0001f164\U0001f152\U0001f15a", "idiot fuck"),
    ],
)
def test_obfuscations_are_undone(raw, expected):
    assert normalize(raw) == expected


@pytest.mark.parametrize("styled", [
    "\U0001d422\U0001d41d\U0001d422\U0001d428\U0001d42d",  # mathematical bold
    "\U0001d55a\U0001d555\U0001d55a\U0001d560\U0001d565",  # double-struck
    "\u24d8\u24d3\u24d8\u24de\u24e3",  # circled
    "\uff49\uff44\uff49\uff4f\uff54",  # full-width
    "\u026a\u1d05\u026a\u1d0f\u1d1b",  # small capitals
    "\U0001f178\U0001f173\U0001f178\U0001f17e\U0001f183",  # negative squared capitals
])
def test_plain_letters_writes_styled_latin_letters_plainly_one_character_for_one(styled):
    assert plain_letters(f"You {styled}!").lower() == "you idiot!"


@pytest.mark.parametrize("text", ["Café crème", "Ώρα μέγα", "йод и ёж", "\ufb01ne x\u00b2 \u2167", "plain ascii"])
def test_plain_letters_keeps_every_other_character(text):
    # Accents are the tokenizer's to strip; other scripts stay; a ligature or numeral that NFKC writes with two
    # letters would move every offset after it, so it stays too.
    assert plain_letters(text) == text


@pytest.mark.parametrize("raw", ["Café crème brûlée", "Ώρα μέγα", "йод и ёж", "Việt Nam"])
def test_an_accented_letter_normalises_alike_whether_written_whole_or_decomposed(raw):
    """NFC "\\u00e9" and NFD "e\\u0301" are one text as drawn: the accent of the first was dropped, the mark of the
    second kept, so the same word gave other features (and a threat phrase went unseen)."""
    composed, decomposed = unicodedata.normalize("NFC", raw), unicodedata.normalize("NFD", raw)
    assert composed != decomposed
    assert normalize(decomposed) == normalize(composed) == normalize_many([decomposed] * 40)[0]
    normalised, offsets = normalize_with_offsets(decomposed)
    assert normalised == normalize(composed) and offsets == sorted(offsets)


@pytest.mark.parametrize(
    "raw",
    ["Turkey paid $2.5bn in 2015", "covid19 cases rose 4% on the 2nd", "Call 555-0199", "I have 4 kids and 10 dogs"],
)
def test_numbers_and_names_are_not_leetspeak(raw):
    assert normalize(raw) == raw.lower()


@pytest.mark.parametrize("raw", ["You are an 1d10t!!!!", "i d i o t now", "a  f*ck @bob http://x.io ok", "stuuuupid", "", "   ", "Ｆｕｃｋ"])
def test_offsets_map_every_character_back(raw):
    normalised, offsets = normalize_with_offsets(raw)
    assert normalised == normalize(raw)
    assert len(offsets) == len(normalised)
    assert all(0 <= o < len(raw) for o in offsets)
    assert offsets == sorted(offsets)


@pytest.mark.parametrize("raw", [
    "thanks @username_of_the_week, idiot",
    "hi @" + "johnsmith" * 3 + " you idiot",
    "read www.usatoday.com/story/2024/01/01/some-long-slug now",
    "@user" + "A" * 100 + " you are an idiot",
])
def test_offsets_stay_in_order_where_a_token_replaces_a_long_word(raw):
    """A token's characters found in proportion could point past its later characters found in the word it replaces
    ("xxuser" for "@useraaa...": offsets 12, 25, 1, 2, 3, 4), so its word's raw span ended before it began."""
    normalised, offsets = normalize_with_offsets(raw)
    assert normalised == normalize(raw)
    assert offsets == sorted(offsets)


def test_spaced_letters_map_to_the_whole_raw_word():
    raw = "you i d i o t"
    normalised, offsets = normalize_with_offsets(raw)
    begin = normalised.index("idiot")
    assert raw[offsets[begin] : offsets[begin + 4] + 1] == "i d i o t"


@pytest.mark.parametrize(("raw", "word", "written"), [
    ("hi @bob_smith, you", "xxuser", "@bob_smith"),
    ("read www.usatoday.com/story/2024/01/01/some-long-slug now", "xxurl", "www.usatoday.com/story/2024/01/01/some-long-slug"),
    ("so:https://a.io/x", "xxurl", "https://a.io/x"),
    ("you idiooooot", "idiot", "idiooooot"),
    ("you stupiddddd\u200b\u200b you", "stupid", "stupiddddd"),
    ("\u200bnooooo way", "no", "nooooo"),
    ("you i d i o t!!!!", "idiot", "i d i o t"),
    ("ﬁne", "fine", "ﬁne"),
])
def test_raw_range_is_the_word_as_written(raw, word, written):
    normalised, offsets = normalize_with_offsets(raw)
    begin = normalised.index(word)
    begin, end = raw_range(raw, normalised, offsets, begin, begin + len(word))
    assert raw[begin:end] == written


def test_transformer_is_stateless_and_clonable():
    normaliser = clone(TextNormalizer())
    assert normaliser.fit_transform(["1d10t", "OK"]) == ["idiot", "ok"]
    assert normaliser.transform(["Stuuupid"]) == ["stupid"]


def test_offsets_agree_with_normalize_on_generated_text():
    import random

    rng = random.Random(0)
    pieces = ["f*ck", "@user", "http://x.com/a b", "1d10t", "i d i o t", "stuuuupid", "!!!!", "  \n\t ", "Ｆｕｃｋ", "\u200b", "ok"]
    for _ in range(200):
        raw = "".join(rng.choice(pieces) + rng.choice(["", " ", "  "]) for _ in range(rng.randint(0, 12)))
        normalised, offsets = normalize_with_offsets(raw)
        assert normalised == normalize(raw)
        assert len(offsets) == len(normalised)
        assert all(raw[o] == c for o, c in zip(offsets, normalised) if c == " " and raw[o].isspace())


def test_offsets_fast_paths_equal_the_character_by_character_mapping():
    import random

    from model import normalize as module

    def reference(raw):
        out, offsets = module._map_characters(raw)
        for pattern, repl in module._STEPS:
            pieces, new_offsets, position = [], [], 0
            for match in pattern.finditer(out):
                start, end = match.span()
                replacement = repl(match) if callable(repl) else match.expand(repl)
                pieces.append(out[position:start])
                new_offsets.extend(offsets[position:start])
                new_offsets.extend(module._align(out[start:end], replacement, offsets[start:end]))
                pieces.append(replacement)
                position = end
            pieces.append(out[position:])
            new_offsets.extend(offsets[position:])
            out, offsets = "".join(pieces), new_offsets
        stripped = out.strip()
        lead = len(out) - len(out.lstrip())
        return stripped, offsets[lead : lead + len(stripped)]

    rng = random.Random(1)
    alphabet = "abcXYZ 019!?.*@$ \t\n\x00\x07" + "éＦ\u200b"
    for _ in range(300):
        raw = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 40)))
        assert normalize_with_offsets(raw) == reference(raw), repr(raw)


def test_skipping_steps_that_cannot_match_changes_nothing():
    """``normalize`` runs a step only when a cheap test says it may match; the result must be every step's."""
    import random

    from model import normalize as module

    def every_step(raw):
        out = raw.translate(module._CHAR_TABLE)
        for pattern, repl in module._STEPS:
            out = pattern.sub(repl, out)
        return out.strip()

    rng = random.Random(7)
    pieces = ["a", "b", "s", "z", "1", "0", "3", "!", "?", ".", ",", "*", "#", "%", "@", "$", "|", "€", " ", "  ", "\t",
              "\x0b", "\x00", "_", "-", "://", "www.", ".com", ".co.uk", "http", "É", "Ｆ", "\u200b", "\u00a0", "\u2003"]
    for _ in range(3000):
        raw = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 25)))
        assert normalize(raw) == every_step(raw), repr(raw)
        assert normalize_with_offsets(raw)[0] == every_step(raw), repr(raw)


# Pieces of generated batches: what each group's test looks for and near misses, characters that map to nothing
# or to whitespace, a lone surrogate. Texts start and end with any of them, next to the separators of the batch.
_BATCH_PIECES = [
    "a", "b", "s", "z", "i", "o", "A", "Z", "1", "0", "3", "!", "?", ".", ",", "*", "#", "%", "@", "$", "|", "€",
    " ", "  ", "\t", "\n", "\r", "\x0b", "\x1c", "\x00", "\x7f", "_", "-", ":", "/", "://", "www.", "w.", ".com",
    ".co.uk", ".io", ".e", "http", "É", "é", "Ｆ", "ß", "у", "\u200b", "\u00a0", "\u2003", "\u2028", "\u1680",
    "\u3000", "\ud800", "😂", "aaa", "ooo", "!!!", "???", "...", ",,,", "***", "i d i o t", "s.t.u.p.i.d", "x-y-z",
    "f*ck", "1d10t", "@ss", "a$$", "sh!t", "b1tch", "2015", "50%", "#tag", "ééé", "ａａａ",
]


def _generated_batches(seed, count, max_size=40):
    """``count`` batches of up to ``max_size`` texts made of ``_BATCH_PIECES`` (empty texts among them)."""
    import random

    rng = random.Random(seed)
    for _ in range(count):
        size = rng.randint(1, max_size)
        yield ["".join(rng.choice(_BATCH_PIECES) for _ in range(rng.randint(0, 12))) for _ in range(size)]


def test_normalize_many_equals_normalize_one_by_one(monkeypatch):
    """Every text of a batch comes out as ``normalize`` makes it, the batch's tests run on any size of batch."""
    from model import normalize as module

    monkeypatch.setattr(module, "MIN_BATCH", 1)
    for batch in _generated_batches(seed=11, count=600):
        assert normalize_many(batch) == [normalize(text) for text in batch], batch


def test_normalize_many_on_batches_of_every_size(monkeypatch):
    """Below ``MIN_BATCH`` texts ``normalize`` runs, above ``MAX_BATCH`` the batch is cut in parts; every way, the
    texts are ``normalize``'s. An empty batch gives an empty list, through numpy as well."""
    from model import normalize as module

    monkeypatch.setattr(module, "MAX_BATCH", 2 * module.MIN_BATCH)
    for batch in _generated_batches(seed=12, count=40, max_size=5 * module.MIN_BATCH):
        assert normalize_many(batch) == [normalize(text) for text in batch]
    assert normalize_many([]) == []
    assert normalize_many(("Stuuupid", "a  f*ck")) == ["stupid", "a fuck"]
    monkeypatch.setattr(module, "MIN_BATCH", 0)
    assert normalize_many([]) == []


def test_each_batch_test_marks_every_text_its_group_changes():
    """A batch's test may mark texts its group leaves as they are, never miss one the group's steps change."""
    from model import normalize as module

    tests = (*module._BATCH_TESTS, module._untidy_whitespace_marks)
    groups = [steps for _, steps in module._STEP_GROUPS[:-1]]

    def changes(group, text):
        if group == len(groups):
            return module._collapse_whitespace(text) != text
        return module._run_group(text, lambda _: True, groups[group]) != text

    for batch in _generated_batches(seed=13, count=300):
        mapped = [module._map(text) for text in batch]
        arrays = module._Batch(mapped)
        for group, test in enumerate(tests):
            marked = arrays.texts_with(test(arrays))
            missed = [text for text, mark in zip(mapped, marked) if not mark and changes(group, text)]
            assert not missed, (test.__name__, missed)


def test_mapping_in_pieces_equals_the_table():
    """``_map`` maps ASCII runs apart from the rest: the result is the table's, character by character."""
    from model import normalize as module

    for batch in _generated_batches(seed=14, count=100):
        for text in batch:
            assert module._map(text) == text.translate(module._CHAR_TABLE), repr(text)


def test_whitespace_the_batch_looks_for_is_every_character_str_split_cuts_at():
    import sys

    from model import normalize as module

    assert module.SPACES == "".join(char for char in map(chr, range(sys.maxunicode + 1)) if char.isspace())


def test_transformer_normalises_a_batch_as_one_text_at_a_time():
    batch = [text for texts in _generated_batches(seed=15, count=10) for text in texts]
    assert TextNormalizer().transform(batch) == [normalize(text) for text in batch]



def test_leetspeak_matches_are_the_regular_expressions_in_linear_time():
    """``_LeetWords`` finds exactly ``_LEET_WORD``'s matches; the expression's lookaheads read to the end of a run at
    every start, so 20,000 "@" took 1.7 s to normalise (a comment's worth of them, sent 100 to a request)."""
    import random
    import time

    from model import normalize as module

    rng = random.Random(0)
    alphabet = "ab z09@$!|€_é.-*#"
    for _ in range(3000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.choice([8, 40, 120])))
        text += "@" * rng.choice([0, 70]) + "".join(rng.choice(alphabet) for _ in range(6))
        expected = [match.span() for match in module._LEET_WORD.finditer(text)]
        assert [match.span() for match in module._LeetWords._linear_finditer(text)] == expected, text
        assert module._LeetWords().sub(module._unleet, text) == module._LEET_WORD.sub(module._unleet, text)
    started = time.perf_counter()
    for text in ("@" * 20000, "a_" + "@" * 20000, "_@1" * 7000):
        normalize(text)
    assert time.perf_counter() - started < 0.5  # about 0.02 s; the lookaheads alone took 1.7 s on the first text


@pytest.mark.parametrize("name", ["_URL", "_MASKED"])
def test_url_and_masked_words_are_the_regular_expressions_matches(name):
    """``_URL`` and ``_MASKED`` try their expressions only where these can match (``RunPattern``): the matches and
    replacements must be the expressions' own, on runs long and short."""
    import random

    from model import normalize as module

    step = getattr(module, name)
    repl = dict(module._STEPS)[step]
    rng = random.Random(3)
    alphabet = "ab z09.-/:w#*%@$!_éA"
    pieces = ["a-", "a.", ".a", "x*", "1,", "www.", "http://", "https://x", ".com", ".co.uk", ".io/", ".comx", "#",
              "%", "a.b@c", " "]
    for _ in range(3000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.choice([0, 10, 40])))
        for _ in range(rng.randint(1, 4)):
            text += rng.choice(pieces) * rng.choice([1, 3, 40]) + "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 8)))
        expected = [match.span() for match in step.pattern.finditer(text)]
        assert [match.span() for match in step._linear_finditer(text)] == expected, text
        assert [match.span() for match in step.finditer(text)] == expected, text
        assert step.sub(repl, text) == step.pattern.sub(repl, text), text


def test_a_masked_word_longer_than_every_maskable_word_is_kept_without_compiling_a_pattern(monkeypatch):
    """``_restore_masked`` compiled a pattern as long as the masked word before comparing it with the maskable words
    of its length: 0.25 s for a masked run of 20,000 characters, though no maskable word is that long."""
    import re

    from model import normalize as module

    compiled = []
    compile_pattern = re.compile
    monkeypatch.setattr(re, "compile", lambda pattern, *args: compiled.append(pattern) or compile_pattern(pattern, *args))
    text = "a." * 40 + "#"
    assert module._MASKED.sub(module._restore_masked, text) == text
    assert compiled == []
    assert module._MASKED.sub(module._restore_masked, "f*ck") == "fuck" and len(compiled) == 1


@pytest.mark.parametrize("table", ["_CharTable", "_PlainLetters"])
def test_the_character_tables_keep_a_bounded_number_of_characters(table, monkeypatch):
    # Each table cached every character it met: comments of distinct made-up characters (1.1 million code points)
    # grew a worker by some 160 MB per table. Past the bound a character is worked out again at each use, alike.
    import model.normalize as normalize_module

    monkeypatch.setattr(normalize_module, "MAX_CACHED_CHARACTERS", 50)
    bounded, text = getattr(normalize_module, table)(), "".join(map(chr, range(0x4E00, 0x4E00 + 400))) + "ⓘⓓⓘⓞⓣ Ｆｕｃｋ"
    expected = text.translate(getattr(normalize_module, table)())  # worked out with the bound too, so compare below
    assert text.translate(bounded) == text.translate(bounded) == expected
    assert len(bounded) == 50
    monkeypatch.setattr(normalize_module, "MAX_CACHED_CHARACTERS", 10**9)
    assert text.translate(getattr(normalize_module, table)()) == expected


@pytest.mark.parametrize("text, reading", [
    ("You are an i.d.i.o.t", "you are an idiot"), ("1d10t", "idiot"), ("I will k i l l you", "i will kill you"),
    ("stuuupid", "stupid"), ("id\u200biot", "idiot"), ("Y\u043eu m\u043er\u043en", "you moron"),  # Cyrillic o
    ("f*ck off", "fuck off"), ("k\ufe0fill you", "kill you"),  # a variation selector inside a word
])
def test_undisguised_undoes_what_an_uncased_tokenizer_would_read_as_other_words(text, reading):
    assert undisguised(text) == reading


@pytest.mark.parametrize("text", [
    "The deal costs $5 billion, up 10% on 2020.", "NAÏVE café résumé", "Wow!!! Great   article", "I \u2764\ufe0f it",
    "See https://example.com/a1b2 for the F-35s and COVID-19 figures.", "",
    # what an uncased reader sees through, and words wholly in another script (found in review: a non-breaking space
    # alone sent a quarter of Kaggle's comments, and any Russian text, to a second reading)
    "non\u00a0breaking space", "Wait\u2026", "Stra\u00dfe", "\ufb01nance", "x\u00b2", "\u041c\u043e\u0441\u043a\u0432\u0430 \u043d\u0435 \u0432\u0435\u0440\u0438\u0442 \u0441\u043b\u0435\u0437\u0430\u043c.",
    "\u0395\u03bb\u03bb\u03b7\u03bd\u03b9\u03ba\u03ac", "I \u2764\ufe0f it", "\uff26\uff55\uff4c\uff4c",
])
def test_undisguised_is_none_for_a_comment_written_plainly(text):
    assert undisguised(text) is None


@pytest.mark.parametrize("text, reading", [
    ("You are an i  d  i  o  t", "you are an idiot"), ("i\nd\ni\no\nt", "idiot"),  # letters spaced wider
    ("Y.o.u a.r.e a l.o.s.e.r.", "you are a loser."),  # dotted words, and a word of one letter between them
    ("What a  l  o  s  e  r", "what aloser"),  # spaced wider; a spaced "a" is no article (below)
    ("you\u3164are\u3164an\u3164idiot", "you are an idiot"), ("i\uffa0d\uffa0i\uffa0o\uffa0t", "idiot"),  # Hangul fillers
    ("i\u2800d\u2800i\u2800o\u2800t", "idiot"),  # Braille blanks
    ("\u0287o\u0131p\u0131", "idiot toidi"), ("\u026fo\u0279ou", "norom moron"),  # upside down: reversed, in order
    ("no\u028e ll\u0131\u029e ll\u0131\u028d \u0131", "i will kill you uoy llik lliw i"),
    ("\U0001f1ee \U0001f1e9 \U0001f1ee \U0001f1f4 \U0001f1f9", "idiot"),  # regional indicators, drawn as letters
    ("you \U0001f1ee\u200b\U0001f1e9\u200b\U0001f1ee\u200b\U0001f1f4\u200b\U0001f1f9", "you idiot"),
])
def test_a_wider_undisguised_reading_undoes_what_the_reading_of_the_committed_bundles_misses(text, reading):
    assert undisguised(text, wider=True) == reading


@pytest.mark.parametrize("text, reading", [
    ("U.S. troops", None), ("e.g. the budget", None), ("J. R. R. Tolkien", None), ("a.m. to p.m.", None),
    ("Plan B", None), ("The  quick  brown  fox", None), ("I\nam\nhere", None),
    ("a b c d", "abcd"), ("I. II. III.", "i. ii. i."),  # as the default reading
    # a spaced "a" is not split off as the article: a review found "a n a l y s i s" read "a nalysis" and sent to review
    ("a n a l y s i s", "analysis"), ("a  n  i  m  a  l", "animal"), ("a\nm\no\nr\no\nu\ns", "amorous"),
    ("You are a m o r o n", "you are amoron"),
    ("as a U.S. citizen", "as a us. citizen"),  # the default reading glues "aus."
    ("you are an a s s", "you are an ass"), ("you are a s s e d", "you are assed"), ("a.r.s.e", "arse"),  # kept whole
    ("an a r s e", "an arse"),  # no article after an article
    # flags are two regional indicators side by side: drawn as flags, kept
    ("I love the \U0001f1fa\U0001f1f8 and \U0001f1ec\U0001f1e7", None), ("Go \U0001f1fa\U0001f1f8\U0001f1fa\U0001f1f8!", None),
    ("\U0001f1ee\U0001f1e9\U0001f1ee\U0001f1f4\U0001f1f9", None),
    # fillers among Hangul jamo and blank cells among Braille ones; Turkish dotless i; IPA
    ("\u314b\u314b\u3164\u314e\u314e", None), ("\ud55c\uae00\u3164\ucc44\uc6c0", None),
    ("\u2813\u2811\u2807\u2807\u2815\u2800\u283a\u2815\u2817\u2807\u2819", None),
    ("\u0131s\u0131 var", None), ("pure is /pj\u0254\u0279/", None),
])
def test_a_wider_undisguised_reading_leaves_civil_look_alikes(text, reading):
    assert undisguised(text, wider=True) == reading


@pytest.mark.parametrize("text, reading, normalised", [
    # recorded from the code before ``wider`` (bundles 2.14.0 and 2.15.0 read these readings)
    ("You are an i  d  i  o  t", None, "you are an i d i o t"), ("i\nd\ni\no\nt", None, "i d i o t"),
    ("Y.o.u a.r.e a l.o.s.e.r.", "youarealoser.", "youarealoser."),
    ("You are a m o r o n", "you are amoron", "you are amoron"),
    ("you\u3164are\u3164an\u3164idiot", None, "you\u1160are\u1160an\u1160idiot"),
    ("i\u2800d\u2800i\u2800o\u2800t", None, "i\u2800d\u2800i\u2800o\u2800t"),
    ("\u0287o\u0131p\u0131", None, "\u0287oipi"), ("\u026fo\u0279ou", None, "\u026fo\u0279ou"),
    ("\U0001f1ee \U0001f1e9 \U0001f1ee \U0001f1f4 \U0001f1f9", None, "\U0001f1ee \U0001f1e9 \U0001f1ee \U0001f1f4 \U0001f1f9"),
    ("as a U.S. citizen", "as aus. citizen", "as aus. citizen"), ("a b c d", "abcd", "abcd"),
    ("I. II. III.", "i. ii. i.", "i. ii. i."), ("J. R. R. Tolkien", None, "j. r. r. tolkien"),
])
def test_the_undisguised_reading_by_default_and_normalize_are_as_before_wider(text, reading, normalised):
    assert undisguised(text) == undisguised(text, wider=False) == reading
    assert normalize(text) == normalised


WORDS = frozenset({"you", "are", "loser", "hate", "analysis", "animal", "think", "cock", "roach", "pig", "ma", "u", "x"})
"""A word list written for these tests (an encoder's vocabulary in service): "u" and "x" to show that no single letter
but "a" and "i" is parted off, whatever the list says."""


@pytest.mark.parametrize("letters, reading", [
    ("aloser", "a loser"), ("ihate", "i hate"), ("athink", "a think"),
    ("analysis", "analysis"), ("animal", "animal"),  # a word of the list: kept
    ("amoron", "amoron"), ("acockroach", "acockroach"),  # the rest no word of the list: kept, not searched into words
    ("uhate", "uhate"), ("xloser", "xloser"),  # no one-letter word but "a" and "i"
    ("apig", "a pig"), ("ima", "ima"),  # a rest of three letters or more: "i m a" is "I'm a", not "i ma"
    ("au", "au"), ("a", "a"), ("", ""), ("youloser", "youloser"),
])
def test_parted_parts_a_one_letter_word_from_a_word_of_the_list(letters, reading):
    assert parted(letters, WORDS) == reading


@pytest.mark.parametrize("text, reading", [
    ("You are a l o s e r", "you are a loser"), ("I h a t e you", "i hate you"),
    ("What a  l  o  s  e  r", "what a loser"), ("you are a\nl\no\ns\ne\nr", "you are a loser"),  # spaced wider
    ("a.l.o.s.e.r", "a loser"), ("Y.o.u a.r.e a l.o.s.e.r.", "you are a loser."),  # dotted, as without words
    # joined into a word of the list, or its rest none: as without words
    ("How do you spell it? a n a l y s i s", "how do you spell it? analysis"), ("a n i m a l", "animal"),
    ("There is a c o c k r o a c h", "there is acockroach"), ("y o u a r e a l o s e r", "youarealoser"),
    ("a m o r o n", "amoron"), ("a b c d", "abcd"),
    ("\u0287o\u0131p\u0131", "idiot toidi"),  # the other wider steps as without words
])
def test_words_part_a_one_letter_word_from_the_spaced_letters_after_it(text, reading):
    assert undisguised(text, wider=True, words=WORDS) == reading


@pytest.mark.parametrize("text, reading", [
    ("You are an (i)(d)(i)(o)(t)", "you are an idiot"), ("You are a [c] [u] [n] [t]", "you are a cunt"),
    ("a {s}{l}{u}{t}!", "a slut!"), ("You are an i d 1 o t", "you are an idiot"), ("an i.d.1.o.t", "an idiot"),
    ("a l  0  s  e  r", "a loser"), ("Ur a f@g", "ur a fag"), ("You b@stard", "you bastard"),
    ("what a dumb@ss.", "what a dumbass."),
    # found by a review: mixed gaps between brackets, a word's end after them, a masked letter, a digit after the run
    ("(f)(u) (c)(k) off", "fuck off"), ("(i)(d)(i)(o)(t)s all of you", "idiots all of you"),
    ("(f)(*)(c)(k) you", "fuck you"), ("i d 1 o t 2 you", "idiot 2 you"),
    # seats and grid references: as many digits as letters, read as written ("F 4 G 5" was read "fags")
    ("Seats F 4 G 5 are free.", None), ("Grid reference A 5 S 3", None),
    # as without symbols: mentions (chained ones too), numbers, two brackets, digits outnumbering letters
    ("@john you are wrong", None), ("@ann@bob thanks", None), ("Call 5 5 5 1 2 3 4", None),
    ("See section 5(a)(i) and (b).", None), ("Options (a), (b), (c) and (d).", None), ("Plan A 1 2 3", None),
    ("meet at 5 p.m. ok", None), ("The council met.", None),
])
def test_symbols_undo_bracketed_letters_digits_among_spaced_letters_and_an_at_sign_inside_a_word(text, reading):
    assert undisguised(text, wider=True, symbols=True) == reading


def test_symbols_are_read_in_the_wider_reading_only_and_change_nothing_without():
    for text in ("You are an (i)(d)(i)(o)(t)", "You are an i d 1 o t", "Ur a f@g"):
        assert undisguised(text, wider=True) is None  # no reading, as 2.17.0 reads them
    with pytest.raises(ValueError, match="symbol disguises are read in the wider reading only: pass wider=True"):
        undisguised("You b@stard", symbols=True)
    assert undisguised("You are a l 0 s e r", wider=True, words=WORDS, symbols=True) == "you are a loser"


def test_words_part_one_letter_words_in_the_wider_reading_only():
    assert undisguised("You are a l o s e r", wider=True) == "you are aloser"  # no words: joined, as 2.16.0 reads it
    assert undisguised("The council met.", wider=True, words=WORDS) is None
    with pytest.raises(ValueError, match="wider reading only: pass wider=True as well"):
        undisguised("You are a l o s e r", words=WORDS)


@pytest.mark.parametrize("blank", ["\u3164", "\uffa0", "\u2800"])
def test_a_long_run_of_blank_fillers_costs_about_what_the_default_reading_does(blank):
    """Tried from each of its blanks, a run of 20,000 fillers with no letter after it took about 3 s (the default
    reading: 5 ms; found in review): the wider reading must stay within a small multiple of the default's."""
    import time

    text = blank * 20000  # no letter before or after it

    def best(wider: bool) -> float:
        times = []
        for _ in range(3):
            start = time.perf_counter()
            undisguised(text, wider=wider)
            times.append(time.perf_counter() - start)
        return min(times)

    assert best(True) < 20 * best(False) + 0.05
