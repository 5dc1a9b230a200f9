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

import html
import inspect
import math
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Callable, Mapping

import numpy as np

from ._validate import as_array, check_positive, check_rng

__all__ = [
    "numerical_gradient",
    "numerical_gradient_array",
    "rel_error",
    "TensorCheck",
    "GradCheckResult",
    "check_gradients",
    "check_layer",
    "check_model",
]


def _require_float64(x: np.ndarray, name: str) -> None:
    if x.dtype != np.float64:
        raise TypeError(
            f"{name} must be float64 for a gradient check; got {x.dtype}. "
            "Centred differences in float32 lose about half their digits to round-off; "
            "convert with x.astype(np.float64)."
        )


def numerical_gradient(f, x: np.ndarray, h: float = 1e-5, index=None) -> np.ndarray:
    """Centred-difference gradient of a scalar function ``f`` at ``x``.

    Parameters
    ----------
    f : callable
        ``f(x) -> float``. It is called with ``x`` perturbed *in place* one entry at a time
        (the entry is restored afterwards), so ``f`` must read ``x`` each call.
    x : ndarray of float64, any shape
    h : float
        Step. 1e-5 balances truncation error O(h^2) against round-off O(eps/h) in float64.
    index : iterable of index tuples, optional
        Check only these entries (others are left 0 in the result); default all entries.

    Returns
    -------
    grad : ndarray, same shape as ``x``.
    """
    _require_float64(x, "x")
    grad = np.zeros_like(x)
    indices = np.ndindex(x.shape) if index is None else index
    for ix in indices:
        old = x[ix]
        x[ix] = old + h
        fp = float(f(x))
        x[ix] = old - h
        fm = float(f(x))
        x[ix] = old
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
# Structured results
# ----------------------------------------------------------------------------------------


_FLOOR = 1e-8  # smallest denominator of a relative error (as in rel_error)
_NOISE_FACTOR = 32.0  # safety factor on the round-off estimate eps * |f| / h


def _fmt_index(ix) -> str:
    if ix is None:
        return "-"
    return "(" + ", ".join(str(int(i)) for i in ix) + ("," if len(ix) == 1 else "") + ")"


def _fmt_num(v: float) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    return f"{v:.6g}"


def _fmt_err(v: float) -> str:
    if v is None or math.isnan(v):
        return "-"
    if math.isinf(v):
        return "inf"
    return f"{v:.2g}"


@dataclass(frozen=True)
class TensorCheck:
    """One row of a gradient check: how the gradient of one named tensor fared.

    Attributes
    ----------
    name : str
        Tensor name as given in ``params`` (the gradient is ``"d" + name``).
    shape : tuple of int
    max_rel_error : float
        ``rel_error(analytic, numeric)`` over the checked entries; ``inf`` when the analytic
        gradient is missing, has the wrong shape or is not finite; 0.0 when nothing was checked.
    worst_index : tuple of int or None
        Entry with the largest ``|analytic - numeric|`` (None when nothing was compared).
    analytic, numeric : float
        The two gradient values at ``worst_index`` (NaN when not available).
    passed : bool
        ``max_rel_error <= threshold``.
    n_checked : int
        Entries compared (after sampling and kink skipping).
    n_skipped_near_kink : int
        Sampled entries skipped because their ±h step crossed a kink.
    threshold : float
    floor : float
        Floor of the denominator of the relative error (see :func:`check_gradients`, Notes).
    reason : str
        Why the row failed before any comparison ("no analytic gradient given", shape...), or "".
    hint : str
        A suggestion for a failed row (empty when the row passed).
    """

    name: str
    shape: tuple
    max_rel_error: float
    worst_index: tuple | None
    analytic: float
    numeric: float
    passed: bool
    n_checked: int
    n_skipped_near_kink: int
    threshold: float
    reason: str = ""
    hint: str = ""
    floor: float = 1e-8

    def message(self) -> str:
        """One line for a student: what is wrong with this gradient and what to try."""
        d = "d" + self.name
        if self.passed:
            if self.n_checked == 0:
                return f"{d}: not checked (all {self.n_skipped_near_kink} sampled entries are within h of a kink)"
            return f"{d}: OK (relative error {_fmt_err(self.max_rel_error)} <= {self.threshold:g})"
        if self.reason:
            msg = f"{d}: {self.reason}"
        else:
            msg = (
                f"{d}: relative error {_fmt_err(self.max_rel_error)} at index {_fmt_index(self.worst_index)}, "
                f"analytic {_fmt_num(self.analytic)} vs numeric {_fmt_num(self.numeric)} "
                f"(expected <= {self.threshold:g})"
            )
        if self.hint:
            msg += f"; {self.hint}"
        return msg


