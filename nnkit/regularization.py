"""Regularization: L1/L2 weight penalties with their gradients, and early stopping.

Penalties
---------
Which parameters are penalised: by default only the *weight matrices*, i.e. the parameters
whose name starts with ``"W"`` (``"W1"``, ``"W2"``, ... in an nnkit model).  Biases (``"b1"``) and
normalization parameters (``"gamma2"``, ``"beta2"``) are *not* penalised, which is the usual
practice: a bias does not multiply an input, so shrinking it does not make the function
smoother.  Pass ``names=[...]`` to choose the parameters yourself.

- L2 (weight decay), with the 1/2 convention::

      penalty = (lam / 2) * sum w**2          gradient  lam * w

  The 1/2 makes the gradient ``lam * w``.  Texts that write ``lam * sum w**2`` (without the 1/2)
  have gradient ``2 * lam * w``: their ``lam`` is half of ours.

- L1::

      penalty = lam * sum |w|                 gradient  lam * sign(w)   (0 at w = 0)

  ``|w|`` has no derivative at 0; ``sign(0) = 0`` picks the subgradient that leaves a zero
  weight at zero (PyTorch's choice for ``abs``).

With gradient descent on ``loss + penalty`` the updates are (slip 18)::

    L2:  w <- w - lr * (dLoss/dw + lam * w)  =  (1 - lr*lam) * w - lr * dLoss/dw
    L1:  w <- w - lr * (dLoss/dw + lam * sign(w))

L2 shrinks every weight by the same *fraction*; L1 moves every weight towards 0 by the same
*amount*, which drives small weights to exactly zero (sparsity).

The gradient functions return a dict with the same keys as ``params`` (zeros for parameters
that are not penalised), so ``{k: grads[k] + reg[k] for k in grads}`` is all a training loop
needs.

Early stopping
--------------
:class:`EarlyStopping` watches a validation metric, remembers the best epoch and a copy of its
weights, and says when to stop.
"""
from __future__ import annotations

import math
from typing import Iterable, Mapping

import numpy as np

from ._validate import ShapeError, as_array, check_choice, check_nonnegative, shape_str

__all__ = [
    "default_penalty_names",
    "l1_penalty",
    "l1_grad",
    "l2_penalty",
    "l2_grad",
    "EarlyStopping",
]


def default_penalty_names(params: Mapping[str, np.ndarray]) -> list[str]:
    """Names penalised by default: the weight matrices, i.e. keys starting with ``"W"``."""
    return [key for key in params if str(key).startswith("W")]


def _select(params, lam, names) -> tuple[dict, float, set]:
    if not isinstance(params, Mapping):
        raise TypeError(f"params must be a dict mapping names to arrays; got {type(params).__name__}")
    lam = check_nonnegative(lam, "lam")
    arrays = {key: as_array(p, f"params[{key!r}]", allow_empty=True) for key, p in params.items()}
    if names is None:
        chosen = default_penalty_names(arrays)
    else:
        if isinstance(names, str):
            names = [names]
        chosen = list(names)
        unknown = [n for n in chosen if n not in arrays]
        if unknown:
            raise KeyError(f"names {unknown} are not in params (which has {list(arrays)})")
    return arrays, lam, set(chosen)


def _penalty(params, lam, names, term) -> tuple[float, float]:
    """``(lam, sum of term(w) over the selected parameters)``, summed in float64."""
    arrays, lam, chosen = _select(params, lam, names)
    return lam, sum(float(np.sum(term(arrays[k]), dtype=np.float64)) for k in arrays if k in chosen)


def _penalty_grad(params, lam, names, local) -> dict:
    """``lam * local(w)`` for the selected parameters, zeros for the others (new arrays)."""
    arrays, lam, chosen = _select(params, lam, names)
    return {k: (lam * local(w) if k in chosen else np.zeros_like(w)) for k, w in arrays.items()}


def l2_penalty(params: Mapping[str, np.ndarray], lam, names: Iterable[str] | None = None) -> float:
    """L2 penalty ``(lam / 2) * sum of w**2`` over the selected parameters.

    Parameters
    ----------
    params : dict of str -> ndarray
    lam : float >= 0
        Regularization strength lambda (the 1/2 convention: the gradient is ``lam * w``).
    names : iterable of str, optional
        Parameters to penalise; default the weight matrices (keys starting with ``"W"``),
        biases excluded.

    Returns
    -------
    float
    """
    lam, total = _penalty(params, lam, names, lambda w: np.square(w, dtype=np.float64))
    return 0.5 * lam * total


def l2_grad(params: Mapping[str, np.ndarray], lam, names: Iterable[str] | None = None) -> dict:
    """Gradient of :func:`l2_penalty`: ``lam * w`` for selected parameters, zeros for the others.

    Returns
    -------
    dict of str -> ndarray
        Same keys, shapes and dtypes as ``params``; new arrays.
    """
    return _penalty_grad(params, lam, names, lambda w: w)


def l1_penalty(params: Mapping[str, np.ndarray], lam, names: Iterable[str] | None = None) -> float:
    """L1 penalty ``lam * sum of |w|`` over the selected parameters (default: weight matrices).

    Parameters are as in :func:`l2_penalty`.
    """
    lam, total = _penalty(params, lam, names, np.abs)
    return lam * total


def l1_grad(params: Mapping[str, np.ndarray], lam, names: Iterable[str] | None = None) -> dict:
    """(Sub)gradient of :func:`l1_penalty`: ``lam * sign(w)`` (0 where w = 0) for the selected
    parameters, zeros for the others; keys, shapes and dtypes as ``params`` (new arrays)."""
    return _penalty_grad(params, lam, names, np.sign)


