"""End to end: assignment 02_three_layer through the real nbgrader CLI, in a copy of the course.

One ``nbgrader autograde`` run grades a class of synthetic students: the solution, the untouched
release, plausible wrong derivations (sigmoid' written as sigmoid, a missing transpose, a bias
gradient not summed over the batch, the squared loss without its 1/2, the output error a - y used
with the squared loss, a forgotten cache entry) and tampering attempts. The gradebook and the
generated feedback HTML are then checked cell by cell.
"""
from functools import partial

import html

import pytest

import grading_harness as h
from grading_harness import PARTIAL, kill_kernel_after, nbgrader, new_course, tamper_test_cells

A, NB = "02_three_layer", "three_layer"
FULL = {
    "three_layer_forward": 3.0,
    "three_layer_squared_loss": 1.0,
    "three_layer_cross_entropy_loss": 1.0,
    "three_layer_backward_squared": 5.0,
    "three_layer_backward_cross_entropy": 5.0,
}
MANUAL = "three_layer_derivation"

pytestmark = pytest.mark.slow


# --- synthetic students --------------------------------------------------------------------------
solution_sources = partial(h.solution_sources, A, NB)
release = partial(h.release, A, NB)
submission = partial(h.submission, A, NB)  # submission(overrides=None, *, edit=None)
feedback_text = partial(h.feedback_text, assignment=A, notebook=NB)  # feedback_text(course, student)


def backward(name, *, d3, d2="(d3 @ params['W3'].T) * c['a2'] * (1 - c['a2'])",
             d1="(d2 @ params['W2'].T) * (c['z1'] > 0)", dW2="c['a1'].T @ d2", db1="d1.sum(axis=0)"):
    """A backward pass written like a student would, with any one line replaced."""
    return f'''
def {name}(X, y, params):
    y_hat, c = forward(X, params)
    N = X.shape[0]
    d3 = {d3}
    d2 = {d2}
    d1 = {d1}
    return {{"W1": X.T @ d1, "b1": {db1}, "W2": {dW2}, "b2": d2.sum(axis=0),
            "W3": c["a2"].T @ d3, "b3": d3.sum(axis=0)}}
'''


SQ_D3 = "(y_hat - y) * y_hat * (1 - y_hat) / N"
CE_D3 = "(y_hat - y) / N"
UNIMPLEMENTED = {
    "squared_loss_solution": "def squared_loss(y_hat, y):\n    raise NotImplementedError()\n",
    "cross_entropy_loss_solution": "def cross_entropy_loss(y_hat, y):\n    raise NotImplementedError()\n",
    "backward_cross_entropy_solution": "def backward_cross_entropy(X, y, params):\n    raise NotImplementedError()\n",
}

WRONG = {
    # sigma'(z2) written as sigma(z2) in the squared-loss backward pass
    "wrong_sigmoid_grad": ({
        "backward_squared_solution": backward("backward_squared", d3=SQ_D3, d2="(d3 @ params['W3'].T) * c['a2']"),
    }, {"three_layer_backward_squared": PARTIAL},
        ["dW2: relative error", "it matches sigma'(z2) written as sigma(z2)"]),
    # dW2 = delta2.T @ a1: the transposed gradient of a square matrix
    "wrong_transpose": ({
        "backward_cross_entropy_solution": backward("backward_cross_entropy", d3=CE_D3, dW2="d2.T @ c['a1']"),
    }, {"three_layer_backward_cross_entropy": PARTIAL},
        ["dW2: relative error", "its transpose matches: a transpose is missing or misplaced"]),
    # db1 keeps one row per sample
    "wrong_bias_sum": ({
        "backward_cross_entropy_solution": backward("backward_cross_entropy", d3=CE_D3, db1="d1"),
    }, {"three_layer_backward_cross_entropy": PARTIAL},
        ["db1: analytic gradient has shape", "it has an extra leading batch axis: sum it over the batch (axis 0)"]),
    # the squared loss without its 1/2 (a 1-point function: every case is off, so it scores 0)
    "wrong_half": ({
        "squared_loss_solution": "def squared_loss(y_hat, y):\n    return float(np.mean((y_hat - y) ** 2))\n",
    }, {"three_layer_squared_loss": 0.0},
        ["your value is twice the expected one: this course uses the 1/2 form"]),
    # slip 8: the output error a - y used with the squared loss
    "wrong_output_error": ({
        "backward_squared_solution": backward("backward_squared", d3=CE_D3),
    }, {"three_layer_backward_squared": 0.0},
        ["dW3: relative error", "it matches the output error a3 - y, which belongs to the cross-entropy loss, "
                                "not the squared loss"]),
    # z3 left out of the cache (the output itself is right)
    "wrong_cache": ({
        "forward_solution": '''
def forward(X, params):
    a1 = np.maximum(X @ params["W1"] + params["b1"], 0)
    z1 = X @ params["W1"] + params["b1"]
    z2 = a1 @ params["W2"] + params["b2"]
    a2 = 1 / (1 + np.exp(-z2))
    y_hat = 1 / (1 + np.exp(-(a2 @ params["W3"] + params["b3"])))
    return y_hat, {"z1": z1, "a1": a1, "z2": z2, "a2": a2}
''',
    }, {"three_layer_forward": PARTIAL}, ["cache['z3']: missing"]),
}


