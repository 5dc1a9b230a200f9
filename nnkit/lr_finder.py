"""The learning-rate range test ("LR finder", Smith 2015/2017; fastai's ``lr_find``).

Train for a few mini-batches while the learning rate grows exponentially from ``lr_min`` to
``lr_max``, record the loss at every step, and read a good learning rate off the curve::

    result = lr_range_test(model, X, y, loss="softmax_cross_entropy", optimizer=SGD(0.1),
                           rng=np.random.default_rng(0))
    result.suggestion          # a learning rate to start from
    result.plot()              # loss against lr, log scale

While the rate is tiny the loss barely moves; as it grows the loss falls faster and faster;
past some rate the steps overshoot and the loss shoots up.  A good rate sits on the steep
descent, well before the minimum of the curve: at the minimum the rate is already about to
diverge.

Conventions (named, because implementations differ)
---------------------------------------------------
- **Rates**: ``lr_i = lr_min * (lr_max / lr_min) ** (i / (n_steps - 1))`` for ``i = 0 ..
  n_steps - 1``, evenly spaced on a log scale, one mini-batch per rate (as fastai).
- **Loss recorded at step i**: the mini-batch loss computed *before* the step taken with
  ``lr_i``, i.e. with the weights after the steps at ``lr_0 .. lr_{i-1}`` (as fastai). The
  penalty of ``l2`` is not included (as in :func:`nnkit.training.fit`).
- **Smoothing**: an exponential moving average with bias correction (as Adam's moments and
  fastai's recorder), ``avg_i = beta * avg_{i-1} + (1 - beta) * loss_i`` from ``avg_{-1} = 0``,
  ``smoothed_i = avg_i / (1 - beta ** (i + 1))``.  ``beta = 0`` turns smoothing off.  The
  average lags the raw loss by about ``1 / (1 - beta)`` steps.
- **Divergence**: the run stops after the first step whose smoothed loss exceeds
  ``diverge_factor`` times the lowest smoothed loss so far (fastai: 4), or whose loss or
  gradient is NaN/Inf (that step is not recorded).
- **Suggestion**, read off the smoothed curve without its first ``n_steps // 10`` points
  (the average has seen few batches there) and its last 5 (the blow-up), as fastai does.
  ``rule="min/10"`` (default) is the rate at the minimum of the smoothed loss divided by 10
  (a rule of thumb from fastai's course).  ``rule="steepest"`` is the rate where the smoothed
  loss falls fastest against ``log(lr)`` before its minimum: ``lrs[i]`` for the most negative
  forward difference ``smoothed[i+1] - smoothed[i]`` (the rates are evenly spaced in
  ``log lr``).  The steepest point is the textbook rule but it is fragile: when the descent is
  shallow (plain SGD that hardly trains in 100 steps) a noisy dip at a tiny rate can win, so
  look at the plot.  Both are starting points, not optima: the run is short, and the smoothed
  curve lags.
- **The model is left as it was**: the test trains a deep copy of ``model`` (its parameters,
  BatchNorm running statistics and Dropout generators), so nothing needs restoring afterwards,
  even when the run diverges or raises.  ``rng`` alone draws the mini-batches.
"""
from __future__ import annotations

import copy
import math
from dataclasses import dataclass

import numpy as np

from ._validate import (
    ShapeError, as_array, check_choice, check_int, check_nonnegative, check_positive, check_probability, check_rng,
    check_same_length, shape_str,
)
from .losses import get_loss
from .training import _check_batch_size, _check_optimizer, _Gradients, _labels, _resolve_clip, minibatches

__all__ = ["LRFinderResult", "lr_range_test", "RULES"]

RULES = ("min/10", "steepest")
"""The rules :func:`lr_range_test` can use to suggest a learning rate."""


