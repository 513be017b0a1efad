"""Identity-bias section of the evaluation report: score the bias sets, check the issue's targets, render eval.md."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np
import pandas as pd

from model.attributes import CLAIM_ATTRIBUTE
from model.evaluation.bias import (
    BIAS_METRICS,
    final_bias_score,
    flagged_at_review,
    flagged_share,
    identity_metrics,
    power_mean,
)
from model.evaluation.bias_data import MADLIBS
from model.evaluation.report_format import format_pair, format_signed, is_defined, target_margin, target_status
from model.training.metrics import roc_auc

BIAS_ATTRIBUTE = "toxicity"
"""The score whose ranking the bias metrics judge, as in the Jigsaw competition."""
MIN_CLASS_ROWS = 5
"""An identity is scored (power means, targets) only with at least this many hostile and civil rows mentioning it:
on the Wikipedia comments most identities appear a handful of times, where one comment swings an AUC."""
IDENTITY_AUC_TARGET = 0.90
"""Issue 14: every identity's subgroup, BPSN and BNSP AUC at least this."""
NOT_BAD_FLAGGED_TARGET = 0.05
"""Issue 14: at most this share of the NOT_BAD madlibs flagged at the policy's review thresholds."""
METRIC_LABELS = {"subgroup_auc": "subgroup AUC", "bpsn_auc": "BPSN AUC", "bnsp_auc": "BNSP AUC"}


def review_thresholds(scorer) -> dict[str, float]:
    """The policy's ``[review]`` thresholds of the hostility attributes (a claim flag is not hostility)."""
    policy = getattr(scorer, "policy", None)
    review = getattr(policy, "review", {}) if policy is not None else {}
    return {attribute: threshold for attribute, threshold in review.items() if attribute != CLAIM_ATTRIBUTE}


def _is_scored(metrics: Mapping) -> bool:
    return metrics["n_positive"] >= MIN_CLASS_ROWS and metrics["n_rows"] - metrics["n_positive"] >= MIN_CLASS_ROWS


def evaluate_bias_set(frame: pd.DataFrame, scores: np.ndarray, attributes: Sequence[str],
                      review: Mapping[str, float]) -> dict:
    """Bias metrics of one set, per identity and overall, and the share of civil rows flagged at ``review``.

    Parameters
    ----------
    frame : pandas.DataFrame
        ``label`` and one boolean column per identity (``frame.attrs["identities"]``), as ``load_bias_set`` returns.
    scores : numpy.ndarray of shape (n_rows, n_attributes)
        Probabilities, column ``j`` for ``attributes[j]``.
    attributes : sequence of str
        Attribute names of the columns; must include ``toxicity``.
    review : mapping
        Attribute -> review threshold deciding what counts as flagged.

    Returns
    -------
    dict
        ``overall_auc``, ``negative_flagged`` (share of label-0 rows flagged), ``identities`` (every identity with
        rows: counts, the three AUCs, ``negative_flagged`` and ``scored``), ``power_means`` and ``final_score``
        over the scored identities.
    """
    labels = frame["label"].to_numpy(int)
    toxicity = np.asarray(scores, dtype=float)[:, list(attributes).index(BIAS_ATTRIBUTE)]
    flagged = flagged_at_review(scores, attributes, review)
    identities = {}
    for term in frame.attrs["identities"]:
        member = frame[term].to_numpy(bool)
        if member.any():
            metrics = identity_metrics(labels, toxicity, member)
            identities[term] = metrics | {"negative_flagged": flagged_share(flagged, labels, member),
                                          "scored": _is_scored(metrics)}
    scored = {term: metrics for term, metrics in identities.items() if metrics["scored"]}
    overall = roc_auc(labels, toxicity)
    return {
        "description": frame.attrs.get("description", ""), "license": frame.attrs.get("license", "unknown"),
        "n_rows": len(frame), "n_positive": int(labels.sum()), "overall_auc": overall,
        "negative_flagged": flagged_share(flagged, labels), "identities": identities,
        "power_means": {name: power_mean([m[name] for m in scored.values()]) for name in BIAS_METRICS},
        "final_score": final_bias_score(overall, scored) if scored else float("nan"),
    }


def evaluate_bias(scorer, sets: Mapping[str, pd.DataFrame], predict: Callable[[list[str], str], np.ndarray]) -> dict:
    """``evaluate_bias_set`` on every set, scored by ``predict(texts, description)``, at the scorer's review thresholds."""
    review = review_thresholds(scorer)
    section = {name: evaluate_bias_set(frame, predict(frame["text"].tolist(), f"{name}: our scores"),
                                       scorer.attributes, review) for name, frame in sets.items()}
    return {"attribute": BIAS_ATTRIBUTE, "review_thresholds": review, "min_class_rows": MIN_CLASS_ROWS, "sets": section}


