"""Plotting helpers shared by the demos: fixed pixel layouts, pinned axis labels, contour plots.

Why they exist: on a small interactive figure most of a redraw's time goes to layout and text.
Constrained layout re-measures every tick label on every draw (about 40 ms on a 7x3 inch
figure), and so does matplotlib's automatic placement of axis labels. :func:`pixel_layout`
replaces the layout engine by margins given in pixels, set once before any subplot exists;
:func:`pin_labels` puts the axis labels at fixed pixel offsets. :func:`contour_surface` draws
the contour lines of an :class:`nnkit.surfaces.Surface` once, with levels that suit its shape;
the result is static, so a :class:`nnkit.demos._backdrop.Backdrop` can replay it as pixels.

Used by the activation explorer, the learning-rate explorer and the optimizer race.
"""
from __future__ import annotations

import numpy as np
from matplotlib.ticker import MaxNLocator

from ..surfaces import Surface

__all__ = ["pixel_layout", "pin_labels", "contour_surface"]


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
