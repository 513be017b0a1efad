"""Policy phases: order, annotation versus decision, thresholds from the policy file."""

import pytest

from model.policy import Policy, PolicyError, decide, load_policy
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


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("[review]\ntoxicity = 1.5\n", "must be a probability"),
        ("[review]\ntoxicity = 'high'\n", "must be a probability"),
        ("[block]\ntoxicity = 0.5\n", "unknown section"),
        ("[review\n", "not valid TOML"),
    ],
)
def test_bad_policy_files_are_refused(tmp_path, content, message):
    path = tmp_path / "policy.toml"
    path.write_text(content)
    with pytest.raises(PolicyError, match=message):
        load_policy(path)


def test_missing_policy_file(tmp_path):
    with pytest.raises(PolicyError, match="not found"):
        load_policy(tmp_path / "nope.toml")


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
