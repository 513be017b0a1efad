"""Coral Talk's external moderation phase through Flask's test client, with Coral's documented request and signing."""

from __future__ import annotations

import hashlib
import hmac
import json
import sqlite3
import statistics
import threading
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select, text

from model.attributes import HOSTILITY_ATTRIBUTES
from model.results import Decision, Reason
from service.app import create_app
from service.coral import SIGNATURE_HEADER, coral_response, signature_is_valid
from service.html_text import html_to_text
from service.decision_log import SPOOL_KEY
from service.store import DecisionRecord, app_engine, get_session, make_engine, sha256_text
from tests.test_api_v1 import chunked_post

URL = "/coral/v1/moderate"
SECRET = "whsec_current"
OLD_SECRET = "whsec_rotated_out"
HOSTILE = "You are a stupid clown, the minister ignores the vote."
THREAT = "I will kill you, the council delays the vote."
NEUTRAL = "The minister explains the budget and I think that is fair."
CORAL_DEFAULT_TIMEOUT_SECONDS = 0.2
"""The timeout Coral's admin form proposes for a new external moderation phase (200 ms)."""


def coral_request(body_text: str, *, parent_id: str | None = None, action: str = "NEW") -> dict:
    """An External Moderation Request as Coral's external.ts builds it."""
    return {
        "action": action,
        "comment": {"body": body_text, "parentID": parent_id},
        "author": {"id": "baf4e943-3594-4fcc-b2ba-3e8de7a76352", "role": "COMMENTER"},
        "story": {"id": "245b3856-b0a0-4d2f-a6bb-58c71f18d6a6", "url": "http://localhost:1313/posts/a-story-url/"},
        "site": {"id": "a4bede88-2d2c-4424-bc18-4322a9e285a6"},
        "tenantID": "19ba5794-7eeb-4d46-a81b-c00c61672501",
        "tenantDomain": "localhost",
    }


def encode(request: dict) -> bytes:
    """Coral serialises with ``JSON.stringify(data, null, 2)`` and signs exactly those bytes."""
    return json.dumps(request, indent=2, ensure_ascii=False).encode()


def sign(body: bytes, *secrets: str) -> str:
    """Coral's X-Coral-Signature: one ``sha256=<hex>`` per active secret, comma-separated."""
    return ",".join("sha256=" + hmac.new(s.encode(), body, hashlib.sha256).hexdigest() for s in secrets)


def post(client, body: bytes, signature: str | None, sent: bool = True):
    """POST as Coral does; ``sent``: the answer is sent and closed, as a server does (the decision is logged then)."""
    headers = {"Content-Type": "application/json", "User-Agent": "Coral Moderation/8.0.0"}
    if signature is not None:
        headers["X-Coral-Signature"] = signature
    return client.post(URL, data=body, headers=headers, buffered=sent)


def post_signed(client, request: dict, *secrets: str):
    body = encode(request)
    return post(client, body, sign(body, *(secrets or (SECRET,))))


@pytest.fixture(scope="module")
def app(tiny_bundle_path, tmp_path_factory):
    db = tmp_path_factory.mktemp("coral") / "moderation.db"
    return create_app({"TESTING": True, "MODEL": str(tiny_bundle_path), "DB_URL": f"sqlite:///{db}", "CORAL_SECRET": SECRET})


@pytest.fixture(scope="module")
def client(app):
    return app.test_client()


def decision_rows(app) -> int:
    with app.app_context():
        return get_session().scalar(select(func.count()).select_from(DecisionRecord).filter_by(surface="coral"))


def expected_answer(scorer, text):
    """What the endpoint must answer for ``text``, from the scorer's own decision."""
    return scorer.moderate([text], with_spans=False)[0]


# Signatures


def test_good_signature_is_accepted(client):
    assert post_signed(client, coral_request(NEUTRAL)).status_code in (200, 204)


def test_rotated_secret_two_signatures_one_valid_is_accepted(client):
    # Coral signs with every active secret while a rotated one is still valid: old first, new last.
    assert post_signed(client, coral_request(NEUTRAL), OLD_SECRET, SECRET).status_code in (200, 204)
    assert post_signed(client, coral_request(NEUTRAL), SECRET, OLD_SECRET).status_code in (200, 204)


