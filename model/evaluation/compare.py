"""Compare two bundles on the same comments: metric deltas and exactly the comments whose decision changes."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from model.attributes import ATTRIBUTES
from model.training.metrics import batches, score_metrics
from model.policy import ACTIONS, APPROVE
from model.training.site_data import COMMENT_ID_COLUMNS, DECISION_COLUMN, LABELS_COLUMN, site_labels
from service.table_reader import text_values

PRIMARY_ATTRIBUTE = "toxicity"
SCORE_METRICS = ("roc_auc", "pr_auc", "brier")
LOWER_IS_BETTER = {"brier", "false_flag_share"}
"""Metrics where a smaller value is the better one; for all others larger is better."""
SITE_TOLERANCE = 0.0
"""How much worse a new bundle may be on the site's held-out rows and still count as no worse."""
ALL_LABEL_COLUMNS = "all"
"""A label column name standing for every label column a table has (``label_columns_of``)."""
PUBLIC_AUC_TOLERANCE = 0.01
"""How much ROC AUC a new bundle may lose on a public validation set and still count as no worse: fitting a
site's comments may cost a little on other domains, but not a collapse."""


@dataclass(frozen=True)
class Comparison:
    """Metrics of both bundles side by side, and the rows whose decision changes."""

    metrics: pd.DataFrame
    """Index ``metric``; columns ``old``, ``new``, ``delta`` (new - old), ``better`` (new is better)."""
    changed: pd.DataFrame
    """One row per changed comment: ``row`` (0-based position in the input), ``text``, ``old``, ``new``,
    ``old_toxicity``, ``new_toxicity`` and the site's ``label`` where given."""


Progress = Callable[[Sequence[Sequence[str]], str], Iterable[Sequence[str]]]
"""Wraps the batches of texts a bundle decides, with what is being done (a bar, a log line); returns them in order."""


def _no_progress(items: Sequence[Sequence[str]], _description: str) -> Iterable[Sequence[str]]:
    return items


def _decisions(scorer, texts: Sequence[str], progress: Progress = _no_progress, description: str = "") -> tuple[np.ndarray, np.ndarray]:
    """Every text's action and attribute scores, decided in ``make eval``'s batches (an int8 encoder's figures depend on them)."""
    decisions = [decision for batch in progress(batches(texts), description)
                 for decision in scorer.moderate(list(batch), with_spans=False)]
    actions = np.array([d.action for d in decisions], dtype=object)
    scores = np.array([[d.scores.get(a, np.nan) for a in ATTRIBUTES] for d in decisions], dtype=float).reshape(len(decisions), len(ATTRIBUTES))
    return actions, scores


def _is_better(metric: str, delta: float) -> bool | None:
    if np.isnan(delta) or metric.startswith("share_"):
        return None  # a share of decisions is neither better nor worse by itself
    if delta == 0:
        return False
    return bool(delta < 0) if metric.split(" ")[-1] in LOWER_IS_BETTER else bool(delta > 0)


def decision_metrics(actions: np.ndarray, site: pd.DataFrame | None) -> dict[str, float]:
    """Share of each action; with site labels, agreement, hostile comments caught and false flags.

    Parameters
    ----------
    actions : array of str
        The model's decision per comment.
    site : pandas.DataFrame, optional
        ``site_labels`` output aligned with ``actions``.

    Returns
    -------
    dict
        ``share_<action>`` for every action; with labels ``caught_share`` (hostile comments not approved),
        ``false_flag_share`` (comments the site approves that are not approved) and, where the site gave
        decisions, ``decision_agreement``.
    """
    metrics = {f"share_{action}": float(np.mean(actions == action)) if len(actions) else np.nan for action in ACTIONS}
    if site is None:
        return metrics
    from model.training.site_data import decision_toxicity, hostile_labels

    # Labelled for hostility: a toxicity label or a decision that is one (not a review of an unsupported claim, which
    # is neither hostile nor an approval: a flag on it is no false flag).
    labelled = site["toxicity"].notna().to_numpy() | decision_toxicity(site).notna().to_numpy()
    hostile = hostile_labels(site).astype(bool)
    flagged = actions != APPROVE
    metrics["caught_share"] = float(flagged[labelled & hostile].mean()) if (labelled & hostile).any() else np.nan
    metrics["false_flag_share"] = float(flagged[labelled & ~hostile].mean()) if (labelled & ~hostile).any() else np.nan
    given = site[DECISION_COLUMN].isin(ACTIONS).to_numpy()
    if given.any():
        metrics["decision_agreement"] = float((actions[given] == site[DECISION_COLUMN].to_numpy()[given]).mean())
    return metrics


