"""Grading in two steps, as the Kubernetes Jobs do: ``nngrader.grade_detached`` then ``nngrader.record``.

End to end (slow): two copies of the course, each with the same two submissions of
``01_perceptron`` (the solution, with a submission time, and the untouched release). One is graded
directly with ``python -m nngrader.grade_all``; in the other each student goes through the two
Jobs' own commands, read from deploy/kubernetes/grade-run-job.yaml and grade-record-job.yaml, run
as the pods would run them (their volumes mapped onto folders here). The gradebooks must agree
cell by cell; ``nbgrader export``, ``generate_feedback`` and the feedback files must see the
students as if ``nbgrader autograde`` had run. The run step's private course root never holds a
gradebook URL, the exchange or the secret, even when the course's config has them.

The record step refuses, and writes nothing for, results that do not fit the gradebook.
"""
from __future__ import annotations

import csv
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
import yaml

import grading_harness as h
from nngrader.course import gradebook

ROOT = h.ROOT
K8S = ROOT / "deploy" / "kubernetes"
A, NB = "01_perceptron", "perceptron"
SOL, REL = "sol", "rel"
SECRET = "k8s-test-secret-1234"  # the Secret nn-fundamentals-grading
TIMESTAMP = "2026-03-01 09:30:00.000000 UTC"
FAKE_DB = "postgresql://grader:hunter2@gradebook-postgresql:5432/gradebook"