def test_our_side_can_hold_two_secrets_while_rotating(app, client, monkeypatch):
    monkeypatch.setitem(app.config, "CORAL_SECRET", [OLD_SECRET, SECRET])
    assert post_signed(client, coral_request(NEUTRAL), SECRET).status_code in (200, 204)
    assert post_signed(client, coral_request(NEUTRAL), OLD_SECRET).status_code in (200, 204)


@pytest.mark.parametrize("configured", [SECRET + "\n", f" {SECRET}\r\n", [OLD_SECRET + "\n", SECRET + "\n"]])
def test_a_secret_configured_with_a_trailing_newline_still_checks_signatures(app, client, monkeypatch, configured):
    # `echo SECRET > file` for a Kubernetes or Docker secret keeps the newline: every signature failed (401), and Coral
    # published every comment unmoderated. Coral's secrets never hold whitespace.
    monkeypatch.setitem(app.config, "CORAL_SECRET", configured)
    response = post_signed(client, coral_request(HOSTILE + " Newline."))
    assert response.status_code == 200 and {"actionType": "FLAG", "reason": "COMMENT_DETECTED_TOXIC"} in response.get_json()["actions"]
    assert post_signed(client, coral_request(HOSTILE), SECRET + "\n").status_code == 401  # the key is the secret, stripped


@pytest.mark.parametrize(
    "signature",
    [
        None,
        "",
        "sha256=",
        "sha256=deadbeef",
        "sha1=" + "0" * 40,
        "sha256=" + "0" * 64 + ",sha256=" + "1" * 64,
        "SHA256=" + "0" * 64,
        "sha256=ünïcode",
    ],
)
def test_missing_or_bad_signature_is_401_and_nothing_is_scored_or_stored(app, client, signature, monkeypatch):
    def fail(*args, **kwargs):
        raise AssertionError("scored an unsigned request")

    monkeypatch.setattr(app.extensions["moderation"], "moderate", fail)
    before = decision_rows(app)
    response = post(client, encode(coral_request(HOSTILE)), signature)
    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == "invalid_signature"
    assert decision_rows(app) == before


def test_signature_of_another_secret_or_body_is_401(client):
    body = encode(coral_request(HOSTILE))
    assert post(client, body, sign(body, OLD_SECRET)).status_code == 401
    assert post(client, body, sign(encode(coral_request(NEUTRAL)), SECRET)).status_code == 401
    # Same JSON, different bytes (re-serialised): the signature covers the raw body.
    assert post(client, json.dumps(coral_request(HOSTILE)).encode(), sign(body, SECRET)).status_code == 401


def test_signature_check_uses_every_candidate():
    body = b"{}"
    good = sign(body, SECRET)
    assert signature_is_valid(body, f"sha256=00, {good} ", [SECRET])
    assert not signature_is_valid(body, good, [])
    assert not signature_is_valid(body, None, [SECRET])


def test_without_a_configured_secret_the_endpoint_is_off(app, client, monkeypatch):
    monkeypatch.setitem(app.config, "CORAL_SECRET", None)
    response = post_signed(client, coral_request(HOSTILE))
    assert response.status_code == 503
    assert "MODERATION_CORAL_SECRET" in response.get_json()["error"]["message"]


# Decisions


@pytest.mark.parametrize("text", [HOSTILE, THREAT, NEUTRAL])
def test_answer_follows_our_decision(client, scorer, text):
    decision = expected_answer(scorer, text)
    response = post_signed(client, coral_request(text))
    if decision.action == "approve":
        assert (response.status_code, response.get_data()) == (204, b"")
        return
    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == {"review": "SYSTEM_WITHHELD", "reject": "REJECTED"}[decision.action]
    hostile = any(r.attribute in HOSTILITY_ATTRIBUTES for r in decision.reasons)
    assert body.get("actions", []) == ([{"actionType": "FLAG", "reason": "COMMENT_DETECTED_TOXIC"}] if hostile else [])


def test_hostile_comment_is_held_or_rejected_with_a_toxic_flag(client):
    body = post_signed(client, coral_request(HOSTILE)).get_json()
    assert body["status"] in ("SYSTEM_WITHHELD", "REJECTED")
    assert {"actionType": "FLAG", "reason": "COMMENT_DETECTED_TOXIC"} in body["actions"]


def test_neutral_comment_gets_no_opinion(client):
    response = post_signed(client, coral_request(NEUTRAL))
    assert (response.status_code, response.get_data()) == (204, b"")


