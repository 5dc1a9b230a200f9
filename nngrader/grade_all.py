"""Autograde every collected submission of an assignment, in parallel, one process per student.

Usage (from the course root, the folder with nbgrader_config.py)::

    python -m nngrader.grade_all 01_perceptron                 # everyone in submitted/, 2 workers
    python -m nngrader.grade_all 01_perceptron --student alice # regrade one student alone
    python -m nngrader.grade_all 01_perceptron --workers 1 --csv grades/01.csv

For every student it runs ``nbgrader autograde <assignment> --student <id> --force`` in a process
of its own (forked from a server that has imported nbgrader once), with its own time limit.
A crash, a timeout or a notebook nbgrader cannot read (malformed JSON, metadata from a newer
nbgrader) fails that student only:

- the attempt is retried once (and up to 3 more times when SQLite reports "database is locked":
  the gradebook is single-writer and two graders may meet there);
- the student's previous ``autograded/`` folder is put back, and the grades CSV keeps the
  student's previous row, marked as failed, so a failed regrade never loses a grade;
- the failure is reported and the command exits with status 1 after all the others are done.

Then it runs ``nbgrader generate_feedback`` for the students graded (HTML in
``feedback/<student>/<assignment>/``; the class split between the workers) and writes
``grades_<assignment>.csv`` with one row per student: status, total score and each graded cell's
score (``nbgrader export`` still gives nbgrader's own whole-course CSV).

Student code runs only in the grading jail (:mod:`nngrader.jail`); where the jail cannot be made,
grading stops before anyone is graded, with what is missing. ``--allow-unsafe-grading`` grades
without it, and says so in the log and in the CSV's ``jail`` column.

Speed: every worker gets ``cpu_count // workers`` BLAS/OpenMP threads (``OMP_NUM_THREADS``,
``OPENBLAS_NUM_THREADS``, ``MKL_NUM_THREADS``; values already set in the environment win), so
two workers on two cores do not fight over four BLAS threads; the grading sandboxes always use one.
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

from .course import course_config, require_released
from .grades_csv import write_grades_csv
from .nbgrader_process import Zygote, failure_reason, run_nbgrader

__all__ = ["main", "grade_all", "StudentRun"]

LOCKED = "database is locked"


@dataclass
class StudentRun:
    student: str
    ok: bool = False
    attempts: int = 0
    seconds: float = 0.0
    reason: str = ""
    log: str = field(default="", repr=False)


THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def worker_env(workers: int) -> dict:
    """The environment for grading processes: ``cpu_count // workers`` BLAS threads each, unless set."""
    env = dict(os.environ)
    threads = str(max(1, (os.cpu_count() or 1) // max(1, workers)))
    for var in THREAD_VARS:
        env.setdefault(var, threads)
    return env


def _autograde(root: Path, assignment: str, student: str, timeout: float, zygote: Zygote | None,
               env: dict | None = None, extra=()):
    """``nbgrader autograde A --student S --force`` in its own process; (returncode or None, output)."""
    return run_nbgrader(root, assignment, ["autograde", assignment, "--student", student, "--force", *extra],
                         timeout, zygote, env)


def autograde_student(root: Path, assignment: str, student: str, *, timeout: float, retries: int = 1,
                      zygote: Zygote | None = None, env: dict | None = None, extra=()) -> StudentRun:
    """Autograde one student in a fresh process; restore their previous results if it fails."""
    run = StudentRun(student)
    graded = root / "autograded" / student / assignment
    backup = None
    if graded.exists():
        backup = Path(tempfile.mkdtemp(prefix="nngrader-backup-")) / assignment
        shutil.copytree(graded, backup)
    t0 = time.monotonic()
    lock_retries = 3
    try:
        while True:
            run.attempts += 1
            code, out = _autograde(root, assignment, student, timeout, zygote, env, extra)
            run.log = out
            if code == 0:
                run.ok = True
                break
            if code is not None and LOCKED in out and lock_retries > 0:
                lock_retries -= 1
                run.attempts -= 1
                time.sleep(1.0 + 2.0 * (3 - lock_retries))
                continue
            run.reason = failure_reason(code, out, timeout)
            if run.attempts > retries:
                break
    finally:
        run.seconds = time.monotonic() - t0
        if backup is not None:
            if not run.ok:
                if graded.exists():
                    shutil.rmtree(graded)
                shutil.copytree(backup, graded)
            shutil.rmtree(backup.parent, ignore_errors=True)
    return run


def generate_feedback(root: Path, assignment: str, students: list[str], *, workers: int, timeout: float,
                      zygote: Zygote | None, env: dict | None = None, everyone: bool = False,
                      extra=()) -> list[str]:
    """``nbgrader generate_feedback`` for ``students``, split between ``workers`` processes forked
    from the zygote (without one: a single fresh process); returns one line per failed batch.

    ``everyone``: the whole class was graded (without a zygote: one process for all of them).
    """
    if zygote is None or zygote.dead:
        batches = [[]] if everyone else [["--student", st] for st in students]
    else:
        graded = {p.parent.name for p in (root / "autograded").glob(f"*/{assignment}") if p.is_dir()}
        chunks = [c for c in (students[i::workers] for i in range(workers)) if c]
        batches = []
        for chunk in chunks:
            if len(chunk) == 1:
                batches.append(["--student", chunk[0]])
            else:
                others = sorted(graded - set(chunk))
                batches.append([f"--CourseDirectory.student_id_exclude={','.join(others)}"] if others else [])
    failures = []

    def one(batch):
        argv = ["generate_feedback", assignment, "--force", *batch, *extra]
        for attempt in range(4):  # a reader can meet a writer's lock on the gradebook
            code, log = run_nbgrader(root, assignment, argv, timeout, zygote, env)
            if code == 0 or code is None or LOCKED not in log:
                break
            time.sleep(1.0 + attempt)
        if code != 0:
            what = " ".join(batch) if len(" ".join(batch)) < 80 else f"({len(students)} students)"
            failures.append(f"generate_feedback {what} FAILED ({failure_reason(code, log, timeout)})")

    with ThreadPoolExecutor(max_workers=max(1, min(workers, len(batches)))) as pool:
        list(pool.map(one, batches))
    return failures


def discover(root: Path, assignment: str) -> list[str]:
    """Students with a collected submission: ``submitted/<student>/<assignment>/``."""
    base = root / "submitted"
    if not base.is_dir():
        return []
    return sorted(p.name for p in base.iterdir() if (p / assignment).is_dir())


def _jail(root: Path, allow_unsafe: bool, out):
    """The grading jail as nbgrader_config.py sets it; stops here (before anyone is graded) when it
    cannot be made, unless the instructor allowed grading without it. Returns the CSV's jail column."""
    from .jail import UNSAFE, GradingJail, JailUnavailable

    jail = GradingJail(config=course_config(root))
    if allow_unsafe or not jail.enabled:
        out("!" * 100)
        out(f"!! {UNSAFE}")
        out("!" * 100)
        return "NONE (--allow-unsafe-grading)"
    try:
        jail.check(course_root=root)
    except JailUnavailable as e:
        raise SystemExit(
            f"Grading stopped: student code runs only inside the grading jail, and {e}\n"
            "(`--allow-unsafe-grading` grades without it: then any submission can read the solutions "
            "and change every grade; only for a class whose every student you trust.)"
        ) from None
    return "bubblewrap"



def grade_all(root: Path, assignment: str, *, students: list[str] | None = None, workers: int = 2,
              timeout: float = 600.0, retries: int = 1, csv_path: Path | None = None,
              feedback: bool = True, allow_unsafe_grading: bool = False, out=print) -> dict[str, StudentRun]:
    """Autograde, generate feedback, write the CSV; returns the per-student runs.

    Stops with SystemExit before grading anyone when the grading jail cannot be made, unless
    ``allow_unsafe_grading`` (recorded in the log and in the CSV's ``jail`` column)."""
    root = Path(root).resolve()
    everyone = discover(root, assignment)
    todo = list(students) if students else everyone
    missing = [s for s in todo if s not in everyone]
    if missing:
        raise SystemExit(f"no submission of {assignment} for: {', '.join(missing)} (looked in submitted/)")
    if not todo:
        raise SystemExit(f"no submissions of {assignment} in {root / 'submitted'}")
    workers = max(1, workers)
    require_released(root, assignment)
    jail = _jail(root, allow_unsafe_grading, out)
    extra = ["--GradingJail.allow_unsafe_grading=True"] if jail != "bubblewrap" else []
    out(f"Autograding {len(todo)} submission(s) of {assignment} with {workers} worker(s), "
        f"student code in the grading jail: {'yes' if not extra else 'NO'}")
    env = worker_env(workers)
    runs: dict[str, StudentRun] = {}
    t0 = time.monotonic()
    zygote = Zygote(env) if hasattr(os, "fork") else None
    try:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            futures = [pool.submit(autograde_student, root, assignment, s, timeout=timeout, retries=retries,
                                   zygote=zygote, env=env, extra=extra) for s in todo]
            for done, fut in enumerate(as_completed(futures), 1):
                run = fut.result()
                runs[run.student] = run
                state = "graded" if run.ok else f"FAILED: {run.reason}"
                out(f"  [{done}/{len(todo)}] {run.student}: {state} ({run.seconds:.1f} s, {run.attempts} attempt(s))")
        wall = time.monotonic() - t0
        ok = sorted(r.student for r in runs.values() if r.ok)
        if ok:
            med = statistics.median(runs[st].seconds for st in ok)
            out(f"Autograded {len(ok)}/{len(runs)} in {wall:.1f} s wall ({med:.1f} s median per student)")
        if feedback and ok:
            for line in generate_feedback(root, assignment, ok, workers=workers, timeout=timeout, zygote=zygote,
                                          env=env, everyone=not students, extra=extra):
                out(line)
            out(f"Feedback HTML in {root / 'feedback'}/<student>/{assignment}/")
    finally:
        if zygote is not None:
            zygote.close()
    csv_path = Path(csv_path) if csv_path else root / f"grades_{assignment}.csv"
    if not csv_path.is_absolute():
        csv_path = root / csv_path
    write_grades_csv(root, assignment, csv_path, runs, jail=jail)
    out(f"Grades written to {csv_path}")
    for r in runs.values():
        if not r.ok:
            out(f"FAILED {r.student}: {r.reason}")
    return runs


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m nngrader.grade_all", description=__doc__.split("\n\n")[0])
    p.add_argument("assignment")
    p.add_argument("--student", action="append", help="grade only this student (repeatable)")
    p.add_argument("--workers", type=int, default=2, help="parallel graders (default 2)")
    p.add_argument("--timeout", type=float, default=600.0, help="seconds per student and attempt (default 600)")
    p.add_argument("--retries", type=int, default=1, help="extra attempts after a failure (default 1)")
    p.add_argument("--csv", default=None,
                   help="grades CSV, relative to the course root (default grades_<assignment>.csv)")
    p.add_argument("--no-feedback", action="store_true", help="skip generate_feedback")
    p.add_argument("--root", default=".", help="course root (default: current directory)")
    p.add_argument("--allow-unsafe-grading", action="store_true",
                   help="grade WITHOUT the grading jail where it cannot be made (student code can then read "
                        "the solutions and change every grade); recorded in the log and the CSV")
    a = p.parse_args(argv)
    runs = grade_all(Path(a.root), a.assignment, students=a.student, workers=a.workers, timeout=a.timeout,
                     retries=a.retries, csv_path=Path(a.csv) if a.csv else None, feedback=not a.no_feedback,
                     allow_unsafe_grading=a.allow_unsafe_grading)
    return 0 if all(r.ok for r in runs.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
