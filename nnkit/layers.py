"""Layers: pure forward/backward function pairs and the Layer classes that wrap them.

Conventions
-----------
- Rows are samples: ``x`` has shape ``(N, D)``. A Dense layer computes ``out = x @ W + b`` with
  ``W`` of shape ``(D_in, D_out)`` and ``b`` of shape ``(D_out,)``. The slides use column
  vectors, ``z^[l] = W^[l] a^[l-1] + b^[l]`` with ``W^[l]`` of shape ``(n_l, n_{l-1})``: that
  ``W^[l]`` is the transpose of nnkit's ``W`` (PyTorch's ``nn.Linear.weight`` too is
  ``(out, in)``, so ``F.linear(x, W.T, b)`` equals ``dense_forward(x, W, b)``).
- Every ``*_forward`` returns ``(out, cache)``; the cache holds exactly what the matching
  ``*_backward`` needs. Every ``*_backward(dout, cache)`` takes the upstream gradient
  ``dout = dL/dout`` (same shape as ``out``) and returns ``dL/dx`` and the parameter
  gradients. No argument is ever modified.
- Dropout's parameter is the **drop** probability ``p_drop`` (PyTorch's ``p`` and Keras'
  ``rate`` mean the same; some texts use ``p`` for the *keep* probability, see slips.md, 19).
  nnkit uses *inverted* dropout: kept units are scaled by ``1 / (1 - p_drop)`` during
  training, and the layer is the identity at inference.

Layer interface
---------------
``layer.params`` is a dict of the layer's own parameter arrays (``{}`` if none);
``layer.forward(x, training=True) -> (out, cache)``;
``layer.backward(dout, cache, need_dx=True) -> (dx, grads)`` with ``grads`` keyed like
``params``. ``need_dx=False`` lets a model skip ``dL/dx`` for its first layer (``dx`` is then
None). A layer's ``forward``/``backward`` call this module's function pair, so each formula
is written once; a model validates its input once, and the pairs check only what is cheap
(shapes, not finiteness).
"""
from __future__ import annotations

import inspect
from functools import partial

import numpy as np

from . import activations as _act
from . import initializers as _init
from ._validate import ShapeError, check_probability, check_rng, shape_str

__all__ = [
    "dense_forward",
    "dense_backward",
    "activation_forward",
    "activation_backward",
    "dropout_forward",
    "dropout_backward",
    "Layer",
    "Dense",
    "Activation",
    "Dropout",
]


# --------------------------------------------------------------------------- dense
def dense_forward(x, W, b):
    """Fully connected (affine) layer ``out = x @ W + b``.

    Parameters
    ----------
    x : ndarray (N, D_in)
    W : ndarray (D_in, D_out)
        nnkit/PyTorch-functional orientation; the slides' ``W^[l]`` is ``W.T``.
    b : ndarray (D_out,)

    Returns
    -------
    out : ndarray (N, D_out)
    cache : (x, W)
    """
    if W.ndim != 2:
        raise ShapeError(f"dense_forward: W must be 2-D, shape (D_in, D_out); got {shape_str(W.shape)}")
    if x.ndim != 2 or x.shape[1] != W.shape[0]:
        if x.ndim == 2 and x.shape[1] == W.shape[1]:  # W.T was meant: name W, not x
            raise ShapeError(
                f"dense_forward: W must have shape (D_in, D_out) = ({x.shape[1]}, D_out) for x of shape "
                f"{shape_str(x.shape)}; got {shape_str(W.shape)}, which looks transposed (nnkit's W is the "
                "slides' W.T: pass W.T)"
            )
        raise ShapeError(
            f"dense_forward: x must have shape (N, {W.shape[0]}) to match W of shape {shape_str(W.shape)}; "
            f"got {shape_str(x.shape)}"
        )
    if np.shape(b) not in ((W.shape[1],), (1, W.shape[1])):
        raise ShapeError(
            f"dense_forward: b must have shape ({W.shape[1]},), one bias per output of W "
            f"{shape_str(W.shape)}; got {shape_str(np.shape(b))}"
        )
    out = x @ W
    out += b  # in place on the fresh product: no extra temporary
    return out, (x, W)


def dense_backward(dout, cache, need_dx=True):
    """Gradients of :func:`dense_forward`.

    Parameters
    ----------
    dout : ndarray (N, D_out)
    cache : (x, W) from the forward pass.
    need_dx : bool
        False skips the ``dout @ W.T`` product (a model's first layer) and returns None as dx.

    Returns
    -------
    dx : ndarray (N, D_in)    ``dout @ W.T``
    dW : ndarray (D_in, D_out) ``x.T @ dout`` (summed over the batch, not averaged: the loss
         carries the 1/N)
    db : ndarray (D_out,)     ``dout.sum(axis=0)``
    """
    x, W = cache
    dW = x.T @ dout
    db = dout.sum(axis=0)
    dx = dout @ W.T if need_dx else None
    return dx, dW, db


