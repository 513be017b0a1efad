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
