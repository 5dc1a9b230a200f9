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

Cells are the notebook's code as IPython would run it (:func:`translate_cell`: magics, ``!``
lines). A cell that runs past :data:`CELL_TIMEOUT` is interrupted inside the child, as the
kernel interrupts it at nbgrader's ``Execute.timeout`` (the same number), so what it defined
before that stays defined. The parent enforces the deadlines: a cell that does not stop when
interrupted, or a call that overruns, is killed with its process group; so is a child that dies
(``os._exit``, ``kill -9`` of itself). :class:`Session` then starts a new child, replays the
cells that ran before (skipping the offending one) and carries on. It remembers how every cell
ran (:class:`CellRun`), so that a function that is then not defined is reported with the cell
that should have defined it: timed out (how long, and the limit), raised, skipped.

After a call returns, the child sends back the arguments as the function left them; the parent
compares them with what it sent (:func:`mutated_arguments`, :attr:`Outcome.mutated`).
"""
from __future__ import annotations

import ast
import builtins
import inspect
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

__all__ = ["Outcome", "Session", "Sandbox", "SandboxError", "CellRun", "pack", "unpack", "call_watched",
           "resolve_forbidden", "neutralise_magics", "translate_cell", "mutated_arguments", "argument_names",
           "CELL_TIMEOUT"]

#: Seconds one notebook cell may run, wherever it runs: the grading sandbox
#: (``TrustedVerdicts.cell_timeout``) and the student's kernel under ``nbgrader validate`` and
#: autograde (``Execute.timeout``). nbgrader_config.py sets both from this one number.
CELL_TIMEOUT = 10

# Taken before any student code runs, so that patching numpy/os in a cell cannot break the channel.
_np_array, _np_asarray, _savez, _np_load = np.array, np.asarray, np.savez, np.load
_os_read, _os_write = os.read, os.write
_signal_signal, _setitimer = signal.signal, signal.setitimer
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


def argument_names(fn) -> list[str]:
    """The names of ``fn``'s positional parameters, to say which argument it changed."""
    try:
        params = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        return []
    kinds = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    return [str(p.name) for p in params if p.kind in kinds]


def _first_change(before, after, path: str) -> str:
    """``path`` (extended to the first changed element) if ``after`` differs from ``before``, else ""."""
    from .specs import RNG

    if isinstance(before, (RNG, np.random.Generator)):  # a generator is meant to advance
        return ""
    try:
        if isinstance(before, np.ndarray):
            same = (isinstance(after, np.ndarray) and after.shape == before.shape and after.dtype == before.dtype
                    and bool(np.array_equal(before, after, equal_nan=before.dtype.kind == "f")))
            return "" if same else path
        if isinstance(before, dict):
            if not isinstance(after, dict) or set(after) != set(before):
                return path
            for k, v in before.items():
                hit = _first_change(v, after[k], f"{path}[{k!r}]")
                if hit:
                    return hit
            return ""
        if isinstance(before, (list, tuple)):
            if not isinstance(after, (list, tuple)) or len(after) != len(before):
                return path
            for i, (b, a) in enumerate(zip(before, after)):
                hit = _first_change(b, a, f"{path}[{i}]")
                if hit:
                    return hit
            return ""
        if before is None or isinstance(before, str):
            return "" if type(after) is type(before) and after == before else path
        numbers = (bool, int, float, np.bool_, np.integer, np.floating)
        if isinstance(before, numbers):
            if not isinstance(after, numbers):
                return path
            return "" if before == after or (before != before and after != after) else path
        return ""  # nothing else is sent to a student function
    except Exception:  # noqa: BLE001 - an object that cannot be compared has changed
        return path


