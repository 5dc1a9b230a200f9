"""Tests for nnkit.layers: Dense, activation layers and inverted Dropout.

Every backward is gradient-checked (inputs and parameters, float64), no argument is mutated,
and the oracle tests compare with PyTorch in float64 (relative error <= 1e-10).
"""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nnkit import activations
from nnkit._validate import ShapeError
from nnkit.gradcheck import numerical_gradient_array, rel_error
from nnkit.layers import (
    Activation,
    Dense,
    Dropout,
    Layer,
    activation_backward,
    activation_forward,
    dense_backward,
    dense_forward,
    dropout_backward,
    dropout_forward,
)

TOL = 1e-7  # gradient checks in float64
ORACLE_TOL = 1e-10


def _copies(*arrays):
    return [np.array(a, copy=True) for a in arrays]


def _assert_unchanged(originals, copies):
    for a, c in zip(originals, copies):
        assert np.array_equal(a, c), "an argument was modified"


# =========================================================================== Dense
def test_dense_forward_hand_worked():
    # x = [[1, 2]], W = [[1, 0, -1], [2, 1, 0]], b = [0.5, -1, 0]
    # out = [1*1 + 2*2 + 0.5, 1*0 + 2*1 - 1, 1*(-1) + 2*0 + 0] = [5.5, 1, -1]
    x = np.array([[1.0, 2.0]])
    W = np.array([[1.0, 0.0, -1.0], [2.0, 1.0, 0.0]])
    b = np.array([0.5, -1.0, 0.0])
    out, _ = dense_forward(x, W, b)
    assert np.array_equal(out, [[5.5, 1.0, -1.0]])


def test_dense_backward_hand_worked():
    x = np.array([[1.0, 2.0], [3.0, -1.0]])
    W = np.array([[1.0, 0.0, -1.0], [2.0, 1.0, 0.0]])
    b = np.zeros(3)
    _, cache = dense_forward(x, W, b)
    dout = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 2.0]])
    dx, dW, db = dense_backward(dout, cache)
    # dx = dout @ W.T: row 0 picks column 0 of W.T = W[:, 0] = [1, 2]; row 1 = 2 * W[:, 2] = [-2, 0]
    assert np.array_equal(dx, [[1.0, 2.0], [-2.0, 0.0]])
    # dW = x.T @ dout: column 0 = x[0] = [1, 2]; column 2 = 2 * x[1] = [6, -2]
    assert np.array_equal(dW, [[1.0, 0.0, 6.0], [2.0, 0.0, -2.0]])
    assert np.array_equal(db, [1.0, 0.0, 2.0])  # summed over the batch


def test_dense_gradcheck_inputs_and_parameters(rng):
    x = rng.standard_normal((5, 4))
    W = rng.standard_normal((4, 3))
    b = rng.standard_normal(3)
    dout = rng.standard_normal((5, 3))
    _, cache = dense_forward(x, W, b)
    dx, dW, db = dense_backward(dout, cache)
    assert rel_error(dx, numerical_gradient_array(lambda v: dense_forward(v, W, b)[0], x.copy(), dout)) < TOL
    assert rel_error(dW, numerical_gradient_array(lambda v: dense_forward(x, v, b)[0], W.copy(), dout)) < TOL
    assert rel_error(db, numerical_gradient_array(lambda v: dense_forward(x, W, v)[0], b.copy(), dout)) < TOL


def test_dense_does_not_mutate_arguments(rng):
    x, W, b, dout = rng.standard_normal((3, 4)), rng.standard_normal((4, 2)), rng.standard_normal(2), rng.standard_normal((3, 2))
    saved = _copies(x, W, b, dout)
    out, cache = dense_forward(x, W, b)
    out += 100.0  # the caller owns out: changing it must not reach x, W or b
    dense_backward(dout, cache)
    _assert_unchanged((x, W, b, dout), saved)


def test_dense_backward_can_skip_dx(rng):
    x, W, b = rng.standard_normal((3, 4)), rng.standard_normal((4, 2)), np.zeros(2)
    _, cache = dense_forward(x, W, b)
    dx, dW, db = dense_backward(np.ones((3, 2)), cache, need_dx=False)
    assert dx is None and dW.shape == (4, 2) and db.shape == (2,)


def test_dense_forward_shape_error_names_shapes(rng):
    with pytest.raises(ShapeError, match=r"\(N, 4\).*\(3, 5\)"):
        dense_forward(np.ones((3, 5)), np.ones((4, 2)), np.zeros(2))


