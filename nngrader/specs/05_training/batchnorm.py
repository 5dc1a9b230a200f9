"""Assignment 5, batch normalization in training mode: forward and backward."""
from __future__ import annotations

import numpy as np

from nnkit import normalization as nkn

from .. import Case
from ._common import rel
from ...verdict import Part, as_numeric, close_or_numeric, gradient_parts


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


def bnf_visible(rng):
    x = np.array([[1.0, 2.0], [3.0, 6.0], [5.0, 4.0], [7.0, 0.0]])
    return [
        Case((x, np.ones(2), np.zeros(2)), label="x (4, 2), gamma = 1, beta = 0"),
        Case(_bn_data(rng, 8, 3), {"eps": 1e-5}, label="x (8, 3), random gamma, beta"),
    ]


def bnf_hidden(rng):
    cases = []
    for i, eps in enumerate([1e-5, 0.1, 1e-3, 1e-5, 0.5]):
        n, d = int(rng.integers(2, 12)), int(rng.integers(1, 7))
        x, g, b = _bn_data(rng, n, d)
        if i == 3:
            x[:, 0] = 2.5  # a constant feature: variance 0, only eps keeps it finite
        cases.append(Case((x, g, b), {"eps": eps}, label=f"x ({n}, {d}), eps = {eps:g}" + (", a constant column" if i == 3 else "")))
    return cases


def bnf_judge(case, value):
    x, gamma, beta = case.args
    eps = case.kwargs.get("eps", 1e-5)
    ref = _bn_ref(x, gamma, beta, eps)
    part, a = close_or_numeric("out", value, ref, tol=1e-8)
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
                if np.all(np.isfinite(alt)) and rel(a, alt) < 1e-8:
                    part.cause = why
                    break
    return [part]


def bnb_visible(rng):
    x, g, _ = _bn_data(rng, 5, 3)
    x2, g2, _ = _bn_data(rng, 2, 4)
    return [
        Case((rng.normal(size=(5, 3)), x, g), label="dout (5, 3), x (5, 3), gradient check"),
        Case((rng.normal(size=(2, 4)), x2, g2), {"eps": 1e-3}, label="a batch of N = 2, eps = 1e-3"),
    ]


def bnb_hidden(rng):
    cases = []
    for eps in (1e-5, 1e-2, 1e-5, 0.3, 1e-4):
        n, d = int(rng.integers(2, 10)), int(rng.integers(1, 6))
        x, g, _ = _bn_data(rng, n, d)
        cases.append(Case((rng.normal(size=(n, d)), x, g), {"eps": eps}, label=f"dout ({n}, {d}), eps = {eps:g}"))
    return cases


def bnb_judge(case, value):
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
                if rel(a, alt) < 1e-6:
                    parts[0].cause = why
                    break
    return parts


