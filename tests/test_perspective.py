"""The Perspective-compatible API through Flask's test client, with Perspective's and Coral's documented requests."""

from __future__ import annotations

import gzip
import json
import posixpath
import re
import time
import urllib.parse
from types import SimpleNamespace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from model.attributes import HOSTILITY_ATTRIBUTES
from service.app import create_app
from service.auth import create_key
from service.config import EXTENSION_KEY
from service.html_text import html_to_text
from service.perspective import ATTRIBUTE_NAMES, AnalyzeRequest, attribute_scores
from service.store import DecisionRecord, Feedback, get_session
from tests.test_api_v1 import CUT_NAME, LONG_NAME

ANALYZE = "/v1alpha1/comments:analyze"
SUGGEST = "/v1alpha1/comments:suggestscore"
HOSTILE = "You are a stupid clown, the minister ignores the vote."
NEUTRAL = "The minister explains the budget and I think that is fair."
PERSPECTIVE_NAMES = {ours: name for name, ours in ATTRIBUTE_NAMES.items()}
HOSTILITY_NAMES = [PERSPECTIVE_NAMES[ours] for ours in HOSTILITY_ATTRIBUTES]


def make_app(bundle_path, db_dir, **config):
    """The app on the tiny bundle with a SQLite database in ``db_dir``."""
    return create_app({"TESTING": True, "MODEL": str(bundle_path), "DB_URL": f"sqlite:///{db_dir}/moderation.db", **config})


def new_key(app) -> str:
    """Create an API key in the app's database and return its secret."""
    with app.app_context():
        return create_key(get_session(), "perspective-test")[1]


@pytest.fixture(scope="module")
def app(tiny_bundle_path, tmp_path_factory):
    return make_app(tiny_bundle_path, tmp_path_factory.mktemp("perspective"))


@pytest.fixture(scope="module")
def client(app):
    return app.test_client()


@pytest.fixture(scope="module")
def key(app):
    return new_key(app)


def analyze(client, key, body, **kwargs):
    """POST a body to comments:analyze with the key in ?key=, Perspective's way."""
    return client.post(f"{ANALYZE}?key={key}", json=body, **kwargs)


def body_for(text=HOSTILE, *attributes, **fields):
    """A documented AnalyzeCommentRequest."""
    return {"comment": {"text": text}, "requestedAttributes": {name: {} for name in attributes or ["TOXICITY"]}, **fields}


def assert_google_error(response, code, status):
    """The response is Google's error shape with this code and status; return the error object."""
    assert response.status_code == code, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    error = response.get_json()["error"]
    assert set(error) == {"code", "message", "status", "details"}
    assert (error["code"], error["status"]) == (code, status)
    assert isinstance(error["message"], str) and error["message"]
    assert isinstance(error["details"], list)
    return error


def count_rows(app, model, **where):
    with app.app_context():
        query = select(func.count()).select_from(model).filter_by(**where)
        return get_session().scalar(query)


# Scores


def test_analyze_returns_perspective_response(client, key, scorer):
    response = analyze(client, key, body_for(HOSTILE, *HOSTILITY_NAMES))
    assert response.status_code == 200
    body = response.get_json()
    assert list(body) == ["attributeScores", "languages", "detectedLanguages"]
    assert (body["languages"], body["detectedLanguages"]) == (["en"], ["en"])
    expected = scorer.moderate([HOSTILE], with_spans=False)[0].scores
    assert list(body["attributeScores"]) == HOSTILITY_NAMES
    for name, scores in body["attributeScores"].items():
        summary = {"value": pytest.approx(expected[ATTRIBUTE_NAMES[name]], abs=1e-6), "type": "PROBABILITY"}
        # As Perspective answers: one span over the whole text with the summary score, which clients read as [0].
        assert scores == {"spanScores": [{"begin": 0, "end": len(HOSTILE), "score": summary}], "summaryScore": summary}
        assert list(scores) == ["spanScores", "summaryScore"]
        assert 0.0 <= scores["summaryScore"]["value"] <= 1.0


def test_hostile_comment_outscores_neutral_one(client, key):
    values = [
        analyze(client, key, body_for(text, "TOXICITY", "INSULT")).get_json()["attributeScores"]
        for text in (HOSTILE, NEUTRAL)
    ]
    for name in ("TOXICITY", "INSULT"):
        assert values[0][name]["summaryScore"]["value"] > values[1][name]["summaryScore"]["value"]


def test_span_annotations_score_each_sentence(client, key, scorer):
    text = "The minister explains the budget. You are a stupid clown! I think that is fair."
    body = analyze(client, key, body_for(text, "TOXICITY", "INSULT", spanAnnotations=True)).get_json()
    sentences = ["The minister explains the budget.", "You are a stupid clown!", "I think that is fair."]
    expected = scorer.predict_scores(sentences)
    for name in ("TOXICITY", "INSULT"):
        spans = body["attributeScores"][name]["spanScores"]
        assert [text[s["begin"]:s["end"]] for s in spans] == sentences
        column = scorer.attributes.index(ATTRIBUTE_NAMES[name])
        assert [s["score"]["value"] for s in spans] == pytest.approx(expected[:, column].tolist(), abs=1e-6)
        assert all(s["score"]["type"] == "PROBABILITY" for s in spans)
    # The hostile sentence outscores the civil ones, as the tiny model ranks them.
    values = [s["score"]["value"] for s in body["attributeScores"]["INSULT"]["spanScores"]]
    assert values[1] == pytest.approx(max(values))


def test_span_annotations_on_one_sentence_give_the_summary_score(client, key):
    scores = analyze(client, key, body_for(HOSTILE, spanAnnotations=True)).get_json()["attributeScores"]["TOXICITY"]
    assert scores["spanScores"] == [{"begin": 0, "end": len(HOSTILE), "score": scores["summaryScore"]}]


def test_span_annotations_never_split_a_character(client, key):
    """The sentence splitter cut between a full stop and the accent drawn on it: the next span began with the accent."""
    text = "He lied.\u0301 You are a stupid clown\U0001f621\U0001f3fd! Nice weather."
    spans = analyze(client, key, body_for(text, spanAnnotations=True)).get_json()["attributeScores"]["TOXICITY"]["spanScores"]
    utf16 = text.encode("utf-16-le")
    assert [utf16[2 * s["begin"]:2 * s["end"]].decode("utf-16-le") for s in spans] == [
        "He lied.\u0301", "You are a stupid clown\U0001f621\U0001f3fd!", "Nice weather."]


