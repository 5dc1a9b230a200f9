"""Run a student's notebook code in a fresh process and call its functions from outside.

The autograder never trusts what student code says about itself. :class:`Sandbox` starts a child
process (``python -I`` running :func:`nngrader.child.serve`, inside the grading jail of
:mod:`nngrader.jail`, with a minimal environment, a memory limit, and a SIGKILL when the grader
dies), sends it the notebook's code cells to execute, then asks it to call a student function with
given arguments. The child sends back the return value as plain arrays; the grader decides the
verdict in its own process (:mod:`nngrader.verdict`).

The rooms:

- :mod:`nngrader.wire`: the messages (length-prefixed ``.npz``, JSON metadata, no pickles);
- :mod:`nngrader.watcher`: the call watcher (forbidden nnkit calls, tampering, changed arguments);
- :mod:`nngrader.cells`: a cell as IPython would run it (magics, ``!`` lines);
- :mod:`nngrader.child`: the child process;
- this module: the parent side. :class:`Sandbox` is one child; :class:`Session` survives it.

A cell that runs past :data:`CELL_TIMEOUT` is interrupted inside the child, as the kernel
interrupts it at nbgrader's ``Execute.timeout`` (the same number), so what it defined before that
stays defined. The parent enforces the deadlines: a cell that does not stop when interrupted, or a
call that overruns, is killed with its process group; so is a child that dies (``os._exit``,
``kill -9`` of itself). :class:`Session` then starts a new child, replays the cells that ran before
(skipping the offending one) and carries on. It remembers how every cell ran (:class:`CellRun`),
so that a function that is then not defined is reported with the cell that should have defined
it: timed out (how long, and the limit), raised, skipped.

After a call returns, the child sends back the arguments as the function left them; the parent
compares them with what it sent (:func:`nngrader.watcher.mutated_arguments`,
:attr:`Outcome.mutated`).
"""
from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


from . import remote_layers
from .cells import cell_names, translate_cell
from .watcher import mutated_arguments, resolve_forbidden
from .wire import HEADER, MAX_MESSAGE, decode, encode, pack, unpack

__all__ = ["Outcome", "Session", "Sandbox", "SandboxError", "CellRun", "CELL_TIMEOUT"]

#: Seconds one notebook cell may run, wherever it runs: the grading sandbox
#: (``TrustedVerdicts.cell_timeout``) and the student's kernel under ``nbgrader validate`` and
#: autograde (``Execute.timeout``). nbgrader_config.py sets both from this one number.
CELL_TIMEOUT = 10


# --------------------------------------------------------------------------------------------
# the parent side
# --------------------------------------------------------------------------------------------
class SandboxError(Exception):
    """The child died, overran its deadline or broke the protocol."""

    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind = kind  # "timeout" | "crashed" | "protocol"


_PKG_PARENT = str(Path(__file__).resolve().parents[1])
_BOOT = (
    "import sys; sys.path.insert(0, {root!r}); "
    "from nngrader.child import serve; serve({rfd}, {wfd}, {mem}, {parent})"
)


