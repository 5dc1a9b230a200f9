"""Shared by assignment 7's checks: tolerances, what is forbidden, small helpers."""
from __future__ import annotations

import math

import numpy as np

from nnkit import gradcheck as gc

from ... import planted

THRESHOLD = planted.THRESHOLD
H = 1e-5
FLOOR = 1e-8

FORBIDDEN = tuple(f"nnkit.gradcheck:{name}" for name in (
    "numerical_gradient", "numerical_gradient_array", "rel_error", "check_gradients", "check_layer",
    "check_model", "_hint", "_confirm_bias_slips",
)) + ("nngrader.planted:planted_answer",)

DRIVER_CHANGED = "returned something other than its report: run the notebook's driver cell unchanged"


def _shape(s) -> str:
    return "(" + ", ".join(str(int(d)) for d in s) + ("," if len(s) == 1 else "") + ")"


def _close(a, b, tol: float = 1e-7) -> bool:
    """Same shape, finite, and ``rel_error <= tol``; False for anything that is not numeric."""
    try:
        a = np.asarray(a, dtype=np.float64)
        b = np.asarray(b, dtype=np.float64)
    except (TypeError, ValueError):
        return False
    return a.shape == b.shape and bool(np.all(np.isfinite(a))) and gc.rel_error(a, b) <= tol


def _fmt(e) -> str:
    if e is None:
        return "-"
    e = float(e)
    return "inf" if math.isinf(e) else f"{e:.2g}"


def _report(value, keys) -> bool:
    return isinstance(value, dict) and all(k in value for k in keys)


