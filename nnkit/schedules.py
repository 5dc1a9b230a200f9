"""Learning-rate schedules: small callables ``k -> learning rate``.

A schedule maps a step index ``k = 0, 1, 2, ...`` to a learning rate.  Whether ``k`` counts
epochs or mini-batch iterations is the caller's choice (``nnkit.training.fit`` calls it once per
epoch and assigns ``optimizer.lr = schedule(epoch)``).  Each schedule also accepts an array of
indices, which is handy for plotting::

    sched = inverse_time(c1=1.0, c2=10.0)
    sched(0)               # 0.1
    sched(np.arange(50))   # the whole curve

All three start large and shrink, so the first iterations make big changes to the weights and
later ones only fine-tune (slide 002).
"""
from __future__ import annotations

import numpy as np

from ._validate import check_int, check_positive, check_probability

__all__ = ["Schedule", "inverse_time", "step_decay", "exponential_decay", "SCHEDULES"]


def _check_index(k):
    """``k`` must be an int >= 0 or an integer array of them; returns (array, was_scalar)."""
    if isinstance(k, bool):
        raise TypeError(f"k must be an integer step index >= 0; got {k!r}")
    arr = np.asarray(k)
    if arr.dtype.kind not in "iu":
        if arr.dtype.kind == "f" and np.all(np.isfinite(arr)) and np.all(arr == np.round(arr)):
            arr = arr.astype(np.int64)
        else:
            raise TypeError(f"k must be an integer step index >= 0 (or an array of them); got {k!r}")
    if np.any(arr < 0):
        raise ValueError(f"k must be >= 0; got {k!r}")
    return arr, arr.ndim == 0


class Schedule:
    """Base class: ``schedule(k)`` returns a float for an int ``k`` and an array for an array."""

    def _rate(self, k: np.ndarray) -> np.ndarray:  # pragma: no cover
        raise NotImplementedError

    def __call__(self, k):
        arr, scalar = _check_index(k)
        rate = self._rate(arr.astype(np.float64))
        return float(rate) if scalar else rate

    def _args(self) -> dict:  # pragma: no cover
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}(" + ", ".join(f"{k}={v!r}" for k, v in self._args().items()) + ")"

    def __eq__(self, other) -> bool:
        return type(self) is type(other) and self._args() == other._args()

    def __hash__(self) -> int:
        return hash((type(self).__name__, tuple(self._args().items())))


class inverse_time(Schedule):
    """Inverse-time decay ``alpha_k = c1 / (k + c2)`` (slide 002).

    Parameters
    ----------
    c1 : float > 0
        Scale.
    c2 : float > 0
        Offset; the first rate is ``alpha_0 = c1 / c2`` and the rate halves by ``k = c2``.

    Notes
    -----
    The rates sum to infinity while their squares have a finite sum: the Robbins-Monro
    conditions under which SGD provably converges.  Keras's ``InverseTimeDecay(lr0, decay_steps,
    decay_rate)`` is the same curve with ``lr0 = c1/c2`` and ``decay_rate/decay_steps = 1/c2``.
    """

    def __init__(self, c1, c2):
        self.c1 = check_positive(c1, "c1")
        self.c2 = check_positive(c2, "c2")

    def _args(self):
        return {"c1": self.c1, "c2": self.c2}

    def _rate(self, k):
        return self.c1 / (k + self.c2)


class step_decay(Schedule):
    """Step decay ``alpha_k = lr0 * factor ** floor(k / every)``.

    Parameters
    ----------
    lr0 : float > 0
        Rate for ``k = 0 .. every-1``.
    factor : float in (0, 1]
        Multiplier applied every ``every`` steps (0.5 halves the rate).
    every : int >= 1
        Steps between drops.  Same as ``torch.optim.lr_scheduler.StepLR(step_size=every,
        gamma=factor)`` when ``k`` counts epochs.
    """

    def __init__(self, lr0, factor, every):
        self.lr0 = check_positive(lr0, "lr0")
        self.factor = check_probability(factor, "factor", low_open=True)
        self.every = check_int(every, "every", 1)

    def _args(self):
        return {"lr0": self.lr0, "factor": self.factor, "every": self.every}

    def _rate(self, k):
        return self.lr0 * self.factor ** np.floor(k / self.every)


class exponential_decay(Schedule):
    """Exponential decay ``alpha_k = lr0 * gamma ** k``.

    Parameters
    ----------
    lr0 : float > 0
        Rate at ``k = 0``.
    gamma : float in (0, 1]
        Multiplier per step (``torch.optim.lr_scheduler.ExponentialLR(gamma)``).  The rate halves
        every ``log(0.5)/log(gamma)`` steps.
    """

    def __init__(self, lr0, gamma):
        self.lr0 = check_positive(lr0, "lr0")
        self.gamma = check_probability(gamma, "gamma", low_open=True)

    def _args(self):
        return {"lr0": self.lr0, "gamma": self.gamma}

    def _rate(self, k):
        return self.lr0 * self.gamma**k


SCHEDULES: dict[str, type[Schedule]] = {
    "inverse_time": inverse_time,
    "step_decay": step_decay,
    "exponential_decay": exponential_decay,
}
"""Name -> schedule class."""
