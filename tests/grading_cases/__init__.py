"""The synthetic students of the end-to-end grading tests, one plain data module per assignment.

``a01_perceptron.py`` ... ``a07_gradient_checker.py`` (``"a" + assignment``) each state, and state only:

- ``A``, ``NB``: the assignment and its notebook;
- ``MANUAL``: the grade ids graded by hand (written answers), ``[]`` when there are none;
- ``WRONG``, ``TAMPER``: ``{student: (overrides, expect, diagnoses[, edit])}``: ``overrides`` is
  ``{grade_id: source}`` for :func:`grading_harness.submission` (or :data:`grading_harness.UNANSWERED`:
  the release's cells, nothing filled in), ``expect`` the points where they differ from full marks
  (``{grade_id: points | PARTIAL}``, ``{EVERY_CELL: 0.0}``), ``diagnoses`` the texts the feedback must
  show, and the optional ``edit(nb)`` a change beyond the answer cells (tampered test cells, ...);
- ``AGAIN``: a student handed in twice (the grade must not depend on the run), or ``None``;
- ``SOLUTION_FEEDBACK``: what the solution's feedback says (``SOLUTION_FEEDBACK_OMITS``: what it must not).

The tampering attempts every class makes, (a) to (e), are built with
``grading_harness.usual_tampering`` from the assignment's graded functions
(``grading_harness.answers``). Points are not stated here: :attr:`Cases.FULL` reads them from the
spec (``nngrader/specs``), which the notebook metadata must match (``tests/test_grading_sandbox.py``).
To add an assignment, write its module and add its name to :data:`ASSIGNMENTS`.
"""
from __future__ import annotations

import dataclasses
import importlib
from dataclasses import dataclass, field
from functools import cached_property

import pytest

import grading_harness as h

__all__ = ["Cases", "Graded", "ASSIGNMENTS", "load", "graded", "graded_fixture"]

ASSIGNMENTS = ["01_perceptron", "02_three_layer", "03_two_layer", "04_optimizers", "05_training", "06_autodiff",
               "07_gradient_checker"]


@dataclass(frozen=True)
class Cases:
    """One assignment's data module, with the points read from its spec and the class it makes."""
    A: str
    NB: str
    WRONG: dict
    TAMPER: dict
    MANUAL: list = field(default_factory=list)
    AGAIN: str | None = None
    SOLUTION_FEEDBACK: list = field(default_factory=list)
    SOLUTION_FEEDBACK_OMITS: list = field(default_factory=list)

    @cached_property
    def FULL(self) -> dict:  # noqa: N802  (named like the data it stands next to)
        """``{grade_id: points}`` of every autograded cell, from the spec."""
        return h.full_points(self.A)

    @property
    def broken(self) -> list:
        """The students who lose points: the wrong answers and the tampering attempts."""
        return [*self.WRONG, *self.TAMPER]

    def submission(self, overrides=None, **kwargs):
        return h.submission(self.A, self.NB, overrides, **kwargs)

    def release(self):
        return h.release(self.A, self.NB)

    def students(self) -> dict:
        """``{student: (notebook, expect, diagnoses)}``: the solution, the release, every broken
        student, and ``AGAIN`` once more under ``<AGAIN>_again``."""
        out = {"solution": (self.submission(), {}, []), "release": (self.release(), {h.EVERY_CELL: 0.0}, [])}
        for name, (over, expect, diagnoses, *edit) in {**self.WRONG, **self.TAMPER}.items():
            nb = self.submission(over, fill=over is not h.UNANSWERED, edit=edit[0] if edit else None)
            out[name] = (nb, expect, diagnoses)
        if self.AGAIN:
            out[f"{self.AGAIN}_again"] = out[self.AGAIN]
        return out


def load(assignment: str) -> Cases:
    """The data module of ``assignment`` (``grading_cases.a<assignment>``) as :class:`Cases`."""
    module = importlib.import_module(f"{__name__}.a{assignment}")
    names = {f.name for f in dataclasses.fields(Cases)}
    return Cases(**{k: v for k, v in vars(module).items() if k in names})


@dataclass(frozen=True)
class Graded:
    """A class graded by one real ``nbgrader autograde`` run (see :func:`graded`)."""
    cases: Cases
    students: dict  # {student: (notebook, expect, diagnoses)}
    course: object  # the course copy's Path
    scores: dict
    manual: dict

    def feedback(self, student) -> str:
        return h.feedback_text(self.course, student, self.cases.A, self.cases.NB)


_graded: dict[str, Graded] = {}


def graded(assignment: str, tmp_path_factory) -> Graded:
    """The class of ``assignment`` autograded once per test session: every test module that reads
    it (the shared end-to-end test and an assignment's own tests) shares one nbgrader run."""
    if assignment not in _graded:
        cases = load(assignment)
        students = cases.students()
        g = h.autograde_class(tmp_path_factory.mktemp(assignment), cases.A, cases.NB,
                              {s: nb for s, (nb, _, _) in students.items()}, [*cases.FULL, *cases.MANUAL],
                              new_course_kwargs={"assignments": [cases.A]})
        _graded[assignment] = Graded(cases, students, g.course, g.scores, g.manual)
    return _graded[assignment]


def graded_fixture(assignment: str):
    """A module fixture ``graded``: the class of ``assignment`` (:func:`graded`), for the tests of one assignment."""
    return pytest.fixture(scope="module", name="graded")(lambda tmp_path_factory: graded(assignment, tmp_path_factory))
