"""Gradient clipping: tame exploding gradients before the optimizer step.

Both functions take a dict of gradients (keyed like the model's parameters, ``"W1"``, ``"b1"``,
...) and return a *new* dict of *new* arrays; the input is never modified.  Shapes and dtypes
are kept (float32 stays float32).

- :func:`clip_by_value` sets every entry outside ``[-clip, clip]`` *to* the nearest threshold
  (entries are not discarded, slip 17).  This changes the gradient's direction.
- :func:`clip_by_norm` rescales ``g <- g * max_norm / ||g||`` when ``||g|| > max_norm``, which
  keeps the direction.  The norm is either one *global* norm over all tensors together (the
  default, like ``torch.nn.utils.clip_grad_norm_`` and Keras's ``global_clipnorm``) or one norm
  *per tensor* (like Keras's ``clipnorm``); the ``scope`` argument names which.

Usage in a training loop::

    grads = clip_by_norm(grads, max_norm=5.0)            # global
    optimizer.step(params, grads, state)
"""
from __future__ import annotations

import math
from typing import Mapping

import numpy as np

from ._validate import as_array, check_choice, check_nonnegative, check_positive

__all__ = ["global_norm", "clip_by_value", "clip_by_norm"]


def _checked(grads, name: str = "grads") -> dict:
    if not isinstance(grads, Mapping):
        raise TypeError(f"{name} must be a dict mapping parameter names to gradient arrays; got {type(grads).__name__}")
    # as_array keeps float32/float64 ndarrays as they are (no copy) and rejects NaN/Inf with the key.
    return {key: as_array(g, f"{name}[{key!r}]", allow_empty=True) for key, g in grads.items()}


def _norm(g: np.ndarray) -> float:
    """Euclidean norm of all entries, accumulated in float64 so float32 squares cannot overflow."""
    g = g.astype(np.float64, copy=False).ravel()
    return math.sqrt(float(np.dot(g, g))) if g.size else 0.0


def global_norm(grads: Mapping[str, np.ndarray]) -> float:
    """Norm of all gradients taken together, ``sqrt(sum_k sum_i g_k[i]**2)``.

    Parameters
    ----------
    grads : dict of str -> ndarray
        Any shapes.

    Returns
    -------
    float
        ``sqrt(sum of squared per-tensor norms)``; 0.0 for an empty dict.  Computed in float64.
    """
    return math.sqrt(sum(_norm(g) ** 2 for g in _checked(grads).values()))


def clip_by_value(grads: Mapping[str, np.ndarray], clip) -> dict:
    """Clip each gradient entry to ``[-clip, clip]``.

    Parameters
    ----------
    grads : dict of str -> ndarray
    clip : float > 0
        Threshold.

    Returns
    -------
    dict of str -> ndarray
        New arrays, same shapes and dtypes: ``min(max(g, -clip), clip)`` entrywise.  An entry
        beyond the threshold becomes the threshold itself (it is not dropped or zeroed).  Same as
        ``torch.nn.utils.clip_grad_value_(params, clip)``.

    Notes
    -----
    Clipping entries independently changes the gradient's direction: ``[10, 1]`` clipped at 1
    becomes ``[1, 1]``.  Use :func:`clip_by_norm` to keep the direction.
    """
    clip = check_positive(clip, "clip")
    return {key: np.clip(g, -clip, clip) for key, g in _checked(grads).items()}


def clip_by_norm(grads: Mapping[str, np.ndarray], max_norm, scope: str = "global", *, eps=0.0) -> dict:
    """Rescale gradients whose norm exceeds ``max_norm``, keeping their direction.

    Parameters
    ----------
    grads : dict of str -> ndarray
    max_norm : float > 0
    scope : {"global", "per_tensor"}
        ``"global"``: one norm ``N = global_norm(grads)`` over all tensors; every tensor is
        multiplied by the same factor, so the direction of the whole gradient is kept (PyTorch's
        ``clip_grad_norm_``).  ``"per_tensor"``: each tensor is clipped by its own norm
        (Keras's ``clipnorm``); each tensor keeps its direction but their relative sizes change.
    eps : float >= 0, keyword-only
        Added to the norm in the factor.  0 (default) is the textbook rule, after which the norm
        is exactly ``max_norm``.  PyTorch uses ``eps=1e-6`` and always multiplies by
        ``min(1, max_norm / (N + 1e-6))``; pass ``eps=1e-6`` to reproduce it exactly.

    Returns
    -------
    dict of str -> ndarray
        New arrays, same shapes and dtypes::

            g <- g * max_norm / (N + eps)    if N + eps > max_norm
            g <- g                           otherwise (a copy)
    """
    max_norm = check_positive(max_norm, "max_norm")
    check_choice(scope, "scope", ("global", "per_tensor"))
    eps = check_nonnegative(eps, "eps")
    grads = _checked(grads)

    def scaled(g: np.ndarray, norm: float) -> np.ndarray:
        factor = max_norm / (norm + eps) if norm + eps > 0 else 1.0
        return g * factor if factor < 1.0 else g.copy()

    if scope == "global":
        total = math.sqrt(sum(_norm(g) ** 2 for g in grads.values()))
        return {key: scaled(g, total) for key, g in grads.items()}
    return {key: scaled(g, _norm(g)) for key, g in grads.items()}
