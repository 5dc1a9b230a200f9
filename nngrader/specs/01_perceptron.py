"""Assignment 1, perceptron and logic gates: checks against :mod:`nnkit.neurons`.

Student functions (conventions as the notebook states them):

- ``mp_neuron(x, w, theta)``: McCulloch-Pitts unit, fires (1) when ``x @ w >= theta``;
  ``x`` (N, D) -> (N,) of 0/1, ``x`` (D,) -> a single 0/1.
- ``gate_weights(name)`` -> ``(w, theta)`` of a unit computing AND, OR, NAND or NOR. Any
  weights that reproduce the truth table pass.
- ``perceptron_update(w, b, x, t, lr)`` -> ``(w_new, b_new)``: one step of Rosenblatt's rule,
  labels t in {-1, +1}; a mistake is ``t * (x @ w + b) <= 0``.
- ``train_perceptron(X, t, lr, max_epochs)`` -> ``(w, b, converged, epochs)``: zero start,
  samples in order, stop after the first mistake-free epoch (counted) or at ``max_epochs``.
- ``xor_network(X)``: a two-layer network of threshold units, (N, 2) binary -> (N,) XOR.
"""
from __future__ import annotations

import numpy as np

from nnkit import neurons as nn

from . import Case, Check
from ..verdict import Part, as_numeric, compare_close, compare_exact

TRUTH = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float64)


def _fmt(v) -> str:
    return "(" + ", ".join(f"{float(x):g}" for x in np.ravel(v)) + ")"


def _seq(value, n: int, what: str):
    """``value`` as a list of ``n`` items, or a failed Part saying what was expected."""
    if isinstance(value, (list, tuple)) and len(value) == n:
        return list(value), None
    got = f"a {type(value).__name__}" + (f" of length {len(value)}" if isinstance(value, (list, tuple)) else "")
    return None, Part(False, f"return value: expected a tuple {what}; got {got}")


# --------------------------------------------------------------------------------------------
# mp_neuron
# --------------------------------------------------------------------------------------------
def _mp_visible(rng):
    return [
        Case((TRUTH.copy(), np.array([1.0, 1.0]), 2.0), label="truth table, w=(1, 1), theta=2"),
        Case((TRUTH.copy(), np.array([-1.0, -1.0]), -1.0), label="truth table, w=(-1, -1), theta=-1"),
        Case((np.array([1.0, 0.0, 1.0]), np.array([1.0, -1.0, 1.0]), 2.0), label="one sample, x (3,)"),
    ]


def _mp_hidden(rng):
    cases = []
    for i in range(6):
        d = int(rng.integers(1, 7))
        w = rng.integers(-3, 4, size=d).astype(np.float64)
        if i == 5:
            w = w + rng.choice([0.0, 0.5], size=d)  # non-integer weights too
        if i in (2, 4):
            x = rng.integers(0, 2, size=d).astype(np.float64)
            theta = float(x @ w) if i == 2 else float(x @ w) + 0.5  # exactly at, then just above
            cases.append(Case((x, w, theta), label=f"one sample, x ({d},)"))
            continue
        n = int(rng.integers(1, 13))
        x = rng.integers(0, 2, size=(n, d)).astype(np.float64)
        theta = float(x[int(rng.integers(n))] @ w)  # some row sits exactly on the threshold
        cases.append(Case((x, w, theta), label=f"x ({n}, {d})"))
    return cases


def _mp_judge(case, value):
    x, w, theta = case.args
    expected = nn.McCullochPitts(weights=tuple(w), threshold=theta)(x)
    s = x @ w

    def hint(ix):
        if np.ndim(s) == 0 or not ix:
            tie = float(s) == theta
        else:
            tie = float(s[ix[0]]) == theta
        return "there x @ w equals theta exactly: the unit fires when the sum reaches the threshold (>=)" if tie else ""

    return [compare_exact("output", value, expected, scalar=x.ndim == 1, hint=hint)]


# --------------------------------------------------------------------------------------------
# gate_weights
# --------------------------------------------------------------------------------------------
def _gate_judge(case, value):
    (name,) = case.args
    _, target = nn.logic_gate(name, labels="01")
    items, bad = _seq(value, 2, "(w, theta)")
    if bad:
        return [bad]
    w, why = as_numeric(items[0], "w")
    if why:
        return [why]
    if w.shape != (2,):
        return [Part(False, f"w: shape {w.shape}, expected (2,) (one weight per input)")]
    theta, why = as_numeric(items[1], "theta")
    if why:
        return [why]
    if theta.size != 1 or not np.all(np.isfinite(w)) or not np.isfinite(theta).all():
        return [Part(False, "theta must be one finite number and w finite")]
    out = nn.McCullochPitts(weights=tuple(float(v) for v in w), threshold=float(theta.ravel()[0]))(TRUTH)
    return [compare_exact(f"{name} truth table of your unit (rows 00, 01, 10, 11)", out, target)]


