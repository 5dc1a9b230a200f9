"""Assignment 3, the 2-layer tanh/sigmoid network and softmax: checks against nnkit.

Student functions (conventions as the notebook states them). Rows are samples and every layer
computes ``z = a @ W + b``:

- ``forward(X, params)`` -> dict ``{"z1": (N, 1), "a1": (N, 1), "z2": (N, 2), "y_hat": (N, 2)}``
  for ``X`` (N, 2) and ``params`` ``W1`` (2, 1), ``b1`` (1,), ``W2`` (1, 2), ``b2`` (2,);
  ``a1 = tanh(z1)``, ``y_hat = sigmoid(z2)``. Compared with nnkit's dense layer and activations.
- ``loss(y_hat, Y)`` -> float: binary cross-entropy *summed over the two outputs* and
  *averaged over the N samples*, i.e. ``2 * nnkit.losses.binary_cross_entropy`` (which averages
  over all N * 2 entries, PyTorch's ``reduction="mean"``).
- ``backward(X, Y, params)`` -> dict of gradients keyed like ``params``. Checked per tensor
  against centred finite differences of nnkit's reference loss
  ``2 * binary_cross_entropy_with_logits(z2, Y)``; known slips (tanh' without the square,
  sigmoid' taken as sigmoid, sigmoid' applied on top of ``y_hat - y``, the mean over all
  entries) are recognised and named in the diagnosis.
- ``softmax(z)``: along the last axis, ``z`` (K,) or (N, K); must survive ``|z| ~ 1000``.
- ``softmax_jacobian(z)``: the *logits* ``z`` (K,) -> (K, K) with ``J[i, j] = ds_i/dz_j
  = s_i (delta_ij - s_j)``. Diagonal and off-diagonal entries are judged separately.
- ``softmax_ce_grad(logits, y)``: ``(softmax(logits) - Y) / N`` with ``y`` integer labels (N,)
  or one-hot rows (N, K); checked by finite differences of
  ``nnkit.losses.softmax_cross_entropy``.
"""
from __future__ import annotations

import numpy as np

from nnkit import activations as act
from nnkit import losses
from nnkit.gradcheck import CHAIN_RULE_ADVICE, rel_error
from nnkit.layers import dense_forward

from . import Case, Check
from ..verdict import Part, as_numeric, close_or_numeric, compare_close, gradient_parts
from ..verdict import matches as _close
from ..verdict import shape_text as _shape

PARAM_SHAPES = {"W1": (2, 1), "b1": (1,), "W2": (1, 2), "b2": (2,)}
SLIDE_Z = np.array([1.1, 2.2, 0.2, -1.7])  # slide 003's softmax example

# --------------------------------------------------------------------------------------------
# nnkit's own implementations: calling one of them inside the graded function scores 0
# --------------------------------------------------------------------------------------------
_NUMERIC = (
    "nnkit.gradcheck:numerical_gradient",
    "nnkit.gradcheck:numerical_gradient_array",
    "nnkit.gradcheck:check_gradients",
    "nnkit.gradcheck:check_layer",
    "nnkit.gradcheck:check_model",
)
FORWARD_FORBIDDEN = (
    "nnkit.layers:dense_forward",
    "nnkit.layers:activation_forward",
    "nnkit.layers:Dense.forward",
    "nnkit.layers:Activation.forward",
    "nnkit.model:Sequential.forward",
    "nnkit.model:Sequential.predict",
    "nnkit.activations:tanh",
    "nnkit.activations:sigmoid",
)
LOSS_FORBIDDEN = (
    "nnkit.losses:binary_cross_entropy",
    "nnkit.losses:binary_cross_entropy_with_logits",
    "nnkit.losses:Loss.__call__",
    "nnkit.losses:Loss.value_and_grad",
)
BACKWARD_FORBIDDEN = FORWARD_FORBIDDEN + LOSS_FORBIDDEN + _NUMERIC + (
    "nnkit.activations:tanh_grad",
    "nnkit.activations:sigmoid_grad",
    "nnkit.layers:dense_backward",
    "nnkit.layers:activation_backward",
    "nnkit.layers:Dense.backward",
    "nnkit.layers:Activation.backward",
    "nnkit.model:Sequential.backward",
    "nnkit.model:loss_and_grads",
    "nnkit.losses:binary_cross_entropy_grad",
    "nnkit.losses:binary_cross_entropy_with_logits_grad",
)
SOFTMAX_FORBIDDEN = (
    "nnkit.activations:softmax",
    "nnkit.activations:log_softmax",
    "nnkit.activations:softmax_jacobian",
    "nnkit.activations:softmax_backward",
    "nnkit.losses:softmax_cross_entropy",
    "nnkit.losses:softmax_cross_entropy_grad",
    "nnkit.losses:softmax_cross_entropy_value_and_grad",
    "nnkit.losses:_log_sum_exp_parts",
)





