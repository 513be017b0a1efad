"""The side-by-side section of eval.md: every target, the bias scores and behaviour pass rates of ours and a baseline."""

from __future__ import annotations

from collections.abc import Mapping

from model.evaluation.report_format import format_number, is_defined


def _key(row: Mapping) -> tuple[str, str, str]:
    return row["set"], row["attribute"], row["metric"]


def _delta(ours: float | None, theirs: float | None) -> str:
    return f"{ours - theirs:+.3f}" if is_defined(ours) and is_defined(theirs) else "n/a"


def comparison_rows(report: Mapping, baseline: Mapping) -> list[tuple[str, str, float | None, float | None]]:
    """``(what, set, ours, baseline)`` for every target row of either report, each set's final bias score and
    civil rows flagged, and the behaviour pass rates (overall, per category, long comment)."""
    theirs = {_key(row): row["value"] for row in baseline["targets"]}
    rows = [(f"{row['attribute']}: {row['metric']}", row["set"], row["value"], theirs.get(_key(row)))
            for row in report["targets"]]
    ours_keys = {_key(row) for row in report["targets"]}
    rows += [(f"{row['attribute']}: {row['metric']}", row["set"], None, row["value"])
             for row in baseline["targets"] if _key(row) not in ours_keys]
    base_bias = baseline["bias"].get("sets", {})
    for name, result in report["bias"].get("sets", {}).items():
        other = base_bias.get(name, {})
        rows.append(("final bias score", name, result["final_score"], other.get("final_score")))
        rows.append(("civil rows flagged at review", name, result["negative_flagged"], other.get("negative_flagged")))
    ours, base = report["behaviour"], baseline["behaviour"]
    rows.append(("behaviour pass rate", "all pairs", ours["pass_rate"], base["pass_rate"]))
    for category, result in ours["categories"].items():
        rows.append(("behaviour pass rate", category, result["pass_rate"], base["categories"].get(category, {}).get("pass_rate")))
    rows.append(("long comment caught (1 = yes)", "behaviour", float(ours["long_comment"]["passed"]),
                 float(base["long_comment"]["passed"])))
    return rows


def side_by_side_markdown(report: Mapping, baseline: Mapping) -> list[str]:
    """The ``Side by side`` section: one row per comparable figure, ours, the baseline's and the difference."""
    version = baseline["model_version"]
    lines = ["", f"## Side by side: {report['model_version']} (ours) and {version} (baseline)", "",
             f"The same data scored by both bundles (baseline bundle: `{baseline['model_path']}`). Differences are ours "
             "minus the baseline's; for Brier and flagged shares lower is better, for every other figure higher is.", "",
             f"| figure | set | {report['model_version']} | {version} | difference |", "|---|---|---|---|---|"]
    for what, name, ours, theirs in comparison_rows(report, baseline):
        lines.append(f"| {what} | {name} | {format_number(ours)} | {format_number(theirs)} | {_delta(ours, theirs)} |")
    return lines
