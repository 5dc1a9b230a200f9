"""nngrader: grading for the course's nbgrader assignments, checked against nnkit.

One room per job; they hand each other structured values, never message text:

- In the student's kernel: :func:`check` (:mod:`nngrader.check`), a test cell's advice.
- What is graded: :mod:`nngrader.specs` (one spec per assignment: its cases, references and
  judges) and the data some assignments send across the sandbox: :mod:`nngrader.graphs` (06's
  computation graphs as programs), :mod:`nngrader.planted` (07's layers with planted bugs), which
  stay in the grader: student code gets :mod:`nngrader.remote_layers`' proxies, whose backward pass
  the sandbox's parent computes.
- Containing student code: :mod:`nngrader.jail` (bubblewrap; :mod:`nngrader.jail_init` is its first
  program, :mod:`nngrader.jail_cgroup` its memory cgroup, :mod:`nngrader.jailed_kernel` the kernel
  manager that starts nbgrader's kernels in it).
- Running it: :mod:`nngrader.sandbox` (the trusted parent) starts :mod:`nngrader.child` in the jail
  and talks to it in :mod:`nngrader.wire`'s format; :mod:`nngrader.cells` runs a notebook's cells
  as IPython would (magics included); :mod:`nngrader.watcher` records which forbidden functions a
  call reached and whether it tampered with the profiler.
- Judging: :mod:`nngrader.verdict` turns outputs into points and a diagnosis (structured parts and
  causes), kept in each test cell's metadata.
- nbgrader: :mod:`nngrader.course` (the course's config, secret and gradebook, in one place),
  :mod:`nngrader.preprocessors` (grade in the sandbox, never in the kernel),
  :mod:`nngrader.missing_cells` (put back deleted test cells).
- A whole class: :mod:`nngrader.grade_all` (in parallel, workers from :mod:`nngrader.nbgrader_process`,
  grades in :mod:`nngrader.grades_csv`), :mod:`nngrader.class_report` and
  :mod:`nngrader.report_page` (the instructor's report); :mod:`nngrader.grade_detached` and
  :mod:`nngrader.record` grade in two steps (Kubernetes: one step runs student code with no
  gradebook credentials, the other records the grades).
- ``python -m nngrader ARGS``: nbgrader's own command line, started faster.
"""
from .check import CheckFailed, check

__all__ = ["check", "CheckFailed"]