def _add(part: Part, note: str) -> Part:
    """Give a failed part the cause its numbers confirmed."""
    if not part.ok and note:
        part.cause = note
    return part


# --------------------------------------------------------------------------------------------
# the network: references
# --------------------------------------------------------------------------------------------
def _params(rng, scale: float = 1.0) -> dict:
    return {k: rng.normal(0.0, scale, size=s) for k, s in PARAM_SHAPES.items()}


def _ref_forward(X, p) -> dict:
    z1 = dense_forward(X, p["W1"], p["b1"])[0]
    a1 = act.tanh(z1)
    z2 = dense_forward(a1, p["W2"], p["b2"])[0]
    return {"z1": z1, "a1": a1, "z2": z2, "y_hat": act.sigmoid(z2)}


def _ref_loss(y_hat, Y) -> float:
    """Summed over the outputs, averaged over the samples: K times nnkit's mean over all entries."""
    return Y.shape[1] * losses.binary_cross_entropy(y_hat, Y)


def _logit_loss(X, Y):
    """nnkit's reference loss as a function of the parameters (stable: computed from the logits)."""
    def f(p):
        z1 = dense_forward(X, p["W1"], p["b1"])[0]
        z2 = dense_forward(act.tanh(z1), p["W2"], p["b2"])[0]
        return Y.shape[1] * losses.binary_cross_entropy_with_logits(z2, Y)
    return f


def _slip_grads(X, Y, p, slip: str) -> dict:
    """The gradients a known slip produces (to recognise it in a student's answer)."""
    f = _ref_forward(X, p)
    a1, y_hat = f["a1"], f["y_hat"]
    n = X.shape[0]
    dz2 = (y_hat - Y) / n
    tanh_d = 1.0 - a1**2
    if slip == "tanh_no_square":
        tanh_d = 1.0 - a1
    elif slip == "sigmoid_as_s":  # dL/dy_hat * sigmoid(z2) instead of * sigmoid'(z2)
        dz2 = (y_hat - Y) / (y_hat * (1.0 - y_hat)) * y_hat / n
    elif slip == "sigmoid_twice":  # (y_hat - y) already contains sigmoid'; multiplied again
        dz2 = dz2 * y_hat * (1.0 - y_hat)
    elif slip == "mean_over_entries":
        dz2 = dz2 / Y.shape[1]
    elif slip == "no_batch_mean":
        dz2 = dz2 * n
    dz1 = (dz2 @ p["W2"].T) * tanh_d
    return {"W1": X.T @ dz1, "b1": dz1.sum(0), "W2": a1.T @ dz2, "b2": dz2.sum(0)}


