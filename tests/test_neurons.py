"""Tests for nnkit.neurons: McCulloch-Pitts units, the perceptron rule, Adaline, logic gates, XOR net."""
import math
import time

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nnkit import neurons
from nnkit.activations import sigmoid as _sigmoid
from nnkit._validate import ShapeError
from nnkit.neurons import (
    GATES,
    XOR_NETWORK_WEIGHTS,
    McCullochPitts,
    logic_gate,
    mcp_gate,
    preactivation,
    train_adaline,
    train_perceptron,
    xor_network,
)

SEPARABLE = [g for g in GATES if g != "XOR"]


# --------------------------------------------------------------------------------------------
# logic gates
# --------------------------------------------------------------------------------------------
TRUTH = {
    "AND": [0, 0, 0, 1],
    "OR": [0, 1, 1, 1],
    "NAND": [1, 1, 1, 0],
    "NOR": [1, 0, 0, 0],
    "XOR": [0, 1, 1, 0],
}


@pytest.mark.parametrize("name", GATES)
def test_logic_gate_truth_tables(name):
    X, y = logic_gate(name)
    assert X.shape == (4, 2) and X.dtype == np.float64
    assert y.shape == (4,) and y.dtype == np.int64
    np.testing.assert_array_equal(X, [[0, 0], [0, 1], [1, 0], [1, 1]])
    np.testing.assert_array_equal(y, TRUTH[name])
    X2, y2 = logic_gate(name.lower(), labels="pm1")
    np.testing.assert_array_equal(X2, X)
    np.testing.assert_array_equal(y2, 2 * np.array(TRUTH[name]) - 1)


def test_logic_gate_bad_names():
    with pytest.raises(ValueError, match="name must be one of.*'AND'.*got 'XNOR'"):
        logic_gate("XNOR")
    with pytest.raises(ValueError, match="labels must be one of"):
        logic_gate("AND", labels="+-1")


# --------------------------------------------------------------------------------------------
# McCulloch-Pitts
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", SEPARABLE)
def test_mcp_gates_compute_their_truth_tables(name):
    X, y = logic_gate(name)
    unit = mcp_gate(name)
    np.testing.assert_array_equal(unit(X), y)
    # one sample at a time gives a 0-d result
    assert [int(unit(x)) for x in X] == TRUTH[name]


def test_mcp_not_gate_and_threshold_is_inclusive():
    NOT = mcp_gate("not")
    np.testing.assert_array_equal(NOT([[0], [1]]), [1, 0])
    # fires when the weighted sum *equals* the threshold (step(0) = 1)
    unit = McCullochPitts(weights=(1, 1, -1), threshold=1)
    assert int(unit([1, 0, 0])) == 1  # sum 1 >= 1
    assert int(unit([1, 0, 1])) == 0  # inhibitory input: sum 0 < 1
    assert int(unit([1, 1, 1])) == 1  # sum 1 >= 1


def test_mcp_refuses_xor_and_bad_input():
    with pytest.raises(ValueError, match="XOR.*not linearly separable.*xor_network"):
        mcp_gate("XOR")
    unit = mcp_gate("AND")
    with pytest.raises(ValueError, match=r"x must be binary.*0\.5"):
        unit([0.5, 1])
    with pytest.raises(ShapeError, match="x must have 2 features.*got shape \\(3,\\)"):
        unit([1, 0, 1])
    with pytest.raises(ValueError, match="x must be finite"):
        unit([np.nan, 1])
    with pytest.raises(ValueError, match="threshold must be finite"):
        McCullochPitts(weights=(1, 1), threshold=np.inf)


# --------------------------------------------------------------------------------------------
# the slide's worked neuron
# --------------------------------------------------------------------------------------------
def test_slide_worked_example_neuron():
    # slide 004: y = g(1 + 3 x1 - 2 x2) at x = (-1, 2): z = 1 - 3 - 4 = -6
    z = preactivation([-1.0, 2.0], [3.0, -2.0], 1.0)
    assert z == -6.0
    assert float(_sigmoid(z)) == pytest.approx(0.00247, abs=5e-6)
    assert float(_sigmoid(z)) == pytest.approx(1 / (1 + math.exp(6)), rel=1e-12)
    # batch form: rows are samples
    zs = preactivation([[-1.0, 2.0], [0.0, 0.0], [1.0, 1.0]], [3.0, -2.0], 1.0)
    np.testing.assert_array_equal(zs, [-6.0, 1.0, 2.0])


def test_preactivation_shape_errors():
    with pytest.raises(ShapeError, match="x must have 2 features"):
        preactivation([[1.0, 2.0, 3.0]], [3.0, -2.0], 1.0)
    with pytest.raises(TypeError, match="bias must be a real number"):
        preactivation([1.0, 2.0], [3.0, -2.0], "1")


