"""Which entries share one mean and variance: batch, layer, instance and group normalization.

What it teaches
---------------
All four normalizations compute ``x_hat = (x - mu) / sqrt(var + eps)`` (then ``gamma * x_hat +
beta``, left out here: ``gamma = 1``, ``beta = 0``). They differ only in *which* entries of the
tensor are averaged together to give one ``mu`` and one ``var``. For ``x`` of shape
``(N, C, H, W)``:

- **batch norm**: one set per channel ``c``, over the samples and the positions (``N*H*W``
  entries). It is the only one that mixes samples, so a sample's output depends on its batch.
- **layer norm**: one set per sample ``n``, over all its channels and positions (``C*H*W``).
- **instance norm**: one set per sample and channel, over the positions (``H*W``).
- **group norm**: one set per sample and group of ``C/G`` neighbouring channels, over those
  channels and the positions. ``G = 1`` is layer norm, ``G = C`` is instance norm.

On features ``(N, C)`` (no positions) batch, layer and group norm still make sense, but
instance norm would average one number per set, whose variance is 0: nnkit refuses it.

The tensor is drawn unrolled: one row per sample ``n``, one block per channel ``c``, the
``H*W`` positions of a channel side by side inside its block. Every value is computed by
nnkit: :func:`nnkit.normalization.batchnorm_forward` (on the ``(N*H*W, C)`` matrix: every
position of every sample is one "example" of channel ``c``, which is how batch norm treats
images), :func:`~nnkit.normalization.layernorm_forward` on ``(N, C)`` and
:func:`~nnkit.normalization.group_norm_forward` with ``G = 1`` on images (layer norm over
``C, H, W``), :func:`~nnkit.normalization.instance_norm_forward` and
:func:`~nnkit.normalization.group_norm_forward`.

Controls
--------
method : ``"batch"``, ``"layer"``, ``"instance"`` or ``"group"``.
groups : ``G``, a divisor of ``C`` (used by group norm only; disabled otherwise).
layout : ``"(N, C, H, W)"`` or ``"(N, C)"`` (the first position of every channel).
sample, channel : the entry ``(n, c)`` whose set is outlined.

Panels: (1) ``x``; (2) the sets, one pale colour each, the set of entry ``(n, c)`` outlined
and marked; (3) ``x_hat``, with the same set outlined: inside every set the values now have
mean 0 and standard deviation (almost) 1.

``demo.state`` holds ``x`` and ``x_hat`` (the shape of the layout; ``x_hat`` is NaN when the
method refuses the layout), ``labels`` (int, the shape of ``x``: entries with the same label
share ``mu`` and ``var``), ``selected`` (bool, the outlined set), ``n_sets``, ``set_size``,
``mean_before``, ``std_before``, ``mean_after``, ``std_after`` (of the outlined set), ``error``
(nnkit's message when it refuses, else None) and the control values.
"""
from __future__ import annotations

import ipywidgets as widgets
import numpy as np
from matplotlib.patches import Rectangle

from .._validate import ShapeError, check_choice, check_int, check_rng
from ..normalization import batchnorm_forward, group_norm_forward, instance_norm_forward, layernorm_forward
from ._backdrop import Backdrop
from ._base import Demo, assemble, new_figure

__all__ = ["normalization_axes", "normalize", "set_labels", "METHODS", "LAYOUTS"]

METHODS = ("batch", "layer", "instance", "group")
LAYOUTS = ("(N, C, H, W)", "(N, C)")
CELL, GAP = 3, 1  # display units per entry and between blocks


def normalize(x: np.ndarray, method: str, groups: int = 1, eps: float = 1e-5) -> np.ndarray:
    """``x_hat`` of ``x`` ((N, C) or (N, C, *spatial)) by nnkit, with ``gamma = 1``, ``beta = 0``.

    Batch norm of an image tensor normalizes the ``(N * positions, C)`` matrix (training mode);
    layer norm of an image tensor is group norm with one group. Raises what nnkit raises
    (instance norm on ``(N, C)``: ShapeError).
    """
    check_choice(method, "method", METHODS)
    C = x.shape[1]
    ones, zeros = np.ones(C), np.zeros(C)
    if method == "batch":
        rows = np.moveaxis(x, 1, -1)  # (N, *spatial, C)
        out = batchnorm_forward(rows.reshape(-1, C), ones, zeros, zeros, ones, True, eps=eps)[0]
        return np.moveaxis(out.reshape(rows.shape), -1, 1)
    if method == "layer":
        if x.ndim == 2:
            return layernorm_forward(x, ones, zeros, eps)[0]
        return group_norm_forward(x, ones, zeros, 1, eps)[0]
    if method == "instance":
        return instance_norm_forward(x, ones, zeros, eps)[0]
    return group_norm_forward(x, ones, zeros, groups, eps)[0]


