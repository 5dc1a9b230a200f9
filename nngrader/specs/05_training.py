"""Assignment 5, training in practice: checks against nnkit's regularization, layers,
normalization, initializers and (for the last task) the test split of the digits data.

Student functions (conventions as the notebook states them):

- ``l2_grad(params, lam)`` / ``l1_grad(params, lam)`` -> dict like ``params``: gradients of
  ``(lam/2) * sum w**2`` and ``lam * sum |w|`` over the weight matrices (keys starting with
  ``"W"``); every other entry (biases, BatchNorm's gamma/beta) gets zeros. ``sign(0) = 0``.
  Checked against centred differences of :func:`nnkit.regularization.l2_penalty` / ``l1_penalty``.
- ``dropout_forward(x, p_drop, rng=None, training=True, mask=None)`` -> ``(out, mask)``:
  inverted dropout, ``p_drop`` the probability of *dropping*; keep-mask ``rng.random(x.shape) >=
  p_drop`` (or the given one); ``out = x * mask / (1 - p_drop)``; identity at inference.
  Fixed masks are compared with :func:`nnkit.layers.dropout_forward`; random masks are judged
  by the relation ``out = x * mask / (1 - p_drop)`` and the kept fraction (binomial bounds).
- ``dropout_backward(dout, mask, p_drop)`` -> ``dx``: gradient-checked against nnkit's forward.
- ``batchnorm_forward(x, gamma, beta, eps=1e-5)`` -> ``out`` (training mode, biased batch
  variance, eps inside the square root) and ``batchnorm_backward(dout, x, gamma, eps=1e-5)`` ->
  ``(dx, dgamma, dbeta)``, gradient-checked tensor by tensor against centred differences of
  :func:`nnkit.normalization.batchnorm_forward` projected on ``dout``.
- ``xavier_uniform(shape, rng)`` / ``he_normal(shape, rng)`` with ``shape = (fan_in, fan_out)``:
  judged statistically on large draws (mean, variance within 5 %, and the shape of the
  distribution), and by shape on small ones.
- ``early_stopping(val_losses, patience, min_delta=0.0)`` -> ``(stop_epoch, best_epoch)``,
  the semantics of :class:`nnkit.regularization.EarlyStopping` (mode "min", patience >= 1,
  epochs counted from 0, ``stop_epoch`` None when patience never runs out).
- ``train_digits(X_train, y_train, X_val, y_val, X_test, rng)`` -> predicted labels of
  ``X_test``. The grader splits nnkit's digits data itself and keeps the test labels; the
  score of a split rises linearly from 0 at 80 % test accuracy to full at 95 % (in steps of one
  percentage point).
"""
from __future__ import annotations

import importlib
import inspect

import numpy as np

from nnkit import datasets as nkd
from nnkit import layers as nkl
from nnkit import normalization as nkn
from nnkit import regularization as nkr

from . import RNG, Case, Check
from ..verdict import Part, as_numeric, compare_close, compare_exact, gradient_parts

GRADCHECK = (
    "nnkit.gradcheck:numerical_gradient",
    "nnkit.gradcheck:numerical_gradient_array",
    "nnkit.gradcheck:check_gradients",
    "nnkit.gradcheck:check_layer",
    "nnkit.gradcheck:check_model",
)


def _private(qualname: str) -> bool:
    last = qualname.rsplit(".", 1)[-1]
    return last.startswith("_") and not (last.startswith("__") and last.endswith("__"))


def _defined_in(*modules: str) -> tuple:
    """``"module:qualname"`` of every public function and method defined in these nnkit modules.

    Private helpers (``_check_shape``) are left out: they are reached only through a public
    function, which is already listed, and naming them would only lengthen the message.
    """
    out = []
    for name in modules:
        mod = importlib.import_module(name)
        for attr, obj in vars(mod).items():
            if inspect.isfunction(obj) and obj.__module__ == name:
                out.append(f"{name}:{obj.__qualname__}")
            elif inspect.isclass(obj) and obj.__module__ == name:
                for member in vars(obj).values():
                    if isinstance(member, (staticmethod, classmethod)):
                        member = member.__func__
                    if isinstance(member, property):
                        member = member.fget
                    if inspect.isfunction(member):
                        out.append(f"{name}:{member.__qualname__}")
    return tuple(sorted({name for name in out if not _private(name.partition(":")[2])}))


