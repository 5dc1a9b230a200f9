"""``python -m nngrader.grade_all``: a class graded in parallel; broken students never stop the others."""
import csv
import os
import subprocess
import sys

import nbformat
import pytest

from test_grading_pilot import A, NB, WRONG, nbgrader, new_course, submission

pytestmark = pytest.mark.slow
TOTAL_AUTO = 11.0


def grade_all(course, *args, env=None):
    return subprocess.run([sys.executable, "-m", "nngrader.grade_all", A, *args], cwd=course,
                          env={**os.environ, **(env or {})}, capture_output=True, text=True, timeout=900)


def put(course, student, nb=None, raw=None):
    d = course / "submitted" / student / A
    d.mkdir(parents=True, exist_ok=True)
    if raw is not None:
        (d / f"{NB}.ipynb").write_text(raw)
    else:
        nbformat.write(nb, d / f"{NB}.ipynb")


def rows(course):
    with (course / f"grades_{A}.csv").open(newline="") as f:
        return {r["student"]: r for r in csv.DictReader(f)}


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    course = new_course(tmp_path_factory.mktemp("grade_all"))
    nbgrader(course, "generate_assignment", A, "--force")
    # alice also tries to read the hidden-case secret from her kernel's environment
    spy = submission()
    spy.cells.append(nbformat.v4.new_code_cell("import os\nprint('secret:', os.environ.get('NNGRADER_SECRET'))"))
    put(course, "alice", spy)
    put(course, "bob", submission(WRONG["wrong_threshold"][0]))
    put(course, "erin", submission())
    # a notebook that is not JSON at all
    put(course, "carol", raw='{"cells": [ this is not json')
    # cell metadata from a newer nbgrader: SchemaTooNewError would stop a whole-class autograde run
    newer = submission()
    for cell in newer.cells:
        if "nbgrader" in cell.metadata:
            cell.metadata.nbgrader["schema_version"] = 99
    put(course, "dave", newer)
    proc = grade_all(course, "--workers", "2", env={"NNGRADER_SECRET": "class-secret-42"})
    return course, proc


def test_everyone_else_is_graded_when_some_submissions_break(course):
    course, proc = course
    assert proc.returncode == 1, proc.stdout + proc.stderr  # failures are reported in the exit status
    r = rows(course)
    assert set(r) == {"alice", "bob", "carol", "dave", "erin"}
    for good in ("alice", "erin"):
        assert r[good]["status"] == "graded" and float(r[good]["score"]) == TOTAL_AUTO
        assert r[good][f"{NB}:perceptron_train"] == "3.0"
        assert (course / "feedback" / good / A / f"{NB}.html").is_file()
    assert r["bob"]["status"] == "graded" and 0 < float(r["bob"][f"{NB}:perceptron_mp_neuron"]) < 2
    for bad in ("carol", "dave"):
        assert r[bad]["status"].startswith("FAILED") and r[bad]["score"] == "", r[bad]
        assert not (course / "feedback" / bad / A).exists()
        assert f"FAILED {bad}" in proc.stdout
    assert "2 worker(s)" in proc.stdout and "Autograded 3/5" in proc.stdout


def test_the_secret_never_reaches_student_code(course):
    course, _ = course
    nb = nbformat.read(course / "autograded" / "alice" / A / f"{NB}.ipynb", as_version=4)
    printed = "".join(o.get("text", "") for o in nb.cells[-1].outputs)
    assert printed == "secret: None\n"


def test_one_student_can_be_regraded_alone(course):
    course, _ = course
    alice_nb = course / "autograded" / "alice" / A / f"{NB}.ipynb"
    before = alice_nb.stat().st_mtime_ns
    put(course, "bob", submission())  # bob fixes his threshold and resubmits
    proc = grade_all(course, "--student", "bob")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Autograding 1 submission(s)" in proc.stdout
    r = rows(course)
    assert float(r["bob"]["score"]) == TOTAL_AUTO and r["bob"]["status"] == "graded"
    assert alice_nb.stat().st_mtime_ns == before  # nobody else was touched
    assert r["carol"]["status"].startswith("FAILED")  # earlier failures stay reported
    assert "mp_neuron: 2 / 2 points" in (course / "feedback" / "bob" / A / f"{NB}.html").read_text()


def test_a_failed_regrade_keeps_the_previous_grade(course):
    course, _ = course
    proc = grade_all(course, "--student", "erin", "--timeout", "1", "--retries", "0")
    assert proc.returncode == 1 and "timed out after 1 s" in proc.stdout
    r = rows(course)
    assert float(r["erin"]["score"]) == TOTAL_AUTO
    assert r["erin"]["status"] == "FAILED (timed out after 1 s); previous grade kept"
    assert (course / "autograded" / "erin" / A / f"{NB}.ipynb").is_file()
    assert (course / "feedback" / "erin" / A / f"{NB}.html").is_file()
    # and a later successful run clears the failure
    proc = grade_all(course, "--student", "erin", "--no-feedback")
    assert proc.returncode == 0 and rows(course)["erin"]["status"] == "graded"


def test_without_the_zygote_each_student_gets_a_fresh_nbgrader(course):
    from nngrader.grade_all import autograde_student

    course, _ = course
    run = autograde_student(course, A, "alice", timeout=600, zygote=None)
    assert run.ok and run.attempts == 1, run.log[-2000:]
