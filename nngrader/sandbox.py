"""Run a student's notebook code in a fresh process and call its functions from outside.

The autograder never trusts what student code says about itself. It starts a child process
(``python -I`` running :func:`_child_main`, inside the grading jail of :mod:`nngrader.jail`,
with a minimal environment, a memory limit, and a SIGKILL when the grader dies), sends it the
notebook's code cells to execute, then asks it to call a student function with given arguments.
The child sends back the return value as plain arrays; the grader decides the verdict in its
own process (:mod:`nngrader.verdict`).

Protocol
--------
Each message is an 8-byte little-endian length followed by an ``.npz`` archive (no pickles)
holding ``__meta__`` (a JSON string) and the arrays it refers to. The pipes are private file
descriptors; the child points fd 0/1/2 and ``sys.stdout``/``sys.stderr`` at ``/dev/null`` before
any student code runs, so prints cannot corrupt the channel. The parent reads every reply with
``numpy.load(..., allow_pickle=False)``, checks dtypes (numbers and booleans only) and never
unpickles anything.

While a student function runs (and while its return value is converted), a profile hook records
calls into the nnkit functions the check forbids, matched by the code object's file and
qualified name, so aliases, ``from ... import`` and reloads are all caught. Removing or
replacing the hook (``sys.setprofile``) is reported as tampering.

The parent enforces deadlines. A cell or call that overruns is killed with its process group;
so is a child that dies (``os._exit``, ``kill -9`` of itself). :class:`Session` then starts a
new child, replays the cells that ran before (skipping the offending one) and carries on.
"""
from __future__ import annotations

import builtins
import io
import json
import os
import re
import select
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["Outcome", "Session", "Sandbox", "SandboxError", "pack", "unpack", "call_watched", "resolve_forbidden",
           "neutralise_magics"]

# Taken before any student code runs, so that patching numpy/os in a cell cannot break the channel.
_np_array, _np_asarray, _savez, _np_load = np.array, np.asarray, np.savez, np.load
_os_read, _os_write = os.read, os.write
_json_dumps, _json_loads = json.dumps, json.loads

_HEADER = struct.Struct("<Q")
MAX_MESSAGE = 256 * 1024 * 1024
_NUM_KINDS = "biuf"  # bool, signed, unsigned, float: nothing else crosses the boundary
_MAX_DEPTH = 16
_MAX_STR = 20_000


# --------------------------------------------------------------------------------------------
# values <-> (JSON structure, arrays)
# --------------------------------------------------------------------------------------------
class PackError(TypeError):
    """A value that cannot be sent as plain data."""


def pack(obj, arrays: dict | None = None, _depth: int = 0):
    """Describe ``obj`` as a JSON-able structure plus a dict of numeric arrays.

    Supported: ndarrays of bool/int/float, Python and NumPy scalars, str, None,
    :class:`nngrader.specs.RNG`, and lists/tuples/str-keyed dicts of these. Anything else
    (objects, functions, object arrays, complex numbers) raises :class:`PackError`.
    Returns ``(structure, arrays)``.
    """
    from .specs import RNG

    if arrays is None:
        arrays = {}
    if _depth > _MAX_DEPTH:
        raise PackError("the value is nested too deeply")

    def put(a: np.ndarray) -> str:
        key = f"a{len(arrays)}"
        arrays[key] = a
        return key

    if obj is None:
        return {"t": "none"}, arrays
    if isinstance(obj, RNG):
        return {"t": "rng", "seed": int(obj.seed)}, arrays
    if isinstance(obj, (bool, np.bool_)):
        return {"t": "num", "py": "bool", "k": put(_np_asarray(bool(obj)))}, arrays
    if isinstance(obj, (int, np.integer)):
        try:
            a = _np_asarray(int(obj), dtype=np.int64)
        except OverflowError:
            raise PackError(f"the integer {int(obj)} does not fit in 64 bits") from None
        return {"t": "num", "py": "int", "k": put(a)}, arrays
    if isinstance(obj, (float, np.floating)):
        return {"t": "num", "py": "float", "k": put(_np_asarray(float(obj), dtype=np.float64))}, arrays
    if isinstance(obj, str):
        return {"t": "str", "v": str(obj)[:_MAX_STR]}, arrays
    if isinstance(obj, np.ndarray):
        a = _np_array(obj, copy=True, subok=False)
        if a.dtype.kind not in _NUM_KINDS:
            raise PackError(f"an array of dtype {a.dtype} (only bool, int and float arrays are graded)")
        return {"t": "arr", "k": put(a)}, arrays
    if isinstance(obj, (list, tuple)):
        items = [pack(v, arrays, _depth + 1)[0] for v in list(obj)]
        return {"t": "tuple" if isinstance(obj, tuple) else "list", "items": items}, arrays
    if isinstance(obj, dict):
        items = []
        for k, v in list(obj.items()):
            if not isinstance(k, str):
                raise PackError(f"a dict with a {type(k).__name__} key (keys must be str)")
            items.append([str(k), pack(v, arrays, _depth + 1)[0]])
        return {"t": "dict", "items": items}, arrays
    raise PackError(f"an object of type {type(obj).__name__}")