def _rel(a, b) -> float:
    from nnkit.gradcheck import rel_error

    return float(rel_error(np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)))


def _fmt(v: float) -> str:
    return f"{float(v):.4g}"


def _dict_grads(value, params: dict):
    """The student's dict of gradients, or a failed Part saying why not."""
    if not isinstance(value, dict):
        return None, Part(False, f"return value: expected a dict with the keys of params ({', '.join(params)}); "
                                 f"got a {type(value).__name__}")
    return value, None


def _penalty_judge(kind: str):
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
                        if _rel(a, r * base) < 1e-9 and abs(r - 1) > 1e-9:
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


def _pen_visible(rng):
    return [
        Case(({"W1": np.array([[1.0, -2.0], [0.5, 3.0]]), "b1": np.array([1.0, -1.0])}, 0.1),
             label="W1 (2, 2), b1 (2,), lam = 0.1"),
        Case((_params(rng, [3, 4, 2]), 0.01), label="W1 (3, 4), b1, W2 (4, 2), b2, lam = 0.01"),
    ]


def _pen_hidden(rng):
    cases = []
    for i in range(5):
        depth = int(rng.integers(1, 4))
        sizes = [int(v) for v in rng.integers(1, 7, size=depth + 1)]
        lam = [0.0, 1e-4, 0.05, 0.5, 2.0][i]
        p = _params(rng, sizes, extra=i in (1, 3), zeros=2 if i in (2, 4) else 0)
        desc = ", ".join(f"{k} {v.shape}" for k, v in p.items())
        cases.append(Case((p, lam), label=f"{desc}, lam = {lam:g}"))
    return cases


# --------------------------------------------------------------------------------------------
# dropout
# --------------------------------------------------------------------------------------------
def _nonzero_normal(rng, shape):
    x = rng.normal(size=shape)
    return np.where(np.abs(x) < 1e-3, 0.5, x)


def _drop_visible(rng):
    x = _nonzero_normal(rng, (4, 5))
    mask = rng.random((4, 5)) >= 0.5
    return [
        Case((x, 0.5), {"mask": mask}, label="x (4, 5), p_drop = 0.5, given mask", expect="mask"),
        Case((_nonzero_normal(rng, (200, 100)), 0.3, RNG(11)), label="x (200, 100), p_drop = 0.3, rng", expect="rng"),
        Case((x, 0.5), {"training": False}, label="inference (training=False)", expect="inference"),
    ]


def _drop_hidden(rng):
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


def _drop_judge(case, value):
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
                part.cause = _scale_hint(x, o.astype(np.float64), given, p_drop)
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
            rel.cause = _scale_hint(x, o.astype(np.float64), keep, p_drop)
    n = keep.size
    frac = keep.mean()
    sd = np.sqrt(max(p_drop * (1 - p_drop), 1e-12) / n)
    ok = abs(frac - (1 - p_drop)) <= 5 * sd + 1e-12
    msg = "" if ok else (
        f"mask keeps {frac:.1%} of the entries; expected about {1 - p_drop:.0%} = 1 - p_drop "
        f"(p_drop is the probability of DROPPING an entry: keep where rng.random(x.shape) >= p_drop)")
    return [Part(True), rel, Part(ok, msg)]


def _dropb_visible(rng):
    mask = rng.random((4, 5)) >= 0.5
    return [
        Case((rng.normal(size=(4, 5)), mask, 0.5), label="dout (4, 5), p_drop = 0.5"),
        Case((rng.normal(size=(3, 2)), np.array([[True, False], [True, True], [False, False]]), 0.25),
             label="dout (3, 2), p_drop = 0.25"),
    ]


