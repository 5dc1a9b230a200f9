"""The optimizer contract: the :class:`Optimizer` base class and what its ``step`` checks.

An optimizer object holds only its *hyperparameters*; everything that changes while training
is *state*, a plain dict made by ``init_state(params)`` (see :mod:`nnkit.optimizers`, where the
nine optimizers and their conventions are). ``step(params, grads, state)`` first checks its
input (:func:`check_step`), so a bad gradient raises before anything is changed, then calls the
subclass's ``_update(p, g, t, *slot_arrays)`` once per parameter array: that method is where
each optimizer states its update rule, once.
"""
from __future__ import annotations

from typing import Mapping

import numpy as np

from ._validate import ShapeError, all_finite, as_array, check_positive, shape_str

__all__ = ["Optimizer", "check_params", "check_step"]


class Optimizer:
    """Base class: hyperparameters on the object, state in a plain dict.

    Subclasses list their per-parameter state arrays in ``slots`` and implement
    ``_update(p, g, t, *slot_arrays)`` for one parameter array.

    Attributes
    ----------
    lr : float
        Learning rate, > 0.  It may be changed between steps (a schedule does this); it is
        validated on every assignment.
    slots : tuple of str
        Names of the per-parameter arrays in the state (``()`` for plain SGD).
    """

    name = "optimizer"
    slots: tuple[str, ...] = ()

    def __init__(self, lr):
        self.lr = lr

    @property
    def lr(self) -> float:
        return self._lr

    @lr.setter
    def lr(self, value) -> None:
        self._lr = check_positive(value, "lr")

    # hyperparameters shown by repr, in order
    def hyperparameters(self) -> dict:
        """Hyperparameters as a dict (what ``repr`` shows)."""
        return {"lr": self.lr}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.hyperparameters().items())
        return f"{type(self).__name__}({args})"

    def init_state(self, params: Mapping[str, np.ndarray]) -> dict:
        """Fresh state for ``params``.

        Parameters
        ----------
        params : dict of str -> ndarray (float32 or float64)

        Returns
        -------
        state : dict
            ``{"t": 0, slot: {name: array like params[name]}, ...}``; ``"t"`` counts the steps
            taken.  The arrays have each parameter's shape and dtype.
        """
        check_params(params)
        for key, p in params.items():
            as_array(p, f"params[{key!r}]", allow_empty=True)  # NaN/Inf check
        state: dict = {"t": 0}
        for slot in self.slots:
            state[slot] = {key: self._init_slot(slot, p) for key, p in params.items()}
        return state

    def _init_slot(self, slot: str, p: np.ndarray) -> np.ndarray:
        return np.zeros_like(p)

    def step(self, params: Mapping[str, np.ndarray], grads: Mapping[str, np.ndarray], state: dict) -> None:
        """Take one step: update ``params`` and ``state`` in place; ``grads`` is not changed.

        Parameters
        ----------
        params : dict of str -> ndarray
            Updated in place (the arrays keep their identity and dtype).
        grads : dict of str -> ndarray
            Same keys and shapes as ``params``: dLoss/dparam.
        state : dict
            From ``init_state(params)``; updated in place (``state["t"]`` is incremented).

        Raises
        ------
        KeyError
            ``params`` and ``grads`` (or the state) have different keys; the message lists them.
        ShapeError
            A gradient's shape differs from its parameter's; the message names the key and both
            shapes.
        ValueError
            A gradient holds NaN or Inf; the message names the parameter.  Nothing is updated.
        """
        check_step(params, grads, state, self.slots, type(self).__name__)  # raises before any update
        t = state["t"] + 1
        state["t"] = t
        for key, p in params.items():
            self._update(p, grads[key], t, *(state[slot][key] for slot in self.slots))

    def _update(self, p: np.ndarray, g: np.ndarray, t: int, *slots: np.ndarray) -> None:  # pragma: no cover
        raise NotImplementedError


