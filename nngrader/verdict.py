"""Verdicts: run a check's cases through a runner and turn the results into points and advice.

Used in two places with the same code:

- the autograder (:mod:`nngrader.preprocessors`), where the runner is a sandbox
  :class:`~nngrader.sandbox.Session` and this module runs in the grader's own process;
- :func:`nngrader.check` in the student's kernel (advisory only).

Scoring rule
------------
Every case is judged as a list of :class:`Part` (for example one per returned tensor). A case
scores ``passed parts / parts``; a case that raised, timed out, crashed or returned the wrong
type scores 0. The check scores ``points * mean(case scores)``, rounded *down* to 0.01 so a
check that is not fully right never shows full points. Two things zero the whole check:
calling a forbidden nnkit function (the function was not written by the student) and
switching off the grader's call watcher (tampering).

Comparison helpers for spec writers: :func:`compare_exact`, :func:`compare_close`,
:func:`gradient_parts`. Each returns :class:`Part` objects whose message names the quantity,
the index and the size of the error, e.g. ``dW2: relative error 0.53 at index (1, 0) ...``.
"""
from __future__ import annotations

import math
import warnings
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np

__all__ = [
    "Part",
    "CaseReport",
    "Verdict",
    "run_check",
    "compare_exact",
    "compare_close",
    "gradient_parts",
    "as_numeric",
    "matches",
    "shape_text",
    "quiet",
]

MAX_LINES = 60
FLOAT32_CAUSE = ("the error is at the level of float32 round-off (about 1e-7 relative): compute in float64, "
                 "NumPy's default (look for astype(np.float32) or float32 arrays)")
MAX_NAMES_SHOWN = 5  # forbidden functions named in a note
MAX_HARD_FAILURES = 2  # cases that time out or crash before the rest of a check is skipped
SHOWN_PER_CASE = 2  # message lines of a failed case after the first (which is shown in full)


@dataclass
class Part:
    """One judged quantity of one case.

    ``message`` says what is wrong with this case's value (shown when it failed): the numbers,
    the index. ``cause`` says why, when a spec or the gradient check recognised the mistake; the
    verdict states each distinct cause once, with the quantities and cases it showed in.
    ``name`` is the quantity judged (``"dW1"``, ``"w_new"``), used to say where.
    """

    ok: bool
    message: str = ""
    cause: str = ""
    name: str = ""


@dataclass
class CaseReport:
    """One case of a check: how it ran (``status``, the sandbox outcome) and how right it was."""

    kind: str  # visible | hidden
    number: int
    label: str
    fraction: float
    messages: list = field(default_factory=list)
    status: str = "ok"  # ok | error | missing | timeout | crashed | protocol | budget | skipped
    causes: list = field(default_factory=list)  # (quantity name, cause) of the failed parts
    failed: list = field(default_factory=list)  # names of the failed quantities

    @property
    def tag(self) -> str:
        return f"{self.kind} case {self.number}"


@dataclass
class Cause:
    """One distinct cause in a verdict: its text, where it showed and in how many cases."""

    text: str
    where: list  # quantity names, in order of first appearance
    cases: list  # case tags ("hidden case 3")


