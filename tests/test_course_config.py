"""``nbgrader_config.py``: the course's nbgrader settings work however nbgrader is started."""
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

import grading_harness as h


@pytest.mark.slow
def test_the_environments_nbgrader_works_without_activating_it(tmp_path):
    """``.venv/bin/nbgrader`` with a PATH that lacks the environment: nbgrader runs ``alembic``
    from PATH to make a gradebook, and without the config's fix it left one without its
    ``alembic_version`` table (a later ``nbgrader db upgrade`` then failed)."""
    course = h.new_course(tmp_path, assignments=["01_perceptron"])
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "NNGRADER_SECRET")}
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "/usr/bin:/bin").split(os.pathsep)
                                  if Path(p).resolve() != Path(sys.executable).parent.resolve())
    nbgrader = str(Path(sys.executable).parent / "nbgrader")
    for args in (["generate_assignment", "01_perceptron", "--force"], ["db", "upgrade"]):
        proc = subprocess.run([nbgrader, *args], cwd=course, env=env, capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, (args, proc.stdout[-2000:], proc.stderr[-2000:])
    with sqlite3.connect(course / "gradebook.db") as db:
        assert db.execute("SELECT version_num FROM alembic_version").fetchone()
