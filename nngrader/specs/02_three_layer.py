"""Assignment 2, the 3-layer network derivation: checks against :mod:`nnkit.model` and nnkit's losses.

The network (conventions as the notebook states them): rows are samples, ``X`` is (N, 3),

    z1 = X  @ W1 + b1,  a1 = relu(z1)       W1 (3, 2), b1 (2,)
    z2 = a1 @ W2 + b2,  a2 = sigmoid(z2)    W2 (2, 2), b2 (2,)
    z3 = a2 @ W3 + b3,  a3 = sigmoid(z3)    W3 (2, 1), b3 (1,)     y_hat = a3, (N, 1)

Student functions:

- ``forward(X, params)`` -> ``(y_hat, cache)``, ``cache`` a dict with ``z1, a1, z2, a2, z3``.
  Each equation is judged on the student's own previous quantity (so one wrong equation costs
  one part, not everything after it), plus one part for the whole output against nnkit's
  ``Sequential`` of the same layers.
- ``squared_loss(y_hat, y)``: the 1/2 form, batch mean, ``1/(2N) sum (y_hat - y)^2``
  (nnkit.losses.half_mse on (N, 1) arrays).
- ``cross_entropy_loss(y_hat, y)``: binary cross-entropy on probabilities, batch mean
  (nnkit.losses.binary_cross_entropy).
- ``backward_squared(X, y, params)`` and ``backward_cross_entropy(X, y, params)`` -> dict
  ``{"W1", "b1", "W2", "b2", "W3", "b3"}`` of gradients of the batch loss. Judged by centred
  finite differences of the nnkit reference loss (nngrader.verdict.gradient_parts), one part
  per parameter; entries whose step crosses the ReLU kink are skipped. Common slips (the
  output error ``a3 - y`` used with the squared loss, sigmoid' written as sigmoid, a missing
  transpose of W2) are recognised and named in the diagnosis.
"""
from __future__ import annotations


import numpy as np

from nnkit import activations as act
from nnkit import losses
from nnkit.gradcheck import check_gradients, rel_error
from nnkit.layers import Activation, Dense, dense_forward
from nnkit.model import Sequential

from . import Case, Check
from ..verdict import Part, as_numeric, compare_close, gradient_parts

NAMES = ("W1", "b1", "W2", "b2", "W3", "b3")
SHAPES = {"W1": (3, 2), "b1": (2,), "W2": (2, 2), "b2": (2,), "W3": (2, 1), "b3": (1,)}
STAGES = ("z1", "a1", "z2", "a2", "z3")
KINK_MARGIN = 1e-3  # random cases keep every ReLU pre-activation this far from 0 (h = 1e-5)


# --------------------------------------------------------------------------------------------
# the reference network (nnkit) and case data
# --------------------------------------------------------------------------------------------
def reference_model(params) -> Sequential:
    """nnkit's Dense(3,2) -> ReLU -> Dense(2,2) -> sigmoid -> Dense(2,1) -> sigmoid, with ``params``."""
    rng = np.random.default_rng(0)  # only for the initial weights, which set_params overwrites
    model = Sequential([
        Dense(3, 2, rng), Activation("relu"),
        Dense(2, 2, rng), Activation("sigmoid"),
        Dense(2, 1, rng), Activation("sigmoid"),
    ])
    model.set_params({k: np.asarray(params[k], dtype=np.float64) for k in NAMES})
    return model


def _random_params(rng, scale=1.0) -> dict:
    return {
        "W1": rng.normal(0.0, scale, size=(3, 2)),
        "b1": rng.normal(0.0, 0.5, size=2),
        "W2": rng.normal(0.0, 1.5 * scale, size=(2, 2)),
        "b2": rng.normal(0.0, 0.5, size=2),
        "W3": rng.normal(0.0, 2.0 * scale, size=(2, 1)),
        "b3": rng.normal(0.0, 0.5, size=1),
    }


def _labels(rng, n) -> np.ndarray:
    return rng.integers(0, 2, size=(n, 1)).astype(np.float64)


