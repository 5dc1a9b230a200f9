"""Record a detached autograde run in the course: the trusted second step of a grading Job.

:mod:`nngrader.grade_detached` grades a submission where the course is out of reach and writes
``autograded/``, ``feedback/`` and ``result.json`` to a folder. This command, run in the course
root (the folder with nbgrader_config.py), writes that result into the course::

    python -m nngrader.record 01_perceptron --student alice --from results/01_perceptron/alice

- **Checks first, writes nothing on error.** ``result.json`` must be this assignment's and
  student's, for this course; every notebook and graded cell in it must be in the gradebook's
  assignment, with the same maximum, and the gradebook's must all be there; each submitted
  notebook's autograded copy must hold the same graded cells, scoring what ``result.json`` says,
  within ``[0, max]``, with cell metadata nbgrader accepts. The folder may hold only plain files and folders (no links).
- **The gradebook** (``CourseDirectory.db_url`` of nbgrader_config.py, or ``$NNGRADER_DB_URL``
  when set, else ``gradebook.db``) gets what ``nbgrader autograde`` would have written, by
  nbgrader's own code: the student and the submission with its time
  (``Gradebook.update_or_create_submission``), then, per autograded notebook, nbgrader's
  ``SaveAutoGrades`` and ``AssignLatePenalties`` preprocessors with the
  resources nbgrader's converter gives them; a notebook the student did not submit scores 0, as
  in ``nbgrader autograde``. Manual grades already given are kept (and flagged for review, as
  nbgrader does). A locked SQLite gradebook is retried.
- **The files**: the autograded notebooks go to ``autograded/<student>/<assignment>/``, the
  feedback to ``feedback/<student>/<assignment>/``, each replacing the previous folder.

The formgrader, ``nbgrader export``, ``generate_feedback`` and ``release_feedback`` then see the
student as if ``nbgrader autograde`` had run in the course. Exit status 0, or 1 with a message.
The scores are the run step's: this step checks them against the gradebook's assignment (unknown
cells, impossible scores) but cannot tell whether the run step itself was subverted; that is the
grading jail's job there.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import stat
import sys
import tempfile
import time
import warnings
from pathlib import Path

from .course import without_iri_parser

__all__ = ["main", "record", "RecordError", "course_settings"]

RESULT = "result.json"
LOCKED = "database is locked"


class RecordError(Exception):
    """The result cannot be recorded; the message says why. Nothing was written."""


def course_settings(root: Path) -> tuple[str, str]:
    """``(course_id, db_url)`` of the course: nbgrader_config.py as grade_all reads it;
    ``$NNGRADER_DB_URL`` (a Kubernetes Secret) wins over its ``db_url``."""
    from . import course

    course_id, db_url = course.course_settings(root)
    return course_id, os.environ.get("NNGRADER_DB_URL") or db_url


# --- reading and checking what the run step wrote ------------------------------------------
def _plain_tree(path: Path, what: str) -> None:
    """Refuse links and special files anywhere under ``path`` (a folder)."""
    if path.is_symlink() or not path.is_dir():
        raise RecordError(f"{what} {path} is not a folder")
    for base, dirs, files in os.walk(path):
        for name in dirs + files:
            mode = os.lstat(os.path.join(base, name)).st_mode
            if not (stat.S_ISDIR(mode) or stat.S_ISREG(mode)):
                raise RecordError(f"{os.path.join(base, name)} is not a plain file or folder")


def _number(x, what):
    if x is None:
        return None
    if isinstance(x, bool) or not isinstance(x, (int, float)) or not math.isfinite(x):
        raise RecordError(f"result.json: {what} is not a number: {x!r}")
    return float(x)


def _load_result(src: Path, assignment: str, student: str, course_id: str) -> dict:
    path = src / RESULT
    if path.is_symlink() or not path.is_file():
        raise RecordError(f"no {RESULT} in {src}: the run step did not finish (see its log)")
    try:
        result = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise RecordError(f"cannot read {path}: {e}") from None
    if not isinstance(result, dict) or not isinstance(result.get("notebooks"), dict):
        raise RecordError(f"{path} is not a grading result")
    for key, want in (("assignment", assignment), ("student", student), ("course_id", course_id)):
        if result.get(key) != want:
            raise RecordError(f"{path} is for {key} {result.get(key)!r}, not {want!r}")
    return result


def _check(result: dict, gb, src: Path, assignment: str) -> dict:
    """Check ``result`` and the autograded notebooks against the gradebook's assignment;
    ``{notebook: NotebookNode or None (not submitted)}``."""
    import nbformat
    from nbgrader import utils
    from nbgrader.preprocessors import CheckCellMetadata

    from .course import find_assignment, release_hint

    a = find_assignment(gb, assignment)
    if a is None:
        raise RecordError(f"the course's gradebook has no assignment {assignment!r}: {release_hint(assignment)}")
    book = {nb.name: nb for nb in a.notebooks}
    unknown = sorted(set(result["notebooks"]) - set(book))
    if unknown:
        raise RecordError(f"result.json has notebook(s) the gradebook's {assignment} does not: {', '.join(unknown)}")
    missing = sorted(set(book) - set(result["notebooks"]))
    if missing:
        raise RecordError(f"result.json lacks notebook(s) of the gradebook's {assignment}: {', '.join(missing)} "
                          "(was the run step given another version of the assignment?)")
    notebooks = {}
    for name, entry in result["notebooks"].items():
        cells = {c.name: c for c in [*book[name].grade_cells, *book[name].task_cells]}
        grades = entry.get("grades")
        if not isinstance(grades, dict):
            raise RecordError(f"result.json: notebook {name} has no grades")
        unknown = sorted(set(grades) - set(cells))
        if unknown:
            raise RecordError(f"result.json: notebook {name} has grade cell(s) the gradebook does not: "
                              f"{', '.join(unknown)}")
        missing = sorted(set(cells) - set(grades))
        if missing:
            raise RecordError(f"result.json: notebook {name} lacks grade cell(s) of the gradebook: {', '.join(missing)}")
        for gid, g in grades.items():
            top = _number(g.get("max_score"), f"{name}:{gid} max_score")
            if top != float(cells[gid].max_score):
                raise RecordError(f"result.json: {name}:{gid} is out of {top:g}, the gradebook says "
                                  f"{cells[gid].max_score:g} (another version of the assignment?)")
            score = _number(g.get("auto_score"), f"{name}:{gid} auto_score")
            if score is not None and not 0 <= score <= top:
                raise RecordError(f"result.json: {name}:{gid} scores {score:g}, outside [0, {top:g}]")
        if not entry.get("submitted"):
            notebooks[name] = None
            continue
        path = src / "autograded" / f"{name}.ipynb"
        if path.is_symlink() or not path.is_file():
            raise RecordError(f"result.json says {name} was submitted, but autograded/{name}.ipynb is missing")
        try:
            nb = nbformat.read(str(path), as_version=4)
            CheckCellMetadata().preprocess(nb, {})  # nbgrader's own check of the cells' metadata
        except Exception as e:
            raise RecordError(f"cannot read autograded/{name}.ipynb: {e}") from None
        seen: dict[str, float | None] = {}
        for cell in nb.cells:
            if not utils.is_grade(cell):
                continue
            gid = cell.metadata.nbgrader.get("grade_id")
            if gid not in cells:
                raise RecordError(f"autograded/{name}.ipynb has a grade cell the gradebook does not: {gid!r}")
            if gid in seen:
                raise RecordError(f"autograded/{name}.ipynb has grade cell {gid!r} twice")
            score, top = utils.determine_grade(cell)
            if float(top) != float(cells[gid].max_score):
                raise RecordError(f"autograded/{name}.ipynb: {gid} is out of {top:g}, the gradebook says "
                                  f"{cells[gid].max_score:g}")
            want = grades[gid].get("auto_score")
            if (score is None) != (want is None) or (score is not None and abs(float(score) - want) > 1e-9):
                raise RecordError(f"autograded/{name}.ipynb and result.json disagree on {gid}: {score} vs {want}")
            seen[gid] = score
        absent = sorted(c.name for c in book[name].grade_cells if c.name not in seen)
        if absent:
            raise RecordError(f"autograded/{name}.ipynb lacks grade cell(s): {', '.join(absent)}")
        notebooks[name] = nb
    return notebooks


# --- writing ----------------------------------------------------------------------------------
def _write_gradebook(db_url: str, course_id: str, assignment: str, student: str, result: dict,
                     src: Path) -> None:
    """What ``nbgrader autograde`` writes to the gradebook, with nbgrader's own code."""
    from nbgrader.api import Gradebook
    from nbgrader.preprocessors import AssignLatePenalties, SaveAutoGrades

    with Gradebook(db_url, course_id) as gb:
        notebooks = _check(result, gb, src, assignment)
        gb.update_or_create_student(student)
        if result.get("timestamp"):
            gb.update_or_create_submission(assignment, student, timestamp=result["timestamp"])
        else:
            gb.update_or_create_submission(assignment, student)
        for name, nb in notebooks.items():
            if nb is None:  # not submitted: zero, as nbgrader's autograde does
                for grade in gb.find_submission_notebook(name, assignment, student).grades:
                    grade.auto_score = 0
                    grade.needs_manual_grade = False
                gb.db.commit()
    for name, nb in notebooks.items():
        if nb is None:
            continue
        resources = {"unique_key": name, "output_files_dir": f"{name}_files",
                     "nbgrader": {"student": student, "assignment": assignment, "notebook": name, "db_url": db_url}}
        for preprocessor in (SaveAutoGrades, AssignLatePenalties):
            nb, resources = preprocessor().preprocess(nb, resources)


