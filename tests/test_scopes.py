"""Key scopes: each route needs its scope (403 naming it), rows record the key, feedback export filters by key."""

from __future__ import annotations

import pandas as pd
import pytest
from sqlalchemy import select, text

from service.app import create_app
from service.auth import UnknownScope, create_key, hash_key
from service.cli import cli
from service.migrations import upgrade
from service.store import DecisionRecord, Feedback, app_engine, get_session, make_engine

MODERATE = ("post", "/v1/moderate", {"comments": [{"id": "a", "text": "hello"}]})
FEEDBACK = ("post", "/v1/feedback", {"comment_id": "a", "decision": "reject"})
ANALYZE = ("post", "/v1alpha1/comments:analyze", {"comment": {"text": "hello"}, "requestedAttributes": {"TOXICITY": {}}})
SUGGEST = ("post", "/v1alpha1/comments:suggestscore", {"comment": {"text": "hello"}, "attributeScores": {"TOXICITY": {"summaryScore": {"value": 1.0}}}})
MODEL = ("get", "/v1/model", None)


def key_with(app, *scopes: str, name: str = "k") -> dict[str, str]:
    with app.app_context():
        return {"Authorization": f"Bearer {create_key(get_session(), name, scopes)[1]}"}


def call(client, route, headers):
    method, path, body = route
    return getattr(client, method)(path, json=body, headers=headers)


def error_of(response) -> dict:
    body = response.get_json()["error"]
    return {"code": body.get("code"), "message": body["message"], "reason": (body.get("details") or [{}])[0].get("reason")}


@pytest.mark.parametrize(
    ("scopes", "route", "missing"),
    [
        (("moderate",), FEEDBACK, "feedback"),
        (("moderate",), SUGGEST, "feedback"),
        (("feedback",), MODERATE, "moderate"),
        (("feedback",), ANALYZE, "moderate"),
    ],
)
def test_a_route_needs_its_scope_and_403_names_it(app, client, scopes, route, missing):
    response = call(client, route, key_with(app, *scopes))
    assert response.status_code == 403
    error = error_of(response)
    assert f"lacks the '{missing}' scope" in error["message"]
    assert f"--scope {missing}" in error["message"]
    assert error["code"] == "missing_scope" or error["reason"] == "MISSING_SCOPE"


@pytest.mark.parametrize(
    ("scopes", "route", "status"),
    [
        (("moderate",), MODERATE, 200),
        (("moderate",), ANALYZE, 200),
        (("moderate",), MODEL, 200),
        (("feedback",), FEEDBACK, 201),
        (("feedback",), SUGGEST, 200),
        (("feedback",), MODEL, 200),
        (("admin",), MODERATE, 200),
        (("admin",), FEEDBACK, 201),
        (("moderate", "feedback"), FEEDBACK, 201),
    ],
)
def test_a_key_with_the_scope_is_served(app, client, scopes, route, status):
    assert call(client, route, key_with(app, *scopes)).status_code == status


def test_a_key_made_without_scopes_can_moderate_and_send_feedback(app, client, auth):
    assert call(client, MODERATE, auth).status_code == 200
    assert call(client, FEEDBACK, auth).status_code == 201


def test_unknown_or_no_scopes_are_refused(app):
    with app.app_context(), pytest.raises(UnknownScope, match="unknown scope 'root'"):
        create_key(get_session(), "k", ["root"])
    with app.app_context(), pytest.raises(UnknownScope, match="at least one scope"):
        create_key(get_session(), "k", [])


def test_decision_and_feedback_rows_record_the_key(app, client):
    moderator = key_with(app, "moderate", "feedback", name="cms")
    call(client, MODERATE, moderator)
    call(client, FEEDBACK, moderator)
    with app.app_context():
        session = get_session()
        key_id = session.scalar(text("SELECT id FROM api_keys WHERE name = 'cms'"))
        assert session.scalar(select(DecisionRecord.api_key_id)) == key_id
        assert session.scalar(select(Feedback.api_key_id)) == key_id


