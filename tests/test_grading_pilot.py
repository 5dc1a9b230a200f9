"""End to end: assignment 01_perceptron through the real nbgrader CLI, in a copy of the course.

One ``nbgrader autograde`` run grades a class of synthetic students: the solution, the untouched
release, plausible wrong answers and tampering attempts. The gradebook and the generated feedback
HTML are then checked cell by cell.
"""
import html
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
A, NB = "01_perceptron", "perceptron"
FULL = {
    "perceptron_mp_neuron": 2.0,
    "perceptron_gate_weights": 2.0,
    "perceptron_update": 2.0,
    "perceptron_train": 3.0,
    "perceptron_xor_network": 2.0,
}
PARTIAL = "partial"  # 0 < score < max

pytestmark = pytest.mark.slow


def nbgrader(course, *args, check=True, timeout=900, script=False):
    """Run nbgrader's CLI in ``course``: ``python -m nngrader`` (fast start) or the ``nbgrader`` script."""
    env = dict(os.environ)
    env.pop("NNGRADER_SECRET", None)
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    cmd = [str(Path(sys.executable).parent / "nbgrader")] if script else [sys.executable, "-m", "nngrader"]
    proc = subprocess.run([*cmd, *args], cwd=course, env=env, capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"nbgrader {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr[-4000:]}")
    return proc


def new_course(tmp: Path, with_release=True) -> Path:
    course = tmp / "course"
    course.mkdir()
    shutil.copy(ROOT / "nbgrader_config.py", course)
    shutil.copytree(ROOT / "solutions", course / "solutions")
    if with_release:
        shutil.copytree(ROOT / "assignments", course / "assignments")
    return course


# --- synthetic students --------------------------------------------------------------------------
def solution_sources():
    nb = nbformat.read(ROOT / "solutions" / A / f"{NB}.ipynb", as_version=4)
    out = {}
    for cell in nb.cells:
        m = cell.metadata.get("nbgrader", {})
        if m.get("solution"):
            out[m["grade_id"]] = re.sub(r"^[ \t]*### (BEGIN|END) SOLUTION[ \t]*\n", "", cell.source, flags=re.M)
    return out


def release():
    return nbformat.read(ROOT / "assignments" / A / f"{NB}.ipynb", as_version=4)


def submission(overrides=None, *, fill=True, edit=None):
    """The release with its solution cells filled in (from the solutions), some replaced."""
    nb = release()
    sources = solution_sources() if fill else {}
    sources.update(overrides or {})
    for cell in nb.cells:
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        if cell.metadata.get("nbgrader", {}).get("solution") and gid in sources:
            cell.source = sources[gid]
    if edit:
        edit(nb)
    return nb


def cell_index(nb, grade_id):
    return next(i for i, c in enumerate(nb.cells) if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)


XOR_OWN_STEP = '''
def xor_network(X):
    X = np.asarray(X, dtype=float)
    step = lambda z: (z >= 0).astype(int)
    H = step(X @ np.array([[1.0, -1.0], [1.0, -1.0]]) + np.array([-1.0, 1.5]))  # OR, NAND
    return step(H @ np.array([1.0, 1.0]) - 2.0)                                  # AND
'''

