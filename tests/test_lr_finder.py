"""Tests for nnkit.lr_finder: the learning-rate range test.

The conventions are checked one by one (geometric rates, the bias-corrected average, the
divergence rule, both suggestion rules), then the contract: deterministic given the seeds, the
model and the optimizer left exactly as they were, a sane suggestion on the digits and on XOR
blobs, and errors a student can act on.
"""
import copy

import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")

from nnkit._validate import ShapeError  # noqa: E402
from nnkit.datasets import load_digits, xor_blobs  # noqa: E402
from nnkit.lr_finder import RULES, LRFinderResult, lr_range_test  # noqa: E402
from nnkit.model import MLP  # noqa: E402
from nnkit.optimizers import SGD, Adam, Momentum  # noqa: E402
from nnkit.training import accuracy, fit  # noqa: E402


@pytest.fixture(scope="module")
def digits():
    return load_digits()


def _run(model, X, y, seed=1, **kw):
    kw.setdefault("optimizer", Momentum(0.1))
    return lr_range_test(model, X, y, loss="softmax_cross_entropy", rng=np.random.default_rng(seed), **kw)


def test_rates_are_geometric_from_lr_min_to_lr_max(digits):
    X, y = digits
    r = _run(MLP((64, 16, 10), rng=np.random.default_rng(0)), X, y, lr_min=1e-5, lr_max=1e-1, n_steps=41)
    assert isinstance(r, LRFinderResult) and not r.diverged
    assert len(r.lrs) == len(r.losses) == len(r.smoothed) == 41
    assert r.lrs[0] == 1e-5 and r.lrs[-1] == 1e-1
    # 4 decades in 40 steps: each rate is 10**0.1 times the last
    np.testing.assert_allclose(r.lrs[1:] / r.lrs[:-1], 10**0.1, rtol=1e-12)


def test_smoothed_is_the_bias_corrected_moving_average(digits):
    X, y = digits
    model = MLP((64, 16, 10), rng=np.random.default_rng(0))
    r = _run(model, X, y, beta=0.9, n_steps=30, lr_max=1e-2)
    avg, expected = 0.0, []
    for i, loss in enumerate(r.losses):
        avg = 0.9 * avg + 0.1 * loss
        expected.append(avg / (1 - 0.9 ** (i + 1)))
    np.testing.assert_allclose(r.smoothed, expected, rtol=1e-14)
    assert r.smoothed[0] == r.losses[0]  # bias correction: the first value is the first loss
    raw = _run(model, X, y, beta=0.0, n_steps=30, lr_max=1e-2)
    np.testing.assert_array_equal(raw.smoothed, raw.losses)  # beta = 0: no smoothing
    np.testing.assert_array_equal(raw.losses, r.losses)  # smoothing changes nothing else


def test_stops_when_the_smoothed_loss_exceeds_factor_times_the_best():
    # a regression with MSE: big rates make the loss explode, so the run stops early
    rng = np.random.default_rng(3)
    X = rng.standard_normal((200, 3))
    y = X @ np.array([[1.0], [-2.0], [0.5]])
    model = MLP((3, 8, 1), rng=rng)
    r = lr_range_test(model, X, y, loss="mse", optimizer=SGD(0.1), rng=np.random.default_rng(0),
                      lr_min=1e-4, lr_max=1e3, n_steps=100, beta=0.5, diverge_factor=4.0)
    assert r.diverged and len(r.lrs) < 100
    # the last recorded step is the first whose smoothed loss exceeds 4 x the best before it
    assert r.smoothed[-1] > 4.0 * r.smoothed[:-1].min()
    assert np.all(r.smoothed[1:-1] <= 4.0 * np.minimum.accumulate(r.smoothed)[:-2])
    assert np.all(np.isfinite(r.losses))
    assert "diverged at lr" in repr(r)


