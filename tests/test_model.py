"""Tests for nnkit.model: Sequential, MLP and loss_and_grads.

Parameter naming and sharing, the 67-parameter count of slip 20, end-to-end gradient checks
of whole models through a loss (inputs and every parameter), input validation, dtype
preservation, and an oracle comparison of a full MLP forward + backward with torch autograd.
"""
from functools import partial

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nnkit._validate import ShapeError
from nnkit.gradcheck import numerical_gradient, rel_error
from nnkit.initializers import constant
from nnkit.layers import Activation, Dense, Dropout
from nnkit.losses import get_loss
from nnkit.model import MLP, Sequential, loss_and_grads
from nnkit.normalization import BatchNorm

TOL = 1e-7
ORACLE_TOL = 1e-10


def _data(rng, n=8, d=4, k=3):
    return rng.standard_normal((n, d)), rng.integers(0, k, n)


# =========================================================================== naming and counting
def test_mlp_4_5_5_2_has_67_parameters(rng):
    # slip 20: (4*5) + (5*5) + (5*2) = 55 weights plus 5 + 5 + 2 = 12 biases
    model = MLP([4, 5, 5, 2], rng=rng)
    assert model.n_params == 67
    assert model.param_names == ("W1", "b1", "W2", "b2", "W3", "b3")
    shapes = {k: v.shape for k, v in model.params.items()}
    assert shapes == {"W1": (4, 5), "b1": (5,), "W2": (5, 5), "b2": (5,), "W3": (5, 2), "b3": (2,)}


def test_repr_is_a_summary_table(rng):
    text = repr(MLP([4, 5, 5, 2], rng=rng))
    assert "67 parameters" in text and "float64" in text
    assert "Dense(4, 5)" in text and "W1 (4, 5), b1 (5,)" in text
    assert "Activation('relu')" in text
    lines = text.splitlines()
    assert lines[-1].split()[-1] == "67"  # total row
    assert len(lines) == 2 + 5 + 1  # title, header, 5 layers, total


def test_names_count_only_layers_with_parameters(rng):
    model = MLP([3, 4, 2], rng=rng, batchnorm=True, p_drop=0.5)
    # Dense(1) BatchNorm(2) ReLU Dropout Dense(3)
    assert model.param_names == ("W1", "b1", "gamma2", "beta2", "W3", "b3")
    ln = MLP([3, 4, 2], rng=rng, layernorm=True)
    assert ln.param_names == ("W1", "b1", "gamma2", "beta2", "W3", "b3")
    assert [type(layer).__name__ for layer in model.layers] == ["Dense", "BatchNorm", "Activation", "Dropout", "Dense"]


def test_layer_of_finds_the_layer_that_owns_a_parameter(rng):
    model = MLP([3, 4, 2], rng=rng, batchnorm=True, p_drop=0.5)
    # Dense(1) BatchNorm(2) ReLU Dropout Dense(3): W3 lives in the fifth layer
    assert model.layer_of("W3") == (5, model.layers[4])
    assert model.layer_of("gamma2") == (2, model.layers[1])
    with pytest.raises(KeyError, match=r"no parameter named 'W4'; the parameters are \['W1'"):
        model.layer_of("W4")


def test_sequential_is_its_layers_called_in_turn(rng):
    """Sequential adds no arithmetic of its own: forward and backward are the layers' own."""
    model = MLP([3, 5, 4, 2], rng=rng)
    x, _ = _data(rng, d=3)
    out, cache = model.forward(x)
    h, caches = x, []
    for layer in model.layers:
        h, c = layer.forward(h)
        caches.append(c)
    np.testing.assert_array_equal(out, h)
    dout = rng.standard_normal(out.shape)
    dx, grads = model.backward(dout, cache)
    d, by_hand = dout, {}
    for i in range(len(model.layers) - 1, -1, -1):
        d, g = model.layers[i].backward(d, caches[i])
        number = sum(1 for layer in model.layers[: i + 1] if layer.params)  # W1 b1 W2 b2 W3 b3
        by_hand.update({f"{k}{number}": v for k, v in g.items()})
    np.testing.assert_array_equal(dx, d)
    for name in model.param_names:
        np.testing.assert_array_equal(grads[name], by_hand[name])