def mutated_arguments(before, after, names=()) -> list[str]:
    """The arguments a call changed in place: ``before`` and ``after`` are ``(args, kwargs)`` as
    sent and as the function left them; ``names`` the function's parameter names. Each changed
    argument appears once, as the path to its first changed element (``y_hat``,
    ``params['W1']``, ``argument 3`` when unnamed). Generators are left out: drawing from one is
    what it is for."""
    (b_args, b_kwargs), (a_args, a_kwargs) = before, after
    b_args, a_args = list(b_args), list(a_args)
    b_kwargs, a_kwargs = dict(b_kwargs), dict(a_kwargs)
    names = [str(n) for n in names if isinstance(n, str) and n.isidentifier()]
    out = []
    for i, b in enumerate(b_args):
        label = names[i] if i < len(names) else f"argument {i + 1}"
        hit = _first_change(b, a_args[i], label) if i < len(a_args) else label
        if hit:
            out.append(hit)
    for k, b in b_kwargs.items():
        hit = _first_change(b, a_kwargs[k], str(k)) if k in a_kwargs else str(k)
        if hit:
            out.append(hit)
    return out


# --------------------------------------------------------------------------------------------
# IPython syntax: magics and shell escapes, run the way IPython runs them where that is Python
# --------------------------------------------------------------------------------------------
_MAGIC = re.compile(r"^(\s*)(%|!|\?)")  # the fallback when IPython's own parser is unavailable
_MAX_NESTING = 8
#: Cell magics whose body IPython runs as Python, like an ordinary cell (``%%timeit`` too, but in
#: a function of its own). Any other cell magic does not run its body in the notebook's
#: namespace (``%%bash``, ``%%writefile``, ``%%html``, ``%%script python``...) and is skipped.
RUN_CELL_MAGICS = ("time", "capture", "prun", "timeit")
#: Line magics that change nothing the graded code could use: skipped without a note.
QUIET_LINE_MAGICS = frozenset({
    "matplotlib", "config", "load_ext", "reload_ext", "unload_ext", "autoreload", "aimport", "xmode",
    "precision", "pinfo", "pinfo2", "pdef", "pdoc", "psource", "pfile", "who", "whos", "who_ls", "lsmagic",
    "magic", "quickref", "history", "hist", "pwd", "page", "pprint", "colors", "automagic", "autocall",
    "doctest_mode", "ls", "ll", "clear", "tb", "debug", "notebook",
})


@dataclass
class Translation:
    """A notebook cell as the sandbox runs it (:func:`translate_cell`)."""

    code: str | None  # Python to run; None when the cell is skipped
    magic: str = ""  # the cell magic the cell starts with, e.g. "%%time"
    note: str = ""  # what the sandbox does differently from IPython, said to the student when it matters
    scoped: frozenset = frozenset()  # names a %%timeit body defines, which IPython does not keep


_transformer = None


def _ipython_transform(source: str) -> str | None:
    """IPython's own translation of a cell (what the kernel runs), or None without IPython."""
    global _transformer
    if _transformer is None:
        try:
            from IPython.core.inputtransformer2 import TransformerManager
        except Exception:
            _transformer = False
        else:
            _transformer = TransformerManager()
    if not _transformer:
        return None
    try:
        return _transformer.transform_cell(source)
    except Exception:  # IPython cannot read it either: compiling it reports the error
        return source


def _split_options(line: str, with_value: str, flags: str) -> str:
    """``line`` without the leading ``-x`` options of a magic (``-n1 -r 3 f(x)`` -> ``f(x)``)."""
    rest = line.strip()
    while rest.startswith("-") and len(rest) > 1 and rest[1] != "-":
        token, _, after = rest.partition(" ")
        letters = token[1:]
        for i, ch in enumerate(letters):
            if ch in with_value:
                if i == len(letters) - 1:  # the value is the next word
                    _, _, after = after.strip().partition(" ")
                break
            if ch not in flags:
                return rest
        rest = after.strip()
    return rest


def _cell_magic_call(code: str):
    """``(name, line, body)`` when IPython turned the cell into ``run_cell_magic(...)``."""
    if not code.startswith("get_ipython().run_cell_magic("):
        return None
    try:
        tree = ast.parse(code)
        call = tree.body[0].value
        name, line, body = (ast.literal_eval(a) for a in call.args)
    except Exception:
        return None
    return str(name), str(line), str(body)


