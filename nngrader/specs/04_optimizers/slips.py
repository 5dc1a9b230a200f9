"""Assignment 4: known slips, replayed at the first wrong step to name what the student did."""
from __future__ import annotations

import math

import numpy as np

from nnkit.gradcheck import rel_error


from .rules import SLIP_TOL, Rule, ref_step


# --------------------------------------------------------------------------------------------
# known slips: (w, g, state, t, hp) -> (w_new, state_new), replayed at the first wrong step
# --------------------------------------------------------------------------------------------
def _scaled_step(w, num, acc, hp, *, inside=False, root=True):
    """``w - lr * num / (sqrt(acc) + eps)``, the step of AdaGrad, RMSProp and Adam, or a slip in its
    denominator: eps inside the square root (``inside``), or no square root (``root=False``)."""
    with np.errstate(all="ignore"):
        if not root:
            den = acc + hp["eps"]
        else:
            den = np.sqrt(acc + hp["eps"]) if inside else np.sqrt(acc) + hp["eps"]
        return w - hp["lr"] * num / den


def _sgd_slips():
    return [
        ("you moved *up* the gradient: the update is w - lr * g", lambda w, g, st, t, hp: (w + hp["lr"] * g, [])),
        ("the learning rate is missing: the update is w - lr * g", lambda w, g, st, t, hp: (w - g, [])),
    ]


def _momentum_slips(n: str):
    def pt(w, g, st, t, hp):
        v = hp["mu"] * st[0] + g
        return w - hp["lr"] * v, [v]

    def lr_twice(w, g, st, t, hp):
        v = hp["mu"] * st[0] + hp["lr"] * g
        return w - hp["lr"] * v, [v]

    def classical(w, g, st, t, hp):
        v = hp["mu"] * st[0] - hp["lr"] * g
        return w + v, [v]

    def ema(w, g, st, t, hp):
        v = hp["mu"] * st[0] + (1 - hp["mu"]) * g
        return w - hp["lr"] * v, [v]

    def old_v(w, g, st, t, hp):
        return w - hp["lr"] * st[0], [hp["mu"] * st[0] + g]

    def no_v(w, g, st, t, hp):
        return w - hp["lr"] * g, [hp["mu"] * st[0] + g]

    def nag(w, g, st, t, hp):
        v = hp["mu"] * st[0] + g
        return w - hp["lr"] * (g + hp["mu"] * v), [v]

    def nag_lr_twice(w, g, st, t, hp):
        v = hp["mu"] * st[0] + hp["lr"] * g
        return w - hp["lr"] * (g + hp["mu"] * v), [v]

    common = [
        ("the learning rate is applied twice (v = mu*v + lr*g, then w - lr*v, the slide's slip 1); in the "
         "PyTorch form v collects raw gradients, v = mu*v + g, and lr multiplies only the step", lr_twice),
        ("this is the classical convention (v = mu*v - lr*g; w = w + v); this assignment keeps the PyTorch "
         "velocity v = mu*v + g and steps w - lr*v (from a zero start both give the same weights, but the "
         "classical v is -lr times the PyTorch one)", classical),
        ("this is the EMA convention (v = mu*v + (1 - mu)*g); here the velocity is the PyTorch one, "
         "v = mu*v + g", ema),
    ]
    if n == "momentum":
        return common + [
            ("you stepped with the velocity from *before* this step's update; update v first, then w - lr*v", old_v),
            ("the velocity is not used in the step (that is plain SGD)", no_v),
            ("this is Nesterov's step, w - lr*(g + mu*v); plain momentum steps with w - lr*v", nag),
        ]
    return [
        ("this is plain momentum, w - lr*v (which is also what w - lr*(g + mu*v) gives with the velocity from "
         "*before* the update); Nesterov steps with w - lr*(g + mu*v) using the *updated* v", pt),
        ("the learning rate is applied twice (v = mu*v + lr*g); v collects raw gradients, v = mu*v + g",
         nag_lr_twice),
        ("your weights are right but your v is -lr times the velocity asked for (the classical/Sutskever "
         "convention); return the PyTorch velocity v = mu*v + g", lambda w, g, st, t, hp: (
             nag(w, g, st, t, hp)[0], [-hp["lr"] * (hp["mu"] * st[0] + g)])),
        ("the velocity is not used in the step (that is plain SGD)", no_v),
    ]