def test_params_are_the_layers_own_arrays(rng):
    model = MLP([3, 4, 2], rng=rng)
    params = model.params
    assert params["W1"] is model.layers[0].params["W"]
    assert params["b2"] is model.layers[2].params["b"]
    x, _ = _data(rng, d=3)
    before = model.predict(x)
    params["b2"] += 1.0  # an optimizer's in-place update reaches the model
    assert np.allclose(model.predict(x), before + 1.0, rtol=1e-14)


def test_set_params_copies_in_place(rng):
    model = MLP([3, 4, 2], rng=rng)
    W1 = model.params["W1"]
    new = {k: np.full_like(v, 0.25) for k, v in model.params.items()}
    model.set_params(new)
    assert model.params["W1"] is W1 and np.all(W1 == 0.25)
    with pytest.raises(KeyError, match="W2"):
        model.set_params({"W1": new["W1"]})
    with pytest.raises(ShapeError, match="W1"):
        model.set_params({**new, "W1": np.zeros((2, 2))})


# =========================================================================== gradient checks
def _check_model_gradients(model, x, y, loss_name="softmax_cross_entropy", training=True, before_forward=None):
    """Gradient-check every parameter and the input of ``model`` through ``loss_name``."""
    loss = get_loss(loss_name)

    def f(_=None, x_=None):
        if before_forward is not None:
            before_forward()
        return loss.fn(model.forward(x if x_ is None else x_, training)[0], y)

    if before_forward is not None:
        before_forward()
    out, cache = model.forward(x, training)
    dx, grads = model.backward(loss.grad(out, y), cache)
    assert list(grads) == list(model.param_names)
    for name, p in model.params.items():
        err = rel_error(grads[name], numerical_gradient(f, p))
        assert err < TOL, f"{name}: relative error {err:.2e}"
    err = rel_error(dx, numerical_gradient(lambda v: f(x_=v), x.copy()))
    assert err < TOL, f"x: relative error {err:.2e}"


@pytest.mark.parametrize("activation", ["relu", "tanh", "sigmoid", "gelu", "leaky_relu", "elu"])
def test_end_to_end_gradcheck_mlp(activation, rng):
    model = MLP([4, 6, 5, 3], activation=activation, rng=rng)
    for p in model.params.values():  # nonzero biases: exercise db and move ReLU inputs off 0
        p += 0.1 * rng.standard_normal(p.shape)
    x, y = _data(rng)
    _check_model_gradients(model, x, y)


def test_end_to_end_gradcheck_with_batchnorm_training_mode(rng):
    model = MLP([4, 6, 5, 3], activation="tanh", rng=rng, batchnorm=True)
    for p in model.params.values():
        p += 0.1 * rng.standard_normal(p.shape)
    x, y = _data(rng)
    _check_model_gradients(model, x, y, training=True)
    _check_model_gradients(model, x, y, training=False)


def test_end_to_end_gradcheck_with_layernorm_and_dropout(rng):
    model = MLP([4, 6, 5, 3], activation="tanh", rng=rng, layernorm=True, p_drop=0.3)
    for p in model.params.values():
        p += 0.1 * rng.standard_normal(p.shape)
    dropouts = [layer for layer in model.layers if isinstance(layer, Dropout)]

    def same_masks():  # a fixed mask: every forward draws the same one
        for i, layer in enumerate(dropouts):
            layer.rng = np.random.default_rng(100 + i)

    x, y = _data(rng)
    _check_model_gradients(model, x, y, before_forward=same_masks)


@pytest.mark.parametrize(
    "loss_name, out_act, target",
    [
        ("half_mse", None, "real"),
        ("mse", "sigmoid", "real01"),
        ("binary_cross_entropy_with_logits", None, "binary"),
        ("binary_cross_entropy", "sigmoid", "binary"),
        ("kl_divergence", "softmax", "dist"),
    ],
)
def test_end_to_end_gradcheck_other_losses(loss_name, out_act, target, rng):
    model = MLP([3, 5, 2], activation="tanh", rng=rng, output_activation=out_act)
    x = rng.standard_normal((6, 3))
    y = {
        "real": rng.standard_normal((6, 2)),
        "real01": rng.uniform(0, 1, (6, 2)),
        "binary": rng.integers(0, 2, (6, 2)).astype(float),
        "dist": rng.dirichlet(np.ones(2), 6),
    }[target]
    _check_model_gradients(model, x, y, loss_name=loss_name)


