"""Optimizer race: several optimizers from the same start on the same loss surface, animated.

What it teaches
---------------
Each optimizer of :mod:`nnkit.optimizers` turns the same gradients into different steps:

- plain gradient descent zig-zags across a narrow valley and crawls along its floor;
- momentum (and Nesterov) build up speed along the floor, and overshoot when ``mu`` is large;
- Adagrad, RMSprop and Adam rescale every coordinate by its own gradient history, so their
  steps have a size of about ``lr`` whatever the gradient's scale; Adagrad's steps shrink for good;
- Rprop looks only at the gradient's sign;
- Adam without bias correction (a common slip) takes a first step about 3.2 times too large at
  the default betas.

The trajectories are computed with :func:`nnkit.optimizers.optimize_path` (nothing is
re-implemented here), once per setting; the Play button only moves the step slider, which picks
how much of the precomputed race is drawn. The contour plot of each surface is computed once.

Surfaces (:data:`nnkit.surfaces.SURFACES`): ``quadratic_bowl`` (condition 10), ``rosenbrock``,
``beale``, ``saddle``, ``himmelblau``.

Learning rates: two sliders, because the optimizers read ``lr`` in two different ways.

- ``lr (SGD family)`` is used by ``sgd``, ``momentum`` (PyTorch convention:
  ``v <- mu v + g; w <- w - lr v``) and ``nesterov`` (PyTorch form): the step is ``lr`` times
  the gradient, so a good value depends on the surface's curvature (it must stay below about
  ``2 / lambda_max`` for SGD).
- ``lr (adaptive)`` is used by ``adagrad``, ``rmsprop``, ``adam``, ``adam (no bias corr.)`` and
  ``rprop`` (its initial step size): their steps have a size of about ``lr`` in parameter units.
  ``adadelta`` runs with its own rate-free default ``lr = 1``.

``mu`` is the momentum coefficient of ``momentum`` and ``nesterov``; Adam keeps its default
betas (0.9, 0.999) and RMSprop its ``beta = 0.99``. Changing the surface resets both learning
rates and the start point to values that suit that surface.

Divergence: an optimizer whose iterate leaves a box 50 times the size of the plotting window
is stopped there (from then on it receives a zero gradient, so nothing overflows), its drawing
is clipped to the window, and the status line says "diverged at step k".

Panels: left, the contour plot (computed once per surface) with the trajectories up to the
current step (start: white square; minima: stars); right, each optimizer's ``f - f_min`` on a
log scale (``f`` itself for the saddle) up to the current step, on an axis fixed per surface
(what runs off it is clipped). The status line above the plot names every optimizer in its
colour with its current loss, or the step at which it diverged.

Controls
--------
surface, optimizers (multi-select), lr, lr_adaptive, mu, x0, y0, play, step.

``demo.state`` holds ``surface``, ``selected`` (tuple of names), ``paths`` (name -> (n_steps+1, 2)
array: the full precomputed path, equal to ``optimize_path``'s up to the divergence step),
``losses`` (name -> (n+1,) f along the path, up to the divergence), ``diverged_at``
(name -> step or None), ``hyper`` (name -> the optimizer's hyperparameters), ``step`` (the
frame shown), ``positions`` (name -> (2,) point drawn at this frame), ``n_steps``, and the
control values.

Speed: trajectories are cached per (optimizer, hyperparameters, start), so moving ``mu``
recomputes only momentum and Nesterov; a Play frame computes nothing and redraws only the
trajectories, because axes, ticks and contours are a static layer replayed as pixels
(:class:`nnkit.demos._backdrop.Backdrop`).
"""
from __future__ import annotations

import ipywidgets as widgets
import numpy as np
from matplotlib.ticker import MaxNLocator

from .._validate import check_choice, check_int
from ..optimizers import Adam, get_optimizer, optimize_path
from ..surfaces import SURFACES, Surface
from ._base import Busy, Demo, assemble, memo, new_figure, play_controls, set_slider_range
from ._backdrop import Backdrop
from ._layout import clip_to_window, contour_board, loss_axis, loss_on_axis, pin_labels, pixel_layout

__all__ = ["optimizer_race", "OPTIMIZER_CHOICES", "LABELS", "SURFACE_DEFAULTS", "make_optimizer", "race_path",
           "BOX_FACTOR"]

#: Offered optimizers (registry names; "adam_nobc" is Adam without bias correction).
OPTIMIZER_CHOICES = ("sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adadelta", "adam", "adam_nobc", "rprop")
LABELS = {"sgd": "SGD", "momentum": "Momentum", "nesterov": "Nesterov", "adagrad": "Adagrad",
          "rmsprop": "RMSprop", "adadelta": "Adadelta", "adam": "Adam", "adam_nobc": "Adam (no bias corr.)",
          "rprop": "Rprop"}
