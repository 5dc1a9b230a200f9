"""Models: a Sequential stack of layers, the MLP builder, and loss-plus-gradients in one call.

Parameter names
---------------
A model exposes its parameters and gradients as flat dicts with names like the slides'
``W^[1], b^[1], W^[2], ...``: the layer's own key (``"W"``, ``"b"``, ``"gamma"``, ``"beta"``)
followed by the 1-based position of the layer among the layers **that have parameters**.
Activation and Dropout layers have none and take no number. So

    Dense -> ReLU -> Dense -> ReLU -> Dense               W1 b1 W2 b2 W3 b3
    Dense -> BatchNorm -> ReLU -> Dense                   W1 b1 gamma2 beta2 W3 b3

The arrays in ``model.params`` *are* the layers' arrays (not copies): an optimizer that
updates them in place (``p -= lr * g``) changes the model. ``grads`` from
:meth:`Sequential.backward` use the same names, so ``for k in params: params[k] -= lr *
grads[k]`` is a complete gradient-descent step. :meth:`Sequential.layer_of` finds the layer that
owns a name (``fit`` names it when a gradient blows up).

Shapes: rows are samples. ``x`` is ``(N, D_in)``; Dense weights are ``(D_in, D_out)``, the
transpose of the slides' ``W^[l]`` of shape ``(n_l, n_{l-1})``.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from ._validate import ShapeError, as_array, check_rng, shape_str
from .layers import Activation, Dense, Dropout, Layer
from .losses import get_loss
from .normalization import BatchNorm, LayerNorm

__all__ = ["Sequential", "MLP", "loss_and_grads"]


class _Cache(list):
    """Per-layer caches of one forward pass (a list), plus the output shape for checking dout."""

    __slots__ = ("out_shape",)


class Sequential:
    """Layers applied one after another: ``out = layers[-1](... layers[1](layers[0](x)))``.

    ``forward`` calls each layer's ``forward`` in turn and ``backward`` each layer's
    ``backward`` in reverse: the model adds no arithmetic of its own, only the input check, the
    parameter names and the bookkeeping of the caches.

    Parameters
    ----------
    layers : sequence of Layer
        Objects with ``params``, ``forward(x, training)`` and ``backward(dout, cache, need_dx)``
        (see :mod:`nnkit.layers`). Consecutive widths are checked here, once.

    Attributes
    ----------
    layers : list of Layer
    n_in : int or None
        Input width the first sized layer expects.
    dtype : numpy dtype or None
        dtype of the parameters (None if there are none). Inputs are converted to it, so a
        float32 model computes in float32 even when given float64 data.
    """

    def __init__(self, layers: Sequence[Layer]):
        layers = list(layers)
        if not layers:
            raise ValueError("Sequential needs at least one layer; got none")
        for i, layer in enumerate(layers, 1):
            for attr in ("params", "forward", "backward"):
                if not hasattr(layer, attr):
                    raise TypeError(f"layer {i} ({layer!r}) is not a Layer: it has no {attr!r}")
        self.layers = layers
        self._index_parameters()

    # ------------------------------------------------------------------ bookkeeping (once)
    def _index_parameters(self):
        """Check consecutive widths and name every parameter (the naming rule of the module docstring)."""
        names, dtypes = [], set()
        k = 0
        width, width_from = None, None
        self.n_in = None
        for i, layer in enumerate(self.layers, 1):
            n_in = getattr(layer, "n_in", None)
            if n_in is not None:
                if width is None and self.n_in is None:
                    self.n_in = n_in
                elif width is not None and n_in != width:
                    raise ShapeError(
                        f"layer {i} {layer!r} expects inputs of width {n_in}, but layer {width_from} "
                        f"{self.layers[width_from - 1]!r} outputs width {width}"
                    )
            n_out = getattr(layer, "n_out", None)
            if n_out is not None:
                width, width_from = n_out, i
            if layer.params:
                k += 1
                dtypes.update(p.dtype for p in layer.params.values())
            names.append(tuple((key, f"{key}{k}") for key in layer.params))
        if len(dtypes) > 1:
            raise TypeError(f"all parameters must share one dtype; got {sorted(map(str, dtypes))}")
        self._names = names  # per layer: ((the layer's key, the public name), ...)
        self._order = tuple(pub for pairs in names for _, pub in pairs)
        self.dtype = dtypes.pop() if dtypes else None
        self.n_out = width
        # With input_grad=False, layers before the first parameterised one need no backward.
        self._first_param_layer = next((i for i, p in enumerate(names) if p), len(names))

    @property
    def params(self) -> dict[str, np.ndarray]:
        """``{"W1": ..., "b1": ..., ...}``: the layers' own arrays (in-place updates change the model)."""
        return {pub: layer.params[key] for layer, pairs in zip(self.layers, self._names) for key, pub in pairs}

    @property
    def param_names(self) -> tuple[str, ...]:
        """Parameter names in layer order."""
        return self._order

    def layer_of(self, name: str) -> tuple[int, Layer]:
        """``(i, layer)``: the 1-based position and the layer that owns parameter ``name`` (``"W3"``)."""
        for i, (layer, pairs) in enumerate(zip(self.layers, self._names), 1):
            if any(pub == name for _, pub in pairs):
                return i, layer
        raise KeyError(f"no parameter named {name!r}; the parameters are {list(self._order)}")

    @property
    def n_params(self) -> int:
        """Total number of trainable scalars (4-5-5-2 MLP: 4*5 + 5*5 + 5*2 weights + 12 biases = 67)."""
        return sum(int(p.size) for p in self.params.values())

    def set_params(self, values: dict) -> None:
        """Copy ``values[name]`` into the model's own arrays, in place (names and shapes must match)."""
        own = self.params
        missing = [k for k in own if k not in values]
        extra = [k for k in values if k not in own]
        if missing or extra:
            raise KeyError(f"set_params: missing {missing}, unexpected {extra}; expected names {list(own)}")
        for k, p in own.items():
            v = np.asarray(values[k])
            if v.shape != p.shape:
                raise ShapeError(f"set_params: {k} must have shape {shape_str(p.shape)}; got {shape_str(v.shape)}")
            p[...] = v

    # ------------------------------------------------------------------ forward and backward
    def _check_input(self, x):
        x = as_array(x, "x", ndim=2, dtype=self.dtype)  # converted; 2-D, non-empty and finite
        if self.n_in is not None and x.shape[1] != self.n_in:
            first = next(i for i, layer in enumerate(self.layers) if getattr(layer, "n_in", None) is not None)
            raise ShapeError(
                f"x must have shape (N, {self.n_in}) for layer {first + 1} {self.layers[first]!r}; "
                f"got {shape_str(x.shape)}"
            )
        return x

    def forward(self, x, training: bool = True):
        """Run every layer.

        Parameters
        ----------
        x : array_like (N, D_in)
            Checked once here (2-D, width, non-empty, finite) and converted to the model's dtype.
        training : bool
            True: batch statistics in BatchNorm, random masks in Dropout. False: inference.

        Returns
        -------
        out : ndarray (N, D_out)
        cache : list of the layers' caches, for :meth:`backward`.
        """
        x = self._check_input(x)
        cache = _Cache()
        for layer in self.layers:
            x, layer_cache = layer.forward(x, training)
            cache.append(layer_cache)
        cache.out_shape = x.shape
        return x, cache

    def backward(self, dout, cache, input_grad: bool = True):
        """Backpropagate ``dout = dL/dout`` through the layers in reverse order.

        Parameters
        ----------
        dout : ndarray (N, D_out), the shape of the forward output.
        cache : from :meth:`forward`, or any sequence holding each layer's own cache in order
            (``layer.forward(x, ...)[1]`` for every layer), for code that runs the layers one
            by one to keep the hidden activations (the vanishing-gradient demo does).
        input_grad : bool
            False skips ``dL/dx`` for the model input (saves the first layer's ``dout @ W.T``
            product, which training never uses) and returns None for it.
            :func:`loss_and_grads` passes False.

        Returns
        -------
        dx : ndarray (N, D_in) or None
        grads : dict name -> ndarray, keyed and shaped like :attr:`params`.
        """
        if type(dout) is not np.ndarray:
            dout = as_array(dout, "dout", ndim=2, allow_empty=True, finite=False)
        out_shape = getattr(cache, "out_shape", None)
        if out_shape is not None and dout.shape != out_shape:
            raise ShapeError(f"dout must have the shape of the model output {shape_str(out_shape)}; got {shape_str(dout.shape)}")
        grads = dict.fromkeys(self._order)
        stop = 0 if input_grad else self._first_param_layer
        for i in range(len(self.layers) - 1, stop - 1, -1):
            dout, layer_grads = self.layers[i].backward(dout, cache[i], input_grad or i > stop)
            for key, pub in self._names[i]:
                grads[pub] = layer_grads[key]
        return (dout if input_grad else None), grads

    def predict(self, x):
        """Output in inference mode (running BatchNorm statistics, no dropout)."""
        return self.forward(x, training=False)[0]

    __call__ = predict

    # ------------------------------------------------------------------ display
    def summary_rows(self):
        """One tuple ``(index, layer repr, output shape, n_params, param names with shapes)`` per layer."""
        rows = []
        width = self.n_in
        for i, (layer, pairs) in enumerate(zip(self.layers, self._names), 1):
            if getattr(layer, "n_out", None) is not None:
                width = layer.n_out
            out = f"(N, {width if width is not None else '?'})"
            names = ", ".join(f"{pub} {shape_str(layer.params[key].shape)}" for key, pub in pairs)
            rows.append((i, repr(layer), out, sum(int(p.size) for p in layer.params.values()), names))
        return rows

    def __repr__(self):
        rows = self.summary_rows()
        head = ("#", "layer", "output", "params", "names")
        cells = [head] + [(str(i), lay, out, str(n), names) for i, lay, out, n, names in rows]
        w = [max(len(r[c]) for r in cells) for c in range(4)]
        dtype = self.dtype if self.dtype is not None else "no parameters"
        lines = [f"Sequential: {len(self.layers)} layers, {self.n_params} parameters, {dtype}"]
        for r in cells:
            lines.append(f"  {r[0]:>{w[0]}}  {r[1]:<{w[1]}}  {r[2]:<{w[2]}}  {r[3]:>{w[3]}}  {r[4]}".rstrip())
        lines.append(f"  {'':>{w[0]}}  {'total':<{w[1]}}  {'':<{w[2]}}  {self.n_params:>{w[3]}}")
        return "\n".join(lines)


