"""Loss functions and their gradients.

Every loss comes as a pair::

    loss(y_pred, y_true)       -> float           (a Python float)
    loss_grad(y_pred, y_true)  -> dL/dy_pred      (same shape and dtype as y_pred)

Conventions (texts disagree on these; nnkit picks one and says so)
-------------------------------------------------------------------
- **Argument order** is ``loss(y_pred, y_true)``, prediction first, as in PyTorch
  (scikit-learn's metrics use the reverse order). For the losses that take raw scores the
  first argument is named ``logits``.
- **Batch mean.** Samples are rows (axis 0, N of them). Every loss is an *average*, never a
  sum, so its size does not grow with the batch and a learning rate carries over between
  batch sizes:

  - elementwise losses (``mse``, ``half_mse``, ``mae``, ``binary_cross_entropy``,
    ``binary_cross_entropy_with_logits``) average over **all entries** (N for shape (N,),
    N*K for shape (N, K)); this is PyTorch's ``reduction='mean'``;
  - distribution losses (``softmax_cross_entropy``, ``kl_divergence``, ``hellinger``) **sum
    over the K classes of a sample and average over the N samples** (PyTorch's
    ``cross_entropy`` and ``kl_div(..., reduction='batchmean')``).

  The gradient carries the same 1/N (or 1/(N K)): summing the per-batch gradients of an epoch
  is *not* the full-data gradient unless the batches are weighted.
- **MSE** comes in two named forms: the *mean form* ``mse = mean((p - y)^2)`` with gradient
  ``2 (p - y) / size``, and *the 1/2 form* ``half_mse = 0.5 * mean((p - y)^2)`` with gradient
  ``(p - y) / size``. The 1/2 only cancels the 2 of the derivative; the minimiser is the same.
  (Slides also write 1/n, 1/(2m) or a plain sum; each gradient must match its own loss.)
- **Matched pairs.** The output error ``dL/dz = a - y`` (divided by N here) holds for sigmoid
  output + binary cross-entropy and for softmax output + categorical cross-entropy. It does
  not hold for MSE on a sigmoid output: there ``dL/dz = (a - y) * sigma'(z)`` (for the 1/2
  form, over N). That is why the ``*_with_logits`` and ``softmax_cross_entropy`` functions
  take scores: they fuse the matched pair and are numerically stable.
- **KL direction.** ``kl_divergence(y_pred, y_true) = KL(y_true || y_pred)
  = sum_k y_true log(y_true / y_pred)``: the target distribution weighs the log ratio, as in
  PyTorch's ``kl_div`` and in the slides' cost. ``0 log 0 = 0``.
- **Hellinger** is ``(1/sqrt2) * sqrt(sum_k (sqrt p_k - sqrt q_k)^2)``, *with* the square root;
  it lies in [0, 1] for probability vectors. (Without the root, as some slides print it, the
  value reaches sqrt2 for distributions with disjoint support.)

Input checks
------------
Arguments go through :mod:`nnkit._loss_checks` (built on :mod:`nnkit._validate`): mismatched shapes (never broadcast: a (N,) target
against a (N, 1) prediction would silently become an (N, N) loss), mismatched sample counts,
labels out of range, probabilities outside [0, 1], NaN/Inf and empty batches all raise an
error naming the argument, the expected and the actual value. ``y_true`` is converted to
``y_pred``'s dtype, so a float32 model gets float32 gradients.
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Callable

import numpy as np

from ._loss_checks import (
    cross_entropy_inputs, distributions, logit_targets, prediction, probabilities, target_like,
)
from ._validate import check_choice
from .activations import sigmoid

__all__ = [
    "Loss",
    "LOSSES",
    "get_loss",
    "mse",
    "mse_grad",
    "half_mse",
    "half_mse_grad",
    "mae",
    "mae_grad",
    "binary_cross_entropy",
    "binary_cross_entropy_grad",
    "binary_cross_entropy_with_logits",
    "binary_cross_entropy_with_logits_grad",
    "softmax_cross_entropy",
    "softmax_cross_entropy_grad",
    "softmax_cross_entropy_value_and_grad",
    "kl_divergence",
    "kl_divergence_grad",
    "hellinger",
    "hellinger_grad",
    "BCE_LOG_CLAMP",
    "BCE_GRAD_EPS",
]

#: ``binary_cross_entropy`` clamps ``log p`` and ``log(1 - p)`` at this value (PyTorch's choice),
#: so ``p = 0`` or ``p = 1`` gives a large finite loss (at most 100 per entry) instead of inf.
BCE_LOG_CLAMP = -100.0
#: ``binary_cross_entropy_grad`` divides by ``max(p (1 - p), BCE_GRAD_EPS)``: PyTorch's 1e-12,
#: which PyTorch stores as a float32 (9.99999996e-13); the same number is used here so the
#: gradients at p = 0 or 1 agree with PyTorch's to the last digit.
BCE_GRAD_EPS = float(np.float32(1e-12))

_SQRT2 = math.sqrt(2.0)


# --------------------------------------------------------------------------- regression losses
def _residual(y_pred, y_true) -> np.ndarray:
    """``y_pred - y_true`` (same shape, no broadcasting), in the predictions' dtype."""
    p = prediction(y_pred)
    return p - target_like(y_true, p, "y_pred")


