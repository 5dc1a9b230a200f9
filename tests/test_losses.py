"""Tests for nnkit.losses: hand-worked values, gradient checks, the matched-pair rule (slip 8),
Hellinger's square root (slip 7), bad input, hypothesis properties and PyTorch oracles."""
import dataclasses
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from nnkit import activations as A
from nnkit import losses as L
from nnkit._validate import ShapeError
from nnkit.gradcheck import numerical_gradient, rel_error

from strict_floats import strict


def distributions(rng, n, k, floor=0.0):
    """n random probability rows of length k (Dirichlet), entries >= floor before renormalising."""
    p = rng.dirichlet(np.ones(k), size=n) + floor
    return p / p.sum(axis=1, keepdims=True)


def make_inputs(name, rng, n=5, k=4):
    """Valid (y_pred, y_true) for every registry loss, away from kinks and ties (float64)."""
    if name in ("mse", "half_mse"):
        return rng.normal(size=(n, k)), rng.normal(size=(n, k))
    if name == "mae":
        p = rng.normal(size=(n, k))
        y = p + rng.choice([-1, 1], size=(n, k)) * rng.uniform(0.1, 1, size=(n, k))  # no ties
        return p, y
    if name == "binary_cross_entropy":
        return rng.uniform(0.05, 0.95, size=(n, k)), rng.integers(0, 2, size=(n, k)).astype(float)
    if name == "binary_cross_entropy_with_logits":
        return rng.normal(0, 3, size=(n, k)), rng.uniform(0, 1, size=(n, k))
    if name == "softmax_cross_entropy":
        return rng.normal(0, 2, size=(n, k)), rng.integers(0, k, size=n)
    if name in ("kl_divergence", "hellinger"):
        return distributions(rng, n, k, floor=0.05), distributions(rng, n, k)
    raise KeyError(name)


# --------------------------------------------------------------------------- hand-worked values
def test_mse_mean_form_and_half_form_by_hand():
    p = np.array([[1.0, 2.0], [3.0, 4.0]])
    y = np.array([[0.0, 2.0], [1.0, 1.0]])
    # residuals 1, 0, 2, 3 -> squares 1, 0, 4, 9 -> sum 14 over 4 entries
    assert L.mse(p, y) == 14 / 4
    assert L.half_mse(p, y) == 14 / 8
    np.testing.assert_array_equal(L.mse_grad(p, y), 2 * np.array([[1, 0], [2, 3]]) / 4)
    np.testing.assert_array_equal(L.half_mse_grad(p, y), np.array([[1, 0], [2, 3]]) / 4)
    # the 1/2 form's gradient is exactly half the mean form's: same minimiser, same direction
    np.testing.assert_array_equal(L.half_mse_grad(p, y) * 2, L.mse_grad(p, y))


def test_mae_by_hand_and_zero_at_ties():
    p = np.array([1.0, 2.0, 3.0, 4.0])
    y = np.array([0.0, 2.0, 5.0, 4.5])
    assert L.mae(p, y) == (1 + 0 + 2 + 0.5) / 4
    np.testing.assert_array_equal(L.mae_grad(p, y), [0.25, 0.0, -0.25, -0.25])


def test_binary_cross_entropy_by_hand():
    # -(1/2)(ln 0.8 + ln(1 - 0.3))
    assert L.binary_cross_entropy([0.8, 0.3], [1.0, 0.0]) == pytest.approx(-(math.log(0.8) + math.log(0.7)) / 2, rel=1e-15)
    assert L.binary_cross_entropy([0.5], [1.0]) == pytest.approx(math.log(2), rel=1e-15)


def test_softmax_cross_entropy_by_hand():
    # slide logits [1.1, 2.2, 0.2, -1.7], true class 1: -ln 0.6724... ; uniform logits: ln K
    z = np.array([[1.1, 2.2, 0.2, -1.7]])
    assert L.softmax_cross_entropy(z, [1]) == pytest.approx(-math.log(A.softmax(z[0])[1]), rel=1e-14)
    assert L.softmax_cross_entropy(np.zeros((3, 5)), [0, 3, 4]) == pytest.approx(math.log(5), rel=1e-15)