def MLP(
    sizes: Sequence[int],
    activation: str = "relu",
    rng: np.random.Generator | None = None,
    init="he_normal",
    output_activation: str | None = None,
    dtype=np.float64,
    batchnorm: bool = False,
    p_drop: float = 0.0,
    layernorm: bool = False,
) -> Sequential:
    """Build a multilayer perceptron as a :class:`Sequential`.

    Each hidden layer is ``Dense -> [BatchNorm | LayerNorm] -> Activation -> [Dropout]``
    (normalization before the nonlinearity, as in the batch-norm paper); the output layer is
    ``Dense -> [output_activation]``.

    Parameters
    ----------
    sizes : sequence of int, length >= 2
        ``(D_in, hidden_1, ..., D_out)``; e.g. ``(4, 5, 5, 2)`` has 67 parameters.
    activation : str
        Hidden activation, a key of :data:`nnkit.activations.ACTIVATIONS`.
    rng : numpy.random.Generator
        Required: draws the initial weights (and the dropout masks).
    init : str or callable
        Weight initializer (see :mod:`nnkit.initializers`); biases start at zero.
    output_activation : str or None
        None (default) leaves the output as raw scores (logits), which is what
        ``softmax_cross_entropy`` and ``binary_cross_entropy_with_logits`` expect. ``"softmax"``
        or ``"sigmoid"`` give probabilities (use with a loss on probabilities).
    dtype : float64 (default) or float32
    batchnorm, layernorm : bool
        Insert a BatchNorm or LayerNorm after each hidden Dense (not both). With BatchNorm the
        hidden Dense biases are redundant (BatchNorm subtracts the mean); they are kept, and
        their gradient is zero in training mode.
    p_drop : float in [0, 1)
        Dropout **drop** probability after each hidden activation (0: no Dropout layers).
    """
    rng = check_rng(rng)
    try:
        ok = all(not isinstance(s, bool) and int(s) == s for s in sizes)
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise TypeError(f"sizes must be a sequence of positive integers; got {sizes!r}")
    sizes = [int(s) for s in sizes]
    if len(sizes) < 2 or min(sizes) < 1:
        raise ValueError(f"sizes must list at least an input and an output width, all >= 1; got {sizes}")
    if batchnorm and layernorm:
        raise ValueError("choose batchnorm or layernorm, not both")
    if not 0.0 <= float(p_drop) < 1.0:
        raise ValueError(f"p_drop (drop probability) must be in [0, 1) for an MLP; got {p_drop}")
    layers: list[Layer] = []
    n_layers = len(sizes) - 1
    for i in range(n_layers):
        layers.append(Dense(sizes[i], sizes[i + 1], rng, init=init, dtype=dtype))
        if i < n_layers - 1:
            if batchnorm:
                layers.append(BatchNorm(sizes[i + 1], dtype=dtype))
            if layernorm:
                layers.append(LayerNorm(sizes[i + 1], dtype=dtype))
            layers.append(Activation(activation))
            if p_drop > 0:
                layers.append(Dropout(p_drop, rng))
        elif output_activation is not None:
            layers.append(Activation(output_activation))
    return Sequential(layers)


def loss_and_grads(model: Sequential, x, y, loss_name, training: bool = True):
    """Forward, loss and backward in one call.

    Parameters
    ----------
    model : Sequential
    x : array_like (N, D_in)
    y : targets as the loss expects them (e.g. integer labels (N,) for softmax cross-entropy)
    loss_name : str or nnkit.losses.Loss
        A key of :data:`nnkit.losses.LOSSES`; it is applied to the model output, so pair it
        with the right output (logits for ``softmax_cross_entropy``).
    training : bool
        Mode of the forward pass (True: BatchNorm batch statistics, Dropout active).

    Returns
    -------
    loss : float
    grads : dict name -> ndarray, like ``model.params`` (no gradient for ``x`` is computed).
    """
    loss = get_loss(loss_name)
    out, cache = model.forward(x, training)
    value, dout = loss.value_and_grad(out, y)
    _, grads = model.backward(dout, cache, input_grad=False)
    return value, grads
