"""Functions, layers and networks with planted backward bugs, built from data (assignment 07).

Assignment 07 grades a student's gradient checker in the grading sandbox, where only data
crosses the boundary. So the things it is run on are described by *recipes*, plain dicts of
numbers and strings, and this module builds them:

- :func:`function`: a smooth scalar function of one array, for ``numerical_gradient``;
- :func:`build_layer`: one layer of the nnkit Layer interface (``params``,
  ``forward(x, training) -> (out, cache)``, ``backward(dout, cache) -> (dx, grads)``), possibly
  with a bug planted in its backward pass;
- :func:`build_network`: a list of such layers ending with a loss layer (its output is the
  scalar loss), and the input batch ``X``; at most one layer has a bug.

A layer with its bug is built only in the grader, never where student code runs: the spec's
judges build references from the recipes, and the layers a student's check is run on stay in
the grader too (:mod:`nngrader.remote_layers`). The notebook's locked driver cell calls the
``drive_*`` functions with public descriptions (no bug in them), and ``drive_check_layer`` and
``drive_find_bug`` hand the student proxies whose backward pass the grader computes.

Bugs are planted here, never in nnkit: every layer subclasses nnkit's and, when clean, computes
exactly what nnkit computes. A planted backward is one of :data:`BUGS`; each belongs to one of
the kinds of :data:`BUG_KINDS` ("other" for a bug that is none of the four the notebook names).

Layer recipes::

    {"type": "dense", "n_in": 3, "n_out": 4, "seed": 7, "bias": "random" | "zero", "bug": ""}
    {"type": "activation", "name": "relu" | "leaky_relu" | "tanh" | "sigmoid" | "softmax", "bug": ""}
    {"type": "loss", "name": "mse" | "softmax_cross_entropy", "n": 5, "k": 3, "seed": 8, "bug": ""}

A network recipe: ``{"n": N, "d_in": D, "seed": s, "dtype": "float64" | "float32",
"zero_row": bool, "layers": [layer recipes]}``. ``zero_row`` makes row 0 of ``X`` zero, so a
ReLU after a first Dense layer with zero bias sees inputs that are exactly 0, its kink.
"""
from __future__ import annotations

from types import MethodType

import numpy as np

from nnkit import activations as _act
from nnkit import layers as _layers
from nnkit import losses as _losses

__all__ = [
    "BUG_KINDS", "BUGS", "THRESHOLD", "function", "build_layer", "build_network", "layer_inputs",
    "planted_answer", "describe", "drive_numerical_gradient", "drive_relative_error",
    "drive_check_layer", "drive_find_bug",
]

#: The labels a student's ``find_bug`` answers with: the four bugs the notebook teaches, and
#: "other" for a broken gradient that matches none of their signatures.
BUG_KINDS = ("missing_activation_derivative", "transposed_weight_gradient", "bias_not_summed",
             "missing_1_over_n", "other")

#: A tensor whose gradient's relative error is above this disagrees (nnkit's default threshold).
THRESHOLD = 1e-6

#: Every planted bug: (layer type, broken tensor, kind).
BUGS = {
    "transposed_weight_gradient": ("dense", "W", "transposed_weight_gradient"),
    "bias_not_summed": ("dense", "b", "bias_not_summed"),
    "weight_gradient_sign": ("dense", "W", "other"),
    "missing_activation_derivative": ("activation", "x", "missing_activation_derivative"),
    "tanh_without_square": ("activation", "x", "other"),
    "sigmoid_derivative_as_sigmoid": ("activation", "x", "other"),
    "softmax_returns_zeros": ("activation", "x", "other"),
    "missing_1_over_n": ("loss", "x", "missing_1_over_n"),
    "loss_gradient_sign": ("loss", "x", "other"),
}


