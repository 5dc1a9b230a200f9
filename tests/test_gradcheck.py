"""Tests for nnkit.gradcheck: the numerical gradient checker that the tests and graders rely on."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nnkit.gradcheck import (
    CHAIN_RULE_ADVICE,
    GradCheckResult,
    check_gradients,
    numerical_gradient,
    numerical_gradient_array,
    rel_error,
)


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def sigmoid_layer_problem(rng, n=5, d=4, m=3):
    """L = sum(sigmoid(x @ W + b) * c): inputs, weights and bias with known gradients."""
    x = rng.standard_normal((n, d))
    W = rng.standard_normal((d, m))
    b = rng.standard_normal(m)
    c = rng.standard_normal((n, m))

    def f(p):
        return float(np.sum(sigmoid(p["x"] @ p["W"] + p["b"]) * c))

    s = sigmoid(x @ W + b)
    dz = c * s * (1 - s)
    good = {"x": dz @ W.T, "W": x.T @ dz, "b": dz.sum(axis=0)}
    dz_bad = c * s  # the classic slip: sigmoid' written as sigmoid
    bad = {"x": dz_bad @ W.T, "W": x.T @ dz_bad, "b": dz_bad.sum(axis=0)}
    return f, {"x": x, "W": W, "b": b}, good, bad, dz


# ---------------------------------------------------------------------------------------
# The core: numerical_gradient, numerical_gradient_array, rel_error
# ---------------------------------------------------------------------------------------


def test_numerical_gradient_of_quadratic_matches_formula(rng):
    A = rng.standard_normal((3, 3))
    x = rng.standard_normal(3)
    num = numerical_gradient(lambda z: z @ A @ z, x)
    assert rel_error(num, (A + A.T) @ x) < 1e-9


def test_numerical_gradient_restores_x_bitwise(rng):
    x = rng.standard_normal((2, 3))
    before = x.copy()
    numerical_gradient(lambda z: np.sum(np.sin(z)), x)
    assert np.array_equal(x, before)


def test_numerical_gradient_refuses_float32():
    with pytest.raises(TypeError, match="float64.*float32"):
        numerical_gradient(lambda z: float(np.sum(z)), np.ones(3, dtype=np.float32))


def test_rel_error_floor_and_values():
    assert rel_error(np.zeros(3), np.zeros(3)) == 0.0
    # |a-b| = 1e-12 with both near 0: the floor 1e-8 keeps it small instead of ~1.
    assert rel_error(np.array([1e-12]), np.array([0.0])) == pytest.approx(1e-4)
    # 0.1 vs 0.3: |diff| 0.2 / (0.1 + 0.3) = 0.5
    assert rel_error(np.array([0.1]), np.array([0.3])) == pytest.approx(0.5)
    with pytest.raises(ValueError, match="equal shapes"):
        rel_error(np.zeros(2), np.zeros(3))


# ---------------------------------------------------------------------------------------
# check_gradients: detection
# ---------------------------------------------------------------------------------------


def test_correct_gradients_pass_for_params_and_inputs(rng):
    f, params, good, _, _ = sigmoid_layer_problem(rng)
    res = check_gradients(f, params, good)
    assert isinstance(res, GradCheckResult)
    assert res.passed and bool(res)
    assert [r.name for r in res] == ["x", "W", "b"]
    for r in res:
        assert r.max_rel_error < 1e-8
        assert r.n_checked == params[r.name].size
        assert r.n_skipped_near_kink == 0
        assert r.shape == params[r.name].shape
    assert res.fraction_passed == 1.0


def test_sigmoid_derivative_written_as_sigmoid_is_caught(rng):
    f, params, _, bad, _ = sigmoid_layer_problem(rng)
    res = check_gradients(f, params, bad)
    assert not res.passed
    assert res.fraction_passed == 0.0
    for r in res:
        assert r.max_rel_error > 0.1
        assert not r.passed
    text = res.diagnosis()
    assert "dx: relative error" in text and "dW: relative error" in text and "db:" in text


def test_worst_index_and_values_point_at_the_wrong_entry(rng):
    f, params, good, _, _ = sigmoid_layer_problem(rng)
    wrong = dict(good)
    wrong["W"] = good["W"].copy()
    wrong["W"][2, 1] += 0.5
    res = check_gradients(f, params, wrong)
    row = res["W"]
    assert not row.passed and res["x"].passed and res["b"].passed
    assert row.worst_index == (2, 1)
    assert row.analytic == pytest.approx(good["W"][2, 1] + 0.5)
    assert row.numeric == pytest.approx(good["W"][2, 1], rel=1e-7)
    assert "dW: relative error" in res.diagnosis() and "(2, 1)" in res.diagnosis()
    assert "dx" not in res.diagnosis()  # only failures are listed


def test_params_restored_even_when_f_raises(rng):
    f, params, good, _, _ = sigmoid_layer_problem(rng)
    before = {k: v.copy() for k, v in params.items()}
    check_gradients(f, params, good)
    for k in params:
        assert np.array_equal(params[k], before[k])
    calls = {"n": 0}

    def boom(p):
        calls["n"] += 1
        if calls["n"] > 2:
            raise RuntimeError("student code crashed")
        return f(p)

    with pytest.raises(RuntimeError, match="crashed"):
        check_gradients(boom, params, good)
    for k in params:
        assert np.array_equal(params[k], before[k])


def test_zero_argument_function_reading_closed_over_arrays(rng):
    x = rng.standard_normal(4)
    res = check_gradients(lambda: float(np.sum(x**3)), {"x": x}, {"x": 3 * x**2})
    assert res.passed
    bad = check_gradients(lambda: float(np.sum(x**3)), {"x": x}, {"x": 2 * x**2})
    assert not bad.passed


def test_float32_is_refused_with_a_clear_error(rng):
    x = rng.standard_normal(3).astype(np.float32)
    with pytest.raises(TypeError, match=r"params\['x'\] must be float64.*float32"):
        check_gradients(lambda p: float(np.sum(p["x"])), {"x": x}, {"x": np.ones(3)})


def test_bad_arguments_are_refused(rng):
    x = rng.standard_normal(3)
    f = lambda p: float(np.sum(p["x"] ** 2))  # noqa: E731
    with pytest.raises(ValueError, match="params is empty"):
        check_gradients(f, {}, {})
    with pytest.raises(TypeError, match="params"):
        check_gradients(f, [x], {"x": 2 * x})
    with pytest.raises(TypeError, match=r"params\['x'\] must be a float64 ndarray"):
        check_gradients(f, {"x": [1.0, 2.0]}, {"x": [2.0, 4.0]})
    with pytest.raises(ValueError, match="h must be > 0"):
        check_gradients(f, {"x": x}, {"x": 2 * x}, h=0.0)
    with pytest.raises(ValueError, match="threshold must be > 0"):
        check_gradients(f, {"x": x}, {"x": 2 * x}, threshold=-1)
    with pytest.raises(ValueError, match="must be finite"):
        check_gradients(f, {"x": np.array([1.0, np.nan])}, {"x": np.zeros(2)})
    with pytest.raises(ValueError, match="not in params"):
        check_gradients(f, {"x": x}, {"x": 2 * x, "y": x})
    with pytest.raises(ValueError, match="k must be a positive int"):
        check_gradients(f, {"x": x}, {"x": 2 * x}, k=0, rng=rng)
    with pytest.raises(TypeError, match="rng is required"):
        check_gradients(f, {"x": x}, {"x": 2 * x}, k=2)
    with pytest.raises(TypeError, match="numpy.random.Generator"):
        check_gradients(f, {"x": x}, {"x": 2 * x}, k=2, rng=0)
    with pytest.raises(KeyError, match="kinks names 'z'"):
        check_gradients(f, {"x": x}, {"x": 2 * x}, kinks={"z": (0.0,)})
    ro = x.copy()
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        check_gradients(f, {"x": ro}, {"x": 2 * x})


# ---------------------------------------------------------------------------------------
# Malformed analytic gradients fail their row (with a reason) instead of raising
# ---------------------------------------------------------------------------------------


def test_missing_wrong_shape_and_nonfinite_gradients_fail_their_row(rng):
    f, params, good, _, dz = sigmoid_layer_problem(rng)
    analytic = {"x": good["x"], "W": good["W"].T.copy(), "b": dz}  # W transposed, b not summed
    res = check_gradients(f, params, analytic)
    assert res["x"].passed
    assert not res["W"].passed and "shape (3, 4), expected (4, 3)" in res["W"].reason
    assert "transpose" in res["W"].hint
    assert not res["b"].passed and "shape (5, 3), expected (3,)" in res["b"].reason
    assert "sum it over the batch" in res["b"].hint
    assert res["b"].max_rel_error == np.inf and res["b"].n_checked == 0

    res = check_gradients(f, params, {"x": good["x"], "W": good["W"]})
    assert not res["b"].passed and "no analytic gradient" in res["b"].reason
    assert res.fraction_passed == pytest.approx(2 / 3)

    nan_W = good["W"].copy()
    nan_W[1, 2] = np.nan
    res = check_gradients(f, params, {**good, "W": nan_W})
    assert not res["W"].passed and "not finite" in res["W"].reason and "(1, 2)" in res["W"].reason

    res = check_gradients(f, params, {**good, "b": "oops"})
    assert not res["b"].passed and "not a numeric array" in res["b"].reason


def test_nonfinite_function_fails_the_row():
    x = np.array([0.0, 1.0])
    with np.errstate(invalid="ignore"):  # log of a negative number at x - h
        res = check_gradients(lambda p: float(np.sum(np.log(p["x"] + 1e-6))), {"x": x}, {"x": 1 / (x + 1e-6)})
    assert not res.passed
    assert "not finite near index (0,)" in res["x"].reason


@pytest.mark.parametrize(
    "transform, phrase",
    [
        (lambda g: -g, "wrong sign"),
        (lambda g: 2 * g, "factor 1/2"),
        (lambda g: 0.5 * g, "factor 1/2"),
        (lambda g: g / 8, "factor 8"),
        (lambda g: np.zeros_like(g), "all zeros"),
        (lambda g: g.T.copy(), "transpose matches"),
    ],
)
def test_diagnosis_hints(rng, transform, phrase):
    A = rng.standard_normal((3, 3))
    W = rng.standard_normal((3, 3))
    grad = np.cos(W) * A  # not symmetric, so the transpose case is distinguishable
    res = check_gradients(lambda p: float(np.sum(np.sin(p["W"]) * A)), {"W": W}, {"W": transform(grad)})
    assert not res.passed
    assert phrase in res.diagnosis()
    assert res.diagnosis().startswith("dW: ")


def test_a_bias_gets_no_guessed_cause():
    # db1 = [0.2, 0.1, 0.1] is only right for two entries; the third is 0.3 numerically. Nothing
    # confirms "not summed over the batch" (check_gradients does not know the batch): generic advice.
    b1 = np.array([1.0, 2.0, 3.0])
    target = np.array([0.2, 0.1, 0.3])
    res = check_gradients(lambda p: float(p["b1"] @ target), {"b1": b1}, {"b1": np.array([0.2, 0.1, 0.1])})
    msg = res.diagnosis()
    assert msg.startswith("db1: relative error 0.5 at index (2,), analytic 0.1 vs numeric 0.3")
    assert "batch" not in msg and res["b1"].hint == CHAIN_RULE_ADVICE


@pytest.mark.parametrize("factor", [866.7, 745.7, 3.3])
def test_a_ratio_that_is_not_an_integer_is_not_called_an_integer_factor(rng, factor):
    W = rng.standard_normal((3, 3))
    res = check_gradients(lambda p: float(np.sum(np.sin(p["W"]))), {"W": W}, {"W": factor * np.cos(W)})
    hint = res["W"].hint
    assert f"{factor:.4g} times the numeric one everywhere" in hint
    assert "missing or extra constant factor" not in hint and "1/N" not in hint


def test_one_entry_is_a_multiple_of_anything_so_no_factor_is_named():
    # the issue's example: a missing tanh' on a one-entry gradient is 745.7 times the numeric one
    res = check_gradients(lambda p: float(np.tanh(p["b"][0])), {"b": np.array([4.0])}, {"b": np.array([1.0])})
    assert not res.passed
    assert res["b"].hint == CHAIN_RULE_ADVICE
    assert "times" not in res.diagnosis() and "1/N" not in res.diagnosis()


def test_a_constant_gradient_vector_names_no_factor():
    # every entry has the same numeric gradient: any wrong constant is "a multiple", proving nothing
    x = np.arange(4.0)
    res = check_gradients(lambda p: float(np.sum(p["x"])), {"x": x}, {"x": np.full(4, 3.0)})
    assert res["x"].hint == CHAIN_RULE_ADVICE


def test_an_integer_factor_is_named_without_guessing_its_origin(rng):
    W = rng.standard_normal((3, 3))
    res = check_gradients(lambda p: float(np.sum(np.sin(p["W"]))), {"W": W}, {"W": 5 * np.cos(W)})
    assert "missing or extra constant factor 5" in res["W"].hint and "1/N" not in res["W"].hint


def test_a_keepdims_bias_is_told_its_shape_not_to_sum_again():
    b = np.array([1.0, 2.0, 3.0])
    res = check_gradients(lambda p: float(np.sum(p["b"] ** 2)), {"b": b}, {"b": (2 * b)[None, :]})
    assert "shape (1, 3), expected (3,)" in res["b"].reason
    assert "(1, 3) where (3,) is expected" in res["b"].hint and "sum it over the batch" not in res["b"].hint


# ---------------------------------------------------------------------------------------
# Kinks
# ---------------------------------------------------------------------------------------


def relu(z):
    return np.maximum(z, 0.0)


def relu_grad(z):
    return (z > 0).astype(np.float64)  # relu'(0) = 0, PyTorch's convention


def test_kink_entries_of_an_input_are_skipped_not_failed(rng):
    x = rng.standard_normal(8)
    x[[1, 4, 6]] = [0.0, 3e-6, -1e-5]  # within h = 1e-5 of the kink (the last one exactly h away)
    c = rng.standard_normal(8)
    f = lambda p: float(np.sum(relu(p["x"]) * c))  # noqa: E731
    analytic = {"x": relu_grad(x) * c}
    plain = check_gradients(f, {"x": x}, analytic)
    assert not plain.passed  # the centred difference straddles the kink at x = 0 and 3e-6
    res = check_gradients(f, {"x": x}, analytic, kinks={"x": (0.0,)})
    row = res["x"]
    assert row.passed
    assert row.n_skipped_near_kink == 3
    assert row.n_checked == 5
    assert "3 entries near a kink were skipped" in res.diagnosis()


def test_kink_points_other_than_zero(rng):
    x = np.array([-2.0, 0.5 + 1e-7, 2.0])
    f = lambda p: float(np.sum(np.abs(p["x"] - 0.5)))  # noqa: E731
    res = check_gradients(f, {"x": x}, {"x": np.sign(x - 0.5)}, kinks={"x": [0.5]})
    assert res.passed and res["x"].n_skipped_near_kink == 1 and res["x"].n_checked == 2


def test_kink_callable_on_preactivations_of_a_relu_layer(rng):
    x = rng.standard_normal((4, 3))
    W = rng.standard_normal((3, 2))
    b = rng.standard_normal(2)
    b[0] = -(x[0] @ W[:, 0])  # pre-activation z[0, 0] sits exactly on the kink
    c = rng.standard_normal((4, 2))
    f = lambda p: float(np.sum(relu(p["x"] @ p["W"] + p["b"]) * c))  # noqa: E731
    z = x @ W + b
    dz = relu_grad(z) * c
    analytic = {"x": dz @ W.T, "W": x.T @ dz, "b": dz.sum(axis=0)}
    assert not check_gradients(f, {"x": x, "W": W, "b": b}, analytic).passed
    res = check_gradients(
        f, {"x": x, "W": W, "b": b}, analytic, kinks=lambda p: p["x"] @ p["W"] + p["b"]
    )
    assert res.passed, res.diagnosis()
    # Every entry that moves z[0, 0] is skipped: b[0], all of W[:, 0], all of x[0, :].
    assert res["b"].n_skipped_near_kink == 1 and res["b"].n_checked == 1
    assert res["W"].n_skipped_near_kink == 3 and res["W"].n_checked == 3
    assert res["x"].n_skipped_near_kink == 3 and res["x"].n_checked == 9
    # A list of pre-activation arrays is accepted too.
    res2 = check_gradients(
        f, {"x": x, "W": W, "b": b}, analytic, kinks=lambda p: [p["x"] @ p["W"] + p["b"], np.ones(2)]
    )
    assert [r.n_skipped_near_kink for r in res2] == [3, 3, 1]


def test_all_entries_near_a_kink_means_not_checked_but_not_failed():
    x = np.zeros(3)
    res = check_gradients(lambda p: float(np.sum(relu(p["x"]))), {"x": x}, {"x": np.zeros(3)}, kinks={"x": (0.0,)})
    row = res["x"]
    assert row.passed and row.n_checked == 0 and row.n_skipped_near_kink == 3
    assert "not checked" in row.message()


# ---------------------------------------------------------------------------------------
# Sampling
# ---------------------------------------------------------------------------------------


def test_sampling_draws_exactly_k_distinct_entries_from_rng():
    big = np.random.default_rng(1).standard_normal((6, 7))
    small = np.random.default_rng(2).standard_normal(3)
    seen = []

    def f(p):
        for name in ("big", "small"):
            diff = np.argwhere(p[name] != base[name])
            if diff.size:
                seen.append((name, tuple(int(i) for i in diff[0])))
        return float(np.sum(p["big"] ** 2) + np.sum(p["small"] ** 2))

    base = {"big": big.copy(), "small": small.copy()}
    res = check_gradients(f, {"big": big, "small": small}, {"big": 2 * big, "small": 2 * small},
                          k=5, rng=np.random.default_rng(42))
    assert res.passed
    big_seen = [ix for name, ix in seen if name == "big"]
    # each sampled entry is evaluated twice (+h and -h)
    assert len(big_seen) == 10 and len(set(big_seen)) == 5
    assert res["big"].n_checked == 5
    assert res["small"].n_checked == 3  # size <= k: every entry
    # The draw is rng.choice(size, k, replace=False) on the given Generator, so it can be replayed.
    expected = np.random.default_rng(42).choice(big.size, size=5, replace=False)
    assert set(big_seen) == {tuple(int(i) for i in np.unravel_index(j, big.shape)) for j in expected}


def test_sampling_is_deterministic_and_depends_on_the_seed(rng):
    W = rng.standard_normal((20, 20))
    wrong = 2 * W + rng.standard_normal(W.shape)  # every entry off by a different amount
    f = lambda p: float(np.sum(p["W"] ** 2))  # noqa: E731
    a = check_gradients(f, {"W": W}, {"W": wrong}, k=7, rng=np.random.default_rng(3))
    b = check_gradients(f, {"W": W}, {"W": wrong}, k=7, rng=np.random.default_rng(3))
    assert a.to_records() == b.to_records()
    others = {check_gradients(f, {"W": W}, {"W": wrong}, k=7, rng=np.random.default_rng(s))["W"].worst_index
              for s in range(6)}
    assert len(others) > 1


# ---------------------------------------------------------------------------------------
# Random projection for array-valued functions
# ---------------------------------------------------------------------------------------


def test_projection_equals_full_jacobian_vector_product(rng):
    A = rng.standard_normal((4, 3))
    x = rng.standard_normal((2, 4))
    fun = lambda z: np.tanh(z @ A)  # noqa: E731  (2, 4) -> (2, 3)
    # Full Jacobian J[o, i] = d out_o / d x_i, built numerically one output at a time.
    n_out = 6
    J = np.empty((n_out, x.size))
    for o in range(n_out):
        J[o] = numerical_gradient(lambda z: fun(z).ravel()[o], x).ravel()
    dout = rng.standard_normal((2, 3))
    jvp = (J.T @ dout.ravel()).reshape(x.shape)
    # numerical_gradient_array projects onto dout: the same vector-Jacobian product.
    assert rel_error(numerical_gradient_array(fun, x, dout), jvp) < 1e-8
    # Analytic backward of tanh(x @ A): (dout * (1 - out^2)) @ A.T
    backward = lambda d: {"x": (d * (1 - fun(x) ** 2)) @ A.T}  # noqa: E731
    res = check_gradients(lambda p: fun(p["x"]), {"x": x}, backward, rng=np.random.default_rng(9))
    assert res.passed and res["x"].max_rel_error < 1e-8
    # dout is drawn first from rng, as documented, and kept on the result
    assert np.array_equal(res.dout, np.random.default_rng(9).standard_normal((2, 3)))
    assert rel_error(backward(res.dout)["x"], (J.T @ res.dout.ravel()).reshape(x.shape)) < 1e-8
    # an explicit dout is used as given
    res = check_gradients(lambda p: fun(p["x"]), {"x": x}, backward, dout=dout)
    assert res.passed and np.array_equal(res.dout, dout)


def test_projection_catches_a_wrong_backward(rng):
    A = rng.standard_normal((4, 3))
    x = rng.standard_normal((2, 4))
    fun = lambda z: np.tanh(z @ A)  # noqa: E731
    wrong = lambda d: {"x": d @ A.T}  # forgot the tanh derivative  # noqa: E731
    res = check_gradients(lambda p: fun(p["x"]), {"x": x}, wrong, rng=rng)
    assert not res.passed and res["x"].max_rel_error > 1e-2


def test_array_valued_function_needs_rng_or_dout(rng):
    x = rng.standard_normal(3)
    with pytest.raises(TypeError, match="random upstream gradient dout"):
        check_gradients(lambda p: p["x"] ** 2, {"x": x}, lambda d: {"x": 2 * x * d})
    with pytest.raises(ValueError, match="dout must have the shape"):
        check_gradients(lambda p: p["x"] ** 2, {"x": x}, lambda d: {"x": 2 * x * d}, dout=np.ones(4))
    with pytest.raises(ValueError, match="only for array-valued"):
        check_gradients(lambda p: float(np.sum(p["x"])), {"x": x}, {"x": np.ones(3)}, dout=np.ones(3))


# ---------------------------------------------------------------------------------------
# Property tests
# ---------------------------------------------------------------------------------------

shapes = st.lists(st.integers(1, 4), min_size=0, max_size=3).map(tuple)


@settings(max_examples=40, deadline=None)
@given(shape_a=shapes, shape_b=shapes, k=st.one_of(st.none(), st.integers(1, 10)), seed=st.integers(0, 2**32 - 1))
def test_rows_follow_the_shapes(shape_a, shape_b, k, seed):
    g = np.random.default_rng(seed)
    a = g.standard_normal(shape_a)
    b = g.standard_normal(shape_b)
    ca = g.standard_normal(shape_a)
    cb = g.standard_normal(shape_b)

    def f(p):
        return float(np.sum(ca * np.sin(p["a"])) + np.sum(cb * p["b"] ** 2))

    res = check_gradients(f, {"a": a, "b": b}, {"a": ca * np.cos(a), "b": 2 * cb * b}, k=k,
                          rng=np.random.default_rng(seed) if k else None)
    assert res.passed, res.diagnosis()
    for row, arr in zip(res, (a, b)):
        assert row.shape == arr.shape
        assert row.n_checked == (arr.size if k is None else min(k, arr.size))
        assert len(row.worst_index) == arr.ndim
        assert all(0 <= i < s for i, s in zip(row.worst_index, arr.shape))


@settings(max_examples=25, deadline=None)
@given(shape=st.lists(st.integers(1, 4), min_size=1, max_size=3).map(tuple), seed=st.integers(0, 2**32 - 1))
def test_projection_for_any_output_shape(shape, seed):
    g = np.random.default_rng(seed)
    x = g.standard_normal(shape)
    res = check_gradients(lambda p: np.exp(0.3 * p["x"]), {"x": x},
                          lambda d: {"x": 0.3 * np.exp(0.3 * x) * d}, rng=g)
    assert res.passed
    assert res.dout.shape == shape


# ---------------------------------------------------------------------------------------
# check_layer / check_model on minimal stand-ins for the Layer interface
# (the real nnkit layers and models are checked further down)
# ---------------------------------------------------------------------------------------

from nnkit.gradcheck import check_layer, check_model  # noqa: E402


class ToyDense:
    """Layer interface: params, forward(x, training) -> (out, cache), backward -> (dx, grads)."""

    def __init__(self, W, b, bug=None):
        self.params = {"W": W, "b": b}
        self.bug = bug

    def forward(self, x, training=True):
        return x @ self.params["W"] + self.params["b"], x

    def backward(self, dout, cache):
        x = cache
        dW = x.T @ dout
        db = dout.sum(axis=0) if self.bug != "bias_mean" else dout.mean(axis=0)
        dx = dout @ self.params["W"].T
        return dx, {"W": dW, "b": db}


class ToyNoisyScale:
    """Random mask from its own Generator, plus a running statistic updated in training mode."""

    def __init__(self, rng, n=3):
        self.rng = rng
        self.params = {}
        self.running = np.zeros(n)

    def forward(self, x, training=True):
        mask = (self.rng.random(x.shape) < 0.5) * 2.0
        if training:
            self.running = 0.9 * self.running + 0.1 * x.mean(axis=0)  # reassigned, like BatchNorm
        return x * mask, mask

    def backward(self, dout, cache):
        return dout * cache, {}


class ToySequential:
    def __init__(self, layers):
        self.layers = layers

    @property
    def params(self):
        out, i = {}, 0
        for layer in self.layers:
            if layer.params:
                i += 1
                out.update({f"{k}{i}": v for k, v in layer.params.items()})
        return out

    def forward(self, x, training=True):
        caches = []
        for layer in self.layers:
            x, c = layer.forward(x, training=training)
            caches.append(c)
        return x, caches

    def backward(self, dout, caches):
        grads, i = {}, sum(1 for layer in self.layers if layer.params)
        for layer, c in zip(reversed(self.layers), reversed(caches)):
            dout, g = layer.backward(dout, c)
            if layer.params:
                grads.update({f"{k}{i}": v for k, v in g.items()})
                i -= 1
        return dout, grads


def mse_pair():
    return (lambda p, y: float(np.mean((p - y) ** 2)), lambda p, y: 2 * (p - y) / p.size)


def test_check_layer_on_a_toy_dense(rng):
    layer = ToyDense(rng.standard_normal((4, 3)), rng.standard_normal(3))
    x = rng.standard_normal((6, 4))
    res = check_layer(layer, x, rng)
    assert res.passed and [r.name for r in res] == ["x", "W", "b"]
    assert res.dout.shape == (6, 3)
    bad = check_layer(ToyDense(layer.params["W"], layer.params["b"], bug="bias_mean"), x, rng)
    assert [r.name for r in bad.failed] == ["b"]
    assert "db: relative error" in bad.diagnosis() and "batch mean of the upstream gradient" in bad.diagnosis()


def test_check_layer_freezes_and_restores_hidden_state(rng):
    layer_rng = np.random.default_rng(5)
    layer = ToyNoisyScale(layer_rng)
    running_before = layer.running
    state_before = layer_rng.bit_generator.state
    x = rng.standard_normal((4, 3))
    res = check_layer(layer, x, rng)
    # Without freezing, each evaluation would draw a new mask and the check would fail.
    assert res.passed, res.diagnosis()
    assert layer.running is running_before and np.array_equal(layer.running, np.zeros(3))
    assert layer_rng.bit_generator.state == state_before  # no random numbers consumed


def test_check_layer_refuses_float32(rng):
    layer = ToyDense(np.ones((2, 2), dtype=np.float32), np.zeros(2, dtype=np.float32))
    with pytest.raises(TypeError, match=r"layer.params\['W'\] must be float64"):
        check_layer(layer, rng.standard_normal((3, 2)), rng)
    with pytest.raises(TypeError, match="x must be float64"):
        check_layer(ToyDense(np.ones((2, 2)), np.zeros(2)), np.ones((3, 2), dtype=np.float32), rng)
    with pytest.raises(TypeError, match="Generator"):
        check_layer(ToyDense(np.ones((2, 2)), np.zeros(2)), np.ones((3, 2)), 0)


def test_check_model_on_a_toy_sequential(rng):
    model = ToySequential([
        ToyDense(rng.standard_normal((3, 4)), rng.standard_normal(4)),
        ToyNoisyScale(np.random.default_rng(1), n=4),
        ToyDense(rng.standard_normal((4, 2)), rng.standard_normal(2)),
    ])
    x = rng.standard_normal((5, 3))
    y = rng.standard_normal((5, 2))
    before = {k: v.copy() for k, v in model.params.items()}
    res = check_model(model, x, y, mse_pair(), include_input=True)
    assert res.passed, res.diagnosis()
    assert [r.name for r in res] == ["W1", "b1", "W2", "b2", "x"]
    for k_, v in model.params.items():
        assert np.array_equal(v, before[k_])
    model.layers[2].bug = "bias_mean"
    res = check_model(model, x, y, mse_pair(), k=3, rng=rng)
    assert [r.name for r in res.failed] == ["b2"]
    assert res.score(4) == pytest.approx(3.0)
    assert res["W1"].n_checked == 3 and res["b2"].n_checked == 2


def test_check_model_rejects_unknown_loss_objects(rng):
    model = ToySequential([ToyDense(rng.standard_normal((3, 2)), rng.standard_normal(2))])
    with pytest.raises(TypeError, match="loss must be"):
        check_model(model, rng.standard_normal((4, 3)), rng.standard_normal((4, 2)), 42)


def test_function_that_ignores_the_tensor_gets_a_hint(rng):
    x = rng.standard_normal(3)
    frozen = x.copy()
    res = check_gradients(lambda p: float(np.sum(frozen**2)), {"x": x}, {"x": 2 * x})
    assert not res.passed and "numeric gradient is zero" in res.diagnosis()


def test_floor_absorbs_round_off_of_a_truly_zero_gradient(rng):
    # f does not depend on b mathematically (the batch mean removes it), but in floating point
    # its centred difference is round-off of size ~eps*|f|/h, not exactly zero.
    x = rng.standard_normal((6, 3))
    b = rng.standard_normal(3)
    c = rng.standard_normal((6, 3))

    def f(p):
        z = p["x"] + p["b"]
        return float(np.sum(np.tanh(z - z.mean(axis=0)) * c))

    zc = x - x.mean(axis=0)
    g = c * (1 - np.tanh(zc) ** 2)
    res = check_gradients(f, {"x": x, "b": b}, {"x": g - g.mean(axis=0), "b": np.zeros(3)})
    assert res.passed, str(res)
    assert res["b"].floor > 1e-8
    # ... while a real error of the same tensor still fails
    assert not check_gradients(f, {"x": x, "b": b}, {"x": g - g.mean(axis=0), "b": np.full(3, 1e-3)}).passed


# ---------------------------------------------------------------------------------------
# check_layer / check_model on the real nnkit layers and models
# ---------------------------------------------------------------------------------------


def _nnkit_layers():
    from nnkit.layers import Activation, Dense, Dropout
    from nnkit.normalization import BatchNorm, LayerNorm

    g = np.random.default_rng(7)
    return [
        Dense(4, 3, g), Activation("relu"), Activation("tanh"), Activation("sigmoid"),
        Activation("leaky_relu", slope=0.2), Activation("softmax"), Activation("gelu"),
        Dropout(0.5, np.random.default_rng(1)), BatchNorm(4), LayerNorm(4),
    ]


@pytest.mark.parametrize("layer", _nnkit_layers(), ids=repr)
def test_check_layer_passes_every_nnkit_layer(layer, rng):
    x = rng.standard_normal((5, 4))
    state = {k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in vars(layer).items()
             if isinstance(v, np.ndarray)}
    res = check_layer(layer, x, rng)
    assert res.passed, str(res)
    assert res.rows[0].name == "x"
    assert [r.name for r in res.rows[1:]] == list(layer.params)
    for k, v in state.items():  # running statistics untouched
        assert np.array_equal(getattr(layer, k), v)


def test_check_layer_skips_relu_kinks_automatically(rng):
    from nnkit.layers import Activation

    x = rng.standard_normal((4, 3))
    x[0, :] = [0.0, 5e-6, -2e-6]
    res = check_layer(Activation("relu"), x, rng)
    assert res.passed and res["x"].n_skipped_near_kink == 3 and res["x"].n_checked == 9
    raw = check_layer(Activation("relu"), x, rng, kinks=None)
    assert not raw.passed  # the centred difference straddles the kink


def test_check_layer_catches_a_broken_backward(rng):
    from nnkit.layers import Dense

    class BiasNotSummed(Dense):
        def backward(self, dout, cache, need_dx=True):
            dx, grads = super().backward(dout, cache, need_dx)
            return dx, {"W": grads["W"], "b": dout[0]}  # first sample only

    res = check_layer(BiasNotSummed(3, 2, rng), rng.standard_normal((4, 3)), rng)
    assert [r.name for r in res.failed] == ["b"]
    assert res.diagnosis().startswith("db: relative error")
    assert "upstream gradient of sample 0 alone" in res.diagnosis()
    assert "over the batch (axis 0)" in res.diagnosis()


def test_check_layer_names_a_bias_averaged_instead_of_summed_and_nothing_else(rng):
    from nnkit.layers import Dense

    class BiasMean(Dense):
        def backward(self, dout, cache, need_dx=True):
            dx, grads = super().backward(dout, cache, need_dx)
            return dx, {"W": grads["W"], "b": dout.mean(axis=0)}

    class BiasOff(Dense):  # wrong, but neither slip: no bias cause is named
        def backward(self, dout, cache, need_dx=True):
            dx, grads = super().backward(dout, cache, need_dx)
            return dx, {"W": grads["W"], "b": grads["b"] + np.array([0.0, 1.0])}

    res = check_layer(BiasMean(3, 2, rng), rng.standard_normal((4, 3)), rng)
    assert "batch mean of the upstream gradient" in res["b"].hint
    res = check_layer(BiasOff(3, 2, rng), rng.standard_normal((4, 3)), rng)
    assert not res["b"].passed and "batch" not in res["b"].hint


def test_check_layer_refuses_a_float32_layer(rng):
    from nnkit.layers import Dense

    with pytest.raises(TypeError, match="float64"):
        check_layer(Dense(3, 2, rng, dtype=np.float32), rng.standard_normal((4, 3)), rng)


def test_check_model_mlp_with_batchnorm_and_dropout(rng):
    from nnkit.model import MLP

    model = MLP([4, 6, 5, 3], rng=np.random.default_rng(3), batchnorm=True, p_drop=0.3)
    x = rng.standard_normal((8, 4))
    y = rng.integers(0, 3, size=8)
    before = {k: v.copy() for k, v in model.params.items()}
    bn = model.layers[1]
    running = bn.running_mean.copy()
    drop_rng_state = model.layers[3].rng.bit_generator.state
    res = check_model(model, x, y, "softmax_cross_entropy", include_input=True)
    # The hidden biases feed BatchNorm, so their true gradient is 0: the noise floor lets them pass.
    assert res.passed, str(res)
    assert [r.name for r in res] == [*model.params, "x"]
    for k, v in model.params.items():
        assert np.array_equal(v, before[k])
    assert np.array_equal(bn.running_mean, running)
    assert model.layers[3].rng.bit_generator.state == drop_rng_state


def test_check_model_sampling_and_losses(rng):
    from nnkit.model import MLP

    model = MLP([5, 7, 2], activation="tanh", rng=np.random.default_rng(4))
    x = rng.standard_normal((6, 5))
    y = rng.standard_normal((6, 2))
    res = check_model(model, x, y, "half_mse", k=4, rng=rng)
    assert res.passed
    assert [r.n_checked for r in res] == [4, 4, 4, 2]
    from nnkit.losses import LOSSES

    assert check_model(model, x, y, LOSSES["mse"]).passed
    with pytest.raises(ValueError, match="loss name"):
        check_model(model, x, y, "no_such_loss")


def test_check_model_skips_relu_kinks(rng):
    from nnkit.model import MLP

    model = MLP([3, 4, 2], rng=np.random.default_rng(5))
    x = rng.standard_normal((5, 3))
    y = rng.integers(0, 2, size=5)
    W1, b1 = model.params["W1"], model.params["b1"]
    b1[1] = -(x[2] @ W1[:, 1])  # hidden pre-activation z[2, 1] sits on the ReLU kink
    res = check_model(model, x, y, "softmax_cross_entropy")
    assert res.passed, str(res)
    assert res["b1"].n_skipped_near_kink == 1
    assert res["W1"].n_skipped_near_kink == 3  # W1[:, 1] all move z[2, 1]
    assert res["W2"].n_skipped_near_kink == 0 and res["b2"].n_skipped_near_kink == 0
    assert not check_model(model, x, y, "softmax_cross_entropy", kinks=None).passed


def test_check_model_catches_a_broken_layer(rng):
    from nnkit.layers import Activation, Dense
    from nnkit.model import Sequential

    class SigmoidSlip(Activation):
        """sigmoid' written as sigmoid: the slip the graders must catch."""

        def backward(self, dout, cache, need_dx=True):
            return dout * sigmoid(cache[0]), {}

    g = np.random.default_rng(6)
    model = Sequential([Dense(3, 4, g), SigmoidSlip("sigmoid"), Dense(4, 2, g)])
    x = rng.standard_normal((5, 3))
    res = check_model(model, x, rng.integers(0, 2, size=5), "softmax_cross_entropy")
    assert [r.name for r in res.failed] == ["W1", "b1"]
    assert res.score(10) == pytest.approx(5.0)
    assert "dW1: relative error" in res.diagnosis()


def test_threshold_boundary(rng):
    x = rng.standard_normal(6) + 3.0  # keep |x| away from 0
    f = lambda p: float(np.sum(p["x"] ** 2))  # noqa: E731
    analytic = {"x": 2 * x * (1 + 4e-6)}  # relative error 4e-6 * 2x / (2x * (2 + 4e-6)) ~= 2e-6
    res = check_gradients(f, {"x": x}, analytic)
    assert res["x"].max_rel_error == pytest.approx(2e-6, rel=1e-3)
    assert not res.passed
    assert check_gradients(f, {"x": x}, analytic, threshold=3e-6).passed


def test_numerical_gradient_restores_x_when_f_raises():
    x = np.array([1.0, 2.0, 3.0])
    calls = []

    def f(z):
        calls.append(z.copy())
        if len(calls) == 3:
            raise RuntimeError("boom")
        return float(np.sum(z**2))

    with pytest.raises(RuntimeError):
        numerical_gradient(f, x)
    assert np.array_equal(x, [1.0, 2.0, 3.0]) and not np.array_equal(calls[-1], x)  # it raised mid-probe
