"""Tests for nnkit.optimizer_base: the contract every optimizer shares (the nine are in test_optimizers.py)."""
import numpy as np
import pytest

from nnkit import optimizers
from nnkit.optimizer_base import Optimizer


class Halve(Optimizer):
    """A toy optimizer: the subclass states only its update rule, ``w <- w - lr * g`` plus a counter."""

    name = "halve"
    slots = ("calls",)

    def _update(self, p, g, t, calls):
        p -= self.lr * g
        calls += 1
        self.seen.append(t)


def test_a_subclass_states_only_its_update_and_step_does_the_rest():
    opt = Halve(lr=0.5)
    opt.seen = []
    params = {"W1": np.ones((2, 2)), "b1": np.zeros(2)}
    state = opt.init_state(params)
    assert state["t"] == 0 and set(state) == {"t", "calls"}
    for _ in range(2):
        opt.step(params, {"W1": np.ones((2, 2)), "b1": np.ones(2)}, state)
    assert state["t"] == 2 and opt.seen == [1, 1, 2, 2]  # once per array, with the new step count
    np.testing.assert_array_equal(params["W1"], 0.0)
    np.testing.assert_array_equal(state["calls"]["b1"], 2.0)
    assert repr(opt) == "Halve(lr=0.5)"


def test_step_checks_everything_before_the_first_update():
    opt = Halve(lr=0.5)
    opt.seen = []
    params = {"W1": np.ones((2, 2)), "b1": np.zeros(2)}
    state = opt.init_state(params)
    with pytest.raises(ValueError, match=r"gradient of parameter 'b1' is not finite"):
        opt.step(params, {"W1": np.ones((2, 2)), "b1": np.array([0.0, np.nan])}, state)
    assert opt.seen == [] and state["t"] == 0
    np.testing.assert_array_equal(params["W1"], 1.0)


def test_the_base_class_is_importable_from_nnkit_optimizers_too():
    assert optimizers.Optimizer is Optimizer
    assert all(issubclass(cls, Optimizer) for cls in optimizers.OPTIMIZERS.values())
