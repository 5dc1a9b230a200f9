"""Activation functions and their derivatives.

Every elementwise activation comes as a pair::

    f(z)       -> a        same shape and dtype as z
    f_grad(z)  -> da/dz    same shape and dtype as z (the diagonal of the Jacobian)

so a backward pass is ``dz = dout * f_grad(z)``. Softmax is not elementwise: it maps a row of
K scores to a probability vector, its derivative is a full K x K Jacobian
(:func:`softmax_jacobian`), and :func:`softmax_backward` applies that Jacobian to an upstream
gradient without building it.

Conventions (texts disagree on these; nnkit picks one and says so)
-------------------------------------------------------------------
- ``step(0) = 1``: the unit fires when ``z >= 0``. Its derivative is 0 everywhere (it is
  undefined at 0; 0 is returned there too), which is why a step network cannot be trained by
  gradient descent.
- ``relu_grad(0) = 0``, as PyTorch does. ReLU is not differentiable at 0; any value in [0, 1]
  is a valid subgradient. ReLU is *not* a binary activation: its output is ``max(0, z)``.
- ``leaky_relu_grad(0) = slope`` and ``elu_grad(0) = alpha`` (PyTorch's choices: the
  left-hand branch is used at 0).
- tanh has range (-1, 1) and is zero-centred; sigmoid has range (0, 1) and is not.
- Leaky ReLU exists to fight *dying ReLU*: a unit whose input is negative for every sample
  outputs 0 and gets zero gradient, so it never recovers. The small slope for ``z < 0`` keeps a
  gradient flowing. (It is not a cure for gradients vanishing through depth.)
- GELU comes in two forms that differ by up to about 5e-4: the exact ``z * Phi(z)`` (Phi is the
  standard normal CDF, via ``erfc``) and the tanh approximation (PyTorch's
  ``approximate='tanh'``). They are separate functions, :func:`gelu` and :func:`gelu_tanh`.
- Shapes: any shape for the elementwise functions. The slides write one sample as a column
  vector; nnkit puts samples in rows, so softmax works along the last axis by default.

Numerical stability
-------------------
No function overflows or warns for |z| = 1000, in float64 or float32. Sigmoid, softplus, tanh,
ELU and softmax are safe for every finite input: sigmoid and softplus only ever evaluate
``exp(-|z|)``, ELU only ``expm1(min(z, 0))``, softmax subtracts the row maximum. (The GELU
forms square or cube z, so they are safe up to |z| ~ 1e100 in float64 and ~ 1e12 in float32.)
Results at the tails are the exact limits (``sigmoid(-1000) == 0``, ``softplus(1000) == 1000``);
tiny values that underflow to 0 are the correctly rounded answer.

Input checks and speed
----------------------
Inputs are converted with :func:`nnkit._validate.as_array` (lists and ints become float64;
float32 stays float32; bool/str/complex are refused). The elementwise functions do **not**
scan their input for NaN/Inf, because they sit on the hot path of every training step and
the scan would cost as much as the function; NaN simply propagates (the model checks its input
once and the losses check theirs). Softmax and log-softmax reject NaN and +inf using the row
maxima they compute anyway; ``-inf`` is allowed there and means probability 0.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np
from scipy.special import erfc

from ._validate import ShapeError, as_array, check_choice, check_finite, check_nonnegative, check_positive

__all__ = [
    "ActivationSpec",
    "ACTIVATIONS",
    "get_activation",
    "step",
    "step_grad",
    "identity",
    "identity_grad",
    "sigmoid",
    "sigmoid_grad",
    "tanh",
    "tanh_grad",
    "relu",
    "relu_grad",
    "leaky_relu",
    "leaky_relu_grad",
    "elu",
    "elu_grad",
    "gelu",
    "gelu_grad",
    "gelu_tanh",
    "gelu_tanh_grad",
    "softplus",
    "softplus_grad",
    "softmax",
    "log_softmax",
    "softmax_jacobian",
    "softmax_backward",
]

_FLOAT_CHARS = "fd"  # float32, float64
_SQRT2 = math.sqrt(2.0)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
_GELU_C = math.sqrt(2.0 / math.pi)
_GELU_A = 0.044715


def _float(z, name: str = "z") -> np.ndarray:
    """Cheap conversion for the hot path: a float32/float64 ndarray passes straight through."""
    if type(z) is np.ndarray and z.dtype.char in _FLOAT_CHARS:
        return z
    return as_array(z, name, finite=False, allow_empty=True)


# --------------------------------------------------------------------------- elementwise
def step(z):
    """Heaviside step: 1 where ``z >= 0``, else 0 (convention: ``step(0) = 1``).

    Parameters
    ----------
    z : array_like, any shape

    Returns
    -------
    ndarray, same shape and dtype as ``z`` (float), values in {0, 1}.
    """
    z = _float(z)
    return (z >= 0).astype(z.dtype)


def step_grad(z):
    """Derivative of :func:`step`: 0 everywhere (undefined at 0, where 0 is returned too)."""
    z = _float(z)
    return np.zeros_like(z)


def identity(z):
    """Identity (linear) activation ``f(z) = z``. Returns a copy, so the caller's array is never shared."""
    z = _float(z)
    return z.copy()