def mse(y_pred, y_true) -> float:
    """Mean squared error, the mean form: ``mean((y_pred - y_true)^2)`` over all entries.

    Parameters
    ----------
    y_pred, y_true : array_like, same shape (N,) or (N, K) (any shape works)

    Returns
    -------
    float. Matches ``torch.nn.functional.mse_loss`` (reduction='mean'). See :func:`half_mse`
    for the 1/2 form.
    """
    d = _residual(y_pred, y_true)
    return float(np.mean(d * d))


def mse_grad(y_pred, y_true) -> np.ndarray:
    """Gradient of :func:`mse` wrt ``y_pred``: ``2 (y_pred - y_true) / size``; shape of y_pred."""
    d = _residual(y_pred, y_true)
    return d * (2.0 / d.size)


def half_mse(y_pred, y_true) -> float:
    """Mean squared error, the 1/2 form: ``0.5 * mean((y_pred - y_true)^2)`` over all entries.

    Half of :func:`mse`; the 1/2 makes the gradient the plain residual over the size.
    Shapes as :func:`mse`.
    """
    return 0.5 * mse(y_pred, y_true)


def half_mse_grad(y_pred, y_true) -> np.ndarray:
    """Gradient of :func:`half_mse` wrt ``y_pred``: ``(y_pred - y_true) / size``; shape of y_pred."""
    d = _residual(y_pred, y_true)
    return d * (1.0 / d.size)


def mae(y_pred, y_true) -> float:
    """Mean absolute error ``mean(|y_pred - y_true|)`` over all entries (``F.l1_loss``).

    Shapes as :func:`mse`.
    """
    return float(np.mean(np.abs(_residual(y_pred, y_true))))


def mae_grad(y_pred, y_true) -> np.ndarray:
    """Gradient of :func:`mae` wrt ``y_pred``: ``sign(y_pred - y_true) / size``.

    Convention: 0 where ``y_pred == y_true`` (the kink; PyTorch's choice, a valid subgradient).
    """
    d = _residual(y_pred, y_true)
    return np.sign(d) * (1.0 / d.size)


