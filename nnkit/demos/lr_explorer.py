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

import math
from dataclasses import dataclass, field
from typing import Callable

import ipywidgets as widgets
import numpy as np
from matplotlib.ticker import MaxNLocator, NullLocator

from .._validate import check_choice, check_int, check_positive, check_real
from ..optimizers import SGD
from ..schedules import exponential_decay, inverse_time, step_decay
from ..surfaces import Surface, himmelblau, quadratic_bowl, saddle
from ._backdrop import Backdrop
from ._base import Demo, assemble, new_figure, set_slider_range
from ._layout import pin_labels, pixel_layout, contour_surface

__all__ = ["lr_explorer", "FUNCTIONS", "SCHEDULE_CHOICES", "make_schedule", "run_gd", "BOX_FACTOR"]

#: An iterate farther than BOX_FACTOR window half-widths from the window's centre ends the run.
BOX_FACTOR = 50.0
#: Bottom of the log-scale loss axis (gaps below it, i.e. converged runs, sit on the floor).
LOSS_FLOOR = 1e-10
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

    prob0 = FUNCTIONS[function]
    style = {"description_width": "initial"}
    (xlo, xhi) = prob0.window[0]
    ywin = prob0.window[1] if prob0.dim == 2 else (-2.0, 2.0)
    controls = {
        "function": widgets.Dropdown(options=tuple(FUNCTIONS), value=function, description="function"),
        "lr": widgets.FloatLogSlider(value=lr, base=10, min=-4, max=1, step=0.05, description="learning rate",
                                     readout_format=".2g", style=style),
        "steps": widgets.IntSlider(value=steps, min=1, max=200, description="steps"),
        "schedule": widgets.Dropdown(options=SCHEDULE_CHOICES, value=schedule, description="schedule"),
        "x0": widgets.FloatSlider(value=prob0.start[0], min=xlo, max=xhi, step=0.01, description="start x",
                                  readout_format=".2f", style=style),
        "y0": widgets.FloatSlider(value=prob0.start[1] if prob0.dim == 2 else 0.0, min=ywin[0], max=ywin[1],
                                  step=0.001, description="start y", readout_format=".3f", style=style,
                                  disabled=prob0.dim == 1),
    }
    header = widgets.HTML(value="")

    fig = new_figure(figsize=(7.6, 3.1), dpi=80)
    pixel_layout(fig, left=46, right=10, bottom=34, top=8, gap=70)
    gs = fig.add_gridspec(1, 2, width_ratios=(1.1, 1.0))
    ax_1d = fig.add_subplot(gs[0, 0])
    ax_loss = fig.add_subplot(gs[0, 1])
    ax_loss.set_xlabel("step k")
    ax_loss.tick_params(labelsize=8)
    ax_loss.xaxis.set_major_locator(MaxNLocator(5, integer=True))
    (curve,) = ax_1d.plot([], [], color="0.3", lw=1.5)
    (min_mark_1d,) = ax_1d.plot([], [], "*", color="gold", mec="k", mew=0.6, ms=10, zorder=4)
    (iter_1d,) = ax_1d.plot([], [], "o-", color="C3", ms=3.5, lw=1.0, zorder=5)
    (start_1d,) = ax_1d.plot([], [], "o", color="C2", ms=7, zorder=6)
    ax_1d.set_xlabel("w")
    ax_1d.set_ylabel("f(w)")
    ax_1d.tick_params(labelsize=8)
    ax_1d.xaxis.set_major_locator(MaxNLocator(5))
    ax_1d.yaxis.set_major_locator(MaxNLocator(5))
    (loss_line,) = ax_loss.plot([], [], "o-", color="C3", ms=2.5, lw=1.0)
    pin_labels(ax_1d)
    pin_labels(ax_loss, aside=38)
    # axes, ticks, labels, the 1-D curve and the contour plots are drawn once per change of view
    backdrop = Backdrop(fig, dynamic=[iter_1d, start_1d, loss_line])

    axes_2d: dict[str, tuple] = {}  # function -> (axes, iterate line, start marker), built on first use
    shown: dict = {"function": None}  # what is drawn now
    busy = {"on": False}
    state: dict = {}

    def ax_2d(name):
        if name not in axes_2d:
            prob = FUNCTIONS[name]
            ax = fig.add_subplot(gs[0, 0])
            contour_surface(ax, prob.surface, prob.window)
            ax.set_xlabel("x")
            ax.set_ylabel("y")
            pin_labels(ax)
            (line,) = ax.plot([], [], "o-", color="C3", ms=3, lw=1.0, zorder=5)
            (start,) = ax.plot([], [], "o", color="C2", ms=7, zorder=6)
            backdrop.add_dynamic(line, start)
            axes_2d[name] = (ax, line, start)
        return axes_2d[name]

    def switch_function(name):
        prob = FUNCTIONS[name]
        backdrop.invalidate()  # before any static artist changes (visibility, data, limits)
        busy["on"] = True
        try:
            (lo, hi) = prob.window[0]
            set_slider_range(controls["x0"], lo, hi, prob.start[0])
            if prob.dim == 2:
                (ylo, yhi) = prob.window[1]
                set_slider_range(controls["y0"], ylo, yhi, prob.start[1])
            controls["y0"].disabled = prob.dim == 1
        finally:
            busy["on"] = False
        ax_1d.set_visible(prob.dim == 1)
        for other, (ax, _, _) in axes_2d.items():
            ax.set_visible(other == name)
        if prob.dim == 1:
            w = np.linspace(lo, hi, 400)[:, None]
            fw = prob.f(w)
            curve.set_data(w[:, 0], fw)
            pad = 0.08 * float(fw.max() - fw.min())
            ax_1d.set_xlim(lo, hi)
            ax_1d.set_ylim(float(fw.min()) - pad, float(fw.max()) + pad)
            shown["ylim_1d"] = ax_1d.get_ylim()
            min_mark_1d.set_data([m[0] for m in prob.minima], list(prob.f(np.array(prob.minima))))
        else:
            ax_2d(name)[0].set_visible(True)
        # the loss axis is fixed per function (moving a slider then redraws no tick label):
        # the values f takes in the window, and what runs off it is clipped
        if prob.dim == 2:
            _, _, Z = prob.surface.grid(60, prob.window)
            frange = (float(Z.min()), float(Z.max()))
        else:
            frange = (float(fw.min()), float(fw.max()))
        if prob.f_star is not None:
            ax_loss.set_yscale("log")
            ax_loss.yaxis.set_minor_locator(NullLocator())  # dozens of minor ticks cost more than they tell
            ax_loss.set_ylabel("f(w_k) - f*  (log scale)")
            top = 10.0 ** math.ceil(math.log10(max(frange[1] - prob.f_star, 1e-9)))
            ax_loss.set_ylim(LOSS_FLOOR, top)
        else:
            ax_loss.set_yscale("linear")
            ax_loss.yaxis.set_major_locator(MaxNLocator(5))
            ax_loss.set_ylabel("f(w_k)")
            pad = 0.08 * (frange[1] - frange[0])
            ax_loss.set_ylim(frange[0] - pad, frange[1] + pad)
        shown["function"] = name

    def update():
        if busy["on"]:
            return
        name = controls["function"].value
        prob = FUNCTIONS[name]
        if shown["function"] != name:
            switch_function(name)
        lr_ = float(controls["lr"].value)
        n = int(controls["steps"].value)
        sched = controls["schedule"].value
        start = (float(controls["x0"].value),) if prob.dim == 1 else \
            (float(controls["x0"].value), float(controls["y0"].value))
        run = run_gd(prob, lr_, n, start, sched)
        status, message = _classify(prob, run)
        path, loss = run["path"], run["loss"]

        # draw, clipped to a margin around the window (the view clips the rest)
        lo = np.array([w[0] for w in prob.window])
        hi = np.array([w[1] for w in prob.window])
        margin = 0.5 * (hi - lo)
        shown_path = np.clip(path, lo - margin, hi + margin)
        if prob.dim == 1:
            ylo, yhi = shown["ylim_1d"]
            span = yhi - ylo
            iter_1d.set_data(shown_path[:, 0], np.clip(loss, ylo - span, yhi + span))
            start_1d.set_data([shown_path[0, 0]], [loss[0]])
        else:
            _, line, start_mark = ax_2d(name)
            line.set_data(shown_path[:, 0], shown_path[:, 1])
            start_mark.set_data([shown_path[0, 0]], [shown_path[0, 1]])

        k = np.arange(len(loss))
        ylo, yhi = ax_loss.get_ylim()
        if prob.f_star is not None:  # log axis: the gap to the minimum, clipped just outside the view
            loss_line.set_data(k, np.clip(loss - prob.f_star, ylo / 10, yhi * 10))
        else:
            loss_line.set_data(k, np.clip(loss, ylo - (yhi - ylo), yhi + (yhi - ylo)))
        # the step axis grows in a few fixed sizes, so that most moves keep its ticks
        ax_loss.set_xlim(0, next(size for size in (10, 20, 30, 50, 100, 150, 200) if size >= n))

        colour = {"converged": "green", "slow": "#b36b00", "diverging": "crimson", "diverged": "crimson",
                  "escaped": "#b36b00"}[status]
        sched_txt = "" if sched == "constant" else f" ({sched}: lr at the last step {run['lrs'][-1]:.3g})" \
            if len(run["lrs"]) else ""
        header.value = (f"<b>{name}</b>, lr = {lr_:.3g}{sched_txt}: "
                        f"<span style='color:{colour}'><b>{status}</b></span>. {message}")
        backdrop.ensure(key=(name, ax_loss.get_xlim()))  # a view seen before reuses its picture
        state.update(function=name, dim=prob.dim, path=path, loss=loss, lrs=run["lrs"], status=status,
                     message=message, diverged_at=run["diverged_at"], f_star=prob.f_star, lr=lr_, steps=n,
                     schedule=sched, start=start)
        fig.canvas.draw_idle()

    demo = assemble(controls, fig, update, state=state, header=header)
    return demo