def test_deterministic_given_the_seeds(digits):
    X, y = digits
    a = _run(MLP((64, 16, 10), rng=np.random.default_rng(0)), X, y, seed=5)
    b = _run(MLP((64, 16, 10), rng=np.random.default_rng(0)), X, y, seed=5)
    c = _run(MLP((64, 16, 10), rng=np.random.default_rng(0)), X, y, seed=6)
    for name in ("lrs", "losses", "smoothed"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    assert a.suggestion == b.suggestion
    assert not np.array_equal(a.losses, c.losses)  # another shuffle, other batches


def test_model_and_optimizer_are_left_as_they_were(digits):
    X, y = digits
    model = MLP((64, 16, 10), rng=np.random.default_rng(0), batchnorm=True, p_drop=0.2)
    params = model.params
    ids = {k: id(v) for k, v in params.items()}
    before = copy.deepcopy(params)
    bn = model.layers[1]
    running = (bn.running_mean.copy(), bn.running_var.copy())
    dropout = model.layers[3]
    gen_state = copy.deepcopy(dropout.rng.bit_generator.state)
    opt = Adam(1e-3)
    r = _run(model, X, y, optimizer=opt, lr_max=100.0)
    assert r.diverged  # the copy was driven to blow up ...
    # ... and the model passed in is bit for bit what it was, the same arrays
    assert {k: id(v) for k, v in model.params.items()} == ids
    for k in params:
        np.testing.assert_array_equal(params[k], before[k])
    np.testing.assert_array_equal(bn.running_mean, running[0])
    np.testing.assert_array_equal(bn.running_var, running[1])
    assert dropout.rng.bit_generator.state == gen_state  # dropout masks drawn from a copy
    assert opt.lr == 1e-3


@pytest.mark.parametrize(
    "make_opt, lo, hi",
    [(lambda: SGD(0.1), 0.02, 1.0), (lambda: Momentum(0.1), 0.01, 0.5), (lambda: Adam(1e-3), 1e-3, 0.1)],
    ids=["sgd", "momentum", "adam"],
)
def test_min_over_10_is_sane_on_the_digits_and_trains(make_opt, lo, hi, digits):
    X, y = digits
    for seed in (0, 1, 2):
        model = MLP((64, 32, 10), rng=np.random.default_rng(seed))
        r = _run(model, X, y, seed=10 + seed, optimizer=make_opt())
        assert r.rule == "min/10"
        assert lo <= r.suggestion <= hi, f"seed {seed}: suggestion {r.suggestion:.3g}"
    # and the suggested rate trains: a few epochs reach a good accuracy
    opt = make_opt()
    opt.lr = r.suggestion
    fit(model, X, y, loss="softmax_cross_entropy", optimizer=opt, epochs=5, batch_size=32,
        rng=np.random.default_rng(0), progress=False)
    assert accuracy(model.predict(X), y) > 0.9


def test_steepest_rule_on_the_digits_and_on_xor_blobs(digits):
    X, y = digits
    for seed in (0, 1, 2):
        r = _run(MLP((64, 32, 10), rng=np.random.default_rng(seed)), X, y, seed=10 + seed, rule="steepest")
        lowest = r.lrs[np.argmin(r.smoothed)]
        assert 1e-2 <= r.suggestion <= lowest, f"seed {seed}: {r.suggestion:.3g} (minimum at {lowest:.3g})"
    Xb, yb = xor_blobs(400, np.random.default_rng(0))
    for rule in RULES:
        r = lr_range_test(MLP((2, 8, 2), rng=np.random.default_rng(0), activation="tanh"), Xb, yb,
                          loss="softmax_cross_entropy", optimizer=Adam(), rng=np.random.default_rng(1), rule=rule)
        assert 1e-3 <= r.suggestion <= 1.0, f"{rule}: {r.suggestion:.3g}"


def test_suggestion_rules_on_a_made_up_curve(monkeypatch):
    # the rules read the smoothed curve only: a hand-made curve, 20 rates, steepest drop at index 10
    from nnkit import lr_finder

    lrs = np.logspace(-4, 0, 20)
    curve = np.r_[np.full(8, 2.0), 1.9, 1.6, 1.0, 0.7, 0.6, 0.55, 0.5, 0.6, 1.0, 2.0, 4.0, 9.0]
    # first 20 // 10 = 2 points and last 5 are dropped; the minimum 0.5 is at index 14
    assert lr_finder._suggest(lrs, curve, "min/10", 20) == pytest.approx(lrs[14] / 10)
    # steepest: forward differences, the biggest drop is 1.6 -> 1.0 from index 9
    assert lr_finder._suggest(lrs, curve, "steepest", 20) == pytest.approx(lrs[9])


def test_l2_and_clipping_change_the_run(digits):
    X, y = digits
    model = MLP((64, 16, 10), rng=np.random.default_rng(0))
    plain = _run(model, X, y, n_steps=30)
    with_l2 = _run(model, X, y, n_steps=30, l2=1.0)
    clipped = _run(model, X, y, n_steps=30, clip=1e-3)
    assert plain.losses[0] == with_l2.losses[0] == clipped.losses[0]  # the same first batch ...
    assert not np.array_equal(plain.losses, with_l2.losses)  # ... then different updates
    assert not np.array_equal(plain.losses, clipped.losses)


def test_plot_and_repr(digits):
    import matplotlib.pyplot as plt

    X, y = digits
    r = _run(MLP((64, 16, 10), rng=np.random.default_rng(0)), X, y, n_steps=40)
    ax = r.plot()
    assert ax.get_xscale() == "log" and len(ax.get_lines()) == 3
    fig, ax2 = plt.subplots()
    assert r.plot(ax=ax2) is ax2
    plt.close("all")
    assert repr(r).startswith("LRFinderResult(40 steps from lr = 1e-06") and "rule 'min/10'" in repr(r)


def test_bad_lr_ranges_and_arguments(digits):
    X, y = digits
    model = MLP((64, 16, 10), rng=np.random.default_rng(0))
    with pytest.raises(ValueError, match="lr_min must be > 0; got 0.0"):
        _run(model, X, y, lr_min=0.0)
    with pytest.raises(ValueError, match="lr_min must be > 0; got -1.0"):
        _run(model, X, y, lr_min=-1.0)
    with pytest.raises(ValueError, match=r"lr_max must be > lr_min .*got lr_min=1, lr_max=0.1"):
        _run(model, X, y, lr_min=1.0, lr_max=0.1)
    with pytest.raises(ValueError, match=r"lr_max must be > lr_min .*got lr_min=0.1, lr_max=0.1"):
        _run(model, X, y, lr_min=0.1, lr_max=0.1)
    with pytest.raises(ValueError, match="lr_max must be finite"):
        _run(model, X, y, lr_max=np.inf)
    with pytest.raises(TypeError, match="lr_min must be a real number"):
        _run(model, X, y, lr_min="1e-6")
    with pytest.raises(ValueError, match="n_steps must be an integer >= 2; got 1"):
        _run(model, X, y, n_steps=1)
    with pytest.raises(ValueError, match=r"beta must be in \[0, 1\); got 1.0"):
        _run(model, X, y, beta=1.0)
    with pytest.raises(ValueError, match="diverge_factor must be > 1"):
        _run(model, X, y, diverge_factor=1.0)
    with pytest.raises(ValueError, match="rule must be one of 'min/10', 'steepest'; got 'valley'"):
        _run(model, X, y, rule="valley")
    with pytest.raises(TypeError, match="rng must be a numpy.random.Generator"):
        lr_range_test(model, X, y, loss="softmax_cross_entropy", optimizer=SGD(0.1), rng=0)
    with pytest.raises(ValueError, match="same number of samples; got 1797 and 10"):
        _run(model, X, y[:10])
    with pytest.raises(ShapeError, match=r"X must have shape \(N, 64\) for this model; got \(1797, 63\)"):
        _run(model, X[:, :63], y)
    with pytest.raises(TypeError, match="optimizer must be an nnkit optimizer"):
        _run(model, X, y, optimizer="sgd")
    with pytest.raises(ValueError, match="batch_size must be >= 1"):
        _run(model, X, y, batch_size=0)


def test_a_loss_that_blows_up_at_once_asks_for_a_lower_lr_min():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((64, 3))
    y = rng.standard_normal((64, 1))
    model = MLP((3, 4, 1), rng=rng)
    with pytest.raises(FloatingPointError, match="blew up after 1 step at lr = 1e.200.*lower lr_min"):
        lr_range_test(model, X, y, loss="mse", optimizer=SGD(0.1), rng=rng, lr_min=1e200, lr_max=1e201)