@dataclass
class GradCheckResult:
    """The outcome of a gradient check: one :class:`TensorCheck` row per named tensor.

    ``result.passed`` (all rows), ``result.fraction_passed``, ``result.score(points)``,
    ``result["W1"]`` (a row), ``print(result)`` (text table), a notebook renders
    ``_repr_html_``, ``result.diagnosis()`` explains the failures, ``result.to_records()``
    gives plain dicts (for a grader or a DataFrame).
    """

    rows: list
    threshold: float
    h: float
    dout: np.ndarray | None = field(default=None, repr=False)

    # -- summary ------------------------------------------------------------------------
    @property
    def passed(self) -> bool:
        """True when every tensor's gradient passed."""
        return all(r.passed for r in self.rows)

    @property
    def fraction_passed(self) -> float:
        """Fraction of tensors (rows) whose gradient passed, in [0, 1]."""
        if not self.rows:
            return 1.0
        return sum(r.passed for r in self.rows) / len(self.rows)

    def score(self, points: float) -> float:
        """Partial credit: ``points * fraction_passed`` (each tensor weighs the same)."""
        points = float(points)
        if not math.isfinite(points) or points < 0:
            raise ValueError(f"points must be a finite number >= 0; got {points}")
        return points * self.fraction_passed

    @property
    def max_rel_error(self) -> float:
        """Largest relative error over all rows."""
        return max((r.max_rel_error for r in self.rows), default=0.0)

    @property
    def failed(self) -> list:
        """The rows that failed."""
        return [r for r in self.rows if not r.passed]

    # -- access -------------------------------------------------------------------------
    def __getitem__(self, name: str) -> TensorCheck:
        for r in self.rows:
            if r.name == name:
                return r
        raise KeyError(f"no tensor named {name!r}; tensors: {', '.join(r.name for r in self.rows)}")

    def __iter__(self):
        return iter(self.rows)

    def __len__(self) -> int:
        return len(self.rows)

    def __bool__(self) -> bool:
        return self.passed

    def to_records(self) -> list:
        """Rows as plain dicts (JSON-friendly apart from tuples)."""
        return [asdict(r) for r in self.rows]

    # -- rendering ----------------------------------------------------------------------
    _HEAD = ("tensor", "shape", "max rel error", "worst index", "analytic", "numeric", "checked", "near kink", "status")

    def _cells(self, r: TensorCheck) -> tuple:
        status = "PASS" if r.passed else "FAIL"
        err = _fmt_err(r.max_rel_error) if r.n_checked or r.reason else "-"
        return (
            "d" + r.name,
            _fmt_index(r.shape) if r.shape != () else "()",
            err,
            _fmt_index(r.worst_index),
            _fmt_num(r.analytic),
            _fmt_num(r.numeric),
            str(r.n_checked),
            str(r.n_skipped_near_kink),
            status,
        )

    def table(self) -> str:
        """A fixed-width text table, one row per tensor, then a summary line."""
        body = [self._HEAD] + [self._cells(r) for r in self.rows]
        widths = [max(len(row[i]) for row in body) for i in range(len(self._HEAD))]
        lines = []
        for j, row in enumerate(body):
            cells = (c.ljust(w) if i in (0, 3, 8) else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths)))
            lines.append("  ".join(cells).rstrip())
            if j == 0:
                lines.append("  ".join("-" * w for w in widths))
        n_pass = sum(r.passed for r in self.rows)
        lines.append(
            f"{n_pass}/{len(self.rows)} gradients pass at threshold {self.threshold:g} (h = {self.h:g})"
        )
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.table()

    def __repr__(self) -> str:
        return (
            f"GradCheckResult(passed={self.passed}, fraction_passed={self.fraction_passed:.3g}, "
            f"tensors=[{', '.join(r.name for r in self.rows)}], threshold={self.threshold:g})"
        )

    def _repr_html_(self) -> str:
        head = "".join(f"<th>{html.escape(h)}</th>" for h in self._HEAD)
        rows = []
        for r in self.rows:
            cells = self._cells(r)
            colour = "#e6f4ea" if r.passed else "#fce8e6"
            tds = "".join(
                f"<td style='text-align:{'left' if i in (0, 3, 8) else 'right'}'>{html.escape(c)}</td>"
                for i, c in enumerate(cells)
            )
            title = html.escape(r.message(), quote=True)
            rows.append(f"<tr style='background:{colour}' title=\"{title}\">{tds}</tr>")
        n_pass = sum(r.passed for r in self.rows)
        caption = html.escape(f"Gradient check: {n_pass}/{len(self.rows)} pass at threshold {self.threshold:g} (h = {self.h:g})")
        out = (
            "<table class='nnkit-gradcheck'>"
            f"<caption style='text-align:left'>{caption}</caption>"
            f"<thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
        )
        if not self.passed:
            items = "".join(f"<li>{html.escape(r.message())}</li>" for r in self.failed)
            out += f"<ul class='nnkit-gradcheck-diagnosis'>{items}</ul>"
        return out

    def diagnosis(self) -> str:
        """What failed and what to try, one line per failed tensor (or a one-line all-clear)."""
        if self.passed:
            skipped = sum(r.n_skipped_near_kink for r in self.rows)
            extra = f"; {skipped} entries near a kink were skipped" if skipped else ""
            return (
                f"All {len(self.rows)} gradients match (max relative error "
                f"{_fmt_err(self.max_rel_error)} <= {self.threshold:g}){extra}."
            )
        return "\n".join(r.message() for r in self.failed)