def test_kl_and_hellinger_by_hand():
    p = np.array([0.5, 0.5])
    q = np.array([0.25, 0.75])
    # KL(q || p) = 0.25 ln(0.5) + 0.75 ln(1.5)
    assert L.kl_divergence(p, q) == pytest.approx(0.25 * math.log(0.5) + 0.75 * math.log(1.5), rel=1e-14)
    h = math.sqrt((math.sqrt(0.5) - 0.5) ** 2 + (math.sqrt(0.5) - math.sqrt(0.75)) ** 2) / math.sqrt(2)
    assert L.hellinger(p, q) == pytest.approx(h, rel=1e-14)


def test_losses_return_python_floats(rng):
    for name, loss in L.LOSSES.items():
        value = loss.fn(*make_inputs(name, rng))
        assert type(value) is float, name


# --------------------------------------------------------------------------- gradient checks
@pytest.mark.parametrize("name", sorted(L.LOSSES))
def test_grad_matches_centred_differences(name, rng):
    loss = L.get_loss(name)
    y_pred, y_true = make_inputs(name, rng)
    num = numerical_gradient(lambda p: loss.fn(p, y_true), y_pred)
    ana = loss.grad(y_pred, y_true)
    assert ana.shape == y_pred.shape
    assert rel_error(num, ana) < 1e-7
    value, grad = loss.value_and_grad(y_pred, y_true)
    assert value == loss.fn(y_pred, y_true)
    np.testing.assert_array_equal(grad, ana)


def test_softmax_cross_entropy_grad_with_probability_targets(rng):
    z = rng.normal(size=(6, 3))
    Y = distributions(rng, 6, 3)
    num = numerical_gradient(lambda x: L.softmax_cross_entropy(x, Y), z)
    ana = L.softmax_cross_entropy_grad(z, Y)
    assert rel_error(num, ana) < 1e-7
    np.testing.assert_allclose(ana, (A.softmax(z) - Y) / 6, rtol=1e-14)


@pytest.mark.parametrize("shape", [(7,), (4, 3)])
def test_elementwise_losses_gradcheck_1d_and_2d(shape, rng):
    p = rng.uniform(0.1, 0.9, size=shape)
    y = rng.uniform(0, 1, size=shape)
    for fn, grad in [(L.mse, L.mse_grad), (L.binary_cross_entropy, L.binary_cross_entropy_grad),
                     (L.binary_cross_entropy_with_logits, L.binary_cross_entropy_with_logits_grad)]:
        assert rel_error(numerical_gradient(lambda x: fn(x, y), p), grad(p, y)) < 1e-7


def test_kl_and_hellinger_single_distribution_and_zero_targets(rng):
    # 1-D input is one sample; zero target entries are fine (0 log 0 = 0; Hellinger smooth there)
    p = np.array([0.2, 0.3, 0.5])
    q = np.array([0.0, 0.4, 0.6])
    for fn, grad in [(L.kl_divergence, L.kl_divergence_grad), (L.hellinger, L.hellinger_grad)]:
        g = grad(p, q)
        assert g.shape == (3,)
        assert rel_error(numerical_gradient(lambda x: fn(x, q), p.copy()), g) < 1e-7
    assert L.kl_divergence_grad(p, q)[0] == 0.0


def test_hellinger_grad_conventions_where_undefined():
    # identical distributions: the minimum, where sqrt has its kink -> gradient 0
    p = np.array([[0.2, 0.8], [0.5, 0.5]])
    q = np.array([[0.2, 0.8], [0.9, 0.1]])
    g = L.hellinger_grad(p, q)
    np.testing.assert_array_equal(g[0], [0.0, 0.0])
    assert np.all(g[1] != 0)
    # p_k = 0 = q_k: the one-sided limit 1 / (2 sqrt2 ||sqrt p - sqrt q||) / N
    p = np.array([0.0, 0.5, 0.5])
    q = np.array([0.0, 0.2, 0.8])
    norm = math.sqrt((math.sqrt(0.5) - math.sqrt(0.2)) ** 2 + (math.sqrt(0.5) - math.sqrt(0.8)) ** 2)
    assert L.hellinger_grad(p, q)[0] == pytest.approx(1 / (2 * math.sqrt(2) * norm), rel=1e-14)
    # p_k = 0 < q_k: derivative is -inf; a huge finite negative number is returned, no warning
    with strict():
        g = L.hellinger_grad([0.0, 1.0], [0.5, 0.5])
    assert np.all(np.isfinite(g)) and g[0] < -1e100


