"""Weight initializers: where the first step of training starts.

Every initializer has the signature ``init(shape, rng, dtype=np.float64) -> ndarray`` (the
constant ones accept ``rng=None``) and draws only from the ``numpy.random.Generator`` it is
given, so a run is reproducible from one seed.

Shape convention
----------------
nnkit's Dense layer computes ``out = x @ W + b`` with rows as samples, so a weight matrix has
shape ``(fan_in, fan_out) = (D_in, D_out)``. The slides use column vectors and write
``W^[l]`` with shape ``(n_l, n_{l-1})``, which is the transpose; PyTorch's ``nn.Linear.weight``
is also ``(out_features, in_features)``. Fan-in is the number of inputs feeding one unit in
every one of these conventions: here it is ``shape[0]``.

Variances (the formulas texts get wrong; see slips.md, slip 15)
---------------------------------------------------------------
- ``xavier_uniform``: ``U(-r, r)``, ``r = sqrt(6/(fan_in+fan_out))``; Var = 2/(fan_in+fan_out)
- ``xavier_normal``:  ``N(0, std^2)``, ``std = sqrt(2/(fan_in+fan_out))``; Var = 2/(fan_in+fan_out)
- ``he_uniform``:     ``U(-r, r)``, ``r = sqrt(6/fan_in)``; Var = 2/fan_in
- ``he_normal``:      ``N(0, std^2)``, ``std = sqrt(2/fan_in)``; Var = 2/fan_in

``U(-r, r)`` has variance ``r^2 / 3``, which is why the uniform radii carry a 6 where the
normal variances carry a 2. He ("Kaiming") uses fan-in mode, as PyTorch's
``kaiming_normal_(mode="fan_in", nonlinearity="relu")`` does. The normal forms here are plain
(untruncated) Gaussians; Keras' ``he_normal`` and ``glorot_normal`` use a truncated normal
instead.

Zeros and constants are here to *show* why they fail: every hidden unit of a layer starts
identical, receives the identical gradient, and so stays identical forever (symmetry is never
broken). Biases are normally started at zero, which is harmless once the weights differ.
"""
from __future__ import annotations

from math import prod, sqrt
from typing import Callable

import numpy as np

from ._validate import check_nonnegative, check_rng

__all__ = [
    "fan_in_fan_out",
    "zeros",
    "constant",
    "uniform",
    "normal",
    "xavier_uniform",
    "xavier_normal",
    "he_uniform",
    "he_normal",
    "INITIALIZERS",
    "get_initializer",
]


def _check_shape(shape) -> tuple[int, ...]:
    if isinstance(shape, (int, np.integer)) and not isinstance(shape, bool):
        shape = (int(shape),)
    try:
        dims = tuple(shape)
    except TypeError:
        raise TypeError(f"shape must be an int or a tuple of ints; got {type(shape).__name__} {shape!r}") from None
    for d in dims:
        if isinstance(d, bool) or not isinstance(d, (int, np.integer)) or d < 1:
            raise ValueError(f"shape must hold positive integers; got {shape!r}")
    return tuple(int(d) for d in dims)


def _check_dtype(dtype) -> np.dtype:
    dt = np.dtype(dtype)
    if dt not in (np.float32, np.float64):
        raise TypeError(f"dtype must be float32 or float64; got {dt}")
    return dt


def fan_in_fan_out(shape) -> tuple[int, int]:
    """Number of inputs and outputs of one unit for a weight tensor of this shape.

    Parameters
    ----------
    shape : tuple of int
        ``(D_in, D_out)`` for a Dense weight (nnkit's ``x @ W`` convention, fan_in = D_in).
        A 1-D shape ``(D,)`` (a bias or a gain vector) gives ``fan_in = fan_out = D``.
        A shape ``(D_in, D_out, *k)`` with extra trailing axes (a kernel with receptive field
        ``k``) gives ``fan_in = D_in * prod(k)``, ``fan_out = D_out * prod(k)``.

    Returns
    -------
    (fan_in, fan_out) : tuple of int

    Examples
    --------
    >>> fan_in_fan_out((4, 5))
    (4, 5)
    """
    dims = _check_shape(shape)
    if len(dims) == 0:
        raise ValueError("shape must have at least one axis; got ()")
    if len(dims) == 1:
        return dims[0], dims[0]
    receptive = prod(dims[2:])
    return dims[0] * receptive, dims[1] * receptive


def zeros(shape, rng=None, dtype=np.float64) -> np.ndarray:
    """All-zero array of ``shape``. ``rng`` is accepted (and ignored) to share the signature.

    Using it for weights makes every hidden unit identical (the symmetry failure); with ReLU
    or tanh hidden units the hidden gradients are even exactly zero, so nothing upstream of
    the output layer ever learns.
    """
    return np.zeros(_check_shape(shape), dtype=_check_dtype(dtype))


def constant(shape, value: float = 0.0, rng=None, dtype=np.float64) -> np.ndarray:
    """Array of ``shape`` filled with ``value`` (``rng`` ignored).

    Any constant weight matrix keeps the units of a layer interchangeable: they compute the
    same function, receive the same gradient and so never become different. Use
    ``functools.partial(constant, value=0.5)`` where an initializer ``fn(shape, rng, dtype)``
    is expected.
    """
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) or not np.isfinite(value):
        raise ValueError(f"value must be a finite real number; got {value!r}")
    return np.full(_check_shape(shape), value, dtype=_check_dtype(dtype))


