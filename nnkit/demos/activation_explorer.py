"""Activation explorer: an activation function, its derivative, and where the derivative dies.

What it teaches
---------------
Backpropagation multiplies every upstream gradient by the activation's derivative,
``dz = dout * f'(z)``. Where ``f'`` is (almost) zero a unit passes (almost) no gradient back:
it is *saturated* (sigmoid and tanh for large ``|z|``) or *dead* (ReLU for ``z < 0``, the step
function everywhere). The explorer draws ``f`` and ``f'`` side by side and shades those regions,
so a student sees at a glance why sigmoid networks learn slowly when their pre-activations are
large, why ReLU's negative side gives exactly zero gradient and leaky ReLU's does not, and
that the step function cannot be trained by gradient descent at all.

Every number comes from :data:`nnkit.activations.ACTIVATIONS` (the function, its derivative,
its range, its formulas and its kinks); nothing is re-derived here.

Shading (the definition used, also stated in the header above the plot)
-----------------------------------------------------------------------
Let ``M = max |f'(z)|`` over the widest window the slider allows, ``z`` in
``[-X_MAX, X_MAX]`` (``X_MAX = 20``), so that ``M`` does not change when the window moves
(sigmoid: 1/4, tanh: 1, ReLU: 1, GELU: about 1.13). Then

- **dead** (red): ``f'(z) == 0`` exactly (ReLU and leaky ReLU's slope-0 cousin, the step
  function everywhere);
- **saturated** (grey): ``0 < |f'(z)| < threshold * M``; the threshold is a control, 5 % by
  default. Leaky ReLU's negative side has ``f' = 0.01``: grey at 5 %, clear at 0.5 %, never
  red. GELU also shows a thin grey band around its minimum (``z = -0.75``), where ``f'``
  crosses zero.

Kinks (points where ``f'`` jumps, from the registry: step, ReLU and leaky ReLU at 0) are marked
with an open circle on ``f`` and a dotted vertical line on ``f'``. There the plotted ``f'``
uses nnkit's convention (``relu_grad(0) = 0``, ``leaky_relu_grad(0) = slope``).

Controls
--------
activation : a key of :data:`nnkit.activations.ACTIVATIONS`.
x_range : the window is ``z`` in ``[-x_range, x_range]`` (1 .. 20).
threshold : the saturation threshold as a fraction of ``M`` (0.5 % .. 50 %).

``demo.state`` holds ``name``, ``z`` (n_points,), ``f`` and ``df`` (n_points,) as plotted,
``max_grad`` (M), ``threshold``, ``dead`` and ``saturated`` (bool masks over ``z``),
``dead_intervals`` and ``saturated_intervals`` (lists of ``(z_start, z_end)``, grid
resolution), ``saturated_fraction`` (share of the window that is dead or saturated), ``kinks``
(those inside the window) and ``xlim``.
Speed: the axes, ticks and labels are drawn once per window by a
:class:`nnkit.demos._backdrop.Backdrop` and replayed as pixels, so a threshold move redraws
only the curves and the shading; changing the function or the window redraws everything.
"""
from __future__ import annotations

import ipywidgets as widgets
import numpy as np
from matplotlib.ticker import MaxNLocator

from .._validate import check_choice, check_int, check_real
from ..activations import ACTIVATIONS, get_activation
from ._base import Demo, assemble, memo, new_figure
from ._backdrop import Backdrop
from ._layout import pin_labels, pixel_layout

__all__ = ["activation_explorer", "X_MAX", "saturation_masks", "intervals"]

#: Largest half-width of the window; ``max |f'|`` is taken over ``[-X_MAX, X_MAX]``.
X_MAX = 20.0
_REF_POINTS = 8001  # grid for max |f'| (spacing 0.005)


def _max_grad(act) -> float:
    z = np.linspace(-X_MAX, X_MAX, _REF_POINTS)
    return float(np.max(np.abs(act.grad(z))))