def random_batch(rng, n, *, alive=True):
    """``(X, y, params)`` with every |z1| >= KINK_MARGIN (and, if ``alive``, both ReLU units active somewhere)."""
    for _ in range(1000):
        X = rng.normal(size=(n, 3))
        p = _random_params(rng)
        z1 = X @ p["W1"] + p["b1"]
        if np.min(np.abs(z1)) < KINK_MARGIN:
            continue
        if alive and n > 1 and not np.all((z1 > 0).any(axis=0)):
            continue
        if alive and n == 1 and not np.any(z1 > 0):
            continue
        return X, _labels(rng, n), p
    raise RuntimeError("could not draw a batch away from the ReLU kink")  # pragma: no cover


def dead_unit_batch(rng, n):
    """Second ReLU unit negative on every sample: its weights get exactly zero gradient."""
    while True:
        X, y, p = random_batch(rng, n)
        z1 = X @ p["W1"]
        p["b1"][1] = -np.max(z1[:, 1]) - rng.uniform(0.3, 1.0)
        p["b1"][0] = -np.min(z1[:, 0]) + rng.uniform(0.3, 1.0)  # first unit active everywhere
        z1 = X @ p["W1"] + p["b1"]
        if np.min(np.abs(z1)) >= KINK_MARGIN:
            return X, y, p


def kink_batch(rng, n):
    """Small integer data with one ReLU pre-activation exactly 0 (the convention relu'(0) = 0).

    Entries whose finite-difference step crosses the kink are skipped by the check; the
    others must be right, and nothing may come out NaN.
    """
    X = rng.integers(-2, 3, size=(n, 3)).astype(np.float64)
    X[0] = [1.0, -1.0, 2.0]
    p = _random_params(rng)
    p["W1"] = rng.integers(-2, 3, size=(3, 2)).astype(np.float64)
    p["W1"][:, 0] = [1.0, 1.0, 1.0]
    p["b1"] = np.array([-2.0, 0.5])  # z1[0, 0] = 1 - 1 + 2 - 2 = 0 exactly
    return X, _labels(rng, n), p


# --------------------------------------------------------------------------------------------
# forward
# --------------------------------------------------------------------------------------------
def _forward_visible(rng):
    zero = {k: np.zeros(s) for k, s in SHAPES.items()}
    X, _, p = random_batch(rng, 5)
    return [
        Case((rng.normal(size=(4, 3)), zero), label="X (4, 3), all parameters 0: every y_hat is 0.5"),
        Case((X, p), label="X (5, 3), random parameters"),
    ]


def _forward_hidden(rng):
    cases = []
    for n in (int(rng.integers(2, 12)), 1, int(rng.integers(20, 65))):
        X, _, p = random_batch(rng, n)
        cases.append(Case((X, p), label=f"X ({n}, 3), random parameters"))
    X, _, p = dead_unit_batch(rng, int(rng.integers(3, 9)))
    cases.append(Case((X, p), label=f"X ({len(X)}, 3), one ReLU unit negative on every sample"))
    X, _, p = kink_batch(rng, 4)
    cases.append(Case((X, p), label="X (4, 3), a ReLU pre-activation exactly 0"))
    X, _, p = random_batch(rng, 6)
    p["W3"] = np.sign(p["W3"]) * rng.uniform(6.0, 10.0, size=(2, 1))  # a saturated output unit
    cases.append(Case((X, p), label="X (6, 3), large output weights (saturated sigmoid)"))
    return cases


_STAGE_HELP = {
    "z1": "z1 = X @ W1 + b1, shape (N, 2)",
    "a1": "a1 = relu(z1) = max(z1, 0) elementwise (the first hidden layer is ReLU)",
    "z2": "z2 = a1 @ W2 + b2, shape (N, 2)",
    "a2": "a2 = sigmoid(z2) = 1 / (1 + exp(-z2)) (the second hidden layer is sigmoid)",
    "z3": "z3 = a2 @ W3 + b3, shape (N, 1)",
    "y_hat": "y_hat = sigmoid(z3), shape (N, 1)",
}


