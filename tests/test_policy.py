"""Policy phases: order, annotation versus decision, thresholds from the policy file."""

import pytest

from model.policy import Policy, PolicyError, decide, load_policy, span_floor_warnings
from model.results import Span

POLICY = Policy(reject={"severe_toxicity": 0.8, "threat": 0.8}, review={"toxicity": 0.5, "insult": 0.6})
CALM = {"toxicity": 0.1, "severe_toxicity": 0.0, "insult": 0.05, "threat": 0.0}


@pytest.mark.parametrize(
    ("scores", "expected", "codes"),
    [
        (CALM, "approve", []),
        ({**CALM, "toxicity": 0.7}, "review", ["toxicity"]),
        ({**CALM, "toxicity": 0.7, "insult": 0.9}, "review", ["toxicity", "insult"]),
        ({**CALM, "threat": 0.95, "toxicity": 0.9}, "reject", ["threat"]),
        ({**CALM, "toxicity": 0.5}, "review", ["toxicity"]),  # the threshold itself counts
    ],
)
def test_phases(scores, expected, codes):
    action, reasons = decide("some text", scores, {}, POLICY)
    assert action == expected
    assert [r.code for r in reasons] == codes


@pytest.mark.parametrize("attribute", ["severe_toxicity", "toxicity", "unsupported_claim"])
def test_a_nan_score_reaches_no_threshold(attribute):
    """NaN is no probability: it rejected (``NaN < threshold`` is false) with a reason whose score was NaN, which is
    not JSON. It counts as a missing score; the other scores still decide."""
    policy = Policy(reject=POLICY.reject, review={**POLICY.review, "unsupported_claim": 0.5})
    assert decide("some text", {**CALM, attribute: float("nan")}, {}, policy) == ("approve", ())
    action, reasons = decide("some text", {**CALM, attribute: float("nan"), "insult": 0.9}, {}, policy)
    assert (action, [r.code for r in reasons]) == ("review", ["insult"])


def test_a_threat_phrase_reason_leaves_a_nan_threat_score_out():
    action, (reason,) = decide("I will kill you", {**CALM, "threat": float("nan")}, {}, POLICY)
    assert (action, reason.code, reason.score) == ("review", "threat_phrase", None)


def test_empty_text_is_approved_whatever_the_scores():
    action, reasons = decide("   ", {**CALM, "threat": 0.99}, {}, POLICY)
    assert (action, [r.code for r in reasons]) == ("approve", ["empty"])


def test_reason_names_attribute_score_threshold_and_span():
    text = "you idiot"
    action, (reason,) = decide(text, {**CALM, "insult": 0.9}, {"insult": [Span(4, 9, 0.95)]}, POLICY)
    assert action == "review"
    assert (reason.attribute, reason.score, reason.threshold, reason.text) == ("insult", 0.9, 0.6, "idiot")
    assert reason.to_dict()["span"] == {"begin": 4, "end": 9, "score": 0.95}


def test_policy_file_round_trip(tmp_path):
    path = tmp_path / "policy.toml"
    path.write_text(POLICY.to_toml())
    loaded = load_policy(path)
    assert (dict(loaded.reject), dict(loaded.review)) == (dict(POLICY.reject), dict(POLICY.review))