@dataclass
class Verdict:
    grade_id: str
    title: str
    points: float
    score: float
    cases: list = field(default_factory=list)
    notes: list = field(default_factory=list)
    forbidden: list = field(default_factory=list)  # nnkit functions the student's code called
    tampered: bool = False

    @property
    def passed(self) -> bool:
        return self.score >= self.points

    def causes(self) -> list:
        """Each distinct cause once, in order of first appearance, with where and how often."""
        found: dict[str, Cause] = {}
        for c in self.cases:
            for name, text in c.causes:
                cause = found.setdefault(text, Cause(text, [], []))
                if name and name not in cause.where:
                    cause.where.append(name)
                if c.tag not in cause.cases:
                    cause.cases.append(c.tag)
        return list(found.values())

    def record(self) -> dict:
        """The verdict as plain data (JSON), for the class report: no text to parse again."""
        return {
            "grade_id": self.grade_id, "title": self.title, "points": self.points, "score": self.score,
            "notes": list(self.notes), "forbidden": list(self.forbidden), "tampered": self.tampered,
            "cases": [{"kind": c.kind, "number": c.number, "label": c.label, "fraction": c.fraction,
                       "status": c.status, "failed": list(c.failed), "messages": list(c.messages)}
                      for c in self.cases],
            "causes": [{"text": k.text, "where": k.where, "cases": len(k.cases)} for k in self.causes()],
        }

    def text(self, *, advisory: bool = False) -> str:
        """The diagnosis shown in the test cell (stdout).

        Every failed case says what was wrong: the first in full, later ones in their first
        ``SHOWN_PER_CASE`` lines and the names of the rest. The causes recognised follow, each
        stated once with the quantities and the number of cases it showed in.
        """
        n_ok = sum(c.fraction >= 1.0 for c in self.cases)
        head = f"{self.title}: {_fmt_pts(self.score)} / {_fmt_pts(self.points)} points"
        if self.cases:
            head += f" ({n_ok} of {len(self.cases)} cases passed)"
        lines = [head]
        lines += [f"  {n}" for n in self.notes]
        first_failure = True
        for c in self.cases:
            tag = c.tag + (f" [{c.label}]" if c.label else "")
            if c.fraction >= 1.0:
                lines.append(f"  {tag}: ok")
                continue
            state = "FAILED" if c.fraction == 0 else f"partly right ({c.fraction:.0%})"
            lines.append(f"  {tag}: {state}")
            shown = c.messages if first_failure else c.messages[:SHOWN_PER_CASE]
            lines += [f"      {m}" for m in shown]
            rest = len(c.messages) - len(shown)
            if rest:
                names = [n for n in c.failed[len(shown):] if n]
                lines.append(f"      ... and {rest} more wrong" + (f": {', '.join(names)}" if len(names) == rest else ""))
            first_failure = False
        causes = self.causes()
        if causes:
            lines.append("  Likely cause:" if len(causes) == 1 else "  Likely causes:")
            n_cases = len(self.cases)
            for k in causes:
                where = f"{', '.join(k.where)}; " if k.where else ""
                lines.append(f"    - {k.text} ({where}{len(k.cases)} of {n_cases} cases)")
        if len(lines) > MAX_LINES:
            lines = lines[: MAX_LINES - 1] + [f"  ... {len(lines) - MAX_LINES + 1} more lines"]
        if advisory:
            lines.append(
                "(Advice only: your grade is computed when the notebook is autograded, by running "
                "your code in a fresh process with these and further hidden cases.)"
            )
        else:
            lines.append("(Graded by running your notebook's code in a fresh process; this cell's own output is not used.)")
        return "\n".join(lines) + "\n"


def _fmt_pts(x: float) -> str:
    return f"{x:.2f}".rstrip("0").rstrip(".")


@contextmanager
def quiet():
    """No floating-point warnings and no ``warnings`` output: nothing may reach stderr."""
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def cell_score(score: float, points: float) -> float:
    """The score a test cell records: ``score`` to the nearest hundredth, so that a third of 5
    points is 1.67 (what the feedback shows is exactly what nbgrader stores and adds up), but
    never the full ``points`` unless it is full (0.999 of 2 points is 1.99, not 2)."""
    shown = round(score + 1e-9, 2)
    if score < points and shown >= points:
        shown = math.floor(points * 100 - 1e-6) / 100
    return max(0.0, min(points, shown))


