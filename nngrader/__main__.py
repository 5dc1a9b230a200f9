"""``python -m nngrader ARGS`` is ``nbgrader ARGS``, started about 2 s faster.

- Importing nbgrader pulls in jsonschema's optional ``rfc3987_syntax`` IRI validator, which builds
  a parser at import time (about 2 s here) and is never used by nbgrader. Marking it missing makes
  jsonschema skip that one format check.
- nbgrader runs ``alembic`` from PATH when it creates a gradebook; the interpreter's own bin
  directory is put first on PATH so that this works without activating the virtual environment.

Everything else is nbgrader's own command line.
"""
import os
import sys

sys.modules.setdefault("rfc3987_syntax", None)
os.environ["PATH"] = os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", "")

from nbgrader.apps.nbgraderapp import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