SLIPS = {
    "tanh_no_square": "it matches the gradient you get with tanh'(z) taken as 1 - tanh(z), which is not the "
                      "derivative of tanh: derive it again (Task 2.1 asks for it too)",
    "sigmoid_as_s": "it matches the gradient you get with sigmoid'(z) = sigmoid(z): the derivative is "
                    "s(1 - s); with cross-entropy the output error simplifies to (y_hat - y) / N",
    "sigmoid_twice": "it matches (y_hat - y) * sigmoid'(z2) / N: for a sigmoid output with cross-entropy, "
                     "dL/dz2 = (y_hat - y) / N already contains sigmoid'(z2); do not multiply by it again",
    "mean_over_entries": "it matches a loss averaged over the 2 outputs too (divided by 2N); this notebook's "
                         "loss sums over the two outputs and averages over the N samples only",
    "no_batch_mean": "it is N times the right gradient: the loss is the mean over the N samples, so "
                     "dL/dz2 = (y_hat - y) / N",
}


# --------------------------------------------------------------------------------------------
# forward
# --------------------------------------------------------------------------------------------
def _fwd_visible(rng):
    X = np.array([[1.0, 2.0], [-1.0, 0.5], [0.0, -3.0]])
    zero = {k: np.zeros(s) for k, s in PARAM_SHAPES.items()}
    p = {"W1": np.array([[0.5], [-0.25]]), "b1": np.array([0.1]),
         "W2": np.array([[2.0, -1.0]]), "b2": np.array([0.0, 0.5])}
    return [
        Case((X, zero), label="all parameters 0: z1 = a1 = z2 = 0, y_hat = 0.5"),
        Case((X, p), label="X (3, 2), small hand-picked weights"),
        Case((rng.normal(size=(5, 2)), _params(rng)), label="random X (5, 2) and parameters"),
    ]


def _fwd_hidden(rng):
    cases = []
    for n, scale in ((int(rng.integers(2, 12)), 1.0), (1, 1.0), (int(rng.integers(10, 40)), 0.5)):
        cases.append(Case((rng.normal(size=(n, 2)), _params(rng, scale)), label=f"X ({n}, 2)"))
    n = int(rng.integers(3, 9))
    p = _params(rng, 1.0)
    p["W2"] = rng.choice([-1.0, 1.0], size=(1, 2)) * rng.uniform(15, 30, size=(1, 2))  # saturated outputs
    cases.append(Case((3 * rng.normal(size=(n, 2)), p), label=f"X ({n}, 2), large output weights (|z2| up to ~30)"))
    return cases


def _fwd_judge(case, value):
    X, p = case.args
    ref = _ref_forward(X, p)
    names = list(ref)
    if not isinstance(value, dict):
        got = f"a {type(value).__name__}"
        if isinstance(value, np.ndarray):
            got = f"an array of shape {_shape(value.shape)}"
        return [Part(False, f"return value: expected a dict with keys {', '.join(names)}; got {got}")] + [
            Part(False, "") for _ in names[1:]]
    parts = []
    for k in names:
        if k not in value:
            parts.append(Part(False, f"{k}: missing from the returned dict (keys: {', '.join(map(str, value)) or 'none'})"))
        else:
            parts.append(compare_close(k, value[k], ref[k], tol=1e-8))
    ok = {k: p_.ok for k, p_ in zip(names, parts)}
    got = {k: value.get(k) for k in names}
    if not ok["z1"] and _close(got["z1"], X @ p["W1"]):
        _add(parts[0], "the bias b1 is missing: z1 = X @ W1 + b1")
    # a named slip when the numbers match it; otherwise the rule, in the message
    if not ok["a1"] and ok["z1"]:
        if _close(got["a1"], act.sigmoid(ref["z1"])):
            _add(parts[1], "that is sigmoid(z1); the hidden unit uses tanh: a1 = tanh(z1)")
        else:
            parts[1].message += " (a1 = tanh(z1))"
    if not ok["z2"] and ok["a1"]:
        if _close(got["z2"], ref["a1"] @ p["W2"]):
            _add(parts[2], "the bias b2 is missing: z2 = a1 @ W2 + b2")
        else:
            parts[2].message += " (z2 = a1 @ W2 + b2, shape (N, 2))"
    if not ok["y_hat"] and ok["z2"]:
        if _close(got["y_hat"], np.tanh(ref["z2"])):
            _add(parts[3], "that is tanh(z2); the outputs use the sigmoid: y_hat = 1 / (1 + exp(-z2))")
        else:
            parts[3].message += " (y_hat = sigmoid(z2) = 1 / (1 + exp(-z2)))"
    return parts


