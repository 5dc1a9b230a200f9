"""What a student sees from the Validate button (``nbgrader validate``): the diagnosis, not a summary cut short.

Assignment 01's ``wrong_threshold`` student (``grading_cases/a01_perceptron.py``) validates its notebook.
"""
import nbformat
import pytest

import grading_cases
import grading_harness as h

pytestmark = pytest.mark.slow

CASES = grading_cases.load("01_perceptron")


def test_validate_shows_the_diagnosis_of_a_failing_check(tmp_path):
    course = h.new_course(tmp_path, assignments=[CASES.A])
    overrides, _, hints = CASES.WRONG["wrong_threshold"]
    nbformat.write(CASES.submission(overrides), tmp_path / "student.ipynb")
    out = h.nbgrader(course, "validate", str(tmp_path / "student.ipynb")).stdout
    assert "mp_neuron: 0 / 2 points" in out and "FAILED" in out, out  # the verdict's head and a failed case
    assert hints[0] in " ".join(out.split()), out  # the hint, whole
    assert "CheckFailed: perceptron_mp_neuron:" in out and "..." not in out.replace("... ", ""), out