def compare_bundles(old, new, texts: Sequence[str], site: pd.DataFrame | None = None,
                    progress: Progress = _no_progress) -> Comparison:
    """Score ``texts`` with two scorers; compare metrics and list every comment whose decision changes.

    Parameters
    ----------
    old, new : Scorer
        The bundle in service and the candidate.
    texts : sequence of str
    site : pandas.DataFrame, optional
        Labels aligned with ``texts`` (``model.training.site_data.site_labels`` output): adds ROC AUC, PR AUC and
        Brier of every labelled attribute both bundles score, and the decision metrics.
    progress : callable, optional
        ``progress(batches, description)`` wraps the batches of texts each bundle decides (a bar, a log line):
        thousands of comments take minutes with an encoder bundle.

    Returns
    -------
    Comparison
    """
    texts = list(texts)
    if site is not None and len(site) != len(texts):
        raise ValueError(f"site labels have {len(site)} rows for {len(texts)} texts")
    old_actions, old_scores = _decisions(old, texts, progress, f"old bundle: deciding {len(texts):,} comments")
    new_actions, new_scores = _decisions(new, texts, progress, f"new bundle: deciding {len(texts):,} comments")
    rows: dict[str, tuple[float, float]] = {}
    if site is not None:
        for j, attribute in enumerate(ATTRIBUTES):
            if attribute not in old.attributes or attribute not in new.attributes or attribute not in site:
                continue
            known = site[attribute].notna().to_numpy()
            labels = site[attribute].to_numpy(float)[known].astype(int)
            if attribute != PRIMARY_ATTRIBUTE and labels.sum() == 0:
                continue  # approvals make every attribute 0: without a positive there is nothing to rank
            before = score_metrics(labels, old_scores[known, j])
            after = score_metrics(labels, new_scores[known, j])
            rows |= {f"{attribute} {m}": (before[m], after[m]) for m in SCORE_METRICS}
    before, after = decision_metrics(old_actions, site), decision_metrics(new_actions, site)
    rows |= {name: (before[name], after[name]) for name in before}
    metrics = pd.DataFrame([(name, b, a) for name, (b, a) in rows.items()], columns=["metric", "old", "new"]).set_index("metric")
    metrics["delta"] = metrics["new"] - metrics["old"]
    metrics["better"] = [_is_better(name, delta) for name, delta in metrics["delta"].items()]
    changed_rows = np.flatnonzero(old_actions != new_actions)
    column = ATTRIBUTES.index(PRIMARY_ATTRIBUTE)
    changed = pd.DataFrame({
        "row": changed_rows,
        "text": [texts[i] for i in changed_rows],
        "old": old_actions[changed_rows],
        "new": new_actions[changed_rows],
        "old_toxicity": old_scores[changed_rows, column],
        "new_toxicity": new_scores[changed_rows, column],
    })
    if site is not None:
        changed["label"] = [site[DECISION_COLUMN].iloc[i] or ("hostile" if site["toxicity"].iloc[i] == 1 else "not hostile" if site["toxicity"].iloc[i] == 0 else "") for i in changed_rows]
    return Comparison(metrics, changed)


def label_columns_of(table: pd.DataFrame) -> list[str]:
    """The columns of ``table`` that training reads labels from: ``decision``, ``labels`` (the feedback export's JSON)
    and the attributes, in that order."""
    return [c for c in (DECISION_COLUMN, LABELS_COLUMN, *ATTRIBUTES) if c in table]


def table_comments(table: pd.DataFrame, text_column: str = "text",
                   label_columns: Sequence[str] = ()) -> tuple[list[str], pd.DataFrame | None]:
    """The texts and labels ``compare_bundles`` takes, from a table read from a file; checked before any bundle loads.

    Parameters
    ----------
    table : pandas.DataFrame
    text_column : str
    label_columns : sequence of str
        ``decision``, ``labels`` and/or attribute names present in ``table``, or ``ALL_LABEL_COLUMNS`` for every one of
        them ``table`` has (``label_columns_of``: a site that sends toxicity labels and no decisions has its rows
        labelled as training reads them); empty means compare decisions only.

    Returns
    -------
    texts : list of str
        One per row, so row numbers stay those of the file: "" for a missing cell or a value that is not text (a
        number, a boolean, a list), as ``moderate score`` reads it (``service.table_reader.text_values``).
    site : pandas.DataFrame or None
        ``site_labels`` of the label columns, aligned with ``texts``; None without label columns.

    Raises
    ------
    KeyError
        A column is missing, or ``ALL_LABEL_COLUMNS`` finds none (the message names the columns found).
    model.training.data.DataError
        A label value cannot be read (e.g. a decision that is not approve, review or reject).
    """
    if text_column not in table:
        raise KeyError(f"no column {text_column!r} (columns: {', '.join(map(str, table.columns))})")
    if ALL_LABEL_COLUMNS in label_columns:
        found = label_columns_of(table)
        if not found:
            raise KeyError(f"no label column ({DECISION_COLUMN}, {LABELS_COLUMN} or an attribute: {', '.join(ATTRIBUTES)}) "
                           f"for {ALL_LABEL_COLUMNS!r} (columns: {', '.join(map(str, table.columns))})")
        label_columns = list(dict.fromkeys([*(c for c in label_columns if c != ALL_LABEL_COLUMNS), *found]))
    missing = [c for c in label_columns if c not in table]
    if missing:
        raise KeyError(f"no label column {', '.join(map(repr, missing))} (columns: {', '.join(map(str, table.columns))})")
    texts = text_values(table, text_column)
    site = None
    if label_columns:
        # The comment ids too, when the file has them (a feedback export): an earlier decision an editor replaced
        # carries no label, as in training.
        ids = [c for c in COMMENT_ID_COLUMNS if c in table and c not in label_columns]
        labelled = pd.DataFrame({"text": texts, **{c: table[c].to_numpy(object) for c in (*label_columns, *ids)}})
        site = site_labels(labelled, keep_all_rows=True)  # row numbers stay those of the file
    return texts, site