# --------------------------------------------------------------------------------------------
# loss
# --------------------------------------------------------------------------------------------
def _loss_visible(rng):
    Y = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    return [
        Case((np.full((3, 2), 0.5), Y), label="y_hat = 0.5 everywhere: loss = 2 log 2 = 1.386"),
        Case((np.array([[0.9, 0.2], [0.3, 0.6]]), np.array([[1.0, 0.0], [0.0, 1.0]])),
             label="y_hat [[0.9, 0.2], [0.3, 0.6]], Y [[1, 0], [0, 1]]"),
    ]


def _loss_hidden(rng):
    cases = []
    for n in (int(rng.integers(4, 20)), 1, int(rng.integers(2, 6))):
        y_hat = rng.uniform(0.02, 0.98, size=(n, 2))
        Y = rng.integers(0, 2, size=(n, 2)).astype(np.float64)
        cases.append(Case((y_hat, Y), label=f"y_hat ({n}, 2)"))
    n = int(rng.integers(3, 8))
    Y = rng.integers(0, 2, size=(n, 2)).astype(np.float64)
    conf = rng.uniform(1e-4, 1e-2, size=(n, 2))
    y_hat = np.where(rng.random((n, 2)) < 0.7, np.abs(Y - conf), np.abs(1 - Y - conf))  # mostly confident, some confidently wrong
    cases.append(Case((y_hat, Y), label=f"y_hat ({n}, 2) close to 0 and 1"))
    return cases


def _loss_judge(case, value):
    y_hat, Y = case.args
    ref = _ref_loss(y_hat, Y)
    part, a = close_or_numeric("loss", value, ref, tol=1e-9, scalar=True)
    if a is not None and a.size == 1 and np.isfinite(a).all():
        r = float(a.ravel()[0]) / ref
        n = Y.shape[0]
        if abs(r - 0.5) < 1e-6:
            _add(part, "that is the mean over all N * 2 entries; here the loss sums over the 2 outputs and averages over the N samples")
        elif n > 1 and abs(r - n) < 1e-6 * n:
            _add(part, "that is the sum over the batch: divide by N (the number of rows)")
        elif abs(r + 1) < 1e-6:
            _add(part, "wrong sign: the loss is -(y log y_hat + (1 - y) log(1 - y_hat)), a positive number")
    elif a is not None and a.size != 1:
        part.cause = "return one number: the loss of the whole batch"
    return [part]


# --------------------------------------------------------------------------------------------
# backward
# --------------------------------------------------------------------------------------------
def _bwd_visible(rng):
    X = np.array([[1.0, 2.0], [-1.0, 0.5], [0.0, -3.0], [0.5, 0.5]])
    Y = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [0.0, 0.0]])
    return [
        Case((X, Y, _params(rng)), label="X (4, 2), random parameters"),
        Case((rng.normal(size=(1, 2)), np.array([[0.0, 1.0]]), _params(rng)), label="one sample, X (1, 2)"),
    ]


def _bwd_hidden(rng):
    cases = []
    for n, scale in ((int(rng.integers(2, 10)), 1.0), (1, 1.5), (int(rng.integers(10, 30)), 0.7),
                     (int(rng.integers(3, 8)), 2.0)):
        X = rng.normal(size=(n, 2))
        Y = rng.integers(0, 2, size=(n, 2)).astype(np.float64)
        cases.append(Case((X, Y, _params(rng, scale)), label=f"X ({n}, 2), weights ~ N(0, {scale:g}^2)"))
    n = int(rng.integers(4, 10))
    cases.append(Case((rng.normal(size=(n, 2)), np.ones((n, 2)), _params(rng)), label=f"X ({n}, 2), every target 1"))
    return cases


