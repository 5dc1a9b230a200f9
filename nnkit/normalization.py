"""Batch, layer, group and instance normalization: pure forward/backward pairs and Layer classes.

All four standardize and then rescale with a learned gain ``gamma`` and shift ``beta``:

    x_hat = (x - mu) / sqrt(var + eps)          y = gamma * x_hat + beta

They differ in *which* entries share ``mu`` and ``var``. With ``x`` of shape ``(N, D)``
(rows are samples):

- **BatchNorm** takes them per feature over the batch (axis 0): every column of ``x_hat``
  has mean 0 and variance ~1 over the batch. It does *not* squash data into [0, 1]
  (slips.md, slip 16). At inference there is no batch to average over, so it uses running
  averages collected during training.
- **LayerNorm** takes them per sample over the features (axis 1): every row of ``x_hat`` has
  mean 0 and variance ~1. It behaves the same in training and at inference and works with a
  batch of one.

Group and instance norm take inputs with channels, ``x`` of shape ``(N, C)`` or
``(N, C, *spatial)`` (for an image ``(N, C, H, W)``), and never average over the batch:

- **GroupNorm** splits the ``C`` channels into ``G`` groups of ``C/G`` neighbouring channels
  and takes ``mu``, ``var`` per sample and per group, over the group's channels *and* all
  spatial positions (Wu & He 2018).
- **InstanceNorm** takes them per sample and per channel, over the spatial positions only
  (Ulyanov et al. 2016). It needs spatial dimensions: on ``(N, C)`` each channel of a sample
  is a single number, whose variance is 0.

Axes averaged for ``x`` of shape ``(N, C, H, W)`` (one ``mu`` per listed "per" index)::

    batch norm      per channel c         over n, h, w          (nnkit: 2-D (N, D) only)
    layer norm      per sample n          over c, h, w          (nnkit: 2-D (N, D) only)
    group norm      per sample n, group g over the C/G channels of g, h, w
    instance norm   per sample n, channel over h, w

so **layer norm is group norm with one group and instance norm is group norm with C
groups**. In nnkit that is literally how both are computed: :func:`layernorm_forward`
and :func:`instance_norm_forward` call :func:`group_norm_forward` (tests check both
identities against independent formulas and PyTorch). One difference outside the
normalization: here every gain and shift is per channel, shape ``(C,)``, as in
``torch.nn.GroupNorm``; ``torch.nn.LayerNorm((C, H, W))`` on images instead learns one gain
per entry, shape ``(C, H, W)``.

Conventions (named, because texts disagree)
------------------------------------------
- ``var`` used to *normalize* is the biased variance (divide by the number of entries
  averaged, not by that number minus one), as in the papers and in PyTorch, for all four.
- BatchNorm's running averages follow PyTorch's momentum convention: ``momentum`` is the weight of the
  **new batch** value, ``running = (1 - momentum) * running + momentum * batch_stat``, with
  default 0.1. (Keras calls the weight of the *old* value "momentum", default 0.99: the same
  rule with ``momentum_keras = 1 - momentum_pytorch``.)
- ``running_var`` is updated with the **unbiased** batch variance (divide by N - 1), exactly
  as PyTorch does, although the normalization itself uses the biased one.
- ``eps`` (default 1e-5) is added to the variance *inside* the square root, for all four.
- Group and instance norm keep no running averages: they use the statistics of the sample
  itself, in training and at inference alike (PyTorch's ``InstanceNorm2d`` default
  ``track_running_stats=False``). nnkit's ``InstanceNorm`` always has its affine ``gamma``,
  ``beta``, starting at 1 and 0 (PyTorch's ``affine=False`` default is the same function
  until they are trained).
"""
from __future__ import annotations

import numpy as np

from ._validate import ShapeError, as_array, check_int, check_nonnegative, check_positive, check_probability, shape_str
from .layers import Layer