def test_dense_layer_params_grads_and_errors(rng):
    layer = Dense(4, 3, rng)
    assert set(layer.params) == {"W", "b"}
    assert layer.params["W"].shape == (4, 3) and np.all(layer.params["b"] == 0)
    assert layer.n_params == 15 and isinstance(layer, Layer)
    x = rng.standard_normal((6, 4))
    out, cache = layer.forward(x)
    assert np.allclose(out, x @ layer.params["W"] + layer.params["b"], rtol=1e-14, atol=1e-14)
    dx, grads = layer.backward(np.ones((6, 3)), cache)
    assert set(grads) == {"W", "b"} and grads["W"].shape == (4, 3) and dx.shape == (6, 4)
    assert np.array_equal(layer(x), out)  # __call__: output only
    with pytest.raises(ShapeError, match=r"Dense\(4, 3\) expects input of shape \(N, 4\); got \(6, 5\)"):
        layer.forward(np.ones((6, 5)))
    with pytest.raises(ShapeError, match="Dense"):
        layer.forward(np.ones(4))
    with pytest.raises(TypeError, match="rng"):
        Dense(4, 3, rng=None)
    with pytest.raises(ValueError, match="n_out"):
        Dense(4, 0, rng)
    with pytest.raises(ValueError, match="init"):
        Dense(4, 3, rng, init="nope")


def test_dense_layer_gradcheck_through_params(rng):
    layer = Dense(3, 2, rng)
    x = rng.standard_normal((4, 3))
    dout = rng.standard_normal((4, 2))
    _, cache = layer.forward(x)
    dx, grads = layer.backward(dout, cache)
    for name in ("W", "b"):
        # numerical_gradient perturbs layer.params[name] in place: the layer must read it each call
        num = numerical_gradient_array(lambda _: layer.forward(x)[0], layer.params[name], dout)
        assert rel_error(grads[name], num) < TOL
    assert rel_error(dx, numerical_gradient_array(lambda v: layer.forward(v)[0], x.copy(), dout)) < TOL


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dense_layer_keeps_dtype(dtype, rng):
    layer = Dense(5, 3, rng, dtype=dtype)
    x = rng.standard_normal((2, 5)).astype(dtype)
    out, cache = layer.forward(x)
    dx, grads = layer.backward(np.ones((2, 3), dtype), cache)
    assert out.dtype == dtype and dx.dtype == dtype
    assert all(g.dtype == dtype for g in grads.values())
    assert all(p.dtype == dtype for p in layer.params.values())


def test_dense_init_choices_change_the_scale(rng):
    big = Dense(400, 300, np.random.default_rng(0), init="he_normal").params["W"]
    small = Dense(400, 300, np.random.default_rng(0), init="xavier_normal").params["W"]
    assert big.var() == pytest.approx(2 / 400, rel=0.05)
    assert small.var() == pytest.approx(2 / 700, rel=0.05)


@settings(max_examples=30, deadline=None)
@given(
    n=st.integers(1, 7), d_in=st.integers(1, 6), d_out=st.integers(1, 6),
    dtype=st.sampled_from([np.float32, np.float64]),
)
def test_property_dense_shapes_and_dtypes(n, d_in, d_out, dtype):
    rng = np.random.default_rng(n * 100 + d_in * 10 + d_out)
    layer = Dense(d_in, d_out, rng, dtype=dtype)
    x = rng.standard_normal((n, d_in)).astype(dtype)
    out, cache = layer.forward(x)
    assert out.shape == (n, d_out) and out.dtype == dtype
    dx, grads = layer.backward(np.ones_like(out), cache)
    assert dx.shape == x.shape and dx.dtype == dtype
    assert grads["W"].shape == (d_in, d_out) and grads["b"].shape == (d_out,)
    assert grads["W"].dtype == dtype and grads["b"].dtype == dtype
    # db of an all-ones upstream gradient is the batch size
    assert np.allclose(grads["b"], n)