def test_input_grad_false_skips_dx_and_gives_the_same_grads(rng):
    model = MLP([4, 6, 3], rng=rng, p_drop=0.0)
    x, y = _data(rng)
    out, cache = model.forward(x)
    dout = get_loss("softmax_cross_entropy").grad(out, y)
    dx, g1 = model.backward(dout, cache)
    none, g2 = model.backward(dout, cache, input_grad=False)
    assert dx.shape == x.shape and none is None
    for k in g1:
        assert np.array_equal(g1[k], g2[k])
    loss, g3 = loss_and_grads(model, x, y, "softmax_cross_entropy")
    assert loss == pytest.approx(get_loss("softmax_cross_entropy").fn(out, y), rel=1e-15)
    for k in g1:
        assert np.array_equal(g1[k], g3[k])


def test_input_grad_false_with_leading_parameterless_layers(rng):
    model = Sequential([Dropout(0.5, rng), Dense(3, 2, rng), Activation("tanh")])
    x = rng.standard_normal((5, 3))
    out, cache = model.forward(x)
    _, g_full = model.backward(np.ones_like(out), cache)
    dx, g = model.backward(np.ones_like(out), cache, input_grad=False)
    assert dx is None and set(g) == {"W1", "b1"}
    assert np.array_equal(g["W1"], g_full["W1"])


# =========================================================================== no mutation, modes
def test_forward_backward_do_not_mutate_inputs_or_params(rng):
    model = MLP([4, 6, 3], rng=rng, batchnorm=True, p_drop=0.2)
    x, y = _data(rng)
    xs, ys = x.copy(), y.copy()
    ps = {k: v.copy() for k, v in model.params.items()}
    out, cache = model.forward(x)
    dout = np.ones_like(out)
    ds = dout.copy()
    model.backward(dout, cache)
    loss_and_grads(model, x, y, "softmax_cross_entropy")
    assert np.array_equal(x, xs) and np.array_equal(y, ys) and np.array_equal(dout, ds)
    for k, v in model.params.items():
        assert np.array_equal(v, ps[k])


def test_predict_is_inference_mode(rng):
    model = MLP([4, 8, 3], rng=rng, batchnorm=True, p_drop=0.5)
    x, _ = _data(rng)
    a, b = model.predict(x), model.predict(x)
    assert np.array_equal(a, b)  # no dropout, running statistics
    assert np.array_equal(model(x), a)
    bn = model.layers[1]
    rm = bn.running_mean.copy()
    model.predict(x)
    assert np.array_equal(bn.running_mean, rm)
    model.forward(x, training=True)
    assert not np.array_equal(bn.running_mean, rm)


def test_plain_gradient_descent_learns_xor(rng):
    X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=float)
    y = np.array([0, 1, 1, 0])
    model = MLP([2, 8, 2], activation="tanh", rng=np.random.default_rng(1), init="xavier_normal")
    params = model.params
    for _ in range(500):
        loss, grads = loss_and_grads(model, X, y, "softmax_cross_entropy")
        for k in params:
            params[k] -= 0.5 * grads[k]
    assert loss < 0.05
    assert np.array_equal(model.predict(X).argmax(axis=1), y)


# =========================================================================== bad input
def test_wrong_input_width_names_the_layer_and_shapes(rng):
    model = MLP([4, 5, 2], rng=rng)
    with pytest.raises(ShapeError, match=r"x must have shape \(N, 4\) for layer 1 Dense\(4, 5\); got \(3, 7\)"):
        model.forward(np.ones((3, 7)))
    with pytest.raises(ShapeError, match="2-D"):
        model.forward(np.ones(4))
    with pytest.raises(ShapeError, match="2-D"):
        model.forward([[[1.0] * 4]])


def test_bad_values_in_input(rng):
    model = MLP([2, 3, 2], rng=rng)
    x = np.ones((3, 2))
    x[1, 0] = np.nan
    with pytest.raises(ValueError, match=r"x must be finite.*\(1, 0\)"):
        model.forward(x)
    with pytest.raises(ValueError, match="x must be finite"):
        model.forward(np.array([[1.0, np.inf]], dtype=np.float32))
    with pytest.raises(ValueError, match="empty"):
        model.forward(np.ones((0, 2)))
    with pytest.raises(TypeError, match="x must hold real numbers"):
        model.forward(np.array([["a", "b"]]))
    with pytest.raises(ValueError, match="same number of samples"):
        loss_and_grads(model, np.ones((3, 2)), np.array([0, 1]), "softmax_cross_entropy")
    with pytest.raises(ValueError, match="loss name"):
        loss_and_grads(model, np.ones((3, 2)), np.array([0, 1, 1]), "cross_entropy")


