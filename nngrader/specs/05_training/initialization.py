"""Assignment 5, Xavier and He initialization, judged statistically."""
from __future__ import annotations

import numpy as np


from .. import RNG, Case
from ._common import fmt
from ...verdict import Part, as_numeric


# --------------------------------------------------------------------------------------------
# initialization
# --------------------------------------------------------------------------------------------
STAT_SHAPES_VISIBLE = [(400, 150)]
SMALL_SHAPES_VISIBLE = [(3, 5)]


def init_visible(rng):
    return [Case((STAT_SHAPES_VISIBLE[0], RNG(7)), label="shape (400, 150): mean and variance of 60000 draws",
                 expect="stats"),
            Case((SMALL_SHAPES_VISIBLE[0], RNG(8)), label="shape (3, 5)", expect="small")]


def init_hidden(rng):
    shapes = [(100, 600), (256, 256), (700, 90)]
    cases = [Case((s, RNG(int(rng.integers(1 << 30)))), label=f"shape {s}: mean and variance of {s[0] * s[1]} draws",
                  expect="stats") for s in shapes]
    for s in [(1, 8), (int(rng.integers(2, 9)), 1)]:
        cases.append(Case((s, RNG(int(rng.integers(1 << 30)))), label=f"shape {s}", expect="small"))
    return cases


def init_judge(kind: str):
    normal = kind == "he"

    def target(shape):
        fi, fo = shape
        return 2.0 / fi if normal else 2.0 / (fi + fo)

    def formula(shape):
        fi, fo = shape
        if normal:
            return f"2 / fan_in = 2 / {fi} = {fmt(2 / fi)}"
        return f"2 / (fan_in + fan_out) = 2 / ({fi} + {fo}) = {fmt(2 / (fi + fo))}"

    def diagnose(var, shape) -> str:
        fi, fo = shape
        known = {
            "you used the variance as the standard deviation: std = sqrt(variance)":
                (2 / fi) ** 2 if normal else (2 / (fi + fo)) ** 2,
            "fan_in is shape[0]: W has shape (fan_in, fan_out) because a layer computes x @ W":
                2 / fo if normal else None,
            "that is He's variance 2 / fan_in; Xavier's is 2 / (fan_in + fan_out)": None if normal else 2 / fi,
            "that is Xavier's variance; He's is 2 / fan_in": 2 / (fi + fo) if normal else None,
            "that is 1 / fan_in (LeCun's); He's has a 2 for ReLU": 1 / fi if normal else None,
            "that is 1 / fan_in; Xavier's is 2 / (fan_in + fan_out)": None if normal else 1 / fi,
            "U(-r, r) has variance r^2 / 3: the radius is r = sqrt(6 / (fan_in + fan_out))":
                None if normal else 2 / (3 * (fi + fo)),
            "a radius sqrt(3 / (fan_in + fan_out)) gives half the variance: r = sqrt(6 / (fan_in + fan_out))":
                None if normal else 1 / (fi + fo),
        }
        for why, v in known.items():
            if v is not None and abs(var / v - 1) < 0.05 and abs(v / target(shape) - 1) > 0.05:
                return f" ({why})"
        return ""

    def judge(case, value):
        shape = tuple(case.args[0])
        W, why = as_numeric(value, "W")
        if why:
            return [why]
        if W.shape != shape:
            hint = " (it is transposed: W has shape (fan_in, fan_out))" if W.shape == shape[::-1] else ""
            return [Part(False, f"W: shape {W.shape}, expected {shape}{hint}")]
        W = W.astype(np.float64)
        if not np.all(np.isfinite(W)):
            return [Part(False, "W: contains NaN or infinity")]
        parts = [Part(True)]
        r = np.sqrt(3 * target(shape))
        if case.expect == "small":
            if not normal:
                ok = bool(np.all(np.abs(W) <= r * (1 + 1e-12)))
                parts.append(Part(ok, "" if ok else f"W: entries outside (-r, r) with r = sqrt(6 / (fan_in + fan_out)) = {fmt(r)}"))
            ok = W.size == 1 or np.unique(W).size > 1
            parts.append(Part(ok, "" if ok else "W: all entries are equal; they must be drawn at random"))
            return parts
        n = W.size
        var_t = target(shape)
        mean, var = float(W.mean()), float(W.var())
        ok_mean = abs(mean) <= 6 * np.sqrt(var_t / n)
        parts.append(Part(ok_mean, "" if ok_mean else f"mean of W is {fmt(mean)}; expected about 0"))
        ok_var = abs(var / var_t - 1) <= 0.05
        parts.append(Part(ok_var, "" if ok_var else (
            f"variance of W is {fmt(var)} (over {n} draws); expected {formula(shape)} within 5 %, "
            f"with fan_in = shape[0], fan_out = shape[1]" + diagnose(var, shape))))
        if normal:
            within = float(np.mean(np.abs(W - mean) <= np.sqrt(var)))
            ok = abs(within - 0.6827) <= 0.02
            parts.append(Part(ok, "" if ok else (
                f"{within:.1%} of the entries lie within one standard deviation of the mean; a normal "
                f"distribution has 68.3 % (draw with rng.normal, not rng.uniform)")))
        else:
            top = float(np.max(np.abs(W)))
            ok = r * 0.99 <= top <= r * (1 + 1e-12)
            parts.append(Part(ok, "" if ok else (
                f"the largest |entry| is {fmt(top)}; draws from U(-r, r) with r = sqrt(6 / (fan_in + fan_out)) "
                f"= {fmt(r)} fill the whole interval and never leave it (draw with rng.uniform)")))
        return parts

    return judge