# ----------------------------------------------------------------------------------------
# The check
# ----------------------------------------------------------------------------------------


def _call_style(f) -> bool:
    """True when ``f`` takes the params dict, False when it takes no argument."""
    try:
        sig = inspect.signature(f)
    except (TypeError, ValueError):
        return True
    for p in sig.parameters.values():
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.VAR_POSITIONAL):
            return True
    return False


def _as_preacts(z) -> list:
    if z is None:
        return []
    if isinstance(z, np.ndarray):
        return [z]
    if isinstance(z, (list, tuple)):
        return [np.asarray(a, dtype=np.float64) for a in z]
    return [np.asarray(z, dtype=np.float64)]


def _sides(zs: list) -> list:
    # Side of the kink (at 0): -1, 0 or +1, elementwise.
    return [np.sign(z) for z in zs]


def _crossed(s0: list, sp: list, sm: list) -> bool:
    for a, b, c in zip(s0, sp, sm):
        if a.shape != b.shape or a.shape != c.shape:
            return True  # the pre-activations changed shape: treat as non-smooth
        if not (np.array_equal(a, b) and np.array_equal(a, c)):
            return True
    return False


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


def _fail_row(name, shape, threshold, reason, hint="") -> TensorCheck:
    return TensorCheck(
        name=name, shape=tuple(shape), max_rel_error=math.inf, worst_index=None, analytic=math.nan,
        numeric=math.nan, passed=False, n_checked=0, n_skipped_near_kink=0, threshold=threshold,
        reason=reason, hint=hint,
    )


def _validate_params(params) -> dict:
    if not isinstance(params, Mapping):
        raise TypeError(
            "params must be a dict name -> float64 ndarray (the tensors to check, inputs included); "
            f"got {type(params).__name__}"
        )
    if not params:
        raise ValueError("params is empty; expected at least one named tensor to check")
    for name, arr in params.items():
        if not isinstance(name, str):
            raise TypeError(f"params keys must be str names; got {name!r}")
        if not isinstance(arr, np.ndarray):
            raise TypeError(
                f"params[{name!r}] must be a float64 ndarray (it is perturbed in place); got {type(arr).__name__}"
            )
        _require_float64(arr, f"params[{name!r}]")
        if not arr.flags.writeable:
            raise ValueError(f"params[{name!r}] is read-only; the check perturbs it in place (pass a copy)")
        as_array(arr, f"params[{name!r}]", finite=True, allow_empty=True)
    return dict(params)