def _bwd_judge(case, value):
    X, Y, p = case.args
    if not isinstance(value, dict):
        return [Part(False, f"return value: expected a dict of gradients with keys {', '.join(PARAM_SHAPES)} "
                            f"(keyed like params); got a {type(value).__name__}")] + [Part(False, "")] * 3
    if not any(k in value for k in PARAM_SHAPES) and any(f"d{k}" in value for k in PARAM_SHAPES):
        note = "key the gradients like params: grads['W1'], not grads['dW1']"
        return [Part(False, note)] + [Part(False, "")] * 3
    params = {k: np.array(v, dtype=np.float64) for k, v in p.items()}
    parts = gradient_parts(_logit_loss(X, Y), params, value)
    slips = {slip: _slip_grads(X, Y, p, slip) for slip in SLIPS}
    for part in parts:
        name = part.name[1:]  # "dW1" -> "W1"
        if part.ok or name not in PARAM_SHAPES:
            continue
        for slip, note in SLIPS.items():
            if _close(value.get(name), slips[slip][name], tol=1e-7):
                part.cause = note  # the recognised slip replaces check_gradients' generic advice
                break
    return parts


# --------------------------------------------------------------------------------------------
# softmax
# --------------------------------------------------------------------------------------------
def _sm_visible(rng):
    return [
        Case((SLIDE_Z.copy(),), label="the slide's z = (1.1, 2.2, 0.2, -1.7): s = (0.224, 0.672, 0.091, 0.014)"),
        Case((np.round(2 * rng.normal(size=(3, 5)), 2),), label="batch z (3, 5): one distribution per row"),
    ]


def _sm_hidden(rng):
    k = int(rng.integers(2, 9))
    n, k2 = int(rng.integers(2, 9)), int(rng.integers(2, 7))
    k3 = int(rng.integers(2, 7))
    n4 = int(rng.integers(2, 6))
    return [
        Case((3 * rng.normal(size=k),), label=f"z ({k},)"),
        Case((3 * rng.normal(size=(n, k2)),), label=f"z ({n}, {k2})"),
        Case((rng.normal(size=(1, k3)),), label=f"one row, z (1, {k3})"),
        Case((np.array([1000.0, 999.0, -1000.0, 0.0]),), label="extreme logits z = (1000, 999, -1000, 0)"),
        Case((1000.0 + rng.normal(size=(n4, 3)),), label=f"z ({n4}, 3), every entry near +1000"),
        Case((-1000.0 + rng.normal(size=(n4, 4)),), label=f"z ({n4}, 4), every entry near -1000"),
        Case((np.zeros((2, 1)),), label="one class, z (2, 1)"),
    ]


def _sm_judge(case, value):
    (z,) = case.args
    ref = act.softmax(z)
    part, a = close_or_numeric("s", value, ref, tol=1e-8)
    if a is None:
        return [part]
    if a.shape == ref.shape and not np.all(np.isfinite(a)):
        _add(part, "exp overflowed or 0/0: subtract the maximum of each row before exponentiating; "
                   "softmax(z) = softmax(z - max z)")
    elif z.ndim == 2 and _close(a, act.softmax(z, axis=0)):
        _add(part, "you normalised each column; normalise each row (the last axis), one distribution per sample")
    elif z.ndim == 2 and _close(a, act.softmax(z.ravel()).reshape(z.shape)):
        _add(part, "you normalised over the whole array; each row (sample) must sum to 1 on its own")
    return [part]


# --------------------------------------------------------------------------------------------
# softmax_jacobian
# --------------------------------------------------------------------------------------------
def _masked_part(name, a, ref, mask, tol):
    """compare_close over the entries where ``mask`` is True, reporting the worst (i, j)."""
    if not mask.any():
        return Part(True)
    ga, gr = a[mask], ref[mask]
    if not np.all(np.isfinite(ga)):
        i, j = np.argwhere(mask & ~np.isfinite(a))[0]
        return Part(False, f"{name}: contains {a[i, j]} at index ({i}, {j})")
    err = rel_error(ga, gr)
    if err <= tol:
        return Part(True)
    diff = np.where(mask, np.abs(a - ref), -1.0)
    i, j = np.unravel_index(int(np.argmax(diff)), a.shape)
    return Part(False, f"{name}: relative error {err:.2g} at index ({i}, {j}) (expected <= {tol:g}): "
                       f"got {a[i, j]:.6g}, expected {ref[i, j]:.6g}")


