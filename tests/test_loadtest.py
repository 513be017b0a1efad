"""The service load test: percentiles, bodies, and a tiny real run against a 2-worker server on loopback."""

from __future__ import annotations

import json
import sys

import pytest

from service.loadtest import BATCH_SIZE, TARGET_CONCURRENCY, batch_bodies, load_test_markdown, percentile, single_bodies, write_load_test


@pytest.mark.parametrize(("fraction", "expected"), [(0.5, 50), (0.99, 99), (1.0, 100), (0.001, 1)])
def test_percentile_is_nearest_rank(fraction, expected):
    assert percentile(list(range(100, 0, -1)), fraction) == expected


def test_bodies_cycle_through_the_texts():
    singles = single_bodies(["a", "b"], 3, offset=1)
    assert [body["comments"][0]["text"] for body in singles] == ["b", "a", "b"]
    (batch,) = batch_bodies(["a", "b", "c"], 1)
    assert len(batch["comments"]) == BATCH_SIZE
    assert len({comment["id"] for comment in batch["comments"]}) == BATCH_SIZE


def test_a_tiny_run_against_a_real_server_writes_both_reports(tmp_path, tiny_bundle_path):
    # A site's policy file reaches the server, and the report says which policy and span floor served.
    policy = tmp_path / "site_policy.toml"
    policy.write_text((tiny_bundle_path / "policy.toml").read_text(encoding="utf-8") + "\n[spans]\nfloor = 0.42\n", encoding="utf-8")
    out, results = write_load_test(tmp_path / "bench_service.md", model=tiny_bundle_path, requests_per_level=16, batch_requests=2,
                                   levels=(1, TARGET_CONCURRENCY), policy=policy)
    assert (results["policy"], results["span_floor"]) == (str(policy), 0.42)
    assert f"), served with policy `{policy}`, span floor 0.42. Numbers" in out.read_text()
    assert results["errors"] == {"client_seen": 0, "server_5xx": 0}
    assert results["server"]["exit_status"] == 0
    assert [level["concurrency"] for level in results["single_comment"]] == [1, TARGET_CONCURRENCY]
    for level in results["single_comment"]:
        assert level["requests"] == 16 and level["errors"] == 0
        assert 0 < level["p50_ms"] <= level["p99_ms"] <= level["max_ms"]
        assert level["requests_per_second"] > 0
        assert level["client_cpu_ms_per_request"] > 0
        if sys.platform == "linux":  # read from /proc
            assert level["server_cpu_ms_per_request"] > 0
    if sys.platform == "linux":
        rss = results["server"]["rss_after_runs"]
        assert len(rss["worker_mib"]) == 2 and all(mib > 50 for mib in rss["worker_mib"]) and rss["master_mib"] > 20
    assert results["batch"]["comments_per_second"] > 0
    assert results["target"]["value_ms"] == results["single_comment"][1]["p99_ms"]
    assert json.loads(out.with_suffix(".json").read_text()) == results
    report = out.read_text()
    assert report == load_test_markdown(results)
    assert "| 8 | 16 | 0 |" in report and "p99 latency, one comment per request, concurrency 8" in report
