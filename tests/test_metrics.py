"""Metric labels stay bounded whatever clients send: made-up methods and paths share one label each."""

from __future__ import annotations

import os
import secrets
import shutil
import time

import pytest

PART_SECONDS = 0.05
METHOD_SERIES = 'moderation_http_requests_total{endpoint="unmatched",method="other",status="405"}'


def series(client) -> set[str]:
    """The sample lines of /metrics, without their values."""
    text = client.get("/metrics").get_data(as_text=True)
    return {line.rsplit(" ", 1)[0] for line in text.splitlines() if line and not line.startswith("#")}


def made_up_method() -> str:
    return "X" + secrets.token_hex(6).upper()


def test_made_up_methods_and_paths_add_no_series(client):
    client.open("/healthz", method=made_up_method())
    client.open(f"/{secrets.token_hex(8)}", method=made_up_method())
    series(client)  # its own first request adds the /metrics series
    before = series(client)
    for _ in range(40):
        assert client.open("/healthz", method=made_up_method()).status_code == 405
        assert client.open(f"/{secrets.token_hex(8)}", method=made_up_method()).status_code in (404, 405)
    after = series(client)
    assert after - before == set()
    assert METHOD_SERIES in after
    text = client.get("/metrics").get_data(as_text=True)
    assert f"{METHOD_SERIES} 41.0" in text  # every request to /healthz with a made-up method


def test_known_methods_keep_their_own_label(client):
    client.open("/healthz", method="DELETE")
    assert 'moderation_http_requests_total{endpoint="unmatched",method="DELETE",status="405"}' in series(client)


def test_refusals_by_the_request_count_are_counted_by_limit(tiny_bundle_path):
    from service.app import create_app
    from service.auth import create_key
    from service.store import get_session

    app = create_app({"TESTING": True, "MODEL": str(tiny_bundle_path), "DB_URL": "sqlite://", "RATE_LIMIT": "1 per minute"})
    with app.app_context():
        headers = {"X-API-Key": create_key(get_session(), "k")[1]}
    client = app.test_client()
    assert [client.get("/v1/model", headers=headers).status_code for _ in range(3)] == [200, 429, 429]
    assert 'moderation_limited_requests_total{limit="requests"} 2.0' in client.get("/metrics").get_data(as_text=True)


def sample(text: str, name: str) -> float | None:
    """The value of the sample line ``name`` (metric and labels) in a /metrics text, None if absent."""
    values = [float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.rsplit(" ", 1)[0] == name]
    return values[0] if values else None


ANALYZE = {"comment": {"text": "You are a stupid clown."}, "requestedAttributes": {"TOXICITY": {}}}


@pytest.mark.parametrize(("path", "body", "key_in"), [
    ("/v1/moderate", {"comments": [{"id": "a", "text": "You are a stupid clown."}]}, "header"),
    ("/v1alpha1/comments:analyze", ANALYZE, "query"),
])
def test_scoring_time_is_counted_apart_from_the_whole_request(client, api_key, path, body, key_in):
    if key_in == "query":
        assert client.post(f"{path}?key={api_key}", json=body).status_code == 200
    else:
        assert client.post(path, json=body, headers={"X-API-Key": api_key}).status_code == 200
    assert client.get("/v1/model", headers={"X-API-Key": api_key}).status_code == 200  # scores nothing
    text = client.get("/metrics").get_data(as_text=True)
    assert sample(text, f'moderation_scoring_duration_seconds_count{{endpoint="{path}"}}') == 1.0
    scoring = sample(text, f'moderation_scoring_duration_seconds_sum{{endpoint="{path}"}}')
    assert 0 < scoring <= sample(text, f'moderation_http_request_duration_seconds_sum{{endpoint="{path}"}}')
    assert sample(text, 'moderation_scoring_duration_seconds_count{endpoint="/v1/model"}') is None


def test_requests_in_progress_are_a_gauge(app, client, auth):
    from service.config import EXTENSION_KEY
    from service.metrics import METRICS_KEY

    seen = []
    scorer = app.extensions[EXTENSION_KEY]
    moderate = scorer.moderate

    def watched(*args, **kwargs):
        seen.append(sample(app.extensions[METRICS_KEY].exposition().decode(), "moderation_http_requests_in_progress"))
        return moderate(*args, **kwargs)

    scorer.moderate = watched
    assert client.post("/v1/moderate", json={"comments": [{"id": "a", "text": "hi"}]}, headers=auth).status_code == 200
    assert seen == [1.0]
    assert sample(client.get("/metrics").get_data(as_text=True), "moderation_http_requests_in_progress") == 1.0  # this one


def test_a_batch_is_one_request_in_progress_while_its_calls_run(tiny_bundle_path, tmp_path):
    # Each call of a batch runs through the app again: one batch on one worker read 2 in progress, which the metric's
    # HELP reads as that many workers busy.
    from service.app import create_app
    from service.config import EXTENSION_KEY
    from service.metrics import METRICS_KEY
    from tests.test_logs import analyze_part, batch_body, key_headers

    app = create_app({"TESTING": True, "MODEL": str(tiny_bundle_path), "DB_URL": f"sqlite:///{tmp_path / 'm.db'}"})
    key = key_headers(app)["X-API-Key"]
    scorer, seen = app.extensions[EXTENSION_KEY], []
    moderate = scorer.moderate

    def watched(*args, **kwargs):
        seen.append(sample(app.extensions[METRICS_KEY].exposition().decode(), "moderation_http_requests_in_progress"))
        return moderate(*args, **kwargs)

    scorer.moderate = watched
    body, content_type = batch_body([analyze_part(key)] * 2)
    assert app.test_client().post("/batch", data=body, content_type=content_type).status_code == 200
    assert seen == [1.0, 1.0]
    assert sample(app.extensions[METRICS_KEY].exposition().decode(), "moderation_http_requests_in_progress") == 0.0