# --------------------------------------------------------------------------------------------
# smooth functions of one array, for numerical_gradient
# --------------------------------------------------------------------------------------------
def function(recipe: dict):
    """``f(x) -> float`` described by ``recipe`` (its coefficient arrays have the shape of x):

    - ``{"kind": "quadratic", "c": .., "d": ..}``: ``sum(c x^2 + d x)``;
    - ``{"kind": "tanh_layer", "W": (m, k), "V": (n, k)}``: ``sum(tanh(x @ W) * V)``, x (n, m);
    - ``{"kind": "logsumexp", "s": ..}``: ``log(sum(exp(s x)))``;
    - ``{"kind": "sines", "a": .., "b": ..}``: ``sum(sin(a x)) * (1 + sum(b x)^2 / 10)``.
    """
    kind = recipe["kind"]
    if kind == "quadratic":
        c, d = recipe["c"], recipe["d"]
        return lambda x: float(np.sum(c * x * x + d * x))
    if kind == "tanh_layer":
        W, V = recipe["W"], recipe["V"]
        return lambda x: float(np.sum(np.tanh(x @ W) * V))
    if kind == "logsumexp":
        s = recipe["s"]

        def lse(x):
            z = s * x
            m = np.max(z)
            return float(m + np.log(np.sum(np.exp(z - m))))
        return lse
    if kind == "sines":
        a, b = recipe["a"], recipe["b"]
        return lambda x: float(np.sum(np.sin(a * x)) * (1.0 + np.sum(b * x) ** 2 / 10.0))
    raise ValueError(f"unknown function kind {kind!r}")


# --------------------------------------------------------------------------------------------
# layers (nnkit's, with a backward pass that may be replaced by a planted one)
# --------------------------------------------------------------------------------------------
class Dense(_layers.Dense):
    """nnkit's Dense layer with given weights: ``out = x @ W + b``."""

    def __init__(self, W: np.ndarray, b: np.ndarray):  # noqa: D107 - no initializer: the weights are given
        self.n_in, self.n_out = W.shape
        self.init = "given"
        self.params = {"W": W, "b": b}


class Activation(_layers.Activation):
    """nnkit's Activation layer (``name`` is a key of ``nnkit.activations.ACTIVATIONS`` or "softmax")."""


class _Loss(_layers.Layer):
    """A loss as the last layer: ``forward(x) -> (loss, cache)`` with the targets held by the layer."""

    name = ""

    def __init__(self, y):
        self.y = y
        self.params = {}
        self.n_in = self.n_out = None

    def __repr__(self):
        return f"{type(self).__name__}()"


class MSELoss(_Loss):
    """nnkit's mean squared error, ``mean((x - y)^2)`` over all N*K entries; gradient ``2 (x - y) / (N K)``."""

    name = "mse"

    def forward(self, x, training=True):
        return _losses.mse(x, self.y), x

    def backward(self, dout, cache, need_dx=True):
        return dout * _losses.mse_grad(cache, self.y), {}


class SoftmaxCrossEntropyLoss(_Loss):
    """nnkit's softmax cross-entropy of logits x (N, K) and integer labels y (N,), averaged over
    the N samples; gradient ``(softmax(x) - Y) / N``."""

    name = "softmax_cross_entropy"

    def forward(self, x, training=True):
        return _losses.softmax_cross_entropy(x, self.y), x

    def backward(self, dout, cache, need_dx=True):
        return dout * _losses.softmax_cross_entropy_grad(cache, self.y), {}


# The planted backward passes. Each is bound to one layer object as its ``backward``; they all
# carry the name of the method they replace, so that a layer looks the same whether it has one.
def _transposed_weight_gradient(self, dout, cache, need_dx=True):
    dx, dW, db = _layers.dense_backward(dout, cache)
    return dx, {"W": dW.T, "b": db}           # dout.T @ x


def _bias_not_summed(self, dout, cache, need_dx=True):
    dx, dW, _ = _layers.dense_backward(dout, cache)
    return dx, {"W": dW, "b": dout.copy()}    # one row per sample: (N, D_out)


def _weight_gradient_sign(self, dout, cache, need_dx=True):
    dx, dW, db = _layers.dense_backward(dout, cache)
    return dx, {"W": -dW, "b": db}


def _missing_activation_derivative(self, dout, cache, need_dx=True):
    return dout.copy(), {}                    # the upstream gradient passed through unchanged


def _tanh_without_square(self, dout, cache, need_dx=True):
    x = cache[0]
    return dout * (1.0 - np.tanh(x)), {}


