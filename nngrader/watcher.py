"""Watching a student function while it runs: forbidden calls, tampering, changed arguments.

:func:`call_watched` calls a function under a profile hook that records calls into the nnkit
functions a check forbids, matched by the code object's file and qualified name, so aliases,
``from ... import`` and reloads are all caught. Removing or replacing the hook
(``sys.setprofile``) is reported as tampering. :func:`mutated_arguments` names an argument the
function changed in place. Used in the sandbox's child and in the student's own kernel.
"""
from __future__ import annotations

import functools
import inspect
import os
import re
import signal
import sys
import threading
import traceback
import warnings
from pathlib import Path

import numpy as np

from .wire import PackError, pack

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


def forbidden_code(name: str):
    """The code object of the function ``"module:qualname"`` names, wherever it is defined.

    The name is resolved by importing the module and following the qualified name, so a function
    that a module re-exports, or that moved to another file, is still found; a property stands for
    its getter, a class for its ``__init__``. A name that does not resolve to a Python function
    raises ValueError: a check that forbids nothing by mistake must fail loudly.
    """
    import importlib

    module, sep, qual = str(name).partition(":")
    if not sep or not module or not qual:
        raise ValueError(f"forbidden entries are 'module:qualname'; got {name!r}")
    try:
        with warnings.catch_warnings():  # an import's warnings must not reach a test cell's stderr
            warnings.simplefilter("ignore")
            obj = importlib.import_module(module)
        for part in qual.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError) as e:
        raise ValueError(f"forbidden function {name!r} does not exist ({type(e).__name__}: {e})") from None
    if isinstance(obj, property):
        obj = obj.fget
    if isinstance(obj, type):
        obj = obj.__dict__.get("__init__")
    obj = inspect.unwrap(getattr(obj, "__func__", obj)) if obj is not None else None
    code = getattr(obj, "__code__", None)
    if code is None:
        raise ValueError(f"forbidden function {name!r} is not a Python function the watcher can see")
    return code


@functools.lru_cache(maxsize=None)
def _resolved(name: str) -> tuple:
    code = forbidden_code(name)
    return os.path.realpath(code.co_filename), getattr(code, "co_qualname", code.co_name)


def resolve_forbidden(names) -> list[list[str]]:
    """``"nnkit.neurons:McCullochPitts.__call__"`` -> ``[real path of its file, qualname, name]``.

    Resolved by the grader (never by the sandbox, whose import system student code controls)
    and sent along with each call. An unknown name raises ValueError (:func:`forbidden_code`).
    """
    return [[*_resolved(str(name)), str(name)] for name in names]


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


def error_location(tb) -> str:
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
    where = error_location(e.__traceback__)
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


