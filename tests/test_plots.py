"""The evaluation figures: what each panel says (labels, legend entries) and that no legend hides the data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from model.evaluation.plots import CURVES_FIGSIZE, draw_curves, plot_c_grid, save_figure

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _legend_texts(legend) -> list[str]:
    return [text.get_text() for text in legend.get_texts()]


def _extents(figure: Figure, *artists):
    renderer = figure.canvas.get_renderer()
    return [artist.get_window_extent(renderer) for artist in artists]


@pytest.fixture
def curves_figure(tmp_path):
    """The three panels of ``plot_curves`` for two scorers, one of them over-confident, written as a PNG."""
    rng = np.random.default_rng(0)
    labels = (rng.random(600) < 0.3).astype(int)
    noise = rng.normal(0, 1, labels.size)
    curves = {"ours": 1 / (1 + np.exp(-(2 * labels + noise - 1))), "baseline": 1 / (1 + np.exp(-(labels + noise)))}
    figure = Figure(figsize=CURVES_FIGSIZE)
    draw_curves(figure.subplots(1, 3), labels, curves)
    save_figure(figure, tmp_path / "curves.png")
    return figure


def test_reliability_legend_names_every_curve(curves_figure):
    reliability_axis = curves_figure.axes[2]
    texts = _legend_texts(reliability_axis.get_legend())
    assert texts[0] == "perfectly calibrated"
    assert [text.split(" (Brier ")[0] for text in texts[1:]] == ["ours", "baseline"]


@pytest.mark.parametrize("panel", [0, 1, 2], ids=["roc", "precision_recall", "reliability"])
def test_no_legend_hides_data(curves_figure, panel):
    """``loc="best"`` put the reliability legend over the top of the y-axis and the upper points, and the
    precision-recall legend over the lower curves of seven attributes; a curve can run anywhere in its square."""
    axis = curves_figure.axes[panel]
    legend, data_area, whole = _extents(curves_figure, axis.get_legend(), axis, curves_figure)
    assert not legend.overlaps(data_area), f"legend {legend} lies over the axes {data_area}"
    assert whole.contains(legend.x0, legend.y0) and whole.contains(legend.x1, legend.y1), "legend cut off by the figure"
    others = [other for i, other in enumerate(curves_figure.axes) if i != panel]
    assert not any(legend.overlaps(extent) for extent in _extents(curves_figure, *others)), "legend over another panel"


@pytest.fixture
def c_grid() -> pd.DataFrame:
    grid = pd.DataFrame({"ucc_val": [0.70, 0.74, 0.73], "ethos": [0.80, 0.82, 0.81]}, index=pd.Index([0.25, 0.5, 1.0], name="C"))
    grid["mean"] = grid.mean(axis=1)
    return grid


def test_c_grid_figure_says_what_it_shows(c_grid, tmp_path):
    figure = plot_c_grid(c_grid, 0.5, "toxicity head")
    save_figure(figure, tmp_path / "grid.png")
    assert (tmp_path / "grid.png").read_bytes().startswith(PNG_SIGNATURE)
    (axis,) = figure.axes
    assert axis.get_title() == "toxicity head"
    assert axis.get_xlabel() == "C (inverse regularisation strength, log scale)"
    assert axis.get_ylabel() == "ROC AUC on the validation set"
    assert [label.get_text() for label in axis.get_xticklabels()] == ["0.25", "0.5", "1"]
    assert _legend_texts(axis.get_legend()) == ["ucc_val", "ethos", "mean (chooses C)", "chosen C = 0.5"]
    mean_line = axis.get_lines()[2]
    assert list(mean_line.get_ydata()) == pytest.approx(list(c_grid["mean"]))


def test_c_grid_legend_is_beside_the_lines(c_grid, tmp_path):
    figure = plot_c_grid(c_grid, 0.5, "toxicity head")
    save_figure(figure, tmp_path / "grid.png")
    (axis,) = figure.axes
    legend, data_area = _extents(figure, axis.get_legend(), axis)
    assert not legend.overlaps(data_area)


def test_c_grid_without_a_mean_column_says_what_to_pass(c_grid):
    with pytest.raises(ValueError, match="no 'mean' column .*ucc_val.*: pass select_\\*_C's table"):
        plot_c_grid(c_grid.drop(columns="mean"), 0.5, "toxicity head")