# --------------------------------------------------------------------------------------------
# perceptron_update
# --------------------------------------------------------------------------------------------
def _upd_visible(rng):
    return [
        Case((np.zeros(2), 0.0, np.array([1.0, 1.0]), 1, 1.0), label="w = 0, b = 0, x = (1, 1), t = +1, lr = 1"),
        Case((np.array([1.0, -1.0]), 0.5, np.array([2.0, 1.0]), 1, 1.0), label="w = (1, -1), b = 0.5, x = (2, 1), t = +1"),
        Case((np.array([0.5, 2.0, -1.0]), -0.25, np.array([1.0, 1.0, 0.5]), -1, 0.5), label="D = 3, t = -1, lr = 0.5"),
    ]


def _upd_hidden(rng):
    cases = []
    kinds = ["mistake", "right", "mistake", "boundary", "right", "mistake", "zero-x"]
    for kind in kinds:
        d = int(rng.integers(1, 9))
        w = rng.normal(size=d)
        b = float(rng.normal())
        x = rng.normal(size=d)
        lr = float(rng.choice([0.1, 0.5, 1.0, 2.0]))
        if kind == "boundary":
            w, b = np.zeros(d), 0.0
        if kind == "zero-x":
            x, b = np.zeros(d), 0.0
        t = int(rng.choice([-1, 1]))
        z = float(x @ w + b)
        if (kind == "right" and t * z < 0) or (kind == "mistake" and t * z > 0):
            w, b = -w, -b  # flips the sign of z
        cases.append(Case((w, b, x, int(t), lr), label=f"D = {d}, t = {t:+d}, lr = {lr:g}"))
    return cases


def _upd_judge(case, value):
    w, b, x, t, lr = case.args
    ref = nn.train_perceptron(x[None, :], np.array([t]), labels="pm1", lr=lr, max_epochs=1,
                              initial_weights=w, initial_bias=b)
    items, bad = _seq(value, 2, "(w_new, b_new)")
    if bad:
        return [bad, Part(False, "")]
    parts = [compare_close("w_new", items[0], ref.weights, tol=1e-12),
             compare_close("b_new", items[1], ref.bias, tol=1e-12, scalar=True)]
    z = float(x @ w + b)
    if not all(p.ok for p in parts):
        if t * z == 0:
            note = "here t * (x @ w + b) = 0: a point on the boundary counts as a mistake"
        elif t * z < 0:
            note = f"here t * (x @ w + b) = {t * z:.3g} < 0: a mistake, so w += lr * t * x and b += lr * t"
        else:
            note = f"here t * (x @ w + b) = {t * z:.3g} > 0: classified correctly, so nothing changes"
        for p in parts:
            if not p.ok:
                p.message += f" ({note})"
    return parts


# --------------------------------------------------------------------------------------------
# train_perceptron
# --------------------------------------------------------------------------------------------
def _separable(rng, n, d, lr, max_epochs=200):
    while True:
        w_true = rng.normal(size=d)
        b_true = float(rng.normal())
        X = rng.normal(size=(4 * n, d))
        s = X @ w_true + b_true
        keep = np.abs(s) > 0.3 * np.linalg.norm(w_true)
        X, s = X[keep][:n], s[keep][:n]
        t = np.where(s > 0, 1, -1)
        if len(X) == n and 0 < (t > 0).sum() < n:
            ref = nn.train_perceptron(X, t, labels="pm1", lr=lr, max_epochs=max_epochs)
            if ref.converged:
                return X, t


def _train_visible(rng):
    X, t = nn.logic_gate("AND", labels="pm1")
    Xx, tx = nn.logic_gate("XOR", labels="pm1")
    return [
        Case((X, t, 1.0, 100), label="AND gate, labels +-1, lr = 1, max_epochs = 100", expect="separable"),
        Case((Xx, tx, 1.0, 20), label="XOR, labels +-1, max_epochs = 20", expect="not separable"),
    ]


