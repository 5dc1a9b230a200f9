"""The course as nbgrader sees it: its configuration and its gradebook, read in one place.

Everything in nngrader that needs nbgrader's view of a course (the class runner, the detached
grading Jobs, the class report, the tests) asks here:

- :func:`without_iri_parser` is the one workaround for nbgrader's import time: importing nbgrader
  pulls in jsonschema's optional ``rfc3987_syntax`` IRI validator, which builds a parser at
  import (about 2 s here) that nbgrader never uses. Marking it missing makes jsonschema skip that
  one format check. ``python -m nngrader`` does the same before nbgrader's own command line.
- :func:`course_config` reads ``nbgrader_config.py`` with traitlets' own loader, leaving the
  environment as it was (the file moves ``NNGRADER_SECRET`` out of it).
- :func:`course_settings` gives the course id and the gradebook URL; :func:`gradebook` opens it.
- :func:`require_released` stops early when the gradebook does not know an assignment.
"""
from __future__ import annotations

import os
import sys
from contextlib import contextmanager
from pathlib import Path

__all__ = ["without_iri_parser", "course_config", "course_settings", "gradebook", "require_released"]


def without_iri_parser() -> None:
    """Make importing nbgrader about 2 s faster (see the module docstring). Call before importing it."""
    sys.modules.setdefault("rfc3987_syntax", None)


def course_config(root: str | os.PathLike):
    """``nbgrader_config.py`` of the course at ``root`` as a traitlets Config (empty if unreadable)."""
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


def course_settings(root: str | os.PathLike) -> tuple[str, str]:
    """``(course_id, db_url)`` from nbgrader_config.py, with nbgrader's defaults: course
    'default_course' and the SQLite ``gradebook.db`` in the course root. A configured
    ``CourseDirectory.db_url`` (a PostgreSQL gradebook, for Kubernetes grading Jobs) is used as it is."""
    root = Path(root)
    course_id, db_url = "default_course", f"sqlite:///{root / 'gradebook.db'}"
    cfg = course_config(root)
    if "course_id" in cfg.CourseDirectory:
        course_id = str(cfg.CourseDirectory.course_id)
    if "db_url" in cfg.CourseDirectory and cfg.CourseDirectory.db_url:
        db_url = str(cfg.CourseDirectory.db_url)
    return course_id, db_url


@contextmanager
def gradebook(root: str | os.PathLike, db_url: str | None = None):
    """nbgrader's :class:`~nbgrader.api.Gradebook` of the course at ``root`` (or at ``db_url``)."""
    without_iri_parser()
    from nbgrader.api import Gradebook

    course_id, configured = course_settings(root)
    with Gradebook(db_url or configured, course_id) as gb:
        yield gb


def find_assignment(gb, assignment: str):
    """The gradebook's record of ``assignment``, or None when ``generate_assignment`` never made it."""
    from nbgrader.api import MissingEntry

    try:
        return gb.find_assignment(assignment)
    except MissingEntry:
        return None


def release_hint(assignment: str) -> str:
    """What to run when the gradebook does not know ``assignment``."""
    return (f"run `nbgrader generate_assignment {assignment}` in the course root first (it records the "
            "graded cells that autograde restores and scores)")


def require_released(root: str | os.PathLike, assignment: str) -> None:
    """Stop (SystemExit with what to run) when the gradebook does not know ``assignment``: every
    autograde would fail the same way (nbgrader restores test cells from what
    ``generate_assignment`` recorded)."""
    _, db_url = course_settings(root)
    if db_url.startswith("sqlite:///") and not Path(db_url[len("sqlite:///"):]).is_file():
        raise SystemExit(f"{assignment} cannot be graded yet: there is no gradebook; {release_hint(assignment)}")
    with gradebook(root) as gb:
        if find_assignment(gb, assignment) is None:
            raise SystemExit(f"{assignment} cannot be graded yet: the gradebook does not know it; "
                             f"{release_hint(assignment)}")
