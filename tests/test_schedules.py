"""Tests for nnkit.schedules: hand values, arrays, validation, repr, properties."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nnkit.optimizers import SGD
from nnkit.schedules import SCHEDULES, Schedule, exponential_decay, inverse_time, step_decay


def test_inverse_time_hand_values():
    sched = inverse_time(c1=1.0, c2=10.0)
    # alpha_0 = 1/(0 + 10) = 0.1 ; alpha_10 = 1/20 = 0.05 ; alpha_90 = 1/100 = 0.01
    assert sched(0) == pytest.approx(0.1, rel=1e-15)
    assert sched(10) == pytest.approx(0.05, rel=1e-15)
    assert sched(90) == pytest.approx(0.01, rel=1e-15)
    assert isinstance(sched(3), float)


def test_step_decay_hand_values():
    sched = step_decay(lr0=0.1, factor=0.5, every=10)
    # k = 0..9 -> 0.1 ; 10..19 -> 0.05 ; 25 -> 0.1 * 0.5**2 = 0.025
    assert [sched(k) for k in (0, 9, 10, 19, 20, 25)] == pytest.approx([0.1, 0.1, 0.05, 0.05, 0.025, 0.025], rel=1e-15)


def test_exponential_decay_hand_values():
    sched = exponential_decay(lr0=0.1, gamma=0.9)
    # 0.1 * 0.9**k: 0.1, 0.09, 0.081
    assert [sched(k) for k in range(3)] == pytest.approx([0.1, 0.09, 0.081], rel=1e-14)


def test_schedules_accept_arrays_for_plotting():
    ks = np.arange(5)
    np.testing.assert_allclose(inverse_time(2.0, 4.0)(ks), 2.0 / (ks + 4.0), rtol=1e-15)
    np.testing.assert_allclose(exponential_decay(1.0, 0.5)(ks), 0.5**ks, rtol=1e-15)
    np.testing.assert_allclose(step_decay(1.0, 0.1, 2)(ks), [1.0, 1.0, 0.1, 0.1, 0.01], rtol=1e-14)
    assert inverse_time(1.0, 1.0)(ks).shape == (5,)
    # integral-valued floats are accepted as indices
    assert inverse_time(1.0, 1.0)(3.0) == pytest.approx(0.25)


@pytest.mark.oracle
def test_step_and_exponential_match_torch_schedulers(torch):
    for ours, make in [
        (step_decay(0.1, 0.5, 3), lambda opt: torch.optim.lr_scheduler.StepLR(opt, step_size=3, gamma=0.5)),
        (exponential_decay(0.1, 0.9), lambda opt: torch.optim.lr_scheduler.ExponentialLR(opt, gamma=0.9)),
    ]:
        opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
        sched = make(opt)
        for k in range(12):
            assert ours(k) == pytest.approx(opt.param_groups[0]["lr"], rel=1e-10)
            opt.step()
            sched.step()


def test_repr_and_equality():
    assert repr(inverse_time(1.0, 10.0)) == "inverse_time(c1=1.0, c2=10.0)"
    assert repr(step_decay(0.1, 0.5, 10)) == "step_decay(lr0=0.1, factor=0.5, every=10)"
    assert repr(exponential_decay(0.1, 0.9)) == "exponential_decay(lr0=0.1, gamma=0.9)"
    assert inverse_time(1, 2) == inverse_time(1.0, 2.0) and inverse_time(1, 2) != inverse_time(1, 3)
    assert set(SCHEDULES) == {"inverse_time", "step_decay", "exponential_decay"}
    assert all(issubclass(c, Schedule) for c in SCHEDULES.values())


def test_schedule_drives_an_optimizer():
    sched = inverse_time(1.0, 10.0)
    opt = SGD(sched(0))
    params = {"w": np.array([0.0])}
    state = opt.init_state(params)
    for k in range(3):
        opt.lr = sched(k)
        opt.step(params, {"w": np.array([1.0])}, state)
    # w = -(1/10 + 1/11 + 1/12)
    assert params["w"][0] == pytest.approx(-(1 / 10 + 1 / 11 + 1 / 12), rel=1e-15)


@pytest.mark.parametrize(
    "make, name",
    [
        (lambda v: inverse_time(v, 1.0), "c1"),
        (lambda v: inverse_time(1.0, v), "c2"),
        (lambda v: step_decay(v, 0.5, 2), "lr0"),
        (lambda v: exponential_decay(v, 0.9), "lr0"),
    ],
)
@pytest.mark.parametrize("value", [0.0, -1.0])
def test_positive_constants_required(make, name, value):
    with pytest.raises(ValueError, match=rf"{name} must be > 0; got {value}"):
        make(value)


def test_factor_gamma_every_validated():
    with pytest.raises(ValueError, match="factor"):
        step_decay(0.1, 1.5, 2)
    with pytest.raises(ValueError, match="factor"):
        step_decay(0.1, 0.0, 2)
    with pytest.raises(ValueError, match="gamma"):
        exponential_decay(0.1, 1.1)
    with pytest.raises(ValueError, match="every"):
        step_decay(0.1, 0.5, 0)
    with pytest.raises(TypeError, match="every must be an integer >= 1; got float 2.5"):
        step_decay(0.1, 0.5, 2.5)


def test_index_validated():
    sched = inverse_time(1.0, 1.0)
    with pytest.raises(ValueError, match="k must be >= 0"):
        sched(-1)
    with pytest.raises(ValueError, match="k must be >= 0"):
        sched(np.array([0, -2]))
    with pytest.raises(TypeError, match="k must be an integer"):
        sched(1.5)
    with pytest.raises(TypeError, match="k must be an integer"):
        sched(True)
    with pytest.raises(TypeError, match="k must be an integer"):
        sched("3")


@settings(max_examples=50, deadline=None)
@given(
    which=st.sampled_from(["inverse_time", "step_decay", "exponential_decay"]),
    a=st.floats(1e-4, 10),
    b=st.floats(0.05, 1.0),
    every=st.integers(1, 20),
    n=st.integers(1, 200),
)
def test_property_positive_and_non_increasing(which, a, b, every, n):
    sched = {
        "inverse_time": lambda: inverse_time(a, b * 100),
        "step_decay": lambda: step_decay(a, b, every),
        "exponential_decay": lambda: exponential_decay(a, b),
    }[which]()
    rates = sched(np.arange(n))
    assert rates.shape == (n,) and rates.dtype == np.float64
    assert np.all(rates >= 0) and rates[0] > 0
    assert np.all(np.diff(rates) <= 0)
    assert rates[0] == pytest.approx(sched(0))
