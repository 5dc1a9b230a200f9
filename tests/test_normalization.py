"""Tests for nnkit.normalization: BatchNorm (training and inference) and LayerNorm.

Gradient checks cover x, gamma and beta in both modes; running statistics follow PyTorch's
momentum convention and its unbiased running variance; oracle tests against
torch.nn.BatchNorm1d / torch.nn.LayerNorm in float64 (relative error <= 1e-10).
"""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nnkit._validate import ShapeError
from nnkit.gradcheck import numerical_gradient_array, rel_error
from nnkit.normalization import (
    BatchNorm,
    LayerNorm,
    batchnorm_backward,
    batchnorm_forward,
    layernorm_backward,
    layernorm_forward,
)

TOL = 1e-7
ORACLE_TOL = 1e-10


def _bn_inputs(rng, n=6, d=4):
    x = rng.standard_normal((n, d)) * 3 + 2
    gamma = rng.uniform(0.5, 1.5, d)
    beta = rng.standard_normal(d)
    rm = rng.standard_normal(d)
    rv = rng.uniform(0.5, 2.0, d)
    return x, gamma, beta, rm, rv


# =========================================================================== BatchNorm
def test_batchnorm_hand_worked_training_step():
    # one feature, batch [1, 3]: mu_B = 2, biased var_B = 1, unbiased = 2
    x = np.array([[1.0], [3.0]])
    gamma, beta = np.array([2.0]), np.array([0.5])
    rm, rv = np.array([0.0]), np.array([1.0])
    out, _, new_rm, new_rv = batchnorm_forward(x, gamma, beta, rm, rv, training=True, momentum=0.1, eps=0.0)
    # x_hat = (x - 2) / sqrt(1) = [-1, 1]; out = 2 * x_hat + 0.5
    assert np.allclose(out, [[-1.5], [2.5]], rtol=1e-15)
    # PyTorch convention: new = (1 - 0.1) * old + 0.1 * batch; running var uses the unbiased 2
    assert np.allclose(new_rm, [0.9 * 0.0 + 0.1 * 2.0], rtol=1e-15)
    assert np.allclose(new_rv, [0.9 * 1.0 + 0.1 * 2.0], rtol=1e-15)


def test_batchnorm_standardizes_each_feature_not_into_0_1(rng):
    x, gamma, beta, rm, rv = _bn_inputs(rng, n=50, d=3)
    out, *_ = batchnorm_forward(x, np.ones(3), np.zeros(3), rm, rv, training=True)
    assert np.allclose(out.mean(axis=0), 0.0, atol=1e-12)
    assert np.allclose(out.var(axis=0), 1.0, rtol=1e-4)  # var/(var + eps) with eps = 1e-5
    assert out.min() < -1 and out.max() > 1  # not squashed into [0, 1] (slip 16)


def test_batchnorm_inference_uses_running_statistics(rng):
    x, gamma, beta, rm, rv = _bn_inputs(rng)
    out, _, rm2, rv2 = batchnorm_forward(x, gamma, beta, rm, rv, training=False, eps=1e-5)
    assert np.allclose(out, gamma * (x - rm) / np.sqrt(rv + 1e-5) + beta, rtol=1e-14, atol=1e-14)
    assert rm2 is rm and rv2 is rv
    # a batch of one is fine at inference (and each sample is treated independently)
    one, *_ = batchnorm_forward(x[:1], gamma, beta, rm, rv, training=False)
    assert np.allclose(one, out[:1], rtol=1e-14)


@pytest.mark.parametrize("training", [True, False])
def test_batchnorm_gradcheck_x_gamma_beta(training, rng):
    x, gamma, beta, rm, rv = _bn_inputs(rng)
    dout = rng.standard_normal(x.shape)
    _, cache, _, _ = batchnorm_forward(x, gamma, beta, rm, rv, training)
    dx, dgamma, dbeta = batchnorm_backward(dout, cache)

    def f(x_=x, g_=gamma, b_=beta):
        return batchnorm_forward(x_, g_, b_, rm, rv, training)[0]

    assert rel_error(dx, numerical_gradient_array(lambda v: f(x_=v), x.copy(), dout)) < TOL
    assert rel_error(dgamma, numerical_gradient_array(lambda v: f(g_=v), gamma.copy(), dout)) < TOL
    assert rel_error(dbeta, numerical_gradient_array(lambda v: f(b_=v), beta.copy(), dout)) < TOL


