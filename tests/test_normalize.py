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
