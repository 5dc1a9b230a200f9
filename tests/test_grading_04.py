"""End to end: assignment 04_optimizers through the real nbgrader CLI, in a copy of the course.

One ``nbgrader autograde`` run grades a class of synthetic students: the solution, the untouched
release, the classic slips of the optimizer slides (momentum applying the learning rate twice,
RMSprop averaging g instead of g**2, Adam without bias correction, Adagrad's eps inside the square
root, ...) and tampering attempts. Scores come from the gradebook, diagnoses from the feedback HTML.
"""
from functools import partial

import pytest

import grading_harness as h
from grading_harness import PARTIAL, kill_kernel_after, nbgrader, new_course, tamper_test_cells, unimplemented

A, NB = "04_optimizers", "optimizers"
FULL = {
    "optim_sgd": 1.0,
    "optim_momentum": 2.0,
    "optim_nesterov": 2.0,
    "optim_adagrad": 2.0,
    "optim_rmsprop": 2.0,
    "optim_adam": 3.0,
}
MANUAL = ["optim_q_momentum", "optim_q_adagrad", "optim_q_saddle", "optim_q_adam"]


# --- synthetic students --------------------------------------------------------------------------
solution_sources = partial(h.solution_sources, A, NB)
release = partial(h.release, A, NB)
submission = partial(h.submission, A, NB)  # submission(overrides=None, *, edit=None); written answers filled too
feedback_text = partial(h.feedback_text, assignment=A, notebook=NB)  # feedback_text(course, student)


WRONG = {
    # slip 1: the slide's momentum, v = mu*v + lr*g; w -= lr*v
    "momentum_lr_twice": ({
        "optim_momentum_solution": '''
def momentum_step(w, g, v, lr, mu):
    v_new = mu * v + lr * g
    return w - lr * v_new, v_new
''',
    }, {"optim_momentum": 0.0},
        ["momentum_step: 0 / 2 points",
         "w differs from step 1 of 20 on",
         "the learning rate is applied twice (v = mu*v + lr*g, then w - lr*v"]),
    # slip 3: the slide's RMSprop averages g itself (NaN where the average turns negative)
    "rmsprop_average_of_g": ({
        "optim_rmsprop_solution": '''
def rmsprop_step(w, g, s, lr, beta, eps):
    s_new = beta * s + (1 - beta) * g
    return w - lr * g / (np.sqrt(s_new) + eps), s_new
''',
    }, {"optim_rmsprop": 0.0},
        ["w_new: contains nan",
         "the running average must be of the *squared* gradient, s = beta*s + (1 - beta)*g**2 (slip 3"]),
    # slip 6: Adam without bias correction (the moments are still right: partial credit)
    "adam_no_bias_correction": ({
        "optim_adam_solution": '''
def adam_step(w, g, m, v, t, lr, beta1, beta2, eps):
    m = beta1 * m + (1 - beta1) * g
    v = beta2 * v + (1 - beta2) * g**2
    return w - lr * m / (np.sqrt(v) + eps), m, v
''',
    }, {"optim_adam": PARTIAL},
        ["this is Adam without bias correction (the slide's slip 6)",
         "divide m by (1 - beta1**t) and v by (1 - beta2**t) before the step"]),
    # slip 5: eps inside the square root; only the cases with a large eps notice
    "adagrad_eps_inside_root": ({
        "optim_adagrad_solution": '''
def adagrad_step(w, g, G, lr, eps):
    G_new = G + g**2
    return w - lr * g / np.sqrt(G_new + eps), G_new
''',
    }, {"optim_adagrad": PARTIAL},
        ["visible case 1 [one step, w (2,), zero state, lr=0.5, eps=1e-10]: ok",
         "eps sits inside the square root, lr*g/sqrt(G + eps)",
         "20 steps on rosenbrock from (-1.2, 1), lr=0.5, eps=0.5 (a large eps)]: FAILED"]),
    # two conventions mixed up: classical momentum (same weights, but v is -lr times the PyTorch
    # velocity) and a Nesterov that is plain momentum (right v, wrong w)
    "mixed_up_conventions": ({
        "optim_momentum_solution": '''
def momentum_step(w, g, v, lr, mu):
    v = mu * v - lr * g
    return w + v, v
''',
        "optim_nesterov_solution": '''
def nesterov_step(w, g, v, lr, mu):
    v = mu * v + g
    return w - lr * v, v
''',
    }, {"optim_momentum": PARTIAL, "optim_nesterov": PARTIAL},
        ["v differs from step 1 of 20 on",
         "this is the classical convention (v = mu*v - lr*g; w = w + v)",
         "this is plain momentum, w - lr*v", "Nesterov steps with w - lr*(g + mu*v) using the *updated* v"]),
}


