"""The discovery document, and Google's own Python client against a real server process."""

from __future__ import annotations

import json
import os

import pytest
from sqlalchemy.orm import sessionmaker

from service.app import create_app
from service.auth import create_key
from service.migrations import upgrade
from service.perspective import ATTRIBUTE_NAMES
from service.store import make_engine

HOSTILE = "You are a stupid clown, the minister ignores the vote."
NEUTRAL = "The minister explains the budget and I think that is fair."


@pytest.fixture(scope="module")
def client(tiny_bundle_path, tmp_path_factory):
    db = tmp_path_factory.mktemp("discovery") / "moderation.db"
    return create_app({"TESTING": True, "MODEL": str(tiny_bundle_path), "DB_URL": f"sqlite:///{db}"}).test_client()


@pytest.mark.parametrize("url", ["/$discovery/rest?version=v1alpha1", "/discovery/v1/apis/commentanalyzer/v1alpha1/rest"])
def test_discovery_document_points_at_this_server(client, url):
    response = client.get(url, base_url="http://moderation.example:8080")
    assert response.status_code == 200
    document = response.get_json()
    assert (document["kind"], document["name"], document["version"]) == ("discovery#restDescription", "commentanalyzer", "v1alpha1")
    assert (document["rootUrl"], document["servicePath"]) == ("http://moderation.example:8080/", "")
    methods = document["resources"]["comments"]["methods"]
    assert {name: (m["httpMethod"], m["path"]) for name, m in methods.items()} == {
        "analyze": ("POST", "v1alpha1/comments:analyze"),
        "suggestscore": ("POST", "v1alpha1/comments:suggestscore"),
    }
    for method in methods.values():
        for ref in (method["request"]["$ref"], method["response"]["$ref"]):
            assert ref in document["schemas"]
    assert "auth" not in document  # an API key is all a client needs


@pytest.mark.parametrize("url", ["/$discovery/rest?version=v1alpha1", "/discovery/v1/apis/commentanalyzer/v1alpha1/rest"])
def test_the_document_varies_with_the_host_its_root_url_is_made_from(client, url):
    # nginx's default proxy_cache_key ($scheme$proxy_host$request_uri) names the upstream, not the host the client
    # asked: without Vary, a cache gave one host's rootUrl to clients of another, whose calls then went there.
    roots = {}
    for host in ("comments.example.org", "moderation.example:8080"):
        response = client.get(url, base_url=f"http://{host}")
        assert "Host" in response.vary
        roots[host] = response.get_json()["rootUrl"]
    assert roots == {"comments.example.org": "http://comments.example.org/", "moderation.example:8080": "http://moderation.example:8080/"}


def test_every_attribute_name_is_documented(client):
    description = client.get("/$discovery/rest?version=v1alpha1").get_json()["schemas"]["AnalyzeCommentRequest"]
    for name in ATTRIBUTE_NAMES:
        assert name in description["properties"]["requestedAttributes"]["description"]


@pytest.mark.parametrize("url", ["/$discovery/rest?version=v1", "/$discovery/rest", "/discovery/v1/apis/commentanalyzer/v2/rest"])
def test_unknown_version_is_google_not_found(client, url):
    response = client.get(url)
    assert response.status_code == 404
    assert response.get_json()["error"]["status"] == "NOT_FOUND"


def test_discovery_needs_no_key(client):
    assert client.get("/$discovery/rest?version=v1alpha1&key=anything").status_code == 200


# Google's client, unchanged, against `moderate serve`


@pytest.fixture(scope="module")
def served(tiny_bundle_path, tmp_path_factory, serve):
    """``moderate serve`` on a free port with its own database and a key made in it; yields (base URL, key)."""
    directory = tmp_path_factory.mktemp("served")
    db_url = f"sqlite:///{directory / 'moderation.db'}"
    engine = make_engine(db_url)
    upgrade(engine)
    with sessionmaker(engine)() as session:
        key = create_key(session, "google-client")[1]
    engine.dispose()
    env = {**os.environ, "MODERATION_DB_URL": db_url, "MODERATION_LOG_JSON": "false"}
    with serve(["--workers", "1", "--threads", "2", "--model", str(tiny_bundle_path)], env, directory / "server.log") as running:
        yield running.base, key


def google_client(base: str, key: str):
    """The call from Perspective's own Python sample, with only the URL and key changed."""
    from googleapiclient import discovery

    return discovery.build(
        "commentanalyzer",
        "v1alpha1",
        developerKey=key,
        discoveryServiceUrl=base + "/$discovery/rest?version={apiVersion}",
        static_discovery=False,
    )