def _jac_visible(rng):
    return [
        Case((SLIDE_Z.copy(),), label="the slide's z = (1.1, 2.2, 0.2, -1.7), J (4, 4)"),
        Case((np.zeros(2),), label="z = (0, 0): s = (0.5, 0.5), J = [[0.25, -0.25], [-0.25, 0.25]]"),
    ]


def _jac_hidden(rng):
    k1, k2 = int(rng.integers(3, 8)), int(rng.integers(2, 5))
    return [
        Case((2 * rng.normal(size=k1),), label=f"z ({k1},)"),
        Case((rng.normal(size=k2),), label=f"z ({k2},)"),
        Case((np.array([0.7]),), label="one class, z (1,): J = [[0]]"),
        Case((1000.0 + rng.normal(size=4),), label="z (4,), every entry near +1000"),
        Case((np.array([1000.0, 999.0, -1000.0]),), label="extreme logits z = (1000, 999, -1000)"),
    ]


def _jac_judge(case, value):
    (z,) = case.args
    k = z.shape[0]
    ref = act.softmax_jacobian(z)
    a, bad = as_numeric(value, "J")
    if bad is not None:
        return [bad, Part(False, "")]
    a = a.astype(np.float64)
    if a.shape != ref.shape:
        hint = " (z holds K logits; J has one row per output s_i and one column per input z_j)"
        return [Part(False, f"J: shape {_shape(a.shape)}, expected {_shape(ref.shape)}{hint}"), Part(False, "")]
    eye = np.eye(k, dtype=bool)
    diag = _masked_part("J diagonal (i = j)", a, ref, eye, 1e-8)
    off = _masked_part("J off-diagonal (i != j)", a, ref, ~eye, 1e-8)
    s = act.softmax(z)
    if not (diag.ok and off.ok) and not np.all(np.isfinite(a)):
        _add(diag if not diag.ok else off, "compute s = softmax(z) the stable way first (subtract max z)")
        return [diag, off]
    if not diag.ok and off.ok and _close(np.diag(a), -s * s):
        _add(diag, "the delta_ij term is missing: J_ii = s_i (1 - s_i) = s_i - s_i^2, not -s_i^2")
    if not diag.ok and not off.ok and _close(a, np.diag(z) - np.outer(z, z)):
        _add(diag, "you applied the formula to z itself; the function receives the logits z: compute s = softmax(z) first")
    if not off.ok and diag.ok:
        if _close(a[~eye], np.zeros((~eye).sum())):
            _add(off, "for i != j, ds_i/dz_j = -s_i s_j, not 0: every output depends on every logit")
        elif _close(a[~eye], np.outer(s, s)[~eye]):
            _add(off, "wrong sign: for i != j, ds_i/dz_j = -s_i s_j")
    return [diag, off]


# --------------------------------------------------------------------------------------------
# softmax_ce_grad
# --------------------------------------------------------------------------------------------
def _onehot(labels, k):
    Y = np.zeros((len(labels), k))
    Y[np.arange(len(labels)), labels] = 1.0
    return Y


def _ce_visible(rng):
    z = np.round(2 * rng.normal(size=(3, 4)), 2)
    labels = rng.integers(0, 4, size=3)
    return [
        Case((SLIDE_Z[None, :].copy(), np.array([1])), label="the slide's logits (1, 4), label 1: p - y = (0.224, -0.328, 0.091, 0.014)"),
        Case((z, _onehot(labels, 4)), label="logits (3, 4), one-hot targets (3, 4)"),
        Case((z.copy(), labels.astype(np.int64)), label="the same logits, integer labels (3,)"),
    ]


