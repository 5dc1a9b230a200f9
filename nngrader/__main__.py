"""``python -m nngrader ARGS`` is ``nbgrader ARGS``, started about 2 s faster.

- Importing nbgrader builds a parser nbgrader never uses (about 2 s here);
  :func:`nngrader.course.without_iri_parser` skips it.
- (nbgrader runs ``alembic`` from PATH when it creates a gradebook: the course's
  ``nbgrader_config.py`` puts the interpreter's bin folder first, for every nbgrader command.)

``python -m nngrader report ASSIGNMENT`` is ours: the class report (:mod:`nngrader.class_report`).
Everything else is nbgrader's own command line.
"""
import sys

from nngrader.course import without_iri_parser

without_iri_parser()

from nbgrader.apps.nbgraderapp import main  # noqa: E402

if __name__ == "__main__":
    if sys.argv[1:2] == ["report"]:
        from nngrader.class_report import main as report

        sys.exit(report(sys.argv[2:]))
    sys.exit(main())