def test_google_client_analyzes_with_the_server(served, scorer):
    base, key = served
    request = {"comment": {"text": HOSTILE}, "requestedAttributes": {"TOXICITY": {}, "INSULT": {}}, "clientToken": "g-1"}
    with google_client(base, key) as service:  # closing it closes httplib2's sockets
        response = service.comments().analyze(body=request).execute()
    expected = scorer.moderate([HOSTILE], with_spans=False)[0].scores
    assert set(response["attributeScores"]) == {"TOXICITY", "INSULT"}
    assert response["attributeScores"]["TOXICITY"]["summaryScore"] == {"value": pytest.approx(expected["toxicity"], abs=1e-6), "type": "PROBABILITY"}
    assert (response["languages"], response["clientToken"]) == (["en"], "g-1")


def test_google_client_passes_googles_standard_parameters(served):
    """Every Google document declares the standard parameters (quotaUser, $.xgafv, ...); googleapiclient refuses a
    keyword its document does not name before sending anything, so a call that passes one must find it declared."""
    base, key = served
    request = {"comment": {"text": NEUTRAL}, "requestedAttributes": {"TOXICITY": {}}}
    with google_client(base, key) as service:
        response = service.comments().analyze(body=request, quotaUser="site-1", x__xgafv="2").execute()
    assert set(response["attributeScores"]) == {"TOXICITY"}


def test_google_client_suggests_scores(served):
    base, key = served
    request = {"comment": {"text": NEUTRAL}, "attributeScores": {"TOXICITY": {"summaryScore": {"value": 0.0}}}, "clientToken": "g-2"}
    with google_client(base, key) as service:
        assert service.comments().suggestscore(body=request).execute() == {"clientToken": "g-2"}


def test_google_client_raises_http_error_with_google_details(served):
    from googleapiclient.errors import HttpError

    base, key = served
    with google_client(base, key) as service, pytest.raises(HttpError) as caught:
        service.comments().analyze(body={"comment": {"text": "hi"}, "requestedAttributes": {"SPAM": {}}}).execute()
    assert caught.value.status_code == 400
    assert json.loads(caught.value.content)["error"]["status"] == "INVALID_ARGUMENT"
    assert caught.value.error_details[0]["fieldViolations"][0]["field"] == "requestedAttributes.SPAM"
    with google_client(base, "mod_wrong") as service, pytest.raises(HttpError) as caught:
        service.comments().analyze(body={"comment": {"text": "hi"}, "requestedAttributes": {"TOXICITY": {}}}).execute()
    assert caught.value.status_code == 403
    assert json.loads(caught.value.content)["error"]["status"] == "PERMISSION_DENIED"


def test_google_client_batches_requests(served, scorer):
    base, key = served
    texts = {"c1": HOSTILE, "c2": NEUTRAL, "c3": "You are a stupid clown. The minister ignores the vote."}
    answers, failures = {}, {}

    def collect(request_id, response, exception):
        (failures if exception else answers)[request_id] = exception or response

    with google_client(base, key) as service:
        batch = service.new_batch_http_request(callback=collect)
        for comment_id, text in texts.items():
            body = {"comment": {"text": text}, "requestedAttributes": {"TOXICITY": {}}, "clientToken": comment_id}
            batch.add(service.comments().analyze(body=body), request_id=comment_id)
        batch.add(service.comments().analyze(body={"comment": {"text": "hi"}, "requestedAttributes": {"SPAM": {}}}),
                  request_id="bad")
        batch.execute()
    expected = scorer.moderate(list(texts.values()), with_spans=False)
    assert sorted(answers) == ["c1", "c2", "c3"] and list(failures) == ["bad"]
    for (comment_id, _), decision in zip(texts.items(), expected):
        assert answers[comment_id]["clientToken"] == comment_id
        assert answers[comment_id]["attributeScores"]["TOXICITY"]["summaryScore"]["value"] == pytest.approx(
            decision.scores["toxicity"], abs=1e-6)
    assert failures["bad"].status_code == 400  # one bad request fails alone, as at Google


def _batch_body(parts: list[str]) -> tuple[bytes, str]:
    boundary = "b0undary"
    chunks = [f"--{boundary}\r\nContent-Type: application/http\r\nContent-ID: <{i}>\r\n\r\n{part}\r\n"
              for i, part in enumerate(parts, 1)]
    return ("".join(chunks) + f"--{boundary}--\r\n").encode(), f'multipart/mixed; boundary="{boundary}"'