def test_keys_made_before_scopes_keep_moderate_and_feedback(tiny_bundle_path, db_url):
    """A database at revision 0001 with a key: after the upgrade the key still moderates and sends feedback."""
    engine = make_engine(db_url)
    upgrade(engine, "0001")
    with engine.begin() as connection:
        connection.execute(text(
            "INSERT INTO api_keys (name, key_sha256, prefix, created_at) VALUES ('old', :sha, 'mod_old', CURRENT_TIMESTAMP)"
        ), {"sha": hash_key("mod_old_key")})
    engine.dispose()
    app = create_app({"TESTING": True, "MODEL": str(tiny_bundle_path), "DB_URL": db_url})
    try:
        client = app.test_client()
        headers = {"Authorization": "Bearer mod_old_key"}
        assert call(client, MODERATE, headers).status_code == 200
        assert call(client, FEEDBACK, headers).status_code == 201
        assert call(client, SUGGEST, headers).status_code == 200
    finally:
        app_engine(app).dispose()


# The command line: create with scopes, list them, export feedback by key


@pytest.fixture
def db_env(tmp_path):
    return {"MODERATION_DB_URL": f"sqlite:///{tmp_path / 'cli.db'}"}


def test_keys_create_with_scopes_and_list_shows_them(runner, db_env):
    created = runner.invoke(cli, ["keys", "create", "cms", "--scope", "moderate"], env=db_env)
    assert created.exit_code == 0, created.output
    assert "scopes: moderate)" in created.stderr
    assert runner.invoke(cli, ["keys", "create", "mods", "--scope", "feedback", "--scope", "admin"], env=db_env).exit_code == 0
    assert runner.invoke(cli, ["keys", "create", "plain"], env=db_env).exit_code == 0
    rows = [line.split("\t") for line in runner.invoke(cli, ["keys", "list"], env=db_env).stdout.splitlines()[1:]]
    assert [(row[1], row[4]) for row in rows] == [("cms", "moderate"), ("mods", "feedback,admin"), ("plain", "moderate,feedback")]
    bad = runner.invoke(cli, ["keys", "create", "x", "--scope", "root"], env=db_env)
    assert bad.exit_code == 2 and "'root' is not one of 'moderate', 'feedback', 'admin'" in bad.output


def test_feedback_export_has_the_key_and_filters_by_it(runner, db_env, tiny_bundle_path, tmp_path, monkeypatch):
    for variable, value in db_env.items():
        monkeypatch.setenv(variable, value)
    app = create_app({"TESTING": True, "MODEL": str(tiny_bundle_path)})
    client = app.test_client()
    honest, poisoner = key_with(app, "feedback", name="desk"), key_with(app, "feedback", name="intruder")
    client.post("/v1/feedback", json={"comment_id": "c1", "decision": "reject"}, headers=honest)
    client.post("/v1/feedback", json={"comment_id": "c2", "decision": "approve"}, headers=poisoner)
    client.post("/v1/feedback", json={"comment_id": "c3", "decision": "approve"}, headers=poisoner)
    app_engine(app).dispose()

    everything = tmp_path / "all.csv"
    assert runner.invoke(cli, ["feedback", "export", "-o", str(everything)]).exit_code == 0
    frame = pd.read_csv(everything)
    assert list(zip(frame["comment_id"], frame["api_key_name"], strict=True)) == [("c1", "desk"), ("c2", "intruder"), ("c3", "intruder")]
    assert frame["api_key_id"].tolist() == [1, 2, 2]

    for selector in ("intruder", "2"):
        only = tmp_path / f"only-{selector}.csv"
        result = runner.invoke(cli, ["feedback", "export", "-o", str(only), "--key", selector])
        assert result.exit_code == 0, result.output
        assert pd.read_csv(only)["comment_id"].tolist() == ["c2", "c3"]
    unknown = runner.invoke(cli, ["feedback", "export", "-o", str(tmp_path / "x.csv"), "--key", "nobody"])
    assert unknown.exit_code == 2 and "no key with id or name 'nobody'" in unknown.output


