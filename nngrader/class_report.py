"""The class report: what a class got right and wrong on one assignment, for the instructor.

``python -m nngrader report ASSIGNMENT`` (run in the course root, after autograding) writes

- ``reports/ASSIGNMENT/index.html``: one static page, figures embedded, that opens offline
  (rendered by :mod:`nngrader.report_page`);
- ``reports/ASSIGNMENT/mistakes.csv``: one row per (graded cell, diagnosis) with the number and
  share of students, an example student and the full list.

This module gathers the data. It reads two sources and parses no feedback text:

- the gradebook (nbgrader's API): every submission, its timestamp and lateness, every grade;
- the autograded notebooks: each test cell carries its verdict as data in
  ``metadata.nngrader`` (:meth:`nngrader.verdict.Verdict.record`, written by
  :class:`nngrader.preprocessors.TrustedVerdicts`).

A student counts as *failed to grade* when a submission exists (``submitted/``) but no autograded
notebook does (nbgrader removes it when autograding fails); ``grade_all``'s CSV, when present,
adds its reason.

Diagnoses are grouped per graded cell. A cause the spec or the gradient check confirmed (the
"Likely cause" of the feedback) is its own group, by its exact text; a failure without one is
grouped by what happened: not defined, raised an exception, did not finish, called nnkit's own
implementation, tampered, or wrong values with no cause recognised.
"""
from __future__ import annotations

import csv
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import nbformat

from .grades_csv import failed_students

__all__ = ["CellScores", "Diagnosis", "Problem", "LateSubmission", "ClassReport", "collect", "write_report", "main"]

# What happened in a failed cell when no cause was recognised, by the cases' sandbox status.
NOT_DEFINED = "not defined, or its cell did not run"
RAISED = "raised an exception"
DID_NOT_FINISH = "did not finish (timed out or crashed)"
FORBIDDEN = "called nnkit's own implementation instead of writing it"
TAMPERED = "tampered with the grader (changed the profiler)"
WRONG = "wrong values, no specific cause recognised"


@dataclass
class CellScores:
    """One graded cell across the class."""

    notebook: str
    grade_id: str
    max_score: float
    auto: bool  # autograded test cell (False: graded by hand)
    scores: list = field(default_factory=list)  # one per student with a grade (None left out)
    pending: int = 0  # students still waiting for a manual grade

    @property
    def mean(self) -> float | None:
        return sum(self.scores) / len(self.scores) if self.scores else None


@dataclass
class Diagnosis:
    """One cause (or kind of failure) in one graded cell, and the students it was seen for."""

    grade_id: str
    text: str
    confirmed: bool  # a cause the numbers confirmed (else a kind of failure)
    students: list = field(default_factory=list)


@dataclass
class Problem:
    student: str
    kind: str  # failed to grade | did not finish | tampered | called nnkit
    detail: str


@dataclass
class LateSubmission:
    student: str
    timestamp: datetime | None
    seconds_late: float
    penalty: float


@dataclass
class ClassReport:
    assignment: str
    submitted: list  # students with a submission
    graded: list  # students with an autograded notebook
    totals: dict  # graded student -> (score, max_score) from the gradebook
    cells: list  # CellScores, in notebook order
    diagnoses: list  # Diagnosis, most common first
    problems: list  # Problem
    late: list  # LateSubmission
    generated: datetime = field(default_factory=datetime.now)

    def share(self, d: Diagnosis) -> float:
        """Fraction of the graded students a diagnosis was seen for."""
        return len(d.students) / len(self.graded) if self.graded else 0.0


# --------------------------------------------------------------------------------------------
# reading
# --------------------------------------------------------------------------------------------
def _test_cell_records(path: Path) -> dict:
    """``{grade_id: verdict record}`` of one autograded notebook."""
    nb = nbformat.read(path, as_version=4)
    out = {}
    for cell in nb.cells:
        rec = cell.get("metadata", {}).get("nngrader")
        if isinstance(rec, dict) and "grade_id" in rec:
            out[rec["grade_id"]] = rec
    return out


def _kinds(rec: dict) -> list:
    """The diagnoses of one verdict record: ``[(text, confirmed)]``, empty when it scored full."""
    if rec.get("score", 0) >= rec.get("points", 0):
        return []
    found = [(c["text"], True) for c in rec.get("causes", [])]
    statuses = {c.get("status") for c in rec.get("cases", [])}
    if rec.get("tampered"):
        found.append((TAMPERED, False))
    if rec.get("forbidden"):
        found.append((FORBIDDEN, False))
    if "missing" in statuses:
        found.append((NOT_DEFINED, False))
    if "error" in statuses:
        found.append((RAISED, False))
    if statuses & {"timeout", "crashed", "protocol", "budget"}:
        found.append((DID_NOT_FINISH, False))
    if not found:
        found.append((WRONG, False))
    return found


