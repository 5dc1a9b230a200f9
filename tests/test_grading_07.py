"""End to end: assignment 07_gradient_checker through the real nbgrader CLI, in a copy of the course.

One ``nbgrader autograde`` run grades a class of synthetic students: the solution, the untouched
release, plausible wrong answers (each breaks one graded function, and what uses it) and tampering
attempts. The gradebook and the generated feedback HTML are then checked cell by cell.
"""
from functools import partial

import pytest

import grading_harness as h
from grading_harness import PARTIAL, nbgrader, tamper_test_cells

A, NB = "07_gradient_checker", "gradient_checker"
FULL = {
    "gradcheck_numerical_gradient": 3.0,
    "gradcheck_relative_error": 2.0,
    "gradcheck_check_layer": 4.0,
    "gradcheck_find_bug": 4.0,
}

pytestmark = pytest.mark.slow

new_course = partial(h.new_course, assignments=[A])  # a copy of the course with this assignment only

# --- synthetic students --------------------------------------------------------------------------
solution_sources = partial(h.solution_sources, A, NB)
release = partial(h.release, A, NB)
submission = partial(h.submission, A, NB)  # submission(overrides=None, *, fill=True, edit=None)
feedback_text = partial(h.feedback_text, assignment=A, notebook=NB)  # feedback_text(course, student)


def with_solution(grade_id, extra):
    """The solution cell ``grade_id`` with ``extra`` appended (a later definition replaces an earlier one)."""
    return solution_sources()[grade_id] + "\n\n" + extra


# numerical_gradient undoing its probes with arithmetic: x comes back off by round-off
ARITH_RESTORE = '''
def numerical_gradient(f, x, h=1e-5):
    if x.dtype != np.float64:
        raise TypeError("x must be float64")
    grad = np.zeros(x.shape)
    for ix in np.ndindex(x.shape):
        x[ix] += h
        f_plus = f(x)
        x[ix] -= 2 * h
        f_minus = f(x)
        x[ix] += h
        grad[ix] = (f_plus - f_minus) / (2 * h)
    return grad
'''

# each entry measured against itself (CS231n's convention), not against the tensor's scale
ENTRYWISE = '''
def relative_error(a, b):
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.shape != b.shape:
        raise ValueError("shapes differ")
    return np.abs(a - b) / np.maximum(FLOOR, np.abs(a) + np.abs(b))
'''

# check_layer that takes the kinks argument and ignores it
NO_KINKS = '''
_check_layer = check_layer

def check_layer(layer, x, rng, h=1e-5, kinks=()):
    return _check_layer(layer, x, rng, h)
'''

# layer_gradients that works on the layer's own arrays: float32 layers reach numerical_gradient
NO_UPCAST = '''
def layer_gradients(layer, x, dout, h=1e-5):
    x = np.array(x)
    out, cache = layer.forward(x, True)
    dx, grads = layer.backward(dout, cache)
    L = lambda _: float(np.sum(layer.forward(x, True)[0] * dout))
    numeric = {name: numerical_gradient(L, arr, h) for name, arr in {"x": x, **layer.params}.items()}
    return {"x": dx, **grads}, numeric
'''

# the kind read off the kind of layer, never confirmed by the numbers
KIND_BY_LOCATION = '''
def bug_kind(layer, x, tensor, rng):
    if tensor == "W":
        return "transposed_weight_gradient"
    if tensor == "b":
        return "bias_not_summed"
    return "missing_activation_derivative" if getattr(layer, "name", "") in ACTIVATIONS else "missing_1_over_n"
'''

# one gradient check of the whole network: blames the first tensor upstream of the bug
WHOLE_NETWORK = '''
def find_bug(network, X, rng):
    def loss(_):
        a = X
        for layer in network:
            a, _ = layer.forward(a, True)
        return float(a)
    caches, a = [], X
    for layer in network:
        a, c = layer.forward(a, True)
        caches.append(c)
    d, grads = np.array(1.0), {}
    for i in range(len(network) - 1, -1, -1):
        d, g = network[i].backward(d, caches[i])
        grads[i] = g
    for i, layer in enumerate(network):
        for name, p in layer.params.items():
            if p.dtype != np.float64:
                continue
            n = numerical_gradient(loss, p)
            g = np.asarray(grads[i][name], dtype=float)
            if g.shape != n.shape or np.max(relative_error(g, n)) > THRESHOLD:
                return i, name, "other"
    return None
'''

