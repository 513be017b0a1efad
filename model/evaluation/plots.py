"""Evaluation figures: ROC, precision-recall and reliability panels, validation AUC per C; matplotlib's Agg canvas."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from sklearn.metrics import precision_recall_curve, roc_curve

from model.training.metrics import reliability_curve, score_metrics

PLOT_DPI = 100
GRID_FIGSIZE = (10, 4.5)
"""Inches: the C grid's axes and, right of them, a legend entry per validation set."""
CURVES_FIGSIZE = (15, 6.0)
"""Inches: three square-ish panels side by side, each with its legend under it (up to eight entries)."""
BELOW_LEGEND = {"loc": "upper center", "bbox_to_anchor": (0.5, -0.14), "borderaxespad": 0.0}
"""Under the axes, below the x label: a legend inside hid data in every panel (a reliability curve can run anywhere
in its square; ``loc="best"`` put the precision-recall legend over the lower curves of seven attributes)."""


def save_figure(figure: Figure, path: Path) -> None:
    """Lay out ``figure`` and write it as PNG to ``path`` (no pyplot, no global backend switch)."""
    FigureCanvasAgg(figure)
    figure.tight_layout()
    figure.savefig(path, dpi=PLOT_DPI)


def draw_curves(axes, labels: np.ndarray, curves: dict[str, np.ndarray]) -> None:
    """Draw ROC, precision-recall and reliability panels for each named score column."""
    roc_axis, pr_axis, reliability_axis = axes
    roc_axis.plot([0, 1], [0, 1], color="grey", linestyle=":", linewidth=1)
    reliability_axis.plot([0, 1], [0, 1], color="grey", linestyle=":", linewidth=1, label="perfectly calibrated")
    if labels.size and 0 < labels.sum() < labels.size:
        pr_axis.axhline(labels.mean(), color="grey", linestyle=":", linewidth=1, label="base rate")
        for name, scores in curves.items():
            metrics = score_metrics(labels, scores)
            false_positive_rate, true_positive_rate, _ = roc_curve(labels, scores)
            roc_axis.plot(false_positive_rate, true_positive_rate, label=f"{name} (AUC {metrics['roc_auc']:.3f})")
            precision, recall, _ = precision_recall_curve(labels, scores)
            pr_axis.plot(recall, precision, label=f"{name} (AP {metrics['pr_auc']:.3f})")
            fraction_positive, mean_predicted = reliability_curve(labels, scores)
            reliability_axis.plot(mean_predicted, fraction_positive, marker="o", markersize=3,
                                  label=f"{name} (Brier {metrics['brier']:.3f})")
    else:
        roc_axis.text(0.5, 0.5, "one class only: no curve", ha="center")
    for axis, title, x_label, y_label in (
        (roc_axis, "ROC", "false positive rate", "true positive rate"),
        (pr_axis, "precision-recall", "recall", "precision"),
        (reliability_axis, "reliability", "mean predicted probability", "observed positive rate"),
    ):
        axis.set(title=title, xlabel=x_label, ylabel=y_label, xlim=(0, 1), ylim=(0, 1.02))
        if axis.get_legend_handles_labels()[0]:
            axis.legend(fontsize="x-small", **BELOW_LEGEND)


def plot_curves(title: str, labels: np.ndarray, curves: dict[str, np.ndarray], path: Path) -> None:
    """Write one PNG with ROC, precision-recall and reliability panels of every score column in ``curves``.

    Parameters
    ----------
    title : str
        Figure title.
    labels : numpy.ndarray of shape (n,)
        0/1 labels.
    curves : dict of str to numpy.ndarray
        Legend name -> scores aligned with ``labels``.
    path : Path
        PNG file to write.
    """
    figure = Figure(figsize=CURVES_FIGSIZE)
    figure.suptitle(title)
    draw_curves(figure.subplots(1, 3), labels, curves)
    save_figure(figure, path)


def plot_c_grid(grid: pd.DataFrame, chosen: float, title: str) -> Figure:
    """Validation ROC AUC against ``C``: one thin line per validation set, the mean in black, the chosen ``C`` dotted.

    Parameters
    ----------
    grid : pandas.DataFrame
        Index ``C``; one column per validation set and ``mean``, as ``model.training.selection.select_hostility_C``
        and ``select_claims_C`` give.
    chosen : float
        The ``C`` chosen (``model.training.selection.best_C``).
    title : str
        Axes title.

    Returns
    -------
    matplotlib.figure.Figure
        Shown inline by a notebook; ``save_figure`` writes it.
    """
    if "mean" not in grid:
        raise ValueError(f"the grid has no 'mean' column (it has {list(grid.columns)}): pass select_*_C's table")
    figure = Figure(figsize=GRID_FIGSIZE)
    FigureCanvasAgg(figure)
    axis = figure.subplots()
    values = list(grid.index)
    for name in grid.columns.drop("mean"):
        axis.plot(values, grid[name], marker=".", linewidth=1, alpha=0.6, label=name)
    axis.plot(values, grid["mean"], marker="o", color="black", linewidth=2.5, label="mean (chooses C)")
    axis.axvline(chosen, color="grey", linestyle=":", label=f"chosen C = {chosen:g}")
    axis.set(xscale="log", title=title, xlabel="C (inverse regularisation strength, log scale)",
             ylabel="ROC AUC on the validation set")
    axis.set_xticks(values, [f"{value:g}" for value in values])
    axis.minorticks_off()
    # beside the axes: the lines of several sets meet near the top, where a legend inside would hide them
    axis.legend(fontsize="small", loc="center left", bbox_to_anchor=(1.01, 0.5))
    figure.tight_layout()
    return figure