_SGD_FAMILY = ("sgd", "momentum", "nesterov")
_COLOURS = dict(zip(OPTIMIZER_CHOICES, ("#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#7f7f7f",
                                        "#d62728", "#e377c2", "#17becf")))
#: Per surface: (lr for the SGD family, lr for the adaptive methods, start point).
SURFACE_DEFAULTS = {
    "quadratic_bowl": (0.03, 0.1, SURFACES["quadratic_bowl"].start),
    "rosenbrock": (1e-3, 0.1, SURFACES["rosenbrock"].start),
    "beale": (1e-3, 0.1, SURFACES["beale"].start),
    "saddle": (0.01, 0.05, (1.5, 0.001)),
    "himmelblau": (0.003, 0.1, (0.0, 0.0)),
}
BOX_FACTOR = 50.0


def make_optimizer(name: str, lr: float, lr_adaptive: float, mu: float):
    """The nnkit optimizer behind a race entry (see the module docstring for who reads which rate)."""
    check_choice(name, "optimizer", OPTIMIZER_CHOICES)
    if name == "sgd":
        return get_optimizer("sgd", lr=lr)
    if name in ("momentum", "nesterov"):
        return get_optimizer(name, lr=lr, mu=mu)
    if name == "adadelta":
        return get_optimizer("adadelta")
    if name == "adam_nobc":
        return Adam(lr=lr_adaptive, bias_correction=False)
    return get_optimizer(name, lr=lr_adaptive)


def race_path(optimizer, surface: Surface, start, n_steps: int, bounds=None) -> tuple[np.ndarray, int | None]:
    """``optimize_path`` on ``surface`` from ``start``, stopped cleanly if it runs away.

    Returns ``(path, diverged_at)``: ``path`` has shape (n_steps+1, 2); ``diverged_at`` is the
    first index whose point lies outside the box (``BOX_FACTOR`` half-widths of ``bounds``
    around their centre), or None. From that point on the gradient function returns zeros, so
    the remaining steps stay finite; up to it the path is exactly
    ``optimize_path(optimizer, lambda w: surface.grad(*w), start, n_steps)``.
    """
    bounds = surface.bounds if bounds is None else bounds
    center = np.array([(lo + hi) / 2 for lo, hi in bounds])
    box = BOX_FACTOR * np.array([(hi - lo) / 2 for lo, hi in bounds])
    out = {"at": None, "k": 0}

    def grad_fn(w):
        k = out["k"]
        out["k"] = k + 1
        if out["at"] is None and np.any(np.abs(w - center) > box):
            out["at"] = k
        if out["at"] is not None:
            return np.zeros(2)
        return surface.grad(w[0], w[1])

    path = optimize_path(optimizer, grad_fn, np.asarray(start, dtype=float), n_steps)
    if out["at"] is None and np.any(np.abs(path[-1] - center) > box):
        out["at"] = n_steps  # the very last step left the box
    return path, out["at"]


def optimizer_race(surface: str = "rosenbrock", optimizers=("sgd", "momentum", "adam"), *, n_steps: int = 200,
                   mu: float = 0.9) -> Demo:
    """Build the optimizer race (see the module docstring).

    Parameters
    ----------
    surface : str
        A key of :data:`nnkit.surfaces.SURFACES`.
    optimizers : sequence of str
        The initial selection, from :data:`OPTIMIZER_CHOICES`.
    n_steps : int in 10..500
        Steps per race (the Play animation has ``n_steps + 1`` frames).
    mu : float in [0, 0.99]
        Initial momentum coefficient.

    Returns
    -------
    Demo
        Controls ``surface``, ``optimizers``, ``lr``, ``lr_adaptive``, ``mu``, ``x0``, ``y0``,
        ``play``, ``step``. No randomness. The step slider starts at the last frame, so the
        whole race is drawn; Play restarts it from step 0.
    """
    check_choice(surface, "surface", SURFACES)
    optimizers = tuple(optimizers)
    for name in optimizers:
        check_choice(name, "optimizers entry", OPTIMIZER_CHOICES)
    n_steps = check_int(n_steps, "n_steps", 10, 500)
    if isinstance(mu, bool) or not isinstance(mu, (int, float)) or not 0.0 <= mu <= 0.99:
        raise ValueError(f"mu must be a number in [0, 0.99]; got {mu!r}")
    controls = _controls(surface, optimizers, n_steps, mu)
    race = _Race(controls, n_steps)
    return assemble(controls, race.fig, race.update, state=race.state, header=race.header)