def uniform(shape, rng: np.random.Generator, low: float = -0.05, high: float = 0.05, dtype=np.float64) -> np.ndarray:
    """Independent draws from ``U(low, high)``; variance ``(high - low)^2 / 12``.

    Defaults ``(-0.05, 0.05)`` are Keras' ``RandomUniform`` ones. Small fixed scales like
    this work for shallow nets; deep nets need the scale to follow the fan (Xavier, He).
    """
    check_rng(rng)
    if not (np.isfinite(low) and np.isfinite(high)) or low >= high:
        raise ValueError(f"uniform needs finite low < high; got low={low!r}, high={high!r}")
    dims = _check_shape(shape)
    return rng.uniform(low, high, size=dims).astype(_check_dtype(dtype), copy=False)


def normal(shape, rng: np.random.Generator, std: float = 0.01, mean: float = 0.0, dtype=np.float64) -> np.ndarray:
    """Independent draws from ``N(mean, std^2)`` (a plain, untruncated Gaussian).

    ``std`` is the standard deviation, not the variance. Default 0.01 is the classic
    "small random numbers" choice, which makes signals shrink layer by layer in deep nets.
    """
    check_rng(rng)
    std = check_nonnegative(std, "std")
    if not np.isfinite(mean):
        raise ValueError(f"mean must be finite; got {mean!r}")
    dims = _check_shape(shape)
    return (mean + std * rng.standard_normal(dims)).astype(_check_dtype(dtype), copy=False)


def xavier_uniform(shape, rng: np.random.Generator, dtype=np.float64) -> np.ndarray:
    """Glorot/Xavier uniform: ``U(-r, r)`` with ``r = sqrt(6 / (fan_in + fan_out))``.

    Variance ``r^2/3 = 2 / (fan_in + fan_out)`` (Glorot & Bengio 2010), a compromise between
    keeping forward activations (fan_in) and backward gradients (fan_out) at constant scale
    for tanh/sigmoid-like units. ``r`` equals ``sqrt(3 / fan_avg)`` with
    ``fan_avg = (fan_in + fan_out) / 2``.
    """
    fan_in, fan_out = fan_in_fan_out(shape)
    r = sqrt(6.0 / (fan_in + fan_out))
    return uniform(shape, rng, -r, r, dtype=dtype)


def xavier_normal(shape, rng: np.random.Generator, dtype=np.float64) -> np.ndarray:
    """Glorot/Xavier normal: ``N(0, std^2)`` with ``std = sqrt(2 / (fan_in + fan_out))``."""
    fan_in, fan_out = fan_in_fan_out(shape)
    return normal(shape, rng, std=sqrt(2.0 / (fan_in + fan_out)), dtype=dtype)


def he_uniform(shape, rng: np.random.Generator, dtype=np.float64) -> np.ndarray:
    """He/Kaiming uniform (fan-in mode): ``U(-r, r)`` with ``r = sqrt(6 / fan_in)``.

    Variance ``2 / fan_in`` (He et al. 2015): ReLU zeroes half of its inputs on average, and
    the factor 2 compensates so that activations keep their scale through depth.
    """
    fan_in, _ = fan_in_fan_out(shape)
    r = sqrt(6.0 / fan_in)
    return uniform(shape, rng, -r, r, dtype=dtype)


def he_normal(shape, rng: np.random.Generator, dtype=np.float64) -> np.ndarray:
    """He/Kaiming normal (fan-in mode): ``N(0, std^2)`` with ``std = sqrt(2 / fan_in)``.

    So ``Var(W) = 2 / fan_in`` where fan_in = ``n^[l-1]``, the number of inputs to the layer
    (slip 15: not ``sqrt(2/n^2)``, and not ``2/n^[l]``).
    """
    fan_in, _ = fan_in_fan_out(shape)
    return normal(shape, rng, std=sqrt(2.0 / fan_in), dtype=dtype)


#: name -> ``fn(shape, rng, dtype=np.float64)``, e.g. for a dropdown or ``MLP(init=...)``.
#: ``constant`` needs a value, so it is not listed; pass ``functools.partial(constant, value=v)``.
INITIALIZERS: dict[str, Callable[..., np.ndarray]] = {
    "zeros": zeros,
    "uniform": uniform,
    "normal": normal,
    "xavier_uniform": xavier_uniform,
    "xavier_normal": xavier_normal,
    "he_uniform": he_uniform,
    "he_normal": he_normal,
}


def get_initializer(init) -> Callable[..., np.ndarray]:
    """Resolve ``init``: a registry name, or any callable; layers call it as ``fn(shape, rng=rng, dtype=dtype)``."""
    if callable(init):
        return init
    if isinstance(init, str) and init in INITIALIZERS:
        return INITIALIZERS[init]
    raise ValueError(f"init must be one of {', '.join(map(repr, INITIALIZERS))} or a callable; got {init!r}")