THRESHOLDS = "[reject]\nthreat = 0.8\n[review]\ntoxicity = 0.5\n"
"""A policy file's thresholds, before its [spans] section in the cases below."""


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("[review]\ntoxicity = 1.5\n", "must be a probability"),
        ("[review]\ntoxicity = 'high'\n", "must be a probability"),
        ("[block]\ntoxicity = 0.5\n", "unknown section"),
        ("[review\n", "not valid TOML"),
        # found in review: each was taken without a word (or crashed with an AttributeError), and served as written
        ("reject = 0.9\n[review]\ntoxicity = 0.5\n", r"reject must be a \[reject\] section of `attribute = probability`"),
        ("[reject]\ntoxicty = 0.9\n[review]\n", r"\[reject\] toxicty is not an attribute; use one of toxicity, "),
        ("[reject]\nthreat = 0.9\n", r"no \[review\] section; add one"),
        ("[review]\ntoxicity = 0.5\n", r"no \[reject\] section; add one"),
        ("", r"no \[reject\] section"),
        ("[reject]\ntoxicity = 0.8\n[review]\ntoxicity = 0.9\n",
         r"\[review\] toxicity = 0.9 is above \[reject\] toxicity = 0.8, .* make \[review\] toxicity at most 0.8"),
        # [spans]: a site's word-span floor in place of the bundle's
        (THRESHOLDS + "[spans]\nflor = 0.2\n", r"\[spans\] has unknown key\(s\) \['flor'\]; it takes only `floor = probability`"),
        (THRESHOLDS + "[spans]\nfloor = 0.2\nattribute = 'toxicity'\n", r"\[spans\] has unknown key\(s\) \['attribute'\]"),
        (THRESHOLDS + "[spans]\nfloor = '0.2'\n", r"\[spans\] floor must be a probability in \[0, 1\] \(such as 0.2\), got '0.2'"),
        (THRESHOLDS + "[spans]\nfloor = nan\n", r"\[spans\] floor must be a probability in \[0, 1\] .*got nan"),
        (THRESHOLDS + "[spans]\nfloor = 1.5\n", r"\[spans\] floor must be a probability in \[0, 1\] .*got 1.5"),
        (THRESHOLDS + "[spans]\nfloor = -0.1\n", r"\[spans\] floor must be a probability in \[0, 1\] .*got -0.1"),
        (THRESHOLDS + "[spans]\nfloor = 10\n", r"\[spans\] floor must be a probability in \[0, 1\] .*got 10"),
        (THRESHOLDS + "[spans]\nfloor = true\n", r"\[spans\] floor must be a probability in \[0, 1\] .*got True"),
        (THRESHOLDS + "[spans]\n", r"\[spans\] has no floor; add a `floor = probability` line, or remove the section"),
        ("spans = 0.2\n" + THRESHOLDS, r"spans must be a \[spans\] section with a `floor = probability` line, got spans = 0.2"),
        (THRESHOLDS + "[span]\nfloor = 0.2\n", r"unknown section\(s\) \['span'\]; use \[reject\] and \[review\], and optionally \[spans\]"),
    ],
)
def test_bad_policy_files_are_refused(tmp_path, content, message):
    path = tmp_path / "policy.toml"
    path.write_text(content)
    with pytest.raises(PolicyError, match=message) as refused:
        load_policy(path)
    assert str(refused.value).startswith(f"policy file {path}")


def test_empty_sections_and_equal_thresholds_are_a_policy(tmp_path):
    """An empty section is how a file says "no score sends a comment there"; a review threshold may equal the reject one."""
    path = tmp_path / "policy.toml"
    path.write_text("[reject]\n\n[review]\n")
    assert (dict(load_policy(path).reject), dict(load_policy(path).review)) == ({}, {})
    path.write_text("[reject]\ntoxicity = 0.9\n[review]\ntoxicity = 0.9\nunsupported_claim = 1\n")
    assert dict(load_policy(path).review) == {"toxicity": 0.9, "unsupported_claim": 1.0}


def test_missing_policy_file(tmp_path):
    with pytest.raises(PolicyError, match="not found"):
        load_policy(tmp_path / "nope.toml")


# [spans]: a site's word-span floor in place of the bundle's (spans never change a decision; clients highlight them).


@pytest.mark.parametrize(("section", "floor"), [("", None), ("[spans]\nfloor = 0.2\n", 0.2), ("[spans]\nfloor = 0\n", 0.0),
                                                ("[spans]\nfloor = 1\n", 1.0)])
def test_a_spans_section_sets_the_span_floor(tmp_path, section, floor):
    """Without ``[spans]`` the bundle's own floor applies (``None``); a whole number is a probability as in the other sections."""
    path = tmp_path / "policy.toml"
    path.write_text(THRESHOLDS + section)
    policy = load_policy(path)
    assert policy.span_floor == floor and (floor is None or isinstance(policy.span_floor, float))
    assert (dict(policy.reject), dict(policy.review)) == ({"threat": 0.8}, {"toxicity": 0.5})


def test_a_span_floor_round_trips_and_is_written_only_when_set(tmp_path):
    path = tmp_path / "policy.toml"
    floored = Policy(POLICY.reject, POLICY.review, span_floor=0.25)
    path.write_text(floored.to_toml())
    loaded = load_policy(path)
    assert (dict(loaded.reject), dict(loaded.review), loaded.span_floor) == (dict(POLICY.reject), dict(POLICY.review), 0.25)
    assert "[spans]" not in POLICY.to_toml()  # a bundle's policy.toml is written as before
    path.write_text(POLICY.to_toml())
    assert load_policy(path).span_floor is None


def floored_policy(tmp_path, thresholds: str, floor: float | None) -> Policy:
    """The policy file of ``thresholds`` and, unless ``floor`` is None, a ``[spans]`` floor, as loaded."""
    path = tmp_path / "site-policy.toml"
    path.write_text(thresholds + ("" if floor is None else f"[spans]\nfloor = {floor}\n"), encoding="utf-8")
    return load_policy(path)