class Sandbox:
    """One child process. Use :class:`Session` for crash recovery and replay.

    ``jail``: a :class:`nngrader.jail.GradingJail` to start the child in (the autograder always
    passes one, unless the instructor chose ``--allow-unsafe-grading``); without it the child is
    an ordinary process of the grader's account (the student's own kernel, tests).
    """

    def __init__(self, *, memory_mb: int = 4096, workdir: str | None = None, jail=None):
        self.memory_mb = memory_mb
        self.workdir = workdir
        self.jail = jail
        self.proc: subprocess.Popen | None = None
        self._tmp: tempfile.TemporaryDirectory | None = None
        self._jailed = None  # the JailedCommand of the running child

    def start(self) -> None:
        to_child_r, to_child_w = os.pipe()
        from_child_r, from_child_w = os.pipe()
        if self.workdir is None and self.jail is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="nngrader-sandbox-")
        cwd = self.workdir or (self._tmp.name if self._tmp else "/")
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": os.environ.get("HOME", cwd),
            "LANG": "C.UTF-8",
            "MPLBACKEND": "Agg",
            "NBGRADER_EXECUTION": "autograde",
            "NNGRADER_SANDBOX": "1",
            "OMP_NUM_THREADS": "1",
            "OPENBLAS_NUM_THREADS": "1",
            "MKL_NUM_THREADS": "1",
            "PYTHONHASHSEED": "0",
            "PYTHONDONTWRITEBYTECODE": "1",
            "TMPDIR": cwd,
        }
        if "MPLCONFIGDIR" in os.environ:
            env["MPLCONFIGDIR"] = os.environ["MPLCONFIGDIR"]
        # in a jail the parent is bwrap's init (pid 1 there); bwrap's --die-with-parent stands in
        code = _BOOT.format(root=_PKG_PARENT, rfd=to_child_r, wfd=from_child_w, mem=int(self.memory_mb),
                            parent=0 if self.jail is not None else os.getpid())
        argv, kwargs = [sys.executable, "-I", "-c", code], {"pass_fds": (to_child_r, from_child_w), "cwd": cwd, "env": env}
        if self.jail is not None:  # the jail lays out its own home, scratch and working directory
            self._jailed = self.jail.command(argv, env=env, course_root=os.getcwd(), pass_fds=kwargs["pass_fds"])
            argv, kwargs = self._jailed.argv, self._jailed.kwargs
        try:
            self.proc = subprocess.Popen(
                argv,
                **kwargs,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
        finally:
            os.close(to_child_r)
            os.close(from_child_w)
        self._w, self._r = to_child_w, from_child_r
        os.set_blocking(self._w, False)
        os.set_blocking(self._r, False)

    def request(self, meta: dict, arrays: dict | None, timeout: float, serve=None) -> tuple[dict, dict]:
        """Send one message and wait at most ``timeout`` s for the reply; SandboxError otherwise.

        ``serve(value) -> value``: answers the ``callback`` messages the child sends while it works
        on the request (a proxy layer's backward pass, :mod:`nngrader.remote_layers`), within the
        same deadline; without it a callback breaks the protocol.
        """
        deadline = time.monotonic() + timeout
        self._send(encode(meta, arrays), deadline)
        while True:
            reply, out = self._receive(deadline)
            if reply.get("op") != "callback":
                return reply, out
            if serve is None:
                self._fail("protocol", "asked the grader for something it does not serve")
            try:
                value = unpack(reply.get("value"), out)
            except Exception:
                self._fail("protocol", "sent a malformed request")
            answer, answer_arrays = pack(serve(value))
            self._send(encode({"op": "callback", "value": answer}, answer_arrays), deadline)

    def _send(self, data: bytes, deadline: float) -> None:
        data = memoryview(data)
        try:
            while data:
                left = deadline - time.monotonic()
                if left <= 0:
                    self._fail("timeout", "timed out")
                _, w, _ = select.select([], [self._w], [], left)
                if w:
                    data = data[os.write(self._w, data[: 1 << 16]):]
        except OSError:  # BrokenPipeError: the child is gone
            self._fail("crashed", "the process running the code exited")

    def _receive(self, deadline: float) -> tuple[dict, dict]:
        header = self._read(HEADER.size, deadline)
        (n,) = HEADER.unpack(header)
        if n > MAX_MESSAGE:
            self._fail("protocol", "sent a reply that is too large")
        body = self._read(n, deadline)
        try:
            return decode(body)
        except Exception:
            self._fail("protocol", "sent a malformed reply")

    def _read(self, n: int, deadline: float) -> bytes:
        chunks, got = [], 0
        while got < n:
            left = deadline - time.monotonic()
            if left <= 0:
                self._fail("timeout", "timed out")
            r, _, _ = select.select([self._r], [], [], left)
            if not r:
                continue
            try:
                b = os.read(self._r, min(n - got, 1 << 20))
            except BlockingIOError:
                continue
            if not b:
                self._fail("crashed", "the process running the code exited")
            chunks.append(b)
            got += len(b)
        return b"".join(chunks)

    def _fail(self, kind: str, message: str):
        code = self.kill()
        if kind == "crashed" and code is not None:
            message += f" (exit status {code})" if code >= 0 else f" (killed by signal {-code})"
        raise SandboxError(kind, message)

    def kill(self) -> int | None:
        """Kill the child and everything it started; return its exit status."""
        code = None
        if self.proc is not None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            try:
                code = self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
            self.proc = None
        for fd in ("_w", "_r"):
            if getattr(self, fd, None) is not None:
                try:
                    os.close(getattr(self, fd))
                except OSError:
                    pass
                setattr(self, fd, None)
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None
        if self._jailed is not None:
            self._jailed.cleanup()
            self._jailed = None
        return code

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            try:
                os.write(self._w, encode({"op": "bye"}))
            except OSError:
                pass
        self.kill()


@dataclass
class Outcome:
    """What calling one student function produced (sandbox or kernel).

    ``mutated``: the arguments the call changed in place (:func:`mutated_arguments`), e.g.
    ``["y_hat"]`` or ``["params['W1']"]``; only filled in for a call that returned ("ok").
    """

    status: str  # ok | error | missing | timeout | crashed | protocol | budget
    error: str = ""
    value: Any = None
    forbidden_calls: list = field(default_factory=list)
    tampered: bool = False
    mutated: list = field(default_factory=list)


#: Seconds a cell gets, past its limit, to stop when interrupted before its process is killed.
INTERRUPT_GRACE = 3.0


@dataclass
class CellRun:
    """How one notebook cell ran in the sandbox, kept by :class:`Session` to say later why a
    function is not defined."""

    index: int
    status: str  # ok | error | timeout | crashed | protocol | skipped
    message: str = ""
    name: str = ""  # the cell's nbgrader grade_id, if any
    seconds: float = 0.0  # how long it ran (timeouts)
    limit: float = 0.0  # the limit it had (timeouts)
    binds: frozenset = frozenset()  # names it binds at its top level
    complete: bool = True  # binds is all it can bind (its code parses, no import *, not skipped)
    scoped: frozenset = frozenset()  # names a %%timeit body binds, which are not kept
    notes: list = field(default_factory=list)  # what the sandbox skipped in it that might matter
    magic: str = ""  # the cell magic it starts with

    def label(self) -> str:
        """``cell 17 (backward_solution)``: its position in the notebook, counting every cell."""
        return f"cell {self.index + 1}" + (f" ({self.name})" if self.name else "")

    def failure(self) -> str:
        """What went wrong, as the end of a sentence that starts with the cell's label."""
        return self.message


class Session:
    """A notebook's code in a sandbox that survives crashes.

    ``exec_cell`` runs cells in order; ``call`` calls a student function (the runner interface
    :func:`nngrader.verdict.run_check` uses). When the child dies or is killed, the next request
    starts a new one and replays every cell that had run (minus the ones that killed a child).

    Time limits: a cell that runs past ``cell_timeout`` is interrupted, as the kernel interrupts
    it at nbgrader's ``Execute.timeout``: what it defined before that stays defined, and the
    rest is not run. A cell that does not stop within :data:`INTERRUPT_GRACE` seconds of that is
    killed with its process and not replayed. Either way :attr:`runs` keeps what happened, and a
    function that is then not defined is reported with the cell that should have defined it.
    """

    def __init__(self, *, cell_timeout: float = CELL_TIMEOUT, time_budget: float = 180.0, max_restarts: int = 6,
                 memory_mb: int = 4096, log=None, jail=None):
        self.cell_timeout = cell_timeout
        self.time_budget = time_budget
        self.max_restarts = max_restarts
        self.memory_mb = memory_mb
        self.jail = jail
        self.log = log
        self.cells: list[tuple[int, str]] = []  # cells to replay after a restart
        self.runs: dict[int, CellRun] = {}
        self.restarts = 0
        self._sb: Sandbox | None = None
        self._t0 = time.monotonic()
        self._gave_up = ""

    # -- process management --------------------------------------------------------------------
    def _left(self) -> float:
        return self.time_budget - (time.monotonic() - self._t0)

    def _limit(self) -> float:
        return min(self.cell_timeout, max(self._left(), 0.1))

    def _ensure(self) -> bool:
        """A live child with every good cell replayed; False when we have given up."""
        while self._sb is None:
            if self._gave_up:
                return False
            if self.restarts > self.max_restarts:
                self._gave_up = f"the grader restarted your code {self.max_restarts} times and gave up"
                return False
            sb = Sandbox(memory_mb=self.memory_mb, jail=self.jail)
            sb.start()
            ok = True
            for index, source in list(self.cells):
                limit = self._limit()
                try:
                    sb.request({"op": "exec", "cell": index, "source": source, "limit": limit}, None,
                               limit + INTERRUPT_GRACE)
                except SandboxError as e:
                    # a cell that ran before but kills the child on replay: drop it too
                    self.cells = [(i, s) for i, s in self.cells if i != index]
                    old = self.runs.get(index)
                    self.runs[index] = CellRun(index, e.kind, f"stopped the process it ran in when run again after a restart ({e})",
                                               name=old.name if old else "", binds=old.binds if old else frozenset())
                    self.restarts += 1
                    ok = False
                    break
            if ok:
                self._sb = sb
        return True

    def _lost(self) -> None:
        self._sb = None
        self.restarts += 1

    def close(self) -> None:
        if self._sb is not None:
            self._sb.close()
            self._sb = None

    # -- the two operations ------------------------------------------------------------------------
    def exec_cell(self, index: int, source: str, name: str = "") -> CellRun:
        """Run one notebook cell (``name``: its nbgrader grade_id, used in messages)."""
        tr = translate_cell(source)
        binds, complete = cell_names(tr.code) if tr.code is not None else (frozenset(), False)
        run = CellRun(index, "ok", name=str(name or ""), magic=tr.magic, scoped=tr.scoped, binds=binds,
                      complete=complete)
        if tr.code is None:
            run.status, run.message = "skipped", f"was not run: {tr.note}"
        elif self._left() <= 0 or not self._ensure():
            run.status, run.message = "skipped", f"was not run: {self._gave_up or 'the grading time budget was used up'}"
        else:
            limit = self._limit()
            by_budget = limit < self.cell_timeout
            t0 = time.monotonic()
            try:
                reply, _ = self._sb.request({"op": "exec", "cell": index, "source": tr.code, "limit": limit}, None,
                                            limit + INTERRUPT_GRACE)
                self.cells.append((index, tr.code))
                notes = reply.get("notes")
                if isinstance(notes, list):
                    run.notes += [str(n)[:80] for n in notes[:10]]
                if reply.get("timeout"):
                    where = str(reply.get("where") or "")
                    where = f" at {where.split(', ')[-1]}" if where else ""
                    run.status, run.seconds, run.limit = "timeout", time.monotonic() - t0, limit
                    run.message = self._too_long(run, f"it was stopped{where} after {run.seconds:.0f} s", by_budget)
                elif reply.get("ok"):
                    run.status = "ok"
                else:
                    run.status, run.message = "error", str(reply.get("error", ""))[:500]
            except SandboxError as e:
                run.status = e.kind
                if e.kind == "timeout":
                    run.seconds, run.limit = time.monotonic() - t0, limit
                    run.message = self._too_long(
                        run, f"it did not stop when interrupted and was ended after {run.seconds:.0f} s", by_budget)
                else:
                    what = "ended the process it ran in" if e.kind == "crashed" else "corrupted the grading channel"
                    run.message = f"{what} ({e}); it was skipped from then on"
                self._lost()
        self.runs[index] = run
        return run

    def _too_long(self, run: CellRun, what: str, by_budget: bool) -> str:
        if by_budget:
            return f"ran out of time: {what}, when the grading time budget of {self.time_budget:g} s was used up"
        return f"ran out of time: {what}; the limit for one cell is {run.limit:g} s"

    def why_missing(self, function: str) -> str:
        """Why ``function`` may not be defined, from how the cells ran; "" when nothing went wrong.

        The latest cell that binds the name and did not finish (timed out, raised, crashed, was
        skipped) is named with what happened; otherwise up to two cells that did not run
        normally are, as cells that may define it.
        """
        runs = [self.runs[i] for i in sorted(self.runs)]
        for r in reversed(runs):
            if function in r.scoped:
                return (f": {r.label()} starts with %%timeit, which runs the cell in a function of its own "
                        f"(as IPython does), so the {function} it defines is not kept; remove the %%timeit line")
            if function in r.binds and r.status != "ok":
                return f": {r.label()}, which defines it, {r.failure()}"
        # cells that may bind it in a way not read from their code: skipped, unparsable, import *,
        # or using something the grader does not run (%run, !cmd)
        doubtful = [r for r in runs if (r.status != "ok" and not r.complete) or (r.status == "ok" and r.notes)]
        if not doubtful:
            return ""
        said = []
        for r in doubtful[-2:]:
            if r.status != "ok":
                said.append(f"{r.label()} {r.failure()}")
            else:
                said.append(f"{r.label()} uses {', '.join(r.notes)}, which the grader does not run")
        return f" ({'; '.join(said)}; it may define {function})"

    def call(self, function: str, args, kwargs, forbidden, timeout: float) -> Outcome:
        if self._left() <= 0:
            return Outcome("budget", "not run: the grading time budget for this notebook was used up")
        if not self._ensure():
            return Outcome("crashed", f"not run: {self._gave_up}")
        server, args, kwargs = remote_layers.hide(args, kwargs)  # layers that stay here, as public data
        a_struct, arrays = pack(list(args))
        k_struct, arrays = pack(dict(kwargs), arrays)
        meta = {"op": "call", "function": function, "args": a_struct, "kwargs": k_struct,
                "forbidden": resolve_forbidden(forbidden)}
        try:
            reply, out = self._sb.request(meta, arrays, min(timeout, max(self._left(), 0.1)),
                                          serve=server.answer if server is not None else None)
        except SandboxError as e:
            self._lost()
            if e.kind == "timeout":
                return Outcome("timeout", f"{function} did not return within {timeout:g} s (an endless loop?)")
            if e.kind == "crashed":
                return Outcome("crashed", f"{function} ended the process it ran in: {e}")
            return Outcome("protocol", f"while {function} ran, the grading channel was corrupted ({e})")
        status = reply.get("status")
        if status not in ("ok", "error", "missing"):
            self.close()
            self._lost()
            return Outcome("protocol", f"while {function} ran, the grading channel was corrupted")
        calls = reply.get("forbidden_calls") or []
        calls = [str(c) for c in calls] if isinstance(calls, list) else []
        outcome = Outcome(status, str(reply.get("error", ""))[:1000], None, calls, bool(reply.get("tampered")))
        if status == "missing" and outcome.error.endswith("is not defined"):
            outcome.error += self.why_missing(function)[:600]
        if status == "ok":
            try:
                outcome.value = unpack(reply.get("value"), out)
            except Exception as e:
                outcome.status, outcome.error = "protocol", f"the result could not be read ({e})"
                return outcome
            if reply.get("after") is not None:
                try:
                    after = unpack(reply["after"], out)
                    names = reply.get("argnames") if isinstance(reply.get("argnames"), list) else []
                    outcome.mutated = mutated_arguments((args, kwargs), (after[0], after[1]), names)
                except Exception:  # noqa: BLE001 - a malformed report: compare nothing
                    outcome.mutated = []
        return outcome
