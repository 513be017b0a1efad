"""Browsers may call the API surfaces from the sites of CORS_ORIGINS, and from no site by default."""

from __future__ import annotations

import pytest

from service.app import create_app
from service.auth import create_key
from service.config import ConfigError
from service.store import get_session

ANALYZE = "/v1alpha1/comments:analyze"
BODY = {"comment": {"text": "Nice park."}, "requestedAttributes": {"TOXICITY": {}}}
SITE = "https://news.example"


def _app(tiny_bundle_path, tmp_path, origins, **settings):
    app = create_app({"TESTING": True, "MODEL": str(tiny_bundle_path), "DB_URL": f"sqlite:///{tmp_path / 'm.db'}",
                      "CORS_ORIGINS": origins, **settings})
    with app.app_context():
        key = create_key(get_session(), "browser")[1]
    return app.test_client(), key


def test_no_site_is_allowed_by_default(tiny_bundle_path, tmp_path):
    client, key = _app(tiny_bundle_path, tmp_path, None)
    answer = client.post(f"{ANALYZE}?key={key}", json=BODY, headers={"Origin": SITE})
    assert answer.status_code == 200 and "Access-Control-Allow-Origin" not in answer.headers


def test_a_listed_site_gets_preflight_and_answer_headers(tiny_bundle_path, tmp_path):
    client, key = _app(tiny_bundle_path, tmp_path, [SITE])
    preflight = client.options(ANALYZE, headers={"Origin": SITE, "Access-Control-Request-Method": "POST",
                                                  "Access-Control-Request-Headers": "content-type, x-goog-api-key"})
    assert preflight.status_code == 200
    assert preflight.headers["Access-Control-Allow-Origin"] == SITE
    assert "X-Goog-Api-Key" in preflight.headers["Access-Control-Allow-Headers"]
    assert "POST" in preflight.headers["Access-Control-Allow-Methods"]
    answer = client.post(ANALYZE, json=BODY, headers={"Origin": SITE, "X-Goog-Api-Key": key})
    assert answer.status_code == 200 and answer.headers["Access-Control-Allow-Origin"] == SITE
    assert "Origin" in answer.headers["Vary"]
    # Errors are readable by the page too, so it can tell the reader what went wrong.
    refused = client.post(ANALYZE, json=BODY, headers={"Origin": SITE})
    assert refused.status_code == 401 and refused.headers["Access-Control-Allow-Origin"] == SITE
    other = client.post(f"{ANALYZE}?key={key}", json=BODY, headers={"Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in other.headers
    # The moderation page never answers other origins.
    assert "Access-Control-Allow-Origin" not in client.get("/ui/", headers={"Origin": SITE}).headers


@pytest.mark.parametrize("path", [ANALYZE, "/v1/moderate"])
@pytest.mark.parametrize("with_key", [True, False])
def test_preflights_use_up_no_rate_limit(tiny_bundle_path, tmp_path, path, with_key):
    """A browser sends a preflight before its requests; were they counted, the page's calls would be refused (429) after
    half the limit, and a refused preflight fails CORS with a bare network error the page cannot read."""
    client, key = _app(tiny_bundle_path, tmp_path, [SITE], RATE_LIMIT="3 per minute")
    url = f"{path}?key={key}" if with_key else path
    preflight = {"Origin": SITE, "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type"}
    assert [client.options(url, headers=preflight).status_code for _ in range(5)] == [200] * 5
    body = BODY if path == ANALYZE else {"comments": [{"id": "c1", "text": "Nice park."}]}
    answers = [client.post(f"{path}?key={key}", json=body, headers={"Origin": SITE}) for _ in range(4)]
    assert [answer.status_code for answer in answers] == [200, 200, 200, 429]


def test_any_site_with_a_star(tiny_bundle_path, tmp_path):
    client, key = _app(tiny_bundle_path, tmp_path, ["*"])
    answer = client.post(f"{ANALYZE}?key={key}", json=BODY, headers={"Origin": "https://blog.example"})
    assert answer.headers["Access-Control-Allow-Origin"] == "*"


@pytest.mark.parametrize("origins", ["https://news.example", ["news.example"], ["https://news.example/"],
                                     ["ftp://news.example"], [42]])
def test_bad_origins_are_refused_at_start(tiny_bundle_path, tmp_path, origins):
    with pytest.raises(ConfigError, match="CORS_ORIGINS"):
        create_app({"TESTING": True, "MODEL": str(tiny_bundle_path), "DB_URL": f"sqlite:///{tmp_path / 'm.db'}",
                    "CORS_ORIGINS": origins})
