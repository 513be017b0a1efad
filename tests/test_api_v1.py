"""The /v1 API through Flask's test client, on the tiny bundle: moderate, feedback, model, health."""

from __future__ import annotations

import io
import json
import re

import pytest
from sqlalchemy import func, select

from model.attributes import ATTRIBUTES
from model.bundle import BundleError
from service.app import create_app
from service.store import DecisionRecord, Feedback, get_session, sha256_text

HOSTILE = "You are a stupid clown, the minister ignores the vote."
ONE_BODY = '{"comments": [{"id": "a", "text": "Thanks."}]}'


@pytest.mark.parametrize("content_type", ["application/json", "application/x-www-form-urlencoded"])
@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be", "utf-32", "utf-32-le", "utf-32-be"])
def test_a_utf16_or_utf32_body_is_told_to_send_utf8(client, auth, encoding, content_type):
    # Was "not valid UTF-8 (byte 0)" with a byte order mark, and without one "not valid JSON: Expecting property name".
    # With curl -d's form type (a file Notepad saved as "Unicode"), it was told it is "a form, not JSON".
    wide = encoding[:6].upper()
    response = client.post("/v1/moderate", data=ONE_BODY.encode(encoding), content_type=content_type, headers=auth)
    assert response.status_code == 400
    assert response.get_json()["error"] == {
        "code": "invalid_request", "message": f"request body is {wide}; send the JSON encoded as UTF-8, not {wide}"}


@pytest.mark.parametrize(
    ("path", "raw", "where"),
    [
        ("/v1/moderate", '{"comments": [{"id": "a", "text": "Thanks.", "text": "You idiot."}]}', "comments[0].text"),
        ("/v1/moderate", '{"comments": [{"id": "a", "text": "Fine."}, {"id": "b", "id": "c", "text": "Fine."}]}', "comments[1].id"),
        ("/v1/moderate", '{"comments": [{"id": "a", "text": "Fine."}], "comments": [{"id": "b", "text": "You idiot."}]}', "comments"),
        ("/v1/moderate", '{"comments": [{"id": "a", "text": "Fine.", "context": {"parent_text": "x", "parent_text": "y"}}]}',
         "comments[0].context.parent_text"),
        ("/v1/moderate", '{"comments": [{"id": "a", "text": "Fine."}], "do_not_store": true, "do_not_store": false}', "do_not_store"),
        ("/v1/feedback", '{"comment_id": "a", "decision": "approve", "decision": "reject"}', "decision"),
        ("/v1/feedback", '{"comment_id": "a", "labels": {"toxicity": 0, "toxicity": 1}}', "labels.toxicity"),
    ],
)
def test_a_name_given_twice_in_an_object_is_refused_naming_it(app, client, auth, path, raw, where):
    # The last one counted, silently: a proxy that reads the first (as many parsers do) checked another text than the one
    # scored, and a moderator's decision or label was whichever came last.
    response = client.post(path, data=raw, content_type="application/json", headers=auth)
    assert response.status_code == 400
    assert response.get_json()["error"] == {
        "code": "invalid_request", "message": f"request body gives {where} twice; send each name once in an object"}
    assert count(app, DecisionRecord) == count(app, Feedback) == 0


def test_the_same_names_in_different_objects_are_read_as_usual(moderate):
    body = {"comments": [{"id": "a", "text": "Fine.", "context": {"parent_text": "Fine."}}, {"id": "b", "text": "Fine."}]}
    assert moderate(body).status_code == 200


NEUTRAL = "The council supports the plan and I think that is fair."


@pytest.fixture
def moderate(client, auth):
    """POST a body to /v1/moderate with a valid key."""
    return lambda body: client.post("/v1/moderate", json=body, headers=auth)


def open_app(tiny_bundle_path, **config):
    """An app on the tiny bundle and a fresh in-memory database, keys not required, with ``config``."""
    return create_app({"TESTING": True, "MODEL": str(tiny_bundle_path), "DB_URL": "sqlite://", "AUTH_REQUIRED": False, **config})


def count(app, table) -> int:
    with app.app_context():
        return get_session().scalar(select(func.count()).select_from(table))


def test_a_policy_span_floor_is_served_and_reported(tiny_bundle_path, scorer, tmp_path):
    """A site's [spans] floor (POLICY) reaches /v1/moderate through the scoring core, and /v1/model reports it in place of
    the bundle's: a client reading span_thresholds was told of a floor the server no longer applied."""
    own = scorer.moderate([HOSTILE])[0]
    marked = [own.scores[attribute] for attribute in own.spans if attribute != "unsupported_claim"]
    assert marked and max(marked) < 1.0, own.spans
    floor = max(marked) + (1.0 - max(marked)) / 2  # above every score the bundle's floor marks words of
    path = tmp_path / "site-policy.toml"
    path.write_text(scorer.policy.to_toml() + f"\n[spans]\nfloor = {floor!r}\n", encoding="utf-8")
    client = open_app(tiny_bundle_path, POLICY=str(path)).test_client()
    served = client.post("/v1/moderate", json={"comments": [{"id": "h", "text": HOSTILE}]}).get_json()["results"][0]
    assert served["decision"] == own.action and served["scores"] == pytest.approx(own.scores, abs=1e-6)  # 6 decimals
    assert [span["attribute"] for span in served["spans"]] == [a for a in own.spans if a == "unsupported_claim"]
    reported = client.get("/v1/model").get_json()["card"]["span_thresholds"]
    assert reported == {**scorer.bundle.model.span_thresholds, "comment_floor": floor}
    bundle_floor = open_app(tiny_bundle_path).test_client().get("/v1/model").get_json()["card"]["span_thresholds"]
    assert bundle_floor == scorer.bundle.model.span_thresholds  # without [spans]: the bundle's, as before


