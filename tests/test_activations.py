"""Tests for nnkit.activations: slide examples, conventions, stability, gradient checks,
registry, bad input, hypothesis properties, and PyTorch oracles (float64, rel err <= 1e-10)."""
import dataclasses
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from nnkit import activations as A
from nnkit._validate import ShapeError
from nnkit.gradcheck import numerical_gradient, numerical_gradient_array, rel_error

from strict_floats import strict

ELEMENTWISE = sorted(A.ACTIVATIONS)
DTYPES = [np.float64, np.float32]


def away_from_kinks(z, kinks, gap=1e-3):
    """Move entries within ``gap`` of a kink by 10*gap (centred differences straddle a kink otherwise)."""
    z = z.copy()
    for k in kinks:
        near = np.abs(z - k) < gap
        z[near] = k + 10 * gap
    return z


# --------------------------------------------------------------------------- slide worked examples (slips.md)
def test_softmax_slide_example_002():
    # slip 9: the slide prints [0.51, 0.18, 0.31]; the right values are below
    np.testing.assert_array_equal(A.softmax([1.60, 0.55, 0.98]).round(3), [0.530, 0.185, 0.285])


def test_softmax_slide_example_003():
    # slip 9: the slide rounds the last entry to 0.013; it is 0.014
    np.testing.assert_array_equal(A.softmax([1.1, 2.2, 0.2, -1.7]).round(3), [0.224, 0.672, 0.091, 0.014])


def test_perceptron_example_sigmoid_minus_6():
    # 004: g(1 + 3 x1 - 2 x2) at x = (-1, 2): z = 1 - 3 - 4 = -6, sigmoid(-6) = 0.00247
    x1, x2 = -1.0, 2.0
    z = 1 + 3 * x1 - 2 * x2
    assert z == -6
    assert round(float(A.sigmoid(z)), 5) == 0.00247
    assert float(A.sigmoid(z)) == pytest.approx(1 / (1 + math.exp(6)), rel=1e-15)


# --------------------------------------------------------------------------- named conventions
def test_step_convention_fires_at_zero():
    np.testing.assert_array_equal(A.step([-1.0, -1e-300, 0.0, 1e-300, 2.0]), [0, 0, 1, 1, 1])
    np.testing.assert_array_equal(A.step_grad([-1.0, 0.0, 1.0]), [0, 0, 0])


def test_relu_grad_at_zero_is_zero_pytorch_convention():
    np.testing.assert_array_equal(A.relu_grad([-2.0, 0.0, 3.0]), [0, 0, 1])
    np.testing.assert_array_equal(A.relu([-2.0, 0.0, 3.0]), [0, 0, 3])


def test_relu_is_not_binary():
    # slip 13: ReLU passes the magnitude through; only step is binary
    z = np.array([0.5, 2.0, 7.25])
    np.testing.assert_array_equal(A.relu(z), z)


def test_leaky_relu_slope_and_grad_at_zero():
    z = np.array([-10.0, -1.0, 0.0, 2.0])
    np.testing.assert_allclose(A.leaky_relu(z), [-0.1, -0.01, 0.0, 2.0], rtol=1e-15)
    np.testing.assert_allclose(A.leaky_relu(z, slope=0.2), [-2.0, -0.2, 0.0, 2.0], rtol=1e-15)
    np.testing.assert_array_equal(A.leaky_relu_grad(z, slope=0.2), [0.2, 0.2, 0.2, 1.0])


def test_leaky_relu_keeps_gradient_where_relu_dies():
    # slip 14: for a unit whose input is negative on every sample, ReLU passes no gradient at
    # all (a "dead" unit); leaky ReLU still passes slope * dout, so the unit can recover.
    z = -np.linspace(0.1, 5, 50)
    dout = np.ones_like(z)
    assert np.all(dout * A.relu_grad(z) == 0)
    np.testing.assert_allclose(dout * A.leaky_relu_grad(z), 0.01)