def test_a_span_floor_above_a_review_threshold_is_warned_about_naming_file_attribute_and_values(tmp_path):
    """A comment sent to review for insult at 0.32 to 0.5 got a reason and no marked words, and nothing said so."""
    policy = floored_policy(tmp_path, "[reject]\nthreat = 0.8\n[review]\ninsult = 0.32\ntoxicity = 0.5\n", 0.5)
    (warning,) = span_floor_warnings(policy)
    assert warning == (
        f"policy file {tmp_path / 'site-policy.toml'}: [spans] floor = 0.5 is above [review] insult = 0.32, so comments "
        "sent to review for insult at a score from 0.32 to 0.5 show no marked words (no word spans below the floor; "
        "decisions are unchanged); lower the floor to at most 0.32, or remove [spans] to keep the bundle's span floor"
    )


def test_a_span_floor_above_reject_thresholds_names_both_sections_and_the_lowest_threshold(tmp_path):
    policy = floored_policy(tmp_path, "[reject]\ninsult = 0.4\nthreat = 0.3\n[review]\ninsult = 0.2\nthreat = 0.3\n", 0.5)
    insult, threat = span_floor_warnings(policy)  # in model.attributes order
    assert "[spans] floor = 0.5 is above [review] insult = 0.2 and [reject] insult = 0.4, so comments sent to review " \
           "for insult at a score from 0.2 to 0.4 or rejected for insult at a score from 0.4 to 0.5 show no marked words" in insult
    assert "lower the floor to at most 0.2," in insult
    # review = reject: a score that reaches it is rejected, so no comment is sent to review for threat
    assert "so comments rejected for threat at a score from 0.3 to 0.5 show no marked words" in threat


@pytest.mark.parametrize("floor", [None, 0.0, 0.2, 0.32])
def test_a_span_floor_at_or_below_every_hostility_threshold_or_none_is_not_warned_about(tmp_path, floor):
    policy = floored_policy(tmp_path, "[reject]\nthreat = 0.8\n[review]\ninsult = 0.32\ntoxicity = 0.5\n", floor)
    assert span_floor_warnings(policy) == []


def test_an_unsupported_claim_threshold_below_the_span_floor_is_not_warned_about(tmp_path):
    """Claim spans are the claim sentences, which no span floor holds back (tests/test_score_policy.py: a floor of
    nearly 1 leaves them), so a claim sent to review under the floor still shows its sentence."""
    policy = floored_policy(tmp_path, "[reject]\nthreat = 0.8\n[review]\nunsupported_claim = 0.2\n", 0.5)
    assert span_floor_warnings(policy) == []


CLAIMS = Policy(reject={"threat": 0.8}, review={"toxicity": 0.5, "unsupported_claim": 0.4})


@pytest.mark.parametrize(
    ("scores", "expected", "codes"),
    [
        ({"toxicity": 0.1, "threat": 0.0, "unsupported_claim": 0.9}, "review", ["unsupported_claim"]),
        ({"toxicity": 0.1, "threat": 0.0, "unsupported_claim": 1.0}, "review", ["unsupported_claim"]),
        ({"toxicity": 0.7, "threat": 0.0, "unsupported_claim": 0.9}, "review", ["toxicity", "unsupported_claim"]),
        ({"toxicity": 0.9, "threat": 0.9, "unsupported_claim": 0.9}, "reject", ["threat"]),
        ({"toxicity": 0.1, "threat": 0.0, "unsupported_claim": 0.2}, "approve", []),
    ],
)
def test_unsupported_claims_go_to_review_never_to_reject(scores, expected, codes):
    text = "Turkey paid 2.5 billion in secret in 2015. Idiots."
    spans = {"unsupported_claim": [Span(0, 42, 0.9)]}
    action, reasons = decide(text, scores, spans, CLAIMS)
    assert action == expected
    assert [r.code for r in reasons] == codes
    claim = [r for r in reasons if r.code == "unsupported_claim"]
    if claim:
        assert claim[0].action == "review"
        assert claim[0].text == "Turkey paid 2.5 billion in secret in 2015."


def test_policy_file_cannot_reject_on_an_unsupported_claim(tmp_path):
    path = tmp_path / "policy.toml"
    path.write_text("[reject]\nunsupported_claim = 0.9\n")
    with pytest.raises(PolicyError, match="never reject"):
        load_policy(path)


# Threat phrases: an explicit threat goes to a human whatever its threat score, and never rejects on its own.

