"""Learning-rate explorer: plain gradient descent on a 1-D or 2-D function, one rate at a time.

What it teaches
---------------
Gradient descent ``w <- w - lr * grad f(w)`` (nnkit's :class:`~nnkit.optimizers.SGD`) takes
steps proportional to the learning rate. On ``f(w) = w^2 / 2`` the update is
``w <- (1 - lr) w``, so

- ``lr`` well below 1: every step shrinks ``w`` a little: *too small*, slow but steady;
- ``lr`` near 1: one or two steps suffice: *about right*;
- ``1 < lr < 2``: the iterates jump over the minimum and zig-zag in, overshooting;
- ``lr > 2``: every jump lands further out than the last: *diverging*.

The bound is ``2 / curvature`` in general, so the same rate can be fine on a flat function and
explode on a steep one. On the non-convex function the start and the rate decide which
minimum you reach (a local one or the global one); on the saddle ``x^2 - y^2`` a start exactly on
the x-axis walks into the saddle point and stops (zero gradient, no minimum), while the
smallest offset in ``y`` grows until the iterates escape. A decay schedule
(:mod:`nnkit.schedules`) starts at the chosen rate and shrinks it.

Functions (all from :mod:`nnkit.surfaces`; no formula is written here)
----------------------------------------------------------------------
- ``quadratic (1-D)``: ``f(w) = w^2/2``, :func:`~nnkit.surfaces.quadratic_bowl` with condition 1
  along the line y = 0.
- ``non-convex (1-D)``: ``f(w) = (w^2 - 11)^2 + (w - 7)^2``, Himmelblau's function along y = 0:
  a local minimum at w = -3.06 (f = 103.9), the global one at w = 3.40 (f = 13.27), and a
  local maximum at w = -0.34 between them.
- ``bowl (2-D)``: the ill-conditioned quadratic bowl, condition number 10 (stable for lr < 0.2).
- ``saddle (2-D)``: ``x^2 - y^2``.
- ``himmelblau (2-D)``: four minima.

Panels
------
Left: the curve ``f(w)`` (1-D) or the contour plot (2-D) with the iterates (start in green,
global minima as stars). Right: the loss per step, ``f(w_k) - f*`` on a log scale (``f*`` the
global minimum; floor :data:`LOSS_FLOOR`), or ``f(w_k)`` itself for the saddle, which has no
minimum. Both axes are fixed per function, so a slider move redraws only the iterates; values
outside the view are clipped.

Controls
--------
function : one of :data:`FUNCTIONS`.
lr : the (initial) learning rate, log scale 1e-4 .. 10.
steps : number of gradient-descent steps (1 .. 200).
schedule : ``constant``; ``inverse_time`` (``lr_k = 10 lr / (k + 10)``, halves by step 10);
    ``step_decay`` (halves every 10 steps); ``exponential_decay`` (``lr_k = lr * 0.95^k``).
x0, y0 : the start point (``y0`` is unused and disabled for the 1-D functions). Changing the
    function resets them to that function's suggested start.

Divergence is handled, never warned about: the run stops as soon as an iterate leaves a box
50 times the size of the plotting window (every value up to there is finite), the drawing is
clipped to the window, and the status line says "diverged". ``demo.state`` holds ``function``,
``dim``, ``path`` (n+1, dim) (the iterates actually computed, n <= steps), ``loss``
(n+1,) = f(path), ``lrs`` (n,) the rate used at each step, ``status`` (one of
``"converged"``, ``"slow"``, ``"diverging"``, ``"diverged"``, ``"escaped"``), ``message``
(the status sentence), ``diverged_at`` (step or None), ``f_star`` (the global minimum value
of the function, None for the saddle), the control values.

Speed: the axes, ticks, labels, the 1-D curve and the contour plots form a static layer that a
:class:`~nnkit.demos._backdrop.Backdrop` draws once per view and then replays as pixels; the
contour plot of each 2-D function is computed once, when the function is first shown.
:func:`~nnkit.demos._layout.pixel_layout` and :func:`~nnkit.demos._layout.pin_labels` replace
constrained layout and automatic label placement (both re-measure every tick label on every
draw). The activation explorer and the optimizer race use the same helpers.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import ipywidgets as widgets
import numpy as np
from matplotlib.ticker import MaxNLocator

from .._validate import check_choice, check_int, check_positive, check_real
from ..optimizers import SGD
from ..schedules import exponential_decay, inverse_time, step_decay
from ..surfaces import Surface, himmelblau, quadratic_bowl, saddle
from ._backdrop import Backdrop
from ._base import Busy, Demo, assemble, new_figure, set_slider_range
from ._layout import LOSS_FLOOR, clip_to_window, contour_board, loss_axis, loss_on_axis, pin_labels, pixel_layout

__all__ = ["lr_explorer", "FUNCTIONS", "SCHEDULE_CHOICES", "make_schedule", "run_gd", "BOX_FACTOR", "LOSS_FLOOR"]

#: An iterate farther than BOX_FACTOR window half-widths from the window's centre ends the run.
BOX_FACTOR = 50.0
SCHEDULE_CHOICES = ("constant", "inverse_time", "step_decay", "exponential_decay")


@dataclass
class Problem:
    """One function of the explorer: a surface, seen whole (2-D) or along the line y = 0 (1-D)."""

    name: str
    surface: Surface
    dim: int
    window: tuple  # ((x0, x1),) for 1-D, ((x0, x1), (y0, y1)) for 2-D
    start: tuple
    f_star: float | None = None  # the global minimum value (None: unbounded below)
    minima: tuple = field(default=())  # points (w,) or (x, y)

    def f(self, path: np.ndarray) -> np.ndarray:
        """``f`` at every row of ``path`` (shape (n, dim)) -> (n,)."""
        if self.dim == 1:
            return np.asarray(self.surface.f(path[:, 0], 0.0), dtype=float)
        return np.asarray(self.surface.f(path[:, 0], path[:, 1]), dtype=float)

    def grad(self, w: np.ndarray) -> np.ndarray:
        """The gradient at one point ``w`` (shape (dim,))."""
        if self.dim == 1:
            return self.surface.grad(w[0], 0.0)[:1]
        return self.surface.grad(w[0], w[1])

    @property
    def center(self) -> np.ndarray:
        return np.array([(lo + hi) / 2 for lo, hi in self.window])

    @property
    def half(self) -> np.ndarray:
        return np.array([(hi - lo) / 2 for lo, hi in self.window])


def _slice_minimum(surface: Surface, lo: float, hi: float) -> tuple[float, float]:
    """Global minimum of ``surface.f(w, 0)`` on [lo, hi]: a grid search polished by Newton's method
    on the surface's own gradient and Hessian."""
    w = np.linspace(lo, hi, 4001)
    x = float(w[np.argmin(surface.f(w, 0.0))])
    for _ in range(20):
        h = float(surface.hessian(x, 0.0)[0, 0])
        if h <= 0:
            break
        x -= float(surface.grad(x, 0.0)[0]) / h
    return x, float(surface.f(x, 0.0))


