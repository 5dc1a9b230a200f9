"""Assignment 06_autodiff: the cases each engine slip breaks.

The partial-credit test reads the class that ``test_grading_end_to_end.py`` autogrades (one
nbgrader run per session; the students are in ``grading_cases/a06_autodiff.py``).
"""
import pytest

import grading_cases

pytestmark = pytest.mark.slow

graded = grading_cases.graded_fixture("06_autodiff")


def test_partial_credit_counts_the_cases_each_slip_breaks(graded):
    scores = graded.scores
    # the recursive sort fails only the 5,000-node chain: 11 of 12 cases (and is not taken for tampering,
    # though hitting the recursion limit switches the profiler off)
    assert scores["wrong_recursive", "autodiff_graphs"] == pytest.approx(4 * 11 / 12, abs=0.01)
    # relu' at 0: in 1 of 20 cases of the functions check the gradient is wrong (its value is right)
    assert scores["wrong_relu_at_zero", "autodiff_functions"] == pytest.approx(3 * 19.5 / 20, abs=0.01)

