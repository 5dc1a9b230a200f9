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


def test_loss_axis_is_a_log_gap_with_a_minimum_and_linear_without_and_loss_on_axis_clips_to_it():
    from nnkit.demos._layout import LOSS_FLOOR, loss_axis, loss_on_axis

    ax = new_figure().add_subplot()
    loss_axis(ax, (2.0, 350.0), 1.0, log_label="gap", linear_label="f")
    assert ax.get_yscale() == "log" and ax.get_ylim() == (LOSS_FLOOR, 1000.0) and ax.get_ylabel() == "gap"
    np.testing.assert_array_equal(loss_on_axis(ax, np.array([1.0, 3.0, 1e9]), 1.0), [LOSS_FLOOR / 10, 2.0, 1e4])
    loss_axis(ax, (-5.0, 5.0), None, log_label="gap", linear_label="f")
    assert ax.get_yscale() == "linear" and ax.get_ylim() == pytest.approx((-5.8, 5.8)) and ax.get_ylabel() == "f"
    np.testing.assert_allclose(loss_on_axis(ax, np.array([-100.0, 1.0, 100.0]), None), [-17.4, 1.0, 17.4])


def test_clip_to_window_keeps_half_a_window_of_margin():
    from nnkit.demos._layout import clip_to_window

    path = np.array([[0.0, 0.0], [5.0, -9.0], [-1e9, 1e9]])
    np.testing.assert_array_equal(clip_to_window(path, ((-1.0, 1.0), (0.0, 4.0))), [[0, 0], [2, -2], [-2, 6]])


def test_nice_ceil_and_plane_grid():
    from nnkit.demos._layout import nice_ceil, plane_grid

    assert [nice_ceil(x) for x in (0.7, 1.0, 1.2, 2.5, 4.0, 6.0, 9.0, 1234.0)] == \
        [0.75, 1.0, 1.5, 3.0, 5.0, 7.5, 10.0, 1500.0]
    gx, gy = np.array([0.0, 1.0, 2.0]), np.array([10.0, 20.0])
    grid = plane_grid(gx, gy)
    assert grid.shape == (6, 2)
    np.testing.assert_array_equal(grid[:, 0].reshape(2, 3), np.tile(gx, (2, 1)))  # row i of the image is gy[i]
    np.testing.assert_array_equal(grid[:, 1].reshape(2, 3)[:, 0], gy)