def identity_grad(z):
    """Derivative of :func:`identity`: 1 everywhere."""
    z = _float(z)
    return np.ones_like(z)


def sigmoid(z):
    """Logistic sigmoid ``sigma(z) = 1 / (1 + exp(-z))``, range (0, 1).

    Stable in both tails: with ``e = exp(-|z|)`` (never overflows),
    ``sigma(z) = 1/(1+e)`` for ``z >= 0`` and ``e/(1+e)`` for ``z < 0``. So
    ``sigmoid(-1000) == 0`` and ``sigmoid(1000) == 1`` with no warning, and small values keep
    full relative precision (``sigmoid(-6) = 0.0024726...``).

    Parameters
    ----------
    z : array_like, any shape

    Returns
    -------
    ndarray, same shape and dtype as ``z``.
    """
    z = _float(z)
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1.0, e) / (1.0 + e)


def sigmoid_grad(z):
    """Derivative of :func:`sigmoid`: ``sigma'(z) = sigma(z) (1 - sigma(z))``.

    Computed as ``e / (1 + e)^2`` with ``e = exp(-|z|)`` (the same value, since sigma' is even),
    which keeps full relative precision in both tails; the maximum is 1/4 at ``z = 0``.
    """
    z = _float(z)
    e = np.exp(-np.abs(z))
    d = 1.0 + e
    return e / (d * d)


def tanh(z):
    """Hyperbolic tangent ``(e^z - e^-z) / (e^z + e^-z)``; range (-1, 1), zero-centred.

    (Not [0, 1]: that is sigmoid's range. ``tanh(z) = 2 sigma(2z) - 1``.)
    """
    z = _float(z)
    return np.tanh(z)


def tanh_grad(z):
    """Derivative of :func:`tanh`: ``1 - tanh(z)^2``; maximum 1 at ``z = 0``."""
    z = _float(z)
    t = np.tanh(z)
    return 1.0 - t * t


def relu(z):
    """Rectified linear unit ``max(0, z)``, range [0, inf). Not a binary activation.

    Hot path: one pass, no NaN scan (NaN propagates).
    """
    z = _float(z)
    return np.maximum(z, 0)


def relu_grad(z):
    """Derivative of :func:`relu`: 1 where ``z > 0``, else 0.

    Convention: ``relu_grad(0) = 0`` (PyTorch's choice; ReLU has a kink at 0).
    """
    z = _float(z)
    return (z > 0).astype(z.dtype)


def leaky_relu(z, slope: float = 0.01):
    """Leaky ReLU: ``z`` for ``z > 0``, ``slope * z`` for ``z <= 0``; range (-inf, inf) for slope > 0.

    The small negative-side slope keeps a gradient flowing through units whose input is
    negative, so they cannot "die" (stay at 0 output with 0 gradient for every sample) as
    plain ReLU units can. PyTorch calls ``slope`` ``negative_slope``; default 0.01.

    Parameters
    ----------
    z : array_like, any shape
    slope : float >= 0
    """
    slope = check_nonnegative(slope, "slope")
    z = _float(z)
    return np.where(z > 0, z, slope * z)


def leaky_relu_grad(z, slope: float = 0.01):
    """Derivative of :func:`leaky_relu`: 1 where ``z > 0``, ``slope`` where ``z <= 0``.

    Convention: the value at 0 is ``slope`` (PyTorch's choice).
    """
    slope = check_nonnegative(slope, "slope")
    z = _float(z)
    return np.where(z > 0, 1.0, slope).astype(z.dtype, copy=False)


def elu(z, alpha: float = 1.0):
    """Exponential linear unit: ``z`` for ``z > 0``, ``alpha (exp(z) - 1)`` for ``z <= 0``.

    Range (-alpha, inf). Uses ``expm1(min(z, 0))``, so large positive z never reaches ``exp``
    (no overflow) and small negative z keep their precision.

    Parameters
    ----------
    z : array_like, any shape
    alpha : float > 0
    """
    alpha = check_positive(alpha, "alpha")
    z = _float(z)
    return np.where(z > 0, z, alpha * np.expm1(np.minimum(z, 0)))


