"""Assignment 4, optimizers: update rules checked step by step against :mod:`nnkit.optimizers`.

Student functions (one step each; arrays of any shape; conventions as the notebook states them,
all equal to nnkit's, which follows PyTorch):

- ``sgd_step(w, g, lr) -> w_new``:                      ``w - lr*g``
- ``momentum_step(w, g, v, lr, mu) -> (w_new, v_new)``:  ``v = mu*v + g; w - lr*v``
- ``nesterov_step(w, g, v, lr, mu) -> (w_new, v_new)``:  ``v = mu*v + g; w - lr*(g + mu*v)``
- ``adagrad_step(w, g, G, lr, eps) -> (w_new, G_new)``:  ``G = G + g**2; w - lr*g/(sqrt(G) + eps)``
- ``rmsprop_step(w, g, s, lr, beta, eps) -> (w_new, s_new)``:
  ``s = beta*s + (1-beta)*g**2; w - lr*g/(sqrt(s) + eps)``
- ``adam_step(w, g, m, v, t, lr, beta1, beta2, eps) -> (w_new, m_new, v_new)``: bias-corrected,
  ``t`` = number of this step (1 for the first), eps outside the square root.

Each check has two kinds of case:

- *one step* from a given state (hand-sized vectors when visible; random shapes, scales, states
  and hyperparameters when hidden): every returned array is compared with nnkit's step;
- *a trajectory*: the notebook's locked driver ``run_optimizer(rule, surface, start, steps,
  hyper, surface_args)`` runs K steps of the student's rule on a loss surface of
  :mod:`nnkit.surfaces` and returns ``(path, history)``; the judge runs nnkit's optimizer from
  the same start and reports the first step at which the weights (or the state) part ways.

At the first wrong step the judge replays known slips (slips.md 1, 2, 3, 5, 6 and a few more)
from nnkit's state and names the one that reproduces the student's numbers, e.g.
"w differs from step 1 of 20 on (relative error 0.098: ...) -> at step 1: the learning rate is
applied twice (v = mu*v + lr*g, then w - lr*v, the slide's slip 1); ...". Otherwise it says how
the step compares ("your step is 0.1 times the expected one") or that the returned state is what
goes wrong.
"""
from __future__ import annotations

import math

import numpy as np

from nnkit import optimizers as O
from nnkit import surfaces as S
from nnkit.gradcheck import rel_error

from . import Case, Check
from ..verdict import Part, as_numeric

STEP_TOL = 1e-9   # one step: only round-off separates equivalent formulas
PATH_TOL = 1e-8   # a trajectory of <= 40 steps: round-off measured < 1e-14 on every surface
SLIP_TOL = 1e-6   # a student's step "is" a named slip when it matches it this closely


# --------------------------------------------------------------------------------------------
# the rules: student names and argument order vs nnkit's classes and state slots
# --------------------------------------------------------------------------------------------
class Rule:
    def __init__(self, name, cls, hyper, slots, nnkit_slots):
        self.name = name
        self.function = f"{name}_step"
        self.cls = cls
        self.hyper = hyper              # hyperparameter names, in the student's argument order
        self.slots = slots              # the student's state names, in argument/return order
        self.nnkit_slots = nnkit_slots  # the same arrays in nnkit's state dict

    def args(self, w, g, state, t, hp):
        """The student's positional arguments for one step."""
        out = [w, g, *state]
        if self.name == "adam":
            out.append(int(t))
        return tuple(out + [hp[k] for k in self.hyper])

    def returns(self) -> str:
        return "w_new" if not self.slots else "(" + ", ".join(["w_new", *[s + "_new" for s in self.slots]]) + ")"