def unpack(struct_, arrays, *, allow_rng: bool = False, _depth: int = 0):
    """Rebuild a value from :func:`pack`'s output, validating everything (the input may be forged).

    Arrays come back as base-class ndarrays of bool/int/float dtype, numbers as Python
    bool/int/float, :class:`RNG` as a fresh Generator (only where ``allow_rng``).
    Raises ValueError on anything malformed.
    """
    if _depth > _MAX_DEPTH or not isinstance(struct_, dict):
        raise ValueError("malformed value structure")
    t = struct_.get("t")
    if t == "none":
        return None
    if t == "str":
        v = struct_.get("v")
        if not isinstance(v, str):
            raise ValueError("malformed string")
        return v
    if t == "rng":
        if not allow_rng:
            raise ValueError("unexpected random generator in a result")
        return np.random.default_rng(int(struct_["seed"]))
    if t in ("num", "arr"):
        key = struct_.get("k")
        if not isinstance(key, str) or key not in arrays:
            raise ValueError("reference to a missing array")
        a = _np_asarray(arrays[key])
        if type(a) is not np.ndarray or a.dtype.kind not in _NUM_KINDS:
            raise ValueError(f"unsupported array dtype {a.dtype}")
        if t == "arr":
            return a
        if a.shape != ():
            raise ValueError("malformed number")
        py = struct_.get("py")
        conv = {"bool": bool, "int": int, "float": float}.get(py)
        if conv is None:
            raise ValueError("malformed number type")
        return conv(a[()])
    if t in ("list", "tuple"):
        items = struct_.get("items")
        if not isinstance(items, list):
            raise ValueError("malformed sequence")
        vals = [unpack(s, arrays, allow_rng=allow_rng, _depth=_depth + 1) for s in items]
        return tuple(vals) if t == "tuple" else vals
    if t == "dict":
        items = struct_.get("items")
        if not isinstance(items, list):
            raise ValueError("malformed dict")
        out = {}
        for kv in items:
            if not (isinstance(kv, list) and len(kv) == 2 and isinstance(kv[0], str)):
                raise ValueError("malformed dict item")
            out[kv[0]] = unpack(kv[1], arrays, allow_rng=allow_rng, _depth=_depth + 1)
        return out
    raise ValueError(f"unknown value type {t!r}")


def _encode(meta: dict, arrays: dict | None = None) -> bytes:
    buf = io.BytesIO()
    _savez(buf, __meta__=_np_array(_json_dumps(meta)), **(arrays or {}))
    data = buf.getvalue()
    return _HEADER.pack(len(data)) + data


