"""Tests for nnkit.initializers: fan computation, exact variances (slip 15), dtypes, rng, symmetry."""
from functools import partial
from math import sqrt

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from nnkit import initializers as init
from nnkit.initializers import (
    INITIALIZERS,
    constant,
    fan_in_fan_out,
    get_initializer,
    he_normal,
    normal,
    uniform,
    zeros,
)

# Large draws: 300 x 500 = 150,000 entries. The sample variance of n normal draws has relative
# standard error sqrt(2/n) ~ 0.0037 (uniform: sqrt(0.8/n) ~ 0.0023), so a 2.5% tolerance is
# about 7 standard errors: it fails for a wrong formula, never by chance with a fixed seed.
SHAPE = (300, 500)
FAN_IN, FAN_OUT = SHAPE
REL_TOL = 0.025


# --------------------------------------------------------------------------- fan helper
def test_fan_in_fan_out_dense_convention():
    # nnkit Dense W has shape (D_in, D_out): fan_in = D_in = number of inputs of one unit.
    assert fan_in_fan_out((4, 5)) == (4, 5)
    assert fan_in_fan_out([784, 10]) == (784, 10)


def test_fan_in_fan_out_vector_and_kernel():
    assert fan_in_fan_out((7,)) == (7, 7)
    assert fan_in_fan_out(7) == (7, 7)
    # (D_in, D_out, kh, kw): both fans scale with the receptive field 3*3 = 9
    assert fan_in_fan_out((2, 4, 3, 3)) == (18, 36)


@pytest.mark.parametrize("bad", [(), (0, 3), (3, -1), (2.5, 3), "ab", None, (True, 2)])
def test_fan_in_fan_out_rejects_bad_shapes(bad):
    with pytest.raises((ValueError, TypeError), match="shape"):
        fan_in_fan_out(bad)


# --------------------------------------------------------------------------- exact variances
EXPECTED_VAR = {
    "xavier_uniform": 2.0 / (FAN_IN + FAN_OUT),
    "xavier_normal": 2.0 / (FAN_IN + FAN_OUT),
    "he_uniform": 2.0 / FAN_IN,  # slip 15: Var = 2/fan_in, not sqrt(2/n^2) nor 2/n^[l]
    "he_normal": 2.0 / FAN_IN,
}


@pytest.mark.parametrize("name", sorted(EXPECTED_VAR))
def test_scaled_initializers_have_the_right_variance(name, rng):
    W = INITIALIZERS[name](SHAPE, rng)
    assert W.shape == SHAPE and W.dtype == np.float64
    assert abs(W.mean()) < 5 * sqrt(EXPECTED_VAR[name] / W.size)
    assert W.var() == pytest.approx(EXPECTED_VAR[name], rel=REL_TOL)


def test_he_variance_is_not_the_slide_formulas(rng):
    W = he_normal(SHAPE, rng)
    # 000 writes std = sqrt(2/n^2) and 001 sigma^2 = 2/n^[l] (= 2/fan_out): both far off here.
    assert abs(W.var() - 2.0 / FAN_IN**2) > 0.5 * W.var()
    assert abs(W.var() - 2.0 / FAN_OUT) > 0.2 * W.var()


@pytest.mark.parametrize(
    "name, radius",
    [("xavier_uniform", sqrt(6.0 / (FAN_IN + FAN_OUT))), ("he_uniform", sqrt(6.0 / FAN_IN))],
)
def test_uniform_forms_fill_minus_r_to_r(name, radius, rng):
    W = INITIALIZERS[name](SHAPE, rng)
    assert W.min() >= -radius and W.max() <= radius
    assert W.max() > 0.999 * radius and W.min() < -0.999 * radius
    # Kolmogorov-Smirnov against U(-r, r): a wrong radius gives p ~ 0.
    assert stats.kstest(W.ravel(), stats.uniform(loc=-radius, scale=2 * radius).cdf).pvalue > 1e-3


@pytest.mark.parametrize(
    "name, std", [("xavier_normal", sqrt(2.0 / (FAN_IN + FAN_OUT))), ("he_normal", sqrt(2.0 / FAN_IN))]
)
def test_normal_forms_are_gaussian_with_that_std(name, std, rng):
    W = INITIALIZERS[name](SHAPE, rng)
    assert stats.kstest(W.ravel() / std, "norm").pvalue > 1e-3
    # untruncated: some draws beyond 2 std (Keras' truncated normal would have none)
    assert (np.abs(W) > 2 * std).mean() == pytest.approx(0.0455, abs=0.005)


def test_xavier_uniform_radius_equals_sqrt_3_over_fan_avg():
    # 001 writes r = sqrt(3/fan_avg); it is the same number as sqrt(6/(fan_in+fan_out)).
    fan_avg = (FAN_IN + FAN_OUT) / 2
    assert sqrt(3 / fan_avg) == pytest.approx(sqrt(6.0 / (FAN_IN + FAN_OUT)), rel=1e-15)


def test_uniform_and_normal_parameters(rng):
    U = uniform(SHAPE, rng, low=2.0, high=4.0)
    assert U.min() >= 2.0 and U.max() < 4.0
    assert U.mean() == pytest.approx(3.0, abs=0.01)
    assert U.var() == pytest.approx(4.0 / 12, rel=REL_TOL)
    N = normal(SHAPE, rng, std=0.3, mean=1.0)
    assert N.mean() == pytest.approx(1.0, abs=0.005)
    assert N.std() == pytest.approx(0.3, rel=REL_TOL)
    assert normal((2, 3), rng).std() < 0.1  # default std 0.01: small