def _problems() -> dict[str, Problem]:
    bowl1 = quadratic_bowl(condition=1.0)
    him = himmelblau()
    w_star, f_star = _slice_minimum(him, -5.0, 5.0)
    bowl = quadratic_bowl(condition=10.0)
    sad = saddle()
    return {
        "quadratic (1-D)": Problem("quadratic (1-D)", bowl1, 1, ((-3.0, 3.0),), (2.5,), 0.0, ((0.0,),)),
        "non-convex (1-D)": Problem("non-convex (1-D)", him, 1, ((-5.0, 5.0),), (-1.0,), f_star, ((w_star,),)),
        "bowl (2-D)": Problem("bowl (2-D)", bowl, 2, bowl.bounds, bowl.start, 0.0, bowl.minima),
        "saddle (2-D)": Problem("saddle (2-D)", sad, 2, sad.bounds, (1.5, 0.01), None, ()),
        "himmelblau (2-D)": Problem("himmelblau (2-D)", him, 2, him.bounds, (0.0, 0.0), 0.0, him.minima),
    }


#: The functions offered, by dropdown label.
FUNCTIONS: dict[str, Problem] = _problems()


def make_schedule(name: str, lr: float) -> Callable | None:
    """The schedule ``k -> lr_k`` starting at ``lr`` (None for ``"constant"``)."""
    check_choice(name, "schedule", SCHEDULE_CHOICES)
    lr = check_positive(lr, "lr")
    if name == "constant":
        return None
    if name == "inverse_time":
        return inverse_time(c1=10.0 * lr, c2=10.0)
    if name == "step_decay":
        return step_decay(lr, 0.5, 10)
    return exponential_decay(lr, 0.95)


