"""The shared plotting helpers: pixel margins, pinned labels and contour plots land where they say."""
import numpy as np
import pytest

from nnkit.demos._base import new_figure
from nnkit.demos._layout import contour_surface, pin_labels, pixel_layout
from nnkit.surfaces import himmelblau, quadratic_bowl, saddle


def test_pixel_layout_puts_the_axes_at_the_given_pixel_margins():
    fig = new_figure(figsize=(7.5, 3.0), dpi=80)  # 600 x 240 pixels
    pixel_layout(fig, left=40, right=10, bottom=30, top=8, gap=50)
    ax1, ax2 = fig.subplots(1, 2)
    fig.canvas.draw()  # no layout engine moves them at draw time
    b1, b2 = ax1.get_window_extent(), ax2.get_window_extent()
    assert b1.x0 == pytest.approx(40) and b2.x1 == pytest.approx(590)
    assert b1.y0 == pytest.approx(30) and b1.y1 == pytest.approx(232)
    assert b2.x0 - b1.x1 == pytest.approx(50) and b1.width == pytest.approx(b2.width)


def test_pin_labels_fixes_the_label_offsets_in_pixels():
    fig = new_figure(figsize=(6.0, 3.0), dpi=80)
    pixel_layout(fig, ncols=1)
    ax = fig.add_subplot()
    ax.set_xlabel("x")
    ax.set_ylabel("y")
    pin_labels(ax, below=22, aside=32)
    fig.canvas.draw()
    box = ax.get_window_extent()
    x_label = ax.xaxis.label.get_transform().transform(ax.xaxis.label.get_position())
    y_label = ax.yaxis.label.get_transform().transform(ax.yaxis.label.get_position())
    assert x_label[1] == pytest.approx(box.y0 - 22) and x_label[0] == pytest.approx(box.x0 + box.width / 2)
    assert y_label[0] == pytest.approx(box.x0 - 32)
    ax.set_yticks([0, 1e6])  # wide tick labels do not move a pinned label
    fig.canvas.draw()
    assert ax.yaxis.label.get_transform().transform(ax.yaxis.label.get_position())[0] == pytest.approx(box.x0 - 32)


@pytest.mark.parametrize("make", [quadratic_bowl, himmelblau, saddle])
def test_contour_surface_draws_levels_marks_and_limits(make):
    s = make()
    fig = new_figure(figsize=(4.0, 3.0), dpi=80)
    ax = fig.add_subplot()
    drawn = contour_surface(ax, s)
    contours, markers = drawn[0], drawn[1:]
    assert len(markers) == len(s.minima) + len(s.saddle_points)
    assert (ax.get_xlim(), ax.get_ylim()) == (tuple(s.bounds[0]), tuple(s.bounds[1]))
    levels = np.asarray(contours.levels)
    assert len(levels) == 14 and np.all(np.diff(levels) > 0)
    if s.min_value is not None:  # geometric above the minimum: dense near the bottom of the valley
        gaps = np.diff(levels - s.min_value)
        assert gaps[0] < gaps[-1] and levels[0] > s.min_value
    for m, p in zip(markers, [*s.minima, *s.saddle_points]):
        np.testing.assert_allclose([m.get_xdata()[0], m.get_ydata()[0]], p)