def _dropb_hidden(rng):
    cases = []
    for p in (0.1, 0.5, 0.8, 0.0):
        shape = (int(rng.integers(1, 10)), int(rng.integers(1, 10)))
        mask = rng.random(shape) >= p
        cases.append(Case((rng.normal(size=shape), mask, p), label=f"dout {shape}, p_drop = {p:g}"))
    return cases


def _dropb_judge(case, value):
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


# --------------------------------------------------------------------------------------------
# batch norm
# --------------------------------------------------------------------------------------------
def _bn_ref(x, gamma, beta, eps):
    d = x.shape[1]
    return nkn.batchnorm_forward(x, gamma, beta, np.zeros(d), np.ones(d), True, eps=eps)[0]


def _bn_data(rng, n, d):
    scale = np.exp(rng.uniform(-2, 1.5, size=d))
    x = rng.normal(size=(n, d)) * scale + rng.normal(scale=3, size=d)
    return x, 1.0 + 0.5 * rng.normal(size=d), rng.normal(size=d)


def _bnf_visible(rng):
    x = np.array([[1.0, 2.0], [3.0, 6.0], [5.0, 4.0], [7.0, 0.0]])
    return [
        Case((x, np.ones(2), np.zeros(2)), label="x (4, 2), gamma = 1, beta = 0"),
        Case(_bn_data(rng, 8, 3), {"eps": 1e-5}, label="x (8, 3), random gamma, beta"),
    ]


def _bnf_hidden(rng):
    cases = []
    for i, eps in enumerate([1e-5, 0.1, 1e-3, 1e-5, 0.5]):
        n, d = int(rng.integers(2, 12)), int(rng.integers(1, 7))
        x, g, b = _bn_data(rng, n, d)
        if i == 3:
            x[:, 0] = 2.5  # a constant feature: variance 0, only eps keeps it finite
        cases.append(Case((x, g, b), {"eps": eps}, label=f"x ({n}, {d}), eps = {eps:g}" + (", a constant column" if i == 3 else "")))
    return cases


def _bnf_judge(case, value):
    x, gamma, beta = case.args
    eps = case.kwargs.get("eps", 1e-5)
    ref = _bn_ref(x, gamma, beta, eps)
    part = compare_close("out", value, ref, tol=1e-8)
    if not part.ok:
        a, _ = as_numeric(value, "out")
        if a is not None and a.shape == ref.shape:
            n = x.shape[0]
            mu, var = x.mean(0), x.var(0)
            alternatives = {
                "you divided by the unbiased variance (N - 1); batch norm normalises with the biased batch "
                "variance, dividing by N": gamma * (x - mu) / np.sqrt(var * n / max(n - 1, 1) + eps) + beta,
                "eps goes inside the square root: (x - mu) / sqrt(var + eps)": gamma * (x - mu) / (np.sqrt(var) + eps) + beta,
                "the statistics are per feature over the batch: average over axis 0 (rows are samples)":
                    gamma * (x - x.mean(1, keepdims=True)) / np.sqrt(x.var(1, keepdims=True) + eps) + beta,
                "scale and shift after normalising: out = gamma * x_hat + beta": (x - mu) / np.sqrt(var + eps),
            }
            for why, alt in alternatives.items():
                with np.errstate(all="ignore"):
                    if np.all(np.isfinite(alt)) and _rel(a, alt) < 1e-8:
                        part.cause = why
                        break
    return [part]


def _bnb_visible(rng):
    x, g, _ = _bn_data(rng, 5, 3)
    x2, g2, _ = _bn_data(rng, 2, 4)
    return [
        Case((rng.normal(size=(5, 3)), x, g), label="dout (5, 3), x (5, 3), gradient check"),
        Case((rng.normal(size=(2, 4)), x2, g2), {"eps": 1e-3}, label="a batch of N = 2, eps = 1e-3"),
    ]


