"""Layers that stay in the grader: student code gets proxies whose backward pass is a callback (assignment 07).

A layer with a planted backward bug (:mod:`nngrader.planted`) must never be in the process that
runs student code: there the bug is one attribute away (the recipe's ``"bug"`` field, the bound
``backward`` function's name, its closure, its source). So the grader keeps the real layers and
student code gets :class:`RemoteLayer` proxies with the layer contract (``params``,
``forward(x, training) -> (out, cache)``, ``backward(dout, cache, need_dx) -> (dx, grads)``, and
the layer's ``name``, ``n_in``, ``n_out``, ``repr``).

The split: a proxy computes its **forward** pass itself, with nnkit's clean layer built from the
public description (a planted bug is always in a backward pass, never in a forward one, and a
gradient check calls forward twice per entry it probes: thousands of round trips otherwise). Its
**backward** pass is one callback: ``dout``, and the ``x`` and parameters of the forward pass the
cache belongs to, go to the grader, which runs the real layer's forward and backward on them and
sends back plain arrays. The cache a proxy hands out is plain data (that ``x`` and a snapshot of
the parameters), never the bug.

The pieces, in the order a case meets them:

- :class:`Served`: a case argument that stays in the grader, a layer or network recipe of
  :mod:`nngrader.planted`, bug included. The judge reads its ``recipe``, and after the call which
  layers' backward passes the grader ran (:meth:`Served.unchecked`): counted here, from the
  requests served, not reported by student code.
- :func:`hide`: the runner's first step (:meth:`nngrader.sandbox.Session.call`,
  :class:`nngrader.check._KernelRunner`): builds the real layers of every :class:`Served`
  argument in a :class:`LayerServer` and replaces the argument by its public description, plain
  data::

      layer:   {"handle": 3, "type": "dense" | "activation" | "loss", "name": "relu" | "mse" | "",
                "params": {"W": ..., "b": ...}, "y": a loss layer's targets, else None}
      network: {"X": the input batch, "layers": [layer descriptions]}

- :meth:`LayerServer.answer`: one backward pass, for a request
  ``{"handle", "dout", "x", "params", "training", "need_dx"}``; the reply is
  ``{"dx": ..., "grads": {...}}`` or ``{"error": exception name, "message": ...}``.
- :func:`proxy_layer` / :func:`proxy_network`: the proxies, built by the notebook's drivers
  (:func:`nngrader.planted.drive_check_layer`, :func:`~nngrader.planted.drive_find_bug`).
- :func:`connect`: how proxies reach the server while a call runs. In the sandbox's child
  (:func:`nngrader.child.serve`) a request is a ``callback`` message of :mod:`nngrader.wire`,
  answered by the grader's receive loop within the call's deadline; in the student's own kernel
  (``nbgrader validate``, advice only) the server is in the same process and is called directly,
  through the same packing, so a proxy behaves the same in both.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass, field

import numpy as np

from .wire import pack, unpack

__all__ = ["Served", "LayerServer", "RemoteLayer", "hide", "proxy_layer", "proxy_network", "connect",
           "MAX_ENTRIES"]

#: The most array entries one backward request may carry (the cases' layers have a few dozen):
#: student code chooses the arrays the grader computes with, so their size is bounded.
MAX_ENTRIES = 100_000

# what a server's error comes back as in student code (the first that fits; else a RuntimeError)
_ERRORS = {e.__name__: e for e in (KeyError, IndexError, ZeroDivisionError, FloatingPointError, ArithmeticError,
                                   ValueError, TypeError)}


# --------------------------------------------------------------------------------------------
# the grader's side
# --------------------------------------------------------------------------------------------
@dataclass
class Served:
    """A case argument that stays in the grader: a layer recipe (with its ``"dtype"``) or a
    network recipe (``"layers"``) of :mod:`nngrader.planted`, bug included.

    ``backward_calls[i]``: the backward passes the grader ran for layer ``i`` (0 for a single
    layer) during the last call that received this argument.
    """

    recipe: dict
    backward_calls: list = field(default_factory=list)

    @property
    def is_network(self) -> bool:
        return "layers" in self.recipe

    def unchecked(self) -> list[int]:
        """The layers whose backward pass the last call never ran (all of them, before a call)."""
        n = len(self.recipe["layers"]) if self.is_network else 1
        return [i for i, calls in enumerate(self.backward_calls or [0] * n) if calls == 0]


def _public(layer, recipe: dict, handle: int) -> dict:
    """What student code may know of one real layer: no bug, no function."""
    return {"handle": handle, "type": str(recipe["type"]), "name": str(recipe.get("name", "")),
            "params": {k: np.array(v) for k, v in layer.params.items()},
            "y": np.array(layer.y) if recipe["type"] == "loss" else None}


class LayerServer:
    """The real layers of one call's :class:`Served` arguments, by handle (grader side)."""

    def __init__(self):
        self.layers: list = []  # handle -> real layer
        self._shapes: list = []  # handle -> {parameter name: shape}: a check never reshapes a parameter
        self._served: list = []  # handle -> (Served, index of the layer in it)

    def _add(self, layer, recipe: dict, served: Served, index: int) -> dict:
        handle = len(self.layers)
        self.layers.append(layer)
        self._shapes.append({k: np.shape(v) for k, v in layer.params.items()})
        self._served.append((served, index))
        return _public(layer, recipe, handle)

    def public(self, served: Served):
        """Build ``served``'s real layers here and return its public description."""
        from . import planted  # when used: the sandbox's child imports this module for every assignment

        recipe = served.recipe
        if served.is_network:
            layers, X = planted.build_network(recipe)
            served.backward_calls = [0] * len(layers)
            return {"X": X, "layers": [self._add(layer, r, served, i)
                                       for i, (layer, r) in enumerate(zip(layers, recipe["layers"]))]}
        served.backward_calls = [0]
        return self._add(planted.build_layer(recipe, recipe.get("dtype", "float64")), recipe, served, 0)

    def answer(self, request) -> dict:
        """Run one backward pass of a real layer on the arrays of ``request`` (see the module
        docstring). Whatever student code sent, the answer is a reply: an error says what was wrong."""
        try:
            handle, x, dout, params, training, need_dx = self._read(request)
            layer = self.layers[handle]
            layer.params = params
            _, cache = layer.forward(x, training)
            dx, grads = layer.backward(dout, cache, need_dx)
            served, index = self._served[handle]
            served.backward_calls[index] += 1
            return {"dx": dx, "grads": dict(grads)}
        except Exception as e:  # noqa: BLE001 - the student's arrays broke the layer: tell the student
            name = next((n for n, kind in _ERRORS.items() if isinstance(e, kind)), "RuntimeError")
            return {"error": name, "message": str(e)[:300] or type(e).__name__}

    def _read(self, request):
        """The request's handle and arrays, checked: numeric, parameters of their own shapes, small."""
        if not isinstance(request, dict):
            raise TypeError("a backward request is a dict")
        handle = request.get("handle")
        if not isinstance(handle, int) or isinstance(handle, bool) or not 0 <= handle < len(self.layers):
            raise ValueError("this layer is not served in this call")
        sent = request.get("params")
        if not isinstance(sent, dict):
            raise TypeError("layer.params must be a dict of arrays")
        params = {}
        for k, shape in self._shapes[handle].items():
            if k not in sent:
                raise KeyError(f"layer.params has no {k!r}")
            params[k] = np.asarray(sent[k])
            if params[k].shape != shape:
                raise ValueError(f"layer.params[{k!r}] has shape {params[k].shape}; the layer's {k} has shape {shape}")
        x, dout = np.asarray(request.get("x")), np.asarray(request.get("dout"))
        arrays = [x, dout, *params.values()]
        if any(a.dtype.kind not in "biuf" for a in arrays):
            raise TypeError("x, dout and the parameters must be numeric arrays")
        if sum(a.size for a in arrays) > MAX_ENTRIES:
            raise ValueError(f"the arrays of one backward pass may hold at most {MAX_ENTRIES} entries")
        return handle, x, dout, params, bool(request.get("training", True)), bool(request.get("need_dx", True))


