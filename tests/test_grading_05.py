"""Assignment 05_training: the spec's judges in-process (fast), then the real nbgrader CLI (slow).

Fast tests call the judges of ``nngrader/specs/05_training.py`` directly: the solution's functions
pass every visible and hidden case, and the classic slips (He's variance used as the standard
deviation, fan-out for fan-in, dropout scaled by p_drop, a batch-norm backward without the mean
term, ...) fail with their diagnosis. The statistical initialization checks are run over many
seeds so that no right answer fails and no wrong formula passes by luck.

The end-to-end tests grade a class of synthetic students in ONE ``nbgrader autograde`` run: the
solution, the untouched release, plausible wrong answers, tampering attempts. Scores come from the
gradebook, diagnoses from the generated feedback HTML.
"""
from functools import partial
from importlib import import_module

import nbformat
import numpy as np
import pytest

import grading_harness as h
from grading_harness import PARTIAL, ROOT, kill_kernel_after, tamper_test_cells, unimplemented

A, NB = "05_training", "training"
FULL = {
    "training_l2_grad": 2.0,
    "training_l1_grad": 2.0,
    "training_dropout_forward": 2.0,
    "training_dropout_backward": 1.0,
    "training_batchnorm_forward": 2.0,
    "training_batchnorm_backward": 3.0,
    "training_xavier_uniform": 2.0,
    "training_he_normal": 2.0,
    "training_early_stopping": 2.0,
    "training_train_digits": 4.0,
}
SECRET = "nngrader-default-secret"

solution_sources = partial(h.solution_sources, A, NB)
release = partial(h.release, A, NB)
submission = partial(h.submission, A, NB)  # submission(overrides=None, *, edit=None)
feedback_text = partial(h.feedback_text, assignment=A, notebook=NB)  # feedback_text(course, student)
from nngrader.specs import RNG, Case  # noqa: E402

spec = import_module("nngrader.specs.05_training")
init_spec = import_module("nngrader.specs.05_training.initialization")
es_spec = import_module("nngrader.specs.05_training.early_stopping")
digits_spec = import_module("nngrader.specs.05_training.digits")


# --- the notebook's code ------------------------------------------------------------------------
def setup_source():
    nb = nbformat.read(ROOT / "solutions" / A / f"{NB}.ipynb", as_version=4)
    return next(c.source for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "setup")


def namespace(overrides=None):
    """The solution's functions (some replaced by ``overrides``), defined as the notebook defines them."""
    ns = {}
    exec(setup_source(), ns)
    for src in {**solution_sources(), **(overrides or {})}.values():
        exec(src, ns)
    return ns


def verdict(grade_id, ns, kinds=("visible", "hidden")):
    """The check's verdict with the functions of ``ns`` called in this process (as the kernel's check() does)."""
    from nngrader import specs
    from nngrader.check import _KernelRunner
    from nngrader.verdict import run_check

    return run_check(specs.find(grade_id), _KernelRunner(ns), SECRET, kinds)


# --- fast: the spec's judges ---------------------------------------------------------------------
def test_spec_matches_the_notebook_cells():
    from nngrader import specs

    checks = specs.load(A)
    assert {gid: c.points for gid, c in checks.items()} == FULL
    nb = nbformat.read(ROOT / "solutions" / A / f"{NB}.ipynb", as_version=4)
    cells = {c.metadata.nbgrader["grade_id"]: c for c in nb.cells
             if c.get("metadata", {}).get("nbgrader", {}).get("grade") and c.cell_type == "code"}
    assert {gid: float(c.metadata.nbgrader["points"]) for gid, c in cells.items()} == FULL
    for gid, c in cells.items():
        assert f'check("{gid}"' in c.source and "### BEGIN HIDDEN TESTS" in c.source
    for c in nb.cells:
        assert c.get("outputs", []) == [] and c.get("execution_count") is None


@pytest.mark.parametrize("grade_id", [g for g in FULL if g != "training_train_digits"])
def test_solution_passes_every_case(grade_id):
    v = verdict(grade_id, namespace())
    assert v.score == v.points, v.text()


