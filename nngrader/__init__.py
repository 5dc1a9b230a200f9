"""nngrader: grading for the course's nbgrader assignments, checked against nnkit.

- :func:`check` (in a notebook's test cell): advice in the student's kernel.
- :mod:`nngrader.specs`: what each autograded test cell checks (one module per assignment).
- :mod:`nngrader.jail`: the grading jail (bubblewrap) that every process running student code at
  grading time starts in; :mod:`nngrader.jail_init` is its first program,
  :mod:`nngrader.jailed_kernel` the kernel manager that starts nbgrader's kernels in it.
- :mod:`nngrader.sandbox`: runs a notebook's code in a fresh, watched process (in the jail).
- :mod:`nngrader.verdict`: turns outputs into points and a diagnosis.
- :mod:`nngrader.preprocessors`: nbgrader hooks that grade in the sandbox, never in the kernel.
- :mod:`nngrader.grade_all`: autograde a whole class in parallel.
- :mod:`nngrader.grade_detached` and :mod:`nngrader.record`: grading in two steps (Kubernetes):
  one that runs student code with no gradebook credentials, one that records the grades.
- ``python -m nngrader ARGS``: nbgrader's own command line, started faster.
"""
from .check import CheckFailed, check

__all__ = ["check", "CheckFailed"]