RULES = {
    "sgd": Rule("sgd", O.SGD, ("lr",), (), ()),
    "momentum": Rule("momentum", O.Momentum, ("lr", "mu"), ("v",), ("v",)),
    "nesterov": Rule("nesterov", O.Nesterov, ("lr", "mu"), ("v",), ("v",)),
    "adagrad": Rule("adagrad", O.Adagrad, ("lr", "eps"), ("G",), ("sum_sq",)),
    "rmsprop": Rule("rmsprop", O.RMSprop, ("lr", "beta", "eps"), ("s",), ("sq_avg",)),
    "adam": Rule("adam", O.Adam, ("lr", "beta1", "beta2", "eps"), ("m", "v"), ("m", "v")),
}


def ref_step(rule: Rule, w, g, state, t, hp):
    """nnkit's step ``t`` (1-based) from ``w`` with gradient ``g`` and the given state arrays."""
    opt = rule.cls(**hp)
    params = {"w": np.array(w, dtype=np.float64, copy=True)}
    st = opt.init_state(params)
    st["t"] = int(t) - 1
    for slot, arr in zip(rule.nnkit_slots, state):
        st[slot]["w"][...] = arr
    opt.step(params, {"w": np.array(g, dtype=np.float64, copy=True)}, st)
    return params["w"], [st[s]["w"].copy() for s in rule.nnkit_slots]


def make_surface(name: str, surface_args: dict | None):
    return getattr(S, name)(**(surface_args or {}))


def ref_path(rule: Rule, surface, start, steps, hp, surface_args=None):
    """nnkit's trajectory: path (K+1, 2), history {student slot: (K+1, 2)} and the gradients (K, 2)."""
    surf = make_surface(surface, surface_args)
    w = np.array(start, dtype=np.float64)
    state = [np.zeros(2) for _ in rule.slots]
    path, grads = [w.copy()], []
    hist = {s: [np.zeros(2)] for s in rule.slots}
    with np.errstate(all="ignore"):
        for t in range(1, steps + 1):
            g = surf.grad(w[0], w[1])
            grads.append(g)
            w, state = ref_step(rule, w, g, state, t, hp)
            path.append(w.copy())
            for s, a in zip(rule.slots, state):
                hist[s].append(a.copy())
    return np.array(path), {s: np.array(v) for s, v in hist.items()}, np.array(grads)


# --------------------------------------------------------------------------------------------
# known slips: (w, g, state, t, hp) -> (w_new, state_new), replayed at the first wrong step
# --------------------------------------------------------------------------------------------
def _sqrt(x):
    with np.errstate(all="ignore"):
        return np.sqrt(x)


def _slips(rule: Rule):
    """``[(advice, fn)]``; fn returns (w_new, [state...]) of the slip."""
    n = rule.name
    if n == "sgd":
        return [
            ("you moved *up* the gradient: the update is w - lr * g", lambda w, g, st, t, hp: (w + hp["lr"] * g, [])),
            ("the learning rate is missing: the update is w - lr * g", lambda w, g, st, t, hp: (w - g, [])),
        ]
    if n in ("momentum", "nesterov"):
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
    if n == "adagrad":
        def base(w, g, st, t, hp, *, inside=False, accumulate=True, square=True, root=True, old=False):
            G = (st[0] if accumulate else 0.0) + (g * g if square else g)
            D = st[0] if old else G
            den = (_sqrt(D + hp["eps"]) if inside else _sqrt(D) + hp["eps"]) if root else D + hp["eps"]
            with np.errstate(all="ignore"):
                return w - hp["lr"] * g / den, [G]

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
    if n == "rmsprop":
        def base(w, g, st, t, hp, *, inside=False, square=True, swap=False, root=True):
            b = 1 - hp["beta"] if swap else hp["beta"]
            s = b * st[0] + (1 - b) * (g * g if square else g)
            den = (_sqrt(s + hp["eps"]) if inside else _sqrt(s) + hp["eps"]) if root else s + hp["eps"]
            with np.errstate(all="ignore"):
                return w - hp["lr"] * g / den, [s]

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
    if n == "adam":
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
                den = _sqrt(vh + hp["eps"]) if inside else _sqrt(vh) + hp["eps"]
                if eps_hat:  # Kingma & Ba's "efficient" form: eps added before the correction
                    return w - hp["lr"] * math.sqrt(1 - hp["beta2"] ** tt) / (1 - hp["beta1"] ** tt) * m / (
                        _sqrt(v) + hp["eps"]), [m, v]
                return w - hp["lr"] * mh / den, [m, v]

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
    return []


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


