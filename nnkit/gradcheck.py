"""Numerical gradient checking: the backbone of the tests and of the graders.

Core: centred differences and relative error.

    df/dx_i  ~=  (f(x + h e_i) - f(x - h e_i)) / (2 h)          error O(h^2)

    rel_error(a, b) = max |a - b| / max(floor, max(|a| + |b|))   (one number per tensor, floored)

Everything runs in float64: with float32 the round-off of f (about 1e-7 relative) divided
by 2h swamps the O(h^2) truncation error, so checks are refused on float32 input.

On top of the core, :func:`check_gradients` checks a whole set of named tensors (parameters
*and* inputs: an input is just another named array) and returns a :class:`GradCheckResult`:

- **array-valued functions** are checked through a random projection: with an upstream
  gradient ``dout`` drawn from ``rng``, the scalar ``sum(f(x) * dout)`` has gradient
  ``J(x)^T dout``, exactly what a backward pass receiving ``dout`` must return;
- **sampling**: ``k`` distinct entries per tensor, drawn from ``rng``, for large tensors;
- **kinks**: entries whose ±h step crosses a point where the function is not differentiable
  (ReLU/step at 0) are skipped and counted, not failed. The centred difference straddles the
  kink there and measures neither one-sided slope;
- a per-tensor table (text and HTML), a ``.diagnosis()`` a student can act on, and
  ``.score(points)`` for partial credit.

:func:`check_layer` and :func:`check_model` apply the same machinery to nnkit layers and
``Sequential`` models.

Modules: the result types and their rendering are in :mod:`nnkit.gradcheck_results`, the
set-up (argument checks, the function under test, kinks, frozen layer state) in
:mod:`nnkit._gradcheck_setup`; everything public is importable from here.

Conventions
-----------
- The relative error of a tensor is ``rel_error(analytic, numeric, floor)`` over its checked
  entries: ``max|a - n| / max(floor, max(|a| + |n|))``. It is normalised by the tensor's
  largest entry, not entry by entry as CS231n's ``max(|a-n| / (|a|+|n|))``, and the floor
  grows with the round-off level ``eps * |f| / h`` of the numeric gradient (see
  :func:`check_gradients`), so gradients that are truly 0 do not fail on noise of size 1e-11.
  The *worst index* is the entry with the largest absolute discrepancy ``|a - n|``.
- A tensor passes when its relative error is ``<= threshold`` (default 1e-6).
- The check perturbs the arrays of ``params`` in place, one entry at a time, and writes the
  exact original value back (also when ``f`` raises), so ``f`` may read the arrays through the
  dict it is given or through its own references to the same arrays.
"""
from __future__ import annotations

import math
from dataclasses import replace
from typing import Callable, Mapping

import numpy as np

from ._gradcheck_setup import (
    Objective,
    StateSnapshot,
    activation_kinks,
    checked_params,
    checked_sampling,
    evaluate_analytic,
    layer_params,
    parsed_kinks,
    require_float64,
    resolve_loss,
    sample_entries,
)
from ._validate import as_array, check_positive, check_rng
from .gradcheck_results import GradCheckResult, TensorCheck, failed_row, fmt_index

__all__ = [
    "numerical_gradient",
    "numerical_gradient_array",
    "rel_error",
    "TensorCheck",
    "GradCheckResult",
    "check_gradients",
    "check_layer",
    "check_model",
    "CHAIN_RULE_ADVICE",
]

_FLOOR = 1e-8  # smallest denominator of a relative error (as in rel_error)
_NOISE_FACTOR = 32.0  # safety factor on the round-off estimate eps * |f| / h


# ----------------------------------------------------------------------------------------
# Numerical differences and relative error
# ----------------------------------------------------------------------------------------
def numerical_gradient(f, x: np.ndarray, h: float = 1e-5, index=None) -> np.ndarray:
    """Centred-difference gradient of a scalar function ``f`` at ``x``.

    Parameters
    ----------
    f : callable
        ``f(x) -> float``. It is called with ``x`` perturbed *in place* one entry at a time
        (the entry is restored afterwards, also when ``f`` raises), so ``f`` must read ``x``
        each call.
    x : ndarray of float64, any shape
    h : float
        Step. 1e-5 balances truncation error O(h^2) against round-off O(eps/h) in float64.
    index : iterable of index tuples, optional
        Check only these entries (others are left 0 in the result); default all entries.

    Returns
    -------
    grad : ndarray, same shape as ``x``.
    """
    require_float64(x, "x")
    grad = np.zeros_like(x)
    indices = np.ndindex(x.shape) if index is None else index
    for ix in indices:
        old = x[ix]
        try:
            x[ix] = old + h
            fp = float(f(x))
            x[ix] = old - h
            fm = float(f(x))
        finally:
            x[ix] = old  # the caller's x comes back bit for bit, even when f raises
        grad[ix] = (fp - fm) / (2 * h)
    return grad