def _adagrad_slips():
    def base(w, g, st, t, hp, *, inside=False, accumulate=True, square=True, root=True, old=False):
        G = (st[0] if accumulate else 0.0) + (g * g if square else g)
        return _scaled_step(w, g, st[0] if old else G, hp, inside=inside, root=root), [G]

    return [
        ("eps sits inside the square root, lr*g/sqrt(G + eps) (the slide's convention); this assignment, like "
         "PyTorch, adds it outside: lr*g/(sqrt(G) + eps). The two differ visibly when eps is large",
         lambda *a: base(*a, inside=True)),
        ("G must accumulate: G = G + g**2 (a sum over all steps so far), not just this step's g**2",
         lambda *a: base(*a, accumulate=False)),
        ("G sums the *squared* gradients: G = G + g**2", lambda *a: base(*a, square=False)),
        ("the step divides by sqrt(G) + eps, not by G + eps", lambda *a: base(*a, root=False)),
        ("add this step's g**2 to G *before* dividing by sqrt(G) + eps", lambda *a: base(*a, old=True)),
    ]


def _rmsprop_slips():
    def base(w, g, st, t, hp, *, inside=False, square=True, swap=False, root=True):
        b = 1 - hp["beta"] if swap else hp["beta"]
        s = b * st[0] + (1 - b) * (g * g if square else g)
        return _scaled_step(w, g, s, hp, inside=inside, root=root), [s]

    return [
        ("the running average must be of the *squared* gradient, s = beta*s + (1 - beta)*g**2 (slip 3: the "
         "slide averages g itself, which can be negative and has no square root)",
         lambda *a: base(*a, square=False)),
        ("eps sits inside the square root; this assignment, like PyTorch, divides by sqrt(s) + eps",
         lambda *a: base(*a, inside=True)),
        ("beta and 1 - beta are swapped: s = beta*s + (1 - beta)*g**2 keeps the fraction beta of the old average",
         lambda *a: base(*a, swap=True)),
        ("the step divides by sqrt(s) + eps, not by s + eps", lambda *a: base(*a, root=False)),
    ]


def _adam_slips():
    def base(w, g, st, t, hp, *, c1=True, c2=True, shift=0, inside=False, swap=False, eps_hat=False):
        b1, b2 = hp["beta1"], hp["beta2"]
        if swap:
            b1, b2 = 1 - b1, 1 - b2
        m = b1 * st[0] + (1 - b1) * g
        v = b2 * st[1] + (1 - b2) * g * g
        tt = t + shift
        with np.errstate(all="ignore"):
            mh = m / (1 - hp["beta1"] ** tt) if c1 else m
            vh = v / (1 - hp["beta2"] ** tt) if c2 else v
            if eps_hat:  # Kingma & Ba's "efficient" form: eps added before the correction
                return _scaled_step(w, math.sqrt(1 - hp["beta2"] ** tt) / (1 - hp["beta1"] ** tt) * m, v, hp), [m, v]
            return _scaled_step(w, mh, vh, hp, inside=inside), [m, v]

    return [
        ("this is Adam without bias correction (the slide's slip 6): divide m by (1 - beta1**t) and v by "
         "(1 - beta2**t) before the step", lambda *a: base(*a, c1=False, c2=False)),
        ("only m is bias-corrected; v_hat = v / (1 - beta2**t) as well", lambda *a: base(*a, c2=False)),
        ("only v is bias-corrected; m_hat = m / (1 - beta1**t) as well", lambda *a: base(*a, c1=False)),
        ("the bias correction uses t - 1; t is the number of this step (1 for the first step) and "
         "the correction uses beta**t", lambda *a: base(*a, shift=-1)),
        ("the bias correction uses t + 1; t is already the number of this step (1 for the first step)",
         lambda *a: base(*a, shift=1)),
        ("eps sits inside the square root; this assignment, like PyTorch, divides by sqrt(v_hat) + eps",
         lambda *a: base(*a, inside=True)),
        ("eps is added to sqrt(v) before the bias correction (the 'efficient' form of Kingma & Ba, TensorFlow's "
         "epsilon-hat); this assignment, like PyTorch, adds it after: m_hat / (sqrt(v_hat) + eps)",
         lambda *a: base(*a, eps_hat=True)),
        ("beta and 1 - beta are swapped in the running averages: m = beta1*m + (1 - beta1)*g keeps the "
         "fraction beta1 of the old average", lambda *a: base(*a, swap=True)),
    ]


