"""Tests for nnkit.schedules: hand values, arrays, validation, repr, properties; oracle tests step
torch.optim.lr_scheduler schedulers (StepLR, ExponentialLR, CosineAnnealingLR, LinearLR, SequentialLR)
on an optimizer and compare the rate of every step."""
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nnkit.optimizers import SGD
from nnkit.schedules import (
    SCHEDULES,
    Schedule,
    cosine_annealing,
    exponential_decay,
    inverse_time,
    linear_warmup,
    sequential,
    step_decay,
)


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
    assert set(SCHEDULES) == {"inverse_time", "step_decay", "exponential_decay", "cosine_annealing", "linear_warmup"}
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


# ----------------------------------------------------------------------------------------------
# cosine annealing, linear warmup and their composition
# ----------------------------------------------------------------------------------------------
def test_cosine_annealing_hand_values():
    sched = cosine_annealing(lr0=0.1, T_max=4)
    # 0.1 * (1 + cos(pi k/4)) / 2:  k=0: 0.1 ; k=1: 0.1 * (1 + 0.7071068)/2 = 0.0853553 ; k=2: 0.05 ; k=4: 0
    assert sched(0) == pytest.approx(0.1, rel=1e-15)
    assert sched(1) == pytest.approx(0.1 * (1 + np.sqrt(0.5)) / 2, rel=1e-15)
    assert sched(2) == pytest.approx(0.05, rel=1e-15)
    assert sched(4) == pytest.approx(0.0, abs=1e-18)
    # past T_max the cosine goes on (as PyTorch's): back up to lr0 at k = 2 T_max = 8
    assert sched(6) == pytest.approx(0.05, rel=1e-14) and sched(8) == pytest.approx(0.1, rel=1e-15)
    with_floor = cosine_annealing(lr0=0.1, T_max=4, eta_min=0.02)
    # k=2: 0.02 + (0.1 - 0.02) * (1 + 0)/2 = 0.06 ; k=4: eta_min
    assert with_floor(2) == pytest.approx(0.06, rel=1e-15)
    assert with_floor(4) == pytest.approx(0.02, rel=1e-15)


def test_linear_warmup_hand_values():
    sched = linear_warmup(lr0=0.1, start_factor=0.25, end_factor=1.0, total_iters=3)
    # 0.1 * (0.25 + 0.75 * min(k, 3)/3): 0.025, 0.05, 0.075, 0.1, then 0.1 for ever
    assert [sched(k) for k in (0, 1, 2, 3, 4, 100)] == pytest.approx([0.025, 0.05, 0.075, 0.1, 0.1, 0.1], rel=1e-15)
    # PyTorch's defaults: start 1/3, end 1, 5 steps
    assert linear_warmup(0.3)(0) == pytest.approx(0.1, rel=1e-15) and linear_warmup(0.3)(5) == pytest.approx(0.3)
    # end_factor < start_factor ramps down instead
    assert linear_warmup(1.0, start_factor=1.0, end_factor=0.5, total_iters=2)(np.arange(4)) == pytest.approx(
        [1.0, 0.75, 0.5, 0.5], rel=1e-15)


def test_sequential_warmup_then_cosine_hand_values():
    warm = linear_warmup(lr0=0.1, start_factor=0.25, total_iters=3)
    cos = cosine_annealing(lr0=0.1, T_max=4)
    sched = sequential([warm, cos], milestones=[3])
    # k = 0, 1, 2: the ramp (0.025, 0.05, 0.075); k = 3: cos(0) = 0.1 (the cosine restarts its own k at 0)
    # k = 5: cos(2) = 0.05 ; k = 7: cos(4) = 0
    expected = [0.025, 0.05, 0.075, 0.1, 0.1 * (1 + np.sqrt(0.5)) / 2, 0.05, 0.1 * (1 - np.sqrt(0.5)) / 2, 0.0]
    np.testing.assert_allclose(sched(np.arange(8)), expected, rtol=1e-14, atol=1e-17)
    assert isinstance(sched(3), float) and sched(3) == pytest.approx(0.1, rel=1e-15)
    # three pieces: each schedule counts from its own milestone
    three = sequential([warm, exponential_decay(0.2, 0.5), cos], milestones=[2, 4])
    np.testing.assert_allclose(three(np.arange(7)), [0.025, 0.05, 0.2, 0.1, 0.1, cos(1), 0.05], rtol=1e-14)
    # one schedule and no milestones is that schedule
    np.testing.assert_array_equal(sequential([cos], [])(np.arange(6)), cos(np.arange(6)))
    # arrays of any shape, for plotting
    assert sched(np.arange(6).reshape(2, 3)).shape == (2, 3)