# --------------------------------------------------------------------------------------------
# checks made before any update
# --------------------------------------------------------------------------------------------
def check_step(params: Mapping, grads, state, slots: tuple[str, ...], owner: str) -> None:
    """Everything ``owner.step(params, grads, state)`` needs: raise before any array moves.

    ``params`` holds float ndarrays; ``grads`` has the same keys and shapes and real, finite
    entries; ``state`` is what ``owner.init_state`` made for these parameters. Every message
    names the key and the expected and actual shapes.
    """
    _check_grads(params, grads)
    _check_state(state, params, slots, owner)


def check_params(params, name: str = "params") -> None:
    """Parameters must be a mapping of float ndarrays (they are updated in place)."""
    if not isinstance(params, Mapping):
        raise TypeError(f"{name} must be a dict mapping names to arrays; got {type(params).__name__}")
    for key, p in params.items():
        if not isinstance(p, np.ndarray):
            raise TypeError(
                f"{name}[{key!r}] must be a numpy ndarray (it is updated in place); got {type(p).__name__}"
            )
        if p.dtype.kind != "f":
            raise TypeError(
                f"{name}[{key!r}] must have a floating dtype (float32 or float64) to be updated in place; "
                f"got {p.dtype}"
            )


def _key_mismatch(a: Mapping, b: Mapping, name_a: str, name_b: str) -> KeyError:
    missing = [k for k in a if k not in b]
    extra = [k for k in b if k not in a]
    parts = []
    if missing:
        parts.append(f"missing from {name_b}: {missing}")
    if extra:
        parts.append(f"in {name_b} but not in {name_a}: {extra}")
    return KeyError(f"{name_a} and {name_b} must have the same keys; " + "; ".join(parts))


def _check_grads(params: Mapping, grads) -> None:
    """Keys, shapes, dtypes and finiteness of ``grads`` against ``params``; raise before any update."""
    check_params(params)
    if not isinstance(grads, Mapping):
        raise TypeError(f"grads must be a dict mapping names to arrays; got {type(grads).__name__}")
    if params.keys() != grads.keys():
        raise _key_mismatch(params, grads, "params", "grads")
    for key, p in params.items():
        _check_grad(key, p, grads[key])


def _check_grad(key, p: np.ndarray, g) -> None:
    if not isinstance(g, np.ndarray):
        raise TypeError(f"grads[{key!r}] must be a numpy ndarray; got {type(g).__name__}")
    if g.shape != p.shape:
        raise ShapeError(
            f"grads[{key!r}] has shape {shape_str(g.shape)} but params[{key!r}] has shape "
            f"{shape_str(p.shape)}; they must match"
        )
    if g.dtype.kind not in "fiu":
        raise TypeError(f"grads[{key!r}] must hold real numbers; got dtype {g.dtype}")
    if not all_finite(g):
        bad = tuple(int(i) for i in np.argwhere(~np.isfinite(g))[0])
        raise ValueError(
            f"gradient of parameter {key!r} is not finite: grads[{key!r}] has {g[bad]} at index {bad} "
            "(diverging training? try a smaller lr or gradient clipping)"
        )


def _check_state(state, params: Mapping, slots: tuple[str, ...], owner: str) -> None:
    if not isinstance(state, dict) or "t" not in state:
        raise TypeError(f"state must be the dict returned by {owner}.init_state(params); got {type(state).__name__}")
    for slot in slots:
        if slot not in state:
            raise KeyError(
                f"state has no entry {slot!r}: it was not made by {owner}.init_state(params) "
                f"(expected keys {['t', *slots]}, got {list(state)})"
            )
        arrays = state[slot]
        if arrays.keys() != params.keys():
            raise _key_mismatch(params, arrays, "params", f"state[{slot!r}]") from None
        for key, p in params.items():
            if arrays[key].shape != p.shape:
                raise ShapeError(
                    f"state[{slot!r}][{key!r}] has shape {shape_str(arrays[key].shape)} but params[{key!r}] has "
                    f"shape {shape_str(p.shape)}; call init_state(params) again"
                )
