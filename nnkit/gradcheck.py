"""Numerical gradient checking: the backbone of the tests and of the graders.

Core (this file's first part): centred differences and relative error.

    df/dx_i  ~=  (f(x + h e_i) - f(x - h e_i)) / (2 h)          error O(h^2)

    rel_error(a, b) = max |a - b| / max(floor, max(|a| + |b|))   (CS231n's form, with a floor)

Everything runs in float64: with float32 the round-off of f (about 1e-7 relative) divided
by 2h swamps the O(h^2) truncation error, so checks are refused on float32 input.
"""
from __future__ import annotations

import numpy as np

from ._validate import as_array

__all__ = ["numerical_gradient", "numerical_gradient_array", "rel_error"]


def _require_float64(x: np.ndarray, name: str) -> None:
    if x.dtype != np.float64:
        raise TypeError(
            f"{name} must be float64 for a gradient check; got {x.dtype}. "
            "Centred differences in float32 lose about half their digits to round-off; "
            "convert with x.astype(np.float64)."
        )


def numerical_gradient(f, x: np.ndarray, h: float = 1e-5, index=None) -> np.ndarray:
    """Centred-difference gradient of a scalar function ``f`` at ``x``.

    Parameters
    ----------
    f : callable
        ``f(x) -> float``. It is called with ``x`` perturbed *in place* one entry at a time
        (the entry is restored afterwards), so ``f`` must read ``x`` each call.
    x : ndarray of float64, any shape
    h : float
        Step. 1e-5 balances truncation error O(h^2) against round-off O(eps/h) in float64.
    index : iterable of index tuples, optional
        Check only these entries (others are left 0 in the result); default all entries.

    Returns
    -------
    grad : ndarray, same shape as ``x``.
    """
    _require_float64(x, "x")
    grad = np.zeros_like(x)
    indices = np.ndindex(x.shape) if index is None else index
    for ix in indices:
        old = x[ix]
        x[ix] = old + h
        fp = float(f(x))
        x[ix] = old - h
        fm = float(f(x))
        x[ix] = old
        grad[ix] = (fp - fm) / (2 * h)
    return grad


def numerical_gradient_array(f, x: np.ndarray, dout: np.ndarray, h: float = 1e-5, index=None) -> np.ndarray:
    """Centred-difference vector-Jacobian product for an array-valued ``f``.

    Returns ``d/dx sum(f(x) * dout)``: the gradient a backward pass receiving upstream
    gradient ``dout`` should produce. Shapes: ``f(x)`` and ``dout`` alike; result like ``x``.
    """
    dout = as_array(dout, "dout", finite=True, allow_empty=True)
    return numerical_gradient(lambda z: np.sum(f(z) * dout), x, h=h, index=index)


def rel_error(a, b, floor: float = 1e-8) -> float:
    """Maximum relative error ``max|a-b| / max(floor, max(|a|+|b|))`` between two arrays.

    The floor keeps the ratio meaningful when both gradients are (near) zero.
    Rough scale in float64: < 1e-7 agrees; 1e-4..1e-2 suspicious; > 1e-2 wrong.
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"rel_error needs equal shapes; got {a.shape} and {b.shape}")
    if a.size == 0:
        return 0.0
    return float(np.max(np.abs(a - b)) / max(floor, float(np.max(np.abs(a) + np.abs(b)))))