# --------------------------------------------------------------------------------------------
# perceptron
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("labels", ["pm1", "01"])
@pytest.mark.parametrize("name", SEPARABLE)
def test_perceptron_learns_every_separable_gate(name, labels):
    X, y = logic_gate(name, labels=labels)
    res = train_perceptron(X, y, labels=labels)
    assert res.converged and res.status == "converged"
    assert res.mistakes[-1] == 0 and all(m > 0 for m in res.mistakes[:-1])
    assert res.epochs == len(res.mistakes)
    assert res.labels == labels
    np.testing.assert_array_equal(res.predict(X), y)
    assert "converged" in res.reason


@pytest.mark.parametrize("labels", ["pm1", "01"])
def test_perceptron_reports_xor_as_a_cycle_quickly(labels):
    X, y = logic_gate("XOR", labels=labels)
    t0 = time.perf_counter()
    res = train_perceptron(X, y, labels=labels, max_epochs=10_000)
    assert time.perf_counter() - t0 < 1.0
    assert not res.converged
    assert res.status == "cycle"
    assert res.epochs <= 5  # found long before the cap
    assert all(m > 0 for m in res.mistakes)
    assert "cycle" in res.reason and "not linearly separable" in res.reason
    # and a single unit really gets at least one XOR case wrong
    assert (res.predict(X) != y).any()


def test_perceptron_first_epoch_by_hand():
    # AND, 0/1 labels, zero start, lr = 1, step(0) = 1:
    #   (0,0) t=0: z=0  -> yhat=1, wrong: w += -1*(0,0) = (0,0), b = -1
    #   (0,1) t=0: z=-1 -> yhat=0, right
    #   (1,0) t=0: z=-1 -> yhat=0, right
    #   (1,1) t=1: z=-1 -> yhat=0, wrong: w += +1*(1,1) = (1,1), b = 0
    X, y = logic_gate("AND")
    res = train_perceptron(X, y, labels="01", max_epochs=1)
    np.testing.assert_array_equal(res.weights, [1.0, 1.0])
    assert res.bias == 0.0
    assert res.mistakes == (2,)
    assert res.status == "max_epochs" and not res.converged
    assert "max_epochs" in res.reason
    # +-1 labels: (0,0) t=-1: t*z = 0 <= 0 counts as a mistake -> b = -1; (1,1) t=+1: z=-1 -> w=(1,1), b=0
    Xp, yp = logic_gate("AND", labels="pm1")
    resp = train_perceptron(Xp, yp, labels="pm1", max_epochs=1)
    np.testing.assert_array_equal(resp.weights, [1.0, 1.0])
    assert resp.bias == 0.0 and resp.mistakes == (2,)


def test_perceptron_lr_scales_weights_from_zero_start():
    X, y = logic_gate("OR", labels="pm1")
    r1 = train_perceptron(X, y, labels="pm1", lr=1.0)
    r2 = train_perceptron(X, y, labels="pm1", lr=0.25)
    np.testing.assert_allclose(r2.weights, 0.25 * r1.weights)
    assert r2.bias == pytest.approx(0.25 * r1.bias)
    assert r1.mistakes == r2.mistakes


def _separable_data(rng, n=60, d=2, margin=0.2):
    w_true = rng.standard_normal(d)
    w_true /= np.linalg.norm(w_true)
    X = rng.uniform(-1, 1, size=(4 * n + 50, d))  # spare rows: some fall inside the margin
    s = X @ w_true + 0.1
    keep = np.abs(s) > margin
    return X[keep][:n], np.where(s[keep][:n] >= 0, 1, -1)


