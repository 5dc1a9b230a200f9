"""Regularization geometry: the L2 circle and the L1 diamond against the contours of a loss.

What it teaches
---------------
Adding a penalty ``lam * R(w)`` to a loss ``L(w)`` and minimizing the sum gives the same point
as minimizing ``L`` alone inside the region ``R(w) <= t`` for the right radius ``t`` (here
``t = R(w_lam)`` of the penalized optimum ``w_lam``). At that point a contour of ``L`` just
touches the region. The L2 region is a disc: contours touch it anywhere, so both weights
shrink but stay non-zero. The L1 region is a diamond whose corners sit on the axes: contours
usually touch a corner first, so one weight becomes *exactly* zero (sparsity), and beyond
``lam >= max|A c|`` both are zero.

The loss is a 2-D quadratic ``L(w) = 1/2 (w - c)^T A (w - c)`` (its minimum ``c`` is the
unregularized solution), and the penalties follow :mod:`nnkit.regularization`:

- L2: ``(lam / 2) * ||w||^2`` (:func:`~nnkit.regularization.l2_penalty`). The optimum solves
  ``(A + lam I) w = A c``.
- L1: ``lam * ||w||_1`` (:func:`~nnkit.regularization.l1_penalty`). The optimum is found
  exactly by :func:`l1_optimum`: for a strictly convex quadratic in 2-D, try every support
  (which weights are zero) and sign pattern and keep the one that satisfies the optimality
  (KKT) conditions ``A (w - c) + lam s = 0`` with ``s_i = sign(w_i)`` where ``w_i != 0`` and
  ``|A (w - c)|_i <= lam`` where ``w_i = 0``.

Controls
--------
lam : the regularization strength lambda (the same value for both penalties).
loss : the shape of the loss (a tilted ellipse, an axis-aligned one, a round bowl).

Panels: (1) L2 and (2) L1: loss contours, the unregularized minimum ``c`` (star), the path of
``w_lam`` for all lambda (dotted), the current optimum (dot), the region ``R(w) <= R(w_lam)``
and the loss contour through ``w_lam``, which touches it. (3) both weights against lambda,
L2 dashed and L1 solid, the current lambda marked.

``demo.state`` holds ``lam``, ``loss``, ``A`` (2, 2), ``c`` (2,), ``w_l2``, ``w_l1`` (2,),
``radius_l2`` (``||w_l2||_2``), ``radius_l1`` (``||w_l1||_1``), ``objective_l2`` and
``objective_l1`` (loss plus penalty at the optimum), ``n_zero_l1`` (weights exactly zero in
``w_l1``) and ``lam_max`` (the smallest lambda with ``w_l1 = 0``).
"""
from __future__ import annotations

import itertools

import ipywidgets as widgets
import numpy as np

from .._validate import as_array, check_choice, check_nonnegative
from ..regularization import l1_penalty, l2_penalty
from ._backdrop import Backdrop
from ._base import Demo, assemble, memo, new_figure

__all__ = ["regularization_geometry", "quadratic_loss", "l2_optimum", "l1_optimum", "LOSSES"]


def _rotation(deg):
    t = np.deg2rad(deg)
    return np.array([[np.cos(t), -np.sin(t)], [np.sin(t), np.cos(t)]])


def _spd(eigenvalues, deg):
    R = _rotation(deg)
    return R @ np.diag(eigenvalues) @ R.T


#: name -> (A, c): the loss ``1/2 (w - c)^T A (w - c)``.
LOSSES = {
    "tilted ellipse": (_spd((2.0, 0.5), 30.0), np.array([2.0, 1.0])),
    "axis-aligned ellipse": (_spd((2.0, 0.5), 0.0), np.array([1.5, 1.5])),
    "round bowl": (_spd((1.0, 1.0), 0.0), np.array([2.0, 1.0])),
}


def quadratic_loss(w, A, c):
    """``1/2 (w - c)^T A (w - c)`` for ``w`` of shape (2,) or (..., 2)."""
    d = np.asarray(w, dtype=np.float64) - c
    return 0.5 * np.einsum("...i,ij,...j->...", d, A, d)


def l2_optimum(A, c, lam):
    """Minimizer of ``L(w) + (lam/2) ||w||^2``: the solution of ``(A + lam I) w = A c``."""
    A = as_array(A, "A")
    lam = check_nonnegative(lam, "lam")
    return np.linalg.solve(A + lam * np.eye(len(c)), A @ c)