def _stats_cases(rng_seeds):
    """The statistical initialization cases for many seeds (the hidden shapes and the visible one)."""
    shapes = init_spec.STAT_SHAPES_VISIBLE + [(100, 600), (256, 256), (700, 90)]
    return [Case((s, RNG(seed)), label="", expect="stats") for s in shapes for seed in rng_seeds]


def _draw(fn, case):
    shape, r = case.args
    return fn(shape, np.random.default_rng(r.seed))


def test_right_initializers_never_fail_the_statistics():
    ns = namespace()
    for kind, fn in (("xavier", ns["xavier_uniform"]), ("he", ns["he_normal"])):
        judge = init_spec.init_judge(kind)
        for case in _stats_cases(range(40)):
            parts = judge(case, _draw(fn, case))
            assert all(p.ok for p in parts), (kind, case.args, [p.message for p in parts if not p.ok])


WRONG_HE = {
    "std = 2 / fan_in (the variance used as std)": lambda s, r: r.normal(0, 2 / s[0], size=s),
    "fan_out instead of fan_in": lambda s, r: r.normal(0, np.sqrt(2 / s[1]), size=s),
    "Xavier's variance": lambda s, r: r.normal(0, np.sqrt(2 / (s[0] + s[1])), size=s),
    "LeCun 1 / fan_in": lambda s, r: r.normal(0, np.sqrt(1 / s[0]), size=s),
    "uniform with He's variance": lambda s, r: r.uniform(-np.sqrt(6 / s[0]), np.sqrt(6 / s[0]), size=s),
    "std sqrt(2 / n^2)": lambda s, r: r.normal(0, np.sqrt(2 / s[0] ** 2), size=s),
}
WRONG_XAVIER = {
    "r = sqrt(2 / (fan_in + fan_out))": lambda s, r: r.uniform(-np.sqrt(2 / sum(s)), np.sqrt(2 / sum(s)), size=s),
    "r = sqrt(3 / (fan_in + fan_out))": lambda s, r: r.uniform(-np.sqrt(3 / sum(s)), np.sqrt(3 / sum(s)), size=s),
    "He's radius sqrt(6 / fan_in)": lambda s, r: r.uniform(-np.sqrt(6 / s[0]), np.sqrt(6 / s[0]), size=s),
    "normal with Xavier's variance": lambda s, r: r.normal(0, np.sqrt(2 / sum(s)), size=s),
    "fan_in only: r = sqrt(6 / (2 fan_in))": lambda s, r: r.uniform(-np.sqrt(3 / s[0]), np.sqrt(3 / s[0]), size=s),
}


@pytest.mark.parametrize("kind, name", [("he", n) for n in WRONG_HE] + [("xavier", n) for n in WRONG_XAVIER])
def test_wrong_initializer_formulas_never_pass(kind, name):
    """Every wrong formula fails some statistical part of every large non-square draw, whatever the seed.

    On a square shape fan_in = fan_out, so a fan-in/fan-out mix-up cannot show there; the
    non-square shapes catch it.
    """
    fn = (WRONG_HE if kind == "he" else WRONG_XAVIER)[name]
    judge = init_spec.init_judge(kind)
    for case in _stats_cases(range(25)):
        shape = case.args[0]
        if shape[0] == shape[1] and name in ("fan_out instead of fan_in", "fan_in only: r = sqrt(6 / (2 fan_in))"):
            continue
        parts = judge(case, _draw(fn, case))
        assert not all(p.ok for p in parts), (name, shape)


def test_initializer_diagnoses_name_the_slip():
    he = verdict("training_he_normal", namespace({"he_normal_solution": "def he_normal(shape, rng):\n"
                                                  "    return rng.normal(0.0, 2.0 / shape[0], size=shape)\n"}))
    assert 0 < he.score < he.points
    assert "you used the variance as the standard deviation" in he.text()
    fan = verdict("training_he_normal", namespace({"he_normal_solution": "def he_normal(shape, rng):\n"
                                                   "    return rng.normal(0.0, np.sqrt(2.0 / shape[1]), size=shape)\n"}))
    assert "fan_in is shape[0]" in fan.text()
    xav = verdict("training_xavier_uniform", namespace({"xavier_uniform_solution": "def xavier_uniform(shape, rng):\n"
                                                        "    r = np.sqrt(2.0 / sum(shape))\n"
                                                        "    return rng.uniform(-r, r, size=shape)\n"}))
    assert "U(-r, r) has variance r^2 / 3" in xav.text()


