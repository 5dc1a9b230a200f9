"""nngrader: grading for the course's nbgrader assignments, checked against nnkit.

- :func:`check` (in a notebook's test cell): advice in the student's kernel.
- :mod:`nngrader.specs`: what each autograded test cell checks (one module per assignment).
- :mod:`nngrader.sandbox`: runs a notebook's code in a fresh, watched process.
- :mod:`nngrader.verdict`: turns outputs into points and a diagnosis.
- :mod:`nngrader.preprocessors`: nbgrader hooks that grade in the sandbox, never in the kernel.
- :mod:`nngrader.grade_all`: autograde a whole class in parallel.
- ``python -m nngrader ARGS``: nbgrader's own command line, started faster.
"""
from .check import CheckFailed, check

__all__ = ["check", "CheckFailed"]
