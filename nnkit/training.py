"""Training: a mini-batch iterator and a fit loop with per-epoch history (:class:`~nnkit.history.History`).

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
from typing import Callable, Iterator

import numpy as np

from ._validate import as_array, check_int, check_nonnegative, check_rng, check_same_length
from .clipping import clip_by_norm
from .losses import Loss, get_loss
from .history import History
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


def _diverged(epoch: int, batch: int | None, lr: float, where: str) -> FloatingPointError:
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


class _Gradients:
    """What a training step does between the loss and the optimizer (:func:`fit` and the LR finder).

    ``gradients(dout, cache)``: the model's backward pass (without ``dL/dx`` when the model
    offers ``input_grad=False``), plus ``l2 * W`` for every weight matrix, then clipping.
    """

    def __init__(self, model, l2: float, clipper: Callable | None):
        self.model, self.params, self.l2, self.clipper = model, model.params, l2, clipper
        try:
            self.skip_dx = "input_grad" in inspect.signature(model.backward).parameters
        except (TypeError, ValueError):
            self.skip_dx = False

    def __call__(self, dout, cache) -> dict:
        if self.skip_dx:
            _, grads = self.model.backward(dout, cache, input_grad=False)
        else:
            _, grads = self.model.backward(dout, cache)
        if self.l2:
            penalty = l2_grad(self.params, self.l2)
            grads = {k: g + penalty[k] for k, g in grads.items()}
        if self.clipper is not None:
            grads = self.clipper(grads)
        return grads


def _check_optimizer(optimizer) -> None:
    if not hasattr(optimizer, "step") or not hasattr(optimizer, "init_state"):
        raise TypeError(f"optimizer must be an nnkit optimizer (init_state, step); got {type(optimizer).__name__}")


def _fresh_tracker(early_stopping: EarlyStopping | None) -> EarlyStopping | None:
    """A reset deep copy of the EarlyStopping passed in (a template: fit never changes it)."""
    if early_stopping is None:
        return None
    if not isinstance(early_stopping, EarlyStopping):
        raise TypeError(f"early_stopping must be an EarlyStopping; got {type(early_stopping).__name__}")
    es = copy.deepcopy(early_stopping)
    es.reset()
    return es


def _fit_data(X, y, X_val, y_val):
    """``(X, y, val)`` checked, with ``val = (X_val, y_val)`` or None."""
    X = as_array(X, "X", ndim=2)
    y = _labels(y, "y")
    check_same_length(X, y, "X", "y")
    if X_val is None and y_val is None:
        return X, y, None
    if X_val is None or y_val is None:
        raise ValueError("pass both X_val and y_val (or neither)")
    X_val = as_array(X_val, "X_val", ndim=2)
    y_val = _labels(y_val, "y_val")
    check_same_length(X_val, y_val, "X_val", "y_val")
    if X_val.shape[1] != X.shape[1]:
        raise ValueError(f"X_val must have {X.shape[1]} features like X; got {X_val.shape[1]}")
    return X, y, (X_val, y_val)


def _train_step(model, loss: Loss, gradients: _Gradients, opt, state, Xb, yb, where: tuple) -> None:
    """One mini-batch: forward, loss, gradients, update; a FloatingPointError at the first NaN/Inf.

    ``where = (epoch, batch, lr)`` for the message.
    """
    params = gradients.params
    out, cache = model.forward(Xb, training=True)
    if not np.all(np.isfinite(out)):
        raise _diverged(*where, _nonfinite_report(model, params, Xb, True))
    value, dout = loss.value_and_grad(out, yb)
    if not (math.isfinite(value) and np.all(np.isfinite(dout))):
        raise _diverged(*where, _nonfinite_report(model, params, Xb, True, out))
    grads = gradients(dout, cache)
    bad = [k for k, g in grads.items() if not np.all(np.isfinite(g))]
    if bad:
        # backward runs output -> input, so the last name is where it started
        raise _diverged(*where, f"the gradient d{bad[-1]} ({_layer_of_param(model, bad[-1])})")
    opt.step(params, grads, state)


def _end_of_epoch(model, hist: History, X, y, val, loss: Loss, epoch: int, lr: float) -> dict:
    """Evaluate on the training (and validation) set in inference mode and record the epoch."""
    try:
        tl, ta = _evaluate(model, X, y, loss)
        vl, va = _evaluate(model, *val, loss) if val is not None else (None, math.nan)
    except _Diverged:
        raise _diverged(epoch, None, lr, _nonfinite_report(model, model.params, X, False)) from None
    hist.epoch.append(epoch)
    hist.lr.append(lr)
    hist.train_loss.append(tl)
    if not math.isnan(ta):
        hist.train_acc.append(ta)
    if val is not None:
        hist.val_loss.append(vl)
        if not math.isnan(va):
            hist.val_acc.append(va)
    return {"loss": tl, "acc": ta, "val_loss": vl, "val_acc": va}


def _postfix(m: dict, hist: History) -> dict:
    """The progress bar's figures for one epoch."""
    post = {"loss": f"{m['loss']:.4g}"}
    if m["val_loss"] is not None:
        post["val_loss"] = f"{m['val_loss']:.4g}"
    if hist.val_acc or hist.train_acc:
        post["acc"] = f"{(m['val_acc'] if m['val_loss'] is not None else m['acc']):.3f}"
    return post


