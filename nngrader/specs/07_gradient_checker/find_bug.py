"""Assignment 7, ``find_bug``: which layer, tensor and kind of a planted backward bug."""
from __future__ import annotations

import math

import numpy as np

from nnkit import gradcheck as gc

from ... import planted
from ...remote_layers import Served
from .. import Case
from ...verdict import Part

from ._common import DRIVER_CHANGED, H, THRESHOLD, _fmt, _report
from ...verdict import matches as _close
from .layers import FLOAT32, SHAPE, _act, _dense, _error_cause, _loss


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
    """The network (and a clean one's twin) stay in the grader (:class:`Served`): find_bug gets proxies."""
    for _ in range(50):
        recipe = make()
        if _usable(recipe):
            twin = None if planted.planted_answer(recipe) else _twin_bug(rng, recipe)
            if twin is None and not planted.planted_answer(recipe):
                continue
            return Case((Served(recipe), int(rng.integers(2**31)), None if twin is None else Served(twin)),
                        label=_net_label(recipe, number), function="run_find_bug")
    raise RuntimeError("could not draw a usable network")  # pragma: no cover - does not happen


def _twin_bug(rng, recipe):
    """The clean network with a bug planted in one layer: a clean case counts only if find_bug finds it."""
    places = [(i, bug) for i, r in enumerate(recipe["layers"]) for bug in (
        ("transposed_weight_gradient", "bias_not_summed") if r["type"] == "dense" else
        ("missing_activation_derivative",) if r["type"] == "activation" else ("missing_1_over_n",))]
    for j in rng.permutation(len(places)):
        i, bug = places[j]
        layers = [dict(r) for r in recipe["layers"]]
        layers[i]["bug"] = bug
        if _usable({**recipe, "layers": layers}):
            return {**recipe, "layers": layers}
    return None


def fb_visible(rng):
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


def fb_hidden(rng):
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
    """Relative error of layer j's ``tensor`` gradient checked through the rest of the network (the
    loss at the end), as one check of the whole network sees it."""
    x_j = np.array(planted.layer_inputs(network, X)[j])
    rest = network[j:]

    def loss(a):
        for layer in rest:
            a, _ = layer.forward(a, True)
        return float(a)

    caches, a = [], x_j
    for layer in rest:
        a, cache = layer.forward(a, True)
        caches.append(cache)
    d = np.array(1.0)
    for layer, cache in reversed(list(zip(rest, caches))):  # ends at layer j: its dx and grads
        d, grads = layer.backward(d, cache)
    ana = np.asarray({"x": d, **grads}[tensor], dtype=np.float64)
    if tensor == "x":
        num = gc.numerical_gradient(loss, x_j)
    else:
        num = gc.numerical_gradient(lambda _: loss(x_j), network[j].params[tensor])
    return gc.rel_error(ana, num) if ana.shape == num.shape else math.inf


def fb_judge(case, value):
    """Buggy network: the location (layer and tensor) and the kind count separately. Clean network:
    None, after running every layer's backward pass, and the same network with a planted bug (the
    twin) located."""
    served, _, twin = case.args
    recipe = served.recipe
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
            skipped = served.unchecked()  # counted by the grader, from the backward passes it ran
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
    i, t, _ = planted.planted_answer(twin.recipe)
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


