"""Tests for nnkit.trajectories: an optimizer run on a gradient function (the loss-surface demos)."""
import numpy as np
import pytest

from nnkit import optimizers
from nnkit._validate import ShapeError
from nnkit.gradcheck import rel_error
from nnkit.optimizers import SGD, Nesterov
from nnkit.trajectories import nesterov_sutskever_path, optimize_path


def test_the_paths_are_importable_from_nnkit_optimizers_too():
    assert optimizers.optimize_path is optimize_path
    assert optimizers.nesterov_sutskever_path is nesterov_sutskever_path


def quadratic_grad(w):
    # f(w) = 0.5 * (w0**2 + 25 w1**2): an ill-conditioned bowl
    return np.array([1.0, 25.0]) * w


def rosenbrock_grad(w):
    x, y = w
    return np.array([-2 * (1 - x) - 400 * x * (y - x * x), 200 * (y - x * x)])


@pytest.mark.parametrize("grad_fn, lr, w0", [(quadratic_grad, 0.02, [2.0, 1.5]), (rosenbrock_grad, 1e-3, [-1.2, 1.0])])
def test_nesterov_pytorch_form_equals_sutskever_lookahead_points(grad_fn, lr, w0):
    mu, n = 0.9, 60
    pt = optimize_path(Nesterov(lr, mu), grad_fn, w0, n)
    w_s, v_s = nesterov_sutskever_path(grad_fn, w0, lr, mu, n)
    # the PyTorch iterate is the Sutskever look-ahead point w + mu v, at every step
    assert rel_error(pt, w_s + mu * v_s) < 1e-12
    # the velocities agree up to the factor -lr
    params = {"w": np.array(w0, dtype=float)}
    opt = Nesterov(lr, mu)
    state = opt.init_state(params)
    for k in range(n):
        opt.step(params, {"w": grad_fn(params["w"].copy())}, state)
        assert rel_error(-lr * state["v"]["w"], v_s[k + 1]) < 1e-12
    assert pt.shape == w_s.shape == (n + 1, 2)


def test_nesterov_paths_converge_to_the_same_minimum():
    pt = optimize_path(Nesterov(0.02, 0.9), quadratic_grad, [2.0, 1.5], 400)
    w_s, _ = nesterov_sutskever_path(quadratic_grad, [2.0, 1.5], 0.02, 0.9, 400)
    np.testing.assert_allclose(pt[-1], [0.0, 0.0], atol=1e-8)
    np.testing.assert_allclose(w_s[-1], [0.0, 0.0], atol=1e-8)


def test_optimize_path_does_not_modify_w0_and_starts_there():
    w0 = np.array([2.0, 1.5])
    path = optimize_path(SGD(0.01), quadratic_grad, w0, 3)
    np.testing.assert_array_equal(w0, [2.0, 1.5])
    np.testing.assert_array_equal(path[0], w0)
    # SGD on the bowl: each coordinate shrinks by (1 - lr*a) per step: 0.99 and 0.75
    np.testing.assert_allclose(path[3], [2.0 * 0.99**3, 1.5 * 0.75**3], rtol=1e-14)


def test_path_helpers_validate():
    with pytest.raises(ValueError, match="n_steps"):
        optimize_path(SGD(0.1), quadratic_grad, [1.0, 1.0], -1)
    with pytest.raises(ValueError, match="lr"):
        nesterov_sutskever_path(quadratic_grad, [1.0, 1.0], 0.0)
    with pytest.raises(ShapeError, match="grad_fn"):
        optimize_path(SGD(0.1), lambda w: np.zeros(3), [1.0, 1.0], 2)
    with pytest.raises(ValueError, match="non-finite"):
        optimize_path(SGD(0.1), lambda w: w * np.nan, [1.0, 1.0], 2)