# --------------------------------------------------------------------------- binary classification
def binary_cross_entropy(y_pred, y_true) -> float:
    """Binary cross-entropy on probabilities: ``-mean(y log p + (1 - y) log(1 - p))``.

    Parameters
    ----------
    y_pred : array_like, shape (N,) or (N, K)
        Predicted probabilities p in [0, 1] (a sigmoid output). Values outside raise ValueError.
    y_true : array_like, same shape
        Targets in [0, 1] (usually 0/1; soft targets allowed). Only 0s and 1s in ``y_pred``
        beside soft values in ``y_true`` raise ValueError: the arguments look swapped.

    Returns
    -------
    float, averaged over all entries. Both logs are clamped at ``BCE_LOG_CLAMP = -100``
    (PyTorch's ``F.binary_cross_entropy`` convention), so p = 0 or 1 gives a finite loss.
    For raw scores use :func:`binary_cross_entropy_with_logits`, which is exact and stable.
    """
    p, y = probabilities(y_pred, y_true, "binary_cross_entropy")
    with np.errstate(divide="ignore"):  # log(0) = -inf, clamped just below
        log_p = np.maximum(np.log(p), BCE_LOG_CLAMP)
        log_1mp = np.maximum(np.log1p(-p), BCE_LOG_CLAMP)
    return float(-np.mean(y * log_p + (1.0 - y) * log_1mp))


def binary_cross_entropy_grad(y_pred, y_true) -> np.ndarray:
    """Gradient of :func:`binary_cross_entropy` wrt ``y_pred``: ``(p - y) / (p (1 - p)) / size``.

    The denominator is floored at ``BCE_GRAD_EPS`` (1e-12, PyTorch's convention), so p = 0 or 1
    gives a large finite gradient. Through a sigmoid (``p = sigma(z)``, ``dp/dz = p (1 - p)``)
    this becomes ``(p - y) / size``: the matched-pair rule.
    """
    p, y = probabilities(y_pred, y_true, "binary_cross_entropy_grad")
    return (p - y) / (np.maximum(p * (1.0 - p), BCE_GRAD_EPS) * p.size)


def binary_cross_entropy_with_logits(logits, y_true) -> float:
    """Binary cross-entropy of ``sigmoid(logits)`` against ``y_true``, computed from the scores.

    Per entry ``max(z, 0) - z y + log1p(exp(-|z|))``, which equals
    ``-(y log sigma(z) + (1 - y) log(1 - sigma(z)))`` but never overflows and never takes log 0:
    z = -1000 with y = 1 gives exactly 1000 (the probability form would clamp at 100).

    Parameters
    ----------
    logits : array_like, shape (N,) or (N, K)
        Raw scores z (any real values).
    y_true : array_like, same shape; targets in [0, 1].

    Returns
    -------
    float, averaged over all entries (``F.binary_cross_entropy_with_logits``).
    """
    z, y = logit_targets(logits, y_true)
    return float(np.mean(np.maximum(z, 0) - z * y + np.log1p(np.exp(-np.abs(z)))))


def binary_cross_entropy_with_logits_grad(logits, y_true) -> np.ndarray:
    """Gradient of :func:`binary_cross_entropy_with_logits` wrt ``logits``: ``(sigmoid(z) - y) / size``."""
    z, y = logit_targets(logits, y_true)
    return (sigmoid(z) - y) * (1.0 / z.size)


# --------------------------------------------------------------------------- multi-class
def _row_max(z: np.ndarray) -> np.ndarray:
    """Maximum of each row of a 2-D array, shape (N, 1).

    With few columns (K classes) ``z.max(axis=1)`` spends its time on per-row bookkeeping;
    reducing a column-major copy walks contiguous columns instead and is 4-6x faster for
    K = 10. Same result either way.
    """
    if z.shape[1] <= 64:
        z = np.asfortranarray(z)
    return np.maximum.reduce(z, axis=1, keepdims=True)  # z.max(axis=1, keepdims=True)


def _row_sum(e: np.ndarray) -> np.ndarray:
    """Sum of each row of a 2-D array, shape (N,): a matrix-vector product with ones (BLAS),
    several times faster than ``e.sum(axis=1)`` for few columns."""
    return e @ _ones(e.shape[1], e.dtype)


@functools.lru_cache(maxsize=32)
def _ones(k: int, dtype: np.dtype) -> np.ndarray:
    """A read-only vector of k ones (cached: it is needed on every training step)."""
    v = np.ones(k, dtype=dtype)
    v.flags.writeable = False
    return v