def set_labels(shape: tuple, method: str, groups: int = 1) -> np.ndarray:
    """Integer labels of ``shape`` ((N, C, ...)): entries with the same label share one mean and variance.

    batch: ``c``; layer: ``n``; instance: ``n*C + c``; group: ``n*G + c // (C/G)``.
    """
    check_choice(method, "method", METHODS)
    N, C = shape[:2]
    n = np.arange(N).reshape((N, 1) + (1,) * (len(shape) - 2))
    c = np.arange(C).reshape((1, C) + (1,) * (len(shape) - 2))
    if method == "batch":
        lab = c + 0 * n
    elif method == "layer":
        lab = n + 0 * c
    elif method == "instance":
        lab = n * C + c
    else:
        lab = n * groups + c // (C // groups)
    return np.broadcast_to(lab, shape).copy()


def _display_maps(N: int, C: int, P: int):
    """Index maps from display pixels to entries: row -> n (or -1), column -> c*P + p (or -1)."""
    rows = np.full(N * (CELL + GAP) - GAP, -1)
    for n in range(N):
        rows[n * (CELL + GAP): n * (CELL + GAP) + CELL] = n
    block = P * CELL + GAP
    cols = np.full(C * block - GAP, -1)
    for c in range(C):
        for p in range(P):
            start = c * block + p * CELL
            cols[start:start + CELL] = c * P + p
    return rows, cols


def _num(v: float) -> str:
    """``+0.00`` rather than ``-0.00`` for a mean that is zero up to round-off."""
    return f"{round(float(v), 2) + 0.0:+.2f}"


def _palette() -> np.ndarray:
    from matplotlib import colormaps

    light = colormaps["tab20"].colors[1::2]  # the pale half of tab20
    return np.array(light)[[0, 1, 2, 4, 6, 8, 9, 3, 5, 7]]


def normalization_axes(*, method: str = "batch", groups: int = 2, layout: str = LAYOUTS[0],
                       rng: np.random.Generator | None = None) -> Demo:
    """Build the normalization-axes demo (see the module docstring).

    Parameters
    ----------
    method : str
        One of :data:`METHODS`.
    groups : int
        One of 1, 2, 3, 6 (the divisors of ``C = 6``).
    layout : str
        One of :data:`LAYOUTS`.
    rng : numpy.random.Generator, optional
        Draws the tensor (N = 4 samples, C = 6 channels, H = W = 2); default ``default_rng(0)``.

    Returns
    -------
    Demo
        Controls ``method``, ``groups``, ``layout``, ``sample``, ``channel``.
    """
    check_choice(method, "method", METHODS)
    check_choice(layout, "layout", LAYOUTS)
    N, C, H, W = 4, 6, 2, 2
    divisors = tuple(g for g in range(1, C + 1) if C % g == 0)
    groups = check_int(groups, "groups", 1)
    if groups not in divisors:
        raise ValueError(f"groups must divide C = {C}, one of {divisors}; got {groups}")
    rng = np.random.default_rng(0) if rng is None else check_rng(rng)
    # each sample and each channel has its own level and spread, so every method has work to do
    x4 = (rng.normal(0.0, 2.0, size=(N, 1, 1, 1)) + rng.normal(0.0, 3.0, size=(1, C, 1, 1))
          + rng.uniform(0.5, 2.0, size=(1, C, 1, 1)) * rng.standard_normal((N, C, H, W)))
    controls = {
        "method": widgets.ToggleButtons(options=METHODS, value=method, description="norm",
                                        style={"button_width": "6.5em"}),
        "groups": widgets.SelectionSlider(options=divisors, value=groups, description="groups G",
                                          disabled=method != "group"),
        "layout": widgets.ToggleButtons(options=LAYOUTS, value=layout, description="x shape",
                                        style={"button_width": "7.5em"}),
        "sample": widgets.IntSlider(value=0, min=0, max=N - 1, description="sample n"),
        "channel": widgets.IntSlider(value=0, min=0, max=C - 1, description="channel c"),
    }
    view = _View(controls, {LAYOUTS[0]: x4, LAYOUTS[1]: x4[:, :, 0, 0].copy()})
    return assemble(controls, view.fig, view.update, state=view.state)


