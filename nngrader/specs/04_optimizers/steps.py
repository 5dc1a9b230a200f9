"""Assignment 4: one step from a given state, compared with nnkit's."""
from __future__ import annotations

import numpy as np

from nnkit.gradcheck import rel_error

from .. import Case
from ...verdict import Part, as_numeric

from .rules import STEP_TOL, Rule, ref_step
from .slips import _digits, _scale_hint, diagnose_slip


# --------------------------------------------------------------------------------------------
# one-step cases
# --------------------------------------------------------------------------------------------
def _unpack(rule: Rule, value):
    """The student's return value as [w_new, *state_new], or (None, Part) saying what is wrong."""
    n = 1 + len(rule.slots)
    if n == 1:
        if isinstance(value, (tuple, list)) and len(value) == 1 and not np.isscalar(value[0]):
            return None, Part(False, f"return value: expected the array w_new, got a {type(value).__name__} "
                                     "holding it; sgd_step has no state to return")
        return [value], None
    if isinstance(value, (tuple, list)) and len(value) == n:
        return list(value), None
    got = type(value).__name__ + (f" of length {len(value)}" if isinstance(value, (tuple, list)) else "")
    return None, Part(False, f"return value: expected a tuple {rule.returns()}; got a {got}")


def _compare(name, got, expected, tol):
    """(Part, array or None): a relative-error comparison that also reports NaN/Inf and shapes."""
    a, bad = as_numeric(got, name)
    if bad:
        return bad, None
    a = a.astype(np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    if a.shape != expected.shape:
        return Part(False, f"{name}: shape {a.shape}, expected {expected.shape} (the shape of w)"), None
    if not np.all(np.isfinite(a)):
        ix = tuple(int(i) for i in np.argwhere(~np.isfinite(a))[0])
        return Part(False, f"{name}: contains {a[ix]} at index {ix}"), a
    err = rel_error(a, expected)
    if err <= tol:
        return Part(True), a
    ix = tuple(int(i) for i in np.unravel_index(int(np.argmax(np.abs(a - expected))), a.shape))
    d = _digits(a[ix], expected[ix])
    return Part(False, f"{name}: relative error {err:.2g} at index {ix} (expected <= {tol:g}): got {a[ix]:.{d}g}, "
                       f"expected {expected[ix]:.{d}g}"), a


def step_judge(rule: Rule):
    def judge(case, value):
        w, g, state, t, hp = case.expect
        exp_w, exp_state = ref_step(rule, w, g, state, t, hp)
        items, bad = _unpack(rule, value)
        if bad:
            return [bad] + [Part(False, "")] * len(rule.slots)
        names = ["w_new", *[s + "_new" for s in rule.slots]]
        parts, arrays = [], []
        for name, got, exp in zip(names, items, [exp_w, *exp_state]):
            p, a = _compare(name, got, exp, STEP_TOL)
            parts.append(p)
            arrays.append(a)
        if all(p.ok for p in parts):
            return parts
        advice = diagnose_slip(rule, w, g, state, t, hp, arrays[0], arrays[1:])
        if not advice:
            hints = [_scale_hint(n, a, e) for n, a, e, p in zip(names, arrays, [exp_w - w, *exp_state], parts)
                     if not p.ok and a is not None and n != "w_new"]
            if not parts[0].ok and arrays[0] is not None:
                h = _scale_hint("your step w_new - w", arrays[0] - w, exp_w - w)
                hints.insert(0, h)
            advice = "; ".join(h for h in hints if h)
        if advice:
            next(p for p in parts if not p.ok).cause = advice
        return parts

    return judge


def _state_like(rule: Rule, shape, rng, scale, zero=False):
    """Plausible state arrays: velocities/first moments of either sign, second moments >= 0."""
    out = []
    for slot in rule.slots:
        if zero:
            out.append(np.zeros(shape))
        elif (rule.name, slot) in (("adagrad", "G"), ("rmsprop", "s"), ("adam", "v")):
            k = rng.integers(1, 20) if rule.name == "adagrad" else 1
            out.append((rng.normal(size=shape) * scale) ** 2 * k + rng.uniform(0, 0.1, size=shape) * scale**2)
        else:
            out.append(rng.normal(size=shape) * scale)
    return out


def _random_hp(rule: Rule, rng, *, big_eps=False) -> dict:
    hp = {"lr": float(10 ** rng.uniform(-3, -0.5))}
    if rule.name in ("momentum", "nesterov"):
        hp["mu"] = float(rng.uniform(0.5, 0.99))
    if rule.name == "adagrad":
        hp["lr"] = float(10 ** rng.uniform(-2, 0))
        hp["eps"] = float(rng.uniform(0.2, 1.0)) if big_eps else float(10 ** rng.uniform(-10, -6))
    if rule.name == "rmsprop":
        hp["beta"] = float(rng.uniform(0.8, 0.999))
        hp["eps"] = float(rng.uniform(0.2, 1.0)) if big_eps else float(10 ** rng.uniform(-10, -6))
    if rule.name == "adam":
        hp.update(beta1=float(rng.uniform(0.8, 0.95)), beta2=float(rng.uniform(0.99, 0.9999)),
                  eps=float(rng.uniform(0.2, 1.0)) if big_eps else float(10 ** rng.uniform(-10, -7)))
    return hp


def _hp_text(hp) -> str:
    return ", ".join(f"{k}={v:.3g}" for k, v in hp.items())


def step_case(rule: Rule, w, g, state, t, hp, label) -> Case:
    w, g = np.asarray(w, float), np.asarray(g, float)
    state = [np.asarray(s, float) for s in state]
    return Case(rule.args(w, g, state, t, hp), label=label, function=rule.function,
                expect=(w.copy(), g.copy(), [s.copy() for s in state], t, dict(hp)))


VISIBLE_STEPS = {
    "sgd": [
        ((1.0, -2.0), (0.5, 1.0), [], 1, {"lr": 0.1}),
        ((0.0, 3.0, -1.0), (-2.0, 0.0, 4.0), [], 1, {"lr": 0.5}),
    ],
    "momentum": [
        ((1.0, -2.0), (0.5, 1.0), [(0.0, 0.0)], 1, {"lr": 0.1, "mu": 0.9}),
        ((1.0, -2.0), (0.5, 1.0), [(0.2, -0.4)], 2, {"lr": 0.1, "mu": 0.9}),
    ],
    "nesterov": [
        ((1.0, -2.0), (0.5, 1.0), [(0.0, 0.0)], 1, {"lr": 0.1, "mu": 0.9}),
        ((1.0, -2.0), (0.5, 1.0), [(0.2, -0.4)], 2, {"lr": 0.1, "mu": 0.9}),
    ],
    "adagrad": [
        ((1.0, -2.0), (0.5, 1.0), [(0.0, 0.0)], 1, {"lr": 0.5, "eps": 1e-10}),
        ((1.0, -2.0), (0.5, -1.0), [(3.21, 0.16)], 4, {"lr": 0.1, "eps": 0.1}),
    ],
    "rmsprop": [
        ((1.0, -2.0), (0.5, -1.0), [(0.0, 0.0)], 1, {"lr": 0.01, "beta": 0.9, "eps": 1e-8}),
        ((1.0, -2.0), (0.5, -1.0), [(0.04, 0.25)], 3, {"lr": 0.01, "beta": 0.9, "eps": 1e-8}),
    ],
    "adam": [
        ((1.0, -2.0), (0.5, -1.0), [(0.0, 0.0), (0.0, 0.0)], 1,
         {"lr": 0.01, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8}),
        ((1.0, -2.0), (0.5, -1.0), [(0.1, -0.3), (0.002, 0.004)], 3,
         {"lr": 0.01, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8}),
    ],
}


def _step_label(rule, w, state, t, hp, extra=""):
    zero = all(not np.any(s) for s in state)
    st = "" if not rule.slots else (", zero state" if zero else ", state given")
    tt = f", t={t}" if rule.name == "adam" else ""
    return f"one step, w {np.shape(w)}{st}{tt}, {_hp_text(hp)}{extra}"


def visible_steps(rule: Rule):
    out = []
    for w, g, state, t, hp in VISIBLE_STEPS[rule.name]:
        extra = " (a large eps, so where it sits shows)" if hp.get("eps", 0) >= 0.1 else ""
        out.append(step_case(rule, w, g, state, t, hp, _step_label(rule, w, state, t, hp, extra)))
    return out


def hidden_steps(rule: Rule, rng):
    out = []
    for i in range(3):
        if i == 0:
            shape = (int(rng.integers(1, 9)),)
        elif i == 1:
            shape = (int(rng.integers(1, 6)), int(rng.integers(1, 6)))
        else:
            shape = (int(rng.integers(2, 7)),)
        scale = float(10 ** rng.uniform(-2, 1))
        w = rng.normal(size=shape)
        g = rng.normal(size=shape) * scale
        big_eps = i == 2 and rule.name in ("adagrad", "rmsprop", "adam")
        hp = _random_hp(rule, rng, big_eps=big_eps)
        t = 1 if i == 0 else int(rng.integers(2, 60))
        state = _state_like(rule, shape, rng, scale, zero=(i == 0))
        extra = ""
        if i == 1 and g.size > 1:  # edge case: a weight whose gradient (and history) is exactly 0
            g.reshape(-1)[0] = 0.0
            for s in state:
                s.reshape(-1)[0] = 0.0
            extra = ", one gradient entry" + (" and its state" if rule.slots else "") + " exactly 0"
        if big_eps:
            extra += ", a large eps"
        out.append(step_case(rule, w, g, state, t, hp, _step_label(rule, w, state, t, hp, extra)))
    return out


