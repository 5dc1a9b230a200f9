"""Assignment 05_training's judges, called in this process (fast: no nbgrader, no sandbox).

The solution's functions pass every visible and hidden case, and the classic slips (He's variance
used as the standard deviation, fan-out for fan-in, dropout scaled by p_drop, a batch-norm backward
without the mean term, ...) fail with their diagnosis. The statistical initialization checks are
run over many seeds so that no right answer fails and no wrong formula passes by luck. The real
nbgrader run of the class is in ``test_grading_end_to_end.py`` (students in ``grading_cases/a05_training.py``).
"""
from functools import partial
from importlib import import_module

import nbformat
import numpy as np
import pytest

import grading_harness as h
from grading_harness import ROOT
from nngrader.specs import RNG, Case

A, NB = "05_training", "training"
FULL = h.full_points(A)
SECRET = "nngrader-default-secret"

solution_sources = partial(h.solution_sources, A, NB)

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

    nb = nbformat.read(ROOT / "solutions" / A / f"{NB}.ipynb", as_version=4)
    cells = {c.metadata.nbgrader["grade_id"]: c for c in nb.cells
             if c.get("metadata", {}).get("nbgrader", {}).get("grade") and c.cell_type == "code"}
    assert set(cells) == set(specs.load(A))  # one test cell per check
    assert {gid: float(c.metadata.nbgrader["points"]) for gid, c in cells.items()} == FULL  # the spec's points
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
