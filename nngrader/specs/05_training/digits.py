"""Assignment 5, training a classifier on the digits: graded by test accuracy."""
from __future__ import annotations

import numpy as np

from nnkit import datasets as nkd

from .. import RNG, Case
from ...verdict import Part, as_numeric


# --------------------------------------------------------------------------------------------
# training on digits
# --------------------------------------------------------------------------------------------
FULL_ACCURACY = 0.95
ZERO_ACCURACY = 0.80
STEPS = 15  # one part per percentage point between 80 % and 95 %


def _digits_case(split_seed: int, student_seed: int, label: str) -> Case:
    X, y = nkd.load_digits()
    s = nkd.train_val_test_split(X, y, np.random.default_rng(split_seed))
    return Case((s.X_train, s.y_train, s.X_val, s.y_val, s.X_test, RNG(student_seed)), label=label, expect=s.y_test)


def train_visible(rng):
    return [_digits_case(0, 1, "digits split with seed 0, rng seed 1")]


def train_hidden(rng):
    return [_digits_case(int(rng.integers(1 << 30)), int(rng.integers(1 << 30)), "digits, a fresh random split")]


def train_judge(case, value):
    y_test = case.expect
    pred, why = as_numeric(value, "predictions")
    if why:
        return [why]
    if pred.shape != y_test.shape:
        hint = ""
        if pred.shape == (len(y_test), 10):
            hint = " (those look like scores per class: return the predicted labels, argmax over axis 1)"
        return [Part(False, f"predictions: shape {pred.shape}, expected {y_test.shape}: one label per row of "
                            f"X_test{hint}")]
    correct = int(np.sum(pred.astype(np.float64) == y_test))
    acc = correct / len(y_test)
    parts = []
    failed = False
    for i in range(1, STEPS + 1):
        need = ZERO_ACCURACY + (FULL_ACCURACY - ZERO_ACCURACY) * i / STEPS
        ok = acc >= need - 1e-12
        msg = ""
        if not ok and not failed:
            failed = True
            msg = (f"test accuracy {acc:.1%} ({correct} of {len(y_test)}): full credit from {FULL_ACCURACY:.0%}, "
                   f"none below {ZERO_ACCURACY:.0%}, one fifteenth more per percentage point in between")
        parts.append(Part(ok, msg))
    return parts