def _sigmoid_derivative_as_sigmoid(self, dout, cache, need_dx=True):
    x = cache[0]
    return dout * _act.sigmoid(x), {}


def _softmax_returns_zeros(self, dout, cache, need_dx=True):
    return np.zeros_like(dout), {}


def _missing_1_over_n(self, dout, cache, need_dx=True):
    dx, _ = type(self).backward(self, dout, cache)
    return dx * cache.shape[0], {}


def _loss_gradient_sign(self, dout, cache, need_dx=True):
    dx, _ = type(self).backward(self, dout, cache)
    return -dx, {}


_PLANTED = {
    "transposed_weight_gradient": _transposed_weight_gradient,
    "bias_not_summed": _bias_not_summed,
    "weight_gradient_sign": _weight_gradient_sign,
    "missing_activation_derivative": _missing_activation_derivative,
    "tanh_without_square": _tanh_without_square,
    "sigmoid_derivative_as_sigmoid": _sigmoid_derivative_as_sigmoid,
    "softmax_returns_zeros": _softmax_returns_zeros,
    "missing_1_over_n": _missing_1_over_n,
    "loss_gradient_sign": _loss_gradient_sign,
}


def _dtype(dtype) -> np.dtype:
    dtype = np.dtype(dtype)
    if dtype not in (np.float32, np.float64):
        raise ValueError(f"dtype must be float32 or float64; got {dtype}")
    return dtype


def build_layer(recipe: dict, dtype="float64"):
    """The layer ``recipe`` describes (see the module docstring), its arrays in ``dtype``."""
    dtype = _dtype(dtype)
    kind, bug = recipe["type"], recipe.get("bug", "")
    if bug and (bug not in BUGS or BUGS[bug][0] != kind):
        raise ValueError(f"bug {bug!r} cannot be planted in a {kind} layer")
    if kind == "dense":
        n_in, n_out = int(recipe["n_in"]), int(recipe["n_out"])
        rng = np.random.default_rng(int(recipe["seed"]))
        W = rng.normal(0.0, 1.0 / np.sqrt(n_in), size=(n_in, n_out))
        b = rng.normal(0.0, 0.5, size=n_out)
        if recipe.get("bias") == "zero":
            b = np.zeros(n_out)
        layer = Dense(W.astype(dtype), b.astype(dtype))
    elif kind == "activation":
        layer = Activation(recipe["name"])
    elif kind == "loss":
        n, k = int(recipe["n"]), int(recipe["k"])
        rng = np.random.default_rng(int(recipe["seed"]))
        if recipe["name"] == "mse":
            layer = MSELoss(rng.normal(size=(n, k)).astype(dtype))
        elif recipe["name"] == "softmax_cross_entropy":
            layer = SoftmaxCrossEntropyLoss(rng.integers(0, k, size=n))
        else:
            raise ValueError(f"unknown loss {recipe['name']!r}")
    else:
        raise ValueError(f"unknown layer type {kind!r}")
    if bug:
        layer.backward = MethodType(_PLANTED[bug], layer)
    return layer


def build_network(recipe: dict, dtype=None) -> tuple[list, np.ndarray]:
    """``(layers, X)`` for a network recipe; ``dtype`` overrides the recipe's (the grader's
    float64 reference of a float32 network)."""
    dtype = _dtype(dtype or recipe.get("dtype", "float64"))
    rng = np.random.default_rng(int(recipe["seed"]))
    X = rng.normal(size=(int(recipe["n"]), int(recipe["d_in"])))
    if recipe.get("zero_row"):
        X[0] = 0.0
    return [build_layer(r, dtype) for r in recipe["layers"]], X.astype(dtype)


def layer_inputs(network: list, X: np.ndarray) -> list:
    """The input of every layer of ``network`` on the batch ``X`` (forward pass, training mode)."""
    inputs, a = [], X
    for layer in network:
        inputs.append(a)
        a, _ = layer.forward(a, True)
    return inputs


