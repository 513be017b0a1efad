"""What a bundle gets wrong on a labelled set: confusion at the policy's thresholds and the errors worth reading."""

from __future__ import annotations

import numpy as np
import pandas as pd

from model.policy import ACTIONS, APPROVE, REJECT

PRIMARY_ATTRIBUTE = "toxicity"
N_ERRORS = 5


def scored_decisions(scorer, frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` (``text``, ``label``) with the bundle's ``action`` and ``toxicity`` score added."""
    decisions = scorer.moderate(frame["text"].tolist(), with_spans=False)
    return frame.assign(action=[d.action for d in decisions],
                        toxicity=[d.scores.get(PRIMARY_ATTRIBUTE, np.nan) for d in decisions])


def confusion(decided: pd.DataFrame) -> pd.DataFrame:
    """Counts of label (0 = not hostile, 1 = hostile) by the policy's action, every action a column.

    Parameters
    ----------
    decided : pandas.DataFrame
        ``scored_decisions`` output.

    Returns
    -------
    pandas.DataFrame
        Index ``label`` (0, 1); columns ``approve``, ``review``, ``reject``.
    """
    table = pd.crosstab(decided["label"], decided["action"]).reindex(index=[0, 1], columns=list(ACTIONS), fill_value=0)
    return table.rename_axis(index="label", columns="action")


def errors_worth_reading(decided: pd.DataFrame, n: int = N_ERRORS) -> dict[str, pd.DataFrame]:
    """The most confident mistakes: hostile comments approved with the lowest scores, and comments the set
    calls not hostile that were rejected, or else sent to review, with the highest.

    Parameters
    ----------
    decided : pandas.DataFrame
        ``scored_decisions`` output.
    n : int
        Rows per kind.

    Returns
    -------
    dict
        ``missed`` and ``false_alarms``: frames with ``text``, ``label``, ``action``, ``toxicity``.
    """
    columns = ["text", "label", "action", PRIMARY_ATTRIBUTE]
    missed = decided[(decided["label"] == 1) & (decided["action"] == APPROVE)].nsmallest(n, PRIMARY_ATTRIBUTE)
    harmless = decided[(decided["label"] == 0) & (decided["action"] != APPROVE)]
    severity = harmless["action"].eq(REJECT).astype(int)
    false_alarms = harmless.assign(_severity=severity).sort_values(["_severity", PRIMARY_ATTRIBUTE], ascending=False).head(n)
    return {"missed": missed[columns].reset_index(drop=True), "false_alarms": false_alarms[columns].reset_index(drop=True)}
