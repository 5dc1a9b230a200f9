"""Tests for nnkit.optimizers.

Layout (scikit-learn style): each optimizer's state is set by hand and one step is compared with
the formula worked out in the comments; then several steps against a scalar re-derivation; then
oracle tests against torch.optim in float64; then properties (hypothesis) and bad input.
"""
import copy
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from nnkit import optimizers as O
from nnkit._validate import ShapeError
from nnkit.gradcheck import rel_error
from nnkit.optimizers import (
    OPTIMIZERS,
    SGD,
    Adadelta,
    Adagrad,
    Adam,
    AdamW,
    Momentum,
    Nesterov,
    RMSprop,
    Rprop,
    get_optimizer,
)

# Factories with hyperparameters that give visible, stable movement in a few steps.
FACTORIES = {
    "sgd": lambda: SGD(lr=0.1),
    "momentum": lambda: Momentum(lr=0.1, mu=0.9),
    "momentum_classical": lambda: Momentum(lr=0.1, mu=0.9, convention="classical"),
    "momentum_ema": lambda: Momentum(lr=0.1, mu=0.9, convention="ema"),
    "nesterov": lambda: Nesterov(lr=0.1, mu=0.9),
    "adagrad": lambda: Adagrad(lr=0.1),
    "rmsprop": lambda: RMSprop(lr=0.01),
    "adadelta": lambda: Adadelta(),
    "adam": lambda: Adam(lr=0.01),
    "adam_uncorrected": lambda: Adam(lr=0.01, bias_correction=False),
    "adamw": lambda: AdamW(lr=0.01, weight_decay=0.1),
    "rprop": lambda: Rprop(lr=0.01),
}


def one(x):
    """A one-entry float64 parameter array (hand-worked steps use scalars)."""
    return np.array([x], dtype=np.float64)


def step1(opt, w, g, **slots):
    """One step on a single parameter "w" from a hand-set state; returns (w, state)."""
    params = {"w": one(w)}
    state = opt.init_state(params)
    t = slots.pop("t", 0)
    state["t"] = t
    for name, value in slots.items():
        state[name]["w"][...] = value
    opt.step(params, {"w": one(g)}, state)
    return params["w"][0], state


# ----------------------------------------------------------------------------------------------
# hand-worked single steps
# ----------------------------------------------------------------------------------------------
def test_sgd_hand_step():
    params = {"W": np.array([[1.0, -2.0]]), "b": np.array([0.5])}
    grads = {"W": np.array([[0.5, -1.0]]), "b": np.array([2.0])}
    opt = SGD(lr=0.1)
    state = opt.init_state(params)
    opt.step(params, grads, state)
    # W = [1 - 0.1*0.5, -2 - 0.1*(-1)] = [0.95, -1.9];  b = 0.5 - 0.1*2 = 0.3
    np.testing.assert_allclose(params["W"], [[0.95, -1.9]], rtol=1e-15)
    np.testing.assert_allclose(params["b"], [0.3], rtol=1e-15)
    assert state == {"t": 1}


def test_momentum_pytorch_hand_step():
    w, state = step1(Momentum(lr=0.1, mu=0.9), w=1.0, g=0.5, v=1.0)
    # v = 0.9*1.0 + 0.5 = 1.4 ;  w = 1.0 - 0.1*1.4 = 0.86
    assert state["v"]["w"][0] == pytest.approx(1.4, rel=1e-15)
    assert w == pytest.approx(0.86, rel=1e-15)


def test_momentum_classical_hand_step():
    # the same history in the classical convention: v = -lr * 1.0 = -0.1
    w, state = step1(Momentum(lr=0.1, mu=0.9, convention="classical"), w=1.0, g=0.5, v=-0.1)
    # v = 0.9*(-0.1) - 0.1*0.5 = -0.14 ;  w = 1.0 + (-0.14) = 0.86   (same w as PyTorch's form)
    assert state["v"]["w"][0] == pytest.approx(-0.14, rel=1e-14)
    assert w == pytest.approx(0.86, rel=1e-15)


def test_momentum_ema_hand_step():
    w, state = step1(Momentum(lr=0.1, mu=0.9, convention="ema"), w=1.0, g=0.5, v=1.0)
    # v = 0.9*1.0 + (1-0.9)*0.5 = 0.95 ;  w = 1.0 - 0.1*0.95 = 0.905
    assert state["v"]["w"][0] == pytest.approx(0.95, rel=1e-15)
    assert w == pytest.approx(0.905, rel=1e-15)


def test_nesterov_hand_step():
    w, state = step1(Nesterov(lr=0.1, mu=0.9), w=1.0, g=0.5, v=1.0)
    # v = 0.9*1.0 + 0.5 = 1.4 ;  w = 1.0 - 0.1*(0.5 + 0.9*1.4) = 1.0 - 0.1*1.76 = 0.824
    assert state["v"]["w"][0] == pytest.approx(1.4, rel=1e-15)
    assert w == pytest.approx(0.824, rel=1e-15)


def test_adagrad_hand_step():
    w, state = step1(Adagrad(lr=0.01), w=1.0, g=1.0, sum_sq=2.46)
    # G = 2.46 + 1.0**2 = 3.46 ;  w = 1 - 0.01*1.0/(sqrt(3.46) + 1e-10) = 1 - 0.01/1.8601075 = 0.99462397
    assert state["sum_sq"]["w"][0] == pytest.approx(3.46, rel=1e-15)
    assert w == pytest.approx(1 - 0.01 / (math.sqrt(3.46) + 1e-10), rel=1e-15)
    assert w == pytest.approx(0.99462397, abs=1e-8)


