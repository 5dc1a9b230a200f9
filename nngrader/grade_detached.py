"""Autograde one submission away from the course: no gradebook credentials, no course root.

The first of the two steps of a Kubernetes grading Job (deploy/kubernetes/grade-run-job.yaml);
the second, :mod:`nngrader.record`, writes the result into the course's gradebook::

    python -m nngrader.grade_detached 01_perceptron --student alice \\
        --source solutions/01_perceptron --submission submitted/alice/01_perceptron --out results/alice

It builds a private course root in a temporary folder (or ``--workdir``):

- ``nbgrader_config.py`` of its own: the course id (``--course-id``), nbgrader's default folders,
  and the course's grading settings, copied from the course's ``nbgrader_config.py`` (``--config``;
  default: the one beside the ``nngrader`` package) section by section, only the sections in
  :data:`GRADING_SECTIONS`: never ``CourseDirectory`` (a database URL), ``Exchange``, the
  hidden-case secret or ``GradingJail.allow_unsafe_grading``. The secret comes from the environment
  (``NNGRADER_SECRET``) and is taken out of it before any student code starts, as in the course;
- ``source/<assignment>/`` (a copy of ``--source``) and ``submitted/<student>/<assignment>/``
  (a copy of ``--submission``);
- its own SQLite gradebook, named on every nbgrader command line, so that no configuration file
  anywhere can point this run at another gradebook;

runs nbgrader's own ``generate_assignment``, ``autograde --student`` and ``generate_feedback
--student`` there (``python -m nngrader``, each in a process of its own, with a time limit), and
writes to ``--out``:

- ``autograded/``: ``autograded/<student>/<assignment>/`` as nbgrader left it;
- ``feedback/``: ``feedback/<student>/<assignment>/`` (the feedback HTML);
- ``result.json``, last: the course, assignment, student, submission time and, per notebook and
  per graded cell, the automatic score and the maximum, with the totals, read with nbgrader's API
  from the private gradebook (:func:`read_result`).

A stale ``result.json`` is removed first, so ``--out`` holds a ``result.json`` only after a
successful run. Exit status 0 on success, 1 with a message on stderr when grading failed.
"""
from __future__ import annotations

import argparse
import ast
import datetime
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

from .course import without_iri_parser

__all__ = ["main", "grade_detached", "grading_settings", "scratch_config", "read_result", "GRADING_SECTIONS",
           "GradingFailed", "RESULT", "FORMAT"]

#: The sections of the course's nbgrader_config.py that a detached run takes over: how to
#: autograde, and nothing else (no CourseDirectory, no Exchange).
GRADING_SECTIONS = ("Autograde", "Execute", "ResilientExecute", "TrustedVerdicts", "OverwriteCells",
                    "IgnorePattern", "LimitOutput", "GradingJail")
#: Keys of those sections that never leave the course: the secret comes from the environment, and
#: a detached run always grades inside the jail.
NEVER_COPIED = {("TrustedVerdicts", "secret"), ("GradingJail", "allow_unsafe_grading")}
RESULT = "result.json"
FORMAT = 1
_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.@+-]*$")  # an assignment or student id: one path component
PROJECT = Path(__file__).resolve().parents[1]


class GradingFailed(Exception):
    """The run cannot produce a result; the message says why."""


def check_name(kind: str, value: str) -> str:
    if not _NAME.match(value or "") or value in (".", ".."):
        raise GradingFailed(f"invalid {kind} id {value!r}: letters, digits and _.@+- only, not starting with . or -")
    return value


# --- the grading settings, from the course's nbgrader_config.py ---------------------------------
def grading_settings(config: Path) -> dict[str, dict]:
    """``{section: {key: value}}`` of :data:`GRADING_SECTIONS` in ``config`` (loaded by traitlets'
    own loader, as nbgrader loads it), without the keys of :data:`NEVER_COPIED`.

    Loading runs the file: the environment is restored afterwards (the course's config takes the
    secret out of it), and its exchange folder is pointed at a throwaway place.
    """
    from traitlets.config.loader import PyFileConfigLoader

    config = Path(config).resolve()
    if not config.is_file():
        raise GradingFailed(f"no course configuration at {config} (pass --config)")
    saved = dict(os.environ)
    throwaway = tempfile.mkdtemp(prefix="nngrader-config-")
    try:
        os.environ["NNGRADER_EXCHANGE"] = os.path.join(throwaway, "exchange")
        try:
            cfg = PyFileConfigLoader(config.name, path=str(config.parent)).load_config()
        except Exception as e:
            raise GradingFailed(f"cannot load {config}: {e}") from None
    finally:
        os.environ.clear()
        os.environ.update(saved)
        shutil.rmtree(throwaway, ignore_errors=True)
    settings: dict[str, dict] = {}
    for section in GRADING_SECTIONS:
        if section not in cfg:
            continue
        for key, value in cfg[section].items():
            if (section, key) in NEVER_COPIED:
                continue
            try:
                literal = ast.literal_eval(repr(value))
            except (ValueError, SyntaxError):
                literal = object()
            if literal != value:
                raise GradingFailed(f"{config}: c.{section}.{key} is not a plain Python value ({value!r}); "
                                    "a detached run copies only literals")
            settings.setdefault(section, {})[key] = value
    return settings