# --------------------------------------------------------------------------- matched pairs (slip 8)
def test_matched_pair_softmax_cross_entropy_gives_p_minus_y(rng):
    n, k = 4, 3
    z = rng.normal(size=(n, k))
    labels = np.array([0, 2, 1, 2])
    Y = np.eye(k)[labels]
    p = A.softmax(z)
    num = numerical_gradient(lambda x: L.softmax_cross_entropy(x, labels), z)
    assert rel_error(num, (p - Y) / n) < 1e-7
    # the same result by the chain rule: dL/dp = -Y / (N p), pushed back through the softmax Jacobian
    dL_dp = -Y / (n * p)
    assert rel_error(A.softmax_backward(dL_dp, p), (p - Y) / n) < 1e-12


def test_matched_pair_sigmoid_bce_gives_a_minus_y(rng):
    z = rng.normal(0, 2, size=8)
    y = rng.integers(0, 2, size=8).astype(float)
    a = A.sigmoid(z)
    num = numerical_gradient(lambda x: L.binary_cross_entropy(A.sigmoid(x), y), z)
    assert rel_error(num, (a - y) / 8) < 1e-7
    np.testing.assert_allclose(L.binary_cross_entropy_with_logits_grad(z, y), (a - y) / 8, rtol=1e-14)


def test_mse_with_sigmoid_needs_the_sigma_prime_factor(rng):
    # slip 8: for MSE on a sigmoid output the output error is (a - y) * sigma'(z), not a - y
    z = rng.normal(0, 2, size=8)
    y = rng.integers(0, 2, size=8).astype(float)
    a = A.sigmoid(z)
    num = numerical_gradient(lambda x: L.half_mse(A.sigmoid(x), y), z)
    right = (a - y) * A.sigmoid_grad(z) / 8
    wrong = (a - y) / 8
    assert rel_error(num, right) < 1e-7
    assert rel_error(num, wrong) > 0.3  # sigma' <= 1/4: the slide's rule is off by a factor of 4 or more
    # the mean form carries a 2
    num2 = numerical_gradient(lambda x: L.mse(A.sigmoid(x), y), z)
    assert rel_error(num2, 2 * right) < 1e-7


# --------------------------------------------------------------------------- Hellinger (slip 7) and KL
def test_hellinger_is_bounded_while_the_slide_form_is_not(rng):
    p = distributions(rng, 200, 5)
    q = distributions(rng, 200, 5)
    per_sample = [L.hellinger(p[i], q[i]) for i in range(200)]
    assert min(per_sample) >= 0 and max(per_sample) <= 1
    # disjoint supports: the distance is exactly 1 ...
    a, b = np.array([1.0, 0.0]), np.array([0.0, 1.0])
    assert L.hellinger(a, b) == pytest.approx(1.0, rel=1e-15)
    # ... while the slide's (1/sqrt2) * sum (sqrt p - sqrt q)^2, with no square root, gives sqrt2 > 1
    slide = np.sum((np.sqrt(a) - np.sqrt(b)) ** 2) / math.sqrt(2)
    assert slide == pytest.approx(math.sqrt(2)) and slide > 1
    # in general the slide's form is sqrt2 * H^2
    for i in range(5):
        slide_i = np.sum((np.sqrt(p[i]) - np.sqrt(q[i])) ** 2) / math.sqrt(2)
        assert slide_i == pytest.approx(math.sqrt(2) * L.hellinger(p[i], q[i]) ** 2, rel=1e-12)
    assert L.hellinger(p[0], p[0]) == 0.0
    assert L.hellinger(p, q) == pytest.approx(L.hellinger(q, p), rel=1e-15)  # symmetric
    assert L.hellinger(p, q) == pytest.approx(np.mean(per_sample), rel=1e-13)  # batch mean