# --- the Jobs' commands, run here ---------------------------------------------------------------
def job_container(name: str, student: str) -> tuple[dict, dict]:
    text = (K8S / name).read_text().replace("__ASSIGNMENT__", A).replace("__STUDENT__", student)
    pod = yaml.safe_load(text)["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    return container, {v["name"]: v for v in pod["volumes"]}


def run_job(name: str, student: str, volumes: dict[str, Path], *, extra=(), wait=True):
    """The container's command and environment, with each mount path replaced by its folder here
    (``volumes``: pod volume name -> local folder; a mount's subPath is a folder below it)."""
    container, _ = job_container(name, student)
    mounts = sorted(((m["mountPath"], volumes[m["name"]] / m.get("subPath", "")) for m in container["volumeMounts"]),
                    key=lambda m: -len(m[0]))

    def local(value: str) -> str:
        for path, folder in mounts:
            if value == path or value.startswith(path + "/"):
                return str(folder) + value[len(path):]
        return value

    secrets = {("nn-fundamentals-grading", "secret"): SECRET}
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JUPYTER", "NNGRADER_"))}
    for item in container.get("env", []):
        if "value" in item:
            env[item["name"]] = local(item["value"])
        else:
            ref = item["valueFrom"]["secretKeyRef"]
            if (ref["name"], ref["key"]) in secrets:
                env[item["name"]] = secrets[ref["name"], ref["key"]]
            else:
                assert ref.get("optional"), ref  # a required Secret this test does not have
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    command = container["command"]
    assert command[0] == "python"
    argv = [sys.executable, *(local(a) for a in command[1:]), *extra]
    cwd = local(container["workingDir"])
    Path(cwd).mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen(argv, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return finish(proc) if wait else proc


def finish(proc) -> tuple[str, str, int]:
    out, err = proc.communicate(timeout=900)
    return out, err, proc.returncode


# --- comparing gradebooks ---------------------------------------------------------------------------
def gradebook_state(course: Path) -> dict:
    """Everything nbgrader autograde writes for a submission: time, every grade, comment and penalty."""
    state = {}
    with gradebook(course) as gb:
        for sub in gb.find_assignment(A).submissions:
            st = sub.student.id
            state[st, "timestamp"] = sub.timestamp
            for nb in sub.notebooks:
                state[st, nb.name, "late_submission_penalty"] = nb.late_submission_penalty
                for g in nb.grades:
                    state[st, nb.name, g.name] = (g.auto_score, g.manual_score, g.needs_manual_grade, g.max_score)
                for c in nb.comments:
                    state[st, nb.name, "comment", c.name] = (c.auto_comment, c.manual_comment)
    return state


def auto_total(state: dict, student: str) -> float:
    return sum(v[0] or 0 for k, v in state.items() if k[0] == student and len(k) == 3 and isinstance(v, tuple)
               and len(v) == 4)


def tree_digest(folder: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(folder.rglob("*")):
        digest.update(str(path.relative_to(folder)).encode())
        if path.is_file():
            digest.update(path.read_bytes())
    return digest.hexdigest()


def submissions(course: Path):
    spy = h.submission(A, NB)  # the solution, and a cell that looks for the secret
    spy.cells.append(nbformat.v4.new_code_cell("import os\nprint('secret:', os.environ.get('NNGRADER_SECRET'))"))
    h.write_submission(course, SOL, A, NB, spy)
    (course / "submitted" / SOL / A / "timestamp.txt").write_text(TIMESTAMP)
    h.write_submission(course, REL, A, NB, h.release(A, NB))


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("detached")
    # the course graded directly, in the background
    direct = h.new_course(tmp, assignments=[A], name="direct")
    h.nbgrader(direct, "generate_assignment", A, "--force")
    submissions(direct)
    grade_all = subprocess.Popen([sys.executable, "-m", "nngrader.grade_all", A], cwd=direct,
                                 env={**os.environ, "NNGRADER_SECRET": SECRET}, stdout=subprocess.PIPE,
                                 stderr=subprocess.STDOUT, text=True)
    # the course graded by the two Jobs
    course = h.new_course(tmp, assignments=[A], name="k8s")
    h.nbgrader(course, "generate_assignment", A, "--force")
    submissions(course)
    inputs = {st: tree_digest(course / "submitted" / st / A) for st in (SOL, REL)}
    source = tree_digest(course / "solutions" / A)
    # sol's run reads its grading settings from a course config that also names a PostgreSQL
    # gradebook (with its password) and an exchange: none of it may reach the private course root
    hostile = tmp / "config-with-db"
    hostile.mkdir()
    (hostile / "nbgrader_config.py").write_text(
        (ROOT / "nbgrader_config.py").read_text()
        + f"\nc.CourseDirectory.db_url = {FAKE_DB!r}\nc.Exchange.root = '/srv/nbgrader/exchange'\n")
    results = tmp / "results"
    volumes = {st: {"course": course, "results": results, "scratch": tmp / f"scratch-{st}", "tmp": tmp / f"tmp-{st}"}
               for st in (SOL, REL)}
    for st in (SOL, REL):
        (results / A / st).mkdir(parents=True)
        (results / A / st / "result.json").write_text('{"stale": true}')  # a previous run's, to be replaced
    runs = {SOL: run_job("grade-run-job.yaml", SOL, volumes[SOL], wait=False,
                         extra=("--config", str(hostile / "nbgrader_config.py"))),
            REL: run_job("grade-run-job.yaml", REL, volumes[REL], wait=False)}
    runs = {st: finish(p) for st, p in runs.items()}
    for st, (out, err, code) in runs.items():
        assert code == 0, f"run {st}: {out[-3000:]}\n{err[-3000:]}"
    records = {st: run_job("grade-record-job.yaml", st, volumes[st]) for st in (SOL, REL)}
    for st, (out, err, code) in records.items():
        assert code == 0, f"record {st}: {out[-3000:]}\n{err[-3000:]}"
    direct_log, _ = grade_all.communicate(timeout=900)
    assert grade_all.returncode == 0, direct_log[-3000:]
    return dict(tmp=tmp, direct=direct, course=course, results=results, volumes=volumes, runs=runs,
                records=records, inputs=inputs, source=source)


# --- end to end ---------------------------------------------------------------------------------
@pytest.mark.slow
def test_two_steps_give_the_gradebook_a_direct_autograde_gives(graded):
    direct, course = gradebook_state(graded["direct"]), gradebook_state(graded["course"])
    assert direct == course
    assert auto_total(course, SOL) == 11.0 and auto_total(course, REL) == 0.0  # 11 autograded points
    assert course[SOL, "timestamp"].isoformat() == "2026-03-01T09:30:00"
    assert course[SOL, NB, "xor_why"][2] is True  # the written answer waits for a grader
    result = json.loads((graded["results"] / A / SOL / "result.json").read_text())
    assert (result["assignment"], result["student"], result["course_id"]) == (A, SOL, h.COURSE_ID)
    assert result["score"] == 11.0 and result["max_score"] == 13.0
    assert result["timestamp"] == "2026-03-01T09:30:00"
    assert result["notebooks"][NB]["grades"]["perceptron_train"] == {
        "auto_score": 3.0, "max_score": 3.0, "needs_manual_grade": False, "cell_type": "code"}
    assert "Recorded sol's 01_perceptron: 11 / 13" in graded["records"][SOL][0]


@pytest.mark.slow
def test_the_course_sees_the_students_as_if_autograde_had_run(graded):
    course = graded["course"]
    for st in (SOL, REL):
        assert (course / "autograded" / st / A / f"{NB}.ipynb").is_file()
        assert (course / "autograded" / st / A / "timestamp.txt").is_file() == (st == SOL)
        assert (course / "feedback" / st / A / f"{NB}.html").is_file()
    assert "mp_neuron: 2 / 2 points" in h.feedback_text(course, SOL, A, NB)
    assert "mp_neuron: 0 / 2 points" in h.feedback_text(course, REL, A, NB)
    h.nbgrader(course, "export", "--to", "export.csv")
    with (course / "export.csv").open(newline="") as f:
        rows = {r["student_id"]: r for r in csv.DictReader(f)}
    assert float(rows[SOL]["score"]) == 11.0 and float(rows[REL]["score"]) == 0.0
    assert rows[SOL]["timestamp"].startswith("2026-03-01 09:30:00")
    # student code never saw the secret, although the run pod's environment has it
    nb = nbformat.read(course / "autograded" / SOL / A / f"{NB}.ipynb", as_version=4)
    assert "".join(o.get("text", "") for o in nb.cells[-1].outputs) == "secret: None\n"
    # the run step changed nothing of its read-only inputs
    assert {st: tree_digest(course / "submitted" / st / A) for st in (SOL, REL)} == graded["inputs"]
    assert tree_digest(course / "solutions" / A) == graded["source"]


@pytest.mark.slow
def test_the_run_steps_course_root_never_had_a_gradebook_url(graded):
    from traitlets.config.loader import PyFileConfigLoader

    scratch = graded["volumes"][SOL]["scratch"] / "course"  # --workdir: kept for this check
    text = (scratch / "nbgrader_config.py").read_text()
    for leak in ("db_url", "postgresql", "hunter2", "Exchange", SECRET, "allow_unsafe_grading"):
        assert leak not in text, leak
    cfg = PyFileConfigLoader("nbgrader_config.py", path=str(scratch)).load_config()
    assert "db_url" not in cfg.CourseDirectory and "Exchange" not in cfg
    assert cfg.CourseDirectory.course_id == h.COURSE_ID
    # the grading settings are the course's
    assert cfg.Autograde.autograde_preprocessors[:2] == ["nngrader.preprocessors.ResilientExecute",
                                                         "nngrader.preprocessors.TrustedVerdicts"]
    assert cfg.OverwriteCells.add_missing_cells is True
    # it graded with its own SQLite gradebook, which holds this one student only
    with gradebook(scratch, db_url=f"sqlite:///{scratch / 'gradebook.db'}") as gb:
        assert [s.id for s in gb.students] == [SOL]
    assert sorted(p.name for p in (scratch / "submitted").iterdir()) == [SOL]
    # what the run step wrote is all the record step reads
    out = graded["results"] / A / SOL
    assert sorted(p.name for p in out.iterdir()) == ["autograded", "feedback", "result.json"]


@pytest.mark.slow
def test_record_keeps_manual_grades_and_feedback_can_be_regenerated(graded):
    course = graded["course"]
    with gradebook(course) as gb:
        g = gb.find_grade("xor_why", NB, A, SOL)
        g.manual_score = 2.0
        g.needs_manual_grade = False
        gb.db.commit()
    out, err, code = run_job("grade-record-job.yaml", SOL, graded["volumes"][SOL])  # recorded again
    assert code == 0, out + err
    state = gradebook_state(course)
    assert state[SOL, NB, "xor_why"][:2] == (None, 2.0) and auto_total(state, SOL) == 11.0
    h.nbgrader(course, "generate_feedback", A, "--student", SOL, "--force")
    assert "Score: 13.0 / 13.0" in h.feedback_text(course, SOL, A, NB)  # 11 autograded + 2 by hand


# --- the record step refuses what does not fit --------------------------------------------------
def _tampered(graded, tmp_path, change) -> Path:
    """A copy of sol's run output, changed by ``change(result, folder)`` (result.json is rewritten
    unless it returns False)."""
    src = tmp_path / "out"
    shutil.copytree(graded["results"] / A / SOL, src)
    result = json.loads((src / "result.json").read_text())
    if change(result, src) is not False:
        (src / "result.json").write_text(json.dumps(result))
    return src


def _set_score(nb_path: Path, grade_id: str, score: str):
    nb = nbformat.read(nb_path, as_version=4)
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") == grade_id:
            for o in cell.outputs:
                if o.output_type == "execute_result":
                    o.data["text/plain"] = score
    nb_path.chmod(0o644)
    nbformat.write(nb, nb_path)


def _grades(result):
    return result["notebooks"][NB]["grades"]


TAMPERING = {
    "another student's result": (lambda r, src: r.update(student="mallory"), "is for student 'mallory'"),
    "another course's result": (lambda r, src: r.update(course_id="other-course"), "is for course_id"),
    "an unknown notebook": (lambda r, src: r["notebooks"].update(extra=r["notebooks"][NB]),
                            "notebook(s) the gradebook's 01_perceptron does not: extra"),
    "an unknown grade cell": (lambda r, src: _grades(r).update(bonus=dict(_grades(r)["perceptron_train"])),
                              "grade cell(s) the gradebook does not: bonus"),
    "a missing grade cell": (lambda r, src: _grades(r).pop("perceptron_train"), "lacks grade cell(s)"),
    "a different maximum": (lambda r, src: _grades(r)["perceptron_train"].update(max_score=30.0, auto_score=30.0),
                            "is out of 30, the gradebook says 3"),
    "more than the maximum": (lambda r, src: _grades(r)["perceptron_train"].update(auto_score=4.0),
                              "scores 4, outside [0, 3]"),
    "a score the notebook does not show": (lambda r, src: _grades(r)["perceptron_train"].update(auto_score=1.0),
                                           "disagree on perceptron_train"),
    "a notebook edited to score more": (
        lambda r, src: (_set_score(src / "autograded" / f"{NB}.ipynb", "perceptron_train", "30.0"),
                        _grades(r)["perceptron_train"].update(auto_score=30.0)), "outside [0, 3]"),
    "a link in the feedback": (lambda r, src: (src / "feedback" / "solution.html").symlink_to(
        graded_course_solution()), "is not a plain file or folder"),
    "no result at all": (lambda r, src: (src / "result.json").unlink() or False, "no result.json"),
}


def graded_course_solution() -> Path:
    return ROOT / "solutions" / A / f"{NB}.ipynb"


@pytest.mark.slow
@pytest.mark.parametrize("case", list(TAMPERING))
def test_record_refuses_results_that_do_not_fit_and_writes_nothing(graded, tmp_path, case):
    from nngrader.record import RecordError, record

    change, message = TAMPERING[case]
    src = _tampered(graded, tmp_path, change)
    course = graded["course"]
    before = (gradebook_state(course), tree_digest(course / "autograded"), tree_digest(course / "feedback"))
    with pytest.raises(RecordError, match=re.escape(message)):
        record(course, A, SOL, src, out=lambda *a: None)
    after = (gradebook_state(course), tree_digest(course / "autograded"), tree_digest(course / "feedback"))
    assert after == before
    assert not [p for p in (course / "autograded" / SOL).iterdir() if p.name != A]  # no staging left behind


@pytest.mark.slow
def test_record_needs_the_assignment_in_the_gradebook(graded, tmp_path):
    from nngrader.record import RecordError, record

    empty = h.new_course(tmp_path, assignments=[A], name="empty")
    with pytest.raises(RecordError, match="run `nbgrader generate_assignment 01_perceptron`"):
        record(empty, A, SOL, graded["results"] / A / SOL, out=lambda *a: None)
    assert not (empty / "autograded").exists()


# --- the run step fails closed ----------------------------------------------------------------------
@pytest.mark.slow
def test_a_submission_that_cannot_be_graded_leaves_no_result(tmp_path):
    course = h.new_course(tmp_path, assignments=[A])
    h.write_submission(course, "carol", A, NB, raw='{"cells": [ this is not json')
    out = tmp_path / "out"
    out.mkdir()
    (out / "result.json").write_text('{"stale": true}')
    proc = subprocess.run([sys.executable, "-m", "nngrader.grade_detached", A, "--student", "carol",
                           "--source", str(course / "solutions" / A), "--submission",
                           str(course / "submitted" / "carol" / A), "--out", str(out)],
                          capture_output=True, text=True, timeout=600, env={**os.environ, "NNGRADER_SECRET": SECRET})
    assert proc.returncode == 1, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "carol's 01_perceptron was NOT graded: nbgrader autograde failed" in proc.stderr
    assert not (out / "result.json").exists()


@pytest.mark.slow
def test_without_the_jail_nothing_is_graded(tmp_path):
    """Where the grading jail cannot be made (here: the course's bwrap is missing), the run stops
    with the jail's message and writes no result; unsafe grading is never taken from the course."""
    course = h.new_course(tmp_path, assignments=[A])
    h.write_submission(course, "dave", A, NB, h.submission(A, NB))
    (course / "nbgrader_config.py").write_text((ROOT / "nbgrader_config.py").read_text() + (
        "\nc.GradingJail.bwrap = '/nonexistent/bwrap'\nc.GradingJail.allow_unsafe_grading = True\n"))
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, "-m", "nngrader.grade_detached", A, "--student", "dave",
                           "--source", str(course / "solutions" / A), "--submission",
                           str(course / "submitted" / "dave" / A), "--out", str(out),
                           "--config", str(course / "nbgrader_config.py")],
                          capture_output=True, text=True, timeout=600, env={**os.environ, "NNGRADER_SECRET": SECRET})
    assert proc.returncode == 1, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "dave's 01_perceptron was NOT graded" in proc.stderr and "jail" in proc.stderr.lower()
    assert "/nonexistent/bwrap" in proc.stderr
    assert not (out / "result.json").exists()


def test_bad_arguments_fail_before_grading(tmp_path):
    def run(*args):
        return subprocess.run([sys.executable, "-m", "nngrader.grade_detached", *args], capture_output=True,
                              text=True, timeout=120)

    ok = ["--source", str(ROOT / "solutions" / A), "--submission", str(ROOT / "assignments" / A),
          "--out", str(tmp_path / "out")]
    proc = run(A, "--student", "../bob", *ok)
    assert proc.returncode == 1 and "invalid student id '../bob'" in proc.stderr
    proc = run(A, "--student", "bob", *ok[:2], "--submission", str(tmp_path / "missing"), *ok[4:])
    assert proc.returncode == 1 and "is not a folder" in proc.stderr
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "file").write_text("x")
    proc = run(A, "--student", "bob", *ok, "--workdir", str(tmp_path / "busy"))
    assert proc.returncode == 1 and "is not empty" in proc.stderr


