"""Grading specs: what every autograded test cell checks, declared once per assignment.

One module per assignment, named after it: ``nngrader/specs/01_perceptron.py`` grades
``solutions/01_perceptron/``. It defines ``CHECKS``, a list of :class:`Check`, one per
autograded test cell, keyed by that cell's nbgrader ``grade_id``. Grade ids are unique across
the whole course (the registry refuses duplicates), so a notebook test cell needs only the id::

    check("perceptron_mp_neuron", mp_neuron)            # visible cases
    ### BEGIN HIDDEN TESTS
    check("perceptron_mp_neuron", mp_neuron, hidden=True)
    ### END HIDDEN TESTS

A :class:`Check` names the student function(s), the points, two case generators (visible and
hidden), a ``judge`` that compares one output with nnkit's answer, and the nnkit functions the
student's code must not call while it is graded.

A check may also name ``helpers``: functions of the notebook that its cases call but that the
student does not write, such as a locked driver that runs the student's update rule for K steps.
``check(grade_id, ...)`` binds them like the graded functions (pass them after those, or leave
them out and they are looked up in the notebook's namespace), the sandbox calls them by name, and
they stay out of the verdict's title and out of the "write ... yourself" message::

    Check("optim_momentum", functions=("momentum_step",), helpers=("run_optimizer",), ...)
    check("optim_momentum", momentum_step, run_optimizer)   # in the test cell; or:
    check("optim_momentum", momentum_step)                  # run_optimizer found by name

Adding an assignment
--------------------
1. Write ``solutions/<assignment>/<notebook>.ipynb`` (no outputs). nbgrader cell metadata
   (``metadata.nbgrader``, ``schema_version: 3``):

   - setup cell (imports, ``from nngrader import check``): code, ``locked: true``;
   - solution cell: code, ``solution: true``, body between ``### BEGIN SOLUTION`` and
     ``### END SOLUTION`` (nbgrader replaces it by ``raise NotImplementedError()``);
   - test cell: code, ``grade: true, locked: true, points: P``, ``grade_id`` = the Check's id,
     source as in the example above (visible call, hidden call between the HIDDEN TESTS markers);
   - written answer graded by hand: markdown, ``grade: true, solution: true, points: P``.
2. Write ``nngrader/specs/<assignment>.py`` with ``CHECKS = [Check(...), ...]`` (see
   ``01_perceptron.py``): case generators draw everything from the ``rng`` they get; judges
   compare with nnkit using :mod:`nngrader.verdict`'s ``compare_close`` / ``compare_exact`` /
   ``gradient_parts`` and return a list of ``Part``.
3. ``nbgrader generate_assignment <assignment> --force`` and commit ``assignments/<assignment>/``.
   ``tests/test_grading_sandbox.py`` then checks that specs and test cells agree (ids, points)
   and that the solution passes the hidden cases for many secrets; add end-to-end cases for the
   assignment's typical mistakes to ``tests/grading_cases/`` (one data module per assignment, graded by
   ``tests/test_grading_end_to_end.py``).

Seeds
-----
Visible cases are drawn from ``default_rng(seed("visible", grade_id))``, which does not depend
on any secret: a student sees the same visible cases every run. Hidden cases come from
``seed(secret, grade_id)``; the secret is ``$NNGRADER_SECRET``, else the first line of the file
``nngrader_secret.txt`` at the course root, else a fixed default. Same submission, same secret
-> same cases -> same grade.
"""
from __future__ import annotations

import hashlib
import importlib
import os
import pkgutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

__all__ = ["RNG", "Case", "Check", "load", "find", "all_checks", "get_secret", "case_rng", "DEFAULT_SECRET"]

DEFAULT_SECRET = "nngrader-default-secret"
SECRET_FILE = "nngrader_secret.txt"


@dataclass(frozen=True)
class RNG:
    """An argument the student function receives as ``numpy.random.default_rng(seed)``."""

    seed: int


@dataclass
class Case:
    """One call of a student function.

    Attributes
    ----------
    args, kwargs
        Arguments: ndarrays, Python numbers/bools/str/None, :class:`RNG`, and lists, tuples
        or str-keyed dicts of these. They travel to the sandbox as plain arrays.
    label : str
        Shown in the diagnosis, e.g. ``"X (6, 3), lr=0.5"``. Say what the case is, not the answer.
    function : str, optional
        The student function to call; default the check's first function.
    expect : any
        Parent-side data for the judge only (never sent to student code).
    """

    args: tuple = ()
    kwargs: dict = field(default_factory=dict)
    label: str = ""
    function: str | None = None
    expect: Any = None


