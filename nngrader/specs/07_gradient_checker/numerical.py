"""Assignment 7, ``numerical_gradient``: centred differences, x restored bit for bit."""
from __future__ import annotations

import numpy as np

from nnkit import gradcheck as gc

from ... import planted
from .. import Case
from ...verdict import Part, as_numeric, compare_close

from ._common import DRIVER_CHANGED, H, _report
from ...verdict import matches as _close
from ...verdict import shape_text as _shape


# --------------------------------------------------------------------------------------------
# numerical_gradient
# --------------------------------------------------------------------------------------------
def _coeffs(rng, shape, kind):
    if kind == "quadratic":
        return {"kind": kind, "c": rng.uniform(0.5, 2.0, size=shape) * rng.choice([-1.0, 1.0], size=shape),
                "d": rng.normal(size=shape)}
    if kind == "logsumexp":
        return {"kind": kind, "s": rng.uniform(0.5, 1.5, size=shape)}
    if kind == "sines":
        return {"kind": kind, "a": rng.uniform(0.5, 2.0, size=shape), "b": rng.normal(size=shape)}
    raise ValueError(kind)


def _tanh_layer(rng, n, m):
    k = int(rng.integers(2, 5))
    return {"kind": "tanh_layer", "W": rng.normal(0, 1 / np.sqrt(m), size=(m, k)), "V": rng.normal(size=(n, k))}


def _ng_case(recipe, x, h=H, label=""):
    return Case((recipe, x, float(h)), label=label, function="run_numerical_gradient")


def ng_visible(rng):
    x1 = np.array([0.5, -1.0, 2.0, 0.25])
    x2 = rng.normal(size=(3, 2))
    x3 = rng.normal(size=(2, 3))
    x4 = rng.normal(size=(5,))
    x5 = rng.normal(size=(3,))
    return [
        _ng_case(_coeffs(rng, x1.shape, "quadratic"), x1, label="f(x) = sum(c x^2 + d x), x (4,)"),
        _ng_case(_tanh_layer(rng, 3, 2), x2, label="f(x) = sum(tanh(x @ W) * V), x (3, 2)"),
        _ng_case({**_coeffs(rng, x3.shape, "sines"), "reads": "own"}, x3,
                 label="f reads x through its own reference, as a layer reads its weights, x (2, 3)"),
        _ng_case(_coeffs(rng, x4.shape, "logsumexp"), x4, h=1e-3, label="f(x) = log(sum(exp(s x))), h = 1e-3"),
        _ng_case({**_coeffs(rng, x5.shape, "quadratic"), "raise_at": 4}, x5,
                 label="f raises ValueError at its 4th call: the error reaches the caller, x comes back unchanged"),
        _ng_case(_coeffs(rng, (2, 2), "quadratic"), rng.normal(size=(2, 2)).astype(np.float32),
                 label="x is float32: refused with a TypeError"),
    ]


def _random_shape(rng, ndim):
    return tuple(int(d) for d in rng.integers(1, 5, size=ndim))


def ng_hidden(rng):
    cases = []
    for kind in ("quadratic", "logsumexp", "sines"):
        shape = _random_shape(rng, int(rng.integers(1, 4)))
        cases.append(_ng_case(_coeffs(rng, shape, kind), rng.normal(size=shape), label=f"{kind}, x {_shape(shape)}"))
    n, m = int(rng.integers(1, 6)), int(rng.integers(1, 5))
    cases.append(_ng_case(_tanh_layer(rng, n, m), rng.normal(size=(n, m)), label=f"tanh layer, x ({n}, {m})"))
    n, m = int(rng.integers(2, 5)), int(rng.integers(2, 5))
    cases.append(_ng_case({**_coeffs(rng, (n, m), "sines"), "layout": "transposed"}, rng.normal(size=(n, m)),
                          label=f"x ({n}, {m}) is a transposed view, not contiguous in memory"))
    shape = _random_shape(rng, 3)
    cases.append(_ng_case({**_coeffs(rng, shape, "quadratic"), "reads": "own"}, rng.normal(size=shape),
                          label=f"f reads x through its own reference, x {_shape(shape)}"))
    shape = _random_shape(rng, 2)
    cases.append(_ng_case(_coeffs(rng, shape, "sines"), rng.normal(size=shape), h=float(rng.choice([1e-4, 1e-3])),
                          label=f"sines, x {_shape(shape)}, a larger h"))
    shape = (int(rng.integers(2, 5)), int(rng.integers(2, 4)))
    rec = _coeffs(rng, shape, "quadratic")
    rec["c"] = rec["c"] * 1e3
    cases.append(_ng_case(rec, rng.normal(size=shape), label=f"quadratic with large coefficients, x {_shape(shape)}"))
    shape = _random_shape(rng, 2)
    size = int(np.prod(shape))
    cases.append(_ng_case({**_coeffs(rng, shape, "logsumexp"), "raise_at": int(rng.integers(2, 2 * size + 1))},
                          rng.normal(size=shape), label=f"f raises ValueError partway, x {_shape(shape)}"))
    shape = _random_shape(rng, 3)
    cases.append(_ng_case(_coeffs(rng, shape, "sines"), rng.normal(size=shape).astype(np.float32),
                          label=f"x float32 {_shape(shape)}"))
    return cases


