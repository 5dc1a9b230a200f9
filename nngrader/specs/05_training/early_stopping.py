"""Assignment 5, early stopping on a history of validation losses."""
from __future__ import annotations

import numpy as np

from nnkit import regularization as nkr

from .. import Case
from ...verdict import Part, as_numeric, compare_exact


# --------------------------------------------------------------------------------------------
# early stopping
# --------------------------------------------------------------------------------------------
def _es_reference(losses, patience, min_delta):
    es = nkr.EarlyStopping(patience=patience, min_delta=min_delta)
    for epoch, v in enumerate(losses):
        if es.update(v, {}, epoch):
            return es.stopped_epoch, es.best_epoch
    return None, es.best_epoch


def es_visible(rng):
    return [
        Case(([1.0, 0.7, 0.8, 0.9, 0.6], 2), label="[1.0, 0.7, 0.8, 0.9, 0.6], patience = 2"),
        Case(([0.9, 0.8, 0.7, 0.6], 1), label="always improving, patience = 1"),
        Case(([0.5, 0.6, 0.4, 0.45, 0.41, 0.42, 0.39], 3), label="7 epochs, patience = 3"),
    ]


def es_hidden(rng):
    cases = []
    # a noisy decreasing curve that turns up (overfitting)
    for _ in range(3):
        n = int(rng.integers(8, 30))
        t = np.arange(n)
        curve = 1.0 / (1 + 0.3 * t) + 0.004 * np.maximum(t - rng.integers(3, n), 0) ** 1.5 + 0.02 * rng.normal(size=n)
        cases.append(Case(([round(float(v), 4) for v in curve], int(rng.integers(1, 6))), label=f"a noisy curve, {n} epochs"))
    cases.append(Case(([0.5, 0.5, 0.5, 0.5], 2), label="equal losses: a tie is no improvement"))
    cases.append(Case(([0.3], 1), label="one epoch"))
    cases.append(Case(([0.9, 0.8, 0.85, 0.7, 0.75, 0.8, 0.72], 3), label="stops at the last epoch"))
    cases.append(Case(([1.0, 0.995, 0.99, 0.9, 0.899, 0.898, 0.897], 2), {"min_delta": 0.01},
                      label="min_delta = 0.01"))
    cases.append(Case(([2.0, 1.0, 1.5, 0.9, 1.2, 0.8, 1.1, 1.3, 0.7], 2), label="improves just in time, twice"))
    return cases


def _epoch_part(name, got, expected, hint_late, hint_early):
    if expected is None:
        if got is None:
            return Part(True, name=name)
        return Part(False, f"{name}: got {got!r}, expected None (patience never runs out in this history)", name=name)
    if got is None:
        return Part(False, f"{name}: got None, expected {expected}", name=name)
    part = compare_exact(name, got, expected, scalar=True)
    if not part.ok:
        a, _ = as_numeric(got, name)
        if a is not None and a.size == 1:
            g = float(a.ravel()[0])
            if g == expected + 1 and hint_late:
                part.cause = hint_late
            elif g == expected - 1 and hint_early:
                part.cause = hint_early
    return part


def _same_epochs(got, ref) -> bool:
    for g, r in zip(got, ref):
        if r is None or g is None:
            if not (r is None and g is None):
                return False
            continue
        a, why = as_numeric(g, "epoch")
        if why or a.size != 1 or float(a.ravel()[0]) != r:
            return False
    return True


def es_judge(case, value):
    losses, patience = case.args
    min_delta = case.kwargs.get("min_delta", 0.0)
    stop, best = _es_reference(losses, patience, min_delta)
    if not (isinstance(value, (tuple, list)) and len(value) == 2):
        return [Part(False, f"return value: expected a tuple (stop_epoch, best_epoch); got a {type(value).__name__}"),
                Part(False, "")]
    got = (value[0], value[1])
    for p_alt, what in ((patience + 1, "late"), (patience - 1, "early")):
        if p_alt < 1 or (stop, best) == _es_reference(losses, p_alt, min_delta):
            continue
        try:
            same = _same_epochs(got, _es_reference(losses, p_alt, min_delta))
        except Exception:
            same = False
        if same:
            when = "waits one epoch too long" if what == "late" else "stops one epoch too soon"
            why = (f"your function behaves as if patience were {p_alt}: it {when}. Stop at the epoch where the "
                   f"number of epochs in a row without improvement reaches patience = {patience}")
            parts = [_epoch_part("stop_epoch", value[0], stop, "", ""),
                     _epoch_part("best_epoch", value[1], best, "", "")]
            for part in parts:
                if not part.ok:
                    part.cause = why
            return parts
    tie = any(losses[i] == min(losses[:i]) for i in range(1, len(losses)))
    late = ("one epoch late: stop at the epoch where the number of epochs in a row without improvement "
            "reaches patience")
    early = "one epoch early: stop when the count of epochs without improvement reaches patience, not before"
    best_hint = ("a loss equal to the best so far is not an improvement" if tie else
                 "an improvement must beat the best by more than min_delta" if min_delta else "")
    return [
        _epoch_part("stop_epoch", value[0], stop, late, early),
        _epoch_part("best_epoch", value[1], best, best_hint, best_hint),
    ]


