"""End to end: assignment 03_two_layer through the real nbgrader CLI, in a copy of the course.

One ``nbgrader autograde`` run grades a class of synthetic students: the solution, the untouched
release, plausible wrong answers (each breaks one graded function) and tampering attempts. The
gradebook and the generated feedback HTML are then checked cell by cell.
"""
from functools import partial

import pytest

import grading_harness as h
from grading_harness import PARTIAL, kill_kernel_after, nbgrader, tamper_test_cells

A, NB = "03_two_layer", "two_layer"
FULL = {
    "twolayer_forward": 2.0,
    "twolayer_loss": 2.0,
    "twolayer_backward": 4.0,
    "twolayer_softmax": 2.0,
    "twolayer_softmax_jacobian": 2.0,
    "twolayer_softmax_ce_grad": 2.0,
}
MANUAL = "twolayer_derivation"

pytestmark = pytest.mark.slow


new_course = partial(h.new_course, assignments=[A])  # a copy of the course with this assignment only

# --- synthetic students --------------------------------------------------------------------------
solution_sources = partial(h.solution_sources, A, NB)
release = partial(h.release, A, NB)
submission = partial(h.submission, A, NB)  # submission(overrides=None, *, fill=True, edit=None)
feedback_text = partial(h.feedback_text, assignment=A, notebook=NB)  # feedback_text(course, student)


def backward_with(dz2="(c['y_hat'] - Y) / N", tanh_d="1 - c['a1'] ** 2", dW2="c['a1'].T @ dz2"):
    return f'''
def backward(X, Y, params):
    c = forward(X, params)
    N = X.shape[0]
    dz2 = {dz2}
    dz1 = (dz2 @ params["W2"].T) * ({tanh_d})
    return {{"W1": X.T @ dz1, "b1": dz1.sum(axis=0), "W2": {dW2}, "b2": dz2.sum(axis=0)}}
'''


STABLE_SOFTMAX = "    e = np.exp(z - z.max(axis=-1, keepdims=True))\n    s = e / e.sum(axis=-1, keepdims=True)\n"

WRONG = {
    # tanh'(z) written as 1 - tanh(z): the square is missing
    "wrong_tanh": ({"backward_code": backward_with(tanh_d="1 - c['a1']")},
                   {"twolayer_backward": PARTIAL},
                   ["dW1: relative error", "taken as 1 - tanh(z), which is not the derivative of tanh"]),
    # sigmoid'(z) taken as sigmoid(z): every gradient is off
    "wrong_sigmoid": ({"backward_code": backward_with(
        dz2="-(Y / c['y_hat'] - (1 - Y) / (1 - c['y_hat'])) / N * c['y_hat']")},
        {"twolayer_backward": 0.0},
        ["it matches the gradient you get with sigmoid'(z) = sigmoid(z)", "the derivative is s(1 - s)"]),
    # dW2 = dz2.T @ a1: a transpose in the wrong place
    "wrong_transpose": ({"backward_code": backward_with(dW2="dz2.T @ c['a1']")},
                        {"twolayer_backward": PARTIAL},
                        ["dW2: analytic gradient has shape (2, 1), expected (1, 2)",
                         "a transpose is missing or misplaced"]),
    # the softmax Jacobian without its diagonal term s_i delta_ij
    "wrong_jacobian_diag": ({"softmax_jacobian_code": "def softmax_jacobian(z):\n    s = softmax(z)\n    return -np.outer(s, s)\n"},
                            {"twolayer_softmax_jacobian": PARTIAL},
                            ["J diagonal (i = j): relative error", "the delta_ij term is missing"]),
    # p - y not divided by the batch size
    "wrong_ce_no_mean": ({"softmax_ce_grad_code": '''
def softmax_ce_grad(logits, y):
    P = softmax(logits)
    Y = np.eye(logits.shape[1])[y] if y.ndim == 1 else y
    return P - Y
'''}, {"twolayer_softmax_ce_grad": PARTIAL}, ["it is N times the right gradient (N the batch size): divide by N"]),
    # the naive softmax (overflows at |z| ~ 1000) and a loss averaged over all 2N entries;
    # the Jacobian and the p - y gradient use their own stable softmax and stay right
    "wrong_softmax_and_loss": ({
        "softmax_code": "def softmax(z):\n    e = np.exp(z)\n    return e / e.sum(axis=-1, keepdims=True)\n",
        "softmax_jacobian_code": "def softmax_jacobian(z):\n" + STABLE_SOFTMAX + "    return np.diag(s) - np.outer(s, s)\n",
        "softmax_ce_grad_code": "def softmax_ce_grad(logits, y):\n    z = logits\n" + STABLE_SOFTMAX
        + "    Y = np.eye(z.shape[1])[y] if y.ndim == 1 else y\n    return (s - Y) / z.shape[0]\n",
        "loss_code": "def loss(y_hat, Y):\n    return float(-np.mean(Y * np.log(y_hat) + (1 - Y) * np.log(1 - y_hat)))\n",
    }, {"twolayer_softmax": PARTIAL, "twolayer_loss": 0.0},
        ["subtract the maximum of each row before exponentiating", "that is the mean over all N * 2 entries"]),
}

