"""Not a test module any more: kept only because ``tests/test_class_report.py`` imports assignment
02's students from here. They live in ``grading_cases/a02_three_layer.py`` and are graded by
``test_grading_end_to_end.py``; delete this file once ``test_class_report.py`` imports them from there.
"""
import grading_cases

_CASES = grading_cases.load("02_three_layer")
A, NB, WRONG, TAMPER = _CASES.A, _CASES.NB, _CASES.WRONG, _CASES.TAMPER
submission, release = _CASES.submission, _CASES.release