def _torch_rates(torch, make_scheduler, n, lr0):
    """The rate of each of n epochs: param_groups[0]["lr"] before the k-th scheduler.step()."""
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=lr0)
    sched = make_scheduler(opt)
    rates = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # SequentialLR's own notes about step order
        for _ in range(n):
            rates.append(opt.param_groups[0]["lr"])
            opt.step()
            sched.step()
    return np.array(rates)


@pytest.mark.oracle
@pytest.mark.parametrize(
    "case",
    ["cosine", "cosine_eta_min_past_T_max", "linear_warmup", "linear_decay", "linear_default",
     "warmup_then_cosine", "short_warmup_holds_until_milestone", "three_pieces"],
)
def test_cosine_linear_sequential_match_torch_schedulers(case, torch):
    L = torch.optim.lr_scheduler
    lr0 = 0.1
    cases = {
        "cosine": (cosine_annealing(lr0, T_max=20), lambda o: L.CosineAnnealingLR(o, T_max=20), 20),
        "cosine_eta_min_past_T_max": (
            cosine_annealing(lr0, T_max=7, eta_min=0.004), lambda o: L.CosineAnnealingLR(o, T_max=7, eta_min=0.004), 30),
        "linear_warmup": (
            linear_warmup(lr0, start_factor=0.1, end_factor=1.0, total_iters=6),
            lambda o: L.LinearLR(o, start_factor=0.1, end_factor=1.0, total_iters=6), 12),
        "linear_decay": (
            linear_warmup(lr0, start_factor=1.0, end_factor=0.2, total_iters=4),
            lambda o: L.LinearLR(o, start_factor=1.0, end_factor=0.2, total_iters=4), 8),
        "linear_default": (linear_warmup(lr0), lambda o: L.LinearLR(o), 8),
        "warmup_then_cosine": (
            sequential([linear_warmup(lr0, 0.1, 1.0, 5), cosine_annealing(lr0, T_max=25, eta_min=1e-3)], [5]),
            lambda o: L.SequentialLR(o, [L.LinearLR(o, start_factor=0.1, end_factor=1.0, total_iters=5),
                                         L.CosineAnnealingLR(o, T_max=25, eta_min=1e-3)], milestones=[5]),
            30),
        "short_warmup_holds_until_milestone": (
            sequential([linear_warmup(lr0, 0.2, 1.0, 3), cosine_annealing(lr0, T_max=10)], [6]),
            lambda o: L.SequentialLR(o, [L.LinearLR(o, start_factor=0.2, total_iters=3),
                                         L.CosineAnnealingLR(o, T_max=10)], milestones=[6]),
            16),
        "three_pieces": (
            sequential([linear_warmup(lr0, 0.5, 1.0, 2), exponential_decay(lr0, 0.8), cosine_annealing(lr0, 6)], [3, 7]),
            lambda o: L.SequentialLR(o, [L.LinearLR(o, start_factor=0.5, total_iters=2), L.ExponentialLR(o, gamma=0.8),
                                         L.CosineAnnealingLR(o, T_max=6)], milestones=[3, 7]),
            14),
    }
    ours, make, n = cases[case]
    theirs = _torch_rates(torch, make, n, lr0)
    np.testing.assert_allclose(ours(np.arange(n)), theirs, rtol=1e-10, atol=1e-15)


def test_warmup_cosine_drives_fit_once_per_epoch(rng):
    from nnkit.model import MLP
    from nnkit.optimizers import SGD as _SGD
    from nnkit.training import fit

    X = rng.standard_normal((20, 3))
    y = rng.integers(0, 2, 20)
    sched = sequential([linear_warmup(0.1, 0.1, 1.0, 3), cosine_annealing(0.1, T_max=5, eta_min=1e-3)], [3])
    hist = fit(MLP((3, 4, 2), rng=rng), X, y, loss="softmax_cross_entropy", optimizer=_SGD(0.5), epochs=8,
               batch_size=None, rng=rng, schedule=sched, progress=False)
    # epoch e (1-based) trains with schedule(e - 1): k = 0 is the first epoch
    np.testing.assert_allclose(hist.lr, sched(np.arange(8)), rtol=1e-15)