def hide(args, kwargs):
    """``(server, args, kwargs)``: every :class:`Served` argument (top level) replaced by its public
    description, its real layers in ``server``; ``server`` is None when there is none."""
    if not any(isinstance(v, Served) for v in (*args, *kwargs.values())):
        return None, args, kwargs
    server = LayerServer()
    swap = lambda v: server.public(v) if isinstance(v, Served) else v  # noqa: E731
    return server, tuple(swap(v) for v in args), {k: swap(v) for k, v in kwargs.items()}


# --------------------------------------------------------------------------------------------
# the student's side
# --------------------------------------------------------------------------------------------
_ask = [None]  # the channel of the call running now: request -> reply (plain values)


@contextlib.contextmanager
def connect(ask):
    """While the block runs, proxies send their backward requests to ``ask(request) -> reply``."""
    before, _ask[0] = _ask[0], ask
    try:
        yield
    finally:
        _ask[0] = before


def through_wire(value):
    """``value`` packed and unpacked as :mod:`nngrader.wire` sends it (plain data, fresh arrays)."""
    struct_, arrays = pack(value)
    return unpack(struct_, arrays)


def _clean_layer(public: dict):
    """nnkit's layer with the public description's parameters, for the proxy's forward pass."""
    from . import planted  # when used, as above

    kind, name, params = public["type"], public["name"], public["params"]
    if kind == "dense":
        return planted.Dense(np.array(params["W"]), np.array(params["b"]))
    if kind == "activation":
        return planted.Activation(name)
    loss = {"mse": planted.MSELoss, "softmax_cross_entropy": planted.SoftmaxCrossEntropyLoss}[name]
    return loss(np.array(public["y"]))


