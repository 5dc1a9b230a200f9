"""No hint of the autograder answers a question graded by hand.

Each written question of the course is listed with the fragments of its answer that a hint could
give away. No message a spec can produce (every string literal of its module, f-strings included)
may contain them.
Before this test: 02's hint for the output-error slip spelled out the squared loss's output
error, 02's sigmoid hints gave sigma'(z), 03's tanh hint gave tanh'(z), and 04's Adam hint gave
the size of the uncorrected first step that Question 4 asks for.
"""
import ast
from pathlib import Path

import pytest

SPECS = Path(__file__).resolve().parents[1] / "nngrader" / "specs"

# (spec module, question's grade_id, fragments of its answer)
ANSWERS = [
    ("02_three_layer", "three_layer_derivation", [
        "a3 (1 - a3)", "sigma(z3) (1 - sigma(z3))", "sigma(z2) (1 - sigma(z2))", "(1 - sigma(z))",
        "leaving a3 - y", "keeps the factor sigma'(z3)"]),
    ("03_two_layer", "twolayer_derivation", ["1 - tanh(z)^2", "1 - tanh(z)**2", "1 - a1**2", "1 - a1^2"]),
    ("04_optimizers", "optim_q_adam", ["3.2 times", "3.16", "about 3.2"]),
]


@pytest.mark.parametrize("module, question, fragments", ANSWERS, ids=[a[1] for a in ANSWERS])
def test_no_hint_answers_a_question_graded_by_hand(module, question, fragments):
    files = [SPECS / f"{module}.py"] if (SPECS / f"{module}.py").exists() else sorted((SPECS / module).glob("*.py"))
    strings = [n.value for f in files for n in ast.walk(ast.parse(f.read_text()))
               if isinstance(n, ast.Constant) and isinstance(n.value, str)]
    text = "\n".join(strings)  # adjacent literals are joined by the parser, so a split phrase is whole
    leaked = [f for f in fragments if f in text]
    assert not leaked, f"{module} gives away part of the answer to {question}: {leaked}"


def test_every_written_question_is_listed():
    import json

    root = SPECS.parents[1] / "solutions"
    listed = {q for _, q, _ in ANSWERS}
    for nb_path in root.glob("*/*.ipynb"):
        for cell in json.loads(nb_path.read_text())["cells"]:
            meta = cell["metadata"].get("nbgrader", {})
            if cell["cell_type"] == "markdown" and meta.get("grade") and meta["grade_id"] not in listed:
                # questions whose answers no hint comes near are listed here, with an empty list
                assert meta["grade_id"] in NOTHING_TO_LEAK, f"{nb_path.name}: list {meta['grade_id']} in ANSWERS"


# Written questions that no autograded check touches: their answers cannot appear in a hint.
NOTHING_TO_LEAK = {"xor_why", "optim_q_momentum", "optim_q_adagrad", "optim_q_saddle", "autodiff_design"}


# --- hints are earned: a wrong answer that is no known slip gets no named cause ----------------------
# Words that name a specific mistake; a cause with one of them must have been confirmed numerically.
NAMED = ("it matches", "times the", "1/N", "transpose", "wrong sign", "summed over", "written as",
         "is missing", "constant factor", "that is sigmoid", "that is tanh")


def _perturbed(value, rng):
    """The right answer made wrong in no systematic way: 5% multiplicative noise plus a little more."""
    import numpy as np

    if isinstance(value, (bool, int, np.integer)):
        return value
    if isinstance(value, (float, np.floating)):
        return float(value) * (1 + 0.05 * rng.uniform(-1, 1)) + 0.01 * rng.uniform(-1, 1)
    if isinstance(value, np.ndarray):
        if value.dtype.kind != "f":
            return value
        return value * (1 + 0.05 * rng.uniform(-1, 1, value.shape)) + 0.01 * rng.uniform(-1, 1, value.shape)
    if isinstance(value, dict):
        return {k: _perturbed(v, rng) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_perturbed(v, rng) for v in value)
    return value


def _solution_namespace(assignment):
    import contextlib
    import io

    import nbformat

    import grading_harness as h

    path = next((h.ROOT / "solutions" / assignment).glob("*.ipynb"))
    ns = {}
    with contextlib.redirect_stdout(io.StringIO()):  # the notebooks' locked demo cells print
        for cell in nbformat.read(path, as_version=4).cells:
            meta = cell.metadata.get("nbgrader", {})
            if cell.cell_type == "code" and not meta.get("grade") and (meta.get("locked") or meta.get("solution")):
                exec(h._MARKER.sub("", cell.source), ns)
    return ns


def _all_checks():
    from nngrader import specs

    return [(a, gid) for a in specs.assignments() for gid in specs.load(a)]


@pytest.mark.parametrize("assignment, grade_id", _all_checks())
def test_a_wrong_answer_that_is_no_known_slip_gets_no_named_cause(assignment, grade_id):
    import numpy as np

    from nngrader import specs
    from nngrader.check import _KernelRunner
    from nngrader.verdict import run_check

    chk = specs.load(assignment)[grade_id]
    ns = _solution_namespace(assignment)
    rng = np.random.default_rng(0)
    wrong = dict(ns)
    for name in chk.names:
        f = ns.get(name)
        # the graded functions, or the helper that reports a class's results (06's run_graph)
        if callable(f) and not isinstance(f, type):
            wrong[name] = (lambda f: lambda *a, **k: _perturbed(f(*a, **k), rng))(f)
    v = run_check(chk, _KernelRunner(wrong), "a secret")
    named = [c.text for c in v.causes() if any(w in c.text for w in NAMED)]
    assert not named, named