def test_new_schedules_repr_and_equality():
    assert repr(cosine_annealing(0.1, 10)) == "cosine_annealing(lr0=0.1, T_max=10, eta_min=0.0)"
    assert repr(linear_warmup(0.1, 0.5, 1.0, 3)) == "linear_warmup(lr0=0.1, start_factor=0.5, end_factor=1.0, total_iters=3)"
    a = sequential([linear_warmup(0.1, 0.5, 1.0, 3), cosine_annealing(0.1, 10)], [3])
    assert repr(a) == ("sequential(schedules=(linear_warmup(lr0=0.1, start_factor=0.5, end_factor=1.0, total_iters=3), "
                       "cosine_annealing(lr0=0.1, T_max=10, eta_min=0.0)), milestones=(3,))")
    b = sequential((linear_warmup(0.1, 0.5, 1.0, 3), cosine_annealing(0.1, 10)), (3,))
    assert a == b and hash(a) == hash(b)
    assert a != sequential([linear_warmup(0.1, 0.5, 1.0, 3), cosine_annealing(0.1, 10)], [4])


def test_new_schedules_validated():
    with pytest.raises(ValueError, match="T_max must be an integer >= 1; got 0"):
        cosine_annealing(0.1, 0)
    with pytest.raises(TypeError, match="T_max must be an integer"):
        cosine_annealing(0.1, 10.0)
    with pytest.raises(ValueError, match="eta_min must be >= 0; got -0.1"):
        cosine_annealing(0.1, 10, eta_min=-0.1)
    with pytest.raises(ValueError, match="eta_min must be <= lr0.*eta_min=0.2 > lr0=0.1"):
        cosine_annealing(0.1, 10, eta_min=0.2)
    with pytest.raises(ValueError, match="lr0 must be > 0"):
        cosine_annealing(0.0, 10)
    with pytest.raises(ValueError, match=r"start_factor must be in \(0, 1\]; got 0.0"):
        linear_warmup(0.1, start_factor=0.0)
    with pytest.raises(ValueError, match=r"start_factor must be in \(0, 1\]; got 1.5"):
        linear_warmup(0.1, start_factor=1.5)
    with pytest.raises(ValueError, match=r"end_factor must be in \[0, 1\]; got 2.0"):
        linear_warmup(0.1, end_factor=2.0)
    with pytest.raises(ValueError, match="total_iters must be an integer >= 1; got 0"):
        linear_warmup(0.1, total_iters=0)
    warm, cos = linear_warmup(0.1), cosine_annealing(0.1, 10)
    with pytest.raises(ValueError, match=r"milestones must have one entry fewer than schedules \(1 for 2 schedules\); got 2"):
        sequential([warm, cos], [3, 5])
    with pytest.raises(ValueError, match=r"strictly increasing; got \[5, 5\]"):
        sequential([warm, cos, cos], [5, 5])
    with pytest.raises(ValueError, match=r"milestones\[0\] must be an integer >= 1; got 0"):
        sequential([warm, cos], [0])
    with pytest.raises(TypeError, match=r"schedules\[1\] must be a Schedule.*function"):
        sequential([warm, lambda k: 0.1], [3])
    with pytest.raises(ValueError, match="at least one Schedule"):
        sequential([], [])
    with pytest.raises(TypeError, match="sequences"):
        sequential(warm, 3)
    with pytest.raises(ValueError, match="k must be >= 0"):
        sequential([warm, cos], [3])(-1)


@settings(max_examples=50, deadline=None)
@given(
    lr0=st.floats(1e-4, 10), floor=st.floats(0.0, 1.0), T_max=st.integers(1, 100),
    start=st.floats(0.01, 1.0), total=st.integers(1, 50), n=st.integers(1, 200),
)
def test_property_cosine_falls_and_warmup_rises(lr0, floor, T_max, start, total, n):
    cos = cosine_annealing(lr0, T_max, eta_min=floor * lr0)
    k = np.arange(min(n, T_max + 1))
    rates = cos(k)
    assert np.all(np.diff(rates) <= 1e-15 * lr0)  # non-increasing up to T_max
    assert np.all(rates >= floor * lr0 * (1 - 1e-12)) and rates[0] == pytest.approx(lr0)
    warm = linear_warmup(lr0, start_factor=start, total_iters=total)
    up = warm(np.arange(n))
    assert np.all(np.diff(up) >= -1e-15 * lr0) and up[0] == pytest.approx(start * lr0)
    assert np.all(up <= lr0 * (1 + 1e-12))
    seq = sequential([warm, cos], [total])
    both = seq(np.arange(n))
    np.testing.assert_array_equal(both[:total], up[:total])
    np.testing.assert_array_equal(both[total:], cos(np.arange(max(0, n - total))))