def _log_sum_exp_parts(z: np.ndarray):
    """``shifted = z - rowmax``, ``e = exp(shifted)`` and ``sum(e)`` per row, shape (N, 1)."""
    shifted = z - _row_max(z)
    e = np.exp(shifted)
    sumexp = _row_sum(e)[:, None]
    return shifted, e, sumexp


def _softmax_cross_entropy(z, labels, Y, want_loss: bool, want_grad: bool):
    """The arithmetic of softmax cross-entropy, written once: ``(loss or None, grad or None)``.

    ``log softmax(z)_k = (z_k - m) - log sum_j exp(z_j - m)`` with m the row maximum (no
    overflow, no log 0); the gradient is ``(softmax(z) - Y) / N``, built in the exp buffer
    (for integer labels without building the one-hot Y).
    """
    n = z.shape[0]
    rows = np.arange(n)
    shifted, e, sumexp = _log_sum_exp_parts(z)
    loss = grad = None
    if want_loss:
        if labels is not None:  # -log softmax at the true class
            loss = float((np.log(sumexp).sum() - shifted[rows, labels].sum()) / n)
        else:
            loss = float(-np.sum(Y * (shifted - np.log(sumexp))) / n)
    if want_grad:
        grad = e
        if labels is not None:
            grad /= sumexp * n  # softmax(z) / N
            grad[rows, labels] -= 1.0 / n  # minus one-hot / N
        else:
            grad /= sumexp  # softmax(z)
            grad -= Y
            grad *= 1.0 / n
    return loss, grad


def softmax_cross_entropy(logits, y_true) -> float:
    """Categorical cross-entropy of ``softmax(logits)`` against the targets, from the scores.

    ``L = -(1/N) sum_n sum_k Y[n, k] log softmax(z_n)_k``, computed with log-sum-exp:
    ``log softmax(z)_k = (z_k - m) - log sum_j exp(z_j - m)``, m the row maximum, so it never
    overflows or takes log 0. Matches ``torch.nn.functional.cross_entropy``.

    Parameters
    ----------
    logits : array_like, shape (N, K)
        Raw scores, one row per sample (do *not* apply softmax first).
    y_true : array_like
        Either integer class labels of shape (N,) with values in 0..K-1, or probability rows of
        shape (N, K) (one-hot or soft targets; each row must sum to 1).

    Returns
    -------
    float: summed over the K classes, averaged over the N samples.
    """
    return _softmax_cross_entropy(*cross_entropy_inputs(logits, y_true), True, False)[0]


def softmax_cross_entropy_grad(logits, y_true) -> np.ndarray:
    """Gradient of :func:`softmax_cross_entropy` wrt ``logits``: ``(softmax(z) - Y) / N``.

    The "p - y" rule of the softmax + cross-entropy pair (Y one-hot for integer labels),
    with the 1/N of the batch mean. Shape (N, K), dtype of ``logits``.
    """
    return _softmax_cross_entropy(*cross_entropy_inputs(logits, y_true), False, True)[1]


def softmax_cross_entropy_value_and_grad(logits, y_true) -> tuple[float, np.ndarray]:
    """Loss and gradient together, sharing one validation and one softmax (the training hot path).

    Returns ``(softmax_cross_entropy(logits, y_true), softmax_cross_entropy_grad(logits, y_true))``.
    """
    return _softmax_cross_entropy(*cross_entropy_inputs(logits, y_true), True, True)