def test_elu_values_and_grad_at_zero():
    z = np.array([-1000.0, -1.0, 0.0, 1.5])
    np.testing.assert_allclose(A.elu(z, alpha=2.0), [-2.0, 2 * (math.exp(-1) - 1), 0.0, 1.5], rtol=1e-15)
    np.testing.assert_allclose(A.elu_grad(z, alpha=2.0), [0.0, 2 * math.exp(-1), 2.0, 1.0], rtol=1e-15)


def test_tanh_range_is_minus_one_to_one_and_zero_centred():
    # slip 12: the range is (-1, 1), not [0, 1]
    z = np.linspace(-5, 5, 101)
    t = A.tanh(z)
    assert t.min() < -0.99 and t.max() > 0.99
    assert np.all(np.abs(t) < 1)
    assert A.tanh(0.0) == 0
    np.testing.assert_allclose(t, -A.tanh(-z), rtol=0, atol=0)
    # and it is a rescaled sigmoid: tanh(z) = 2 sigma(2z) - 1
    np.testing.assert_allclose(t, 2 * A.sigmoid(2 * z) - 1, atol=1e-15)
    assert A.ACTIVATIONS["tanh"].range == "(-1, 1)"
    assert A.ACTIVATIONS["sigmoid"].range == "(0, 1)"


def test_sigmoid_known_values():
    np.testing.assert_allclose(A.sigmoid([0.0, math.log(3)]), [0.5, 0.75], rtol=1e-15)
    assert float(A.sigmoid_grad(0.0)) == 0.25
    # sigma' = sigma (1 - sigma); for z << 0 that product is accurate, and sigma' is even.
    # (For z >> 0 the textbook product loses digits: 1 - sigma cancels. nnkit's form does not.)
    z = np.linspace(-30, 0, 31)
    s = A.sigmoid(z)
    np.testing.assert_allclose(A.sigmoid_grad(z), s * (1 - s), rtol=1e-13, atol=0)
    np.testing.assert_array_equal(A.sigmoid_grad(-z), A.sigmoid_grad(z))


def test_gelu_known_values_and_approximation_gap():
    # GELU(1) = Phi(1) = 0.8413447460685429; GELU(-1) = -(1 - Phi(1))
    np.testing.assert_allclose(A.gelu([1.0, -1.0]), [0.8413447460685429, -0.15865525393145707], rtol=1e-14)
    z = np.linspace(-6, 6, 2001)
    gap = np.max(np.abs(A.gelu(z) - A.gelu_tanh(z)))
    assert 1e-4 < gap < 5e-4
    # minimum of exact GELU is about -0.16997 at z = -0.7518
    assert A.gelu(z).min() == pytest.approx(-0.16997, abs=1e-5)


def test_softplus_is_smooth_relu():
    z = np.array([-3.0, 0.0, 3.0])
    np.testing.assert_allclose(A.softplus(z), np.log1p(np.exp(z)), rtol=1e-15)
    np.testing.assert_allclose(A.softplus_grad(z), A.sigmoid(z), rtol=0)


def test_identity_returns_a_copy():
    z = np.array([1.0, -2.0])
    out = A.identity(z)
    np.testing.assert_array_equal(out, z)
    assert out is not z and not np.shares_memory(out, z)
    np.testing.assert_array_equal(A.identity_grad(z), [1.0, 1.0])


# --------------------------------------------------------------------------- numerical stability
LIMITS = {  # name: (f(-1000), f(1000), f'(-1000), f'(1000)), exact
    "step": (0, 1, 0, 0),
    "identity": (-1000, 1000, 1, 1),
    "sigmoid": (0, 1, 0, 0),
    "tanh": (-1, 1, 0, 0),
    "relu": (0, 1000, 0, 1),
    "leaky_relu": (-10, 1000, 0.01, 1),
    "elu": (-1, 1000, 0, 1),
    "gelu": (0, 1000, 0, 1),
    "gelu_tanh": (0, 1000, 0, 1),
    "softplus": (0, 1000, 0, 1),
}