INLINE_BACKWARD = '''
def backward(X, Y, params):
    a1 = np.tanh(X @ params["W1"] + params["b1"])
    y_hat = 1 / (1 + np.exp(-(a1 @ params["W2"] + params["b2"])))
    dz2 = (y_hat - Y) / X.shape[0]
    dz1 = (dz2 @ params["W2"].T) * (1 - a1 ** 2)
    return {"W1": X.T @ dz1, "b1": dz1.sum(axis=0), "W2": a1.T @ dz2, "b2": dz2.sum(axis=0)}
'''


def _tamper_tests(nb):
    # (b) delete the Jacobian's test cell, rewrite the loss's, strip the p - y cell's metadata
    tamper_test_cells(nb, delete="twolayer_softmax_jacobian", rewrite="twolayer_loss", strip="twolayer_softmax_ce_grad")


def _kill_cell(nb):
    # (d) a top-level cell that kills its own kernel, right after the loss test
    kill_kernel_after(nb, "twolayer_loss")


TAMPER = {
    # (a) monkeypatch numpy's comparisons, the checker, nnkit's references; return an always-equal object
    "tamper_patch": ({
        "forward_code": '''
import numpy, nngrader, nngrader.check, nngrader.verdict, nnkit.activations, nnkit.gradcheck
numpy.allclose = numpy.array_equal = lambda *a, **k: True
numpy.testing.assert_allclose = numpy.testing.assert_array_equal = lambda *a, **k: None
nngrader.check = nngrader.check.check = check = lambda *a, **k: None
nngrader.verdict.run_check = nngrader.verdict.compare_close = lambda *a, **k: None
nnkit.activations.tanh = nnkit.activations.sigmoid = lambda z: "whatever you like"
nnkit.gradcheck.rel_error = lambda a, b, floor=1e-8: 0.0

class AlwaysRight:
    def __eq__(self, other):
        return True
    __ne__ = lambda self, other: False

def forward(X, params):
    return AlwaysRight()
''',
        "backward_code": INLINE_BACKWARD,
    }, {"twolayer_forward": 0.0}, ["returned an object of type AlwaysRight"]),
    # (b) deleted / edited test cells; the functions they test are not written
    "tamper_tests": ({
        "loss_code": "def loss(y_hat, Y):\n    raise NotImplementedError()",
        "softmax_jacobian_code": "def softmax_jacobian(z):\n    raise NotImplementedError()",
        "softmax_ce_grad_code": "def softmax_ce_grad(logits, y):\n    raise NotImplementedError()",
    }, {"twolayer_loss": 0.0, "twolayer_softmax_jacobian": 0.0, "twolayer_softmax_ce_grad": 0.0},
        ["loss raised NotImplementedError", "softmax_jacobian raised NotImplementedError"]),
    # (c) an endless loop inside a graded function
    "tamper_loop": ({
        "softmax_ce_grad_code": "def softmax_ce_grad(logits, y):\n    while True:\n        pass\n",
    }, {"twolayer_softmax_ce_grad": 0.0}, ["softmax_ce_grad did not return within 4 s (an endless loop?)"]),
    # (d) a function that ends its own process, and a cell that kills the kernel
    "tamper_kill": ({
        "softmax_jacobian_code": "import os\ndef softmax_jacobian(z):\n    os._exit(1)\n",
    }, {"twolayer_softmax_jacobian": 0.0}, ["softmax_jacobian ended the process it ran in"]),
    # (e) answering with nnkit's own implementations (and hiding one call from the profiler)
    "tamper_nnkit": ({
        "forward_code": '''
from nnkit.layers import dense_forward
from nnkit import activations as A
def forward(X, params):
    z1 = dense_forward(X, params["W1"], params["b1"])[0]
    a1 = A.tanh(z1)
    z2 = dense_forward(a1, params["W2"], params["b2"])[0]
    return {"z1": z1, "a1": a1, "z2": z2, "y_hat": A.sigmoid(z2)}
''',
        "loss_code": '''
import nnkit.losses
def loss(y_hat, Y):
    return 2 * nnkit.losses.binary_cross_entropy(y_hat, Y)
''',
        "backward_code": '''
from nnkit.layers import dense_backward
from nnkit.activations import tanh_grad
def backward(X, Y, params):
    z1, c1 = dense_forward(X, params["W1"], params["b1"])
    z2, c2 = dense_forward(A.tanh(z1), params["W2"], params["b2"])
    da1, dW2, db2 = dense_backward((A.sigmoid(z2) - Y) / X.shape[0], c2)
    _, dW1, db1 = dense_backward(da1 * tanh_grad(z1), c1)
    return {"W1": dW1, "b1": db1, "W2": dW2, "b2": db2}
''',
        "softmax_code": "from nnkit.activations import softmax as _reference\nsoftmax = lambda z: _reference(z)\n",
        "softmax_jacobian_code": '''
import sys
import nnkit.activations as nka
def softmax_jacobian(z):
    hook = sys.getprofile()
    sys.setprofile(None)
    J = nka.softmax_jacobian(z)
    sys.setprofile(hook)
    return J
''',
        "softmax_ce_grad_code": '''
from nnkit.gradcheck import numerical_gradient
from nnkit.losses import softmax_cross_entropy
def softmax_ce_grad(logits, y):
    z = np.array(logits, dtype=float)
    return numerical_gradient(lambda t: softmax_cross_entropy(t, y), z)
''',
    }, {g: 0.0 for g in FULL},
        ["called nnkit.layers.dense_forward", "called nnkit.losses.binary_cross_entropy,",
         "nnkit.layers.dense_backward", "nnkit.activations.tanh_grad", "called nnkit.activations.softmax,",
         "called nnkit.gradcheck.numerical_gradient", "changed the Python profiler",
         "nnkit's own implementation of what this exercise asks you to write"]),
}
EDITS = {"tamper_tests": _tamper_tests, "tamper_kill": _kill_cell}


