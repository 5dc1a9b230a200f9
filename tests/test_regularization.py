"""Tests for nnkit.regularization: penalties (hand values, gradient checks, slip 18) and early stopping."""
import copy

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from nnkit._validate import ShapeError
from nnkit.gradcheck import numerical_gradient, rel_error
from nnkit.optimizers import SGD
from nnkit.regularization import (
    EarlyStopping,
    default_penalty_names,
    l1_grad,
    l1_penalty,
    l2_grad,
    l2_penalty,
)


@pytest.fixture
def params():
    return {"W1": np.array([[1.0, -2.0], [3.0, 0.0]]), "b1": np.array([10.0, -10.0]), "W2": np.array([[-4.0], [0.5]])}


# ----------------------------------------------------------------------------------------------
# penalties: hand values
# ----------------------------------------------------------------------------------------------
def test_default_names_are_weight_matrices_only(params):
    assert default_penalty_names(params) == ["W1", "W2"]
    assert default_penalty_names({"W1": 0, "b1": 0, "gamma2": 0, "beta2": 0, "W3": 0}) == ["W1", "W3"]


def test_l2_penalty_hand_value(params):
    # (0.1/2) * (1 + 4 + 9 + 0 + 16 + 0.25) = 0.05 * 30.25 = 1.5125 ; the biases (10, -10) are ignored
    assert l2_penalty(params, 0.1) == pytest.approx(1.5125, rel=1e-15)
    # with the biases selected: + 0.05 * 200 = 10
    assert l2_penalty(params, 0.1, names=["W1", "b1", "W2"]) == pytest.approx(11.5125, rel=1e-15)
    assert l2_penalty(params, 0.1, names="b1") == pytest.approx(10.0, rel=1e-15)


def test_l1_penalty_hand_value(params):
    # 0.1 * (1 + 2 + 3 + 0 + 4 + 0.5) = 0.1 * 10.5 = 1.05
    assert l1_penalty(params, 0.1) == pytest.approx(1.05, rel=1e-15)


def test_l2_grad_hand_value(params):
    grads = l2_grad(params, 0.1)
    np.testing.assert_allclose(grads["W1"], [[0.1, -0.2], [0.3, 0.0]], rtol=1e-15)  # lam * w
    np.testing.assert_allclose(grads["W2"], [[-0.4], [0.05]], rtol=1e-15)
    np.testing.assert_array_equal(grads["b1"], [0.0, 0.0])  # biases not penalised
    assert set(grads) == set(params)


def test_l1_grad_hand_value_and_zero_at_zero(params):
    grads = l1_grad(params, 0.1)
    # lam * sign(w), and sign(0) = 0 at the kink
    np.testing.assert_array_equal(grads["W1"], [[0.1, -0.1], [0.1, 0.0]])
    np.testing.assert_array_equal(grads["W2"], [[-0.1], [0.1]])
    np.testing.assert_array_equal(grads["b1"], [0.0, 0.0])


def test_lambda_zero_means_no_penalty(params):
    assert l2_penalty(params, 0.0) == 0.0 and l1_penalty(params, 0.0) == 0.0
    assert all(not g.any() for g in l2_grad(params, 0.0).values())


# ----------------------------------------------------------------------------------------------
# gradient checks
# ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("penalty, grad", [(l2_penalty, l2_grad), (l1_penalty, l1_grad)])
@pytest.mark.parametrize("names", [None, ["W1", "b1"]])
def test_penalty_gradients_match_numerical_gradient(penalty, grad, names, rng):
    params = {"W1": rng.standard_normal((4, 3)), "b1": rng.standard_normal(3), "W2": rng.standard_normal((3, 2))}
    # keep L1 away from its kink at 0 (|w| >= 0.1 >> h)
    for p in params.values():
        p += 0.1 * np.sign(p)
    analytic = grad(params, 0.3, names)
    for key in params:
        numeric = numerical_gradient(lambda _: penalty(params, 0.3, names), params[key])
        assert rel_error(analytic[key], numeric) < 1e-8, key