def test_limits_table_covers_the_registry():
    assert set(LIMITS) == set(A.ACTIVATIONS)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", ELEMENTWISE)
def test_exact_limits_at_plus_minus_1000_without_warnings(name, dtype):
    act = A.get_activation(name)
    z = np.array([-1000.0, 1000.0], dtype=dtype)
    with strict():
        value, grad = act.fn(z), act.grad(z)
    lo, hi, glo, ghi = LIMITS[name]
    assert value.dtype == dtype and grad.dtype == dtype
    np.testing.assert_array_equal(value, np.array([lo, hi], dtype=dtype))
    np.testing.assert_array_equal(grad, np.array([glo, ghi], dtype=dtype))


def test_sigmoid_and_softplus_exact_tails():
    with strict():
        assert A.sigmoid(-1000.0) == 0.0
        assert A.sigmoid(1000.0) == 1.0
        assert A.softplus(1000.0) == 1000.0
        assert A.softplus(-1000.0) == 0.0
        # far tails keep relative precision instead of rounding to 0 too early
        assert float(A.sigmoid(-700.0)) == pytest.approx(math.exp(-700), rel=1e-13)
        assert float(A.softplus(-30.0)) == pytest.approx(math.exp(-30), rel=1e-13)
        assert float(A.sigmoid_grad(-40.0)) == pytest.approx(math.exp(-40), rel=1e-13)


@pytest.mark.parametrize("dtype", DTYPES)
def test_softmax_and_log_softmax_extreme_without_warnings(dtype):
    z = np.array([[0.0, 1000.0, -1000.0], [1000.0, 1000.0, -1000.0]], dtype=dtype)
    with strict():
        s = A.softmax(z)
        ls = A.log_softmax(z)
        J = A.softmax_jacobian(z)
    assert s.dtype == dtype and ls.dtype == dtype and J.dtype == dtype
    np.testing.assert_array_equal(s, np.array([[0, 1, 0], [0.5, 0.5, 0]], dtype=dtype))
    np.testing.assert_array_equal(ls[0], np.array([-1000, 0, -2000], dtype=dtype))
    np.testing.assert_allclose(ls[1], [-math.log(2), -math.log(2), -2000 - math.log(2)], rtol=1e-6)
    assert np.all(np.isfinite(J))


def test_log_softmax_never_takes_log_zero():
    with strict():
        np.testing.assert_array_equal(A.log_softmax([0.0, -1000.0]), [0.0, -1000.0])


def test_softmax_minus_inf_means_probability_zero():
    with strict():
        np.testing.assert_allclose(A.softmax([0.0, -np.inf, 0.0]), [0.5, 0.0, 0.5], rtol=1e-15)


def test_softmax_is_shift_invariant_and_axis_aware(rng):
    z = rng.normal(size=(4, 5))
    np.testing.assert_allclose(A.softmax(z + 123.0), A.softmax(z), rtol=1e-12)
    np.testing.assert_allclose(A.softmax(z, axis=0), A.softmax(z.T).T, rtol=1e-15)
    np.testing.assert_allclose(A.softmax(z, axis=0).sum(axis=0), 1.0, rtol=1e-15)
    np.testing.assert_allclose(A.log_softmax(z), np.log(A.softmax(z)), rtol=1e-13)
    np.testing.assert_allclose(A.log_softmax(z, axis=0), np.log(A.softmax(z, axis=0)), rtol=1e-13)


# --------------------------------------------------------------------------- gradient checks
GRAD_CASES = [(name, {}) for name in ELEMENTWISE] + [
    ("leaky_relu", {"slope": 0.2}),
    ("elu", {"alpha": 0.5}),
    ("elu", {"alpha": 2.0}),
]


