"""Assignment 4: the update rules, their names in the notebook and nnkit's reference steps."""
from __future__ import annotations

import numpy as np

from nnkit import optimizers as O
from nnkit import surfaces as S


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