@dataclass(frozen=True, eq=False)
class LRFinderResult:
    """What a learning-rate range test recorded.

    Attributes
    ----------
    lrs : ndarray (n,)
        Learning rate of each step taken (``n <= n_steps``; fewer when the run diverged).
    losses : ndarray (n,)
        Mini-batch loss at each step, computed before that step's update.
    smoothed : ndarray (n,)
        Bias-corrected exponential moving average of ``losses`` (see the module docstring).
    suggestion : float
        The suggested learning rate, by ``rule``.
    rule : str
        ``"min/10"`` or ``"steepest"``.
    diverged : bool
        True when the run stopped before ``n_steps`` because the loss blew up.
    lr_min, lr_max : float
        The range asked for.
    """

    lrs: np.ndarray
    losses: np.ndarray
    smoothed: np.ndarray
    suggestion: float
    rule: str
    diverged: bool
    lr_min: float
    lr_max: float

    def __repr__(self) -> str:
        end = f"diverged at lr = {self.lrs[-1]:.3g}" if self.diverged else f"reached lr_max = {self.lr_max:g}"
        return (f"LRFinderResult({len(self.lrs)} steps from lr = {self.lr_min:g}, {end}; "
                f"suggestion = {self.suggestion:.3g} by rule {self.rule!r})")

    def plot(self, ax=None):
        """Loss against learning rate (log scale): raw losses, the smoothed curve, the suggestion.

        Parameters
        ----------
        ax : matplotlib Axes or None (a new figure)

        Returns
        -------
        The Axes drawn on.
        """
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(6.0, 3.8))
        ax.plot(self.lrs, self.losses, color="0.75", linewidth=1, label="mini-batch loss")
        ax.plot(self.lrs, self.smoothed, color="C0", linewidth=2, label="smoothed")
        ax.axvline(self.suggestion, color="C3", linestyle="--", label=f"suggestion {self.suggestion:.2g} ({self.rule})")
        ax.set_xscale("log")
        ax.set_xlabel("learning rate")
        ax.set_ylabel("loss")
        # the blow-up at the end would squash the interesting part: cap the y axis
        finite = self.smoothed[np.isfinite(self.smoothed)]
        if finite.size:
            lo, hi = float(np.min(self.losses)), float(min(np.max(self.losses), 2.0 * finite[0]))
            if hi > lo:
                ax.set_ylim(lo - 0.05 * (hi - lo), hi + 0.05 * (hi - lo))
        ax.grid(True, which="both", alpha=0.3)
        ax.legend()
        return ax


def _suggest(lrs: np.ndarray, smoothed: np.ndarray, rule: str, n_steps: int) -> float:
    # fastai's window: drop the first n_steps // 10 points (the average has seen few batches)
    # and the last 5 (the blow-up), unless that leaves fewer than 2
    lo, hi = n_steps // 10, len(lrs) - 5
    if hi - lo < 2:
        lo, hi = 0, len(lrs)
    lrs, smoothed = lrs[lo:hi], smoothed[lo:hi]
    if rule == "min/10":
        return float(lrs[int(np.argmin(smoothed))] / 10.0)
    # steepest descent of the smoothed curve against log(lr) before its minimum: the rates are
    # evenly spaced in log(lr), so the most negative forward difference up to the minimum
    lowest = max(int(np.argmin(smoothed)), 1)
    return float(lrs[int(np.argmin(np.diff(smoothed[: lowest + 1])))])