@pytest.mark.parametrize("name,kw", GRAD_CASES, ids=[f"{n}{kw or ''}" for n, kw in GRAD_CASES])
def test_elementwise_grad_matches_centred_differences(name, kw, rng):
    act = A.ACTIVATIONS[name]
    fn = getattr(A, name)
    grad = getattr(A, name + "_grad")
    assert act.fn is fn and act.grad is grad
    z = away_from_kinks(rng.uniform(-4, 4, size=(6, 5)), act.kinks + (0.0,))  # 0 is a kink when alpha != 1
    dout = rng.normal(size=z.shape)
    num = numerical_gradient_array(lambda x: fn(x, **kw), z, dout)
    ana = dout * grad(z, **kw)
    assert rel_error(num, ana) < 1e-8
    # f_grad is the elementwise derivative itself (dout = 1 everywhere)
    num1 = numerical_gradient(lambda x: np.sum(fn(x, **kw)), z)
    assert rel_error(num1, grad(z, **kw)) < 1e-8


@pytest.mark.parametrize("z", [np.array([1.60, 0.55, 0.98]), np.array([1.1, 2.2, 0.2, -1.7])])
def test_softmax_jacobian_numerically_1d(z):
    z = z.astype(np.float64)
    J = A.softmax_jacobian(z)
    K = len(z)
    assert J.shape == (K, K)
    J_num = np.empty((K, K))
    for i in range(K):  # row i: gradient of output i wrt all inputs
        J_num[i] = numerical_gradient(lambda x: A.softmax(x)[i], z)
    assert rel_error(J, J_num) < 1e-8
    np.testing.assert_allclose(J.sum(axis=1), 0.0, atol=1e-15)  # rows sum to 0
    np.testing.assert_allclose(J.sum(axis=0), 0.0, atol=1e-15)  # and columns (J is symmetric)
    np.testing.assert_allclose(J, J.T, rtol=0, atol=0)
    s = A.softmax(z)
    np.testing.assert_allclose(np.diag(J), s * (1 - s), rtol=1e-14)


def test_softmax_jacobian_batched(rng):
    z = rng.normal(size=(3, 4))
    J = A.softmax_jacobian(z)
    assert J.shape == (3, 4, 4)
    for n in range(3):
        np.testing.assert_allclose(J[n], A.softmax_jacobian(z[n]), rtol=0, atol=0)
        J_num = np.stack([numerical_gradient(lambda x: A.softmax(x)[i], z[n].copy()) for i in range(4)])
        assert rel_error(J[n], J_num) < 1e-8
    np.testing.assert_allclose(J.sum(axis=-1), 0.0, atol=1e-15)


