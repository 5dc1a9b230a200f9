"""Assignment 7, write a gradient checker, then find the bug: checks against nnkit.gradcheck.

Student functions (conventions as the notebook states them):

- ``numerical_gradient(f, x, h=1e-5)``: centred differences ``(f(x + h e_i) - f(x - h e_i)) / 2h``,
  perturbing the float64 array x *in place*, one entry at a time, and writing each entry's saved
  value back after its two probes (also when f raises), so x comes back bit for bit. float32 x
  is refused with a TypeError. Compared with ``nnkit.gradcheck.numerical_gradient``.
- ``relative_error(a, b)``: one error per entry, ``|a - b| / max(1e-8, max(|a| + |b|))``: every
  entry is divided by the *tensor's* scale (its largest ``|a_i| + |b_i|``, floored at 1e-8), so
  its maximum is exactly ``nnkit.gradcheck.rel_error(a, b)``. Different shapes raise ValueError.
- ``check_layer(layer, x, rng, h=1e-5, kinks=())``: ``{"x": err, <param name>: err, ...}``, each
  the largest relative error of that tensor's gradient, with the layer's output projected on
  ``dout = rng.standard_normal(out.shape)``; ``inf`` for a gradient of the wrong shape (or
  missing, or not finite); entries of x within h of a kink skipped. float32 layers are checked
  on float64 copies and left exactly as they were. A tensor disagrees when its error is above
  1e-6. Judged tensor by tensor against ``nnkit.gradcheck.check_layer``.
- ``find_bug(network, X, rng)``: ``(layer index, tensor name, kind)`` for the one layer whose own
  check fails, kind from :data:`nngrader.planted.BUG_KINDS`, or None for a network without a bug.

Every case goes through the notebook's locked drivers (``run_*``), which build the functions,
layers and networks of :mod:`nngrader.planted` from plain data and report what happened to x and
to the layers as data. Hidden cases draw fresh functions, shapes, layers and networks (and which
layer is broken) from the secret.

A check that cannot fail must not earn the points of the clean cases, nor one that always fails
those of the broken ones. So every ``check_layer`` case also runs on a *twin*: the same layer with a
bug planted in it (for a clean layer) or without its bug (for a broken one), same x, same seed. A
clean case counts only if the twin's bug is caught; a broken case only if its bug is caught, not
every tensor is flagged, and the clean twin's tensor passes. Every clean ``find_bug`` network has a
twin with a bug planted, which must be located, and every layer must have been checked (its
backward pass run) before the network is called clean. Within a case that counts, credit is per
tensor (``check_layer``) or per location and kind (``find_bug``). Arguments a check left changed
cost one more failed part.
"""
from __future__ import annotations

import math

import numpy as np

from nnkit import gradcheck as gc

from .. import planted
from . import Case, Check
from ..verdict import Part, as_numeric, compare_close

THRESHOLD = planted.THRESHOLD
H = 1e-5
FLOOR = 1e-8

FORBIDDEN = tuple(f"nnkit.gradcheck:{name}" for name in (
    "numerical_gradient", "numerical_gradient_array", "rel_error", "check_gradients", "check_layer",
    "check_model", "_hint", "_confirm_bias_slips",
)) + ("nngrader.planted:planted_answer",)

DRIVER_CHANGED = "returned something other than its report: run the notebook's driver cell unchanged"


def _shape(s) -> str:
    return "(" + ", ".join(str(int(d)) for d in s) + ("," if len(s) == 1 else "") + ")"


def _close(a, b, tol: float = 1e-7) -> bool:
    """Same shape, finite, and ``rel_error <= tol``; False for anything that is not numeric."""
    try:
        a = np.asarray(a, dtype=np.float64)
        b = np.asarray(b, dtype=np.float64)
    except (TypeError, ValueError):
        return False
    return a.shape == b.shape and bool(np.all(np.isfinite(a))) and gc.rel_error(a, b) <= tol


def _fmt(e) -> str:
    if e is None:
        return "-"
    e = float(e)
    return "inf" if math.isinf(e) else f"{e:.2g}"


def _report(value, keys) -> bool:
    return isinstance(value, dict) and all(k in value for k in keys)


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


def _ng_visible(rng):
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


def _ng_hidden(rng):
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


def _ng_judge(case, value):
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
        grad.cause = _ng_cause(recipe, x, h, value["grad"], probes, ref)
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


# --------------------------------------------------------------------------------------------
# relative_error
# --------------------------------------------------------------------------------------------
def _expected_rel(a, b):
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.size == 0:
        return np.zeros(a.shape)
    return np.abs(a - b) / max(FLOOR, float(np.max(np.abs(a) + np.abs(b))))


def _re_visible(rng):
    a = rng.normal(size=(4, 3))
    b = a + 1e-9 * rng.normal(size=(4, 3))
    b[0, 1] = a[0, 1] = 0.0
    a[2, 2], b[2, 2] = 3e-12, -2e-12
    return [
        Case((np.array([1.0, 2.0, 3.0]), np.array([1.0, 2.2, 2.7])),
             label="a = (1, 2, 3), b = (1, 2.2, 2.7): the scale is max(|a| + |b|) = 5.7"),
        Case((np.zeros(3), np.zeros(3)), label="a = b = 0: every error is 0, not 0/0"),
        Case((np.array([1e-10, 0.0, 3e-10]), np.array([0.0, 0.0, 3e-10])),
             label="both below the floor: the denominator is 1e-8"),
        Case((a, b), label="a (4, 3) and a nearly equal b, one entry of each near 0"),
        Case((rng.normal(size=(4, 3)), rng.normal(size=(3,))), function="run_relative_error",
             label="a (4, 3), b (3,): different shapes raise ValueError"),
    ]


