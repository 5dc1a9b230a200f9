"""Learning-rate schedules: small callables ``k -> learning rate``.

A schedule maps a step index ``k = 0, 1, 2, ...`` to a learning rate.  Whether ``k`` counts
epochs or mini-batch iterations is the caller's choice (``nnkit.training.fit`` calls it once per
epoch and assigns ``optimizer.lr = schedule(epoch - 1)``).  Each schedule also accepts an array
of indices, which is handy for plotting::

    sched = inverse_time(c1=1.0, c2=10.0)
    sched(0)               # 0.1
    sched(np.arange(50))   # the whole curve

Step index convention (named, because texts and libraries disagree)
---------------------------------------------------------------------
``k = 0`` is the *first* epoch (or iteration): ``schedule(0)`` is the rate of the first
update.  ``k`` is PyTorch's ``scheduler.last_epoch``: the rate used in epoch ``k`` equals
``optimizer.param_groups[0]["lr"]`` after ``k`` calls of ``scheduler.step()`` (called once at
the end of each epoch).  Every schedule here is a closed form of ``k``; PyTorch's schedulers
update the rate recursively and agree with these forms up to round-off (the oracle tests check
it, at 1e-10).

The decays (``inverse_time``, ``step_decay``, ``exponential_decay``, ``cosine_annealing``)
start large and shrink, so the first iterations make big changes to the weights and later ones
only fine-tune (slide 002).  ``linear_warmup`` does the opposite at the start: it ramps the
rate *up* over the first steps, so the early updates, made while Adam's second-moment averages
(and BatchNorm's statistics) are still poor estimates, stay small.  :class:`sequential` runs
schedules one after another, e.g. warmup then cosine::

    warm = linear_warmup(lr0=0.1, start_factor=0.1, total_iters=5)   # k = 0..4: 0.01 .. 0.082
    cos = cosine_annealing(lr0=0.1, T_max=45)                         # its own k restarts at 0
    sched = sequential([warm, cos], milestones=[5])                   # k = 5 -> cos(0) = 0.1

An nnkit optimizer refuses ``lr = 0``: ``cosine_annealing`` with ``eta_min = 0`` reaches 0 at
``k = T_max``, so train for ``T_max`` steps (``k = 0 .. T_max - 1``) or give ``eta_min > 0``.
"""
from __future__ import annotations

import numpy as np

from ._validate import check_int, check_nonnegative, check_positive, check_probability

__all__ = [
    "Schedule",
    "inverse_time",
    "step_decay",
    "exponential_decay",
    "cosine_annealing",
    "linear_warmup",
    "sequential",
    "SCHEDULES",
]


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


class cosine_annealing(Schedule):
    """Cosine annealing ``alpha_k = eta_min + (lr0 - eta_min) * (1 + cos(pi * k / T_max)) / 2``.

    Parameters
    ----------
    lr0 : float > 0
        Rate at ``k = 0``.
    T_max : int >= 1
        Steps from ``lr0`` down to ``eta_min``: the rate is exactly ``eta_min`` at ``k = T_max``
        and halfway, ``(lr0 + eta_min)/2``, at ``k = T_max/2``.
    eta_min : float in [0, lr0]
        The lowest rate (default 0).

    Notes
    -----
    The closed form of ``torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max,
    eta_min)`` with the optimizer's initial rate ``lr0`` (Loshchilov & Hutter's SGDR without
    restarts).  Past ``T_max`` the formula goes on, as PyTorch's does: the rate climbs back to
    ``lr0`` at ``k = 2 T_max`` and repeats with period ``2 T_max``.  Use it for ``T_max`` steps,
    or end it with :class:`sequential`.  The curve is flat at both ends: the rate stays near
    ``lr0`` for the first steps and spends the last ones near ``eta_min``.
    """

    def __init__(self, lr0, T_max, eta_min=0.0):
        self.lr0 = check_positive(lr0, "lr0")
        self.T_max = check_int(T_max, "T_max", 1)
        self.eta_min = check_nonnegative(eta_min, "eta_min")
        if self.eta_min > self.lr0:
            raise ValueError(
                f"eta_min must be <= lr0 (the rate falls from lr0 to eta_min); got eta_min={self.eta_min} > lr0={self.lr0}"
            )

    def _args(self):
        return {"lr0": self.lr0, "T_max": self.T_max, "eta_min": self.eta_min}

    def _rate(self, k):
        return self.eta_min + (self.lr0 - self.eta_min) * (1.0 + np.cos(np.pi * k / self.T_max)) / 2.0