def _watched(es: EarlyStopping, m: dict, loss: Loss) -> float:
    """The metric early stopping watches: a loss ("min") or an accuracy ("max"), validation first."""
    has_val = m["val_loss"] is not None
    if es.mode == "min":
        return m["val_loss"] if has_val else m["loss"]
    metric = m["val_acc"] if has_val else m["acc"]
    if math.isnan(metric):
        raise ValueError(
            "early_stopping has mode='max' (an accuracy), but accuracy does not apply to "
            f"loss {loss.name!r}; use mode='min' to watch the loss"
        )
    return metric


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

    X, y, val = _fit_data(X, y, X_val, y_val)
    epochs = check_int(epochs, "epochs", 1)
    _check_batch_size(batch_size, X.shape[0])
    check_rng(rng)
    loss = get_loss(loss)
    l2 = check_nonnegative(l2, "l2")
    clipper = _resolve_clip(clip)
    if schedule is not None and not callable(schedule):
        raise TypeError(f"schedule must be a callable k -> learning rate; got {type(schedule).__name__}")
    _check_optimizer(optimizer)
    es = _fresh_tracker(early_stopping)

    opt = copy.copy(optimizer) if schedule is not None else optimizer
    gradients = _Gradients(model, l2, clipper)
    params = gradients.params
    state = opt.init_state(params)
    hist = History(early_stopping=es)
    bar = tqdm(range(1, epochs + 1), desc="fit", unit="epoch", disable=not progress, leave=True)
    try:
        # Overflow is detected explicitly (FloatingPointError), so numpy's warnings would only
        # repeat it less precisely.
        with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):
            for epoch in bar:
                if schedule is not None:
                    opt.lr = schedule(epoch - 1)
                lr = float(opt.lr)
                for b, (Xb, yb) in enumerate(minibatches(X, y, batch_size, rng), 1):
                    _train_step(model, loss, gradients, opt, state, Xb, yb, (epoch, b, lr))
                    hist.n_steps += 1
                metrics = _end_of_epoch(model, hist, X, y, val, loss, epoch, lr)
                if progress:
                    bar.set_postfix(_postfix(metrics, hist))
                if es is not None and es.update(_watched(es, metrics, loss), params, epoch):
                    break
    finally:
        bar.close()

    if es is not None:
        hist.best_epoch = es.best_epoch
        hist.stopped_epoch = es.stopped_epoch
        if es.restore_best and es.best_params is not None:
            es.restore(params)
    return hist