def _decode(data: bytes) -> tuple[dict, dict]:
    with _np_load(io.BytesIO(data), allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    meta_arr = arrays.pop("__meta__", None)
    if meta_arr is None or meta_arr.dtype.kind != "U" or meta_arr.shape != ():
        raise ValueError("message without metadata")
    meta = _json_loads(str(meta_arr[()]))
    if not isinstance(meta, dict):
        raise ValueError("malformed metadata")
    return meta, arrays


# --------------------------------------------------------------------------------------------
# watching calls into forbidden nnkit functions
# --------------------------------------------------------------------------------------------
_real_setprofile = sys.setprofile
_real_getprofile = sys.getprofile
_real_thread_setprofile = threading.setprofile
_real_thread_getprofile = getattr(threading, "getprofile", lambda: None)
# Student code that swaps the profiler out (to call nnkit unseen) is tampering: C-level setters
# show up as "c_call" events, Python-level ones (threading's) as "call" events.
_C_SETTERS = frozenset(id(f) for f in (sys.setprofile, getattr(sys, "_setprofileallthreads", None)) if f)
_PY_SETTERS = frozenset(
    f.__code__ for f in (threading.setprofile, getattr(threading, "setprofile_all_threads", None)) if f
)


def resolve_forbidden(names) -> list[list[str]]:
    """``"nnkit.neurons:McCullochPitts.__call__"`` -> ``[real path of neurons.py, qualname, name]``.

    Resolved by the grader (never by the sandbox, whose import system student code controls)
    and sent along with each call. Unknown modules are skipped.
    """
    import importlib.util

    out = []
    for name in names:
        module, _, qual = str(name).partition(":")
        try:
            spec = importlib.util.find_spec(module)
        except (ImportError, ValueError):
            spec = None
        if spec is not None and spec.origin:
            out.append([os.path.realpath(spec.origin), qual, str(name)])
    return out


def _package_root(path: str) -> str:
    """The folder of the top-level package that the module file ``path`` belongs to."""
    folder = os.path.dirname(path)
    while os.path.exists(os.path.join(os.path.dirname(folder), "__init__.py")):
        folder = os.path.dirname(folder)
    return folder


class _Watch:
    """The profile hook: records forbidden calls and attempts to change the profiler."""

    def __init__(self, targets):
        self.targets = [(str(p), str(q), str(n)) for p, q, n in targets]
        self.quals = {q for _, q, _ in self.targets}
        self.hits: list[str] = []
        self.direct: list[str] = []  # hits called straight from student code, not from inside nnkit
        # a call from anywhere inside the forbidden functions' packages (nnkit, sklearn) is
        # one that those made in turn, not one the student wrote
        self.roots = tuple({_package_root(p) + os.sep for p, _, _ in self.targets})
        self.tampered = False
        self.active = True
        self._codes: dict = {}
        self._paths: dict = {}

    def _real(self, filename: str) -> str:
        real = self._paths.get(filename)
        if real is None:
            real = self._paths[filename] = os.path.realpath(filename)
        return real

    def ordered_hits(self) -> list[str]:
        """The hits, those the student's code called directly first (they name what was
        written; the others are what those called in turn), each group in call order."""
        return self.direct + [h for h in self.hits if h not in self.direct]

    def _classify(self, code) -> str:
        qual = getattr(code, "co_qualname", code.co_name)
        if qual not in self.quals:
            return ""
        real = self._real(code.co_filename)
        for path, q, name in self.targets:
            if q == qual and path == real:
                return name
        return ""

    def __call__(self, frame, event, arg):
        if event == "call":
            code = frame.f_code
            hit = self._codes.get(code)
            if hit is None:
                hit = self._codes[code] = self._classify(code)
            if hit:
                if hit not in self.hits:
                    self.hits.append(hit)
                if hit not in self.direct:
                    back = frame.f_back
                    if back is None or not self._real(back.f_code.co_filename).startswith(self.roots):
                        self.direct.append(hit)
            if code in _PY_SETTERS:
                self.tampered = True
        elif event == "c_call" and self.active and id(arg) in _C_SETTERS:
            self.tampered = True


def _where(tb) -> str:
    """``cell 5, line 3`` (sandbox) or ``line 3`` (kernel) of the innermost student frame."""
    here = str(Path(__file__).parent)
    loc = ""
    for fs in traceback.extract_tb(tb):
        fn = fs.filename or ""
        if fn.startswith(here) or "site-packages" in fn or "/lib/python" in fn:
            continue
        m = re.fullmatch(r"<cell (\d+)>", fn)
        loc = f"cell {int(m.group(1)) + 1}, line {fs.lineno}" if m else f"line {fs.lineno}"
    return loc


def describe_exception(e: BaseException) -> str:
    """``raised ValueError: bad shape (cell 5, line 3)``; short and safe to show."""
    try:
        msg = str(e)
    except Exception:  # a student exception whose __str__ raises
        msg = ""
    msg = msg.strip().splitlines()[0][:300] if msg.strip() else ""
    name = type(e).__name__
    where = _where(e.__traceback__)
    text = f"raised {name}" + (f": {msg}" if msg else "")
    if name == "NotImplementedError" and not msg:
        text += " (not implemented yet?)"
    return text + (f" ({where})" if where else "")


def call_watched(fn, args, kwargs, targets, alarm: float | None = None) -> dict:
    """Call ``fn(*args, **kwargs)`` under the forbidden-call hook and pack its return value.

    ``targets``: the forbidden functions, as returned by :func:`resolve_forbidden`.

    Returns a dict: ``status`` ("ok", "error", "timeout"), ``error`` (str), ``value``
    (structure) and ``arrays`` (for :func:`unpack`), ``forbidden_calls`` (list of names),
    ``tampered`` (bool). ``alarm``: a SIGALRM deadline in seconds (main thread only), used in
    the student's own kernel where no parent can kill the call.
    """
    watch = _Watch(targets)
    result = {"status": "ok", "error": "", "value": None, "arrays": {}, "forbidden_calls": [], "tampered": False}
    old_handler = None
    use_alarm = bool(alarm) and threading.current_thread() is threading.main_thread() and hasattr(signal, "setitimer")

    class _Alarm(BaseException):
        pass

    def on_alarm(signum, frame):
        raise _Alarm()

    try:
        if use_alarm:
            old_handler = signal.signal(signal.SIGALRM, on_alarm)
            signal.setitimer(signal.ITIMER_REAL, alarm)
        before = _real_getprofile(), _real_thread_getprofile()  # a debugger's, in the kernel
        _real_thread_setprofile(watch)
        _real_setprofile(watch)
        try:
            value = fn(*args, **kwargs)
            result["value"], result["arrays"] = pack(value)
        finally:
            if _real_getprofile() is not watch:
                watch.tampered = True
            watch.active = False
            _real_setprofile(before[0])
            _real_thread_setprofile(before[1])
    except _Alarm:
        result["status"], result["error"] = "timeout", f"did not return within {alarm:g} s (an endless loop?)"
    except PackError as e:
        result["status"], result["error"] = "error", f"returned {e}; return NumPy arrays or Python numbers"
    except KeyboardInterrupt:
        if use_alarm:  # in the student's kernel: let them interrupt
            raise
        result["status"], result["error"] = "error", "raised KeyboardInterrupt"
    except BaseException as e:  # SystemExit included: student code must not end the grader
        result["status"], result["error"] = "error", describe_exception(e)
    finally:
        if use_alarm:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, old_handler)
    result["forbidden_calls"] = watch.ordered_hits()
    result["tampered"] = watch.tampered
    return result