def compare_table(old, new, table: pd.DataFrame, text_column: str = "text", label_columns: Sequence[str] = ()) -> Comparison:
    """``compare_bundles`` on a table read from a file: texts from ``text_column``, labels from ``label_columns``.

    Parameters
    ----------
    old, new : Scorer
    table : pandas.DataFrame
    text_column : str
    label_columns : sequence of str
        See ``table_comments``.

    Returns
    -------
    Comparison
    """
    return compare_bundles(old, new, *table_comments(table, text_column, label_columns))


def compare_on_sets(old, new, sets: Mapping[str, pd.DataFrame], attribute: str = PRIMARY_ATTRIBUTE) -> pd.DataFrame:
    """ROC AUC, PR AUC and Brier of one attribute for both bundles on labelled sets (e.g. the public validation sets).

    Parameters
    ----------
    old, new : Scorer
    sets : mapping name -> DataFrame(text, label)
    attribute : str

    Returns
    -------
    pandas.DataFrame
        Index ``set``; ``rows``, then ``old_<metric>``, ``new_<metric>`` and ``delta_<metric>`` per metric.
    """
    records = []
    for name, frame in sets.items():
        texts, labels = frame["text"].tolist(), frame["label"].to_numpy(int)
        record = {"set": name, "rows": len(frame)}
        for label, scorer in (("old", old), ("new", new)):
            column = list(scorer.attributes).index(attribute)
            metrics = score_metrics(labels, scorer.predict_scores(texts)[:, column])
            record |= {f"{label}_{m}": metrics[m] for m in SCORE_METRICS}
        record |= {f"delta_{m}": record[f"new_{m}"] - record[f"old_{m}"] for m in SCORE_METRICS}
        records.append(record)
    return pd.DataFrame(records).set_index("set")


def no_worse(site_metrics: pd.DataFrame, public: pd.DataFrame | None = None, site_tolerance: float = SITE_TOLERANCE,
             public_auc_tolerance: float = PUBLIC_AUC_TOLERANCE) -> tuple[bool, list[str]]:
    """Whether a new bundle may replace the old one: no worse on the site (its toxicity ranking or caught share measured,
    at least one), at most ``public_auc_tolerance`` of ROC AUC lost on each public validation set.

    Parameters
    ----------
    site_metrics : pandas.DataFrame
        ``Comparison.metrics`` on the site's held-out rows; judged on toxicity ROC AUC and caught share
        (lower-is-better metrics are not a veto: a model that flags more can cost more review).
    public : pandas.DataFrame, optional
        ``compare_on_sets`` on the public validation sets (never the test splits: this choice would tune on them).
    site_tolerance, public_auc_tolerance : float

    Returns
    -------
    ok : bool
    reasons : list of str
        One line per check, saying what was compared and whether it passed.
    """
    reasons, ok, ranked = [], True, False
    for metric in (f"{PRIMARY_ATTRIBUTE} roc_auc", "caught_share", "decision_agreement"):
        if metric not in site_metrics.index or np.isnan(site_metrics.loc[metric, "delta"]):
            reasons.append(f"site {metric}: not measured (the held-out comments lack the labels it needs)")
            continue
        ranked |= metric != "decision_agreement"
        delta = float(site_metrics.loc[metric, "delta"])
        passed = delta >= -site_tolerance
        ok &= passed
        reasons.append(f"site {metric}: {site_metrics.loc[metric, 'old']:.3f} -> {site_metrics.loc[metric, 'new']:.3f} "
                       f"({'ok' if passed else 'worse'})")
    for name, row in (public if public is not None else pd.DataFrame()).iterrows():
        delta = row["delta_roc_auc"]
        if np.isnan(delta):
            continue
        passed = delta >= -public_auc_tolerance
        ok &= passed
        reasons.append(f"public {name} roc_auc: {row['old_roc_auc']:.3f} -> {row['new_roc_auc']:.3f} "
                       f"({'ok' if passed else f'lost more than {public_auc_tolerance}'})")
    if not ranked:  # held-out comments of one label: "no worse" would rest on decisions agreeing 1.0 -> 1.0
        ok = False
        reasons.append("not published: neither the site's toxicity ROC AUC nor its caught share could be measured (the "
                       "held-out comments need both hostile and civil ones)")
    return bool(ok), reasons
