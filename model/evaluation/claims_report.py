"""Claims section of the evaluation report: unsupported-claim scores on the official claim test splits.

Works on a scoring function and the loaded test sets, so it knows nothing of bundles or data paths;
``model.evaluation.report`` wires it to the shipped model. Every unit (sentence, proposition or tweet) is scored
as if it were a whole comment, because that is the score the product acts on; the CDCP comments are
also scored whole. Thresholded numbers use a threshold fixed before the test sets were seen.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from model.attributes import CLAIM_ATTRIBUTE
from model.evaluation.claims_baseline import CUE_FLAG_SCORE, cue_baseline_scores
from model.training.claims_data import comment_level
from model.training.data import DataError
from model.training.metrics import probe_roc_auc, score_metrics, threshold_metrics
from model.evaluation.plots import plot_curves, save_figure
from model.evaluation.report_format import format_number, target_status

COMMENT_SET = "cdcp_test_comments"
"""The CDCP test comments scored whole: positive when the comment holds an unsupported fact."""
CLAIM_AUC_TARGETS: dict[str, float] = {
    "claimbuster_test": 0.95,
    "checkthat2022_test": 0.80,
    "cdcp_test": 0.85,
    COMMENT_SET: 0.85,
    "regulation_room_test": 0.88,
    "cmv_test": 0.82,
}
"""The issue's ROC AUC targets for ``unsupported_claim`` (one shipped model for every set)."""
PER_SET_TFIDF_ROC_AUC: dict[str, float] = {
    "claimbuster_test": 0.930,
    "checkthat2022_test": 0.685,
    "cdcp_test": 0.775,
    "regulation_room_test": 0.818,
    "cmv_test": 0.737,
}
"""The issue's reference, measured before it: word + char TF-IDF logistic regression per set's own train split."""
SCORERS = {"model": f"ours: {CLAIM_ATTRIBUTE}", "cue_baseline": "cue baseline"}
"""JSON key -> legend and table name of each scorer compared."""
THRESHOLD_KEYS = ("precision", "recall", "f1", "macro_f1", "flagged_share")
HIGHLIGHTED_F1 = {"checkthat2022_test": "f1", "cmv_test": "macro_f1"}
"""F1 variants the issue asks to see next to a set's target."""
SET_NOTES: dict[str, str] = {
    "claimbuster_test": "ClaimBuster spotter test: US presidential debate sentences, balanced; "
    "label 1 = check-worthy factual sentence (CFS), 0 = non-factual (NFS) or unimportant factual (UFS).",
    "checkthat2022_test": "CheckThat! 2022 task 1B test: COVID-19 tweets; "
    "label 1 = contains a verifiable factual claim.",
    "cdcp_test": "CDCP test propositions (eRulemaking comments on debt collection); label 1 = a fact proposition "
    "with no incoming reason or evidence link.",
    COMMENT_SET: "The same CDCP test comments scored whole (the text the product sees); label 1 = the comment "
    "holds at least one unsupported fact proposition.",
    "regulation_room_test": "Regulation Room test propositions (Park & Cardie 2014); label 1 = verifiable "
    "non-experiential; unverifiable and verifiable experiential are 0.",
    "cmv_test": "ChangeMyView verifiability test sentences; label 1 = verifiable (experiential included, as the "
    "set defines it), 0 = unverifiable or not an argument.",
}
DEFINITION_GAPS: dict[str, tuple[str, str]] = {
    "cmv_test": ("verifiable_experiential", "experiential units left out"),
}
"""Set -> (``kind`` the set labels 1 and the product does not count as a claim to check, row label): the set is
scored a second time without those units, to show how much of its gap is the definition and not the model."""
QUESTIONS = "all_unit_sets"
"""Pseudo set name of the questions pooled over every unit-level test set."""
NOT_A_CLAIM, CLAIM = "not a claim", "claim"
FLAG_GROUPS: tuple[tuple[str, str, str, str, object], ...] = (
    (NOT_A_CLAIM, "opinion (value proposition)", "cdcp_test", "kind", "value"),
    (NOT_A_CLAIM, "proposal (policy proposition)", "cdcp_test", "kind", "policy"),
    (NOT_A_CLAIM, "personal experience (testimony)", "cdcp_test", "kind", "testimony"),
    (NOT_A_CLAIM, "comment with no fact proposition", COMMENT_SET, "has_fact", False),
    (NOT_A_CLAIM, "opinion (unverifiable)", "regulation_room_test", "kind", "unverifiable"),
    (NOT_A_CLAIM, "personal experience (experiential)", "regulation_room_test", "kind", "verifiable_experiential"),
    (NOT_A_CLAIM, "opinion (unverifiable)", "cmv_test", "kind", "unverifiable"),
    (NOT_A_CLAIM, "personal experience (experiential)", "cmv_test", "kind", "verifiable_experiential"),
    (NOT_A_CLAIM, "not an argument", "cmv_test", "kind", "nonargument"),
    (NOT_A_CLAIM, "non-factual sentence (NFS)", "claimbuster_test", "kind", "NFS"),
    (NOT_A_CLAIM, "question (ends with '?')", QUESTIONS, "question", True),
    (CLAIM, "check-worthy factual sentence (CFS)", "claimbuster_test", "kind", "CFS"),
    (CLAIM, "verifiable factual claim", "checkthat2022_test", "label", 1),
    (CLAIM, "unsupported fact proposition", "cdcp_test", "label", 1),
    (CLAIM, "comment with an unsupported fact", COMMENT_SET, "label", 1),
    (CLAIM, "verifiable non-experiential", "regulation_room_test", "kind", "verifiable_non_experiential"),
    (CLAIM, "verifiable non-experiential", "cmv_test", "kind", "verifiable_non_experiential"),
)
"""(role, group, set, column, value): units whose ``column`` equals ``value``, counted as flagged or not."""