def lr_range_test(
    model,
    X,
    y,
    *,
    loss,
    optimizer,
    rng: np.random.Generator,
    lr_min: float = 1e-6,
    lr_max: float = 10.0,
    n_steps: int = 100,
    batch_size: int | None = 32,
    beta: float = 0.98,
    diverge_factor: float = 4.0,
    rule: str = "min/10",
    l2: float = 0.0,
    clip=None,
) -> LRFinderResult:
    """Run a learning-rate range test on a copy of ``model`` and suggest a learning rate.

    Parameters
    ----------
    model : Sequential
        Not modified: a deep copy is trained (see the module docstring).
    X : array_like (N, D)
    y : array_like (N,) or (N, K)
        Labels or targets in the form ``loss`` expects.
    loss : str or nnkit.losses.Loss
        As in :func:`nnkit.training.fit` (batch-mean convention).
    optimizer : nnkit.optimizers.Optimizer
        Its hyperparameters other than ``lr`` are used; a copy gets ``lr = lrs[i]`` at step i
        and a fresh state. The object passed in is not changed.
    rng : numpy.random.Generator
        Shuffles the samples (one permutation per pass over the data).
    lr_min, lr_max : float, 0 < lr_min < lr_max
        The range swept, geometrically. Typical: 1e-6 to 10.
    n_steps : int >= 2
        Number of mini-batches (= rates). Each is a fresh batch of ``batch_size`` samples; a
        pass over the data that leaves an incomplete batch at its end skips it (so every loss
        averages the same number of samples) and a new pass, reshuffled, begins.
    batch_size : int or None
        As in :func:`nnkit.training.minibatches` (None: the full batch at every step).
    beta : float in [0, 1)
        Smoothing of the recorded losses (0: none).
    diverge_factor : float > 1
        Stop once the smoothed loss exceeds this multiple of its lowest value so far.
    rule : {"min/10", "steepest"}
        How to pick the suggestion (see the module docstring).
    l2 : float >= 0
        L2 strength added to the weight gradients, as in :func:`nnkit.training.fit`.
    clip : None, float or callable
        Gradient clipping, as in :func:`nnkit.training.fit`.

    Returns
    -------
    LRFinderResult

    Raises
    ------
    ValueError
        A bad range (``lr_min <= 0``, ``lr_max <= lr_min``), a bad argument, or a loss that is
        not finite at the very first step (before any update: look at the data and the model).
    FloatingPointError
        The loss blew up after a single step, so there is no curve to read: lower ``lr_min``.
    """
    X = as_array(X, "X", ndim=2)
    y = _labels(y, "y")
    check_same_length(X, y, "X", "y")
    check_rng(rng)
    lr_min = check_positive(lr_min, "lr_min")
    lr_max = check_positive(lr_max, "lr_max")
    if not lr_max > lr_min:
        raise ValueError(f"lr_max must be > lr_min (the rate grows from lr_min to lr_max); got lr_min={lr_min:g}, lr_max={lr_max:g}")
    n_steps = check_int(n_steps, "n_steps", 2)
    size = _check_batch_size(batch_size, X.shape[0])
    beta = check_probability(beta, "beta", high_open=True)
    diverge_factor = check_positive(diverge_factor, "diverge_factor")
    if diverge_factor <= 1.0:
        raise ValueError(f"diverge_factor must be > 1 (a multiple of the best loss); got {diverge_factor}")
    check_choice(rule, "rule", RULES)
    loss = get_loss(loss)
    l2 = check_nonnegative(l2, "l2")
    clipper = _resolve_clip(clip)
    for attr in ("params", "forward", "backward"):
        if not hasattr(model, attr):
            raise TypeError(f"model must be an nnkit model (params, forward, backward); got {type(model).__name__}")
    _check_optimizer(optimizer)
    n_in = getattr(model, "n_in", None)
    if n_in is not None and X.shape[1] != n_in:
        raise ShapeError(f"X must have shape (N, {n_in}) for this model; got {shape_str(X.shape)}")

    lrs = lr_min * (lr_max / lr_min) ** (np.arange(n_steps) / (n_steps - 1))
    lrs[-1] = lr_max  # exactly, not up to round-off
    trial = copy.deepcopy(model)
    losses, smoothed, diverged = _sweep(trial, _full_batches(X, y, size, rng), lrs, loss, optimizer,
                                        _Gradients(trial, l2, clipper), beta, diverge_factor)
    n = len(losses)
    if n < 2:
        raise FloatingPointError(
            f"the loss blew up after {n} step at lr = {lrs[0]:g}: there is no curve to read; lower lr_min"
        )
    lrs = lrs[:n].copy()
    return LRFinderResult(lrs=lrs, losses=losses, smoothed=smoothed, suggestion=_suggest(lrs, smoothed, rule, n_steps),
                          rule=rule, diverged=diverged, lr_min=lr_min, lr_max=lr_max)


def _full_batches(X, y, size: int, rng):
    """Mini-batches of exactly ``size`` samples, pass after pass, each pass reshuffled."""
    while True:
        for Xb, yb in minibatches(X, y, size, rng):
            if len(Xb) == size:  # an incomplete batch at the end of a pass is skipped
                yield Xb, yb


def _sweep(trial, batches, lrs, loss, optimizer, gradients: _Gradients, beta: float, diverge_factor: float):
    """Train ``trial`` one batch per rate: ``(losses, smoothed losses, diverged)`` (module docstring)."""
    opt = copy.copy(optimizer)
    state = opt.init_state(gradients.params)
    losses: list[float] = []
    smoothed: list[float] = []
    avg, best = 0.0, math.inf
    with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):
        for i, (lr, (Xb, yb)) in enumerate(zip(lrs, batches)):
            out, cache = trial.forward(Xb, training=True)
            finite = bool(np.all(np.isfinite(out)))
            if finite:  # the losses refuse a non-finite y_pred
                value, dout = loss.value_and_grad(out, yb)
                finite = math.isfinite(value) and bool(np.all(np.isfinite(dout)))
            if not finite:
                if i == 0:
                    raise ValueError(
                        "the loss is not finite at the first step, before any update: check X, y and the model"
                    )
                return np.array(losses), np.array(smoothed), True
            avg = beta * avg + (1.0 - beta) * value
            smooth = avg / (1.0 - beta ** (i + 1))
            losses.append(float(value))
            smoothed.append(float(smooth))
            best = min(best, smooth)
            if smooth > diverge_factor * best:
                return np.array(losses), np.array(smoothed), True
            grads = gradients(dout, cache)
            if not all(np.all(np.isfinite(g)) for g in grads.values()):
                return np.array(losses), np.array(smoothed), True
            opt.lr = float(lr)
            opt.step(gradients.params, grads, state)
    return np.array(losses), np.array(smoothed), False