def _tamper_tests(nb):
    # delete the Adam test cell, rewrite the RMSprop test cell, strip the Nesterov test cell's metadata
    tamper_test_cells(nb, delete="optim_adam", rewrite="optim_rmsprop", strip="optim_nesterov")


def _kill_cell(nb):
    # a top-level cell that kills its own kernel (and the grading sandbox), right after the SGD test
    kill_kernel_after(nb, "optim_sgd")


TAMPER = {
    # monkeypatch numpy's comparisons, the checker, nnkit's reference; return an always-equal object
    "tamper_patch": ({
        "optim_sgd_solution": '''
import numpy, nngrader, nngrader.check, nngrader.verdict, nnkit.optimizers
numpy.allclose = numpy.array_equal = lambda *a, **k: True
numpy.testing.assert_allclose = lambda *a, **k: None
nngrader.check = nngrader.check.check = check = lambda *a, **k: None
nngrader.verdict.run_check = lambda *a, **k: None
nnkit.optimizers.SGD._update = lambda self, p, g, t: None

class AlwaysRight:
    def __eq__(self, other):
        return True
    __ne__ = lambda self, other: False

def sgd_step(w, g, lr):
    return AlwaysRight()
''',
    }, {"optim_sgd": 0.0}, ["returned an object of type AlwaysRight"]),
    # deleted / edited test cells; the functions they test are not written
    "tamper_tests": ({
        "optim_nesterov_solution": unimplemented("nesterov_step(w, g, v, lr, mu)"),
        "optim_rmsprop_solution": unimplemented("rmsprop_step(w, g, s, lr, beta, eps)"),
        "optim_adam_solution": unimplemented("adam_step(w, g, m, v, t, lr, beta1, beta2, eps)"),
    }, {"optim_nesterov": 0.0, "optim_rmsprop": 0.0, "optim_adam": 0.0},
        ["rmsprop_step raised NotImplementedError", "adam_step raised NotImplementedError"]),
    # an endless loop inside a graded function
    "tamper_loop": ({
        "optim_adagrad_solution": "def adagrad_step(w, g, G, lr, eps):\n    while True:\n        pass\n",
    }, {"optim_adagrad": 0.0}, ["adagrad_step did not return within 4 s (an endless loop?)"]),
    # a function that ends its own process, and a cell that kills the kernel
    "tamper_kill": ({
        "optim_momentum_solution": "import os\ndef momentum_step(w, g, v, lr, mu):\n    os._exit(1)\n",
    }, {"optim_momentum": 0.0}, ["momentum_step ended the process it ran in"]),
    # answering with nnkit's own optimizers (one of them hiding from the profiler)
    "tamper_nnkit": ({
        "optim_sgd_solution": '''
from nnkit.optimizers import SGD
def sgd_step(w, g, lr):
    params = {"w": np.array(w, dtype=float)}
    opt = SGD(lr)
    opt.step(params, {"w": np.array(g, dtype=float)}, opt.init_state(params))
    return params["w"]
''',
        "optim_momentum_solution": '''
import sys
import nnkit.optimizers as nko
def momentum_step(w, g, v, lr, mu):
    hook = sys.getprofile()
    sys.setprofile(None)
    w_new, v_new = np.array(w, dtype=float), np.array(v, dtype=float)
    nko.Momentum(lr, mu)._update(w_new, g, 1, v_new)
    sys.setprofile(hook)
    return w_new, v_new
''',
        "optim_rmsprop_solution": '''
from nnkit.optimizers import RMSprop as _R
def rmsprop_step(w, g, s, lr, beta, eps):
    w_new, s_new = np.array(w, dtype=float), np.array(s, dtype=float)
    _R(lr, beta, eps)._update(w_new, g, 1, s_new)
    return w_new, s_new
''',
        "optim_adam_solution": '''
import nnkit
def adam_step(w, g, m, v, t, lr, beta1, beta2, eps):
    opt = nnkit.optimizers.Adam(lr, beta1, beta2, eps)
    params = {"w": np.array(w, dtype=float)}
    state = {"t": t - 1, "m": {"w": np.array(m, dtype=float)}, "v": {"w": np.array(v, dtype=float)}}
    opt.step(params, {"w": np.array(g, dtype=float)}, state)
    return params["w"], state["m"]["w"], state["v"]["w"]
''',
    }, {"optim_sgd": 0.0, "optim_momentum": 0.0, "optim_rmsprop": 0.0, "optim_adam": 0.0},
        ["nnkit.optimizers.SGD._update, nnkit's own implementation of what this exercise asks",
         "Write sgd_step yourself with NumPy", "Write adam_step yourself with NumPy",
         "called nnkit.optimizers.RMSprop._update", "called nnkit.optimizers.Optimizer.step",
         "changed the Python profiler"]),
}
EDITS = {"tamper_tests": _tamper_tests, "tamper_kill": _kill_cell}


