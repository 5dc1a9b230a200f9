"""A notebook cell as IPython would run it, in a process that has no IPython kernel.

:func:`translate_cell` reads a cell with IPython's own parser: magics, ``!`` lines and ``x?`` are
found exactly where IPython finds them and become calls to a stand-in ``get_ipython()``
(:class:`SandboxIPython`) that does what IPython does where that is Python (``%%time`` runs its
body, ``x = !cmd`` gives ``[]``...). Cell magics that do not run Python in the notebook's
namespace are skipped, with a note saying so.
"""
from __future__ import annotations

import ast
import re
import sys
from dataclasses import dataclass


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
        return Translation(None, magic, "it nests cell magics too deeply; the grader skips the cell")
    inner = translate_cell(body, _depth + 1)
    if inner.code is None:
        return Translation(None, magic + " " + inner.magic, inner.note)
    body_code = inner.code
    if name == "timeit":
        setup = _split_options(line, "nrp", "tcqo")
        scoped = _bound_names(setup + "\n" + body_code) | inner.scoped
        run = f"get_ipython()._scoped({setup!r}, {body_code!r}, {first})"
        note = ("it starts with %%timeit, which runs the cell in a function of its own, as IPython does: "
                "what the cell defines is not kept")
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
    return cell_names(code)[0]


def cell_names(code: str) -> tuple[frozenset, bool]:
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


class SandboxIPython:
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


