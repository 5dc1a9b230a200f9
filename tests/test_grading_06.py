"""End to end: assignment 06_autodiff through the real nbgrader CLI, in a copy of the course.

One ``nbgrader autograde`` run grades a class of synthetic students: the solution, the untouched
release, engines with the classic slips (gradients assigned instead of accumulated, a recursive
topological sort, inner gradients not reset, tanh' without its square, relu' = 1 at 0, a sign
slip in the quotient rule, the loss summed instead of averaged) and tampering (nnkit's own
engine, edited test cells). The gradebook and the feedback HTML are then checked cell by cell.
"""
from functools import partial

import pytest

import grading_harness as h
from grading_harness import PARTIAL, nbgrader, tamper_test_cells

A, NB = "06_autodiff", "autodiff"
FULL = {
    "autodiff_arithmetic": 4.0,
    "autodiff_functions": 3.0,
    "autodiff_graphs": 4.0,
    "autodiff_worked_example": 1.0,
    "autodiff_neuron": 3.0,
}
MANUAL = "autodiff_design"

pytestmark = pytest.mark.slow

new_course = partial(h.new_course, assignments=[A])
release = partial(h.release, A, NB)
submission = partial(h.submission, A, NB)
feedback_text = partial(h.feedback_text, assignment=A, notebook=NB)

SOLUTION = h.solution_sources(A, NB)
VALUE, FUNCTIONS, NEURON = SOLUTION["value_code"], SOLUTION["functions_code"], SOLUTION["neuron_code"]


def edited(source: str, old: str, new: str, count: int = -1) -> str:
    assert old in source, old
    return source.replace(old, new, count)


RECURSIVE_TOPO = '''        order, seen = [], set()

        def visit(node):
            if id(node) not in seen:
                seen.add(id(node))
                for child in node._prev:
                    visit(child)
                order.append(node)

        visit(self)
'''
STACK_TOPO = VALUE[VALUE.index("        # topological order"):VALUE.index("        for node in order:")]
DIRECT_DIV = '''    def __truediv__(self, other):
        other = Value._lift(other)
        out = Value(self.data / other.data, (self, other), "/")

        def _backward():
            self.grad += out.grad / other.data
            other.grad += self.data / other.data ** 2 * out.grad

        out._backward = _backward
        return out
'''
OLD_DIV = VALUE[VALUE.index("    def __truediv__"):VALUE.index("    def __radd__")]

WRONG = {
    # "=" instead of "+=": a node used twice keeps only the last path's share
    "wrong_assign": ({"value_code": edited(edited(VALUE, "self.grad += ", "self.grad = "), "other.grad += ", "other.grad = ")},
                     {"autodiff_graphs": PARTIAL, "autodiff_neuron": 0.0},
                     ["gradients must accumulate: a node used in several places receives the sum"]),
    # a recursive topological sort: fine until the chain of 5,000 nodes
    "wrong_recursive": ({"value_code": edited(VALUE, STACK_TOPO, RECURSIVE_TOPO)}, {"autodiff_graphs": PARTIAL},
                        ["backward() raised RecursionError", "build the topological order with a loop and an explicit stack"]),
    # inner gradients kept from the previous backward()
    "wrong_no_reset": ({"value_code": edited(VALUE, "                node.grad = 0.0   # inner nodes start every sweep from zero\n",
                                             "                pass\n")},
                       {"autodiff_graphs": PARTIAL}, ["reset every inner node's .grad at the start of backward()"]),
    # tanh' = 1 - t
    "wrong_tanh": ({"functions_code": edited(FUNCTIONS, "(1 - t * t)", "(1 - t)")},
                   {"autodiff_functions": PARTIAL, "autodiff_graphs": PARTIAL},
                   ["the gradient through tanh is off: its local derivative is 1 - t^2"]),
    # relu' = 1 at exactly 0: only the hidden case at 0 notices
    "wrong_relu_at_zero": ({"functions_code": edited(FUNCTIONS, "(1.0 if self.data > 0 else 0.0)", "(1.0 if self.data >= 0 else 0.0)")},
                           {"autodiff_functions": PARTIAL}, ["relu at exactly a = 0", "0 at a = 0, as in PyTorch"]),
    # the quotient rule without its minus sign
    "wrong_div_sign": ({"value_code": edited(VALUE, OLD_DIV, DIRECT_DIV)},
                       {"autodiff_arithmetic": PARTIAL, "autodiff_graphs": PARTIAL, "autodiff_worked_example": 0.75},
                       ["the gradient through a / b is off (wrong towards b): its local derivative is d(a/b)/da = 1/b "
                        "and d(a/b)/db = -a/b^2"]),
    # the loss summed over the students instead of averaged
    "wrong_sum_loss": ({"neuron_code": edited(NEURON, "loss = total / n", "loss = total")}, {"autodiff_neuron": 0.0},
                       ["the first loss, from zero weights, is log 2 = 0.693"]),
}


