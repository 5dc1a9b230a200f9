"""The grades CSV of ``grade_all``: one row per student, from the gradebook, never losing a grade.

Columns: student, assignment, status (``graded`` or ``FAILED (reason)``), jail (how student code
was contained), score, max_score, needs_manual_grade, then every graded cell as
``notebook:grade_id``. A student who failed this time keeps their previous row, marked as failed.
"""
from __future__ import annotations

import csv
import os
from pathlib import Path

from .course import find_assignment, gradebook

__all__ = ["write_grades_csv", "failed_students"]


def failed_students(path: Path) -> dict[str, str]:
    """``{student: status}`` of the rows marked ``FAILED (reason)`` (empty without the CSV)."""
    return {st: row["status"] for st, row in _read_csv(path).items() if _failed(row)}


def _failed(row: dict) -> bool:
    return str(row.get("status", "")).startswith("FAILED")


def _read_csv(path: Path) -> dict[str, dict]:
    if not path.is_file():
        return {}
    with path.open(newline="") as f:
        reader = csv.DictReader(f)
        if "student" not in (reader.fieldnames or []):  # not ours (e.g. `nbgrader export` output)
            return {}
        return {row["student"]: row for row in reader}


def write_grades_csv(root: Path, assignment: str, path: Path, runs: dict,
                     jail: str = "") -> list[dict]:
    """One row per student; students who failed this time keep their previous row (status says so).

    ``jail``: how this run contained student code (``bubblewrap``, or the unsafe option's name),
    recorded in the ``jail`` column of every student graded now."""
    previous = _read_csv(path)
    rows: dict[str, dict] = {}
    cell_names: list[str] = []
    with gradebook(root) as gb:
        a = find_assignment(gb, assignment)
        if a is not None:
            for nb in a.notebooks:
                cell_names += [f"{nb.name}:{gc.name}" for gc in nb.grade_cells]
            for sub in a.submissions:
                st = sub.student.id
                row = {"student": st, "assignment": assignment, "score": round(sub.score, 2),
                       "max_score": sub.max_score, "needs_manual_grade": sub.needs_manual_grade,
                       "status": "graded"}
                for nb in sub.notebooks:
                    for g in nb.grades:
                        row[f"{nb.name}:{g.name}"] = "" if g.score is None else round(g.score, 2)
                rows[st] = row
    for st, old in previous.items():
        # not graded now: a failed student keeps their row; a graded one is refreshed from the
        # gradebook (which holds any manual grades given since)
        if st not in runs and (st not in rows or _failed(old)):
            rows[st] = dict(old)
    for st, run in runs.items():
        if run.ok:
            row = rows.setdefault(st, {"student": st, "assignment": assignment})
            row["status"], row["jail"] = "graded", jail
            continue
        row = dict(previous.get(st) or rows.get(st) or {"student": st, "assignment": assignment})
        had = bool(previous.get(st, {}).get("score") not in (None, ""))
        row["status"] = f"FAILED ({run.reason})" + ("; previous grade kept" if had else "")
        if not had:
            row.update(score="", max_score="")
        rows[st] = row
    fields = ["student", "assignment", "status", "jail", "score", "max_score", "needs_manual_grade", *cell_names]
    for r in rows.values():
        fields += [k for k in r if k not in fields]
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    with tmp.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fields, restval="")
        w.writeheader()
        for st in sorted(rows):
            w.writerow(rows[st])
    os.replace(tmp, path)
    return [rows[st] for st in sorted(rows)]
