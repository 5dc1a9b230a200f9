"""Capacity against under- and overfitting: accuracy on training and validation data as a network grows.

What it teaches
---------------
A network's **capacity** is how many different functions it can represent; width (units per
hidden layer) and depth (hidden layers) both add to it. Too little capacity **underfits**: the
training accuracy itself stays low, because the model cannot draw the boundary the data need
(one hidden unit draws a straight line, but the classes here are two noisy rings). Too much
capacity on little data **overfits**: the training accuracy reaches 100% by bending the
boundary around single noisy points, and the validation accuracy falls. The model to keep is
the one with the best **validation** accuracy, not the best training accuracy.

The data are :func:`nnkit.datasets.circles` with noise 0.25: 60 training points (drawn) and
1000 validation points from the same distribution. Every network is an
:func:`nnkit.model.MLP` with ReLU units, trained by nnkit on the full training batch with
:class:`nnkit.optimizers.Adam` (learning rate 0.02, ``n_steps`` steps, no regularization, the
same seed for every size). All of them are trained when the demo is built, so moving a control
only shows a stored result.

Controls
--------
vary : ``"width"`` (one hidden layer of ``width`` units) or ``"depth"`` (``depth`` hidden
    layers of :data:`DEPTH_WIDTH` units); the other slider is disabled.
width : one of :data:`WIDTHS`.
depth : one of :data:`DEPTHS`.

Panels: (1) the plane coloured by the predicted class (paler where the model is unsure), the
training points on top; (2) training and validation accuracy against the width (log scale) or
the depth, the current network marked, the best validation accuracy starred.

``demo.state`` holds ``vary``, ``width``, ``depth``, ``sizes`` (the current network's layer
widths), ``train_acc``, ``val_acc`` (of the current network), ``sweep`` (the x values of the
shown sweep), ``sweep_train_acc``, ``sweep_val_acc`` (arrays over the sweep), ``best`` (the x
value with the best validation accuracy, the first one on ties), ``proba`` (G, G) the predicted
probability of class 1 on the grid, ``grid_x``, ``grid_y`` (G,).
"""
from __future__ import annotations

import ipywidgets as widgets
import numpy as np

from .._validate import check_choice, check_int, check_rng
from ..activations import softmax
from ..datasets import circles
from ..model import MLP, loss_and_grads
from ..optimizers import Adam
from ._backdrop import Backdrop
from ._base import Demo, assemble, new_figure
from ._layout import CLASS_COLORS, confidence_rgb, curve_panel, plane_grid

__all__ = ["capacity_explorer", "train_sweep", "WIDTHS", "DEPTHS", "DEPTH_WIDTH", "VARY"]

WIDTHS = (1, 2, 3, 4, 6, 8, 16, 32, 64, 128)
DEPTHS = (1, 2, 3, 4, 5, 6)
DEPTH_WIDTH = 8
VARY = ("width", "depth")
GRID = 60
N_TRAIN, N_VAL, NOISE = 60, 1000, 0.25
LR = 0.02


def _train(sizes, X, y, n_steps: int, seed: int):
    model = MLP(sizes, "relu", rng=np.random.default_rng(seed))
    opt = Adam(LR)
    state = opt.init_state(model.params)
    for _ in range(n_steps):
        _, grads = loss_and_grads(model, X, y, "softmax_cross_entropy")
        opt.step(model.params, grads, state)
    return model


def train_sweep(sizes_list, X, y, X_val, y_val, grid, *, n_steps: int = 600, seed: int = 1) -> dict:
    """Train one network per entry of ``sizes_list``; return their accuracies and grid predictions.

    Parameters
    ----------
    sizes_list : sequence of layer-width tuples, e.g. ``[(2, 4, 2), (2, 8, 2)]``
    X, y : training data (N, 2), (N,) int labels
    X_val, y_val : validation data
    grid : ndarray (M, 2), points where the probability of class 1 is recorded
    n_steps : full-batch Adam steps (learning rate :data:`LR`)
    seed : every network is initialized with ``default_rng(seed)``

    Returns
    -------
    dict with ``train_acc``, ``val_acc`` (len(sizes_list),) and ``proba`` (len(sizes_list), M, K).
    """
    train_acc, val_acc, proba = [], [], []
    for sizes in sizes_list:
        model = _train(sizes, X, y, n_steps, seed)
        train_acc.append(np.mean(model.predict(X).argmax(axis=1) == y))
        val_acc.append(np.mean(model.predict(X_val).argmax(axis=1) == y_val))
        proba.append(softmax(model.predict(grid)))
    return {"train_acc": np.array(train_acc), "val_acc": np.array(val_acc), "proba": np.array(proba)}


