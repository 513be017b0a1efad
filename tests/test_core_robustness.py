"""The serving core on hostile input: regular expressions in linear time, odd texts scored without surprises."""

from __future__ import annotations

import math
import re
import time

import pytest

from model import normalize
from model.claims import cue_counts, split_sentences
from model.policy import ACTIONS
from model.run_patterns import RunPattern

N_CHARS = 5_000
"""Adversarial texts are timed at this length and four times it (20,000 characters, a comment's limit)."""
LINEAR_GROWTH = 8.0
"""Most a linear step's time may grow when its text is four times as long: about 4 when linear, 16 when quadratic."""


def _seconds(function, text: str) -> float:
    """The best of three runs of ``function(text)``, in this process's CPU time: the wall clock counts other
    processes' turns on the cores too (a CI run beside a training run measured a linear step growing 9.8 times)."""
    best = math.inf
    for _ in range(3):
        started = time.process_time()
        function(text)
        best = min(best, time.process_time() - started)
    return best


def _growth(function, unit: str, tail: str) -> float:
    """How many times longer ``function`` takes on ``unit`` repeated to 4 ``N_CHARS`` characters than to ``N_CHARS``,
    ``tail`` after both: the least of three measurements, as other processes may slow any one of them (a few
    milliseconds each when linear)."""
    short, long = (unit * N_CHARS)[:N_CHARS] + tail, (unit * 4 * N_CHARS)[: 4 * N_CHARS] + tail
    _seconds(function, short)  # one-off costs (compiled patterns, caches)
    return min(_seconds(function, long) / _seconds(function, short) for _ in range(3))


def _step(name: str):
    """One normalisation step: ``model.normalize``'s ``name`` substituted as ``normalize`` substitutes it."""
    pattern = getattr(normalize, name)
    repl = dict(normalize._STEPS)[pattern]
    return lambda text: pattern.sub(repl, text)


@pytest.mark.parametrize(("function", "unit", "tail"), [
    # _URL read a run of [a-z0-9.-] to its end from every start: 20,000 characters took 0.41 s.
    (_step("_URL"), "a-", " x.com"),
    (_step("_URL"), "1.", " x.io"),
    # _MASKED likewise for [a-z*#%@$!.]: 0.82 s.
    (_step("_MASKED"), "a.", " #"),
    (_step("_MASKED"), "a$.", " %"),
    # The money cue read a run of [\d,.] from every digit after a separator: 20,000 characters took 2.5 s.
    (lambda text: cue_counts([text], ["money"]), "1.", " $"),
    (lambda text: cue_counts([text], ["money"]), ",5", " €"),
    # named_source read a run of capitals from every capital: 20,000 capitals and " said" took 4.4 s.
    (lambda text: cue_counts([text], ["named_source"]), "A", " said"),
    (lambda text: cue_counts([text], ["named_source"]), "T", " report"),
    # sentencex read back over a run without a blank or a period from every sentence end mark in it: 20,000
    # characters of "A?" took 0.4 s, 100,000 ten seconds (model.claims.MAX_RUN_CHARS).
    (split_sentences, "A?", ""),
    (split_sentences, "?'", ""),
    # Where such a run is cut, nothing may walk back over a run of accents or of flags' letters at each place tried.
    (split_sentences, "\u0301", "!"),
    (split_sentences, "\U0001f1ec\U0001f1e7", "!"),
], ids=["url-dashes", "url-digits", "masked-dots", "masked-symbols", "money-dots", "money-commas", "name-capitals",
        "name-report", "sentences-marks", "sentences-marks-quotes", "sentences-accents", "sentences-flags"])
def test_text_steps_take_time_linear_in_a_run_of_their_characters(function, unit, tail):
    assert _growth(function, unit, tail) < LINEAR_GROWTH


def test_run_pattern_refuses_a_pattern_with_groups():
    with pytest.raises(ValueError, match="no groups"):
        RunPattern(re.compile(r"(a)+b"), run="[a]", start="a", marker="a(?=b)")


def test_run_pattern_substitutes_as_re_does():
    """A template is expanded as ``re.sub`` expands it; a text without a match is given back as it is."""
    pattern = re.compile(r"\b[a-z.]+\.com\b")
    runs = RunPattern(pattern, run="[a-z.]", start=r"\b[a-z.]", marker=r"[a-z.](?=\.com\b)")
    text = "see " + "a." * 40 + "com or b.net and x.com"
    assert runs.sub(r"<\g<0>>", text) == pattern.sub(r"<\g<0>>", text)
    assert runs.sub(lambda match: "URL", text) == pattern.sub("URL", text)
    assert runs.sub("URL", "nothing here") == "nothing here"
    assert runs.findall(text) == pattern.findall(text)


