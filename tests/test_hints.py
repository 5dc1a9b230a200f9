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
    tree = ast.parse((SPECS / f"{module}.py").read_text())
    strings = [n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)]
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
NOTHING_TO_LEAK = {"xor_why", "optim_q_momentum", "optim_q_adagrad", "optim_q_saddle"}