def test_zeros_and_constant():
    assert np.array_equal(zeros((2, 3)), np.zeros((2, 3)))
    c = constant((2, 3), 0.5)
    assert c.dtype == np.float64 and np.all(c == 0.5)
    assert constant((2,), value=-1.0, dtype=np.float32).dtype == np.float32


# --------------------------------------------------------------------------- rng and dtype
@pytest.mark.parametrize("name", ["uniform", "normal", "xavier_uniform", "xavier_normal", "he_uniform", "he_normal"])
def test_random_initializers_are_reproducible_and_need_a_generator(name):
    fn = INITIALIZERS[name]
    a = fn((5, 7), np.random.default_rng(3))
    b = fn((5, 7), np.random.default_rng(3))
    c = fn((5, 7), np.random.default_rng(4))
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    for bad in (None, 3, np.random.RandomState(0)):
        with pytest.raises(TypeError, match="rng must be a numpy.random.Generator"):
            fn((5, 7), bad)


def test_initializers_do_not_touch_global_random_state():
    np.random.seed(123)
    before = np.random.get_state()[1].copy()
    he_normal((10, 10), np.random.default_rng(0))
    assert np.array_equal(np.random.get_state()[1], before)


@pytest.mark.parametrize("name", sorted(INITIALIZERS))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dtype_is_respected(name, dtype, rng):
    W = INITIALIZERS[name]((6, 4), rng, dtype=dtype)
    assert W.dtype == dtype and W.shape == (6, 4)


def test_bad_dtype_and_parameters(rng):
    with pytest.raises(TypeError, match="dtype"):
        he_normal((3, 3), rng, dtype=np.int64)
    with pytest.raises(ValueError, match="low < high"):
        uniform((3,), rng, low=1.0, high=1.0)
    with pytest.raises(ValueError, match="std"):
        normal((3,), rng, std=-1.0)
    with pytest.raises(ValueError, match="value"):
        constant((3,), float("nan"))


def test_registry_and_get_initializer():
    assert set(INITIALIZERS) == {
        "zeros", "uniform", "normal", "xavier_uniform", "xavier_normal", "he_uniform", "he_normal"
    }
    assert get_initializer("he_normal") is he_normal
    f = partial(constant, value=0.5)
    assert get_initializer(f) is f
    with pytest.raises(ValueError, match="he_normal"):
        get_initializer("kaiming")
    assert init.__all__  # public API declared


@settings(max_examples=40, deadline=None)
@given(
    shape=st.lists(st.integers(1, 6), min_size=1, max_size=4).map(tuple),
    name=st.sampled_from(sorted(INITIALIZERS)),
    dtype=st.sampled_from([np.float32, np.float64]),
)
def test_property_shape_dtype_finite(shape, name, dtype):
    W = INITIALIZERS[name](shape, np.random.default_rng(0), dtype=dtype)
    assert W.shape == shape and W.dtype == dtype and np.isfinite(W).all()


# --------------------------------------------------------------------------- symmetry failure
def _train_steps(model, X, y, steps, lr=0.1):
    from nnkit.model import loss_and_grads

    losses = []
    params = model.params
    for _ in range(steps):
        loss, grads = loss_and_grads(model, X, y, "softmax_cross_entropy")
        losses.append(loss)
        for k in params:
            params[k] -= lr * grads[k]
    return losses


def test_constant_init_never_breaks_symmetry(rng):
    """Constant weights: every hidden unit gets the same gradient, so they stay copies of each other."""
    from nnkit.model import MLP

    X = rng.standard_normal((32, 3))
    y = (X[:, 0] * X[:, 1] > 0).astype(int)
    model = MLP([3, 6, 6, 2], activation="tanh", rng=rng, init=partial(constant, value=0.3))
    W1_start = model.params["W1"].copy()
    losses = _train_steps(model, X, y, steps=25)
    p = model.params
    assert not np.allclose(p["W1"], W1_start)  # it does train...
    assert losses[-1] < losses[0]
    # ...but all 6 columns of W1 (one per hidden unit) are still identical, and so are all
    # rows of W2 and the hidden biases: the layer behaves like a single unit.
    assert np.allclose(p["W1"], p["W1"][:, :1], rtol=1e-12, atol=1e-14)
    assert np.allclose(p["b1"], p["b1"][0], rtol=1e-12, atol=1e-14)
    assert np.allclose(p["W2"], p["W2"][:1, :], rtol=1e-12, atol=1e-14)
    # Random (He) init breaks the symmetry from the start.
    model2 = MLP([3, 6, 6, 2], activation="tanh", rng=rng, init="he_normal")
    _train_steps(model2, X, y, steps=5)
    assert np.std(model2.params["W1"], axis=1).min() > 1e-3


def test_zeros_init_with_relu_freezes_hidden_layers(rng):
    """All-zero weights with ReLU: hidden activations are 0 and their gradients exactly 0."""
    from nnkit.model import MLP

    X = rng.standard_normal((16, 3))
    y = rng.integers(0, 2, 16)
    model = MLP([3, 5, 2], activation="relu", rng=rng, init="zeros")
    _train_steps(model, X, y, steps=10)
    p = model.params
    assert np.all(p["W1"] == 0) and np.all(p["b1"] == 0) and np.all(p["W2"] == 0)
    assert not np.all(p["b2"] == 0)  # only the output bias learns (the class frequencies)