def test_adagrad_slide_worked_numbers():
    """Slip 5: with eta = 0.01 the slide's numbers are 0.0054 (G = 3.46) and 0.025 (G = 0.16)."""
    opt = Adagrad(lr=0.01)
    params = {"f1": one(0.0), "f2": one(0.0)}
    state = opt.init_state(params)
    state["sum_sq"]["f1"][...] = 3.46  # a frequent feature
    state["sum_sq"]["f2"][...] = 0.16  # a rare feature
    rates = opt.effective_lr(state)
    # 0.01/sqrt(3.46) = 0.01/1.86 = 0.0054 ;  0.01/sqrt(0.16) = 0.01/0.4 = 0.025
    assert round(float(rates["f1"][0]), 4) == 0.0054
    assert round(float(rates["f2"][0]), 3) == 0.025
    # and a step with gradient 0.1 on a G that then reaches 0.16: G = 0.15 + 0.01; w moves 0.025*0.1
    w, _ = step1(Adagrad(lr=0.01), w=0.0, g=0.1, sum_sq=0.15)
    assert w == pytest.approx(-0.0025, rel=1e-9)


def test_rmsprop_hand_step():
    w, state = step1(RMSprop(lr=0.01, beta=0.9, eps=1e-8), w=1.0, g=2.0, sq_avg=1.0)
    # s = 0.9*1.0 + 0.1*2.0**2 = 1.3 ;  w = 1 - 0.01*2/(sqrt(1.3) + 1e-8) = 1 - 0.02/1.1401754 = 0.98245884
    assert state["sq_avg"]["w"][0] == pytest.approx(1.3, rel=1e-15)
    assert w == pytest.approx(0.9824588397677055, rel=1e-15)


def test_rmsprop_averages_the_square_not_the_gradient():
    """Slip 3: the running average is of g**2, so it is positive even for negative gradients."""
    w, state = step1(RMSprop(lr=0.01, beta=0.9), w=0.0, g=-3.0)
    # s = 0.1 * (-3)**2 = 0.9 (the slide's form would give 0.1 * (-3) = -0.3 and no square root)
    assert state["sq_avg"]["w"][0] == pytest.approx(0.9, rel=1e-15)
    # w = 0 - 0.01 * (-3) / sqrt(0.9) = +0.0316228
    assert w == pytest.approx(0.03 / math.sqrt(0.9), rel=1e-7)


def test_adadelta_hand_step():
    w, state = step1(Adadelta(lr=1.0, rho=0.9, eps=1e-6), w=1.0, g=0.5, sq_avg=0.5, delta_avg=0.04)
    # s     = 0.9*0.5 + 0.1*0.5**2                       = 0.475
    # delta = sqrt(0.04 + 1e-6)/sqrt(0.475 + 1e-6) * 0.5  = 0.2000025/0.6892032 * 0.5 = 0.14509691
    # u     = 0.9*0.04 + 0.1*0.14509691**2               = 0.03810531
    # w     = 1 - 1.0*0.14509691                          = 0.85490309
    assert state["sq_avg"]["w"][0] == pytest.approx(0.475, rel=1e-15)
    assert state["delta_avg"]["w"][0] == pytest.approx(0.038105311357239255, rel=1e-14)
    assert w == pytest.approx(0.8549030890322179, rel=1e-14)


def test_adam_hand_step_at_t2():
    w, state = step1(Adam(lr=0.1), w=1.0, g=0.2, t=1, m=0.1, v=0.01)
    # t = 2
    # m = 0.9*0.1 + 0.1*0.2 = 0.11 ;           m_hat = 0.11/(1 - 0.9**2)     = 0.11/0.19       = 0.5789474
    # v = 0.999*0.01 + 0.001*0.04 = 0.01003 ;  v_hat = 0.01003/(1 - 0.999**2) = 0.01003/0.001999 = 5.0175088
    # w = 1 - 0.1 * 0.5789474/(sqrt(5.0175088) + 1e-8) = 1 - 0.1*0.5789474/2.2399796 = 0.9741539
    assert state["t"] == 2
    assert state["m"]["w"][0] == pytest.approx(0.11, rel=1e-15)
    assert state["v"]["w"][0] == pytest.approx(0.01003, rel=1e-15)
    assert w == pytest.approx(0.974153900445542, rel=1e-14)


def test_adam_first_step_has_size_lr_whatever_the_gradient_scale():
    for g in (1e-3, 0.5, 1e3):
        w, state = step1(Adam(lr=0.1), w=0.0, g=g)
        # m = 0.1 g, v = 0.001 g^2, m_hat = g, v_hat = g^2  ->  w = -0.1 * g/(|g| + 1e-8) ~ -0.1
        assert state["m"]["w"][0] == pytest.approx(0.1 * g, rel=1e-15)
        assert w == pytest.approx(-0.1 * g / (g + 1e-8), rel=1e-12)


def test_adam_without_bias_correction_has_wrong_first_steps():
    """Slip 6.  Uncorrected, the first step is (1-beta1)/sqrt(1-beta2) times the corrected one.

    With the default betas that factor is 0.1/sqrt(0.001) = 3.16: the uncorrected first step is
    *larger* (m is 10x too small, but sqrt(v) is 31.6x too small).  It is *smaller* when
    1-beta1 < sqrt(1-beta2), e.g. beta1 = 0.99: 0.01/sqrt(0.001) = 0.316.
    """
    g = 0.5
    w_ok, s_ok = step1(Adam(lr=0.1), w=0.0, g=g)
    w_raw, s_raw = step1(Adam(lr=0.1, bias_correction=False), w=0.0, g=g)
    # the averages themselves are biased towards 0: m_1 = 0.1*g, ten times smaller than g
    assert s_raw["m"]["w"][0] == pytest.approx(0.1 * g, rel=1e-15)
    # uncorrected: w = -0.1 * 0.05/(sqrt(0.00025) + 1e-8) = -0.1 * 3.1622 ; corrected: -0.1
    assert w_raw / w_ok == pytest.approx(0.1 / math.sqrt(0.001), rel=1e-6)
    assert abs(w_raw) > abs(w_ok)

    w_ok, _ = step1(Adam(lr=0.1, beta1=0.99), w=0.0, g=g)
    w_raw, _ = step1(Adam(lr=0.1, beta1=0.99, bias_correction=False), w=0.0, g=g)
    assert w_raw / w_ok == pytest.approx(0.01 / math.sqrt(0.001), rel=1e-6)  # 0.316
    assert abs(w_raw) < abs(w_ok)