def students():
    out = {"solution": (submission(), {}, []), "release": (release(), {g: 0.0 for g in FULL}, [])}
    for name, (over, expect, diag) in {**WRONG, **TAMPER}.items():
        out[name] = (submission(over, edit=EDITS.get(name)), expect, diag)
    # the same wrong submission twice: the grade must not depend on the run
    out["adagrad_eps_inside_root_again"] = out["adagrad_eps_inside_root"]
    return out


# --- fast: the spec on its own, in this process (no nbgrader, no sandbox) ----------------------------
def run_in_process(nb, secret="test-secret", kinds=("visible", "hidden")):
    """Exec the notebook's code cells up to the last test cell (as the sandbox does) and run every check."""
    from nngrader import specs
    from nngrader.check import _KernelRunner
    from nngrader.verdict import run_check

    ns = {"__name__": "__main__"}
    code = [c for c in nb.cells if c.cell_type == "code"]
    is_test = [bool(c.metadata.get("nbgrader", {}).get("grade")) for c in code]
    last = max(i for i, t in enumerate(is_test) if t)
    for c, t in list(zip(code, is_test))[:last]:
        if not t:
            exec(compile(c.source, "<cell>", "exec"), ns)
    out = {}
    for gid, chk in specs.load(A).items():
        out[gid] = run_check(chk, _KernelRunner({n: ns.get(n) for n in chk.names}), secret, kinds)
    return out


MORE_SLIPS = {
    # Adam's bias correction with t + 1
    "adam_t_plus_one": ("optim_adam_solution", '''
def adam_step(w, g, m, v, t, lr, beta1, beta2, eps):
    m = beta1 * m + (1 - beta1) * g
    v = beta2 * v + (1 - beta2) * g**2
    return w - lr * (m / (1 - beta1**(t + 1))) / (np.sqrt(v / (1 - beta2**(t + 1))) + eps), m, v
''', "the bias correction uses t + 1"),
    # Kingma & Ba's rearranged form (eps before the correction)
    "adam_eps_hat": ("optim_adam_solution", '''
def adam_step(w, g, m, v, t, lr, beta1, beta2, eps):
    m = beta1 * m + (1 - beta1) * g
    v = beta2 * v + (1 - beta2) * g**2
    return w - lr * np.sqrt(1 - beta2**t) / (1 - beta1**t) * m / (np.sqrt(v) + eps), m, v
''', "eps is added to sqrt(v) before the bias correction"),
    # Adagrad without the running sum
    "adagrad_no_sum": ("optim_adagrad_solution", '''
def adagrad_step(w, g, G, lr, eps):
    G = g * g
    return w - lr * g / (np.sqrt(G) + eps), G
''', "G must accumulate"),
    # Adagrad returning a wrong state while stepping correctly
    "adagrad_state": ("optim_adagrad_solution", '''
def adagrad_step(w, g, G, lr, eps):
    return w - lr * g / (np.sqrt(G + g * g) + eps), g * g
''', "w_new is right but G_new is not"),
    # RMSprop with beta and 1 - beta swapped
    "rmsprop_swapped": ("optim_rmsprop_solution", '''
def rmsprop_step(w, g, s, lr, beta, eps):
    s = (1 - beta) * s + beta * g * g
    return w - lr * g / (np.sqrt(s) + eps), s
''', "beta and 1 - beta are swapped"),
    # Nesterov with the learning rate applied twice
    "nesterov_lr_twice": ("optim_nesterov_solution", '''
def nesterov_step(w, g, v, lr, mu):
    v = mu * v + lr * g
    return w - lr * (g + mu * v), v
''', "the learning rate is applied twice (v = mu*v + lr*g)"),
    # gradient ascent
    "sgd_ascent": ("optim_sgd_solution", "def sgd_step(w, g, lr):\n    return w + lr * g\n", "you moved *up* the gradient"),
    # works only for vectors of length 2
    "sgd_two_entries": ("optim_sgd_solution",
                        "def sgd_step(w, g, lr):\n    return np.array([w[0] - lr * g[0], w[1] - lr * g[1]])\n",
                        "w_new: shape (2,), expected (3,)"),
}