WRONG = {
    # '>' where the unit must fire at the threshold
    "wrong_threshold": ({
        "mp_neuron_solution": "def mp_neuron(x, w, theta):\n    return (np.asarray(x) @ np.asarray(w) > theta).astype(int)\n",
        "xor_network_solution": XOR_OWN_STEP,
    }, {"perceptron_mp_neuron": PARTIAL},
        ["the unit fires when the sum reaches the threshold (>=)"]),
    # the bias is never updated
    "no_bias_update": ({
        "perceptron_update_solution": "def perceptron_update(w, b, x, t, lr):\n    if t * (x @ w + b) <= 0:\n        return w + lr * t * x, b\n    return w, b\n",
        "train_perceptron_solution": '''
def train_perceptron(X, t, lr=1.0, max_epochs=100):
    w, b = np.zeros(X.shape[1]), 0.0
    for epoch in range(1, max_epochs + 1):
        mistakes = 0
        for x_i, t_i in zip(X, t):
            if t_i * (x_i @ w + b) <= 0:
                w, b = w + lr * t_i * x_i, b + lr * t_i
                mistakes += 1
        if mistakes == 0:
            return w, b, True, epoch
    return w, b, False, max_epochs
''',
    }, {"perceptron_update": PARTIAL},
        ["b_new: relative error", "a mistake, so w += lr * t * x and b += lr * t"]),
    # the final, mistake-free epoch is not counted
    "epochs_off_by_one": ({
        "train_perceptron_solution": '''
def train_perceptron(X, t, lr=1.0, max_epochs=100):
    w, b = np.zeros(X.shape[1]), 0.0
    for epoch in range(max_epochs):
        mistakes = 0
        for x_i, t_i in zip(X, t):
            if t_i * (x_i @ w + b) <= 0:
                w, b = perceptron_update(w, b, x_i, t_i, lr)
                mistakes += 1
        if mistakes == 0:
            return w, b, True, epoch
    return w, b, False, max_epochs
''',
    }, {"perceptron_train": PARTIAL},
        ["epochs: got", "count every pass over the data, the final pass without mistakes included"]),
    # the output layer keeps a column: (N, 1) instead of (N,)
    "xor_column": ({
        "xor_network_solution": '''
def xor_network(X):
    H = np.stack([mp_neuron(X, np.array([1.0, 1.0]), 1.0), mp_neuron(X, np.array([-1.0, -1.0]), -1.0)], axis=1)
    return (H @ np.array([[1.0], [1.0]]) >= 2.0).astype(int)
''',
    }, {"perceptron_xor_network": 0.0},
        ["output: shape (4, 1), expected (4,)"]),
}


def _tamper_tests(nb):
    # (b) delete the xor test cell, rewrite the train test cell, strip the gate test cell's metadata
    del nb.cells[cell_index(nb, "perceptron_xor_network")]
    nb.cells[cell_index(nb, "perceptron_train")].source = 'print("all tests passed")\n3.0'
    gate = nb.cells[cell_index(nb, "perceptron_gate_weights")]
    gate.metadata = {}
    gate.source = 'print("all tests passed")\n2.0'


def _kill_cell(nb):
    # (d) a top-level cell that kills its own kernel, right after the gate test
    kill = nbformat.v4.new_code_cell("import os, signal\nos.kill(os.getpid(), signal.SIGKILL)")
    nb.cells.insert(cell_index(nb, "perceptron_gate_weights") + 1, kill)