WRONG = {
    "wrong_arith_restore": ({"numerical_gradient_code": ARITH_RESTORE},
                            {"gradcheck_numerical_gradient": PARTIAL},
                            ["x was left changed", "adding h and subtracting it again leaves round-off"]),
    "wrong_entrywise": ({"relative_error_code": ENTRYWISE},
                        {"gradcheck_relative_error": PARTIAL},
                        ["errors: relative error", "you divided each entry by its own |a_i| + |b_i|"]),
    "wrong_no_kinks": ({"check_layer_code": with_solution("check_layer_code", NO_KINKS)},
                       {"gradcheck_check_layer": PARTIAL, "gradcheck_find_bug": PARTIAL},
                       ["dx: you report", "x has entries within h of a kink",
                        "that layer's input has entries within h of its kink at 0"]),
    "wrong_no_upcast": ({"check_layer_code": with_solution("check_layer_code", NO_UPCAST)},
                        {"gradcheck_check_layer": PARTIAL, "gradcheck_find_bug": PARTIAL},
                        ["check_layer raised TypeError", "this layer and x are float32: check float64 copies",
                         "the network is float32"]),
    "wrong_kind_by_location": ({"find_bug_code": with_solution("find_bug_code", KIND_BY_LOCATION)},
                               {"gradcheck_find_bug": PARTIAL},
                               ["you said 'transposed_weight_gradient', expected 'other'",
                                "none of the four signatures fits that gradient"]),
    "wrong_whole_network": ({"find_bug_code": with_solution("find_bug_code", WHOLE_NETWORK)},
                            {"gradcheck_find_bug": PARTIAL},
                            ["you named dW of layer 0", "check each layer alone, on its own input"]),
}


def _tamper_tests(nb):
    # delete relative_error's test cell, rewrite numerical_gradient's, strip check_layer's metadata
    tamper_test_cells(nb, delete="gradcheck_relative_error", rewrite="gradcheck_numerical_gradient",
                      strip="gradcheck_check_layer")


NNKIT_GRADIENT = '''
from nnkit import gradcheck as gc

def numerical_gradient(f, x, h=1e-5):
    return gc.numerical_gradient(f, x, h)
'''
NNKIT_ERROR = '''
from nnkit.gradcheck import rel_error

def relative_error(a, b):
    return np.full(np.shape(a), rel_error(a, b))
'''

TAMPER = {
    # (a) nnkit's own checker inside the graded functions; a check_layer that ends its process
    "tamper_nnkit": ({
        "numerical_gradient_code": NNKIT_GRADIENT,
        "relative_error_code": NNKIT_ERROR,
        "check_layer_code": with_solution("check_layer_code",
                                          "import os\n\ndef check_layer(layer, x, rng, h=1e-5, kinks=()):\n    os._exit(1)\n"),
        "find_bug_code": with_solution("find_bug_code", '''
from nnkit.gradcheck import check_layer as _reference

def find_bug(network, X, rng):
    a = X
    for i, layer in enumerate(network):
        result = _reference(layer, np.array(a, dtype=float), rng)
        if not result.passed:
            return i, result.failed[0].name, "other"
        a, _ = layer.forward(a, True)
    return None
'''),
    }, {"gradcheck_numerical_gradient": 0.0, "gradcheck_relative_error": 0.0, "gradcheck_check_layer": 0.0,
        "gradcheck_find_bug": 0.0},
        ["called nnkit.gradcheck.numerical_gradient", "called nnkit.gradcheck.rel_error",
         "called nnkit.gradcheck.check_layer", "check_layer ended the process it ran in",
         "nnkit's own implementation of what this exercise asks you to write"]),
    # (b) a driver rewritten to read the planted answer; test cells deleted, edited and stripped of their
    #     metadata over functions that are not written (check_layer is, but calls numerical_gradient)
    "tamper_driver_and_tests": ({
        "numerical_gradient_code": h.unimplemented("numerical_gradient(f, x, h=1e-5)"),
        "relative_error_code": h.unimplemented("relative_error(a, b)"),
        "find_bug_code": with_solution("find_bug_code", '''
def run_find_bug(recipe, seed, twin=None):
    return {"answer": planted.planted_answer(recipe), "error": "", "untouched": True, "unchecked": [],
            "twin_answer": None, "twin_error": ""}
'''),
    }, {g: 0.0 for g in FULL},
        ["numerical_gradient raised NotImplementedError", "called nngrader.planted.planted_answer",
         "check_layer raised NotImplementedError"]),
}
EDITS = {"tamper_driver_and_tests": _tamper_tests}