def run_gd(problem: Problem, lr: float, steps: int, start, schedule: str = "constant") -> dict:
    """Gradient descent with :class:`nnkit.optimizers.SGD` on ``problem`` from ``start``.

    Returns a dict with ``path`` (n+1, dim), ``loss`` (n+1,), ``lrs`` (n,) and ``diverged_at``:
    the run stops after the step that takes an iterate out of the box (``BOX_FACTOR`` window
    half-widths around the window's centre), so every number returned is finite.
    """
    lr = check_positive(lr, "lr")
    steps = check_int(steps, "steps", 0)
    sched = make_schedule(schedule, lr)
    opt = SGD(lr)
    w = np.array(start, dtype=np.float64).reshape(problem.dim)
    params = {"w": w}
    state = opt.init_state(params)
    box = BOX_FACTOR * problem.half
    center = problem.center
    path, lrs = [w.copy()], []
    diverged_at = None
    for k in range(steps):
        if sched is not None:
            opt.lr = sched(k)
        opt.step(params, {"w": problem.grad(w)}, state)
        path.append(w.copy())
        lrs.append(opt.lr)
        if np.any(np.abs(w - center) > box):
            diverged_at = k + 1
            break
    path = np.array(path)
    return {"path": path, "loss": problem.f(path), "lrs": np.array(lrs), "diverged_at": diverged_at}


def _classify(problem: Problem, run: dict) -> tuple[str, str]:
    """``(status, sentence)`` for a run."""
    path, loss = run["path"], run["loss"]
    n = len(path) - 1
    if run["diverged_at"] is not None:
        k = run["diverged_at"]
        if problem.f_star is None:
            return "escaped", (f"escaped at step {k}: the iterates left the window for good; this function has "
                               "no minimum (it falls to -infinity along y)")
        return "diverged", (f"DIVERGED at step {k}: each step overshot further than the last "
                            f"(|w| > {BOX_FACTOR:g}x the window); the learning rate is too large")
    if n >= 2 and loss[-1] > loss[0]:
        return "diverging", (f"diverging: after {n} steps the loss grew from {loss[0]:.3g} to {loss[-1]:.3g}; "
                             "the learning rate is too large")
    g = float(np.linalg.norm(problem.grad(path[-1])))
    g0 = float(np.linalg.norm(problem.grad(path[0])))
    w_end = ", ".join(f"{v:.3f}" for v in path[-1])
    if g <= 1e-3 * max(1.0, g0):
        # the first step from which the loss stays within 1e-6 (relative) of its final value
        bad = np.flatnonzero(np.abs(loss - loss[-1]) > 1e-6 * max(1.0, abs(float(loss[-1]))))
        first = int(bad[-1] + 1) if bad.size else 0
        if problem.f_star is not None and loss[-1] - problem.f_star > 1e-6 * max(1.0, abs(problem.f_star)):
            where = f"w = ({w_end})"
            return "converged", (f"converged in about {first} steps to a LOCAL minimum at {where}, "
                                 f"f = {loss[-1]:.4g}; the global minimum is f = {problem.f_star:.4g}")
        if problem.f_star is None:
            return "converged", (f"stopped at a point with zero gradient, w = ({w_end}), after about {first} steps: "
                                 "the saddle point (not a minimum)")
        return "converged", f"converged in about {first} steps to w = ({w_end}), f = {loss[-1]:.4g}"
    zig = ""
    if n >= 3:
        steps_ = np.diff(path, axis=0)
        flips = np.sum(np.einsum("ij,ij->i", steps_[1:], steps_[:-1]) < 0)
        if flips >= (n - 1) / 2:
            zig = "; the iterates zig-zag (overshooting each time)"
    return "slow", (f"not converged after {n} steps: w = ({w_end}), |grad f| = {g:.2g}{zig}. "
                    "More steps or a larger learning rate?")


def lr_explorer(function: str = "quadratic (1-D)", *, lr: float = 0.1, steps: int = 30,
                schedule: str = "constant") -> Demo:
    """Build the learning-rate explorer (see the module docstring).

    Parameters
    ----------
    function : str
        A key of :data:`FUNCTIONS`.
    lr : float in [1e-4, 10]
    steps : int in 1..200
    schedule : str
        One of :data:`SCHEDULE_CHOICES`.

    Returns
    -------
    Demo
        Controls ``function``, ``lr``, ``steps``, ``schedule``, ``x0``, ``y0``. No randomness.
    """
    check_choice(function, "function", FUNCTIONS)
    lr = check_real(lr, "lr")
    if not 1e-4 <= lr <= 10.0:
        raise ValueError(f"lr must be in [1e-4, 10]; got {lr}")
    steps = check_int(steps, "steps", 1, 200)
    check_choice(schedule, "schedule", SCHEDULE_CHOICES)
    controls = _controls(function, lr, steps, schedule)
    explorer = _Explorer(controls)
    return assemble(controls, explorer.fig, explorer.update, state=explorer.state, header=explorer.header)