@pytest.mark.oracle
def test_oracle_dense_vs_torch_linear(torch, rng):
    F = torch.nn.functional
    x, W, b = rng.standard_normal((7, 5)), rng.standard_normal((5, 4)), rng.standard_normal(4)
    dout = rng.standard_normal((7, 4))
    out, cache = dense_forward(x, W, b)
    dx, dW, db = dense_backward(dout, cache)
    xt = torch.tensor(x, requires_grad=True)
    Wt = torch.tensor(W.T.copy(), requires_grad=True)  # torch stores (out, in): our W transposed
    bt = torch.tensor(b, requires_grad=True)
    ot = F.linear(xt, Wt, bt)
    ot.backward(torch.tensor(dout))
    assert rel_error(out, ot.detach().numpy()) <= ORACLE_TOL
    assert rel_error(dx, xt.grad.numpy()) <= ORACLE_TOL
    assert rel_error(dW, Wt.grad.numpy().T) <= ORACLE_TOL
    assert rel_error(db, bt.grad.numpy()) <= ORACLE_TOL


# =========================================================================== activations
def _away_from_kinks(rng, shape, kinks, margin=0.05):
    z = rng.standard_normal(shape) * 2
    for k in kinks:
        close = np.abs(z - k) < margin
        z[close] = k + np.where(z[close] >= k, margin, -margin) * 2
    return z


@pytest.mark.parametrize("name", sorted(activations.ACTIVATIONS))
def test_activation_forward_matches_registry_and_gradchecks(name, rng):
    act = activations.ACTIVATIONS[name]
    x = _away_from_kinks(rng, (4, 5), act.kinks)
    dout = rng.standard_normal((4, 5))
    saved = _copies(x, dout)
    out, cache = activation_forward(x, name)
    assert np.array_equal(out, act.fn(x))
    dx = activation_backward(dout, cache)
    assert np.array_equal(dx, dout * act.grad(x))
    num = numerical_gradient_array(lambda v: activation_forward(v, name)[0], x.copy(), dout)
    assert rel_error(dx, num) < TOL
    _assert_unchanged((x, dout), saved)


@pytest.mark.parametrize("name", sorted(activations.ACTIVATIONS))
def test_activation_layer_matches_pure_functions(name, rng):
    layer = Activation(name)
    assert layer.params == {} and layer.n_params == 0
    x = _away_from_kinks(rng, (3, 4), activations.ACTIVATIONS[name].kinks)
    dout = rng.standard_normal((3, 4))
    out, cache = layer.forward(x)
    dx, grads = layer.backward(dout, cache)
    out2, cache2 = activation_forward(x, name)
    assert np.array_equal(out, out2) and grads == {}
    assert np.array_equal(dx, activation_backward(dout, cache2))


def test_relu_layer_hand_worked_and_kink_convention():
    x = np.array([[-2.0, 0.0, 3.0]])
    layer = Activation("relu")
    out, cache = layer.forward(x)
    dx, _ = layer.backward(np.array([[5.0, 5.0, 5.0]]), cache)
    assert np.array_equal(out, [[0.0, 0.0, 3.0]])
    assert np.array_equal(dx, [[0.0, 0.0, 5.0]])  # relu'(0) = 0, PyTorch's convention


def test_parameterised_activation_layers(rng):
    x = _away_from_kinks(rng, (3, 4), (0.0,))
    dout = rng.standard_normal((3, 4))
    layer = Activation("leaky_relu", slope=0.2)
    out, cache = layer.forward(x)
    assert np.array_equal(out, np.where(x > 0, x, 0.2 * x))
    dx, _ = layer.backward(dout, cache)
    assert rel_error(dx, numerical_gradient_array(lambda v: layer.forward(v)[0], x.copy(), dout)) < TOL
    elu = Activation("elu", alpha=0.5)
    assert np.allclose(elu.forward(np.array([[-50.0]]))[0], -0.5)
    assert "slope=0.2" in repr(layer)
    with pytest.raises(TypeError, match="slope"):
        Activation("leaky_relu", alpha=0.3)
    with pytest.raises(TypeError, match="no"):
        Activation("relu", slope=0.1)
    with pytest.raises(ValueError, match="relu"):
        Activation("rleu")


def test_softmax_layer_gradcheck(rng):
    x = rng.standard_normal((4, 5))
    dout = rng.standard_normal((4, 5))
    layer = Activation("softmax")
    out, cache = layer.forward(x)
    assert np.allclose(out.sum(axis=1), 1.0)
    dx, _ = layer.backward(dout, cache)
    assert rel_error(dx, numerical_gradient_array(lambda v: layer.forward(v)[0], x.copy(), dout)) < TOL
    with pytest.raises(TypeError):
        Activation("softmax", axis=0)


