"""``check(grade_id, ...)``: the advisory test a notebook's test cell runs in the student's kernel.

It runs the same spec as the autograder (:mod:`nngrader.specs`), calls the student's functions
right here, and either prints the diagnosis to stdout (every case passed) or raises
:class:`CheckFailed` (an AssertionError) whose error output is the diagnosis, so ``nbgrader
validate`` passes a correct notebook, shows what is wrong in a failing one, and ``nbgrader
validate --invert`` flags an unfinished one.

It decides nothing: at autograde time (``NBGRADER_EXECUTION=autograde``) it only prints a
note, and the autograder replaces the cell's output with a verdict computed in a fresh
process (:mod:`nngrader.preprocessors`). Monkeypatching this function, NumPy or nnkit in the
kernel therefore changes nothing about the grade.

Nothing here writes to stderr: NumPy floating-point warnings and ``warnings`` are silenced
while the checks run.
"""
from __future__ import annotations

import contextlib
import os
import sys
import textwrap

from . import remote_layers, specs
from .remote_layers import through_wire
from .sandbox import Outcome
from .watcher import argument_names, call_watched, mutated_arguments, resolve_forbidden
from .wire import pack, unpack
from .verdict import quiet, run_check

__all__ = ["check", "CheckFailed"]


WIDTH = 80  # nbgrader validate cuts each line of an error at 86 characters (its width 90, indent 4)


class CheckFailed(AssertionError):
    """Raised by :func:`check` when not every case passed.

    IPython shows :meth:`_render_traceback_` instead of a traceback: the diagnosis, then the
    one-line summary, every line at most ``WIDTH`` characters. It is the error output of the
    cell, which is what ``nbgrader validate`` (and its button in JupyterLab) prints of a failing
    test cell, so the diagnosis is there too, not only in the notebook.
    """

    def __init__(self, summary: str, diagnosis: str = ""):
        super().__init__(summary)
        self.diagnosis = diagnosis

    def _render_traceback_(self):
        lines = []
        for line in [*self.diagnosis.rstrip("\n").splitlines(), f"CheckFailed: {self}"]:
            indent = " " * (len(line) - len(line.lstrip()) + 2)
            lines += textwrap.wrap(line, WIDTH, subsequent_indent=indent, break_on_hyphens=False) or [""]
        return lines


def _unwatched(stack, server):
    """``ask(request) -> reply`` answered by ``server`` in a thread started now, before the watched
    call: the hook that watches student code is per thread (and given only to threads started while
    it runs), so the grader's own backward passes, nnkit's clean ones that student code may not call,
    are not taken for the student's, just as in the sandbox, where they run in the grader's process."""
    from concurrent.futures import ThreadPoolExecutor

    pool = stack.enter_context(ThreadPoolExecutor(1, thread_name_prefix="nngrader-layers"))
    pool.submit(int).result()  # the thread starts before the call is watched

    def ask(request):
        return through_wire(pool.submit(server.answer, through_wire(request)).result())
    return ask


class _KernelRunner:
    """Calls the student's functions right here, the way the sandbox calls them: on fresh copies
    of the arguments, with the same time limit per case (the check's ``timeout``), with proxies
    for the layers the grader keeps (:mod:`nngrader.remote_layers`, served in this process),
    reporting the arguments a call changed in place (:attr:`Outcome.mutated`)."""

    def __init__(self, functions: dict):
        self.functions = functions

    def call(self, function, args, kwargs, forbidden, timeout) -> Outcome:
        fn = self.functions.get(function)
        if not callable(fn):
            return Outcome("missing", f"{function} is not defined" if fn is None else f"{function} is not a function")
        # layers that stay with the grader (remote_layers): served here, through the same packing
        server, args, kwargs = remote_layers.hide(args, kwargs)
        with contextlib.ExitStack() as stack:
            ask = None if server is None else _unwatched(stack, server)
            return self._call(fn, function, args, kwargs, forbidden, timeout, ask)

    def _call(self, fn, function, args, kwargs, forbidden, timeout, ask) -> Outcome:
        # fresh copies, exactly as the sandbox receives them; compared with the originals afterwards
        a_struct, arrays = pack(list(args))
        k_struct, arrays = pack(dict(kwargs), arrays)
        given_args = unpack(a_struct, arrays, allow_rng=True)
        given_kwargs = unpack(k_struct, arrays, allow_rng=True)
        # stderr output in a test cell fails it under nbgrader: send the student's to stdout
        with contextlib.redirect_stderr(sys.stdout), remote_layers.connect(ask):
            r = call_watched(fn, given_args, given_kwargs, resolve_forbidden(forbidden), alarm=float(timeout))
        out = Outcome(r["status"], r["error"], None, r["forbidden_calls"], r["tampered"])
        if r["status"] == "timeout":
            out.error = f"{function} {r['error']}"
        if r["status"] == "ok":
            out.value = unpack(r["value"], r["arrays"])
            out.mutated = mutated_arguments((args, kwargs), (given_args, given_kwargs), argument_names(fn))
        return out


def check(grade_id: str, *functions, hidden: bool = False) -> None:
    """Run the visible (or, with ``hidden=True``, the hidden) cases of one graded function.

    Parameters
    ----------
    grade_id : str
        The nbgrader grade id of the test cell (see ``nngrader/specs/<assignment>.py``).
    *functions : the student's functions, in the order the spec lists them, optionally followed
        by the check's helpers (a locked driver such as ``run_optimizer``; helpers left out are
        looked up by name in the notebook's namespace, ``__main__`` in a kernel); or one dict (such as
        ``globals()``) to look everything up by name.
    hidden : bool
        Run the hidden cases instead of the visible ones.
    """
    if os.environ.get("NBGRADER_EXECUTION") == "autograde":
        print(f"[nngrader] {grade_id}: graded by the autograder in a fresh process.")
        return None
    chk = specs.find(grade_id)
    if len(functions) == 1 and isinstance(functions[0], dict):
        namespace = functions[0]
        bound = {name: namespace.get(name) for name in chk.names}
    elif len(functions) == len(chk.names):
        bound = dict(zip(chk.names, functions))
    elif len(functions) == len(chk.functions):
        notebook = vars(sys.modules["__main__"])  # in a kernel, the notebook's own namespace
        bound = dict(zip(chk.functions, functions))
        bound.update({name: notebook.get(name) for name in chk.helpers})
    else:
        takes = f"{len(chk.functions)} function(s): {', '.join(chk.functions)}"
        if chk.helpers:
            takes += f" (optionally followed by {', '.join(chk.helpers)})"
        raise TypeError(f"check({grade_id!r}, ...) takes {takes}; got {len(functions)}")
    with quiet():
        verdict = run_check(chk, _KernelRunner(bound), specs.get_secret(), ("hidden",) if hidden else ("visible",))
    if verdict.passed:
        print(verdict.text(advisory=True), end="")
        return None
    kind = "hidden" if hidden else "visible"
    raise CheckFailed(f"{grade_id}: {verdict.score:g} / {verdict.points:g} on the {kind} cases",
                      verdict.text(advisory=True))
