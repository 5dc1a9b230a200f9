"""Tests for nnkit.normalization: BatchNorm (training and inference), LayerNorm, GroupNorm, InstanceNorm.

Gradient checks cover x, gamma and beta in both modes; running statistics follow PyTorch's
momentum convention and its unbiased running variance; oracle tests against
torch.nn.BatchNorm1d / torch.nn.LayerNorm and torch.nn.functional.group_norm / instance_norm
in float64 (relative error <= 1e-10). Group norm is checked against an independent loop over
samples and groups, and the identities "layer norm = group norm with 1 group" and "instance
norm = group norm with C groups" against formulas and PyTorch's own layer_norm.
"""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nnkit._validate import ShapeError
from nnkit.gradcheck import check_gradients, check_layer, check_model, rel_error
from nnkit.layers import Activation, Dense
from nnkit.model import Sequential
from nnkit.normalization import (
    BatchNorm,
    GroupNorm,
    InstanceNorm,
    LayerNorm,
    batchnorm_backward,
    batchnorm_forward,
    group_norm_backward,
    group_norm_forward,
    instance_norm_backward,
    instance_norm_forward,
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


def _check_norm_backward(forward, backward, x, gamma, beta, rng):
    """nnkit.gradcheck on x, gamma and beta of a forward/backward pair, through a random dout.

    ``forward(x, gamma, beta)`` returns ``(out, cache)``; ``backward(dout, cache)`` returns
    ``(dx, dgamma, dbeta)``."""
    tensors = {"x": x.copy(), "gamma": gamma.copy(), "beta": beta.copy()}

    def f(p):
        return forward(p["x"], p["gamma"], p["beta"])[0]

    def analytic(dout):
        _, cache = forward(tensors["x"], tensors["gamma"], tensors["beta"])
        dx, dgamma, dbeta = backward(dout, cache)
        return {"x": dx, "gamma": dgamma, "beta": dbeta}

    res = check_gradients(f, tensors, analytic, threshold=TOL, rng=rng)
    assert res.passed, str(res)


def _check_affine_norm_layer(layer, x, rng):
    """A normalization layer holds gamma and beta (one per channel), gives the same output in
    training and inference, and passes check_layer with random gamma and beta."""
    C = x.shape[1]
    assert set(layer.params) == {"gamma", "beta"} and layer.n_params == 2 * C
    layer.params["gamma"][:] = rng.uniform(0.5, 1.5, C)
    layer.params["beta"][:] = rng.standard_normal(C)
    a, _ = layer.forward(x, training=True)
    b, _ = layer.forward(x, training=False)
    assert np.array_equal(a, b)  # no train/inference difference
    res = check_layer(layer, x, rng, threshold=TOL)
    assert res.passed, str(res)


def _same_affine(torch, ours, theirs, gamma, beta):
    """Give the nnkit layer ``ours`` and the torch module ``theirs`` the same gamma and beta."""
    ours.params["gamma"][:] = gamma
    ours.params["beta"][:] = beta
    with torch.no_grad():
        theirs.weight.copy_(torch.tensor(gamma))
        theirs.bias.copy_(torch.tensor(beta))


def _assert_torch_agrees(ours, theirs, note=""):
    """Each nnkit array of ``ours`` equals the torch tensor in the same place of ``theirs`` (rel err <= ORACLE_TOL)."""
    for name, a, t in zip(("out", "dx", "dgamma", "dbeta"), ours, theirs, strict=True):
        assert rel_error(a, t.detach().numpy()) <= ORACLE_TOL, f"{note} {name}"


def _assert_layer_matches_torch(torch, ours, theirs, x, dout, training=True):
    """One forward and backward step of the nnkit layer ``ours`` and of the torch module ``theirs``
    (put in the same mode): the outputs and the gradients of x, gamma and beta agree."""
    out, cache = ours.forward(x, training=training)
    dx, grads = ours.backward(dout, cache)
    theirs.train(training)
    theirs.zero_grad()
    xt = torch.tensor(x, requires_grad=True)
    ot = theirs(xt)
    ot.backward(torch.tensor(dout))
    _assert_torch_agrees((out, dx, grads["gamma"], grads["beta"]), (ot, xt.grad, theirs.weight.grad, theirs.bias.grad),
                         repr(ours))


def _assert_function_matches_torch(torch, forward, backward, theirs, x, gamma, beta, dout):
    """nnkit's ``forward(x, gamma, beta) -> (out, cache)`` and ``backward(dout, cache)`` against the
    torch function ``theirs(x, gamma, beta)``: the outputs and the gradients of x, gamma and beta agree."""
    out, cache = forward(x, gamma, beta)
    tensors = [torch.tensor(a, requires_grad=True) for a in (x, gamma, beta)]
    ot = theirs(*tensors)
    ot.backward(torch.tensor(dout))
    _assert_torch_agrees((out, *backward(dout, cache)), (ot, *(t.grad for t in tensors)))


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
    forward = lambda a, g, b: batchnorm_forward(a, g, b, rm, rv, training)[:2]  # (out, cache)
    _check_norm_backward(forward, batchnorm_backward, x, gamma, beta, rng)


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
    res = check_layer(layer, rng.standard_normal((5, 3)), rng, training=training, threshold=TOL)
    assert res.passed, str(res)


@pytest.mark.oracle
def test_oracle_batchnorm_train_and_eval_vs_torch(torch, rng):
    D = 5
    bn_t = torch.nn.BatchNorm1d(D, momentum=0.1, eps=1e-5, dtype=torch.float64)
    layer = BatchNorm(D, momentum=0.1, eps=1e-5)
    _same_affine(torch, layer, bn_t, rng.uniform(0.5, 1.5, D), rng.standard_normal(D))
    for step in range(4):  # several steps: the running averages must track torch's exactly
        x = rng.standard_normal((8, D)) * 2 + step
        _assert_layer_matches_torch(torch, layer, bn_t, x, rng.standard_normal((8, D)), training=True)
        assert rel_error(layer.running_mean, bn_t.running_mean.numpy()) <= ORACLE_TOL
        assert rel_error(layer.running_var, bn_t.running_var.numpy()) <= ORACLE_TOL
    _assert_layer_matches_torch(torch, layer, bn_t, rng.standard_normal((3, D)), rng.standard_normal((3, D)),
                                training=False)


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
    layernorm_backward(dout, cache)
    for a, c in zip((x, gamma, beta, dout), saved):
        assert np.array_equal(a, c)
    _check_norm_backward(layernorm_forward, layernorm_backward, x, gamma, beta, rng)


def test_layernorm_layer(rng):
    layer = LayerNorm(4)
    _check_affine_norm_layer(layer, rng.standard_normal((1, 4)), rng)  # a batch of one works
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
    _same_affine(torch, layer, ln_t, rng.uniform(0.5, 1.5, D), rng.standard_normal(D))
    _assert_layer_matches_torch(torch, layer, ln_t, x, dout)


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


# =========================================================================== GroupNorm / InstanceNorm
def _gn_inputs(rng, shape):
    C = shape[1]
    x = rng.standard_normal(shape) * 2 + 1
    return x, rng.uniform(0.5, 1.5, C), rng.standard_normal(C)


def _group_norm_by_loops(x, gamma, beta, G, eps):
    """An independent reference: one sample and one group at a time, numpy's mean and var."""
    N, C = x.shape[:2]
    out = np.empty_like(x)
    per = C // G
    for n in range(N):
        for g in range(G):
            block = x[n, g * per:(g + 1) * per]
            out[n, g * per:(g + 1) * per] = (block - block.mean()) / np.sqrt(block.var() + eps)  # var: ddof=0
    shape = (C,) + (1,) * (x.ndim - 2)
    return out * gamma.reshape(shape) + beta.reshape(shape)


def test_group_norm_hand_worked():
    # one sample, 4 channels, 2 groups: [1, 3 | 2, 6]
    # group 0: mu = 2, biased var = 1 -> [-1, 1] ; group 1: mu = 4, var = 4 -> [-1, 1]
    x = np.array([[1.0, 3.0, 2.0, 6.0]])
    out, _ = group_norm_forward(x, np.array([1.0, 2.0, 3.0, 4.0]), np.array([0.0, 0.0, 0.0, 0.5]), 2, eps=0.0)
    assert np.allclose(out, [[-1.0, 2.0, -3.0, 4.5]], rtol=1e-15)


def test_instance_norm_hand_worked():
    # one sample, 2 channels of 2 positions: [[0, 2], [1, 5]]
    # channel 0: mu = 1, var = 1 -> [-1, 1] ; channel 1: mu = 3, var = 4 -> [-1, 1]
    x = np.array([[[0.0, 2.0], [1.0, 5.0]]])
    out, _ = instance_norm_forward(x, np.array([2.0, 1.0]), np.array([0.0, 1.0]), eps=0.0)
    assert np.allclose(out, [[[-2.0, 2.0], [0.0, 2.0]]], rtol=1e-15)


@pytest.mark.parametrize("shape, G", [((5, 6), 3), ((5, 6), 1), ((5, 6), 6), ((3, 6, 4), 2), ((2, 4, 3, 5), 2),
                                      ((2, 4, 3, 5), 4), ((2, 2, 2, 2, 3), 1)])
def test_group_norm_matches_loops_over_samples_and_groups(shape, G, rng):
    x, gamma, beta = _gn_inputs(rng, shape)
    out, _ = group_norm_forward(x, gamma, beta, G, eps=1e-5)
    assert out.shape == x.shape
    assert rel_error(out, _group_norm_by_loops(x, gamma, beta, G, 1e-5)) < 1e-13


def _assert_is_group_norm(forward, backward, x, gamma, beta, G, rng):
    """``forward(x, gamma, beta)`` and its ``backward`` give exactly what group norm with ``G``
    groups gives (output and the gradients of x, gamma, beta); returns the output."""
    out, cache = forward(x, gamma, beta)
    gn, gn_cache = group_norm_forward(x, gamma, beta, num_groups=G)
    assert np.array_equal(out, gn)
    dout = rng.standard_normal(x.shape)
    for a, b in zip(backward(dout, cache), group_norm_backward(dout, gn_cache), strict=True):
        assert np.array_equal(a, b)
    return out


def test_layer_norm_is_group_norm_with_one_group(rng):
    # 2-D: the features are the channels, one group holds them all
    x, gamma, beta = _gn_inputs(rng, (5, 7))
    gn = _assert_is_group_norm(layernorm_forward, layernorm_backward, x, gamma, beta, 1, rng)
    # the independent formula: per row, over the features
    x_hat = (x - x.mean(axis=1, keepdims=True)) / np.sqrt(x.var(axis=1, keepdims=True) + 1e-5)
    assert rel_error(gn, gamma * x_hat + beta) < 1e-13
    # images: one group = every channel and position of a sample, like layer norm over (C, H, W)
    x4 = rng.standard_normal((3, 4, 2, 5))
    out, _ = group_norm_forward(x4, np.ones(4), np.zeros(4), num_groups=1)
    mu = x4.mean(axis=(1, 2, 3), keepdims=True)
    assert rel_error(out, (x4 - mu) / np.sqrt(x4.var(axis=(1, 2, 3), keepdims=True) + 1e-5)) < 1e-13


def test_instance_norm_is_group_norm_with_C_groups(rng):
    x, gamma, beta = _gn_inputs(rng, (3, 4, 2, 5))
    inst = _assert_is_group_norm(instance_norm_forward, instance_norm_backward, x, gamma, beta, 4, rng)
    # the independent formula: per sample and channel, over the positions (axes 2, 3)
    x_hat = (x - x.mean(axis=(2, 3), keepdims=True)) / np.sqrt(x.var(axis=(2, 3), keepdims=True) + 1e-5)
    assert rel_error(inst, gamma[:, None, None] * x_hat + beta[:, None, None]) < 1e-13


def test_group_norm_standardizes_each_group_and_ignores_other_samples(rng):
    x = rng.standard_normal((4, 6, 10)) * 5 + 3
    out, _ = group_norm_forward(x, np.ones(6), np.zeros(6), 3)
    groups = out.reshape(4, 3, -1)
    assert np.allclose(groups.mean(axis=2), 0.0, atol=1e-12)
    assert np.allclose(groups.var(axis=2), 1.0, rtol=1e-4)
    # no batch statistics: a batch of one gives the same rows, and rescaling sample 0 changes nothing
    one, _ = group_norm_forward(x[1:2], np.ones(6), np.zeros(6), 3)
    assert np.allclose(one, out[1:2], rtol=1e-14, atol=1e-14)
    x2 = x.copy()
    x2[0] = 10 * x2[0] - 7
    out2, _ = group_norm_forward(x2, np.ones(6), np.zeros(6), 3)
    assert np.allclose(out2, out, atol=1e-5)


@pytest.mark.parametrize("shape, G", [((5, 6), 3), ((5, 6), 1), ((3, 6, 4), 2), ((2, 4, 3, 3), 2), ((2, 4, 3, 3), 4)])
def test_group_norm_gradcheck_x_gamma_beta(shape, G, rng):
    x, gamma, beta = _gn_inputs(rng, shape)
    _check_norm_backward(lambda a, b, c: group_norm_forward(a, b, c, G), group_norm_backward, x, gamma, beta, rng)


@pytest.mark.parametrize("shape", [(3, 2, 5), (2, 3, 2, 3)])
def test_instance_norm_gradcheck_x_gamma_beta(shape, rng):
    x, gamma, beta = _gn_inputs(rng, shape)
    _check_norm_backward(instance_norm_forward, instance_norm_backward, x, gamma, beta, rng)


def test_group_and_instance_norm_do_not_mutate_arguments(rng):
    x, gamma, beta = _gn_inputs(rng, (2, 4, 3))
    dout = rng.standard_normal(x.shape)
    saved = [a.copy() for a in (x, gamma, beta, dout)]
    for fwd, bwd in ((lambda *a: group_norm_forward(*a, 2), group_norm_backward),
                     (instance_norm_forward, instance_norm_backward)):
        out, cache = fwd(x, gamma, beta)
        out += 1.0  # the caller owns the output
        bwd(dout, cache)
    for a, c in zip((x, gamma, beta, dout), saved):
        assert np.array_equal(a, c)


@pytest.mark.parametrize("shape", [(4, 6), (4, 6, 3), (2, 6, 2, 3)])
def test_group_norm_layer(shape, rng):
    layer = GroupNorm(3, 6)
    assert repr(layer) == "GroupNorm(3, 6, eps=1e-05)"
    _check_affine_norm_layer(layer, rng.standard_normal(shape), rng)


def test_instance_norm_layer(rng):
    layer = InstanceNorm(3)
    assert repr(layer) == "InstanceNorm(3, eps=1e-05)"
    _check_affine_norm_layer(layer, rng.standard_normal((2, 3, 4, 2)), rng)


def test_group_norm_in_a_sequential_model(rng):
    model = Sequential([Dense(4, 6, rng), GroupNorm(2, 6), Activation("tanh"), Dense(6, 3, rng)])
    assert model.param_names == ("W1", "b1", "gamma2", "beta2", "W3", "b3")
    x = rng.standard_normal((5, 4))
    y = rng.integers(0, 3, 5)
    res = check_model(model, x, y, "softmax_cross_entropy", include_input=True)
    assert res.passed, str(res)


def test_group_and_instance_norm_errors(rng):
    x, gamma, beta = _gn_inputs(rng, (2, 6, 3))
    with pytest.raises(ValueError, match="num_groups must divide the number of channels C = 6; got num_groups=4"):
        group_norm_forward(x, gamma, beta, 4)
    with pytest.raises(ValueError, match="num_groups must be an integer >= 1; got 0"):
        group_norm_forward(x, gamma, beta, 0)
    with pytest.raises(TypeError, match="num_groups must be an integer"):
        group_norm_forward(x, gamma, beta, 2.0)
    with pytest.raises(ShapeError, match=r"gamma and beta must have shape \(6,\).*\(2, 6, 3\); got gamma \(3,\), beta \(6,\)"):
        group_norm_forward(x, gamma[:3], beta, 2)
    with pytest.raises(ShapeError, match=r"x must be \(N, C\) or \(N, C, \*spatial\); got shape \(6,\)"):
        group_norm_forward(x[0, :, 0], gamma, beta, 2)
    with pytest.raises(ValueError, match="x is empty"):
        group_norm_forward(np.zeros((0, 6)), gamma, beta, 2)
    with pytest.raises(TypeError, match="x must hold real numbers"):
        group_norm_forward(x > 0, gamma, beta, 2)
    with pytest.raises(ValueError, match="eps must be >= 0"):
        group_norm_forward(x, gamma, beta, 2, eps=-1e-5)
    _, cache = group_norm_forward(x, gamma, beta, 2)
    with pytest.raises(ShapeError, match=r"dout must have the shape of the forward output \(2, 6, 3\); got \(2, 6\)"):
        group_norm_backward(np.ones((2, 6)), cache)
    # instance norm needs spatial dimensions, and more than one position
    with pytest.raises(ShapeError, match=r"instance_norm_forward: x must have spatial dimensions.*got shape \(2, 6\)"):
        instance_norm_forward(x[:, :, 0], gamma, beta)
    with pytest.raises(ValueError, match="more than one spatial position"):
        instance_norm_forward(x[:, :, :1], gamma, beta)
    # integer input is converted (as elsewhere in nnkit), not refused
    out, _ = group_norm_forward(np.arange(12).reshape(2, 6), np.ones(6), np.zeros(6), 3)
    assert out.dtype == np.float64


def test_group_and_instance_norm_layer_errors():
    with pytest.raises(ValueError, match="num_groups must divide the number of channels C = 6; got num_groups=4"):
        GroupNorm(4, 6)
    with pytest.raises(ValueError, match="num_channels"):
        GroupNorm(1, 0)
    with pytest.raises(ValueError, match="eps"):
        GroupNorm(2, 6, eps=0.0)
    with pytest.raises(ValueError, match="num_features"):
        InstanceNorm(-3)
    with pytest.raises(ValueError, match="eps"):
        InstanceNorm(3, eps=-1.0)
    with pytest.raises(ShapeError, match=r"GroupNorm\(2, 6.*\(N, 6\) or \(N, 6, \*spatial\); got \(4, 5\)"):
        GroupNorm(2, 6).forward(np.ones((4, 5)))
    with pytest.raises(ShapeError, match=r"InstanceNorm\(3.*\(N, 3, \*spatial\); got \(4, 3\)"):
        InstanceNorm(3).forward(np.ones((4, 3)))
    with pytest.raises(ShapeError, match=r"got \(4, 2, 5\)"):
        InstanceNorm(3).forward(np.ones((4, 2, 5)))


@pytest.mark.oracle
@pytest.mark.parametrize("shape, G", [((6, 8), 4), ((6, 8), 1), ((3, 6, 5), 3), ((2, 4, 3, 5), 2),
                                      ((2, 4, 3, 5), 4), ((2, 6, 2, 2, 3), 3)])
def test_oracle_group_norm_vs_torch(shape, G, torch, rng):
    x, gamma, beta = _gn_inputs(rng, shape)
    _assert_function_matches_torch(torch, lambda *a: group_norm_forward(*a, G, eps=1e-5), group_norm_backward,
                                   lambda xt, gt, bt: torch.nn.functional.group_norm(xt, G, gt, bt, eps=1e-5),
                                   x, gamma, beta, rng.standard_normal(shape))


@pytest.mark.oracle
@pytest.mark.parametrize("shape", [(3, 4, 6), (2, 3, 4, 5), (2, 2, 2, 3, 2)])
def test_oracle_instance_norm_vs_torch(shape, torch, rng):
    x, gamma, beta = _gn_inputs(rng, shape)
    _assert_function_matches_torch(torch, lambda *a: instance_norm_forward(*a, eps=1e-5), instance_norm_backward,
                                   lambda xt, gt, bt: torch.nn.functional.instance_norm(xt, weight=gt, bias=bt, eps=1e-5),
                                   x, gamma, beta, rng.standard_normal(shape))


@pytest.mark.oracle
def test_oracle_layers_vs_torch_modules_and_the_identities(torch, rng):
    x, gamma, beta = _gn_inputs(rng, (3, 4, 5, 2))
    dout = rng.standard_normal(x.shape)
    cases = [
        (GroupNorm(2, 4), torch.nn.GroupNorm(2, 4, eps=1e-5)),
        (InstanceNorm(4), torch.nn.InstanceNorm2d(4, eps=1e-5, affine=True)),
    ]
    for ours, theirs in cases:
        _same_affine(torch, ours, theirs, gamma, beta)
        _assert_layer_matches_torch(torch, ours, theirs, x, dout)
    # PyTorch's own layer norm over (C, H, W) = nnkit's group norm with one group (unit affine)
    F = torch.nn.functional
    xt = torch.tensor(x)
    ones, zeros = np.ones(4), np.zeros(4)
    ln_t = F.layer_norm(xt, x.shape[1:], eps=1e-5).numpy()
    assert rel_error(group_norm_forward(x, ones, zeros, 1)[0], ln_t) <= ORACLE_TOL
    # ... and PyTorch's instance norm = nnkit's group norm with C groups
    in_t = F.instance_norm(xt, eps=1e-5).numpy()
    assert rel_error(group_norm_forward(x, ones, zeros, 4)[0], in_t) <= ORACLE_TOL


@settings(max_examples=30, deadline=None)
@given(
    n=st.integers(1, 4), groups=st.integers(1, 3), per=st.integers(1, 3), spatial=st.integers(0, 2),
    dtype=st.sampled_from([np.float32, np.float64]), kind=st.sampled_from(["group", "instance"]),
)
def test_property_group_instance_shapes_and_dtypes(n, groups, per, spatial, dtype, kind):
    C = groups * per
    rng = np.random.default_rng(n * 100 + C * 10 + spatial)
    if kind == "instance":
        spatial = max(spatial, 1)
        layer = InstanceNorm(C, dtype=dtype)
    else:
        layer = GroupNorm(groups, C, dtype=dtype)
    shape = (n, C) + (3,) * spatial
    x = rng.standard_normal(shape).astype(dtype)
    out, cache = layer.forward(x)
    dx, grads = layer.backward(np.ones_like(out), cache)
    assert out.shape == x.shape and dx.shape == x.shape
    assert out.dtype == dtype and dx.dtype == dtype
    assert all(g.dtype == dtype and g.shape == (C,) for g in grads.values())