def test_dropout_scalings_are_diagnosed():
    no_scale = namespace({"dropout_forward_solution": '''
def dropout_forward(x, p_drop, rng=None, training=True, mask=None):
    if not training:
        return x, None
    if mask is None:
        mask = rng.random(x.shape) >= p_drop
    return x * mask, mask
'''})
    v = verdict("training_dropout_forward", no_scale)
    assert 0 < v.score < v.points and "kept entries are not scaled at all" in v.text()
    keep_prob = namespace({"dropout_forward_solution": '''
def dropout_forward(x, p_drop, rng=None, training=True, mask=None):
    if not training:
        return x, None
    if mask is None:
        mask = rng.random(x.shape) < p_drop          # p_drop read as the keep probability
    return x * mask / (1.0 - p_drop), mask
'''})
    v = verdict("training_dropout_forward", keep_prob)
    assert 0 < v.score < v.points and "p_drop is the probability of DROPPING an entry" in v.text()


def test_batchnorm_slips_are_diagnosed():
    v = verdict("training_batchnorm_forward", namespace({"batchnorm_forward_solution": '''
def batchnorm_forward(x, gamma, beta, eps=1e-5):
    return gamma * (x - x.mean(0)) / (x.std(0) + eps) + beta
'''}))
    assert "eps goes inside the square root" in v.text()
    v = verdict("training_batchnorm_backward", namespace({"batchnorm_backward_solution": '''
def batchnorm_backward(dout, x, gamma, eps=1e-5):
    inv_std = 1.0 / np.sqrt(x.var(axis=0) + eps)
    x_hat = (x - x.mean(axis=0)) * inv_std
    return dout * gamma * inv_std, (dout * x_hat).sum(axis=0), dout.sum(axis=0)
'''}))
    # dgamma and dbeta right, dx wrong: two thirds of every case
    assert v.score == pytest.approx(2.0, abs=0.01) and "mu and var were treated as constants" in v.text()


def test_l1_zero_weights_and_unpenalised_biases():
    v = verdict("training_l1_grad", namespace({"l1_grad_solution": '''
def l1_grad(params, lam):
    return {k: (lam * np.where(w >= 0, 1.0, -1.0) if k.startswith("W") else np.zeros_like(w)) for k, w in params.items()}
'''}))
    assert 0 < v.score < v.points and "the convention is sign(0) = 0" in v.text()
    v = verdict("training_l2_grad", namespace({"l2_grad_solution": '''
def l2_grad(params, lam):
    return {k: lam * w for k, w in params.items()}
'''}))
    assert 0 < v.score < v.points and "db1: should be all zeros" in v.text()


def test_early_stopping_reference_semantics():
    ref = es_spec._es_reference
    assert ref([1.0, 0.7, 0.8, 0.9, 0.6], 2, 0.0) == (3, 1)
    assert ref([0.5, 0.5, 0.5], 2, 0.0) == (2, 0)  # ties are no improvement
    assert ref([0.9, 0.8], 3, 0.0) == (None, 1)
    assert ref([1.0, 0.995, 0.99, 0.98], 2, 0.01) == (2, 0)


def test_accuracy_scale():
    y = np.arange(200) % 10
    case = Case((), expect=y)

    def fraction(n_wrong):
        pred = y.copy()
        pred[:n_wrong] = (pred[:n_wrong] + 1) % 10
        parts = digits_spec.train_judge(case, pred)
        return sum(p.ok for p in parts) / len(parts)

    assert fraction(0) == 1 and fraction(10) == 1          # 95 %: full
    assert fraction(11) == pytest.approx(14 / 15)          # 94.5 %
    assert fraction(20) == pytest.approx(10 / 15)          # 90 %
    assert fraction(40) == 0 and fraction(41) == 0         # 80 % and below
    pred = y.copy()
    pred[:20] = (pred[:20] + 1) % 10
    assert "test accuracy 90.0% (180 of 200)" in " ".join(p.message for p in digits_spec.train_judge(case, pred))
    wrong_shape = digits_spec.train_judge(case, np.zeros((200, 10)))
    assert not wrong_shape[0].ok and "argmax over axis 1" in wrong_shape[0].message