def _usable(value, shape):
    a, bad = as_numeric(value, "x")
    if bad is not None or a.shape != shape:
        return None
    a = a.astype(np.float64)
    return a if np.all(np.isfinite(a)) else None


def _forward_judge(case, value):
    X, params = case.args
    model = reference_model(params)
    ref_out = model.forward(X)[0]
    if not (isinstance(value, (tuple, list)) and len(value) == 2):
        got = type(value).__name__ + (f" of length {len(value)}" if isinstance(value, (tuple, list)) else "")
        return [Part(False, f"return value: expected a tuple (y_hat, cache); got a {got}")]
    y_hat, cache = value
    note = ""
    if not isinstance(cache, dict):
        note = f"cache: expected a dict with keys 'z1', 'a1', 'z2', 'a2', 'z3'; got a {type(cache).__name__}"
        cache = {}
    n = X.shape[0]
    shapes = {"z1": (n, 2), "a1": (n, 2), "z2": (n, 2), "a2": (n, 2), "z3": (n, 1)}
    # Each equation is judged on the student's own input to it (nnkit's where theirs is
    # unusable), so one wrong equation costs its own part, not every part after it.
    mine = {k: _usable(cache.get(k), shapes[k]) for k in STAGES}
    true = {"z1": dense_forward(X, params["W1"], params["b1"])[0]}
    true["a1"] = act.relu(true["z1"])
    true["z2"] = dense_forward(true["a1"], params["W2"], params["b2"])[0]
    true["a2"] = act.sigmoid(true["z2"])
    true["z3"] = dense_forward(true["a2"], params["W3"], params["b3"])[0]
    given = lambda k: mine[k] if mine[k] is not None else true[k]
    ref = {
        "z1": true["z1"],
        "a1": act.relu(given("z1")),
        "z2": dense_forward(given("a1"), params["W2"], params["b2"])[0],
        "a2": act.sigmoid(given("z2")),
        "z3": dense_forward(given("a2"), params["W3"], params["b3"])[0],
        "y_hat": act.sigmoid(given("z3")),
    }
    parts = []
    for k in STAGES:
        if note:
            parts.append(Part(False, note if k == "z1" else ""))
            continue
        if k not in cache:
            parts.append(Part(False, f"cache['{k}']: missing (the cache must hold z1, a1, z2, a2 and z3)"))
            continue
        p = compare_close(f"cache['{k}']", cache[k], ref[k], tol=1e-9)
        if not p.ok:
            p.message += f"; expected {_STAGE_HELP[k]}"
        parts.append(p)
    p = compare_close("y_hat", y_hat, ref["y_hat"], tol=1e-9)
    if not p.ok:
        p.message += f"; expected {_STAGE_HELP['y_hat']}"
    parts.append(p)
    whole = compare_close("y_hat against nnkit's network", y_hat, ref_out, tol=1e-9)
    parts.append(whole)
    return parts


# --------------------------------------------------------------------------------------------
# losses
# --------------------------------------------------------------------------------------------
def _loss_visible(rng):
    return [
        Case((np.array([[0.8], [0.3]]), np.array([[1.0], [0.0]])), label="y_hat = (0.8, 0.3), y = (1, 0)"),
        Case((rng.uniform(0.05, 0.95, size=(6, 1)), _labels(rng, 6)), label="6 random predictions"),
    ]


def _loss_hidden(rng):
    cases = []
    for n in (int(rng.integers(2, 30)), 1, int(rng.integers(50, 200))):
        cases.append(Case((rng.uniform(0.01, 0.99, size=(n, 1)), _labels(rng, n)), label=f"N = {n}"))
    n = int(rng.integers(3, 10))
    y = np.full((n, 1), float(rng.integers(0, 2)))
    cases.append(Case((rng.uniform(0.05, 0.95, size=(n, 1)), y), label=f"N = {n}, all targets equal"))
    n = int(rng.integers(3, 10))
    y = _labels(rng, n)
    near = np.where(y > 0, 1 - rng.uniform(1e-7, 1e-5, size=(n, 1)), rng.uniform(1e-7, 1e-5, size=(n, 1)))
    near[0] = 1 - near[0] if n > 1 else near[0]  # one confidently wrong prediction
    cases.append(Case((near, y), label=f"N = {n}, predictions very close to 0 or 1"))
    return cases