def test_kl_properties(rng):
    p = distributions(rng, 10, 4, floor=0.01)
    q = distributions(rng, 10, 4)
    assert L.kl_divergence(p, p) == pytest.approx(0.0, abs=1e-15)
    assert L.kl_divergence(p, q) > 0
    assert L.kl_divergence(p, q) != pytest.approx(L.kl_divergence(q, p))  # not symmetric: direction matters
    # KL(y || softmax(z)) = cross-entropy - entropy(y)
    z = rng.normal(size=(10, 4))
    entropy = -np.sum(q * np.log(q)) / 10
    assert L.kl_divergence(A.softmax(z), q) == pytest.approx(L.softmax_cross_entropy(z, q) - entropy, rel=1e-12)


def test_kl_zero_log_zero_and_infinite_case():
    with strict():
        assert L.kl_divergence([0.0, 1.0], [0.0, 1.0]) == 0.0
        assert L.kl_divergence([0.5, 0.5], [0.0, 1.0]) == pytest.approx(math.log(2))
    with pytest.raises(ValueError, match=r"y_pred must be > 0 wherever y_true > 0.*index \(0, 0\)"):
        L.kl_divergence([[0.0, 1.0]], [[0.5, 0.5]])


# --------------------------------------------------------------------------- stability
def test_binary_cross_entropy_clamps_like_pytorch():
    with strict():
        assert L.binary_cross_entropy([0.0], [1.0]) == 100.0
        assert L.binary_cross_entropy([1.0, 0.0], [1.0, 0.0]) == 0.0
        g = L.binary_cross_entropy_grad([0.0, 1.0], [1.0, 0.0])
    np.testing.assert_array_equal(g, [-1 / L.BCE_GRAD_EPS / 2, 1 / L.BCE_GRAD_EPS / 2])
    assert L.BCE_GRAD_EPS == pytest.approx(1e-12, rel=1e-8)


def test_bce_with_logits_is_exact_at_plus_minus_1000():
    with strict():
        assert L.binary_cross_entropy_with_logits([-1000.0], [1.0]) == 1000.0
        assert L.binary_cross_entropy_with_logits([1000.0], [0.0]) == 1000.0
        assert L.binary_cross_entropy_with_logits([1000.0, -1000.0], [1.0, 0.0]) == 0.0
        np.testing.assert_array_equal(L.binary_cross_entropy_with_logits_grad([-1000.0, 1000.0], [1.0, 1.0]), [-0.5, 0.0])


def test_bce_with_logits_agrees_with_probability_form(rng):
    z = rng.normal(0, 3, size=20)
    y = rng.uniform(0, 1, size=20)
    assert L.binary_cross_entropy_with_logits(z, y) == pytest.approx(L.binary_cross_entropy(A.sigmoid(z), y), rel=1e-12)


