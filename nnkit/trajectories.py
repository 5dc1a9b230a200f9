"""Trajectories: an optimizer run on a gradient function, step by step (loss-surface demos).

:func:`optimize_path` runs any :mod:`nnkit.optimizers` optimizer from a start point on a
function ``grad_fn(w) -> gradient`` (a surface of :mod:`nnkit.surfaces`, say) and returns every
point it visits. :func:`nesterov_sutskever_path` runs Nesterov momentum in the look-ahead form of
Sutskever et al. (2013), the form that :class:`nnkit.optimizers.Nesterov` (PyTorch's) avoids;
the two visit the same points.

Both are also importable from :mod:`nnkit.optimizers`.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from ._validate import ShapeError, as_array, check_positive, check_probability, shape_str
from .optimizer_base import Optimizer

__all__ = ["optimize_path", "nesterov_sutskever_path"]


def _as_point(w0) -> np.ndarray:
    return np.array(as_array(w0, "w0"), dtype=np.float64, copy=True)


def _grad_at(grad_fn: Callable, w: np.ndarray, step: int) -> np.ndarray:
    g = np.asarray(grad_fn(w.copy()), dtype=np.float64)
    if g.shape != w.shape:
        raise ShapeError(f"grad_fn must return an array of shape {shape_str(w.shape)}; got {shape_str(g.shape)}")
    if not np.isfinite(g).all():
        raise ValueError(f"grad_fn returned a non-finite gradient at step {step}, w = {w}")
    return g


def optimize_path(optimizer: Optimizer, grad_fn: Callable, w0, n_steps: int) -> np.ndarray:
    """Run ``optimizer`` from ``w0`` on a gradient function and return the path.

    Parameters
    ----------
    optimizer : Optimizer
    grad_fn : callable
        ``grad_fn(w) -> ndarray`` of ``w``'s shape, e.g. a loss surface's gradient.
    w0 : array_like, shape (D,) (any shape works)
        Start point; not modified (a float64 copy is optimized).
    n_steps : int >= 0

    Returns
    -------
    path : ndarray, shape (n_steps + 1, *w0.shape)
        ``path[0] = w0``; ``path[k]`` is the point after ``k`` steps.
    """
    n_steps = _check_steps(n_steps)
    w = _as_point(w0)
    params = {"w": w}
    state = optimizer.init_state(params)
    path = np.empty((n_steps + 1, *w.shape))
    path[0] = w
    for k in range(n_steps):
        optimizer.step(params, {"w": _grad_at(grad_fn, w, k)}, state)
        path[k + 1] = w
    return path


def nesterov_sutskever_path(grad_fn: Callable, w0, lr, mu=0.9, n_steps: int = 100):
    """Nesterov momentum in the look-ahead form of Sutskever et al. (2013).

    ::

        v <- mu * v - lr * grad_fn(w + mu * v) ;   w <- w + v        (v starts at 0)

    Parameters
    ----------
    grad_fn : callable
        ``grad_fn(w) -> ndarray`` of ``w``'s shape.
    w0 : array_like
        Start point (not modified).
    lr : float > 0
    mu : float in [0, 1)
    n_steps : int >= 0

    Returns
    -------
    w_path, v_path : ndarray, shape (n_steps + 1, *w0.shape)
        Weights and velocities after each step (index 0 is the start).  ``w_path + mu * v_path``
        are the look-ahead points, which are exactly the weights that :class:`Nesterov`
        (PyTorch's form) produces: ``optimize_path(Nesterov(lr, mu), grad_fn, w0, n_steps)``.
    """
    lr = check_positive(lr, "lr")
    mu = check_probability(mu, "mu", high_open=True)
    n_steps = _check_steps(n_steps)
    w = _as_point(w0)
    v = np.zeros_like(w)
    w_path = np.empty((n_steps + 1, *w.shape))
    v_path = np.zeros_like(w_path)
    w_path[0] = w
    for k in range(n_steps):
        v = mu * v - lr * _grad_at(grad_fn, w + mu * v, k)
        w = w + v
        w_path[k + 1] = w
        v_path[k + 1] = v
    return w_path, v_path


def _check_steps(n_steps) -> int:
    if isinstance(n_steps, bool) or not isinstance(n_steps, (int, np.integer)) or n_steps < 0:
        raise ValueError(f"n_steps must be an int >= 0; got {n_steps!r}")
    return int(n_steps)
