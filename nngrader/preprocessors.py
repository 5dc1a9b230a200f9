"""nbgrader preprocessors: grade in a fresh process, and survive kernels that die.

Configured in ``nbgrader_config.py``::

    c.Autograde.autograde_preprocessors = [
        "nngrader.preprocessors.ResilientExecute",   # instead of nbgrader's Execute
        "nngrader.preprocessors.TrustedVerdicts",    # right after it
        ...nbgrader's own: IgnorePattern, ClearMetadataPreprocessor, LimitOutput, SaveAutoGrades...
    ]

:class:`TrustedVerdicts` replaces the outputs of every autograded test cell (``grade`` and not
``solution``, code) with a verdict computed outside the student's kernel: the notebook's other
code cells run in a :class:`nngrader.sandbox.Session` and the spec for the cell's ``grade_id``
(:mod:`nngrader.specs`) judges the results in this process. The new outputs are a stdout stream
with the diagnosis and an ``execute_result`` holding the score, which is what
``nbgrader.utils.determine_grade`` reads. Whatever the kernel printed or raised in that cell
(monkeypatched checks, edited asserts) is discarded. The verdict is also stored as data in the
cell's metadata (``metadata.nngrader``, :meth:`nngrader.verdict.Verdict.record`) of the
autograded notebook, which the class report reads.

:class:`TrustedVerdicts` runs the student's code in a sandbox inside the grading jail, and
:class:`ResilientExecute` starts its kernels there (:mod:`nngrader.jail`,
:mod:`nngrader.jailed_kernel`); neither grades without it unless the instructor allowed
``GradingJail.allow_unsafe_grading``.

:class:`ResilientExecute` is nbgrader's Execute, except that a kernel that dies or stops
answering no longer aborts the student's autograde: the cell gets an error output, a new
kernel starts, and the remaining cells run. It does not run the test cells in the kernel:
:class:`TrustedVerdicts` scores them.
"""
from __future__ import annotations

import os

from jupyter_core.utils import run_sync
from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbformat.v4 import new_output
from nbgrader import utils
from nbgrader.preprocessors import Execute, NbGraderPreprocessor
from traitlets import Bool, Float, Integer, Unicode, default

from .jail import GradingJail
from .sandbox import CELL_TIMEOUT

__all__ = ["TrustedVerdicts", "ResilientExecute"]


def is_test_cell(cell) -> bool:
    """An autograded test cell: nbgrader grade cell, code, not a solution cell."""
    return cell.cell_type == "code" and utils.is_grade(cell) and not utils.is_solution(cell)