def scratch_config(course_id: str, settings: dict[str, dict]) -> str:
    """The text of the private course root's nbgrader_config.py."""
    lines = [
        "# Written by nngrader.grade_detached for one detached grading run: the course's grading",
        "# settings, nothing else (no gradebook URL, no exchange; the gradebook is named on the command line).",
        "import os",
        "",
        "c = get_config()  # noqa: F821",
        f"c.CourseDirectory.course_id = {course_id!r}",
        "c.CourseDirectory.source_directory = 'source'",
        "c.CourseDirectory.release_directory = 'release'",
    ]
    for section, values in settings.items():
        for key, value in values.items():
            lines.append(f"c.{section}.{key} = {value!r}")
    lines += [
        "",
        "# the hidden-case secret: from the environment, taken out of it before any student code starts",
        "_secret = os.environ.pop('NNGRADER_SECRET', '')",
        "if _secret:",
        "    c.TrustedVerdicts.secret = _secret",
        "",
    ]
    return "\n".join(lines)


# --- running nbgrader -----------------------------------------------------------------------
def _nbgrader_env(scratch: Path) -> dict:
    """The environment of the nbgrader processes: the caller's, minus any Jupyter configuration
    path (only the scratch root's nbgrader_config.py counts), with Jupyter's folders in the scratch."""
    env = {k: v for k, v in os.environ.items() if k not in ("JUPYTER_CONFIG_PATH", "JUPYTER_PATH")}
    jupyter = scratch / ".jupyter"
    env.update({
        "JUPYTER_CONFIG_DIR": str(jupyter / "config"),
        "JUPYTER_DATA_DIR": str(jupyter / "data"),
        "JUPYTER_RUNTIME_DIR": str(jupyter / "runtime"),
        "PATH": os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", ""),
    })
    return env


def _run(scratch: Path, args: list[str], timeout: float, env: dict, out) -> None:
    """``python -m nngrader ARGS`` in the scratch root, against its own gradebook; raises GradingFailed."""
    argv = [sys.executable, "-m", "nngrader", *args, f"--CourseDirectory.root={scratch}",
            f"--CourseDirectory.db_url=sqlite:///{scratch / 'gradebook.db'}"]
    out(f"$ nbgrader {' '.join(args)}")
    proc = subprocess.Popen(argv, cwd=scratch, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, errors="replace", start_new_session=True)
    try:
        log, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # nbgrader, its kernel and its sandbox together
        except ProcessLookupError:
            pass
        log, _ = proc.communicate()
        out(log.rstrip())
        raise GradingFailed(f"nbgrader {args[0]} timed out after {timeout:g} s") from None
    out(log.rstrip())
    if proc.returncode != 0:
        raise GradingFailed(f"nbgrader {args[0]} failed: {_reason(proc.returncode, log, timeout)}")


def _reason(code: int, log: str, timeout: float) -> str:
    """One line: nbgrader's last error, as grade_all reports it."""
    try:
        from .nbgrader_process import failure_reason

        return failure_reason(code, log, timeout)
    except Exception:
        lines = [ln.strip() for ln in log.splitlines() if ln.strip()]
        return (lines[-1] if lines else f"exit status {code}")[:200]


# --- the result -----------------------------------------------------------------------------
def _score(x):
    return None if x is None else float(x)


def read_result(db_url: str, course_id: str, assignment: str, student: str, submitted: Path) -> dict:
    """The student's autograde result, read with nbgrader's API from the gradebook at ``db_url``."""
    without_iri_parser()
    from nbgrader.api import Gradebook, MissingEntry

    with Gradebook(db_url, course_id) as gb:
        try:
            sub = gb.find_submission(assignment, student)
        except MissingEntry as e:
            raise GradingFailed(f"nbgrader left no submission in the gradebook: {e}") from None
        notebooks = {}
        for nb in sorted(sub.notebooks, key=lambda n: n.name):
            notebooks[nb.name] = {
                "submitted": (submitted / f"{nb.name}.ipynb").is_file(),
                "score": _score(nb.score),
                "max_score": _score(nb.max_score),
                "late_submission_penalty": _score(nb.late_submission_penalty),
                "grades": {g.name: {"auto_score": _score(g.auto_score), "max_score": _score(g.max_score),
                                    "needs_manual_grade": bool(g.needs_manual_grade), "cell_type": g.cell_type}
                           for g in sorted(nb.grades, key=lambda g: g.name)},
            }
        return {
            "format": FORMAT,
            "course_id": course_id,
            "assignment": assignment,
            "student": student,
            "timestamp": sub.timestamp.isoformat() if sub.timestamp else None,
            "graded_at": datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None).isoformat(),
            "score": _score(sub.score),
            "max_score": _score(sub.max_score),
            "needs_manual_grade": bool(sub.needs_manual_grade),
            "notebooks": notebooks,
        }


