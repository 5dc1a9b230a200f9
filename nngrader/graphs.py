"""Computation graphs described as data, built with any scalar ``Value`` class.

Assignment 06 grades a student's ``Value`` class (a scalar reverse-mode autodiff engine) in the
grading sandbox, where only data crosses the boundary. So a graph travels as a *program*: a list
of instructions, each a tuple that appends one node to a list that starts with the inputs::

    ("add", i, j)    nodes[i] + nodes[j]        ("sub", "mul", "div" alike)
    ("pow", i, k)    nodes[i] ** k              (k a number)
    ("neg", i)       -nodes[i]
    ("exp", i)       nodes[i].exp()             ("log", "tanh", "sigmoid", "relu" alike)
    ("cadd", c, i)   c + nodes[i]               a plain number on the left: __radd__
                                                ("csub", "cmul", "cdiv" alike)
    ("addc", i, c)   nodes[i] + c               a plain number on the right
                                                ("subc", "mulc", "divc" alike)
    ("chain", i, k, a, c)                       k times: x = x * a, then x = x + c, starting
                                                from nodes[i] (2k nodes: a deep graph sent
                                                as one instruction)

The last node is the output. :func:`run` builds the graph with the ``Value`` class it is given
(the student's in the notebook, ``nnkit.autodiff.Value`` for the expected answer), calls
``backward()`` on the output, and reads the inputs' gradients. With ``sweeps > 1`` it calls
``backward()`` again on the *same* graph, after setting the inputs' ``.grad`` to 0: a correct
engine then gives the same gradients every time.

The notebook's locked ``run_graph`` cell is a one-line call of :func:`run` with the student's
class; the spec calls it with nnkit's.
"""
from __future__ import annotations

import sys

__all__ = ["BINARY", "UNARY", "CONST_LEFT", "CONST_RIGHT", "OPS", "build", "run"]

BINARY = {"add": lambda a, b: a + b, "sub": lambda a, b: a - b, "mul": lambda a, b: a * b,
          "div": lambda a, b: a / b}
UNARY = {"neg": lambda a: -a, "exp": lambda a: a.exp(), "log": lambda a: a.log(), "tanh": lambda a: a.tanh(),
         "sigmoid": lambda a: a.sigmoid(), "relu": lambda a: a.relu()}
CONST_LEFT = {"cadd": lambda c, a: c + a, "csub": lambda c, a: c - a, "cmul": lambda c, a: c * a,
              "cdiv": lambda c, a: c / a}
CONST_RIGHT = {"addc": lambda a, c: a + c, "subc": lambda a, c: a - c, "mulc": lambda a, c: a * c,
               "divc": lambda a, c: a / c, "pow": lambda a, k: a ** k}
OPS = {**BINARY, **UNARY, **CONST_LEFT, **CONST_RIGHT}


def build(Value, program, inputs) -> tuple[list, list]:
    """``(leaves, nodes)``: the inputs as ``Value`` objects and every node, the output last."""
    leaves = [Value(float(x)) for x in inputs]
    nodes = list(leaves)
    for ins in program:
        op, *args = ins
        if op in BINARY:
            nodes.append(BINARY[op](nodes[int(args[0])], nodes[int(args[1])]))
        elif op in UNARY:
            nodes.append(UNARY[op](nodes[int(args[0])]))
        elif op in CONST_LEFT:
            nodes.append(CONST_LEFT[op](float(args[0]), nodes[int(args[1])]))
        elif op in CONST_RIGHT:
            nodes.append(CONST_RIGHT[op](nodes[int(args[0])], float(args[1])))
        elif op == "chain":
            x, steps, a, c = nodes[int(args[0])], int(args[1]), float(args[2]), float(args[3])
            for _ in range(steps):
                nodes.append(x * a)
                x = nodes[-1] + c
                nodes.append(x)
        else:
            raise ValueError(f"unknown instruction {op!r} in a graph program")
    return leaves, nodes


def run(Value, program, inputs, sweeps: int = 1) -> dict:
    """Build, run ``backward()`` ``sweeps`` times, and report plain numbers.

    Returns ``{"value": float, "grads": [[dout/dinput, ...] for each sweep]}``; when the engine
    hits Python's recursion limit (a recursive graph walk on a deep graph),
    ``{"error": "RecursionError"}`` instead, so that the grader can say so.
    """
    leaves, nodes = build(Value, program, inputs)
    out = nodes[-1]
    grads = []
    hook = sys.getprofile()
    try:
        for _ in range(int(sweeps)):
            for leaf in leaves:
                leaf.grad = 0.0
            out.backward()
            grads.append([float(leaf.grad) for leaf in leaves])
    except RecursionError:
        # CPython switches the profiler off when the recursion limit is hit inside its hook. The
        # grader's hook watches for calls into nnkit; put it back, or an honest recursive
        # engine would be reported as tampering. (This case fails either way.)
        if hook is not None and sys.getprofile() is None:
            sys.setprofile(hook)
        return {"error": "RecursionError"}
    return {"value": float(out.data), "grads": grads}
