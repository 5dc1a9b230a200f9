"""Input checks shared by every nnkit module.

Every public function validates what it is given and raises an error a student can act on:
it names the argument, what was expected and what arrived. Nothing is fixed up silently.

The checks cost O(1) (shapes, dtypes) or one pass over the data (finiteness), so they are
cheap next to the matrix products they guard.
"""
from __future__ import annotations

import math
from numbers import Real
from typing import Iterable, Sequence

import numpy as np

__all__ = [
    "ShapeError",
    "as_array",
    "check_shape",
    "all_finite",
    "check_finite",
    "check_int",
    "check_real",
    "check_positive",
    "check_nonnegative",
    "check_probability",
    "check_rng",
    "check_same_length",
    "check_choice",
    "shape_str",
]


class ShapeError(ValueError):
    """An array had the wrong number of dimensions or the wrong size along one of them."""


def shape_str(shape: Sequence[int | None | str]) -> str:
    """``(3, None)`` -> ``'(3, any)'``; used in error messages."""
    parts = ["any" if s is None else str(s) for s in shape]
    return "(" + ", ".join(parts) + ("," if len(parts) == 1 else "") + ")"


def as_array(
    x,
    name: str,
    *,
    ndim: int | Iterable[int] | None = None,
    shape: Sequence[int | None] | None = None,
    finite: bool = True,
    allow_empty: bool = False,
    dtype=None,
) -> np.ndarray:
    """Return ``x`` as a floating-point ndarray, or raise an error that names ``name``.

    - Lists and integer arrays become float64; float32 and float64 arrays are kept as they are
      (no copy), so a float32 model stays float32.
    - Booleans, strings, objects and complex numbers are refused (TypeError).
    - ``ndim`` / ``shape`` are checked (ShapeError); ``None`` in ``shape`` matches any size.
    - NaN or Inf raise ValueError unless ``finite=False``; empty arrays raise unless
      ``allow_empty=True``.
    - ``dtype`` forces a dtype (for example ``np.float64`` for gradient checks).
    """
    if isinstance(x, np.ndarray):
        arr = x
    else:
        try:
            arr = np.asarray(x)
        except Exception as exc:  # ragged lists and the like
            raise TypeError(f"{name} must be array-like of numbers; could not convert {type(x).__name__}: {exc}") from None
    kind = arr.dtype.kind
    if kind in "iu":
        arr = arr.astype(np.float64 if dtype is None else dtype)
    elif kind == "f":
        if arr.dtype not in (np.float32, np.float64):
            arr = arr.astype(np.float64)
        if dtype is not None and arr.dtype != dtype:
            arr = arr.astype(dtype)
    else:
        what = {"b": "bool", "c": "complex", "O": "object", "U": "str", "S": "bytes"}.get(kind, str(arr.dtype))
        raise TypeError(f"{name} must hold real numbers (float or int); got dtype {what}")
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
        if arr.ndim not in allowed:
            want = " or ".join(f"{d}-D" for d in allowed)
            raise ShapeError(f"{name} must be {want}; got a {arr.ndim}-D array of shape {shape_str(arr.shape)}")
    if shape is not None:
        check_shape(arr, name, shape)
    if not allow_empty and arr.size == 0:
        raise ValueError(f"{name} is empty (shape {shape_str(arr.shape)}); expected at least one entry")
    if finite:
        check_finite(arr, name)
    return arr


def check_shape(arr: np.ndarray, name: str, expected: Sequence[int | None]) -> None:
    """Raise ShapeError unless ``arr.shape`` matches ``expected`` (``None`` = any size)."""
    expected = tuple(expected)
    ok = arr.ndim == len(expected) and all(e is None or e == s for e, s in zip(expected, arr.shape))
    if not ok:
        raise ShapeError(f"{name} must have shape {shape_str(expected)}; got {shape_str(arr.shape)}")


