"""Assignment 6, build your own autodiff: checks of the student's scalar ``Value`` class.

The student writes ``Value`` (``+ - * / **``, negation, numbers on either side, ``backward()``),
then ``exp``, ``log``, ``tanh``, ``sigmoid`` and ``relu``, then uses it for the worked example
f = x^2 y / z and to train one sigmoid neuron. A class cannot cross into the grading sandbox, so
graphs travel as data (:mod:`nngrader.graphs`): the notebook's locked helper ``run_graph``
builds a program with the student's class and returns the output and the inputs' gradients;
the same program built with ``nnkit.autodiff.Value`` gives the expected numbers.

Checks
------
- ``autodiff_arithmetic``: each arithmetic operation alone, at random points, numbers on the left
  and on the right included. A wrong one is named with its local derivative.
- ``autodiff_functions``: each function alone; relu at exactly 0 (0, as in PyTorch) and the
  sigmoid far out in both tails.
- ``autodiff_graphs``: graphs that break naive engines: a node used twice, a shared
  subexpression, a second ``backward()`` on the same graph, a chain 5,000 nodes deep, random
  programs. Named when the numbers confirm them: gradients assigned instead of accumulated,
  inner gradients not reset between sweeps, a recursive graph walk.
- ``autodiff_worked_example``: ``f_and_grads(x, y, z)``, the value and three partials of
  x^2 y / z, at (3, 4, 2) and at hidden points.
- ``autodiff_neuron``: ``train_neuron(X, y, lr, epochs)``, full-batch gradient descent on the
  mean binary cross-entropy of one sigmoid neuron from zero weights; compared step by step with
  nnkit's Dense + sigmoid model and ``loss_and_grads``.
"""
from __future__ import annotations

import numpy as np

from nnkit import autodiff
from nnkit.datasets import pass_fail
from nnkit.layers import Activation, Dense
from nnkit.model import Sequential, loss_and_grads

from .. import graphs
from . import Case, Check
from ..verdict import Part, as_numeric, compare_close

# --------------------------------------------------------------------------------------------
# nnkit's engine may not stand in for the student's
# --------------------------------------------------------------------------------------------
_VALUE_METHODS = ("__init__", "__add__", "__sub__", "__mul__", "__truediv__", "__pow__", "__radd__",
                  "__rsub__", "__rmul__", "__rtruediv__", "__neg__", "exp", "log", "tanh", "sigmoid", "relu",
                  "backward", "zero_grad")
FORBIDDEN = tuple(f"nnkit.autodiff:Value.{m}" for m in _VALUE_METHODS) + ("nnkit.autodiff:topological_order",)
TRAIN_FORBIDDEN = FORBIDDEN + (
    "nnkit.model:loss_and_grads", "nnkit.model:Sequential.forward", "nnkit.model:Sequential.backward",
    "nnkit.layers:Dense.forward", "nnkit.layers:Dense.backward", "nnkit.losses:binary_cross_entropy",
    "nnkit.activations:sigmoid", "nnkit.optimizers:SGD.step",
)

VALUE_TOL = 1e-10
GRAD_TOL = 1e-8

# What each instruction computes and its local derivative(s), for the diagnoses.
DESCRIBE = {
    "add": ("a + b", "d(a + b)/da = 1 and d(a + b)/db = 1"),
    "sub": ("a - b", "d(a - b)/da = 1 and d(a - b)/db = -1"),
    "mul": ("a * b", "d(a b)/da = b and d(a b)/db = a"),
    "div": ("a / b", "d(a/b)/da = 1/b and d(a/b)/db = -a/b^2"),
    "pow": ("a ** k", "d(a^k)/da = k a^(k - 1)"),
    "neg": ("-a", "d(-a)/da = -1"),
    "exp": ("exp", "the output itself, e^a"),
    "log": ("log", "1/a"),
    "tanh": ("tanh", "1 - t^2, with t = tanh(a) the output"),
    "sigmoid": ("sigmoid", "s (1 - s), with s = sigmoid(a) the output"),
    "relu": ("relu", "1 for a > 0 and 0 otherwise (0 at a = 0, as in PyTorch)"),
    "cadd": ("c + a (a number on the left: __radd__)", "d(c + a)/da = 1"),
    "csub": ("c - a (a number on the left: __rsub__)", "d(c - a)/da = -1"),
    "cmul": ("c * a (a number on the left: __rmul__)", "d(c a)/da = c"),
    "cdiv": ("c / a (a number on the left: __rtruediv__)", "d(c/a)/da = -c/a^2"),
    "addc": ("a + c (a plain number)", "d(a + c)/da = 1"),
    "subc": ("a - c (a plain number)", "d(a - c)/da = 1"),
    "mulc": ("a * c (a plain number)", "d(a c)/da = c"),
    "divc": ("a / c (a plain number)", "d(a/c)/da = 1/c"),
}


