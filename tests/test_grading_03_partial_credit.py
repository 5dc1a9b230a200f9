"""Assignment 03_two_layer's partial credit: per tensor and per case, in exact points.

Reads the class that ``test_grading_end_to_end.py`` autogrades (one nbgrader run per session;
the students are in ``grading_cases/a03_two_layer.py``).
"""
import pytest

import grading_cases

pytestmark = pytest.mark.slow
graded = grading_cases.graded_fixture("03_two_layer")


def test_partial_credit_is_per_tensor_and_per_case(graded):
    scores = graded.scores
    # tanh slip: dW2 and db2 stay right in every case, dW1 and db1 are wrong in every case
    assert scores["wrong_tanh", "twolayer_backward"] == 2.0
    # misplaced transpose: only dW2 (1 of 4 tensors) is wrong, in every case
    assert scores["wrong_transpose", "twolayer_backward"] == 3.0
    # missing diagonal: the off-diagonal half of J is right in every case
    assert scores["wrong_jacobian_diag", "twolayer_softmax_jacobian"] == 1.0
    # no 1/N: right exactly on the three one-sample cases (of 8)
    assert scores["wrong_ce_no_mean", "twolayer_softmax_ce_grad"] == 0.75