@dataclass(frozen=True)
class Check:
    """What one autograded test cell grades.

    Attributes
    ----------
    grade_id : str
        The nbgrader ``grade_id`` of the test cell (unique across the course).
    functions : tuple of str
        Names of the student functions it grades, in the order ``check(...)`` receives them.
        They make up the verdict's title ("momentum_step: 2 / 2 points").
    points : float
        Must equal the test cell's nbgrader points.
    visible, hidden : callable ``rng -> list[Case]``
        Case generators. Visible cases run in the student's kernel while they work and in the
        grade; hidden ones only in the grade (and in ``check(..., hidden=True)``).
    judge : callable ``(case, value) -> list[verdict.Part]``
        Compares the student's return value (plain ndarrays / Python scalars, nested like the
        function returned them) with nnkit's answer. Runs in the grader's process. Exceptions
        are caught and turn into a failed part.
    forbidden : tuple of str
        nnkit functions the student code must not call while graded, as ``"module:qualname"``
        (``"nnkit.neurons:train_perceptron"``, ``"nnkit.neurons:McCullochPitts.__call__"``).
        A call scores 0 for the whole check, with a message saying why.
    timeout : float
        Seconds allowed per case in the grading sandbox.
    helpers : tuple of str
        Notebook functions the cases may call (``Case.function``) that are not graded themselves,
        e.g. a locked driver cell's ``run_optimizer``. ``check(...)`` takes them after
        ``functions`` or finds them by name in the notebook; they are left out of the title and
        of the messages.
    """

    grade_id: str
    functions: tuple
    points: float
    visible: Callable[[np.random.Generator], list]
    hidden: Callable[[np.random.Generator], list]
    judge: Callable[[Case, Any], list]
    forbidden: tuple = ()
    timeout: float = 5.0
    helpers: tuple = ()

    def __post_init__(self):
        for attr in ("functions", "helpers"):
            value = getattr(self, attr)
            object.__setattr__(self, attr, (value,) if isinstance(value, str) else tuple(value))
        if not self.functions:
            raise ValueError(f"{self.grade_id}: a check grades at least one function")
        both = set(self.functions) & set(self.helpers)
        if both:
            raise ValueError(f"{self.grade_id}: {', '.join(sorted(both))} listed as both function and helper")
        for name in self.forbidden:
            if ":" not in name:
                raise ValueError(f"forbidden entries are 'module:qualname'; got {name!r} in {self.grade_id}")

    @property
    def names(self) -> tuple:
        """Every notebook name the cases may call: the graded functions, then the helpers."""
        return self.functions + self.helpers

    def cases(self, kind: str, secret: str) -> list:
        """The visible or hidden cases, each with its function name filled in."""
        gen = self.visible if kind == "visible" else self.hidden
        cases = list(gen(case_rng(self.grade_id, kind, secret)))
        for c in cases:
            if c.function is None:
                c.function = self.functions[0]
        return cases


def case_rng(grade_id: str, kind: str, secret: str) -> np.random.Generator:
    """The generator a check's cases are drawn from; visible cases ignore the secret."""
    key = "visible" if kind == "visible" else secret
    digest = hashlib.sha256(f"{key}\x00{grade_id}\x00{kind}".encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "little"))


def _course_root(start: Path) -> Path | None:
    for d in (start, *start.parents):
        if (d / "nbgrader_config.py").is_file():
            return d
    return None


def get_secret(root: str | os.PathLike | None = None) -> str:
    """``$NNGRADER_SECRET``, else ``nngrader_secret.txt`` at the course root, else the default."""
    env = os.environ.get("NNGRADER_SECRET")
    if env:
        return env
    base = Path(root) if root is not None else _course_root(Path.cwd())
    if base is not None:
        path = base / SECRET_FILE
        try:
            line = path.read_text().splitlines()[0].strip()
        except (OSError, IndexError):
            line = ""
        if line:
            return line
    return DEFAULT_SECRET


# --- registry -------------------------------------------------------------------------------
_cache: dict[str, dict[str, Check]] = {}


def load(assignment: str) -> dict[str, Check]:
    """``{grade_id: Check}`` of one assignment; ``{}`` when it has no spec module."""
    if assignment not in _cache:
        try:
            module = importlib.import_module(f"{__name__}.{assignment}")
        except ModuleNotFoundError as e:
            if e.name != f"{__name__}.{assignment}":
                raise
            return {}
        checks: dict[str, Check] = {}
        for chk in module.CHECKS:
            if chk.grade_id in checks:
                raise ValueError(f"duplicate grade_id {chk.grade_id!r} in {module.__name__}")
            checks[chk.grade_id] = chk
        _cache[assignment] = checks
    return _cache[assignment]


def assignments() -> list[str]:
    """Names of all assignments that have a spec module."""
    here = Path(__file__).parent
    return sorted(m.name for m in pkgutil.iter_modules([str(here)]) if not m.name.startswith("_"))


def all_checks() -> dict[str, tuple[str, Check]]:
    """``{grade_id: (assignment, Check)}`` over the course; duplicate ids raise ValueError."""
    out: dict[str, tuple[str, Check]] = {}
    for a in assignments():
        for gid, chk in load(a).items():
            if gid in out:
                raise ValueError(f"grade_id {gid!r} is used by both {out[gid][0]} and {a}; ids must be unique")
            out[gid] = (a, chk)
    return out


def find(grade_id: str) -> Check:
    """The check with this grade id, from whichever assignment declares it."""
    try:
        return all_checks()[grade_id][1]
    except KeyError:
        raise KeyError(f"no nngrader check is registered with grade_id {grade_id!r}") from None