class TrustedVerdicts(NbGraderPreprocessor):
    """Score every autograded test cell from a sandbox run of the notebook's code."""

    secret = Unicode(
        "", help="Secret for the hidden cases' seeds (default: $NNGRADER_SECRET, nngrader_secret.txt, built-in)."
    ).tag(config=True)
    cell_timeout = Float(
        CELL_TIMEOUT, help="Seconds one code cell may run in the sandbox (nbgrader_config.py sets it and "
                           "Execute.timeout from one number, nngrader.sandbox.CELL_TIMEOUT)."
    ).tag(config=True)
    time_budget = Float(240.0, help="Seconds the sandbox may spend on one notebook in total.").tag(config=True)
    memory_mb = Integer(
        4096, help="Address-space limit of the sandbox process (MiB); in the jail, GradingJail.memory_mb caps it too."
    ).tag(config=True)
    max_restarts = Integer(6, help="Sandbox restarts (after crashes/timeouts) before giving up.").tag(config=True)
    require_spec = Bool(
        True, help="Score 0 for a test cell whose grade_id has no nngrader spec (never trust the kernel)."
    ).tag(config=True)

    def preprocess(self, nb, resources):
        from . import specs
        from .sandbox import Session
        from .verdict import Verdict, run_check

        assignment = resources["nbgrader"]["assignment"]
        checks = specs.load(assignment)
        code_cells = [(i, c) for i, c in enumerate(nb.cells) if c.cell_type == "code"]
        tests = [i for i, c in code_cells if is_test_cell(c)]
        if not tests:
            return nb, resources
        if not checks and not self.require_spec:
            self.log.warning("No nngrader spec for %s: test cells keep the kernel's outputs", assignment)
            return nb, resources
        secret = self.secret or specs.get_secret()
        jail = GradingJail(parent=self)
        jailed = jail.ready(course_root=os.getcwd())  # fails closed: JailUnavailable stops this autograde
        session = Session(
            cell_timeout=self.cell_timeout,
            time_budget=self.time_budget,
            max_restarts=self.max_restarts,
            memory_mb=self.memory_mb,
            jail=jail if jailed else None,
        )
        last_test = tests[-1]
        try:
            for index, cell in code_cells:
                if index > last_test:
                    break
                if not is_test_cell(cell):
                    name = cell.metadata.get("nbgrader", {}).get("grade_id", "")
                    run = session.exec_cell(index, cell.source, name=name)
                    if run.status not in ("ok", "error"):
                        # kept in the session: a function the cell would define is reported with it
                        self.log.warning("sandbox: %s %s", run.label(), run.message)
                    continue
                gid = cell.metadata.nbgrader["grade_id"]
                points = float(cell.metadata.nbgrader.get("points", 0))
                chk = checks.get(gid)
                if chk is None:
                    self.log.error("No nngrader check registered for grade_id %r in %s", gid, assignment)
                    verdict = Verdict(gid, gid, points, 0.0, notes=[
                        f"0 points: no automatic check is registered for this cell ({gid}); ask the instructor."
                    ])
                else:
                    if float(chk.points) != points:
                        self.log.warning("%s: spec has %s points, the notebook %s; using the notebook's",
                                         gid, chk.points, points)
                    verdict = run_check(chk, session, secret, ("visible", "hidden"), points=points)
                self.log.info("%s: %s / %s", gid, verdict.score, points)
                # the verdict as data, for the class report (nngrader.report): kept in the
                # autograded notebook, where nbgrader leaves cell metadata alone
                cell.metadata["nngrader"] = verdict.record()
                cell.outputs = [
                    new_output("stream", name="stdout", text=verdict.text()),
                    new_output(
                        "execute_result",
                        data={"text/plain": repr(float(verdict.score))},
                        execution_count=cell.get("execution_count"),
                    ),
                ]
        finally:
            session.close()
        return nb, resources


class ResilientExecute(Execute):
    """nbgrader's Execute, but a dead or unresponsive kernel costs one cell, not the notebook.

    It also leaves the autograded test cells out of the student's kernel (``skip_test_cells``):
    :class:`TrustedVerdicts` throws their kernel outputs away and scores them in a sandbox, so
    running them in the kernel too would only double the grading time (in 05_training, the
    in-kernel check of ``train_digits`` trains a network for a second each time).
    """

    @default("kernel_manager_class")
    def _jailed_kernels(self):
        from .jailed_kernel import JailedKernelManager

        return JailedKernelManager  # nbgrader_config.py also sets it for nbgrader's own Execute (validate)

    skip_test_cells = Bool(
        True, help="Do not run autograded test cells in the student's kernel (TrustedVerdicts scores them)."
    ).tag(config=True)

    def preprocess_cell(self, cell, resources, index):
        if self.skip_test_cells and is_test_cell(cell):
            cell.outputs = []
            cell.execution_count = None
            return cell, resources
        try:
            return super().preprocess_cell(cell, resources, index)
        except (DeadKernelError, CellTimeoutError) as e:
            what = "died" if isinstance(e, DeadKernelError) else "stopped responding"
            self.log.warning("Kernel %s in cell %d; starting a new kernel", what, index)
            cell.outputs.append(new_output(
                "error",
                ename=type(e).__name__,
                evalue=f"the kernel {what} while running this cell",
                traceback=[f"{type(e).__name__}: the kernel {what} while running this cell; "
                           "later cells ran in a new kernel (variables defined before are gone)"],
            ))
            run_sync(self._async_new_kernel)()
            return cell, self.resources

    async def _async_new_kernel(self):
        await self._async_cleanup_kernel()
        self.km = self.create_kernel_manager()
        await self.async_start_new_kernel()
        await self.async_start_new_kernel_client()