@settings(max_examples=30, deadline=None)
@given(
    name=st.sampled_from(sorted(activations.ACTIVATIONS) + ["softmax"]),
    shape=st.tuples(st.integers(1, 5), st.integers(1, 5)),
    dtype=st.sampled_from([np.float32, np.float64]),
)
def test_property_activation_layers_keep_shape_and_dtype(name, shape, dtype):
    x = np.random.default_rng(0).standard_normal(shape).astype(dtype)
    layer = Activation(name)
    out, cache = layer.forward(x)
    dx, _ = layer.backward(np.ones_like(out), cache)
    assert out.shape == shape and dx.shape == shape
    assert out.dtype == dtype and dx.dtype == dtype


# =========================================================================== dropout
def test_dropout_fixed_mask_hand_worked():
    x = np.array([[1.0, 2.0, 3.0, 4.0]])
    mask = np.array([[True, False, True, False]])
    out, cache = dropout_forward(x, p_drop=0.5, training=True, mask=mask)
    # kept entries are scaled by 1/(1 - 0.5) = 2
    assert np.array_equal(out, [[2.0, 0.0, 6.0, 0.0]])
    dx = dropout_backward(np.ones((1, 4)), cache)
    assert np.array_equal(dx, [[2.0, 0.0, 2.0, 0.0]])


def test_dropout_gradcheck_with_fixed_mask(rng):
    x = rng.standard_normal((5, 6))
    dout = rng.standard_normal((5, 6))
    mask = rng.random((5, 6)) > 0.3
    saved = _copies(x, dout, mask)
    _, cache = dropout_forward(x, 0.3, training=True, mask=mask)
    dx = dropout_backward(dout, cache)
    num = numerical_gradient_array(lambda v: dropout_forward(v, 0.3, training=True, mask=mask)[0], x.copy(), dout)
    assert rel_error(dx, num) < TOL
    _assert_unchanged((x, dout, mask), saved)


def test_dropout_p_drop_is_the_drop_probability(rng):
    x = np.ones((400, 500))
    out, cache = dropout_forward(x, p_drop=0.2, rng=rng)
    kept = out != 0
    # 200,000 Bernoulli(0.8) draws: sd of the kept fraction is 0.0009
    assert kept.mean() == pytest.approx(0.8, abs=0.005)
    assert np.allclose(out[kept], 1 / 0.8)  # inverted: kept entries scaled by 1/(1 - p_drop)
    assert out.mean() == pytest.approx(1.0, abs=0.01)  # expectation preserved
    dx = dropout_backward(np.ones_like(x), cache)
    assert np.array_equal(dx, out)  # same mask and scale in backward


def test_dropout_inference_and_edge_probabilities(rng):
    x = rng.standard_normal((3, 4))
    out, cache = dropout_forward(x, 0.5, rng, training=False)
    assert out is x and cache is None  # identity at inference, nothing to rescale
    assert dropout_backward(x, cache) is x
    out, _ = dropout_forward(x, 0.0, rng)
    assert np.array_equal(out, x)
    out, cache = dropout_forward(x, 1.0, rng)
    assert np.all(out == 0) and np.all(dropout_backward(np.ones_like(x), cache) == 0)


def test_dropout_errors(rng):
    x = np.ones((2, 3))
    with pytest.raises(ValueError, match="p_drop"):
        dropout_forward(x, 1.5, rng)
    with pytest.raises(ValueError, match="p_drop"):
        Dropout(-0.1, rng)
    with pytest.raises(TypeError, match="rng"):
        dropout_forward(x, 0.5, rng=None)
    with pytest.raises(TypeError, match="rng"):
        Dropout(0.5, rng=42)
    with pytest.raises(ShapeError, match="mask"):
        dropout_forward(x, 0.5, mask=np.ones((3, 2), bool))
    with pytest.raises(ValueError, match="mask"):
        dropout_forward(x, 0.5, mask=np.full((2, 3), 0.5))
    # 0/1 numbers are accepted as a mask
    out, _ = dropout_forward(x, 0.5, mask=np.array([[1, 0, 1], [0, 1, 0]]))
    assert np.array_equal(out, [[2, 0, 2], [0, 2, 0]])