def test_batchnorm_does_not_mutate_arguments(rng):
    x, gamma, beta, rm, rv = _bn_inputs(rng)
    dout = rng.standard_normal(x.shape)
    saved = [a.copy() for a in (x, gamma, beta, rm, rv, dout)]
    for training in (True, False):
        out, cache, new_rm, new_rv = batchnorm_forward(x, gamma, beta, rm, rv, training)
        out += 1.0  # the caller owns the outputs
        batchnorm_backward(dout, cache)
        if training:  # updated running averages are new arrays, not the inputs changed in place
            assert new_rm is not rm and new_rv is not rv
            assert not np.array_equal(new_rm, rm)
    for a, c in zip((x, gamma, beta, rm, rv, dout), saved):
        assert np.array_equal(a, c)


def test_batchnorm_errors(rng):
    x, gamma, beta, rm, rv = _bn_inputs(rng)
    with pytest.raises(ValueError, match="at least 2 samples"):
        batchnorm_forward(x[:1], gamma, beta, rm, rv, training=True)
    with pytest.raises(ShapeError, match=r"gamma and beta must have shape \(4,\)"):
        batchnorm_forward(x, gamma[:3], beta, rm, rv, training=True)
    with pytest.raises(ShapeError, match="2-D"):
        batchnorm_forward(x[0], gamma, beta, rm, rv, training=True)
    with pytest.raises(ValueError, match="momentum"):
        BatchNorm(4, momentum=1.5)
    with pytest.raises(ValueError, match="eps"):
        BatchNorm(4, eps=0.0)
    with pytest.raises(ValueError, match="n_features"):
        BatchNorm(0)
    with pytest.raises(ShapeError, match=r"BatchNorm\(4.*\(N, 4\).*\(6, 3\)"):
        BatchNorm(4).forward(np.ones((6, 3)))


def test_batchnorm_layer_updates_running_stats_only_in_training(rng):
    layer = BatchNorm(3, momentum=0.2)
    assert np.array_equal(layer.running_mean, np.zeros(3)) and np.array_equal(layer.running_var, np.ones(3))
    assert set(layer.params) == {"gamma", "beta"} and layer.n_params == 6
    x = rng.standard_normal((10, 3)) + 5
    layer.forward(x, training=True)
    assert np.allclose(layer.running_mean, 0.2 * x.mean(axis=0), rtol=1e-14)
    assert np.allclose(layer.running_var, 0.8 + 0.2 * x.var(axis=0, ddof=1), rtol=1e-14)
    rm, rv = layer.running_mean.copy(), layer.running_var.copy()
    layer.forward(x, training=False)
    assert np.array_equal(layer.running_mean, rm) and np.array_equal(layer.running_var, rv)


def test_batchnorm_running_mean_converges_to_data_mean(rng):
    layer = BatchNorm(2, momentum=0.1)
    for _ in range(200):
        layer.forward(rng.standard_normal((64, 2)) * [1.0, 3.0] + [4.0, -1.0])
    assert np.allclose(layer.running_mean, [4.0, -1.0], atol=0.15)
    assert np.allclose(layer.running_var, [1.0, 9.0], rtol=0.15)


@pytest.mark.parametrize("training", [True, False])
def test_batchnorm_layer_gradcheck_through_params(training, rng):
    layer = BatchNorm(3)
    layer.params["gamma"][:] = rng.uniform(0.5, 2, 3)
    layer.params["beta"][:] = rng.standard_normal(3)
    layer.running_mean = rng.standard_normal(3)
    layer.running_var = rng.uniform(0.5, 2, 3)
    x = rng.standard_normal((5, 3))
    dout = rng.standard_normal((5, 3))
    _, cache = layer.forward(x, training)
    dx, grads = layer.backward(dout, cache)
    for name in ("gamma", "beta"):
        num = numerical_gradient_array(lambda _: layer.forward(x, training)[0], layer.params[name], dout)
        assert rel_error(grads[name], num) < TOL
    assert rel_error(dx, numerical_gradient_array(lambda v: layer.forward(v, training)[0], x.copy(), dout)) < TOL