def _ce_hidden(rng):
    cases = []
    n, k = int(rng.integers(4, 12)), int(rng.integers(2, 7))
    z = 2 * rng.normal(size=(n, k))
    lab = rng.integers(0, k, size=n)
    cases.append(Case((z, lab), label=f"logits ({n}, {k}), integer labels"))
    n, k = int(rng.integers(2, 9)), int(rng.integers(2, 7))
    cases.append(Case((2 * rng.normal(size=(n, k)), _onehot(rng.integers(0, k, size=n), k)),
                      label=f"logits ({n}, {k}), one-hot targets"))
    k = int(rng.integers(2, 7))
    cases.append(Case((rng.normal(size=(1, k)), rng.integers(0, k, size=1)), label=f"one sample, logits (1, {k}), integer label"))
    k = int(rng.integers(2, 7))
    cases.append(Case((rng.normal(size=(1, k)), _onehot(rng.integers(0, k, size=1), k)), label=f"one sample, logits (1, {k}), one-hot"))
    n = int(rng.integers(3, 7))
    z = rng.choice([-1000.0, 0.0, 1000.0], size=(n, 3)) + rng.normal(size=(n, 3))
    cases.append(Case((z, rng.integers(0, 3, size=n)), label=f"extreme logits (|z| ~ 1000), ({n}, 3), integer labels"))
    return cases


def _ce_judge(case, value):
    z, y = case.args
    parts = gradient_parts(lambda p: losses.softmax_cross_entropy(p["logits"], y),
                           {"logits": np.array(z, dtype=np.float64)}, {"logits": value})
    part = parts[0]
    if part.ok:
        return parts
    a, bad = as_numeric(value, "dlogits")
    if bad is not None or a.shape != z.shape:
        return parts
    n = z.shape[0]
    if not np.all(np.isfinite(a)):
        _add(part, "compute softmax the stable way: subtract each row's maximum before exponentiating")
    elif n > 1 and _close(a, n * losses.softmax_cross_entropy_grad(z, y)):
        part.cause = "it is N times the right gradient (N the batch size): divide by N, the loss is the mean over the batch"
    elif part.cause == CHAIN_RULE_ADVICE:
        # no confirmed scale or sign slip: replace check_gradients' generic advice with the rule itself
        # (a rule, not a guessed slip: it presumes nothing about what went wrong)
        part.cause = ("recheck against the rule dL/dlogits = (softmax(logits) - Y) / N, with Y the one-hot "
                      "targets (built from y when y holds integer class labels)")
    return parts


CHECKS = [
    Check(grade_id="twolayer_forward", functions=("forward",), points=2, visible=_fwd_visible,
          hidden=_fwd_hidden, judge=_fwd_judge, forbidden=FORWARD_FORBIDDEN, timeout=4),
    Check(grade_id="twolayer_loss", functions=("loss",), points=2, visible=_loss_visible, hidden=_loss_hidden,
          judge=_loss_judge, forbidden=LOSS_FORBIDDEN, timeout=4),
    Check(grade_id="twolayer_backward", functions=("backward",), points=4, visible=_bwd_visible,
          hidden=_bwd_hidden, judge=_bwd_judge, forbidden=BACKWARD_FORBIDDEN, timeout=4),
    Check(grade_id="twolayer_softmax", functions=("softmax",), points=2, visible=_sm_visible, hidden=_sm_hidden,
          judge=_sm_judge, forbidden=SOFTMAX_FORBIDDEN, timeout=4),
    Check(grade_id="twolayer_softmax_jacobian", functions=("softmax_jacobian",), points=2, visible=_jac_visible,
          hidden=_jac_hidden, judge=_jac_judge, forbidden=SOFTMAX_FORBIDDEN, timeout=4),
    Check(grade_id="twolayer_softmax_ce_grad", functions=("softmax_ce_grad",), points=2, visible=_ce_visible,
          hidden=_ce_hidden, judge=_ce_judge, forbidden=SOFTMAX_FORBIDDEN + _NUMERIC, timeout=4),
]