def capacity_explorer(*, vary: str = "width", width: int = 8, depth: int = 1, n_steps: int = 600,
                      rng: np.random.Generator | None = None) -> Demo:
    """Build the capacity explorer (see the module docstring).

    Parameters
    ----------
    vary : str
        One of :data:`VARY`.
    width : int
        One of :data:`WIDTHS`.
    depth : int
        One of :data:`DEPTHS`.
    n_steps : int in 1..5000
        Full-batch Adam steps per network (all trained at build time).
    rng : numpy.random.Generator, optional
        Draws the data; default ``default_rng(0)``.

    Returns
    -------
    Demo
        Controls ``vary``, ``width``, ``depth``.
    """
    check_choice(vary, "vary", VARY)
    width = check_int(width, "width", 1)
    if width not in WIDTHS:
        raise ValueError(f"width must be one of {WIDTHS}; got {width}")
    depth = check_int(depth, "depth", 1)
    if depth not in DEPTHS:
        raise ValueError(f"depth must be one of {DEPTHS}; got {depth}")
    n_steps = check_int(n_steps, "n_steps", 1, 5000)
    rng = np.random.default_rng(0) if rng is None else check_rng(rng)
    data = _train_all(rng, n_steps)
    controls = {
        "vary": widgets.ToggleButtons(options=VARY, value=vary, description="vary", style={"button_width": "5em"}),
        "width": widgets.SelectionSlider(options=WIDTHS, value=width, description="width"),
        "depth": widgets.SelectionSlider(options=DEPTHS, value=depth, description="depth"),
    }
    explorer = _Explorer(controls, data)
    return assemble(controls, explorer.fig, explorer.update, state=explorer.state)


def _train_all(rng: np.random.Generator, n_steps: int) -> dict:
    """The data (drawn from ``rng``), the plane's grid, and both sweeps trained: ``X``, ``y``, ``gx``,
    ``gy`` and ``sweeps`` (``"width"`` and ``"depth"`` -> ``x``, ``sizes``, :func:`train_sweep`'s
    results and ``rgb``, the picture of the plane per network)."""
    X, y = circles(N_TRAIN, rng, noise=NOISE)
    X_val, y_val = circles(N_VAL, rng, noise=NOISE)
    lo, hi = X.min(axis=0) - 0.3, X.max(axis=0) + 0.3
    gx, gy = np.linspace(lo[0], hi[0], GRID), np.linspace(lo[1], hi[1], GRID)
    grid = plane_grid(gx, gy)  # row i of the image is gy[i]
    sweeps = {
        "width": {"x": np.array(WIDTHS), "sizes": [(2, w, 2) for w in WIDTHS]},
        "depth": {"x": np.array(DEPTHS), "sizes": [(2, *([DEPTH_WIDTH] * d), 2) for d in DEPTHS]},
    }
    for sweep in sweeps.values():
        sweep.update(train_sweep(sweep["sizes"], X, y, X_val, y_val, grid, n_steps=n_steps))
        sweep["rgb"] = confidence_rgb(sweep["proba"]).reshape(len(sweep["x"]), GRID, GRID, 3)
    return {"X": X, "y": y, "gx": gx, "gy": gy, "sweeps": sweeps}


def _verdict(train_acc: float, val_acc: float) -> str:
    if train_acc < 0.8:
        return "underfitting: even the training accuracy is low"
    return "overfitting: training far above validation" if train_acc - val_acc > 0.1 else "a fair fit"