def test_perceptron_converges_on_random_separable_data(rng):
    X, y = _separable_data(rng)
    for labels, t in (("pm1", y), ("01", (y + 1) // 2)):
        res = train_perceptron(X, t, labels=labels, max_epochs=1000)
        assert res.converged, res.reason
        np.testing.assert_array_equal(res.predict(X), t)
        assert res.mistakes[-1] == 0 and sum(res.mistakes) > 0


def test_perceptron_epoch_cap_on_nonseparable_float_data(rng):
    X = rng.standard_normal((40, 2))
    y = rng.choice([-1, 1], size=40)  # random labels: not separable
    res = train_perceptron(X, y, max_epochs=7)
    assert not res.converged
    assert res.status in ("max_epochs", "cycle")
    assert res.epochs <= 7 and len(res.mistakes) == res.epochs


def test_perceptron_does_not_mutate_and_keeps_float32():
    X, y = logic_gate("AND", labels="pm1")
    X32 = X.astype(np.float32)
    w0 = np.array([0.5, -0.5], dtype=np.float32)
    X_copy, w0_copy = X32.copy(), w0.copy()
    res = train_perceptron(X32, y, initial_weights=w0, initial_bias=0.25)
    np.testing.assert_array_equal(X32, X_copy)
    np.testing.assert_array_equal(w0, w0_copy)
    assert res.weights.dtype == np.float32
    assert res.weights is not w0


def test_perceptron_bad_input():
    X, y = logic_gate("AND")
    with pytest.raises(ValueError, match=r"y must hold labels in \{-1, 1\} for labels='pm1'; found values \[0\.0, 1\.0\]"):
        train_perceptron(X, y, labels="pm1")
    with pytest.raises(ValueError, match="labels must be one of 'pm1', '01'"):
        train_perceptron(X, y, labels="binary")
    with pytest.raises(ValueError, match="lr must be > 0; got 0.0"):
        train_perceptron(X, y, labels="01", lr=0.0)
    with pytest.raises(ValueError, match="lr must be > 0"):
        train_perceptron(X, y, labels="01", lr=-1)
    with pytest.raises(ValueError, match="same number of samples; got 4 and 3"):
        train_perceptron(X, y[:3], labels="01")
    with pytest.raises(ValueError, match="X must be finite"):
        train_perceptron(np.where(X == 1, np.nan, X), y, labels="01")
    with pytest.raises(ValueError, match="X is empty"):
        train_perceptron(np.zeros((0, 2)), [], labels="01")
    with pytest.raises(ValueError, match="max_epochs must be an integer >= 1; got 0"):
        train_perceptron(X, y, labels="01", max_epochs=0)
    with pytest.raises(ShapeError, match=r"initial_weights must have shape \(2,\); got \(3,\)"):
        train_perceptron(X, y, labels="01", initial_weights=[0, 0, 0])
    with pytest.raises(ShapeError, match="X must be 2-D"):
        train_perceptron([0, 1, 0, 1], y, labels="01")


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), d=st.integers(1, 4), n=st.integers(1, 30))
def test_perceptron_property_separable_always_converges(seed, d, n):
    rng = np.random.default_rng(seed)
    X, y = _separable_data(rng, n=n, d=d, margin=0.1)
    res = train_perceptron(X, y, max_epochs=5000)
    assert res.converged
    assert res.weights.shape == (d,) and isinstance(res.bias, float)
    np.testing.assert_array_equal(res.predict(X), y)


# --------------------------------------------------------------------------------------------
# Adaline
# --------------------------------------------------------------------------------------------
def test_adaline_batch_reaches_the_least_squares_solution(rng):
    n, d = 80, 3
    X = rng.standard_normal((n, d))
    y = X @ np.array([1.5, -2.0, 0.5]) + 0.7 + 0.3 * rng.standard_normal(n)  # noisy: no exact fit
    res = train_adaline(X, y, lr=0.3, epochs=20_000, mode="batch", tol=1e-13)
    A = np.column_stack([X, np.ones(n)])
    coef, *_ = np.linalg.lstsq(A, y, rcond=None)
    assert res.converged
    np.testing.assert_allclose(res.weights, coef[:d], atol=1e-9)
    assert res.bias == pytest.approx(coef[d], abs=1e-9)
    # gradient descent on a convex quadratic with a small step: the MSE never goes up
    assert np.all(np.diff(res.mse_history) <= 1e-15)
    assert res.mse_history[0] == pytest.approx(np.mean(y**2))  # zero start
    assert res.mse_history[-1] == pytest.approx(np.mean((A @ coef - y) ** 2), rel=1e-9)
    assert len(res.mse_history) == res.epochs + 1


def test_adaline_per_sample_finds_an_exact_linear_fit(rng):
    X = rng.uniform(-1, 1, size=(30, 2))
    y = X @ np.array([2.0, -1.0]) - 0.5
    res = train_adaline(X, y, lr=0.1, epochs=5000, mode="sample", shuffle=True, rng=rng, tol=1e-13)
    np.testing.assert_allclose(res.weights, [2.0, -1.0], atol=1e-8)
    assert res.bias == pytest.approx(-0.5, abs=1e-8)
    assert res.mse_history[-1] < 1e-16