def l1_optimum(A, c, lam, tol=1e-12):
    """Exact minimizer of ``L(w) + lam ||w||_1`` for a 2-D (or small) strictly convex quadratic.

    Every support (set of non-zero weights) and sign pattern is tried; on a support ``S`` with
    signs ``s`` the optimality condition ``A_SS w_S = (A c)_S - lam s`` is linear. The candidate
    whose signs agree with ``s`` and whose zero weights satisfy ``|(A (w - c))_j| <= lam`` is the
    unique minimizer (the objective is strictly convex).

    Parameters
    ----------
    A : ndarray (n, n), symmetric positive definite
    c : ndarray (n,)
    lam : float >= 0

    Returns
    -------
    ndarray (n,), with exact zeros off the support.
    """
    A = as_array(A, "A")
    c = as_array(c, "c")
    lam = check_nonnegative(lam, "lam")
    n = len(c)
    b = A @ c
    scale = max(1.0, float(np.max(np.abs(b))))
    best, best_value = None, np.inf
    for k in range(n, -1, -1):
        for support in itertools.combinations(range(n), k):
            S = list(support)
            for signs in itertools.product((-1.0, 1.0), repeat=k):
                w = np.zeros(n)
                if S:
                    s = np.array(signs)
                    w_S = np.linalg.solve(A[np.ix_(S, S)], b[S] - lam * s)
                    if np.any(np.sign(w_S) != s):
                        continue
                    w[S] = w_S
                g = A @ w - b
                off = [j for j in range(n) if j not in support]
                if off and np.any(np.abs(g[off]) > lam + tol * scale):
                    continue
                value = quadratic_loss(w, A, c) + lam * np.sum(np.abs(w))
                if value < best_value:
                    best, best_value = w, value
    return best


def _ellipse(A, c, level, n=181):
    """Points of the contour ``L(w) = level``: ``c + sqrt(2 level) A^(-1/2) (cos t, sin t)``."""
    vals, vecs = np.linalg.eigh(A)
    t = np.linspace(0.0, 2 * np.pi, n)
    circle = np.stack([np.cos(t), np.sin(t)])
    pts = vecs @ ((np.sqrt(2.0 * max(level, 0.0)) / np.sqrt(vals))[:, None] * circle)
    return c[:, None] + pts


def regularization_geometry(*, lam: float = 1.2, loss: str = "tilted ellipse") -> Demo:
    """Build the regularization-geometry demo (see the module docstring).

    Parameters
    ----------
    lam : float in [0, 4]
        Initial lambda.
    loss : str
        One of :data:`LOSSES`.

    Returns
    -------
    Demo
        Controls ``lam`` and ``loss``.
    """
    lam = check_nonnegative(lam, "lam")
    if lam > 4.0:
        raise ValueError(f"lam must be in [0, 4]; got {lam}")
    check_choice(loss, "loss", LOSSES)
    controls = {
        "lam": widgets.FloatSlider(value=lam, min=0.0, max=4.0, step=0.02, description="lambda",
                                   readout_format=".2f"),
        "loss": widgets.Dropdown(options=list(LOSSES), value=loss, description="loss"),
    }
    view = _Geometry(controls)
    return assemble(controls, view.fig, view.update, state=view.state)


_LAMS = np.linspace(0.0, 4.0, 201)  # the lambdas of the optimum's path
_LIM = (-0.6, 2.9)  # the weight panels' window (both axes)