# --------------------------------------------------------------------------------------------
# trajectory cases (through the notebook's run_optimizer)
# --------------------------------------------------------------------------------------------
def _surface_text(surface, surface_args):
    if not surface_args:
        return surface
    return f"{surface}({', '.join(f'{k}={v:g}' for k, v in surface_args.items())})"


def path_case(rule: Rule, surface, start, steps, hp, surface_args=None, note="") -> Case:
    label = (f"{steps} steps on {_surface_text(surface, surface_args)} from "
             f"({start[0]:.3g}, {start[1]:.3g}), {_hp_text(hp)}{note}")
    return Case((rule.name, surface, (float(start[0]), float(start[1])), int(steps), dict(hp), dict(surface_args or {})),
                label=label, function="run_optimizer")


VISIBLE_PATHS = {
    "sgd": [("quadratic_bowl", (-2.5, 1.0), 20, {"lr": 0.15}, {"condition": 10.0}),
            ("rosenbrock", (-1.2, 1.0), 20, {"lr": 1e-3}, None)],
    "momentum": [("quadratic_bowl", (-2.5, 1.0), 20, {"lr": 0.05, "mu": 0.9}, {"condition": 10.0}),
                 ("rosenbrock", (-1.2, 1.0), 20, {"lr": 1e-3, "mu": 0.9}, None)],
    "nesterov": [("quadratic_bowl", (-2.5, 1.0), 20, {"lr": 0.05, "mu": 0.9}, {"condition": 10.0}),
                 ("rosenbrock", (-1.2, 1.0), 20, {"lr": 1e-3, "mu": 0.9}, None)],
    "adagrad": [("quadratic_bowl", (-2.5, 1.0), 20, {"lr": 0.5, "eps": 1e-10}, {"condition": 10.0}),
                ("rosenbrock", (-1.2, 1.0), 20, {"lr": 0.5, "eps": 0.5}, None)],
    "rmsprop": [("quadratic_bowl", (-2.5, 1.0), 20, {"lr": 0.05, "beta": 0.9, "eps": 1e-8}, {"condition": 10.0}),
                ("rosenbrock", (-1.2, 1.0), 20, {"lr": 0.01, "beta": 0.9, "eps": 1e-8}, None)],
    "adam": [("quadratic_bowl", (-2.5, 1.0), 20, {"lr": 0.1, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8},
              {"condition": 10.0}),
             ("rosenbrock", (-1.2, 1.0), 20, {"lr": 0.05, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8}, None)],
}


def visible_paths(rule: Rule):
    out = []
    for surface, start, steps, hp, sargs in VISIBLE_PATHS[rule.name]:
        note = " (a large eps)" if hp.get("eps", 0) >= 0.1 else ""
        out.append(path_case(rule, surface, start, steps, hp, sargs, note))
    return out


_HIDDEN_SURFACES = ("beale", "saddle", "himmelblau", "quadratic_bowl", "rosenbrock")


def _path_hp(rule: Rule, surface, rng, big_eps=False):
    """Hyperparameters that suit the surface's gradient scale (so that the path stays bounded)."""
    base_lr = {"quadratic_bowl": 0.02, "rosenbrock": 5e-4, "beale": 2e-3, "saddle": 0.05, "himmelblau": 3e-3}[surface]
    hp = _random_hp(rule, rng, big_eps=big_eps)
    if rule.name in ("sgd", "momentum", "nesterov"):
        hp["lr"] = float(base_lr * 10 ** rng.uniform(-0.5, 0.3))
    else:  # steps of about lr whatever the gradient's scale
        hp["lr"] = float(10 ** rng.uniform(-2, -0.7)) if rule.name != "adagrad" else float(10 ** rng.uniform(-1.3, -0.3))
    return hp


