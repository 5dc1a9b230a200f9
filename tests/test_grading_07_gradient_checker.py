"""Assignment 07_gradient_checker: partial credit per case and per tensor.

The test reads the class that ``test_grading_end_to_end.py`` autogrades (one nbgrader run per
session; the students are in ``grading_cases/a07_gradient_checker.py``).
"""
import pytest

import grading_cases

pytestmark = pytest.mark.slow

graded = grading_cases.graded_fixture("07_gradient_checker")


def test_partial_credit_is_per_case_and_per_tensor(graded):
    scores = graded.scores
    # round-off left in x: the gradient half of each case is right, the x half wrong (two cases have
    # nothing to restore: the float32 refusals)
    assert 1.5 <= scores["wrong_arith_restore", "gradcheck_numerical_gradient"] < 2.0
    # the kink: exactly the three ReLU cases are lost (two clean ReLUs, and a broken one whose clean
    # twin is flagged too), 20 of 23 cases stay right
    assert scores["wrong_no_kinks", "gradcheck_check_layer"] == round(4 * 20 / 23, 2)
    # the kind guessed from the layer: every location is right, so at least half of find_bug stays
    assert scores["wrong_kind_by_location", "gradcheck_find_bug"] >= 3.0
