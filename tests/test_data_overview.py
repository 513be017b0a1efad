"""Notebook 01's figures: the set sizes' bars say which colour is which role."""

from __future__ import annotations

import pandas as pd
import pytest
from matplotlib.colors import to_rgba

from model.evaluation import data_overview


def _sets(*names: str) -> dict[str, pd.DataFrame]:
    frame = pd.DataFrame({"text": ["a kind word", "you idiot", "thanks"], "label": [0, 1, 0]})
    return {name: frame for name in names}


def _legend(figure):
    (legend,) = figure.legends
    return {text.get_text(): handle.get_facecolor() for text, handle in zip(legend.get_texts(), legend.legend_handles)}


def _bar_colours(figure) -> dict[str, tuple]:
    """Bar colour by set label (``task/role/set``) in the sizes panel."""
    axis = figure.axes[0]
    names = [label.get_text() for label in axis.get_yticklabels()]
    return dict(zip(names, (bar.get_facecolor() for bar in axis.patches)))


def test_sizes_legend_names_each_role_in_its_bar_colour():
    names = ("hostility/train/olid", "hostility/validation/ethos", "hostility/test/ucc_test", "claims/test/cmv_test")
    figure = data_overview.plot_sizes(data_overview.summary(_sets(*names)))
    legend = _legend(figure)
    assert list(legend) == ["training set", "validation set", "test set"]
    bars = _bar_colours(figure)
    assert legend["training set"] == pytest.approx(bars["hostility/train/olid"])
    assert legend["validation set"] == pytest.approx(bars["hostility/validation/ethos"])
    assert legend["test set"] == pytest.approx(bars["hostility/test/ucc_test"])
    assert legend["test set"] == pytest.approx(bars["claims/test/cmv_test"])


def test_sizes_legend_lists_only_roles_present_and_other_roles_once():
    figure = data_overview.plot_sizes(data_overview.summary(_sets("hostility/test/a", "hostility/extra/b", "claims/odd/c")))
    legend = _legend(figure)
    assert list(legend) == ["test set", "other set"]
    assert legend["other set"] == pytest.approx(to_rgba(data_overview.OTHER_ROLE_COLOUR))


def test_sizes_legend_hides_no_bar(tmp_path):
    figure = data_overview.plot_sizes(data_overview.summary(_sets("hostility/train/a", "hostility/test/b")))
    figure.savefig(tmp_path / "sizes.png")
    renderer = figure.canvas.get_renderer()
    (legend,) = figure.legends
    legend_box = legend.get_window_extent(renderer)
    assert not any(legend_box.overlaps(axis.get_window_extent(renderer)) for axis in figure.axes)