def test_span_offsets_count_utf16_code_units_as_javascript_does(client, key):
    text = "\U0001F621\U0001F621 Nice weather. You are a stupid clown."
    spans = analyze(client, key, body_for(text, spanAnnotations=True)).get_json()["attributeScores"]["TOXICITY"]["spanScores"]
    utf16 = text.encode("utf-16-le")
    # Each emoji is two UTF-16 code units: a JavaScript client's text.slice(begin, end) gives the sentence.
    assert [utf16[2 * s["begin"]:2 * s["end"]].decode("utf-16-le") for s in spans][-1] == "You are a stupid clown."
    assert spans[-1]["end"] == len(text) + 2
    whole = analyze(client, key, body_for(text)).get_json()["attributeScores"]["TOXICITY"]["spanScores"]
    assert (whole[0]["begin"], whole[0]["end"]) == (0, len(utf16) // 2)


def _emoji_sentence_scores(n_sentences: int) -> tuple[list[dict], float]:
    """spanScores of a text of ``n_sentences`` sentences "\U0001F621. " (each sentence scored 0.25), and seconds taken."""
    text = "\U0001F621. " * n_sentences
    request = AnalyzeRequest(text=text, thresholds={"TOXICITY": None}, span_annotations=True, languages=[],
                             do_not_store=True, drop_unsupported_attributes=False, client_token=None)
    sentences = [(3 * i, 3 * i + 2, {"toxicity": 0.25}) for i in range(n_sentences)]
    start = time.perf_counter()
    scores = attribute_scores(request, SimpleNamespace(scores={"toxicity": 0.5}), {"TOXICITY": "toxicity"}, sentences)
    return scores["TOXICITY"]["spanScores"], time.perf_counter() - start


def test_span_offsets_take_time_linear_in_the_sentences():
    # Each offset used to count the text's emoji up to it anew: 10,240 sentences of a 20,480-character comment
    # took longer than scoring it. Eight times the sentences must take far less than 64 times as long (the best of
    # three runs each, so that a busy machine's pause in one run does not decide).
    small_seconds = min(_emoji_sentence_scores(500)[1] for _ in range(3))
    large_seconds = min(_emoji_sentence_scores(4_000)[1] for _ in range(3))
    spans, _ = _emoji_sentence_scores(4_000)
    assert spans[-1]["begin"] == 4 * 3_999 and spans[-1]["end"] == 4 * 3_999 + 3  # an emoji is two UTF-16 units
    assert large_seconds < 16 * small_seconds + 0.5


def test_score_threshold_leaves_out_lower_scores(client, key):
    requested = {"TOXICITY": {"scoreThreshold": 0.0}, "INSULT": {"scoreThreshold": 1.0, "scoreType": "PROBABILITY"}}
    body = analyze(client, key, {"comment": {"text": NEUTRAL}, "requestedAttributes": requested}).get_json()
    assert list(body["attributeScores"]) == ["TOXICITY"]


def test_score_threshold_leaves_out_the_spans_under_it_too(client, key, scorer):
    # Google: "Don't return scores for this attribute that are below this threshold" (AttributeParameters), spans too.
    text = "The minister explains the budget. You are a stupid clown! I think that is fair."
    sentences = ["The minister explains the budget.", "You are a stupid clown!", "I think that is fair."]
    column = scorer.attributes.index("insult")
    values = scorer.predict_scores(sentences)[:, column].tolist()
    summary = scorer.moderate([text], with_spans=False)[0].scores["insult"]
    threshold = min(summary, max(values))
    assert min(values) < threshold  # the civil sentences score under it
    requested = {"INSULT": {"scoreThreshold": threshold}}
    scores = analyze(client, key, {"comment": {"text": text}, "requestedAttributes": requested, "spanAnnotations": True}
                     ).get_json()["attributeScores"]["INSULT"]
    kept = [sentence for sentence, value in zip(sentences, values) if value >= threshold]
    assert [text[span["begin"]:span["end"]] for span in scores["spanScores"]] == kept
    assert all(span["score"]["value"] >= round(threshold, 6) for span in scores["spanScores"])
    assert scores["summaryScore"]["value"] == pytest.approx(summary, abs=1e-6)


def test_with_every_span_under_the_threshold_span_scores_are_left_out():
    request = AnalyzeRequest(text="Fine. Rude!", thresholds={"TOXICITY": 0.5}, span_annotations=True, languages=[],
                             do_not_store=True, drop_unsupported_attributes=False, client_token=None)
    sentences = [(0, 5, {"toxicity": 0.2}), (6, 11, {"toxicity": 0.4})]
    scores = attribute_scores(request, SimpleNamespace(scores={"toxicity": 0.6}), {"TOXICITY": "toxicity"}, sentences)
    # As proto3's JSON writes an empty list (left out) and as Perspective answers attributes without spans.
    assert scores == {"TOXICITY": {"summaryScore": {"value": 0.6, "type": "PROBABILITY"}}}
    sentences[1] = (6, 11, {"toxicity": 0.5})
    scores = attribute_scores(request, SimpleNamespace(scores={"toxicity": 0.6}), {"TOXICITY": "toxicity"}, sentences)
    assert scores["TOXICITY"]["spanScores"] == [{"begin": 6, "end": 11, "score": {"value": 0.5, "type": "PROBABILITY"}}]


@pytest.mark.parametrize("method", [ANALYZE, SUGGEST])
def test_one_language_sent_alone_is_read_as_a_list_of_it(app, client, key, method):
    # n8n's Google Perspective node sends its one language as "languages": "en"; Google's front end reads a repeated
    # field given a single value as a list of it (protobuf's JSON parser: "the original ESF parser permits a single
    # element in place of an array"), so Perspective answers it. It was a 400 here.
    n8n = {"comment": {"type": "PLAIN_TEXT", "text": HOSTILE}, "languages": "en",
           "requestedAttributes": {"TOXICITY": {"scoreType": "probability", "scoreThreshold": 0}},
           "attributeScores": {"TOXICITY": {"summaryScore": {"value": 1}}}}
    if method == ANALYZE:
        del n8n["attributeScores"]
    else:
        del n8n["requestedAttributes"]
    response = client.post(f"{method}?key={key}", json=n8n)
    assert response.status_code == 200, response.get_data(as_text=True)
    if method == ANALYZE:
        body = response.get_json()
        assert (body["languages"], list(body["attributeScores"])) == (["en"], ["TOXICITY"])
        french = analyze(client, key, body_for(HOSTILE, languages="fr"))  # read as ["fr"]: refused as Perspective does
        assert "does not support request languages: fr" in french.get_json()["error"]["message"]


def test_client_token_is_echoed(client, key):
    assert analyze(client, key, body_for(clientToken="tok-1")).get_json()["clientToken"] == "tok-1"
    assert "clientToken" not in analyze(client, key, body_for()).get_json()


def test_an_empty_client_token_is_no_token_as_in_proto3(app, client, key):
    # proto3 cannot tell "" from unset and its JSON leaves out a field at its default: Google echoes no empty token.
    assert "clientToken" not in analyze(client, key, body_for(clientToken="")).get_json()
    feedback = {"comment": {"text": NEUTRAL}, "attributeScores": {"THREAT": {"summaryScore": {"value": 0}}}, "clientToken": ""}
    assert client.post(f"{SUGGEST}?key={key}", json=feedback).get_json() == {}
    assert count_rows(app, Feedback, client_token="") == 0  # was stored as a token


@pytest.mark.parametrize(
    ("url", "raw", "where"),
    [
        (ANALYZE, '{"comment": {"text": "Thanks."}, "requestedAttributes": {"TOXICITY": {"scoreThreshold": 0.9}, '
                  '"TOXICITY": {}}}', "requestedAttributes.TOXICITY"),
        (ANALYZE, '{"comment": {"text": "Thanks.", "text": "You idiot."}, "requestedAttributes": {"TOXICITY": {}}}',
         "comment.text"),
        (SUGGEST, '{"comment": {"text": "Thanks."}, "attributeScores": {"TOXICITY": {"summaryScore": {"value": 0}}, '
                  '"TOXICITY": {"summaryScore": {"value": 1}}}}', "attributeScores.TOXICITY"),
    ],
)
def test_a_repeated_attribute_or_field_is_invalid_argument_as_googles_parser_answers(client, key, url, raw, where):
    # protobuf's JSON parser: "got unexpectedly-repeated repeated map key" and "'%s' has already been set"; the last was
    # kept silently here (the threshold of the first TOXICITY was dropped, the second text scored).
    response = client.post(f"{url}?key={key}", data=raw, content_type="application/json")
    error = assert_google_error(response, 400, "INVALID_ARGUMENT")
    assert error["message"] == f"request body gives {where} twice; send each name once in an object"


def test_every_documented_request_field_is_accepted(client, key):
    body = {
        "comment": {"text": HOSTILE, "type": "PLAIN_TEXT"},
        "context": {"entries": [{"text": "Parent comment.", "type": "PLAIN_TEXT"}]},
        "requestedAttributes": {"TOXICITY": {"scoreType": "PROBABILITY", "scoreThreshold": 0.0}},
        "spanAnnotations": True,
        "languages": ["en"],
        "doNotStore": True,
        "clientToken": "t",
        "sessionId": "s",
        "communityId": "c",
    }
    assert analyze(client, key, body).status_code == 200


def test_enum_names_are_read_in_any_case_as_google_reads_them(client, key, scorer):
    # n8n's Google Perspective node sends scoreType "probability"; Google's front end upper-cases an enum name it does
    # not know, so Perspective answers it. Both were a 400 here.
    n8n = {"comment": {"type": "PLAIN_TEXT", "text": HOSTILE},
           "requestedAttributes": {"TOXICITY": {"scoreType": "probability", "scoreThreshold": 0}}}
    assert list(analyze(client, key, n8n).get_json()["attributeScores"]) == ["TOXICITY"]
    html = "<p>You are a <b>stupid</b> clown.</p>"
    body = analyze(client, key, {"comment": {"text": html, "type": "html"}, "requestedAttributes": {"TOXICITY": {}}}).get_json()
    expected = scorer.moderate([html_to_text(html)], with_spans=False)[0].scores["toxicity"]
    assert body["attributeScores"]["TOXICITY"]["summaryScore"]["value"] == pytest.approx(expected, abs=1e-6)


def test_html_comment_is_scored_as_its_text(client, key, scorer):
    html = "<p>You are a <b>stupid</b> clown,</p><p>the minister ignores the vote.</p>"
    body = analyze(client, key, {"comment": {"text": html, "type": "HTML"}, "requestedAttributes": {"TOXICITY": {}}}).get_json()
    expected = scorer.moderate([html_to_text(html)], with_spans=False)[0].scores["toxicity"]
    assert body["attributeScores"]["TOXICITY"]["summaryScore"]["value"] == pytest.approx(expected, abs=1e-6)


def test_html_the_parser_refuses_is_scored_not_answered_500(client, key):
    response = analyze(client, key, {"comment": {"text": "you are an idiot <![<![", "type": "HTML"},
                                     "requestedAttributes": {"TOXICITY": {}}})
    assert response.status_code == 200, response.get_data(as_text=True)


def test_a_score_threshold_may_be_a_numeric_string_as_proto3_json_allows(client, key):
    """Google's front end reads float fields as proto3's JSON mapping does: a number or a string holding one."""
    def scores(threshold):
        body = {"comment": {"text": HOSTILE}, "requestedAttributes": {"TOXICITY": {"scoreThreshold": threshold}}}
        response = analyze(client, key, body)
        assert response.status_code == 200, response.get_data(as_text=True)
        return response.get_json()["attributeScores"]

    assert scores("0.0") == scores(0.0) != {}
    assert scores(0.0)["TOXICITY"]["summaryScore"]["value"] < 1
    assert scores("1") == scores(1) == {}


@pytest.mark.parametrize("span_annotations", [False, True])
def test_an_html_comments_span_covers_the_comment_as_sent(client, key, span_annotations):
    """Span offsets point into the text the client sent: for HTML, the whole comment as sent (UTF-16 units, an emoji
    counts twice), never offsets into its visible text, and no sentence spans, whose offsets would be those."""
    html = "<p>You are a <b>stupid</b> clown &amp; a liar. \U0001F600</p><p>The minister ignores the vote.</p>"
    body = analyze(client, key, {"comment": {"text": html, "type": "HTML"}, "requestedAttributes": {"TOXICITY": {}},
                                 "spanAnnotations": span_annotations}).get_json()
    toxicity = body["attributeScores"]["TOXICITY"]
    assert toxicity["spanScores"] == [{"begin": 0, "end": len(html) + 1, "score": toxicity["summaryScore"]}]


def test_unsupported_claim_is_offered_when_the_bundle_has_it(client, key, scorer):
    response = analyze(client, key, body_for(NEUTRAL, "UNSUPPORTED_CLAIM"))
    if "unsupported_claim" in scorer.attributes:
        value = response.get_json()["attributeScores"]["UNSUPPORTED_CLAIM"]["summaryScore"]["value"]
        assert 0.0 <= value <= 1.0
    else:
        assert_google_error(response, 400, "INVALID_ARGUMENT")


class HostilityOnly:
    """A scorer without the claims head: the real one with ``unsupported_claim`` hidden."""

    def __init__(self, scorer):
        self.scorer = scorer
        self.attributes = tuple(a for a in scorer.attributes if a != "unsupported_claim")
        self.model_version = scorer.model_version

    def moderate(self, texts, with_spans=True):
        return self.scorer.moderate(texts, with_spans=with_spans)


def test_unsupported_claim_is_unknown_without_the_claims_head(app, client, key, scorer, monkeypatch):
    monkeypatch.setitem(app.extensions, EXTENSION_KEY, HostilityOnly(scorer))
    error = assert_google_error(analyze(client, key, body_for(NEUTRAL, "UNSUPPORTED_CLAIM")), 400, "INVALID_ARGUMENT")
    assert "UNSUPPORTED_CLAIM" in error["message"] and "TOXICITY" in error["message"]
    assert analyze(client, key, body_for(NEUTRAL, "TOXICITY")).status_code == 200


# Languages


@pytest.mark.parametrize("languages", [["en"], ["en-US"], ["EN"], []])
def test_english_language_codes_are_accepted(client, key, languages):
    body = analyze(client, key, body_for(languages=languages)).get_json()
    assert body["languages"] == (languages or ["en"])


def test_requested_unsupported_language_is_refused_like_perspective(client, key):
    error = assert_google_error(analyze(client, key, body_for(HOSTILE, "INSULT", languages=["fr"])), 400, "INVALID_ARGUMENT")
    assert error["message"].startswith("Attribute INSULT does not support request languages: fr")
    assert error["details"] == [
        {
            "@type": "type.googleapis.com/google.commentanalyzer.v1alpha1.Error",
            "errorType": "LANGUAGE_NOT_SUPPORTED_BY_ATTRIBUTE",
            "languageNotSupportedByAttributeError": {"requestedLanguages": ["fr"], "attribute": "INSULT"},
        }
    ]


def test_detected_unsupported_language_is_refused(client, key):
    text = "Die Regierung lügt uns alle an und niemand tut etwas dagegen."
    error = assert_google_error(analyze(client, key, body_for(text)), 400, "INVALID_ARGUMENT")
    detail = error["details"][0]
    assert detail["errorType"] == "LANGUAGE_NOT_SUPPORTED_BY_ATTRIBUTE"
    assert detail["languageNotSupportedByAttributeError"] == {"detectedLanguages": ["de"], "attribute": "TOXICITY"}


def test_drop_unsupported_attributes_answers_without_scores(client, key):
    body = analyze(client, key, body_for(HOSTILE, languages=["fr"], dropUnsupportedAttributes=True)).get_json()
    assert body == {"attributeScores": {}, "languages": ["fr"], "detectedLanguages": ["en"]}


def test_drop_unsupported_attributes_leaves_out_attributes_not_offered(client, key):
    # HELM asks for SEXUALLY_EXPLICIT and FLIRTATION beside TOXICITY; with dropUnsupportedAttributes Perspective leaves
    # out what it cannot score instead of failing the request, and so does this service with what it does not offer.
    requested = body_for(HOSTILE, "TOXICITY", "SEXUALLY_EXPLICIT", "FLIRTATION", dropUnsupportedAttributes=True)
    body = analyze(client, key, requested).get_json()
    assert list(body["attributeScores"]) == ["TOXICITY"]
    only_others = analyze(client, key, body_for(HOSTILE, "SEXUALLY_EXPLICIT", dropUnsupportedAttributes=True))
    assert only_others.get_json() == {"attributeScores": {}, "languages": ["en"], "detectedLanguages": ["en"]}
    error = assert_google_error(analyze(client, key, body_for(HOSTILE, "TOXICITY", "SEXUALLY_EXPLICIT")), 400, "INVALID_ARGUMENT")
    assert "'SEXUALLY_EXPLICIT'" in error["message"] and "dropUnsupportedAttributes" in error["message"]


def test_short_comments_are_assumed_english(client, key):
    for text in ("ok", "lol", "u r dum af"):
        assert analyze(client, key, body_for(text)).get_json()["detectedLanguages"] == ["en"]


# Errors


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        ({"requestedAttributes": {"TOXICITY": {}}}, "comment", "comment is required"),
        ({"comment": "hi", "requestedAttributes": {"TOXICITY": {}}}, "comment", "object"),
        ({"comment": {"text": 5}, "requestedAttributes": {"TOXICITY": {}}}, "comment.text", "non-empty string"),
        ({"comment": {"text": "hi", "type": "MARKDOWN"}, "requestedAttributes": {"TOXICITY": {}}}, "comment.type", "HTML"),
        ({"comment": {"text": "hi"}, "requestedAttributes": ["TOXICITY"]}, "requestedAttributes", "object"),
        ({"comment": {"text": "hi"}, "requestedAttributes": {"SPAM": {}}}, "requestedAttributes.SPAM", "unknown attribute"),
        ({"comment": {"text": "hi"}, "requestedAttributes": {"toxicity": {}}}, "requestedAttributes.toxicity", "unknown attribute"),
        ({"comment": {"text": "hi"}, "requestedAttributes": {"TOXICITY": 1}}, "requestedAttributes.TOXICITY", "object"),
        ({"comment": {"text": "hi"}, "requestedAttributes": {"TOXICITY": {"scoreType": "STD_DEV_SCORE"}}}, "requestedAttributes.TOXICITY.scoreType", "PROBABILITY"),
        ({"comment": {"text": "hi"}, "requestedAttributes": {"TOXICITY": {"scoreThreshold": 2}}}, "requestedAttributes.TOXICITY.scoreThreshold", "[0, 1]"),
        ({"comment": {"text": "hi"}, "requestedAttributes": {"TOXICITY": {"scoreThreshold": "1.5"}}}, "requestedAttributes.TOXICITY.scoreThreshold", "[0, 1]"),
        ({"comment": {"text": "hi"}, "requestedAttributes": {"TOXICITY": {"scoreThreshold": "half"}}}, "requestedAttributes.TOXICITY.scoreThreshold", "[0, 1]"),
        ({"comment": {"text": "hi"}, "requestedAttributes": {"TOXICITY": {"scoreThreshold": "NaN"}}}, "requestedAttributes.TOXICITY.scoreThreshold", "[0, 1]"),
        ({"comment": {"text": "hi"}, "requestedAttributes": {"TOXICITY": {"scoreThreshold": True}}}, "requestedAttributes.TOXICITY.scoreThreshold", "[0, 1]"),
        (body_for("hi", spanAnnotations="yes"), "spanAnnotations", "true or false"),
        (body_for("hi", doNotStore=1), "doNotStore", "true or false"),
        (body_for("hi", languages={"en": 1}), "languages", "list"),
        (body_for("hi", languages="not a language"), "languages", "language code"),
        (body_for("hi", languages=["not a language"]), "languages[0]", "language code"),
        (body_for("hi", languages=[7]), "languages[0]", "language code"),
        (body_for("hi", clientToken=7), "clientToken", "string"),
        (body_for("hi", context=[]), "context", "object"),
        (body_for("hi", sessionId={}), "sessionId", "string"),
        ({"comment": {"text": "\ud800 hi"}, "requestedAttributes": {"TOXICITY": {}}}, "comment.text", "surrogate"),
    ],
)
def test_bad_field_is_invalid_argument_naming_it(client, key, body, field, words):
    error = assert_google_error(analyze(client, key, body), 400, "INVALID_ARGUMENT")
    assert words in error["message"]
    assert error["details"] == [
        {"@type": "type.googleapis.com/google.rpc.BadRequest", "fieldViolations": [{"field": field, "description": error["message"]}]}
    ]