# ----------------------------------------------------------------------------------------------
# slip 18: the update rules
# ----------------------------------------------------------------------------------------------
def test_l2_update_rule_is_weight_decay():
    """w <- w - eta*(dLoss/dw + lam*w) = (1 - eta*lam)*w - eta*dLoss/dw."""
    w = np.array([2.0, -1.0])
    dloss = np.array([0.5, 0.5])
    eta, lam = 0.1, 0.2
    params = {"W1": w.copy()}
    reg = l2_grad(params, lam)
    SGD(eta).step(params, {"W1": dloss + reg["W1"]}, {"t": 0})
    # [2 - 0.1*(0.5 + 0.4), -1 - 0.1*(0.5 - 0.2)] = [1.91, -1.03] = 0.98*w - 0.1*dloss
    np.testing.assert_allclose(params["W1"], [1.91, -1.03], rtol=1e-15)
    np.testing.assert_allclose(params["W1"], (1 - eta * lam) * w - eta * dloss, rtol=1e-15)


def test_l1_update_rule_moves_towards_zero_by_a_fixed_amount():
    """w <- w - eta*(dLoss/dw + lam*sign(w))."""
    w = np.array([2.0, -1.0, 0.0])
    dloss = np.zeros(3)
    eta, lam = 0.1, 0.2
    params = {"W1": w.copy()}
    SGD(eta).step(params, {"W1": dloss + l1_grad(params, lam)["W1"]}, {"t": 0})
    # every nonzero weight moves 0.1*0.2 = 0.02 towards 0, whatever its size; 0 stays 0
    np.testing.assert_allclose(params["W1"], [1.98, -0.98, 0.0], rtol=1e-15)


def test_slide_sign_slip_would_increase_the_penalty():
    # the slide's "+ eta * (...)" climbs the penalty instead of descending it
    params = {"W1": np.array([2.0, -1.0])}
    eta, lam = 0.1, 0.2
    right = params["W1"] - eta * l2_grad(params, lam)["W1"]
    wrong = params["W1"] + eta * l2_grad(params, lam)["W1"]
    before = l2_penalty(params, lam)
    assert l2_penalty({"W1": right}, lam) < before < l2_penalty({"W1": wrong}, lam)


# ----------------------------------------------------------------------------------------------
# properties and bad input for penalties
# ----------------------------------------------------------------------------------------------
@settings(max_examples=40, deadline=None)
@given(
    dtype=st.sampled_from([np.float32, np.float64]),
    shape=hnp.array_shapes(min_dims=1, max_dims=3, max_side=4),
    lam=st.floats(0, 10),
    data=st.data(),
)
def test_property_grads_keep_shapes_and_dtypes_and_penalties_are_nonnegative(dtype, shape, lam, data):
    W = data.draw(hnp.arrays(dtype, shape, elements=st.floats(-100, 100, width=32)))
    b = data.draw(hnp.arrays(dtype, shape[-1:], elements=st.floats(-100, 100, width=32)))
    params = {"W1": W, "b1": b}
    before = copy.deepcopy(params)
    for grad in (l1_grad, l2_grad):
        out = grad(params, lam)
        for k in params:
            assert out[k].shape == params[k].shape and out[k].dtype == dtype
            assert not np.shares_memory(out[k], params[k])
    assert l1_penalty(params, lam) >= 0 and l2_penalty(params, lam) >= 0
    for k in params:
        np.testing.assert_array_equal(params[k], before[k])


def test_penalty_bad_input(params):
    with pytest.raises(ValueError, match="lam must be >= 0; got -0.1"):
        l2_penalty(params, -0.1)
    with pytest.raises(KeyError, match="W9"):
        l1_grad(params, 0.1, names=["W9"])
    with pytest.raises(ValueError, match=r"params\['W1'\] must be finite"):
        l2_penalty({"W1": np.array([np.nan])}, 0.1)
    with pytest.raises(TypeError, match="params"):
        l1_penalty([np.ones(2)], 0.1)


# ----------------------------------------------------------------------------------------------
# early stopping
# ----------------------------------------------------------------------------------------------
def run(es, metrics, params=None):
    """Feed metrics epoch by epoch; param W1 records the epoch. Returns the epoch it stopped at."""
    params = params if params is not None else {"W1": np.zeros(2)}
    for epoch, m in enumerate(metrics):
        params["W1"][...] = epoch
        if es.update(m, params, epoch):
            return epoch
    return None


