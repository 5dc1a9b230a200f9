"""Batch normalization and layer normalization: pure forward/backward pairs and Layer classes.

Both standardize and then rescale with a learned gain ``gamma`` and shift ``beta``:

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

Conventions (named, because texts disagree)
------------------------------------------
- ``var`` used to *normalize* is the biased batch variance (divide by N), as in the paper
  and in PyTorch.
- Running averages follow PyTorch's momentum convention: ``momentum`` is the weight of the
  **new batch** value, ``running = (1 - momentum) * running + momentum * batch_stat``, with
  default 0.1. (Keras calls the weight of the *old* value "momentum", default 0.99: the same
  rule with ``momentum_keras = 1 - momentum_pytorch``.)
- ``running_var`` is updated with the **unbiased** batch variance (divide by N - 1), exactly
  as PyTorch does, although the normalization itself uses the biased one.
- ``eps`` (default 1e-5) is added to the variance *inside* the square root.
"""
from __future__ import annotations

import numpy as np

from ._validate import ShapeError, check_positive, check_probability
from .layers import Layer

__all__ = [
    "batchnorm_forward",
    "batchnorm_backward",
    "layernorm_forward",
    "layernorm_backward",
    "BatchNorm",
    "LayerNorm",
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
    eps : float > 0, added to the variance inside the square root.

    Returns
    -------
    out : ndarray (N, D)
        ``gamma * (x - mu_n) / sqrt(var_n + eps) + beta`` with ``mu_n``, ``var_n`` (biased)
        the mean and variance of row ``n``. Same in training and inference.
    cache : tuple for :func:`layernorm_backward`.
    """
    _check_features(x, gamma, beta, "layernorm_forward")
    mu = x.mean(axis=1, keepdims=True)
    xc = x - mu
    var = np.mean(xc * xc, axis=1, keepdims=True)
    inv_std = 1.0 / np.sqrt(var + eps)
    x_hat = xc * inv_std
    out = x_hat * gamma
    out += beta
    return out, (x_hat, gamma, inv_std)


def layernorm_backward(dout, cache):
    """Gradients of layer normalization.

    Returns ``dx (N, D)``, ``dgamma (D,)``, ``dbeta (D,)``. With ``g = dout * gamma`` and sums
    over the feature axis of each row:

        dx = inv_std / D * (D * g - sum(g) - x_hat * sum(g * x_hat))
    """
    x_hat, gamma, inv_std = cache
    D = dout.shape[1]
    dbeta = dout.sum(axis=0)
    dgamma = np.sum(dout * x_hat, axis=0)
    g = dout * gamma
    dx = g - g.mean(axis=1, keepdims=True)
    dx -= x_hat * (np.sum(g * x_hat, axis=1, keepdims=True) / D)
    dx *= inv_std
    return dx, dgamma, dbeta


class BatchNorm(Layer):
    """Batch normalization layer (see :func:`batchnorm_forward`).

    Parameters ``params = {"gamma": ones(D), "beta": zeros(D)}``; state (not trained)
    ``running_mean = zeros(D)``, ``running_var = ones(D)`` as in PyTorch. In training mode
    ``forward`` replaces ``running_mean`` / ``running_var`` with the updated averages
    (PyTorch momentum convention: ``new = (1 - momentum) * old + momentum * batch``).
    """

    def __init__(self, n_features: int, momentum: float = 0.1, eps: float = 1e-5, dtype=np.float64):
        if isinstance(n_features, bool) or not isinstance(n_features, (int, np.integer)) or n_features < 1:
            raise ValueError(f"n_features must be a positive integer; got {n_features!r}")
        self.n_in = self.n_out = int(n_features)
        self.momentum = check_probability(momentum, "momentum")
        self.eps = check_positive(eps, "eps")
        dtype = np.dtype(dtype)
        self.params = {"gamma": np.ones(self.n_in, dtype=dtype), "beta": np.zeros(self.n_in, dtype=dtype)}
        self.running_mean = np.zeros(self.n_in, dtype=dtype)
        self.running_var = np.ones(self.n_in, dtype=dtype)

    def forward(self, x, training=True):
        if x.ndim != 2 or x.shape[1] != self.n_in:
            self._width_error(x)
        p = self.params
        out, cache, self.running_mean, self.running_var = batchnorm_forward(
            x, p["gamma"], p["beta"], self.running_mean, self.running_var, training, self.momentum, self.eps
        )
        return out, cache

    def backward(self, dout, cache, need_dx=True):
        dx, dgamma, dbeta = batchnorm_backward(dout, cache)
        return dx, {"gamma": dgamma, "beta": dbeta}

    def __repr__(self):
        return f"BatchNorm({self.n_in}, momentum={self.momentum:g}, eps={self.eps:g})"


class LayerNorm(Layer):
    """Layer normalization layer (see :func:`layernorm_forward`).

    ``params = {"gamma": ones(D), "beta": zeros(D)}``; no running state; identical in training
    and inference.
    """

    def __init__(self, n_features: int, eps: float = 1e-5, dtype=np.float64):
        if isinstance(n_features, bool) or not isinstance(n_features, (int, np.integer)) or n_features < 1:
            raise ValueError(f"n_features must be a positive integer; got {n_features!r}")
        self.n_in = self.n_out = int(n_features)
        self.eps = check_positive(eps, "eps")
        dtype = np.dtype(dtype)
        self.params = {"gamma": np.ones(self.n_in, dtype=dtype), "beta": np.zeros(self.n_in, dtype=dtype)}

    def forward(self, x, training=True):
        if x.ndim != 2 or x.shape[1] != self.n_in:
            self._width_error(x)
        p = self.params
        return layernorm_forward(x, p["gamma"], p["beta"], self.eps)

    def backward(self, dout, cache, need_dx=True):
        dx, dgamma, dbeta = layernorm_backward(dout, cache)
        return dx, {"gamma": dgamma, "beta": dbeta}

    def __repr__(self):
        return f"LayerNorm({self.n_in}, eps={self.eps:g})"
