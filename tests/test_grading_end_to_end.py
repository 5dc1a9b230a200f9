"""End to end: every assignment's class of synthetic students through the real nbgrader CLI.

For each assignment with a data module in ``grading_cases/`` (01-07), ONE ``nbgrader autograde``
run, in a copy of the course, grades its class: the solution, the untouched release, plausible
wrong answers and tampering attempts. The gradebook and the generated feedback HTML are then
checked cell by cell; points come from the spec. Test ids read ``[<assignment>]`` or
``[<assignment>-<student>]``. Tests of one assignment's own grading are in
``test_grading_<NN>_<topic>.py``; the machinery is in ``grading_harness.py``.
"""
import pytest

import grading_cases
import grading_harness as h

pytestmark = pytest.mark.slow

CASES = {a: grading_cases.load(a) for a in grading_cases.ASSIGNMENTS}


@pytest.fixture(scope="module")
def graded(request, tmp_path_factory) -> grading_cases.Graded:
    """The class of assignment ``request.param``, autograded once per session, whatever the test order."""
    return grading_cases.graded(request.param, tmp_path_factory)


def per_assignment(where=lambda cases: True):
    """Parametrise ``graded`` over the assignments (``where(cases)`` picks some)."""
    return pytest.mark.parametrize("graded", [a for a, c in CASES.items() if where(c)], indirect=True)


per_broken_student = pytest.mark.parametrize(
    "graded, student", [pytest.param(a, s, id=f"{a}-{s}") for a, c in CASES.items() for s in c.broken],
    indirect=["graded"])


@per_assignment()
def test_solution_gets_full_marks_and_release_gets_zero(graded):
    g = graded
    h.assert_points(g.scores, g.manual, "solution", {}, g.cases.FULL)
    h.assert_points(g.scores, g.manual, "release", {h.EVERY_CELL: 0.0}, g.cases.FULL)
    for gid in g.cases.MANUAL:
        assert g.manual["solution", gid] and g.scores["solution", gid] is None, gid  # graded by hand
        assert g.scores["release", gid] == 0.0 and not g.manual["release", gid], gid  # left blank


@per_broken_student
def test_points_are_lost_exactly_where_the_submission_is_broken(graded, student):
    _, expect, diagnoses = graded.students[student]
    h.assert_points(graded.scores, graded.manual, student, expect, graded.cases.FULL)
    text = graded.feedback(student)
    for d in diagnoses:
        assert d in text, d


@per_assignment(where=lambda cases: cases.AGAIN)
def test_same_submission_same_grade(graded):
    student = graded.cases.AGAIN
    for gid in graded.cases.FULL:
        assert graded.scores[student, gid] == graded.scores[f"{student}_again", gid], gid


@per_assignment()
def test_feedback_shows_the_verdict_and_no_test_cell_writes_to_stderr(graded):
    c = graded.cases
    h.assert_verdict_outputs(graded.course, c.A, c.NB, graded.students, c.FULL)
    text = graded.feedback("solution")
    for line in [*c.SOLUTION_FEEDBACK, "Graded by running your notebook's code in a fresh process"]:
        assert line in text, line
    for line in c.SOLUTION_FEEDBACK_OMITS:
        assert line not in text, line


@pytest.mark.parametrize("cases", list(CASES.values()), ids=list(CASES))
def test_solution_validates_and_release_fails_every_test(tmp_path, cases):
    a, nb = cases.A, cases.NB
    course = h.new_course(tmp_path, assignments=[a])
    runs = {  # the three validations at once
        "solution": h.nbgrader(course, "validate", f"solutions/{a}/{nb}.ipynb", script=True, wait=False),
        "invert": h.nbgrader(course, "validate", "--invert", f"assignments/{a}/{nb}.ipynb", script=True, wait=False),
        "release": h.nbgrader(course, "validate", f"assignments/{a}/{nb}.ipynb", wait=False),
    }
    out = {k: p.communicate(timeout=600) for k, p in runs.items()}
    for k, p in runs.items():  # nbgrader validate exits 0 either way
        assert p.returncode == 0, (k, *out[k])
    out = {k: stdout for k, (stdout, _) in out.items()}
    assert "Success! Your notebook passes all the tests." in out["solution"], out["solution"]
    # --invert reports success when no test passes
    assert "Success! The notebook does not pass any tests." in out["invert"], out["invert"]
    # the plain validate of the release lists every test cell and every blank written answer as failing
    failing = len(cases.FULL) + len(cases.MANUAL)
    assert f"VALIDATION FAILED ON {failing} CELL(S)!" in " ".join(out["release"].split()), out["release"]


# The class runner in the jail, for the assignments whose checks run programs the grader builds
# (06's graphs, 07's planted networks); 01 is graded by it in test_grading_all.py and test_grading_jail_class.py.
IN_THE_JAIL = ["06_autodiff", "07_gradient_checker"]


@pytest.mark.parametrize("cases", [CASES[a] for a in IN_THE_JAIL], ids=IN_THE_JAIL)
def test_grade_all_in_the_jail_gives_the_solution_full_marks_and_the_release_zero(tmp_path, cases):
    a, nb = cases.A, cases.NB
    course = h.new_course(tmp_path, with_release=False, assignments=[a])
    h.nbgrader(course, "generate_assignment", a, "--force")
    h.write_submission(course, "solution", a, nb, cases.submission())
    h.write_submission(course, "release", a, nb, cases.release())
    proc = h.run_grade_all(course, a)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rows = h.grades_csv(course, a)
    assert float(rows["solution"]["score"]) == sum(cases.FULL.values()), (rows, proc.stdout[-3000:])
    assert rows["solution"]["jail"] == "bubblewrap"
    assert float(rows["release"]["score"]) == 0.0