@pytest.mark.parametrize("shape", [(5, 3), (7, 10), (4, 100)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_the_fast_row_reductions_equal_the_plain_ones(rng, shape, dtype):
    """_row_max (a column-major copy for few columns) and _row_sum (a BLAS product with ones) are
    speed only: they hold the plain NumPy reductions' values."""
    z = rng.standard_normal(shape).astype(dtype)
    np.testing.assert_array_equal(L._row_max(z), z.max(axis=1, keepdims=True))
    e = np.exp(z)
    np.testing.assert_allclose(L._row_sum(e), e.sum(axis=1), rtol=10 * np.finfo(dtype).eps * shape[1])


def test_value_and_grad_is_the_loss_and_the_gradient_bit_for_bit(rng):
    z = rng.standard_normal((6, 4))
    for y in (rng.integers(0, 4, 6), np.eye(4)[rng.integers(0, 4, 6)]):
        value, grad = L.softmax_cross_entropy_value_and_grad(z, y)
        assert value == L.softmax_cross_entropy(z, y)
        np.testing.assert_array_equal(grad, L.softmax_cross_entropy_grad(z, y))


def test_softmax_cross_entropy_extreme_logits():
    z = np.array([[1000.0, 0.0, -1000.0], [0.0, 1000.0, 1000.0]])
    with strict():
        assert L.softmax_cross_entropy(z[:1], [0]) == 0.0
        assert L.softmax_cross_entropy(z[:1], [2]) == 2000.0
        value, grad = L.softmax_cross_entropy_value_and_grad(z, [1, 0])
    # row 0: label 1 has logit 1000 below the max -> 1000; row 1: log(e^1000 + e^1000) - 0 = 1000 + ln 2
    assert value == pytest.approx((1000 + 1000 + math.log(2)) / 2, rel=1e-15)
    np.testing.assert_allclose(grad, np.array([[1, -1, 0], [-1, 0.5, 0.5]]) / 2, rtol=1e-15)


def test_softmax_cross_entropy_label_forms_agree(rng):
    z = rng.normal(size=(5, 4))
    labels = np.array([3, 0, 0, 2, 1])
    onehot = np.eye(4)[labels]
    v1, g1 = L.softmax_cross_entropy_value_and_grad(z, labels)
    assert v1 == pytest.approx(L.softmax_cross_entropy(z, onehot), rel=1e-14)
    np.testing.assert_allclose(g1, L.softmax_cross_entropy_grad(z, onehot), rtol=1e-14)
    assert v1 == pytest.approx(L.softmax_cross_entropy(z, labels.astype(float)), rel=0)  # integral floats OK
    assert v1 == pytest.approx(L.softmax_cross_entropy(z, list(labels)), rel=0)
    np.testing.assert_allclose(g1.sum(axis=1), 0.0, atol=1e-16)


# --------------------------------------------------------------------------- bad input
def test_shape_mismatch_is_not_broadcast():
    with pytest.raises(ShapeError, match=r"y_true must have the same shape as y_pred \(4, 1\); got \(4,\).*reshape"):
        L.mse(np.zeros((4, 1)), np.zeros(4))
    with pytest.raises(ShapeError, match=r"y_true must have the same shape as logits \(3,\); got \(2,\)"):
        L.binary_cross_entropy_with_logits(np.zeros(3), np.zeros(2))


def test_label_count_mismatch():
    with pytest.raises(ValueError, match="same number of samples; got 3 and 2"):
        L.softmax_cross_entropy(np.zeros((3, 4)), [0, 1])
    with pytest.raises(ShapeError, match=r"shape of logits \(3, 4\); got \(3, 3\)"):
        L.softmax_cross_entropy(np.zeros((3, 4)), np.eye(3))


@pytest.mark.parametrize("labels,bad", [([0, 4, 1], "4 at index 1"), ([0, 1, -1], "-1 at index 2")])
def test_labels_out_of_range(labels, bad):
    with pytest.raises(ValueError, match=rf"4 classes, so each must be in 0\.\.3; found {bad}"):
        L.softmax_cross_entropy(np.zeros((3, 4)), labels)


def test_bad_label_types():
    with pytest.raises(ValueError, match="must hold integers; found 0.5 at index 1"):
        L.softmax_cross_entropy(np.zeros((2, 3)), [1.0, 0.5])
    with pytest.raises(TypeError, match="integer class labels"):
        L.softmax_cross_entropy(np.zeros((2, 3)), np.array([True, False]))
    with pytest.raises(ShapeError, match="got a 3-D array"):
        L.softmax_cross_entropy(np.zeros((2, 3)), np.zeros((2, 3, 1)))
    with pytest.raises(ShapeError, match="logits must be 2-D"):
        L.softmax_cross_entropy(np.zeros(3), [0, 1, 2])
    with pytest.raises(ShapeError, match="y_pred must be 1-D or 2-D; got a 3-D"):
        L.hellinger(np.full((1, 1, 2), 0.5), np.full((1, 1, 2), 0.5))


def test_probability_targets_must_be_distributions():
    with pytest.raises(ValueError, match="row 1 sums to 0.5"):
        L.softmax_cross_entropy(np.zeros((2, 2)), [[0.5, 0.5], [0.25, 0.25]])
    with pytest.raises(ValueError, match=r"y_true must hold probabilities in \[0, 1\]; found -0.5 at index \(0, 0\)"):
        L.softmax_cross_entropy(np.zeros((1, 2)), [[-0.5, 1.5]])


@pytest.mark.parametrize("fn", [L.binary_cross_entropy, L.binary_cross_entropy_grad, L.kl_divergence,
                                L.kl_divergence_grad, L.hellinger, L.hellinger_grad])
def test_probabilities_outside_unit_interval(fn):
    with pytest.raises(ValueError, match=r"y_pred must hold probabilities in \[0, 1\]; found 1.2 at index \(1,\)"):
        fn([0.3, 1.2], [0.5, 0.5])
    with pytest.raises(ValueError, match=r"y_true must hold probabilities in \[0, 1\]; found -0.1 at index \(1,\)"):
        fn([0.5, 0.5], [0.9, -0.1])


@pytest.mark.parametrize("name", sorted(L.LOSSES))
def test_nan_inf_and_empty_batch(name, rng):
    loss = L.LOSSES[name]
    y_pred, y_true = make_inputs(name, rng)
    first = "logits" if "logits" in name or name == "softmax_cross_entropy" else "y_pred"
    for bad in (np.nan, np.inf):
        p = y_pred.copy()
        p[1, 2] = bad
        for f in (loss.fn, loss.grad):
            with pytest.raises(ValueError, match=rf"{first} must be finite; found {bad} at index \(1, 2\)"):
                f(p, y_true)
    if name != "softmax_cross_entropy":
        t = y_true.astype(float)
        t[0, 0] = np.nan
        with pytest.raises(ValueError, match=r"y_true must be finite"):
            loss.fn(y_pred, t)
    with pytest.raises(ValueError, match=rf"{first} is empty"):
        loss.fn(y_pred[:0], y_true[:0])


def test_no_argument_is_mutated(rng):
    for name, loss in L.LOSSES.items():
        y_pred, y_true = make_inputs(name, rng)
        p0, t0 = y_pred.copy(), y_true.copy()
        loss.fn(y_pred, y_true)
        loss.grad(y_pred, y_true)
        loss.value_and_grad(y_pred, y_true)
        np.testing.assert_array_equal(y_pred, p0)
        np.testing.assert_array_equal(y_true, t0)


# --------------------------------------------------------------------------- registry
def test_registry():
    assert set(L.LOSSES) == {
        "mse", "half_mse", "mae", "binary_cross_entropy", "binary_cross_entropy_with_logits",
        "softmax_cross_entropy", "kl_divergence", "hellinger",
    }
    for name, loss in L.LOSSES.items():
        assert loss.name == name and loss.formula and callable(loss.fn) and callable(loss.grad)
        assert getattr(L, name) is loss.fn and getattr(L, name + "_grad") is loss.grad
    assert L.get_loss("mae") is L.LOSSES["mae"]
    assert L.get_loss(L.LOSSES["mae"]) is L.LOSSES["mae"]
    with pytest.raises(ValueError, match="got 'cross_entropy'") as info:
        L.get_loss("cross_entropy")
    assert "'softmax_cross_entropy'" in str(info.value)
    with pytest.raises(dataclasses.FrozenInstanceError):
        L.LOSSES["mse"].name = "x"


def test_module_docstring_states_the_conventions():
    doc = L.__doc__
    for phrase in ("loss(y_pred, y_true)", "Batch mean", "all entries", "average over the N samples",
                   "the 1/2 form", "KL(y_true || y_pred)"):
        assert phrase in doc, phrase


# --------------------------------------------------------------------------- dtypes and hypothesis properties
@pytest.mark.parametrize("name", sorted(L.LOSSES))
def test_float32_predictions_give_float32_gradients(name, rng):
    y_pred, y_true = make_inputs(name, rng)
    p32 = y_pred.astype(np.float32)
    if name in ("kl_divergence", "hellinger"):
        p32 = p32 / p32.sum(axis=1, keepdims=True)
    grad = L.LOSSES[name].grad(p32, y_true)  # y_true stays float64 / int: converted to float32 inside
    assert grad.dtype == np.float32 and grad.shape == p32.shape
    assert type(L.LOSSES[name].fn(p32, y_true)) is float
    ref = L.LOSSES[name].grad(p32.astype(np.float64), y_true)
    assert rel_error(grad, ref) < 1e-4


@st.composite
def regression_pairs(draw):
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=2, min_side=1, max_side=6))
    width = 32 if dtype == np.float32 else 64
    el = st.floats(-100, 100, allow_nan=False, width=width)
    return draw(hnp.arrays(dtype, shape, elements=el)), draw(hnp.arrays(dtype, shape, elements=el))


