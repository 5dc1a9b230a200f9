"""Assignment 02_three_layer's feedback: a cause stated once, with where and how often it shows.

Reads the class that ``test_grading_end_to_end.py`` autogrades (one nbgrader run per session;
the students are in ``grading_cases/a02_three_layer.py``).
"""
import html

import pytest

import grading_cases

pytestmark = pytest.mark.slow
graded = grading_cases.graded_fixture("02_three_layer")


def test_feedback_states_a_cause_once_with_where_and_how_often(graded):
    # before: the same hint on every tensor of every case (48 times) and the right output error
    # spelled out, which is also the answer to the derivation graded by hand
    text = html.unescape(graded.feedback("wrong_output_error"))
    cause = "it matches the output error a3 - y, which belongs to the cross-entropy loss"
    assert text.count(cause) == 1
    assert "(dW1, db1, dW2, db2, dW3, db3; 8 of 8 cases)" in text
    assert "a3 (1 - a3)" not in text and "sigma'(z3) =" not in text
    assert "summed over the batch" not in text  # the bias hint came from the chain-rule error upstream