def _ratio_hint(value, expected, n, loss: str) -> str:
    a, bad = as_numeric(value, "loss")
    if bad is not None or a.size != 1 or expected == 0:
        return ""
    r = float(a.ravel()[0]) / expected
    close = lambda t: abs(r - t) <= 1e-6 * max(1.0, abs(t))
    if loss == "squared":
        if close(2.0):
            return "your value is twice the expected one: this course uses the 1/2 form, J = 1/(2N) sum (y_hat - y)^2"
        if close(0.5):
            return "your value is half the expected one: use one factor 1/2 and the batch mean 1/N, not more"
        if n > 1 and close(float(n)):
            return "your value is N times the expected one (N the batch size): average over the batch"
        if n > 1 and close(2.0 * n):
            return "your value is the plain sum of squares: use the 1/2 form and the batch mean, 1/(2N) sum"
    else:
        if close(-1.0):
            return "wrong sign: cross-entropy is minus the mean log-likelihood, so it is >= 0"
        if n > 1 and close(float(n)):
            return "your value is N times the expected one (N the batch size): average over the batch"
    return ""


def _loss_judge(loss: str):
    ref_fn = losses.half_mse if loss == "squared" else losses.binary_cross_entropy

    def judge(case, value):
        y_hat, y = case.args
        expected = ref_fn(y_hat, y)
        part = compare_close("loss", value, expected, tol=1e-9, scalar=True)
        if not part.ok:
            part.cause = _ratio_hint(value, expected, y.shape[0], loss) or part.cause
        return [part]

    return judge


# --------------------------------------------------------------------------------------------
# backward
# --------------------------------------------------------------------------------------------
def _plain_loss(X, y, p, loss: str) -> float:
    """The batch loss in plain NumPy (same values as nnkit's to round-off; fast enough to run often)."""
    a1 = np.maximum(X @ p["W1"] + p["b1"], 0.0)
    a2 = 1.0 / (1.0 + np.exp(-(a1 @ p["W2"] + p["b2"])))
    a3 = 1.0 / (1.0 + np.exp(-(a2 @ p["W3"] + p["b3"])))
    if loss == "squared":
        return float(np.mean((a3 - y) ** 2) / 2)
    return float(-np.mean(y * np.log(a3) + (1 - y) * np.log1p(-a3)))


def checkable(X, y, params) -> bool:
    """True when exact gradients pass the finite-difference check on this case with a tenfold
    margin, for both losses. Cases where a gradient is tiny next to the curvature (a
    near-perfect or saturated single sample) are redrawn, so a right answer never fails on the
    truncation error of the centred difference."""
    for loss in ("squared", "cross_entropy"):
        p = {k: np.array(params[k], dtype=np.float64) for k in NAMES}
        res = check_gradients(lambda q: _plain_loss(X, y, q, loss), p, variant_grads(X, y, params, loss),
                              threshold=1e-7, kinks=lambda q: X @ q["W1"] + q["b1"])
        if not res.passed:
            return False
    return True


def _checkable_case(rng, make, label):
    for _ in range(200):
        X, y, p = make(rng)
        if checkable(X, y, p):
            return Case((X, y, p), label=label(X))
    raise RuntimeError("no gradient-checkable case found")  # pragma: no cover


def _saturated(rng):
    X, y, p = random_batch(rng, int(rng.integers(4, 9)))
    p["W3"] = np.sign(p["W3"]) * rng.uniform(4.0, 7.0, size=(2, 1))
    return X, y, p


def _backward_visible(rng):
    return [
        _checkable_case(rng, lambda r: random_batch(r, 4), lambda X: "X (4, 3), random parameters"),
        _checkable_case(rng, lambda r: random_batch(r, 1), lambda X: "one sample, X (1, 3)"),
    ]


