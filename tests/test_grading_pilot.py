"""End to end: assignment 01_perceptron through the real nbgrader CLI, in a copy of the course.

One ``nbgrader autograde`` run grades a class of synthetic students: the solution, the untouched
release, plausible wrong answers and tampering attempts. The gradebook and the generated feedback
HTML are then checked cell by cell. The machinery is in ``grading_harness.py`` (shared by every
``test_grading_*.py``); its main names are re-exported here for modules that import them from this one.
"""
from functools import partial

import nbformat
import pytest

import grading_harness as h
from grading_harness import PARTIAL, ROOT, cell_index, kill_kernel_after, nbgrader, new_course, tamper_test_cells  # noqa: F401  (re-exported)

A, NB = "01_perceptron", "perceptron"
FULL = {
    "perceptron_mp_neuron": 2.0,
    "perceptron_gate_weights": 2.0,
    "perceptron_update": 2.0,
    "perceptron_train": 3.0,
    "perceptron_xor_network": 2.0,
}
MANUAL = "xor_why"

pytestmark = pytest.mark.slow

# --- synthetic students --------------------------------------------------------------------------
solution_sources = partial(h.solution_sources, A, NB)
release = partial(h.release, A, NB)
submission = partial(h.submission, A, NB)  # submission(overrides=None, *, fill=True, edit=None)
feedback_text = partial(h.feedback_text, assignment=A, notebook=NB)  # feedback_text(course, student)


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
    tamper_test_cells(nb, delete="perceptron_xor_network", rewrite="perceptron_train", strip="perceptron_gate_weights")


def _kill_cell(nb):
    # (d) a top-level cell that kills its own kernel, right after the gate test
    kill_kernel_after(nb, "perceptron_gate_weights")


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
    cases = students()
    g = h.autograde_class(tmp_path_factory.mktemp("pilot"), A, NB, {s: nb for s, (nb, _, _) in cases.items()},
                          [*FULL, MANUAL])
    return g.course, cases, g.scores, g.manual, g.proc


def test_solution_gets_full_marks_and_release_gets_zero(graded):
    course, cases, scores, manual, _ = graded
    for gid, pts in FULL.items():
        assert scores["solution", gid] == pts, gid
        assert scores["release", gid] == 0.0, gid
    assert manual["solution", MANUAL] and scores["solution", MANUAL] is None  # graded by hand
    assert scores["release", MANUAL] == 0.0 and not manual["release", MANUAL]  # left blank


@pytest.mark.parametrize("student", list(WRONG) + list(TAMPER))
def test_points_are_lost_exactly_where_the_submission_is_broken(graded, student):
    course, cases, scores, manual, _ = graded
    _, expect, diagnoses = cases[student]
    h.assert_points(scores, manual, student, expect, FULL)
    text = feedback_text(course, student)
    for d in diagnoses:
        assert d in text, d


def test_same_submission_same_grade(graded):
    _, _, scores, _, _ = graded
    for gid in FULL:
        assert scores["wrong_threshold", gid] == scores["wrong_threshold_again", gid]


def test_feedback_shows_the_verdict_and_no_test_cell_writes_to_stderr(graded):
    course, cases, _, _, _ = graded
    h.assert_verdict_outputs(course, A, NB, cases, FULL)
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


def test_validate_shows_the_diagnosis_of_a_failing_check(tmp_path):
    """What a student sees from the Validate button: the diagnosis, not a summary cut short."""
    course = new_course(tmp_path, assignments=[A])
    overrides, _, hints = WRONG["wrong_threshold"]
    nbformat.write(submission(overrides), tmp_path / "student.ipynb")
    out = nbgrader(course, "validate", str(tmp_path / "student.ipynb")).stdout
    assert "mp_neuron: 0 / 2 points" in out and "FAILED" in out, out  # the verdict's head and a failed case
    assert hints[0] in " ".join(out.split()), out  # the hint, whole
    assert "CheckFailed: perceptron_mp_neuron:" in out and "..." not in out.replace("... ", ""), out


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