def _clear_output(out_dir: Path) -> None:
    """Remove what an earlier run left in ``out_dir``: result.json first (no stale result survives)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / RESULT).unlink(missing_ok=True)
    (out_dir / f"{RESULT}.tmp").unlink(missing_ok=True)
    for name in ("autograded", "feedback"):
        path = out_dir / name
        if path.is_symlink() or path.is_file():
            path.unlink()
        elif path.exists():
            shutil.rmtree(path)


def _copy_dir(src: Path, what: str) -> Path:
    src = Path(src)
    if not src.is_dir():
        raise GradingFailed(f"{what} {src} is not a folder")
    return src.resolve()


def grade_detached(assignment: str, student: str, *, source: Path, submission: Path, out_dir: Path,
                   course_id: str = "nn-fundamentals", config: Path | None = None, workdir: Path | None = None,
                   timeout: float = 900.0, out=print) -> dict:
    """Grade one submission in a private course root; write the outputs to ``out_dir``; the result."""
    check_name("assignment", assignment)
    check_name("student", student)
    source = _copy_dir(source, "--source")
    submission = _copy_dir(submission, "--submission")
    if not any(source.glob("*.ipynb")):
        raise GradingFailed(f"--source {source} has no notebook")
    out_dir = Path(out_dir)
    _clear_output(out_dir)
    settings = grading_settings(Path(config) if config else PROJECT / "nbgrader_config.py")
    if not os.environ.get("NNGRADER_SECRET"):
        out("WARNING: NNGRADER_SECRET is not set: the hidden cases use the built-in default secret")

    keep = workdir is not None
    if keep:
        scratch = Path(workdir).resolve()
        if scratch.exists() and any(scratch.iterdir()):
            raise GradingFailed(f"--workdir {scratch} is not empty")
        scratch.mkdir(parents=True, exist_ok=True)
    else:
        scratch = Path(tempfile.mkdtemp(prefix="nngrader-detached-"))
    try:
        (scratch / "nbgrader_config.py").write_text(scratch_config(course_id, settings))
        ignore = shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__")
        shutil.copytree(source, scratch / "source" / assignment, ignore=ignore)
        submitted = scratch / "submitted" / student / assignment
        shutil.copytree(submission, submitted, ignore=ignore)
        env = _nbgrader_env(scratch)
        _run(scratch, ["generate_assignment", assignment, "--force"], timeout, env, out)
        _run(scratch, ["autograde", assignment, "--student", student, "--force"], timeout, env, out)
        graded = scratch / "autograded" / student / assignment
        if not graded.is_dir():
            raise GradingFailed(f"nbgrader autograde wrote nothing for {student}")
        _run(scratch, ["generate_feedback", assignment, "--student", student, "--force"], timeout, env, out)
        feedback = scratch / "feedback" / student / assignment
        if not feedback.is_dir():
            raise GradingFailed(f"nbgrader generate_feedback wrote nothing for {student}")
        result = read_result(f"sqlite:///{scratch / 'gradebook.db'}", course_id, assignment, student, submitted)
        shutil.copytree(graded, out_dir / "autograded", symlinks=True)
        shutil.copytree(feedback, out_dir / "feedback", symlinks=True)
        tmp = out_dir / f"{RESULT}.tmp"
        tmp.write_text(json.dumps(result, indent=1) + "\n")
        os.replace(tmp, out_dir / RESULT)
        return result
    finally:
        if not keep:
            shutil.rmtree(scratch, ignore_errors=True)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m nngrader.grade_detached", description=__doc__.split("\n\n")[0])
    p.add_argument("assignment")
    p.add_argument("--student", required=True, help="the student id")
    p.add_argument("--source", required=True, type=Path, help="the assignment's source notebooks (solutions/<assignment>)")
    p.add_argument("--submission", required=True, type=Path, help="the submission (submitted/<student>/<assignment>)")
    p.add_argument("--out", required=True, type=Path, help="where to write autograded/, feedback/ and result.json")
    p.add_argument("--course-id", default="nn-fundamentals", help="the course id (default nn-fundamentals)")
    p.add_argument("--config", type=Path, default=None,
                   help="the course's nbgrader_config.py to take the grading settings from "
                        "(default: the one beside the nngrader package)")
    p.add_argument("--workdir", type=Path, default=None,
                   help="the private course root (an empty or new folder, kept afterwards); default: a temporary one")
    p.add_argument("--timeout", type=float, default=900.0, help="seconds each nbgrader step may take (default 900)")
    a = p.parse_args(argv)
    try:
        result = grade_detached(a.assignment, a.student, source=a.source, submission=a.submission, out_dir=a.out,
                                course_id=a.course_id, config=a.config, workdir=a.workdir, timeout=a.timeout)
    except GradingFailed as e:
        print(f"grade_detached: {a.student}'s {a.assignment} was NOT graded: {e}", file=sys.stderr)
        return 1
    print(f"Graded {result['student']}'s {result['assignment']}: {result['score']:g} / {result['max_score']:g} "
          f"(written to {a.out / RESULT})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