def _bnb_hidden(rng):
    cases = []
    for eps in (1e-5, 1e-2, 1e-5, 0.3, 1e-4):
        n, d = int(rng.integers(2, 10)), int(rng.integers(1, 6))
        x, g, _ = _bn_data(rng, n, d)
        cases.append(Case((rng.normal(size=(n, d)), x, g), {"eps": eps}, label=f"dout ({n}, {d}), eps = {eps:g}"))
    return cases


def _bnb_judge(case, value):
    dout, x, gamma = case.args
    eps = case.kwargs.get("eps", 1e-5)
    if not (isinstance(value, (tuple, list)) and len(value) == 3):
        return [Part(False, f"return value: expected a tuple (dx, dgamma, dbeta); got a {type(value).__name__}"
                            + (f" of length {len(value)}" if isinstance(value, (tuple, list)) else "")),
                Part(False, ""), Part(False, "")]
    dx, dgamma, dbeta = value
    d = x.shape[1]
    params = {"x": x.copy(), "gamma": gamma.copy(), "beta": np.zeros(d)}
    parts = gradient_parts(lambda p: _bn_ref(p["x"], p["gamma"], p["beta"], eps), params,
                           {"x": dx, "gamma": dgamma, "beta": dbeta}, dout=dout, threshold=1e-5)
    if not parts[0].ok:
        a, _ = as_numeric(dx, "dx")
        if a is not None and a.shape == x.shape:
            inv = 1.0 / np.sqrt(x.var(0) + eps)
            xh = (x - x.mean(0)) * inv
            g = dout * gamma
            alternatives = {
                "the term -mean(dout * gamma) is missing: mu depends on every sample of the batch":
                    inv * (g - xh * (g * xh).mean(0)),
                "the term -x_hat * mean(dout * gamma * x_hat) is missing: var depends on every sample":
                    inv * (g - g.mean(0)),
                "mu and var were treated as constants; in training mode they depend on x (two more terms)":
                    inv * g,
            }
            for why, alt in alternatives.items():
                if _rel(a, alt) < 1e-6:
                    parts[0].cause = why
                    break
    return parts


# --------------------------------------------------------------------------------------------
# initialization
# --------------------------------------------------------------------------------------------
STAT_SHAPES_VISIBLE = [(400, 150)]
SMALL_SHAPES_VISIBLE = [(3, 5)]


def _init_visible(rng):
    return [Case((STAT_SHAPES_VISIBLE[0], RNG(7)), label="shape (400, 150): mean and variance of 60000 draws",
                 expect="stats"),
            Case((SMALL_SHAPES_VISIBLE[0], RNG(8)), label="shape (3, 5)", expect="small")]


def _init_hidden(rng):
    shapes = [(100, 600), (256, 256), (700, 90)]
    cases = [Case((s, RNG(int(rng.integers(1 << 30)))), label=f"shape {s}: mean and variance of {s[0] * s[1]} draws",
                  expect="stats") for s in shapes]
    for s in [(1, 8), (int(rng.integers(2, 9)), 1)]:
        cases.append(Case((s, RNG(int(rng.integers(1 << 30)))), label=f"shape {s}", expect="small"))
    return cases


def _init_judge(kind: str):
    normal = kind == "he"

    def target(shape):
        fi, fo = shape
        return 2.0 / fi if normal else 2.0 / (fi + fo)

    def formula(shape):
        fi, fo = shape
        if normal:
            return f"2 / fan_in = 2 / {fi} = {_fmt(2 / fi)}"
        return f"2 / (fan_in + fan_out) = 2 / ({fi} + {fo}) = {_fmt(2 / (fi + fo))}"

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
                parts.append(Part(ok, "" if ok else f"W: entries outside (-r, r) with r = sqrt(6 / (fan_in + fan_out)) = {_fmt(r)}"))
            ok = W.size == 1 or np.unique(W).size > 1
            parts.append(Part(ok, "" if ok else "W: all entries are equal; they must be drawn at random"))
            return parts
        n = W.size
        var_t = target(shape)
        mean, var = float(W.mean()), float(W.var())
        ok_mean = abs(mean) <= 6 * np.sqrt(var_t / n)
        parts.append(Part(ok_mean, "" if ok_mean else f"mean of W is {_fmt(mean)}; expected about 0"))
        ok_var = abs(var / var_t - 1) <= 0.05
        parts.append(Part(ok_var, "" if ok_var else (
            f"variance of W is {_fmt(var)} (over {n} draws); expected {formula(shape)} within 5 %, "
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
                f"the largest |entry| is {_fmt(top)}; draws from U(-r, r) with r = sqrt(6 / (fan_in + fan_out)) "
                f"= {_fmt(r)} fill the whole interval and never leave it (draw with rng.uniform)")))
        return parts

    return judge


