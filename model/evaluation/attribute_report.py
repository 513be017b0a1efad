"""Report section *Attributes on their own labels*: each hostility attribute scored against data that labels it.

For every (set, attribute) pair that a set of ``model.evaluation.attribute_data`` labels: the attribute's ROC AUC,
the ``toxicity`` score's ROC AUC on the same label (an attribute that ranks no better than toxicity adds nothing
but a name), and what the decision policy does: the share of labelled comments the policy gives a reason on that
attribute (its threshold or, for ``threat``, the phrase rule), the share of the others it gives one, and the share
of labelled comments it does not approve for any reason. Rows whose text training reads (``in_training``,
``attribute_data.training_keys``: none from bundle 2.12.0 on, unless a test text reaches training again) are counted,
and the attribute's ROC AUC is given on the others as well.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from model.evaluation.attribute_data import labelled_attributes
from model.evaluation.plots import save_figure
from model.evaluation.report_format import format_number, format_pair
from model.policy import APPROVE
from model.training.metrics import roc_auc

PRIMARY_ATTRIBUTE = "toxicity"
PLOT_FILE = "attributes_own_labels.png"
BARS = (("roc_auc", "the attribute's ROC AUC"), ("toxicity_roc_auc", "toxicity's ROC AUC on the same label"),
        ("positives_flagged", "share of positives flagged on the attribute"))


def _share(mask: np.ndarray, among: np.ndarray) -> float:
    return float(mask[among].mean()) if among.any() else float("nan")


def attribute_rows(name: str, frame: pd.DataFrame, decisions: Sequence, attributes: Sequence[str]) -> list[dict]:
    """One row per attribute ``frame`` labels: ROC AUCs and what the policy did, from ``decisions`` (one per row)."""
    scores = np.array([[decision.scores[a] for a in attributes] for decision in decisions], dtype=float)
    scores = scores.reshape(len(decisions), len(attributes))
    not_approved = np.array([decision.action != APPROVE for decision in decisions], dtype=bool)
    rows = []
    for attribute in labelled_attributes(frame):
        if attribute not in attributes:
            continue
        labels = frame[attribute].to_numpy(int)
        positive = labels == 1
        trained = frame["in_training"].to_numpy(bool) if "in_training" in frame else np.zeros(len(labels), bool)
        score = scores[:, attributes.index(attribute)]
        flagged = np.array([any(reason.attribute == attribute and reason.action != APPROVE
                                for reason in decision.reasons) for decision in decisions], dtype=bool)
        rows.append({
            "set": name, "attribute": attribute, "label": frame.attrs["labels"][attribute],
            "rows": int(len(labels)), "positives": int(positive.sum()),
            "roc_auc": roc_auc(labels, score),
            "rows_in_training": int(trained.sum()),
            "roc_auc_not_in_training": roc_auc(labels[~trained], score[~trained]) if trained.any() else None,
            "toxicity_roc_auc": roc_auc(labels, scores[:, attributes.index(PRIMARY_ATTRIBUTE)]),
            "positives_flagged": _share(flagged, positive),
            "negatives_flagged": _share(flagged, ~positive),
            "positives_not_approved": _share(not_approved, positive),
        })
    return rows


def plot_attribute_rows(rows: Sequence[Mapping], path: Path) -> None:
    """Horizontal bars per (set, attribute): its ROC AUC, toxicity's, and the share of positives it flags."""
    figure = Figure(figsize=(10, 0.55 * len(rows) + 1.8))
    axis = figure.subplots()
    positions = np.arange(len(rows))
    height = 0.8 / len(BARS)
    for i, (key, label) in enumerate(BARS):
        values = np.array([row[key] for row in rows], dtype=float)
        axis.barh(positions + (i - 1) * height, np.nan_to_num(values), height=height, label=label)
    axis.set_yticks(positions, [f"{row['attribute']} [{row['set']}]" for row in rows], fontsize="small")
    axis.invert_yaxis()
    axis.axvline(0.5, color="grey", linestyle=":", linewidth=1)
    axis.set(xlim=(0, 1), xlabel="ROC AUC (0.5 = guessing) / share flagged at the policy's thresholds",
             title="Each attribute on data that labels it")
    axis.legend(fontsize="small", loc="upper center", bbox_to_anchor=(0.5, -0.08), ncol=3)
    save_figure(figure, path)


