"""Decision-boundary playground, in the spirit of TensorFlow Playground.

What it teaches
---------------
A multilayer perceptron carves the plane into class regions. With no hidden layer the
boundary is a straight line (logistic regression), which cannot separate XOR, circles or
spirals; each hidden layer of non-linear units bends it. Watching training shows the
boundary forming, a too-large learning rate making the loss jump, and L2 regularization
smoothing the boundary and narrowing the gap between training and test loss. (The optimizer is
plain SGD, the one case where adding ``lam * W`` to the gradient is the same as weight decay,
shrinking the weights by ``1 - lr * lam`` per step; with Adam the two differ, see
:class:`nnkit.optimizers.AdamW` and lecture 8.)

Everything is computed by nnkit: the model is :func:`nnkit.model.MLP`, trained with
mini-batch gradient descent (:class:`nnkit.optimizers.SGD`, batches of ``batch_size`` from
:func:`nnkit.training.minibatches`) on softmax cross-entropy
(:func:`nnkit.model.loss_and_grads`), with the L2 gradient ``lam * W`` of
:func:`nnkit.regularization.l2_grad` added for every weight matrix (biases are not
penalized; penalty ``(lam/2) sum W^2``, not included in the plotted losses). The data come
from :mod:`nnkit.datasets`: 400 points, half for training (dots) and half for testing.

Controls
--------
dataset : ``xor_blobs``, ``two_moons``, ``circles`` or ``spirals`` (3 classes).
hidden : hidden layer sizes as text, e.g. ``"8,8"`` (empty: no hidden layer); each 1..64,
    at most 6 layers.
activation : hidden activation.
lr : learning rate.
l2 : L2 strength lambda (penalty ``(lam/2) sum W^2``, its gradient added to the batch gradient).
play / step : the training frame shown; a frame every ``n_epochs // (n_frames - 1)`` epochs.

Training is lazy (:class:`TrainingRun`): changing any other control builds the new network and
computes only the frames up to the current one (frame 0 is the untrained network's
prediction); moving the step (or Play) past the last computed frame trains :data:`CHUNK` more
frames. The frames are exactly those of training all at once (:func:`train_history`); runs are
cached per setting, so a setting seen before continues where it stopped. The loss curves
show the epochs computed so far; the loss axis follows them and only grows.

Panels: (1) the plane coloured by the predicted class, paler where the model is unsure
(white at a uniform prediction, 8 bands of confidence), training points on top; (2) training
and test loss per epoch, the current frame marked.

``demo.state`` holds ``epoch`` (of the frame), ``epochs`` (n_frames,), ``frames_computed``
``F`` (``step < F <= n_frames``), ``train_loss`` / ``test_loss`` / ``train_acc`` / ``test_acc``
(F,) for the frames computed so far, ``grid_x`` (G,), ``grid_y`` (G,),
``proba`` (G, G, K) predicted probabilities on the grid (row i is ``grid_y[i]``),
``params`` (the frame's parameters, a dict like ``model.params``), ``sizes`` (the layer
widths), ``diverged_at`` (first epoch with a non-finite loss, or None) and the control values.
"""
from __future__ import annotations

import math

import ipywidgets as widgets
import numpy as np

from .._validate import check_choice, check_int, check_nonnegative, check_positive, check_rng
from .. import datasets as _ds
from ..activations import softmax
from ..losses import softmax_cross_entropy
from ..model import MLP, loss_and_grads
from ..optimizers import SGD
from ..regularization import l2_grad
from ..training import minibatches
from ._backdrop import Backdrop
from ._base import Demo, assemble, memo, new_figure, play_controls, show_frame
from ._layout import CLASS_COLORS, confidence_rgb, curve_panel, nice_ceil, plane_grid

__all__ = ["playground", "parse_hidden", "train_history", "TrainingRun", "DATASETS", "ACTIVATION_CHOICES", "L2_CHOICES"]

DATASETS = ("xor_blobs", "two_moons", "circles", "spirals")
ACTIVATION_CHOICES = ("tanh", "relu", "sigmoid", "leaky_relu", "identity")
L2_CHOICES = (0.0, 1e-4, 3e-4, 1e-3, 3e-3, 0.01, 0.03, 0.1, 0.3)
GRID = 60
MAX_WIDTH, MAX_LAYERS = 64, 6
#: Frames computed at a time when the step slider (or Play) reaches a frame not computed yet.
CHUNK = 2