# --------------------------------------------------------------------------- activation
def _resolve_activation(name, kw):
    """(fn, grad, is_softmax) for a registry name, with keyword parameters bound if given."""
    if name == "softmax":
        if kw:
            raise TypeError(f"softmax as a layer takes no parameters; got {sorted(kw)}")
        return _act.softmax, _act.softmax_backward, True
    if isinstance(name, _act.ActivationSpec):
        entry = name
    else:
        entry = _act.get_activation(name)  # ValueError listing the choices
    if not kw:
        return entry.fn, entry.grad, False
    fn, grad = getattr(_act, entry.name), getattr(_act, entry.name + "_grad")
    try:
        inspect.signature(fn).bind(np.zeros(1), **kw)
    except TypeError:
        params = [p for p in inspect.signature(fn).parameters if p != "z"]
        raise TypeError(
            f"activation {entry.name!r} accepts {params or 'no'} keyword parameters; got {sorted(kw)}"
        ) from None
    return partial(fn, **kw), partial(grad, **kw), False


def activation_forward(x, name, **kw):
    """Apply an activation elementwise (or ``"softmax"`` row-wise).

    Parameters
    ----------
    x : ndarray, any shape (N, D) in a model
    name : str
        A key of :data:`nnkit.activations.ACTIVATIONS` (``"relu"``, ``"tanh"``, ...) or
        ``"softmax"`` (over the last axis).
    **kw
        Parameters of parameterised activations, e.g. ``slope=0.2`` for ``"leaky_relu"``,
        ``alpha=0.5`` for ``"elu"``.

    Returns
    -------
    out : ndarray like x
    cache : what :func:`activation_backward` needs (the input, or softmax's output).
    """
    fn, grad, is_softmax = _resolve_activation(name, kw)
    return _activation_forward(x, fn, grad, is_softmax)


def _activation_forward(x, fn, grad, is_softmax):
    """:func:`activation_forward` once the name is resolved (the Activation layer resolves it once)."""
    out = fn(x)
    if is_softmax:
        return out, (out, grad, True)
    return out, (x, grad, False)


def activation_backward(dout, cache):
    """Gradient of an activation: ``dx = dout * f'(x)`` elementwise.

    For softmax the Jacobian is not diagonal; the vector-Jacobian product
    ``s * (dout - sum(dout * s))`` (row-wise) is used instead
    (:func:`nnkit.activations.softmax_backward`).
    """
    a, grad, is_softmax = cache
    if is_softmax:
        return grad(dout, a)
    return dout * grad(a)


# --------------------------------------------------------------------------- dropout
def dropout_forward(x, p_drop, rng=None, training=True, mask=None):
    """Inverted dropout.

    In training, each entry is *kept* with probability ``1 - p_drop`` and kept entries are
    scaled by ``1 / (1 - p_drop)``, so ``E[out] = x`` and nothing needs rescaling at test time.
    (Plain, non-inverted dropout instead multiplies by the keep probability at test time; the
    two give the same expected activations.) At inference the layer is the identity.

    Parameters
    ----------
    x : ndarray, any shape
    p_drop : float in [0, 1]
        Probability of **dropping** an entry (PyTorch's ``p``, Keras' ``rate``).
        ``p_drop = 1`` drops everything (output zeros), as in PyTorch.
    rng : numpy.random.Generator
        Draws the mask; needed only in training when ``mask`` is not given.
    training : bool
        False: return ``x`` itself (no copy) and a cache that makes backward the identity.
    mask : bool array like x, optional
        Fixed keep-mask (True = keep), e.g. to compare with a reference. Overrides ``rng``.

    Returns
    -------
    out : ndarray like x
        ``x * mask / (1 - p_drop)`` in training, ``x`` at inference.
    cache : the scaled mask (None at inference or when ``p_drop = 0``).
    """
    p_drop = check_probability(p_drop, "p_drop")
    if not training:
        return x, None
    if mask is None:
        if p_drop == 0.0:
            return x, None
        keep = check_rng(rng).random(x.shape) >= p_drop  # P(keep) = 1 - p_drop
    else:
        keep = np.asarray(mask)
        if keep.shape != x.shape:
            raise ShapeError(f"mask must have the shape of x {shape_str(x.shape)}; got {shape_str(keep.shape)}")
        if keep.dtype != bool:
            if not np.isin(keep, (0, 1)).all():
                raise ValueError("mask must be boolean (True = keep) or hold only 0 and 1")
            keep = keep.astype(bool)
    scale = 0.0 if p_drop == 1.0 else 1.0 / (1.0 - p_drop)
    scaled_mask = keep.astype(x.dtype)
    scaled_mask *= scale
    return x * scaled_mask, scaled_mask


def dropout_backward(dout, cache):
    """Gradient of :func:`dropout_forward`: ``dx = dout * mask / (1 - p_drop)`` (identity at inference)."""
    if cache is None:
        return dout
    return dout * cache


