"""Evaluation figures: ROC, precision-recall and reliability panels drawn with matplotlib's Agg canvas."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from sklearn.metrics import precision_recall_curve, roc_curve

from model.training.metrics import reliability_curve, score_metrics

PLOT_DPI = 100
CURVES_FIGSIZE = (13, 4.2)
"""Inches: three square-ish panels side by side."""


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
            axis.legend(fontsize="x-small", loc="best")


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