TAMPER = {
    # (a) monkeypatch numpy's comparisons, the checker, nnkit's reference; return an always-equal object
    "tamper_patch": ({
        "mp_neuron_solution": '''
import builtins, numpy, nngrader, nngrader.check, nngrader.verdict, nnkit.neurons
numpy.allclose = numpy.array_equal = lambda *a, **k: True
numpy.testing.assert_allclose = numpy.testing.assert_array_equal = lambda *a, **k: None
nngrader.check = nngrader.check.check = check = lambda *a, **k: None
nngrader.verdict.run_check = lambda *a, **k: None
nnkit.neurons.McCullochPitts.__call__ = lambda self, x: "whatever you like"

class AlwaysRight:
    def __eq__(self, other):
        return True
    __ne__ = lambda self, other: False

def mp_neuron(x, w, theta):
    return AlwaysRight()
''',
        "xor_network_solution": XOR_OWN_STEP,
    }, {"perceptron_mp_neuron": 0.0}, ["returned an object of type AlwaysRight"]),
    # (b) deleted / edited test cells; the functions they test are not written
    "tamper_tests": ({
        "gate_weights_solution": "def gate_weights(name):\n    raise NotImplementedError()",
        "train_perceptron_solution": "def train_perceptron(X, t, lr=1.0, max_epochs=100):\n    raise NotImplementedError()",
        "xor_network_solution": "def xor_network(X):\n    raise NotImplementedError()",
    }, {"perceptron_gate_weights": 0.0, "perceptron_train": 0.0, "perceptron_xor_network": 0.0},
        ["train_perceptron raised NotImplementedError"]),
    # (c) an endless loop inside a graded function
    "tamper_loop": ({
        "xor_network_solution": "def xor_network(X):\n    while True:\n        pass\n",
    }, {"perceptron_xor_network": 0.0}, ["xor_network did not return within 4 s (an endless loop?)"]),
    # (d) a function that ends its own process, and a cell that kills the kernel
    "tamper_kill": ({
        "mp_neuron_solution": "import os\ndef mp_neuron(x, w, theta):\n    os._exit(1)\n",
        "xor_network_solution": XOR_OWN_STEP,
    }, {"perceptron_mp_neuron": 0.0}, ["mp_neuron ended the process it ran in"]),
    # (e) answering with nnkit's own implementations (and hiding one call from the profiler)
    "tamper_nnkit": ({
        "gate_weights_solution": '''
from nnkit.neurons import mcp_gate
def gate_weights(name):
    unit = mcp_gate(name)
    return np.array(unit.weights), unit.threshold
''',
        "perceptron_update_solution": '''
import sys
import nnkit.neurons as nkn
def perceptron_update(w, b, x, t, lr):
    hook = sys.getprofile()
    sys.setprofile(None)
    r = nkn.train_perceptron(x[None, :], np.array([t]), lr=lr, max_epochs=1, initial_weights=w, initial_bias=b)
    sys.setprofile(hook)
    return r.weights, r.bias
''',
        "train_perceptron_solution": '''
import nnkit
def train_perceptron(X, t, lr=1.0, max_epochs=100):
    r = nnkit.neurons.train_perceptron(X, t, lr=lr, max_epochs=max_epochs)
    return r.weights, r.bias, r.converged, r.epochs
''',
        "xor_network_solution": "from nnkit.neurons import xor_network as _reference\nxor_network = lambda X: _reference(X)\n",
    }, {"perceptron_gate_weights": 0.0, "perceptron_update": 0.0, "perceptron_train": 0.0, "perceptron_xor_network": 0.0},
        ["called nnkit.neurons.train_perceptron, nnkit's own implementation", "called nnkit.neurons.mcp_gate",
         "called nnkit.neurons.xor_network", "changed the Python profiler"]),
}
EDITS = {"tamper_tests": _tamper_tests, "tamper_kill": _kill_cell}


def students():
    out = {"solution": (submission(), {}, []), "release": (release(), {g: 0.0 for g in FULL}, [])}
    for name, (over, expect, diag) in {**WRONG, **TAMPER}.items():
        out[name] = (submission(over, edit=EDITS.get(name)), expect, diag)
    # the same wrong submission twice: the grade must not depend on the run
    out["wrong_threshold_again"] = out["wrong_threshold"]
    return out


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    course = new_course(tmp_path_factory.mktemp("pilot"))
    nbgrader(course, "generate_assignment", A, "--force")
    cases = students()
    for student, (nb, _, _) in cases.items():
        d = course / "submitted" / student / A
        d.mkdir(parents=True)
        nbformat.write(nb, d / f"{NB}.ipynb")
    proc = nbgrader(course, "autograde", A)
    nbgrader(course, "generate_feedback", A)
    sys.modules.setdefault("rfc3987_syntax", None)
    from nbgrader.api import Gradebook

    scores, manual = {}, {}
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}", "nn-fundamentals") as gb:
        for student in cases:
            for gid in list(FULL) + ["xor_why"]:
                g = gb.find_grade(gid, NB, A, student)
                scores[student, gid] = g.auto_score
                manual[student, gid] = g.needs_manual_grade
    return course, cases, scores, manual, proc


