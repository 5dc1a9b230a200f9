"""Setting up a gradient check (used by :mod:`nnkit.gradcheck`).

What :func:`~nnkit.gradcheck.check_gradients` accepts and how it evaluates the function under
test: argument checks (float64 only), the sampled entries, the kinks to step around, the
function itself (called with or without ``params``, scalar or projected onto an upstream
gradient ``dout``, perturbed one entry at a time), and, for ``check_layer`` and
``check_model``, the layers' hidden state frozen between evaluations.
"""
from __future__ import annotations

import inspect
from typing import Callable, Mapping

import numpy as np

from ._validate import as_array, check_rng


def require_float64(x: np.ndarray, name: str) -> None:
    """Gradient checks run in float64 only (see :mod:`nnkit.gradcheck`)."""
    if x.dtype != np.float64:
        raise TypeError(
            f"{name} must be float64 for a gradient check; got {x.dtype}. "
            "Centred differences in float32 lose about half their digits to round-off; "
            "convert with x.astype(np.float64)."
        )


def checked_params(params) -> dict:
    """``params`` as a dict of writeable, finite float64 arrays (they are perturbed in place)."""
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
        require_float64(arr, f"params[{name!r}]")
        if not arr.flags.writeable:
            raise ValueError(f"params[{name!r}] is read-only; the check perturbs it in place (pass a copy)")
        as_array(arr, f"params[{name!r}]", finite=True, allow_empty=True)
    return dict(params)


def checked_sampling(k, rng):
    """``k`` (entries sampled per tensor) as an int or None; ``rng`` must come with it."""
    if k is not None:
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
            raise ValueError(f"k must be a positive int (entries sampled per tensor) or None; got {k!r}")
        if rng is None:
            raise TypeError("k was given, so rng is required: pass rng=numpy.random.default_rng(seed) to sample entries")
        k = int(k)
    if rng is not None:
        check_rng(rng)
    return k


def sample_entries(shape: tuple, k: int | None, rng) -> list:
    """The entries to check: ``k`` distinct ones drawn from ``rng`` (sorted), or all of them."""
    size = int(np.prod(shape))
    if k is not None and size > k:
        flat = np.sort(rng.choice(size, size=k, replace=False))
        return [tuple(int(i) for i in np.unravel_index(j, shape)) for j in flat]
    return [tuple(int(i) for i in ix) for ix in np.ndindex(shape)]


def parsed_kinks(kinks, params: Mapping) -> tuple[dict, Callable | None]:
    """``(kink points per tensor name, pre-activation function or None)`` from ``kinks``."""
    kink_points: dict = {}
    if kinks is None:
        return kink_points, None
    if callable(kinks) and not isinstance(kinks, Mapping):
        return kink_points, kinks
    if not isinstance(kinks, Mapping):
        raise TypeError(f"kinks must be a dict name -> kink points, or a callable params -> pre-activations; got {type(kinks).__name__}")
    for name, pts in kinks.items():
        if name not in params:
            raise KeyError(f"kinks names {name!r}, which is not in params ({', '.join(params)})")
        pts = np.atleast_1d(np.asarray(pts, dtype=np.float64))
        if pts.ndim != 1 or not np.all(np.isfinite(pts)):
            raise ValueError(f"kinks[{name!r}] must be a tuple of finite numbers; got {kinks[name]!r}")
        kink_points[name] = pts
    return kink_points, None


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


class Objective:
    """The function under test as the check sees it: a scalar, perturbed one entry at a time.

    Built with one base evaluation, which tells a scalar ``f`` from an array-valued one. An
    array-valued ``f`` is projected onto ``dout`` (given, or drawn from ``rng``): the scalar is
    ``sum(f * dout)``, whose gradient is the vector-Jacobian product a backward pass returns.

    Attributes
    ----------
    proj : ndarray or None
        The projection ``dout`` (None for a scalar ``f``).
    dout_arg : float or ndarray
        What an analytic callable receives: 1.0 for a scalar ``f``, else ``proj``.
    """

    def __init__(self, f: Callable, params: dict, h: float, kink_fn: Callable | None, dout, rng):
        self.f, self.params, self.h, self.kink_fn = f, params, h, kink_fn
        self.takes_params = _call_style(f)
        out0 = np.asarray(self.evaluate())
        self.base_sides = self.kink_sides()
        if out0.dtype.kind not in "fiu":
            raise TypeError(f"f must return a number or a numeric array; got dtype {out0.dtype}")
        if out0.ndim == 0:
            if dout is not None:
                raise ValueError("dout was given but f returns a scalar; dout is only for array-valued f")
            self.proj, self.dout_arg = None, 1.0
            return
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
        self.proj = self.dout_arg = proj

    def evaluate(self):
        return self.f(self.params) if self.takes_params else self.f()

    def kink_sides(self) -> list:
        return _sides(_as_preacts(self.kink_fn(self.params))) if self.kink_fn is not None else []

    def value(self) -> tuple[float, float]:
        """(value, magnitude): magnitude sizes the round-off in value (sum |terms| for a projection)."""
        out = self.evaluate()
        if self.proj is None:
            v = float(out)
            return v, abs(v)
        out = np.asarray(out)
        if out.shape != self.proj.shape:
            raise ValueError(f"f's output changed shape from {self.proj.shape} to {out.shape} under a perturbation")
        terms = out * self.proj
        return float(np.sum(terms)), float(np.sum(np.abs(terms)))

    def centred_difference(self, arr: np.ndarray, ix: tuple) -> tuple[float | None, float]:
        """``((f(x + h) - f(x - h)) / ((x + h) - (x - h)), magnitude)`` at entry ``ix`` of ``arr``.

        ``arr[ix]`` is put back exactly, also when ``f`` raises. The difference is None when the
        step crosses a kink of ``kink_fn`` (a pre-activation changes sign).
        """
        old, h = arr[ix], self.h
        xp, xm = old + h, old - h
        try:
            arr[ix] = xp
            fp, mp = self.value()
            sp = self.kink_sides()
            arr[ix] = xm
            fm, mm = self.value()
            sm = self.kink_sides()
        finally:
            arr[ix] = old
        if self.kink_fn is not None and _crossed(self.base_sides, sp, sm):
            return None, 0.0
        return (fp - fm) / (xp - xm), max(mp, mm)


def evaluate_analytic(analytic, dout) -> Mapping:
    """The gradients under test: ``analytic`` itself, or what the callable returns for ``dout``."""
    if callable(analytic) and not isinstance(analytic, Mapping):
        analytic = analytic(dout)
    if not isinstance(analytic, Mapping):
        raise TypeError(
            f"analytic must be a dict name -> gradient array (or a callable dout -> such a dict); got {type(analytic).__name__}"
        )
    return analytic


# ----------------------------------------------------------------------------------------
# layers and models: frozen hidden state, activation kinks, losses
# ----------------------------------------------------------------------------------------
class StateSnapshot:
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


def activation_kinks(layer) -> tuple:
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


def layer_params(layer) -> dict:
    params = getattr(layer, "params", None)
    if not isinstance(params, Mapping):
        raise TypeError(f"layer must have a .params dict name -> array (the Layer interface); got {type(layer).__name__}")
    return dict(params)


def resolve_loss(loss):
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
