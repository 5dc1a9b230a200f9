"""Training: a mini-batch iterator and a fit loop with per-epoch history.

One epoch visits every training sample exactly once, in batches::

    for Xb, yb in minibatches(X, y, batch_size, rng):      # shuffled with an explicit rng
        out, cache = model.forward(Xb, training=True)
        loss, dout = loss_fn.value_and_grad(out, yb)       # batch-mean loss
        _, grads = model.backward(dout, cache)
        grads += l2 * W                                    # L2 penalty (weights only)
        grads = clip(grads)                                # optional clipping
        optimizer.step(params, grads, state)               # in-place update

The batch size names the flavour of gradient descent:

=====================  ==============================================================
``batch_size``         what it is
=====================  ==============================================================
``None`` or ``>= N``   batch gradient descent: one step per epoch on all N samples
``1``                  stochastic gradient descent: N steps per epoch, one sample each
anything in between    mini-batch gradient descent: ceil(N / batch_size) steps per epoch
=====================  ==============================================================

Reproducibility: all randomness comes from Generators: ``rng`` here shuffles, the model's own
Generators initialise weights and draw dropout masks. The same seeds give bitwise the same
weights and history.
"""
from __future__ import annotations

import copy
import inspect
import math
from dataclasses import dataclass, field
from typing import Callable, Iterator

import numpy as np

from ._validate import as_array, check_int, check_nonnegative, check_rng, check_same_length
from .clipping import clip_by_norm
from .losses import Loss, get_loss
from .regularization import EarlyStopping, l2_grad

__all__ = ["minibatches", "fit", "History", "accuracy"]


# ---------------------------------------------------------------------------------------
# Mini-batches
# ---------------------------------------------------------------------------------------


def _check_batch_size(batch_size, n: int) -> int:
    if batch_size is None:
        return n
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)):
        raise TypeError(f"batch_size must be a positive int or None (full batch); got {batch_size!r}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1 (or None for the full batch); got {batch_size}")
    return min(int(batch_size), n)


def _labels(y, name: str) -> np.ndarray:
    arr = np.asarray(y)
    if arr.ndim == 0:
        raise ValueError(f"{name} must have one entry per sample (first axis); got a scalar")
    if arr.dtype.kind == "f" and not np.all(np.isfinite(arr)):
        bad = tuple(int(i) for i in np.argwhere(~np.isfinite(arr))[0])
        raise ValueError(f"{name} must be finite; found {arr[bad]} at index {bad}")
    if arr.dtype.kind not in "fiub":
        raise TypeError(f"{name} must hold numbers (labels or targets); got dtype {arr.dtype}")
    return arr


def minibatches(X, y, batch_size: int | None, rng: np.random.Generator | None, shuffle: bool = True) -> Iterator:
    """Split one epoch of data into batches; every sample appears exactly once.

    Parameters
    ----------
    X : array_like, shape (N, ...)
        Samples in rows. float32 stays float32.
    y : array_like, shape (N, ...) or None
        Labels or targets, one per row of X (None: batches of X only, ``yb`` is None).
    batch_size : int or None
        ``None`` (or any value ``>= N``) gives one batch of all N samples (batch gradient
        descent); 1 gives single samples (stochastic gradient descent). Otherwise batches of
        ``batch_size`` rows; the last batch keeps the remaining ``N % batch_size`` rows
        (it is not dropped), so ``ceil(N / batch_size)`` batches in all.
    rng : numpy.random.Generator
        Draws the permutation (one ``rng.permutation(N)`` per call). May be None when
        ``shuffle=False``.
    shuffle : bool
        Visit the samples in a random order (default) or in their stored order.

    Returns
    -------
    iterator of ``(Xb, yb)``
        ``Xb`` shape ``(B, ...)``, ``yb`` shape ``(B, ...)``. Inputs are checked when this
        function is called, not when the iterator is first advanced. Without shuffling the
        batches are views of X and y (no copy); treat them as read-only.
    """
    X = as_array(X, "X")
    if X.ndim < 1:
        raise ValueError("X must have samples in its first axis; got a scalar")
    if y is not None:
        y = _labels(y, "y")
        check_same_length(X, y, "X", "y")
    n = X.shape[0]
    size = _check_batch_size(batch_size, n)
    if shuffle:
        rng = check_rng(rng)
        order = rng.permutation(n)
    elif rng is not None:
        check_rng(rng)

    def batches():
        for start in range(0, n, size):
            if shuffle:
                idx = order[start:start + size]
                yield X[idx], (None if y is None else y[idx])
            else:
                yield X[start:start + size], (None if y is None else y[start:start + size])

    return batches()