def planted_answer(recipe: dict):
    """What a correct ``find_bug`` returns for a network recipe: ``(layer index, tensor, kind)``,
    or None when no layer has a bug. The grader's; never called while student code runs."""
    for i, r in enumerate(recipe["layers"]):
        if r.get("bug"):
            _, tensor, kind = BUGS[r["bug"]]
            return i, tensor, kind
    return None


def describe(recipe: dict) -> str:
    """``Dense(3, 4)``, ``relu``, ``MSE loss``: a layer recipe in a label or a message."""
    if recipe["type"] == "dense":
        return f"Dense({recipe['n_in']}, {recipe['n_out']})"
    if recipe["type"] == "activation":
        return recipe["name"]
    return {"mse": "MSE loss", "softmax_cross_entropy": "softmax cross-entropy loss"}[recipe["name"]]


# --------------------------------------------------------------------------------------------
# the drivers: the notebook's locked cell calls these with the student's functions
# --------------------------------------------------------------------------------------------
def _same_bits(a: np.ndarray, b: np.ndarray) -> bool:
    """Equal bit for bit (so -0.0 differs from 0.0 and a NaN equals itself)."""
    if a.shape != b.shape or a.dtype != b.dtype:
        return False
    return bool(np.array_equal(a.view(f"u{a.itemsize}"), b.view(f"u{b.itemsize}")))


def _raised(e: BaseException) -> str:
    from .watcher import describe_exception

    return describe_exception(e)


class _ProbeLog:
    """What ``f`` saw at each call: how far the array it read was from the original x."""

    def __init__(self, original: np.ndarray):
        self.original = original
        self.calls = 0
        self.most_changed = 0      # the most entries that differed from x at one call
        self.leftover = 0.0        # the largest difference of an entry that was not the one probed
        self.untouched_calls = 0   # calls that saw x exactly as it was

    def record(self, seen) -> None:
        self.calls += 1
        seen = np.asarray(seen)
        if seen.shape != self.original.shape:
            self.most_changed = max(self.most_changed, self.original.size)
            return
        diff = np.abs(seen.astype(np.float64) - self.original)
        changed = int(np.count_nonzero(diff))
        self.most_changed = max(self.most_changed, changed)
        if changed == 0:
            self.untouched_calls += 1
        elif changed > 1:
            self.leftover = max(self.leftover, float(np.sort(diff.ravel())[-2]))

    def summary(self) -> dict:
        return {"calls": self.calls, "most_changed": self.most_changed, "leftover": self.leftover,
                "untouched_calls": self.untouched_calls}


def drive_numerical_gradient(numerical_gradient, recipe: dict, x: np.ndarray, h: float) -> dict:
    """Call the student's ``numerical_gradient(f, x, h)`` on :func:`function` ``(recipe)``.

    ``recipe`` may also say how f reads x and where x lives:

    - ``"reads": "own"``: f ignores its argument and reads x through its own reference to it,
      as a layer reads its weights (perturbing a copy of x is then invisible to f);
    - ``"layout": "transposed"``: x is a transposed view, not contiguous in memory;
    - ``"raise_at": k``: the k-th call of f raises ValueError (x must still come back intact).

    Returns ``{"grad": ..., "error": "", "x_after": array, "x_same": bool, "probes": {...}}``;
    ``error`` is what the student's function raised ("" if nothing).
    """
    fn = function(recipe)
    x = np.array(x)  # the driver's own copy: the argument it was given stays as it was
    if recipe.get("layout") == "transposed":
        x = np.array(x.T, order="C").T  # same values, now a non-contiguous view
    original = x.copy()
    log = _ProbeLog(original.astype(np.float64))
    reads_own = recipe.get("reads") == "own"
    raise_at = int(recipe.get("raise_at", 0))

    def f(arg):
        seen = x if reads_own else arg
        log.record(seen)
        if raise_at and log.calls == raise_at:
            raise ValueError(f"f failed at call {raise_at} (on purpose: the check must leave x as it was)")
        return fn(seen)

    grad, error = None, ""
    try:
        grad = numerical_gradient(f, x, h)
    except Exception as e:  # noqa: BLE001 - reported to the grader as data
        error = _raised(e)
    return {"grad": grad, "error": error, "x_after": np.array(x), "x_same": _same_bits(x, original),
            "probes": log.summary()}