# --- slow: real nbgrader -------------------------------------------------------------------------
UNDERTRAINED = '''
def train_digits(X_train, y_train, X_val, y_val, X_test, rng):
    # three passes of plain SGD over a small network: stops far too early
    W1 = he_normal((64, 32), rng); b1 = np.zeros(32)
    W2 = he_normal((32, 10), rng); b2 = np.zeros(10)
    for epoch in range(3):
        for start in range(0, len(X_train), 32):
            X, y = X_train[start:start + 32], y_train[start:start + 32]
            z1 = X @ W1 + b1
            h = np.maximum(z1, 0.0)
            _, d = softmax_cross_entropy_value_and_grad(h @ W2 + b2, y)
            dz1 = (d @ W2.T) * (z1 > 0)
            W2 -= 0.1 * h.T @ d; b2 -= 0.1 * d.sum(0)
            W1 -= 0.1 * X.T @ dz1; b1 -= 0.1 * dz1.sum(0)
    return (np.maximum(X_test @ W1 + b1, 0.0) @ W2 + b2).argmax(axis=1)
'''

WRONG = {
    # slip 19: kept units multiplied by p_drop instead of divided by 1 - p_drop, in both passes; the
    # network trained with it is evaluated without the factor, so the digits task suffers too
    "dropout_times_p": ({
        "dropout_forward_solution": '''
def dropout_forward(x, p_drop, rng=None, training=True, mask=None):
    if not training:
        return x, None
    if mask is None:
        mask = rng.random(x.shape) >= p_drop
    return x * mask * p_drop, mask
''',
        "dropout_backward_solution": "def dropout_backward(dout, mask, p_drop):\n    return dout * mask * p_drop\n",
    }, {"training_dropout_forward": PARTIAL, "training_dropout_backward": 0.0, "training_train_digits": PARTIAL},
        ["kept entries are multiplied by p_drop; inverted dropout divides them by the keep probability",
         "the gradients of kept entries are multiplied by p_drop", "test accuracy"]),
    # the path through the batch mean is forgotten
    "batchnorm_no_mean_term": ({
        "batchnorm_backward_solution": '''
def batchnorm_backward(dout, x, gamma, eps=1e-5):
    inv_std = 1.0 / np.sqrt(x.var(axis=0) + eps)
    x_hat = (x - x.mean(axis=0)) * inv_std
    g = dout * gamma
    dx = inv_std * (g - x_hat * (g * x_hat).mean(axis=0))
    return dx, (dout * x_hat).sum(axis=0), dout.sum(axis=0)
''',
    }, {"training_batchnorm_backward": PARTIAL},
        ["the term -mean(dout * gamma) is missing: mu depends on every sample of the batch"]),
    # the unbiased variance in the forward pass (the backward is right and keeps its points)
    "batchnorm_unbiased": ({
        "batchnorm_forward_solution": '''
def batchnorm_forward(x, gamma, beta, eps=1e-5):
    return gamma * (x - x.mean(axis=0)) / np.sqrt(x.var(axis=0, ddof=1) + eps) + beta
''',
    }, {"training_batchnorm_forward": 0.0},
        ["you divided by the unbiased variance (N - 1)"]),
    # slip 15: 2 / fan_in used as the standard deviation
    "he_std_is_variance": ({
        "he_normal_solution": "def he_normal(shape, rng):\n    return rng.normal(0.0, 2.0 / shape[0], size=shape)\n",
    }, {"training_he_normal": PARTIAL},
        ["you used the variance as the standard deviation: std = sqrt(variance)"]),
    # the 1/2 of the penalty kept in the gradient
    "l2_half": ({
        "l2_grad_solution": '''
def l2_grad(params, lam):
    return {k: (lam / 2 * w if k.startswith("W") else np.zeros_like(w)) for k, w in params.items()}
''',
    }, {"training_l2_grad": PARTIAL},
        ["yours is lam/2 * w, half the right value"]),
    # stops one epoch late: waited > patience
    "early_stopping_late": ({
        "early_stopping_solution": '''
def early_stopping(val_losses, patience, min_delta=0.0):
    best, best_epoch, waited = None, None, 0
    for epoch, loss in enumerate(val_losses):
        if best is None or loss < best - min_delta:
            best, best_epoch, waited = loss, epoch, 0
        else:
            waited += 1
            if waited > patience:
                return epoch, best_epoch
    return None, best_epoch
''',
    }, {"training_early_stopping": PARTIAL},
        ["your function behaves as if patience were 3: it waits one epoch too long"]),
    # a network that stops learning far too early: between 80 % and 95 %
    "undertrained": ({"train_digits_solution": UNDERTRAINED}, {"training_train_digits": PARTIAL},
                     ["full credit from 95%, none below 80%"]),
}