def parse_hidden(text) -> tuple[int, ...]:
    """``"8, 8"`` -> ``(8, 8)``; ``""`` -> ``()`` (no hidden layer). ValueError otherwise."""
    if not isinstance(text, str):
        raise TypeError(f"hidden must be a string like '8,8'; got {type(text).__name__} {text!r}")
    parts = [p.strip() for p in text.replace(";", ",").split(",")]
    if parts == [""]:
        return ()
    try:
        sizes = tuple(int(p) for p in parts)
    except ValueError:
        sizes = None
    if sizes is None or len(sizes) > MAX_LAYERS or any(not 1 <= s <= MAX_WIDTH for s in sizes):
        raise ValueError(
            f"hidden must be comma-separated layer sizes like '8,8' (each 1..{MAX_WIDTH}, at most "
            f"{MAX_LAYERS} layers; empty for none); got {text!r}"
        )
    return sizes


def _dataset(name: str, seed: int):
    """400 points of the named dataset, split half/half (stratified) into train and test."""
    rng = np.random.default_rng(seed)
    X, y = getattr(_ds, name)(400, rng)
    split = _ds.train_val_test_split(X, y, rng, val=0.0, test=0.5)
    return split.X_train, split.y_train, split.X_test, split.y_test


def _init_for(activation: str) -> str:
    return "he_normal" if activation in ("relu", "leaky_relu") else "xavier_normal"