def _re_hidden(rng):
    cases = []
    for ndim in (1, 2, 3):
        shape = _random_shape(rng, ndim)
        a = rng.normal(size=shape) * 10.0 ** rng.integers(-3, 4)
        cases.append(Case((a, a + rng.normal(size=shape) * 1e-3 * np.abs(a).max()), label=f"a, b {_shape(shape)}"))
    n = int(rng.integers(2, 6))
    a = rng.normal(size=n)
    cases.append(Case((a, -a), label=f"b = -a ({n},): opposite signs"))
    shape = (int(rng.integers(2, 5)), int(rng.integers(2, 5)))
    a = rng.normal(size=shape)
    b = a * (1 + 1e-8 * rng.normal(size=shape))
    a[0], b[0] = 1e-13 * rng.normal(size=shape[1]), 1e-13 * rng.normal(size=shape[1])
    cases.append(Case((a, b), label=f"a, b {_shape(shape)} agree, a row of both near 0"))
    cases.append(Case((1e-11 * rng.normal(size=4), 1e-11 * rng.normal(size=4)), label="both near 0 (4,)"))
    cases.append(Case((np.array([float(rng.normal())]), np.array([float(rng.normal())])), label="one entry each"))
    n, d = int(rng.integers(2, 6)), int(rng.integers(2, 5))
    cases.append(Case((rng.normal(size=(n, d)), rng.normal(size=(d,))), function="run_relative_error",
                      label=f"a ({n}, {d}), b ({d},): different shapes"))
    n = int(rng.integers(2, 5))
    cases.append(Case((rng.normal(size=(n, n + 1)), rng.normal(size=(n + 1, n))), function="run_relative_error",
                      label=f"a ({n}, {n + 1}), b ({n + 1}, {n}): different shapes"))
    return cases


def _re_judge(case, value):
    a, b = case.args
    if case.function == "run_relative_error":
        if not _report(value, ("value", "error")):
            return [Part(False, f"run_relative_error {DRIVER_CHANGED}")]
        if value["error"].startswith("raised ValueError"):
            return [Part(True)]
        if value["error"]:
            return [Part(False, f"relative_error {value['error']}; expected a ValueError for different shapes",
                         cause="" if "NotImplementedError" in value["error"] else
                         "compare the shapes first and raise ValueError when they differ")]
        return [Part(False, f"relative_error returned a result for a {_shape(a.shape)} and b {_shape(b.shape)}; "
                            "expected a ValueError", cause=(
                                "raise ValueError when the shapes differ: NumPy would broadcast them, comparing every "
                                "row of a with b, which hides a gradient of the wrong shape"))]
    ref = _expected_rel(a, b)
    part = compare_close("errors", value, ref, tol=1e-9)
    if part.ok:
        return [part]
    got, bad = as_numeric(value, "errors")
    if bad is not None:
        return [part]
    got = got.astype(np.float64)
    absdiff = np.abs(a - b)
    scale = float(np.max(np.abs(a) + np.abs(b)))
    if got.size == 1 and ref.size > 1 and _close(got.reshape(()), ref.max(), 1e-9):
        part.cause = ("return one error per entry, an array shaped like a; its largest entry, np.max(...), "
                      "is the error of the whole tensor")
    elif got.shape == ref.shape and not np.all(np.isfinite(got)):
        part.cause = "0/0: divide by max(1e-8, max(|a| + |b|)), so the denominator is never 0"
    elif _close(got, absdiff / np.maximum(FLOOR, np.abs(a) + np.abs(b)), 1e-9):
        part.cause = ("you divided each entry by its own |a_i| + |b_i|; here every entry is divided by the "
                      "tensor's scale max(|a| + |b|), so entries that are nearly 0 in both raise no false alarm")
    elif _close(got, absdiff / (FLOOR + scale), 1e-9):
        part.cause = "the floor is a maximum, max(1e-8, max(|a| + |b|)), not added to the scale"
    elif _close(got, absdiff / max(FLOOR, float(max(np.abs(a).max(), np.abs(b).max()))), 1e-9):
        part.cause = ("the denominator is max(|a| + |b|), the largest sum of the two sizes at one entry, not the "
                      "largest size of either")
    elif _close(got, absdiff / max(FLOOR, float(np.sum(np.abs(a) + np.abs(b)))), 1e-9):
        part.cause = "the denominator is the largest |a_i| + |b_i|, not their sum over all entries"
    return [part]


# --------------------------------------------------------------------------------------------
# check_layer
# --------------------------------------------------------------------------------------------
def _dense(rng, n_in, n_out, bug=""):
    return {"type": "dense", "n_in": int(n_in), "n_out": int(n_out), "seed": int(rng.integers(2**31)),
            "bias": "random", "bug": bug}


def _act(name, bug=""):
    return {"type": "activation", "name": name, "bug": bug}


def _loss(rng, name, n, k, bug=""):
    return {"type": "loss", "name": name, "n": int(n), "k": int(k), "seed": int(rng.integers(2**31)), "bug": bug}