def _controls(surface: str, optimizers: tuple, n_steps: int, mu: float) -> dict:
    lr0, lra0, start0 = SURFACE_DEFAULTS[surface]
    (xlo, xhi), (ylo, yhi) = SURFACES[surface].bounds
    style = {"description_width": "initial"}
    play, step = play_controls(n_steps + 1, interval_ms=50)
    play.value = step.value = n_steps
    return {
        "surface": widgets.Dropdown(options=tuple(SURFACES), value=surface, description="surface"),
        "optimizers": widgets.SelectMultiple(options=[(LABELS[k], k) for k in OPTIMIZER_CHOICES], value=optimizers,
                                             rows=5, description="optimizers"),
        "lr": widgets.FloatLogSlider(value=lr0, base=10, min=-4, max=0, step=0.1, description="lr (SGD family)",
                                     readout_format=".1e", style=style),
        "lr_adaptive": widgets.FloatLogSlider(value=lra0, base=10, min=-3, max=0, step=0.1,
                                              description="lr (adaptive)", readout_format=".1e", style=style),
        "mu": widgets.FloatSlider(value=mu, min=0.0, max=0.99, step=0.01, description="mu (momentum)", style=style),
        "x0": widgets.FloatSlider(value=start0[0], min=xlo, max=xhi, step=0.001, description="start x",
                                  readout_format=".2f", style=style),
        "y0": widgets.FloatSlider(value=start0[1], min=ylo, max=yhi, step=0.001, description="start y",
                                  readout_format=".3f", style=style),
        "play": play,
        "step": step,
    }