# --------------------------------------------------------------------------------------------
# case generators
# --------------------------------------------------------------------------------------------
def _away_from_zero(rng, scale=2.0, low=0.3):
    return float(rng.choice([-1.0, 1.0]) * rng.uniform(low, scale))


def _op_case(rng, op, *, a=None, b=None, c=None, k=None, label=""):
    """One instruction alone, applied to random inputs suited to it."""
    if a is None:
        a = float(rng.uniform(0.2, 3.0)) if op in ("log", "pow") else _away_from_zero(rng)
    if op in graphs.BINARY:
        b = (_away_from_zero(rng) if b is None else b)
        program, inputs = [(op, 0, 1)], [a, b]
    elif op in graphs.UNARY:
        program, inputs = [(op, 0)], [a]
    elif op == "pow":
        k = float(rng.choice([2.0, 3.0, 0.5, -1.0, 1.5])) if k is None else k
        program, inputs = [("pow", 0, k)], [a]
    else:
        c = _away_from_zero(rng) if c is None else c
        program, inputs = ([(op, c, 0)] if op in graphs.CONST_LEFT else [(op, 0, c)]), [a]
    what = DESCRIBE[op][0]
    return Case((program, inputs), label=label or f"{what} at a = {inputs[0]:.3g}", expect={"op": op})


ARITH = ("add", "sub", "mul", "div", "pow", "neg", "cadd", "csub", "cmul", "cdiv", "addc", "subc", "mulc", "divc")
FUNCS = ("exp", "log", "tanh", "sigmoid", "relu")


def _arith_visible(rng):
    cases = [_op_case(rng, op) for op in ARITH]
    cases.append(_op_case(rng, "pow", a=3.0, k=2.0, label="x ** 2 at x = 3"))
    return cases


def _arith_hidden(rng):
    cases = [_op_case(rng, op) for op in ARITH for _ in range(2)]
    cases.append(_op_case(rng, "pow", a=float(rng.uniform(0.5, 2)), k=0.0, label="a ** 0"))
    cases.append(_op_case(rng, "pow", a=-float(rng.uniform(0.5, 2)), k=3.0, label="a negative base to the power 3"))
    return cases


def _func_visible(rng):
    return [_op_case(rng, op) for op in FUNCS] + [_op_case(rng, "relu", a=-1.5, label="relu at a = -1.5")]


def _func_hidden(rng):
    cases = [_op_case(rng, op) for op in FUNCS for _ in range(2)]
    cases += [_op_case(rng, "relu", a=0.0, label="relu at exactly a = 0"),
              _op_case(rng, "sigmoid", a=-30.0, label="sigmoid at a = -30"),
              _op_case(rng, "sigmoid", a=30.0, label="sigmoid at a = 30"),
              _op_case(rng, "tanh", a=float(rng.uniform(5, 9)), label="tanh far in its tail")]
    return cases


def random_program(rng, n_inputs: int, n_ops: int) -> tuple[list, list]:
    """A random graph that uses every node it makes (so nothing is dead) and whose values stay
    moderate (below 1e3 in size: no overflow, no gradient too large to compare)."""
    while True:
        program, inputs = _draw_program(rng, n_inputs, n_ops)
        try:
            _, nodes = graphs.build(autodiff.Value, program, inputs)
        except (ValueError, OverflowError, ZeroDivisionError):
            continue
        if max(abs(v.data) for v in nodes) < 1e3:
            return program, inputs