def all_finite(arr: np.ndarray) -> bool:
    """True iff no entry of ``arr`` is NaN or +-Inf, usually in one read-only pass.

    For float32/float64 the dot product ``sum(a * a)`` (one BLAS call, no temporary array) is
    finite exactly when every entry is, except that it overflows for huge finite entries; only
    then, or when it is NaN/Inf, does the exact elementwise test run. (``np.isfinite(a).all()``
    writes a boolean array and reads it again: about 1.5x the cost on the training hot path.)
    ``np.vdot`` does not warn when the sum overflows.
    """
    if arr.dtype.char in "fd" and math.isfinite(np.vdot(arr, arr)):
        return True
    return bool(np.isfinite(arr).all())


def check_finite(arr: np.ndarray, name: str) -> None:
    """Raise ValueError naming the first NaN/Inf entry of ``arr`` (checked with :func:`all_finite`)."""
    if not all_finite(arr):
        bad = np.argwhere(~np.isfinite(arr))[0]
        where = tuple(int(i) for i in bad)
        raise ValueError(f"{name} must be finite; found {arr[where]} at index {where if arr.ndim else '()'}")


def check_real(value, name: str) -> float:
    """Return ``float(value)``; raise unless it is a finite real number (not a bool or a string)."""
    if isinstance(value, bool) or not isinstance(value, (Real, np.floating, np.integer)):
        raise TypeError(f"{name} must be a real number; got {type(value).__name__} {value!r}")
    value = float(value)
    if not np.isfinite(value):
        raise ValueError(f"{name} must be finite; got {value}")
    return value


def check_positive(value, name: str) -> float:
    """Return ``float(value)``; raise unless it is a finite number > 0 (learning rates, eps)."""
    value = check_real(value, name)
    if value <= 0:
        raise ValueError(f"{name} must be > 0; got {value}")
    return value


def check_nonnegative(value, name: str) -> float:
    """Return ``float(value)``; raise unless it is a finite number >= 0."""
    value = check_real(value, name)
    if value < 0:
        raise ValueError(f"{name} must be >= 0; got {value}")
    return value


def check_probability(value, name: str, *, low_open: bool = False, high_open: bool = False) -> float:
    """Return ``float(value)``; raise unless it lies in [0, 1] (ends open if asked)."""
    value = check_real(value, name)
    lo, hi = ("(" if low_open else "["), (")" if high_open else "]")
    if value < 0 or value > 1 or (low_open and value == 0) or (high_open and value == 1):
        raise ValueError(f"{name} must be in {lo}0, 1{hi}; got {value}")
    return value


def check_int(value, name: str, minimum: int = 0, maximum: int | None = None) -> int:
    """Return ``int(value)``; raise unless it is an integer (not a bool) >= ``minimum`` and, when
    given, <= ``maximum`` (counts, sizes, the range of a demo's slider)."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an integer >= {minimum}; got {type(value).__name__} {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}; got {value}")
    if maximum is not None and value > maximum:
        raise ValueError(f"{name} must be an integer in {minimum}..{maximum}; got {value}")
    return int(value)


def check_rng(rng, name: str = "rng") -> np.random.Generator:
    """Insist on an explicit ``numpy.random.Generator`` (not a seed, not the global state)."""
    if not isinstance(rng, np.random.Generator):
        raise TypeError(
            f"{name} must be a numpy.random.Generator, e.g. numpy.random.default_rng(0); got {type(rng).__name__}"
        )
    return rng


def check_same_length(a: np.ndarray, b: np.ndarray, name_a: str, name_b: str) -> None:
    """Raise ValueError unless ``a`` and ``b`` have the same number of rows (samples)."""
    if len(a) != len(b):
        raise ValueError(f"{name_a} and {name_b} must have the same number of samples; got {len(a)} and {len(b)}")


def check_choice(value, name: str, choices: Iterable[str]) -> str:
    """Raise ValueError unless ``value`` is one of ``choices``."""
    choices = tuple(choices)
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, choices))}; got {value!r}")
    return value