def test_backward_checks_dout_shape(rng):
    model = MLP([2, 3, 2], rng=rng)
    out, cache = model.forward(np.ones((4, 2)))
    with pytest.raises(ShapeError, match=r"dout must have the shape of the model output \(4, 2\); got \(4, 3\)"):
        model.backward(np.ones((4, 3)), cache)
    dx, grads = model.backward(np.ones((4, 2)).tolist(), cache)  # a list is converted
    assert dx.shape == (4, 2)


def test_sequential_construction_errors(rng):
    with pytest.raises(ShapeError, match=r"layer 3 Dense\(6, 2\) expects inputs of width 6, but layer 1 Dense\(4, 5\) outputs width 5"):
        Sequential([Dense(4, 5, rng), Activation("relu"), Dense(6, 2, rng)])
    with pytest.raises(ShapeError, match="BatchNorm"):
        Sequential([Dense(4, 5, rng), BatchNorm(4)])
    with pytest.raises(ValueError, match="at least one layer"):
        Sequential([])
    with pytest.raises(TypeError, match="not a Layer"):
        Sequential([Dense(2, 2, rng), "relu"])
    with pytest.raises(TypeError, match="dtype"):
        Sequential([Dense(2, 2, rng), Dense(2, 2, rng, dtype=np.float32)])


def test_mlp_argument_errors(rng):
    with pytest.raises(TypeError, match="rng must be a numpy.random.Generator"):
        MLP([2, 3, 1])
    with pytest.raises(ValueError, match="sizes"):
        MLP([2], rng=rng)
    with pytest.raises(ValueError, match="sizes"):
        MLP([2, 0, 1], rng=rng)
    with pytest.raises(TypeError, match="sizes"):
        MLP([2, 3.5, 1], rng=rng)
    with pytest.raises(ValueError, match="not both"):
        MLP([2, 3, 1], rng=rng, batchnorm=True, layernorm=True)
    with pytest.raises(ValueError, match="p_drop"):
        MLP([2, 3, 1], rng=rng, p_drop=1.0)
    with pytest.raises(ValueError, match="activation"):
        MLP([2, 3, 1], rng=rng, activation="swish")


def test_mlp_is_reproducible_from_a_seed():
    a = MLP([3, 4, 2], rng=np.random.default_rng(5))
    b = MLP([3, 4, 2], rng=np.random.default_rng(5))
    for k in a.params:
        assert np.array_equal(a.params[k], b.params[k])


def test_mlp_custom_initializer_callable(rng):
    model = MLP([3, 4, 2], rng=rng, init=partial(constant, value=0.5))
    assert np.all(model.params["W1"] == 0.5) and np.all(model.params["b1"] == 0)


# =========================================================================== dtypes
def test_float32_model_stays_float32(rng):
    model = MLP([4, 6, 3], rng=rng, dtype=np.float32, batchnorm=True, p_drop=0.1)
    assert model.dtype == np.float32 and "float32" in repr(model)
    x, y = _data(rng)  # float64 data is converted to the model's dtype
    out, cache = model.forward(x)
    assert out.dtype == np.float32
    dx, grads = model.backward(np.ones_like(out), cache)
    assert dx.dtype == np.float32
    assert all(g.dtype == np.float32 for g in grads.values())
    loss, grads = loss_and_grads(model, x, y, "softmax_cross_entropy")
    assert all(g.dtype == np.float32 for g in grads.values())
    assert all(p.dtype == np.float32 for p in model.params.values())
    assert model.layers[1].running_mean.dtype == np.float32


def test_integer_and_list_inputs_are_converted(rng):
    model = MLP([2, 3, 2], rng=rng)
    a = model.predict([[1, 2], [3, 4]])
    b = model.predict(np.array([[1.0, 2.0], [3.0, 4.0]]))
    assert a.dtype == np.float64 and np.array_equal(a, b)