# --- the settings a detached run takes from the course ------------------------------------------------
def test_only_the_grading_settings_are_copied(tmp_path, monkeypatch):
    from nngrader.grade_detached import GRADING_SECTIONS, grading_settings, scratch_config

    cfg = tmp_path / "nbgrader_config.py"
    cfg.write_text((ROOT / "nbgrader_config.py").read_text() + f"""
c.CourseDirectory.db_url = {FAKE_DB!r}
c.Exchange.root = "/srv/exchange"
c.GradingJail.allow_unsafe_grading = True
c.NbGraderAPI.timezone = "UTC"
""")
    monkeypatch.setenv("NNGRADER_SECRET", SECRET)
    settings = grading_settings(cfg)
    assert os.environ["NNGRADER_SECRET"] == SECRET  # loading the course's config took it; it is back
    assert set(settings) <= set(GRADING_SECTIONS) and {"Autograde", "TrustedVerdicts"} <= set(settings)
    assert "secret" not in settings["TrustedVerdicts"]
    assert "allow_unsafe_grading" not in settings.get("GradingJail", {})
    text = scratch_config("nn-fundamentals", settings)
    for leak in ("db_url", "postgresql", "Exchange", SECRET, "NbGraderAPI", "allow_unsafe_grading"):
        assert leak not in text, leak
    # the private config gives the same settings back, and takes the secret out of the environment
    (tmp_path / "scratch").mkdir()
    (tmp_path / "scratch" / "nbgrader_config.py").write_text(text)
    from traitlets.config.loader import PyFileConfigLoader

    loaded = PyFileConfigLoader("nbgrader_config.py", path=str(tmp_path / "scratch")).load_config()
    assert "NNGRADER_SECRET" not in os.environ and loaded.TrustedVerdicts.secret == SECRET
    for section, values in settings.items():
        for key, value in values.items():
            assert loaded[section][key] == value


def test_a_setting_that_is_not_a_plain_value_is_refused(tmp_path):
    from nngrader.grade_detached import GradingFailed, grading_settings

    cfg = tmp_path / "nbgrader_config.py"
    cfg.write_text("c = get_config()\nimport re\nc.IgnorePattern.pattern = re.compile('x')\n")
    with pytest.raises(GradingFailed, match="c.IgnorePattern.pattern is not a plain Python value"):
        grading_settings(cfg)