def _slips(rule: Rule):
    """``[(advice, fn)]``; fn returns (w_new, [state...]) of the slip."""
    n = rule.name
    if n == "sgd":
        return _sgd_slips()
    if n in ("momentum", "nesterov"):
        return _momentum_slips(n)
    return {"adagrad": _adagrad_slips, "rmsprop": _rmsprop_slips, "adam": _adam_slips}.get(n, list)()


def diagnose_slip(rule: Rule, w, g, state, t, hp, got_w, got_state) -> str:
    """Advice naming the slip whose step from (w, state) reproduces the student's numbers; '' if none.

    Steps ``w_new - w`` are compared (not ``w_new``), so that small steps are told apart too. A
    slip is named only when the student's numbers are much closer to it than it is to nnkit's
    step (several slips can be indistinguishable from the right answer on a given case), and of
    the slips that qualify the closest one wins.
    """
    if got_w is None:
        return ""
    w = np.asarray(w, float)
    g = np.asarray(g, float)
    state = [np.asarray(x, float) for x in state]
    ref_w, ref_state = ref_step(rule, w, g, state, t, hp)
    got_step = np.asarray(got_w, float) - w
    best, best_err = "", math.inf
    for advice, fn in _slips(rule):
        try:
            with np.errstate(all="ignore"):
                sw, sst = fn(w, g, state, t, hp)
        except Exception:
            continue
        errs = [_distance(got_step, sw - w)]
        apart = [_distance(sw - w, ref_w - w)]
        for gs, ss, rs in zip(got_state, sst, ref_state):
            if gs is not None:
                errs.append(_distance(gs, ss))
                apart.append(_distance(ss, rs))
        err = max(errs)
        if err <= SLIP_TOL and err < 0.01 * max(apart) and err < best_err:
            best, best_err = advice, err
    return best


def _distance(a, b) -> float:
    """Relative error that treats NaN as equal to NaN (a slip may produce NaN); inf if shapes differ."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        return math.inf
    fa, fb = np.isfinite(a), np.isfinite(b)
    if not np.array_equal(fa, fb):
        return math.inf
    if not np.array_equal(np.nan_to_num(a[~fa], nan=0.5), np.nan_to_num(b[~fb], nan=0.5)):
        return math.inf
    return rel_error(a[fa], b[fb]) if fa.any() else 0.0


def _scale_hint(name: str, got, expected) -> str:
    """'v_new is -0.1 times the expected one' when that is what happened."""
    got, expected = np.asarray(got, float), np.asarray(expected, float)
    if got.shape != expected.shape or not np.all(np.isfinite(got)) or not np.any(expected):
        return ""
    if expected.size < 2 or np.allclose(expected, expected.flat[0], rtol=1e-9, atol=0.0):
        return ""  # one number (or a constant vector) is a multiple of anything: that proves nothing
    c = float(np.vdot(got, expected) / np.vdot(expected, expected))
    if abs(c - 1) < 1e-6 or abs(c) < 1e-12 or rel_error(got, c * expected) > 1e-6:
        return ""
    return f"{name} is {c:.4g} times the expected one"


def _digits(got, expected) -> int:
    """Significant digits that show the difference between two numbers/arrays (6 to 17)."""
    got, expected = np.ravel(np.asarray(got, float)), np.ravel(np.asarray(expected, float))
    for d in range(6, 18):
        if got.shape != expected.shape or any(f"{a:.{d}g}" != f"{b:.{d}g}" for a, b in zip(got, expected)):
            return d
    return 17


def _fmt(v, d: int = 6) -> str:
    v = np.ravel(np.asarray(v, dtype=np.float64))
    s = ", ".join(f"{x:.{d}g}" for x in v[:4]) + (", ..." if v.size > 4 else "")
    return f"({s})"


