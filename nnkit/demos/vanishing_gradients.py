"""Vanishing-gradient explorer: gradient norms and activations through a deep MLP, over training.

What it teaches
---------------
Backpropagation multiplies one factor per layer, ``delta_l = (delta_{l+1} @ W_{l+1}.T) * f'(z_l)``.
When each factor is smaller than one on average the gradient reaching the first layers
shrinks geometrically with depth (vanishing); when it is larger it grows (exploding).
Two things set the factor: the activation's derivative (sigmoid's is at most 1/4) and the
scale of the weights (the initializer). With 20 sigmoid layers the first layer's gradient is
about 1e-12 of the last one's and those layers never move; ReLU with He initialization
(``Var(W) = 2 / fan_in``) keeps every layer's gradient within a small factor of the others.
Zero initialization shows a different failure: every hidden gradient is exactly 0.

The demo trains a small MLP with nnkit (full-batch gradient descent, :class:`nnkit.optimizers.SGD`,
softmax cross-entropy) on a fixed, standardized two-moons problem (128 points) and records,
at every step ``t = 0 .. n_steps`` (before that step's update):

- the Frobenius norm ``||dL/dW_l||`` of every weight matrix ``W1 .. W_{depth+1}``;
- a histogram of every hidden layer's activations ``a_l = f(z_l)`` over the batch;
- the training loss.

Controls
--------
depth : number of hidden layers (2 .. 30), each ``width`` units wide.
activation : hidden activation (a key of :data:`nnkit.activations.ACTIVATIONS`).
init : weight initializer (a key of :data:`nnkit.initializers.INITIALIZERS`); biases start at 0.
lr : learning rate of the gradient-descent steps.
play / step : the training step shown (``0 .. n_steps``).

Training is lazy (:class:`TrainingRun`): changing depth, activation, init or lr builds the new
network and computes only the frames up to the current step (at step 0, one forward and
backward pass); moving the step (or Play) past the last computed frame trains :data:`CHUNK`
more steps. The frames are exactly those of training all at once (:func:`train_history`);
runs are cached per setting, so a setting seen before continues where it stopped. The loss
curve shows the steps computed so far; the axes' limits follow the frames computed so far and
only widen.

Panels: (1) gradient norm per weight layer on a log scale, the current step in colour and
step 0 in grey (norms that are exactly 0 are drawn at the panel's floor and listed in the
title); (2) the activation histograms as an image, one row per hidden layer (input at the
bottom), colour = fraction of the layer's ``N * width`` activations in that bin (values
outside the range are counted in the edge bins); (3) the training loss with the current
step marked.

``demo.state`` holds ``grad_norms`` (depth+1,), ``grad_norms_all`` (F, depth+1) for the
``F = frames_computed`` frames computed so far (``step < F <= n_steps + 1``), ``act_hist``
(depth, n_bins), ``bin_edges`` (n_bins+1,), ``act_std`` (depth,), ``loss`` (F,), ``step``,
``ratio`` (first / last layer gradient norm at that step, nan when the last one is 0), ``diverged_at`` (the first step whose forward or backward pass was not
finite, or None) and the control values.
"""
from __future__ import annotations

import math

import ipywidgets as widgets
import numpy as np
from matplotlib.colors import PowerNorm
from matplotlib.ticker import LogLocator, MaxNLocator, NullLocator

from .._validate import check_choice, check_int, check_positive, check_rng
from ..datasets import two_moons
from ..initializers import INITIALIZERS
from ..layers import Activation
from ..losses import get_loss
from ..model import MLP
from ..optimizers import SGD
from ._backdrop import Backdrop
from ._base import Demo, assemble, memo, new_figure, play_controls, show_frame
from ._layout import nice_ceil

__all__ = ["vanishing_gradients", "ACTIVATION_CHOICES", "INIT_CHOICES", "train_history", "TrainingRun"]

#: Hidden activations offered in the dropdown.
ACTIVATION_CHOICES = ("sigmoid", "tanh", "relu", "leaky_relu", "elu", "gelu")
#: Initializers offered in the dropdown (the nnkit registry).
INIT_CHOICES = tuple(INITIALIZERS)