@pytest.mark.parametrize(
    ("path", "body", "field", "message"),
    [
        (ANALYZE, {"comment": {"text": "hi"}, "requestedAttributes": {LONG_NAME: {}}}, rf"requestedAttributes\.{CUT_NAME}",
         f"unknown attribute '{CUT_NAME}'; this service offers TOXICITY"),
        (SUGGEST, {"comment": {"text": "hi"}, "attributeScores": {LONG_NAME: {"summaryScore": {"value": 1}}}},
         rf"attributeScores\.{CUT_NAME}", "attribute names are 1 to 64 printable characters"),
        (ANALYZE, {**body_for("hi"), "context": {LONG_NAME: {"doNotStore": True, "do_not_store": True}}},
         rf"context\.{CUT_NAME}\.doNotStore", rf"context\.{CUT_NAME}\.doNotStore is given twice"),
    ],
)
def test_a_name_of_the_clients_is_repeated_cut_short(client, key, path, body, field, message):
    # The whole 100 kB name came back in the message and in the field violation (three times for an attribute).
    response = client.post(f"{path}?key={key}", json=body)
    error = assert_google_error(response, 400, "INVALID_ARGUMENT")
    assert re.match(message, error["message"])
    assert re.fullmatch(field, error["details"][-1]["fieldViolations"][0]["field"])
    assert len(response.get_data()) < 1_000


