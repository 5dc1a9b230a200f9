"""Assignment 06_autodiff's synthetic students (data for ``tests/test_grading_end_to_end.py``).

Engines with the classic slips (gradients assigned instead of accumulated, a recursive
topological sort, inner gradients not reset, tanh' without its square, relu' = 1 at 0, a sign
slip in the quotient rule, the loss summed instead of averaged) and tampering (nnkit's own
engine, edited test cells); see ``grading_cases/__init__.py``.
"""
from functools import partial

import grading_harness as h
from grading_harness import EVERY_CELL, PARTIAL, UNANSWERED, edited, tamper_test_cells

A, NB = "06_autodiff", "autodiff"
MANUAL = ["autodiff_design"]
AGAIN = "wrong_tanh"
SOLUTION_FEEDBACK = ["train_neuron: 3 / 3 points"]

SOLUTION = h.solution_sources(A, NB)
VALUE, FUNCTIONS, NEURON = SOLUTION["value_code"], SOLUTION["functions_code"], SOLUTION["neuron_code"]


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


TAMPER = {
    # nnkit's engine under the student's name (its methods are even patched by the functions cell)
    "tamper_nnkit": ({"value_code": "from nnkit.autodiff import Value\n"}, {EVERY_CELL: 0.0},
                     ["called nnkit.autodiff.Value"]),
    # deleted / edited / stripped test cells in the untouched release: nothing is written
    "tamper_tests": (UNANSWERED, {EVERY_CELL: 0.0}, [],
                     partial(tamper_test_cells, delete="autodiff_graphs", rewrite="autodiff_arithmetic",
                             strip="autodiff_neuron")),
}