def test_softmax_backward_matches_numerical_and_jacobian(rng):
    z = rng.normal(size=(5, 4))
    dout = rng.normal(size=(5, 4))
    s = A.softmax(z)
    dz = A.softmax_backward(dout, s)
    assert dz.shape == z.shape
    num = numerical_gradient_array(A.softmax, z, dout)
    assert rel_error(dz, num) < 1e-8
    via_J = np.einsum("nij,ni->nj", A.softmax_jacobian(z), dout)  # J^T dout per sample
    np.testing.assert_allclose(dz, via_J, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(dz.sum(axis=1), 0.0, atol=1e-15)


def test_log_softmax_gradient(rng):
    # d/dz sum(dout * log_softmax(z)) = dout - softmax(z) * sum(dout)
    z = rng.normal(size=(3, 6))
    dout = rng.normal(size=(3, 6))
    num = numerical_gradient_array(A.log_softmax, z, dout)
    ana = dout - A.softmax(z) * dout.sum(axis=1, keepdims=True)
    assert rel_error(num, ana) < 1e-8


# --------------------------------------------------------------------------- registry
def test_registry_contents_and_fields():
    assert set(A.ACTIVATIONS) == {
        "step", "identity", "sigmoid", "tanh", "relu", "leaky_relu", "elu", "gelu", "gelu_tanh", "softplus",
    }
    for name, act in A.ACTIVATIONS.items():
        assert isinstance(act, A.ActivationSpec)
        assert act.name == name
        assert callable(act.fn) and callable(act.grad)
        assert act.formula and act.range and act.grad_formula
        assert isinstance(act.kinks, tuple) and all(isinstance(k, float) for k in act.kinks)
        np.testing.assert_array_equal(act(np.array([0.5])), act.fn(np.array([0.5])))
    assert A.ACTIVATIONS["relu"].kinks == (0.0,)
    assert A.ACTIVATIONS["step"].kinks == (0.0,)
    assert A.ACTIVATIONS["leaky_relu"].kinks == (0.0,)
    assert A.ACTIVATIONS["sigmoid"].kinks == ()
    assert "softmax" not in A.ACTIVATIONS  # not elementwise


def test_the_registry_record_and_the_layer_have_different_names():
    from nnkit.layers import Activation

    assert not hasattr(A, "Activation")  # "Activation" is the layer only
    layer = Activation(A.ACTIVATIONS["tanh"])  # a layer accepts a record
    assert layer.name == "tanh" and repr(layer) == "Activation('tanh')"


def test_activation_is_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        A.ACTIVATIONS["relu"].name = "other"


def test_get_activation():
    assert A.get_activation("tanh") is A.ACTIVATIONS["tanh"]
    act = A.ACTIVATIONS["relu"]
    assert A.get_activation(act) is act
    with pytest.raises(ValueError, match="got 'swish'") as info:
        A.get_activation("swish")
    for name in A.ACTIVATIONS:  # the message lists every choice
        assert repr(name) in str(info.value)


# --------------------------------------------------------------------------- input handling
def test_lists_and_ints_become_float64():
    out = A.relu([1, -2, 3])
    assert out.dtype == np.float64
    np.testing.assert_array_equal(out, [1, 0, 3])
    assert A.sigmoid(np.array([0, 1], dtype=np.int32)).dtype == np.float64


@pytest.mark.parametrize("bad", [np.array([True, False]), np.array(["a"]), np.array([1 + 2j])])
def test_non_real_input_is_refused(bad):
    with pytest.raises(TypeError, match="z must hold real numbers"):
        A.sigmoid(bad)


def test_bad_parameters_are_named():
    with pytest.raises(ValueError, match="slope must be >= 0; got -0.1"):
        A.leaky_relu([1.0], slope=-0.1)
    with pytest.raises(ValueError, match="alpha must be > 0; got 0.0"):
        A.elu([1.0], alpha=0.0)
    with pytest.raises(TypeError, match="alpha must be a real number"):
        A.elu_grad([1.0], alpha="1")


@pytest.mark.parametrize("bad", [np.nan, np.inf])
@pytest.mark.parametrize("fn", [A.softmax, A.log_softmax, A.softmax_jacobian])
def test_softmax_rejects_nan_and_plus_inf(fn, bad):
    z = np.array([[0.0, 1.0, 2.0], [1.0, bad, 0.0]])
    with pytest.raises(ValueError, match=r"z must be finite; found .* at index \(1, 1\)"):
        fn(z)


def test_softmax_shape_and_axis_errors():
    with pytest.raises(ShapeError, match="0-D"):
        A.softmax(3.0)
    with pytest.raises(ValueError, match=r"axis must be in \[-2, 1\].*got 2"):
        A.softmax(np.ones((2, 3)), axis=2)
    with pytest.raises(TypeError, match="axis must be an int"):
        A.softmax(np.ones((2, 3)), axis=1.0)
    with pytest.raises(ValueError, match="empty along axis"):
        A.softmax(np.ones((2, 0)))
    with pytest.raises(ShapeError, match=r"1-D \(K,\) or 2-D \(N, K\); got a 3-D"):
        A.softmax_jacobian(np.ones((2, 3, 4)))
    with pytest.raises(ShapeError, match=r"dout must have the same shape as s \(2, 3\); got \(3, 2\)"):
        A.softmax_backward(np.ones((3, 2)), np.full((2, 3), 1 / 3))


def test_empty_arrays_pass_through_elementwise():
    z = np.empty((0, 3))
    for act in A.ACTIVATIONS.values():
        assert act.fn(z).shape == (0, 3) and act.grad(z).shape == (0, 3)


def test_no_argument_is_mutated(rng):
    z = rng.normal(size=(4, 3))
    dout = rng.normal(size=(4, 3))
    z0, d0 = z.copy(), dout.copy()
    for act in A.ACTIVATIONS.values():
        act.fn(z)
        act.grad(z)
    A.softmax(z)
    A.log_softmax(z)
    A.softmax_jacobian(z)
    A.softmax_backward(dout, A.softmax(z))
    np.testing.assert_array_equal(z, z0)
    np.testing.assert_array_equal(dout, d0)


# --------------------------------------------------------------------------- hypothesis properties
def float_arrays(min_dims=0):
    @st.composite
    def strat(draw):
        dtype = draw(st.sampled_from(DTYPES))
        shape = draw(hnp.array_shapes(min_dims=min_dims, max_dims=3, min_side=1, max_side=5))
        width = 32 if dtype == np.float32 else 64
        elements = st.floats(-1000, 1000, allow_nan=False, width=width)
        return draw(hnp.arrays(dtype, shape, elements=elements))

    return strat()


@settings(max_examples=60, deadline=None)
@given(z=float_arrays(), name=st.sampled_from(ELEMENTWISE))
def test_property_elementwise_keeps_shape_and_dtype(z, name):
    act = A.ACTIVATIONS[name]
    with strict():
        value, grad = act.fn(z), act.grad(z)
    assert np.shape(value) == z.shape and np.shape(grad) == z.shape
    assert np.asarray(value).dtype == z.dtype and np.asarray(grad).dtype == z.dtype
    assert np.all(np.isfinite(value)) and np.all(np.isfinite(grad))


@settings(max_examples=60, deadline=None)
@given(z=float_arrays())
def test_property_bounded_outputs(z):
    with strict():
        s, t, r, sp = A.sigmoid(z), A.tanh(z), A.relu(z), A.softplus(z)
        gs = A.sigmoid_grad(z)
    assert np.all((s >= 0) & (s <= 1))
    assert np.all((t >= -1) & (t <= 1))
    assert np.all(r >= 0)
    assert np.all(sp >= r)  # softplus lies above relu
    assert np.all((gs >= 0) & (gs <= 0.25 * (1 + 4 * np.finfo(z.dtype).eps)))  # max 1/4, up to rounding


@settings(max_examples=60, deadline=None)
@given(z=float_arrays(min_dims=1))
def test_property_softmax_rows_sum_to_one(z):
    with strict():
        s = A.softmax(z)
        ls = A.log_softmax(z)
    assert s.shape == z.shape and s.dtype == z.dtype and ls.dtype == z.dtype
    assert np.all((s >= 0) & (s <= 1))
    tol = 1e-5 if z.dtype == np.float32 else 1e-12
    np.testing.assert_allclose(s.sum(axis=-1), 1.0, rtol=0, atol=tol)
    assert np.all(ls <= 0)


# --------------------------------------------------------------------------- PyTorch oracle (float64)
def _torch_fns(torch):
    F = torch.nn.functional
    return {
        "identity": lambda x: x * 1.0,
        "sigmoid": torch.sigmoid,
        "tanh": torch.tanh,
        "relu": torch.relu,
        "leaky_relu": F.leaky_relu,  # negative_slope=0.01 default, as nnkit
        "elu": F.elu,  # alpha=1.0
        "gelu": F.gelu,  # approximate='none'
        "gelu_tanh": lambda x: F.gelu(x, approximate="tanh"),
        "softplus": F.softplus,  # beta=1, threshold=20
    }


def _oracle_input(rng):
    # include exact zeros so the kink conventions (relu'(0) = 0, leaky'(0) = slope, elu'(0) = alpha)
    # are compared too, and a few large values for the tails
    z = rng.normal(0, 4, size=(8, 16))
    z[0, :4] = 0.0
    z[1, :4] = [-30.0, 30.0, -60.0, 60.0]
    return z


@pytest.mark.oracle
@pytest.mark.parametrize("name", [n for n in ELEMENTWISE if n != "step"])
def test_oracle_elementwise_values_and_derivatives(name, torch, rng):
    z = _oracle_input(rng)
    zt = torch.tensor(z, dtype=torch.float64, requires_grad=True)
    out = _torch_fns(torch)[name](zt)
    out.sum().backward()
    act = A.ACTIVATIONS[name]
    assert rel_error(act.fn(z), out.detach().numpy()) <= 1e-10
    assert rel_error(act.grad(z), zt.grad.numpy()) <= 1e-10


@pytest.mark.oracle
@pytest.mark.parametrize("name,kw,tkw", [
    ("leaky_relu", {"slope": 0.3}, {"negative_slope": 0.3}),
    ("elu", {"alpha": 0.7}, {"alpha": 0.7}),
    ("elu", {"alpha": 1.8}, {"alpha": 1.8}),
])
def test_oracle_parameterised(name, kw, tkw, torch, rng):
    z = _oracle_input(rng)
    zt = torch.tensor(z, requires_grad=True)
    out = getattr(torch.nn.functional, name)(zt, **tkw)
    out.sum().backward()
    assert rel_error(getattr(A, name)(z, **kw), out.detach().numpy()) <= 1e-10
    assert rel_error(getattr(A, name + "_grad")(z, **kw), zt.grad.numpy()) <= 1e-10


@pytest.mark.oracle
def test_oracle_step(torch, rng):
    # torch.heaviside has no derivative (autograd refuses it), so only values are compared;
    # nnkit's step_grad is 0 everywhere by definition (checked above).
    z = _oracle_input(rng)
    ref = torch.heaviside(torch.tensor(z), torch.tensor(1.0)).numpy()  # value 1 at 0: step(0) = 1
    np.testing.assert_array_equal(A.step(z), ref)


@pytest.mark.oracle
@pytest.mark.parametrize("dim", [-1, 0])
def test_oracle_softmax_and_log_softmax(dim, torch, rng):
    F = torch.nn.functional
    z = rng.normal(0, 5, size=(6, 7))
    dout = rng.normal(size=(6, 7))
    for ours, theirs in ((A.softmax, F.softmax), (A.log_softmax, F.log_softmax)):
        zt = torch.tensor(z, requires_grad=True)
        out = theirs(zt, dim=dim)
        out.backward(torch.tensor(dout))
        assert rel_error(ours(z, axis=dim), out.detach().numpy()) <= 1e-10
        if ours is A.softmax:
            s = A.softmax(z, axis=dim)
            dz = A.softmax_backward(dout.T, s.T).T if dim == 0 else A.softmax_backward(dout, s)
        else:
            dz = dout - A.softmax(z, axis=dim) * dout.sum(axis=dim, keepdims=True)
        assert rel_error(dz, zt.grad.numpy()) <= 1e-10


@pytest.mark.oracle
def test_oracle_softmax_jacobian(torch, rng):
    z = rng.normal(size=5)
    J_t = torch.autograd.functional.jacobian(lambda x: torch.softmax(x, dim=0), torch.tensor(z)).numpy()
    assert rel_error(A.softmax_jacobian(z), J_t) <= 1e-10
    zb = rng.normal(size=(3, 5))
    for n in range(3):
        J_t = torch.autograd.functional.jacobian(lambda x: torch.softmax(x, dim=0), torch.tensor(zb[n])).numpy()
        assert rel_error(A.softmax_jacobian(zb)[n], J_t) <= 1e-10