def test_feedback_by_comment_id_takes_the_text_its_own_key_logged(runner, db_env, tiny_bundle_path, tmp_path, monkeypatch):
    """Two sites, each with its key, both have a comment 17: site A's feedback on its 17 was exported with the text
    site B logged last, and trained so. A key that logged no such id (a feedback-only key beside a CMS key with only
    `moderate`) still takes the text another key logged."""
    for variable, value in db_env.items():
        monkeypatch.setenv(variable, value)
    app = create_app({"TESTING": True, "MODEL": str(tiny_bundle_path), "STORE_TEXT": True})
    client = app.test_client()
    site_a = key_with(app, "moderate", "feedback", name="site-a")
    site_b = key_with(app, "moderate", "feedback", name="site-b")
    cms, desk = key_with(app, "moderate", name="cms"), key_with(app, "feedback", name="desk")
    for headers, comment_id, comment in ((site_a, "17", "site A's comment 17"), (site_b, "17", "site B's comment 17"),
                                         (cms, "40", "a comment the CMS sent")):
        assert client.post("/v1/moderate", json={"comments": [{"id": comment_id, "text": comment}]}, headers=headers).status_code == 200
    for headers, comment_id in ((site_a, "17"), (desk, "40")):
        assert client.post("/v1/feedback", json={"comment_id": comment_id, "decision": "reject"}, headers=headers).status_code == 201
    app_engine(app).dispose()

    exported = tmp_path / "feedback.csv"
    assert runner.invoke(cli, ["feedback", "export", "-o", str(exported)]).exit_code == 0
    frame = pd.read_csv(exported, keep_default_na=False)
    assert list(zip(frame["api_key_name"], frame["text"], strict=True)) == [("site-a", "site A's comment 17"),
                                                                          ("desk", "a comment the CMS sent")]


def test_feedback_by_comment_id_takes_no_text_when_two_other_keys_logged_that_id(runner, db_env, tiny_bundle_path, tmp_path,
                                                                                 monkeypatch):
    """A feedback-only key's verdict on comment 17, which two sites logged with their own keys: which 17? The export gave
    it the text logged last (the other site's), and training learned a civil comment as a reject. It is exported without
    text, and counted so by retraining; one site alone having logged it, its text is taken, as before."""
    for variable, value in db_env.items():
        monkeypatch.setenv(variable, value)
    app = create_app({"TESTING": True, "MODEL": str(tiny_bundle_path), "STORE_TEXT": True})
    client = app.test_client()
    news, forum = key_with(app, "moderate", name="news"), key_with(app, "moderate", name="forum")
    desk = key_with(app, "feedback", name="desk")
    for headers, comment_id, comment in ((news, "17", "Thank you for this thoughtful article."),
                                         (forum, "17", "Go die in a fire, scum."),
                                         (news, "18", "The mayor should resign.")):
        assert client.post("/v1/moderate", json={"comments": [{"id": comment_id, "text": comment}]}, headers=headers).status_code == 200
    for comment_id, decision in (("17", "approve"), ("18", "approve")):
        assert client.post("/v1/feedback", json={"comment_id": comment_id, "decision": decision}, headers=desk).status_code == 201
    app_engine(app).dispose()

    exported = tmp_path / "feedback.csv"
    assert runner.invoke(cli, ["feedback", "export", "-o", str(exported)]).exit_code == 0
    frame = pd.read_csv(exported, keep_default_na=False)
    assert list(zip(frame["comment_id"].astype(str), frame["text"], strict=True)) == [("17", ""), ("18", "The mayor should resign.")]


def test_prune_writes_the_logged_text_into_feedback_sent_by_comment_id(runner, db_env, tiny_bundle_path, tmp_path, monkeypatch):
    """With STORE_TEXT the text need not come with a verdict: the export takes it from the decision log. `db prune`
    deleted that log, so 25 of 39 verdicts of a site were exported without text and never trained on."""
    for variable, value in db_env.items():
        monkeypatch.setenv(variable, value)
    app = create_app({"TESTING": True, "MODEL": str(tiny_bundle_path), "STORE_TEXT": True})
    client = app.test_client()
    site = key_with(app, "moderate", "feedback", name="site")
    assert client.post("/v1/moderate", json={"comments": [{"id": "c1", "text": "You are a stupid clown."}]},
                       headers=site).status_code == 200
    assert client.post("/v1/feedback", json={"comment_id": "c1", "decision": "reject"}, headers=site).status_code == 201
    app_engine(app).dispose()

    pruned = runner.invoke(cli, ["db", "prune", "--older-than", "0", "--all"])
    assert pruned.exit_code == 0 and "pruned 1 decision-log row(s)" in pruned.output, pruned.output
    assert "Wrote the logged text into 1 feedback row(s) sent by comment id alone" in pruned.stderr  # retention: said
    exported = tmp_path / "feedback.csv"
    assert runner.invoke(cli, ["feedback", "export", "-o", str(exported)]).exit_code == 0
    frame = pd.read_csv(exported, keep_default_na=False)
    assert list(zip(frame["text"], frame["decision"], strict=True)) == [("You are a stupid clown.", "reject")]