THREAT_TEXT = "Nice article. I will find you and hurt you."


def test_threat_phrase_phase_sits_between_reject_and_review():
    from model.policy import PHASES, reject_hostility, review_hostility, review_threat_phrase

    assert PHASES.index(reject_hostility) < PHASES.index(review_threat_phrase) < PHASES.index(review_hostility)


def test_threat_phrase_sends_to_review_with_a_reason_naming_threat_score_and_span():
    from model.results import Decision

    action, reasons = decide(THREAT_TEXT, {**CALM, "threat": 0.003}, {}, POLICY)
    assert (action, [r.code for r in reasons]) == ("review", ["threat_phrase"])
    assert reasons[0].to_dict() == {
        "code": "threat_phrase", "action": "review", "attribute": "threat", "score": 0.003,
        "text": "I will find you and hurt you", "span": {"begin": 14, "end": 42, "score": 1.0},
    }
    assert THREAT_TEXT[14:42] == "I will find you and hurt you"
    assert Decision(action, reasons, {**CALM, "threat": 0.003}).to_dict()["reasons"] == [reasons[0].to_dict()]


def test_threat_phrase_reason_without_a_threat_score_leaves_the_score_out():
    _, (reason,) = decide(THREAT_TEXT, {"toxicity": 0.1}, {}, POLICY)
    assert "score" not in reason.to_dict() and "threshold" not in reason.to_dict()


@pytest.mark.parametrize("threat", [0.0, 0.5, 0.79])
def test_threat_phrase_never_rejects_on_its_own(threat):
    action, reasons = decide(THREAT_TEXT, {**CALM, "threat": threat, "severe_toxicity": 0.79}, {}, POLICY)
    assert action == "review"
    assert all(r.action == "review" for r in reasons)


def test_a_rejected_threat_stays_rejected_with_the_models_reasons():
    action, reasons = decide(THREAT_TEXT, {**CALM, "threat": 0.95}, {"threat": [Span(14, 42, 0.9)]}, POLICY)
    assert (action, [r.code for r in reasons]) == ("reject", ["threat"])


def test_threat_phrase_comes_first_among_review_reasons():
    _, reasons = decide(THREAT_TEXT, {**CALM, "toxicity": 0.7}, {}, POLICY)
    assert [r.code for r in reasons] == ["threat_phrase", "toxicity"]


def test_threat_and_unsupported_claim_get_both_reasons():
    text = "Turkey paid 2.5 billion in secret in 2015. I will find you and hurt you."
    spans = {"unsupported_claim": [Span(0, 42, 0.9)]}
    action, reasons = decide(text, {"toxicity": 0.1, "threat": 0.0, "unsupported_claim": 0.9}, spans, CLAIMS)
    assert (action, [r.code for r in reasons]) == ("review", ["threat_phrase", "unsupported_claim"])
    assert [r.text for r in reasons] == ["I will find you and hurt you", "Turkey paid 2.5 billion in secret in 2015."]


@pytest.mark.parametrize(
    "text",
    [
        "This deal will kill the economy.",
        "The tax will hurt families.",
        "I will vote against you.",
        "They should be fired.",
        "The government will pay for this.",
        "Kill the bill.",
        "I'd kill for a coffee.",
        "The virus kills people.",
        "The gunman threatened to shoot them.",
        "He said he would kill her.",
    ],
)
def test_civil_comments_with_violent_words_are_approved(text):
    assert decide(text, CALM, {}, POLICY) == ("approve", ())


def test_a_site_policy_that_leaves_out_an_attribute_the_bundle_acts_on_is_warned_about(tmp_path):
    # A site's file with only toxicity thresholds turned off the flagging of unsupported claims (the headline feature)
    # and of insults without a word at start; the server approved them.
    from service.app import policy_warnings

    from model.bundle import default_bundle_path

    bundle = default_bundle_path()
    site = tmp_path / "site-policy.toml"
    site.write_text("[reject]\ntoxicity = 0.95\n\n[review]\ntoxicity = 0.5\nthreat = 0.3\n")
    warnings = policy_warnings({"POLICY": str(site)}, bundle)
    dropped = sorted(warning.split(" sets no threshold for ")[1].split(",")[0] for warning in warnings)
    assert dropped == ["identity_attack", "insult", "profanity", "severe_toxicity", "unsupported_claim"]
    assert any(f"{site} sets no threshold for unsupported_claim, which the bundle's own policy reviews at 0.480" in warning
               for warning in warnings)
    assert policy_warnings({"POLICY": None}, bundle) == []  # the bundle's own policy: nothing left out