@pytest.mark.parametrize(
    ("body", "error_type", "field"),
    [
        ({"comment": {"text": "x" * 20_481}, "requestedAttributes": {"TOXICITY": {}}}, "COMMENT_TOO_LONG", "comment.text"),
        ({"comment": {"text": "hi"}}, "NO_REQUESTED_ATTRIBUTES", "requestedAttributes"),
        ({"comment": {"text": "hi"}, "requestedAttributes": {}}, "NO_REQUESTED_ATTRIBUTES", "requestedAttributes"),
    ],
)
def test_perspective_error_types_come_first_in_details(client, key, body, error_type, field):
    # Perspective names these errors in details (its ErrorType enum); clients such as OpenCompass's ToxicEvaluator
    # read details[0].errorType to tell them apart. The field to fix follows.
    error = assert_google_error(analyze(client, key, body), 400, "INVALID_ARGUMENT")
    assert error["details"] == [
        {"@type": "type.googleapis.com/google.commentanalyzer.v1alpha1.Error", "errorType": error_type},
        {"@type": "type.googleapis.com/google.rpc.BadRequest", "fieldViolations": [{"field": field, "description": error["message"]}]},
    ]


@pytest.mark.parametrize(
    "comment",
    [{"text": ""}, {"text": "   \n "}, {"text": "<p> </p><img src='x.png'>", "type": "HTML"},
     {"text": "\u200b\u200b \u2060"},  # invisible characters alone: empty, as the scorer takes them
     {}, {"text": None}],  # proto3's JSON reads a missing or null text as "", as Google's front end does
)
def test_empty_comment_is_comment_empty(client, key, comment):
    error = assert_google_error(analyze(client, key, {"comment": comment, "requestedAttributes": {"TOXICITY": {}}}), 400, "INVALID_ARGUMENT")
    assert error["message"] == "Comment must be non-empty."
    assert error["details"] == [{"@type": "type.googleapis.com/google.commentanalyzer.v1alpha1.Error", "errorType": "COMMENT_EMPTY"}]