@settings(max_examples=50, deadline=None)
@given(pair=regression_pairs())
def test_property_regression_losses(pair):
    p, y = pair
    for fn, grad in [(L.mse, L.mse_grad), (L.half_mse, L.half_mse_grad), (L.mae, L.mae_grad),
                     (L.binary_cross_entropy_with_logits, None)]:
        if grad is None:
            y01 = (y > 0).astype(p.dtype)
            with strict():
                v = fn(p, y01)
                g = L.binary_cross_entropy_with_logits_grad(p, y01)
        else:
            with strict():
                v, g = fn(p, y), grad(p, y)
        assert type(v) is float and v >= 0
        assert g.shape == p.shape and g.dtype == p.dtype


@st.composite
def logits_and_labels(draw):
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    n = draw(st.integers(1, 8))
    k = draw(st.integers(1, 6))
    width = 32 if dtype == np.float32 else 64
    z = draw(hnp.arrays(dtype, (n, k), elements=st.floats(-1000, 1000, allow_nan=False, width=width)))
    labels = draw(hnp.arrays(np.int64, (n,), elements=st.integers(0, k - 1)))
    return z, labels


@settings(max_examples=50, deadline=None)
@given(data=logits_and_labels())
def test_property_softmax_cross_entropy(data):
    z, labels = data
    with strict():
        v, g = L.softmax_cross_entropy_value_and_grad(z, labels)
    assert type(v) is float and v >= 0 and math.isfinite(v)
    assert g.shape == z.shape and g.dtype == z.dtype
    tol = 1e-6 if z.dtype == np.float32 else 1e-15
    np.testing.assert_allclose(g.sum(axis=1), 0.0, atol=tol)  # softmax - onehot sums to 0 per row
    n = len(labels)
    assert np.all(g[np.arange(n), labels] <= 0)  # the true class is pushed up