Score = Callable[[list[str], str], np.ndarray]
"""``score(texts, description)`` -> unsupported-claim probability per text (description names a progress bar)."""


def _scorer_metrics(labels: np.ndarray, scores: np.ndarray, threshold: float | None) -> dict[str, float]:
    return score_metrics(labels, scores) | threshold_metrics(labels, scores, threshold)


def _set_result(name: str, frame: pd.DataFrame, threshold: float | None, plot_dir: Path) -> dict:
    """Metrics of both scorers on one scored set (``label``, ``model``, ``cue``) and its curves figure."""
    labels = frame["label"].to_numpy(int)
    columns = {"model": frame["model"].to_numpy(float), "cue_baseline": frame["cue"].to_numpy(float)}
    plot = f"{name}_claims.png"
    plot_curves(f"{name}: {SCORERS['model']} vs {SCORERS['cue_baseline']}", labels,
                {SCORERS[key]: values for key, values in columns.items()}, plot_dir / plot)
    return {
        "description": SET_NOTES.get(name, frame.attrs.get("description", "")),
        "label": frame.attrs.get("description", ""),
        "license": frame.attrs.get("license", "unknown"),
        "n_rows": len(frame),
        "n_positive": int(labels.sum()),
        "scorers": {
            "model": _scorer_metrics(labels, columns["model"], threshold),
            "cue_baseline": _scorer_metrics(labels, columns["cue_baseline"], CUE_FLAG_SCORE),
        },
        "per_set_tfidf_roc_auc": PER_SET_TFIDF_ROC_AUC.get(name),
        "plot": f"{plot_dir.name}/{plot}",
    }


def _comment_frame(units: pd.DataFrame, comments: dict[int, str], score: Score) -> pd.DataFrame:
    """One row per CDCP comment: label, whole-comment scores, max-over-propositions scores, has a fact."""
    pooled_model = comment_level(units, units["model"])
    pooled_cue = comment_level(units, units["cue"])["score"]
    has_fact = units.assign(fact=units["kind"].eq("fact")).groupby("comment_id")["fact"].any()
    texts = [comments[int(comment_id)] for comment_id in pooled_model.index]
    frame = pd.DataFrame({
        "text": texts, "label": pooled_model["label"].to_numpy(int),
        "model": score(texts, f"{COMMENT_SET}: ours"), "cue": cue_baseline_scores(texts),
        "pooled_model": pooled_model["score"].to_numpy(float), "pooled_cue": pooled_cue.to_numpy(float),
        "has_fact": has_fact.reindex(pooled_model.index).to_numpy(bool),
    }, index=pooled_model.index)
    frame.attrs = {"description": "CDCP test comments: holds a fact proposition with no incoming support",
                   "license": units.attrs.get("license", "unknown")}
    return frame