def test_adam_bias_correction_fades_with_t():
    # late in training (t = 20000) the averages have settled (m = g, v = g^2) and 1 - beta**t ~ 1,
    # so both forms take the same step: w = -lr * 0.3/(0.3 + 1e-8)
    steps = [step1(Adam(lr=1e-3, bias_correction=c), w=0.0, g=0.3, t=19999, m=0.3, v=0.09)[0] for c in (True, False)]
    assert steps[0] == pytest.approx(-1e-3, rel=1e-7)
    assert steps[1] == pytest.approx(steps[0], rel=1e-7)


def test_rprop_hand_step():
    opt = Rprop(lr=0.1, etas=(0.5, 1.2), step_sizes=(1e-6, 50.0))
    params = {"w": np.zeros(4)}
    state = opt.init_state(params)
    state["t"] = 1
    state["prev"]["w"][...] = [1.0, 1.0, 1.0, 0.0]
    state["step_size"]["w"][...] = 0.1
    opt.step(params, {"w": np.array([2.0, -3.0, 0.0, 5.0])}, state)
    # g*prev = [2, -3, 0, 0] -> factors [1.2 (same sign), 0.5 (flip), 1, 1]
    # step_size = [0.12, 0.05, 0.1, 0.1]
    # effective g = [2, 0 (flip -> no move), 0, 5] ;  w = -sign(g_eff)*step_size = [-0.12, 0, 0, -0.1]
    np.testing.assert_allclose(state["step_size"]["w"], [0.12, 0.05, 0.1, 0.1], rtol=1e-15)
    np.testing.assert_allclose(params["w"], [-0.12, 0.0, 0.0, -0.1], rtol=1e-15)
    np.testing.assert_array_equal(state["prev"]["w"], [2.0, 0.0, 0.0, 5.0])


def test_rprop_uses_only_the_sign_and_clamps_step_sizes():
    opt = Rprop(lr=0.1, etas=(0.5, 2.0), step_sizes=(0.03, 0.3))
    params = {"w": np.zeros(1)}
    state = opt.init_state(params)
    assert state["step_size"]["w"][0] == 0.1  # step sizes start at lr
    moves = []
    for g in [1e-6, 1e6, 5.0, 5.0, -1.0, -1.0, -1.0]:
        before = params["w"][0]
        opt.step(params, {"w": one(g)}, state)
        moves.append(params["w"][0] - before)
    # step sizes: 0.1 (first step: no previous sign), 0.2, 0.4 -> clamped 0.3, 0.3,
    # flip: 0.15 and no move, then prev = 0 so 0.15 again, then 0.3 (0.15*2)
    np.testing.assert_allclose(moves, [-0.1, -0.2, -0.3, -0.3, 0.0, 0.15, 0.3], rtol=1e-14)
    # the size of the gradient never mattered: 1e-6 and 1e6 moved by the step size alone
    assert state["step_size"]["w"][0] == pytest.approx(0.3)


# ----------------------------------------------------------------------------------------------
# several steps against scalar re-derivations, and the relations between conventions
# ----------------------------------------------------------------------------------------------
GRAD_SEQ = [0.5, -0.2, 0.8, 0.1, -0.7, 0.3]


def run_scalar(opt, grads=GRAD_SEQ, w0=1.0):
    params = {"w": one(w0)}
    state = opt.init_state(params)
    path = []
    for g in grads:
        opt.step(params, {"w": one(g)}, state)
        path.append(params["w"][0])
    return np.array(path)


def test_several_steps_match_scalar_formulas():
    lr, mu, b1, b2, eps = 0.1, 0.9, 0.9, 0.999, 1e-8

    def reference(kind):
        w, v, m, s, t, out = 1.0, 0.0, 0.0, 0.0, 0, []
        for g in GRAD_SEQ:
            t += 1
            if kind == "sgd":
                w -= lr * g
            elif kind == "momentum":
                v = mu * v + g
                w -= lr * v
            elif kind == "nesterov":
                v = mu * v + g
                w -= lr * (g + mu * v)
            elif kind == "adagrad":
                s += g * g
                w -= lr * g / (math.sqrt(s) + 1e-10)
            elif kind == "rmsprop":
                s = 0.99 * s + 0.01 * g * g
                w -= lr * g / (math.sqrt(s) + eps)
            elif kind == "adam":
                m = b1 * m + (1 - b1) * g
                s = b2 * s + (1 - b2) * g * g
                w -= lr * (m / (1 - b1**t)) / (math.sqrt(s / (1 - b2**t)) + eps)
            out.append(w)
        return np.array(out)

    opts = {
        "sgd": SGD(lr),
        "momentum": Momentum(lr, mu),
        "nesterov": Nesterov(lr, mu),
        "adagrad": Adagrad(lr),
        "rmsprop": RMSprop(lr),
        "adam": Adam(lr),
    }
    for kind, opt in opts.items():
        assert rel_error(run_scalar(opt), reference(kind)) < 1e-14, kind