def translate_cell(source: str, _depth: int = 0) -> Translation:
    """What the sandbox runs for one notebook cell: IPython's syntax turned into Python.

    The cell goes through IPython's own parser (``TransformerManager``, what the kernel uses), so
    magics, ``!`` lines and ``name?`` are found exactly where IPython finds them (at the start of a
    statement, indented or not, never inside a string). They become calls of the sandbox's
    ``get_ipython()``, which does what IPython would do where that is plain Python, and nothing
    where it is not:

    - ``%time STMT`` and ``%prun STMT`` run STMT in place; ``y = %time EXPR`` assigns EXPR's value.
    - ``%timeit STMT`` runs STMT once, in a scope of its own (IPython runs it many times, in a
      function: what it assigns is not kept); ``y = %timeit ...`` assigns None.
    - ``!cmd`` does nothing; ``x = !cmd`` (and ``x = %sx cmd``) assigns an empty list: there is no
      shell in the sandbox.
    - Every other line magic does nothing and returns None (``%matplotlib inline``, ``%pip``...);
      those that could matter (``%run``, ``%pip``, ...) are noted for the feedback.
    - A ``%%`` line after the first line of a cell raises UsageError, as in IPython.

    A cell that starts with a cell magic:

    - ``%%time``, ``%%capture [--no-stdout ...] [name]`` and ``%%prun [options] [STMT]``: the body
      runs as an ordinary cell (magics inside it included); ``name`` gets an empty captured output.
    - ``%%timeit [options] [SETUP]``: SETUP and the body run once, in a scope of their own, as
      IPython runs them in a function: what they define is not kept, and the feedback says so.
    - any other (``%%bash``, ``%%writefile``, ``%%html``, ``%%script``, ``%%debug``...): the cell is
      skipped (``code`` None), with a note that says why.

    Line numbers are kept: an error is reported at the notebook's line.
    """
    lines = source.splitlines()
    blank = 0
    while blank < len(lines) and not lines[blank].strip():
        blank += 1
    code = _ipython_transform(source)
    if code is None:  # no IPython: the old rules (magic lines become pass, cell magics skip the cell)
        if source.lstrip().startswith("%%"):
            magic = "%%" + source.lstrip()[2:].split(None, 1)[0] if source.lstrip()[2:].strip() else "%%"
            return Translation(None, magic, f"it starts with {magic}, which the grader cannot run")
        out = []
        for line in lines:
            m = _MAGIC.match(line)
            if m:
                line = m.group(1) + "pass  # IPython-only line skipped by the grader"
            elif re.fullmatch(r"\s*[\w.]+\?\??", line.rstrip()):
                line = re.match(r"\s*", line).group(0) + "pass"
            out.append(line)
        return Translation("\n".join(out))
    pad = "" if code.startswith("\n" * blank) else "\n" * blank  # IPython drops leading blank lines
    call = _cell_magic_call(code)
    if call is None:
        return Translation(pad + code)
    name, line, body = call
    magic = f"%%{name}"
    first = blank + 1  # the notebook line of the %% line; the body starts on the next one
    if name not in RUN_CELL_MAGICS:
        why = ("runs the cell in the debugger, which waits for input" if name == "debug" else
               "does not run the cell's contents as Python in the notebook")
        return Translation(None, magic, f"it starts with {magic}, which {why}; the grader skips the cell")
    if name == "time" and line.replace("--no-raise-error", "").strip():
        msg = "Can't use statement directly after '%%time'!"
        return Translation("\n" * (first - 1) + f"get_ipython()._usage_error({msg!r})", magic)
    if _depth >= _MAX_NESTING:
        return Translation(None, magic, f"it nests cell magics too deeply; the grader skips the cell")
    inner = translate_cell(body, _depth + 1)
    if inner.code is None:
        return Translation(None, magic + " " + inner.magic, inner.note)
    body_code = inner.code
    if name == "timeit":
        setup = _split_options(line, "nrp", "tcqo")
        scoped = _bound_names(setup + "\n" + body_code) | inner.scoped
        run = f"get_ipython()._scoped({setup!r}, {body_code!r}, {first})"
        note = (f"it starts with %%timeit, which runs the cell in a function of its own, as IPython does: "
                f"what the cell defines is not kept")
        return Translation("\n" * (first - 1) + run, magic, note, frozenset(scoped))
    if name == "capture":
        names = [w for w in line.split() if not w.startswith("-")]
        target = names[0] if names and names[0].isidentifier() else ""
        head = f"{target} = get_ipython()._captured()" if target else ""
    elif name == "prun":  # a statement on the magic line runs first
        head = _split_options(line, "DlsT", "rq")
    else:  # time (its only option, --no-raise-error, is not kept: an error is reported either way)
        head = ""
    return Translation("\n" * (first - 1) + head + "\n" + body_code, magic, inner.note, inner.scoped)


