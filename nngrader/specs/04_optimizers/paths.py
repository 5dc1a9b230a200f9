"""Assignment 4: trajectories through the notebook's run_optimizer, compared with nnkit's path."""
from __future__ import annotations

import math

import numpy as np

from nnkit.gradcheck import rel_error

from .. import Case
from ...verdict import Part, as_numeric

from .rules import PATH_TOL, Rule, make_surface, ref_path
from .slips import _digits, _fmt, _scale_hint, diagnose_slip
from .steps import _hp_text, _random_hp


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