# Histogram range per activation: the activation's range, or a window that holds the bulk.
_HIST_RANGE = {"sigmoid": (0.0, 1.0), "tanh": (-1.0, 1.0), "relu": (0.0, 3.0)}
_DEFAULT_RANGE = (-1.0, 3.0)
N_BINS = 40
_FLOOR = 1e-40  # lowest panel floor; exactly-zero gradient norms are drawn at the floor
#: Training steps computed at a time when the step slider (or Play) reaches a frame not computed yet.
CHUNK = 5


def _data():
    """The fixed training set: 128 standardized two-moons points (seed 0)."""
    X, y = two_moons(128, np.random.default_rng(0), noise=0.1)
    return (X - X.mean(axis=0)) / X.std(axis=0), y


class TrainingRun:
    """The training of :func:`train_history`, computed lazily: frames are added on demand.

    ``extend(t)`` makes sure frames ``0 .. t`` exist, continuing from the last frame computed
    with the same model, optimizer state and operations, so the frames are bit for bit those of
    training all at once. Constructing a run only builds the initial network (frame 0 is one
    forward and backward pass). Arguments as :func:`train_history`.

    Attributes
    ----------
    done : int
        Frames computed so far (``n_steps + 1`` when finished, or after a divergence, whose
        later frames repeat the last finite one).
    grad_norms, act_hist, act_std, loss : ndarray
        Full-length arrays (as in :func:`train_history`), valid in their first ``done`` rows.
    bin_edges : ndarray (N_BINS + 1,)
    diverged_at : int or None
    """

    def __init__(self, depth: int, activation: str, init: str, lr: float, *, width: int = 16,
                 n_steps: int = 80, seed: int = 0, X=None, y=None):
        if X is None:
            X, y = _data()
        self.X, self.y, self.depth, self.n_steps = X, y, depth, n_steps
        rng = np.random.default_rng(seed)
        self.model = MLP([X.shape[1]] + [width] * depth + [int(np.max(y)) + 1], activation=activation, rng=rng,
                         init=init)
        self.loss_fn = get_loss("softmax_cross_entropy")
        self.opt = SGD(lr)
        self.opt_state = self.opt.init_state(self.model.params)
        self.lo, self.hi = _HIST_RANGE.get(activation, _DEFAULT_RANGE)
        self.bin_edges = np.linspace(self.lo, self.hi, N_BINS + 1)
        self.names = [f"W{i}" for i in range(1, depth + 2)]
        frames = n_steps + 1
        self.grad_norms = np.zeros((frames, depth + 1))
        self.act_hist = np.zeros((frames, depth, N_BINS))
        self.act_std = np.zeros((frames, depth))
        self.loss = np.zeros(frames)
        self.diverged_at = None
        self.done = 0

    def extend(self, last: int) -> None:
        """Compute the frames up to ``last`` (inclusive, capped at ``n_steps``) not computed yet."""
        last = min(int(last), self.n_steps)
        model, lo, hi, depth = self.model, self.lo, self.hi, self.depth
        offsets = (np.arange(depth) * N_BINS)[:, None]
        norms, hist, stds, losses = self.grad_norms, self.act_hist, self.act_std, self.loss
        with np.errstate(all="ignore"):  # overflow is detected below, explicitly
            while self.done <= last:
                t = self.done
                h, caches, acts = self.X, [], []
                for layer in model.layers:
                    h, c = layer.forward(h, True)
                    caches.append(c)
                    if isinstance(layer, Activation):
                        acts.append(h)
                ok = bool(np.all(np.isfinite(h)))
                if ok:
                    value, dout = self.loss_fn.value_and_grad(h, self.y)
                    _, grads = model.backward(dout, caches, input_grad=False)
                    # squared norms, one BLAS pass per tensor: finite iff every entry is (or it overflows)
                    squares = {k: float(np.vdot(g, g)) for k, g in grads.items()}
                    ok = math.isfinite(value) and math.isfinite(sum(squares.values()))
                if not ok:
                    self.diverged_at = t
                    if t > 0:  # (at t = 0 nothing is finite to show: zeros everywhere)
                        norms[t:], hist[t:], stds[t:], losses[t:] = norms[t - 1], hist[t - 1], stds[t - 1], losses[t - 1]
                    self.done = self.n_steps + 1
                    break
                A = np.stack([a.ravel() for a in acts])  # (depth, N * width)
                idx = np.clip(((A - lo) * (N_BINS / (hi - lo))).astype(np.int64), 0, N_BINS - 1) + offsets
                hist[t] = np.bincount(idx.ravel(), minlength=depth * N_BINS).reshape(depth, N_BINS) / A.shape[1]
                stds[t] = A.std(axis=1)
                norms[t] = np.sqrt([squares[k] for k in self.names])
                losses[t] = value
                if t < self.n_steps:
                    self.opt.step(model.params, grads, self.opt_state)
                self.done = t + 1


