"""Not a test module any more: kept only because ``tests/test_grading_all.py`` imports assignment
01's students from here. They live in ``grading_cases/a01_perceptron.py`` and are graded by
``test_grading_end_to_end.py``; delete this file once ``test_grading_all.py`` imports them from there.
"""
import grading_cases

_CASES = grading_cases.load("01_perceptron")
A, NB, WRONG = _CASES.A, _CASES.NB, _CASES.WRONG
submission = _CASES.submission