# ---------------------------------------------------------------------------------------
# Accuracy
# ---------------------------------------------------------------------------------------

_LOGIT_BINARY = {"binary_cross_entropy_with_logits"}
_PROB_BINARY = {"binary_cross_entropy"}


def accuracy(out, y, loss: str | Loss | None = None) -> float:
    """Fraction of correct predictions, or NaN when accuracy does not apply (regression).

    Rules
    -----
    - binary losses (``binary_cross_entropy_with_logits``: predict 1 where the logit > 0;
      ``binary_cross_entropy``: where the probability > 0.5); targets count as 1 when >= 0.5.
      Every output entry counts (multi-label outputs are averaged).
    - otherwise, an output of shape (N, K) with K >= 2 is a class score: the prediction is
      ``argmax`` over axis 1, compared with integer labels (N,) or with ``argmax`` of one-hot /
      probability targets (N, K).
    - anything else (e.g. MSE regression with real-valued targets): NaN.
    """
    out = np.asarray(out)
    y = np.asarray(y)
    name = getattr(loss, "name", loss)
    if name in _LOGIT_BINARY or name in _PROB_BINARY:
        cut = 0.0 if name in _LOGIT_BINARY else 0.5
        pred = out > cut
        true = y.reshape(pred.shape) >= 0.5 if y.size == pred.size else None
        if true is None:
            return math.nan
        return float(np.mean(pred == true))
    if out.ndim == 2 and out.shape[1] >= 2:
        pred = np.argmax(out, axis=1)
        if y.ndim == 1 and (y.dtype.kind in "iu" or np.all(y == np.round(y))):
            return float(np.mean(pred == y))
        if y.shape == out.shape and np.all(y >= 0) and np.allclose(y.sum(axis=1), 1.0):
            return float(np.mean(pred == np.argmax(y, axis=1)))
    return math.nan


# ---------------------------------------------------------------------------------------
# History
# ---------------------------------------------------------------------------------------

_METRICS = ("train_loss", "val_loss", "train_acc", "val_acc", "lr")


@dataclass
class History:
    """What happened in :func:`fit`, one entry per epoch.

    Attributes
    ----------
    epoch : list of int
        Epoch numbers, 1-based.
    train_loss, val_loss : list of float
        Data loss (no penalty term) on the whole training / validation set, measured after
        the epoch's last step in inference mode (dropout off, BatchNorm running statistics),
        so the two curves are comparable. ``val_*`` are empty without validation data.
    train_acc, val_acc : list of float
        Accuracy (see :func:`accuracy`); empty when it does not apply (regression).
    lr : list of float
        Learning rate used in each epoch.
    best_epoch, stopped_epoch : int or None
        From early stopping (1-based); None without it or when it never triggered.
    early_stopping : EarlyStopping or None
        The tracker used in this fit (a fresh copy of the one passed in; see :func:`fit`).
    n_steps : int
        Optimizer steps taken.

    ``history["val_loss"]``, ``history.keys()``, ``history.as_dict()`` and ``len(history)``
    (epochs run) work like a dict of lists; ``history.plot()`` draws the curves.
    """

    epoch: list = field(default_factory=list)
    train_loss: list = field(default_factory=list)
    val_loss: list = field(default_factory=list)
    train_acc: list = field(default_factory=list)
    val_acc: list = field(default_factory=list)
    lr: list = field(default_factory=list)
    best_epoch: int | None = None
    stopped_epoch: int | None = None
    early_stopping: EarlyStopping | None = field(default=None, repr=False, compare=False)
    n_steps: int = 0

    def keys(self):
        return ("epoch",) + _METRICS

    def __getitem__(self, key: str) -> list:
        if key not in self.keys():
            raise KeyError(f"History has no {key!r}; keys: {', '.join(self.keys())}")
        return getattr(self, key)

    def __iter__(self):
        return iter(self.keys())

    def __len__(self) -> int:
        return len(self.epoch)

    def as_dict(self) -> dict:
        """``{"epoch": [...], "train_loss": [...], ...}`` (new lists), plus best/stopped epoch."""
        d = {k: list(getattr(self, k)) for k in self.keys()}
        d["best_epoch"] = self.best_epoch
        d["stopped_epoch"] = self.stopped_epoch
        d["n_steps"] = self.n_steps
        return d

    def __repr__(self) -> str:
        if not self.epoch:
            return "History(no epochs)"
        parts = [f"{len(self.epoch)} epochs"]
        for k in ("train_loss", "val_loss", "train_acc", "val_acc"):
            v = getattr(self, k)
            if v:
                parts.append(f"{k}={v[-1]:.4g}")
        if self.best_epoch is not None:
            parts.append(f"best_epoch={self.best_epoch}")
        return "History(" + ", ".join(parts) + ")"

    def plot(self, ax=None, metric: str = "both"):
        """Learning curves with matplotlib.

        Parameters
        ----------
        ax : matplotlib Axes, sequence of two Axes, or None
            Where to draw; None makes a new figure (one panel per metric).
        metric : {"both", "loss", "acc"}
            "both" draws loss and accuracy side by side (accuracy only when recorded).

        Returns
        -------
        The Axes (or array of two Axes) drawn on. A dotted line marks the best epoch.
        """
        import matplotlib.pyplot as plt

        if metric not in ("both", "loss", "acc"):
            raise ValueError(f"metric must be one of 'both', 'loss', 'acc'; got {metric!r}")
        wanted = ["loss", "acc"] if metric == "both" else [metric]
        if metric == "both" and not self.train_acc:
            wanted = ["loss"]
        if metric == "acc" and not self.train_acc:
            raise ValueError("no accuracy was recorded (a regression loss?); plot metric='loss'")
        if ax is None:
            _, axes = plt.subplots(1, len(wanted), figsize=(5.0 * len(wanted), 3.5), squeeze=False)
            axes = axes[0]
        else:
            axes = np.atleast_1d(np.asarray(ax, dtype=object))
            if len(axes) != len(wanted):
                raise ValueError(f"need {len(wanted)} Axes for metric={metric!r}; got {len(axes)}")
        for a, m in zip(axes, wanted):
            train, val = (self.train_loss, self.val_loss) if m == "loss" else (self.train_acc, self.val_acc)
            a.plot(self.epoch, train, label="train", marker="o" if len(self.epoch) < 30 else None)
            if val:
                a.plot(self.epoch, val, label="validation", marker="o" if len(self.epoch) < 30 else None)
            if self.best_epoch is not None:
                a.axvline(self.best_epoch, color="grey", linestyle=":", label=f"best epoch ({self.best_epoch})")
            a.set_xlabel("epoch")
            a.set_ylabel("loss" if m == "loss" else "accuracy")
            a.grid(True, alpha=0.3)
            a.legend()
        return axes[0] if len(axes) == 1 else axes