# --------------------------------------------------------------------------------------------
# early stopping
# --------------------------------------------------------------------------------------------
def _es_reference(losses, patience, min_delta):
    es = nkr.EarlyStopping(patience=patience, min_delta=min_delta)
    for epoch, v in enumerate(losses):
        if es.update(v, {}, epoch):
            return es.stopped_epoch, es.best_epoch
    return None, es.best_epoch


def _es_visible(rng):
    return [
        Case(([1.0, 0.7, 0.8, 0.9, 0.6], 2), label="[1.0, 0.7, 0.8, 0.9, 0.6], patience = 2"),
        Case(([0.9, 0.8, 0.7, 0.6], 1), label="always improving, patience = 1"),
        Case(([0.5, 0.6, 0.4, 0.45, 0.41, 0.42, 0.39], 3), label="7 epochs, patience = 3"),
    ]


def _es_hidden(rng):
    cases = []
    # a noisy decreasing curve that turns up (overfitting)
    for _ in range(3):
        n = int(rng.integers(8, 30))
        t = np.arange(n)
        curve = 1.0 / (1 + 0.3 * t) + 0.004 * np.maximum(t - rng.integers(3, n), 0) ** 1.5 + 0.02 * rng.normal(size=n)
        cases.append(Case(([round(float(v), 4) for v in curve], int(rng.integers(1, 6))), label=f"a noisy curve, {n} epochs"))
    cases.append(Case(([0.5, 0.5, 0.5, 0.5], 2), label="equal losses: a tie is no improvement"))
    cases.append(Case(([0.3], 1), label="one epoch"))
    cases.append(Case(([0.9, 0.8, 0.85, 0.7, 0.75, 0.8, 0.72], 3), label="stops at the last epoch"))
    cases.append(Case(([1.0, 0.995, 0.99, 0.9, 0.899, 0.898, 0.897], 2), {"min_delta": 0.01},
                      label="min_delta = 0.01"))
    cases.append(Case(([2.0, 1.0, 1.5, 0.9, 1.2, 0.8, 1.1, 1.3, 0.7], 2), label="improves just in time, twice"))
    return cases


def _epoch_part(name, got, expected, hint_late, hint_early):
    if expected is None:
        if got is None:
            return Part(True, name=name)
        return Part(False, f"{name}: got {got!r}, expected None (patience never runs out in this history)", name=name)
    if got is None:
        return Part(False, f"{name}: got None, expected {expected}", name=name)
    part = compare_exact(name, got, expected, scalar=True)
    if not part.ok:
        a, _ = as_numeric(got, name)
        if a is not None and a.size == 1:
            g = float(a.ravel()[0])
            if g == expected + 1 and hint_late:
                part.cause = hint_late
            elif g == expected - 1 and hint_early:
                part.cause = hint_early
    return part


def _same_epochs(got, ref) -> bool:
    for g, r in zip(got, ref):
        if r is None or g is None:
            if not (r is None and g is None):
                return False
            continue
        a, why = as_numeric(g, "epoch")
        if why or a.size != 1 or float(a.ravel()[0]) != r:
            return False
    return True