def _tamper_tests(nb):
    # delete one test cell, rewrite another, strip a third of its nbgrader metadata
    tamper_test_cells(nb, delete="three_layer_squared_loss", rewrite="three_layer_cross_entropy_loss", strip="three_layer_backward_cross_entropy")


def _kill_cell(nb):
    # a top-level cell that kills its own kernel, right after the forward test
    kill_kernel_after(nb, "three_layer_forward")


TAMPER = {
    # numpy's comparisons, the checker and nnkit's reference losses patched; an always-equal object
    "tamper_patch": ({
        "squared_loss_solution": '''
import numpy, nngrader, nngrader.check, nngrader.verdict, nnkit.losses
numpy.allclose = numpy.array_equal = lambda *a, **k: True
numpy.testing.assert_allclose = lambda *a, **k: None
nngrader.check = nngrader.check.check = check = lambda *a, **k: None
nngrader.verdict.run_check = nngrader.verdict.compare_close = lambda *a, **k: None
nnkit.losses.half_mse = nnkit.losses.binary_cross_entropy = lambda *a, **k: 0.0

class AlwaysRight(float):
    def __eq__(self, other):
        return True
    __ne__ = lambda self, other: False

def squared_loss(y_hat, y):
    return AlwaysRight(0.0)
''',
        "cross_entropy_loss_solution": "def cross_entropy_loss(y_hat, y):\n    return 0.0\n",
    }, {"three_layer_squared_loss": 0.0, "three_layer_cross_entropy_loss": 0.0},
        ["loss: relative error 1 (expected <= 1e-09): got 0"]),
    # deleted / edited / stripped test cells; the functions they test are not written
    "tamper_tests": (UNIMPLEMENTED, {
        "three_layer_squared_loss": 0.0, "three_layer_cross_entropy_loss": 0.0,
        "three_layer_backward_cross_entropy": 0.0,
    }, ["backward_cross_entropy raised NotImplementedError", "squared_loss raised NotImplementedError"]),
    # an endless loop inside a graded function
    "tamper_loop": ({
        "backward_cross_entropy_solution": "def backward_cross_entropy(X, y, params):\n    while True:\n        pass\n",
    }, {"three_layer_backward_cross_entropy": 0.0},
        ["backward_cross_entropy did not return within 4 s (an endless loop?)"]),
    # a function that ends its own process, and a cell that kills the kernel
    "tamper_kill": ({
        "backward_squared_solution": "import os\ndef backward_squared(X, y, params):\n    os._exit(1)\n",
    }, {"three_layer_backward_squared": 0.0}, ["backward_squared ended the process it ran in"]),
    # answering with nnkit's own implementations (and hiding one call from the profiler)
    "tamper_nnkit": ({
        "squared_loss_solution": '''
import sys
import nnkit.losses as nkl
def squared_loss(y_hat, y):
    hook = sys.getprofile()
    sys.setprofile(None)
    value = nkl.half_mse(y_hat, y)
    sys.setprofile(hook)
    return value
''',
        "cross_entropy_loss_solution": '''
from nnkit.losses import binary_cross_entropy
def cross_entropy_loss(y_hat, y):
    return binary_cross_entropy(y_hat, y)
''',
        "backward_cross_entropy_solution": '''
import nnkit
from nnkit.layers import Activation, Dense
from nnkit.model import Sequential, loss_and_grads
def backward_cross_entropy(X, y, params):
    rng = np.random.default_rng(0)
    model = Sequential([Dense(3, 2, rng), Activation("relu"), Dense(2, 2, rng), Activation("sigmoid"),
                        Dense(2, 1, rng), Activation("sigmoid")])
    model.set_params(params)
    return loss_and_grads(model, X, y, "binary_cross_entropy")[1]
''',
    }, {"three_layer_squared_loss": 0.0, "three_layer_cross_entropy_loss": 0.0,
        "three_layer_backward_cross_entropy": 0.0},
        ["called nnkit.losses.binary_cross_entropy, nnkit's own implementation",
         "called nnkit.model.loss_and_grads", "changed the Python profiler"]),
}
EDITS = {"tamper_tests": _tamper_tests, "tamper_kill": _kill_cell}


