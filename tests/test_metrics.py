"""Metric labels stay bounded whatever clients send: made-up methods and paths share one label each."""

from __future__ import annotations

import secrets

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