def elu_grad(z, alpha: float = 1.0):
    """Derivative of :func:`elu`: 1 for ``z > 0``, ``alpha exp(z)`` for ``z <= 0``.

    At 0 the left branch is used (``elu_grad(0) = alpha``, as PyTorch). With ``alpha = 1`` the
    derivative is continuous there; for other alpha it jumps.
    """
    alpha = check_positive(alpha, "alpha")
    z = _float(z)
    return np.where(z > 0, 1.0, alpha * np.exp(np.minimum(z, 0))).astype(z.dtype, copy=False)


def _normal_cdf(z):
    # Phi(z) = (1 + erf(z/sqrt2)) / 2 = erfc(-z/sqrt2) / 2; erfc keeps precision for z << 0.
    return 0.5 * erfc(-z / _SQRT2)


def gelu(z):
    """Gaussian error linear unit, exact form: ``z * Phi(z)`` with Phi the standard normal CDF.

    ``Phi(z) = (1 + erf(z / sqrt2)) / 2``, evaluated as ``erfc(-z / sqrt2) / 2``. Range about
    [-0.17, inf) (minimum -0.16997 at z = -0.7518). PyTorch: ``F.gelu(z)`` (approximate='none').
    See :func:`gelu_tanh` for the tanh approximation.
    """
    z = _float(z)
    return z * _normal_cdf(z)


def gelu_grad(z):
    """Derivative of :func:`gelu`: ``Phi(z) + z * phi(z)``, phi the standard normal density."""
    z = _float(z)
    pdf = _INV_SQRT_2PI * np.exp(-0.5 * z * z)
    return _normal_cdf(z) + z * pdf


def gelu_tanh(z):
    """GELU, tanh approximation: ``z/2 * (1 + tanh(sqrt(2/pi) (z + 0.044715 z^3)))``.

    PyTorch: ``F.gelu(z, approximate='tanh')``. Differs from the exact :func:`gelu` by at most
    about 5e-4.
    """
    z = _float(z)
    t = np.tanh(_GELU_C * (z + _GELU_A * z * z * z))
    return 0.5 * z * (1.0 + t)


def gelu_tanh_grad(z):
    """Derivative of :func:`gelu_tanh`.

    With ``u = c (z + a z^3)``, ``c = sqrt(2/pi)``, ``a = 0.044715``, ``t = tanh(u)``:
    ``f'(z) = (1 + t)/2 + z/2 * (1 - t^2) * c (1 + 3 a z^2)``.
    """
    z = _float(z)
    z2 = z * z
    t = np.tanh(_GELU_C * (z + _GELU_A * z2 * z))
    return 0.5 * (1.0 + t) + 0.5 * z * (1.0 - t * t) * (_GELU_C * (1.0 + 3.0 * _GELU_A * z2))


def softplus(z):
    """Softplus ``ln(1 + e^z)``, a smooth ReLU; range (0, inf).

    Stable form ``max(z, 0) + log1p(exp(-|z|))``: ``softplus(1000) == 1000`` and
    ``softplus(-1000) == 0`` (the true value e^-1000 underflows) with no warning.
    (PyTorch returns z itself above its ``threshold=20``; the difference there is < 3e-9.)
    """
    z = _float(z)
    return np.maximum(z, 0) + np.log1p(np.exp(-np.abs(z)))


def softplus_grad(z):
    """Derivative of :func:`softplus`: the sigmoid, ``1 / (1 + e^-z)``."""
    return sigmoid(z)


# --------------------------------------------------------------------------- softmax family
def _check_axis(z: np.ndarray, axis, name: str = "z") -> int:
    if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
        raise TypeError(f"axis must be an int; got {type(axis).__name__} {axis!r}")
    if z.ndim == 0:
        raise ShapeError(f"{name} must have at least 1 dimension for softmax; got a 0-D array (a scalar)")
    if not -z.ndim <= axis < z.ndim:
        raise ValueError(f"axis must be in [{-z.ndim}, {z.ndim - 1}] for {name} of shape {z.shape}; got {axis}")
    if z.shape[axis] == 0:
        raise ValueError(f"{name} is empty along axis {axis} (shape {z.shape}); softmax needs at least one entry")
    return int(axis)