__all__ = [
    "batchnorm_forward",
    "batchnorm_backward",
    "layernorm_forward",
    "layernorm_backward",
    "group_norm_forward",
    "group_norm_backward",
    "instance_norm_forward",
    "instance_norm_backward",
    "BatchNorm",
    "LayerNorm",
    "GroupNorm",
    "InstanceNorm",
]


def _check_features(x, gamma, beta, who):
    if x.ndim != 2:
        raise ShapeError(f"{who}: x must be 2-D (N, D); got shape {x.shape}")
    D = x.shape[1]
    if gamma.shape != (D,) or beta.shape != (D,):
        raise ShapeError(
            f"{who}: gamma and beta must have shape ({D},) to match x of shape {x.shape}; "
            f"got gamma {gamma.shape}, beta {beta.shape}"
        )


def batchnorm_forward(x, gamma, beta, running_mean, running_var, training, momentum=0.1, eps=1e-5):
    """Batch normalization over the batch axis.

    Parameters
    ----------
    x : ndarray (N, D)
    gamma, beta : ndarray (D,)
        Learned scale and shift.
    running_mean, running_var : ndarray (D,)
        Running averages used at inference. Never modified; updated copies are returned.
    training : bool
        True: normalize with the statistics of this batch (needs N >= 2) and return updated
        running averages. False: normalize with ``running_mean`` / ``running_var`` and return
        them unchanged (the same objects).
    momentum : float in [0, 1]
        PyTorch convention: weight of the new batch statistic,
        ``new = (1 - momentum) * old + momentum * batch``.
    eps : float > 0
        Added to the variance inside the square root.

    Returns
    -------
    out : ndarray (N, D)
        ``gamma * (x - mu) / sqrt(var + eps) + beta``.
    cache : tuple
        What :func:`batchnorm_backward` needs.
    new_running_mean, new_running_var : ndarray (D,)
        Training: ``(1-m)*running_mean + m*mu_B`` and ``(1-m)*running_var + m*var_B*N/(N-1)``
        where ``var_B`` is the biased batch variance (the unbiased one goes into the running
        average, as in PyTorch). Inference: the inputs, unchanged.
    """
    _check_features(x, gamma, beta, "batchnorm_forward")
    if training:
        N = x.shape[0]
        if N < 2:
            raise ValueError(
                f"batchnorm_forward: training mode needs at least 2 samples per batch to estimate a "
                f"variance; got x of shape {x.shape}"
            )
        mu = x.mean(axis=0)
        xc = x - mu
        var = np.mean(xc * xc, axis=0)  # biased: normalizes the batch
        inv_std = 1.0 / np.sqrt(var + eps)
        x_hat = xc * inv_std
        out = x_hat * gamma
        out += beta
        new_mean = (1.0 - momentum) * running_mean + momentum * mu
        new_var = (1.0 - momentum) * running_var + momentum * (var * (N / (N - 1.0)))  # unbiased
        return out, (True, x_hat, gamma, inv_std), new_mean, new_var
    inv_std = 1.0 / np.sqrt(running_var + eps)
    x_hat = (x - running_mean) * inv_std
    out = x_hat * gamma
    out += beta
    return out, (False, x_hat, gamma, inv_std), running_mean, running_var


def batchnorm_backward(dout, cache):
    """Gradients of batch normalization.

    Parameters
    ----------
    dout : ndarray (N, D)
        Upstream gradient dL/dout.
    cache : from :func:`batchnorm_forward`.

    Returns
    -------
    dx : ndarray (N, D)
    dgamma, dbeta : ndarray (D,)
        ``dgamma = sum_n dout * x_hat``, ``dbeta = sum_n dout``.

    Notes
    -----
    Training mode: ``mu`` and ``var`` depend on every sample, which gives the compact form
    (``g = dout * gamma``, sums over the batch axis)

        dx = inv_std / N * (N * g - sum(g) - x_hat * sum(g * x_hat))

    Inference mode: the statistics are constants, so ``dx = dout * gamma * inv_std``.
    """
    training, x_hat, gamma, inv_std = cache
    dbeta = dout.sum(axis=0)
    dgamma = np.sum(dout * x_hat, axis=0)
    if not training:
        return dout * (gamma * inv_std), dgamma, dbeta
    N = dout.shape[0]
    # sum(g) = gamma * dbeta and sum(g * x_hat) = gamma * dgamma: reuse them.
    dx = dout - dbeta / N
    dx -= x_hat * (dgamma / N)
    dx *= gamma * inv_std
    return dx, dgamma, dbeta