@pytest.mark.parametrize("secret", ["test-secret", "another-secret", "class-secret-42"])
def test_spec_gives_the_solution_full_marks(secret):
    for gid, verdict in run_in_process(submission(), secret).items():
        assert verdict.score == FULL[gid], verdict.text()


@pytest.mark.parametrize("student", list(WRONG) + list(MORE_SLIPS))
def test_spec_names_the_slip_and_grades_only_the_broken_function(student):
    if student in WRONG:
        over, expect, diagnoses = WRONG[student]
    else:
        cell, source, diagnosis = MORE_SLIPS[student]
        over, diagnoses = {cell: source}, [diagnosis]
        expect = {cell.replace("_solution", ""): PARTIAL}
    verdicts = run_in_process(submission(over))
    for gid, pts in FULL.items():
        got, want = verdicts[gid].score, expect.get(gid, pts)
        if want == PARTIAL:
            assert got < pts, verdicts[gid].text()
        else:
            assert got == want, verdicts[gid].text()
    text = "".join(v.text() for v in verdicts.values())
    for d in diagnoses:
        assert d in text, d


# --- slow: the real nbgrader autograde of a whole class -------------------------------------------
@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    cases = students()
    g = h.autograde_class(tmp_path_factory.mktemp("optimizers"), A, NB, {s: nb for s, (nb, _, _) in cases.items()},
                          [*FULL, *MANUAL])
    return g.course, cases, g.scores, g.manual, g.proc


@pytest.mark.slow
def test_solution_gets_full_marks_and_release_gets_zero(graded):
    course, cases, scores, manual, _ = graded
    for gid, pts in FULL.items():
        assert scores["solution", gid] == pts, gid
        assert scores["release", gid] == 0.0, gid
    for gid in MANUAL:
        assert manual["solution", gid] and scores["solution", gid] is None, gid  # graded by hand
        assert scores["release", gid] == 0.0 and not manual["release", gid], gid  # left blank


@pytest.mark.slow
@pytest.mark.parametrize("student", list(WRONG) + list(TAMPER))
def test_points_are_lost_exactly_where_the_submission_is_broken(graded, student):
    course, cases, scores, manual, _ = graded
    _, expect, diagnoses = cases[student]
    h.assert_points(scores, manual, student, expect, FULL)
    text = feedback_text(course, student)
    for d in diagnoses:
        assert d in text, d


@pytest.mark.slow
def test_same_submission_same_grade(graded):
    _, _, scores, _, _ = graded
    for gid in FULL:
        assert scores["adagrad_eps_inside_root", gid] == scores["adagrad_eps_inside_root_again", gid]


@pytest.mark.slow
def test_feedback_shows_the_verdict_and_no_test_cell_writes_to_stderr(graded):
    course, cases, _, _, _ = graded
    h.assert_verdict_outputs(course, A, NB, cases, FULL)
    text = feedback_text(course, "solution")
    assert "adam_step: 3 / 3 points (10 of 10 cases passed)" in text and "run_optimizer: " not in text
    assert "Graded by running your notebook's code in a fresh process" in text


@pytest.mark.slow
def test_release_validates_inverted_and_solution_validates(tmp_path):
    course = new_course(tmp_path)
    sol = nbgrader(course, "validate", f"solutions/{A}/{NB}.ipynb", script=True)
    assert "Success! Your notebook passes all the tests." in sol.stdout, sol.stdout
    inv = nbgrader(course, "validate", "--invert", f"assignments/{A}/{NB}.ipynb", script=True)
    assert "Success! The notebook does not pass any tests." in inv.stdout, inv.stdout
    # the plain validate of the release lists every test cell and every blank written answer as failing
    rel = nbgrader(course, "validate", f"assignments/{A}/{NB}.ipynb")
    assert f"VALIDATION FAILED ON {len(FULL) + len(MANUAL)} CELL(S)!" in " ".join(rel.stdout.split()), rel.stdout