# --------------------------------------------------------------------------- PyTorch oracle (float64)
def _torch_loss_and_grad(torch, fn, y_pred, *args, **kw):
    pt = torch.tensor(y_pred, requires_grad=True)
    out = fn(pt, *args, **kw)
    out.backward()
    return out.item(), pt.grad.numpy()


def _check(ours_v, ours_g, ref):
    ref_v, ref_g = ref
    assert rel_error(ours_v, ref_v) <= 1e-10
    assert rel_error(ours_g, ref_g) <= 1e-10


@pytest.mark.oracle
@pytest.mark.parametrize("shape", [(12,), (6, 4)])
def test_oracle_regression(shape, torch, rng):
    F = torch.nn.functional
    p, y = rng.normal(size=shape), rng.normal(size=shape)
    yt = torch.tensor(y)
    _check(L.mse(p, y), L.mse_grad(p, y), _torch_loss_and_grad(torch, F.mse_loss, p, yt))
    _check(L.half_mse(p, y), L.half_mse_grad(p, y),
           _torch_loss_and_grad(torch, lambda a, b: 0.5 * F.mse_loss(a, b), p, yt))
    _check(L.mae(p, y), L.mae_grad(p, y), _torch_loss_and_grad(torch, F.l1_loss, p, yt))


@pytest.mark.oracle
def test_oracle_mae_tie_convention(torch):
    p = np.array([1.0, 2.0, 3.0])
    y = np.array([1.0, 0.0, 5.0])  # a tie at index 0: both give 0 there
    _check(L.mae(p, y), L.mae_grad(p, y), _torch_loss_and_grad(torch, torch.nn.functional.l1_loss, p, torch.tensor(y)))