def students():
    out = {"solution": (submission(), {}, []), "release": (release(), {g: 0.0 for g in FULL}, [])}
    for name, (over, expect, diag) in {**WRONG, **TAMPER}.items():
        out[name] = (submission(over, edit=EDITS.get(name)), expect, diag)
    # the same wrong submission twice: the grade must not depend on the run
    out["wrong_tanh_again"] = out["wrong_tanh"]
    return out


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    cases = students()
    g = h.autograde_class(tmp_path_factory.mktemp("twolayer"), A, NB, {s: nb for s, (nb, _, _) in cases.items()},
                          [*FULL, MANUAL], new_course_kwargs={"assignments": [A]})
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


def test_partial_credit_is_per_tensor_and_per_case(graded):
    _, _, scores, _, _ = graded
    # tanh slip: dW2 and db2 stay right in every case, dW1 and db1 are wrong in every case
    assert scores["wrong_tanh", "twolayer_backward"] == 2.0
    # misplaced transpose: only dW2 (1 of 4 tensors) is wrong, in every case
    assert scores["wrong_transpose", "twolayer_backward"] == 3.0
    # missing diagonal: the off-diagonal half of J is right in every case
    assert scores["wrong_jacobian_diag", "twolayer_softmax_jacobian"] == 1.0
    # no 1/N: right exactly on the three one-sample cases (of 8)
    assert scores["wrong_ce_no_mean", "twolayer_softmax_ce_grad"] == 0.75


def test_same_submission_same_grade(graded):
    _, _, scores, _, _ = graded
    for gid in FULL:
        assert scores["wrong_tanh", gid] == scores["wrong_tanh_again", gid]


def test_feedback_shows_the_verdict_and_no_test_cell_writes_to_stderr(graded):
    course, cases, _, _, _ = graded
    h.assert_verdict_outputs(course, A, NB, cases, FULL)
    text = feedback_text(course, "solution")
    assert "backward: 4 / 4 points" in text and "Graded by running your notebook's code in a fresh process" in text


def test_solution_validates_and_release_fails_every_test(tmp_path):
    course = new_course(tmp_path)
    runs = {
        "solution": nbgrader(course, "validate", f"solutions/{A}/{NB}.ipynb", script=True, wait=False),
        "invert": nbgrader(course, "validate", "--invert", f"assignments/{A}/{NB}.ipynb", script=True, wait=False),
        "release": nbgrader(course, "validate", f"assignments/{A}/{NB}.ipynb", wait=False),
    }
    out = {k: p.communicate(timeout=600)[0] for k, p in runs.items()}
    assert "Success! Your notebook passes all the tests." in out["solution"], out["solution"]
    # nbgrader validate exits 0 either way; --invert reports success when no test passes
    assert "Success! The notebook does not pass any tests." in out["invert"], out["invert"]
    # every test cell and the blank derivation fail in the release
    assert f"VALIDATION FAILED ON {len(FULL) + 1} CELL(S)!" in " ".join(out["release"].split()), out["release"]