def neutralise_magics(source: str) -> str | None:
    """The Python the sandbox runs for a cell (:func:`translate_cell`); None for a skipped cell."""
    return translate_cell(source).code


_DEF_LINE = re.compile(r"^[ \t]*(?:async[ \t]+def|def|class)[ \t]+(\w+)|^(\w+)[ \t]*=[^=]", re.M)


def _bound_names(code: str) -> frozenset:
    """Names a cell binds at its top level (def, class, import, assignment), read from its source."""
    return _cell_names(code)[0]


def _cell_names(code: str) -> tuple[frozenset, bool]:
    """``(names, complete)``: the names a cell binds at its top level, and whether that is all it
    can bind (False for code that does not parse, whose ``def`` lines are read instead, and for a
    ``from ... import *``)."""
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return frozenset(a or b for a, b in _DEF_LINE.findall(code)), False
    names: set = set()
    complete = True

    def targets(node):
        for n in ast.walk(node):
            if isinstance(n, ast.Name):
                names.add(n.id)

    def visit(stmts):
        for s in stmts:
            if isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                names.add(s.name)
            elif isinstance(s, (ast.Import, ast.ImportFrom)):
                for a in s.names:
                    if a.name == "*":
                        nonlocal complete
                        complete = False
                    names.add(a.asname or a.name.split(".")[0])
            elif isinstance(s, ast.Assign):
                for t in s.targets:
                    targets(t)
            elif isinstance(s, (ast.AnnAssign, ast.AugAssign)):
                targets(s.target)
            elif isinstance(s, (ast.For, ast.AsyncFor)):
                targets(s.target)
            elif isinstance(s, (ast.With, ast.AsyncWith)):
                for item in s.items:
                    if item.optional_vars is not None:
                        targets(item.optional_vars)
            for field_ in ("body", "orelse", "finalbody"):
                if not isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                    visit(getattr(s, field_, []) or [])
            for h in getattr(s, "handlers", []) or []:
                visit(h.body)

    visit(tree.body)
    return frozenset(names), complete


class UsageError(Exception):
    """IPython's error for a magic used the wrong way (a ``%%`` line after a cell's first line)."""


class _CapturedIO:
    """What ``%%capture name`` binds ``name`` to in the sandbox: nothing was captured."""

    stdout = stderr = ""
    outputs: list = []

    def show(self):
        return None

    __call__ = show