def run_check(check, runner, secret: str, kinds=("visible", "hidden"), *, points: float | None = None) -> Verdict:
    """Run ``check``'s cases of the given kinds through ``runner``.

    Nothing student code does makes this raise (errors, wrong types, crashes and timeouts all
    become failed cases); a failure of the grading machinery itself does raise, so that the
    autograde of that notebook fails loudly instead of recording a wrong grade.
    ``runner.call(function, args, kwargs, forbidden, timeout) -> sandbox.Outcome``.
    ``points`` overrides ``check.points`` (the autograder passes the cell's own points).
    """
    points = float(check.points if points is None else points)
    title = ", ".join(check.functions)  # the graded functions only: helpers are not the student's work
    verdict = Verdict(check.grade_id, title, points, 0.0)
    try:
        cases = [(kind, i + 1, c) for kind in kinds for i, c in enumerate(check.cases(kind, secret))]
    except Exception as e:  # a broken spec must not crash the grader
        verdict.notes.append(f"the grader could not build its test cases ({type(e).__name__}: {e}); ask the instructor")
        return verdict
    forbidden_hits: list[str] = []
    tampered = False
    stop_reason = ""
    hard_failures = 0
    fractions = []
    for kind, number, case in cases:
        report = CaseReport(kind, number, case.label, 0.0)
        verdict.cases.append(report)
        if stop_reason:
            report.status = "skipped"
            report.messages.append(stop_reason)
            fractions.append(0.0)
            continue
        with quiet():
            outcome = runner.call(case.function, case.args, case.kwargs, check.forbidden, check.timeout)
        for name in outcome.forbidden_calls:
            if name not in forbidden_hits:
                forbidden_hits.append(name)
        tampered = tampered or outcome.tampered
        report.status = outcome.status
        if outcome.status == "ok":
            _judge(check, case, outcome.value, report, getattr(outcome, "mutated", ()))
        elif outcome.status == "missing":
            helper = case.function in getattr(check, "helpers", ())
            explained = not outcome.error.endswith(("is not defined", "is not a function"))  # the sandbox said why
            advice = "" if explained else (" (run the notebook's cell that defines it, unchanged)" if helper
                                           else " (define it and run its cell)")
            report.messages.append(outcome.error + advice)
            stop_reason = f"not run: {case.function} is not defined (see {report.tag})"
        else:
            report.messages.append(f"{case.function} {outcome.error}" if outcome.status == "error" else outcome.error)
            if outcome.status in ("timeout", "crashed", "protocol"):
                hard_failures += 1
            if outcome.status == "budget" or hard_failures >= MAX_HARD_FAILURES:
                stop_reason = f"not run: {hard_failures} earlier cases did not finish" if hard_failures else outcome.error
        fractions.append(report.fraction)
    score = points * (sum(fractions) / len(fractions)) if fractions else 0.0
    if forbidden_hits:
        # the first few, in call order, are the ones the student wrote; a whole-module ban
        # (05's train_digits) can list a dozen more that those called in turn
        shown = [n.replace(":", ".") for n in forbidden_hits[:MAX_NAMES_SHOWN]]
        more = len(forbidden_hits) - len(shown)
        names = ", ".join(shown) + (f" and {more} more" if more else "")
        verdict.notes.append(
            f"0 points: your code called {names}, nnkit's own implementation of what this exercise asks "
            f"you to write. Write {title} yourself with NumPy; nnkit is the reference it is compared with."
        )
        score = 0.0
    verdict.forbidden = [n.replace(":", ".") for n in forbidden_hits]
    verdict.tampered = tampered
    if tampered:
        verdict.notes.append(
            "0 points: your code changed the Python profiler (sys.setprofile / threading.setprofile) "
            "while it was being graded, which the grader uses to watch for calls into nnkit."
        )
        score = 0.0
    verdict.score = cell_score(score, points)
    return verdict


