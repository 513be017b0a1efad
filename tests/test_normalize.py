"""The normalisation transformer: obfuscations undone, offsets pointing back into the raw text."""

import pytest
from sklearn.base import clone

from model.normalize import TextNormalizer, normalize, normalize_with_offsets


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
    ],
)
def test_obfuscations_are_undone(raw, expected):
    assert normalize(raw) == expected


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


def test_spaced_letters_map_to_the_whole_raw_word():
    raw = "you i d i o t"
    normalised, offsets = normalize_with_offsets(raw)
    begin = normalised.index("idiot")
    assert raw[offsets[begin] : offsets[begin + 4] + 1] == "i d i o t"


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
