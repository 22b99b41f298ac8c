"""Plots come back as matplotlib Figures that Jupyter shows inline, and drawing one never
switches the process's matplotlib backend (a notebook's inline plotting stays on)."""

from __future__ import annotations

import matplotlib
import numpy as np
from matplotlib.figure import Figure


def test_figures_are_returned_and_leave_the_backend_alone(tmp_path):
    from callbacks.lr_finder import LRFinderResult, figure
    from zoo.analysis.evaluation import confusion_figure, wrong_images_figure
    from zoo.analysis.show import feature_maps_figure

    before = matplotlib.get_backend()
    matrix = np.array([[5, 1], [2, 7]])
    rng = np.random.default_rng(0)
    prob = rng.dirichlet([1, 1], size=4)
    figures = [
        confusion_figure(matrix, ["a", "b"]),
        wrong_images_figure(rng.random((4, 8, 8, 1)), np.array([0, 1, 0, 1]), prob, [0, 1], "ab"),
        feature_maps_figure(rng.random((2, 8, 8, 1)), rng.random((2, 4, 4, 3)), "conv", 3),
        figure(
            LRFinderResult(
                learning_rates=[1e-4, 1e-3, 1e-2],
                losses=[1.0, 0.8, 2.0],
                smoothed=[1.0, 0.9, 1.5],
                suggestion=1e-3,
                min_loss_learning_rate=1e-3,
                diverged=True,
                seconds=0.1,
            )
        ),
    ]
    for fig in figures:
        assert isinstance(fig, Figure) and fig.axes
        fig.savefig(tmp_path / "f.png")  # a Figure saves without pyplot
        assert (tmp_path / "f.png").stat().st_size > 1000
    assert matplotlib.get_backend() == before
    # the counts written into the confusion matrix are the matrix's
    texts = {t.get_text() for t in figures[0].axes[0].texts}
    assert texts == {"5", "1", "2", "7"}