def test_the_model_card_reports_the_thresholds_of_the_served_policy(tiny_bundle_path, scorer, tmp_path):
    """With a site's POLICY, /v1/model gave the bundle's own thresholds, which the server was not applying."""
    from model.policy import Policy

    site = Policy({name: min(1.0, value + 0.005) for name, value in scorer.policy.reject.items()},
                  {name: value / 2 for name, value in scorer.policy.review.items()})
    path = tmp_path / "site-policy.toml"
    path.write_text(site.to_toml(), encoding="utf-8")
    card = open_app(tiny_bundle_path, POLICY=str(path)).test_client().get("/v1/model").get_json()["card"]
    assert card["thresholds"] == {"reject": pytest.approx(dict(site.reject), abs=1e-4),
                                  "review": pytest.approx(dict(site.review), abs=1e-4)}  # to_toml writes 4 decimals
    assert card["thresholds"]["review"] != pytest.approx(dict(scorer.policy.review), abs=1e-4)
    own = open_app(tiny_bundle_path).test_client().get("/v1/model").get_json()["card"]["thresholds"]
    assert own == {"reject": dict(scorer.policy.reject), "review": dict(scorer.policy.review)}


def test_results_follow_input_order_with_scores_and_decisions(moderate, scorer):
    comments = [{"id": "n", "text": NEUTRAL}, {"id": "h", "text": HOSTILE}, {"id": "e", "text": ""}]
    response = moderate({"comments": comments})
    assert response.status_code == 200
    body = response.get_json()
    assert body["model_version"] == scorer.model_version
    assert body["request_id"] == response.headers["X-Request-ID"]
    assert [r["id"] for r in body["results"]] == ["n", "h", "e"]
    for result in body["results"]:
        assert set(result) == {"id", "decision", "scores", "reasons", "spans"}
        assert list(result["scores"]) == list(scorer.attributes)
        assert all(0.0 <= s <= 1.0 for s in result["scores"].values())
        assert result["decision"] in {"approve", "review", "reject"}
    neutral, hostile, empty = body["results"]
    assert hostile["scores"]["toxicity"] > neutral["scores"]["toxicity"]
    assert hostile["decision"] != "approve" and neutral["decision"] == "approve"
    assert any(span["attribute"] == "toxicity" for span in hostile["spans"])
    assert empty["decision"] == "approve" and [r["code"] for r in empty["reasons"]] == ["empty"]


def test_results_are_the_scorers_decisions(moderate, scorer):
    texts = [HOSTILE, NEUTRAL, "I will kill you, the editor delays the treaty."]
    response = moderate({"comments": [{"id": str(i), "text": t} for i, t in enumerate(texts)]})
    expected = [{"id": str(i), **d.to_dict()} for i, d in enumerate(scorer.moderate(texts))]
    assert response.get_json()["results"] == expected


def test_the_limits_themselves_are_accepted(moderate):
    comments = [{"id": f"c{i}", "text": "x" * 20_000 if i == 0 else "ok"} for i in range(100)]
    comments[1]["id"] = "i" * 256
    comments[2]["context"] = {"parent_text": "p" * 20_000, "story_url": "https://example.org/" + "s" * 2_000}
    response = moderate({"comments": comments})
    assert response.status_code == 200
    assert len(response.get_json()["results"]) == 100


def test_body_is_read_as_json_whatever_the_content_type(client, auth):
    body = json.dumps({"comments": [{"id": "a", "text": NEUTRAL}]})
    response = client.post("/v1/moderate", data=body, content_type="text/plain", headers=auth)
    assert response.status_code == 200


@pytest.mark.parametrize(
    ("path", "example"),
    [("/v1/moderate", '{"comments": [{"id": "c1", "text": "..."}]}'), ("/v1/feedback", '{"comment_id": "c1", "text": "You are an idiot.", "decision": "reject"')],
)
@pytest.mark.parametrize("with_file", [False, True])
def test_a_form_post_is_told_to_send_json(client, auth, path, example, with_file):
    # A CMS posting a form (PHP's CURLOPT_POSTFIELDS with an array) was told "not valid JSON: Expecting value at line 1 column 1".
    form = {"comments": (io.BytesIO(b"{}"), "comments.json")} if with_file else {"comment_id": "c1", "decision": "reject"}
    response = client.post(path, data=form, headers=auth)
    assert response.status_code == 400
    message = response.get_json()["error"]["message"]
    assert re.match(r"request body is a form \((application/x-www-form-urlencoded|multipart/form-data)\), not JSON: send JSON like ", message)
    assert example in message and message.endswith("with Content-Type: application/json")


def test_json_posted_as_a_form_is_read_as_json(client, auth):
    body = json.dumps({"comments": [{"id": "a", "text": NEUTRAL}]})  # curl -d sends this Content-Type
    assert client.post("/v1/moderate", data=body, content_type="application/x-www-form-urlencoded", headers=auth).status_code == 200


@pytest.mark.parametrize(
    ("body", "message"),
    [('{"comments": [{"id": "a", "text": "x", "text": "y"}]}', "request body gives comments[0].text twice"),
     ('\ufeff {"comments": [{"id": "a", "text": "x"}]', "request body is not valid JSON: ")],
)
def test_json_with_a_mistake_posted_as_a_form_is_told_the_mistake(client, auth, body, message):
    # curl -d sends JSON as application/x-www-form-urlencoded: a name given twice, or a bracket missing, was answered
    # "request body is a form, not JSON", which the client's JSON is not.
    response = client.post("/v1/moderate", data=body.encode("utf-8"), content_type="application/x-www-form-urlencoded",
                           headers=auth)
    assert response.status_code == 400
    assert response.get_json()["error"]["message"].startswith(message)


