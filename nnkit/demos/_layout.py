"""Plotting helpers shared by the demos: fixed pixel layouts, pinned axis labels, contour plots,
loss axes, and the colours of a classifier's plane.

Why they exist: on a small interactive figure most of a redraw's time goes to layout and text.
Constrained layout re-measures every tick label on every draw (about 40 ms on a 7x3 inch
figure), and so does matplotlib's automatic placement of axis labels. :func:`pixel_layout`
replaces the layout engine by margins given in pixels, set once before any subplot exists;
:func:`pin_labels` puts the axis labels at fixed pixel offsets. :func:`contour_surface` draws
the contour lines of an :class:`nnkit.surfaces.Surface` once, with levels that suit its shape;
the result is static, so a :class:`nnkit.demos._backdrop.Backdrop` can replay it as pixels.
Axis limits that stay put keep that picture valid: :func:`loss_axis` fixes a loss axis per
function, :func:`nice_ceil` rounds a growing axis top to a few values. :func:`curve_panel` gives
a panel of curves its labels, light grid, small legend and a title at a fixed height.

Used by the activation explorer, the learning-rate explorer and the optimizer race (layout,
contours, loss axes), the playground and the vanishing-gradient explorer (:func:`nice_ceil`),
the playground and the capacity explorer (:func:`plane_grid`, :func:`confidence_rgb`), the
playground, the capacity explorer and the universal-approximation demo (:func:`curve_panel`).
"""
from __future__ import annotations

import math

import numpy as np
from matplotlib.ticker import MaxNLocator, NullLocator

from ..surfaces import Surface

__all__ = ["pixel_layout", "pin_labels", "contour_surface", "contour_board", "loss_axis", "loss_on_axis",
           "clip_to_window", "nice_ceil", "curve_panel", "plane_grid", "confidence_rgb", "CLASS_COLORS",
           "LOSS_FLOOR"]

#: Bottom of a log-scale loss axis (gaps below it, i.e. converged runs, sit on the floor).
LOSS_FLOOR = 1e-10
#: Class colours (orange, blue, green) for a classifier's regions and its data points.
CLASS_COLORS = np.array([[0.96, 0.58, 0.13], [0.03, 0.47, 0.74], [0.20, 0.63, 0.17]])


def contour_surface(ax, surface: Surface, bounds=None, n: int = 80, n_levels: int = 14):
    """Draw the contour lines of ``surface`` on ``ax`` once, mark its minima and saddle points,
    fix the limits; return the artists drawn (the ContourSet first, then the markers), the
    static layer (a :class:`~nnkit.demos._backdrop.Backdrop` repaints it as pixels).

    Levels are spaced geometrically above the minimum value when the surface has one (so the
    flat bottom of a valley gets contours too), evenly otherwise (negative levels dashed). No
    filled background: a smooth colour ramp makes every redraw's PNG several times slower to
    encode.
    """
    bounds = surface.bounds if bounds is None else bounds
    X, Y, Z = surface.grid(n, bounds)
    if surface.min_value is not None:
        above = Z - surface.min_value
        top = float(np.percentile(above, 99))
        lo = max(float(np.percentile(above, 0.5)), 1e-3 * top, 1e-12)
        levels = surface.min_value + np.geomspace(lo, top, n_levels)
    else:
        levels = np.linspace(float(np.percentile(Z, 1)), float(np.percentile(Z, 99)), n_levels)
    drawn = [ax.contour(X, Y, Z, levels=levels, cmap="viridis", linewidths=0.7, alpha=0.6)]
    for p in surface.minima:
        drawn += ax.plot(*p, "*", color="gold", mec="k", mew=0.6, ms=10, zorder=4)
    for p in surface.saddle_points:
        drawn += ax.plot(*p, "X", color="white", mec="k", mew=0.6, ms=7, zorder=4)
    ax.set_xlim(*bounds[0])
    ax.set_ylim(*bounds[1])
    ax.xaxis.set_major_locator(MaxNLocator(5))
    ax.yaxis.set_major_locator(MaxNLocator(5))
    ax.tick_params(labelsize=8)
    return drawn


def pixel_layout(fig, *, left: float = 46, right: float = 10, bottom: float = 36, top: float = 8,
                 gap: float = 62, ncols: int = 2) -> None:
    """A fixed layout given in pixels: margins and the gap between ``ncols`` equal columns.

    Replaces constrained layout (about 40 ms per draw on a small figure) with the figure's
    subplot parameters, set once; subplots made later from the figure's grid specs get the same
    places.
    """
    fig.set_layout_engine("none")
    W, H = fig.get_size_inches() * fig.dpi
    width = (W - left - right - (ncols - 1) * gap) / ncols
    # subplots_adjust refuses once constrained layout was set: write the parameters directly
    # (this runs before any subplot exists, so every one is placed by them)
    fig.subplotpars.update(left=left / W, right=1 - right / W, bottom=bottom / H, top=1 - top / H,
                           wspace=gap / width if ncols > 1 else 0.2)