def drive_relative_error(relative_error, a, b) -> dict:
    """``{"value": relative_error(a, b), "error": ""}``, or the exception it raised as ``error``."""
    try:
        return {"value": relative_error(np.array(a), np.array(b)), "error": ""}
    except Exception as e:  # noqa: BLE001 - reported to the grader as data
        return {"value": None, "error": _raised(e)}


def _snapshot(layer) -> dict:
    return {k: (v, np.array(v)) for k, v in layer.params.items()}


def _params_after(layer, snapshot: dict) -> dict:
    """``{name: "replaced" | "changed" | "missing"}`` for the parameters the check did not leave as they were."""
    out = {}
    for k, (arr, copy) in snapshot.items():
        now = layer.params.get(k)
        if now is None:
            out[k] = "missing"
        elif now is not arr:
            out[k] = "replaced"
        elif not _same_bits(arr, copy):
            out[k] = "changed"
    return out


def drive_check_layer(check_layer, layer: dict, x: np.ndarray, seed: int, kinks=(), twin: dict | None = None) -> dict:
    """Call the student's ``check_layer(layer, x, rng, kinks=kinks)`` on a layer the grader keeps.

    ``layer`` and ``twin`` are public descriptions of layers (:mod:`nngrader.remote_layers`: no bug
    in them; the check gets proxies whose backward pass runs in the grader), ``x`` has the layer's
    dtype. The same check also runs on ``twin``, the same layer with a bug planted (for a clean
    layer) or without its bug (for a broken one), on the same x with the same seed: a check that
    passes a clean layer is worth something only if it fails the broken one, and the other way
    round. Returns ``{"errors": ..., "error": "", "twin_errors": ..., "twin_error": "", "params":
    {name: how it was left}, "x_same": bool}`` (``error``: what check_layer raised).
    """
    from .remote_layers import proxy_layer

    report = {"params": {}, "x_same": True}
    for key, public in (("", layer), ("twin_", twin)):
        if public is None:
            report.update({"twin_errors": None, "twin_error": ""})
            continue
        proxy = proxy_layer(public)
        xi = np.array(x)
        original = xi.copy()
        snapshot = _snapshot(proxy)
        errors, error = None, ""
        try:
            errors = check_layer(proxy, xi, np.random.default_rng(int(seed)), kinks=tuple(float(k) for k in kinks))
        except Exception as e:  # noqa: BLE001 - reported to the grader as data
            error = _raised(e)
        report.update({key + "errors": errors, key + "error": error})
        report["params"].update(_params_after(proxy, snapshot))
        report["x_same"] = report["x_same"] and _same_bits(xi, original)
    return report


def drive_find_bug(find_bug, network: dict, seed: int, twin: dict | None = None) -> dict:
    """Call the student's ``find_bug(network, X, rng)`` on a network the grader keeps.

    ``network`` and ``twin`` are public descriptions of networks (:mod:`nngrader.remote_layers`:
    proxies, and the batch X). ``twin``, given with a clean network, is the same network with a bug
    planted in one layer (a search that calls a clean network clean is worth something only if it
    finds a bug when there is one). Returns ``{"answer": ..., "error": "", "twin_answer": ...,
    "twin_error": "", "untouched": bool}``: ``untouched`` is False when a call left a layer's
    parameters or X changed. Which layers' backward passes ran, the grader counts itself.
    """
    from .remote_layers import proxy_network

    report = {"untouched": True, "twin_answer": None, "twin_error": ""}
    for key, public in (("", network), ("twin_", twin)):
        if public is None:
            continue
        layers, X = proxy_network(public)
        original = X.copy()
        snapshots = [_snapshot(layer) for layer in layers]
        answer, error = None, ""
        try:
            answer = find_bug(layers, X, np.random.default_rng(int(seed)))
        except Exception as e:  # noqa: BLE001 - reported to the grader as data
            error = _raised(e)
        report.update({key + "answer": answer, key + "error": error})
        report["untouched"] = report["untouched"] and _same_bits(X, original) and not any(
            _params_after(layer, snap) for layer, snap in zip(layers, snapshots))
    return report