def _tamper_tests(nb):
    # (b) delete the xavier test cell, rewrite the batchnorm_forward one, strip the l1 one's metadata
    tamper_test_cells(nb, delete="training_xavier_uniform", rewrite="training_batchnorm_forward", strip="training_l1_grad")


def _kill_cell(nb):
    # (d) a top-level cell that kills its own kernel, right after the dropout_forward test
    kill_kernel_after(nb, "training_dropout_forward")


TAMPER = {
    # (a) monkeypatch numpy, the checker and nnkit's reference; return an object equal to anything
    "tamper_patch": ({
        "batchnorm_forward_solution": '''
import numpy, nngrader, nngrader.check, nngrader.verdict, nnkit.normalization
numpy.allclose = numpy.array_equal = lambda *a, **k: True
numpy.testing.assert_allclose = lambda *a, **k: None
nngrader.check = nngrader.check.check = check = lambda *a, **k: None
nngrader.verdict.run_check = lambda *a, **k: None
nnkit.normalization.batchnorm_forward = lambda x, *a, **k: (x, None, None, None)

class AlwaysRight:
    def __eq__(self, other):
        return True
    __ne__ = lambda self, other: False

def batchnorm_forward(x, gamma, beta, eps=1e-5):
    return AlwaysRight()
''',
    }, {"training_batchnorm_forward": 0.0}, ["returned an object of type AlwaysRight"]),
    # (b) deleted / edited test cells; the functions they test are not written
    "tamper_tests": ({
        "xavier_uniform_solution": unimplemented("xavier_uniform(shape, rng)"),
        "batchnorm_forward_solution": unimplemented("batchnorm_forward(x, gamma, beta, eps=1e-5)"),
        "l1_grad_solution": unimplemented("l1_grad(params, lam)"),
    }, {"training_xavier_uniform": 0.0, "training_batchnorm_forward": 0.0, "training_l1_grad": 0.0},
        ["batchnorm_forward raised NotImplementedError", "xavier_uniform raised NotImplementedError"]),
    # (c) an endless loop inside a graded function
    "tamper_loop": ({
        "batchnorm_backward_solution": "def batchnorm_backward(dout, x, gamma, eps=1e-5):\n    while True:\n        pass\n",
    }, {"training_batchnorm_backward": 0.0}, ["batchnorm_backward did not return within 4 s (an endless loop?)"]),
    # (d) a function that ends its own process, and a cell that kills the kernel
    "tamper_kill": ({
        "l1_grad_solution": "import os\ndef l1_grad(params, lam):\n    os._exit(1)\n",
    }, {"training_l1_grad": 0.0}, ["l1_grad ended the process it ran in"]),
    # (e) nnkit's own implementations, a numerical gradient, and a call hidden from the profiler
    "tamper_nnkit": ({
        "l2_grad_solution": "from nnkit.regularization import l2_grad\n",
        "dropout_forward_solution": '''
import nnkit.layers
def dropout_forward(x, p_drop, rng=None, training=True, mask=None):
    if not training:
        return x, None
    if mask is None:
        mask = rng.random(x.shape) >= p_drop
    return nnkit.layers.dropout_forward(x, p_drop, mask=mask)[0], mask
''',
        "batchnorm_backward_solution": '''
from nnkit.gradcheck import numerical_gradient_array
def batchnorm_backward(dout, x, gamma, eps=1e-5):
    beta = np.zeros_like(gamma)
    dx = numerical_gradient_array(lambda z: batchnorm_forward(z, gamma, beta, eps), x.copy(), dout)
    x_hat = (x - x.mean(axis=0)) / np.sqrt(x.var(axis=0) + eps)
    return dx, (dout * x_hat).sum(axis=0), dout.sum(axis=0)
''',
        "he_normal_solution": "from nnkit import initializers\nhe_normal = lambda shape, rng: initializers.he_normal(shape, rng)\n",
        "early_stopping_solution": '''
import sys
from nnkit.regularization import EarlyStopping
def early_stopping(val_losses, patience, min_delta=0.0):
    hook = sys.getprofile()
    sys.setprofile(None)
    es = EarlyStopping(patience, min_delta=min_delta)
    stop = None
    for epoch, loss in enumerate(val_losses):
        if es.update(loss, {}, epoch):
            stop = epoch
            break
    sys.setprofile(hook)
    return stop, es.best_epoch
''',
        "train_digits_solution": '''
from nnkit.model import MLP
from nnkit.optimizers import SGD
from nnkit.training import fit
def train_digits(X_train, y_train, X_val, y_val, X_test, rng):
    model = MLP([64, 128, 10], rng=rng)
    fit(model, X_train, y_train, loss="softmax_cross_entropy", optimizer=SGD(0.1), epochs=30,
        batch_size=32, rng=rng, progress=False)
    return model.predict(X_test).argmax(axis=1)
''',
    }, {"training_l2_grad": 0.0, "training_dropout_forward": 0.0, "training_batchnorm_backward": 0.0,
        "training_he_normal": 0.0, "training_early_stopping": 0.0, "training_train_digits": 0.0},
        ["called nnkit.regularization.l2_grad, nnkit's own implementation", "called nnkit.layers.dropout_forward",
         "called nnkit.gradcheck.numerical_gradient_array", "called nnkit.initializers.he_normal",
         "changed the Python profiler", "nnkit.training.fit"]),
}
EDITS = {"tamper_tests": _tamper_tests, "tamper_kill": _kill_cell}