def hidden_paths(rule: Rule, rng):
    out = []
    names = list(rng.permutation(_HIDDEN_SURFACES))
    for i in range(3):
        surface = str(names[i])
        for _ in range(50):
            sargs = None
            if surface == "quadratic_bowl":
                sargs = {"condition": float(np.round(rng.uniform(3, 40), 1)), "angle": float(np.round(rng.uniform(0, 3.1), 2))}
            elif surface == "rosenbrock":
                sargs = {"a": float(np.round(rng.uniform(0.5, 1.5), 2)), "b": float(rng.choice([10.0, 50.0, 100.0]))}
            surf = make_surface(surface, sargs)
            (x0, x1), (y0, y1) = surf.bounds
            start = (float(np.round(rng.uniform(0.8 * x0, 0.8 * x1), 3)), float(np.round(rng.uniform(0.8 * y0, 0.8 * y1), 3)))
            if surface == "saddle":  # close to the x-axis: does the rule escape the saddle?
                start = (start[0], float(np.round(rng.uniform(-0.05, 0.05), 5)))
            steps = int(rng.integers(10, 31))
            hp = _path_hp(rule, surface, rng, big_eps=(i == 2 and rule.name in ("adagrad", "rmsprop")))
            try:
                path, hist, _ = ref_path(rule, surface, start, steps, hp, sargs)
            except (ValueError, FloatingPointError):
                continue
            span = max(x1 - x0, y1 - y0)
            if np.all(np.isfinite(path)) and np.abs(path).max() < 3 * span:
                break
        note = ", a large eps" if hp.get("eps", 0) >= 0.1 else ""
        out.append(path_case(rule, surface, start, steps, hp, sargs, note))
    return out