def pin_labels(ax, *, below: float = 22, aside: float = 32) -> None:
    """Put ``ax``'s axis labels ``below`` pixels under and ``aside`` pixels left of the axes.

    Matplotlib otherwise measures every tick label on every draw to place the axis labels,
    which is a third of a small figure's redraw time.
    """
    fig = ax.figure
    W, H = fig.get_size_inches() * fig.dpi
    pos = ax.get_position()
    ax.xaxis.set_label_coords(0.5, -below / (pos.height * H))
    ax.yaxis.set_label_coords(-aside / (pos.width * W), 0.5)


def contour_board(fig, spec, surface: Surface, bounds=None):
    """A new axes at ``spec`` of ``fig`` with the contour plot of ``surface`` (:func:`contour_surface`)
    and the axis labels x and y, pinned."""
    ax = fig.add_subplot(spec)
    contour_surface(ax, surface, bounds)
    ax.set_xlabel("x")
    ax.set_ylabel("y")
    pin_labels(ax)
    return ax


def loss_axis(ax, f_range: tuple[float, float], f_star: float | None, *, log_label: str, linear_label: str) -> None:
    """Fix ``ax``'s y axis for the values ``f_range = (min, max)`` a function takes in its window.

    With a minimum value ``f_star``: the gap ``f - f_star`` on a log scale from
    :data:`LOSS_FLOOR` up to a power of ten. Without one (a saddle): ``f`` itself, on a linear
    scale with 8 % of room. A fixed axis means that moving a slider redraws no tick label; what
    runs off it is clipped by :func:`loss_on_axis`.
    """
    lo, hi = f_range
    if f_star is not None:
        ax.set_yscale("log")
        ax.yaxis.set_minor_locator(NullLocator())  # dozens of minor ticks cost more than they tell
        ax.set_ylabel(log_label)
        ax.set_ylim(LOSS_FLOOR, 10.0 ** math.ceil(math.log10(max(hi - f_star, 1e-9))))
    else:
        ax.set_yscale("linear")
        ax.yaxis.set_major_locator(MaxNLocator(5))
        ax.set_ylabel(linear_label)
        pad = 0.08 * (hi - lo)
        ax.set_ylim(lo - pad, hi + pad)


def loss_on_axis(ax, values: np.ndarray, f_star: float | None) -> np.ndarray:
    """``values`` as drawn on an axis set by :func:`loss_axis`: the gap to ``f_star`` (or ``f``
    itself), clipped just outside the view so that a diverging run stays finite on screen."""
    lo, hi = ax.get_ylim()
    if f_star is not None:
        return np.clip(values - f_star, lo / 10, hi * 10)
    return np.clip(values, lo - (hi - lo), hi + (hi - lo))


def clip_to_window(path: np.ndarray, window) -> np.ndarray:
    """Points of ``path`` (n, dim) clipped to ``window`` (one ``(lo, hi)`` per dimension) widened
    by half its size on every side: what a run that left the view is drawn as."""
    lo = np.array([w[0] for w in window])
    hi = np.array([w[1] for w in window])
    margin = 0.5 * (hi - lo)
    return np.clip(path, lo - margin, hi + margin)


def nice_ceil(x: float) -> float:
    """The smallest of 1, 1.5, 2, 3, 5, 7.5 times a power of ten that is >= x (stable axis tops)."""
    p = 10.0 ** math.floor(math.log10(x))
    return next(m * p for m in (1.0, 1.5, 2.0, 3.0, 5.0, 7.5, 10.0) if m * p >= x * (1 - 1e-12))


def curve_panel(ax, *, legend: str, title: str = " ", title_size: float = 10, xlabel: str | None = None,
                ylabel: str | None = None) -> None:
    """Finish a panel of curves (call it after the curves are plotted): the axis labels given, a
    light grid, a small legend at ``legend`` (a matplotlib ``loc``) and the title at a fixed
    height (``y=1.0``: matplotlib then skips placing it anew on every draw). The default title
    ``" "`` keeps the place for one that ``update`` sets."""
    if xlabel is not None:
        ax.set_xlabel(xlabel)
    if ylabel is not None:
        ax.set_ylabel(ylabel)
    ax.grid(True, alpha=0.3)
    ax.legend(loc=legend, fontsize=8)
    ax.set_title(title, fontsize=title_size, y=1.0)


def plane_grid(gx: np.ndarray, gy: np.ndarray) -> np.ndarray:
    """The points of the grid ``gx`` x ``gy`` as rows (len(gx) * len(gy), 2), x fastest: row ``i``
    of the image ``values.reshape(len(gy), len(gx))`` is ``gy[i]``."""
    return np.column_stack([np.tile(gx, len(gy)), np.repeat(gy, len(gx))])


def confidence_rgb(proba: np.ndarray, levels: int = 8) -> np.ndarray:
    """(..., K) probabilities -> (..., 3) colours: the predicted class's colour, paler when unsure.

    The confidence ``(max_k p_k - 1/K) / (1 - 1/K)`` (0 for a uniform prediction, 1 for a certain
    one) is rounded up to ``levels`` bands, which read like contour lines of the confidence (and
    keep the picture cheap to send to the browser).
    """
    K = proba.shape[-1]
    confidence = (proba.max(axis=-1, keepdims=True) - 1.0 / K) / (1.0 - 1.0 / K)
    confidence = np.ceil(confidence * levels) / levels
    return 1.0 - 0.65 * confidence * (1.0 - CLASS_COLORS[proba.argmax(axis=-1)])