def _judge(check, case, value, report: CaseReport, mutated=()) -> None:
    """Fill ``report`` from the spec's judgement of one returned value."""
    try:
        with quiet():
            parts = check.judge(case, value)
        if isinstance(parts, Part):
            parts = [parts]
        parts = list(parts)
        if not parts or not all(isinstance(p, Part) for p in parts):
            raise TypeError("judge must return Part objects")
    except Exception as e:
        report.fraction, report.messages = 0.0, [f"the result could not be checked: {type(e).__name__}: {e}"]
        return
    parts += [Part(False, f"{m} was changed in place", name=m, cause=(  # an argument the call modified
        "the function changes its arguments in place; the course's functions never modify their arguments: "
        "work on a copy (x = x.copy()) or build new arrays")) for m in mutated]
    report.fraction = sum(bool(p.ok) for p in parts) / len(parts)
    for p in parts:
        if p.ok:
            continue
        if p.message:
            report.messages.append(p.message)
            report.failed.append(p.name)
        if p.cause:
            report.causes.append((p.name, p.cause))


# --------------------------------------------------------------------------------------------
# comparison helpers for spec judges
# --------------------------------------------------------------------------------------------
def as_numeric(value, name: str):
    """``(array, None)`` for numbers/arrays/nested numeric lists, else ``(None, Part)`` saying why."""
    if value is None:
        return None, Part(False, f"{name}: got None (did you forget to return it?)", name=name)
    if isinstance(value, str):
        return None, Part(False, f"{name}: got a string {value[:40]!r}, expected a number or an array", name=name)
    if isinstance(value, dict):
        return None, Part(False, f"{name}: got a dict, expected a number or an array", name=name)
    try:
        a = np.asarray(value)
    except Exception:
        return None, Part(False, f"{name}: could not be read as an array", name=name)
    if a.dtype.kind not in "biuf":
        return None, Part(False, f"{name}: got {type(value).__name__} data that is not numeric", name=name)
    return a, None


def matches(a, b, tol: float = 1e-7) -> bool:
    """Same shape, finite, and ``rel_error(a, b) <= tol``; False for anything that is not numeric.

    For a judge's "does the student's answer equal this variant?" (a slip it can then name).
    """
    from nnkit.gradcheck import rel_error

    try:
        a = np.asarray(a, dtype=np.float64)
        b = np.asarray(b, dtype=np.float64)
    except (TypeError, ValueError):
        return False
    return a.shape == b.shape and bool(np.all(np.isfinite(a))) and rel_error(a, b) <= tol


def shape_text(shape) -> str:
    """``(3,)``, ``(2, 4)``: a shape as Python writes it."""
    return "(" + ", ".join(str(int(d)) for d in shape) + ("," if len(shape) == 1 else "") + ")"


def _fmt_index(ix) -> str:
    return "(" + ", ".join(str(int(i)) for i in ix) + ("," if len(ix) == 1 else "") + ")"


def _fmt_val(v) -> str:
    v = float(v)
    return str(int(v)) if v.is_integer() and abs(v) < 1e15 else f"{v:.6g}"


def _shape_ok(a: np.ndarray, expected: np.ndarray, name: str, scalar: bool):
    if scalar and a.size == 1 and expected.size == 1:
        return a.reshape(expected.shape), None
    if a.shape != expected.shape:
        return None, Part(False, f"{name}: shape {a.shape}, expected {expected.shape}", name=name)
    return a, None


def compare_exact(name: str, got, expected, *, scalar: bool = False, hint=None) -> Part:
    """Exact equality of values (for discrete outputs: 0/1, labels, counts, flags).

    Bool, int and float results are compared as numbers. ``scalar=True`` accepts any size-1
    array for a size-1 answer. ``hint(index) -> str`` may give the cause of the first mismatch.
    """
    expected = np.asarray(expected)
    a, bad = as_numeric(got, name)
    if bad:
        return bad
    a, bad = _shape_ok(a, expected, name, scalar)
    if bad:
        return bad
    diff = a.astype(np.float64) != expected.astype(np.float64)
    if not diff.any():
        return Part(True, name=name)
    ix = tuple(int(i) for i in np.argwhere(diff)[0])
    if expected.ndim == 0:
        msg = f"{name}: got {_fmt_val(a[()])}, expected {_fmt_val(expected[()])}"
    else:
        msg = (
            f"{name}: {int(diff.sum())} of {diff.size} entries differ; first at index {_fmt_index(ix)}: "
            f"got {_fmt_val(a[ix])}, expected {_fmt_val(expected[ix])}"
        )
    return Part(False, msg, cause=(hint(ix) or "") if hint is not None else "", name=name)