def evaluate_attributes(moderate: Callable[[list[str], str], list], sets: Mapping[str, pd.DataFrame],
                        attributes: Sequence[str], skipped: Mapping[str, str], plot_dir: Path | None = None) -> dict:
    """The section for one scorer.

    Parameters
    ----------
    moderate : callable
        ``moderate(texts, description)`` -> one ``Decision`` per text (without spans).
    sets : mapping of str to pandas.DataFrame
        From ``model.evaluation.attribute_data.load_attribute_sets``.
    attributes : sequence of str
        The scorer's attributes.
    skipped : mapping of str to str
        Sets not loaded and why, passed through to the report.
    plot_dir : Path, optional
        Existing folder for the figure (linked as ``<plot_dir name>/<file>``); ``None`` draws none.

    Returns
    -------
    dict
        ``rows`` (see ``attribute_rows``), ``skipped`` and, when drawn, ``plot``.
    """
    rows = []
    for name, frame in sets.items():
        rows += attribute_rows(name, frame, moderate(frame["text"].tolist(), f"{name}: decisions"), list(attributes))
    section = {"rows": rows, "skipped": dict(skipped)}
    if plot_dir is not None and rows:
        plot_attribute_rows(rows, plot_dir / PLOT_FILE)
        section["plot"] = f"{plot_dir.name}/{PLOT_FILE}"
    return section


def _in_training(row: Mapping) -> str:
    """How many rows are also in training and the ROC AUC on the others (reports written before have neither)."""
    count = row.get("rows_in_training")
    if not count:
        return "0" if count == 0 else "n/a"
    return f"{count}, {format_number(row['roc_auc_not_in_training'])}"


def attribute_markdown(section: Mapping, baseline: Mapping | None = None, base_version: str | None = None) -> list[str]:
    """The section of ``eval.md``; with a ``baseline`` section, its ROC AUC beside ours."""
    base = {(row["set"], row["attribute"]): row for row in (baseline or {}).get("rows", [])}
    versus = f" / {base_version}" if base else ""
    lines = [
        "", "## Attributes on their own labels", "",
        "The sets above label one thing each, so only `toxicity` is measured against them. These label a single "
        "attribute: the attribute's ROC AUC says whether its score ranks what it names (a threat, an identity attack) "
        "above the rest of the set; toxicity's ROC AUC on the same label shows whether the attribute adds anything "
        "over toxicity. *Flagged* = the policy gives a reason on that attribute (its review or reject threshold, and "
        "for `threat` also the phrase rule); *not approved* = sent to review or rejected for any reason. Official test "
        "splits except ETHOS (a validation set; its violence labels choose nothing). Within toxic spans every post is "
        "toxic, so there the attribute must tell one kind of toxicity from the others. *Also in training* = rows whose "
        "text training reads word for word: from bundle 2.12.0 on training leaves every test and validation text out, "
        "so a count here is a test text that reached training again (the encoder of 2.6.0-2.11.0 also read 294 "
        "ConvAbuse test turns, \"yes\", \"hi\", \"fuck you\", and 6 HateXplain test posts written in those sets' "
        "training splits, which this column does not count); the ROC AUC beside it is on the other rows.", "",
        f"| set | attribute | 1 = | rows | positives | ROC AUC{versus} | also in training: rows, ROC AUC on the others | "
        "toxicity's ROC AUC | positives flagged | others flagged | positives not approved |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in section["rows"]:
        ours = format_pair(row["roc_auc"], base.get((row["set"], row["attribute"]), {}).get("roc_auc"), bool(base))
        lines.append(
            f"| {row['set']} | {row['attribute']} | {row['label']} | {row['rows']} | {row['positives']} | {ours} | "
            f"{_in_training(row)} | {format_number(row['toxicity_roc_auc'])} | {format_number(row['positives_flagged'])} | "
            f"{format_number(row['negatives_flagged'])} | {format_number(row['positives_not_approved'])} |")
    if not section["rows"]:
        lines.append("| (no set found) | | | | | | | | | | |")
    if section.get("plot"):
        lines += ["", f"![Each attribute on data that labels it]({section['plot']})"]
    for name, why in section.get("skipped", {}).items():
        lines.append(f"\nNot evaluated: {name} ({why}).")
    return lines