def kl_divergence(y_pred, y_true) -> float:
    """Kullback-Leibler divergence ``KL(y_true || y_pred) = sum_k y_true_k log(y_true_k / y_pred_k)``.

    Per sample (row), then averaged over the N samples (PyTorch's
    ``F.kl_div(log(y_pred), y_true, reduction='batchmean')``; note that ``kl_div`` takes the
    *log* of the prediction and the target in the reverse order).

    Parameters
    ----------
    y_pred : array_like, shape (N, K), or (K,) for one sample
        Predicted distribution (entries in [0, 1], rows summing to 1). Must be > 0 wherever
        ``y_true`` is > 0, else the divergence is infinite and a ValueError says where.
    y_true : array_like, same shape; target distribution.

    Returns
    -------
    float >= 0 (for normalised rows), 0 iff the distributions agree. ``0 log 0 = 0``: classes
    with ``y_true = 0`` contribute nothing. Minimising it in y_pred is the same as minimising
    cross-entropy (they differ by the entropy of y_true, a constant).
    """
    p, q = distributions(y_pred, y_true)
    mask = _kl_support(p, q)
    qm, pm = q[mask], p[mask]
    return float(np.sum(qm * (np.log(qm) - np.log(pm))) / (p.shape[0] if p.ndim == 2 else 1))


def kl_divergence_grad(y_pred, y_true) -> np.ndarray:
    """Gradient of :func:`kl_divergence` wrt ``y_pred``: ``-y_true / y_pred / N`` (0 where y_true = 0)."""
    p, q = distributions(y_pred, y_true)
    mask = _kl_support(p, q)
    grad = np.zeros_like(p)
    grad[mask] = -q[mask] / p[mask]
    return grad * (1.0 / (p.shape[0] if p.ndim == 2 else 1))