def _train_hidden(rng):
    cases = []
    for _ in range(3):
        n, d = int(rng.integers(5, 25)), int(rng.integers(2, 5))
        lr = float(rng.choice([0.1, 0.5, 1.0, 2.0]))
        X, t = _separable(rng, n, d, lr)
        cases.append(Case((X, t, lr, 200), label=f"separable, X ({n}, {d}), lr = {lr:g}", expect="separable"))
    # a point repeated with the opposite label: no line separates the data
    n, d = int(rng.integers(4, 12)), int(rng.integers(2, 4))
    X = rng.normal(size=(n, d))
    t = rng.choice([-1, 1], size=n)
    X = np.vstack([X, X[:1]])
    t = np.append(t, -t[0])
    m = int(rng.integers(3, 15))
    cases.append(Case((X, t, 1.0, m), label=f"not separable, X ({n + 1}, {d}), max_epochs = {m}", expect="not separable"))
    # XOR corners with jitter
    Xx, tx = nn.logic_gate("XOR", labels="pm1")
    Xj = Xx + rng.uniform(-0.1, 0.1, size=Xx.shape)
    m = int(rng.integers(5, 40))
    cases.append(Case((Xj, tx, 0.5, m), label=f"jittered XOR, max_epochs = {m}", expect="not separable"))
    return cases


def _train_judge(case, value):
    X, t, lr, max_epochs = case.args
    items, bad = _seq(value, 4, "(w, b, converged, epochs)")
    if bad:
        return [bad, Part(False, "")]
    w, b, converged, epochs = items
    if case.expect == "separable":
        ref = nn.train_perceptron(X, t, labels="pm1", lr=lr, max_epochs=max_epochs)
        return [
            compare_close("w", w, ref.weights, tol=1e-9),
            compare_close("b", b, ref.bias, tol=1e-9, scalar=True),
            compare_exact("converged", converged, True, scalar=True),
            compare_exact("epochs", epochs, ref.epochs, scalar=True,
                          hint=lambda ix: "count every pass over the data, the final pass without mistakes included"),
        ]
    parts = [compare_exact("converged", converged, False, scalar=True)]
    if not parts[0].ok:
        parts[0].cause = "these data are not linearly separable: the rule never converges; report it"
    e, why = as_numeric(epochs, "epochs")
    if why:
        parts.append(why)
    elif e.size != 1 or not (1 <= float(e.ravel()[0]) <= max_epochs):
        parts.append(Part(False, f"epochs: got {e.ravel()[:3].tolist()}, expected a count between 1 and max_epochs = {max_epochs}"))
    else:
        parts.append(Part(True))
    return parts


# --------------------------------------------------------------------------------------------
# xor_network
# --------------------------------------------------------------------------------------------
def _xor_hidden(rng):
    cases = []
    for n in (int(rng.integers(5, 17)), 1, int(rng.integers(2, 9))):
        X = rng.integers(0, 2, size=(n, 2)).astype(np.float64)
        cases.append(Case((X,), label=f"X ({n}, 2)"))
    return cases


def _xor_judge(case, value):
    (X,) = case.args
    return [compare_exact("output", value, nn.xor_network(X))]


CHECKS = [
    Check(grade_id="perceptron_mp_neuron", functions=("mp_neuron",), points=2, visible=_mp_visible,
          hidden=_mp_hidden, judge=_mp_judge, forbidden=("nnkit.neurons:McCullochPitts.__call__",
          "nnkit.neurons:mcp_gate"), timeout=4),
    Check(grade_id="perceptron_gate_weights", functions=("gate_weights",), points=2, visible=lambda rng:
          [Case(("AND",), label="AND"), Case(("OR",), label="OR")], hidden=lambda rng: [Case(("NAND",),
          label="NAND"), Case(("NOR",), label="NOR")], judge=_gate_judge, forbidden=("nnkit.neurons:mcp_gate",),
          timeout=4),
    Check(grade_id="perceptron_update", functions=("perceptron_update",), points=2, visible=_upd_visible,
          hidden=_upd_hidden, judge=_upd_judge, forbidden=("nnkit.neurons:train_perceptron",), timeout=4),
    Check(grade_id="perceptron_train", functions=("train_perceptron",), points=3, visible=_train_visible,
          hidden=_train_hidden, judge=_train_judge, forbidden=("nnkit.neurons:train_perceptron",
          "nnkit.neurons:train_adaline"), timeout=4),
    Check(grade_id="perceptron_xor_network", functions=("xor_network",), points=2, visible=lambda rng:
          [Case((TRUTH.copy(),), label="truth table X (4, 2)")], hidden=_xor_hidden, judge=_xor_judge,
          forbidden=("nnkit.neurons:xor_network",), timeout=4),
]