@pytest.mark.oracle
def test_oracle_batchnorm_train_and_eval_vs_torch(torch, rng):
    D = 5
    bn_t = torch.nn.BatchNorm1d(D, momentum=0.1, eps=1e-5, dtype=torch.float64)
    layer = BatchNorm(D, momentum=0.1, eps=1e-5)
    gamma, beta = rng.uniform(0.5, 1.5, D), rng.standard_normal(D)
    layer.params["gamma"][:] = gamma
    layer.params["beta"][:] = beta
    with torch.no_grad():
        bn_t.weight.copy_(torch.tensor(gamma))
        bn_t.bias.copy_(torch.tensor(beta))
    bn_t.train()
    for step in range(4):  # several steps: the running averages must track torch's exactly
        x = rng.standard_normal((8, D)) * 2 + step
        dout = rng.standard_normal((8, D))
        out, cache = layer.forward(x, training=True)
        dx, grads = layer.backward(dout, cache)
        xt = torch.tensor(x, requires_grad=True)
        bn_t.zero_grad()
        ot = bn_t(xt)
        ot.backward(torch.tensor(dout))
        assert rel_error(out, ot.detach().numpy()) <= ORACLE_TOL
        assert rel_error(dx, xt.grad.numpy()) <= ORACLE_TOL
        assert rel_error(grads["gamma"], bn_t.weight.grad.numpy()) <= ORACLE_TOL
        assert rel_error(grads["beta"], bn_t.bias.grad.numpy()) <= ORACLE_TOL
        assert rel_error(layer.running_mean, bn_t.running_mean.numpy()) <= ORACLE_TOL
        assert rel_error(layer.running_var, bn_t.running_var.numpy()) <= ORACLE_TOL
    bn_t.eval()
    x = rng.standard_normal((3, D))
    dout = rng.standard_normal((3, D))
    out, cache = layer.forward(x, training=False)
    dx, grads = layer.backward(dout, cache)
    xt = torch.tensor(x, requires_grad=True)
    bn_t.zero_grad()
    ot = bn_t(xt)
    ot.backward(torch.tensor(dout))
    assert rel_error(out, ot.detach().numpy()) <= ORACLE_TOL
    assert rel_error(dx, xt.grad.numpy()) <= ORACLE_TOL
    assert rel_error(grads["gamma"], bn_t.weight.grad.numpy()) <= ORACLE_TOL
    assert rel_error(grads["beta"], bn_t.bias.grad.numpy()) <= ORACLE_TOL


# =========================================================================== LayerNorm
def test_layernorm_hand_worked():
    # one sample [1, 3]: mu = 2, var = 1 -> x_hat = [-1, 1]
    out, _ = layernorm_forward(np.array([[1.0, 3.0]]), np.array([2.0, 1.0]), np.array([0.0, 0.5]), eps=0.0)
    assert np.allclose(out, [[-2.0, 1.5]], rtol=1e-15)


def test_layernorm_standardizes_each_sample(rng):
    x = rng.standard_normal((4, 30)) * 5 + 3
    out, _ = layernorm_forward(x, np.ones(30), np.zeros(30))
    assert np.allclose(out.mean(axis=1), 0.0, atol=1e-12)
    assert np.allclose(out.var(axis=1), 1.0, rtol=1e-4)
    # per sample: rescaling one row does not change it, and the other rows are unaffected
    x2 = x.copy()
    x2[0] *= 10
    out2, _ = layernorm_forward(x2, np.ones(30), np.zeros(30))
    assert np.allclose(out2, out, atol=1e-5)