@settings(max_examples=25, deadline=None)
@given(
    sizes=st.lists(st.integers(1, 6), min_size=2, max_size=4),
    n=st.integers(2, 6),
    dtype=st.sampled_from([np.float32, np.float64]),
    activation=st.sampled_from(["relu", "tanh", "sigmoid", "gelu"]),
    norm=st.sampled_from([None, "batch", "layer"]),
)
def test_property_model_shapes_and_dtypes(sizes, n, dtype, activation, norm):
    rng = np.random.default_rng(sum(sizes) + n)
    model = MLP(sizes, activation=activation, rng=rng, dtype=dtype,
                batchnorm=norm == "batch", layernorm=norm == "layer")
    x = rng.standard_normal((n, sizes[0])).astype(dtype)
    out, cache = model.forward(x)
    assert out.shape == (n, sizes[-1]) and out.dtype == dtype
    dx, grads = model.backward(np.ones_like(out), cache)
    assert dx.shape == x.shape and dx.dtype == dtype
    params = model.params
    assert list(grads) == list(params)
    for k, p in params.items():
        assert grads[k].shape == p.shape and grads[k].dtype == dtype == p.dtype
    expected = sum(a * b + b for a, b in zip(sizes[:-1], sizes[1:])) + (2 * sum(sizes[1:-1]) if norm else 0)
    assert model.n_params == expected


# =========================================================================== oracle
@pytest.mark.oracle
@pytest.mark.parametrize("batchnorm", [False, True])
def test_oracle_full_mlp_forward_backward_vs_torch(batchnorm, torch, rng):
    F = torch.nn.functional
    sizes = [5, 7, 6, 4]
    model = MLP(sizes, activation="relu", rng=rng, batchnorm=batchnorm)
    for p in model.params.values():
        p += 0.1 * rng.standard_normal(p.shape)
    x, y = _data(rng, n=9, d=5, k=4)
    loss, grads = loss_and_grads(model, x, y, "softmax_cross_entropy")
    out, cache = model.forward(x)
    dx, _ = model.backward(get_loss("softmax_cross_entropy").grad(out, y), cache)

    tp = {k: torch.tensor(v.copy(), requires_grad=True) for k, v in model.params.items()}
    xt = torch.tensor(x, requires_grad=True)
    h = xt
    idx = 1
    for i in range(len(sizes) - 1):
        h = F.linear(h, tp[f"W{idx}"].T, tp[f"b{idx}"])  # F.linear wants (out, in): our W transposed
        idx += 1
        if i < len(sizes) - 2:
            if batchnorm:
                h = F.batch_norm(h, None, None, tp[f"gamma{idx}"], tp[f"beta{idx}"], training=True, eps=1e-5)
                idx += 1
            h = F.relu(h)
    lt = F.cross_entropy(h, torch.tensor(y))
    lt.backward()
    assert abs(loss - lt.item()) <= ORACLE_TOL * abs(lt.item())
    assert rel_error(out, h.detach().numpy()) <= ORACLE_TOL
    assert rel_error(dx, xt.grad.numpy()) <= ORACLE_TOL
    for k in model.param_names:
        if batchnorm and k in ("b1", "b3"):
            # a bias right before BatchNorm is subtracted out again: its gradient is exactly 0,
            # and both sides hold only round-off (~1e-17)
            assert np.abs(grads[k]).max() < 1e-14 and np.abs(tp[k].grad.numpy()).max() < 1e-14
            continue
        assert rel_error(grads[k], tp[k].grad.numpy()) <= ORACLE_TOL, k


@pytest.mark.parametrize("activation", ["relu", "tanh"])
def test_backward_accepts_the_layers_own_caches_in_a_list(activation):
    rng = np.random.default_rng(3)
    model = MLP([4, 6, 5, 3], activation=activation, rng=rng)
    x = rng.standard_normal((7, 4))
    dout = rng.standard_normal((7, 3))
    out, cache = model.forward(x.copy(), training=True)
    dx, grads = model.backward(dout.copy(), cache)
    caches, h = [], x.copy()
    for layer in model.layers:  # what a demo does to keep every hidden activation
        h, c = layer.forward(h, True)
        caches.append(c)
    np.testing.assert_allclose(h, out, rtol=1e-12)
    dx2, grads2 = model.backward(dout.copy(), caches)
    np.testing.assert_allclose(dx2, dx, rtol=1e-12)
    for k in grads:
        np.testing.assert_allclose(grads2[k], grads[k], rtol=1e-12)