def _tamper_tests(nb):
    tamper_test_cells(nb, delete="autodiff_graphs", rewrite="autodiff_arithmetic", strip="autodiff_neuron")


TAMPER = {
    # nnkit's engine under the student's name (its methods are even patched by the functions cell)
    "tamper_nnkit": ({"value_code": "from nnkit.autodiff import Value\n"}, {g: 0.0 for g in FULL},
                     ["called nnkit.autodiff.Value"]),
}
EDITS = {}


def students():
    out = {"solution": (submission(), {}, []), "release": (release(), {g: 0.0 for g in FULL}, [])}
    for name, (over, expect, diag) in {**WRONG, **TAMPER}.items():
        out[name] = (submission(over, edit=EDITS.get(name)), expect, diag)
    out["tamper_tests"] = (submission(fill=False, edit=_tamper_tests), {g: 0.0 for g in FULL}, [])
    out["wrong_tanh_again"] = out["wrong_tanh"]
    return out


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    cases = students()
    g = h.autograde_class(tmp_path_factory.mktemp("autodiff"), A, NB, {s: nb for s, (nb, _, _) in cases.items()},
                          [*FULL, MANUAL], new_course_kwargs={"assignments": [A]})
    return g.course, cases, g.scores, g.manual, g.proc


def test_solution_gets_full_marks_and_release_gets_zero(graded):
    course, cases, scores, manual, _ = graded
    for gid, pts in FULL.items():
        assert scores["solution", gid] == pts, gid
        assert scores["release", gid] == 0.0, gid
    assert manual["solution", MANUAL] and scores["solution", MANUAL] is None  # graded by hand
    assert scores["release", MANUAL] == 0.0 and not manual["release", MANUAL]  # left blank


@pytest.mark.parametrize("student", [*WRONG, *TAMPER, "tamper_tests"])
def test_points_are_lost_exactly_where_the_submission_is_broken(graded, student):
    course, cases, scores, manual, _ = graded
    _, expect, diagnoses = cases[student]
    h.assert_points(scores, manual, student, expect, FULL)
    text = feedback_text(course, student)
    for d in diagnoses:
        assert d in text, d


def test_partial_credit_counts_the_cases_each_slip_breaks(graded):
    _, _, scores, _, _ = graded
    # the recursive sort fails only the 5,000-node chain: 11 of 12 cases (and is not taken for tampering,
    # though hitting the recursion limit switches the profiler off)
    assert scores["wrong_recursive", "autodiff_graphs"] == pytest.approx(4 * 11 / 12, abs=0.01)
    # relu' at 0: in 1 of 20 cases of the functions check the gradient is wrong (its value is right)
    assert scores["wrong_relu_at_zero", "autodiff_functions"] == pytest.approx(3 * 19.5 / 20, abs=0.01)


def test_same_submission_same_grade(graded):
    _, _, scores, _, _ = graded
    for gid in FULL:
        assert scores["wrong_tanh", gid] == scores["wrong_tanh_again", gid]


def test_feedback_shows_the_verdict(graded):
    course, cases, _, _, _ = graded
    h.assert_verdict_outputs(course, A, NB, cases, FULL)
    text = feedback_text(course, "solution")
    assert "train_neuron: 3 / 3 points" in text and "Graded by running your notebook's code in a fresh process" in text


def test_solution_validates_and_release_fails_every_test(tmp_path):
    course = new_course(tmp_path)
    runs = {
        "solution": nbgrader(course, "validate", f"solutions/{A}/{NB}.ipynb", script=True, wait=False),
        "invert": nbgrader(course, "validate", "--invert", f"assignments/{A}/{NB}.ipynb", script=True, wait=False),
    }
    out = {k: p.communicate(timeout=600)[0] for k, p in runs.items()}
    assert "Success! Your notebook passes all the tests." in out["solution"], out["solution"]
    assert "Success! The notebook does not pass any tests." in out["invert"], out["invert"]


def test_grade_all_gives_the_solution_full_marks_and_the_release_zero(tmp_path):
    course = new_course(tmp_path)
    nbgrader(course, "generate_assignment", A, "--force")
    h.write_submission(course, "solution", A, NB, submission())
    h.write_submission(course, "release", A, NB, release())
    proc = h.run_grade_all(course, A)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rows = h.grades_csv(course, A)
    assert float(rows["solution"]["score"]) == sum(FULL.values()) and rows["solution"]["jail"] == "bubblewrap"
    assert float(rows["release"]["score"]) == 0.0