def train_history(depth: int, activation: str, init: str, lr: float, *, width: int = 16,
                  n_steps: int = 80, seed: int = 0, X=None, y=None) -> dict:
    """Train an MLP with nnkit and record gradient norms, activation histograms and losses.

    All frames at once; the demo uses :class:`TrainingRun`, which computes the same frames
    lazily.

    Parameters
    ----------
    depth : int >= 1
        Hidden layers; the model is ``MLP([2] + [width] * depth + [2])``.
    activation, init : str
        Hidden activation and weight initializer (nnkit registry names).
    lr : float > 0
        Learning rate of plain full-batch gradient descent.
    width : int
    n_steps : int
        Gradient-descent steps; ``n_steps + 1`` frames are recorded (frame t is before step t+1).
    seed : int
        Seeds the weight initialization (``numpy.random.default_rng(seed)``).
    X, y : arrays, optional
        Training data; default the demo's fixed two-moons set.

    Returns
    -------
    dict with ``grad_norms`` (n_steps+1, depth+1), ``act_hist`` (n_steps+1, depth, N_BINS)
    fractions, ``act_std`` (n_steps+1, depth), ``bin_edges`` (N_BINS+1,), ``loss``
    (n_steps+1,) and ``diverged_at`` (int or None). After a divergence the last finite frame
    is repeated, so every array keeps its full length.
    """
    run = TrainingRun(depth, activation, init, lr, width=width, n_steps=n_steps, seed=seed, X=X, y=y)
    run.extend(n_steps)
    return {"grad_norms": run.grad_norms, "act_hist": run.act_hist, "act_std": run.act_std,
            "bin_edges": run.bin_edges, "loss": run.loss, "diverged_at": run.diverged_at}


def vanishing_gradients(*, depth: int = 20, activation: str = "sigmoid", init: str = "xavier_normal",
                        lr: float = 0.05, width: int = 16, n_steps: int = 80,
                        rng: np.random.Generator | None = None) -> Demo:
    """Build the vanishing-gradient explorer (see the module docstring).

    Parameters
    ----------
    depth : int in 2..30
        Initial number of hidden layers.
    activation : str
        One of :data:`ACTIVATION_CHOICES`.
    init : str
        One of :data:`INIT_CHOICES` (``"xavier_normal"``, ``"he_normal"``, ``"zeros"``, ...).
    lr : float in [1e-3, 1]
    width : int in 2..64
        Units per hidden layer.
    n_steps : int in 1..200
        Training steps precomputed per setting (the Play animation's length).
    rng : numpy.random.Generator, optional
        Draws the seed of the weight initialization once; default ``default_rng(0)``.

    Returns
    -------
    Demo
        Controls ``depth``, ``activation``, ``init``, ``lr``, ``play``, ``step``.
    """
    depth = check_int(depth, "depth", 2, 30)
    check_choice(activation, "activation", ACTIVATION_CHOICES)
    check_choice(init, "init", INIT_CHOICES)
    lr = check_positive(lr, "lr")
    if not 1e-3 <= lr <= 1.0:
        raise ValueError(f"lr must be in [0.001, 1]; got {lr}")
    width = check_int(width, "width", 2, 64)
    n_steps = check_int(n_steps, "n_steps", 1, 200)
    rng = np.random.default_rng(0) if rng is None else check_rng(rng)
    seed = int(rng.integers(2**31))
    controls = _controls(depth, activation, init, lr, n_steps)
    explorer = _Explorer(controls, width=width, n_steps=n_steps, seed=seed)
    return assemble(controls, explorer.fig, explorer.update, state=explorer.state)


