"""What the losses check about their arguments (used by :mod:`nnkit.losses`).

Every check raises an error naming the argument, the expected and the actual value: shapes must
match exactly (never broadcast: a (N,) target against a (N, 1) prediction would silently become
an (N, N) loss), sample counts must agree, class labels must be in range, probabilities in
[0, 1], nothing NaN/Inf or empty. ``y_true`` is converted to the predictions' dtype, so a float32
model gets float32 gradients.
"""
from __future__ import annotations

import numpy as np

from ._validate import ShapeError, as_array, shape_str

__all__ = [
    "prediction", "target_like", "check_unit_interval", "check_order", "probabilities", "logit_targets",
    "distributions", "cross_entropy_inputs", "class_labels",
]


def prediction(y_pred, name: str = "y_pred") -> np.ndarray:
    """Predictions: a float array with at least one entry, finite."""
    return as_array(y_pred, name)


def target_like(y_true, pred: np.ndarray, pred_name: str, name: str = "y_true") -> np.ndarray:
    """Targets with exactly the shape of the predictions (no broadcasting), in their dtype."""
    y = as_array(y_true, name, dtype=pred.dtype, allow_empty=True)
    if y.shape != pred.shape:
        hint = ""
        if y.size == pred.size:
            hint = f" (same number of entries: reshape one of them, e.g. {name}.reshape({pred_name}.shape))"
        raise ShapeError(
            f"{name} must have the same shape as {pred_name} {shape_str(pred.shape)}; got {shape_str(y.shape)}{hint}"
        )
    return y


def check_unit_interval(arr: np.ndarray, name: str) -> None:
    """Raise ValueError naming the first entry outside [0, 1]."""
    if arr.min() < 0 or arr.max() > 1:
        bad = np.argwhere((arr < 0) | (arr > 1))[0]
        where = tuple(int(i) for i in bad)
        raise ValueError(
            f"{name} must hold probabilities in [0, 1]; found {arr[where]} at index {where if arr.ndim else '()'}"
        )


def check_order(p: np.ndarray, y: np.ndarray, loss: str) -> None:
    """Raise ValueError when the arguments look swapped: only 0s and 1s where the predictions go
    (targets) and values strictly between 0 and 1 where the targets go (probabilities)."""
    if ((y > 0) & (y < 1)).any() and ((p == 0) | (p == 1)).all():
        raise ValueError(
            f"{loss} takes (y_pred, y_true): y_pred holds only 0s and 1s and y_true values strictly "
            "between 0 and 1, as if the targets and the predicted probabilities were swapped"
        )


def probabilities(y_pred, y_true, loss: str) -> tuple[np.ndarray, np.ndarray]:
    """Predicted probabilities and targets for binary cross-entropy: same shape, in [0, 1], not swapped."""
    p = prediction(y_pred)
    y = target_like(y_true, p, "y_pred")
    check_unit_interval(p, "y_pred")
    check_unit_interval(y, "y_true")
    check_order(p, y, loss)
    return p, y


def logit_targets(logits, y_true) -> tuple[np.ndarray, np.ndarray]:
    """Scores (any real values) and targets in [0, 1] of the same shape."""
    z = prediction(logits, "logits")
    y = target_like(y_true, z, "logits")
    check_unit_interval(y, "y_true")
    return z, y


def distributions(y_pred, y_true) -> tuple[np.ndarray, np.ndarray]:
    """Two arrays of probability vectors, shape (K,) or (N, K), same shape, entries in [0, 1]."""
    p = as_array(y_pred, "y_pred", ndim=(1, 2))
    q = target_like(y_true, p, "y_pred")
    check_unit_interval(p, "y_pred")
    check_unit_interval(q, "y_true")
    return p, q


def cross_entropy_inputs(logits, y_true):
    """Validate ``(logits, y_true)``; return ``(z, labels, Y)`` with exactly one of labels / Y set."""
    z = as_array(logits, "logits", ndim=2)
    n, k = z.shape
    y = y_true if isinstance(y_true, np.ndarray) else np.asarray(y_true)
    if y.ndim == 1:
        return z, class_labels(y, n, k), None
    if y.ndim == 2:
        Y = as_array(y, "y_true", dtype=z.dtype)
        if Y.shape != z.shape:
            raise ShapeError(
                f"y_true as probabilities must have the shape of logits {shape_str(z.shape)}; got {shape_str(Y.shape)}"
            )
        check_unit_interval(Y, "y_true")
        sums = Y.sum(axis=1)
        tol = max(1e-6, 64 * np.finfo(Y.dtype).eps * k)
        off = np.abs(sums - 1) > tol
        if off.any():
            i = int(np.argmax(off))
            raise ValueError(
                f"each row of y_true must be a probability distribution summing to 1; row {i} sums to {sums[i]}"
            )
        return z, None, Y
    raise ShapeError(
        f"y_true must be integer class labels of shape ({n},) or probabilities of shape ({n}, {k}); "
        f"got a {y.ndim}-D array of shape {shape_str(y.shape)}"
    )


def class_labels(y: np.ndarray, n: int, k: int) -> np.ndarray:
    """Integer class labels in 0..k-1, one per sample."""
    kind = y.dtype.kind
    if kind == "f":
        if not np.isfinite(y).all() or (y != np.round(y)).any():
            bad = int(np.argmax(~np.isfinite(y) | (y != np.round(np.nan_to_num(y)))))
            raise ValueError(f"y_true as class labels must hold integers; found {y[bad]} at index {bad}")
        y = y.astype(np.intp)
    elif kind not in "iu":
        raise TypeError(f"y_true must hold integer class labels (or float probabilities); got dtype {y.dtype}")
    if y.size == 0:
        raise ValueError(f"y_true is empty (shape {shape_str(y.shape)}); expected {n} labels")
    if len(y) != n:
        raise ValueError(f"logits and y_true must have the same number of samples; got {n} and {len(y)}")
    if np.minimum.reduce(y) < 0 or np.maximum.reduce(y) >= k:
        bad = int(np.argmax((y < 0) | (y >= k)))
        raise ValueError(
            f"y_true holds class labels for {k} classes, so each must be in 0..{k - 1}; found {y[bad]} at index {bad}"
        )
    return y