def _flag_row(group: tuple, scored: dict[str, pd.DataFrame], threshold: float | None) -> dict | None:
    """Share of a group's units flagged by ours (policy threshold) and by the cue baseline; None if absent."""
    role, name, set_name, column, value = group
    if set_name == QUESTIONS:
        frame = pd.concat([frame for key, frame in scored.items() if key != COMMENT_SET], ignore_index=True)
    elif set_name in scored:
        frame = scored[set_name]
    else:
        return None
    if column not in frame.columns:
        return None
    units = frame[frame[column] == value]
    n = len(units)
    model_flagged = float((units["model"] >= threshold).mean()) if n and threshold is not None else float("nan")
    return {"role": role, "group": name, "set": set_name, "n": n, "n_labelled_positive": int(units["label"].sum()),
            "model_flagged": model_flagged,
            "cue_flagged": float((units["cue"] >= CUE_FLAG_SCORE).mean()) if n else float("nan")}


def _plot_flag_rates(rows: list[dict], path: Path) -> None:
    """Horizontal bars: share flagged per group, ours next to the cue baseline."""
    figure = Figure(figsize=(10, 0.35 * len(rows) + 1.6))
    axis = figure.subplots()
    positions = np.arange(len(rows))
    height = 0.4
    for offset, key, label in ((-height / 2, "model_flagged", SCORERS["model"]),
                               (height / 2, "cue_flagged", SCORERS["cue_baseline"])):
        values = np.array([row[key] for row in rows], dtype=float)
        axis.barh(positions + offset, np.nan_to_num(values), height=height, label=label)
    axis.set_yticks(positions, [f"{row['role']}: {row['group']} [{row['set']}]" for row in rows], fontsize="small")
    axis.invert_yaxis()
    axis.set(xlim=(0, 1), xlabel="share flagged (ours at the policy threshold, cues at their fixed cut)",
             title="How often each kind of unit is flagged")
    axis.legend(fontsize="small", loc="upper right")  # the not-a-claim rows on top are mostly short bars
    save_figure(figure, path)


def evaluate_claims(score: Score, sets: dict[str, pd.DataFrame], threshold: float | None, plot_dir: Path) -> dict:
    """Score the claim test sets with ours and the cue baseline; metrics, flag rates and figures.

    Parameters
    ----------
    score : callable
        ``score(texts, description)`` -> the shipped model's ``unsupported_claim`` probability per text.
    sets : dict of str to pandas.DataFrame
        ``model.training.claims_data.load_claim_test_sets`` output (``text``, ``label``, ``kind`` where typed;
        ``cdcp_test`` with ``comment_id`` and ``attrs["comments"]``).
    threshold : float or None
        The policy's review threshold for ``unsupported_claim``; ``None`` leaves thresholded values ``nan``.
    plot_dir : Path
        Existing folder for the PNG figures (linked as ``<plot_dir name>/<file>``).

    Returns
    -------
    dict
        ``threshold``, ``cue_flag_score``, ``sets`` (per set: description, counts, ``scorers`` with ROC AUC,
        PR AUC, Brier, precision, recall, F1, macro-F1 and flagged share for ``model`` and ``cue_baseline``,
        the issue's per-set reference AUC, plot path; ``cdcp_test_comments`` adds ``pooled_units``; a set of
        ``DEFINITION_GAPS`` adds ``definition_gap``: counts and threshold-free metrics without the units the
        product does not count as claims),
        ``flag_rates`` (one row per group of ``FLAG_GROUPS``) and ``plots``.
    """
    scored: dict[str, pd.DataFrame] = {}
    results: dict[str, dict] = {}
    for name, frame in sets.items():
        if frame.empty:
            raise DataError(f"claim test set {name} has no rows: check its file in the data directory")
        texts = frame["text"].tolist()
        scored[name] = frame.assign(model=score(texts, f"{name}: ours"), cue=cue_baseline_scores(texts),
                                    question=frame["text"].str.rstrip().str.endswith("?"))
        scored[name].attrs = frame.attrs
        results[name] = _set_result(name, scored[name], threshold, plot_dir)
        results[name]["probe"] = probe_roc_auc(frame["label"].to_numpy(int), scored[name]["model"].to_numpy(float))
    if "cdcp_test" in scored:
        comments = _comment_frame(scored["cdcp_test"], sets["cdcp_test"].attrs["comments"], score)
        scored[COMMENT_SET] = comments
        results[COMMENT_SET] = _set_result(COMMENT_SET, comments, threshold, plot_dir)
        labels = comments["label"].to_numpy(int)
        results[COMMENT_SET]["pooled_units"] = {
            "model": score_metrics(labels, comments["pooled_model"].to_numpy(float)),
            "cue_baseline": score_metrics(labels, comments["pooled_cue"].to_numpy(float)),
        }
    for name, (kind, _) in DEFINITION_GAPS.items():
        if name in scored and "kind" in scored[name].columns:
            kept = scored[name][scored[name]["kind"] != kind]
            labels = kept["label"].to_numpy(int)
            results[name]["definition_gap"] = {
                "left_out_kind": kind, "n_rows": len(kept), "n_positive": int(labels.sum()),
                "model": score_metrics(labels, kept["model"].to_numpy(float)),
                "cue_baseline": score_metrics(labels, kept["cue"].to_numpy(float)),
            }
    flag_rates = [row for row in (_flag_row(group, scored, threshold) for group in FLAG_GROUPS) if row is not None]
    _plot_flag_rates(flag_rates, plot_dir / "claims_flag_rates.png")
    return {"threshold": threshold, "cue_flag_score": CUE_FLAG_SCORE, "sets": results, "flag_rates": flag_rates,
            "plots": {"flag_rates": f"{plot_dir.name}/claims_flag_rates.png"}}


