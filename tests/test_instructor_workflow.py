"""The README's instructor section works as written.

Every ```bash block of README.md's "## For instructors" section is run, in order, as if typed into
one terminal at the root of a fresh copy of the course: environment variables, the virtual
environment's activation and ``cd`` carry over from block to block, and any failing command fails
the test. Between the block that fetches an assignment (as the pretend student) and the next one,
the test plays the student and fills in the fetched notebook. At the end the submission must have
gone through the exchange (release, fetch, submit, collect) and come out graded: feedback HTML in
the course and in the student's folder, the grades CSV of ``nngrader.grade_all`` and nbgrader's
exported ``grades.csv``.
"""
import csv
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

import grading_harness as h

pytestmark = pytest.mark.slow

HEADING = "## For instructors"
TOTAL_AUTO = {"01_perceptron": 11.0}


def instructor_blocks(readme: Path) -> list[str]:
    """The ```bash blocks of the README's instructor section, in order."""
    text = readme.read_text()
    m = re.search(rf"^{re.escape(HEADING)}[ \t]*$", text, flags=re.M)
    assert m, f"{readme.name} has no '{HEADING}' section (the instructor workflow this test runs)"
    section = text[m.end():]
    nxt = re.search(r"^## ", section, flags=re.M)
    section = section[: nxt.start()] if nxt else section
    blocks = re.findall(r"^```bash[ \t]*\n(.*?)^```[ \t]*$", section, flags=re.M | re.S)
    assert blocks, f"no ```bash blocks in the '{HEADING}' section"
    return blocks


class Terminal:
    """One shell session, block by block: cwd and exported variables carry over."""

    def __init__(self, cwd: Path, env: dict, state: Path):
        self.cwd, self.env, self.state = cwd, env, state
        state.mkdir(parents=True, exist_ok=True)
        self.log = []

    def run(self, block: str):
        q = shlex.quote
        script = (f"set -eo pipefail\ncd {q(str(self.cwd))}\n{block}\n"
                  f"pwd > {q(str(self.state / 'cwd'))}\nenv -0 > {q(str(self.state / 'env'))}\n")
        proc = subprocess.run(["bash", "-c", script], env=self.env, capture_output=True, text=True, timeout=1800)
        self.log.append(f"$ {block}\n{proc.stdout[-3000:]}{proc.stderr[-3000:]}")
        assert proc.returncode == 0, f"README block failed (exit {proc.returncode}):\n{block}\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}"
        self.cwd = Path((self.state / "cwd").read_text().strip())
        self.env = dict(kv.split("=", 1) for kv in (self.state / "env").read_text().split("\0") if "=" in kv)


def _venv_link(course: Path):
    """``course/.venv`` -> the environment running the tests, so ``source .venv/bin/activate`` works."""
    prefix = Path(sys.prefix)
    if (prefix / "bin" / "activate").is_file():
        (course / ".venv").symlink_to(prefix, target_is_directory=True)
    else:  # not a virtual environment (e.g. a conda env): an activate that puts this Python first
        bin_ = course / ".venv" / "bin"
        bin_.mkdir(parents=True)
        (bin_ / "activate").write_text(f'export PATH={shlex.quote(str(Path(sys.executable).parent))}:"$PATH"\n')


def play_student(block: str, cwd: Path):
    """After ``fetch_assignment A``: fill in the fetched notebooks with the solutions."""
    for assignment in re.findall(r"fetch_assignment\s+(\S+)", block):
        notebooks = sorted((cwd / assignment).glob("*.ipynb"))
        assert notebooks, f"fetch_assignment {assignment} left no notebook in {cwd / assignment}"
        for path in notebooks:
            nbformat.write(h.submission(assignment, path.stem), path)


def run_workflow(readme: Path, tmp: Path):
    """Run the README's instructor blocks in a copy of the course; (course, home, terminal)."""
    blocks = instructor_blocks(readme)
    course = h.new_course(tmp)
    _venv_link(course)
    home = tmp / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items()
           if k not in ("NNGRADER_SECRET", "NNGRADER_EXCHANGE", "VIRTUAL_ENV", "PYTHONHOME")}
    env.update(HOME=str(home), JUPYTER_CONFIG_DIR=str(home / ".jupyter"))
    term = Terminal(course, env, tmp / "state")
    fetched = False
    for block in blocks:
        term.run(block)
        if "fetch_assignment" in block:
            play_student(block, term.cwd)
            fetched = True
    assert fetched, "the instructor section never fetches an assignment as a student"
    return course, home, term


def test_the_readme_instructor_workflow_runs_as_written(tmp_path):
    course, home, term = run_workflow(h.ROOT / "README.md", tmp_path)
    log = "\n".join(term.log)[-6000:]
    A, NB, student = "01_perceptron", "perceptron", "alice"
    assert (course / "nngrader_secret.txt").read_text().strip(), "no hidden-case secret was set up"
    assert (course / "exchange" / "nn-fundamentals" / "outbound" / A / f"{NB}.ipynb").is_file(), log
    # the submission came through the exchange
    assert (course / "submitted" / student / A / f"{NB}.ipynb").is_file(), log
    assert (course / "submitted" / student / A / "timestamp.txt").is_file(), log
    # graded: feedback HTML and both grade reports
    feedback = h.feedback_text(course, student, A, NB)
    assert "mp_neuron: 2 / 2 points" in feedback and "Graded by running your notebook's code" in feedback
    row = h.grades_csv(course, A)[student]
    assert row["status"] == "graded" and float(row["score"]) == TOTAL_AUTO[A], row
    report = course / "reports" / A / "index.html"
    assert report.is_file() and "Class report: 01_perceptron" in report.read_text(), log
    with (course / "grades.csv").open(newline="") as f:
        exported = [r for r in csv.DictReader(f) if r["student_id"] == student and r["assignment"] == A]
    assert len(exported) == 1 and float(exported[0]["raw_score"]) == TOTAL_AUTO[A], exported
    # and the student fetched the released feedback
    fetched = list((home / student / A / "feedback").glob(f"*/{NB}.html"))
    assert len(fetched) == 1 and "mp_neuron: 2 / 2 points" in fetched[0].read_text(), log