def layernorm_forward(x, gamma, beta, eps=1e-5):
    """Layer normalization: per sample, over the features.

    Parameters
    ----------
    x : ndarray (N, D)
    gamma, beta : ndarray (D,)
    eps : float >= 0, added to the variance inside the square root.

    Returns
    -------
    out : ndarray (N, D)
        ``gamma * (x - mu_n) / sqrt(var_n + eps) + beta`` with ``mu_n``, ``var_n`` (biased)
        the mean and variance of row ``n``. Same in training and inference.
    cache : tuple for :func:`layernorm_backward`.

    Notes
    -----
    This *is* group normalization with one group (the D features are the channels), and it is
    computed by :func:`group_norm_forward` with ``num_groups=1``: the formula lives there.
    """
    _check_features(x, gamma, beta, "layernorm_forward")
    return group_norm_forward(x, gamma, beta, 1, eps)


def layernorm_backward(dout, cache):
    """Gradients of layer normalization (the backward of group norm with one group).

    Returns ``dx (N, D)``, ``dgamma (D,)``, ``dbeta (D,)``. With ``g = dout * gamma`` and sums
    over the feature axis of each row:

        dx = inv_std / D * (D * g - sum(g) - x_hat * sum(g * x_hat))
    """
    return group_norm_backward(dout, cache)


def _check_channels(x, gamma, beta, who):
    """``x`` (N, C) or (N, C, *spatial), not empty; ``gamma`` and ``beta`` (C,). Returns x as a float array."""
    if not (isinstance(x, np.ndarray) and x.dtype.kind == "f"):
        x = as_array(x, "x", allow_empty=True)  # ints and lists -> float64; bools, strings refused
    if x.ndim < 2:
        raise ShapeError(f"{who}: x must be (N, C) or (N, C, *spatial); got shape {shape_str(x.shape)}")
    if x.size == 0:
        raise ValueError(f"{who}: x is empty (shape {shape_str(x.shape)}); expected at least one entry per axis")
    C = x.shape[1]
    if np.shape(gamma) != (C,) or np.shape(beta) != (C,):
        raise ShapeError(
            f"{who}: gamma and beta must have shape ({C},), one per channel of x of shape "
            f"{shape_str(x.shape)}; got gamma {shape_str(np.shape(gamma))}, beta {shape_str(np.shape(beta))}"
        )
    return x


def _check_groups(num_groups, C: int, name: str = "num_groups") -> int:
    G = check_int(num_groups, name, 1)
    if C % G:
        raise ValueError(f"{name} must divide the number of channels C = {C}; got {name}={G}")
    return G


def _per_channel(a: np.ndarray, ndim: int) -> np.ndarray:
    """``(C,)`` -> ``(C, 1, ..., 1)``, broadcasting along axis 1 of an ``ndim``-D array."""
    return a.reshape(a.shape + (1,) * (ndim - 2))