@pytest.mark.parametrize("path", ["/v1/moderate", "/v1/feedback"])
def test_a_compressed_body_gets_415_saying_to_send_it_uncompressed(client, auth, path):
    import gzip

    body = gzip.compress(json.dumps({"comments": [{"id": "a", "text": NEUTRAL}]}).encode())
    response = client.post(path, data=body, content_type="application/json", headers={**auth, "Content-Encoding": "gzip"})
    assert response.status_code == 415  # not 400 "request body is not valid UTF-8 (byte 1)"
    assert response.get_json()["error"] == {"code": "unsupported_content_encoding",
                                            "message": "Content-Encoding 'gzip' is not supported; send the body uncompressed"}


def test_an_identity_content_encoding_is_read_as_usual(client, auth):
    body = json.dumps({"comments": [{"id": "a", "text": NEUTRAL}]})
    response = client.post("/v1/moderate", data=body, content_type="application/json", headers={**auth, "Content-Encoding": "identity"})
    assert response.status_code == 200


def test_repeated_ids_are_answered_when_nothing_is_logged(client, auth):
    """The repeat is refused for feedback's sake (its id would name two logged texts); do_not_store logs none."""
    body = {"comments": [{"id": "x", "text": "fine"}, {"id": "x", "text": "also fine"}], "do_not_store": True}
    response = client.post("/v1/moderate", json=body, headers=auth)
    assert response.status_code == 200 and [result["id"] for result in response.get_json()["results"]] == ["x", "x"]
    assert client.post("/v1/moderate", json={**body, "do_not_store": False}, headers=auth).status_code == 400


def comments_with(index: int, comment) -> dict:
    """A body whose comment number ``index`` is ``comment`` and the others are fine."""
    return {"comments": [{"id": f"c{i}", "text": "fine"} for i in range(index)] + [comment]}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "request body is empty"),
        (b"{", "request body is not valid JSON: Expecting property name enclosed in double quotes at line 1 column 2"),
        (b'{"comments": [}', "request body is not valid JSON"),
        (b"caf\xe9", "request body is not valid UTF-8 (byte 3)"),
        (b'{"comments": [{"id": "a", "text": "caf\xe9"}]}', "request body is not valid UTF-8"),
        (b"[" * 100_000, "request body is nested too deeply"),
        (b'{"comments": ' + b"1" * 5_000 + b"}", "request body is not acceptable JSON: Exceeds the limit (4300 digits)"),
        (b'{"comments": [{"id": "a", "text": "\\ud800"}]}', "comments[0].text contains an unpaired surrogate at character 0"),
        ([], "request body must be a JSON object"),
        ("comments", "request body must be a JSON object"),
        (b"null", "request body must be a JSON object"),
        (b"42", "request body must be a JSON object"),
        ({}, "comments is required"),
        ({"comment": []}, "comments is required"),
        ({"comments": None}, "comments must be a list"),
        ({"comments": {"id": "a", "text": "b"}}, "comments must be a list"),
        ({"comments": "hello"}, "comments must be a list"),
        ({"comments": []}, "comments must not be empty"),
        ({"comments": [{"id": str(i), "text": "a"} for i in range(101)]}, "comments has 101 items; the limit is 100 per request"),
        (comments_with(2, "hello"), "comments[2] must be an object with id and text"),
        (comments_with(0, None), "comments[0] must be an object with id and text"),
        (comments_with(1, ["c1", "text"]), "comments[1] must be an object with id and text"),
        (comments_with(2, {"text": "a"}), "comments[2].id must be a non-empty string"),
        (comments_with(2, {"id": 3, "text": "a"}), "comments[2].id must be a non-empty string"),
        (comments_with(2, {"id": "", "text": "a"}), "comments[2].id must be a non-empty string"),
        (comments_with(2, {"id": "c2"}), "comments[2].text must be a string"),
        (comments_with(2, {"id": "c2", "text": None}), "comments[2].text must be a string"),
        (comments_with(2, {"id": "c2", "text": 5}), "comments[2].text must be a string"),
        (comments_with(2, {"id": "c2", "text": ["a"]}), "comments[2].text must be a string"),
        (comments_with(3, {"id": "c3", "text": "x" * 20_001}), "comments[3].text has 20001 characters; the limit is 20000"),
        (comments_with(1, {"id": "i" * 257, "text": "a"}), "comments[1].id has 257 characters; the limit is 256"),
        (comments_with(1, {"id": "c1", "text": "a", "author": "x"}), "comments[1].author is not a known field"),
        # Feedback names a comment by its id: with two texts under one id it could train on the wrong one.
        (comments_with(3, {"id": "c1", "text": "a"}), "comments[3].id repeats comments[1].id; give each comment of a request its own id"),
        (comments_with(1, {"id": "c1", "text": "a", "context": "story"}), "comments[1].context must be an object"),
        (comments_with(1, {"id": "c1", "text": "a", "context": {"parent_text": 3}}), "comments[1].context.parent_text must be a string"),
        (comments_with(1, {"id": "c1", "text": "a", "context": {"story_url": "u" * 2_049}}), "comments[1].context.story_url has 2049 characters"),
        (comments_with(1, {"id": "c1", "text": "a", "context": {"parents": []}}), "comments[1].context.parents is not a known field"),
        ({"comments": [{"id": "a", "text": "b"}], "do_not_store": "yes"}, "do_not_store must be true or false"),
        ({"comments": [{"id": "a", "text": "b"}], "do_not_store": 1}, "do_not_store must be true or false"),
        ({"comments": [{"id": "a", "text": "b"}], "do_not_store": None}, "do_not_store must be true or false"),
        ({"comments": [{"id": "a", "text": "b"}], "": 1}, '"" is not a known field'),
        ({"comments": [{"id": "a", "text": "b"}], "do_not_stroe": True}, "do_not_stroe is not a known field"),
        ({"comments": [{"id": "a"}, {"text": 1}]}, "comments[0].text must be a string; comments[1].id must be a non-empty string; comments[1].text must be a string"),
        ({"comments": [{"id": 1}] * 5}, "comments[0].id must be a non-empty string; comments[0].text must be a string; comments[1].id must be a non-empty string (and 7 more)"),
    ],
)
def test_bad_requests_get_400_naming_the_field(client, auth, body, message):
    if isinstance(body, bytes):
        response = client.post("/v1/moderate", data=body, content_type="application/json", headers=auth)
    else:
        response = client.post("/v1/moderate", json=body, headers=auth)
    assert response.status_code == 400
    assert response.is_json
    error = response.get_json()["error"]
    assert error["code"] == "invalid_request"
    assert error["message"].startswith(message)


