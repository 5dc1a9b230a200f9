"""Assignment 7, ``check_layer``: one error per tensor, judged against nnkit's check, with twins."""
from __future__ import annotations

import math

import numpy as np

from nnkit import gradcheck as gc

from ... import planted
from ...remote_layers import Served
from .. import Case
from ...verdict import Part, as_numeric

from ._common import DRIVER_CHANGED, H, THRESHOLD, _fmt, _report


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
    """x with some entries exactly 0 and some within h of 0 (a ReLU's kink), and away from the kink
    at least one clearly negative and one clearly positive entry: there a missing ReLU derivative
    shows (were every entry positive, relu' = 1 would hide it, and the case could not fail)."""
    x = rng.normal(size=shape)
    flat = x.reshape(-1)
    if flat.size < 6:
        raise ValueError(f"x needs at least 6 entries for its kinks and both signs; got shape {shape}")
    idx = rng.permutation(flat.size)
    k = max(2, flat.size // 4)
    flat[idx[:k]] = 0.0
    flat[idx[k:k + 2]] = rng.choice([-1.0, 1.0], size=2) * H / 2
    flat[idx[k + 2]] = -0.5 - abs(flat[idx[k + 2]])
    flat[idx[k + 3]] = 0.5 + abs(flat[idx[k + 3]])
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
    """The layer and its twin stay in the grader (:class:`Served`): the student's check gets proxies."""
    recipe = {**recipe, "dtype": dtype}
    x = np.asarray(x, dtype=np.float64).astype(dtype)
    twin = {**recipe, "bug": "" if recipe.get("bug") else _twin(rng, recipe)}
    return Case((Served(recipe), x, int(rng.integers(2**31)), tuple(kinks), Served(twin)), label=label,
                function="run_check_layer")


def cl_visible(rng):
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


def cl_hidden(rng):
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


def cl_judge(case, value):
    """One part per tensor: does check_layer call it right or wrong, as nnkit does? A case counts
    only if the check tells right from wrong: for a broken layer, the broken tensor must be caught,
    not every tensor flagged, and the same tensor of the clean layer (the twin) passed; for a clean
    layer, the same layer with a planted bug (the twin) must fail."""
    layer, x, seed, kinks, twin = case.args
    recipe, twin = layer.recipe, twin.recipe
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
        clean = twin  # the same layer without its bug
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
    else:
        twin_recipe = twin
        twin_ref = _reference(twin_recipe, x, seed, kinks)
        broken = planted.BUGS[twin["bug"]][1]
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