def collect(root: str | Path, assignment: str) -> ClassReport:
    """Everything the report shows, from the gradebook and the autograded notebooks of ``root``."""
    from .course import find_assignment, gradebook, release_hint

    root = Path(root).resolve()
    submitted = sorted(p.parent.name for p in (root / "submitted").glob(f"*/{assignment}") if p.is_dir())
    cells: dict[str, CellScores] = {}
    totals: dict[str, tuple] = {}
    late: list[LateSubmission] = []
    with gradebook(root) as gb:
        a = find_assignment(gb, assignment)
        if a is None:
            raise SystemExit(f"The gradebook has no assignment {assignment!r}: {release_hint(assignment)}, "
                             "and autograde it.")
        notebooks = [nb.name for nb in a.notebooks]
        for nb in a.notebooks:
            for gc in nb.grade_cells:
                auto = gc.cell_type == "code"
                cells[gc.name] = CellScores(nb.name, gc.name, float(gc.max_score), auto)
        grades: dict[str, list] = {}  # student -> [(grade_id, needs_manual_grade, score)]
        for sub in a.submissions:
            st = sub.student.id
            totals[st] = (float(sub.score), float(sub.max_score))
            if sub.total_seconds_late > 0:
                late.append(LateSubmission(st, sub.timestamp, float(sub.total_seconds_late),
                                           float(sub.late_submission_penalty or 0.0)))
            grades[st] = [(g.name, bool(g.needs_manual_grade), float(g.score or 0.0))
                          for nb in sub.notebooks for g in nb.grades]
    graded, problems = [], []
    groups: dict[tuple, Diagnosis] = {}
    order = {gid: i for i, gid in enumerate(cells)}
    csv_failures = failed_students(root / f"grades_{assignment}.csv")
    for st in sorted(set(submitted) | set(totals)):
        paths = [root / "autograded" / st / assignment / f"{nb}.ipynb" for nb in notebooks]
        if not all(p.is_file() for p in paths):
            missing = ", ".join(p.name for p in paths if not p.is_file())
            problems.append(Problem(st, "failed to grade",
                                    csv_failures.get(st) or f"no autograded notebook ({missing}): see nbgrader's log"))
            continue
        graded.append(st)
        for gid, pending, score in grades.get(st, []):
            if gid in cells:
                if pending:
                    cells[gid].pending += 1
                else:
                    cells[gid].scores.append(score)
        for path in paths:
            for gid, rec in _test_cell_records(path).items():
                for text, confirmed in _kinds(rec):
                    d = groups.setdefault((gid, text), Diagnosis(gid, text, confirmed))
                    if st not in d.students:
                        d.students.append(st)
                statuses = {c.get("status") for c in rec.get("cases", [])}
                if statuses & {"timeout", "crashed", "budget"}:
                    problems.append(Problem(st, "did not finish", f"{gid}: a case timed out or crashed"))
                if rec.get("tampered"):
                    problems.append(Problem(st, "tampered", f"{gid}: changed the profiler while graded"))
                if rec.get("forbidden"):
                    problems.append(Problem(st, "called nnkit", f"{gid}: {', '.join(rec['forbidden'][:3])}"))
    totals = {st: t for st, t in totals.items() if st in graded}  # a failed autograde leaves an empty submission
    diagnoses = sorted(groups.values(), key=lambda d: (-len(d.students), order.get(d.grade_id, 0), not d.confirmed))
    return ClassReport(assignment, submitted, graded, totals, list(cells.values()), diagnoses, problems,
                       sorted(late, key=lambda s: -s.seconds_late))


# --------------------------------------------------------------------------------------------
# writing
# --------------------------------------------------------------------------------------------
def write_mistakes_csv(report: ClassReport, path: Path) -> None:
    """One row per diagnosis, most common first."""
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["grade_id", "diagnosis", "confirmed_cause", "students", "share_of_graded", "example_student",
                    "all_students"])
        for d in report.diagnoses:
            w.writerow([d.grade_id, d.text, "yes" if d.confirmed else "no", len(d.students),
                        f"{report.share(d):.3f}", d.students[0], " ".join(d.students)])


def write_report(root: str | Path, assignment: str, out: str | Path | None = None) -> Path:
    """Collect and write ``index.html`` and ``mistakes.csv``; returns the page's path."""
    from .report_page import render

    root = Path(root).resolve()
    report = collect(root, assignment)
    folder = Path(out) if out else root / "reports" / assignment
    folder.mkdir(parents=True, exist_ok=True)
    write_mistakes_csv(report, folder / "mistakes.csv")
    page = folder / "index.html"
    page.write_text(render(report), encoding="utf-8")
    return page


def main(argv=None) -> int:
    import argparse

    p = argparse.ArgumentParser(prog="python -m nngrader report",
                                description="Write the class report of an autograded assignment.")
    p.add_argument("assignment")
    p.add_argument("--out", default=None, help="folder to write to (default reports/ASSIGNMENT in the course root)")
    a = p.parse_args(argv)
    page = write_report(Path.cwd(), a.assignment, a.out)
    print(f"Class report written to {page} (and mistakes.csv beside it)")
    return 0