def test_too_many_comments_are_refused_for_their_number_before_any_is_validated(moderate, monkeypatch):
    from service import schemas

    validated = []
    monkeypatch.setattr(schemas.CommentSchema, "_deserialize", lambda self, *args, **kwargs: validated.append(1) or {})
    response = moderate({"comments": [{"id": 1, "text": None}] * 101})
    assert response.status_code == 400
    assert response.get_json()["error"]["message"] == "comments has 101 items; the limit is 100 per request"
    assert validated == []


UNKNOWN_NAMES = [f"{letter}{i}" for i, letter in enumerate("zyxwvutsrqponmlkjihg")]
"""20 unknown field names, not in alphabetical order: marshmallow lists unknown fields in set order."""


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"comments": [{"id": "a", "text": "b"}], **dict.fromkeys(UNKNOWN_NAMES, 1)},
         "z0 is not a known field; y1 is not a known field; x2 is not a known field (and 17 more)"),
        ({"comments": [{"id": "a", "text": "b", **dict.fromkeys(UNKNOWN_NAMES, 1)}]},
         "comments[0].z0 is not a known field; comments[0].y1 is not a known field; comments[0].x2 is not a known field (and 17 more)"),
    ],
)
def test_unknown_fields_are_named_in_the_order_the_body_has_them(moderate, body, message):
    """The same request gets the same message from every worker, whatever its hash seed."""
    assert moderate(body).get_json()["error"]["message"] == message


MANY_NAMES = [f"k{i}" for i in range(20_000)]
"""Unknown names by the thousand: 600,000 of them fit in MAX_CONTENT_LENGTH, and took 5 s of a worker to be refused."""


@pytest.mark.parametrize(
    ("path", "body", "message"),
    [
        ("/v1/moderate", {"comments": [{"id": "a", "text": "b"}], **dict.fromkeys(MANY_NAMES, 1)},
         "k0 is not a known field; k1 is not a known field; k2 is not a known field (and 19997 more)"),
        ("/v1/moderate", {**dict.fromkeys(MANY_NAMES, 1), "comments": [{"id": 1, "text": "b"}]},
         "comments[0].id must be a non-empty string; k0 is not a known field; k1 is not a known field (and 19998 more)"),
        ("/v1/moderate", {"comments": [{"id": "a", "text": "b"}, {"id": "b", "text": "c", **dict.fromkeys(MANY_NAMES, 1)}]},
         "comments[1].k0 is not a known field; comments[1].k1 is not a known field; comments[1].k2 is not a known field (and 19997 more)"),
        ("/v1/moderate", {"comments": [{"id": "a", "text": "b", "context": {**dict.fromkeys(MANY_NAMES, 1), "parent_text": 3}}]},
         "comments[0].context.parent_text must be a string; comments[0].context.k0 is not a known field; "
         "comments[0].context.k1 is not a known field (and 19998 more)"),
        ("/v1/feedback", {"comment_id": "c1", "decision": "reject", **dict.fromkeys(MANY_NAMES, 1)},
         "k0 is not a known field; k1 is not a known field; k2 is not a known field (and 19997 more)"),
        ("/v1/feedback", {"comment_id": "c1", "labels": {"toxicity": 2, **dict.fromkeys(MANY_NAMES, 1)}},
         "labels.toxicity must be a probability between 0 and 1; labels.k0 is not an attribute; use one of "
         f"{', '.join(ATTRIBUTES)}; labels.k1 is not an attribute; use one of {', '.join(ATTRIBUTES)} (and 19998 more)"),
    ],
)
def test_many_unknown_names_are_refused_naming_the_first_without_going_through_each(client, auth, monkeypatch, path, body, message):
    # Each unknown name went through marshmallow's error store and into the message's list, one by one.
    from service import schemas

    shown = []
    monkeypatch.setattr(schemas, "shown_name", lambda name: shown.append(name) or name)
    response = client.post(path, json=body, headers=auth)
    assert response.status_code == 400
    assert response.get_json()["error"]["message"] == message
    assert len(shown) <= 10