class _Explorer:
    """The explorer's two panels and its callback :meth:`update`.

    Every network is trained when the demo is built; a move only shows a stored result. The
    sweep's curves and axis change with ``vary`` only: static, one cached picture per sweep.
    """

    def __init__(self, controls: dict, data: dict):
        self.controls, self.sweeps, self.gx, self.gy = controls, data["sweeps"], data["gx"], data["gy"]
        self.state: dict = {}
        self.shown = {"vary": None}
        self._figure(data["X"], data["y"])

    def _figure(self, X: np.ndarray, y: np.ndarray) -> None:
        gx, gy = self.gx, self.gy
        fig = self.fig = new_figure(figsize=(8.6, 3.5), dpi=80)
        ax_b, ax_a = self.ax_b, self.ax_a = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1.0, 1.25]})
        self.image = ax_b.imshow(np.ones((GRID, GRID, 3)), origin="lower", interpolation="nearest", aspect="auto",
                                 extent=(gx[0], gx[-1], gy[0], gy[-1]))
        points = ax_b.scatter(X[:, 0], X[:, 1], s=14, c=CLASS_COLORS[y], edgecolors="k", linewidths=0.5)
        ax_b.set_xlim(gx[0], gx[-1])
        ax_b.set_ylim(gy[0], gy[-1])
        ax_b.set_xticks([])
        ax_b.set_yticks([])
        ax_b.set_title(" ", fontsize=9, y=1.0)
        (self.train_line,) = ax_a.plot([], [], "o-", color="C0", ms=4, label="training")
        (self.val_line,) = ax_a.plot([], [], "o-", color="C3", ms=4, label="validation")
        (self.best_star,) = ax_a.plot([], [], "*", color="gold", mec="k", ms=13, zorder=5, label="best validation")
        self.now_line = ax_a.axvline(1.0, color="0.3", lw=1.0, ls="--")
        ax_a.set_ylim(0.45, 1.02)
        curve_panel(ax_a, ylabel="accuracy", legend="lower right", title_size=9)
        # the sweep's curves and axis change with "vary" only: static, one cached picture per sweep
        self.backdrop = Backdrop(fig, dynamic=[self.image, points, self.now_line, ax_b.title, ax_a.title])

    def show_sweep(self, name: str) -> None:
        """Draw sweep ``name``'s accuracy curves, its best network and its x axis (the static parts)."""
        self.backdrop.invalidate()
        sweep, ax = self.sweeps[name], self.ax_a
        xs = sweep["x"]
        self.train_line.set_data(xs, sweep["train_acc"])
        self.val_line.set_data(xs, sweep["val_acc"])
        best = int(np.argmax(sweep["val_acc"]))
        self.best_star.set_data([xs[best]], [sweep["val_acc"][best]])
        if name == "width":
            ax.set_xscale("log", base=2)
            ax.set_xlim(0.8, 160)
            ax.set_xticks(list(WIDTHS), [str(w) for w in WIDTHS])
            ax.set_xlabel("units in the hidden layer (one layer)")
        else:
            ax.set_xscale("linear")
            ax.set_xlim(0.7, DEPTHS[-1] + 0.3)
            ax.set_xticks(list(DEPTHS), [str(d) for d in DEPTHS])
            ax.set_xlabel(f"hidden layers ({DEPTH_WIDTH} units each)")
        ax.minorticks_off()
        self.shown["vary"] = name

    def update(self) -> None:
        c = self.controls
        name = c["vary"].value
        c["width"].disabled = name != "width"
        c["depth"].disabled = name != "depth"
        if self.shown["vary"] != name:
            self.show_sweep(name)
        sweep = self.sweeps[name]
        value = int(c[name].value)
        i = int(np.flatnonzero(sweep["x"] == value)[0])
        sizes = sweep["sizes"][i]
        self.image.set_data(sweep["rgb"][i])
        self.now_line.set_xdata([value, value])
        tr, va = float(sweep["train_acc"][i]), float(sweep["val_acc"][i])
        layers = len(sizes) - 2
        what = f"{layers} hidden layer{'s' if layers > 1 else ''} of {sizes[1]}"
        self.ax_b.title.set_text(f"{what}: training {tr:.0%}, validation {va:.0%}")
        self.ax_a.title.set_text(_verdict(tr, va))
        best = int(np.argmax(sweep["val_acc"]))
        self.state.update(vary=name, width=int(c["width"].value), depth=int(c["depth"].value), sizes=sizes,
                          train_acc=tr, val_acc=va, sweep=sweep["x"], sweep_train_acc=sweep["train_acc"],
                          sweep_val_acc=sweep["val_acc"], best=int(sweep["x"][best]),
                          proba=sweep["proba"][i][:, 1].reshape(GRID, GRID), grid_x=self.gx, grid_y=self.gy)
        self.backdrop.ensure(key=name)
        self.fig.canvas.draw_idle()
