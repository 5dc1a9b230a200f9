"""Assignment 06_autodiff: the cases each engine slip breaks, and the class runner on the assignment.

The partial-credit test reads the class that ``test_grading_end_to_end.py`` autogrades (one
nbgrader run per session; the students are in ``grading_cases/a06_autodiff.py``).
"""
import pytest

import grading_cases
import grading_harness as h

pytestmark = pytest.mark.slow

CASES = grading_cases.load("06_autodiff")
A, NB = CASES.A, CASES.NB
graded = grading_cases.graded_fixture(A)


def test_partial_credit_counts_the_cases_each_slip_breaks(graded):
    scores = graded.scores
    # the recursive sort fails only the 5,000-node chain: 11 of 12 cases (and is not taken for tampering,
    # though hitting the recursion limit switches the profiler off)
    assert scores["wrong_recursive", "autodiff_graphs"] == pytest.approx(4 * 11 / 12, abs=0.01)
    # relu' at 0: in 1 of 20 cases of the functions check the gradient is wrong (its value is right)
    assert scores["wrong_relu_at_zero", "autodiff_functions"] == pytest.approx(3 * 19.5 / 20, abs=0.01)


def test_grade_all_gives_the_solution_full_marks_and_the_release_zero(tmp_path):
    course = h.new_course(tmp_path, assignments=[A])
    h.nbgrader(course, "generate_assignment", A, "--force")
    h.write_submission(course, "solution", A, NB, CASES.submission())
    h.write_submission(course, "release", A, NB, CASES.release())
    proc = h.run_grade_all(course, A)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rows = h.grades_csv(course, A)
    assert float(rows["solution"]["score"]) == sum(CASES.FULL.values()) and rows["solution"]["jail"] == "bubblewrap"
    assert float(rows["release"]["score"]) == 0.0