def _evaluate_analytic(analytic, dout):
    if callable(analytic) and not isinstance(analytic, Mapping):
        analytic = analytic(dout)
    if not isinstance(analytic, Mapping):
        raise TypeError(
            f"analytic must be a dict name -> gradient array (or a callable dout -> such a dict); got {type(analytic).__name__}"
        )
    return analytic


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
    params = _validate_params(params)
    h = check_positive(h, "h")
    threshold = check_positive(threshold, "threshold")
    if k is not None:
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
            raise ValueError(f"k must be a positive int (entries sampled per tensor) or None; got {k!r}")
        if rng is None:
            raise TypeError("k was given, so rng is required: pass rng=numpy.random.default_rng(seed) to sample entries")
        k = int(k)
    if rng is not None:
        check_rng(rng)
    if not callable(f):
        raise TypeError(f"f must be callable; got {type(f).__name__}")

    kink_points: dict = {}
    kink_fn = None
    if kinks is not None:
        if callable(kinks) and not isinstance(kinks, Mapping):
            kink_fn = kinks
        elif isinstance(kinks, Mapping):
            for name, pts in kinks.items():
                if name not in params:
                    raise KeyError(f"kinks names {name!r}, which is not in params ({', '.join(params)})")
                pts = np.atleast_1d(np.asarray(pts, dtype=np.float64))
                if pts.ndim != 1 or not np.all(np.isfinite(pts)):
                    raise ValueError(f"kinks[{name!r}] must be a tuple of finite numbers; got {kinks[name]!r}")
                kink_points[name] = pts
        else:
            raise TypeError(f"kinks must be a dict name -> kink points, or a callable params -> pre-activations; got {type(kinks).__name__}")

    takes_params = _call_style(f)

    def evaluate():
        return f(params) if takes_params else f()

    # Base evaluation: scalar or array-valued?
    out0 = np.asarray(evaluate())
    base_sides = _sides(_as_preacts(kink_fn(params))) if kink_fn is not None else []
    if out0.dtype.kind not in "fiu":
        raise TypeError(f"f must return a number or a numeric array; got dtype {out0.dtype}")
    if out0.ndim == 0:
        if dout is not None:
            raise ValueError("dout was given but f returns a scalar; dout is only for array-valued f")
        proj = None
        dout_arg = 1.0
    else:
        if dout is None:
            if rng is None:
                raise TypeError(
                    f"f returns an array of shape {out0.shape}: the check projects it onto a random upstream "
                    "gradient dout, so pass rng=numpy.random.default_rng(seed) (or dout=...)"
                )
            proj = rng.standard_normal(out0.shape)
        else:
            proj = as_array(dout, "dout", dtype=np.float64)
            if proj.shape != out0.shape:
                raise ValueError(f"dout must have the shape of f's output {out0.shape}; got {proj.shape}")
        dout_arg = proj

    def scalar() -> tuple[float, float]:
        """(value, magnitude): magnitude sizes the round-off in value (sum |terms| for a projection)."""
        out = evaluate()
        if proj is None:
            v = float(out)
            return v, abs(v)
        out = np.asarray(out)
        if out.shape != proj.shape:
            raise ValueError(f"f's output changed shape from {proj.shape} to {out.shape} under a perturbation")
        terms = out * proj
        return float(np.sum(terms)), float(np.sum(np.abs(terms)))

    def preacts() -> list:
        return _sides(_as_preacts(kink_fn(params))) if kink_fn is not None else []

    ana = _evaluate_analytic(analytic, dout_arg)
    extra = [name for name in ana if name not in params]
    if extra:
        raise ValueError(f"analytic has gradients for names not in params: {extra}; params: {list(params)}")

    rows = []
    for name, arr in params.items():
        shape = arr.shape
        # Sampling happens before the analytic gradient is inspected, so the draws from rng
        # do not depend on whether the gradient under test is well formed.
        if k is not None and arr.size > k:
            flat = np.sort(rng.choice(arr.size, size=k, replace=False))
            idx = [tuple(int(i) for i in np.unravel_index(j, shape)) for j in flat]
        else:
            idx = [tuple(int(i) for i in ix) for ix in np.ndindex(shape)]

        if name not in ana:
            rows.append(_fail_row(name, shape, threshold, "no analytic gradient given",
                                  "return a gradient for every parameter and input, keyed like params"))
            continue
        try:
            a_full = np.asarray(ana[name])
            if a_full.dtype.kind not in "fiub":
                raise TypeError
            a_full = a_full.astype(np.float64)
        except (TypeError, ValueError):
            rows.append(_fail_row(name, shape, threshold, f"analytic gradient is not a numeric array (got {type(ana[name]).__name__})"))
            continue
        if a_full.shape != shape:
            hint = ""
            if a_full.ndim == len(shape) + 1 and a_full.shape[1:] == shape:
                if a_full.shape[0] == 1:
                    hint = (f"it has a leading axis of length 1: {_fmt_index(a_full.shape)} where {_fmt_index(shape)} "
                            "is expected (sum without keepdims=True, or reshape)")
                else:
                    hint = "it has an extra leading batch axis: sum it over the batch (axis 0)"
            elif a_full.ndim == 2 and a_full.shape[::-1] == shape:
                hint = "it has the transposed shape: a transpose is missing or misplaced"
            elif a_full.size == int(np.prod(shape)):
                hint = "same number of entries: check a reshape or transpose"
            rows.append(_fail_row(name, shape, threshold,
                                  f"analytic gradient has shape {_fmt_index(a_full.shape)}, expected {_fmt_index(shape)}", hint))
            continue
        if not np.all(np.isfinite(a_full)):
            bad = tuple(int(i) for i in np.argwhere(~np.isfinite(a_full))[0])
            rows.append(_fail_row(name, shape, threshold,
                                  f"analytic gradient is not finite ({a_full[bad]} at index {_fmt_index(bad)})",
                                  "look for an overflow (exp of a large number) or a division by zero"))
            continue

        pts = kink_points.get(name)
        checked, a_vals, n_vals, n_skipped = [], [], [], 0
        magnitude = 0.0
        nonfinite_at = None
        for ix in idx:
            old = arr[ix]
            if pts is not None and np.any(np.abs(old - pts) <= h):
                n_skipped += 1
                continue
            xp, xm = old + h, old - h
            try:
                arr[ix] = xp
                fp, mp = scalar()
                sp = preacts()
                arr[ix] = xm
                fm, mm = scalar()
                sm = preacts()
            finally:
                arr[ix] = old
            if kink_fn is not None and _crossed(base_sides, sp, sm):
                n_skipped += 1
                continue
            num = (fp - fm) / (xp - xm)
            magnitude = max(magnitude, mp, mm)
            if not math.isfinite(num):
                nonfinite_at = ix
                break
            checked.append(ix)
            a_vals.append(a_full[ix])
            n_vals.append(num)
        if nonfinite_at is not None:
            rows.append(_fail_row(name, shape, threshold,
                                  f"f is not finite near index {_fmt_index(nonfinite_at)}, so no numeric gradient exists there",
                                  "the function itself overflows: use a stable form (log-sum-exp, clipping)"))
            continue
        if not checked:
            rows.append(TensorCheck(name, tuple(shape), 0.0, None, math.nan, math.nan, True, 0, n_skipped, threshold))
            continue
        a = np.array(a_vals)
        n = np.array(n_vals)
        # Round-off in f (about eps * |f| per evaluation) becomes eps * |f| / h in the numeric
        # gradient; differences below that cannot be seen, so the floor never lets them fail.
        noise = _NOISE_FACTOR * np.finfo(np.float64).eps * magnitude / h
        floor = max(_FLOOR, noise / threshold)
        err = rel_error(a, n, floor=floor)
        w = int(np.argmax(np.abs(a - n)))
        ok = err <= threshold
        rows.append(TensorCheck(
            name=name, shape=tuple(shape), max_rel_error=err, worst_index=checked[w],
            analytic=float(a[w]), numeric=float(n[w]), passed=ok, n_checked=len(checked),
            n_skipped_near_kink=n_skipped, threshold=threshold, floor=floor,
            hint="" if ok else _hint(name, a_full, a, n, checked, err),
        ))
    return GradCheckResult(rows=rows, threshold=threshold, h=h, dout=proj)