def _draw_program(rng, n_inputs: int, n_ops: int) -> tuple[list, list]:
    inputs = [float(v) for v in rng.uniform(0.5, 1.5, size=n_inputs)]
    program: list = []
    n = n_inputs
    safe_unary = ("tanh", "sigmoid", "exp", "neg", "relu")
    for _ in range(n_ops):
        kind = rng.integers(0, 4)
        i, j = int(rng.integers(0, n)), int(rng.integers(0, n))
        if kind == 0:
            program.append((str(rng.choice(["add", "sub", "mul"])), i, j))
        elif kind == 1:
            # the unary functions squash: exp only of a sigmoid's output, so nothing overflows
            op = str(rng.choice(safe_unary))
            if op == "exp":
                program.append(("sigmoid", i))
                n += 1
                i = n - 1
            program.append((op, i))
        elif kind == 2:
            program.append((str(rng.choice(["cadd", "cmul", "csub"])), round(float(rng.uniform(-2, 2)), 3), i))
        else:
            program.append((str(rng.choice(["addc", "mulc", "divc"])), i, round(float(rng.choice([-1, 1]) * rng.uniform(0.5, 2)), 3)))
        n += 1
    # sum every node into the output, so that each one matters
    program.append(("sigmoid", n - 1))
    total = n
    for node in range(n_inputs, n):
        program.append(("add", total, node))
        total += 1
    return program, inputs