LONG_NAME = "k" * 100_000
"""A key name a client may send in a body of 100 kB: an error message repeated it whole."""
CUT_NAME = r"k+…"
"""How a message shows ``LONG_NAME``: its start and an ellipsis."""


@pytest.mark.parametrize(
    ("path", "body", "message"),
    [
        ("/v1/moderate", {"comments": [{"id": "a", "text": "b"}], LONG_NAME: 1}, f"{CUT_NAME} is not a known field"),
        ("/v1/moderate", {"comments": [{"id": "a", "text": "b", LONG_NAME: 1}]}, rf"comments\[0\]\.{CUT_NAME} is not a known field"),
        ("/v1/moderate", {"comments": [{"id": "a", "text": "b", "context": {LONG_NAME: 1}}]},
         rf"comments\[0\]\.context\.{CUT_NAME} is not a known field"),
        ("/v1/feedback", {"comment_id": "c1", "labels": {LONG_NAME: 1}}, rf"labels\.{CUT_NAME} is not an attribute; use one of toxicity"),
    ],
)
def test_an_unknown_name_is_repeated_cut_short(client, auth, path, body, message):
    # The whole 100 kB name came back in the 400 answer.
    response = client.post(path, json=body, headers=auth)
    assert response.status_code == 400
    assert re.match(message, response.get_json()["error"]["message"])
    assert len(response.get_data()) < 1_000


def test_empty_text_is_valid_and_approved(moderate):
    response = moderate({"comments": [{"id": "a", "text": ""}]})
    assert response.status_code == 200
    (result,) = response.get_json()["results"]
    assert result["decision"] == "approve"
    assert result["reasons"][0]["code"] == "empty"


def test_healthz_reports_the_loaded_model(client, scorer):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok", "model_version": scorer.model_version}


def test_unknown_path_is_json_404(client):
    response = client.get("/v1/nothing")
    assert response.status_code == 404
    assert response.is_json
    assert response.get_json()["error"]["code"] == "not_found"


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [("get", "/v1/moderate", "POST"), ("get", "/v1/feedback", "POST"), ("post", "/v1/model", "GET"), ("post", "/healthz", "GET")],
)
def test_wrong_method_is_json_405_with_allow(client, method, path, allowed):
    response = getattr(client, method)(path)
    assert response.status_code == 405
    assert response.is_json
    assert response.get_json()["error"]["code"] == "method_not_allowed"
    assert allowed in response.headers["Allow"]


def test_body_over_max_content_length_is_json_413(tiny_bundle_path):
    client = open_app(tiny_bundle_path, MAX_CONTENT_LENGTH=1_000).test_client()
    response = client.post("/v1/moderate", json={"comments": [{"id": "a", "text": "x" * 2_000}]})
    assert response.status_code == 413
    assert response.is_json
    assert response.get_json()["error"] == {
        "code": "request_entity_too_large",
        "message": "request body is larger than 1000 bytes; send fewer comments per request",
    }


def test_a_feedback_over_max_content_length_is_not_told_to_send_fewer_comments(tiny_bundle_path):
    # A feedback is one comment: "send fewer comments per request" gave its sender nothing to do.
    client = open_app(tiny_bundle_path, MAX_CONTENT_LENGTH=1_000).test_client()
    response = client.post("/v1/feedback", json={"comment_id": "a", "decision": "reject", "text": "x" * 2_000})
    assert response.status_code == 413
    assert response.get_json()["error"] == {
        "code": "request_entity_too_large",
        "message": "request body is larger than 1000 bytes; a feedback is one comment, whose text may have 20000 "
                   "characters: send a shorter text, or the comment_id alone",
    }


def chunked_post(client, path: str, body: bytes, content_type: str = "application/json", headers: dict | None = None):
    """POST ``body`` without a Content-Length, as gunicorn passes a chunked request (a stream it says is terminated)."""
    return client.post(path, input_stream=io.BytesIO(body), content_type=content_type,
                       headers={"Transfer-Encoding": "chunked", **(headers or {})}, environ_overrides={"wsgi.input_terminated": True})


@pytest.mark.parametrize("path", ["/v1/moderate", "/v1/feedback"])
def test_a_chunked_body_over_max_content_length_is_json_413(tiny_bundle_path, path):
    # Werkzeug cut such a body at the limit, and the JSON cut short got 400 "not valid JSON: Unterminated string".
    client = open_app(tiny_bundle_path, MAX_CONTENT_LENGTH=1_000).test_client()
    response = chunked_post(client, path, json.dumps({"comment_id": "a", "text": "x" * 2_000, "decision": "reject"}).encode())
    assert response.status_code == 413
    assert response.get_json()["error"]["code"] == "request_entity_too_large"


def test_a_chunked_body_of_max_content_length_is_read_whole(tiny_bundle_path):
    client = open_app(tiny_bundle_path, MAX_CONTENT_LENGTH=1_000).test_client()
    empty = json.dumps({"comments": [{"id": "a", "text": ""}]})
    body = json.dumps({"comments": [{"id": "a", "text": "x" * (1_000 - len(empty))}]}).encode()
    assert len(body) == 1_000
    assert chunked_post(client, "/v1/moderate", body).status_code == 200