def test_momentum_conventions_coincide_with_rescaled_lr():
    lr, mu = 0.05, 0.8
    pytorch = run_scalar(Momentum(lr, mu, "pytorch"))
    classical = run_scalar(Momentum(lr, mu, "classical"))
    ema = run_scalar(Momentum(lr / (1 - mu), mu, "ema"))
    assert rel_error(classical, pytorch) < 1e-14
    assert rel_error(ema, pytorch) < 1e-14
    # without the rescaling, EMA moves (1 - mu) = 5 times less
    ema_same_lr = run_scalar(Momentum(lr, mu, "ema"))
    assert rel_error(1.0 - ema_same_lr, (1 - mu) * (1.0 - pytorch)) < 1e-13


def test_slide_momentum_applies_lr_twice():
    """Slip 1: v = mu v + lr g ; w -= lr v  is PyTorch's form with learning rate lr**2."""
    lr, mu = 0.3, 0.9
    w, v, slide = 1.0, 0.0, []
    for g in GRAD_SEQ:
        v = mu * v + lr * g
        w = w - lr * v
        slide.append(w)
    assert rel_error(np.array(slide), run_scalar(Momentum(lr**2, mu))) < 1e-14
    assert rel_error(np.array(slide), run_scalar(Momentum(lr, mu))) > 1e-2


def test_conventions_differ_when_lr_changes():
    """With a schedule, "classical" keeps old rates in v; "pytorch" rescales the whole velocity."""
    paths = {}
    for conv in ("pytorch", "classical"):
        opt = Momentum(0.1, 0.9, conv)
        params = {"w": one(1.0)}
        state = opt.init_state(params)
        for k, g in enumerate(GRAD_SEQ):
            opt.lr = 0.1 / (k + 1)
            opt.step(params, {"w": one(g)}, state)
        paths[conv] = params["w"][0]
    assert abs(paths["pytorch"] - paths["classical"]) > 1e-3


# ----------------------------------------------------------------------------------------------
# oracle: torch.optim in float64
# ----------------------------------------------------------------------------------------------
def _oracle_cases():
    lr, mu = 0.05, 0.9
    return {
        "sgd": (lambda: SGD(lr), lambda t, ps: t.optim.SGD(ps, lr=lr)),
        "momentum_pytorch": (lambda: Momentum(lr, mu), lambda t, ps: t.optim.SGD(ps, lr=lr, momentum=mu)),
        # classical has the same weights as PyTorch's form at the same lr ...
        "momentum_classical": (
            lambda: Momentum(lr, mu, "classical"),
            lambda t, ps: t.optim.SGD(ps, lr=lr, momentum=mu),
        ),
        # ... and EMA at lr/(1-mu) equals PyTorch's form at lr
        "momentum_ema": (
            lambda: Momentum(lr / (1 - mu), mu, "ema"),
            lambda t, ps: t.optim.SGD(ps, lr=lr, momentum=mu),
        ),
        "nesterov": (lambda: Nesterov(lr, mu), lambda t, ps: t.optim.SGD(ps, lr=lr, momentum=mu, nesterov=True)),
        "adagrad": (lambda: Adagrad(0.1, eps=1e-10), lambda t, ps: t.optim.Adagrad(ps, lr=0.1, eps=1e-10)),
        "rmsprop": (
            lambda: RMSprop(0.01, beta=0.9, eps=1e-8),
            lambda t, ps: t.optim.RMSprop(ps, lr=0.01, alpha=0.9, eps=1e-8),
        ),
        "rmsprop_default": (lambda: RMSprop(), lambda t, ps: t.optim.RMSprop(ps)),
        "adadelta": (
            lambda: Adadelta(lr=1.0, rho=0.9, eps=1e-6),
            lambda t, ps: t.optim.Adadelta(ps, lr=1.0, rho=0.9, eps=1e-6),
        ),
        "adam": (lambda: Adam(0.01), lambda t, ps: t.optim.Adam(ps, lr=0.01, betas=(0.9, 0.999), eps=1e-8)),
        "adam_betas": (
            lambda: Adam(0.05, beta1=0.8, beta2=0.95, eps=1e-6),
            lambda t, ps: t.optim.Adam(ps, lr=0.05, betas=(0.8, 0.95), eps=1e-6),
        ),
        "adamw": (
            lambda: AdamW(0.01, weight_decay=0.1),
            lambda t, ps: t.optim.AdamW(ps, lr=0.01, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.1),
        ),
        "adamw_default": (lambda: AdamW(), lambda t, ps: t.optim.AdamW(ps)),
        "rprop": (
            lambda: Rprop(0.01, etas=(0.5, 1.2), step_sizes=(1e-6, 50)),
            lambda t, ps: t.optim.Rprop(ps, lr=0.01, etas=(0.5, 1.2), step_sizes=(1e-6, 50)),
        ),
        "rprop_clamped": (
            lambda: Rprop(0.01, etas=(0.3, 1.5), step_sizes=(4e-3, 0.02)),
            lambda t, ps: t.optim.Rprop(ps, lr=0.01, etas=(0.3, 1.5), step_sizes=(4e-3, 0.02)),
        ),
    }


@pytest.mark.oracle
@pytest.mark.parametrize("case", list(_oracle_cases()))
def test_matches_torch_optim(case, torch, rng):
    make_ours, make_theirs = _oracle_cases()[case]
    shapes = {"W1": (4, 3), "b1": (3,), "W2": (3, 2)}
    params = {k: rng.standard_normal(s) for k, s in shapes.items()}
    tparams = {k: torch.tensor(v.copy(), dtype=torch.float64) for k, v in params.items()}
    opt, topt = make_ours(), make_theirs(torch, list(tparams.values()))
    state = opt.init_state(params)
    # gradients with a persistent part (so Rprop grows its steps) and noise (so signs flip)
    base = {k: rng.standard_normal(s) for k, s in shapes.items()}
    for step in range(15):
        grads = {k: base[k] + 0.8 * rng.standard_normal(s) for k, s in shapes.items()}
        opt.step(params, grads, state)
        for k, p in tparams.items():
            p.grad = torch.tensor(grads[k])
        topt.step()
        for k in shapes:
            err = rel_error(params[k], tparams[k].detach().numpy())
            assert err <= 1e-10, f"{case}: {k} differs from torch at step {step + 1}: rel error {err:.2e}"
    assert state["t"] == 15