class EarlyStopping:
    """Stop training when a validation metric stops improving; remember the best weights.

    Parameters
    ----------
    patience : int >= 0
        Training stops at the ``patience``-th epoch in a row without improvement (0 and 1
        both stop at the first epoch that does not improve; Keras counts the same way).
    min_delta : float >= 0
        Smallest change that counts as an improvement: in mode "min" the metric must fall
        below ``best - min_delta``; in mode "max" rise above ``best + min_delta``.
    mode : {"min", "max"}
        "min" for losses, "max" for accuracies.
    restore_best : bool
        Whether the training loop should put the best weights back when it stops (it calls
        :meth:`restore`).  The best weights are copied either way.

    Attributes
    ----------
    best_metric : float or None
        Best value seen so far (None before the first update).
    best_epoch : int or None
        Epoch at which it was seen.
    best_params : dict of str -> ndarray or None
        *Copies* of the parameters at ``best_epoch`` (later training does not change them).
    wait : int
        Epochs since the last improvement.
    stopped_epoch : int or None
        Epoch at which :meth:`update` first returned True.

    Examples
    --------
    >>> params = {"W1": np.zeros((2, 2))}
    >>> es = EarlyStopping(patience=2)
    >>> for epoch, val_loss in enumerate([1.0, 0.7, 0.8, 0.9]):
    ...     if es.update(val_loss, params, epoch):
    ...         break
    >>> es.best_epoch, es.stopped_epoch
    (1, 3)
    """

    def __init__(self, patience, min_delta=0.0, mode="min", restore_best=True):
        if isinstance(patience, bool) or not isinstance(patience, (int, np.integer)) or patience < 0:
            raise ValueError(f"patience must be an int >= 0; got {patience!r}")
        self.patience = int(patience)
        self.min_delta = check_nonnegative(min_delta, "min_delta")
        self.mode = check_choice(mode, "mode", ("min", "max"))
        self.restore_best = bool(restore_best)
        self.reset()

    def reset(self) -> None:
        """Forget everything seen so far (to reuse the object for a new run)."""
        self.best_metric: float | None = None
        self.best_epoch: int | None = None
        self.best_params: dict | None = None
        self.wait = 0
        self.stopped_epoch: int | None = None
        self._n_updates = 0

    def __repr__(self) -> str:
        return (
            f"EarlyStopping(patience={self.patience}, min_delta={self.min_delta}, mode={self.mode!r}, "
            f"restore_best={self.restore_best}; best_metric={self.best_metric}, best_epoch={self.best_epoch}, "
            f"wait={self.wait})"
        )

    def is_improvement(self, metric: float) -> bool:
        """Whether ``metric`` beats the best so far by more than ``min_delta``."""
        if self.best_metric is None:
            return True
        if self.mode == "min":
            return metric < self.best_metric - self.min_delta
        return metric > self.best_metric + self.min_delta

    def update(self, metric, params: Mapping[str, np.ndarray], epoch: int | None = None) -> bool:
        """Record this epoch's metric; return True when training should stop.

        Parameters
        ----------
        metric : float
            Validation metric for this epoch (finite).
        params : dict of str -> ndarray
            Current parameters; copied if this is the best epoch so far (not modified).
        epoch : int, optional
            Epoch number to record; default counts calls from 0.

        Returns
        -------
        bool
            True once ``wait >= patience`` (and on every later call).
        """
        if isinstance(metric, bool) or not isinstance(metric, (int, float, np.integer, np.floating)):
            arr = np.asarray(metric)
            if arr.size != 1 or arr.dtype.kind not in "fiu":
                raise TypeError(f"metric must be a real number; got {metric!r}")
            metric = arr.item()
        metric = float(metric)
        if not math.isfinite(metric):
            raise ValueError(f"metric must be finite; got {metric} (did training diverge?)")
        if not isinstance(params, Mapping):
            raise TypeError(f"params must be a dict mapping names to arrays; got {type(params).__name__}")
        if epoch is None:
            epoch = self._n_updates
        self._n_updates += 1

        if self.is_improvement(metric):
            self.best_metric = metric
            self.best_epoch = int(epoch)
            self.best_params = {k: np.array(p, copy=True) for k, p in params.items()}
            self.wait = 0
        else:
            self.wait += 1
            if self.stopped_epoch is None and self.wait >= max(self.patience, 1):
                self.stopped_epoch = int(epoch)
        return self.stopped_epoch is not None

    def restore(self, params: Mapping[str, np.ndarray]) -> None:
        """Copy the best parameters back into ``params`` in place (arrays keep their identity).

        Raises
        ------
        RuntimeError
            If :meth:`update` has not been called yet.
        KeyError, ShapeError
            If ``params`` does not match the stored parameters.
        """
        if self.best_params is None:
            raise RuntimeError("EarlyStopping.restore: no best parameters yet; call update(metric, params) first")
        if params.keys() != self.best_params.keys():
            raise KeyError(
                f"params has keys {list(params)} but the stored best parameters have {list(self.best_params)}"
            )
        for k, best in self.best_params.items():
            if params[k].shape != best.shape:
                raise ShapeError(
                    f"params[{k!r}] has shape {shape_str(params[k].shape)} but the stored best has "
                    f"{shape_str(best.shape)}"
                )
        for k, best in self.best_params.items():
            params[k][...] = best