def compare_close(name: str, got, expected, *, tol: float = 1e-9, scalar: bool = False) -> Part:
    """``rel_error(got, expected) <= tol`` with nnkit's relative error (one number per tensor).

    The message gives the relative error, the worst index (largest ``|got - expected|``) and
    the two values there.
    """
    from nnkit.gradcheck import rel_error

    expected = np.asarray(expected, dtype=np.float64)
    a, bad = as_numeric(got, name)
    if bad:
        return bad
    a, bad = _shape_ok(a.astype(np.float64), expected, name, scalar)
    if bad:
        return bad
    if not np.all(np.isfinite(a)):
        ix = tuple(int(i) for i in np.argwhere(~np.isfinite(a))[0])
        where = f" at index {_fmt_index(ix)}" if a.ndim else ""
        return Part(False, f"{name}: contains {a[ix] if a.ndim else a[()]}{where}", name=name)
    err = rel_error(a, expected)
    if err <= tol:
        return Part(True, name=name)
    # an error at float32's round-off, where float64 is asked for: the numbers say float32
    cause = FLOAT32_CAUSE if tol < 1e-7 and err <= 5e-7 else ""
    if a.ndim == 0:
        return Part(False, f"{name}: relative error {err:.2g} (expected <= {tol:g}): got {_fmt_val(a[()])}, "
                           f"expected {_fmt_val(expected[()])}", cause=cause, name=name)
    ix = np.unravel_index(int(np.argmax(np.abs(a - expected))), a.shape)
    return Part(
        False,
        f"{name}: relative error {err:.2g} at index {_fmt_index(ix)} (expected <= {tol:g}): "
        f"got {_fmt_val(a[ix])}, expected {_fmt_val(expected[ix])}",
        cause=cause,
        name=name,
    )


def close_or_numeric(name: str, got, expected, *, tol: float = 1e-9, scalar: bool = False) -> tuple:
    """``(part, answer)``: :func:`compare_close`'s part, and, when it fails on a numeric answer, that
    answer as a float64 array (else None), for a spec to test the slips it knows against."""
    part = compare_close(name, got, expected, tol=tol, scalar=scalar)
    if part.ok:
        return part, None
    a, bad = as_numeric(got, name)
    return part, (None if bad is not None else a.astype(np.float64))


def gradient_parts(f, params: dict, analytic, **kwargs) -> list:
    """One :class:`Part` per tensor of :func:`nnkit.gradcheck.check_gradients`.

    ``f`` is the *reference* loss (nnkit), ``analytic`` the student's gradients (dict name ->
    array, from the sandbox). Messages are check_gradients' own, e.g. ``dW2: relative error
    0.53 at index (1, 0), analytic ... vs numeric ... (expected <= 1e-06)``; its hint becomes
    the part's ``cause``, which a spec may replace with a cause it recognised.
    """
    from dataclasses import replace

    from nnkit.gradcheck import check_gradients

    clean = {}
    bad = []
    for k in params:
        v = analytic.get(k) if isinstance(analytic, dict) else None
        a, why = as_numeric(v, "d" + k)
        if why is not None:
            bad.append(why)
            continue
        clean[k] = a.astype(np.float64)
    res = check_gradients(f, params, clean, **kwargs)
    parts = [Part(bool(r.passed), replace(r, hint="").message(), cause=r.hint, name="d" + r.name)
             for r in res.rows if r.name in clean]
    return parts + bad