def test_html_body_is_scored_as_its_text(client, scorer):
    html = "<p>You are a <b>stupid</b> clown,<br>the minister ignores the vote.</p>"
    plain = post_signed(client, coral_request("You are a stupid clown,\nthe minister ignores the vote."))
    marked_up = post_signed(client, coral_request(html))
    assert (marked_up.status_code, marked_up.get_json()) == (plain.status_code, plain.get_json())


@pytest.mark.parametrize(
    ("html", "text"),
    [
        ("<p>First line</p><p>second <b>bold</b> line</p>", "First line\nsecond bold line"),
        ("one<br>two<br/>three", "one\ntwo\nthree"),
        ("Tom &amp; Jerry &lt;3 &#x1F600;", "Tom & Jerry <3 \U0001F600"),
        ('<a href="https://x.example">a link</a> and <script>alert(1)</script>text', "a link and text"),
        ("a < b and c > d", "a < b and c > d"),
        ("<p>   </p>", ""),
    ],
)
def test_html_to_text_keeps_what_a_reader_sees(html, text):
    assert html_to_text(html) == text


def test_reply_and_edit_requests_are_moderated(client):
    assert post_signed(client, coral_request(HOSTILE, parent_id="d79b787f", action="EDIT")).status_code == 200


TOXIC = [{"actionType": "FLAG", "reason": "COMMENT_DETECTED_TOXIC"}]
SPAM = [{"actionType": "FLAG", "reason": "COMMENT_DETECTED_SPAM"}]


def reason(attribute: str, action: str) -> Reason:
    return Reason(attribute, action, attribute, 0.9, 0.5)


@pytest.mark.parametrize(
    ("action", "reasons", "expected"),
    [
        ("approve", (), None),
        ("review", (reason("insult", "review"),), {"status": "SYSTEM_WITHHELD", "actions": TOXIC}),
        # Coral's DSA mode records the reason of a rejection, and tells the author, only from a moderationAction.
        ("reject", (reason("threat", "reject"), reason("insult", "reject")),
         {"status": "REJECTED", "actions": TOXIC, "moderationAction": {"status": "REJECTED", "rejectionReason": {"code": "ABUSIVE"}}}),
        ("reject", (reason("spam", "reject"),),
         {"status": "REJECTED", "actions": SPAM, "moderationAction": {"status": "REJECTED", "rejectionReason": {"code": "SPAM"}}}),
        ("review", (reason("unsupported_claim", "review"),), {"status": "SYSTEM_WITHHELD"}),
        ("review", (reason("spam", "review"),), {"status": "SYSTEM_WITHHELD", "actions": SPAM}),
        ("review", (reason("spam", "review"), reason("toxicity", "review")), {"status": "SYSTEM_WITHHELD", "actions": SPAM + TOXIC}),
    ],
)
def test_decision_maps_to_coral_response(app, action, reasons, expected):
    with app.test_request_context():
        response = coral_response(Decision(action, reasons, {}))
    if expected is None:
        assert response.status_code == 204
    else:
        assert (response.status_code, response.get_json()) == (200, expected)
        # Coral's validator (external.ts) accepts only these flag reasons and drops the whole answer otherwise.
        assert all(a["reason"] in ("COMMENT_DETECTED_TOXIC", "COMMENT_DETECTED_SPAM") for a in expected.get("actions", []))


def test_decision_is_logged(app, client):
    before = decision_rows(app)
    post_signed(client, coral_request(HOSTILE + " Logged."))  # a body this module's app has not seen
    assert decision_rows(app) == before + 1


LOCK_SECONDS = 5.0
"""How long a test holds the database's write lock at most (then it lets go, whatever happened)."""


def hold_write_lock(db_url: str):
    """Take the decision table's write lock from another connection; return the function that lets go of it (once).

    PostgreSQL: a lock that makes every INSERT wait until it is let go (an operator's ``CREATE INDEX``, ``REINDEX`` or
    ``VACUUM FULL`` on ``decisions`` takes one); SQLite: another writer's transaction.
    """
    released = threading.Lock()
    if db_url.startswith("sqlite"):
        connection = sqlite3.connect(db_url.removeprefix("sqlite:///"), isolation_level=None, check_same_thread=False)
        connection.execute("BEGIN IMMEDIATE")
        end = connection.close  # closing rolls the transaction back
    else:
        engine = make_engine(db_url)
        held = engine.connect()
        transaction = held.begin()
        held.execute(text("LOCK TABLE decisions IN SHARE ROW EXCLUSIVE MODE"))

        def end() -> None:
            transaction.rollback()
            held.close()
            engine.dispose()

    def release() -> None:
        if released.acquire(blocking=False):
            end()

    return release