class _Geometry:
    """The demo's three panels and its callback :meth:`update`.

    Per loss, the contour plots and the optima for every lambda are computed once
    (:meth:`show_loss`, :meth:`optima`); a lambda move only solves two small problems.
    """

    def __init__(self, controls: dict):
        self.controls = controls
        self.contour_sets: dict[str, list] = {}
        self.paths: dict[str, dict] = {}
        self.state: dict = {}
        self.shown = {"loss": None}
        self._figure(float(controls["lam"].value))

    def _figure(self, lam: float) -> None:
        fig = self.fig = new_figure(figsize=(8.4, 3.0), dpi=80)
        ax2, ax1, axp = fig.subplots(1, 3, gridspec_kw={"width_ratios": [1.0, 1.0, 1.1]})
        self.geometry = {"L2": self._weight_panel(ax2, "C0"), "L1": self._weight_panel(ax1, "C3")}
        ax2.set_ylabel("$w_2$")
        zeros = np.zeros_like(_LAMS)
        self.weight_lines = {  # (penalty, weight) -> its line against lambda
            ("l2", 0): axp.plot(_LAMS, zeros, "--", color="C0", label="L2: $w_1$")[0],
            ("l2", 1): axp.plot(_LAMS, zeros, "--", color="C9", label="L2: $w_2$")[0],
            ("l1", 0): axp.plot(_LAMS, zeros, "-", color="C3", label="L1: $w_1$")[0],
            ("l1", 1): axp.plot(_LAMS, zeros, "-", color="C1", label="L1: $w_2$")[0],
        }
        self.now = axp.axvline(lam, color="k", lw=1.0, gid="lambda")
        axp.axhline(0.0, color="0.6", lw=0.8)
        axp.set_xlim(0.0, 4.0)
        axp.set_ylim(-0.5, 2.6)
        axp.set_xlabel(r"$\lambda$")
        axp.set_title("weights against lambda", fontsize=10, y=1.0)
        axp.legend(fontsize=7, loc="upper right", ncols=2)
        axp.grid(True, alpha=0.3)
        dynamic = [self.now]
        for g in self.geometry.values():
            dynamic += [g["region"], g["contour"], g["point"], g["ax"].title]
        self.backdrop = Backdrop(fig, dynamic=dynamic)

    @staticmethod
    def _weight_panel(ax, color: str) -> dict:
        """One penalty's panel: the region, the touching contour, the optimum's path, the minimum, the optimum."""
        ax.set_xlim(*_LIM)
        ax.set_ylim(*_LIM)
        ax.set_aspect("equal")
        ax.axhline(0.0, color="0.6", lw=0.8)
        ax.axvline(0.0, color="0.6", lw=0.8)
        ax.set_xlabel("$w_1$")
        ax.set_title(" ", fontsize=10, y=1.0)
        (region,) = ax.plot([], [], color=color, lw=2.0, gid="region")
        (contour,) = ax.plot([], [], color="k", lw=1.2, ls="--", gid="contour")
        (path,) = ax.plot([], [], ":", color=color, lw=1.2, gid="path")
        (star,) = ax.plot([], [], "k*", ms=9, gid="minimum")
        (point,) = ax.plot([], [], "o", color=color, ms=6, mec="k", gid="optimum")
        return dict(ax=ax, region=region, contour=contour, path=path, star=star, point=point)

    def optima(self, name: str) -> dict:
        """The L2 and L1 optima of loss ``name`` for every lambda of the path, (201, 2) each."""
        A, c = LOSSES[name]
        return memo(self.paths, name, lambda: {"l2": np.array([l2_optimum(A, c, v) for v in _LAMS]),
                                               "l1": np.array([l1_optimum(A, c, v) for v in _LAMS])})

    def show_loss(self, name: str) -> None:
        """Show loss ``name``'s contours (made once per loss, then shown or hidden), minimum and paths."""
        A, c = LOSSES[name]
        p = self.optima(name)
        if name not in self.contour_sets:  # contouring is slow
            xs = np.linspace(*_LIM, 120)
            W1, W2 = np.meshgrid(xs, xs)
            Z = quadratic_loss(np.stack([W1, W2], axis=-1), A, c)
            levels = np.array([0.05, 0.2, 0.5, 1.0, 2.0, 3.5, 5.5, 8.0])
            self.contour_sets[name] = [g["ax"].contour(W1, W2, Z, levels=levels, colors="0.55", linewidths=0.7)
                                       for g in (self.geometry["L2"], self.geometry["L1"])]
        for other, sets in self.contour_sets.items():
            for cs in sets:
                cs.set_visible(other == name)
        for key, g in (("l2", self.geometry["L2"]), ("l1", self.geometry["L1"])):
            g["star"].set_data([c[0]], [c[1]])
            g["path"].set_data(p[key][:, 0], p[key][:, 1])
        for (key, i), line in self.weight_lines.items():
            line.set_ydata(p[key][:, i])

    def update(self) -> None:
        name = self.controls["loss"].value
        lam = float(self.controls["lam"].value)
        A, c = LOSSES[name]
        if self.shown["loss"] != name:
            self.backdrop.invalidate()
            self.show_loss(name)
            self.shown["loss"] = name
        w2 = l2_optimum(A, c, lam)
        w1 = l1_optimum(A, c, lam)
        r2 = float(np.linalg.norm(w2))
        r1 = float(np.sum(np.abs(w1)))
        self.draw(A, c, w2, r2, w1, r1)
        n_zero = int(np.sum(w1 == 0.0))
        self.geometry["L2"]["ax"].title.set_text(f"L2: w = ({w2[0]:.2f}, {w2[1]:.2f})")
        sparse = {0: "", 1: ": sparse", 2: ": all zero"}[min(n_zero, 2)]
        self.geometry["L1"]["ax"].title.set_text(f"L1: w = ({w1[0]:.2f}, {w1[1]:.2f}){sparse}")
        self.now.set_xdata([lam, lam])
        params_l2, params_l1 = {"W": w2}, {"W": w1}
        self.state.update(lam=lam, loss=name, A=A, c=c, w_l2=w2, w_l1=w1, radius_l2=r2, radius_l1=r1,
                          objective_l2=float(quadratic_loss(w2, A, c)) + l2_penalty(params_l2, lam),
                          objective_l1=float(quadratic_loss(w1, A, c)) + l1_penalty(params_l1, lam),
                          n_zero_l1=n_zero, lam_max=float(np.max(np.abs(A @ c))))
        self.backdrop.ensure(key=name)  # each loss's contours are captured once
        self.fig.canvas.draw_idle()

    def draw(self, A, c, w2, r2, w1, r1) -> None:
        """Draw both regions through their optimum, the loss contour that touches each, and the optima."""
        t = np.linspace(0.0, 2 * np.pi, 181)
        circle = np.stack([r2 * np.cos(t), r2 * np.sin(t)])
        diamond = np.array([[r1, 0.0, -r1, 0.0, r1], [0.0, r1, 0.0, -r1, 0.0]])
        for key, w, shape in (("L2", w2, circle), ("L1", w1, diamond)):
            g = self.geometry[key]
            g["region"].set_data(shape[0], shape[1])
            ell = _ellipse(A, c, float(quadratic_loss(w, A, c)))
            g["contour"].set_data(ell[0], ell[1])
            g["point"].set_data([w[0]], [w[1]])