def test_text_over_the_configured_cap_is_refused(app, client, key, monkeypatch):
    monkeypatch.setitem(app.config, "PERSPECTIVE_MAX_TEXT_CHARS", 30)
    assert analyze(client, key, body_for("x" * 30)).status_code == 200
    error = assert_google_error(analyze(client, key, body_for("x" * 31)), 400, "INVALID_ARGUMENT")
    assert error["message"] == "comment.text has 31 characters; the limit is 30"


def test_default_cap_takes_whatever_fits_perspectives_20_kb(client, key):
    # Perspective takes 20 KB per request, and clients such as HELM cut texts to 20,480 characters.
    assert analyze(client, key, body_for("Nice park. " * 1861 + "Fine.")).status_code == 200  # 20,476 characters
    error = assert_google_error(analyze(client, key, body_for("x" * 20_481)), 400, "INVALID_ARGUMENT")
    assert "20480" in error["message"]


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (b'{"comment": {"text": "hi"', "not valid JSON"),
        (b"", "empty"),
        (b"\xff\xfe{}", "UTF-8"),
        (b"[1, 2]", "JSON object"),
        (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
        # Within what json.loads takes, but deeper than renaming proto field names may recurse: was a 500.
        (b'{"comment": {"text": "hi"}, "context": {"x": ' + b"[" * 600 + b"]" * 600 + b"}}", "nested too deeply"),
    ],
)
def test_bad_json_is_invalid_argument(client, key, data, words):
    response = client.post(f"{ANALYZE}?key={key}", data=data, content_type="application/json")
    error = assert_google_error(response, 400, "INVALID_ARGUMENT")
    assert words in error["message"]