def test_coral_is_answered_while_the_decision_log_waits_for_the_database(tiny_bundle_path, db_url, tmp_path):
    # The decision was written before the answer was sent: with PostgreSQL it waited as long as the lock was held (or
    # a silent server kept its connection), with SQLite 250 ms and then went to the spool; Coral's phase gives up after
    # 200 ms by default and publishes the comment unmoderated, a hostile one included.
    app = create_app({"TESTING": True, "MODEL": str(tiny_bundle_path), "DB_URL": db_url, "CORAL_SECRET": SECRET,
                      "DECISION_SPOOL_DIR": str(tmp_path / "spool")})
    client = app.test_client()
    try:
        release = hold_write_lock(db_url)
        safety = threading.Timer(LOCK_SECONDS, release)
        safety.start()
        try:
            body = encode(coral_request(HOSTILE))
            start = time.perf_counter()
            response = post(client, body, sign(body, SECRET), sent=False)
            waited = time.perf_counter() - start
        finally:
            release()
            safety.cancel()
        assert response.status_code == 200 and response.get_json()["status"] in ("SYSTEM_WITHHELD", "REJECTED")
        assert waited < LOCK_SECONDS / 2
        response.close()  # the server has sent the answer: the decision is logged now, straight into the database
        assert decision_rows(app) == 1
        assert "moderation_decision_log_write_failures_total 0.0" in client.get("/metrics").get_data(as_text=True)
    finally:
        app.extensions[SPOOL_KEY].dispose()
        app_engine(app).dispose()


def test_answers_well_inside_corals_default_timeout(client):
    post_signed(client, coral_request(HOSTILE))  # warm up
    times = []
    for index in range(7):
        start = time.perf_counter()
        post_signed(client, coral_request(HOSTILE * 3 + f" {index}"))  # new bodies: scored, not answered from memory
        times.append(time.perf_counter() - start)
    assert statistics.median(times) < CORAL_DEFAULT_TIMEOUT_SECONDS / 2


# Malformed requests


@pytest.mark.parametrize(
    ("request_body", "words"),
    [
        (b"not json", "not valid JSON"),
        (b"", "empty"),
        (b"[]", "JSON object"),
        (b'{"action": "NEW"}', "comment must be an object"),
        (b'{"comment": {"parentID": null}}', "comment.body must be a string"),
        (b'{"comment": {"body": 5}}', "comment.body must be a string"),
        (b'{"comment": {"body": "hi", "parentID": 5}}', "parentID"),
        (b'{"comment": {"body": "hi"}, "action": 1}', "action"),
        (b"\xff\xfe", "UTF-8"),
    ],
)
def test_signed_but_malformed_request_is_400(client, request_body, words):
    response = post(client, request_body, sign(request_body, SECRET))
    assert response.status_code == 400
    assert words in response.get_json()["error"]["message"]


def test_a_chunked_body_over_max_content_length_is_413_as_with_a_content_length(tiny_bundle_path, tmp_path):
    # Werkzeug cut such a body at the limit without a word, so its signature, made over the whole body, was wrong:
    # 401 "check MODERATION_CORAL_SECRET" sent the operator after a secret that was right. Coral goes on without the
    # phase's opinion on any non-2xx answer and reads no error body, so the answer is the 413 of a Content-Length over it.
    app = create_app({"TESTING": True, "MODEL": str(tiny_bundle_path), "DB_URL": f"sqlite:///{tmp_path / 'm.db'}",
                      "CORAL_SECRET": SECRET, "MAX_CONTENT_LENGTH": 2_000})
    client = app.test_client()
    body = encode(coral_request(HOSTILE * 40))
    assert len(body) > 2_000
    headers = {SIGNATURE_HEADER: sign(body, SECRET)}
    chunked = chunked_post(client, URL, body, headers=headers)
    assert chunked.status_code == 413
    assert chunked.get_json() == client.post(URL, data=body, content_type="application/json", headers=headers).get_json()
    assert chunked.get_json()["error"]["code"] == "request_entity_too_large"
    assert decision_rows(app) == 0
    within = encode(coral_request(HOSTILE))
    answered = chunked_post(client, URL, within, headers={SIGNATURE_HEADER: sign(within, SECRET)})
    assert answered.status_code == 200 and answered.get_json()["status"] in ("SYSTEM_WITHHELD", "REJECTED")
    answered.close()  # sent: the decision is logged
    assert decision_rows(app) == 1