def _controls(depth: int, activation: str, init: str, lr: float, n_steps: int) -> dict:
    play, step = play_controls(n_steps + 1, interval_ms=120)
    style = {"description_width": "initial"}
    return {
        "depth": widgets.IntSlider(value=depth, min=2, max=30, description="hidden layers", style=style,
                                   continuous_update=False),
        "activation": widgets.Dropdown(options=ACTIVATION_CHOICES, value=activation, description="activation"),
        "init": widgets.Dropdown(options=INIT_CHOICES, value=init, description="init"),
        "lr": widgets.FloatLogSlider(value=lr, base=10, min=-3, max=0, step=0.25, description="lr",
                                     continuous_update=False),
        "play": play,
        "step": step,
    }


def _limits(run: TrainingRun) -> tuple[float, float, float]:
    """Axis limits from the frames computed so far: the gradient panel's floor and top, the loss panel's top."""
    norms = run.grad_norms[:run.done]
    positive = norms[norms > 0]
    # float powers of ten (an int 10**91 is not a valid axis limit), at most 1e300
    # whole powers of 10**3: few distinct limits, so few static pictures to draw
    lo = max(_FLOOR, 10.0 ** (3 * math.floor(math.log10(positive.min()) / 3))) if positive.size else _FLOOR
    hi = 10.0 ** min(300, 3 * math.ceil(math.log10(positive.max()) / 3)) if positive.size else 1.0
    loss = run.loss[:run.done]
    finite = loss[np.isfinite(loss)]
    top = min(float(finite.max()), 3.0 * max(float(finite[0]), 0.1)) if finite.size else 1.0  # cut huge spikes
    return lo, hi, nice_ceil(max(top * 1.1, 1e-3))