# ---------------------------------------------------------------------------------------
# Divergence reports
# ---------------------------------------------------------------------------------------


def _layer_of_param(model, name: str) -> str:
    """``"layer 3 Dense(64, 10)"`` for the parameter ``name`` (:meth:`Sequential.layer_of`)."""
    try:
        i, layer = model.layer_of(name)
    except (AttributeError, KeyError):  # not a Sequential, or not one of its parameters
        return "the model"
    return f"layer {i} {layer!r}"


def _largest_param(model, params) -> str:
    name, size = max(((k, float(np.max(np.abs(p)))) for k, p in params.items() if p.size), key=lambda t: t[1],
                     default=(None, 0.0))
    if name is None:
        return ""
    return f"; the largest parameter is {name} ({_layer_of_param(model, name)}), |{name}| up to {size:.3g}"


def _nonfinite_report(model, params, Xb, training: bool, out=None) -> str:
    """Where a NaN/Inf is first seen: a parameter, else a layer's output, else the loss."""
    for name, p in params.items():
        if not np.all(np.isfinite(p)):
            return f"parameter {name} ({_layer_of_param(model, name)})"
    layers = list(getattr(model, "layers", []))
    h = np.asarray(Xb, dtype=getattr(model, "dtype", None) or np.float64)
    with np.errstate(all="ignore"):
        for i, layer in enumerate(layers, 1):
            h, _ = layer.forward(h, training)
            if not np.all(np.isfinite(h)):
                return f"the output of layer {i} {layer!r}" + _largest_param(model, params)
    extra = ""
    if out is not None and np.all(np.isfinite(out)):
        extra = f" (the model outputs are finite but reach |out| = {float(np.max(np.abs(out))):.3g})"
    return "the loss" + extra + _largest_param(model, params)


class _Diverged(Exception):
    pass


def _diverged(epoch: int, batch: int | None, where: str, lr: float) -> FloatingPointError:
    at = f"epoch {epoch}" + (f", batch {batch}" if batch is not None else " (end-of-epoch evaluation)")
    return FloatingPointError(
        f"training diverged at {at}: NaN/Inf first appears in {where}. "
        f"Try a smaller learning rate (lr = {lr:g}), gradient clipping (clip=...), or check the inputs' scale."
    )


# ---------------------------------------------------------------------------------------
# fit
# ---------------------------------------------------------------------------------------