ODD_TEXTS = {
    "empty": "",
    "spaces": "   ",
    "every-space": " \t\n\r\x0b\x0c\x1c\x85\xa0\u1680\u2003\u2028\u2029\u3000",
    "punctuation": "!?.,;:!!!...???" * 20,
    "nul-and-controls": "you idiot\x00 die " + "".join(map(chr, range(32))) + "\x7f" + "".join(map(chr, range(0x80, 0xa0))),
    "combining-marks": "i\u0301d\u0301i\u0301o\u0301t\u0301 you" + "\u0301" * 50,
    "only-combining-marks": "\u0301\u0302\u0303" * 20,
    "right-to-left": "أنت غبي جدا \u202e you idiot \u202c שלום \u200f\u202b",
    "zero-width-everywhere": "\u200b".join("You are an idiot and I will kill you."),
    "only-zero-width": "\u200b\u200c\u200d\ufeff\u2060\u00ad" * 10,
    "emoji-sequences": "👨‍👩‍👧‍👦 you idiot 🏳️‍🌈 👍🏽 🇬🇧 " + "😂" * 200,
    "long-word": "supercalifragilistic" * 300,
    "symbol-run": "@" * 20_000,
    "dot-run": "." * 20_000,
    "crlf-and-tabs": "You are an idiot.\r\nI will kill you.\r\n\r\nThanks.\tBye\t\t\r",
    "expanding-characters": "\ufdfa" * 50 + " ﬁne ǅ İstanbul ſtupid Ⅻ ㎏ 𝐢𝐝𝐢𝐨𝐭 \U000e0041",
    "homoglyphs": "уоu аrе аn іdіоt, Ｆｕｃｋ уоu",
    "long-mention": "@user" + "A" * 100 + " you are an idiot @user_account_that_is_very_long_indeed_and_longer_still",
    # sentencex 1.0.32 panicked on a name initial, a wide space and a period (model.claims._INITIAL_BEFORE_PERIOD)
    "initial-before-wide-space": "We take Plan B\u00a0. Then I will find you and hurt you. Z\u3000. Q\u2028.",
    "url-run": "a-" * 10_000 + " x.com",
    "masked-run": "a." * 10_000 + " #",
    "money-run": "1." * 10_000 + " $",
    "capitals-run": "A" * 19_990 + " said",
}
"""Texts a comment may be (the API refuses NUL characters and unpaired surrogates; ``Scorer`` reads a surrogate as U+FFFD)."""


def assert_valid(text: str, decision) -> None:
    """What every decision must hold: a known action; finite probabilities in [0, 1]; spans inside the text as
    written, not empty; every reason's text the text under its span."""
    assert decision.action in ACTIONS
    for score in decision.scores.values():
        assert math.isfinite(score) and 0.0 <= score <= 1.0
    spans = [span for found in decision.spans.values() for span in found]
    spans += [reason.span for reason in decision.reasons if reason.span is not None]
    for span in spans:
        assert 0 <= span.begin < span.end <= len(text), (span, len(text))
        assert math.isfinite(span.score) and 0.0 <= span.score <= 1.0
    for reason in decision.reasons:
        assert reason.action is None or reason.action in ACTIONS
        if reason.span is not None:
            assert reason.text == text[reason.span.begin : reason.span.end]
    decision.to_dict()


def test_odd_texts_get_valid_decisions(scorer):
    """One at a time and as one batch, with and without spans; the spans do not change the scores."""
    texts = list(ODD_TEXTS.values())
    for text in texts:
        with_spans, = scorer.moderate([text], with_spans=True)
        without, = scorer.moderate([text], with_spans=False)
        assert_valid(text, with_spans)
        assert_valid(text, without)
        assert with_spans.scores == without.scores
    for text, decision in zip(texts, scorer.moderate(texts, with_spans=True), strict=True):
        assert_valid(text, decision)


def test_a_name_initial_before_a_wide_space_and_a_period_is_a_sentence_end(scorer):
    """The texts sentencex panicked on are split where it splits them with an ASCII space, and scored."""
    from model.claims import split_sentences

    text = "We take Plan B\u00a0. Then we left."
    assert [text[begin:end] for begin, end in split_sentences(text)] == ["We take Plan B\u00a0.", "Then we left."]
    assert scorer.moderate([text])[0].action in ACTIONS


@pytest.mark.slow
def test_odd_texts_get_valid_decisions_from_the_committed_bundle():
    """The committed bundle (an encoder reads every text) on the same texts, at most 2,000 characters of each: the
    encoder reads one word piece per symbol, so 20,000 of them take seconds."""
    from model.scoring import Scorer

    scorer = Scorer.load()
    texts = [text[:2_000] for text in ODD_TEXTS.values()]
    for text, decision in zip(texts, scorer.moderate(texts, with_spans=True), strict=True):
        assert_valid(text, decision)
    for text in texts[:: 3]:
        assert_valid(text, scorer.moderate([text], with_spans=True)[0])


def test_unpaired_surrogates_are_scored_as_replacement_characters(scorer):
    """The API refuses them, but a library caller may pass any str: the splitter and tokenizer raised on them."""
    text = "you stupid idiot \ud800 and you \udfff too."
    decision, = scorer.moderate([text], with_spans=True)
    replaced = text.replace("\ud800", "\ufffd").replace("\udfff", "\ufffd")
    assert_valid(replaced, decision)
    assert decision.scores == scorer.moderate([replaced], with_spans=True)[0].scores