# ----------------------------------------------------------------------------------------
# Layers and models (the Layer / Sequential interface of nnkit.layers and nnkit.model)
# ----------------------------------------------------------------------------------------


class _StateSnapshot:
    """Freeze the hidden state of layers so that every evaluation of ``f`` sees the same one.

    A Dropout layer draws a fresh mask from its Generator on each forward pass and a BatchNorm
    layer in training mode updates its running statistics. For a finite-difference check the
    function must be deterministic, so before every evaluation the Generators' states and the
    non-parameter array attributes (running statistics) are put back as they were; at the end
    the objects are left exactly as found (the check consumes no random numbers).
    """

    def __init__(self, objects, param_arrays):
        params = [a for a in param_arrays if isinstance(a, np.ndarray)]
        self._gens, self._arrays = [], []
        seen = set()
        for obj in objects:
            for attr, val in list(getattr(obj, "__dict__", {}).items()):
                if isinstance(val, np.random.Generator):
                    if id(val) not in seen:
                        seen.add(id(val))
                        self._gens.append((val, val.bit_generator.state))
                elif isinstance(val, np.ndarray) and not any(np.may_share_memory(val, p) for p in params):
                    # never a parameter (or a view of one): those are what the check perturbs
                    self._arrays.append((obj, attr, val, val.copy()))

    def restore(self) -> None:
        for gen, state in self._gens:
            gen.bit_generator.state = state
        for obj, attr, orig, saved in self._arrays:
            if orig.flags.writeable:
                orig[...] = saved
            setattr(obj, attr, orig)