def test_layernorm_gradcheck_x_gamma_beta(rng):
    x = rng.standard_normal((4, 6))
    gamma, beta = rng.uniform(0.5, 1.5, 6), rng.standard_normal(6)
    dout = rng.standard_normal((4, 6))
    saved = [a.copy() for a in (x, gamma, beta, dout)]
    _, cache = layernorm_forward(x, gamma, beta)
    dx, dgamma, dbeta = layernorm_backward(dout, cache)
    for a, c in zip((x, gamma, beta, dout), saved):
        assert np.array_equal(a, c)
    assert rel_error(dx, numerical_gradient_array(lambda v: layernorm_forward(v, gamma, beta)[0], x.copy(), dout)) < TOL
    assert rel_error(dgamma, numerical_gradient_array(lambda v: layernorm_forward(x, v, beta)[0], gamma.copy(), dout)) < TOL
    assert rel_error(dbeta, numerical_gradient_array(lambda v: layernorm_forward(x, gamma, v)[0], beta.copy(), dout)) < TOL


def test_layernorm_layer(rng):
    layer = LayerNorm(4)
    assert set(layer.params) == {"gamma", "beta"} and layer.n_params == 8
    x = rng.standard_normal((1, 4))  # a batch of one works
    a, cache = layer.forward(x, training=True)
    b, _ = layer.forward(x, training=False)
    assert np.array_equal(a, b)  # no train/inference difference
    dout = rng.standard_normal((1, 4))
    dx, grads = layer.backward(dout, cache)
    for name in ("gamma", "beta"):
        num = numerical_gradient_array(lambda _: layer.forward(x)[0], layer.params[name], dout)
        assert rel_error(grads[name], num) < TOL
    assert rel_error(dx, numerical_gradient_array(lambda v: layer.forward(v)[0], x.copy(), dout)) < TOL
    with pytest.raises(ShapeError, match=r"LayerNorm\(4.*\(N, 4\)"):
        layer.forward(np.ones((2, 5)))
    with pytest.raises(ValueError, match="eps"):
        LayerNorm(4, eps=-1.0)


@pytest.mark.oracle
def test_oracle_layernorm_vs_torch(torch, rng):
    D = 6
    x = rng.standard_normal((5, D)) * 2 + 1
    dout = rng.standard_normal((5, D))
    ln_t = torch.nn.LayerNorm(D, eps=1e-5, dtype=torch.float64)
    layer = LayerNorm(D, eps=1e-5)
    gamma, beta = rng.uniform(0.5, 1.5, D), rng.standard_normal(D)
    layer.params["gamma"][:] = gamma
    layer.params["beta"][:] = beta
    with torch.no_grad():
        ln_t.weight.copy_(torch.tensor(gamma))
        ln_t.bias.copy_(torch.tensor(beta))
    out, cache = layer.forward(x)
    dx, grads = layer.backward(dout, cache)
    xt = torch.tensor(x, requires_grad=True)
    ot = ln_t(xt)
    ot.backward(torch.tensor(dout))
    assert rel_error(out, ot.detach().numpy()) <= ORACLE_TOL
    assert rel_error(dx, xt.grad.numpy()) <= ORACLE_TOL
    assert rel_error(grads["gamma"], ln_t.weight.grad.numpy()) <= ORACLE_TOL
    assert rel_error(grads["beta"], ln_t.bias.grad.numpy()) <= ORACLE_TOL


# =========================================================================== dtypes / shapes
@settings(max_examples=30, deadline=None)
@given(
    n=st.integers(2, 6), d=st.integers(1, 5),
    dtype=st.sampled_from([np.float32, np.float64]),
    kind=st.sampled_from(["batch", "layer"]),
    training=st.booleans(),
)
def test_property_normalization_shapes_and_dtypes(n, d, dtype, kind, training):
    rng = np.random.default_rng(n * 10 + d)
    layer = BatchNorm(d, dtype=dtype) if kind == "batch" else LayerNorm(d, dtype=dtype)
    x = rng.standard_normal((n, d)).astype(dtype)
    out, cache = layer.forward(x, training)
    dx, grads = layer.backward(np.ones_like(out), cache)
    assert out.shape == x.shape and dx.shape == x.shape
    assert out.dtype == dtype and dx.dtype == dtype
    assert all(g.dtype == dtype and g.shape == (d,) for g in grads.values())
    if kind == "batch":
        assert layer.running_mean.dtype == dtype and layer.running_var.dtype == dtype