def _resolve_clip(clip) -> Callable | None:
    if clip is None:
        return None
    if callable(clip):
        return clip
    if isinstance(clip, bool) or not isinstance(clip, (int, float, np.integer, np.floating)):
        raise TypeError(
            "clip must be None, a number (max global gradient norm) or a callable grads -> grads "
            f"(e.g. lambda g: clip_by_value(g, 1.0)); got {type(clip).__name__}"
        )
    max_norm = float(clip)
    if not math.isfinite(max_norm) or max_norm <= 0:
        raise ValueError(f"clip (max global gradient norm) must be > 0; got {clip}")
    return lambda grads: clip_by_norm(grads, max_norm, scope="global")


def _evaluate(model, X, y, loss: Loss):
    out = model.forward(X, training=False)[0]
    if not np.all(np.isfinite(out)):
        raise _Diverged
    value = float(loss.fn(out, y))
    if not math.isfinite(value):
        raise _Diverged
    return value, accuracy(out, y, loss)


def fit(
    model,
    X,
    y,
    *,
    loss,
    optimizer,
    epochs: int,
    batch_size: int | None,
    rng: np.random.Generator,
    X_val=None,
    y_val=None,
    early_stopping: EarlyStopping | None = None,
    schedule: Callable | None = None,
    clip=None,
    l2: float = 0.0,
    progress: bool = True,
) -> History:
    """Train ``model`` with mini-batch gradient descent; return the per-epoch :class:`History`.

    Parameters
    ----------
    model : Sequential
        Its parameters are updated in place (that is the point). Nothing else passed in is
        modified.
    X : array_like (N, D)
    y : array_like (N,) or (N, K)
        Labels or targets in the form ``loss`` expects (integer labels or one-hot for
        ``softmax_cross_entropy``). ``len(y) != len(X)`` -> ValueError.
    loss : str or nnkit.losses.Loss
        A key of :data:`nnkit.losses.LOSSES`, applied to the model output (batch-mean
        convention: the loss and its gradient are averaged over the batch).
    optimizer : nnkit.optimizers.Optimizer
        Hyperparameters only; a fresh state ``optimizer.init_state(params)`` is made here.
    epochs : int >= 1
    batch_size : int or None
        See :func:`minibatches` (None: full batch, 1: stochastic).
    rng : numpy.random.Generator
        Shuffles the samples each epoch.
    X_val, y_val : array_like, optional
        Validation set, evaluated after every epoch (both or neither).
    early_stopping : EarlyStopping, optional
        Watches ``val_loss`` when its mode is "min" and ``val_acc`` when "max" (the training
        set's when there is no validation set). The object passed in is a template: a fresh
        copy (``reset()``) does the tracking, so the same object can be reused and two fits
        stay identical; that copy is ``history.early_stopping``. With ``restore_best=True``
        the best epoch's weights are copied back into the model at the end.
    schedule : callable k -> lr, optional
        Called once per epoch with ``k = epoch - 1`` (so the first epoch uses ``schedule(0)``),
        e.g. :class:`nnkit.schedules.inverse_time`. It sets the learning rate of a copy of
        ``optimizer`` (the one passed in keeps its own).
    clip : None, float or callable
        A number clips the gradients by their **global** norm (:func:`nnkit.clipping.clip_by_norm`,
        ``scope="global"``); a callable ``grads -> grads`` does anything else (per-tensor norm,
        by value). Applied after the L2 term is added, before the step.
    l2 : float >= 0
        L2 strength lambda: ``lambda * W`` is added to the gradient of every weight matrix
        (biases and BatchNorm parameters are not penalised); penalty ``(lambda/2) sum W^2``,
        which is *not* included in the recorded losses.
    progress : bool
        Show a ``tqdm.auto`` progress bar over epochs (a widget in Jupyter).

    Returns
    -------
    History

    Raises
    ------
    FloatingPointError
        A NaN or Inf appears in the outputs, the loss or the gradients. The message gives the
        epoch and batch and the first parameter or layer where it is seen.
    ValueError, TypeError
        Bad arguments (mismatched sample counts, epochs < 1, a learning rate <= 0, ...).
    """
    from tqdm.auto import tqdm

    X = as_array(X, "X", ndim=2)
    y = _labels(y, "y")
    check_same_length(X, y, "X", "y")
    has_val = X_val is not None or y_val is not None
    if has_val:
        if X_val is None or y_val is None:
            raise ValueError("pass both X_val and y_val (or neither)")
        X_val = as_array(X_val, "X_val", ndim=2)
        y_val = _labels(y_val, "y_val")
        check_same_length(X_val, y_val, "X_val", "y_val")
        if X_val.shape[1] != X.shape[1]:
            raise ValueError(f"X_val must have {X.shape[1]} features like X; got {X_val.shape[1]}")
    epochs = check_int(epochs, "epochs", 1)
    _check_batch_size(batch_size, X.shape[0])
    check_rng(rng)
    loss = get_loss(loss)
    l2 = check_nonnegative(l2, "l2")
    clipper = _resolve_clip(clip)
    if schedule is not None and not callable(schedule):
        raise TypeError(f"schedule must be a callable k -> learning rate; got {type(schedule).__name__}")
    if not hasattr(optimizer, "step") or not hasattr(optimizer, "init_state"):
        raise TypeError(f"optimizer must be an nnkit optimizer (init_state, step); got {type(optimizer).__name__}")
    es = None
    if early_stopping is not None:
        if not isinstance(early_stopping, EarlyStopping):
            raise TypeError(f"early_stopping must be an EarlyStopping; got {type(early_stopping).__name__}")
        es = copy.deepcopy(early_stopping)
        es.reset()

    opt = copy.copy(optimizer) if schedule is not None else optimizer
    params = model.params
    state = opt.init_state(params)
    try:
        no_input_grad = "input_grad" in inspect.signature(model.backward).parameters
    except (TypeError, ValueError):
        no_input_grad = False

    hist = History(early_stopping=es)
    bar = tqdm(range(1, epochs + 1), desc="fit", unit="epoch", disable=not progress, leave=True)
    try:
        # Overflow is detected explicitly (FloatingPointError below), so numpy's warnings
        # would only repeat it less precisely.
        with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):
            for epoch in bar:
                if schedule is not None:
                    opt.lr = schedule(epoch - 1)
                lr = float(opt.lr)
                for b, (Xb, yb) in enumerate(minibatches(X, y, batch_size, rng), 1):
                    out, cache = model.forward(Xb, training=True)
                    if not np.all(np.isfinite(out)):
                        raise _diverged(epoch, b, _nonfinite_report(model, params, Xb, True), lr)
                    value, dout = loss.value_and_grad(out, yb)
                    if not (math.isfinite(value) and np.all(np.isfinite(dout))):
                        raise _diverged(epoch, b, _nonfinite_report(model, params, Xb, True, out), lr)
                    if no_input_grad:
                        _, grads = model.backward(dout, cache, input_grad=False)
                    else:
                        _, grads = model.backward(dout, cache)
                    if l2:
                        penalty = l2_grad(params, l2)
                        grads = {k: g + penalty[k] for k, g in grads.items()}
                    if clipper is not None:
                        grads = clipper(grads)
                    bad = [k for k, g in grads.items() if not np.all(np.isfinite(g))]
                    if bad:
                        # backward runs output -> input, so the last name is where it started
                        where = f"the gradient d{bad[-1]} ({_layer_of_param(model, bad[-1])})"
                        raise _diverged(epoch, b, where, lr)
                    opt.step(params, grads, state)
                    hist.n_steps += 1

                try:
                    tl, ta = _evaluate(model, X, y, loss)
                    if has_val:
                        vl, va = _evaluate(model, X_val, y_val, loss)
                except _Diverged:
                    raise _diverged(epoch, None, _nonfinite_report(model, params, X, False), lr) from None
                hist.epoch.append(epoch)
                hist.lr.append(lr)
                hist.train_loss.append(tl)
                if not math.isnan(ta):
                    hist.train_acc.append(ta)
                if has_val:
                    hist.val_loss.append(vl)
                    if not math.isnan(va):
                        hist.val_acc.append(va)
                if progress:
                    post = {"loss": f"{tl:.4g}"}
                    if has_val:
                        post["val_loss"] = f"{vl:.4g}"
                    if hist.val_acc or hist.train_acc:
                        post["acc"] = f"{(va if has_val else ta):.3f}"
                    bar.set_postfix(post)

                if es is not None:
                    if es.mode == "min":
                        metric = vl if has_val else tl
                    else:
                        metric = va if has_val else ta
                        if math.isnan(metric):
                            raise ValueError(
                                "early_stopping has mode='max' (an accuracy), but accuracy does not apply to "
                                f"loss {loss.name!r}; use mode='min' to watch the loss"
                            )
                    if es.update(metric, params, epoch):
                        break
    finally:
        bar.close()

    if es is not None:
        hist.best_epoch = es.best_epoch
        hist.stopped_epoch = es.stopped_epoch
        if es.restore_best and es.best_params is not None:
            es.restore(params)
    return hist