class RemoteLayer:
    """A layer whose backward pass runs in the grader (see the module docstring).

    ``params`` is the proxy's own dict of arrays, read by its forward pass: perturbing an entry in
    place, or putting other arrays in the dict, changes what forward computes, as with any layer.
    """

    def __init__(self, public: dict):
        self._local = _clean_layer(public)
        self._handle = int(public["handle"])
        self.params = self._local.params

    def __getattr__(self, attr):  # name, n_in, n_out, a loss layer's y: the layer's own
        if attr == "_local":
            raise AttributeError(attr)
        return getattr(self._local, attr)

    def __repr__(self):
        return repr(self._local)

    def forward(self, x, training=True):
        """``(out, cache)``; the cache is ``{"x", "params", "training"}``, copies as they were."""
        out, _ = self._local.forward(x, training)
        cache = {"x": np.array(x), "params": {k: np.array(v) for k, v in self.params.items()},
                 "training": bool(training)}
        return out, cache

    def backward(self, dout, cache, need_dx=True):
        """``(dx, grads)`` of the layer at the forward pass ``cache`` came from, computed by the grader."""
        if _ask[0] is None:
            raise RuntimeError("this layer's backward pass runs in the grader, which is not connected now")
        if not (isinstance(cache, dict) and {"x", "params"} <= set(cache)):
            raise TypeError("backward takes the cache that this layer's forward returned")
        reply = _ask[0]({"handle": self._handle, "dout": np.asarray(dout), "x": cache["x"], "params": cache["params"],
                         "training": bool(cache.get("training", True)), "need_dx": bool(need_dx)})
        if not isinstance(reply, dict) or "error" in reply:
            reply = reply if isinstance(reply, dict) else {}
            raise _ERRORS.get(reply.get("error"), RuntimeError)(reply.get("message", "the grader sent no gradient"))
        return reply["dx"], reply["grads"]


def proxy_layer(public: dict) -> RemoteLayer:
    """The proxy of a layer's public description."""
    return RemoteLayer(public)


def proxy_network(public: dict) -> tuple[list, np.ndarray]:
    """``(layers, X)`` of a network's public description: proxies and a copy of the batch."""
    return [RemoteLayer(p) for p in public["layers"]], np.array(public["X"])