# ----------------------------------------------------------------------------------------------
# AdamW: decoupled weight decay, and how it differs from L2 added to the gradient
# ----------------------------------------------------------------------------------------------
def test_adamw_hand_step_at_t2():
    w, state = step1(AdamW(lr=0.1, weight_decay=0.1), w=1.0, g=0.2, t=1, m=0.1, v=0.01)
    # decay first:  w = 1.0 * (1 - 0.1*0.1) = 0.99
    # then Adam's t = 2 step from test_adam_hand_step_at_t2 (the same m, v, g):
    #   m = 0.11, v = 0.01003, step = 0.1 * 0.5789474/2.2399796 = 0.0258461
    # w = 0.99 - 0.0258461 = 0.9641539
    assert state["m"]["w"][0] == pytest.approx(0.11, rel=1e-15)  # the decay never enters m, v
    assert state["v"]["w"][0] == pytest.approx(0.01003, rel=1e-15)
    assert w == pytest.approx(0.99 - (1 - 0.974153900445542), rel=1e-14)
    # the order matters: decaying *after* the step would give (1 - 0.0258461) * 0.99 = 0.9644124
    assert abs(w - (1 - 0.1 * 0.1) * 0.974153900445542) > 2e-4


def test_adamw_zero_gradient_only_decays():
    w, state = step1(AdamW(lr=0.1, weight_decay=0.5), w=2.0, g=0.0)
    # m = v = 0, so Adam's step is 0/(0 + eps) = 0; only the decay acts: w = 2 * (1 - 0.05) = 1.9
    assert w == pytest.approx(1.9, rel=1e-15)


def test_adamw_with_zero_weight_decay_is_adam_bit_for_bit(rng):
    shapes = {"W": (4, 3), "b": (3,)}
    p1 = {k: rng.standard_normal(sh) for k, sh in shapes.items()}
    p2 = copy.deepcopy(p1)
    o1, o2 = Adam(0.02, beta1=0.8), AdamW(0.02, beta1=0.8, weight_decay=0.0)
    s1, s2 = o1.init_state(p1), o2.init_state(p2)
    for _ in range(30):
        g = {k: rng.standard_normal(sh) for k, sh in shapes.items()}
        o1.step(p1, g, s1)
        o2.step(p2, g, s2)
    for k in shapes:
        np.testing.assert_array_equal(p1[k], p2[k])
        np.testing.assert_array_equal(s1["m"][k], s2["m"][k])


def _adam_with_l2_gradient(opt, params, grads_seq, lam):
    """L2 regularization: the optimizer sees g + lam * w (the 'weight decay' of many slides)."""
    state = opt.init_state(params)
    for g in grads_seq:
        opt.step(params, {k: g[k] + lam * params[k] for k in params}, state)
    return params


def test_adam_with_l2_differs_from_adamw(rng):
    lam, lr = 0.1, 0.01
    w0 = {"w": rng.standard_normal(50) * 3}
    grads_seq = [{"w": rng.standard_normal(50) * np.logspace(-2, 2, 50)} for _ in range(100)]
    plain = _adam_with_l2_gradient(Adam(lr), copy.deepcopy(w0), grads_seq, 0.0)["w"]  # no regularization
    l2 = _adam_with_l2_gradient(Adam(lr), copy.deepcopy(w0), grads_seq, lam)["w"]
    decoupled = copy.deepcopy(w0)
    opt = AdamW(lr, weight_decay=lam)
    state = opt.init_state(decoupled)
    for g in grads_seq:
        opt.step(decoupled, g, state)
    decoupled = decoupled["w"]
    assert np.abs(l2 - decoupled).max() > 0.1  # far above round-off: different algorithms
    # How far each regularizer moved the weights away from unregularized Adam. Gradient scales run
    # from 0.01 (first weights) to 100 (last ones). With L2 the pull lam * w is divided by
    # sqrt(v_hat): the weights with small gradients are pulled hard, those with large gradients
    # hardly at all. AdamW pulls every weight about the same (1 - lr * lam per step).
    pull_l2, pull_decoupled = np.abs(l2 - plain), np.abs(decoupled - plain)
    assert pull_l2[:10].mean() > 20 * pull_l2[-10:].mean()
    assert 0.5 < pull_decoupled[:10].mean() / pull_decoupled[-10:].mean() < 2.0


def test_sgd_with_l2_gradient_equals_decoupled_decay(rng):
    # w - lr * (g + lam * w) = (1 - lr * lam) * w - lr * g: the one optimizer where the two coincide
    lam, lr = 0.1, 0.05
    w_l2 = {"w": rng.standard_normal(20)}
    w_dec = copy.deepcopy(w_l2)
    sgd = SGD(lr)
    s_l2, s_dec = sgd.init_state(w_l2), sgd.init_state(w_dec)
    for _ in range(50):
        g = {"w": rng.standard_normal(20)}
        sgd.step(w_l2, {"w": g["w"] + lam * w_l2["w"]}, s_l2)  # L2 regularization
        w_dec["w"] *= 1 - lr * lam  # decoupled weight decay, as AdamW does it
        sgd.step(w_dec, g, s_dec)
    np.testing.assert_allclose(w_l2["w"], w_dec["w"], rtol=1e-13, atol=1e-15)


