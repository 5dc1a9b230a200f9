"""Shared by assignment 7's checks: tolerances, what is forbidden, small helpers."""
from __future__ import annotations

import math

from ... import planted

THRESHOLD = planted.THRESHOLD
H = 1e-5
FLOOR = 1e-8

# nnkit's checker; and the clean backward passes, a bug-free answer to compare a served layer with
# (a proxy's own clean layer, or nnkit imported): a check must find the bug with the numbers alone
CLEAN_BACKWARD = (
    "nnkit.layers:Dense.backward", "nnkit.layers:dense_backward", "nnkit.layers:Activation.backward",
    "nnkit.layers:activation_backward", "nnkit.activations:softmax_backward",
    *(f"nnkit.activations:{name}_grad" for name in ("relu", "leaky_relu", "sigmoid", "tanh", "elu", "gelu",
                                                    "gelu_tanh", "softplus", "identity", "step")),
    *(f"nnkit.losses:{name}" for name in ("mse_grad", "half_mse_grad", "softmax_cross_entropy_grad",
                                          "softmax_cross_entropy_value_and_grad")),
    "nngrader.planted:MSELoss.backward", "nngrader.planted:SoftmaxCrossEntropyLoss.backward",
)
FORBIDDEN = tuple(f"nnkit.gradcheck:{name}" for name in (
    "numerical_gradient", "numerical_gradient_array", "rel_error", "check_gradients", "check_layer",
    "check_model", "_hint", "_confirm_bias_slips",
)) + ("nngrader.planted:planted_answer",) + CLEAN_BACKWARD

DRIVER_CHANGED = "returned something other than its report: run the notebook's driver cell unchanged"


def _fmt(e) -> str:
    if e is None:
        return "-"
    e = float(e)
    return "inf" if math.isinf(e) else f"{e:.2g}"


def _report(value, keys) -> bool:
    return isinstance(value, dict) and all(k in value for k in keys)