def deep_chain(depth: int) -> tuple[list, list]:
    """x -> x * 0.9999 + 0.001, ``depth // 2`` times (two nodes per step): far beyond Python's
    recursion limit. One "chain" instruction, so that the program crosses into the sandbox small."""
    return [("chain", 0, depth // 2, 0.9999, 0.001)], [0.5]


def _graph_visible(rng):
    x, y = float(rng.uniform(0.5, 2)), float(rng.uniform(0.5, 2))
    return [
        Case(([("mul", 0, 0)], [x]), label="x * x: one node used twice", expect={}),
        Case(([("mul", 0, 1), ("tanh", 2), ("add", 2, 3)], [x, y]),
             label="u = x * y; u + tanh(u): a shared subexpression", expect={}),
        Case(([("mul", 0, 1), ("sigmoid", 2), ("mul", 3, 0)], [x, y], 2),
             label="backward() twice on the same graph", expect={}),
        Case(random_program(rng, 3, 10), label="a random graph of 3 inputs and 10 operations", expect={}),
    ]


def _graph_hidden(rng):
    x, y, z = (float(v) for v in rng.uniform(0.5, 2, size=3))
    cases = [
        Case(([("mul", 0, 0), ("mul", 1, 0)], [x]), label="x * x * x", expect={}),
        Case(([("add", 0, 1), ("mul", 2, 2), ("tanh", 2), ("mul", 3, 4)], [x, y]),
             label="s = x + y used three times", expect={}),
        Case(([("mul", 0, 1), ("cadd", 1.0, 2), ("log", 3), ("divc", 4, 2.0), ("add", 5, 2)], [x, y], 3),
             label="backward() three times on the same graph", expect={}),
        Case((*deep_chain(5000), 1), label="a chain 5,000 nodes deep", expect={}),
        Case(([("cmul", 2.0, 0), ("cadd", 1.0, 3), ("csub", 3.0, 4), ("mul", 5, 1), ("cdiv", 1.0, 2), ("add", 6, 7)],
              [x, y, z]), label="numbers on the left: 2 * x, 1 + ..., 3 - ..., 1 / z", expect={}),
    ]
    cases += [Case(random_program(rng, int(rng.integers(2, 5)), int(rng.integers(8, 25))),
                   label="a random graph", expect={}) for _ in range(3)]
    return cases


def _through_run_graph(generate):
    """The cases of a Value check call the notebook's run_graph (a class cannot cross into the sandbox)."""
    def cases(rng):
        out = generate(rng)
        for case in out:
            case.function = "run_graph"
        return out
    return cases


# --------------------------------------------------------------------------------------------
# expected results, and the engines a common slip builds (for the diagnoses)
# --------------------------------------------------------------------------------------------
def expected(program, inputs, sweeps=1) -> dict:
    return graphs.run(autodiff.Value, program, inputs, sweeps)


def _slip_run(program, inputs, sweeps: int, slip: str) -> dict:
    """nnkit's engine with one slip of a hand-written one: ``assign`` (``=`` instead of ``+=`` in
    each node's backward step) or ``no_reset`` (inner gradients kept from the previous sweep)."""
    leaves, nodes = graphs.build(autodiff.Value, program, inputs)
    out = nodes[-1]
    order = autodiff.topological_order(out)
    grads = []
    for sweep in range(sweeps):
        for leaf in leaves:
            leaf.grad = 0.0
        if slip != "no_reset" or sweep == 0:
            for node in order:
                if node._prev:
                    node.grad = 0.0
        out.grad = 1.0
        for node in reversed(order):
            if slip == "assign":
                for child in node._prev:
                    child.grad = 0.0  # what this node's step then adds is all the child keeps
            node._backward()
        grads.append([leaf.grad for leaf in leaves])
    return {"value": out.data, "grads": grads}


SLIPS = {
    "assign": "gradients must accumulate: a node used in several places receives the sum of what each "
              "use sends back, so each backward step adds into .grad (+=) instead of setting it",
    "no_reset": "a second backward() on the same graph starts from the gradients the first one left in the "
                "inner nodes: reset every inner node's .grad at the start of backward()",
}
RECURSION = ("backward() hit Python's recursion limit on a deep graph: a recursive walk of the graph goes one "
             "call deeper per node; build the topological order with a loop and an explicit stack")


# --------------------------------------------------------------------------------------------
# judges
# --------------------------------------------------------------------------------------------
def _result(value, n_inputs: int, sweeps: int):
    """The student's run_graph result as (value, grads array (sweeps, n_inputs)), or a failed Part."""
    if not isinstance(value, dict):
        return None, Part(False, f"run_graph returned a {type(value).__name__}; expected its dict", name="result")
    if value.get("error") == "RecursionError":
        return None, Part(False, "backward() raised RecursionError", cause=RECURSION, name="backward")
    out, why = as_numeric(value.get("value"), "value")
    if why:
        return None, why
    g, why = as_numeric(value.get("grads"), "gradients")
    if why:
        return None, why
    if g.shape != (sweeps, n_inputs):
        return None, Part(False, f"gradients: shape {g.shape}, expected {(sweeps, n_inputs)}", name="gradients")
    return (float(np.ravel(out)[0]), g.astype(np.float64)), None


def _names(n: int) -> list:
    return ["a", "b"] if n == 2 else [f"x{i}" for i in range(n)]


def _parts(case, value):
    program, inputs, *rest = case.args
    sweeps = rest[0] if rest else 1
    ref = expected(program, inputs, sweeps)
    got, bad = _result(value, len(inputs), sweeps)
    if bad:
        return [bad], None, ref
    parts = [compare_close("value", got[0], ref["value"], tol=VALUE_TOL, scalar=True)]
    for s in range(sweeps):
        tag = "" if sweeps == 1 else f" (backward() call {s + 1})"
        parts.append(compare_close(f"gradients{tag}", got[1][s], ref["grads"][s], tol=GRAD_TOL))
    return parts, got, ref


def _op_judge(case, value):
    parts, got, ref = _parts(case, value)
    if got is None or all(p.ok for p in parts):
        return parts
    op = case.expect["op"]
    what, local = DESCRIBE[op]
    if not parts[0].ok:
        parts[0].cause = f"the value of {what} is wrong: check the forward computation"
        return parts
    wrong = [n for n, g, e in zip(_names(len(case.args[1])), got[1][0], ref["grads"][0])
             if abs(g - e) > GRAD_TOL * max(1.0, abs(e))]
    towards = f" (wrong towards {', '.join(wrong)})" if op in graphs.BINARY and wrong else ""
    parts[1].cause = f"the gradient through {what} is off{towards}: its local derivative is {local}"
    return parts


def _graph_judge(case, value):
    parts, got, ref = _parts(case, value)
    if got is None or all(p.ok for p in parts):
        return parts
    program, inputs, *rest = case.args
    sweeps = rest[0] if rest else 1
    for slip, why in SLIPS.items():
        alt = np.array(_slip_run(program, inputs, sweeps, slip)["grads"])
        truth = np.array(ref["grads"])
        if np.max(np.abs(alt - truth)) > 1e-9 and np.allclose(got[1], alt, rtol=1e-8, atol=1e-12):
            next(p for p in parts[1:] if not p.ok).cause = why
            break
    return parts


# -- the worked example ------------------------------------------------------------------------
def _example_visible(rng):
    return [Case((3.0, 4.0, 2.0), label="the worked example, (x, y, z) = (3, 4, 2)")]


def _example_hidden(rng):
    return [Case((float(rng.uniform(-3, 3)), float(rng.uniform(-3, 3)), _away_from_zero(rng, 3.0)),
                 label="a random point") for _ in range(3)]


def _example_judge(case, value):
    x, y, z = case.args
    ref = autodiff.Value(x), autodiff.Value(y), autodiff.Value(z)
    f = ref[0] ** 2 * ref[1] / ref[2]
    f.backward()
    want = [f.data, ref[0].grad, ref[1].grad, ref[2].grad]
    if not isinstance(value, (tuple, list)) or len(value) != 4:
        return [Part(False, "return value: expected the tuple (f, df_dx, df_dy, df_dz)", name="result")]
    return [compare_close(n, v, w, tol=1e-10, scalar=True)
            for n, v, w in zip(("f", "df_dx", "df_dy", "df_dz"), value, want)]


# -- one sigmoid neuron -------------------------------------------------------------------------
LOSS_BOUND = 0.45  # the visible case's final mean cross-entropy must fall below this


def neuron_data(rng, n: int):
    """"Will I pass?" data scaled to [0, 1]: lectures / 12, hours / 20; labels 0/1 as floats."""
    X, y = pass_fail(n, rng, noise=0.5)
    return X / np.array([12.0, 20.0]), y.astype(np.float64)


def reference_training(X, y, lr: float, epochs: int):
    """nnkit's Dense(2, 1) + sigmoid from zero weights, full-batch gradient descent on the mean BCE."""
    model = Sequential([Dense(2, 1, np.random.default_rng(0)), Activation("sigmoid")])
    model.set_params({k: np.zeros_like(v) for k, v in model.params.items()})
    losses = []
    for _ in range(epochs):
        loss, grads = loss_and_grads(model, X, y[:, None], "binary_cross_entropy")
        losses.append(loss)
        for k, p in model.params.items():
            p -= lr * grads[k]
    p = model.params
    return p["W1"][:, 0].copy(), float(p["b1"][0]), np.array(losses)


def _neuron_visible(rng):
    X, y = neuron_data(np.random.default_rng(2024), 16)
    return [Case((X, y, 4.0, 25), label="16 students, lr = 4, 25 epochs")]


def _neuron_hidden(rng):
    cases = []
    for n, lr, epochs in ((int(rng.integers(8, 16)), 2.0, 20), (int(rng.integers(12, 20)), 4.0, 15)):
        X, y = neuron_data(rng, n)
        cases.append(Case((X, y, lr, epochs), label=f"{n} students, lr = {lr:g}, {epochs} epochs"))
    return cases


def _neuron_judge(case, value):
    X, y, lr, epochs = case.args
    w, b, losses = reference_training(X, y, lr, epochs)
    if not isinstance(value, (tuple, list)) or len(value) != 3:
        return [Part(False, "return value: expected the tuple (w, b, losses)", name="result"), Part(False), Part(False)]
    got_w, got_b, got_losses = value
    parts = [compare_close("w", got_w, w, tol=1e-7), compare_close("b", got_b, b, tol=1e-7, scalar=True),
             compare_close("losses", got_losses, losses, tol=1e-7)]
    if not parts[2].ok:
        a, _ = as_numeric(got_losses, "losses")
        if a is not None and a.shape == losses.shape and abs(a[0] - np.log(2)) > 1e-9:
            parts[2].cause = ("the first loss, from zero weights, is log 2 = 0.693 (every prediction 1/2): record "
                              "the loss before each update, as the mean binary cross-entropy")
    if case.label.startswith("16 students") and parts[2].ok and not losses[-1] < LOSS_BOUND:
        parts.append(Part(False, f"the final loss {losses[-1]:.3f} is not below {LOSS_BOUND}", name="losses"))
    return parts


CHECKS = [
    Check(grade_id="autodiff_arithmetic", functions=("Value",), helpers=("run_graph",), points=4,
          visible=_through_run_graph(_arith_visible), hidden=_through_run_graph(_arith_hidden), judge=_op_judge, forbidden=FORBIDDEN, timeout=4),
    Check(grade_id="autodiff_functions", functions=("Value",), helpers=("run_graph",), points=3,
          visible=_through_run_graph(_func_visible), hidden=_through_run_graph(_func_hidden), judge=_op_judge, forbidden=FORBIDDEN, timeout=4),
    Check(grade_id="autodiff_graphs", functions=("Value",), helpers=("run_graph",), points=4,
          visible=_through_run_graph(_graph_visible), hidden=_through_run_graph(_graph_hidden), judge=_graph_judge, forbidden=FORBIDDEN, timeout=8),
    Check(grade_id="autodiff_worked_example", functions=("f_and_grads",), points=1,
          visible=_example_visible, hidden=_example_hidden, judge=_example_judge, forbidden=FORBIDDEN, timeout=4),
    Check(grade_id="autodiff_neuron", functions=("train_neuron",), points=3,
          visible=_neuron_visible, hidden=_neuron_hidden, judge=_neuron_judge, forbidden=TRAIN_FORBIDDEN, timeout=8),
]