def _es_judge(case, value):
    losses, patience = case.args
    min_delta = case.kwargs.get("min_delta", 0.0)
    stop, best = _es_reference(losses, patience, min_delta)
    if not (isinstance(value, (tuple, list)) and len(value) == 2):
        return [Part(False, f"return value: expected a tuple (stop_epoch, best_epoch); got a {type(value).__name__}"),
                Part(False, "")]
    got = (value[0], value[1])
    for p_alt, what in ((patience + 1, "late"), (patience - 1, "early")):
        if p_alt < 1 or (stop, best) == _es_reference(losses, p_alt, min_delta):
            continue
        try:
            same = _same_epochs(got, _es_reference(losses, p_alt, min_delta))
        except Exception:
            same = False
        if same:
            when = "waits one epoch too long" if what == "late" else "stops one epoch too soon"
            why = (f"your function behaves as if patience were {p_alt}: it {when}. Stop at the epoch where the "
                   f"number of epochs in a row without improvement reaches patience = {patience}")
            parts = [_epoch_part("stop_epoch", value[0], stop, "", ""),
                     _epoch_part("best_epoch", value[1], best, "", "")]
            for part in parts:
                if not part.ok:
                    part.cause = why
            return parts
    tie = any(losses[i] == min(losses[:i]) for i in range(1, len(losses)))
    late = ("one epoch late: stop at the epoch where the number of epochs in a row without improvement "
            "reaches patience")
    early = "one epoch early: stop when the count of epochs without improvement reaches patience, not before"
    best_hint = ("a loss equal to the best so far is not an improvement" if tie else
                 "an improvement must beat the best by more than min_delta" if min_delta else "")
    return [
        _epoch_part("stop_epoch", value[0], stop, late, early),
        _epoch_part("best_epoch", value[1], best, best_hint, best_hint),
    ]


# --------------------------------------------------------------------------------------------
# training on digits
# --------------------------------------------------------------------------------------------
FULL_ACCURACY = 0.95
ZERO_ACCURACY = 0.80
STEPS = 15  # one part per percentage point between 80 % and 95 %


def _digits_case(split_seed: int, student_seed: int, label: str) -> Case:
    X, y = nkd.load_digits()
    s = nkd.train_val_test_split(X, y, np.random.default_rng(split_seed))
    return Case((s.X_train, s.y_train, s.X_val, s.y_val, s.X_test, RNG(student_seed)), label=label, expect=s.y_test)


def _train_visible(rng):
    return [_digits_case(0, 1, "digits split with seed 0, rng seed 1")]


def _train_hidden(rng):
    return [_digits_case(int(rng.integers(1 << 30)), int(rng.integers(1 << 30)), "digits, a fresh random split")]


def _train_judge(case, value):
    y_test = case.expect
    pred, why = as_numeric(value, "predictions")
    if why:
        return [why]
    if pred.shape != y_test.shape:
        hint = ""
        if pred.shape == (len(y_test), 10):
            hint = " (those look like scores per class: return the predicted labels, argmax over axis 1)"
        return [Part(False, f"predictions: shape {pred.shape}, expected {y_test.shape}: one label per row of "
                            f"X_test{hint}")]
    correct = int(np.sum(pred.astype(np.float64) == y_test))
    acc = correct / len(y_test)
    parts = []
    failed = False
    for i in range(1, STEPS + 1):
        need = ZERO_ACCURACY + (FULL_ACCURACY - ZERO_ACCURACY) * i / STEPS
        ok = acc >= need - 1e-12
        msg = ""
        if not ok and not failed:
            failed = True
            msg = (f"test accuracy {acc:.1%} ({correct} of {len(y_test)}): full credit from {FULL_ACCURACY:.0%}, "
                   f"none below {ZERO_ACCURACY:.0%}, one fifteenth more per percentage point in between")
        parts.append(Part(ok, msg))
    return parts


_TRAIN_FORBIDDEN = _defined_in(
    "nnkit.layers", "nnkit.normalization", "nnkit.regularization", "nnkit.initializers", "nnkit.optimizers",
    "nnkit.schedules", "nnkit.clipping", "nnkit.training", "nnkit.model", "nnkit.gradcheck", "nnkit.autodiff",
    "nnkit.neurons",
) + (
    "sklearn.neural_network._multilayer_perceptron:BaseMultilayerPerceptron._fit",
    "sklearn.neighbors._classification:KNeighborsClassifier.predict",
    "sklearn.svm._base:BaseLibSVM.fit",
    "sklearn.linear_model._logistic:LogisticRegression.fit",
)