def _controls(function: str, lr: float, steps: int, schedule: str) -> dict:
    prob = FUNCTIONS[function]
    style = {"description_width": "initial"}
    (xlo, xhi) = prob.window[0]
    ywin = prob.window[1] if prob.dim == 2 else (-2.0, 2.0)
    return {
        "function": widgets.Dropdown(options=tuple(FUNCTIONS), value=function, description="function"),
        "lr": widgets.FloatLogSlider(value=lr, base=10, min=-4, max=1, step=0.05, description="learning rate",
                                     readout_format=".2g", style=style),
        "steps": widgets.IntSlider(value=steps, min=1, max=200, description="steps"),
        "schedule": widgets.Dropdown(options=SCHEDULE_CHOICES, value=schedule, description="schedule"),
        "x0": widgets.FloatSlider(value=prob.start[0], min=xlo, max=xhi, step=0.01, description="start x",
                                  readout_format=".2f", style=style),
        "y0": widgets.FloatSlider(value=prob.start[1] if prob.dim == 2 else 0.0, min=ywin[0], max=ywin[1],
                                  step=0.001, description="start y", readout_format=".3f", style=style,
                                  disabled=prob.dim == 1),
    }


_STATUS_COLOURS = {"converged": "green", "slow": "#b36b00", "diverging": "crimson", "diverged": "crimson",
                   "escaped": "#b36b00"}