def _f1_cell(metrics: dict, key: str, highlighted: bool) -> str:
    cell = format_number(metrics.get(key))
    return f"**{cell}**" if highlighted else cell


def _scorer_rows(name: str, result: dict) -> list[str]:
    rows = [(SCORERS[key], metrics) for key, metrics in result["scorers"].items()]
    if "pooled_units" in result:
        rows += [(f"{SCORERS[key]}, max over its propositions", metrics | dict.fromkeys(THRESHOLD_KEYS))
                 for key, metrics in result["pooled_units"].items()]
    if "definition_gap" in result:
        gap = result["definition_gap"]
        rows += [(f"{SCORERS[key]}, {DEFINITION_GAPS[name][1]} ({gap['n_rows']} units)",
                  gap[key] | dict.fromkeys(THRESHOLD_KEYS)) for key in SCORERS]
    lines = []
    for label, metrics in rows:
        cells = " | ".join(format_number(metrics.get(key)) for key in ("roc_auc", "pr_auc", "brier", *THRESHOLD_KEYS))
        lines.append(f"| {name} | {label} | {cells} |")
    return lines


def claims_markdown(section: dict, targets: Sequence[dict]) -> list[str]:
    """Markdown lines of the claims section (as ``evaluate_claims`` returns it, or ``{"skipped": why}``).

    Parameters
    ----------
    section : dict
        The report's ``claims`` entry.
    targets : sequence of dict
        The report's target rows for ``unsupported_claim`` (``set``, ``target``, ``value``, ``met``).

    Returns
    -------
    list of str
        Lines without trailing newlines, starting with the section heading.
    """
    lines = ["", "## Unsupported claims", ""]
    if "skipped" in section:
        return lines + [f"Not evaluated: {section['skipped']}"]
    threshold = section["threshold"]
    threshold_text = (f"the policy's `[review] {CLAIM_ATTRIBUTE}` threshold, **{threshold:.4f}** "
                      f"(from `{section.get('threshold_source', 'the bundle policy')}`, chosen on validation data)"
                      if threshold is not None else
                      f"no threshold: the policy has no `[review] {CLAIM_ATTRIBUTE}`, so F1 and flag rates of ours "
                      "are n/a")
    lines += [
        f"The shipped model's `{CLAIM_ATTRIBUTE}` score (P(checkable) x (1 - P(supported)) per sentence, maximum "
        "over the sentences), one model for every set, on the official test splits only. Each unit (sentence, "
        f"proposition or tweet) is scored as if it were a whole comment; `{COMMENT_SET}` scores the CDCP test "
        f"comments whole. Precision, recall, F1, macro-F1 (mean F1 of both classes) and the flagged share use "
        f"{threshold_text}; nothing is tuned on these sets.", "",
        "**Cue baseline** (`model/evaluation/claims_baseline.py`): fixed, hand-set log-odds weights on regex cues, nothing "
        "learned: numbers, percentages, years, money and weasel words raise the score; opinion, first person, "
        "personal experience, modal and evaluative words, questions and cited sources (URL, 'according to', "
        f"'reported') lower it; maximum over sentences; flagged at {section['cue_flag_score']:.2f}. "
        "**Per-set TF-IDF** is the issue's reference: a word + char TF-IDF logistic regression trained on each "
        "set's own train split (one model per set, measured before issue 4).", "",
        "### Claim targets (ROC AUC)", "",
        "| set | target | ours | met | cue baseline | per-set TF-IDF (issue) | F1 at threshold | macro-F1 |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in targets:
        result = section["sets"].get(row["set"], {})
        ours = result.get("scorers", {}).get("model", {})
        cues = result.get("scorers", {}).get("cue_baseline", {})
        f1, macro = (_f1_cell(ours, key, HIGHLIGHTED_F1.get(row["set"]) == key) for key in ("f1", "macro_f1"))
        lines.append(f"| {row['set']} | {row['target']:.2f} | {format_number(row['value'], row['target'])} | "
                     f"{target_status(row)} | {format_number(cues.get('roc_auc'))} | "
                     f"{format_number(result.get('per_set_tfidf_roc_auc'))} | {f1} | {macro} |")
    lines += ["", "Bold F1 values are the ones the issue asks to see for that set.", "",
              "### Claim test sets", "", "| set | what it is | license | units | positives |", "|---|---|---|---|---|"]
    for name, result in section["sets"].items():
        lines.append(f"| {name} | {result['description']} | {result['license']} | {result['n_rows']} | "
                     f"{result['n_positive']} |")
    lines += ["", "### Ranking, calibration and decisions", "",
              "| set | scorer | ROC AUC | PR AUC | Brier | precision | recall | F1 | macro-F1 | flagged |",
              "|---|---|---|---|---|---|---|---|---|---|"]
    for name, result in section["sets"].items():
        lines += _scorer_rows(name, result)
    gaps = [name for name, result in section["sets"].items() if "definition_gap" in result]
    if gaps:
        lines += ["", f"The rows with units left out ({', '.join(gaps)}) score the set again without the units it "
                  "labels 1 but the product, by design, does not count as claims to check (CMV's personal "
                  "experience): the difference to the full set is the part of its gap that is the definition, "
                  "not the model. The targets are read on the full sets."]
    lines += [
        "", "### What gets flagged", "",
        "Share of each kind of unit that the comment-level score sends to review: ours at the policy threshold, "
        "the cue baseline at its fixed cut. For units that are not claims to check (opinion, proposals, personal "
        "experience, questions) this is the false-positive rate an editor's queue sees, so lower is better; the "
        "claim rows are for contrast (higher is better). 'Labelled positive' counts units the set itself labels 1 "
        "(CMV counts experiential sentences as verifiable; ClaimBuster has check-worthy questions).", "",
        "| role | kind of unit | set | units | labelled positive | ours flagged | cue baseline flagged |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in section["flag_rates"]:
        lines.append(f"| {row['role']} | {row['group']} | {row['set']} | {row['n']} | {row['n_labelled_positive']} | "
                     f"{format_number(row['model_flagged'])} | {format_number(row['cue_flagged'])} |")
    lines += ["", f"![claims: share flagged by kind of unit]({section['plots']['flag_rates']})"]
    for name, result in section["sets"].items():
        lines += ["", f"![{name}: ROC, precision-recall and reliability, ours vs cue baseline]({result['plot']})"]
    return lines


def claim_target_values(section: dict) -> dict[str, float | None]:
    """ROC AUC of ours per target set (``None`` for a set the section lacks)."""
    sets = section.get("sets", {})
    return {name: sets[name]["scorers"]["model"]["roc_auc"] if name in sets else None for name in CLAIM_AUC_TARGETS}