_INIT_FORBIDDEN = _defined_in("nnkit.initializers") + ("nnkit.layers:Dense.__init__",)

CHECKS = [
    Check(
        grade_id="training_l2_grad",
        functions=("l2_grad",),
        points=2,
        visible=_pen_visible,
        hidden=_pen_hidden,
        judge=_penalty_judge("l2"),
        forbidden=("nnkit.regularization:l2_grad", "nnkit.regularization:l1_grad", "nnkit.training:fit") + GRADCHECK,
        timeout=4,
    ),
    Check(
        grade_id="training_l1_grad",
        functions=("l1_grad",),
        points=2,
        visible=_pen_visible,
        hidden=_pen_hidden,
        judge=_penalty_judge("l1"),
        forbidden=("nnkit.regularization:l1_grad", "nnkit.regularization:l2_grad") + GRADCHECK,
        timeout=4,
    ),
    Check(
        grade_id="training_dropout_forward",
        functions=("dropout_forward",),
        points=2,
        visible=_drop_visible,
        hidden=_drop_hidden,
        judge=_drop_judge,
        forbidden=("nnkit.layers:dropout_forward", "nnkit.layers:Dropout.forward"),
        timeout=4,
    ),
    Check(
        grade_id="training_dropout_backward",
        functions=("dropout_backward",),
        points=1,
        visible=_dropb_visible,
        hidden=_dropb_hidden,
        judge=_dropb_judge,
        forbidden=("nnkit.layers:dropout_backward", "nnkit.layers:Dropout.backward", "nnkit.layers:dropout_forward")
        + GRADCHECK,
        timeout=4,
    ),
    Check(
        grade_id="training_batchnorm_forward",
        functions=("batchnorm_forward",),
        points=2,
        visible=_bnf_visible,
        hidden=_bnf_hidden,
        judge=_bnf_judge,
        forbidden=("nnkit.normalization:batchnorm_forward", "nnkit.normalization:BatchNorm.forward",
                   "nnkit.normalization:layernorm_forward", "nnkit.normalization:LayerNorm.forward"),
        timeout=4,
    ),
    Check(
        grade_id="training_batchnorm_backward",
        functions=("batchnorm_backward",),
        points=3,
        visible=_bnb_visible,
        hidden=_bnb_hidden,
        judge=_bnb_judge,
        forbidden=("nnkit.normalization:batchnorm_backward", "nnkit.normalization:BatchNorm.backward",
                   "nnkit.normalization:layernorm_backward", "nnkit.normalization:LayerNorm.backward")
        + GRADCHECK,
        timeout=4,
    ),
    Check(
        grade_id="training_xavier_uniform",
        functions=("xavier_uniform",),
        points=2,
        visible=_init_visible,
        hidden=_init_hidden,
        judge=_init_judge("xavier"),
        forbidden=_INIT_FORBIDDEN,
        timeout=4,
    ),
    Check(
        grade_id="training_he_normal",
        functions=("he_normal",),
        points=2,
        visible=_init_visible,
        hidden=_init_hidden,
        judge=_init_judge("he"),
        forbidden=_INIT_FORBIDDEN,
        timeout=4,
    ),
    Check(
        grade_id="training_early_stopping",
        functions=("early_stopping",),
        points=2,
        visible=_es_visible,
        hidden=_es_hidden,
        judge=_es_judge,
        forbidden=_defined_in("nnkit.regularization") + ("nnkit.training:fit",),
        timeout=4,
    ),
    Check(
        grade_id="training_train_digits",
        functions=("train_digits",),
        points=4,
        visible=_train_visible,
        hidden=_train_hidden,
        judge=_train_judge,
        forbidden=_TRAIN_FORBIDDEN,
        timeout=8,  # within the 10 s a test cell has in the student's kernel, so validate agrees
    ),
]