def _shifted(z: np.ndarray, axis: int, name: str) -> np.ndarray:
    """``z - max(z)`` along ``axis`` (entries <= 0, so exp never overflows), or raise on NaN/+inf."""
    m = z.max(axis=axis, keepdims=True)
    # The max is NaN if any entry is NaN and +inf if any is +inf: checking the small array of
    # maxima is as good as scanning z. A row of only -inf also lands here.
    if not np.isfinite(m).all():
        check_finite(z, name)
    return z - m


def softmax(z, axis: int = -1):
    """Softmax along ``axis`` (default: the last, one row per sample).

    ``softmax(z)_i = exp(z_i) / sum_j exp(z_j)``, computed as ``exp(z - max z) / sum exp(z - max z)``
    (shifting every entry by the same constant does not change the result, and after the shift
    the largest exponent is 0, so nothing overflows).

    Parameters
    ----------
    z : array_like, shape (..., K)
        Scores (logits). NaN and +inf raise ValueError; -inf means probability 0.
    axis : int

    Returns
    -------
    ndarray, same shape and dtype as ``z``; entries in [0, 1], summing to 1 along ``axis``.

    Examples
    --------
    >>> softmax([1.60, 0.55, 0.98]).round(3)
    array([0.53 , 0.185, 0.285])
    """
    z = _float(z)
    axis = _check_axis(z, axis)
    e = _shifted(z, axis, "z")
    np.exp(e, out=e)
    e /= e.sum(axis=axis, keepdims=True)
    return e


def log_softmax(z, axis: int = -1):
    """Logarithm of :func:`softmax`, computed directly: ``(z - m) - log(sum exp(z - m))``, m = max z.

    Never takes ``log(0)``: ``log_softmax([0, -1000]) == [0, -1000]`` exactly, where
    ``log(softmax(...))`` would give ``-inf`` and a warning. Same shapes as :func:`softmax`.
    """
    z = _float(z)
    axis = _check_axis(z, axis)
    s = _shifted(z, axis, "z")
    return s - np.log(np.exp(s).sum(axis=axis, keepdims=True))


def softmax_jacobian(z):
    """Full Jacobian of softmax over the last axis: ``J[i, j] = ds_i/dz_j = s_i (delta_ij - s_j)``.

    In matrix form ``J = diag(s) - s s^T``. It is symmetric, and each row and column sums to 0
    (the outputs always sum to 1, so moving z cannot change their total).

    Parameters
    ----------
    z : array_like, shape (K,) or (N, K)

    Returns
    -------
    ndarray of shape (K, K) for 1-D ``z``, (N, K, K) for 2-D ``z`` (one Jacobian per sample).
    Memory grows as N K^2: for training use :func:`softmax_backward`.
    """
    z = _float(z)
    if z.ndim not in (1, 2):
        raise ShapeError(f"z must be 1-D (K,) or 2-D (N, K); got a {z.ndim}-D array of shape {z.shape}")
    s = softmax(z, axis=-1)
    jac = -s[..., :, None] * s[..., None, :]
    k = np.arange(s.shape[-1])
    jac[..., k, k] += s
    return jac


def softmax_backward(dout, s):
    """Vector-Jacobian product of softmax, without building the Jacobian.

    Given the softmax output ``s = softmax(z)`` and the upstream gradient ``dout = dL/ds``,
    returns ``dL/dz = J^T dout = s * (dout - sum_j dout_j s_j)`` row by row (J is symmetric).
    Cost O(N K) instead of O(N K^2).

    Parameters
    ----------
    dout : array_like, shape (..., K)
    s : array_like, same shape as ``dout``; the softmax *output*, not the logits.

    Returns
    -------
    dz : ndarray, same shape as ``s``.
    """
    s = _float(s, "s")
    dout = _float(dout, "dout")
    if dout.shape != s.shape:
        raise ShapeError(f"dout must have the same shape as s {s.shape}; got {dout.shape}")
    if s.ndim == 0:
        raise ShapeError("s must have at least 1 dimension (..., K); got a 0-D array")
    return s * (dout - np.sum(dout * s, axis=-1, keepdims=True))


# --------------------------------------------------------------------------- registry
@dataclass(frozen=True)
class ActivationSpec:
    """The registry record of one elementwise activation, as a dropdown or a layer needs it.

    (The layer that applies an activation in a model is :class:`nnkit.layers.Activation`.)

    Attributes
    ----------
    name : str
        Registry key, e.g. ``"relu"``.
    fn : callable
        ``fn(z) -> a``, same shape and dtype as z.
    grad : callable
        ``grad(z) -> da/dz``, elementwise, same shape and dtype as z.
    formula : str
        LaTeX of the function (renders with ``IPython.display.Math``).
    range : str
        The output range, e.g. ``"(-1, 1)"``.
    kinks : tuple of float
        Points where the derivative is discontinuous (gradient checks skip inputs near them).
    grad_formula : str
        LaTeX of the derivative, with the convention used at kinks.
    """

    name: str
    fn: Callable
    grad: Callable
    formula: str
    range: str
    kinks: tuple = ()
    grad_formula: str = ""

    def __call__(self, z):
        return self.fn(z)


