"""Security review of CORS: an answer that depends on the caller's Origin says so to caches."""

from __future__ import annotations

from service.app import create_app
from service.auth import create_key
from service.store import get_session

ANALYZE = "/v1alpha1/comments:analyze"
BODY = {"comment": {"text": "Nice park."}, "requestedAttributes": {"TOXICITY": {}}}
SITE = "https://news.example"


def test_answers_vary_on_origin_for_every_caller_when_only_some_sites_are_allowed(tiny_bundle_path):
    app = create_app({"TESTING": True, "MODEL": str(tiny_bundle_path), "DB_URL": "sqlite://", "CORS_ORIGINS": [SITE]})
    with app.app_context():
        headers = {"X-Goog-Api-Key": create_key(get_session(), "browser")[1]}
    client = app.test_client()
    # A shared cache that kept one of these for the other site would break the allowed site or serve its headers on.
    for origin in ("https://evil.example", None):
        answer = client.post(ANALYZE, json=BODY, headers={**headers, **({"Origin": origin} if origin else {})})
        assert answer.status_code == 200 and "Access-Control-Allow-Origin" not in answer.headers
        assert "Origin" in answer.headers.get("Vary", ""), origin
    allowed = client.post(ANALYZE, json=BODY, headers={**headers, "Origin": SITE})
    assert allowed.headers["Access-Control-Allow-Origin"] == SITE and "Origin" in allowed.headers["Vary"]
    assert "Access-Control-Allow-Credentials" not in allowed.headers  # keys travel in headers, never cookies


def test_a_star_allows_every_site_without_credentials(tiny_bundle_path):
    app = create_app({"TESTING": True, "MODEL": str(tiny_bundle_path), "DB_URL": "sqlite://", "CORS_ORIGINS": ["*"]})
    preflight = app.test_client().options(ANALYZE, headers={"Origin": SITE, "Access-Control-Request-Method": "POST"})
    assert preflight.headers["Access-Control-Allow-Origin"] == "*"
    assert "Access-Control-Allow-Credentials" not in preflight.headers
