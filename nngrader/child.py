"""The sandbox's child process: runs a notebook's cells and calls its functions on request.

Started as ``python -I`` by :class:`nngrader.sandbox.Sandbox` (inside the grading jail), it
points fd 0/1/2 at ``/dev/null`` before any student code runs, sets its memory limit, and serves
``exec`` / ``call`` / ``bye`` messages of :mod:`nngrader.wire` until the parent closes the pipe.
While a call runs, it may send the parent ``callback`` requests (a proxy layer's backward pass,
:mod:`nngrader.remote_layers`) and wait for each answer.
A cell past its time limit is interrupted (a KeyboardInterrupt, as the kernel gets it).
"""
from __future__ import annotations

import builtins
import os
import signal
import sys
from typing import Any

import numpy as np

from . import remote_layers
from .cells import SandboxIPython
from .watcher import argument_names, call_watched, describe_exception, error_location
from .wire import HEADER, MAX_DEPTH, NUM_KINDS, decode, encode, pack, unpack

_os_read, _os_write = os.read, os.write
_signal_signal, _setitimer = signal.signal, signal.setitimer

# --------------------------------------------------------------------------------------------
# the child process
# --------------------------------------------------------------------------------------------
def _read_exact(fd: int, n: int) -> bytes:
    chunks = []
    while n:
        b = _os_read(fd, min(n, 1 << 20))
        if not b:
            raise EOFError
        chunks.append(b)
        n -= len(b)
    return b"".join(chunks)


def _die_with_parent(parent: int) -> None:
    """Linux: get SIGKILL when the grader dies, even while stuck in a student's endless loop."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except Exception:
        pass
    if parent and os.getppid() != parent:  # the grader is already gone
        os._exit(1)


class _CellTimeout(KeyboardInterrupt):
    """Raised in a cell that reached its time limit: a KeyboardInterrupt, as IPython's kernel gets."""


def _exec_cell(source: str, index: int, limit: float, ns: dict) -> dict:
    """Run one cell's code; past ``limit`` seconds it is interrupted (KeyboardInterrupt), like the
    kernel's cell at nbgrader's timeout, so what it defined before that stays defined."""
    state = {"armed": False, "fired": False}
    error = None

    def on_alarm(signum, frame):
        if state["armed"]:
            state["fired"] = True
            raise _CellTimeout()

    try:
        try:
            code = compile(source, f"<cell {index}>", "exec")
            if limit > 0:
                _signal_signal(signal.SIGALRM, on_alarm)
                state["armed"] = True
                _setitimer(signal.ITIMER_REAL, limit)
            exec(code, ns)
        finally:
            state["armed"] = False
            if limit > 0:
                _setitimer(signal.ITIMER_REAL, 0)
        result = {"ok": True}
    except BaseException as e:  # noqa: BLE001 - SystemExit included: student code must not end the grader
        error = e
        result = {"ok": False, "error": describe_exception(e)}
    if state["fired"]:  # interrupted at the limit, even if the cell caught the KeyboardInterrupt
        where = error_location(error.__traceback__) if isinstance(error, _CellTimeout) else ""
        result = {"ok": False, "timeout": True, "where": where}
    return result


def _plain(value, _depth: int = 0):
    """``value`` with what :func:`pack` cannot send replaced: a Generator by None, any other object
    by a string naming its type (an argument a function replaced by an object has changed)."""
    if _depth > MAX_DEPTH:
        return "<nested too deeply>"
    if value is None or isinstance(value, (bool, int, float, str, np.bool_, np.integer, np.floating)):
        return value
    if isinstance(value, np.random.Generator):
        return None
    if isinstance(value, np.ndarray):
        return value if value.dtype.kind in NUM_KINDS else f"<array of {value.dtype}>"
    if isinstance(value, (list, tuple)):
        items = [_plain(v, _depth + 1) for v in list(value)]
        return tuple(items) if isinstance(value, tuple) else items
    if isinstance(value, dict):
        return {str(k): _plain(v, _depth + 1) for k, v in list(value.items())}
    return f"<{type(value).__name__} object>"


def serve(rfd: int, wfd: int, memory_mb: int, parent: int = 0) -> None:
    import resource

    _die_with_parent(parent)
    _write, _read = _os_write, _read_exact
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    sink = open(os.devnull, "w")
    sys.stdout = sys.stderr = sys.__stdout__ = sys.__stderr__ = sink
    try:
        limit = memory_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    except (ValueError, OSError):
        pass

    def reply(meta, arrays=None):
        data = encode(meta, arrays)
        view = memoryview(data)
        while view:
            view = view[_write(wfd, view):]

    def ask_grader(request):
        """A callback during a call: one request to the grader, whose answer the call goes on with."""
        struct_, arrays_ = pack(request)
        reply({"op": "callback", "value": struct_}, arrays_)
        (n,) = HEADER.unpack(_read(rfd, HEADER.size))
        meta, arrays = decode(_read(rfd, n))
        if meta.get("op") != "callback":
            raise RuntimeError("the grader did not answer the request")
        return unpack(meta.get("value"), arrays)

    ipython = SandboxIPython()
    ns: dict[str, Any] = {
        "__name__": "__main__",
        "__builtins__": builtins,
        "display": lambda *a, **k: None,
        "get_ipython": lambda: ipython,
    }
    while True:
        try:
            (n,) = HEADER.unpack(_read(rfd, HEADER.size))
            meta, arrays = decode(_read(rfd, n))
        except EOFError:
            return
        op = meta.get("op")
        if op == "exec":
            ipython.notes = []
            result = _exec_cell(str(meta.get("source", "")), int(meta["cell"]), float(meta.get("limit") or 0), ns)
            result["notes"] = list(ipython.notes)
            reply(result)
        elif op == "call":
            name = meta.get("function", "")
            fn = ns.get(name)
            if not callable(fn):
                what = "is not defined" if fn is None else f"is a {type(fn).__name__}, not a function"
                reply({"status": "missing", "error": f"{name} {what}"})
                continue
            try:
                args = unpack(meta["args"], arrays, allow_rng=True)
                kwargs = unpack(meta["kwargs"], arrays, allow_rng=True)
            except Exception as e:  # cannot happen with the parent's own messages
                reply({"status": "error", "error": f"grader could not decode the arguments: {e}"})
                continue
            targets = meta.get("forbidden", [])
            if not (isinstance(targets, list) and all(isinstance(t, list) and len(t) == 3 for t in targets)):
                targets = []
            with remote_layers.connect(ask_grader):
                r = call_watched(fn, args, kwargs, targets)
            out_arrays = r.pop("arrays")
            if r["status"] == "ok":
                # the arguments as the function left them: the parent compares them with what it sent
                try:
                    r["after"], out_arrays = pack(_plain([list(args), dict(kwargs)]), out_arrays)
                except Exception:  # noqa: BLE001 - the comparison is skipped, nothing else
                    r["after"] = None
                r["argnames"] = argument_names(fn)
            reply(r, out_arrays)
        elif op == "bye":
            return


