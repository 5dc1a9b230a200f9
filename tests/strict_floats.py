"""``strict()``: the floating-point guard the activation and loss tests share.

pytest puts ``tests/`` on ``sys.path`` (rootdir-relative "prepend" import mode), so a test module
imports it with ``from strict_floats import strict``.
"""
import contextlib
import warnings

import numpy as np


@contextlib.contextmanager
def strict():
    """Warnings are errors and over/divide/invalid raise: every floating-point problem except
    underflow (which rounds correctly to 0) becomes an error."""
    with warnings.catch_warnings(), np.errstate(over="raise", divide="raise", invalid="raise"):
        warnings.simplefilter("error")
        yield