def path_judge(rule: Rule):
    def judge(case, value):
        _, surface, start, steps, hp, sargs = case.args
        exp_path, exp_hist, grads = ref_path(rule, surface, start, steps, hp, sargs)
        names = ["w", *rule.slots]
        fail = lambda msg: [Part(False, msg)] + [Part(False, "")] * len(rule.slots)
        if not (isinstance(value, (tuple, list)) and len(value) == 2 and isinstance(value[1], dict)):
            return fail("run_optimizer did not return (path, history): do not change the driver cell")
        path, bad = as_numeric(value[0], "path")
        if bad:
            return fail(bad.message)
        if path.shape != exp_path.shape:
            return fail(f"path: shape {path.shape}, expected {exp_path.shape}")
        got = {"w": path.astype(np.float64)}
        expected = {"w": exp_path, **exp_hist}
        for s in rule.slots:
            h, bad = as_numeric(value[1].get(s), f"history[{s!r}]")
            got[s] = h.astype(np.float64) if bad is None and h.shape == exp_path.shape else None
        # per-step relative errors of w and of each state array; first step where each part differs
        errs = {n: [(_step_err(got[n][k], expected[n][k]) if got[n] is not None else math.inf)
                    for k in range(steps + 1)] for n in names}
        first = {n: next((k for k, e in enumerate(errs[n]) if e > PATH_TOL), None) for n in names}
        if all(f is None for f in first.values()):
            return [Part(True) for _ in names]
        parts = []
        for n in names:
            j = first[n]
            if j is None:
                parts.append(Part(True))
            elif got[n] is None:
                parts.append(Part(False, f"history[{n!r}] is missing or not an array of shape {exp_path.shape}"))
            else:
                e = errs[n][j]
                size = "is not finite" if not np.isfinite(e) else f"relative error {e:.2g}"
                later = ", ".join(f"{x:.1e}" if np.isfinite(x) else "nan" for x in errs[n][j + 1:j + 4])
                d = _digits(got[n][j], expected[n][j])
                parts.append(Part(False, f"{n} differs from step {j} of {steps} on ({size}: got {_fmt(got[n][j], d)}, "
                                         f"expected {_fmt(expected[n][j], d)}" + (f"; then {later}" if later else "")
                                         + (", ..." if j + 4 <= steps else "") + ")"))
        k = min(f for f in first.values() if f is not None)  # everything before step k agrees
        advice = ""
        if k >= 1:
            prev_state = [exp_hist[s][k - 1] for s in rule.slots]
            got_state = [got[s][k] if got[s] is not None else None for s in rule.slots]
            advice = diagnose_slip(rule, exp_path[k - 1], grads[k - 1], prev_state, k, hp, got["w"][k], got_state)
            if not advice and first["w"] == k:
                advice = _scale_hint("your step", got["w"][k] - exp_path[k - 1], exp_path[k] - exp_path[k - 1])
            if not advice and first["w"] != k:
                wrong = [s + "_new" for s in rule.slots if first[s] == k]
                advice = (f"w_new is right but {' and '.join(wrong)} is not: the state you return is passed back "
                          "in at the next step")
                hints = [_scale_hint(s + "_new", got[s][k], exp_hist[s][k]) for s in rule.slots
                         if first[s] == k and got[s] is not None]
                if any(hints):
                    advice += " (" + "; ".join(h for h in hints if h) + ")"
            if not advice and k > 1 and 1e-12 < errs["w"][1] <= PATH_TOL:
                advice = (f"the paths already differ slightly at step 1 (relative error {errs['w'][1]:.1e}) and the "
                          "gap grows: a small difference in the formula, such as where eps sits")
            if not advice and k > 1:
                advice = (f"step{'s 1 to' if k > 2 else ''} {k - 1} agree{'s' if k == 2 else ''}, so the rule goes "
                          "wrong only later: check the state you return (it is passed back in at the next step)")
                if rule.name == "adam":
                    advice += " and how t enters the bias correction"
        if advice:
            next(p for n, p in zip(names, parts) if first[n] == k).cause = advice
        return parts

    return judge


def _step_err(a, b) -> float:
    a, b = np.asarray(a, float), np.asarray(b, float)
    if not np.all(np.isfinite(a)):
        return math.inf
    return rel_error(a, b)


# --------------------------------------------------------------------------------------------
# the checks
# --------------------------------------------------------------------------------------------
FORBIDDEN = tuple(
    f"nnkit.optimizers:{c}._update" for c in ("SGD", "Momentum", "Nesterov", "Adagrad", "RMSprop", "Adadelta", "Adam", "Rprop")
) + (
    "nnkit.optimizers:Optimizer.step",
    "nnkit.optimizers:optimize_path",
    "nnkit.optimizers:nesterov_sutskever_path",
    "nnkit.optimizers:Adagrad.effective_lr",
)

POINTS = {"sgd": 1, "momentum": 2, "nesterov": 2, "adagrad": 2, "rmsprop": 2, "adam": 3}


def _judge(rule: Rule):
    sj, pj = step_judge(rule), path_judge(rule)
    return lambda case, value: pj(case, value) if case.function == "run_optimizer" else sj(case, value)


def _check(name: str) -> Check:
    rule = RULES[name]
    return Check(
        grade_id=f"optim_{name}",
        functions=(rule.function,),
        helpers=("run_optimizer",),  # the notebook's locked driver: called by the path cases, not graded
        points=POINTS[name],
        visible=lambda rng, r=rule: visible_steps(r) + visible_paths(r),
        hidden=lambda rng, r=rule: hidden_steps(r, rng) + hidden_paths(r, rng),
        judge=_judge(rule),
        forbidden=FORBIDDEN,
        timeout=4,
    )


CHECKS = [_check(name) for name in RULES]