def saturation_masks(df: np.ndarray, max_grad: float, threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """``(dead, saturated)`` boolean masks: ``df == 0`` and ``0 < |df| < threshold * max_grad``."""
    mag = np.abs(df)
    dead = mag == 0
    return dead, ~dead & (mag < threshold * max_grad)


def intervals(z: np.ndarray, mask: np.ndarray) -> list[tuple[float, float]]:
    """Contiguous runs of ``mask`` as ``(z[first], z[last])`` pairs, left to right."""
    if not mask.any():
        return []
    padded = np.concatenate(([False], mask, [False])).astype(np.int8)
    edges = np.flatnonzero(np.diff(padded))
    return [(float(z[a]), float(z[b - 1])) for a, b in zip(edges[::2], edges[1::2])]


def activation_explorer(activation: str = "sigmoid", *, x_range: float = 6.0, threshold: float = 0.05,
                        n_points: int = 801) -> Demo:
    """Build the activation explorer (see the module docstring).

    Parameters
    ----------
    activation : str
        Initial activation, a key of :data:`nnkit.activations.ACTIVATIONS`.
    x_range : float in [1, 20]
        Initial half-width of the window.
    threshold : float in [0.005, 0.5]
        Initial saturation threshold, as a fraction of ``max |f'|``.
    n_points : int in [101, 4001]
        Grid points in the window (odd counts include ``z = 0``).

    Returns
    -------
    Demo
        Controls ``activation``, ``x_range``, ``threshold``. No randomness.
    """
    check_choice(activation, "activation", ACTIVATIONS)
    x_range = check_real(x_range, "x_range")
    if not 1.0 <= x_range <= X_MAX:
        raise ValueError(f"x_range must be in [1, {X_MAX:g}]; got {x_range}")
    threshold = check_real(threshold, "threshold")
    if not 0.005 <= threshold <= 0.5:
        raise ValueError(f"threshold must be in [0.005, 0.5] (a fraction of max |f'|); got {threshold}")
    n_points = check_int(n_points, "n_points", 101, 4001)
    controls = {
        "activation": widgets.Dropdown(options=tuple(ACTIVATIONS), value=activation, description="activation"),
        "x_range": widgets.FloatSlider(value=x_range, min=1.0, max=X_MAX, step=0.5, description="z range ±",
                                       style={"description_width": "initial"}),
        "threshold": widgets.FloatSlider(value=threshold, min=0.005, max=0.5, step=0.005,
                                         description="saturated below", readout_format=".1%",
                                         style={"description_width": "initial"}),
    }
    explorer = _Explorer(controls, n_points)
    return assemble(controls, explorer.fig, explorer.update, state=explorer.state, header=explorer.header)


def _header(name: str, act, thr: float, m: float, frac: float, kinks: tuple) -> str:
    """The header: the formulas, then what the shading means for this window."""
    lines = [f"<b>{name}</b>, range {act.range}: " + rf"$\ {act.formula}$",
             rf"derivative: $\ {act.grad_formula}$" if act.grad_formula else ""]
    note = (f"Shaded: <span style='color:#d62728'><b>red</b></span> (dead) where f'(z) = 0 exactly; "
            f"<span style='color:#7f7f7f'><b>grey</b></span> (saturated) where 0 &lt; |f'(z)| &lt; {thr:.1%} of "
            f"max |f'| = {m:.3g} (max over z in [-{X_MAX:g}, {X_MAX:g}]). "
            f"{frac:.0%} of this window passes (almost) no gradient.")
    if kinks:
        note += f" Kink (f' jumps) at z = {', '.join(f'{k:g}' for k in kinks)}: nnkit uses f'({kinks[0]:g}) = " \
                f"{float(act.grad(np.array([kinks[0]]))[0]):g} there."
    return "<br>".join(x for x in lines if x) + f"<br><small>{note}</small>"


class _Explorer:
    """The explorer's two panels (f and f') and its callback :meth:`update`."""

    def __init__(self, controls: dict, n_points: int):
        self.controls, self.n_points = controls, n_points
        self.header = widgets.HTMLMath(value="")
        self.state: dict = {}
        self.shades: list = []  # the dead and saturated bands, made anew by every update
        self.max_grads: dict[str, float] = {}  # activation -> max |f'| over [-X_MAX, X_MAX]
        self._figure()

    def _figure(self) -> None:
        fig = self.fig = new_figure(figsize=(7.2, 2.8), dpi=80)
        pixel_layout(fig, left=46, right=10, bottom=34, top=8, gap=62)
        ax_f, ax_d = self.ax_f, self.ax_d = fig.subplots(1, 2)
        # Few ticks, no grid and no Agg titles (the header says what the titles would): text is most
        # of the cost of a redraw.
        for ax, label in ((ax_f, "f(z)"), (ax_d, "f'(z)")):
            ax.axhline(0.0, color="0.6", lw=0.8)
            ax.axvline(0.0, color="0.6", lw=0.8)
            ax.xaxis.set_major_locator(MaxNLocator(4, symmetric=True))
            ax.yaxis.set_major_locator(MaxNLocator(4))
            ax.tick_params(labelsize=8)
            ax.set_xlabel("z")
            ax.set_ylabel(label)
            pin_labels(ax)
        # axes, ticks and labels are drawn once per window and replayed as pixels (a threshold move
        # redraws only the curves and the shading)
        (self.line_f,) = ax_f.plot([], [], color="C0", lw=2)
        (self.line_d,) = ax_d.plot([], [], color="C1", lw=2)
        (self.kink_f,) = ax_f.plot([], [], "o", ms=7, mfc="white", mec="C3", mew=1.5, zorder=5)
        (self.kink_d,) = ax_d.plot([], [], ":", color="C3", lw=1.5, transform=ax_d.get_xaxis_transform())
        self.backdrop = Backdrop(fig, dynamic=[self.line_f, self.line_d, self.kink_f, self.kink_d])

    def shade(self, mask_dead: np.ndarray, mask_sat: np.ndarray, z: np.ndarray) -> None:
        """Replace the bands: red where ``mask_dead``, grey where ``mask_sat``, on both panels."""
        for artist in self.shades:
            artist.remove()
        self.shades.clear()
        for ax in (self.ax_f, self.ax_d):
            trans = ax.get_xaxis_transform()
            if mask_dead.any():
                self.shades.append(ax.fill_between(z, 0, 1, where=mask_dead, color="C3", alpha=0.18, lw=0,
                                                   transform=trans))
            if mask_sat.any():
                self.shades.append(ax.fill_between(z, 0, 1, where=mask_sat, color="0.5", alpha=0.25, lw=0,
                                                   transform=trans))
        self.backdrop.add_dynamic(*self.shades)  # made after the last capture: drawn live, never in the picture

    def update(self) -> None:
        name = self.controls["activation"].value
        act = get_activation(name)
        half = float(self.controls["x_range"].value)
        thr = float(self.controls["threshold"].value)
        m = memo(self.max_grads, name, lambda: _max_grad(act))
        z = np.linspace(-half, half, self.n_points)
        f = act.fn(z)
        df = act.grad(z)
        dead, sat = saturation_masks(df, m, thr)
        kinks = tuple(k for k in act.kinks if -half <= k <= half)
        self.draw(act, z, f, df, kinks, dead, sat, half)
        frac = float(np.mean(dead | sat))
        self.header.value = _header(name, act, thr, m, frac, kinks)
        self.state.update(name=name, z=z, f=f, df=df, max_grad=m, threshold=thr, dead=dead, saturated=sat,
                          dead_intervals=intervals(z, dead), saturated_intervals=intervals(z, sat),
                          saturated_fraction=frac, kinks=kinks, xlim=(-half, half))
        self.fig.canvas.draw_idle()

    def draw(self, act, z: np.ndarray, f: np.ndarray, df: np.ndarray, kinks: tuple, dead: np.ndarray,
             sat: np.ndarray, half: float) -> None:
        """The curves f and f', the kinks, the bands, and limits that hold both curves and zero."""
        self.line_f.set_data(z, f)
        self.line_d.set_data(z, df)
        self.kink_f.set_data(list(kinks), list(act.fn(np.array(kinks, dtype=float))) if kinks else [])
        kx = [v for k in kinks for v in (k, k, np.nan)]
        ky = [v for _ in kinks for v in (0.0, 1.0, np.nan)]
        self.kink_d.set_data(kx, ky)
        self.shade(dead, sat, z)
        for ax, y in ((self.ax_f, f), (self.ax_d, df)):
            lo, hi = float(min(y.min(), 0.0)), float(max(y.max(), 0.0))
            pad = 0.08 * (hi - lo) if hi > lo else 0.5
            ax.set_xlim(-half, half)
            ax.set_ylim(lo - pad, hi + pad)