def _titles(method: str, x: np.ndarray, groups: int, n_sets: int, size: int, before: np.ndarray,
            after: np.ndarray, error: str | None) -> tuple[str, str]:
    """The titles of the sets panel and the x_hat panel."""
    if error is not None:
        return ("instance norm on (N, C): every set is one number, its variance is 0",
                "nnkit refuses: use layer or group norm on features")
    hw = ", h, w" if x.ndim > 2 else ""
    what = {"batch": "per channel, over n" + hw,
            "layer": "per sample, over c" + hw,
            "instance": "per sample and channel, over h, w",
            "group": f"per sample and group of {x.shape[1] // groups} channel(s), over them" + hw}[method]
    return (f"{method} norm: {n_sets} means and variances, each of {size} entries ({what})",
            f"x_hat = (x - mean) / sqrt(var + eps); outlined: mean {_num(after.mean())}, "
            f"std {after.std():.2f} (before: {_num(before.mean())}, {before.std():.2f})")


class _View:
    """The demo's three panels and its callback :meth:`update`.

    Every panel is an image of the tensor unrolled for display (:func:`_display_maps`); a new
    layout changes the tensor, the ticks and the colour range (:meth:`show_layout`).
    """

    def __init__(self, controls: dict, tensors: dict[str, np.ndarray]):
        self.controls, self.tensors = controls, tensors
        self.palette = _palette()
        self.state: dict = {}
        self.shown = {"layout": None}
        self.maps: dict = {}
        self._figure()

    def _figure(self) -> None:
        fig = self.fig = new_figure(figsize=(8.4, 5.0), dpi=80)
        axes = self.axes = fig.subplots(3, 1)
        empty = np.zeros((2, 2))
        self.img_x = axes[0].imshow(empty, cmap="viridis", interpolation="nearest", aspect="auto")
        self.img_sets = axes[1].imshow(np.ones((2, 2, 3)), interpolation="nearest", aspect="auto")
        self.img_x.set_cmap(self.img_x.cmap.with_extremes(bad="white"))
        div = self.div = axes[2].imshow(empty, cmap="RdBu_r", vmin=-2.2, vmax=2.2, interpolation="nearest",
                                        aspect="auto")
        div.set_cmap(div.cmap.with_extremes(bad="white"))
        fig.colorbar(self.img_x, ax=axes[0], pad=0.01, fraction=0.03)
        fig.colorbar(div, ax=axes[2], pad=0.01, fraction=0.03)
        spacer = fig.colorbar(div, ax=axes[1], pad=0.01, fraction=0.03)  # keeps the three panels aligned
        spacer.ax.set_visible(False)
        self.outlines = [ax.add_patch(Rectangle((0, 0), 1, 1, fill=False, edgecolor="k", linewidth=2.2))
                         for ax in axes[1:]]
        (self.marker,) = axes[1].plot([], [], "o", color="k", ms=5)
        for ax in axes:
            ax.tick_params(labelsize=8, length=0)
            ax.set_title(" ", fontsize=9, y=1.0)  # a fixed place: no automatic placement on every draw
        # a new layout changes the tensor, the ticks and the colour range: static, invalidated then
        self.backdrop = Backdrop(fig, dynamic=[self.img_sets, div, *self.outlines, self.marker, axes[1].title,
                                               axes[2].title])

    def show_layout(self, name: str) -> None:
        """Draw tensor ``name``, with its ticks and colour range (the static parts)."""
        x = self.tensors[name]
        N, C = x.shape[:2]
        P = int(np.prod(x.shape[2:])) if x.ndim > 2 else 1
        rows, cols = _display_maps(N, C, P)
        self.maps.update(rows=rows, cols=cols, P=P, mask=(rows[:, None] >= 0) & (cols[None, :] >= 0))
        self.backdrop.invalidate()
        self.img_x.set_data(self.to_display(x.reshape(N, C * P)))
        self.img_x.set_clim(float(x.min()), float(x.max()))
        extent = (-0.5, len(cols) - 0.5, len(rows) - 0.5, -0.5)
        block = P * CELL + GAP
        for ax, im in zip(self.axes, (self.img_x, self.img_sets, self.div)):
            im.set_extent(extent)
            ax.set_xlim(extent[0], extent[1])
            ax.set_ylim(extent[2], extent[3])
            ax.set_xticks([c * block + (P * CELL - 1) / 2 for c in range(C)], [f"c={c}" for c in range(C)])
            ax.set_yticks([n * (CELL + GAP) + (CELL - 1) / 2 for n in range(N)], [f"n={n}" for n in range(N)])
        H, W = x.shape[2:] if x.ndim > 2 else (1, 1)
        where = f"{H * W} positions (H, W) = ({H}, {W}) side by side" if x.ndim > 2 else "one number"
        self.axes[0].title.set_text(f"x of shape {x.shape}: a row per sample n, a block per channel c ({where})")
        self.shown["layout"] = name

    def to_display(self, flat: np.ndarray) -> np.ndarray:
        """(N, C*P) values -> the display image, NaN in the gaps."""
        rows, cols = self.maps["rows"], self.maps["cols"]
        out = flat[np.maximum(rows, 0)[:, None], np.maximum(cols, 0)[None, :]].astype(float)
        out[~self.maps["mask"]] = np.nan
        return out

    def update(self) -> None:
        c = self.controls
        name, m, G = c["layout"].value, c["method"].value, int(c["groups"].value)
        n, ch = int(c["sample"].value), int(c["channel"].value)
        c["groups"].disabled = m != "group"
        if self.shown["layout"] != name:
            self.show_layout(name)
        x = self.tensors[name]
        labels = set_labels(x.shape, m, G)
        error = None
        try:
            x_hat = normalize(x, m, G)
        except (ShapeError, ValueError) as exc:  # instance norm on (N, C): nnkit says why
            error, x_hat = str(exc), np.full(x.shape, np.nan)
            labels = np.arange(x.size).reshape(x.shape)  # each entry alone: a set of one
        selected = labels == labels[(n, ch) + (0,) * (x.ndim - 2)]
        self.draw(labels, selected, x_hat, n, ch)
        n_sets, size = int(labels.max()) + 1, int(selected.sum())
        before, after = x[selected], x_hat[selected]
        for ax, title in zip(self.axes[1:], _titles(m, x, G, n_sets, size, before, after, error)):
            ax.title.set_text(title)
        self.state.update(method=m, groups=G, layout=name, sample=n, channel=ch, x=x, x_hat=x_hat, labels=labels,
                          selected=selected, n_sets=n_sets, set_size=size, mean_before=float(before.mean()),
                          std_before=float(before.std()), mean_after=float(np.mean(after)) if error is None else None,
                          std_after=float(np.std(after)) if error is None else None, error=error)
        self.backdrop.ensure(key=name)
        self.fig.canvas.draw_idle()

    def draw(self, labels: np.ndarray, selected: np.ndarray, x_hat: np.ndarray, n: int, c: int) -> None:
        """Colour the sets, show x_hat, outline the selected set and mark entry (n, c)."""
        rows, cols, P = self.maps["rows"], self.maps["cols"], self.maps["P"]
        N, C = labels.shape[:2]
        flat_lab = labels.reshape(N, C * P)
        rgb = self.palette[flat_lab[np.maximum(rows, 0)[:, None], np.maximum(cols, 0)[None, :]] % len(self.palette)]
        rgb[~self.maps["mask"]] = 1.0  # white gaps between samples and channels
        self.img_sets.set_data(rgb)
        self.div.set_data(self.to_display(x_hat.reshape(N, C * P)))
        # the outlined set is a rectangle of the display: rows and columns it touches
        sel = selected.reshape(N, C * P)
        sel_rows = np.flatnonzero(sel.any(axis=1))
        sel_cols = np.flatnonzero(sel.any(axis=0))
        block = P * CELL + GAP
        r0, r1 = sel_rows[0] * (CELL + GAP), sel_rows[-1] * (CELL + GAP) + CELL
        c0 = (sel_cols[0] // P) * block + (sel_cols[0] % P) * CELL
        c1 = (sel_cols[-1] // P) * block + (sel_cols[-1] % P) * CELL + CELL
        for outline in self.outlines:
            outline.set_bounds(c0 - 0.5, r0 - 0.5, c1 - c0, r1 - r0)
        self.marker.set_data([c * block + (P * CELL - 1) / 2], [n * (CELL + GAP) + (CELL - 1) / 2])