@pytest.mark.parametrize("url, body", [
    (ANALYZE, body_for()),
    (SUGGEST, {"comment": {"text": NEUTRAL}, "attributeScores": {"TOXICITY": {"summaryScore": {"value": 0.1}}}}),
])
def test_a_gzip_body_is_read_as_googles_java_and_dotnet_clients_send_it(client, key, scorer, url, body):
    # Google's Java and .NET clients compress every call's body (Content-Encoding: gzip) unless told not to, and
    # Google's front end reads it: each of their calls got 415 "send the body uncompressed".
    response = client.post(f"{url}?key={key}", data=gzip.compress(json.dumps(body).encode()),
                           content_type="application/json; charset=UTF-8", headers={"Content-Encoding": "gzip"})
    assert response.status_code == 200, response.get_data(as_text=True)
    if url == ANALYZE:
        expected = scorer.moderate([HOSTILE], with_spans=False)[0].scores["toxicity"]
        assert response.get_json()["attributeScores"]["TOXICITY"]["summaryScore"]["value"] == pytest.approx(expected, abs=1e-6)


@pytest.mark.parametrize(("data", "words"), [
    (gzip.compress(json.dumps(body_for()).encode())[:-9], "not valid gzip (cut short)"),
    (json.dumps(body_for()).encode(), "not valid gzip (incorrect header check)"),
])
def test_a_body_that_says_gzip_and_is_not_is_invalid_argument(client, key, data, words):
    response = client.post(f"{ANALYZE}?key={key}", data=data, content_type="application/json", headers={"Content-Encoding": "gzip"})
    assert words in assert_google_error(response, 400, "INVALID_ARGUMENT")["message"]


def test_a_gzip_body_of_several_members_is_read_whole(client, key, scorer):
    # A gzip file may be several members one after another (RFC 1952 2.2; `cat a.gz b.gz`, gzip.decompress reads it):
    # zlib stopped at the end of the first, and the rest of the body was dropped without a word.
    data = json.dumps(body_for()).encode()
    response = client.post(f"{ANALYZE}?key={key}", data=gzip.compress(data[:20]) + gzip.compress(data[20:]),
                           content_type="application/json", headers={"Content-Encoding": "gzip"})
    assert response.status_code == 200, response.get_data(as_text=True)
    expected = scorer.moderate([HOSTILE], with_spans=False)[0].scores["toxicity"]
    assert response.get_json()["attributeScores"]["TOXICITY"]["summaryScore"]["value"] == pytest.approx(expected, abs=1e-6)


@pytest.mark.parametrize(("data", "words"), [
    (gzip.compress(json.dumps(body_for()).encode()) + b"not gzip", "not valid gzip"),
    (gzip.compress(json.dumps(body_for()).encode()) + gzip.compress(b" " * 10)[:-3], "not valid gzip (cut short)"),
    (gzip.compress(json.dumps(body_for()).encode()) + gzip.compress(b"") * 10_000, "more than 16 gzip members"),
])
def test_what_follows_a_gzip_member_is_read_or_refused(client, key, data, words):
    response = client.post(f"{ANALYZE}?key={key}", data=data, content_type="application/json", headers={"Content-Encoding": "gzip"})
    assert words in assert_google_error(response, 400, "INVALID_ARGUMENT")["message"]


def test_several_gzip_members_count_together_against_the_request_cap(app, client, key, monkeypatch):
    monkeypatch.setitem(app.config, "MAX_CONTENT_LENGTH", 1_000)
    data = json.dumps(body_for("word " * 250)).encode()
    assert 1_000 < len(data) < 2_000
    response = client.post(f"{ANALYZE}?key={key}", data=gzip.compress(data[:800]) + gzip.compress(data[800:]),
                           content_type="application/json", headers={"Content-Encoding": "gzip"})
    assert assert_google_error(response, 413, "INVALID_ARGUMENT")["message"] == "request body is larger than 1000 bytes uncompressed"


def test_a_gzip_body_that_unpacks_past_the_request_cap_is_google_413(app, client, key, monkeypatch):
    # A small body may unpack to gigabytes: it is decompressed no further than a body sent uncompressed may be long.
    monkeypatch.setitem(app.config, "MAX_CONTENT_LENGTH", 1_000)
    data = gzip.compress(json.dumps(body_for("word " * 400)).encode())
    assert len(data) < 1_000
    response = client.post(f"{ANALYZE}?key={key}", data=data, content_type="application/json", headers={"Content-Encoding": "gzip"})
    error = assert_google_error(response, 413, "INVALID_ARGUMENT")
    assert error["message"] == "request body is larger than 1000 bytes uncompressed"


def test_unknown_method_is_google_not_found(client, key):
    error = assert_google_error(client.post(f"/v1alpha1/comments:classify?key={key}", json={}), 404, "NOT_FOUND")
    assert "comments:analyze" in error["message"]


def test_wrong_http_method_is_google_405(client, key):
    response = client.get(f"{ANALYZE}?key={key}")
    assert_google_error(response, 405, "UNIMPLEMENTED")
    assert "POST" in response.headers["Allow"]


def test_body_over_the_request_cap_is_google_413(app, client, key, monkeypatch):
    monkeypatch.setitem(app.config, "MAX_CONTENT_LENGTH", 1_000)
    response = analyze(client, key, body_for("word " * 400))
    error = assert_google_error(response, 413, "INVALID_ARGUMENT")
    assert "1000 bytes" in error["message"]


# Keys and quota


@pytest.mark.parametrize("how", ["query", "bearer", "x-api-key", "x-goog-api-key"])
def test_key_is_accepted_four_ways(client, key, how):
    headers = {"bearer": {"Authorization": f"Bearer {key}"}, "x-api-key": {"X-API-Key": key},
               "x-goog-api-key": {"X-goog-api-key": key}}.get(how, {})
    url = f"{ANALYZE}?key={key}" if how == "query" else ANALYZE
    assert client.post(url, json=body_for(), headers=headers).status_code == 200


def test_missing_key_is_unauthenticated(client):
    response = client.post(ANALYZE, json=body_for())
    assert_google_error(response, 401, "UNAUTHENTICATED")
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize("url", [ANALYZE, SUGGEST])
def test_bad_key_is_permission_denied(client, url):
    error = assert_google_error(client.post(f"{url}?key=mod_not-a-key", json=body_for()), 403, "PERMISSION_DENIED")
    assert error["details"][0]["@type"] == "type.googleapis.com/google.rpc.ErrorInfo"


def test_over_quota_is_resource_exhausted(tiny_bundle_path, tmp_path):
    limited = make_app(tiny_bundle_path, tmp_path, RATE_LIMIT="2 per minute")
    client, key = limited.test_client(), new_key(limited)
    assert [analyze(client, key, body_for()).status_code for _ in range(2)] == [200, 200]
    response = analyze(client, key, body_for())
    error = assert_google_error(response, 429, "RESOURCE_EXHAUSTED")
    assert error["details"][0]["reason"] == "RATE_LIMIT_EXCEEDED"
    assert int(response.headers["Retry-After"]) >= 1