class _Explorer:
    """The explorer's figure and its callback :meth:`update`.

    Left: the 1-D curve axes (made once) or one contour board per 2-D function (made the first
    time it is shown, then hidden or shown). Right: the loss per step.
    """

    def __init__(self, controls: dict):
        self.controls = controls
        self.header = widgets.HTML(value="")
        self.state: dict = {}
        self.boards: dict[str, tuple] = {}  # 2-D function -> (axes, iterate line, start marker)
        self.shown: dict = {"function": None}  # what is drawn now
        self.busy = Busy()  # on while a new function resets the start
        self._figure()

    def _figure(self) -> None:
        fig = self.fig = new_figure(figsize=(7.6, 3.1), dpi=80)
        pixel_layout(fig, left=46, right=10, bottom=34, top=8, gap=70)
        self.grid = fig.add_gridspec(1, 2, width_ratios=(1.1, 1.0))
        ax_1d = self.ax_1d = fig.add_subplot(self.grid[0, 0])
        ax_loss = self.ax_loss = fig.add_subplot(self.grid[0, 1])
        ax_loss.set_xlabel("step k")
        ax_loss.tick_params(labelsize=8)
        ax_loss.xaxis.set_major_locator(MaxNLocator(5, integer=True))
        (self.curve,) = ax_1d.plot([], [], color="0.3", lw=1.5)
        (self.min_mark_1d,) = ax_1d.plot([], [], "*", color="gold", mec="k", mew=0.6, ms=10, zorder=4)
        (self.iter_1d,) = ax_1d.plot([], [], "o-", color="C3", ms=3.5, lw=1.0, zorder=5)
        (self.start_1d,) = ax_1d.plot([], [], "o", color="C2", ms=7, zorder=6)
        ax_1d.set_xlabel("w")
        ax_1d.set_ylabel("f(w)")
        ax_1d.tick_params(labelsize=8)
        ax_1d.xaxis.set_major_locator(MaxNLocator(5))
        ax_1d.yaxis.set_major_locator(MaxNLocator(5))
        (self.loss_line,) = ax_loss.plot([], [], "o-", color="C3", ms=2.5, lw=1.0)
        pin_labels(ax_1d)
        pin_labels(ax_loss, aside=38)
        # axes, ticks, labels, the 1-D curve and the contour plots are drawn once per change of view
        self.backdrop = Backdrop(fig, dynamic=[self.iter_1d, self.start_1d, self.loss_line])

    def board(self, name: str) -> tuple:
        """The contour board of 2-D function ``name``: (axes, iterate line, start marker)."""
        if name not in self.boards:
            prob = FUNCTIONS[name]
            ax = contour_board(self.fig, self.grid[0, 0], prob.surface, prob.window)
            (line,) = ax.plot([], [], "o-", color="C3", ms=3, lw=1.0, zorder=5)
            (start,) = ax.plot([], [], "o", color="C2", ms=7, zorder=6)
            self.backdrop.add_dynamic(line, start)
            self.boards[name] = (ax, line, start)
        return self.boards[name]

    def switch_function(self, name: str) -> None:
        """Show function ``name``: its start, its curve or contour board, its loss axis."""
        prob = FUNCTIONS[name]
        self.backdrop.invalidate()  # before any static artist changes (visibility, data, limits)
        (lo, hi) = prob.window[0]
        with self.busy:
            set_slider_range(self.controls["x0"], lo, hi, prob.start[0])
            if prob.dim == 2:
                (ylo, yhi) = prob.window[1]
                set_slider_range(self.controls["y0"], ylo, yhi, prob.start[1])
            self.controls["y0"].disabled = prob.dim == 1
        self.ax_1d.set_visible(prob.dim == 1)
        for other, (ax, _, _) in self.boards.items():
            ax.set_visible(other == name)
        if prob.dim == 1:
            frange = self._show_curve(prob)
        else:
            self.board(name)[0].set_visible(True)
            _, _, Z = prob.surface.grid(60, prob.window)
            frange = (float(Z.min()), float(Z.max()))
        # the loss axis is fixed per function (moving a slider then redraws no tick label):
        # the values f takes in the window, and what runs off it is clipped
        loss_axis(self.ax_loss, frange, prob.f_star, log_label="f(w_k) - f*  (log scale)", linear_label="f(w_k)")
        self.shown["function"] = name

    def _show_curve(self, prob: Problem) -> tuple[float, float]:
        """Draw the 1-D function over its window; return the range of its values there."""
        lo, hi = prob.window[0]
        w = np.linspace(lo, hi, 400)[:, None]
        fw = prob.f(w)
        self.curve.set_data(w[:, 0], fw)
        pad = 0.08 * float(fw.max() - fw.min())
        self.ax_1d.set_xlim(lo, hi)
        self.ax_1d.set_ylim(float(fw.min()) - pad, float(fw.max()) + pad)
        self.shown["ylim_1d"] = self.ax_1d.get_ylim()
        self.min_mark_1d.set_data([m[0] for m in prob.minima], list(prob.f(np.array(prob.minima))))
        return float(fw.min()), float(fw.max())

    def update(self) -> None:
        if self.busy:
            return
        c = self.controls
        name = c["function"].value
        prob = FUNCTIONS[name]
        if self.shown["function"] != name:
            self.switch_function(name)
        lr = float(c["lr"].value)
        n = int(c["steps"].value)
        sched = c["schedule"].value
        start = (float(c["x0"].value),) if prob.dim == 1 else (float(c["x0"].value), float(c["y0"].value))
        run = run_gd(prob, lr, n, start, sched)
        status, message = _classify(prob, run)
        self.draw(name, prob, run["path"], run["loss"], n)
        sched_txt = "" if sched == "constant" else f" ({sched}: lr at the last step {run['lrs'][-1]:.3g})" \
            if len(run["lrs"]) else ""
        self.header.value = (f"<b>{name}</b>, lr = {lr:.3g}{sched_txt}: "
                             f"<span style='color:{_STATUS_COLOURS[status]}'><b>{status}</b></span>. {message}")
        self.backdrop.ensure(key=(name, self.ax_loss.get_xlim()))  # a view seen before reuses its picture
        self.state.update(function=name, dim=prob.dim, path=run["path"], loss=run["loss"], lrs=run["lrs"],
                          status=status, message=message, diverged_at=run["diverged_at"], f_star=prob.f_star,
                          lr=lr, steps=n, schedule=sched, start=start)
        self.fig.canvas.draw_idle()

    def draw(self, name: str, prob: Problem, path: np.ndarray, loss: np.ndarray, n: int) -> None:
        """Draw the iterates, clipped to a margin around the window (the view clips the rest), and the loss."""
        shown_path = clip_to_window(path, prob.window)
        if prob.dim == 1:
            ylo, yhi = self.shown["ylim_1d"]
            span = yhi - ylo
            self.iter_1d.set_data(shown_path[:, 0], np.clip(loss, ylo - span, yhi + span))
            self.start_1d.set_data([shown_path[0, 0]], [loss[0]])
        else:
            _, line, start_mark = self.board(name)
            line.set_data(shown_path[:, 0], shown_path[:, 1])
            start_mark.set_data([shown_path[0, 0]], [shown_path[0, 1]])
        self.loss_line.set_data(np.arange(len(loss)), loss_on_axis(self.ax_loss, loss, prob.f_star))
        # the step axis grows in a few fixed sizes, so that most moves keep its ticks
        self.ax_loss.set_xlim(0, next(size for size in (10, 20, 30, 50, 100, 150, 200) if size >= n))