class _Race:
    """The race's figure and its callback :meth:`update`.

    The figure has the loss panel (made once) and one contour board per surface, made the first
    time the surface is shown and then only hidden or shown. Runs are kept per optimizer,
    hyperparameters and start (:meth:`run`), so a Play frame computes nothing.
    """

    def __init__(self, controls: dict, n_steps: int):
        self.controls, self.n_steps = controls, n_steps
        self.header = widgets.HTML(value="")
        self.state: dict = {"n_steps": n_steps}
        self.boards: dict[str, dict] = {}  # surface -> {"ax", "lines", "heads", "start"}
        self.runs: dict[tuple, tuple] = {}  # see run()
        self.shown: dict = {"surface": None, "key": None}
        self.busy = Busy()  # on while a new surface resets the rates and the start
        self._figure()

    def _figure(self) -> None:
        fig = self.fig = new_figure(figsize=(7.8, 3.3), dpi=80)
        pixel_layout(fig, left=44, right=10, bottom=34, top=8, gap=72)
        self.grid = fig.add_gridspec(1, 2)
        ax = self.ax_loss = fig.add_subplot(self.grid[0, 1])
        ax.set_xlabel("step")
        ax.set_xlim(0, self.n_steps)
        ax.tick_params(labelsize=8)
        ax.xaxis.set_major_locator(MaxNLocator(5, integer=True))
        self.loss_lines = {k: ax.plot([], [], color=_COLOURS[k], lw=1.5)[0] for k in OPTIMIZER_CHOICES}
        self.loss_heads = {k: ax.plot([], [], "o", color=_COLOURS[k], ms=4)[0] for k in OPTIMIZER_CHOICES}
        pin_labels(ax, aside=40)
        # axes, ticks, labels and contour plots are drawn once per view and then replayed as pixels,
        # so an animation frame only draws the trajectories
        self.backdrop = Backdrop(fig, dynamic=[*self.loss_lines.values(), *self.loss_heads.values()])

    def board(self, name: str) -> dict:
        """The contour board of surface ``name`` with a trajectory and a head per optimizer."""
        if name not in self.boards:
            ax = contour_board(self.fig, self.grid[0, 0], SURFACES[name])
            lines = {k: ax.plot([], [], "-", color=_COLOURS[k], lw=1.4, zorder=5)[0] for k in OPTIMIZER_CHOICES}
            heads = {k: ax.plot([], [], "o", color=_COLOURS[k], mec="k", mew=0.5, ms=6, zorder=6)[0]
                     for k in OPTIMIZER_CHOICES}
            (start,) = ax.plot([], [], "s", color="white", mec="k", ms=6, zorder=7)
            self.backdrop.add_dynamic(*lines.values(), *heads.values(), start)
            self.boards[name] = {"ax": ax, "lines": lines, "heads": heads, "start": start}
        return self.boards[name]

    def switch_surface(self, name: str) -> None:
        """Show surface ``name``: its default rates and start, its board, its loss axis."""
        s = SURFACES[name]
        self.backdrop.invalidate()  # before any static artist changes (visibility, limits)
        lr, lra, start = SURFACE_DEFAULTS[name]
        (a, b), (c, d) = s.bounds
        with self.busy:
            set_slider_range(self.controls["x0"], a, b, start[0])
            set_slider_range(self.controls["y0"], c, d, start[1])
            self.controls["lr"].value = lr
            self.controls["lr_adaptive"].value = lra
        for other, bd in self.boards.items():
            bd["ax"].set_visible(other == name)
        self.board(name)["ax"].set_visible(True)
        # the loss axis is fixed per surface (from the values f takes in the window), so that
        # moving a hyperparameter redraws no tick label; what runs off it is clipped
        _, _, Z = s.grid(60)
        loss_axis(self.ax_loss, (float(Z.min()), float(Z.max())), s.min_value,
                  log_label="f - f_min (log scale)", linear_label="f")
        self.shown["surface"] = name

    def run(self, sname, opt, lr, lra, mu, x0, y0) -> tuple:
        """``(path, loss, diverged_at, hyperparameters)`` of optimizer ``opt`` in this setting.

        Kept by the hyperparameters this optimizer reads: moving mu recomputes only the
        momentum methods, moving one learning rate only the optimizers that use it.
        """
        optimizer = make_optimizer(opt, lr, lra, mu)
        key = (sname, opt, tuple(sorted(optimizer.hyperparameters().items())), x0, y0)

        def race():
            s = SURFACES[sname]
            path, at = race_path(optimizer, s, (x0, y0), self.n_steps)
            end = self.n_steps + 1 if at is None else at
            loss = np.asarray(s.f(path[:end, 0], path[:end, 1]), dtype=float)
            return path, loss, at, optimizer.hyperparameters()

        return memo(self.runs, key, race, limit=64)

    def select(self, sname, selected, lr, lra, mu, x0, y0) -> dict:
        """The runs of the ``selected`` optimizers; the others' artists are cleared."""
        runs = {k: self.run(sname, k, lr, lra, mu, x0, y0) for k in selected}
        bd = self.board(sname)
        for k in OPTIMIZER_CHOICES:
            if k not in runs:
                for art in (bd["lines"][k], bd["heads"][k], self.loss_lines[k], self.loss_heads[k]):
                    art.set_data([], [])
        bd["start"].set_data([x0], [y0])
        return runs

    def update(self) -> None:
        if self.busy:
            return
        c, shown = self.controls, self.shown
        sname = c["surface"].value
        if shown["surface"] != sname:
            self.switch_surface(sname)
        for k in c["optimizers"].value:
            check_choice(k, "optimizer", OPTIMIZER_CHOICES)
        selected = tuple(k for k in OPTIMIZER_CHOICES if k in c["optimizers"].value)
        key = (sname, selected, float(c["lr"].value), float(c["lr_adaptive"].value), float(c["mu"].value),
               float(c["x0"].value), float(c["y0"].value))
        if shown["key"] != key:
            shown["runs"] = self.select(*key)
            shown["key"] = key
        runs, t = shown["runs"], int(c["step"].value)
        positions, notes = self.draw(sname, runs, t)
        lr_txt = f"lr = {key[2]:.2g} (SGD family), {key[3]:.2g} (adaptive), mu = {key[4]:.2f}"
        self.header.value = (f"<b>{sname}</b>, step {t} / {self.n_steps}; {lr_txt}<br>"
                             + (" &nbsp; ".join(notes) or "select one or more optimizers"))
        self.state.update(surface=sname, selected=selected, paths={k: r[0] for k, r in runs.items()},
                          losses={k: r[1] for k, r in runs.items()}, diverged_at={k: r[2] for k, r in runs.items()},
                          hyper={k: r[3] for k, r in runs.items()}, step=t, positions=positions, lr=key[2],
                          lr_adaptive=key[3], mu=key[4], start=(key[5], key[6]))
        # the static picture (contours, loss axis) depends on the surface alone: going back to
        # a surface seen before reuses its picture
        self.backdrop.ensure(key=sname)
        self.fig.canvas.draw_idle()

    def draw(self, sname: str, runs: dict, t: int) -> tuple[dict, list[str]]:
        """Draw every run up to step ``t``; return the points reached and the header's notes."""
        s, bd = SURFACES[sname], self.board(sname)
        positions, notes = {}, []
        for k, (path, loss, at, _) in runs.items():
            last = t if at is None else min(t, at)
            shown_path = clip_to_window(path[:last + 1], s.bounds)
            bd["lines"][k].set_data(shown_path[:, 0], shown_path[:, 1])
            bd["heads"][k].set_data(shown_path[-1:, 0], shown_path[-1:, 1])
            positions[k] = path[last].copy()
            m = min(t, len(loss) - 1)
            ys = loss_on_axis(self.ax_loss, loss[:m + 1], s.min_value)
            self.loss_lines[k].set_data(np.arange(m + 1), ys)
            self.loss_heads[k].set_data([m], ys[-1:])
            note = f"diverged at step {at}" if at is not None and t >= at else f"f = {loss[m]:.3g}"
            notes.append(f"<span style='color:{_COLOURS[k]}'>&#9679; <b>{LABELS[k]}</b></span> {note}")
        return positions, notes