def students():
    out = {"solution": (submission(), {}, []), "release": (release(), {g: 0.0 for g in FULL}, [])}
    for name, (over, expect, diag) in {**WRONG, **TAMPER}.items():
        out[name] = (submission(over, edit=EDITS.get(name)), expect, diag)
    # the same wrong submission twice: the grade must not depend on the run
    out["wrong_no_kinks_again"] = out["wrong_no_kinks"]
    return out


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    cases = students()
    g = h.autograde_class(tmp_path_factory.mktemp("gradcheck"), A, NB, {s: nb for s, (nb, _, _) in cases.items()},
                          list(FULL), new_course_kwargs={"assignments": [A]})
    return g.course, cases, g.scores, g.manual, g.proc


def test_solution_gets_full_marks_and_release_gets_zero(graded):
    course, cases, scores, manual, _ = graded
    for gid, pts in FULL.items():
        assert scores["solution", gid] == pts, gid
        assert scores["release", gid] == 0.0, gid
        assert not manual["solution", gid] and not manual["release", gid]


@pytest.mark.parametrize("student", list(WRONG) + list(TAMPER))
def test_points_are_lost_exactly_where_the_submission_is_broken(graded, student):
    course, cases, scores, manual, _ = graded
    _, expect, diagnoses = cases[student]
    h.assert_points(scores, manual, student, expect, FULL)
    text = feedback_text(course, student)
    for d in diagnoses:
        assert d in text, d


def test_partial_credit_is_per_case_and_per_tensor(graded):
    _, _, scores, _, _ = graded
    # round-off left in x: the gradient half of each case is right, the x half wrong (two cases have
    # nothing to restore: the float32 refusals)
    assert 1.5 <= scores["wrong_arith_restore", "gradcheck_numerical_gradient"] < 2.0
    # the kink: exactly the three ReLU cases are lost (two clean ReLUs, and a broken one whose clean
    # twin is flagged too), 20 of 23 cases stay right
    assert scores["wrong_no_kinks", "gradcheck_check_layer"] == round(4 * 20 / 23, 2)
    # the kind guessed from the layer: every location is right, so at least half of find_bug stays
    assert scores["wrong_kind_by_location", "gradcheck_find_bug"] >= 3.0


def test_same_submission_same_grade(graded):
    _, _, scores, _, _ = graded
    for gid in FULL:
        assert scores["wrong_no_kinks", gid] == scores["wrong_no_kinks_again", gid]


def test_feedback_shows_the_verdict_and_no_test_cell_writes_to_stderr(graded):
    course, cases, _, _, _ = graded
    h.assert_verdict_outputs(course, A, NB, cases, FULL)
    text = feedback_text(course, "solution")
    assert "find_bug: 4 / 4 points" in text and "Graded by running your notebook's code in a fresh process" in text


def test_solution_validates_and_release_fails_every_test(tmp_path):
    course = new_course(tmp_path)
    runs = {
        "solution": nbgrader(course, "validate", f"solutions/{A}/{NB}.ipynb", script=True, wait=False),
        "invert": nbgrader(course, "validate", "--invert", f"assignments/{A}/{NB}.ipynb", script=True, wait=False),
    }
    out = {k: p.communicate(timeout=600)[0] for k, p in runs.items()}
    assert "Success! Your notebook passes all the tests." in out["solution"], out["solution"]
    # nbgrader validate exits 0 either way; --invert reports success when no test passes
    assert "Success! The notebook does not pass any tests." in out["invert"], out["invert"]


def test_generate_assignment_reproduces_the_release_and_grade_all_grades_it(tmp_path):
    course = h.new_course(tmp_path, with_release=False, assignments=[A])
    nbgrader(course, "generate_assignment", A, "--force")
    made = (course / "assignments" / A / f"{NB}.ipynb").read_text()
    assert made == (h.ROOT / "assignments" / A / f"{NB}.ipynb").read_text()
    # nngrader.grade_all, in the grading jail: full marks for the solution, 0 for the release
    h.write_submission(course, "solution", A, NB, submission())
    h.write_submission(course, "release", A, NB, release())
    proc = h.run_grade_all(course, A)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rows = h.grades_csv(course, A)
    assert float(rows["solution"]["score"]) == sum(FULL.values()), (rows, proc.stdout[-3000:])
    assert rows["solution"]["jail"] == "bubblewrap"
    assert float(rows["release"]["score"]) == 0.0