def students():
    out = {"solution": (submission(), {}, []), "release": (release(), {g: 0.0 for g in FULL}, [])}
    for name, (over, expect, diag) in {**WRONG, **TAMPER}.items():
        out[name] = (submission(over, edit=EDITS.get(name)), expect, diag)
    return out


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    cases = students()
    g = h.autograde_class(tmp_path_factory.mktemp("a05"), A, NB, {s: nb for s, (nb, _, _) in cases.items()}, FULL)
    return g.course, cases, g.scores, g.manual, g.proc


@pytest.mark.slow
def test_solution_gets_full_marks_and_release_gets_zero(graded):
    _, _, scores, manual, _ = graded
    h.assert_points(scores, manual, "solution", {}, FULL)
    h.assert_points(scores, manual, "release", {g: 0.0 for g in FULL}, FULL)


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
def test_feedback_shows_verdicts_and_no_test_cell_writes_to_stderr(graded):
    course, cases, _, _, _ = graded
    h.assert_verdict_outputs(course, A, NB, cases, FULL)
    text = feedback_text(course, "solution")
    assert "train_digits: 4 / 4 points" in text and "batchnorm_backward: 3 / 3 points" in text


@pytest.mark.slow
def test_release_validates_inverted_and_solution_validates(tmp_path):
    course = h.new_course(tmp_path)
    sol = h.nbgrader(course, "validate", f"solutions/{A}/{NB}.ipynb", script=True)
    assert "Success! Your notebook passes all the tests." in sol.stdout, sol.stdout
    inv = h.nbgrader(course, "validate", "--invert", f"assignments/{A}/{NB}.ipynb", script=True)
    assert "Success! The notebook does not pass any tests." in inv.stdout, inv.stdout
    rel = h.nbgrader(course, "validate", f"assignments/{A}/{NB}.ipynb")
    assert f"VALIDATION FAILED ON {len(FULL)} CELL(S)!" in " ".join(rel.stdout.split()), rel.stdout
