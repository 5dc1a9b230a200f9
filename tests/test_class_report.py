"""The class report (``python -m nngrader report``) on a real autograded class of assignment 02.

One ``nbgrader autograde`` run grades a synthetic class whose mistakes are known: two correct
students, three who use the cross-entropy output error a3 - y with the squared loss, an untouched
release, a notebook that is not JSON (it fails to grade), a student who calls nnkit and switches
off the profiler, one whose function loops forever, and a correct one submitted a day late. The
report's counts, its CSV and the page (opened offline in chromium, screenshot saved) are checked.
"""
from __future__ import annotations

import csv
from pathlib import Path

import pytest

import grading_harness as h
from chromium import ARTIFACTS, offline_page
import grading_cases

CASES = grading_cases.load("02_three_layer")
A, NB, TAMPER, WRONG = CASES.A, CASES.NB, CASES.TAMPER, CASES.WRONG
release, submission = CASES.release, CASES.submission

pytestmark = pytest.mark.slow

CAUSE = "it matches the output error a3 - y, which belongs to the cross-entropy loss, not the squared loss"
SLIPS = ["slip_1", "slip_2", "slip_3"]
DUE = "2026-01-10 12:00:00 UTC"


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    from nngrader.class_report import write_report

    course = h.new_course(tmp_path_factory.mktemp("report"))
    h.nbgrader(course, "generate_assignment", A, "--force")
    h.nbgrader(course, "db", "assignment", "add", A, f"--duedate={DUE}")
    slip = WRONG["wrong_output_error"][0]
    notebooks = {"sol_a": submission(), "sol_b": submission(), "late": submission(), "blank": release(),
                 "nnkit_user": submission(TAMPER["tamper_nnkit"][0]), "looper": submission(TAMPER["tamper_loop"][0]),
                 **{s: submission(slip) for s in SLIPS}}
    for student, nb in notebooks.items():
        path = h.write_submission(course, student, A, NB, nb)
        stamp = "2026-01-11 12:30:00.000000 UTC" if student == "late" else "2026-01-09 08:00:00.000000 UTC"
        (path.parent / "timestamp.txt").write_text(stamp)
    h.write_submission(course, "broken", A, NB, raw="{ this is not a notebook")
    h.nbgrader(course, "autograde", A, check=False)  # "broken" fails; everyone else is graded
    page = write_report(course, A)
    return course, page


def test_report_counts_the_class(course):
    from nngrader.class_report import DID_NOT_FINISH, FORBIDDEN, RAISED, TAMPERED, collect

    root, _ = course
    r = collect(root, A)
    assert r.submitted == sorted(["sol_a", "sol_b", "late", "blank", "nnkit_user", "looper", "broken", *SLIPS])
    assert "broken" not in r.graded and len(r.graded) == 9
    found = {(d.grade_id, d.text): d.students for d in r.diagnoses}
    # the confirmed cause, grouped across the class: 3 of 9 graded students
    slip = [d for d in r.diagnoses if d.text.startswith(CAUSE)]
    assert len(slip) == 1 and slip[0].grade_id == "three_layer_backward_squared" and slip[0].confirmed
    assert slip[0].students == SLIPS and r.share(slip[0]) == pytest.approx(3 / 9)
    assert r.diagnoses[0] is slip[0]  # most common first: every other diagnosis concerns one student
    assert found["three_layer_backward_squared", RAISED] == ["blank"]  # NotImplementedError
    assert found["three_layer_backward_cross_entropy", DID_NOT_FINISH] == ["looper"]
    assert "nnkit_user" in found["three_layer_cross_entropy_loss", FORBIDDEN]
    assert found["three_layer_squared_loss", TAMPERED] == ["nnkit_user"]
    # problems and late submissions
    kinds = {(p.student, p.kind) for p in r.problems}
    assert ("broken", "failed to grade") in kinds
    assert ("looper", "did not finish") in kinds and ("nnkit_user", "tampered") in kinds
    assert [s.student for s in r.late] == ["late"] and r.late[0].seconds_late == pytest.approx(24.5 * 3600)
    # per-cell scores from the gradebook: five students full on backward_squared, four with 0
    cell = next(c for c in r.cells if c.grade_id == "three_layer_backward_squared")
    assert sorted(cell.scores) == [0.0] * 4 + [5.0] * 5 and cell.mean == pytest.approx(25 / 9)
    assert all(c.pending == 0 for c in r.cells if c.auto)  # the failed student's empty submission is left out
    manual = next(c for c in r.cells if c.grade_id == "three_layer_derivation")
    assert not manual.auto and manual.pending == 8 and manual.scores == [0.0]  # the blank answer scores 0 at once
    assert set(r.totals) == set(r.graded)


def test_mistakes_csv_and_page(course):
    _, page = course
    with (page.parent / "mistakes.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    slip = next(r for r in rows if r["diagnosis"].startswith(CAUSE))
    assert slip["students"] == "3" and slip["share_of_graded"] == "0.333" and slip["example_student"] == "slip_1"
    assert slip["all_students"].split() == SLIPS and slip["confirmed_cause"] == "yes"
    text = page.read_text()
    assert "Class report: 02_three_layer" in text and CAUSE in text and "3 (33%)" in text
    assert text.count("data:image/png;base64,") >= 7  # the total and one per graded cell
    assert "http://" not in text and "https://" not in text  # nothing to fetch: it opens offline


def test_cli_writes_the_report(course):
    root, _ = course
    proc = h.nbgrader(root, "report", A, "--out", "elsewhere")
    assert "Class report written to" in proc.stdout
    assert (Path(root) / "elsewhere" / "index.html").is_file()
    proc = h.nbgrader(root, "report", "99_missing", check=False)
    assert proc.returncode != 0 and "generate_assignment 99_missing" in proc.stderr


def test_report_opens_offline_in_chromium(course):
    _, page_path = course
    with offline_page(viewport={"width": 1200, "height": 900}) as (page, blocked):
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.goto(page_path.as_uri())
        page.wait_for_load_state("load")
        page.screenshot(path=str(ARTIFACTS / "class-report.png"), full_page=True)
        images = page.evaluate("() => [...document.images].map(i => i.complete && i.naturalWidth > 0)")
        assert images and all(images), images
        assert page.locator("h1").inner_text() == "Class report: 02_three_layer"
        assert page.get_by_text(CAUSE).count() == 1
    assert not blocked.remote and not blocked.errors, (blocked.remote, blocked.errors)
    assert (ARTIFACTS / "class-report.png").stat().st_size > 10_000
