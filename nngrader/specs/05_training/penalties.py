"""Assignment 5, L1 and L2: the gradients of the penalties."""
from __future__ import annotations

import numpy as np

from nnkit import regularization as nkr

from .. import Case
from ._common import rel
from ...verdict import Part, as_numeric, compare_exact, gradient_parts


def _dict_grads(value, params: dict):
    """The student's dict of gradients, or a failed Part saying why not."""
    if not isinstance(value, dict):
        return None, Part(False, f"return value: expected a dict with the keys of params ({', '.join(params)}); "
                                 f"got a {type(value).__name__}")
    return value, None


def penalty_judge(kind: str):
    penalty = nkr.l2_penalty if kind == "l2" else nkr.l1_penalty
    rule = "lam * w" if kind == "l2" else "lam * sign(w)"

    def judge(case, value):
        params, lam = case.args
        grads, bad = _dict_grads(value, params)
        if bad:
            return [bad]
        parts = []
        present = {}
        for k in params:
            if k not in grads:
                parts.append(Part(False, f"d{k}: missing from the returned dict (return an entry for every key of "
                                         "params, zeros for the ones that are not penalised)"))
                continue
            a, why = as_numeric(grads[k], "d" + k)
            if why:
                parts.append(why)
            else:
                present[k] = a.astype(np.float64)
        work = {k: np.array(params[k], dtype=np.float64, copy=True) for k in present}
        if work:
            kinks = {k: (0.0,) for k in work} if kind == "l1" else None
            got = gradient_parts(lambda p: penalty(p, lam), work, present, kinks=kinks)
            for k, part in zip(work, got):  # one part per key of work, in order
                if part.ok or present[k].shape != np.shape(params[k]):
                    continue
                if k.startswith("W"):
                    w = np.asarray(params[k], dtype=np.float64)
                    base = lam * (w if kind == "l2" else np.sign(w))
                    a = present[k]
                    hint = f"the gradient of the penalty is {rule}"
                    if a.shape == w.shape and np.any(base):
                        r = float(np.sum(a * base) / np.sum(base * base))
                        if rel(a, r * base) < 1e-9 and abs(r - 1) > 1e-9:
                            if kind == "l2" and abs(r - 0.5) < 1e-9:
                                hint = ("yours is lam/2 * w, half the right value: the derivative of (lam/2) * w**2 "
                                        "is lam * w (the 1/2 cancels the 2 from the square)")
                            elif kind == "l2" and abs(r - 2) < 1e-9:
                                hint = "yours is 2 * lam * w: with the (lam/2) convention the gradient is lam * w"
                            elif abs(r + 1) < 1e-9:
                                hint = f"yours has the wrong sign: the gradient of the penalty is +{rule}"
                            else:
                                hint = f"yours is {r:.4g} times {rule}"
                    part.cause = hint
                else:
                    part.message = f"d{k}: should be all zeros"
                    part.cause = ("only the weight matrices (keys starting with 'W') are penalised; biases and "
                                  "gamma/beta are not")
            parts += got
        if kind == "l1":  # sign(0) = 0: the check above skips entries at the kink, so test them here
            for k, w in params.items():
                if k.startswith("W") and k in present and np.any(w == 0):
                    a, why = as_numeric(present[k], "d" + k)
                    if why or a.shape != w.shape:
                        continue
                    zero = w == 0
                    parts.append(compare_exact(f"d{k} where w = 0", a[zero], np.zeros(int(zero.sum())),
                                               hint=lambda ix: "the convention is sign(0) = 0, so a zero weight gets "
                                                               "gradient 0 and stays at 0"))
        return parts

    return judge


def _params(rng, sizes, *, extra=False, zeros=0):
    p = {}
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:]), start=1):
        p[f"W{i}"] = rng.normal(size=(a, b))
        p[f"b{i}"] = rng.normal(size=b)
        if extra and i == 1:
            p["gamma2"] = 1.0 + 0.3 * rng.normal(size=b)
            p["beta2"] = rng.normal(size=b)
    if zeros:
        W = p["W1"].reshape(-1)
        W[rng.choice(W.size, size=min(zeros, W.size), replace=False)] = 0.0
    return p


def pen_visible(rng):
    return [
        Case(({"W1": np.array([[1.0, -2.0], [0.5, 3.0]]), "b1": np.array([1.0, -1.0])}, 0.1),
             label="W1 (2, 2), b1 (2,), lam = 0.1"),
        Case((_params(rng, [3, 4, 2]), 0.01), label="W1 (3, 4), b1, W2 (4, 2), b2, lam = 0.01"),
    ]


def pen_hidden(rng):
    cases = []
    for i in range(5):
        depth = int(rng.integers(1, 4))
        sizes = [int(v) for v in rng.integers(1, 7, size=depth + 1)]
        lam = [0.0, 1e-4, 0.05, 0.5, 2.0][i]
        p = _params(rng, sizes, extra=i in (1, 3), zeros=2 if i in (2, 4) else 0)
        desc = ", ".join(f"{k} {v.shape}" for k, v in p.items())
        cases.append(Case((p, lam), label=f"{desc}, lam = {lam:g}"))
    return cases