def bias_targets(section: Mapping) -> list[dict]:
    """The issue's bias targets per set: the worst scored identity's three AUCs, and the NOT_BAD madlibs flagged."""
    rows = []
    for name, result in section.get("sets", {}).items():
        scored = {term: m for term, m in result["identities"].items() if m["scored"]}
        for metric in BIAS_METRICS:
            values = {term: m[metric] for term, m in scored.items() if is_defined(m[metric])}
            worst = min(values, key=values.get) if values else None
            value = values[worst] if worst else None
            rows.append({"set": name, "attribute": BIAS_ATTRIBUTE, "metric": f"min {metric}", "target": IDENTITY_AUC_TARGET,
                         "value": value, "met": bool(value is not None and value >= IDENTITY_AUC_TARGET),
                         "worst_identity": worst,
                         "n_below": sum(1 for v in values.values() if v < IDENTITY_AUC_TARGET), "n_identities": len(values)})
        if name == MADLIBS:
            value = result["negative_flagged"]
            rows.append({"set": name, "attribute": "review thresholds", "metric": "NOT_BAD flagged share",
                         "target": NOT_BAD_FLAGGED_TARGET, "at_most": True, "value": value,
                         "met": bool(is_defined(value) and value <= NOT_BAD_FLAGGED_TARGET)})
    return rows


def bias_markdown(section: Mapping, baseline: Mapping | None = None, baseline_version: str | None = None) -> list[str]:
    """The identity-bias section of ``eval.md``; with a baseline, its figures after ours in every cell (ours / baseline)."""
    lines = ["", "## Identity-term bias", ""]
    if not section.get("sets"):
        return lines + ["Not evaluated: the bias sets (`hostility/jigsaw_bias_madlibs`) are not in the data directory."]
    has_base = baseline is not None and bool(baseline.get("sets"))
    versus = f" (ours / {baseline_version})" if has_base else ""
    thresholds = ", ".join(f"{a} {t:.3f}" for a, t in section["review_thresholds"].items())
    lines += [
        "Jigsaw unintended-bias metrics (Borkan et al. 2019) of the `toxicity` score on Dixon et al.'s evaluation-only "
        "sets (never trained or tuned on). For one identity: **subgroup AUC** ranks hostile above civil among rows "
        "mentioning it; **BPSN AUC** is low when civil mentions of it outscore hostile rows about others (false alarms); "
        "**BNSP AUC** is low when hostile rows about it score below civil rows about others (missed attacks). "
        "**Final bias score** = 0.25 x overall AUC + 0.75 x the mean of the three power means (p = -5) across "
        f"identities. **Flagged** = a hostility score reaches its review threshold ({thresholds}). Identities with "
        f"fewer than {section['min_class_rows']} hostile or civil rows are listed but not scored.", "",
        "### Targets", "", f"| set | measure | target | value{versus} | margin (+ met) | met | worst identity |",
        "|---|---|---|---|---|---|---|",
    ]
    base_targets = {(r["set"], r["metric"]): r for r in bias_targets(baseline)} if has_base else {}
    for row in bias_targets(section):
        other = base_targets.get((row["set"], row["metric"]), {})
        target = f"{'<=' if row.get('at_most') else '>='} {row['target']:.2f}"
        worst = f"{row['worst_identity']} ({row['n_below']} of {row['n_identities']} below)" if row.get("worst_identity") else ""
        lines.append(f"| {row['set']} | {row['metric']} | {target} | {format_pair(row['value'], other.get('value'), has_base, row['target'])} | "
                     f"{format_signed(target_margin(row))} | {target_status(row)} | {worst} |")
    for name, result in section["sets"].items():
        base = baseline["sets"].get(name) if has_base else None
        lines += ["", f"### {name}", "", f"{result['description']} License: {result['license']}. Rows {result['n_rows']}, "
                  f"hostile {result['n_positive']}.", "", f"| measure | value{versus} |", "|---|---|"]
        lines.append(f"| overall AUC | {format_pair(result['overall_auc'], base and base['overall_auc'], base is not None)} |")
        for metric in BIAS_METRICS:
            lines.append(f"| power mean of {METRIC_LABELS[metric]} | "
                         f"{format_pair(result['power_means'][metric], base and base['power_means'][metric], base is not None)} |")
        lines.append(f"| **final bias score** | {format_pair(result['final_score'], base and base['final_score'], base is not None)} |")
        lines.append(f"| civil rows flagged | {format_pair(result['negative_flagged'], base and base['negative_flagged'], base is not None)} |")
        lines += ["", "| identity | rows | hostile | subgroup AUC | BPSN AUC | BNSP AUC | civil flagged |", "|---|---|---|---|---|---|---|"]
        unscored = []
        for term, m in result["identities"].items():
            if not m["scored"]:
                unscored.append(f"{term} ({m['n_positive']}/{m['n_rows']})")
                continue
            other = base["identities"].get(term, {}) if base is not None else {}
            cells = " | ".join(format_pair(m[key], other.get(key), base is not None) for key in (*BIAS_METRICS, "negative_flagged"))
            lines.append(f"| {term} | {m['n_rows']} | {m['n_positive']} | {cells} |")
        if unscored:
            lines += ["", "Too few rows to score (hostile/rows): " + ", ".join(unscored) + "."]
    return lines