def feedback_text(course, student):
    return html.unescape((course / "feedback" / student / A / f"{NB}.html").read_text())


def test_solution_gets_full_marks_and_release_gets_zero(graded):
    course, cases, scores, manual, _ = graded
    for gid, pts in FULL.items():
        assert scores["solution", gid] == pts, gid
        assert scores["release", gid] == 0.0, gid
    assert manual["solution", "xor_why"] and scores["solution", "xor_why"] is None  # graded by hand
    assert scores["release", "xor_why"] == 0.0 and not manual["release", "xor_why"]  # left blank


@pytest.mark.parametrize("student", list(WRONG) + list(TAMPER))
def test_points_are_lost_exactly_where_the_submission_is_broken(graded, student):
    course, cases, scores, manual, _ = graded
    _, expect, diagnoses = cases[student]
    for gid, pts in FULL.items():
        got = scores[student, gid]
        want = expect.get(gid, pts)
        if want == PARTIAL:
            assert 0 < got < pts, (gid, got)
        else:
            assert got == want, (gid, got, want)
        assert not manual[student, gid], gid
    text = feedback_text(course, student)
    for d in diagnoses:
        assert d in text, d


def test_same_submission_same_grade(graded):
    _, _, scores, _, _ = graded
    for gid in FULL:
        assert scores["wrong_threshold", gid] == scores["wrong_threshold_again", gid]


def test_feedback_shows_the_verdict_and_no_test_cell_writes_to_stderr(graded):
    course, cases, _, _, _ = graded
    for student in cases:
        nb = nbformat.read(course / "autograded" / student / A / f"{NB}.ipynb", as_version=4)
        tests = [c for c in nb.cells if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("grade")]
        assert {c.metadata.nbgrader.grade_id for c in tests} == set(FULL), student  # deleted cells came back
        for c in tests:
            assert [o.output_type for o in c.outputs] == ["stream", "execute_result"], student
            assert c.outputs[0].name == "stdout"
    text = feedback_text(course, "solution")
    assert "mp_neuron: 2 / 2 points" in text and "Graded by running your notebook's code in a fresh process" in text


def test_release_validates_inverted_and_solution_validates(tmp_path):
    course = new_course(tmp_path)
    sol = nbgrader(course, "validate", f"solutions/{A}/{NB}.ipynb", script=True)
    assert "Success! Your notebook passes all the tests." in sol.stdout, sol.stdout
    # nbgrader validate exits 0 either way; --invert reports success when no test passes
    inv = nbgrader(course, "validate", "--invert", f"assignments/{A}/{NB}.ipynb", script=True)
    assert "Success! The notebook does not pass any tests." in inv.stdout, inv.stdout
    # and the plain validate of the release lists every test cell (and the blank written answer) as failing
    rel = nbgrader(course, "validate", f"assignments/{A}/{NB}.ipynb")
    assert f"VALIDATION FAILED ON {len(FULL) + 1} CELL(S)!" in " ".join(rel.stdout.split()), rel.stdout


@pytest.mark.parametrize("assignment", sorted(p.name for p in (ROOT / "solutions").iterdir() if p.is_dir()))
def test_assignments_folder_is_exactly_what_generate_assignment_produces(tmp_path, assignment):
    course = new_course(tmp_path, with_release=False)
    nbgrader(course, "generate_assignment", assignment, "--force")
    fresh = course / "assignments" / assignment
    committed = ROOT / "assignments" / assignment
    files = lambda d: sorted(str(p.relative_to(d)) for p in d.rglob("*") if p.is_file())
    assert files(fresh) == files(committed), "assignments/ is stale: run `nbgrader generate_assignment %s --force`" % assignment
    for rel in files(fresh):
        assert (fresh / rel).read_bytes() == (committed / rel).read_bytes(), (
            f"assignments/{assignment}/{rel} is stale: run `nbgrader generate_assignment {assignment} --force`"
        )
