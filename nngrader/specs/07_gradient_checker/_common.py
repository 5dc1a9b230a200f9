"""Shared by assignment 7's checks: tolerances, what is forbidden, small helpers."""
from __future__ import annotations

import math

from ... import planted

THRESHOLD = planted.THRESHOLD
H = 1e-5
FLOOR = 1e-8

FORBIDDEN = tuple(f"nnkit.gradcheck:{name}" for name in (
    "numerical_gradient", "numerical_gradient_array", "rel_error", "check_gradients", "check_layer",
    "check_model", "_hint", "_confirm_bias_slips",
)) + ("nngrader.planted:planted_answer",)

DRIVER_CHANGED = "returned something other than its report: run the notebook's driver cell unchanged"


def _fmt(e) -> str:
    if e is None:
        return "-"
    e = float(e)
    return "inf" if math.isinf(e) else f"{e:.2g}"


def _report(value, keys) -> bool:
    return isinstance(value, dict) and all(k in value for k in keys)