@pytest.mark.oracle
@pytest.mark.parametrize(
    "hp",
    [
        {"lr": 1e-3, "weight_decay": 1e-2},
        {"lr": 0.05, "weight_decay": 0.3, "beta1": 0.8, "beta2": 0.95, "eps": 1e-6},
        {"lr": 0.01, "weight_decay": 0.0},
    ],
    ids=["defaults", "strong_decay", "no_decay"],
)
def test_adamw_many_steps_match_torch(hp, torch, rng):
    shapes = {"W1": (5, 4), "b1": (4,), "W2": (4, 3), "b2": (3,)}
    params = {k: rng.standard_normal(s) for k, s in shapes.items()}
    betas = (hp.get("beta1", 0.9), hp.get("beta2", 0.999))
    kw = dict(lr=hp["lr"], betas=betas, eps=hp.get("eps", 1e-8), weight_decay=hp["weight_decay"])
    theirs = {"AdamW": torch.optim.AdamW}
    if hp["weight_decay"] == 0.0:
        theirs["Adam"] = torch.optim.Adam  # without decay, AdamW is plain Adam
    tparams = {name: [torch.tensor(v.copy(), dtype=torch.float64) for v in params.values()] for name in theirs}
    topts = {name: make(tparams[name], **kw) for name, make in theirs.items()}
    opt = AdamW(**hp)
    state = opt.init_state(params)
    for step in range(200):
        if step == 100:  # a schedule's change of lr changes the decay per step too (lr * weight_decay)
            opt.lr = hp["lr"] / 4
            for topt in topts.values():
                for group in topt.param_groups:
                    group["lr"] = hp["lr"] / 4
        grads = {k: rng.standard_normal(s) * (1 + step % 3) for k, s in shapes.items()}
        opt.step(params, grads, state)
        for name, topt in topts.items():
            for p, k in zip(tparams[name], shapes):
                p.grad = torch.tensor(grads[k])
            topt.step()
    for name in theirs:
        for p, k in zip(tparams[name], shapes):
            err = rel_error(params[k], p.numpy())
            assert err <= 1e-10, f"{k}: rel error {err:.2e} against torch.optim.{name} after 200 steps"


@pytest.mark.oracle
def test_oracle_torch_adam_weight_decay_is_l2_not_adamw(torch, rng):
    # torch.optim.Adam(weight_decay=lam) adds lam * w to the gradient: nnkit Adam on g + lam * w
    # matches it; torch.optim.AdamW(weight_decay=lam) matches nnkit AdamW; the two pairs differ.
    lam, lr = 0.1, 0.01
    w0 = rng.standard_normal(30)
    grads_seq = [rng.standard_normal(30) * np.logspace(-2, 2, 30) for _ in range(60)]
    l2 = _adam_with_l2_gradient(Adam(lr), {"w": w0.copy()}, [{"w": g} for g in grads_seq], lam)["w"]
    ours_w = {"w": w0.copy()}
    opt = AdamW(lr, weight_decay=lam)
    state = opt.init_state(ours_w)
    results = {}
    for name, make in (("adam", torch.optim.Adam), ("adamw", torch.optim.AdamW)):
        p = torch.tensor(w0.copy())
        topt = make([p], lr=lr, weight_decay=lam)
        for g in grads_seq:
            p.grad = torch.tensor(g)
            topt.step()
        results[name] = p.numpy()
    for g in grads_seq:
        opt.step(ours_w, {"w": g}, state)
    assert rel_error(l2, results["adam"]) <= 1e-10
    assert rel_error(ours_w["w"], results["adamw"]) <= 1e-10
    assert rel_error(results["adam"], results["adamw"]) > 1e-3
    # and with SGD, torch's weight_decay (L2) is the decoupled decay lr * lam * w
    p = torch.tensor(w0.copy())
    topt = torch.optim.SGD([p], lr=lr, weight_decay=lam)
    w = {"w": w0.copy()}
    sgd = SGD(lr)
    s = sgd.init_state(w)
    for g in grads_seq:
        p.grad = torch.tensor(g)
        topt.step()
        w["w"] *= 1 - lr * lam
        sgd.step(w, {"w": g}, s)
    assert rel_error(w["w"], p.numpy()) <= 1e-10


# ----------------------------------------------------------------------------------------------
# state, in-place updates, registry
# ----------------------------------------------------------------------------------------------
def test_state_is_plain_data_and_keyed_like_params(rng):
    params = {"W1": rng.standard_normal((3, 2)), "b1": np.zeros(2)}
    state = Adam().init_state(params)
    assert set(state) == {"t", "m", "v"} and state["t"] == 0
    for slot in ("m", "v"):
        assert set(state[slot]) == {"W1", "b1"}
        assert state[slot]["W1"].shape == (3, 2) and not state[slot]["W1"].any()
    snapshot = copy.deepcopy(state)  # plain data: copies and compares like any dict of arrays
    Adam().step(params, {"W1": np.ones((3, 2)), "b1": np.ones(2)}, state)
    assert snapshot["t"] == 0 and state["t"] == 1
    assert not snapshot["m"]["W1"].any() and state["m"]["W1"].all()


@pytest.mark.parametrize("name", list(FACTORIES))
def test_step_updates_in_place_and_never_touches_grads(name, rng):
    big = rng.standard_normal((5, 4))
    params = {"W": big[:3, :2], "b": rng.standard_normal(2)}  # W is a view, as in a model
    ids = {k: id(v) for k, v in params.items()}
    grads = {"W": rng.standard_normal((3, 2)), "b": rng.standard_normal(2)}
    grads_before = copy.deepcopy(grads)
    before = big.copy()
    opt = FACTORIES[name]()
    state = opt.init_state(params)
    opt.step(params, grads, state)
    assert {k: id(v) for k, v in params.items()} == ids
    assert not np.array_equal(big[:3, :2], before[:3, :2])  # the underlying array moved
    np.testing.assert_array_equal(big[3:], before[3:])  # and nothing outside the view
    for k in grads:
        np.testing.assert_array_equal(grads[k], grads_before[k])