def group_norm_forward(x, gamma, beta, num_groups, eps=1e-5):
    """Group normalization: per sample and per group of channels, over the group's channels and positions.

    Parameters
    ----------
    x : ndarray (N, C) or (N, C, *spatial), e.g. (N, C, H, W)
        float32 stays float32.
    gamma, beta : ndarray (C,)
        Per-channel scale and shift.
    num_groups : int G >= 1 dividing C
        Group ``g`` holds channels ``g*C/G .. (g+1)*C/G - 1`` (neighbours, as in PyTorch).
        ``G = 1`` is layer norm; ``G = C`` is instance norm.
    eps : float >= 0
        Added to the variance inside the square root.

    Returns
    -------
    out : ndarray, the shape of x
        ``gamma_c * (x - mu_ng) / sqrt(var_ng + eps) + beta_c`` where, for sample ``n`` and the
        group ``g`` that holds channel ``c``, ``mu_ng`` and ``var_ng`` are the mean and the
        **biased** variance (divide by M) of the ``M = (C/G) * prod(spatial)`` entries of
        that group. Same in training and inference (no running averages).
    cache : tuple ``(x_hat, gamma, inv_std)`` for :func:`group_norm_backward`; ``inv_std`` has
        shape (N, G, 1).

    Notes
    -----
    Matches ``torch.nn.functional.group_norm(x, G, gamma, beta, eps)``. With a group of one
    entry (M = 1) the variance is 0 and the output is ``beta``.
    """
    x = _check_channels(x, gamma, beta, "group_norm_forward")
    G = _check_groups(num_groups, x.shape[1])
    check_nonnegative(eps, "eps")
    N = x.shape[0]
    xg = x.reshape(N, G, -1)  # channels of a group are contiguous in (C, *spatial) order
    mu = xg.mean(axis=2, keepdims=True)
    xc = xg - mu
    var = np.mean(xc * xc, axis=2, keepdims=True)  # biased: divide by M
    inv_std = 1.0 / np.sqrt(var + eps)
    x_hat = (xc * inv_std).reshape(x.shape)
    out = x_hat * _per_channel(gamma, x.ndim)
    out += _per_channel(beta, x.ndim)
    return out, (x_hat, gamma, inv_std)


def group_norm_backward(dout, cache):
    """Gradients of group normalization.

    Parameters
    ----------
    dout : ndarray, the shape of the forward output
        Upstream gradient dL/dout.
    cache : from :func:`group_norm_forward`.

    Returns
    -------
    dx : ndarray, the shape of dout
    dgamma, dbeta : ndarray (C,)
        ``dgamma_c = sum dout * x_hat`` and ``dbeta_c = sum dout``, summed over the samples and
        the spatial positions of channel c.

    Notes
    -----
    With ``g = dout * gamma`` and, per sample and group, means over the group's M entries::

        dx = inv_std * (g - mean(g) - x_hat * mean(g * x_hat))

    (the same compact form as batch norm's, over the group instead of the batch).
    """
    x_hat, gamma, inv_std = cache
    if np.shape(dout) != x_hat.shape:
        raise ShapeError(
            f"dout must have the shape of the forward output {shape_str(x_hat.shape)}; got {shape_str(np.shape(dout))}"
        )
    N, G = inv_std.shape[:2]
    axes = (0,) + tuple(range(2, dout.ndim))
    dbeta = dout.sum(axis=axes)
    dgamma = np.sum(dout * x_hat, axis=axes)
    g = (dout * _per_channel(gamma, dout.ndim)).reshape(N, G, -1)
    xh = x_hat.reshape(N, G, -1)
    dx = g - g.mean(axis=2, keepdims=True)
    dx -= xh * np.mean(g * xh, axis=2, keepdims=True)
    dx *= inv_std
    return dx.reshape(dout.shape), dgamma, dbeta