def test_the_413_says_what_fits_coral_not_to_send_fewer_comments(tiny_bundle_path, tmp_path):
    # The app's 413 said "send fewer comments per request": Coral sends one, and its operator was left with nothing to do.
    app = create_app({"TESTING": True, "MODEL": str(tiny_bundle_path), "DB_URL": f"sqlite:///{tmp_path / 'm.db'}",
                      "CORAL_SECRET": SECRET, "MAX_CONTENT_LENGTH": 2_000, "CORAL_MAX_SCORED_CHARS": 1_500})
    body = encode(coral_request(HOSTILE * 40))
    response = app.test_client().post(URL, data=body, content_type="application/json",
                                      headers={SIGNATURE_HEADER: sign(body, SECRET)})
    assert response.status_code == 413 and response.mimetype == "application/json"
    assert set(response.get_json()) == {"error"} and set(response.get_json()["error"]) == {"code", "message"}
    error = response.get_json()["error"]
    assert error["code"] == "request_entity_too_large"
    assert "fewer comments" not in error["message"]
    assert "larger than 2000 bytes" in error["message"] and "MODERATION_MAX_CONTENT_LENGTH" in error["message"]
    assert "CORAL_MAX_SCORED_CHARS, 1500 characters" in error["message"]


# Coral publishes a comment when the phase answers anything but 2xx: nothing in a comment may make it a 400


@pytest.mark.parametrize("cap", ["CORAL_MAX_SCORED_CHARS", "MAX_COMMENT_CHARS"])
def test_a_comment_over_the_cap_is_withheld_for_a_person_not_refused(app, client, monkeypatch, cap):
    # Coral's own cap is well under the API's: scoring grows with length, and Coral publishes what its timeout cuts off.
    assert app.config["CORAL_MAX_SCORED_CHARS"] < app.config["MAX_COMMENT_CHARS"]
    monkeypatch.setitem(app.config, cap, 60)
    before = decision_rows(app)
    response = post_signed(client, coral_request(HOSTILE + " " + cap.lower() * 2))
    assert (response.status_code, response.get_json()) == (200, {"status": "SYSTEM_WITHHELD"})
    assert decision_rows(app) == before + 1
    with app.app_context():
        row = get_session().scalars(select(DecisionRecord).filter_by(surface="coral").order_by(DecisionRecord.id.desc())).first()
    assert row.decision == "review" and "too_long" in json.dumps(row.reasons)
    # The cap counts what a reader sees, not the markup around it.
    linked = f'<p>{HOSTILE} <a href="https://example.org/{"x" * 200}">link</a></p>'
    assert post_signed(client, coral_request(linked)).get_json()["status"] in ("SYSTEM_WITHHELD", "REJECTED")
    assert {"actionType": "FLAG", "reason": "COMMENT_DETECTED_TOXIC"} in post_signed(client, coral_request(linked)).get_json()["actions"]


@pytest.mark.parametrize("bad", ["\ud83d", "\x00", "\udc00 and \ud800"])
def test_a_nul_or_unpaired_surrogate_is_replaced_and_the_comment_scored(client, bad):
    body = f'{{"action": "NEW", "comment": {{"body": {json.dumps(HOSTILE + " ")[:-1]}{json.dumps(bad)[1:]}, "parentID": null}}}}'.encode()
    response = post(client, body, sign(body, SECRET))
    assert response.status_code == 200
    assert {"actionType": "FLAG", "reason": "COMMENT_DETECTED_TOXIC"} in response.get_json()["actions"]


def test_a_name_given_twice_keeps_its_last_value_as_corals_json_parse_reads_it(client):
    # /v1 and Perspective refuse a repeated name (400); here a 400 would publish the comment unmoderated.
    body = f'{{"action": "NEW", "comment": {{"body": {json.dumps(NEUTRAL)}, "body": {json.dumps(HOSTILE)}}}}}'.encode()
    response = post(client, body, sign(body, SECRET))
    assert response.status_code == 200
    assert {"actionType": "FLAG", "reason": "COMMENT_DETECTED_TOXIC"} in response.get_json()["actions"]