def _activation_kinks(layer) -> tuple:
    """Kink points of an nnkit Activation layer (empty for any other layer)."""
    try:
        from . import layers as _layers
        from . import activations as _act
    except ImportError:  # pragma: no cover - the sibling modules exist in the course
        return ()
    act_cls = getattr(_layers, "Activation", None)
    if act_cls is None or not isinstance(layer, act_cls):
        return ()
    name = getattr(layer, "name", None)
    try:
        return tuple(float(c) for c in _act.get_activation(name).kinks)
    except (ValueError, KeyError, TypeError, AttributeError):
        return ()


def _layer_params(layer) -> dict:
    params = getattr(layer, "params", None)
    if not isinstance(params, Mapping):
        raise TypeError(f"layer must have a .params dict name -> array (the Layer interface); got {type(layer).__name__}")
    return dict(params)


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
    _require_float64(x, "x")
    x = as_array(x, "x").copy()
    params = _layer_params(layer)
    if "x" in params:
        raise ValueError("the layer has a parameter named 'x', which clashes with the input's name")
    for name, arr in params.items():
        _require_float64(np.asarray(arr), f"layer.params[{name!r}]")
    tensors = {"x": x, **params}
    snap = _StateSnapshot([layer], params.values())

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
        pts = _activation_kinks(layer)
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


def _resolve_loss(loss):
    """``loss`` -> (fn(y_pred, y_true) -> float, grad(y_pred, y_true) -> array, name)."""
    if isinstance(loss, str):
        from .losses import get_loss

        obj = get_loss(loss)  # ValueError listing the choices
        return obj.fn, obj.grad, obj.name
    if isinstance(loss, tuple) and len(loss) == 2 and all(callable(c) for c in loss):
        return loss[0], loss[1], getattr(loss[0], "__name__", "loss")
    if callable(getattr(loss, "fn", None)) and callable(getattr(loss, "grad", None)):
        return loss.fn, loss.grad, getattr(loss, "name", "loss")
    raise TypeError(
        "loss must be a name from nnkit.losses.LOSSES, a Loss (with .fn and .grad) or a pair (fn, grad); "
        f"got {type(loss).__name__}"
    )


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
    _require_float64(x, "x")
    x = as_array(x, "x").copy()
    loss_fn, loss_grad, _ = _resolve_loss(loss)
    mparams = getattr(model, "params", None)
    if not isinstance(mparams, Mapping):
        raise TypeError(f"model must have a .params dict name -> array (Sequential); got {type(model).__name__}")
    params = dict(mparams)
    for name, arr in params.items():
        _require_float64(np.asarray(arr), f"model.params[{name!r}]")
    layers = list(getattr(model, "layers", []) or [])
    tensors = dict(params)
    if include_input:
        if "x" in tensors:
            raise ValueError("the model has a parameter named 'x', which clashes with the input's name")
        tensors["x"] = x
    snap = _StateSnapshot([model, *layers], params.values())
    kink_layers = {i: _activation_kinks(layer) for i, layer in enumerate(layers)}
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
