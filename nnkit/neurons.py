"""Single neurons, from McCulloch-Pitts (1943) to Rosenblatt's perceptron (1958) and Adaline (1960).

Contents
--------
- :class:`McCullochPitts` and :func:`mcp_gate`: a fixed threshold unit on binary inputs.
- :func:`preactivation`: the weighted sum ``z = x @ w + b`` every neuron starts from.
- :func:`train_perceptron`: Rosenblatt's mistake-driven rule, in the +-1 and the 0/1 label
  conventions, which stops with a *report* (converged, cycle, or epoch cap), never loops forever.
- :func:`train_adaline`: the delta rule (least-mean-squares), batch or one sample at a time.
- :func:`logic_gate`: the truth tables of AND, OR, NAND, NOR and XOR as tiny datasets.
- :func:`xor_network`: a two-layer network of step units with hand-set weights computing XOR.

Conventions used throughout
---------------------------
- Rows are samples: ``X`` has shape (N, D), weights ``w`` shape (D,), bias ``b`` a scalar, so
  ``z = X @ w + b`` has shape (N,). (The slides write one sample as a column vector and
  ``z = w_0 + x^T w`` with the bias called ``w_0``; it is the same number.)
- The step function fires at the threshold: ``step(z) = 1 if z >= 0 else 0``; the units here
  call ``nnkit.activations.step``. A McCulloch-Pitts unit therefore fires when its weighted sum is
  *at least* its threshold.
- Labels: the course slides disagree (some perceptron slides output +-1, others 0/1). Every
  function that takes labels says which convention it uses, and the perceptron takes both,
  selected by name: ``labels="pm1"`` (targets in {-1, +1}) or ``labels="01"`` (targets in {0, 1}).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from . import activations
from ._validate import (
    ShapeError, as_array, check_choice, check_int, check_nonnegative, check_positive, check_real, check_rng,
    check_same_length, shape_str,
)

__all__ = [
    "McCullochPitts", "mcp_gate", "preactivation", "PerceptronResult", "train_perceptron", "AdalineResult",
    "train_adaline", "GATES", "logic_gate", "XOR_NETWORK_WEIGHTS", "xor_network",
]

LABEL_CONVENTIONS = ("pm1", "01")
GATES = ("AND", "OR", "NAND", "NOR", "XOR")


# --------------------------------------------------------------------------------------------
# small helpers
# --------------------------------------------------------------------------------------------
def _step(z: np.ndarray) -> np.ndarray:
    """``nnkit.activations.step`` (``step(0) = 1``) as int64: threshold units output integers."""
    return activations.step(z).astype(np.int64)


def _check_binary(x: np.ndarray, name: str) -> None:
    bad = (x != 0) & (x != 1)
    if bad.any():
        where = tuple(int(i) for i in np.argwhere(bad)[0])
        raise ValueError(f"{name} must be binary (entries 0 or 1); found {x[where]} at index {where}")


def _check_labels(y, labels: str, n: int) -> np.ndarray:
    """Validate a label vector for the named convention; return it as float64 (N,)."""
    y = as_array(y, "y", ndim=1)
    if len(y) != n:
        raise ValueError(f"X and y must have the same number of samples; got {n} and {len(y)}")
    allowed = (-1.0, 1.0) if labels == "pm1" else (0.0, 1.0)
    bad = ~np.isin(y, allowed)
    if bad.any():
        found = sorted(set(np.unique(y).tolist()))
        raise ValueError(
            f"y must hold labels in {{{int(allowed[0])}, {int(allowed[1])}}} for labels={labels!r}; "
            f"found values {found}"
        )
    return y.astype(np.float64, copy=False)


def _initial_params(initial_weights, initial_bias, d: int, dtype):
    if initial_weights is None:
        w = np.zeros(d, dtype=dtype)
    else:
        w = as_array(initial_weights, "initial_weights", shape=(d,)).astype(dtype, copy=True)
    b = dtype.type(check_real(initial_bias, "initial_bias"))
    return w, b


# --------------------------------------------------------------------------------------------
# McCulloch-Pitts unit
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class McCullochPitts:
    """A McCulloch-Pitts threshold unit: fixed weights, binary inputs, binary output.

    Output for one input ``x`` of shape (D,)::

        y = 1  if  sum_j w_j x_j >= threshold  else 0

    Positive weights model excitatory inputs, negative weights inhibitory ones. Nothing is
    learned: the weights and the threshold are chosen by hand (that is the unit's limitation
    that the perceptron removed).

    Parameters
    ----------
    weights : tuple of float, length D
    threshold : float
        The unit fires when the weighted sum reaches it (``>=``, the ``step(0) = 1`` convention).

    Examples
    --------
    >>> AND = McCullochPitts(weights=(1, 1), threshold=2)
    >>> AND([[0, 0], [0, 1], [1, 0], [1, 1]])
    array([0, 0, 0, 1])
    """

    weights: tuple
    threshold: float

    def __post_init__(self):
        w = as_array(self.weights, "weights", ndim=1)
        object.__setattr__(self, "weights", tuple(float(v) for v in w))
        object.__setattr__(self, "threshold", check_real(self.threshold, "threshold"))

    def __call__(self, x) -> np.ndarray:
        """Fire or not. ``x``: binary, shape (D,) -> int 0-d array, or (N, D) -> int array (N,)."""
        d = len(self.weights)
        x = as_array(x, "x", ndim=(1, 2))
        if x.shape[-1] != d:
            raise ShapeError(f"x must have {d} features (last axis); got shape {shape_str(x.shape)}")
        _check_binary(x, "x")
        return _step(x @ np.asarray(self.weights) - self.threshold)


def mcp_gate(name: str) -> McCullochPitts:
    """A hand-wired McCulloch-Pitts unit for a logic gate.

    =====  =========  =========
    gate   weights    threshold
    =====  =========  =========
    AND    (1, 1)     2
    OR     (1, 1)     1
    NAND   (-1, -1)   -1
    NOR    (-1, -1)   0
    NOT    (-1,)      0
    =====  =========  =========

    XOR has no entry: no single threshold unit computes it (its two classes cannot be split by
    one line); asking for it raises ValueError pointing to :func:`xor_network`.
    """
    table = {
        "AND": ((1.0, 1.0), 2.0),
        "OR": ((1.0, 1.0), 1.0),
        "NAND": ((-1.0, -1.0), -1.0),
        "NOR": ((-1.0, -1.0), 0.0),
        "NOT": ((-1.0,), 0.0),
    }
    if isinstance(name, str) and name.upper() == "XOR":
        raise ValueError(
            "name='XOR' has no single threshold unit: XOR is not linearly separable; "
            "use nnkit.neurons.xor_network (two layers)"
        )
    key = check_choice(name.upper() if isinstance(name, str) else name, "name", tuple(table))
    weights, threshold = table[key]
    return McCullochPitts(weights=weights, threshold=threshold)


def preactivation(x, weights, bias) -> np.ndarray | float:
    """Weighted sum of a neuron, ``z = x @ w + b``.

    Parameters
    ----------
    x : array, shape (D,) for one sample or (N, D) for a batch (rows are samples)
    weights : array, shape (D,)
    bias : float  (the slides' ``w_0``)

    Returns
    -------
    z : float for one sample, ndarray (N,) for a batch.

    Example (slide 004's neuron ``g(1 + 3 x1 - 2 x2)``): ``preactivation([-1, 2], [3, -2], 1)``
    gives ``1 - 3 - 4 = -6``.
    """
    x = as_array(x, "x", ndim=(1, 2))
    w = as_array(weights, "weights", ndim=1)
    if x.shape[-1] != w.shape[0]:
        raise ShapeError(
            f"x must have {w.shape[0]} features (len(weights)) on its last axis; got shape {shape_str(x.shape)}"
        )
    b = check_real(bias, "bias")
    z = x @ w + b
    return float(z) if x.ndim == 1 else z


@dataclass(frozen=True)
class _LinearUnit:
    """A trained single unit: ``weights`` (D,) and ``bias``, and its linear output."""

    weights: np.ndarray
    bias: float

    def decision_function(self, X) -> np.ndarray:
        """The linear output ``z = X @ w + b``; ``X`` (N, D) -> (N,)."""
        X = as_array(X, "X", ndim=2, shape=(None, len(self.weights)))
        return X @ self.weights + self.bias


# --------------------------------------------------------------------------------------------
# Rosenblatt's perceptron rule
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PerceptronResult(_LinearUnit):
    """What :func:`train_perceptron` found.

    Attributes
    ----------
    weights : ndarray (D,)
    bias : float
    converged : bool
        True when an epoch went by without a single mistake.
    epochs : int
        Number of full passes made (the clean pass included when converged).
    mistakes : tuple of int
        Mistakes (weight updates) made in each epoch; ``len(mistakes) == epochs``.
    status : str
        ``"converged"``, ``"cycle"`` (a repeated weight state: provably never converges) or
        ``"max_epochs"`` (stopped by the cap, undecided).
    reason : str
        One sentence explaining ``status``.
    labels : str
        The label convention used, ``"pm1"`` or ``"01"``.
    """

    converged: bool
    epochs: int
    mistakes: tuple
    status: str
    reason: str
    labels: str

    def predict(self, X) -> np.ndarray:
        """Class labels (N,) as int64, in this result's convention (+-1 or 0/1); ``z >= 0`` is the
        positive class."""
        pos = self.decision_function(X) >= 0
        neg = -1 if self.labels == "pm1" else 0
        return np.where(pos, 1, neg).astype(np.int64)


def train_perceptron(
    X,
    y,
    *,
    labels: str = "pm1",
    lr: float = 1.0,
    max_epochs: int = 1000,
    initial_weights=None,
    initial_bias: float = 0.0,
) -> PerceptronResult:
    """Rosenblatt's perceptron learning rule, run until it provably succeeds or fails.

    Samples are visited in the given order, one epoch after another. After each sample the
    weights change only if that sample was a *mistake*.

    Parameters
    ----------
    X : array (N, D)
        Rows are samples.
    y : array (N,)
        Targets in the convention named by ``labels``.
    labels : {"pm1", "01"}
        The slides use both, so the convention is named, never guessed:

        - ``"pm1"``: targets t in {-1, +1}. A sample is a mistake when ``t * z <= 0`` (a point
          exactly on the boundary counts as a mistake). Update: ``w += lr * t * x``,
          ``b += lr * t``. This is the textbook form behind the convergence proof.
        - ``"01"``: targets t in {0, 1}, output ``yhat = step(z)`` with ``step(0) = 1``. Update
          (slide 002's rule): ``w += lr * (t - yhat) * x``, ``b += lr * (t - yhat)``, which is
          zero when the sample is right.

        Both rules only update on samples with ``t' z <= 0`` (t' the +-1 form of t), so the
        perceptron convergence theorem covers both.
    lr : float > 0
        Learning rate. With the default zero start it only rescales w and b, so it does not
        change which samples are misclassified.
    max_epochs : int >= 1
        Hard cap on the number of epochs.
    initial_weights : array (D,), optional
        Default zeros (the classic start).
    initial_bias : float

    Returns
    -------
    PerceptronResult
        weights, bias, converged, epochs, mistakes per epoch, status and reason.

    Notes
    -----
    Stopping, three ways:

    1. **converged**: an epoch with no mistakes. The perceptron convergence theorem (Novikoff,
       1962) guarantees this after at most ``(R / gamma)^2`` updates when the data are linearly
       separable with margin ``gamma`` and radius ``R``.
    2. **cycle**: the weights and bias at the start of an epoch equal those at the start of an
       earlier epoch. Each epoch is a deterministic function of the starting state (fixed
       sample order), so the run repeats the same epochs, mistakes included, forever; it can
       never converge. By the theorem above this proves the data are not linearly separable
       (exactly so in exact arithmetic; with integer inputs such as the logic gates the
       floating-point arithmetic *is* exact). On XOR this is detected after a few epochs.
    3. **max_epochs**: neither happened within the cap (non-integer data rarely repeat a state
       bit for bit). The run is undecided: either non-separable or a small margin.
    """
    labels = check_choice(labels, "labels", LABEL_CONVENTIONS)
    X = as_array(X, "X", ndim=2)
    t = _check_labels(y, labels, len(X))
    lr = check_positive(lr, "lr")
    max_epochs = check_int(max_epochs, "max_epochs", 1)
    w, b = _initial_params(initial_weights, initial_bias, X.shape[1], X.dtype)

    seen: dict[bytes, int] = {}  # state at the start of an epoch -> that epoch's index
    mistakes: list[int] = []
    status = reason = ""
    while True:
        epoch = len(mistakes)
        state = w.tobytes() + b.tobytes()
        if state in seen:
            first = seen[state]
            status = "cycle"
            span = f"epoch {epoch}" if first + 1 == epoch else f"epochs {first + 1}-{epoch}"
            reason = (
                f"cycle: the weights at the start of epoch {epoch + 1} equal those at the start of "
                f"epoch {first + 1}, so {span} ({sum(mistakes[first:])} mistakes) would repeat "
                "forever and the rule never converges: the data are not linearly separable"
            )
            break
        if epoch == max_epochs:
            status = "max_epochs"
            reason = (
                f"max_epochs: stopped after {max_epochs} epochs without a mistake-free epoch and "
                "without a repeated weight state (undecided: non-separable data or a small margin)"
            )
            break
        seen[state] = epoch
        w, b, n_wrong = _perceptron_epoch(X, t, w, b, lr, labels == "pm1")
        mistakes.append(n_wrong)
        if n_wrong == 0:
            status = "converged"
            reason = f"converged: epoch {epoch + 1} made no mistakes"
            break

    return PerceptronResult(weights=w, bias=float(b), converged=status == "converged", epochs=len(mistakes),
                            mistakes=tuple(mistakes), status=status, reason=reason, labels=labels)


def _perceptron_epoch(X, t, w, b, lr: float, pm1: bool):
    """One pass over the samples in order: ``(w, b, mistakes)`` after it (the rules of train_perceptron)."""
    n_wrong = 0
    for xi, ti in zip(X, t):
        z = xi @ w + b
        if pm1:
            if ti * z > 0:
                continue
            delta = ti
        else:
            delta = ti - (1.0 if z >= 0 else 0.0)
            if delta == 0:
                continue
        # new arrays, not in-place: w must never alias the caller's initial_weights
        inc = X.dtype.type(lr * delta)  # keep float32 models float32
        w = w + inc * xi
        b = b + inc
        n_wrong += 1
    return w, b, n_wrong


# --------------------------------------------------------------------------------------------
# Adaline: the delta rule
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class AdalineResult(_LinearUnit):
    """What :func:`train_adaline` found.

    Attributes
    ----------
    weights : ndarray (D,)
    bias : float
    mse_history : ndarray (epochs + 1,)
        ``mse_history[k]`` is the mean squared error ``mean((t - z)^2)`` after ``k`` epochs
        (``k = 0`` is the starting point). This is the plain mean form, without the 1/2.
    epochs : int
        Epochs run.
    converged : bool
        True when the largest parameter change over an epoch fell below ``tol``.
    mode : str
        ``"batch"`` or ``"sample"``.
    """

    mse_history: np.ndarray = field(repr=False)
    epochs: int
    converged: bool
    mode: str

    def predict(self, X) -> np.ndarray:
        """Thresholded output in the +-1 convention: +1 where ``z >= 0`` else -1; int64 (N,)."""
        return np.where(self.decision_function(X) >= 0, 1, -1).astype(np.int64)


def train_adaline(
    X,
    y,
    *,
    lr: float = 0.01,
    epochs: int = 100,
    mode: str = "batch",
    tol: float = 1e-10,
    shuffle: bool = False,
    rng: np.random.Generator | None = None,
    initial_weights=None,
    initial_bias: float = 0.0,
) -> AdalineResult:
    """Adaline (Widrow and Hoff, 1960): fit a linear unit by the delta rule.

    Unlike the perceptron, the error uses the *linear* output ``z = x @ w + b``, not the
    thresholded one, so every sample moves the weights, by an amount proportional to its error.
    The rule is gradient descent on a squared error, i.e. linear least squares.

    Parameters
    ----------
    X : array (N, D)
        Rows are samples.
    y : array (N,)
        Real-valued targets (for classification use +-1 targets and ``predict``).
    lr : float > 0
        Learning rate.
    epochs : int >= 1
        Maximum number of passes over the data.
    mode : {"batch", "sample"}
        - ``"batch"``: one step per epoch on the whole set,
          ``w += lr * X^T (t - z) / N``, ``b += lr * mean(t - z)``: gradient descent on
          ``J = (1 / (2N)) * sum (t - z)^2`` (the 1/2 form, averaged over samples). It
          converges to the least-squares solution when ``lr < 2 / lambda_max``, where
          ``lambda_max`` is the largest eigenvalue of ``[X 1]^T [X 1] / N``.
        - ``"sample"``: the original Widrow-Hoff rule (slide 002), one update per sample,
          ``w += lr * (t_i - z_i) x_i``, ``b += lr * (t_i - z_i)``: stochastic gradient
          descent on ``(1/2)(t_i - z_i)^2``. With a constant lr it settles exactly only when a
          perfect linear fit exists; otherwise it hovers near the least-squares solution.
    tol : float >= 0
        Stop (``converged=True``) when no parameter changed by more than ``tol`` in an epoch.
        ``tol=0`` always runs all epochs.
    shuffle : bool
        ``"sample"`` mode only: visit the samples in a fresh random order each epoch (needs ``rng``).
    rng : numpy.random.Generator, optional
        Required when ``shuffle=True``.
    initial_weights : array (D,), optional
        Default zeros.
    initial_bias : float

    Returns
    -------
    AdalineResult
        weights, bias, mse_history (plain mean squared error per epoch), epochs, converged, mode.

    Raises
    ------
    FloatingPointError
        If the weights blow up (lr too large): the message names the epoch.
    """
    X = as_array(X, "X", ndim=2)
    t = as_array(y, "y", ndim=1)
    check_same_length(X, t, "X", "y")
    lr = check_positive(lr, "lr")
    epochs = check_int(epochs, "epochs", 1)
    mode = check_choice(mode, "mode", ("batch", "sample"))
    tol = check_nonnegative(tol, "tol")
    if shuffle:
        if mode != "sample":
            raise ValueError(f"shuffle=True needs mode='sample'; got mode={mode!r}")
        rng = check_rng(rng)
    w, b = _initial_params(initial_weights, initial_bias, X.shape[1], X.dtype)
    t = t.astype(X.dtype, copy=False)
    n = len(X)

    def mse(w, b) -> float:
        r = t - (X @ w + b)
        return float(np.mean(r * r))

    history = [mse(w, b)]
    converged = False
    done = 0
    # A too-large lr makes the weights grow geometrically; let it overflow quietly and report it.
    with np.errstate(over="ignore", invalid="ignore"):
        for epoch in range(1, epochs + 1):
            w_old, b_old = w, b
            if mode == "batch":
                r = t - (X @ w + b)
                w = w + (lr / n) * (X.T @ r)
                b = b + X.dtype.type(lr * r.mean())
            else:
                order = rng.permutation(n) if shuffle else range(n)
                for i in order:
                    r_i = t[i] - (X[i] @ w + b)
                    w = w + (lr * r_i) * X[i]
                    b = b + X.dtype.type(lr * r_i)
            done = epoch
            history.append(mse(w, b))
            if not (np.isfinite(history[-1]) and np.isfinite(w).all() and np.isfinite(b)):
                raise FloatingPointError(
                    f"Adaline diverged at epoch {epoch}: the mean squared error became {history[-1]}; "
                    f"lr={lr} is too large for these inputs (try a smaller lr or scale X)"
                )
            change = max(float(np.max(np.abs(w - w_old), initial=0.0)), abs(float(b - b_old)))
            if change <= tol and tol > 0:
                converged = True
                break

    return AdalineResult(weights=w, bias=float(b), mse_history=np.asarray(history), epochs=done,
                         converged=converged, mode=mode)


# --------------------------------------------------------------------------------------------
# Logic gates and the XOR network
# --------------------------------------------------------------------------------------------
def logic_gate(name: str, labels: str = "01") -> tuple[np.ndarray, np.ndarray]:
    """The truth table of a two-input logic gate as a dataset.

    Parameters
    ----------
    name : {"AND", "OR", "NAND", "NOR", "XOR"} (case-insensitive)
    labels : {"01", "pm1"}
        Output convention: 0/1 (default, as in a truth table) or -1/+1.

    Returns
    -------
    X : ndarray (4, 2) float64
        The inputs (0,0), (0,1), (1,0), (1,1) in that order.
    y : ndarray (4,) int64
        The gate's output for each row.

    AND, OR, NAND and NOR are linearly separable (one line splits the 1s from the 0s); XOR is
    not, which is why a single perceptron cannot learn it.
    """
    key = check_choice(name.upper() if isinstance(name, str) else name, "name", GATES)
    labels = check_choice(labels, "labels", LABEL_CONVENTIONS)
    X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float64)
    a, b = X[:, 0].astype(bool), X[:, 1].astype(bool)
    out = {"AND": a & b, "OR": a | b, "NAND": ~(a & b), "NOR": ~(a | b), "XOR": a ^ b}[key].astype(np.int64)
    if labels == "pm1":
        out = 2 * out - 1
    return X, out


def _frozen(a) -> np.ndarray:
    arr = np.array(a, dtype=np.float64)
    arr.flags.writeable = False
    return arr


XOR_NETWORK_WEIGHTS: dict[str, np.ndarray] = {
    "W1": _frozen([[1.0, -1.0], [1.0, -1.0]]),
    "b1": _frozen([-0.5, 1.5]),
    "W2": _frozen([[1.0], [1.0]]),
    "b2": _frozen([-1.5]),
}


def xor_network(X, *, return_hidden: bool = False):
    """XOR computed by a two-layer network of step units with hand-set weights.

    Row-sample convention, ``h = step(X @ W1 + b1)``, ``y = step(h @ W2 + b2)``::

        W1 = [[ 1, -1],      b1 = [-0.5, 1.5]     hidden unit 1 = OR(x1, x2)
              [ 1, -1]]                           hidden unit 2 = NAND(x1, x2)
        W2 = [[1],           b2 = [-1.5]          output        = AND(h1, h2)
              [1]]

    so ``XOR(x1, x2) = AND(OR(x1, x2), NAND(x1, x2))``. The hidden layer maps the four
    corners to points that one line *can* separate: (0,0)->(0,1), (0,1)->(1,1), (1,0)->(1,1),
    (1,1)->(1,0); only (1,1) in hidden space is on the firing side of ``h1 + h2 >= 1.5``.
    (Slides write the same network with column vectors, ``W^[1]`` of shape (2, 2) = W1^T.)
    The weights are in :data:`XOR_NETWORK_WEIGHTS` (read-only arrays).

    Parameters
    ----------
    X : array, binary, shape (2,) or (N, 2)
    return_hidden : bool
        Also return the hidden activations, shape (N, 2) (or (2,)).

    Returns
    -------
    y : int64 array, shape () or (N,)
    h : int64 array, only when ``return_hidden``
    """
    X = as_array(X, "X", ndim=(1, 2))
    if X.shape[-1] != 2:
        raise ShapeError(f"X must have 2 features (last axis); got shape {shape_str(X.shape)}")
    _check_binary(X, "X")
    Wt = XOR_NETWORK_WEIGHTS
    h = _step(X @ Wt["W1"] + Wt["b1"])
    y = _step(h @ Wt["W2"] + Wt["b2"])[..., 0]
    return (y, h) if return_hidden else y