# --------------------------------------------------------------------------------------------
# the child process
# --------------------------------------------------------------------------------------------
_MAGIC = re.compile(r"^(\s*)(%|!|\?)")


def neutralise_magics(source: str) -> str | None:
    """Replace IPython line magics / shell escapes by ``pass``; None for a ``%%`` cell magic."""
    if source.lstrip().startswith("%%"):
        return None
    lines = []
    for line in source.splitlines():
        m = _MAGIC.match(line)
        if m:
            line = m.group(1) + "pass  # IPython-only line skipped by the grader"
        elif line.rstrip().endswith("?") and re.fullmatch(r"\s*[\w.]+\?\??", line.rstrip()):
            line = re.match(r"\s*", line).group(0) + "pass"
        lines.append(line)
    return "\n".join(lines)


class _NoIPython:
    """Stands in for ``get_ipython()`` in the sandbox: every method does nothing."""

    def __getattr__(self, name):
        return lambda *a, **k: None


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


def _child_main(rfd: int, wfd: int, memory_mb: int, parent: int = 0) -> None:
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
        data = _encode(meta, arrays)
        view = memoryview(data)
        while view:
            view = view[_write(wfd, view):]

    ns: dict[str, Any] = {
        "__name__": "__main__",
        "__builtins__": builtins,
        "display": lambda *a, **k: None,
        "get_ipython": lambda: _NoIPython(),
    }
    while True:
        try:
            (n,) = _HEADER.unpack(_read(rfd, _HEADER.size))
            meta, arrays = _decode(_read(rfd, n))
        except EOFError:
            return
        op = meta.get("op")
        if op == "exec":
            source = neutralise_magics(meta.get("source", ""))
            try:
                if source is not None:
                    exec(compile(source, f"<cell {int(meta['cell'])}>", "exec"), ns)
                reply({"ok": True})
            except BaseException as e:
                reply({"ok": False, "error": describe_exception(e)})
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
            r = call_watched(fn, args, kwargs, targets)
            out_arrays = r.pop("arrays")
            reply(r, out_arrays)
        elif op == "bye":
            return


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
    "from nngrader.sandbox import _child_main; _child_main({rfd}, {wfd}, {mem}, {parent})"
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

    def request(self, meta: dict, arrays: dict | None, timeout: float) -> tuple[dict, dict]:
        """Send one message and wait at most ``timeout`` s for the reply; SandboxError otherwise."""
        deadline = time.monotonic() + timeout
        data = memoryview(_encode(meta, arrays))
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
        header = self._read(_HEADER.size, deadline)
        (n,) = _HEADER.unpack(header)
        if n > MAX_MESSAGE:
            self._fail("protocol", "sent a reply that is too large")
        body = self._read(n, deadline)
        try:
            return _decode(body)
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
                os.write(self._w, _encode({"op": "bye"}))
            except OSError:
                pass
        self.kill()


