"""The metrics the docs list are the ones ``/metrics`` exposes: the same names, types and labels, none missing, none
made up (docs/deployment.md, *Metrics and logs*, is the list; README and docs/api.md name some of them)."""

from __future__ import annotations

import fnmatch
import re
from pathlib import Path

import pytest

from service.metrics import METRICS_KEY

ROOT = Path(__file__).resolve().parents[1]
METRICS_TABLE_DOC = ROOT / "docs" / "deployment.md"
TABLE_HEADER = "| metric | labels | counts |"
MENTIONING_DOCS = (ROOT / "README.md", ROOT / "docs" / "deployment.md", ROOT / "docs" / "api.md")
DOCUMENTED_TYPE = re.compile(r"\((histogram|gauge)\b")
METRIC_MENTION = re.compile(r"\b(moderation_[a-z_*]*(?:_total|_seconds|_info|_in_progress|_\*))(?:_sum|_count|_bucket)?\b(?:\{([^}]*)\})?")
"""A metric's name in prose, with its labels if given (``moderation_decisions_total{surface,decision}``); other
``moderation_`` words (modules, settings) do not end so."""


def exposed(app) -> dict[str, tuple[str, frozenset[str]]]:
    """Every metric of the app's registry as ``/metrics`` names it (a counter with ``_total``): its type and labels."""
    registry = app.extensions[METRICS_KEY].registry
    found = {}
    for collector in registry._collector_to_names:  # prometheus_client has no public list of a registry's metrics
        name = collector._name + ("_total" if collector._type == "counter" else "")
        found[name] = (collector._type, frozenset(collector._labelnames))
    return found


def documented() -> list[tuple[str, str, frozenset[str]]]:
    """The rows of the metrics table: name (``*`` for any part), type (counter unless it says otherwise), labels."""
    lines = METRICS_TABLE_DOC.read_text(encoding="utf-8").splitlines()
    start = lines.index(TABLE_HEADER) + 2  # past the header and its |---| line
    rows = []
    for line in lines[start:]:
        if not line.startswith("|"):
            break
        names, labels = line.split("|")[1:3]
        labels = re.sub(r"\([^()]*\)", "", labels)  # a label's values and notes are in brackets
        kind = (DOCUMENTED_TYPE.search(names) or [None, "counter"])[1]
        rows += [(name, kind, frozenset(re.findall(r"`([a-z_]+)`", labels))) for name in re.findall(r"`(moderation_[a-z_*]+)`", names)]
    return rows


def matching(pattern: str, names: dict) -> list[str]:
    """The exposed names a documented one (maybe with ``*``) stands for."""
    return [name for name in names if fnmatch.fnmatchcase(name, pattern)]


def test_the_metrics_table_lists_every_exposed_metric_with_its_type_and_labels(app):
    metrics = exposed(app)
    rows = documented()
    assert len(rows) >= 9  # the table was found and read
    covered = set()
    for pattern, kind, labels in rows:
        names = matching(pattern, metrics)
        assert names, f"docs/deployment.md lists {pattern}, which /metrics does not expose"
        for name in names:
            assert metrics[name] == (kind, labels), f"{name}: documented as a {kind} with labels {sorted(labels)}"
        covered.update(names)
    assert set(metrics) - covered == set(), "exposed but missing from docs/deployment.md's table"


@pytest.mark.parametrize("doc", MENTIONING_DOCS, ids=lambda path: path.name)
def test_every_metric_the_docs_name_is_exposed_with_the_labels_they_give(app, doc):
    metrics = exposed(app)
    mentions = METRIC_MENTION.findall(doc.read_text(encoding="utf-8"))
    assert mentions
    for name, labels in mentions:
        names = matching(name, metrics)
        assert names, f"{doc.name} names {name}, which /metrics does not expose"
        given = {label.split("=")[0].strip() for label in labels.split(",") if label.strip()}
        for exposed_name in names:
            assert given <= metrics[exposed_name][1], f"{doc.name}: {name}{{{labels}}}: no such label"


def test_docs_api_points_to_the_metrics_table_rather_than_listing_some(app):
    # docs/api.md's "Metrics:" named six metrics as if they were all: the scoring time, requests in progress, feedback
    # and the decision log's were missing. It names one for an example and points to the table.
    api = (ROOT / "docs" / "api.md").read_text(encoding="utf-8")
    named = {name for name, _labels in METRIC_MENTION.findall(api)}
    assert named == set(exposed(app)) or "(deployment.md#metrics-and-logs)" in api
    assert "## Metrics and logs" in METRICS_TABLE_DOC.read_text(encoding="utf-8").splitlines()  # the anchor's heading