def _restore_note(x, after, probes) -> tuple[str, str]:
    """(message, cause) when x did not come back bit for bit or f saw more than one probe at once."""
    after = np.asarray(after)
    if after.shape != x.shape:
        return f"x came back with shape {_shape(after.shape)}, not {_shape(x.shape)}", ""
    diff = np.abs(after.astype(np.float64) - x.astype(np.float64))
    changed = int(np.count_nonzero(diff)) or int(np.count_nonzero(after.view(f"u{after.itemsize}")
                                                                    != x.view(f"u{x.itemsize}")))
    if changed:
        big = float(diff.max())
        msg = f"x was left changed: {changed} of {x.size} entries differ from their original value (by up to {big:.2g})"
        if big < 1e-9:
            return msg, ("restore each entry by writing back the value you saved before probing it "
                         "(old = x[ix]; ...; x[ix] = old): adding h and subtracting it again leaves round-off, "
                         "not the original number")
        return msg, "write each entry's saved value back right after its two probes"
    if probes.get("most_changed", 0) > 1:
        k = probes["most_changed"]
        msg = f"x came back, but at some calls f saw {k} entries of x changed at once"
        if probes.get("leftover", 0.0) < 1e-9:
            return msg, ("restore each entry by writing back its saved value: adding h and subtracting it again "
                         "leaves round-off, so earlier entries were no longer exactly their original values")
        return msg, "restore each entry before perturbing the next: f must see one entry moved at a time"
    return "", ""


def ng_judge(case, value):
    recipe, x, h = case.args
    if not _report(value, ("grad", "error", "x_after", "x_same", "probes")):
        return [Part(False, f"run_numerical_gradient {DRIVER_CHANGED}")]
    error, probes = value["error"], value["probes"]
    if x.dtype != np.float64:
        if error.startswith("raised TypeError"):
            return [Part(True, name="TypeError")]
        if error:
            return [Part(False, f"numerical_gradient {error}; expected a TypeError for float32 x", name="TypeError")]
        return [Part(False, "numerical_gradient accepted a float32 x; expected a TypeError", name="TypeError",
                     cause=("refuse float32 x with a TypeError: perturbing float32 in place loses about half the "
                            "digits to round-off, and perturbing a float64 copy instead would hide the probes from an "
                            "f that reads x through its own reference"))]
    if recipe.get("raise_at"):
        if "on purpose" not in error:
            got = error.split(":")[0].split(" (")[0] if error else "returned normally"
            note = (f"numerical_gradient {error}" if error and "NotImplementedError" in error else
                    f"the ValueError f raised at its call {recipe['raise_at']} did not reach the caller ({got})")
            return [Part(False, note, name="error", cause=(
                "" if "NotImplementedError" in error else
                "let an error of f propagate (do not catch it), and restore x on the way out: try/finally")),
                Part(False, "", name="x")]
        msg, cause = _restore_note(x, value["x_after"], {})
        if msg:
            msg += " after f raised"
            cause = "restore the entry being probed in a finally block, so an error in f cannot leave x perturbed"
        return [Part(True, name="error"), Part(not msg, msg, cause=cause, name="x")]
    if error:
        return [Part(False, f"numerical_gradient {error}", name="grad"), Part(False, "", name="x")]
    fn = planted.function(recipe)
    ref = gc.numerical_gradient(fn, np.array(x, dtype=np.float64), h=h)
    grad = compare_close("grad", value["grad"], ref, tol=1e-8)
    if not grad.ok:
        grad.cause = _ng_cause(recipe, x, h, value["grad"], probes, ref) or grad.cause
    msg, cause = _restore_note(x, value["x_after"], probes)
    if not msg and probes.get("calls", 0) < x.size:  # x comes back untouched because it was never probed
        msg = (f"f was called {probes.get('calls', 0)} times for an x of {x.size} entries: x came back "
               "unchanged because it was never probed")
        cause = "probe every entry of x: f(x + h e_i) and f(x - h e_i) for each i"
    return [grad, Part(not msg, msg, cause=cause, name="x")]


def _ng_cause(recipe, x, h, got, probes, ref) -> str:
    a, bad = as_numeric(got, "grad")
    if bad is not None or a.shape != x.shape:
        if bad is None and a.size == x.size:
            return "return the gradient with the shape of x (one partial derivative per entry)"
        return ""
    a = a.astype(np.float64)
    fn = planted.function(recipe)
    if probes.get("calls", 0) and probes["untouched_calls"] == probes["calls"] and not np.any(a):
        if recipe.get("layout") == "transposed":
            return ("x is a transposed view here, not contiguous in memory: x.reshape(-1), x.ravel() and "
                    "x.flatten() then return copies, so your probes never reached x. Index x itself: "
                    "for ix in np.ndindex(x.shape)")
        if recipe.get("reads") == "own":
            return ("f here reads x through its own reference to it, as a layer reads its weights: your probes "
                    "went to a copy of x, which f never sees. Perturb x itself, in place")
        return "f never saw x perturbed: call f with x after changing one entry of x in place"
    x64 = np.array(x, dtype=np.float64)
    f0 = fn(x64.copy())
    fwd = np.zeros_like(x64)
    for ix in np.ndindex(x64.shape):
        xp = x64.copy()
        xp[ix] += h
        fwd[ix] = (fn(xp) - f0) / h
    if _close(a, fwd, 1e-6):
        return ("that is the one-sided difference (f(x + h) - f(x)) / h, which is off by O(h); use the centred "
                "difference (f(x + h) - f(x - h)) / (2h), off by O(h^2)")
    if _close(a, 2 * ref, 1e-6):
        return "it is twice the centred difference: the two probes are 2h apart, so divide by 2h"
    if _close(a, -ref, 1e-6):
        return "wrong sign: (f(x + h) - f(x - h)) / (2h), the probe above minus the probe below"
    if h != H and _close(a, gc.numerical_gradient(fn, x64.copy(), h=H), 1e-9):
        return f"you used h = 1e-5, not the h = {h:g} the caller passed"
    if probes.get("most_changed", 0) > 1:
        return "f saw several entries of x moved at once: restore each entry before probing the next"
    return ""