# Storage


def test_analyze_logs_the_decision_unless_do_not_store(app, client, key):
    before = count_rows(app, DecisionRecord, surface="perspective")
    analyze(client, key, body_for(HOSTILE, doNotStore=True))
    assert count_rows(app, DecisionRecord, surface="perspective") == before
    analyze(client, key, body_for(HOSTILE))
    assert count_rows(app, DecisionRecord, surface="perspective") == before + 1


def test_suggestscore_stores_feedback_and_echoes_client_token(app, client, key):
    body = {
        "comment": {"text": HOSTILE},
        # A float field may come as a string holding a number, as proto3's JSON mapping allows.
        "attributeScores": {"TOXICITY": {"summaryScore": {"value": "0.9"}}, "INSULT": {"summaryScore": {"value": 1}}},
        "languages": ["en"],
        "clientToken": "suggest-1",
    }
    response = client.post(f"{SUGGEST}?key={key}", json=body)
    assert (response.status_code, response.get_json()) == (200, {"clientToken": "suggest-1"})
    with app.app_context():
        stored = get_session().scalar(select(Feedback).where(Feedback.client_token == "suggest-1"))
    assert (stored.text, stored.labels, stored.source, stored.decision) == (
        HOSTILE,
        {"toxicity": 0.9, "insult": 1.0},
        "perspective:suggestscore",
        None,
    )


def test_suggestscore_keeps_free_form_labels_and_span_only_suggestions(app, client, key):
    body = {"comment": {"text": NEUTRAL}, "clientToken": "suggest-2", "attributeScores": {
        "ATTACK_ON_AUTHOR": {"summaryScore": {"value": 0.2}},
        "INSULT": {"spanScores": [{"begin": 0, "end": 5, "score": {"value": 0.1}}, {"begin": 6, "end": 9, "score": {"value": 0.7}}]}}}
    assert client.post(f"{SUGGEST}?key={key}", json=body).status_code == 200
    with app.app_context():
        stored = get_session().scalar(select(Feedback).where(Feedback.client_token == "suggest-2"))
    # Perspective takes any label name; a comment has what its most hostile span has.
    assert stored.labels == {"ATTACK_ON_AUTHOR": 0.2, "insult": 0.7}


def test_snake_case_field_names_are_read_as_google_clients_send_them(app, client, key):
    before = count_rows(app, DecisionRecord, surface="perspective")
    body = {"comment": {"text": HOSTILE}, "requested_attributes": {"TOXICITY": {"score_threshold": 0.0}},
            "do_not_store": True, "client_token": "snake", "span_annotations": True, "session_id": "s"}
    answer = analyze(client, key, body).get_json()
    assert answer["clientToken"] == "snake" and answer["attributeScores"]["TOXICITY"]["spanScores"]
    assert count_rows(app, DecisionRecord, surface="perspective") == before  # do_not_store was honoured
    feedback = {"comment": {"text": HOSTILE}, "attribute_scores": {"TOXICITY": {"summary_score": {"value": 1}}},
                "client_token": "snake-2"}
    assert client.post(f"{SUGGEST}?key={key}", json=feedback).get_json() == {"clientToken": "snake-2"}


def test_suggestscore_without_client_token_answers_empty(client, key):
    body = {"comment": {"text": NEUTRAL}, "attributeScores": {"THREAT": {"summaryScore": {"value": 0}}}}
    response = client.post(f"{SUGGEST}?key={key}", json=body)
    assert (response.status_code, response.get_json()) == (200, {})


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"comment": {"text": "hi"}}, "attributeScores"),
        ({"comment": {"text": "hi"}, "attributeScores": {}}, "attributeScores"),
        ({"comment": {"text": "hi"}, "attributeScores": {"": {"summaryScore": {"value": 1}}}}, "attributeScores."),
        ({"comment": {"text": "hi"}, "attributeScores": {"X" * 65: {"summaryScore": {"value": 1}}}}, "attributeScores." + "X" * 65),
        ({"comment": {"text": "hi"}, "attributeScores": {"decision": {"summaryScore": {"value": 1}}}}, "attributeScores.decision"),
        ({"comment": {"text": "hi"}, "attributeScores": {"TOXICITY": {"spanScores": [{"score": {"value": 2}}]}}},
         "attributeScores.TOXICITY.spanScores[0].score.value"),
        ({"comment": {"text": "hi"}, "attributeScores": {"APPROVED": {"summaryScore": {"value": 1}},
                                                         "DELETED": {"summaryScore": {"value": 1}}}}, "attributeScores"),
        ({"comment": {"text": "hi"}, "attributeScores": {"TOXICITY": {"summaryScore": {"value": 1}}},
          "clientToken": "a", "client_token": "b"}, "clientToken"),
        ({"comment": {"text": "hi"}, "attributeScores": {"TOXICITY": {"summaryScore": {"value": 1.5}}}}, "attributeScores.TOXICITY.summaryScore.value"),
        ({"comment": {"text": "hi"}, "attributeScores": {"TOXICITY": {}}}, "attributeScores.TOXICITY.summaryScore.value"),
        ({"comment": {"text": "hi"}, "attributeScores": {"TOXICITY": 0.5}}, "attributeScores.TOXICITY.summaryScore.value"),
        ({"attributeScores": {"TOXICITY": {"summaryScore": {"value": 1}}}}, "comment"),
        ({"comment": {"text": "hi"}, "attributeScores": {"TOXICITY": {"summaryScore": {"value": 1}}}, "clientToken": []}, "clientToken"),
    ],
)
def test_suggestscore_bad_field_is_invalid_argument(app, client, key, body, field):
    before = count_rows(app, Feedback)
    error = assert_google_error(client.post(f"{SUGGEST}?key={key}", json=body), 400, "INVALID_ARGUMENT")
    assert error["details"][0]["fieldViolations"][0]["field"] == field
    assert count_rows(app, Feedback) == before