class linear_warmup(Schedule):
    """Linear warmup ``alpha_k = lr0 * (s + (e - s) * min(k, total_iters) / total_iters)``.

    With ``s = start_factor`` and ``e = end_factor``: the rate moves in a straight line from
    ``s * lr0`` at ``k = 0`` to ``e * lr0`` at ``k = total_iters`` and stays there.

    Parameters
    ----------
    lr0 : float > 0
        The target rate (reached at ``k = total_iters`` when ``end_factor = 1``).
    start_factor : float in (0, 1]
        Fraction of ``lr0`` at ``k = 0`` (PyTorch's default 1/3).
    end_factor : float in [0, 1]
        Fraction of ``lr0`` from ``k = total_iters`` on (default 1).  A value below
        ``start_factor`` makes it a linear *decay* instead.
    total_iters : int >= 1
        Length of the ramp in steps (PyTorch's default 5).

    Notes
    -----
    The closed form of ``torch.optim.lr_scheduler.LinearLR(optimizer, start_factor,
    end_factor, total_iters)`` with the optimizer's initial rate ``lr0``; the ranges of the
    factors are PyTorch's.  Note the first rate is ``start_factor * lr0``, not 0, and the ramp
    reaches ``lr0`` at step ``total_iters``, not ``total_iters - 1``.
    """

    def __init__(self, lr0, start_factor=1.0 / 3, end_factor=1.0, total_iters=5):
        self.lr0 = check_positive(lr0, "lr0")
        self.start_factor = check_probability(start_factor, "start_factor", low_open=True)
        self.end_factor = check_probability(end_factor, "end_factor")
        self.total_iters = check_int(total_iters, "total_iters", 1)

    def _args(self):
        return {
            "lr0": self.lr0,
            "start_factor": self.start_factor,
            "end_factor": self.end_factor,
            "total_iters": self.total_iters,
        }

    def _rate(self, k):
        s, e = self.start_factor, self.end_factor
        return self.lr0 * (s + (e - s) * np.minimum(k, self.total_iters) / self.total_iters)


class sequential(Schedule):
    """Schedules one after another, each restarting its own count at its milestone.

    ``alpha_k = schedules[i](k - m_i)`` for ``m_i <= k < m_{i+1}``, where ``m_0 = 0`` and
    ``m_1, m_2, ...`` are the ``milestones``.

    Parameters
    ----------
    schedules : sequence of Schedule, length >= 1
    milestones : sequence of int, strictly increasing, each >= 1
        One fewer than ``schedules``: ``schedules[i]`` takes over at step ``milestones[i-1]``.

    Notes
    -----
    This is how ``torch.optim.lr_scheduler.SequentialLR(optimizer, schedulers, milestones)``
    composes: at a milestone the next scheduler starts from *its own* step 0 (it is not shifted
    or rescaled to continue where the previous one stopped), so warmup for ``w`` steps then
    cosine is ``sequential([linear_warmup(lr0, s, 1.0, w), cosine_annealing(lr0, T)], [w])``:
    the ramp runs for ``k < w`` and the cosine starts at ``lr0`` at ``k = w``.  Each schedule
    carries its own ``lr0``; PyTorch's schedulers all start from the optimizer's initial rate,
    so give them the same ``lr0`` to reproduce it.  (PyTorch's ``ChainedScheduler`` is a
    different composition: it multiplies the factors of schedulers running at the same time.)
    """

    def __init__(self, schedules, milestones):
        try:
            schedules = tuple(schedules)
            milestones = tuple(milestones)
        except TypeError:
            raise TypeError("schedules and milestones must be sequences (e.g. lists)") from None
        if not schedules:
            raise ValueError("schedules must hold at least one Schedule; got none")
        for i, sch in enumerate(schedules):
            if not isinstance(sch, Schedule):
                raise TypeError(f"schedules[{i}] must be a Schedule (e.g. linear_warmup(...)); got {type(sch).__name__}")
        if len(milestones) != len(schedules) - 1:
            raise ValueError(
                f"milestones must have one entry fewer than schedules ({len(schedules) - 1} for "
                f"{len(schedules)} schedules); got {len(milestones)}"
            )
        milestones = tuple(check_int(m, f"milestones[{i}]", 1) for i, m in enumerate(milestones))
        if any(b <= a for a, b in zip(milestones, milestones[1:])):
            raise ValueError(f"milestones must be strictly increasing; got {list(milestones)}")
        self.schedules = schedules
        self.milestones = milestones

    def _args(self):
        return {"schedules": self.schedules, "milestones": self.milestones}

    def _rate(self, k):
        k = np.asarray(k, dtype=np.float64)
        flat = k.reshape(-1)
        starts = (0,) + self.milestones
        which = np.searchsorted(self.milestones, flat, side="right")  # bisect_right, as SequentialLR
        out = np.empty_like(flat)
        for i, sch in enumerate(self.schedules):
            sel = which == i
            if sel.any():
                out[sel] = sch._rate(flat[sel] - starts[i])
        return out.reshape(k.shape)


SCHEDULES: dict[str, type[Schedule]] = {
    "inverse_time": inverse_time,
    "step_decay": step_decay,
    "exponential_decay": exponential_decay,
    "cosine_annealing": cosine_annealing,
    "linear_warmup": linear_warmup,
}
"""Name -> schedule class (the combinator :class:`sequential` takes schedules, not numbers, and
is not listed)."""
