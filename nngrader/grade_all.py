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
import csv
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

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


def _nbgrader(root: Path, args: list[str], timeout: float, env: dict | None = None) -> tuple[int | None, str]:
    """Run ``python -m nngrader ARGS`` in ``root``; (returncode or None on timeout, output)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "nngrader", *args],
        cwd=root,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # so a timeout kills nbgrader, its kernel and its sandbox together
        text=True,
        errors="replace",
    )
    try:
        out, _ = proc.communicate(timeout=timeout)
        return proc.returncode, out
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        out, _ = proc.communicate()
        return None, out


_BOILERPLATE = ("There was an error processing", "Please see")


# Each student is graded in a process of its own, forked from a "zygote" process that has already
# imported nbgrader, nngrader and nnkit (and the assignment's spec): the child runs nbgrader's own
# `autograde A --student S --force` without paying ~1.5 s of imports again; feedback is generated
# the same way, one child per worker. If the zygote cannot be used, every student gets a fresh
# `python -m nngrader autograde ...` instead, and feedback is one `generate_feedback` process.
_ZYGOTE_BOOT = "import sys; sys.path.insert(0, {root!r}); from nngrader.grade_all import _zygote_main; _zygote_main()"


def _nbgrader_child(root: str, argv: list, log_path: str) -> None:
    """Body of one grading process (forked from the zygote): ``nbgrader ARGV``; never returns."""
    code = 1
    try:
        os.setsid()  # own process group: a timeout kills nbgrader and everything it started
        fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        os.chdir(root)
        from nbgrader.apps.nbgraderapp import NbGraderApp

        NbGraderApp.launch_instance(argv=[str(a) for a in argv])
        code = 0
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    except BaseException:
        import traceback

        traceback.print_exc()
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except Exception:
                pass
        os._exit(code)


def _zygote_main() -> None:
    """Preload, then fork one grading process per request line read on stdin (JSON).

    Replies on stdout, one JSON line each: ``{"id", "pid"}`` after the fork, ``{"id", "exit"}``
    when the process ends (negative: killed by that signal).
    """
    import json
    import select

    sys.modules.setdefault("rfc3987_syntax", None)
    for name in ("nngrader.__main__", "nngrader.preprocessors", "nngrader.specs", "nngrader.verdict", "nnkit"):
        try:
            __import__(name)
        except Exception:
            pass
    out = os.fdopen(os.dup(1), "w")
    os.dup2(os.open(os.devnull, os.O_WRONLY), 1)  # nothing else may write on the reply channel

    def emit(msg):
        out.write(json.dumps(msg) + "\n")
        out.flush()

    children: dict[int, int] = {}
    buf = b""
    eof = False
    while not (eof and not children):
        if not eof:
            ready, _, _ = select.select([0], [], [], 0.05)
            if ready:
                chunk = os.read(0, 65536)
                buf += chunk
                if not chunk:  # grade_all is gone (it only closes stdin when no one is graded)
                    eof = True
                    for pid in children:
                        try:
                            os.killpg(pid, signal.SIGKILL)
                        except (ProcessLookupError, PermissionError):
                            pass
        else:
            time.sleep(0.05)
        while b"\n" in buf:
            line, buf = buf.split(b"\n", 1)
            req = json.loads(line)
            try:
                from nngrader import specs

                specs.load(req["assignment"])  # import the spec (and nnkit) once, before forking
            except Exception:
                pass
            pid = os.fork()
            if pid == 0:
                out.close()
                _nbgrader_child(req["root"], req["argv"], req["log"])
            children[pid] = req["id"]
            emit({"id": req["id"], "pid": pid})
        while children:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                children.clear()
                break
            if pid == 0:
                break
            rid = children.pop(pid, None)
            if rid is not None:
                emit({"id": rid, "exit": os.waitstatus_to_exitcode(status)})


class _ZygoteDead(Exception):
    pass


class _Zygote:
    """Parent side of :func:`_zygote_main`; thread-safe."""

    def __init__(self, env: dict | None = None):
        import json

        self._json = json
        self.proc = subprocess.Popen(
            [sys.executable, "-c", _ZYGOTE_BOOT.format(root=str(Path(__file__).resolve().parents[1]))],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            start_new_session=True, env=env,
        )
        self.lock = threading.Lock()
        self.next_id = 0
        self.waiting: dict[int, dict] = {}
        self.dead = False
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            try:
                msg = self._json.loads(line)
                slot = self.waiting[msg["id"]]
            except (ValueError, KeyError, TypeError):
                continue
            key = "pid" if "pid" in msg else "exit"
            slot[key] = msg[key]
            slot["event_" + key].set()
        with self.lock:
            self.dead = True
            for slot in self.waiting.values():
                slot["event_pid"].set()
                slot["event_exit"].set()

    def run(self, root: Path, assignment: str, argv: list, log_path: str, timeout: float) -> int | None:
        """``nbgrader ARGV`` in a forked process; its exit status, or None when it timed out (killed)."""
        with self.lock:
            if self.dead:
                raise _ZygoteDead()
            rid = self.next_id
            self.next_id += 1
            slot = self.waiting[rid] = {"event_pid": threading.Event(), "event_exit": threading.Event()}
            req = {"id": rid, "root": str(root), "assignment": assignment, "argv": list(argv), "log": log_path}
            try:
                self.proc.stdin.write((self._json.dumps(req) + "\n").encode())
                self.proc.stdin.flush()
            except OSError:
                self.dead = True
                raise _ZygoteDead() from None
        try:
            if not slot["event_pid"].wait(120) or "pid" not in slot:
                raise _ZygoteDead()
            if slot["event_exit"].wait(timeout) and "exit" in slot:
                return slot["exit"]
            if "exit" not in slot and self.dead:
                raise _ZygoteDead()
            for kill in (os.killpg, os.kill):  # timed out
                try:
                    kill(slot["pid"], signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
            slot["event_exit"].wait(30)
            return None
        finally:
            with self.lock:
                self.waiting.pop(rid, None)

    def close(self):
        try:
            self.proc.stdin.close()
            self.proc.wait(timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            self.proc.kill()


def _run_nbgrader(root: Path, assignment: str, argv: list, timeout: float, zygote: _Zygote | None,
                  env: dict | None = None):
    """``nbgrader ARGV`` in its own process, forked from the zygote when there is one, else started
    afresh; (returncode or None on timeout, output)."""
    if zygote is not None:
        fd, log_path = tempfile.mkstemp(prefix=f"nngrader-{argv[0]}-", suffix=".log")
        os.close(fd)
        try:
            code = zygote.run(root, assignment, argv, log_path, timeout)
            with open(log_path, errors="replace") as f:
                return code, f.read()
        except _ZygoteDead:
            pass
        finally:
            os.unlink(log_path)
    return _nbgrader(root, argv, timeout, env)


def _autograde(root: Path, assignment: str, student: str, timeout: float, zygote: _Zygote | None,
               env: dict | None = None, extra=()):
    """``nbgrader autograde A --student S --force`` in its own process; (returncode or None, output)."""
    return _run_nbgrader(root, assignment, ["autograde", assignment, "--student", student, "--force", *extra],
                         timeout, zygote, env)


def _failure_reason(code: int | None, out: str, timeout: float) -> str:
    """One line for the report: nbgrader's last real ERROR record (a traceback's final line)."""
    if code is None:
        return f"timed out after {timeout:g} s"
    records: list[list[str]] = []
    for line in out.splitlines():
        if line.startswith("["):
            records.append([line])
        elif records:
            records[-1].append(line)
    for rec in reversed(records):
        head = rec[0].split("] ", 1)
        if len(head) < 2 or "| ERROR" not in head[0] and "| CRITICAL" not in head[0]:
            continue
        if head[1].startswith(_BOILERPLATE):
            continue
        rest = [ln.strip() for ln in rec[1:] if ln.strip()]
        text = rest[-1] if any("Traceback" in ln for ln in rec) and rest else " ".join([head[1].strip(), *rest])
        return " ".join(text.split())[:200]
    return f"nbgrader exited with status {code}"


def autograde_student(root: Path, assignment: str, student: str, *, timeout: float, retries: int = 1,
                      zygote: _Zygote | None = None, env: dict | None = None, extra=()) -> StudentRun:
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
            run.reason = _failure_reason(code, out, timeout)
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
                      zygote: _Zygote | None, env: dict | None = None, everyone: bool = False,
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
            code, log = _run_nbgrader(root, assignment, argv, timeout, zygote, env)
            if code == 0 or code is None or LOCKED not in log:
                break
            time.sleep(1.0 + attempt)
        if code != 0:
            what = " ".join(batch) if len(" ".join(batch)) < 80 else f"({len(students)} students)"
            failures.append(f"generate_feedback {what} FAILED ({_failure_reason(code, log, timeout)})")

    with ThreadPoolExecutor(max_workers=max(1, min(workers, len(batches)))) as pool:
        list(pool.map(one, batches))
    return failures


def discover(root: Path, assignment: str) -> list[str]:
    """Students with a collected submission: ``submitted/<student>/<assignment>/``."""
    base = root / "submitted"
    if not base.is_dir():
        return []
    return sorted(p.name for p in base.iterdir() if (p / assignment).is_dir())


def _read_csv(path: Path) -> dict[str, dict]:
    if not path.is_file():
        return {}
    with path.open(newline="") as f:
        reader = csv.DictReader(f)
        if "student" not in (reader.fieldnames or []):  # not ours (e.g. `nbgrader export` output)
            return {}
        return {row["student"]: row for row in reader}


def write_grades_csv(root: Path, assignment: str, path: Path, runs: dict[str, StudentRun],
                     jail: str = "") -> list[dict]:
    """One row per student; students who failed this time keep their previous row (status says so).

    ``jail``: how this run contained student code (``bubblewrap``, or the unsafe option's name),
    recorded in the ``jail`` column of every student graded now."""
    sys.modules.setdefault("rfc3987_syntax", None)
    from nbgrader.api import Gradebook, MissingEntry

    course_id, db_url = _course_settings(root)
    previous = _read_csv(path)
    rows: dict[str, dict] = {}
    cell_names: list[str] = []
    with Gradebook(db_url, course_id) as gb:
        try:
            a = gb.find_assignment(assignment)
        except MissingEntry:
            a = None
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
        if st not in runs and (st not in rows or str(old.get("status", "")).startswith("FAILED")):
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


def _course_config(root: Path):
    """``nbgrader_config.py`` of the course, read with traitlets' own loader (empty if unreadable)."""
    from traitlets.config import Config
    from traitlets.config.loader import PyFileConfigLoader

    saved = dict(os.environ)  # the config moves NNGRADER_SECRET out of the environment
    try:
        return PyFileConfigLoader("nbgrader_config.py", path=str(root)).load_config()
    except Exception:
        return Config()
    finally:
        os.environ.clear()
        os.environ.update(saved)


def _course_settings(root: Path) -> tuple[str, str]:
    """``(course_id, db_url)`` from nbgrader_config.py, with nbgrader's defaults: course
    'default_course' and the SQLite ``gradebook.db`` in the course root. A configured
    ``CourseDirectory.db_url`` (a PostgreSQL gradebook, for Kubernetes grading Jobs) is used as it is."""
    course_id, db_url = "default_course", f"sqlite:///{root / 'gradebook.db'}"
    cfg = _course_config(root)
    if "course_id" in cfg.CourseDirectory:
        course_id = str(cfg.CourseDirectory.course_id)
    if "db_url" in cfg.CourseDirectory and cfg.CourseDirectory.db_url:
        db_url = str(cfg.CourseDirectory.db_url)
    return course_id, db_url


def _jail(root: Path, allow_unsafe: bool, out):
    """The grading jail as nbgrader_config.py sets it; stops here (before anyone is graded) when it
    cannot be made, unless the instructor allowed grading without it. Returns the CSV's jail column."""
    from .jail import UNSAFE, GradingJail, JailUnavailable

    jail = GradingJail(config=_course_config(root))
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


def _check_released(root: Path, assignment: str) -> None:
    """Stop before grading when the gradebook does not know the assignment: every attempt would
    fail the same way (nbgrader restores test cells from what ``generate_assignment`` recorded)."""
    course_id, db_url = _course_settings(root)
    hint = (f"run `nbgrader generate_assignment {assignment}` in the course root first (it records the "
            "graded cells that autograde restores and scores)")
    if db_url.startswith("sqlite:///") and not Path(db_url[len("sqlite:///"):]).is_file():
        raise SystemExit(f"{assignment} cannot be graded yet: there is no gradebook; {hint}")
    sys.modules.setdefault("rfc3987_syntax", None)
    from nbgrader.api import Gradebook, MissingEntry

    with Gradebook(db_url, course_id) as gb:
        try:
            gb.find_assignment(assignment)
        except MissingEntry:
            raise SystemExit(f"{assignment} cannot be graded yet: the gradebook does not know it; {hint}") from None


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
    _check_released(root, assignment)
    jail = _jail(root, allow_unsafe_grading, out)
    extra = ["--GradingJail.allow_unsafe_grading=True"] if jail != "bubblewrap" else []
    out(f"Autograding {len(todo)} submission(s) of {assignment} with {workers} worker(s), "
        f"student code in the grading jail: {'yes' if not extra else 'NO'}")
    env = worker_env(workers)
    runs: dict[str, StudentRun] = {}
    t0 = time.monotonic()
    zygote = _Zygote(env) if hasattr(os, "fork") else None
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