class _Explorer:
    """The explorer's figure and its callback :meth:`update`.

    Training runs are kept per setting (:meth:`run`, computed lazily); the axes' limits follow
    the frames computed so far and only widen (:meth:`fix_axes`).
    """

    def __init__(self, controls: dict, *, width: int, n_steps: int, seed: int):
        self.controls, self.width, self.n_steps, self.seed = controls, width, n_steps, seed
        self.X, self.y = _data()
        self.runs: dict[tuple, TrainingRun] = {}
        self.state: dict = {}
        self.shown: dict = {"key": None}
        self._figure(int(controls["depth"].value))

    def _figure(self, depth: int) -> None:
        fig = self.fig = new_figure(figsize=(9.6, 3.3), dpi=80)
        ax_g, ax_h, ax_l = self.ax_g, self.ax_h, self.ax_l = fig.subplots(
            1, 3, gridspec_kw={"width_ratios": [1.15, 1.0, 0.85]})
        ax_g.set_yscale("log")
        ax_g.set_xlabel("weight layer l (input -> output)")
        ax_g.set_ylabel(r"$\|\partial L/\partial W_l\|$")
        ax_g.grid(True, which="major", alpha=0.3)
        # few ticks: a re-capture (a new depth, activation or init) draws every tick label once
        ax_g.yaxis.set_major_locator(LogLocator(numticks=6))
        ax_g.yaxis.set_minor_locator(NullLocator())
        ax_g.xaxis.set_major_locator(MaxNLocator(6, integer=True))
        (self.line_init,) = ax_g.plot([], [], "-", color="0.7", lw=1.2, label="step 0")
        (self.line_now,) = ax_g.plot([], [], "o-", color="C3", ms=3, lw=1.5, label="step t")
        ax_g.legend(loc="lower right", fontsize=8)
        self.image = ax_h.imshow(np.zeros((depth, N_BINS)), origin="lower", aspect="auto", cmap="Blues",
                                 norm=PowerNorm(0.4, vmin=0.0, vmax=1.0), interpolation="nearest")
        ax_h.set_xlabel("activation value")
        ax_h.set_ylabel("hidden layer")
        ax_h.yaxis.set_major_locator(MaxNLocator(6, integer=True))
        ax_h.set_title("activation histograms", fontsize=10, y=1.0)
        (self.loss_line,) = ax_l.plot([], [], color="C0")
        (self.loss_dot,) = ax_l.plot([], [], "o", color="C3", ms=5)
        ax_l.set_xlabel("training step")
        ax_l.set_title("training loss", fontsize=10, y=1.0)
        ax_l.set_xlim(0, self.n_steps)
        ax_l.grid(True, alpha=0.3)
        ax_g.set_title(" ", fontsize=10, y=1.0)  # a fixed title position skips matplotlib's title layout
        # the loss curve grows as training is computed, so it is dynamic like the current step's artists
        # the step-0 line too: the static picture then depends only on the (coarse) axis limits, so
        # moving the depth, activation or init slider mostly reuses a picture already taken
        self.backdrop = Backdrop(fig, dynamic=[self.line_init, self.line_now, self.image, self.loss_line,
                                               self.loss_dot, ax_g.title])

    def run(self, key: tuple) -> TrainingRun:
        """The training of setting ``key = (depth, activation, init, lr)``; the last 16 are kept."""
        d, act, ini, rate = key
        return memo(self.runs, key, lambda: TrainingRun(d, act, ini, rate, width=self.width, n_steps=self.n_steps,
                                                        seed=self.seed, X=self.X, y=self.y), limit=16)

    def fix_axes(self, key: tuple, run: TrainingRun) -> None:
        """Set the axes' limits for ``run``: for the same setting they widen, never shrink.

        The gradient and histogram panels have room for the depth rounded up to tens of
        layers, so a static picture serves every depth in the same ten.
        """
        shown, lims = self.shown, _limits(run)
        if shown["key"] == key and lims == shown["lims"]:
            return
        if shown["key"] == key:  # same setting, more frames: widen, never shrink
            old = shown["lims"]
            lims = (min(lims[0], old[0]), max(lims[1], old[1]), max(lims[2], old[2]))
        edges = (float(run.bin_edges[0]), float(run.bin_edges[-1]))  # the activation's range
        room = 10 * math.ceil((key[0] + 1) / 10)
        static = (room, lims, edges)
        if static != shown.get("static"):
            self.backdrop.invalidate()  # the axis limits change
            g_lo, g_hi, l_top = lims
            self.ax_h.set_xlim(edges[0], edges[1])
            self.ax_g.set_xlim(0.5, room + 0.5)
            self.ax_g.set_ylim(g_lo, g_hi)
            self.ax_h.set_ylim(0.5, room + 0.5)
            self.ax_l.set_ylim(0.0, l_top)
            shown["static"] = static
        shown["key"], shown["lims"] = key, lims

    def update(self) -> None:
        c = self.controls
        key = (c["depth"].value, c["activation"].value, c["init"].value, float(c["lr"].value))
        run = self.run(key)
        t = int(c["step"].value)
        show_frame(run, t, CHUNK)  # a new setting: exactly the frames shown; later a chunk ahead (for Play)
        self.fix_axes(key, run)
        d = key[0]
        norms = run.grad_norms[t]
        ratio = self.draw(run, d, t)
        loss = run.loss[:run.done]
        self.state.update(depth=d, activation=key[1], init=key[2], lr=key[3], step=t, grad_norms=norms.copy(),
                          grad_norms_all=run.grad_norms[:run.done], act_hist=run.act_hist[t],
                          act_std=run.act_std[t], bin_edges=run.bin_edges, loss=loss, frames_computed=run.done,
                          ratio=ratio, diverged_at=run.diverged_at)
        # the static picture depends only on the axis limits
        self.backdrop.ensure(key=self.shown["static"])
        self.fig.canvas.draw_idle()

    def draw(self, run: TrainingRun, d: int, t: int) -> float:
        """Draw frame ``t`` of ``run`` (``d`` hidden layers); return the first / last gradient norm ratio."""
        norms = run.grad_norms[t]
        floor = self.shown["lims"][0]
        self.line_init.set_data(np.arange(1, d + 2), np.maximum(run.grad_norms[0], floor))
        self.image.set_extent((run.bin_edges[0], run.bin_edges[-1], 0.5, d + 0.5))
        self.line_now.set_data(np.arange(1, d + 2), np.maximum(norms, floor))
        self.image.set_data(run.act_hist[t])
        loss = run.loss[:run.done]
        self.loss_line.set_data(np.arange(run.done), loss)
        self.loss_dot.set_data([t], [loss[t]])
        ratio = norms[0] / norms[-1] if norms[-1] > 0 else float("nan")
        zeros = int(np.sum(norms == 0))
        title = f"step {t}: |dW1| / |dW{d + 1}| = {ratio:.1e}" if math.isfinite(ratio) else f"step {t}"
        if zeros:
            title += f" ({zeros} exactly 0)"
        if run.diverged_at is not None:
            title += f"; diverged at step {run.diverged_at}"
        self.ax_g.title.set_text(title)
        return ratio