def test_early_stopping_patience_and_best_epoch():
    es = EarlyStopping(patience=3)
    # best at epoch 1 (0.8); epochs 2, 3, 4 do not improve -> stop at epoch 4
    assert run(es, [1.0, 0.8, 0.85, 0.9, 0.95, 0.1]) == 4
    assert es.best_epoch == 1 and es.best_metric == 0.8 and es.stopped_epoch == 4
    np.testing.assert_array_equal(es.best_params["W1"], [1.0, 1.0])  # a copy taken at epoch 1


def test_improvement_resets_the_counter():
    es = EarlyStopping(patience=2)
    assert run(es, [1.0, 1.1, 0.9, 1.0, 0.95, 0.97]) == 4
    assert es.best_epoch == 2


def test_patience_zero_stops_at_first_non_improvement():
    es = EarlyStopping(patience=0)
    assert run(es, [1.0, 0.9, 0.95]) == 2


def test_min_delta():
    es = EarlyStopping(patience=1, min_delta=0.01)
    # 0.995 is better than 1.0 but not by more than 0.01: not an improvement
    assert run(es, [1.0, 0.995]) == 1
    assert es.best_epoch == 0
    es = EarlyStopping(patience=1, min_delta=0.01)
    assert run(es, [1.0, 0.98, 0.975]) == 2 and es.best_epoch == 1


def test_mode_max_for_accuracy():
    es = EarlyStopping(patience=2, mode="max")
    assert run(es, [0.5, 0.7, 0.69, 0.7]) == 3
    assert es.best_epoch == 1 and es.best_metric == 0.7


def test_best_params_are_copies_and_restore_works_in_place():
    W = np.zeros(2)
    params = {"W1": W}
    es = EarlyStopping(patience=2)
    run(es, [1.0, 0.5, 0.7, 0.8], params)
    np.testing.assert_array_equal(W, [3.0, 3.0])  # training moved on
    assert not np.shares_memory(es.best_params["W1"], W)
    es.restore(params)
    assert params["W1"] is W  # same array object, values put back
    np.testing.assert_array_equal(W, [1.0, 1.0])


def test_update_never_mutates_params_and_keeps_returning_true():
    es = EarlyStopping(patience=1)
    params = {"W1": np.array([1.0, 2.0])}
    es.update(1.0, params)
    assert es.update(2.0, params) is True
    assert es.update(0.1, params) is True  # already stopped
    np.testing.assert_array_equal(params["W1"], [1.0, 2.0])
    assert es.best_epoch == 2  # the epoch counter defaults to the number of calls


def test_restore_before_update_and_mismatch():
    es = EarlyStopping(patience=1)
    with pytest.raises(RuntimeError, match="update"):
        es.restore({"W1": np.zeros(2)})
    es.update(1.0, {"W1": np.zeros(2)})
    with pytest.raises(KeyError):
        es.restore({"W2": np.zeros(2)})
    with pytest.raises(ShapeError, match=r"params\['W1'\] has shape \(3,\)"):
        es.restore({"W1": np.zeros(3)})


def test_reset_and_repr():
    es = EarlyStopping(patience=1)
    run(es, [1.0, 2.0])
    es.reset()
    assert es.best_epoch is None and es.best_metric is None and es.wait == 0 and es.stopped_epoch is None
    assert "patience=1" in repr(es) and "mode='min'" in repr(es)


def test_early_stopping_validation():
    with pytest.raises(ValueError, match="patience"):
        EarlyStopping(patience=-1)
    with pytest.raises(ValueError, match="patience"):
        EarlyStopping(patience=2.5)
    with pytest.raises(ValueError, match="min_delta"):
        EarlyStopping(patience=1, min_delta=-0.1)
    with pytest.raises(ValueError, match="mode"):
        EarlyStopping(patience=1, mode="lowest")
    es = EarlyStopping(patience=1)
    with pytest.raises(ValueError, match="metric must be finite"):
        es.update(float("nan"), {"W1": np.zeros(1)})
    with pytest.raises(TypeError, match="metric"):
        es.update("0.5", {"W1": np.zeros(1)})
    assert es.update(np.float32(0.5), {"W1": np.zeros(1)}) is False
    assert es.update(np.array(0.4), {"W1": np.zeros(1)}) is False