def numerical_gradient_array(f, x: np.ndarray, dout: np.ndarray, h: float = 1e-5, index=None) -> np.ndarray:
    """Centred-difference vector-Jacobian product for an array-valued ``f``.

    Returns ``d/dx sum(f(x) * dout)``: the gradient a backward pass receiving upstream
    gradient ``dout`` should produce. Shapes: ``f(x)`` and ``dout`` alike; result like ``x``.
    """
    dout = as_array(dout, "dout", finite=True, allow_empty=True)
    return numerical_gradient(lambda z: np.sum(f(z) * dout), x, h=h, index=index)


def rel_error(a, b, floor: float = 1e-8) -> float:
    """Maximum relative error ``max|a-b| / max(floor, max(|a|+|b|))`` between two arrays.

    The floor keeps the ratio meaningful when both gradients are (near) zero.
    Rough scale in float64: < 1e-7 agrees; 1e-4..1e-2 suspicious; > 1e-2 wrong.
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"rel_error needs equal shapes; got {a.shape} and {b.shape}")
    if a.size == 0:
        return 0.0
    return float(np.max(np.abs(a - b)) / max(floor, float(np.max(np.abs(a) + np.abs(b)))))


# ----------------------------------------------------------------------------------------
# The check
# ----------------------------------------------------------------------------------------
CHAIN_RULE_ADVICE = "recheck the chain rule for this tensor, one local derivative at a time"


def _hint(name: str, a_full: np.ndarray, a: np.ndarray, n: np.ndarray, idx: list, err: float) -> str:
    """The cause of a mismatch, named only when the numbers confirm it (else generic advice).

    Each named cause is a test on the checked entries ``a`` (analytic) and ``n`` (numeric):
    all zeros; no dependence at all; the transpose matches; the analytic one is a constant
    multiple of the numeric one, over at least two entries that are not all equal (one entry,
    or a constant vector, is a multiple of anything). The ratio is named as a sign error, a
    factor 2 or an integer factor only when it is that number to 1e-6. Causes that need to
    know the model (a batch size N, an activation) are left to the caller, which can test them.
    """
    if not np.any(a) and np.any(n):
        return "the analytic gradient is all zeros here: is it computed, accumulated and returned?"
    if not np.any(n) and np.any(a):
        return (
            "the numeric gradient is zero: the function does not depend on this tensor. Does f read "
            "the arrays in params (not copies of them)? Is the tensor used in the forward pass?"
        )
    if a_full.ndim == 2 and a_full.shape[0] == a_full.shape[1] and a_full.shape[0] > 1:
        at = np.array([a_full.T[ix] for ix in idx])
        if rel_error(at, n) < 1e-5:
            return "its transpose matches: a transpose is missing or misplaced (W is (D_in, D_out), dW = x.T @ dout)"
    nn = float(np.dot(n, n))
    informative = len(n) >= 2 and not np.allclose(n, n[0], rtol=1e-6, atol=0.0)
    if nn > 0 and np.any(a) and informative:
        r = float(np.dot(a, n) / nn)
        if rel_error(a, r * n) < 1e-6 and abs(r - 1) > 1e-3:
            if abs(r + 1) < 1e-6:
                return "it has the wrong sign (check a minus sign: the loss gradient is prediction minus target)"
            if abs(r - 2) < 1e-6 or abs(r - 0.5) < 1e-6:
                return (
                    f"it is {r:g} times the numeric one: check a factor 1/2 (the 1/2 form of the squared "
                    "loss) or the 2 from differentiating a square"
                )
            big = r if abs(r) >= 1 else 1 / r
            if abs(big - round(big)) < 1e-6 * abs(big):
                return f"it is {r:.4g} times the numeric one: a missing or extra constant factor {abs(round(big))}"
            return f"it is {r:.4g} times the numeric one everywhere: a constant factor is wrong"
    if err < 1e-3:
        return (
            "the error is small: look for float32 somewhere, an eps in the wrong place, or a kink "
            "(ReLU/step at 0) the check was not told about (pass kinks=...)"
        )
    return CHAIN_RULE_ADVICE


def _analytic_array(name: str, shape: tuple, analytic: Mapping, threshold: float):
    """The analytic gradient of ``name`` as a float64 array of ``shape``, or the failed row saying why not."""
    if name not in analytic:
        return failed_row(name, shape, threshold, "no analytic gradient given",
                          "return a gradient for every parameter and input, keyed like params")
    try:
        a_full = np.asarray(analytic[name])
        if a_full.dtype.kind not in "fiub":
            raise TypeError
        a_full = a_full.astype(np.float64)
    except (TypeError, ValueError):
        return failed_row(name, shape, threshold, f"analytic gradient is not a numeric array (got {type(analytic[name]).__name__})")
    if a_full.shape != shape:
        hint = ""
        if a_full.ndim == len(shape) + 1 and a_full.shape[1:] == shape:
            if a_full.shape[0] == 1:
                hint = (f"it has a leading axis of length 1: {fmt_index(a_full.shape)} where {fmt_index(shape)} "
                        "is expected (sum without keepdims=True, or reshape)")
            else:
                hint = "it has an extra leading batch axis: sum it over the batch (axis 0)"
        elif a_full.ndim == 2 and a_full.shape[::-1] == shape:
            hint = "it has the transposed shape: a transpose is missing or misplaced"
        elif a_full.size == int(np.prod(shape)):
            hint = "same number of entries: check a reshape or transpose"
        return failed_row(name, shape, threshold,
                          f"analytic gradient has shape {fmt_index(a_full.shape)}, expected {fmt_index(shape)}", hint)
    if not np.all(np.isfinite(a_full)):
        bad = tuple(int(i) for i in np.argwhere(~np.isfinite(a_full))[0])
        return failed_row(name, shape, threshold,
                          f"analytic gradient is not finite ({a_full[bad]} at index {fmt_index(bad)})",
                          "look for an overflow (exp of a large number) or a division by zero")
    return a_full


def _check_tensor(name, arr, idx, analytic, objective: Objective, threshold: float, kink_points) -> TensorCheck:
    """One row: the analytic gradient of ``name`` against centred differences at the entries ``idx``."""
    shape = arr.shape
    a_full = _analytic_array(name, shape, analytic, threshold)
    if isinstance(a_full, TensorCheck):
        return a_full
    checked, a_vals, n_vals, n_skipped = [], [], [], 0
    magnitude = 0.0
    for ix in idx:
        if kink_points is not None and np.any(np.abs(arr[ix] - kink_points) <= objective.h):
            n_skipped += 1
            continue
        num, mag = objective.centred_difference(arr, ix)
        if num is None:  # the step crossed a kink of a pre-activation
            n_skipped += 1
            continue
        magnitude = max(magnitude, mag)
        if not math.isfinite(num):
            return failed_row(name, shape, threshold,
                              f"f is not finite near index {fmt_index(ix)}, so no numeric gradient exists there",
                              "the function itself overflows: use a stable form (log-sum-exp, clipping)")
        checked.append(ix)
        a_vals.append(a_full[ix])
        n_vals.append(num)
    if not checked:
        return TensorCheck(name, tuple(shape), 0.0, None, math.nan, math.nan, True, 0, n_skipped, threshold)
    a = np.array(a_vals)
    n = np.array(n_vals)
    # Round-off in f (about eps * |f| per evaluation) becomes eps * |f| / h in the numeric
    # gradient; differences below that cannot be seen, so the floor never lets them fail.
    noise = _NOISE_FACTOR * np.finfo(np.float64).eps * magnitude / objective.h
    floor = max(_FLOOR, noise / threshold)
    err = rel_error(a, n, floor=floor)
    w = int(np.argmax(np.abs(a - n)))
    ok = err <= threshold
    return TensorCheck(
        name=name, shape=tuple(shape), max_rel_error=err, worst_index=checked[w],
        analytic=float(a[w]), numeric=float(n[w]), passed=ok, n_checked=len(checked),
        n_skipped_near_kink=n_skipped, threshold=threshold, floor=floor,
        hint="" if ok else _hint(name, a_full, a, n, checked, err),
    )


def check_gradients(
    f: Callable,
    params: Mapping[str, np.ndarray],
    analytic,
    *,
    h: float = 1e-5,
    threshold: float = 1e-6,
    k: int | None = None,
    rng: np.random.Generator | None = None,
    kinks=None,
    dout: np.ndarray | None = None,
) -> GradCheckResult:
    """Compare analytic gradients with centred differences, tensor by tensor.

    Parameters
    ----------
    f : callable
        ``f(params) -> float`` or ``-> ndarray`` (or ``f()`` with no argument, reading the same
        arrays). The arrays in ``params`` are perturbed in place, one entry at a time.
    params : dict name -> ndarray of float64
        Every tensor to check: weights, biases *and* inputs (an input ``x`` is just another
        named array). float32 is refused (TypeError): see the module docstring.
    analytic : dict name -> ndarray, or callable ``dout -> dict``
        The gradients under test, keyed like ``params`` and shaped like them. For an
        array-valued ``f`` pass a callable: it receives the upstream gradient ``dout`` and
        returns the vector-Jacobian products ``{name: J_name^T dout}`` (what a backward pass
        given ``dout`` returns). For a scalar ``f`` a callable receives ``dout = 1.0``.
        A missing name, a wrong shape or a NaN/Inf fails that row with the reason.
    h : float
        Centred-difference step, default 1e-5.
    threshold : float
        A tensor passes when its relative error is ``<= threshold`` (default 1e-6).
    k : int, optional
        Check ``k`` distinct entries per tensor, drawn without replacement from ``rng``
        (all entries of tensors with ``size <= k``). Default: every entry.
    rng : numpy.random.Generator, optional
        Required when ``k`` is given or ``f`` is array-valued (and ``dout`` is not given).
        Draw order: ``dout`` first (``rng.standard_normal(out.shape)``), then the sampled
        entries tensor by tensor in ``params`` order.
    kinks : dict or callable, optional
        Where ``f`` is not differentiable; entries whose ±h step crosses a kink are skipped
        and counted in ``n_skipped_near_kink`` (never failed).

        - ``{"x": (0.0,)}``: the kinks lie in the values of ``params["x"]`` itself (an
          elementwise ReLU/step of x); entries with ``|x_i - c| <= h`` are skipped.
        - ``callable(params) -> ndarray or list of ndarrays``: pre-activations shifted so each
          kink sits at 0 (e.g. ``lambda p: p["x"] @ p["W"] + p["b"]`` for a ReLU layer). An
          entry is skipped when a ±h step changes the sign (-, 0, +) of any pre-activation.
    dout : ndarray, optional
        Upstream gradient for an array-valued ``f`` (shape of ``f``'s output); drawn from
        ``rng`` when omitted.

    Returns
    -------
    GradCheckResult
        One row per name in ``params``, in order. ``result.dout`` holds the projection used.

    Notes
    -----
    numeric_i = (f(theta + h e_i) - f(theta - h e_i)) / ((theta_i + h) - (theta_i - h)): the
    denominator is the step actually taken in floating point.

    The relative error of a tensor is ``max|a - n| / max(floor, max(|a| + |n|))`` over its
    checked entries, with ``floor = max(1e-8, noise / threshold)`` and
    ``noise = 32 * eps * F / h`` the round-off level of the numeric gradient (``eps`` = 2.2e-16,
    ``F`` the largest ``|f|`` seen, or ``sum|f * dout|`` for a projection). So a tensor passes
    when it agrees to ``threshold`` relatively *or* to within the numeric gradient's own
    round-off. Without this, a gradient that is truly zero (a bias before BatchNorm) would fail
    on noise of size 1e-11.

    Examples
    --------
    >>> x = np.array([0.5, -1.0]); W = np.array([[1.0], [2.0]])
    >>> f = lambda p: float(np.sum(np.tanh(p["x"] @ p["W"])))
    >>> g = 1 - np.tanh(x @ W) ** 2
    >>> res = check_gradients(f, {"x": x, "W": W}, {"x": W @ g, "W": np.outer(x, g)})
    >>> res.passed
    True
    """
    params = checked_params(params)
    h = check_positive(h, "h")
    threshold = check_positive(threshold, "threshold")
    k = checked_sampling(k, rng)
    if not callable(f):
        raise TypeError(f"f must be callable; got {type(f).__name__}")
    kink_points, kink_fn = parsed_kinks(kinks, params)
    objective = Objective(f, params, h, kink_fn, dout, rng)  # one base evaluation; draws dout first
    ana = evaluate_analytic(analytic, objective.dout_arg)
    extra = [name for name in ana if name not in params]
    if extra:
        raise ValueError(f"analytic has gradients for names not in params: {extra}; params: {list(params)}")
    rows = []
    for name, arr in params.items():
        # Sampling happens before the analytic gradient is inspected, so the draws from rng
        # do not depend on whether the gradient under test is well formed.
        idx = sample_entries(arr.shape, k, rng)
        rows.append(_check_tensor(name, arr, idx, ana, objective, threshold, kink_points.get(name)))
    return GradCheckResult(rows=rows, threshold=threshold, h=h, dout=objective.proj)


# ----------------------------------------------------------------------------------------
# Layers and models (the Layer / Sequential interface of nnkit.layers and nnkit.model)
# ----------------------------------------------------------------------------------------
def check_layer(
    layer,
    x,
    rng: np.random.Generator,
    *,
    h: float = 1e-5,
    threshold: float = 1e-6,
    k: int | None = None,
    training: bool = True,
    kinks="auto",
    dout: np.ndarray | None = None,
) -> GradCheckResult:
    """Gradient-check a layer's ``backward`` against its ``forward``, for the input and every parameter.

    The layer follows the nnkit Layer interface: ``layer.params`` (dict name -> array, the
    layer's own arrays), ``layer.forward(x, training) -> (out, cache)`` and
    ``layer.backward(dout, cache) -> (dx, grads)``. The output is projected onto a random
    upstream gradient ``dout ~ N(0, 1)`` of the output's shape, drawn from ``rng``, so the check
    compares ``backward(dout)`` with the numerical gradient of ``sum(forward(x) * dout)``.

    Parameters
    ----------
    layer : Layer
        Its parameters must be float64. Dropout masks and BatchNorm running statistics are
        frozen during the check and restored afterwards: the layer is left as it was.
    x : ndarray of float64, shape (N, ...)
        Input (copied; named ``"x"`` in the result, its gradient ``dx``).
    rng : numpy.random.Generator
        Draws ``dout``, then the sampled entries (when ``k`` is given).
    h, threshold, k
        As in :func:`check_gradients`.
    training : bool
        Mode passed to ``forward`` (default True: the backward pass is a training-time thing).
    kinks : "auto", None, dict or callable
        "auto": for an Activation layer with kinks (ReLU, leaky ReLU, step) entries of x whose
        ±h step crosses a kink are skipped; nothing is skipped for other layers. None turns
        detection off; a dict or callable is passed to :func:`check_gradients`.
    dout : ndarray, optional
        Fix the upstream gradient instead of drawing it.

    Returns
    -------
    GradCheckResult with rows ``x`` then the layer's parameters in order.
    """
    check_rng(rng)
    if not isinstance(x, np.ndarray):
        x = as_array(x, "x")
    require_float64(x, "x")
    x = as_array(x, "x").copy()
    params = layer_params(layer)
    if "x" in params:
        raise ValueError("the layer has a parameter named 'x', which clashes with the input's name")
    for name, arr in params.items():
        require_float64(np.asarray(arr), f"layer.params[{name!r}]")
    tensors = {"x": x, **params}
    snap = StateSnapshot([layer], params.values())

    def f(p):
        snap.restore()
        out, _ = layer.forward(p["x"], training=training)
        return out

    def analytic(d):
        snap.restore()
        _, cache = layer.forward(x, training=training)
        dx, grads = layer.backward(d, cache)
        return {"x": dx, **dict(grads)}

    if isinstance(kinks, str):
        if kinks != "auto":
            raise ValueError(f"kinks must be 'auto', None, a dict or a callable; got {kinks!r}")
        pts = activation_kinks(layer)
        kinks = {"x": pts} if pts else None
    try:
        res = check_gradients(f, tensors, analytic, h=h, threshold=threshold, k=k, rng=rng, kinks=kinks, dout=dout)
        return _confirm_bias_slips(res, analytic)
    finally:
        snap.restore()


def _confirm_bias_slips(res: GradCheckResult, analytic) -> GradCheckResult:
    """Name the two classic bias-gradient slips of a dense layer when the numbers show them.

    A 1-D parameter whose gradient equals one row of the upstream gradient was not summed over
    the batch; one that equals the row mean was averaged where it should be summed.
    """
    dout = res.dout
    if dout is None or dout.ndim != 2 or dout.shape[0] < 2:
        return res
    failed = [r for r in res.rows if not r.passed and not r.reason and r.name != "x"
              and r.shape == (dout.shape[1],)]
    if not failed:
        return res
    grads = analytic(dout)
    rows = list(res.rows)
    for r in failed:
        got = np.asarray(grads.get(r.name), dtype=np.float64)
        if got.shape != r.shape:
            continue
        hint = ""
        same_row = [i for i in range(dout.shape[0]) if rel_error(got, dout[i]) < 1e-9]
        if same_row:
            hint = (f"it equals the upstream gradient of sample {same_row[0]} alone: the bias gradient "
                    "sums the upstream gradient over the batch (axis 0)")
        elif rel_error(got, dout.mean(axis=0)) < 1e-9:
            hint = "it is the batch mean of the upstream gradient: the bias gradient is its sum over axis 0"
        if hint:
            rows[rows.index(r)] = replace(r, hint=hint)
    return replace(res, rows=rows)


def check_model(
    model,
    x,
    y,
    loss,
    *,
    h: float = 1e-5,
    threshold: float = 1e-6,
    k: int | None = None,
    rng: np.random.Generator | None = None,
    training: bool = True,
    include_input: bool = False,
    kinks="auto",
) -> GradCheckResult:
    """Gradient-check a whole model: ``model.backward`` against the loss computed by ``model.forward``.

    Checks ``dL/dtheta`` for every parameter in ``model.params`` (names ``W1``, ``b1``, ...),
    where ``L = loss(model.forward(x)[0], y)`` and the analytic gradients come from
    ``model.backward(loss_grad(out, y), cache)``.

    Parameters
    ----------
    model : Sequential
        Parameters must be float64. Dropout masks and BatchNorm running statistics are frozen
        during the check and restored afterwards: the model is left as it was.
    x : ndarray of float64, shape (N, D)
    y : ndarray
        Targets in the form the loss expects (integer labels or one-hot for softmax
        cross-entropy).
    loss : str, Loss or (fn, grad)
        A name from ``nnkit.losses.LOSSES`` (e.g. ``"softmax_cross_entropy"``), an object with
        ``.fn``/``.grad``, or a pair of callables ``(fn(y_pred, y_true), grad(y_pred, y_true))``.
    h, threshold, k, rng
        As in :func:`check_gradients` (``rng`` is needed only with ``k``).
    training : bool
        Mode passed to ``forward`` (default True).
    include_input : bool
        Also check ``dL/dx`` (row ``"x"``).
    kinks : "auto", None, dict or callable
        "auto": entries whose ±h step moves any pre-activation of a ReLU/leaky-ReLU/step layer
        across its kink are skipped. None turns detection off.

    Returns
    -------
    GradCheckResult, one row per parameter (then ``x`` when ``include_input``).
    """
    if not isinstance(x, np.ndarray):
        x = as_array(x, "x")
    require_float64(x, "x")
    x = as_array(x, "x").copy()
    loss_fn, loss_grad, _ = resolve_loss(loss)
    mparams = getattr(model, "params", None)
    if not isinstance(mparams, Mapping):
        raise TypeError(f"model must have a .params dict name -> array (Sequential); got {type(model).__name__}")
    params = dict(mparams)
    for name, arr in params.items():
        require_float64(np.asarray(arr), f"model.params[{name!r}]")
    layers = list(getattr(model, "layers", []) or [])
    tensors = dict(params)
    if include_input:
        if "x" in tensors:
            raise ValueError("the model has a parameter named 'x', which clashes with the input's name")
        tensors["x"] = x
    snap = StateSnapshot([model, *layers], params.values())
    kink_layers = {i: activation_kinks(layer) for i, layer in enumerate(layers)}
    kink_layers = {i: c for i, c in kink_layers.items() if c}
    auto = isinstance(kinks, str)
    if auto and kinks != "auto":
        raise ValueError(f"kinks must be 'auto', None, a dict or a callable; got {kinks!r}")
    captured: list = []

    def forward(xin):
        snap.restore()
        if auto and kink_layers:
            # Walk the layers ourselves to see the pre-activations of kinked activations.
            captured.clear()
            out = xin
            for i, layer in enumerate(layers):
                for c in kink_layers.get(i, ()):
                    captured.append(out - c)
                out, _ = layer.forward(out, training=training)
            return out
        out, _ = model.forward(xin, training=training)
        return out

    def f(p):
        return loss_fn(forward(p.get("x", x)), y)

    def analytic(_):
        snap.restore()
        out, cache = model.forward(x, training=training)
        dout = loss_grad(out, y)
        dx, grads = model.backward(dout, cache)
        grads = dict(grads)
        if include_input:
            grads["x"] = dx
        return grads

    if auto:
        # f fills `captured` on every call; check_gradients reads it right after.
        kinks = (lambda p: list(captured)) if kink_layers else None
    try:
        return check_gradients(f, tensors, analytic, h=h, threshold=threshold, k=k, rng=rng, kinks=kinks)
    finally:
        snap.restore()
