"""Assignment 5, inverted dropout: forward with fixed or drawn masks, backward."""
from __future__ import annotations

import numpy as np

from nnkit import layers as nkl

from .. import RNG, Case
from ...verdict import Part, as_numeric, compare_close, compare_exact, gradient_parts


# --------------------------------------------------------------------------------------------
# dropout
# --------------------------------------------------------------------------------------------
def _nonzero_normal(rng, shape):
    x = rng.normal(size=shape)
    return np.where(np.abs(x) < 1e-3, 0.5, x)


def drop_visible(rng):
    x = _nonzero_normal(rng, (4, 5))
    mask = rng.random((4, 5)) >= 0.5
    return [
        Case((x, 0.5), {"mask": mask}, label="x (4, 5), p_drop = 0.5, given mask", expect="mask"),
        Case((_nonzero_normal(rng, (200, 100)), 0.3, RNG(11)), label="x (200, 100), p_drop = 0.3, rng", expect="rng"),
        Case((x, 0.5), {"training": False}, label="inference (training=False)", expect="inference"),
    ]


def drop_hidden(rng):
    cases = []
    for p in (0.2, 0.75):
        shape = (int(rng.integers(1, 9)), int(rng.integers(1, 9)))
        x = _nonzero_normal(rng, shape)
        mask = rng.random(shape) >= p
        cases.append(Case((x, p), {"mask": mask}, label=f"x {shape}, p_drop = {p:g}, given mask", expect="mask"))
    p = float(rng.choice([0.1, 0.6, 0.9]))
    cases.append(Case((_nonzero_normal(rng, (150, 120)), p, RNG(int(rng.integers(1 << 30)))),
                      label=f"x (150, 120), p_drop = {p:g}, rng", expect="rng"))
    cases.append(Case((_nonzero_normal(rng, (3, 4)), 0.0, RNG(int(rng.integers(1 << 30)))),
                      label="p_drop = 0 (nothing dropped)", expect="rng"))
    cases.append(Case((_nonzero_normal(rng, (5, 3)), 0.4), {"training": False},
                      label="inference (training=False), p_drop = 0.4", expect="inference"))
    return cases


def _scale_hint(x, out, keep, p_drop) -> str:
    """Name the scale the student applied to kept entries when it is one constant."""
    try:
        kept = keep & (np.abs(x) > 0)
        if not kept.any():
            return ""
        r = out[kept] / x[kept]
        if np.ptp(r) > 1e-9 * max(1.0, np.max(np.abs(r))):
            return ""
        r = float(r[0])
        want = 1.0 / (1.0 - p_drop)
        if abs(r - want) < 1e-9:
            return ""
        what = [(1.0, "not scaled at all"), (p_drop, "multiplied by p_drop"),
                (1.0 - p_drop, "multiplied by 1 - p_drop"), (1.0 / p_drop if p_drop else None, "divided by p_drop")]
        found = [v for k, v in what if k is not None and abs(r - k) < 1e-9]
        desc = " or ".join(found) + (" (the same here)" if len(found) > 1 else "") if found else f"scaled by {r:.4g}"
        return (f"kept entries are {desc}; inverted dropout divides them by the keep probability "
                f"1 - p_drop = {1 - p_drop:g}, i.e. multiplies by {want:.4g}")
    except Exception:
        return ""


def drop_judge(case, value):
    x, p_drop = case.args[0], case.args[1]
    if not (isinstance(value, (tuple, list)) and len(value) == 2):
        return [Part(False, f"return value: expected a tuple (out, mask); got a {type(value).__name__}"
                            + (f" of length {len(value)}" if isinstance(value, (tuple, list)) else ""))]
    out, mask = value
    if case.expect == "inference":
        return [compare_close("out", out, x, tol=1e-12)]
    if case.expect == "mask":
        given = case.kwargs["mask"]
        ref, _ = nkl.dropout_forward(x, p_drop, mask=given)
        part = compare_close("out", out, ref, tol=1e-12)
        if not part.ok:
            o, _ = as_numeric(out, "out")
            if o is not None and o.shape == x.shape:
                part.cause = _scale_hint(x, o.astype(np.float64), given, p_drop) or part.cause
        return [part, compare_exact("mask (should be the mask you were given)", mask, given)]
    # drawn from rng: check the relation out = x * mask / (1 - p_drop) and how many are kept
    m, why = as_numeric(mask, "mask")
    if why:
        return [why, Part(False, ""), Part(False, "")]
    if m.shape != x.shape:
        return [Part(False, f"mask: shape {m.shape}, expected {x.shape} (one entry per entry of x)"),
                Part(False, ""), Part(False, "")]
    if not np.isin(m, (0, 1)).all():
        return [Part(False, "mask: must hold only True/False (or 1/0): True where the entry is kept"),
                Part(False, ""), Part(False, "")]
    keep = m.astype(bool)
    expected = np.where(keep, x / (1.0 - p_drop), 0.0)
    rel = compare_close("out (compared with x * mask / (1 - p_drop) for your mask)", out, expected, tol=1e-12)
    if not rel.ok:
        o, _ = as_numeric(out, "out")
        if o is not None and o.shape == x.shape:
            rel.cause = _scale_hint(x, o.astype(np.float64), keep, p_drop) or rel.cause
    n = keep.size
    frac = keep.mean()
    sd = np.sqrt(max(p_drop * (1 - p_drop), 1e-12) / n)
    ok = abs(frac - (1 - p_drop)) <= 5 * sd + 1e-12
    msg = "" if ok else (
        f"mask keeps {frac:.1%} of the entries; expected about {1 - p_drop:.0%} = 1 - p_drop "
        f"(p_drop is the probability of DROPPING an entry: keep where rng.random(x.shape) >= p_drop)")
    return [Part(True), rel, Part(ok, msg)]


def dropb_visible(rng):
    mask = rng.random((4, 5)) >= 0.5
    return [
        Case((rng.normal(size=(4, 5)), mask, 0.5), label="dout (4, 5), p_drop = 0.5"),
        Case((rng.normal(size=(3, 2)), np.array([[True, False], [True, True], [False, False]]), 0.25),
             label="dout (3, 2), p_drop = 0.25"),
    ]


def dropb_hidden(rng):
    cases = []
    for p in (0.1, 0.5, 0.8, 0.0):
        shape = (int(rng.integers(1, 10)), int(rng.integers(1, 10)))
        mask = rng.random(shape) >= p
        cases.append(Case((rng.normal(size=shape), mask, p), label=f"dout {shape}, p_drop = {p:g}"))
    return cases


def dropb_judge(case, value):
    dout, mask, p_drop = case.args
    x = np.random.default_rng(0).normal(size=dout.shape)
    parts = gradient_parts(lambda p: nkl.dropout_forward(p["x"], p_drop, mask=mask)[0], {"x": x}, {"x": value},
                           dout=dout)
    if not parts[0].ok:
        a, _ = as_numeric(value, "dx")
        if a is not None and a.shape == dout.shape:
            hint = _scale_hint(dout, a.astype(np.float64), mask.astype(bool), p_drop)
            if hint:
                parts[0].cause = (hint.replace("kept entries", "the gradients of kept entries")
                                  + ", exactly as the forward pass scales them")
    return parts


