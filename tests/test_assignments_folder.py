"""``assignments/`` is exactly what ``nbgrader generate_assignment`` makes from ``solutions/``: no stale release."""
import pytest

import grading_harness as h

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("assignment", sorted(p.name for p in (h.ROOT / "solutions").iterdir() if p.is_dir()))
def test_assignments_folder_is_exactly_what_generate_assignment_produces(tmp_path, assignment):
    course = h.new_course(tmp_path, with_release=False)
    h.nbgrader(course, "generate_assignment", assignment, "--force")
    fresh = course / "assignments" / assignment
    committed = h.ROOT / "assignments" / assignment
    files = lambda d: sorted(str(p.relative_to(d)) for p in d.rglob("*") if p.is_file())
    assert files(fresh) == files(committed), "assignments/ is stale: run `nbgrader generate_assignment %s --force`" % assignment
    for rel in files(fresh):
        assert (fresh / rel).read_bytes() == (committed / rel).read_bytes(), (
            f"assignments/{assignment}/{rel} is stale: run `nbgrader generate_assignment {assignment} --force`"
        )