def _kl_support(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    mask = q > 0
    zero = mask & (p == 0)
    if zero.any():
        where = tuple(int(i) for i in np.argwhere(zero)[0])
        raise ValueError(
            f"y_pred must be > 0 wherever y_true > 0 (KL(y_true || y_pred) is infinite otherwise); "
            f"y_pred is 0 at index {where} where y_true = {q[where]}"
        )
    return mask


def _hellinger_parts(p: np.ndarray, q: np.ndarray):
    p2, q2 = (p, q) if p.ndim == 2 else (p[None, :], q[None, :])
    sp, sq = np.sqrt(p2), np.sqrt(q2)
    d = sp - sq
    norm = np.sqrt(np.sum(d * d, axis=1))  # ||sqrt p - sqrt q||_2 per sample
    return sp, sq, norm


def hellinger(y_pred, y_true) -> float:
    """Hellinger distance ``H(p, q) = (1/sqrt2) * sqrt(sum_k (sqrt p_k - sqrt q_k)^2)``.

    The correct form has the square root outside the sum (some slides drop it). Per sample,
    then averaged over the N samples. Symmetric in its arguments.

    Parameters
    ----------
    y_pred, y_true : array_like, same shape (N, K), or (K,) for one sample
        Probability vectors (entries in [0, 1], rows summing to 1).

    Returns
    -------
    float in [0, 1]: 0 iff the distributions agree, 1 iff their supports are disjoint.
    """
    p, q = distributions(y_pred, y_true)
    _, _, norm = _hellinger_parts(p, q)
    return float(np.mean(norm) / _SQRT2)


def hellinger_grad(y_pred, y_true) -> np.ndarray:
    """Gradient of :func:`hellinger` wrt ``y_pred``.

    ``dH/dp_k = (1 - sqrt(q_k / p_k)) / (2 sqrt2 * ||sqrt p - sqrt q||) / N``.

    Where it is undefined, this convention is used:

    - ``p == q`` for a sample (the minimum, where the square root has a kink): gradient 0 for
      that sample (a valid subgradient);
    - ``p_k = 0 = q_k``: the one-sided limit, ``1 / (2 sqrt2 ||sqrt p - sqrt q||) / N``;
    - ``p_k = 0 < q_k``: the derivative is -inf; ``sqrt p_k`` is floored at
      ``sqrt(finfo.tiny)`` (about 1.5e-154 in float64) in the denominator, giving a huge finite
      negative gradient (push p_k up).
    """
    p, q = distributions(y_pred, y_true)
    sp, sq, norm = _hellinger_parts(p, q)
    # Floor sqrt(p) so that |grad| <= 1 / (2 sqrt2 floor) stays finite in the dtype.
    ratio = sq / np.maximum(sp, math.sqrt(np.finfo(p.dtype).tiny))
    safe = np.where(norm > 0, norm, 1.0)[:, None]
    grad = np.where(norm[:, None] > 0, (1.0 - ratio) / (2.0 * _SQRT2 * safe), 0.0)
    grad = grad.astype(p.dtype, copy=False) * (1.0 / sp.shape[0])
    return grad if p.ndim == 2 else grad[0]


# --------------------------------------------------------------------------- registry
@dataclass(frozen=True)
class Loss:
    """One loss, as a dropdown or a training loop needs it.

    Attributes
    ----------
    name : str
    fn : callable
        ``fn(y_pred, y_true) -> float``.
    grad : callable
        ``grad(y_pred, y_true) -> dL/dy_pred`` (shape of y_pred).
    formula : str
        LaTeX, with the batch-mean convention.
    value_and_grad_fn : callable or None
        A fused ``(y_pred, y_true) -> (float, grad)`` when one exists (softmax cross-entropy).
    """

    name: str
    fn: Callable
    grad: Callable
    formula: str
    value_and_grad_fn: Callable | None = None

    def __call__(self, y_pred, y_true) -> float:
        return self.fn(y_pred, y_true)

    def value_and_grad(self, y_pred, y_true) -> tuple[float, np.ndarray]:
        """``(fn(y_pred, y_true), grad(y_pred, y_true))``, fused when the loss offers it."""
        if self.value_and_grad_fn is not None:
            return self.value_and_grad_fn(y_pred, y_true)
        return self.fn(y_pred, y_true), self.grad(y_pred, y_true)


LOSSES: dict[str, Loss] = {
    l.name: l
    for l in (
        Loss("mse", mse, mse_grad, r"L = \frac{1}{NK}\sum_{n,k} (\hat y_{nk} - y_{nk})^2"),
        Loss("half_mse", half_mse, half_mse_grad, r"L = \frac{1}{2NK}\sum_{n,k} (\hat y_{nk} - y_{nk})^2"),
        Loss("mae", mae, mae_grad, r"L = \frac{1}{NK}\sum_{n,k} |\hat y_{nk} - y_{nk}|"),
        Loss(
            "binary_cross_entropy", binary_cross_entropy, binary_cross_entropy_grad,
            r"L = -\frac{1}{NK}\sum_{n,k} \left[y_{nk}\ln p_{nk} + (1 - y_{nk})\ln(1 - p_{nk})\right]",
        ),
        Loss(
            "binary_cross_entropy_with_logits", binary_cross_entropy_with_logits,
            binary_cross_entropy_with_logits_grad,
            r"L = -\frac{1}{NK}\sum_{n,k} \left[y_{nk}\ln \sigma(z_{nk}) + (1 - y_{nk})\ln(1 - \sigma(z_{nk}))\right]",
        ),
        Loss(
            "softmax_cross_entropy", softmax_cross_entropy, softmax_cross_entropy_grad,
            r"L = -\frac{1}{N}\sum_{n}\sum_{k} Y_{nk} \ln \mathrm{softmax}(z_n)_k",
            softmax_cross_entropy_value_and_grad,
        ),
        Loss(
            "kl_divergence", kl_divergence, kl_divergence_grad,
            r"L = \frac{1}{N}\sum_{n}\sum_{k} y_{nk} \ln\frac{y_{nk}}{\hat y_{nk}}",
        ),
        Loss(
            "hellinger", hellinger, hellinger_grad,
            r"L = \frac{1}{N}\sum_{n} \frac{1}{\sqrt{2}}\sqrt{\sum_{k} \left(\sqrt{\hat y_{nk}} - \sqrt{y_{nk}}\right)^2}",
        ),
    )
}


def get_loss(name: str) -> Loss:
    """Look up a loss by name; ValueError listing the choices otherwise. A :class:`Loss` passes through."""
    if isinstance(name, Loss):
        return name
    check_choice(name, "loss name", LOSSES)
    return LOSSES[name]