def test_a_batch_is_timed_from_its_start_to_its_end(tiny_bundle_path, tmp_path, monkeypatch):
    from service.app import create_app
    from service.config import EXTENSION_KEY
    from tests.test_logs import analyze_part, batch_body, key_headers

    app = create_app({"TESTING": True, "MODEL": str(tiny_bundle_path), "DB_URL": f"sqlite:///{tmp_path / 'm.db'}"})
    key = key_headers(app)["X-API-Key"]
    scorer = app.extensions[EXTENSION_KEY]
    moderate = scorer.moderate
    monkeypatch.setattr(scorer, "moderate", lambda *args, **kwargs: time.sleep(PART_SECONDS) or moderate(*args, **kwargs))
    body, content_type = batch_body([analyze_part(key)] * 2)
    client = app.test_client()
    assert client.post("/batch", data=body, content_type=content_type).status_code == 200
    text = client.get("/metrics").get_data(as_text=True)
    assert sample(text, 'moderation_http_request_duration_seconds_count{endpoint="/v1alpha1/comments:analyze"}') == 2.0
    # Each part took at least PART_SECONDS, so the whole batch took twice that at least.
    assert sample(text, 'moderation_http_request_duration_seconds_sum{endpoint="/batch"}') >= 2 * PART_SECONDS


def test_one_worker_keeps_its_counts_in_files_too(monkeypatch):
    """A worker that gunicorn restarts (killed, timed out, reloaded) must not take the counts with it."""
    from service.server import _OWNED_METRICS_DIR, METRICS_DIR_ENV, prepare_metrics_dir

    for name in (METRICS_DIR_ENV, _OWNED_METRICS_DIR):
        monkeypatch.setenv(name, "")  # restored (unset) after the test
        monkeypatch.delenv(name)
    path = prepare_metrics_dir()
    try:
        assert path is not None and os.path.isdir(path) and os.environ[METRICS_DIR_ENV] == path
    finally:
        if path is not None:
            shutil.rmtree(path)


def test_an_operators_metrics_folder_loses_only_old_metric_files_never_a_database_beside_them(monkeypatch, tmp_path):
    # Every *.db of PROMETHEUS_MULTIPROC_DIR was removed at start: the SQLite database and its backups too, when an
    # operator kept them in the one folder the unit lets the service write (/var/lib/moderation).
    from service.server import _OWNED_METRICS_DIR, METRICS_DIR_ENV, prepare_metrics_dir

    monkeypatch.setenv(METRICS_DIR_ENV, str(tmp_path))
    monkeypatch.delenv(_OWNED_METRICS_DIR, raising=False)
    kept = ["moderation.db", "moderation-2026-12-07.db", "metrics.lock", "counter_notes.txt"]
    stale = ["counter_123.db", "gauge_livesum_123.db", "gauge_liveall_9.db", "histogram_456.db", "counter_exited.db",
             "histogram_exited.db.staged"]
    for name in kept + stale:
        (tmp_path / name).write_bytes(b"x")
    assert prepare_metrics_dir() == str(tmp_path)
    assert sorted(path.name for path in tmp_path.iterdir()) == sorted(kept)


def test_stored_feedback_is_counted_by_source_and_decision_apart_from_the_models_decisions(client, api_key, auth):
    def value(sample: str) -> float:
        found = [line for line in client.get("/metrics").get_data(as_text=True).splitlines() if line.startswith(sample + " ")]
        return float(found[0].rsplit(" ", 1)[1]) if found else 0.0

    reject = 'moderation_feedback_total{decision="reject",source="v1_feedback"}'
    labels_only = 'moderation_feedback_total{decision="none",source="perspective:suggestscore"}'
    for comment_id in ("c1", "c2", "c2"):  # c2's again is a retry: answered, not stored or counted again
        assert client.post("/v1/feedback", json={"comment_id": comment_id, "decision": "reject"}, headers=auth).status_code == 201
    suggestion = {"comment": {"text": "Nice park."}, "attributeScores": {"TOXICITY": {"summaryScore": {"value": 0.1}}}}
    assert client.post(f"/v1alpha1/comments:suggestscore?key={api_key}", json=suggestion).status_code == 200
    refused = client.post("/v1/feedback", json={"comment_id": "c1", "decision": "maybe"}, headers=auth)
    assert refused.status_code == 400

    assert (value(reject), value(labels_only)) == (2.0, 1.0)  # the refused one is not counted
    assert not any(line.startswith("moderation_decisions_total{") for line in client.get("/metrics").get_data(as_text=True).splitlines())


def test_the_metrics_content_type_is_prometheus_own_with_one_charset(client):
    from prometheus_client import CONTENT_TYPE_LATEST

    content_type = client.get("/metrics").headers["Content-Type"]
    assert content_type == CONTENT_TYPE_LATEST and content_type.count("charset") == 1  # Flask appended a second one


def test_the_feedback_help_names_the_sources_as_the_label_spells_them(client):
    # It said perspective_suggestscore: a query written from it matched nothing.
    from service.api_v1 import FEEDBACK_SOURCE as V1_SOURCE
    from service.perspective import SUGGESTSCORE_SOURCE
    from service.ui.queue import FEEDBACK_SOURCE as UI_SOURCE

    text = client.get("/metrics").get_data(as_text=True)
    help_line = next(line for line in text.splitlines() if line.startswith("# HELP moderation_feedback_total "))
    assert f"({V1_SOURCE}, {SUGGESTSCORE_SOURCE}, {UI_SOURCE})" in help_line