class TrainingRun:
    """The training of :func:`train_history`, computed lazily: frames are added on demand.

    ``extend(f)`` makes sure frames ``0 .. f`` exist, continuing with the same model, optimizer
    state and shuffling generator, so the frames are bit for bit those of training all at once.
    Constructing a run only builds the initial network; frame 0 is its prediction. Arguments
    as :func:`train_history`.

    Attributes
    ----------
    done : int
        Frames computed so far (``n_frames`` when finished, or after a divergence, whose later
        frames repeat the last finite one).
    epochs, train_loss, test_loss, train_acc, test_acc, proba : ndarray
        Full-length arrays (as in :func:`train_history`), valid in their first ``done`` entries.
    params : list of dict
        The snapshots of the ``done`` frames.
    diverged_at : int or None
    """

    def __init__(self, X, y, X_test, y_test, hidden, activation, lr, l2, *, grid, n_epochs=100, n_frames=51,
                 batch_size=20, seed=0):
        self.data = (X, y, X_test, y_test)
        self.grid, self.l2, self.batch_size, self.n_frames = grid, l2, batch_size, n_frames
        K = int(max(y.max(), y_test.max())) + 1
        self.model = MLP([X.shape[1], *hidden, K], activation=activation, rng=np.random.default_rng(seed),
                         init=_init_for(activation))  # outputs logits; softmax_cross_entropy takes them
        self.shuffle = np.random.default_rng(seed + 1)
        self.opt = SGD(lr)
        self.opt_state = self.opt.init_state(self.model.params)
        self.epochs = np.array([f * n_epochs // (n_frames - 1) for f in range(n_frames)])
        self.train_loss, self.test_loss, self.train_acc, self.test_acc = (np.zeros(n_frames) for _ in range(4))
        self.proba = np.zeros((n_frames, len(grid), K))
        self.params: list[dict] = []
        self.diverged_at = None
        self.done = 0
        self._epoch = 0

    def _record(self, f) -> bool:
        X, y, X_test, y_test = self.data
        model = self.model
        for Xs, ys, loss_arr, acc_arr in ((X, y, self.train_loss, self.train_acc),
                                          (X_test, y_test, self.test_loss, self.test_acc)):
            logits = model.predict(Xs)
            if not np.all(np.isfinite(logits)):
                return False
            loss_arr[f] = softmax_cross_entropy(logits, ys)
            if not math.isfinite(loss_arr[f]):
                return False
            acc_arr[f] = np.mean(logits.argmax(axis=1) == ys)
        self.proba[f] = softmax(model.predict(self.grid))
        self.params.append({k: v.copy() for k, v in model.params.items()})
        return True

    def extend(self, last: int) -> None:
        """Compute the frames up to ``last`` (inclusive, capped at ``n_frames - 1``) not computed yet."""
        last = min(int(last), self.n_frames - 1)
        X, y, _, _ = self.data
        model, params, opt, state = self.model, self.model.params, self.opt, self.opt_state
        with np.errstate(all="ignore"):  # divergence is detected below, explicitly
            while self.done <= last:
                f = self.done
                if f == 0:
                    self._record(0)
                    self.done = 1
                    continue
                while self._epoch < self.epochs[f] and self.diverged_at is None:
                    self._epoch += 1
                    e = self._epoch
                    for Xb, yb in minibatches(X, y, self.batch_size, self.shuffle):
                        try:
                            _, grads = loss_and_grads(model, Xb, yb, "softmax_cross_entropy")
                        except ValueError:  # the loss refuses non-finite logits: diverged?
                            if np.all(np.isfinite(model.predict(Xb))):
                                raise
                            self.diverged_at = e
                            break
                        if self.l2:
                            reg = l2_grad(params, self.l2)
                            grads = {k: g + reg[k] for k, g in grads.items()}
                        try:
                            opt.step(params, grads, state)  # checks the gradients first, updates nothing if bad
                        except ValueError:
                            if all(np.all(np.isfinite(g)) for g in grads.values()):
                                raise
                            self.diverged_at = e
                            break
                if self.diverged_at is not None or not self._record(f):
                    self.diverged_at = self._epoch if self.diverged_at is None else self.diverged_at
                    for arr in (self.train_loss, self.test_loss, self.train_acc, self.test_acc, self.proba):
                        arr[f:] = arr[f - 1]
                    self.params.extend(self.params[-1] for _ in range(f, self.n_frames))
                    self.done = self.n_frames
                    break
                self.done = f + 1


def train_history(X, y, X_test, y_test, hidden, activation, lr, l2, *, grid, n_epochs=100, n_frames=51,
                  batch_size=20, seed=0) -> dict:
    """Train with nnkit and keep ``n_frames`` snapshots (epoch 0 = before training).

    All frames at once; the demo uses :class:`TrainingRun`, which computes the same frames
    lazily.

    Parameters
    ----------
    X, y, X_test, y_test : training and test data, ``X`` (N, 2), ``y`` (N,) int labels 0..K-1.
    hidden : tuple of int
    activation : str
    lr, l2 : float
        SGD learning rate and L2 strength (``l2_grad`` added to the batch gradient).
    grid : ndarray (M, 2)
        Points where the class probabilities are recorded per frame.
    n_epochs, n_frames, batch_size : int
        Frame ``f`` is taken after epoch ``f * n_epochs // (n_frames - 1)``.
    seed : int
        ``default_rng(seed)`` initializes the weights, ``default_rng(seed + 1)`` shuffles.

    Returns
    -------
    dict with ``epochs`` (n_frames,), ``train_loss``, ``test_loss``, ``train_acc``, ``test_acc``
    (n_frames,), ``proba`` (n_frames, M, K), ``params`` (list of n_frames dicts) and
    ``diverged_at`` (epoch or None; later frames repeat the last finite one).
    """
    run = TrainingRun(X, y, X_test, y_test, hidden, activation, lr, l2, grid=grid, n_epochs=n_epochs,
                      n_frames=n_frames, batch_size=batch_size, seed=seed)
    run.extend(n_frames - 1)
    return {"epochs": run.epochs, "train_loss": run.train_loss, "test_loss": run.test_loss,
            "train_acc": run.train_acc, "test_acc": run.test_acc, "proba": run.proba, "params": run.params,
            "diverged_at": run.diverged_at}


def playground(*, dataset: str = "two_moons", hidden: str = "8,8", activation: str = "tanh", lr: float = 0.1,
               l2: float = 0.0, n_epochs: int = 100, n_frames: int = 51, batch_size: int = 20,
               rng: np.random.Generator | None = None) -> Demo:
    """Build the decision-boundary playground (see the module docstring).

    Parameters
    ----------
    dataset : str
        One of :data:`DATASETS`.
    hidden : str
        Hidden layer sizes, e.g. ``"8,8"`` (see :func:`parse_hidden`).
    activation : str
        One of :data:`ACTIVATION_CHOICES`.
    lr : float in [1e-3, 3]
    l2 : float
        One of :data:`L2_CHOICES`.
    n_epochs : int in 1..400
        Epochs precomputed per setting.
    n_frames : int in 2..201
        Snapshots kept (the Play animation's length); at most ``n_epochs + 1``.
    batch_size : int >= 1
    rng : numpy.random.Generator, optional
        Draws the seeds of the data, the initialization and the shuffling once; default
        ``default_rng(0)``. The same control values then always give the same run.

    Returns
    -------
    Demo
        Controls ``dataset``, ``hidden``, ``activation``, ``lr``, ``l2``, ``play``, ``step``.
    """
    check_choice(dataset, "dataset", DATASETS)
    parse_hidden(hidden)
    check_choice(activation, "activation", ACTIVATION_CHOICES)
    lr = check_positive(lr, "lr")
    if not 1e-3 <= lr <= 3.0:
        raise ValueError(f"lr must be in [0.001, 3]; got {lr}")
    l2 = check_nonnegative(l2, "l2")
    if l2 not in L2_CHOICES:
        raise ValueError(f"l2 must be one of {L2_CHOICES}; got {l2}")
    n_epochs = check_int(n_epochs, "n_epochs", 1, 400)
    n_frames = check_int(n_frames, "n_frames", 2)
    top = min(201, n_epochs + 1)
    if n_frames > top:
        raise ValueError(f"n_frames must be an integer in 2..{top} (at most n_epochs + 1); got {n_frames}")
    batch_size = check_int(batch_size, "batch_size", 1)
    rng = np.random.default_rng(0) if rng is None else check_rng(rng)
    seed = int(rng.integers(2**31 - 2))
    controls = _controls(dataset, hidden, activation, lr, l2, n_frames)
    board = _Playground(controls, n_epochs=n_epochs, n_frames=n_frames, batch_size=batch_size, seed=seed)
    return assemble(controls, board.fig, board.update, state=board.state)


def _controls(dataset: str, hidden: str, activation: str, lr: float, l2: float, n_frames: int) -> dict:
    play, step = play_controls(n_frames, interval_ms=100)
    return {
        "dataset": widgets.Dropdown(options=DATASETS, value=dataset, description="data"),
        "hidden": widgets.Text(value=hidden, description="hidden", placeholder="e.g. 8,8", continuous_update=False,
                               layout=widgets.Layout(width="12em")),
        "activation": widgets.Dropdown(options=ACTIVATION_CHOICES, value=activation, description="activation"),
        "lr": widgets.FloatLogSlider(value=lr, base=10, min=-3, max=math.log10(3.0), step=0.1, description="lr",
                                     continuous_update=False, readout_format=".3g"),
        "l2": widgets.SelectionSlider(options=[(f"{v:g}", v) for v in L2_CHOICES], value=l2, description="L2",
                                      continuous_update=False),
        "play": play,
        "step": step,
    }


def _plane(name: str, seed: int) -> tuple:
    """``(X_train, y_train, X_test, y_test, gx, gy, grid)``: the data and a GRID x GRID grid around them."""
    Xtr, ytr, Xte, yte = _dataset(name, seed)
    both = np.concatenate([Xtr, Xte])
    lo, hi = both.min(axis=0), both.max(axis=0)
    pad = 0.1 * (hi - lo)
    gx = np.linspace(lo[0] - pad[0], hi[0] + pad[0], GRID)
    gy = np.linspace(lo[1] - pad[1], hi[1] + pad[1], GRID)
    return Xtr, ytr, Xte, yte, gx, gy, plane_grid(gx, gy)


def _loss_top(run: TrainingRun) -> float:
    """Top of the loss axis from the frames computed so far, rounded up (stable ticks)."""
    tr, te = run.train_loss[:run.done], run.test_loss[:run.done]
    top = max(tr.max(), te.max())
    return nice_ceil(1.05 * min(top, 3.0 * max(tr[0], 0.1)))


class _Playground:
    """The playground's figure and its callback :meth:`update`.

    Data sets and training runs are kept per setting (:meth:`plane`, :meth:`run`); the loss
    axis follows the frames computed so far and, for the same run, only grows.
    """

    def __init__(self, controls: dict, *, n_epochs: int, n_frames: int, batch_size: int, seed: int):
        self.controls, self.n_epochs, self.n_frames, self.batch_size, self.seed = \
            controls, n_epochs, n_frames, batch_size, seed
        self.planes: dict[str, tuple] = {}
        self.runs: dict[tuple, TrainingRun] = {}
        self.state: dict = {}
        self.shown: dict = {"key": None, "dataset": None, "top": None}
        self._figure()

    def _figure(self) -> None:
        fig = self.fig = new_figure(figsize=(7.6, 3.4), dpi=80)
        ax_b, ax_l = self.ax_b, self.ax_l = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1.0, 1.15]})
        self.image = ax_b.imshow(np.ones((GRID, GRID, 3)), origin="lower", interpolation="nearest", aspect="auto")
        self.points = ax_b.scatter([], [], s=12, edgecolors="k", linewidths=0.5)
        ax_b.set_xticks([])
        ax_b.set_yticks([])
        ax_b.set_title(" ", fontsize=10, y=1.0)
        (self.train_line,) = ax_l.plot([], [], color="C0", label="train")
        (self.test_line,) = ax_l.plot([], [], color="C1", label="test")
        (self.train_dot,) = ax_l.plot([], [], "o", color="C0", ms=5)
        (self.test_dot,) = ax_l.plot([], [], "o", color="C1", ms=5)
        ax_l.set_xlim(0, self.n_epochs)
        curve_panel(ax_l, xlabel="epoch", ylabel="cross-entropy", legend="upper right",
                    title="loss (without the L2 penalty)")
        # the loss curves grow as training is computed, so they are dynamic like the current frame's artists
        self.backdrop = Backdrop(fig, dynamic=[self.image, self.points, ax_b.title, self.train_line,
                                               self.test_line, self.train_dot, self.test_dot])

    def plane(self, name: str) -> tuple:
        """The data set ``name`` and its grid (see :func:`_plane`)."""
        return memo(self.planes, name, lambda: _plane(name, self.seed))

    def run(self, key: tuple) -> TrainingRun:
        """The training of setting ``key = (dataset, sizes, activation, lr, l2)``; the last 12 are kept."""
        def start():
            name, sizes, act, rate, lam = key
            Xtr, ytr, Xte, yte, _, _, grid = self.plane(name)
            return TrainingRun(Xtr, ytr, Xte, yte, sizes, act, rate, lam, grid=grid, n_epochs=self.n_epochs,
                               n_frames=self.n_frames, batch_size=self.batch_size, seed=self.seed + 7)

        return memo(self.runs, key, start, limit=12)

    def fix_axes(self, key: tuple, run: TrainingRun) -> float:
        """Place the data set's points and set the loss axis; return its top."""
        shown, name = self.shown, key[0]
        top = _loss_top(run)
        if shown["key"] == key:
            top = max(top, shown["top"])  # more frames of the same run: the axis only grows
        if (name, top) != (shown["dataset"], shown["top"]):
            self.backdrop.invalidate()  # the data points' place or the loss axis change
            if shown["dataset"] != name:
                Xtr, ytr, _, _, gx, gy, _ = self.plane(name)
                self.image.set_extent((gx[0], gx[-1], gy[0], gy[-1]))
                self.ax_b.set_xlim(gx[0], gx[-1])
                self.ax_b.set_ylim(gy[0], gy[-1])
                self.points.set_offsets(Xtr)
                self.points.set_facecolors(CLASS_COLORS[ytr])
            self.ax_l.set_ylim(0.0, top)
            shown["dataset"], shown["top"] = name, top
        shown["key"] = key
        return top

    def update(self) -> None:
        c = self.controls
        sizes = parse_hidden(c["hidden"].value)
        key = (c["dataset"].value, sizes, c["activation"].value, float(c["lr"].value), float(c["l2"].value))
        name = key[0]
        _, _, _, _, gx, gy, _ = self.plane(name)
        run = self.run(key)
        f = int(c["step"].value)
        show_frame(run, f, CHUNK)  # a new setting: exactly the frames shown; later a chunk ahead (for Play)
        top = self.fix_axes(key, run)
        e = self.draw(run, f)
        n = run.done
        self.state.update(dataset=name, hidden=sizes, activation=key[2], lr=key[3], l2=key[4], step=f, epoch=e,
                          epochs=run.epochs, frames_computed=n, train_loss=run.train_loss[:n],
                          test_loss=run.test_loss[:n], train_acc=run.train_acc[:n], test_acc=run.test_acc[:n],
                          grid_x=gx, grid_y=gy, proba=run.proba[f].reshape(GRID, GRID, -1), params=run.params[f],
                          sizes=(2, *sizes, run.proba.shape[-1]), diverged_at=run.diverged_at)
        # the static picture depends only on the dataset and the loss axis: a new network, rate or L2
        # with the same axis reuses it
        self.backdrop.ensure(key=(name, top))
        self.fig.canvas.draw_idle()

    def draw(self, run: TrainingRun, f: int) -> int:
        """Draw frame ``f`` of ``run`` and the losses computed so far; return the frame's epoch."""
        n = run.done
        ep = run.epochs[:n]
        self.train_line.set_data(ep, run.train_loss[:n])
        self.test_line.set_data(ep, run.test_loss[:n])
        self.image.set_data(confidence_rgb(run.proba[f]).reshape(GRID, GRID, 3))
        e = int(run.epochs[f])
        self.train_dot.set_data([e], [run.train_loss[f]])
        self.test_dot.set_data([e], [run.test_loss[f]])
        title = f"epoch {e}: test accuracy {run.test_acc[f]:.0%}"
        if run.diverged_at is not None and e >= run.diverged_at:
            title = f"diverged at epoch {run.diverged_at}: lower the learning rate"
        self.ax_b.title.set_text(title)
        return e