def _backward_hidden(rng):
    shape = lambda X: f"X ({len(X)}, 3)"
    n1, n2, n3 = int(rng.integers(2, 10)), int(rng.integers(10, 40)), int(rng.integers(3, 9))
    return [
        _checkable_case(rng, lambda r: random_batch(r, n1), lambda X: f"{shape(X)}, random parameters"),
        _checkable_case(rng, lambda r: random_batch(r, n2), lambda X: f"{shape(X)}, random parameters"),
        _checkable_case(rng, lambda r: random_batch(r, 1), lambda X: "one sample, X (1, 3)"),
        _checkable_case(rng, lambda r: dead_unit_batch(r, n3),
                        lambda X: f"{shape(X)}, one ReLU unit negative on every sample"),
        _checkable_case(rng, lambda r: kink_batch(r, 5), lambda X: f"{shape(X)}, a ReLU pre-activation exactly 0"),
        _checkable_case(rng, _saturated, lambda X: f"{shape(X)}, large output weights (saturated sigmoid)"),
    ]


def _sig(z):
    return act.sigmoid(z)


def variant_grads(X, y, params, loss: str, variant: str = "") -> dict:
    """Hand-written backprop for the network, exact or with one well-known slip (for hints only)."""
    W1, b1, W2, b2, W3, b3 = (np.asarray(params[k], dtype=np.float64) for k in NAMES)
    n = X.shape[0]
    z1 = X @ W1 + b1
    a1 = np.maximum(z1, 0.0)
    z2 = a1 @ W2 + b2
    a2 = _sig(z2)
    z3 = a2 @ W3 + b3
    a3 = _sig(z3)
    s3 = a3 if variant == "sigmoid_as_s_out" else a3 * (1 - a3)
    s2 = a2 if variant == "sigmoid_as_s_hidden" else a2 * (1 - a2)
    squared_rule = (loss == "squared") != (variant == "output_error_slip")
    d3 = (a3 - y) * s3 / n if squared_rule else (a3 - y) / n
    d2 = (d3 @ W3.T) * s2
    d1 = (d2 @ (W2 if variant == "no_transpose_W2" else W2.T)) * (z1 > 0)
    return {"W1": X.T @ d1, "b1": d1.sum(0), "W2": a1.T @ d2, "b2": d2.sum(0), "W3": a2.T @ d3, "b3": d3.sum(0)}


def _slip_hints(loss: str) -> dict:
    # The output error dJ/dz3 of each loss is also the written question of Task 4 (graded by
    # hand): the hints say which slip the numbers match, never what the right expression is.
    if loss == "squared":
        out = ("it matches the output error a3 - y, which belongs to the cross-entropy loss, not the "
               "squared loss: derive dJ/dz3 for the squared loss again, from dJ/da3 and da3/dz3")
    else:
        out = ("it matches the output error of the squared loss, with its factor sigma'(z3): derive "
               "dJ/dz3 for the cross-entropy again, from dJ/da3 and da3/dz3, and simplify")
    return {
        "output_error_slip": out,
        "sigmoid_as_s_out": "it matches sigma'(z3) written as sigma(z3), which is not the sigmoid's derivative: "
                            "derive sigma'(z) again",
        "sigmoid_as_s_hidden": "it matches sigma'(z2) written as sigma(z2), which is not the sigmoid's derivative: "
                               "derive sigma'(z) again",
        "no_transpose_W2": "it matches backpropagating through W2 without its transpose: layer 1 receives delta2 @ W2.T",
    }