def instance_norm_forward(x, gamma, beta, eps=1e-5):
    """Instance normalization: per sample and per channel, over the spatial positions.

    Parameters
    ----------
    x : ndarray (N, C, *spatial) with at least one spatial axis, e.g. (N, C, L) or (N, C, H, W)
        Instance norm needs spatial dimensions: on (N, C) every channel of a sample is one
        number, with variance 0 (a ShapeError says so). A single spatial position per channel
        is refused too (ValueError), as PyTorch does in training.
    gamma, beta : ndarray (C,)
    eps : float >= 0, added to the variance inside the square root.

    Returns
    -------
    out : ndarray, the shape of x
        ``gamma_c * (x - mu_nc) / sqrt(var_nc + eps) + beta_c`` with ``mu_nc``, ``var_nc`` (biased)
        the mean and variance of channel ``c`` of sample ``n`` over its positions.
    cache : tuple for :func:`instance_norm_backward`.

    Notes
    -----
    This is group normalization with one channel per group, and it is computed by
    :func:`group_norm_forward` with ``num_groups = C``. Matches
    ``torch.nn.functional.instance_norm(x, weight=gamma, bias=beta, eps=eps)`` (no running
    statistics, ``use_input_stats=True``).
    """
    x = _check_channels(x, gamma, beta, "instance_norm_forward")
    if x.ndim < 3:
        raise ShapeError(
            "instance_norm_forward: x must have spatial dimensions, shape (N, C, *spatial) such as "
            f"(N, C, H, W); got shape {shape_str(x.shape)}. Instance norm averages over the positions "
            "of each channel, and on (N, C) each channel holds one number. For (N, D) features use "
            "layernorm_forward or group_norm_forward."
        )
    positions = int(np.prod(x.shape[2:]))
    if positions < 2:
        raise ValueError(
            f"instance_norm_forward: each channel needs more than one spatial position to have a variance; "
            f"x has shape {shape_str(x.shape)}, {positions} position per channel"
        )
    return group_norm_forward(x, gamma, beta, x.shape[1], eps)


def instance_norm_backward(dout, cache):
    """Gradients of instance normalization: ``(dx, dgamma (C,), dbeta (C,))``.

    The backward of group norm with ``num_groups = C`` (see :func:`group_norm_backward`): with
    ``g = dout * gamma`` and means over the positions of each channel of each sample,
    ``dx = inv_std * (g - mean(g) - x_hat * mean(g * x_hat))``.
    """
    return group_norm_backward(dout, cache)


class _ScaleShift(Layer):
    """What the four normalization layers share: ``n_in = n_out = n`` features (or channels),
    fresh parameters ``{"gamma": ones(n), "beta": zeros(n)}`` and ``eps > 0`` (added to the
    variance). ``name`` is the argument that gave ``n``, for the error message."""

    def __init__(self, n, name: str, eps, dtype):
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
            raise ValueError(f"{name} must be a positive integer; got {n!r}")
        self.n_in = self.n_out = n = int(n)
        dtype = np.dtype(dtype)
        self.params = {"gamma": np.ones(n, dtype=dtype), "beta": np.zeros(n, dtype=dtype)}
        self.eps = check_positive(eps, "eps")


def _layer_grads(dx, dgamma, dbeta) -> tuple:
    """A backward pair's result in the Layer interface: ``(dx, {"gamma": dgamma, "beta": dbeta})``."""
    return dx, {"gamma": dgamma, "beta": dbeta}


class BatchNorm(_ScaleShift):
    """Batch normalization layer (see :func:`batchnorm_forward`).

    Parameters ``params = {"gamma": ones(D), "beta": zeros(D)}``; state (not trained)
    ``running_mean = zeros(D)``, ``running_var = ones(D)`` as in PyTorch. In training mode
    ``forward`` replaces ``running_mean`` / ``running_var`` with the updated averages
    (PyTorch momentum convention: ``new = (1 - momentum) * old + momentum * batch``).
    """

    def __init__(self, n_features: int, momentum: float = 0.1, eps: float = 1e-5, dtype=np.float64):
        super().__init__(n_features, "n_features", eps, dtype)
        self.momentum = check_probability(momentum, "momentum")
        self.running_mean = np.zeros(self.n_in, dtype=self.params["gamma"].dtype)
        self.running_var = np.ones(self.n_in, dtype=self.params["gamma"].dtype)

    def forward(self, x, training=True):
        if x.ndim != 2 or x.shape[1] != self.n_in:
            self._width_error(x)
        p = self.params
        out, cache, self.running_mean, self.running_var = batchnorm_forward(
            x, p["gamma"], p["beta"], self.running_mean, self.running_var, training, self.momentum, self.eps
        )
        return out, cache

    def backward(self, dout, cache, need_dx=True):
        return _layer_grads(*batchnorm_backward(dout, cache))

    def __repr__(self):
        return f"BatchNorm({self.n_in}, momentum={self.momentum:g}, eps={self.eps:g})"


