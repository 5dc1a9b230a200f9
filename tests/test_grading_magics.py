"""End to end (issue 16, items 1, 2 and 5): assignment 02 through the real nbgrader CLI.

One ``nbgrader autograde`` run grades three students whose answers are right but written the way
students write them, plus one whose answer is too slow:

- ``magics``: answer cells that start with ``%%time`` and ``%%capture out``, and one with a ``!echo``
  line and a ``%timeit`` line after its function (before: 0 points and "not defined" for the first
  two, while ``nbgrader validate`` passed them);
- ``slow``: an answer cell that sleeps past the time limit before its ``def`` (before: 0 points and
  "not defined"; now the feedback names the cell, how long it ran and the limit);
- ``mutate``: a correct loss that overwrites its argument ``y_hat`` in place (before: full points).

``nbgrader validate`` (the visible cases in the student's kernel) must then agree with autograde on
which test cells pass their visible cases.
"""
from functools import partial

import pytest

import grading_harness as h
from nngrader.sandbox import CELL_TIMEOUT

A, NB = "02_three_layer", "three_layer"
FULL = {
    "three_layer_forward": 3.0,
    "three_layer_squared_loss": 1.0,
    "three_layer_cross_entropy_loss": 1.0,
    "three_layer_backward_squared": 5.0,
    "three_layer_backward_cross_entropy": 5.0,
}

pytestmark = pytest.mark.slow

submission = partial(h.submission, A, NB)


def students():
    sol = h.solution_sources(A, NB)
    mutating_loss = '''def cross_entropy_loss(y_hat, y):
    np.log(y_hat, out=y_hat)  # the right value, but the caller's predictions are overwritten
    return float(-np.mean(y * y_hat + (1 - y) * np.log1p(-np.exp(y_hat))))
'''
    float32_loss = '''def squared_loss(y_hat, y):
    d = (np.asarray(y_hat) - np.asarray(y)).astype(np.float32)
    return float(np.sum(d * d) / (2 * len(y)))
'''
    return {
        "magics": (submission({
            "forward_solution": sol["forward_solution"] + "\n!echo hi\n%timeit forward(X_demo, params_demo)\n",
            "squared_loss_solution": "%%time\n" + sol["squared_loss_solution"],
            "cross_entropy_loss_solution": "%%capture out\n" + sol["cross_entropy_loss_solution"],
        }), {}),
        "slow": (submission({
            "backward_cross_entropy_solution": f"import time\ntime.sleep({CELL_TIMEOUT + 3})\n"
                                               + sol["backward_cross_entropy_solution"],
        }), {"three_layer_backward_cross_entropy": 0.0}),
        "mutate": (submission({"cross_entropy_loss_solution": mutating_loss}),
                   {"three_layer_cross_entropy_loss": h.PARTIAL}),
        # float32 arithmetic: right to 7 digits, where the course asks for float64
        "float32": (submission({"squared_loss_solution": float32_loss}), {"three_layer_squared_loss": 0.0}),
    }


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """Autograde the class; meanwhile ``nbgrader validate`` checks each submission (in parallel:
    the slow one waits out the time limit)."""
    cases = students()
    course = h.new_course(tmp_path_factory.mktemp("magics"), assignments=[A])
    h.nbgrader(course, "generate_assignment", A, "--force")
    for student, (nb, _) in cases.items():
        h.write_submission(course, student, A, NB, nb)
    validating = {s: h.nbgrader(course, "validate", f"submitted/{s}/{A}/{NB}.ipynb", script=True, wait=False)
                  for s in cases}
    h.nbgrader(course, "autograde", A)
    h.nbgrader(course, "generate_feedback", A)
    scores, manual = h.gradebook_scores(course, A, NB, cases, list(FULL))
    validated = {s: p.communicate(timeout=600)[0] for s, p in validating.items()}
    return h.GradedClass(course, scores, manual, None), cases, validated


def test_points_for_magic_answers_slow_cells_and_changed_arguments(graded):
    g, cases, _ = graded
    for student, (_, expect) in cases.items():
        h.assert_points(g.scores, g.manual, student, expect, FULL)
    assert "not defined" not in h.feedback_text(g.course, "magics", A, NB)


def test_a_cell_that_ran_out_of_time_is_named_with_its_time_and_the_limit(graded):
    g, cases, _ = graded
    index = h.cell_index(cases["slow"][0], "backward_cross_entropy_solution")
    text = h.feedback_text(g.course, "slow", A, NB)
    assert (f"backward_cross_entropy is not defined: cell {index + 1} (backward_cross_entropy_solution), which "
            f"defines it, ran out of time: it was stopped at line 2 after {CELL_TIMEOUT} s; "
            f"the limit for one cell is {CELL_TIMEOUT} s") in " ".join(text.split())


def test_a_changed_argument_is_named(graded):
    g, _, _ = graded
    text = " ".join(h.feedback_text(g.course, "mutate", A, NB).split())
    assert "y_hat was changed in place" in text
    assert "the course's functions never modify their arguments: work on a copy" in text


def test_validate_agrees_with_autograde_on_the_visible_cases(graded):
    g, cases, validated = graded
    expected = {"magics": set(), "slow": {"three_layer_backward_cross_entropy"},
                "mutate": {"three_layer_cross_entropy_loss"}, "float32": {"three_layer_squared_loss"}}
    for student in cases:
        grader = h.autograde_visible_failures(g.course, A, NB, student)
        assert grader == expected[student], (student, grader)
        assert h.validate_failures(validated[student], FULL) == grader, (student, validated[student])


def test_float32_arithmetic_is_named_as_the_cause(graded):
    g, _, _ = graded
    text = " ".join(h.feedback_text(g.course, "float32", A, NB).split())
    assert "the error is at the level of float32 round-off" in text
