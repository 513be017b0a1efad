"""Security review: every route of the app needs the right API-key scope, a signed-in user or Coral's signature, or
is public on purpose. A new route fails ``test_every_route_is_classified`` until it is put in one of these tables."""

from __future__ import annotations

import pytest

from service.app import create_app
from service.auth import create_key
from service.store import get_session
from tests.ui_support import add_user, csrf_from, sign_in

PUBLIC = {
    "/healthz", "/readyz", "/metrics", "/openapi.json", "/docs", "/static/<path:filename>",
    "/$discovery/rest", "/discovery/v1/apis/commentanalyzer/<version>/rest",  # Google's clients read it before any key
    "/batch",  # each part is a request of its own, checked like one sent alone
    "/v1alpha1/<path:rest>",  # Google-shaped 404 and 405 for paths that are not methods
}
KEYED = {
    "/v1/moderate": ("POST", "moderate", {"comments": [{"id": "c1", "text": "Nice park."}]}),
    "/v1/feedback": ("POST", "feedback", {"comment_id": "c1", "decision": "reject"}),
    "/v1/model": ("GET", None, None),
    "/v1alpha1/comments:analyze": ("POST", "moderate", {"comment": {"text": "Nice park."}, "requestedAttributes": {"TOXICITY": {}}}),
    "/v1alpha1/comments:suggestscore": ("POST", "feedback", {"comment": {"text": "Nice park."},
                                                               "attributeScores": {"TOXICITY": {"summaryScore": {"value": 0.9}}}}),
}
"""Route: (method, the scope it needs or None for any key, a valid body)."""
SIGNED = "/coral/v1/moderate"
SIGN_IN = "/ui/sign-in"
ADMIN_PAGES = {"/ui/keys", "/ui/keys/<int:key_id>/revoke", "/ui/model", "/ui/model/plots/<name>"}
PAGES = {"/ui/", "/ui/queue", "/ui/queue/<int:item_id>", "/ui/queue/<int:item_id>/text", "/ui/try", "/ui/sign-out", *ADMIN_PAGES}
OTHER_SCOPE = {"moderate": "feedback", "feedback": "moderate"}


@pytest.fixture
def app(tiny_bundle_path):
    app = create_app({"TESTING": True, "MODEL": str(tiny_bundle_path), "DB_URL": "sqlite://", "CORAL_SECRET": "s3cret",
                      "RATE_LIMIT": "10000 per minute"})
    add_user(app, "mo")
    return app


def _key(app, scope: str) -> dict[str, str]:
    with app.app_context():
        return {"Authorization": f"Bearer {create_key(get_session(), f'only-{scope}', [scope])[1]}"}


def _url(rule) -> str:
    return rule.rule.replace("<int:key_id>", "1").replace("<int:item_id>", "1").replace("<name>", "x.png")


def test_every_route_is_classified(app):
    routes = {rule.rule for rule in app.url_map.iter_rules()}
    assert routes == PUBLIC | set(KEYED) | {SIGNED, SIGN_IN} | PAGES


@pytest.mark.parametrize("path", sorted(KEYED))
def test_each_api_route_needs_a_key_with_its_scope(app, path):
    method, scope, body = KEYED[path]
    client = app.test_client()
    assert client.open(path, method=method, json=body).status_code == 401
    assert client.open(path, method=method, json=body, headers={"X-API-Key": "mod_made-up"}).status_code == 403
    if scope is not None:
        refused = client.open(path, method=method, json=body, headers=_key(app, OTHER_SCOPE[scope]))
        assert refused.status_code == 403 and f"lacks the '{scope}' scope" in refused.get_json()["error"]["message"]
        assert client.open(path, method=method, json=body, headers=_key(app, scope)).status_code in (200, 201)
    assert client.open(path, method=method, json=body, headers=_key(app, "admin")).status_code in (200, 201)


def test_coral_needs_its_signature(app):
    assert app.test_client().post(SIGNED, json={"comment": {"body": "Nice park."}}).status_code == 401


def test_every_page_needs_a_signed_in_user_and_admin_pages_an_admin(app):
    rules = [rule for rule in app.url_map.iter_rules() if rule.rule in PAGES]
    visitor = app.test_client()
    token = csrf_from(visitor.get(SIGN_IN).get_data(as_text=True))  # a visitor's own valid form token
    for rule in rules:
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            answer = visitor.open(_url(rule), method=method, data={"csrf_token": token})
            assert answer.status_code == 302 and answer.headers["Location"].startswith(SIGN_IN), (method, rule.rule)
    moderator = app.test_client()
    sign_in(moderator, "mo")
    token = csrf_from(moderator.get("/ui/try").get_data(as_text=True))
    for rule in rules:
        if rule.rule in ADMIN_PAGES:
            for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
                assert moderator.open(_url(rule), method=method, data={"csrf_token": token}).status_code == 403, rule.rule