def test_batch_parts_are_authenticated_and_limited_each(tiny_bundle_path, tmp_path):
    app = create_app({"TESTING": True, "MODEL": str(tiny_bundle_path), "DB_URL": f"sqlite:///{tmp_path / 'm.db'}",
                      "MAX_BATCH_REQUESTS": 3})
    from service.store import get_session

    with app.app_context():
        key = create_key(get_session(), "batch")[1]
    client = app.test_client()
    request = ("POST /v1alpha1/comments:analyze?key={key} HTTP/1.1\nContent-Type: application/json\n\n"
               '{{"comment": {{"text": "Nice park."}}, "requestedAttributes": {{"TOXICITY": {{}}}}}}')
    body, content_type = _batch_body([request.format(key=key), request.format(key="mod_wrong"),
                                      "GET /v1/model HTTP/1.1\n\n"])
    response = client.post("/batch", data=body, content_type=content_type)
    assert response.status_code == 200 and response.mimetype == "multipart/mixed"
    text = response.get_data(as_text=True)
    statuses = [line for line in text.split("\r\n") if line.startswith("HTTP/1.1")]
    assert statuses == ["HTTP/1.1 200 OK", "HTTP/1.1 403 Forbidden", "HTTP/1.1 404 Not Found"]
    assert "<response-1>" in text and "<response-3>" in text
    too_many, content_type = _batch_body([request.format(key=key)] * 4)
    refused = client.post("/batch", data=too_many, content_type=content_type)
    assert refused.status_code == 400 and "the limit is 3" in refused.get_json()["error"]["message"]
    for data, kind in ((b"{}", "application/json"), (b"", 'multipart/mixed; boundary="x"')):
        assert client.post("/batch", data=data, content_type=kind).get_json()["error"]["status"] == "INVALID_ARGUMENT"
    bad_line, content_type = _batch_body(["not a request"])
    assert "part 1" in client.post("/batch", data=bad_line, content_type=content_type).get_json()["error"]["message"]


def test_a_batch_part_cannot_choose_its_client_address(tiny_bundle_path, tmp_path):
    # Behind a trusted proxy the balancer replaces the batch's X-Forwarded-For, but not a part's inside the body:
    # a part's own must not make each guessed key come from a new address, past AUTH_FAILURE_LIMIT.
    app = create_app({"TESTING": True, "MODEL": str(tiny_bundle_path), "DB_URL": f"sqlite:///{tmp_path / 'm.db'}",
                      "TRUSTED_PROXY_HOPS": 1, "AUTH_FAILURE_LIMIT": "2 per minute"})
    request = ("POST /v1alpha1/comments:analyze?key=mod_guess{i} HTTP/1.1\nContent-Type: application/json\n"
               "X-Forwarded-For: 198.51.100.{i}\n\n"
               '{{"comment": {{"text": "Nice park."}}, "requestedAttributes": {{"TOXICITY": {{}}}}}}')
    body, content_type = _batch_body([request.format(i=i) for i in range(4)])
    response = app.test_client().post("/batch", data=body, content_type=content_type,
                                      headers={"X-Forwarded-For": "203.0.113.9"})
    statuses = [line for line in response.get_data(as_text=True).split("\r\n") if line.startswith("HTTP/1.1")]
    assert statuses == ["HTTP/1.1 403 Forbidden"] * 2 + ["HTTP/1.1 429 Too Many Requests"] * 2


def test_discovery_root_url_follows_a_trusted_proxy(tiny_bundle_path, tmp_path):
    forwarded = {"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "https",
                 "X-Forwarded-Host": "comments.example.org", "X-Forwarded-Prefix": "/moderation"}
    for hops, root in ((1, "https://comments.example.org/moderation/"), (0, "http://10.0.0.5:8000/")):
        app = create_app({"TESTING": True, "MODEL": str(tiny_bundle_path), "TRUSTED_PROXY_HOPS": hops,
                          "DB_URL": f"sqlite:///{tmp_path / f'{hops}.db'}"})
        document = app.test_client().get("/$discovery/rest?version=v1alpha1", headers=forwarded,
                                         base_url="http://10.0.0.5:8000").get_json()
        # Only a trusted proxy's headers are believed; googleapiclient posts to rootUrl + the method's path.
        assert (document["rootUrl"], document["batchPath"]) == (root, "batch")
        vary = app.test_client().get("/$discovery/rest?version=v1alpha1", headers=forwarded).vary
        forwarded_vary = {"X-Forwarded-Proto", "X-Forwarded-Host", "X-Forwarded-Prefix"}
        assert "Host" in vary and (forwarded_vary <= set(vary) if hops else not forwarded_vary & set(vary))