@pytest.mark.oracle
@pytest.mark.parametrize("shape", [(12,), (6, 4)])
def test_oracle_binary_cross_entropy(shape, torch, rng):
    F = torch.nn.functional
    p = rng.uniform(0.001, 0.999, size=shape)
    y = rng.uniform(0, 1, size=shape)
    _check(L.binary_cross_entropy(p, y), L.binary_cross_entropy_grad(p, y),
           _torch_loss_and_grad(torch, F.binary_cross_entropy, p, torch.tensor(y)))
    z = rng.normal(0, 5, size=shape)
    z.flat[:2] = [-40.0, 40.0]
    _check(L.binary_cross_entropy_with_logits(z, y), L.binary_cross_entropy_with_logits_grad(z, y),
           _torch_loss_and_grad(torch, F.binary_cross_entropy_with_logits, z, torch.tensor(y)))


@pytest.mark.oracle
def test_oracle_binary_cross_entropy_at_zero_and_one(torch):
    # the clamp conventions (log >= -100, denominator >= 1e-12) are PyTorch's
    p = np.array([0.0, 1.0, 0.0, 1.0, 0.5])
    y = np.array([1.0, 0.0, 0.0, 1.0, 1.0])
    _check(L.binary_cross_entropy(p, y), L.binary_cross_entropy_grad(p, y),
           _torch_loss_and_grad(torch, torch.nn.functional.binary_cross_entropy, p, torch.tensor(y)))


@pytest.mark.oracle
def test_oracle_cross_entropy_int_labels_and_probabilities(torch, rng):
    F = torch.nn.functional
    z = rng.normal(0, 3, size=(9, 5))
    labels = rng.integers(0, 5, size=9)
    v, g = L.softmax_cross_entropy_value_and_grad(z, labels)
    _check(v, g, _torch_loss_and_grad(torch, F.cross_entropy, z, torch.tensor(labels)))
    Y = distributions(rng, 9, 5)
    _check(L.softmax_cross_entropy(z, Y), L.softmax_cross_entropy_grad(z, Y),
           _torch_loss_and_grad(torch, F.cross_entropy, z, torch.tensor(Y)))


@pytest.mark.oracle
def test_oracle_kl_divergence(torch, rng):
    # torch's kl_div(input, target) takes input = LOG of the prediction and computes
    # sum target * (log target - input); 'batchmean' divides by N. So our kl_divergence(p, q)
    # = F.kl_div(log p, q, reduction='batchmean'), and the gradient wrt p goes through the log.
    F = torch.nn.functional
    p = distributions(rng, 7, 4, floor=0.01)
    q = distributions(rng, 7, 4)
    q[0] = [0.0, 0.5, 0.5, 0.0]  # zero targets: 0 log 0 = 0 on both sides
    ref = _torch_loss_and_grad(torch, lambda a, b: F.kl_div(torch.log(a), b, reduction="batchmean"), p, torch.tensor(q))
    _check(L.kl_divergence(p, q), L.kl_divergence_grad(p, q), ref)


@pytest.mark.oracle
def test_oracle_hellinger_via_autograd(torch, rng):
    # torch has no Hellinger loss; compare with autograd through the textbook formula
    p = distributions(rng, 6, 5, floor=0.01)
    q = distributions(rng, 6, 5)

    def hellinger_t(a, b):
        return (torch.sqrt(((torch.sqrt(a) - torch.sqrt(b)) ** 2).sum(dim=1)) / math.sqrt(2)).mean()

    _check(L.hellinger(p, q), L.hellinger_grad(p, q), _torch_loss_and_grad(torch, hellinger_t, p, torch.tensor(q)))


def test_binary_cross_entropy_notices_swapped_arguments():
    p, y = np.array([0.9, 0.2, 0.7]), np.array([1.0, 0.0, 1.0])
    assert np.isfinite(L.binary_cross_entropy(p, y))
    for fn in (L.binary_cross_entropy, L.binary_cross_entropy_grad):
        with pytest.raises(ValueError, match=r"takes \(y_pred, y_true\).*swapped"):
            fn(y, p)
    # hard predictions against hard targets are not a swap
    assert L.binary_cross_entropy(np.array([1.0, 0.0]), np.array([1.0, 0.0])) == 0.0