def test_plain_text_format_takes_the_body_as_typed(app, client, monkeypatch):
    typed = "<script> " + HOSTILE
    # In Coral's HTML format a reader's typed "<script>" arrives escaped; in its plain-text format it arrives as is.
    escaped = post_signed(client, coral_request("&lt;script&gt; " + HOSTILE)).get_json()
    assert {"actionType": "FLAG", "reason": "COMMENT_DETECTED_TOXIC"} in escaped["actions"]
    monkeypatch.setitem(app.config, "CORAL_BODY_FORMAT", "PLAIN_TEXT")
    plain = post_signed(client, coral_request(typed))
    assert plain.status_code == 200 and {"actionType": "FLAG", "reason": "COMMENT_DETECTED_TOXIC"} in plain.get_json()["actions"]


def test_markup_the_html_parser_refuses_is_scored_not_answered_500(client):
    """"<![<![" made html.parser raise an AssertionError: a 500, and Coral publishes a comment whose phase fails."""
    response = post_signed(client, coral_request(HOSTILE + " <![<!["))
    assert response.status_code == 200, response.get_data(as_text=True)
    assert {"actionType": "FLAG", "reason": "COMMENT_DETECTED_TOXIC"} in response.get_json()["actions"]


def test_plain_text_format_decodes_the_entities_older_coral_left_in(app, client, monkeypatch):
    """Older Coral made its plain text with striptags alone, so "&nbsp;" and "&amp;" came through encoded; a reader
    saw spaces and ampersands, and those are what is scored."""
    monkeypatch.setitem(app.config, "CORAL_BODY_FORMAT", "PLAIN_TEXT")
    assert post_signed(client, coral_request("You&nbsp;are a stupid clown &amp; a liar.")).status_code == 200
    with app.app_context():
        row = get_session().scalars(select(DecisionRecord).filter_by(surface="coral").order_by(DecisionRecord.id.desc())).first()
    assert row.text_sha256 == sha256_text("You\u00a0are a stupid clown & a liar.")


def test_a_wrong_body_format_setting_stops_the_server(tiny_bundle_path, tmp_path):
    from service.config import ConfigError

    with pytest.raises(ConfigError, match="CORAL_BODY_FORMAT"):
        create_app({"TESTING": True, "MODEL": str(tiny_bundle_path), "DB_URL": f"sqlite:///{tmp_path / 'm.db'}",
                    "CORAL_BODY_FORMAT": "MARKDOWN"})


# Fuzz: a few hundred malformed, signed and unsigned bodies are 4xx, never 5xx


def json_values():
    scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20)
    return st.recursive(scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4), max_leaves=12)


def coral_like_bodies():
    """External Moderation Requests with any field replaced by any JSON value."""
    fields = st.dictionaries(st.sampled_from(["action", "comment", "author", "story", "site", "tenantID", "tenantDomain"]), json_values(), max_size=5)
    comment = st.fixed_dictionaries({}, optional={"body": json_values() | st.text(max_size=60), "parentID": json_values()})
    return st.tuples(fields, comment).map(lambda t: {"comment": t[1], **t[0]})


@settings(max_examples=200, deadline=None, derandomize=True, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    body=coral_like_bodies().map(encode) | json_values().map(lambda v: json.dumps(v).encode()) | st.binary(max_size=80),
    signed=st.booleans(),
)
def test_fuzzed_bodies_get_4xx_never_5xx(client, body, signed):
    response = post(client, body, sign(body, SECRET) if signed else None)
    assert response.status_code in ((200, 204, 400) if signed else (401,)), (body, response.get_data(as_text=True))


def test_app_still_answers_after_fuzzing(client):
    assert post_signed(client, coral_request(HOSTILE)).status_code == 200


def test_a_phase_url_typed_with_a_trailing_slash_is_answered(client):
    """It was a 404, on which Coral publishes the comment: every comment went out unmoderated, silently."""
    body = encode(coral_request(HOSTILE))
    response = client.post(URL + "/", data=body, headers={"Content-Type": "application/json", "X-Coral-Signature": sign(body, SECRET)})
    assert response.status_code == 200 and response.get_json()["status"] in ("REJECTED", "PREMOD", "SYSTEM_WITHHELD")