def test_dropout_layer_is_reproducible_and_mode_aware(rng):
    x = np.ones((50, 40))
    a = Dropout(0.5, np.random.default_rng(7)).forward(x)[0]
    b = Dropout(0.5, np.random.default_rng(7)).forward(x)[0]
    assert np.array_equal(a, b)
    layer = Dropout(0.5, rng)
    m1, m2 = layer.forward(x)[0], layer.forward(x)[0]
    assert not np.array_equal(m1, m2)  # a fresh mask every training call
    assert layer.forward(x, training=False)[0] is x
    assert layer.params == {} and "p_drop=0.5" in repr(layer)
    mask = np.zeros((50, 40), bool)
    mask[:, 0] = True
    out, cache = layer.forward(x, mask=mask)
    dx, grads = layer.backward(np.ones_like(x), cache)
    assert np.array_equal(dx, out) and grads == {}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dropout_keeps_dtype(dtype, rng):
    x = rng.standard_normal((4, 3)).astype(dtype)
    out, cache = dropout_forward(x, 0.4, rng)
    assert out.dtype == dtype and dropout_backward(np.ones_like(x), cache).dtype == dtype


@pytest.mark.oracle
def test_oracle_dropout_with_fixed_mask(torch, rng):
    F = torch.nn.functional
    x = rng.uniform(0.5, 2.0, (6, 8))  # nonzero, so the kept entries are visible in torch's output
    dout = rng.standard_normal((6, 8))
    torch.manual_seed(0)
    xt = torch.tensor(x, requires_grad=True)
    ot = F.dropout(xt, p=0.3, training=True)  # torch's p is the drop probability too
    ot.backward(torch.tensor(dout))
    mask = ot.detach().numpy() != 0  # the mask torch drew
    assert 0 < mask.mean() < 1
    out, cache = dropout_forward(x, 0.3, training=True, mask=mask)
    assert rel_error(out, ot.detach().numpy()) <= ORACLE_TOL
    assert rel_error(dropout_backward(dout, cache), xt.grad.numpy()) <= ORACLE_TOL
    # and at inference both are the identity
    assert np.array_equal(dropout_forward(x, 0.3, training=False)[0], F.dropout(torch.tensor(x), 0.3, training=False).numpy())


# =========================================================================== no process state at import
def test_nnkit_changes_no_process_state_at_import():
    """Issue 15: importing nnkit must not tune glibc's allocator (or touch the process at all)."""
    from pathlib import Path

    import nnkit
    from nnkit import layers

    assert not hasattr(layers, "MALLOC_TUNED")
    for path in Path(nnkit.__file__).parent.rglob("*.py"):
        source = path.read_text()
        assert "mallopt" not in source and "import ctypes" not in source, path


def test_slide_error_split_is_the_share_of_dense_backward():
    # Slide 000: an output error is shared by inputs A and B in proportion to their weights,
    # 0.3 / (0.3 + 0.6) = 0.33 and 0.6 / 0.9 = 0.67. Backprop sends back dout @ W.T = (0.3, 0.6):
    # the same proportions, without the normalisation (the shares are the intuition, W.T is the rule).
    from nnkit.layers import dense_backward, dense_forward

    W = np.array([[0.3], [0.6]])
    _, cache = dense_forward(np.array([[1.0, 1.0]]), W, np.zeros(1))
    dx, _, _ = dense_backward(np.array([[1.0]]), cache)
    np.testing.assert_allclose(dx, [[0.3, 0.6]])
    np.testing.assert_allclose((dx / dx.sum()).round(2), [[0.33, 0.67]])


def test_dense_forward_names_the_argument_that_is_wrong():
    x, W, b = np.ones((4, 3)), np.ones((3, 2)), np.zeros(2)
    with pytest.raises(ShapeError, match=r"b must have shape \(2,\), one bias per output of W \(3, 2\); got \(3,\)"):
        dense_forward(x, W, np.zeros(3))
    with pytest.raises(ShapeError, match=r"W must have shape \(D_in, D_out\) = \(3, D_out\).*got \(2, 3\), which looks transposed"):
        dense_forward(x, W.T, b)
    with pytest.raises(ShapeError, match=r"x must have shape \(N, 3\) to match W of shape \(3, 2\); got \(4, 5\)"):
        dense_forward(np.ones((4, 5)), W, b)
    with pytest.raises(ShapeError, match=r"W must be 2-D"):
        dense_forward(x, np.ones(3), b)
    assert dense_forward(x, W, b.reshape(1, 2))[0].shape == (4, 2)  # a row of biases is fine too