@dataclass
class Outcome:
    """What calling one student function produced (sandbox or kernel)."""

    status: str  # ok | error | missing | timeout | crashed | protocol | budget
    error: str = ""
    value: Any = None
    forbidden_calls: list = field(default_factory=list)
    tampered: bool = False


@dataclass
class CellRun:
    index: int
    status: str  # ok | error | timeout | crashed | protocol | skipped
    message: str = ""


class Session:
    """A notebook's code in a sandbox that survives crashes.

    ``exec_cell`` runs cells in order; ``call`` calls a student function (the runner interface
    :func:`nngrader.verdict.run_check` uses). When the child dies or overruns, the next request
    starts a new one and replays every cell that had run (minus the ones that killed a child).
    """

    def __init__(self, *, cell_timeout: float = 10.0, time_budget: float = 180.0, max_restarts: int = 6,
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
                try:
                    sb.request({"op": "exec", "cell": index, "source": source}, None,
                               min(self.cell_timeout, max(self._left(), 0.1)))
                except SandboxError as e:
                    # a cell that ran before but kills the child on replay: drop it too
                    self.cells = [(i, s) for i, s in self.cells if i != index]
                    self.runs[index] = CellRun(index, e.kind, f"{e} (on replay)")
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
    def exec_cell(self, index: int, source: str) -> CellRun:
        if self._left() <= 0 or not self._ensure():
            run = CellRun(index, "skipped", self._gave_up or "grading time budget used up")
        else:
            try:
                reply, _ = self._sb.request({"op": "exec", "cell": index, "source": source}, None,
                                            min(self.cell_timeout, max(self._left(), 0.1)))
                run = CellRun(index, "ok" if reply.get("ok") else "error", str(reply.get("error", ""))[:500])
                self.cells.append((index, source))
            except SandboxError as e:
                what = "did not finish within %g s" % self.cell_timeout if e.kind == "timeout" else str(e)
                run = CellRun(index, e.kind, f"cell {index + 1} {what}; it was skipped when grading")
                self._lost()
        self.runs[index] = run
        return run

    def call(self, function: str, args, kwargs, forbidden, timeout: float) -> Outcome:
        if self._left() <= 0:
            return Outcome("budget", "not run: the grading time budget for this notebook was used up")
        if not self._ensure():
            return Outcome("crashed", f"not run: {self._gave_up}")
        a_struct, arrays = pack(list(args))
        k_struct, arrays = pack(dict(kwargs), arrays)
        meta = {"op": "call", "function": function, "args": a_struct, "kwargs": k_struct,
                "forbidden": resolve_forbidden(forbidden)}
        try:
            reply, out = self._sb.request(meta, arrays, min(timeout, max(self._left(), 0.1)))
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
        if status == "ok":
            try:
                outcome.value = unpack(reply.get("value"), out)
            except Exception as e:
                outcome.status, outcome.error = "protocol", f"the result could not be read ({e})"
        return outcome

