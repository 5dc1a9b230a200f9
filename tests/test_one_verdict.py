"""One verdict: for every assignment, ``nbgrader validate`` and autograde agree on which test cells
pass their visible cases (issue 16).

Per assignment, one autograde run and one validate per notebook, for three students:

- ``solution``: the solution as it is;
- ``release``: the untouched release (every test cell fails);
- ``unusual``: the solution written the way students write it: the first answer cell under
  ``%%time``, the second under ``%%capture out``, a ``print`` and a ``!echo`` line after every
  other answer, and a helper in a cell of its own. Right answers: every test cell passes.

Autograde's side comes from the verdicts stored in the autograded notebook (which visible cases
failed); validate's from the test cells it reports as failing.
"""

import nbformat
import pytest

import grading_harness as h
from nngrader import specs

pytestmark = pytest.mark.slow

ASSIGNMENTS = specs.assignments()


def _notebook_name(assignment: str) -> str:
    return next((h.ROOT / "solutions" / assignment).glob("*.ipynb")).stem


def _unusual(assignment: str, notebook: str):
    """The solution with cell magics, prints, ! lines and an extra helper cell."""
    sources = h.solution_sources(assignment, notebook)
    source_nb = nbformat.read(h.ROOT / "solutions" / assignment / f"{notebook}.ipynb", as_version=4)
    code_ids = [c.metadata.nbgrader["grade_id"] for c in source_nb.cells
                if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("solution")]
    over = {}
    for i, gid in enumerate(code_ids):
        src = sources[gid]
        if i == 0:
            over[gid] = "%%time\n" + src
        elif i == 1:
            over[gid] = "%%capture out\n" + src
        else:
            over[gid] = src + '\nprint("cell done")\n!echo done\n'

    def add_helper(nb):
        at = h.cell_index(nb, code_ids[0]) + 1
        nb.cells.insert(at, nbformat.v4.new_code_cell("def my_own_helper(v):\n    return v\n"))

    return h.submission(assignment, notebook, over, edit=add_helper)


@pytest.fixture(scope="module", params=ASSIGNMENTS)
def graded(request, tmp_path_factory):
    assignment = request.param
    notebook = _notebook_name(assignment)
    students = {"solution": h.submission(assignment, notebook), "release": h.release(assignment, notebook),
                "unusual": _unusual(assignment, notebook)}
    course = h.new_course(tmp_path_factory.mktemp(assignment), assignments=[assignment])
    h.nbgrader(course, "generate_assignment", assignment, "--force")
    for student, nb in students.items():
        h.write_submission(course, student, assignment, notebook, nb)
    validating = {s: h.nbgrader(course, "validate", f"submitted/{s}/{assignment}/{notebook}.ipynb", script=True,
                                wait=False) for s in students}
    h.nbgrader(course, "autograde", assignment)
    validated = {s: p.communicate(timeout=600)[0] for s, p in validating.items()}
    grade_ids = list(specs.load(assignment))
    return course, assignment, notebook, grade_ids, validated


@pytest.mark.parametrize("student", ["solution", "release", "unusual"])
def test_validate_and_autograde_agree_on_the_visible_cases(graded, student):
    course, assignment, notebook, grade_ids, validated = graded
    grader = h.autograde_visible_failures(course, assignment, notebook, student)
    want = set(grade_ids) if student == "release" else set()
    assert grader == want, (assignment, student, grader)
    assert h.validate_failures(validated[student], grade_ids) == grader, (assignment, student, validated[student][-3000:])
