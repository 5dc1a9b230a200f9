"""What every optimizer step checks before it changes anything (used by :mod:`nnkit.optimizers`).

``step(params, grads, state)`` updates in place, so it must refuse bad input *before* the first
array moves: :func:`check_step` checks that ``params`` holds float ndarrays, that ``grads`` has
the same keys, shapes and real, finite entries, and that ``state`` is what ``init_state`` made
for these parameters. Every message names the key and the expected and actual shapes.
"""
from __future__ import annotations

from typing import Mapping

import numpy as np

from ._validate import ShapeError, all_finite, shape_str

__all__ = ["check_params", "check_step"]


def check_step(params: Mapping, grads, state, slots: tuple[str, ...], owner: str) -> None:
    """Everything ``owner.step(params, grads, state)`` needs; raise before any update."""
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