# --------------------------------------------------------------------------- Layer classes
class Layer:
    """Base class: a layer with named parameters, a forward pass and a backward pass.

    Attributes
    ----------
    params : dict[str, ndarray]
        The layer's own parameter arrays; an optimizer updates them in place.
    n_in, n_out : int or None
        Input and output widths, None when the layer keeps whatever width it is given.
    """

    params: dict
    n_in: int | None = None
    n_out: int | None = None

    def forward(self, x, training=True):  # pragma: no cover - interface
        """Return ``(out, cache)``."""
        raise NotImplementedError

    def backward(self, dout, cache, need_dx=True):  # pragma: no cover - interface
        """Return ``(dx, grads)``, ``grads`` keyed like ``params``."""
        raise NotImplementedError

    def __call__(self, x, training=False):
        """Output only (inference mode by default): ``layer(x)``."""
        return self.forward(x, training)[0]

    @property
    def n_params(self) -> int:
        """Number of trainable scalars."""
        return sum(int(p.size) for p in self.params.values())

    def _width_error(self, x):
        raise ShapeError(
            f"{self!r} expects input of shape (N, {self.n_in}); got {shape_str(np.shape(x))}"
        )


def _check_width(value, name):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer; got {value!r}")
    return int(value)


class Dense(Layer):
    """Fully connected layer ``out = x @ W + b``; ``params = {"W": (n_in, n_out), "b": (n_out,)}``.

    Parameters
    ----------
    n_in, n_out : int
    rng : numpy.random.Generator
        Used by the weight initializer.
    init : str or callable
        A name in :data:`nnkit.initializers.INITIALIZERS` (default ``"he_normal"``, which suits
        ReLU) or a callable, called as ``fn(shape, rng=rng, dtype=dtype)``. Biases always start
        at zero.
    dtype : float64 (default) or float32
    """

    def __init__(self, n_in: int, n_out: int, rng: np.random.Generator, init="he_normal", dtype=np.float64):
        self.n_in = _check_width(n_in, "n_in")
        self.n_out = _check_width(n_out, "n_out")
        check_rng(rng)
        dtype = np.dtype(dtype)
        if dtype not in (np.float32, np.float64):
            raise TypeError(f"dtype must be float32 or float64; got {dtype}")
        init_fn = _init.get_initializer(init)
        W = np.asarray(init_fn((self.n_in, self.n_out), rng=rng, dtype=dtype))
        if W.shape != (self.n_in, self.n_out):
            raise ShapeError(f"init returned shape {shape_str(W.shape)}; expected {shape_str((self.n_in, self.n_out))}")
        self.init = init if isinstance(init, str) else getattr(init, "__name__", repr(init))
        self.params = {"W": W.astype(dtype, copy=False), "b": np.zeros(self.n_out, dtype=dtype)}

    def forward(self, x, training=True):
        if x.ndim != 2 or x.shape[1] != self.n_in:
            self._width_error(x)  # names the layer, which dense_forward cannot
        return dense_forward(x, self.params["W"], self.params["b"])

    def backward(self, dout, cache, need_dx=True):
        dx, dW, db = dense_backward(dout, cache, need_dx)
        return dx, {"W": dW, "b": db}

    def __repr__(self):
        return f"Dense({self.n_in}, {self.n_out})"


class Activation(Layer):
    """Activation layer (no parameters): ``Activation("relu")``, ``Activation("leaky_relu", slope=0.2)``,
    ``Activation("softmax")``. See :func:`activation_forward`."""

    def __init__(self, name: str = "relu", **kw):
        self._fn, self._grad, self._softmax = _resolve_activation(name, kw)
        self.name = name if isinstance(name, str) else name.name
        self.kw = dict(kw)
        self.params = {}

    def forward(self, x, training=True):
        return _activation_forward(x, self._fn, self._grad, self._softmax)

    def backward(self, dout, cache, need_dx=True):
        return activation_backward(dout, cache), {}

    def __repr__(self):
        args = "".join(f", {k}={v!r}" for k, v in self.kw.items())
        return f"Activation({self.name!r}{args})"


class Dropout(Layer):
    """Inverted dropout layer; ``p_drop`` is the probability of **dropping** a unit.

    See :func:`dropout_forward`. Identity when ``training=False``. ``forward`` also accepts a
    fixed ``mask`` (True = keep) for tests and demonstrations.
    """

    def __init__(self, p_drop: float, rng: np.random.Generator):
        self.p_drop = check_probability(p_drop, "p_drop")
        self.rng = check_rng(rng)
        self.params = {}

    def forward(self, x, training=True, mask=None):
        return dropout_forward(x, self.p_drop, self.rng, training, mask)

    def backward(self, dout, cache, need_dx=True):
        return dropout_backward(dout, cache), {}

    def __repr__(self):
        return f"Dropout(p_drop={self.p_drop:g})"