def test_suggestscore_marking_a_hostility_but_not_toxicity_is_refused_naming_both(app, client, key):
    before = count_rows(app, Feedback)
    body = {"comment": {"text": HOSTILE}, "attributeScores": {"TOXICITY": {"summaryScore": {"value": 0.1}},
                                                              "INSULT": {"summaryScore": {"value": 0.9}}}}
    error = assert_google_error(client.post(f"{SUGGEST}?key={key}", json=body), 400, "INVALID_ARGUMENT")
    violation = error["details"][0]["fieldViolations"][0]
    assert violation["field"] == "attributeScores.INSULT"
    assert "TOXICITY is 0.1" in violation["description"] and "INSULT is 0.9" in violation["description"]
    assert count_rows(app, Feedback) == before
    # names the export writes as ours are refused as ours: "Insult" would be trained on as insult
    for names, field in ((("Toxicity", "Insult"), "Insult"), (("TOXICITY", "identity attack"), "identity attack")):
        body["attributeScores"] = {names[0]: {"summaryScore": {"value": 0.1}}, names[1]: {"summaryScore": {"value": 0.9}}}
        error = assert_google_error(client.post(f"{SUGGEST}?key={key}", json=body), 400, "INVALID_ARGUMENT")
        assert error["details"][0]["fieldViolations"][0]["field"] == f"attributeScores.{field}"
        assert f"{names[0]} is 0.1" in error["message"] and f"{field} is 0.9" in error["message"]
    assert count_rows(app, Feedback) == before
    # the same hostility with toxicity not given, or given as present, is stored as before
    for scores in ({"INSULT": 0.9}, {"TOXICITY": 0.5, "INSULT": 0.9}):
        body["attributeScores"] = {name: {"summaryScore": {"value": value}} for name, value in scores.items()}
        assert client.post(f"{SUGGEST}?key={key}", json=body).status_code == 200
    assert count_rows(app, Feedback) == before + 2


def test_suggestscore_needs_a_key(client):
    assert_google_error(client.post(SUGGEST, json={}), 401, "UNAUTHENTICATED")


# Coral Talk's toxic-comment filter with its Perspective endpoint set to this service


def coral_perspective_url(endpoint: str, operation: str, key: str) -> str:
    """The URL Coral builds (services/perspective/perspective.ts): ``path.join(pathname, "/" + op)`` and ``?key=``."""
    parts = urllib.parse.urlsplit(endpoint.strip())
    path = posixpath.normpath(posixpath.join(parts.path or "/", f"./{operation}"))
    return urllib.parse.urlunsplit(("", "", path, urllib.parse.urlencode({"key": key}), ""))


@pytest.mark.parametrize("endpoint", ["http://localhost/v1alpha1", "http://localhost/v1alpha1/"])
def test_coral_toxic_filter_request_is_answered(client, key, endpoint):
    # Coral's formatBody for comments:analyze, with its defaults: model TOXICITY, doNotStore true, locale en-US.
    body = {"comment": {"text": HOSTILE}, "doNotStore": True, "requestedAttributes": {"TOXICITY": {}}, "languages": ["en"]}
    url = coral_perspective_url(endpoint, "comments:analyze", key)
    assert url.startswith(ANALYZE)
    response = client.post(url, data=json.dumps(body), headers={"Content-Type": "application/json"})
    assert response.status_code == 200
    score = response.get_json()["attributeScores"]["TOXICITY"]["summaryScore"]["value"]  # what toxic.ts reads
    assert 0.0 <= score <= 1.0


@pytest.mark.parametrize("status, decision", [("DELETED", "reject"), ("APPROVED", "approve")])
def test_coral_suggestscore_request_is_stored(app, client, key, status, decision):
    # Coral's body for comments:suggestscore after a moderator rejects or approves comment c-1
    # (notifyPerspectiveModerationDecision: the status is the attribute, languages ["EN"]).
    context = {"url": "https://news.example/story?commentID=c-1", "reply_to_id_Coral_comment_id": None, "Coral_comment_id": "c-1"}
    body = {
        "comment": {"text": HOSTILE},
        "context": {"entries": [{"text": json.dumps(context)}]},
        "attributeScores": {status: {"summaryScore": {"value": 1}}},
        "languages": ["EN"],
        "communityId": "Coral:https://news.example",
        "clientToken": f"comment:c-1-{status}",
    }
    response = client.post(coral_perspective_url("http://localhost/v1alpha1", "comments:suggestscore", key), json=body)
    assert (response.status_code, response.get_json()) == (200, {"clientToken": f"comment:c-1-{status}"})
    with app.app_context():
        stored = get_session().scalar(select(Feedback).where(Feedback.client_token == f"comment:c-1-{status}"))
    assert (stored.decision, stored.labels, stored.text) == (decision, None, HOSTILE)


# Fuzz: malformed bodies are 4xx, never 5xx


def json_values():
    """Any JSON value, small."""
    scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20)
    return st.recursive(scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4), max_leaves=12)


def perspective_like_bodies():
    """Bodies shaped like Perspective requests with any field replaced by any JSON value."""
    field_names = ["comment", "requestedAttributes", "attributeScores", "languages", "spanAnnotations", "doNotStore", "clientToken", "context"]
    fields = st.dictionaries(st.sampled_from(field_names), json_values(), max_size=6)
    comment = st.fixed_dictionaries({}, optional={"text": json_values() | st.text(max_size=40), "type": json_values()})
    requested = st.dictionaries(st.sampled_from([*ATTRIBUTE_NAMES, "SPAM", ""]), json_values(), max_size=3)
    return st.tuples(fields, comment, requested).map(lambda t: {"comment": t[1], "requestedAttributes": t[2], **t[0]})


def raw_bodies():
    """Byte strings: JSON of any shape, Perspective-like JSON, or arbitrary bytes."""
    return json_values().map(lambda v: json.dumps(v).encode()) | perspective_like_bodies().map(lambda v: json.dumps(v).encode()) | st.binary(max_size=60)


@pytest.fixture(scope="module")
def fuzz_app(tiny_bundle_path, tmp_path_factory):
    return make_app(tiny_bundle_path, tmp_path_factory.mktemp("fuzz"), RATE_LIMIT="100000 per minute")


@pytest.fixture(scope="module")
def fuzz_key(fuzz_app):
    return new_key(fuzz_app)


@settings(max_examples=200, deadline=None, derandomize=True, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=raw_bodies(), url=st.sampled_from([ANALYZE, SUGGEST]))
def test_fuzzed_bodies_get_4xx_never_5xx(fuzz_app, fuzz_key, data, url):
    response = fuzz_app.test_client().post(f"{url}?key={fuzz_key}", data=data, content_type="application/json")
    assert response.status_code < 500, (data, response.get_data(as_text=True))
    if response.status_code >= 400:
        assert_google_error(response, response.status_code, response.get_json()["error"]["status"])


def test_app_still_answers_after_fuzzing(fuzz_app, fuzz_key):
    assert analyze(fuzz_app.test_client(), fuzz_key, body_for()).status_code == 200