def test_registry_and_get_optimizer():
    assert set(OPTIMIZERS) == {"sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adadelta", "adam", "adamw", "rprop"}
    assert all(issubclass(c, O.Optimizer) for c in OPTIMIZERS.values())
    opt = get_optimizer("momentum", lr=0.1, mu=0.5, convention="ema")
    assert isinstance(opt, Momentum) and opt.mu == 0.5 and opt.convention == "ema"
    assert get_optimizer("adamw", lr=0.1, weight_decay=0.05).weight_decay == 0.05
    with pytest.raises(ValueError, match="'adamw'"):
        get_optimizer("adamax", lr=0.1)


def test_repr_shows_hyperparameters():
    assert repr(Adam()) == "Adam(lr=0.001, beta1=0.9, beta2=0.999, eps=1e-08)"
    assert repr(Momentum(0.1, convention="classical")) == "Momentum(lr=0.1, mu=0.9, convention='classical')"
    assert repr(SGD(0.5)) == "SGD(lr=0.5)"
    assert "bias_correction=False" in repr(Adam(bias_correction=False))
    assert repr(AdamW()) == "AdamW(lr=0.001, beta1=0.9, beta2=0.999, eps=1e-08, weight_decay=0.01)"


def test_lr_can_be_changed_between_steps_and_is_validated():
    opt = SGD(0.1)
    params = {"w": one(1.0)}
    state = opt.init_state(params)
    opt.step(params, {"w": one(1.0)}, state)  # w = 1 - 0.1 = 0.9
    opt.lr = 0.5
    opt.step(params, {"w": one(1.0)}, state)  # w = 0.9 - 0.5 = 0.4
    assert params["w"][0] == pytest.approx(0.4, rel=1e-15)
    with pytest.raises(ValueError, match="lr must be > 0; got 0.0"):
        opt.lr = 0.0


# ----------------------------------------------------------------------------------------------
# properties
# ----------------------------------------------------------------------------------------------
@settings(max_examples=25, deadline=None)
@given(
    name=st.sampled_from(sorted(FACTORIES)),
    dtype=st.sampled_from([np.float32, np.float64]),
    shape=hnp.array_shapes(min_dims=1, max_dims=3, max_side=5),
    data=st.data(),
)
def test_property_shapes_and_dtypes_preserved(name, dtype, shape, data):
    elems = st.floats(-10, 10, width=32)
    p = data.draw(hnp.arrays(dtype, shape, elements=elems))
    g1 = data.draw(hnp.arrays(dtype, shape, elements=elems))
    g2 = data.draw(hnp.arrays(np.float64, shape, elements=elems))  # float64 grads on float32 params
    params = {"p": p}
    opt = FACTORIES[name]()
    state = opt.init_state(params)
    for g in (g1, g2):
        opt.step(params, {"p": g}, state)
    assert params["p"] is p and p.dtype == dtype and p.shape == shape
    assert np.isfinite(p).all()
    for slot in opt.slots:
        assert state[slot]["p"].dtype == dtype and state[slot]["p"].shape == shape
    assert state["t"] == 2


@settings(max_examples=20, deadline=None)
@given(name=st.sampled_from(sorted(FACTORIES)), seed=st.integers(0, 2**32 - 1))
def test_property_float32_tracks_float64(name, seed):
    rng = np.random.default_rng(seed)
    p64 = rng.standard_normal((3, 4))
    p32 = p64.astype(np.float32)
    o64, o32 = FACTORIES[name](), FACTORIES[name]()
    s64, s32 = o64.init_state({"p": p64}), o32.init_state({"p": p32})
    for _ in range(3):
        g = rng.standard_normal((3, 4))
        o64.step({"p": p64}, {"p": g}, s64)
        o32.step({"p": p32}, {"p": g.astype(np.float32)}, s32)
    assert p32.dtype == np.float32
    np.testing.assert_allclose(p32, p64, rtol=1e-4, atol=1e-4)


@settings(max_examples=15, deadline=None)
@given(name=st.sampled_from(sorted(set(FACTORIES) - {"adamw"})), seed=st.integers(0, 2**32 - 1))
def test_property_zero_gradient_does_not_move_adaptive_or_plain_methods_from_rest(name, seed):
    # from a fresh state, a zero gradient leaves every optimizer where it is (except AdamW, whose
    # decoupled decay shrinks the weights whatever the gradient: see test_adamw_zero_gradient_only_decays)
    p = np.random.default_rng(seed).standard_normal(5)
    before = p.copy()
    opt = FACTORIES[name]()
    state = opt.init_state({"p": p})
    opt.step({"p": p}, {"p": np.zeros(5)}, state)
    np.testing.assert_array_equal(p, before)


# ----------------------------------------------------------------------------------------------
# bad input
# ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("cls", list(OPTIMIZERS.values()))
@pytest.mark.parametrize("lr", [0, -0.5])
def test_lr_must_be_positive(cls, lr):
    with pytest.raises(ValueError, match=rf"lr must be > 0; got {float(lr)}"):
        cls(lr=lr)


def test_lr_must_be_a_finite_number():
    with pytest.raises(ValueError, match="lr"):
        SGD(float("nan"))
    with pytest.raises(TypeError, match="lr"):
        SGD("0.1")