def test_adaline_one_step_by_hand():
    # X = [[1], [2]], t = [1, 2], zero start, lr = 0.1
    X, t = np.array([[1.0], [2.0]]), np.array([1.0, 2.0])
    # batch: r = t - z = (1, 2); w += 0.1 * (1*1 + 2*2) / 2 = 0.25; b += 0.1 * mean(1, 2) = 0.15
    res = train_adaline(X, t, lr=0.1, epochs=1, mode="batch", tol=0)
    assert res.weights[0] == pytest.approx(0.25, abs=1e-15) and res.bias == pytest.approx(0.15, abs=1e-15)
    # MSE after: z = (0.4, 0.65), r = (0.6, 1.35): (0.36 + 1.8225) / 2 = 1.09125
    np.testing.assert_allclose(res.mse_history, [2.5, 1.09125], rtol=1e-14)
    # per sample: sample 1: r = 1 -> w = 0.1, b = 0.1
    #             sample 2: z = 0.2 + 0.1 = 0.3, r = 1.7 -> w = 0.1 + 0.1*1.7*2 = 0.44, b = 0.1 + 0.17 = 0.27
    res = train_adaline(X, t, lr=0.1, epochs=1, mode="sample", tol=0)
    assert res.weights[0] == pytest.approx(0.44, abs=1e-15) and res.bias == pytest.approx(0.27, abs=1e-15)


def test_adaline_keeps_float32_and_does_not_mutate(rng):
    X = rng.standard_normal((20, 2)).astype(np.float32)
    y = (X @ np.array([1.0, -1.0], dtype=np.float32)).astype(np.float32)
    w0 = np.zeros(2, dtype=np.float32)
    X_copy, y_copy = X.copy(), y.copy()
    for mode in ("batch", "sample"):
        res = train_adaline(X, y, lr=0.05, epochs=50, mode=mode, initial_weights=w0)
        assert res.weights.dtype == np.float32
        assert res.mode == mode
    np.testing.assert_array_equal(X, X_copy)
    np.testing.assert_array_equal(y, y_copy)
    np.testing.assert_array_equal(w0, 0.0)


def test_adaline_classifies_and_with_pm1_targets():
    X, y = logic_gate("AND", labels="pm1")
    res = train_adaline(X, y, lr=0.2, epochs=20_000, tol=1e-12)
    # least squares on the AND table: w = (1, 1), b = -1.5
    np.testing.assert_allclose(res.weights, [1.0, 1.0], atol=1e-8)
    assert res.bias == pytest.approx(-1.5, abs=1e-8)
    np.testing.assert_array_equal(res.predict(X), y)


def test_adaline_divergence_is_reported(rng):
    X = 10 * rng.standard_normal((20, 2))
    y = rng.standard_normal(20)
    with pytest.raises(FloatingPointError, match=r"diverged at epoch \d+.*lr=5.0 is too large"):
        train_adaline(X, y, lr=5.0, epochs=10_000)


def test_adaline_bad_input(rng):
    X, y = logic_gate("OR", labels="pm1")
    with pytest.raises(ValueError, match="lr must be > 0"):
        train_adaline(X, y, lr=0)
    with pytest.raises(ValueError, match="mode must be one of 'batch', 'sample'"):
        train_adaline(X, y, mode="online")
    with pytest.raises(TypeError, match="rng must be a numpy.random.Generator"):
        train_adaline(X, y, mode="sample", shuffle=True)
    with pytest.raises(ValueError, match="shuffle=True needs mode='sample'"):
        train_adaline(X, y, shuffle=True, rng=rng)
    with pytest.raises(ValueError, match="same number of samples"):
        train_adaline(X, y[:2])
    with pytest.raises(ValueError, match="y must be finite"):
        train_adaline(X, [1.0, np.inf, 1.0, 1.0])
    with pytest.raises(ValueError, match="epochs must be an integer >= 1"):
        train_adaline(X, y, epochs=0)


# --------------------------------------------------------------------------------------------
# XOR network
# --------------------------------------------------------------------------------------------
def test_xor_network_computes_xor_with_or_nand_hidden_units():
    X, y = logic_gate("XOR")
    out, h = xor_network(X, return_hidden=True)
    assert out.dtype == np.int64 and out.shape == (4,)
    np.testing.assert_array_equal(out, y)
    np.testing.assert_array_equal(h[:, 0], TRUTH["OR"])
    np.testing.assert_array_equal(h[:, 1], TRUTH["NAND"])
    assert [int(xor_network(x)) for x in X] == TRUTH["XOR"]
    # the hidden representation is linearly separable: the perceptron learns XOR from it
    res = train_perceptron(h.astype(float), y, labels="01")
    assert res.converged


def test_xor_network_weights_are_read_only_and_input_checked():
    with pytest.raises(ValueError, match="read-only"):
        XOR_NETWORK_WEIGHTS["W1"][0, 0] = 5.0
    with pytest.raises(ShapeError, match="X must have 2 features"):
        xor_network([[1, 0, 1]])
    with pytest.raises(ValueError, match="X must be binary"):
        xor_network([[2, 0]])


def test_public_names_exist():
    for name in neurons.__all__:
        assert hasattr(neurons, name)
