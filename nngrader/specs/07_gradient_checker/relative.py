"""Assignment 7, ``relative_error``: one error per entry, against the tensor's scale."""
from __future__ import annotations

import numpy as np


from .. import Case
from ...verdict import Part, close_or_numeric

from ._common import DRIVER_CHANGED, FLOOR, _report
from ...verdict import matches as _close
from ...verdict import shape_text as _shape
from .numerical import _random_shape


# --------------------------------------------------------------------------------------------
# relative_error
# --------------------------------------------------------------------------------------------
def _expected_rel(a, b):
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.size == 0:
        return np.zeros(a.shape)
    return np.abs(a - b) / max(FLOOR, float(np.max(np.abs(a) + np.abs(b))))


def re_visible(rng):
    a = rng.normal(size=(4, 3))
    b = a + 1e-9 * rng.normal(size=(4, 3))
    b[0, 1] = a[0, 1] = 0.0
    a[2, 2], b[2, 2] = 3e-12, -2e-12
    return [
        Case((np.array([1.0, 2.0, 3.0]), np.array([1.0, 2.2, 2.7])),
             label="a = (1, 2, 3), b = (1, 2.2, 2.7): the scale is max(|a| + |b|) = 5.7"),
        Case((np.zeros(3), np.zeros(3)), label="a = b = 0: every error is 0, not 0/0"),
        Case((np.array([1e-10, 0.0, 3e-10]), np.array([0.0, 0.0, 3e-10])),
             label="both below the floor: the denominator is 1e-8"),
        Case((a, b), label="a (4, 3) and a nearly equal b, one entry of each near 0"),
        Case((rng.normal(size=(4, 3)), rng.normal(size=(3,))), function="run_relative_error",
             label="a (4, 3), b (3,): different shapes raise ValueError"),
    ]


def re_hidden(rng):
    cases = []
    for ndim in (1, 2, 3):
        shape = _random_shape(rng, ndim)
        a = rng.normal(size=shape) * 10.0 ** rng.integers(-3, 4)
        cases.append(Case((a, a + rng.normal(size=shape) * 1e-3 * np.abs(a).max()), label=f"a, b {_shape(shape)}"))
    n = int(rng.integers(2, 6))
    a = rng.normal(size=n)
    cases.append(Case((a, -a), label=f"b = -a ({n},): opposite signs"))
    shape = (int(rng.integers(2, 5)), int(rng.integers(2, 5)))
    a = rng.normal(size=shape)
    b = a * (1 + 1e-8 * rng.normal(size=shape))
    a[0], b[0] = 1e-13 * rng.normal(size=shape[1]), 1e-13 * rng.normal(size=shape[1])
    cases.append(Case((a, b), label=f"a, b {_shape(shape)} agree, a row of both near 0"))
    cases.append(Case((1e-11 * rng.normal(size=4), 1e-11 * rng.normal(size=4)), label="both near 0 (4,)"))
    cases.append(Case((np.array([float(rng.normal())]), np.array([float(rng.normal())])), label="one entry each"))
    n, d = int(rng.integers(2, 6)), int(rng.integers(2, 5))
    cases.append(Case((rng.normal(size=(n, d)), rng.normal(size=(d,))), function="run_relative_error",
                      label=f"a ({n}, {d}), b ({d},): different shapes"))
    n = int(rng.integers(2, 5))
    cases.append(Case((rng.normal(size=(n, n + 1)), rng.normal(size=(n + 1, n))), function="run_relative_error",
                      label=f"a ({n}, {n + 1}), b ({n + 1}, {n}): different shapes"))
    return cases


def re_judge(case, value):
    a, b = case.args
    if case.function == "run_relative_error":
        if not _report(value, ("value", "error")):
            return [Part(False, f"run_relative_error {DRIVER_CHANGED}")]
        if value["error"].startswith("raised ValueError"):
            return [Part(True)]
        if value["error"]:
            return [Part(False, f"relative_error {value['error']}; expected a ValueError for different shapes",
                         cause="" if "NotImplementedError" in value["error"] else
                         "compare the shapes first and raise ValueError when they differ")]
        return [Part(False, f"relative_error returned a result for a {_shape(a.shape)} and b {_shape(b.shape)}; "
                            "expected a ValueError", cause=(
                                "raise ValueError when the shapes differ: NumPy would broadcast them, comparing every "
                                "row of a with b, which hides a gradient of the wrong shape"))]
    ref = _expected_rel(a, b)
    part, got = close_or_numeric("errors", value, ref, tol=1e-9)
    if got is None:
        return [part]
    absdiff = np.abs(a - b)
    scale = float(np.max(np.abs(a) + np.abs(b)))
    if got.size == 1 and ref.size > 1 and _close(got.reshape(()), ref.max(), 1e-9):
        part.cause = ("return one error per entry, an array shaped like a; its largest entry, np.max(...), "
                      "is the error of the whole tensor")
    elif got.shape == ref.shape and not np.all(np.isfinite(got)):
        part.cause = "0/0: divide by max(1e-8, max(|a| + |b|)), so the denominator is never 0"
    elif _close(got, absdiff / np.maximum(FLOOR, np.abs(a) + np.abs(b)), 1e-9):
        part.cause = ("you divided each entry by its own |a_i| + |b_i|; here every entry is divided by the "
                      "tensor's scale max(|a| + |b|), so entries that are nearly 0 in both raise no false alarm")
    elif _close(got, absdiff / (FLOOR + scale), 1e-9):
        part.cause = "the floor is a maximum, max(1e-8, max(|a| + |b|)), not added to the scale"
    elif _close(got, absdiff / max(FLOOR, float(max(np.abs(a).max(), np.abs(b).max()))), 1e-9):
        part.cause = ("the denominator is max(|a| + |b|), the largest sum of the two sizes at one entry, not the "
                      "largest size of either")
    elif _close(got, absdiff / max(FLOOR, float(np.sum(np.abs(a) + np.abs(b)))), 1e-9):
        part.cause = "the denominator is the largest |a_i| + |b_i|, not their sum over all entries"
    return [part]