class _SandboxIPython:
    """``get_ipython()`` in the sandbox: runs the magics that are Python (see :func:`translate_cell`).

    ``notes`` collects, per cell, what was skipped that might have mattered (``%run``, ``!cmd``).
    Any other attribute is a function that does nothing.
    """

    def __init__(self):
        self.notes: list[str] = []

    def _note(self, what: str) -> None:
        if what not in self.notes and len(self.notes) < 10:
            self.notes.append(what)

    def _compile(self, source: str, line: int, filename: str, mode: str = "exec"):
        """Compiled so that an error is reported at the notebook's cell and line."""
        return compile("\n" * max(line - 1, 0) + source, filename, mode)

    def _run(self, stmt: str, glob: dict, loc, frame):
        """Run STMT (or evaluate an expression and return its value) in the caller's namespace."""
        stmt = stmt.strip()
        if not stmt:
            return None
        where = (frame.f_lineno, frame.f_code.co_filename)
        try:
            code = self._compile(stmt, *where, "eval")
        except SyntaxError:
            exec(self._compile(stmt, *where), glob, loc)
            return None
        return eval(code, glob, loc)

    def run_line_magic(self, name, line, _stack_depth=1):
        name, line = str(name), str(line)
        if name.startswith("%"):
            raise UsageError(f"Line magic function `%{name}` not found (a cell magic works only on a cell's first line).")
        frame = sys._getframe(_stack_depth)
        glob, loc = frame.f_globals, frame.f_locals
        if name == "time":
            if "--no-raise-error" in line.split():
                try:
                    return self._run(line.replace("--no-raise-error", "", 1), glob, loc, frame)
                except Exception:  # noqa: BLE001 - what IPython's option does
                    return None
            return self._run(line, glob, loc, frame)
        if name == "prun":
            self._run(_split_options(line, "DlsT", "rq"), glob, glob, frame)
            return None
        if name == "timeit":  # in a scope of its own: what it binds is dropped, what it reads is there
            scope = dict(glob) if loc is glob else {**glob, **loc}
            self._run(_split_options(line, "nrp", "tcqo"), scope, scope, frame)
            return None
        if name in ("sx", "system"):
            self._note("!" + line.strip().split(" ")[0] if line.strip() else "!")
            return []
        if name not in QUIET_LINE_MAGICS:
            self._note(f"%{name}")
        return [] if name == "who_ls" else None

    def run_cell_magic(self, name, line, cell):
        self._note(f"%%{name}")
        return None

    def system(self, cmd, *a, **k):
        self._note("!" + (str(cmd).strip().split(" ")[0] if str(cmd).strip() else ""))
        return None

    def getoutput(self, cmd, *a, **k):
        self.system(cmd)
        return []

    def _captured(self):
        return _CapturedIO()

    def _scoped(self, setup: str, body: str, line: int) -> None:
        """A %%timeit cell: SETUP (on the magic's line) and the body, once, in a scope of their own."""
        frame = sys._getframe(1)
        scope, filename = dict(frame.f_globals), frame.f_code.co_filename  # dropped afterwards
        if setup.strip():
            exec(self._compile(setup.strip(), line, filename), scope)
        exec(self._compile(body, line + 1, filename), scope)

    def _usage_error(self, message: str):
        raise UsageError(message)

    def __getattr__(self, name):
        return lambda *a, **k: None


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
        where = _where(error.__traceback__) if isinstance(error, _CellTimeout) else ""
        result = {"ok": False, "timeout": True, "where": where}
    return result


def _plain(value, _depth: int = 0):
    """``value`` with what :func:`pack` cannot send replaced: a Generator by None, any other object
    by a string naming its type (an argument a function replaced by an object has changed)."""
    if _depth > _MAX_DEPTH:
        return "<nested too deeply>"
    if value is None or isinstance(value, (bool, int, float, str, np.bool_, np.integer, np.floating)):
        return value
    if isinstance(value, np.random.Generator):
        return None
    if isinstance(value, np.ndarray):
        return value if value.dtype.kind in _NUM_KINDS else f"<array of {value.dtype}>"
    if isinstance(value, (list, tuple)):
        items = [_plain(v, _depth + 1) for v in list(value)]
        return tuple(items) if isinstance(value, tuple) else items
    if isinstance(value, dict):
        return {str(k): _plain(v, _depth + 1) for k, v in list(value.items())}
    return f"<{type(value).__name__} object>"


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

    ipython = _SandboxIPython()
    ns: dict[str, Any] = {
        "__name__": "__main__",
        "__builtins__": builtins,
        "display": lambda *a, **k: None,
        "get_ipython": lambda: ipython,
    }
    while True:
        try:
            (n,) = _HEADER.unpack(_read(rfd, _HEADER.size))
            meta, arrays = _decode(_read(rfd, n))
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
        binds, complete = _cell_names(tr.code) if tr.code is not None else (frozenset(), False)
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