@pytest.mark.parametrize(
    "make, name",
    [
        (lambda v: Adam(beta1=v), "beta1"),
        (lambda v: Adam(beta2=v), "beta2"),
        (lambda v: Momentum(0.1, mu=v), "mu"),
        (lambda v: Nesterov(0.1, mu=v), "mu"),
        (lambda v: RMSprop(beta=v), "beta"),
        (lambda v: Adadelta(rho=v), "rho"),
    ],
)
@pytest.mark.parametrize("value", [1.0, 1.5, -0.1])
def test_decay_rates_must_lie_in_0_1(make, name, value):
    with pytest.raises(ValueError, match=rf"{name} must be in \[0, 1\); got {value}"):
        make(value)


def test_other_hyperparameters_validated():
    with pytest.raises(ValueError, match="convention"):
        Momentum(0.1, convention="nesterov")
    with pytest.raises(ValueError, match="eps"):
        Adam(eps=0)
    with pytest.raises(ValueError, match="weight_decay must be >= 0; got -0.1"):
        AdamW(weight_decay=-0.1)
    with pytest.raises(TypeError, match="weight_decay must be a real number"):
        AdamW(weight_decay="0.1")
    with pytest.raises(ValueError, match="etas"):
        Rprop(etas=(1.2, 0.5))
    with pytest.raises(ValueError, match="step_sizes"):
        Rprop(step_sizes=(1.0, 0.5))
    with pytest.raises(ValueError, match="etas"):
        Rprop(etas=0.5)


def _setup(rng, opt=None):
    opt = opt or Adam()
    params = {"W1": rng.standard_normal((3, 2)), "b1": rng.standard_normal(2)}
    return opt, params, opt.init_state(params)


def test_missing_or_extra_gradient_keys_are_named(rng):
    opt, params, state = _setup(rng)
    with pytest.raises(KeyError, match=r"missing from grads: \['b1'\]"):
        opt.step(params, {"W1": np.zeros((3, 2))}, state)
    with pytest.raises(KeyError, match=r"in grads but not in params: \['W9'\]"):
        opt.step(params, {"W1": np.zeros((3, 2)), "b1": np.zeros(2), "W9": np.zeros(1)}, state)


def test_shape_mismatch_names_key_and_both_shapes(rng):
    opt, params, state = _setup(rng)
    with pytest.raises(ShapeError, match=r"grads\['W1'\] has shape \(2, 3\) but params\['W1'\] has shape \(3, 2\)"):
        opt.step(params, {"W1": np.zeros((2, 3)), "b1": np.zeros(2)}, state)
    assert issubclass(ShapeError, ValueError)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("name", list(FACTORIES))
def test_nonfinite_gradient_names_parameter_and_changes_nothing(name, bad, rng):
    opt, params, state = _setup(rng, FACTORIES[name]())
    before_params, before_state = copy.deepcopy(params), copy.deepcopy(state)
    grads = {"W1": np.ones((3, 2)), "b1": np.array([1.0, bad])}
    with pytest.raises(ValueError, match=r"gradient of parameter 'b1' is not finite.*index \(1,\)"):
        opt.step(params, grads, state)
    for k in params:  # W1 (checked before b1) was not updated either
        np.testing.assert_array_equal(params[k], before_params[k])
    assert state["t"] == before_state["t"]


def test_huge_but_finite_gradients_are_accepted():
    # 1e300**2 overflows: a finiteness test built on sums of squares would wrongly refuse these
    opt = Rprop(lr=0.1)
    params = {"w": np.zeros(2)}
    state = opt.init_state(params)
    opt.step(params, {"w": np.array([1e300, -1e300])}, state)
    np.testing.assert_allclose(params["w"], [-0.1, 0.1])


def test_state_must_come_from_init_state(rng):
    opt, params, state = _setup(rng)
    with pytest.raises(KeyError, match="'m'"):
        opt.step(params, {"W1": np.zeros((3, 2)), "b1": np.zeros(2)}, RMSprop().init_state(params))
    other = {"W1": np.zeros((3, 2)), "b2": np.zeros(2)}
    with pytest.raises(KeyError, match="b2"):
        opt.step(params, {"W1": np.zeros((3, 2)), "b1": np.zeros(2)}, opt.init_state(other))
    wrong = opt.init_state({"W1": np.zeros((2, 2)), "b1": np.zeros(2)})
    with pytest.raises(ShapeError, match=r"state\['m'\]\['W1'\]"):
        opt.step(params, {"W1": np.zeros((3, 2)), "b1": np.zeros(2)}, wrong)
    with pytest.raises(TypeError, match="init_state"):
        opt.step(params, {"W1": np.zeros((3, 2)), "b1": np.zeros(2)}, {})


def test_params_and_grads_must_be_dicts_of_float_arrays():
    opt = SGD(0.1)
    with pytest.raises(TypeError, match="params"):
        opt.init_state([np.zeros(2)])
    with pytest.raises(TypeError, match=r"params\['w'\] must be a numpy ndarray"):
        opt.init_state({"w": [1.0, 2.0]})
    with pytest.raises(TypeError, match=r"params\['w'\] must have a floating dtype"):
        opt.init_state({"w": np.arange(3)})
    with pytest.raises(ValueError, match=r"params\['w'\] must be finite"):
        opt.init_state({"w": np.array([1.0, np.nan])})
    params = {"w": np.zeros(2)}
    state = opt.init_state(params)
    with pytest.raises(TypeError, match="grads"):
        opt.step(params, [np.zeros(2)], state)
    with pytest.raises(TypeError, match=r"grads\['w'\] must be a numpy ndarray"):
        opt.step(params, {"w": [1.0, 2.0]}, state)
    with pytest.raises(TypeError, match=r"grads\['w'\] must hold real numbers"):
        opt.step(params, {"w": np.array([True, False])}, state)