class LayerNorm(_ScaleShift):
    """Layer normalization layer (see :func:`layernorm_forward`).

    ``params = {"gamma": ones(D), "beta": zeros(D)}``; no running state; identical in training
    and inference.
    """

    def __init__(self, n_features: int, eps: float = 1e-5, dtype=np.float64):
        super().__init__(n_features, "n_features", eps, dtype)

    def forward(self, x, training=True):
        if x.ndim != 2 or x.shape[1] != self.n_in:
            self._width_error(x)
        p = self.params
        return layernorm_forward(x, p["gamma"], p["beta"], self.eps)

    def backward(self, dout, cache, need_dx=True):
        return _layer_grads(*layernorm_backward(dout, cache))

    def __repr__(self):
        return f"LayerNorm({self.n_in}, eps={self.eps:g})"


class GroupNorm(_ScaleShift):
    """Group normalization layer (see :func:`group_norm_forward`).

    Parameters
    ----------
    num_groups : int G >= 1 dividing ``num_channels`` (PyTorch's argument order)
    num_channels : int C >= 1
    eps : float > 0
    dtype : float64 (default) or float32

    ``params = {"gamma": ones(C), "beta": zeros(C)}``; no running state; identical in training
    and inference. Inputs are ``(N, C)`` (then it fits in a :class:`~nnkit.model.Sequential`,
    whose inputs are 2-D) or ``(N, C, *spatial)``.
    """

    def __init__(self, num_groups: int, num_channels: int, eps: float = 1e-5, dtype=np.float64):
        super().__init__(num_channels, "num_channels", eps, dtype)
        self.num_groups = _check_groups(num_groups, self.n_in)

    def forward(self, x, training=True):
        if np.ndim(x) < 2 or np.shape(x)[1] != self.n_in:
            _channels_error(self, x)
        p = self.params
        return group_norm_forward(x, p["gamma"], p["beta"], self.num_groups, self.eps)

    def backward(self, dout, cache, need_dx=True):
        return _layer_grads(*group_norm_backward(dout, cache))

    def __repr__(self):
        return f"GroupNorm({self.num_groups}, {self.n_in}, eps={self.eps:g})"


class InstanceNorm(_ScaleShift):
    """Instance normalization layer (see :func:`instance_norm_forward`).

    Parameters
    ----------
    num_features : int C >= 1 (channels)
    eps : float > 0
    dtype : float64 (default) or float32

    ``params = {"gamma": ones(C), "beta": zeros(C)}``; no running state (PyTorch's
    ``InstanceNorm2d`` default ``track_running_stats=False``); identical in training and
    inference. Inputs must be ``(N, C, *spatial)``, so it does not fit in a 2-D
    :class:`~nnkit.model.Sequential`.
    """

    def __init__(self, num_features: int, eps: float = 1e-5, dtype=np.float64):
        super().__init__(num_features, "num_features", eps, dtype)

    def forward(self, x, training=True):
        if np.ndim(x) < 3 or np.shape(x)[1] != self.n_in:
            _channels_error(self, x, spatial_required=True)
        p = self.params
        return instance_norm_forward(x, p["gamma"], p["beta"], self.eps)

    def backward(self, dout, cache, need_dx=True):
        return _layer_grads(*instance_norm_backward(dout, cache))

    def __repr__(self):
        return f"InstanceNorm({self.n_in}, eps={self.eps:g})"


def _channels_error(layer, x, spatial_required=False):
    C = layer.n_in
    want = f"(N, {C}, *spatial)" if spatial_required else f"(N, {C}) or (N, {C}, *spatial)"
    raise ShapeError(f"{layer!r} expects input of shape {want}; got {shape_str(np.shape(x))}")