def students():
    out = {"solution": (submission(), {}, []), "release": (release(), {g: 0.0 for g in FULL}, [])}
    for name, (over, expect, diag) in {**WRONG, **TAMPER}.items():
        out[name] = (submission(over, edit=EDITS.get(name)), expect, diag)
    # the same wrong submission twice: the grade must not depend on the run
    out["wrong_transpose_again"] = out["wrong_transpose"]
    return out


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    cases = students()
    g = h.autograde_class(tmp_path_factory.mktemp("three_layer"), A, NB, {s: nb for s, (nb, _, _) in cases.items()},
                          [*FULL, MANUAL])
    return g.course, cases, g.scores, g.manual, g.proc


def test_solution_gets_full_marks_and_release_gets_zero(graded):
    course, cases, scores, manual, _ = graded
    for gid, pts in FULL.items():
        assert scores["solution", gid] == pts, gid
        assert scores["release", gid] == 0.0, gid
    assert manual["solution", MANUAL] and scores["solution", MANUAL] is None  # the derivation is graded by hand
    assert scores["release", MANUAL] == 0.0 and not manual["release", MANUAL]  # left blank


@pytest.mark.parametrize("student", list(WRONG) + list(TAMPER))
def test_points_are_lost_exactly_where_the_submission_is_broken(graded, student):
    course, cases, scores, manual, _ = graded
    _, expect, diagnoses = cases[student]
    h.assert_points(scores, manual, student, expect, FULL)
    text = feedback_text(course, student)
    for d in diagnoses:
        assert d in text, d


def test_feedback_states_a_cause_once_with_where_and_how_often(graded):
    # before: the same hint on every tensor of every case (48 times) and the right output error
    # spelled out, which is also the answer to the derivation graded by hand
    course, _, _, _, _ = graded
    text = html.unescape(feedback_text(course, "wrong_output_error"))
    cause = "it matches the output error a3 - y, which belongs to the cross-entropy loss"
    assert text.count(cause) == 1
    assert "(dW1, db1, dW2, db2, dW3, db3; 8 of 8 cases)" in text
    assert "a3 (1 - a3)" not in text and "sigma'(z3) =" not in text
    assert "summed over the batch" not in text  # the bias hint came from the chain-rule error upstream


def test_same_submission_same_grade(graded):
    _, _, scores, _, _ = graded
    for gid in FULL:
        assert scores["wrong_transpose", gid] == scores["wrong_transpose_again", gid]


def test_feedback_shows_the_verdict_and_no_test_cell_writes_to_stderr(graded):
    course, cases, _, _, _ = graded
    h.assert_verdict_outputs(course, A, NB, cases, FULL)
    text = feedback_text(course, "solution")
    assert "backward_squared: 5 / 5 points (8 of 8 cases passed)" in text
    assert "Graded by running your notebook's code in a fresh process" in text


def test_release_validates_inverted_and_solution_validates(tmp_path):
    course = new_course(tmp_path)
    sol = nbgrader(course, "validate", f"solutions/{A}/{NB}.ipynb", script=True)
    assert "Success! Your notebook passes all the tests." in sol.stdout, sol.stdout
    inv = nbgrader(course, "validate", "--invert", f"assignments/{A}/{NB}.ipynb", script=True)
    assert "Success! The notebook does not pass any tests." in inv.stdout, inv.stdout
    rel = nbgrader(course, "validate", f"assignments/{A}/{NB}.ipynb")
    assert f"VALIDATION FAILED ON {len(FULL) + 1} CELL(S)!" in " ".join(rel.stdout.split()), rel.stdout