ACTIVATIONS: dict[str, ActivationSpec] = {
    a.name: a
    for a in (
        ActivationSpec(
            "step", step, step_grad,
            r"H(z) = \begin{cases} 1 & z \ge 0 \\ 0 & z < 0 \end{cases}",
            "{0, 1}", (0.0,),
            r"H'(z) = 0 \ (\text{undefined at } 0;\ 0 \text{ used})",
        ),
        ActivationSpec(
            "identity", identity, identity_grad, r"f(z) = z", "(-inf, inf)", (), r"f'(z) = 1",
        ),
        ActivationSpec(
            "sigmoid", sigmoid, sigmoid_grad, r"\sigma(z) = \frac{1}{1 + e^{-z}}", "(0, 1)", (),
            r"\sigma'(z) = \sigma(z)\,(1 - \sigma(z))",
        ),
        ActivationSpec(
            "tanh", tanh, tanh_grad, r"\tanh(z) = \frac{e^{z} - e^{-z}}{e^{z} + e^{-z}}", "(-1, 1)", (),
            r"\tanh'(z) = 1 - \tanh^2(z)",
        ),
        ActivationSpec(
            "relu", relu, relu_grad, r"\mathrm{ReLU}(z) = \max(0, z)", "[0, inf)", (0.0,),
            r"\mathrm{ReLU}'(z) = \begin{cases} 1 & z > 0 \\ 0 & z \le 0 \end{cases}",
        ),
        ActivationSpec(
            "leaky_relu", leaky_relu, leaky_relu_grad,
            r"\mathrm{LReLU}(z) = \begin{cases} z & z > 0 \\ 0.01\,z & z \le 0 \end{cases}",
            "(-inf, inf)", (0.0,),
            r"\mathrm{LReLU}'(z) = \begin{cases} 1 & z > 0 \\ 0.01 & z \le 0 \end{cases}",
        ),
        ActivationSpec(
            "elu", elu, elu_grad,
            r"\mathrm{ELU}(z) = \begin{cases} z & z > 0 \\ e^{z} - 1 & z \le 0 \end{cases}",
            "(-1, inf)", (),  # with alpha = 1 the derivative is continuous at 0
            r"\mathrm{ELU}'(z) = \begin{cases} 1 & z > 0 \\ e^{z} & z \le 0 \end{cases}",
        ),
        ActivationSpec(
            "gelu", gelu, gelu_grad,
            r"\mathrm{GELU}(z) = z\,\Phi(z) = \frac{z}{2}\left(1 + \operatorname{erf}\frac{z}{\sqrt{2}}\right)",
            "[-0.17, inf)", (),
            r"\mathrm{GELU}'(z) = \Phi(z) + z\,\varphi(z)",
        ),
        ActivationSpec(
            "gelu_tanh", gelu_tanh, gelu_tanh_grad,
            r"\frac{z}{2}\left(1 + \tanh\left(\sqrt{2/\pi}\,(z + 0.044715\,z^{3})\right)\right)",
            "[-0.17, inf)", (),
            r"\frac{1 + t}{2} + \frac{z}{2}(1 - t^{2})\sqrt{2/\pi}\,(1 + 3 \cdot 0.044715\,z^{2}),"
            r"\ t = \tanh\left(\sqrt{2/\pi}\,(z + 0.044715\,z^{3})\right)",
        ),
        ActivationSpec(
            "softplus", softplus, softplus_grad, r"\mathrm{softplus}(z) = \ln(1 + e^{z})", "(0, inf)", (),
            r"\mathrm{softplus}'(z) = \sigma(z)",
        ),
    )
}


def get_activation(name: str) -> ActivationSpec:
    """Look up an elementwise activation by name; ValueError listing the choices otherwise.

    An :class:`ActivationSpec` passed in is returned unchanged. Softmax is not in the registry
    (it is not elementwise); call :func:`softmax` directly.
    """
    if isinstance(name, ActivationSpec):
        return name
    check_choice(name, "activation name", ACTIVATIONS)
    return ACTIVATIONS[name]