def _backward_judge(loss: str):
    loss_fn = losses.half_mse if loss == "squared" else losses.binary_cross_entropy
    hints = _slip_hints(loss)

    def judge(case, value):
        X, y, params = case.args
        if not isinstance(value, dict):
            return [Part(False, f"return value: expected a dict of gradients {{'W1': ..., 'b1': ..., ...}}; "
                                f"got a {type(value).__name__}")]
        if not any(k in value for k in NAMES) and any(f"d{k}" in value for k in NAMES):
            return [Part(False, "return value: name the gradients like the parameters, 'W1' (not 'dW1'), "
                                "'b1', ..., 'b3'")]
        model = reference_model(params)
        P = model.params  # the model's own arrays: the check perturbs them in place

        def f(_):
            return loss_fn(model.forward(X)[0], y)

        parts = gradient_parts(f, P, value, kinks=lambda p: X @ p["W1"] + p["b1"])
        # Name a well-known slip when a failing gradient matches it exactly; its advice then
        # replaces the generic hint of the gradient check.
        truth = variant_grads(X, y, params, loss)
        alts = {v: variant_grads(X, y, params, loss, v) for v in hints}
        for name, part in zip(NAMES, parts):
            got = None if part.ok else _usable(value.get(name), SHAPES[name])
            if got is None:
                continue
            for variant, hint in hints.items():
                alt = alts[variant][name]
                if rel_error(alt, truth[name]) > 1e-4 and rel_error(got, alt) <= 1e-7:
                    part.cause = hint
                    break
        return parts

    return judge


# --------------------------------------------------------------------------------------------
# what each graded function must not call: nnkit's own forward/backward, losses and derivatives
# --------------------------------------------------------------------------------------------
_LAYERS = (
    "nnkit.layers:dense_forward", "nnkit.layers:activation_forward",
    "nnkit.layers:Dense.forward", "nnkit.layers:Activation.forward",
    "nnkit.model:Sequential.forward", "nnkit.model:Sequential.predict", "nnkit.model:MLP",
    "nnkit.activations:relu", "nnkit.activations:sigmoid", "nnkit.activations:ActivationSpec.__call__",
)
_BACKPROP = (
    "nnkit.layers:dense_backward", "nnkit.layers:activation_backward",
    "nnkit.layers:Dense.backward", "nnkit.layers:Activation.backward",
    "nnkit.model:Sequential.backward", "nnkit.model:loss_and_grads",
    "nnkit.activations:relu_grad", "nnkit.activations:sigmoid_grad",
    "nnkit.autodiff:Value.backward",
    "nnkit.gradcheck:numerical_gradient", "nnkit.gradcheck:numerical_gradient_array",
    "nnkit.gradcheck:check_gradients", "nnkit.gradcheck:check_model", "nnkit.gradcheck:check_layer",
)
_LOSSES = (
    "nnkit.losses:half_mse", "nnkit.losses:mse", "nnkit.losses:half_mse_grad", "nnkit.losses:mse_grad",
    "nnkit.losses:binary_cross_entropy", "nnkit.losses:binary_cross_entropy_grad",
    "nnkit.losses:binary_cross_entropy_with_logits", "nnkit.losses:binary_cross_entropy_with_logits_grad",
    "nnkit.losses:Loss.__call__", "nnkit.losses:Loss.value_and_grad",
)

CHECKS = [
    Check(grade_id="three_layer_forward", functions=("forward",), points=3, visible=_forward_visible,
          hidden=_forward_hidden, judge=_forward_judge, forbidden=_LAYERS, timeout=4),
    Check(grade_id="three_layer_squared_loss", functions=("squared_loss",), points=1, visible=_loss_visible,
          hidden=_loss_hidden, judge=_loss_judge("squared"), forbidden=_LOSSES, timeout=4),
    Check(grade_id="three_layer_cross_entropy_loss", functions=("cross_entropy_loss",), points=1,
          visible=_loss_visible, hidden=_loss_hidden, judge=_loss_judge("cross_entropy"), forbidden=_LOSSES,
          timeout=4),
    Check(grade_id="three_layer_backward_squared", functions=("backward_squared",), points=5,
          visible=_backward_visible, hidden=_backward_hidden, judge=_backward_judge("squared"),
          forbidden=_LAYERS + _BACKPROP + _LOSSES, timeout=4),
    Check(grade_id="three_layer_backward_cross_entropy", functions=("backward_cross_entropy",), points=5,
          visible=_backward_visible, hidden=_backward_hidden, judge=_backward_judge("cross_entropy"),
          forbidden=_LAYERS + _BACKPROP + _LOSSES, timeout=4),
]