def _with_kinks(rng, shape):
    """x with some entries exactly 0 and some within h of 0 (a ReLU's kink)."""
    x = rng.normal(size=shape)
    flat = x.reshape(-1)
    idx = rng.permutation(flat.size)
    k = max(2, flat.size // 4)
    flat[idx[:k]] = 0.0
    flat[idx[k:k + 2]] = rng.choice([-1.0, 1.0], size=2) * H / 2
    return x


def _twin(rng, recipe) -> str:
    """A bug for the same layer: a clean case counts only if the check also fails this broken twin
    (a broken case has the clean layer as its twin, which the check must pass)."""
    kind = recipe["type"]
    if kind == "dense":
        return str(rng.choice(["transposed_weight_gradient", "bias_not_summed", "weight_gradient_sign"]))
    if kind == "activation":
        other = {"tanh": "tanh_without_square", "sigmoid": "sigmoid_derivative_as_sigmoid"}.get(recipe["name"])
        return str(rng.choice([other, "missing_activation_derivative"])) if other else "missing_activation_derivative"
    return str(rng.choice(["missing_1_over_n", "loss_gradient_sign"]))


def _layer_case(recipe, x, rng, kinks=(), dtype="float64", label=""):
    recipe = {**recipe, "dtype": dtype}
    x = np.asarray(x, dtype=np.float64).astype(dtype)
    twin = "clean" if recipe.get("bug") else _twin(rng, recipe)
    return Case((recipe, x, int(rng.integers(2**31)), tuple(kinks), twin), label=label, function="run_check_layer")


def _cl_visible(rng):
    return [
        _layer_case(_dense(rng, 4, 3), rng.normal(size=(5, 4)), rng, label="a clean Dense(4, 3), x (5, 4)"),
        _layer_case(_dense(rng, 3, 3, "transposed_weight_gradient"), rng.normal(size=(4, 3)), rng,
                    label="Dense(3, 3) with a planted bug in dW"),
        _layer_case(_dense(rng, 4, 2, "bias_not_summed"), rng.normal(size=(5, 4)), rng,
                    label="Dense(4, 2) with a planted bug in db"),
        _layer_case(_act("relu"), _with_kinks(rng, (4, 3)), rng, kinks=(0.0,),
                    label="a clean relu, x (4, 3) with entries at and within h of 0, kinks = (0.0,)"),
        _layer_case(_act("tanh", "missing_activation_derivative"), rng.normal(size=(3, 4)), rng,
                    label="tanh with a planted bug in dx"),
        _layer_case(_dense(rng, 3, 4), rng.normal(size=(6, 3)), rng, dtype="float32",
                    label="a clean float32 Dense(3, 4), float32 x (6, 3)"),
        _layer_case(_loss(rng, "softmax_cross_entropy", 4, 3), 2 * rng.normal(size=(4, 3)), rng,
                    label="a clean softmax cross-entropy loss, logits (4, 3)"),
    ]


def _cl_hidden(rng):
    def nd():
        return int(rng.integers(1, 7)), int(rng.integers(1, 6)), int(rng.integers(1, 6))

    cases = []
    n, d, k = nd()
    cases.append(_layer_case(_dense(rng, d, k), rng.normal(size=(n, d)), rng, label=f"a clean Dense({d}, {k}), N = {n}"))
    cases.append(_layer_case(_dense(rng, 3, 4), rng.normal(size=(1, 3)), rng, label="a clean Dense(3, 4), one sample"))
    for name in ("sigmoid", "tanh"):
        n, d, _ = nd()
        cases.append(_layer_case(_act(name), 2 * rng.normal(size=(n, d)), rng, label=f"a clean {name}, x ({n}, {d})"))
    n, d = int(rng.integers(3, 7)), int(rng.integers(2, 5))
    name = str(rng.choice(["relu", "leaky_relu"]))
    cases.append(_layer_case(_act(name), _with_kinks(rng, (n, d)), rng, kinks=(0.0,),
                             label=f"a clean {name}, x ({n}, {d}) with entries at and near 0, kinks = (0.0,)"))
    n, k = int(rng.integers(2, 7)), int(rng.integers(1, 4))
    cases.append(_layer_case(_loss(rng, "mse", n, k), rng.normal(size=(n, k)), rng, label=f"a clean MSE loss, x ({n}, {k})"))
    n, d = int(rng.integers(2, 6)), int(rng.integers(2, 5))
    cases.append(_layer_case(_act("tanh"), rng.normal(size=(n, d)), rng, dtype="float32",
                             label=f"a clean float32 tanh, x ({n}, {d})"))
    n, k = int(rng.integers(2, 6)), int(rng.integers(2, 4))
    cases.append(_layer_case(_loss(rng, "mse", n, k), rng.normal(size=(n, k)), rng, dtype="float32",
                             label=f"a clean float32 MSE loss, x ({n}, {k})"))
    # planted bugs
    d, k = int(rng.integers(2, 5)), int(rng.integers(2, 5))
    k = k + (k == d)  # not square: the transpose has the wrong shape
    n = int(rng.integers(2, 6))
    cases.append(_layer_case(_dense(rng, d, k, "transposed_weight_gradient"), rng.normal(size=(n, d)), rng,
                             label=f"Dense({d}, {k}) with a planted bug"))
    d, n = int(rng.integers(2, 5)), int(rng.integers(2, 6))
    cases.append(_layer_case(_dense(rng, d, d, "transposed_weight_gradient"), rng.normal(size=(n, d)), rng,
                             dtype="float32", label=f"float32 Dense({d}, {d}) with a planted bug"))
    d, k, n = int(rng.integers(2, 5)), int(rng.integers(1, 5)), int(rng.integers(2, 6))
    cases.append(_layer_case(_dense(rng, d, k, "bias_not_summed"), rng.normal(size=(n, d)), rng,
                             label=f"Dense({d}, {k}) with a planted bug, N = {n}"))
    d, k, n = int(rng.integers(2, 5)), int(rng.integers(2, 5)), int(rng.integers(2, 6))
    cases.append(_layer_case(_dense(rng, d, k, "weight_gradient_sign"), rng.normal(size=(n, d)), rng,
                             label=f"Dense({d}, {k}) with a planted bug"))
    n, d = int(rng.integers(2, 6)), int(rng.integers(2, 5))
    cases.append(_layer_case(_act("sigmoid", "missing_activation_derivative"), rng.normal(size=(n, d)), rng,
                             label=f"sigmoid with a planted bug, x ({n}, {d})"))
    n, d = int(rng.integers(3, 6)), int(rng.integers(2, 5))
    cases.append(_layer_case(_act("relu", "missing_activation_derivative"), _with_kinks(rng, (n, d)), rng, kinks=(0.0,),
                             label=f"relu with a planted bug, x ({n}, {d}) with entries at 0, kinks = (0.0,)"))
    n, k = int(rng.integers(2, 6)), int(rng.integers(2, 5))
    name = str(rng.choice(["mse", "softmax_cross_entropy"]))
    loss = _loss(rng, name, n, k, "missing_1_over_n")
    cases.append(_layer_case(loss, rng.normal(size=(n, k)), rng, label=f"{planted.describe(loss)} with a planted bug, N = {n}"))
    n, k = int(rng.integers(2, 6)), int(rng.integers(2, 5))
    cases.append(_layer_case(_act("softmax", "softmax_returns_zeros"), rng.normal(size=(n, k)), rng,
                             label=f"a softmax layer with a planted bug, x ({n}, {k})"))
    return cases


def _reference(recipe, x, seed, kinks, *, dout=None):
    """nnkit's check of the float64 build of the layer: one TensorCheck row per tensor."""
    layer = planted.build_layer(recipe, "float64")
    res = gc.check_layer(layer, np.array(x, dtype=np.float64), np.random.default_rng(seed),
                         kinks={"x": tuple(kinks)} if kinks else None, dout=dout)
    return {r.name: r for r in res.rows}


def _reported(errors, name):
    """(error as a float or None, what is wrong with it)."""
    if name not in errors:
        return None, f"no entry for {name!r} in the dict check_layer returned (keys: {', '.join(map(str, errors)) or 'none'})"
    e = errors[name]
    if isinstance(e, bool) or not isinstance(e, (int, float)):
        a, bad = as_numeric(e, name)
        if bad is not None or a.size != 1:
            return None, f"{name}: expected one number (the largest relative error), got {type(e).__name__}"
        e = a.reshape(())[()]
    e = float(e)
    if math.isnan(e):
        return None, f"{name}: got NaN; a gradient that cannot be compared counts as wrong: report inf"
    return e, ""


def _cl_judge(case, value):
    """One part per tensor: does check_layer call it right or wrong, as nnkit does? A case counts
    only if the check tells right from wrong: for a broken layer, the broken tensor must be caught,
    not every tensor flagged, and the same tensor of the clean layer (the twin) passed; for a clean
    layer, the same layer with a planted bug (the twin) must fail."""
    recipe, x, seed, kinks, twin = case.args
    if not _report(value, ("errors", "error", "twin_errors", "twin_error", "params", "x_same")):
        return [Part(False, f"run_check_layer {DRIVER_CHANGED}")]
    ref = _reference(recipe, x, seed, kinks)
    names = list(ref)
    float32 = recipe.get("dtype") == "float32"
    blank = [Part(False, "") for _ in names[1:]]
    failed = _cl_unusable(value["error"], value["errors"], ref, float32)
    if failed:
        return [failed] + blank + _arguments(value)
    parts = [_tensor_part(name, value["errors"], ref, recipe, x, seed, kinks, float32) for name in names]
    bug = recipe.get("bug", "")
    if bug:
        broken = planted.BUGS[bug][1]
        at = names.index(broken)
        if not parts[at].ok:  # the bug was missed: the other verdicts prove nothing
            return [parts[at]] + blank + _arguments(value)
        others = [p for n, p in zip(names, parts) if n != broken]
        if others and not any(p.ok for p in others):
            note = (f"every tensor is flagged, so the check does not say where the bug is (only d{broken} is "
                    f"wrong); {others[0].message}")
            return [Part(False, note, cause=others[0].cause, name="d" + broken)] + blank + _arguments(value)
        clean = {**recipe, "bug": ""}
        failed = _cl_unusable(value["twin_error"], value["twin_errors"], ref, float32)
        if not failed:
            alarm = _tensor_part(broken, value["twin_errors"], _reference(clean, x, seed, kinks), clean, x, seed,
                                 kinks, float32)
            if not alarm.ok:
                failed = Part(False, f"on the same layer without its bug, your check flags d{broken} too "
                                     f"({alarm.message.split(': ', 1)[1]}): it does not tell a right gradient "
                                     "from a wrong one", cause=alarm.cause, name="d" + broken)
        else:
            failed.message = "on the same layer without its bug: " + failed.message
        if failed:
            return [failed] + blank + _arguments(value)
    elif twin:
        twin_recipe = {**recipe, "bug": twin}
        twin_ref = _reference(twin_recipe, x, seed, kinks)
        broken = planted.BUGS[twin][1]
        failed = _cl_unusable(value["twin_error"], value["twin_errors"], twin_ref, float32)
        if not failed:
            miss = _tensor_part(broken, value["twin_errors"], twin_ref, twin_recipe, x, seed, kinks, float32)
            if not miss.ok:
                failed = Part(False, f"on the same layer with a planted bug in d{broken}, your check passes it too "
                                     f"({miss.message.split(': ', 1)[1]}): a check that cannot fail proves nothing",
                              cause=miss.cause, name="d" + broken)
        elif failed.message:
            failed.message = "on the same layer with a planted bug: " + failed.message
        if failed:
            return [failed] + blank + _arguments(value)
    return parts + _arguments(value)


def _cl_unusable(error, errors, ref, float32):
    """A failed Part when check_layer raised or did not return a dict; else None."""
    names = list(ref)
    if error:
        return Part(False, f"check_layer {error}", cause=_error_cause(
            error, float32, any(r.reason.startswith(SHAPE) for r in ref.values())))
    if not isinstance(errors, dict):
        return Part(False, f"check_layer returned a {type(errors).__name__}; expected a dict tensor name -> largest "
                           f"relative error, here with keys {', '.join(names)}")
    return None


def _arguments(value) -> list:
    """A failed part when the check left x or the layer's arrays changed (nothing when it did not)."""
    problems = [f"layer.params[{k!r}] was {how}" for k, how in value["params"].items()]
    if not value["x_same"]:
        problems.append("the x it was given was changed")
    if not problems:
        return []
    cause = "a check must leave the layer and x exactly as it found them: write each saved value back"
    if any(how == "replaced" for how in value["params"].values()):
        cause = ("put the layer's own arrays back into layer.params when the check ends (also when it raises): "
                 "the copies are for the check only, and an optimizer holds the originals")
    return [Part(False, "check_layer left " + "; ".join(problems), cause=cause, name="arguments")]


SHAPE = "analytic gradient has shape"
FLOAT32 = ("this layer and x are float32: check float64 copies of x and of every parameter (the layer reads the "
           "copies while the check runs) and put the layer's own arrays back afterwards")


def _error_cause(error, float32, wrong_shape) -> str:
    """The likely cause of an error check_layer (or find_bug) raised, when the case confirms it."""
    if float32 and "float64" in error:
        return FLOAT32
    if wrong_shape and ("broadcast" in error or "shape" in error):
        return ("a gradient can come back with the wrong shape: compare the shapes first and report inf for that "
                "tensor, instead of computing an error")
    return ""


def _tensor_part(name, errors, ref, recipe, x, seed, kinks, float32) -> Part:
    row = ref[name]
    d = "d" + name
    got, why = _reported(errors, name)
    if why:
        cause = ""
        if d in errors and name not in errors:
            cause = "key the errors by the tensor's name, 'x' or the key in layer.params ('W'), not by its gradient's ('dW')"
        return Part(False, why, cause=cause, name=d)
    says_wrong = got > THRESHOLD
    if says_wrong == (not row.passed):
        return Part(True, name=d)
    if says_wrong:  # a false alarm
        msg = f"{d}: you report {_fmt(got)}, but {d} is right (nnkit's relative error {_fmt(row.max_rel_error)})"
        cause = ""
        if abs(got - 1.0) < 1e-12:
            cause = ("an error of exactly 1 means one of the two gradients is 0 at the worst entry: if your numeric "
                     "gradient is all zeros, the probes did not reach the arrays the layer reads (perturb x and the "
                     "parameters themselves, in place)")
        elif name == "x" and kinks:
            without = _reference(recipe, x, seed, ())[name]
            if not without.passed and without.max_rel_error / 4 <= got <= 4 * without.max_rel_error:
                cause = ("x has entries within h of a kink (the ReLU's slope jumps at 0, and the centred difference "
                         "there measures neither slope): skip them, as the kinks argument asks")
        if not cause and float32 and 1e-4 < got < 1.0:
            cause = ("this layer and x are float32: run the check on float64 copies of x and of every parameter; "
                     "float32 round-off divided by 2h gives errors around 1e-3 even for a right gradient")
        return Part(False, msg, cause=cause, name=d)
    # a missed bug
    what = row.reason or f"relative error {_fmt(row.max_rel_error)}"
    msg = f"{d}: you report {_fmt(got)}, but {d} is wrong (nnkit: {what})"
    cause = ""
    bug = recipe.get("bug", "")
    if row.reason.startswith(SHAPE):
        cause = ("a gradient whose shape differs from its tensor's is wrong: report inf for it (and never let "
                 "relative_error broadcast two shapes)")
    elif bug == "softmax_returns_zeros":
        ones = _reference(recipe, x, seed, kinks, dout=np.ones(np.shape(x)))[name]
        if ones.passed:
            cause = ("every row of softmax(x) sums to 1, so with dout = ones the numeric gradient is 0 and a backward "
                     "that returns zeros looks right: project the output on a random dout, "
                     "rng.standard_normal(out.shape)")
    return Part(False, msg, cause=cause, name=d)


# --------------------------------------------------------------------------------------------
# find_bug
# --------------------------------------------------------------------------------------------
ACTIVATIONS = ("relu", "tanh", "sigmoid", "leaky_relu")


def _network(rng, sizes, acts, loss, *, bug=None, n=None, dtype="float64", zero_row=False):
    """A network recipe: Dense layers of ``sizes`` with ``acts`` between them, then ``loss``;
    ``bug = (layer index, bug name)`` plants one bug."""
    n = int(n or rng.integers(3, 7))
    layers = []
    for i in range(len(sizes) - 1):
        layers.append(_dense(rng, sizes[i], sizes[i + 1]))
        if i < len(sizes) - 2:
            layers.append(_act(acts[i]))
    layers.append(_loss(rng, loss, n, sizes[-1]))
    if zero_row:
        layers[0]["bias"] = "zero"
    if bug is not None:
        i, name = bug
        layers[i]["bug"] = name
    return {"n": n, "d_in": int(sizes[0]), "seed": int(rng.integers(2**31)), "dtype": dtype,
            "zero_row": bool(zero_row), "layers": layers}


def _net_label(recipe, number):
    body = " - ".join(planted.describe(r) for r in recipe["layers"])
    extra = ""
    if recipe["dtype"] == "float32":
        extra += ", float32"
    if recipe["zero_row"]:
        extra += ", row 0 of X is 0"
    return f"network {number}: {body}, N = {recipe['n']}{extra}"


def _usable(recipe) -> bool:
    """The planted bug shows clearly in its layer's own check, and every other layer passes."""
    network, X = planted.build_network(recipe, "float64")
    rng = np.random.default_rng(0)
    for r, layer, a in zip(recipe["layers"], network, planted.layer_inputs(network, X)):
        res = gc.check_layer(layer, a, rng)
        if r.get("bug"):
            tensor = planted.BUGS[r["bug"]][1]
            if res[tensor].passed or res[tensor].max_rel_error < 1e-3 or sum(not t.passed for t in res) != 1:
                return False
        elif not res.passed:
            return False
    return True


def _fb_case(rng, make, number):
    for _ in range(50):
        recipe = make()
        if _usable(recipe):
            twin = None if planted.planted_answer(recipe) else _twin_bug(rng, recipe)
            if twin is None and not planted.planted_answer(recipe):
                continue
            return Case((recipe, int(rng.integers(2**31)), twin), label=_net_label(recipe, number),
                        function="run_find_bug")
    raise RuntimeError("could not draw a usable network")  # pragma: no cover - does not happen


def _twin_bug(rng, recipe):
    """(layer index, bug) for a clean network: a clean case counts only if find_bug also finds that bug."""
    places = [(i, bug) for i, r in enumerate(recipe["layers"]) for bug in (
        ("transposed_weight_gradient", "bias_not_summed") if r["type"] == "dense" else
        ("missing_activation_derivative",) if r["type"] == "activation" else ("missing_1_over_n",))]
    for j in rng.permutation(len(places)):
        i, bug = places[j]
        layers = [dict(r) for r in recipe["layers"]]
        layers[i]["bug"] = bug
        if _usable({**recipe, "layers": layers}):
            return [int(i), bug]
    return None


def _fb_visible(rng):
    makers = [
        lambda: _network(rng, (3, 3, 3, 2), ("tanh", "tanh"), "softmax_cross_entropy",
                         bug=(2, "transposed_weight_gradient"), n=4),
        lambda: _network(rng, (2, 4, 1), ("sigmoid",), "mse", bug=(1, "missing_activation_derivative"), n=5),
        lambda: _network(rng, (3, 5, 3), ("relu",), "softmax_cross_entropy", bug=(2, "bias_not_summed"), n=4,
                         zero_row=True),
        lambda: _network(rng, (4, 3, 3), ("tanh",), "softmax_cross_entropy", bug=(3, "missing_1_over_n"), n=5,
                         dtype="float32"),
        lambda: _network(rng, (3, 4, 2), ("relu",), "mse", n=5, zero_row=True),
        lambda: _network(rng, (2, 3, 3, 1), ("tanh", "tanh"), "mse", bug=(3, "tanh_without_square"), n=4),
    ]
    return [_fb_case(rng, make, i + 1) for i, make in enumerate(makers)]


def _fb_hidden(rng):
    plans = [
        ("transposed_weight_gradient", "float64"), ("bias_not_summed", "float32"),
        ("missing_activation_derivative", "float64"), ("missing_1_over_n", "float64"),
        ("weight_gradient_sign", "float64"), ("loss_gradient_sign", "float32"),
        ("transposed_weight_gradient", "float32"), ("missing_activation_derivative", "float32"),
        (None, "float64"), (None, "float32"),
    ]
    order = rng.permutation(len(plans))
    return [_fb_case(rng, _hidden_maker(rng, *plans[j]), i + 1) for i, j in enumerate(order)]


def _hidden_maker(rng, bug, dtype):
    def make():
        depth = int(rng.integers(2, 4))  # Dense layers
        sizes = [int(s) for s in rng.integers(2, 6, size=depth + 1)]
        acts = [str(a) for a in rng.choice(ACTIVATIONS, size=depth - 1)]
        loss = str(rng.choice(["mse", "softmax_cross_entropy"]))
        if loss == "softmax_cross_entropy":
            sizes[-1] = max(sizes[-1], 2)
        zero_row = acts[0] in ("relu", "leaky_relu") and bool(rng.random() < 0.7)
        place = None
        loss_at = 2 * depth - 1  # depth Dense layers with depth - 1 activations between them, then the loss
        if bug in ("transposed_weight_gradient", "bias_not_summed", "weight_gradient_sign"):
            place = 2 * int(rng.integers(0, depth))
            if bug == "transposed_weight_gradient" and rng.random() < 0.5:
                j = place // 2
                sizes[j + 1] = sizes[j]  # a square W: the transpose has the right shape
        elif bug == "missing_activation_derivative":
            place = 2 * int(rng.integers(0, depth - 1)) + 1
        elif bug in ("missing_1_over_n", "loss_gradient_sign"):
            place = loss_at
        return _network(rng, sizes, acts, loss, bug=None if bug is None else (place, bug), dtype=dtype,
                        zero_row=zero_row)
    return make


SIGNATURE = {
    "missing_activation_derivative": "that dx equals the upstream gradient dout, passed through unchanged: the "
                                     "activation's derivative was never multiplied in (missing_activation_derivative)",
    "transposed_weight_gradient": "the transpose of that dW matches the numeric gradient (transposed_weight_gradient)",
    "bias_not_summed": "that db has one row per sample, shape (N, D_out), and summed over the batch it matches the "
                       "numeric gradient (bias_not_summed)",
    "missing_1_over_n": "that dx is exactly N times the numeric gradient, N the batch size (missing_1_over_n)",
    "other": ("none of the four signatures fits that gradient: it is not dout passed through, its transpose does "
              "not match, it has no extra batch axis, and it is not N times the numeric one; such a bug is 'other'"),
}


def _signature(layer, x, tensor) -> str:
    """Which of the kinds the numbers of ``layer``'s broken ``tensor`` show (the grader's own test)."""
    x = np.array(x, dtype=np.float64)
    out, cache = layer.forward(x, True)
    dout = np.random.default_rng(1).standard_normal(np.shape(out))
    dx, grads = layer.backward(dout, cache)
    a = np.asarray({"x": dx, **grads}[tensor], dtype=np.float64)
    arr = x if tensor == "x" else layer.params[tensor]
    n = gc.numerical_gradient(lambda _: float(np.sum(layer.forward(x, True)[0] * dout)), arr)
    if tensor == "x" and a.shape == np.shape(dout) and _close(a, dout, 1e-9):
        return "missing_activation_derivative"
    if a.ndim == 2 and a.T.shape == n.shape and _close(a.T, n, 1e-6):
        return "transposed_weight_gradient"
    if a.ndim == n.ndim + 1 and a.shape[1:] == n.shape and _close(a.sum(axis=0), n, 1e-6):
        return "bias_not_summed"
    if a.shape == n.shape and x.shape[0] > 1 and _close(a, x.shape[0] * n, 1e-6):
        return "missing_1_over_n"
    return "other"


def _network_error(network, X, j, tensor) -> float:
    """Relative error of layer j's ``tensor`` gradient checked through the whole network (loss at the end)."""
    inputs = planted.layer_inputs(network, X)

    def loss_from(a, start):
        for layer in network[start:]:
            a, _ = layer.forward(a, True)
        return float(a)

    caches, a = [], X
    for layer in network:
        a, c = layer.forward(a, True)
        caches.append(c)
    d = np.array(1.0)
    grads = {}
    for i in range(len(network) - 1, j - 1, -1):
        d, g = network[i].backward(d, caches[i])
        if i == j:
            grads = {"x": d, **g}
    x_j = np.array(inputs[j])
    if tensor == "x":
        num = gc.numerical_gradient(lambda z: loss_from(z, j), x_j)
    else:
        num = gc.numerical_gradient(lambda _: loss_from(x_j, j), network[j].params[tensor])
    ana = np.asarray(grads[tensor], dtype=np.float64)
    return gc.rel_error(ana, num) if ana.shape == num.shape else math.inf


def _fb_judge(case, value):
    """Buggy network: the location (layer and tensor) and the kind count separately. Clean network:
    None, after running every layer's backward pass, and the same network with a planted bug (the
    twin) located."""
    recipe, _, twin = case.args
    expected = planted.planted_answer(recipe)
    n_parts = 1 if expected is None else 2
    if not _report(value, ("answer", "error", "untouched")):
        return [Part(False, f"run_find_bug {DRIVER_CHANGED}")] + [Part(False, "")] * (n_parts - 1)
    if value["error"]:
        cause = _error_cause(value["error"], recipe["dtype"] == "float32",
                             expected is not None and expected[2] in ("bias_not_summed", "transposed_weight_gradient"))
        if cause == FLOAT32:
            cause = "the network is float32: " + FLOAT32.split(": ", 1)[1]
        return [Part(False, f"find_bug {value['error']}", cause=cause)] + [Part(False, "")] * (n_parts - 1)
    answer = value["answer"]
    extra = [] if value["untouched"] else [Part(False, "find_bug left a layer's parameters or X changed", cause=(
        "a check must leave the network exactly as it found it: put every array back as it was"))]
    network, X = planted.build_network(recipe, "float64")
    if answer is not None:
        ok_form = (isinstance(answer, (tuple, list)) and len(answer) == 3 and isinstance(answer[0], int)
                   and not isinstance(answer[0], bool) and isinstance(answer[1], str) and isinstance(answer[2], str))
        if not ok_form:
            return [Part(False, f"find_bug returned {_show(answer)}; expected (layer index, tensor name, kind) or None")] \
                + [Part(False, "")] * (n_parts - 1) + extra
    if expected is None:
        if answer is None:
            skipped = value.get("unchecked") or []
            if skipped:
                return [Part(False, f"find_bug returned None without running the backward pass of layer(s) "
                                    f"{', '.join(map(str, skipped))}", name="network",
                             cause="check every layer before you call a network clean")] + extra
            return [_twin_part(recipe, twin, value)] + extra
        j, tensor, kind = answer
        return [_false_alarm(recipe, network, X, j, tensor, "this network has no bug")] + extra
    i, t, k = expected
    where = f"layer {i} ({planted.describe(recipe['layers'][i])})"
    if answer is None:
        row = _layer_row(network, X, i, t)
        cause = ""
        if row.reason.startswith(SHAPE):
            cause = "a gradient of the wrong shape is broken: check_layer must report inf for it"
        return [Part(False, f"find_bug returned None, but {where} has a broken d{t}: checked alone, "
                            f"{row.reason or 'its relative error is ' + _fmt(row.max_rel_error)}",
                     cause=cause, name="location"), Part(False, "", name="kind")] + extra
    j, tensor, kind = answer
    if (j, tensor) != (i, t):
        if j == i and 0 <= j < len(network):
            row = _layer_row(network, X, i, t)
            loc = Part(False, f"you named d{tensor} of {where}; that layer's broken gradient is d{t} "
                              f"(checked alone, {row.reason or 'relative error ' + _fmt(row.max_rel_error)})",
                       name="location")
        else:
            loc = _false_alarm(recipe, network, X, j, tensor, f"the broken tensor is d{t} of {where}", bug_at=i)
        return [loc, Part(False, "", name="kind")] + extra
    if kind == k:
        return [Part(True, name="location"), Part(True, name="kind")] + extra
    if kind not in planted.BUG_KINDS:
        msg = f"kind {kind!r} is not one of {', '.join(planted.BUG_KINDS)}"
        return [Part(True, name="location"), Part(False, msg, name="kind")] + extra
    seen = _signature(network[i], planted.layer_inputs(network, X)[i], t)
    cause = SIGNATURE[seen] if seen == k else ""
    return [Part(True, name="location"),
            Part(False, f"the kind of d{t} of {where}: you said {kind!r}, expected {k!r}", cause=cause, name="kind")] + extra


def _twin_part(recipe, twin, value) -> Part:
    """The clean network was called clean: right only if the same network with a bug was not."""
    i, bug = twin
    _, t, _ = planted.BUGS[bug]
    where = f"d{t} of layer {i} ({planted.describe(recipe['layers'][i])})"
    if value["twin_error"]:
        return Part(False, f"on the same network with a planted bug in {where}, find_bug {value['twin_error']}",
                    name="network")
    got = value["twin_answer"]
    if isinstance(got, (tuple, list)) and len(got) == 3 and tuple(got[:2]) == (i, t):
        return Part(True, name="network")
    return Part(False, f"find_bug calls this network clean, but on the same network with a planted bug in {where} "
                       f"it returns {_show(got)}: a search that cannot find a bug proves nothing", name="network")


def _show(answer) -> str:
    text = repr(answer)
    return text if len(text) <= 60 else text[:57] + "..."


def _layer_row(network, X, i, tensor):
    a = planted.layer_inputs(network, X)[i]
    return gc.check_layer(network[i], a, np.random.default_rng(0))[tensor]


def _false_alarm(recipe, network, X, j, tensor, truth, bug_at=None) -> Part:
    """The student named layer j's ``tensor``, which is not the broken one: say why they may have."""
    if not (0 <= j < len(network)):
        return Part(False, f"you named layer {j}, but the network has layers 0 to {len(network) - 1}; {truth}",
                    name="location")
    where = f"layer {j} ({planted.describe(recipe['layers'][j])})"
    a = planted.layer_inputs(network, X)[j]
    res = gc.check_layer(network[j], a, np.random.default_rng(0))
    names = [r.name for r in res.rows]
    if tensor not in names:
        return Part(False, f"you named {tensor!r} of {where}, which has only {', '.join(names)}; {truth}",
                    name="location")
    row = res[tensor]
    msg = f"you named d{tensor} of {where}, but checked alone it is right (nnkit: {_fmt(row.max_rel_error)}); {truth}"
    cause = ""
    rj = recipe["layers"][j]
    if rj["type"] == "activation" and rj["name"] in ("relu", "leaky_relu") and np.any(np.abs(a) <= H):
        cause = ("that layer's input has entries within h of its kink at 0 (row 0 of X is 0): skip them, passing "
                 "the layer's kinks to check_layer")
    elif bug_at is not None and j < bug_at and tensor != "x" and _network_error(network, X, j, tensor) > THRESHOLD:
        cause = ("a wrong gradient flows back from the broken layer into every layer before it, so a check of the "
                 "whole network at once flags them all: check each layer alone, on its own input, and name the one "
                 "whose own check fails")
    elif recipe["dtype"] == "float32":
        cause = ("the network is float32: a check run in float32 raises false alarms like this one (round-off "
                 "divided by 2h); check_layer must run on float64 copies of x and of the parameters")
    return Part(False, msg, cause=cause, name="location")


CHECKS = [
    Check(
        grade_id="gradcheck_numerical_gradient",
        functions=("numerical_gradient",),
        helpers=("run_numerical_gradient",),
        points=3,
        visible=_ng_visible,
        hidden=_ng_hidden,
        judge=_ng_judge,
        forbidden=FORBIDDEN,
        timeout=5,
    ),
    Check(
        grade_id="gradcheck_relative_error",
        functions=("relative_error",),
        helpers=("run_relative_error",),
        points=2,
        visible=_re_visible,
        hidden=_re_hidden,
        judge=_re_judge,
        forbidden=FORBIDDEN,
        timeout=5,
    ),
    Check(
        grade_id="gradcheck_check_layer",
        functions=("check_layer",),
        helpers=("run_check_layer",),
        points=4,
        visible=_cl_visible,
        hidden=_cl_hidden,
        judge=_cl_judge,
        forbidden=FORBIDDEN,
        timeout=5,
    ),
    Check(
        grade_id="gradcheck_find_bug",
        functions=("find_bug",),
        helpers=("run_find_bug",),
        points=4,
        visible=_fb_visible,
        hidden=_fb_hidden,
        judge=_fb_judge,
        forbidden=FORBIDDEN,
        timeout=5,
    ),
]