def test_more_text_than_max_request_chars_is_413_and_nothing_is_scored(app, moderate):
    # 100 comments at MAX_COMMENT_CHARS took minutes to score, past gunicorn's TIMEOUT_SECONDS: the worker was killed
    # mid-request and the client got a dropped connection. The request is refused whole, before any scoring.
    limit, longest = app.config["MAX_REQUEST_CHARS"], app.config["MAX_COMMENT_CHARS"]
    texts = ["@" * longest] * (limit // longest) + ["@" * (limit % longest)]
    over = moderate({"comments": [{"id": str(i), "text": text} for i, text in enumerate([*texts, "@"])]})
    assert over.status_code == 413 and over.is_json
    assert over.get_json()["error"] == {
        "code": "too_much_text",
        "message": f"this request has {limit + 1} characters of comment text to score; the limit is {limit} per "
                   "request (MAX_REQUEST_CHARS): send its comments in several requests",
    }
    assert count(app, DecisionRecord) == 0
    at_limit = moderate({"comments": [{"id": str(i), "text": text} for i, text in enumerate(texts)]})
    assert at_limit.status_code == 200 and len(at_limit.get_json()["results"]) == len(texts)


def test_environment_overrides_defaults_and_config_overrides_environment(monkeypatch, tiny_bundle_path):
    monkeypatch.setenv("MODERATION_MAX_COMMENTS_PER_REQUEST", "2")
    monkeypatch.setenv("MODERATION_MODEL", str(tiny_bundle_path))
    monkeypatch.setenv("MODERATION_PORT", "9000")
    monkeypatch.setenv("MODERATION_AUTH_REQUIRED", "false")
    app = create_app({"TESTING": True, "PORT": 9001, "DB_URL": "sqlite://"})
    assert app.config["AUTH_REQUIRED"] is False
    assert app.config["MAX_COMMENTS_PER_REQUEST"] == 2
    assert app.config["PORT"] == 9001
    response = app.test_client().post("/v1/moderate", json={"comments": [{"id": str(i), "text": "a"} for i in range(3)]})
    assert response.get_json()["error"]["message"] == "comments has 3 items; the limit is 2 per request"


def test_a_bad_bundle_fails_create_app(tmp_path):
    with pytest.raises(BundleError, match="not found"):
        create_app({"MODEL": str(tmp_path / "missing"), "DB_URL": "sqlite://"})


def test_decisions_are_logged_with_hash_not_text(app, moderate, scorer):
    response = moderate({"comments": [{"id": "h", "text": HOSTILE}, {"id": "n", "text": NEUTRAL}]})
    assert response.status_code == 200
    with app.app_context():
        rows = get_session().scalars(select(DecisionRecord).order_by(DecisionRecord.id)).all()
        assert [(r.comment_id, r.text_sha256, r.text, r.surface) for r in rows] == [
            ("h", sha256_text(HOSTILE), None, "v1"),
            ("n", sha256_text(NEUTRAL), None, "v1"),
        ]
        results = response.get_json()["results"]
        assert [r.decision for r in rows] == [result["decision"] for result in results]
        assert rows[0].scores == results[0]["scores"]
        assert rows[0].model_version == scorer.model_version
        assert rows[0].request_id == response.headers["X-Request-ID"]
        assert rows[0].api_key_id is not None


def test_do_not_store_keeps_nothing(app, moderate):
    response = moderate({"comments": [{"id": "h", "text": HOSTILE}], "do_not_store": True})
    assert response.status_code == 200
    assert response.get_json()["results"][0]["decision"] != "approve"
    assert count(app, DecisionRecord) == 0


def test_store_text_keeps_the_text(tiny_bundle_path):
    app = open_app(tiny_bundle_path, STORE_TEXT=True)
    assert app.test_client().post("/v1/moderate", json={"comments": [{"id": "h", "text": HOSTILE}]}).status_code == 200
    with app.app_context():
        assert get_session().scalar(select(DecisionRecord.text)) == HOSTILE


def test_client_request_id_is_honoured_and_a_bad_one_replaced(moderate, client, auth):
    body = {"comments": [{"id": "a", "text": NEUTRAL}]}
    given = client.post("/v1/moderate", json=body, headers={**auth, "X-Request-ID": "cms-42.a:b"})
    assert given.headers["X-Request-ID"] == given.get_json()["request_id"] == "cms-42.a:b"
    forged = client.post("/v1/moderate", json=body, headers={**auth, "X-Request-ID": "x\u00e9" + "y" * 200})
    assert forged.headers["X-Request-ID"] != "x\u00e9" + "y" * 200
    assert len(forged.headers["X-Request-ID"]) == 32


def test_feedback_is_stored_for_retraining(app, client, auth):
    body = {"comment_id": "c9", "text": HOSTILE, "decision": "reject", "labels": {"toxicity": 1, "insult": 0.5}}
    response = client.post("/v1/feedback", json=body, headers=auth)
    assert response.status_code == 201
    answer = response.get_json()
    assert answer["request_id"] == response.headers["X-Request-ID"]
    with app.app_context():
        row = get_session().get(Feedback, answer["id"])
        assert (row.comment_id, row.text, row.decision, row.labels, row.source) == ("c9", HOSTILE, "reject", {"toxicity": 1.0, "insult": 0.5}, "v1_feedback")
        assert row.text_sha256 == sha256_text(HOSTILE)
        assert row.api_key_id is not None


@pytest.mark.parametrize("blank", ["", " \n "])
def test_feedback_with_a_blank_text_is_exported_with_the_logged_text(tiny_bundle_path, tmp_path, blank):
    from service.feedback_export import export_feedback

    app = open_app(tiny_bundle_path, STORE_TEXT=True)
    client = app.test_client()
    assert client.post("/v1/moderate", json={"comments": [{"id": "c1", "text": HOSTILE}]}).status_code == 200
    assert client.post("/v1/feedback", json={"comment_id": "c1", "text": blank, "decision": "reject"}).status_code == 201
    with app.app_context():
        assert export_feedback(get_session(), tmp_path / "feedback.jsonl") == 1
    row = json.loads((tmp_path / "feedback.jsonl").read_text(encoding="utf-8"))
    assert (row["comment_id"], row["text"], row["decision"]) == ("c1", HOSTILE, "reject")


EDITED = "Edited: I see your point, thanks."


@pytest.mark.parametrize(
    ("store_text", "before", "after"),
    [
        (True, [("moderate", HOSTILE)], [("moderate", EDITED)]),
        (False, [("feedback", HOSTILE)], [("feedback", EDITED)]),
        (True, [("moderate", NEUTRAL), ("moderate", HOSTILE)], [("moderate", EDITED), ("feedback", EDITED)]),
    ],
)
def test_feedback_by_id_is_exported_with_the_text_it_judged_not_one_scored_later(tiny_bundle_path, tmp_path, store_text, before, after):
    # The CMS scored comment c1 again after an edit: the verdict given by id on its old text was exported with the new one.
    from service.feedback_export import export_feedback

    app = open_app(tiny_bundle_path, STORE_TEXT=store_text)
    client = app.test_client()

    def send(kind: str, text: str) -> None:
        if kind == "moderate":
            assert client.post("/v1/moderate", json={"comments": [{"id": "c1", "text": text}]}).status_code == 200
        else:
            assert client.post("/v1/feedback", json={"comment_id": "c1", "text": text, "labels": {"insult": 0.5}}).status_code == 201

    for kind, text in before:
        send(kind, text)
    assert client.post("/v1/feedback", json={"comment_id": "c1", "decision": "reject"}).status_code == 201
    for kind, text in after:
        send(kind, text)
    with app.app_context():
        export_feedback(get_session(), tmp_path / "feedback.jsonl")
    rows = [json.loads(line) for line in (tmp_path / "feedback.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [(row["text"], row["decision"]) for row in rows if row["decision"]] == [(HOSTILE, "reject")]


@pytest.mark.parametrize(
    "body",
    [
        {"comment_id": "c1", "decision": "reject"},
        {"text": HOSTILE, "labels": {"toxicity": 1, "insult": 0.5}},
        {"comment_id": "c1", "text": HOSTILE, "decision": "reject", "labels": {"toxicity": 1}},
        {"comment_id": "c1", "text": "", "decision": "approve", "labels": {}},
    ],
)
def test_feedback_sent_again_is_stored_and_exported_once(app, client, auth, tmp_path, body):
    # A CMS retrying after a timeout sent the same feedback again: each copy was stored and exported.
    from service.feedback_export import export_feedback

    first = client.post("/v1/feedback", json=body, headers=auth)
    again = client.post("/v1/feedback", json=body, headers=auth)
    assert first.status_code == again.status_code == 201
    assert again.get_json()["id"] == first.get_json()["id"]
    assert again.get_json()["request_id"] == again.headers["X-Request-ID"] != first.get_json()["request_id"]
    assert count(app, Feedback) == 1
    with app.app_context():
        assert export_feedback(get_session(), tmp_path / "feedback.jsonl") == 1


def test_the_same_verdict_by_id_on_a_comment_scored_again_since_is_stored(tiny_bundle_path, tmp_path):
    # The CMS scored comment c1 again after an edit and its moderator rejected it again: taken for a retry, the verdict
    # was answered with the first one's id and not stored, so the export had no verdict on the edited text.
    from service.feedback_export import export_feedback

    app = open_app(tiny_bundle_path, STORE_TEXT=True)
    client = app.test_client()
    verdict = {"comment_id": "c1", "decision": "reject"}
    assert client.post("/v1/moderate", json={"comments": [{"id": "c1", "text": HOSTILE}]}).status_code == 200
    first = client.post("/v1/feedback", json=verdict).get_json()["id"]
    assert client.post("/v1/moderate", json={"comments": [{"id": "c1", "text": EDITED}]}).status_code == 200
    second = client.post("/v1/feedback", json=verdict).get_json()["id"]
    retried = client.post("/v1/feedback", json=verdict).get_json()["id"]  # a retry of that one is still not stored
    assert first != second == retried and count(app, Feedback) == 2
    with app.app_context():
        export_feedback(get_session(), tmp_path / "feedback.jsonl")
    rows = [json.loads(line) for line in (tmp_path / "feedback.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [(row["text"], row["decision"]) for row in rows] == [(HOSTILE, "reject"), (EDITED, "reject")]


def test_feedback_sent_again_while_the_first_is_being_stored_is_stored_once(tiny_bundle_path, db_url, monkeypatch):
    # A CMS that timed out retries while the first copy is still on its way into the database: each looked for the
    # other, found none, and both were stored.
    import threading

    from service import api_v1
    from service.decision_log import SPOOL_KEY
    from service.store import app_engine

    app = open_app(tiny_bundle_path, DB_URL=db_url)
    both_looked = threading.Barrier(2)
    store = api_v1.save_feedback

    def store_once_both_looked(**kwargs):
        try:
            both_looked.wait(timeout=2)  # the second copy waits for the first to be stored: then it never gets here
        except threading.BrokenBarrierError:
            pass
        return store(**kwargs)

    monkeypatch.setattr(api_v1, "save_feedback", store_once_both_looked)
    answers = []

    def send() -> None:
        answers.append(app.test_client().post("/v1/feedback", json={"comment_id": "c1", "decision": "reject"}))

    copies = [threading.Thread(target=send) for _ in range(2)]
    try:
        for copy in copies:
            copy.start()
        for copy in copies:
            copy.join(timeout=30)
        assert [answer.status_code for answer in answers] == [201, 201]
        assert len({answer.get_json()["id"] for answer in answers}) == 1
        assert count(app, Feedback) == 1
    finally:
        app.extensions[SPOOL_KEY].dispose()
        app_engine(app).dispose()


def test_a_changed_verdict_and_another_keys_feedback_are_stored(app, client, auth):
    with app.app_context():
        from service.auth import create_key

        other = {"X-API-Key": create_key(get_session(), "other")[1]}
    verdicts = ["approve", "reject", "approve"]  # the editor's corrections: the last one is the comment's verdict
    ids = [client.post("/v1/feedback", json={"comment_id": "c1", "decision": v}, headers=auth).get_json()["id"] for v in verdicts]
    with app.test_request_context():
        from service.store import ApiKey, save_feedback

        key_id = get_session().scalar(select(ApiKey.id).where(ApiKey.name == "test"))
        save_feedback(comment_id="c1", text=None, decision="reject", labels=None, source="ui", moderator="mo", api_key_id=key_id)
    ids.append(client.post("/v1/feedback", json={"comment_id": "c1", "decision": "approve"}, headers=auth).get_json()["id"])
    ids.append(client.post("/v1/feedback", json={"comment_id": "c1", "decision": "approve"}, headers=other).get_json()["id"])
    ids.append(client.post("/v1/feedback", json={"comment_id": "c1", "text": NEUTRAL, "decision": "approve"}, headers=auth).get_json()["id"])
    ids.append(client.post("/v1/feedback", json={"comment_id": "c1", "decision": "approve", "labels": {"toxicity": 0}}, headers=auth).get_json()["id"])
    assert len(set(ids)) == len(ids) == count(app, Feedback) - 1  # and the page's decision


@pytest.mark.parametrize(
    "body",
    [{"comment_id": "c1", "decision": "approve"}, {"text": "hello", "labels": {"threat": 0}}, {"comment_id": "c1", "text": None, "decision": "review", "labels": None}],
)
def test_feedback_needs_a_comment_and_a_verdict_only(client, auth, body):
    assert client.post("/v1/feedback", json=body, headers=auth).status_code == 201


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"[1]", "request body must be a JSON object"),
        (b" ", 'request body is empty; send JSON like {"comment_id": "c1", "text": "You are an idiot.", "decision": "reject"'),  # not {"comments": ...}
        ({}, "comment_id or a non-blank text is required; decision or labels is required"),
        ({"text": "", "decision": "reject"}, "comment_id or a non-blank text is required"),
        ({"text": " \n ", "labels": {"toxicity": 1}}, "comment_id or a non-blank text is required"),
        ({"comment_id": None, "text": None, "decision": "reject"}, "comment_id or a non-blank text is required"),
        ({"comment_id": "c1"}, "decision or labels is required"),
        ({"comment_id": "c1", "labels": {}}, "decision or labels is required"),
        ({"comment_id": "", "decision": "reject"}, "comment_id must be a non-empty string"),
        ({"comment_id": 7, "decision": "reject"}, "comment_id must be a non-empty string"),
        ({"text": ["a"], "decision": "reject"}, "text must be a string"),
        ({"comment_id": "c1", "decision": "delete"}, "decision must be one of approve, review, reject"),
        ({"comment_id": "c1", "decision": 1}, "decision must be one of approve, review, reject"),
        ({"comment_id": "c1", "labels": [1]}, "labels must be an object of attribute names to probabilities"),
        ({"comment_id": "c1", "labels": {"rudeness": 1}}, "labels.rudeness is not an attribute; use one of toxicity"),
        ({"comment_id": "c1", "labels": {"toxicity": 80}}, "labels.toxicity must be a probability between 0 and 1"),
        ({"comment_id": "c1", "labels": {"toxicity": True}}, "labels.toxicity must be a probability between 0 and 1"),
        ({"comment_id": "c1", "labels": {"toxicity": "1"}}, "labels.toxicity must be a probability between 0 and 1"),
        (b'{"comment_id": "c1", "labels": {"toxicity": NaN}}', "labels.toxicity must be a probability between 0 and 1"),
        ({"comment_id": "c1", "decision": "reject", "score": 1}, "score is not a known field"),
        ({"text": "x" * 20_001, "decision": "reject"}, "text has 20001 characters; the limit is 20000"),
    ],
)
def test_bad_feedback_gets_400_naming_the_field(app, client, auth, body, message):
    if isinstance(body, bytes):
        response = client.post("/v1/feedback", data=body, content_type="application/json", headers=auth)
    else:
        response = client.post("/v1/feedback", json=body, headers=auth)
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "invalid_request"
    assert response.get_json()["error"]["message"].startswith(message)
    assert count(app, Feedback) == 0


def test_model_describes_the_bundle(client, auth, scorer):
    response = client.get("/v1/model", headers=auth)
    assert response.status_code == 200
    body = response.get_json()
    assert body["model_version"] == scorer.model_version
    assert body["encoder_mode"] is None  # the tiny TF-IDF bundle has no encoder (tests/test_encoder.py serves one)
    assert body["manifest"] == json.loads(json.dumps(scorer.bundle.manifest))
    card = body["card"]
    assert card["attributes"] == list(scorer.attributes)
    assert card["thresholds"]["reject"] == dict(scorer.policy.reject)
    assert card["intended_use"] and card["limitations"]
    assert card["training_rows"] == scorer.bundle.manifest["training_rows"]
