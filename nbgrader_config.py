# nbgrader configuration for the course. This directory is the course root.
#
#   solutions/<assignment>/<notebook>.ipynb   instructor versions (nbgrader's source directory)
#   assignments/<assignment>/<notebook>.ipynb what `nbgrader generate_assignment <assignment> --force`
#                                             writes (nbgrader's release directory; committed)
#   submitted/ autograded/ feedback/ gradebook.db   nbgrader's working data (git-ignored)
#
# Autograding never trusts the student's kernel: nngrader.preprocessors.TrustedVerdicts replaces
# every autograded test cell's output with a verdict computed in a fresh process (nngrader/).
# A whole class in parallel: `python -m nngrader.grade_all <assignment>`. `python -m nngrader ARGS`
# is `nbgrader ARGS`, started faster and working without an activated virtual environment.
import os

import sys

c = get_config()  # noqa: F821  (provided by nbgrader when it loads this file)

# nbgrader runs `alembic` from PATH when it creates a gradebook: the environment's own bin folder
# goes first, so that `.venv/bin/nbgrader`, the formgrader of `make lab` and `python -m nngrader`
# work without an activated environment (else gradebook.db is left half made).
_bin = os.path.dirname(sys.executable)
if os.environ.get("PATH", "").split(os.pathsep)[0] != _bin:
    os.environ["PATH"] = _bin + os.pathsep + os.environ.get("PATH", "")

c.CourseDirectory.course_id = "nn-fundamentals"
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "assignments"

# Time limit: one number for every place a cell runs, nngrader.sandbox.CELL_TIMEOUT (10 s): the
# student's kernel under `nbgrader validate` and autograde, and the sandbox that grades (below).
# A cell that runs longer is interrupted in both, and the feedback says which cell ran out of time.
# A kernel that dies or hangs is replaced (ResilientExecute).
from nngrader.sandbox import CELL_TIMEOUT  # noqa: E402

c.Execute.timeout = CELL_TIMEOUT
c.Execute.error_on_timeout = {
    "ename": "CellTimeoutError",
    "evalue": f"this cell ran for {CELL_TIMEOUT} s, the limit for one cell, and was interrupted",
    "traceback": [f"CellTimeoutError: this cell ran for {CELL_TIMEOUT} s, the limit for one cell, and was "
                  "interrupted. The grader stops a cell at the same limit: make it faster."],
}
c.Execute.startup_timeout = 60
c.Execute.iopub_timeout = 4
c.Execute.shutdown_kernel = "immediate"  # nothing to save in a grading kernel; saves ~0.2 s a notebook

# The exchange (release_assignment, fetch_assignment, submit, collect, release_feedback,
# fetch_feedback) is a folder: $NNGRADER_EXCHANGE if set (for example a shared
# /srv/nbgrader/exchange on a multi-user server), else exchange/ in the course root (git-ignored),
# created here so that the whole cycle works on one machine out of the box. Students who run
# nbgrader outside the course root pass the same folder: --Exchange.root=<course root>/exchange.
_exchange = os.environ.get("NNGRADER_EXCHANGE") or os.path.join(os.path.dirname(os.path.abspath(__file__)), "exchange")
try:
    os.makedirs(_exchange, exist_ok=True)
except OSError:  # a read-only or foreign location: nbgrader reports it when the exchange is used
    pass
c.Exchange.root = _exchange

# A deleted test cell comes back from the gradebook (and is graded) instead of needing a manual grade.
c.OverwriteCells.add_missing_cells = True
# ... after whichever cell precedes it (nbgrader's own OverwriteCells fails the whole notebook when
# that is a locked markdown or helper cell: nngrader/missing_cells.py).
c.Autograde.sanitize_preprocessors = [
    "nbgrader.preprocessors.ClearOutput",
    "nbgrader.preprocessors.DeduplicateIds",
    "nbgrader.preprocessors.OverwriteKernelspec",
    "nngrader.missing_cells.RestoreMissingCells",
    "nbgrader.preprocessors.CheckCellMetadata",
]

c.Autograde.autograde_preprocessors = [
    "nngrader.preprocessors.ResilientExecute",
    "nngrader.preprocessors.TrustedVerdicts",
    "nbgrader.preprocessors.IgnorePattern",
    "nbconvert.preprocessors.ClearMetadataPreprocessor",
    "nbgrader.preprocessors.LimitOutput",
    "nbgrader.preprocessors.SaveAutoGrades",
    "nbgrader.preprocessors.AssignLatePenalties",
    "nbgrader.preprocessors.CheckCellMetadata",
]

# The grading jail (nngrader/jail.py): every kernel and verdict sandbox that runs student code runs
# in bubblewrap, seeing only the Python environment and a scratch tmpfs, with no network. Here for
# nbgrader's own Execute too, so that `nbgrader validate` and the formgrader's Autograde button
# never run a submission outside it. Grading stops with a message where the jail cannot be made;
# `grade_all --allow-unsafe-grading` (c.GradingJail.allow_unsafe_grading = True) grades without it.
c.Execute.kernel_manager_class = "nngrader.jailed_kernel.JailedKernelManager"
c.GradingJail.memory_mb = 2048  # per process: a cell that allocates more gets MemoryError
c.GradingJail.processes = 128  # processes + threads of one jail (a fork bomb stays inside)
c.GradingJail.scratch_mb = 512  # the jail's writable tmpfs (home, copy of the submission, /tmp)

# The sandbox that runs student code for the verdicts: the same limit per cell as the kernel.
c.TrustedVerdicts.cell_timeout = CELL_TIMEOUT
c.TrustedVerdicts.time_budget = 240

# Secret for the hidden cases' seeds: keep it in the grader's environment (or in the file
# nngrader_secret.txt at the course root; never commit it). It is moved out of the environment
# here so that student kernels, which inherit the environment, never see it.
_secret = os.environ.pop("NNGRADER_SECRET", "")
if _secret:
    c.TrustedVerdicts.secret = _secret

# A PostgreSQL gradebook's URL from the environment (Kubernetes Secret nn-fundamentals-gradebook),
# taken out of it like the secret so that student kernels never see it.
_db_url = os.environ.pop("NNGRADER_DB_URL", "")
if _db_url:
    c.CourseDirectory.db_url = _db_url