def _stage(src: Path, dest: Path) -> Path:
    """A copy of ``src`` beside ``dest`` (same file system), to be swapped in by :func:`_swap`."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    staged = Path(tempfile.mkdtemp(prefix=f".{dest.name}.record-", dir=dest.parent))
    shutil.copytree(src, staged, dirs_exist_ok=True)
    return staged


def _swap(staged: Path, dest: Path) -> None:
    old = None
    if dest.exists():
        old = dest.with_name(f".{dest.name}.old-{os.getpid()}")
        if old.exists():
            shutil.rmtree(old)
        os.replace(dest, old)
    os.replace(staged, dest)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def record(root: Path, assignment: str, student: str, src: Path, *, retries: int = 4, out=print) -> dict:
    """Check, then record ``src`` (a grade_detached output folder) in the course at ``root``."""
    # as ``python -m nngrader`` does: a faster import, and nbgrader finds alembic without an activated environment
    without_iri_parser()
    bindir = os.path.dirname(sys.executable)
    if os.environ.get("PATH", "").split(os.pathsep)[0] != bindir:
        os.environ["PATH"] = bindir + os.pathsep + os.environ.get("PATH", "")
    from .grade_detached import check_name, GradingFailed

    root, src = Path(root).resolve(), Path(src)
    try:
        check_name("assignment", assignment)
        check_name("student", student)
    except GradingFailed as e:
        raise RecordError(str(e)) from None
    _plain_tree(src, "--from")
    for part in ("autograded", "feedback"):
        _plain_tree(src / part, f"the run step's {part}/")
    course_id, db_url = course_settings(root)
    if db_url.startswith("sqlite:///") and not Path(db_url[len("sqlite:///"):]).is_file():
        raise RecordError(f"the course has no gradebook ({db_url}): "
                          f"run `nbgrader generate_assignment {assignment}` in the course first")
    result = _load_result(src, assignment, student, course_id)
    staged = [(_stage(src / part, root / part / student / assignment), root / part / student / assignment)
              for part in ("autograded", "feedback")]
    try:
        for attempt in range(retries + 1):
            try:
                _write_gradebook(db_url, course_id, assignment, student, result, src)
                break
            except RecordError:
                raise
            except Exception as e:
                if LOCKED not in str(e) or attempt == retries:
                    raise RecordError(f"writing the gradebook failed: {type(e).__name__}: {e}") from None
                time.sleep(1.0 + 2.0 * attempt)
        for tmp, dest in staged:
            _swap(tmp, dest)
    finally:
        for tmp, _ in staged:
            shutil.rmtree(tmp, ignore_errors=True)
    out(f"Recorded {student}'s {assignment}: {result.get('score', 0):g} / {result.get('max_score', 0):g} "
        f"(autograded/{student}/{assignment}, feedback/{student}/{assignment}, gradebook)")
    return result


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m nngrader.record", description=__doc__.split("\n\n")[0])
    p.add_argument("assignment")
    p.add_argument("--student", required=True, help="the student id")
    p.add_argument("--from", dest="src", required=True, type=Path,
                   help="the folder grade_detached wrote (autograded/, feedback/, result.json)")
    p.add_argument("--root", default=".", type=Path, help="the course root (default: the current directory)")
    a = p.parse_args(argv)
    # nbgrader's add_submission makes SQLAlchemy warn "... not in session" (nbgrader autograde too): noise
    warnings.filterwarnings("ignore", message=".*not in session.*")
    try:
        record(a.root, a.assignment, a.student, a.src)
    except RecordError as e:
        print(f"record: {a.student}'s {a.assignment} was NOT recorded: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
