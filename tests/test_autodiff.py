"""Tests for nnkit.autodiff: the scalar Value engine, its graph views, and a PyTorch oracle."""
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nnkit import autodiff
from nnkit.autodiff import Value, draw_graph, graph_text, topological_order
from nnkit.gradcheck import numerical_gradient, rel_error


# --------------------------------------------------------------------------------------------
# the course's worked example
# --------------------------------------------------------------------------------------------
def test_worked_example_x2y_over_z():
    x, y, z = Value(3.0, "x"), Value(4.0, "y"), Value(2.0, "z")
    f = x**2 * y / z
    f.backward()
    assert f.data == 18.0
    assert x.grad == 12.0  # 2xy/z
    assert y.grad == 4.5  # x^2/z
    assert z.grad == -9.0  # -x^2 y / z^2


def test_worked_example_graph_text():
    x, y, z = Value(3.0, "x"), Value(4.0, "y"), Value(2.0, "z")
    f = x**2 * y / z
    f.label = "f"
    f.backward()
    lines = graph_text(f).splitlines()
    assert lines == [
        "x  = (input)  data=3   grad=12",
        "t1 = x ** 2   data=9   grad=2",
        "y  = (input)  data=4   grad=4.5",
        "t2 = t1 * y   data=36  grad=0.5",
        "z  = (input)  data=2   grad=-9",
        "f  = t2 / z   data=18  grad=1",
    ]


# --------------------------------------------------------------------------------------------
# each operation's local derivative
# --------------------------------------------------------------------------------------------
UNARY = {
    # name: (build, exact derivative)
    "exp": (lambda v: v.exp(), math.exp),
    "log": (lambda v: v.log(), lambda a: 1 / a),
    "tanh": (lambda v: v.tanh(), lambda a: 1 - math.tanh(a) ** 2),
    "sigmoid": (lambda v: v.sigmoid(), lambda a: math.exp(-a) / (1 + math.exp(-a)) ** 2),
    "relu": (lambda v: v.relu(), lambda a: float(a > 0)),
    "neg": (lambda v: -v, lambda a: -1.0),
    "pow3": (lambda v: v**3, lambda a: 3 * a**2),
    "pow-1.5": (lambda v: v**-1.5, lambda a: -1.5 * a**-2.5),
    "pow0": (lambda v: v**0, lambda a: 0.0),
    "radd": (lambda v: 2 + v, lambda a: 1.0),
    "rsub": (lambda v: 2 - v, lambda a: -1.0),
    "rmul": (lambda v: 2 * v, lambda a: 2.0),
    "rdiv": (lambda v: 2 / v, lambda a: -2 / a**2),
    "sub": (lambda v: v - 0.5, lambda a: 1.0),
    "div": (lambda v: v / 4, lambda a: 0.25),
    "pos": (lambda v: +v, lambda a: 1.0),
}


@pytest.mark.parametrize("name", UNARY)
@pytest.mark.parametrize("a", [0.3, 1.7, 2.9])
def test_unary_derivatives(name, a):
    build, exact = UNARY[name]
    x = Value(a)
    out = build(x)
    out.backward()
    assert x.grad == pytest.approx(exact(a), rel=1e-13, abs=1e-15)
    num = numerical_gradient(lambda p: build(Value(float(p[0]))).data, np.array([a]))
    assert rel_error(np.array([x.grad]), num) < 1e-8


@pytest.mark.parametrize(
    "op, da, db",
    [
        (lambda a, b: a + b, lambda a, b: 1.0, lambda a, b: 1.0),
        (lambda a, b: a - b, lambda a, b: 1.0, lambda a, b: -1.0),
        (lambda a, b: a * b, lambda a, b: b, lambda a, b: a),
        (lambda a, b: a / b, lambda a, b: 1 / b, lambda a, b: -a / b**2),
    ],
    ids=["add", "sub", "mul", "div"],
)
def test_binary_derivatives(op, da, db):
    a, b = Value(1.5), Value(-0.8)
    out = op(a, b)
    assert out.data == op(1.5, -0.8)
    out.backward()
    assert a.grad == pytest.approx(da(1.5, -0.8), rel=1e-14)
    assert b.grad == pytest.approx(db(1.5, -0.8), rel=1e-14)


def test_relu_kink_and_stable_sigmoid():
    z = Value(0.0)
    r = z.relu()
    r.backward()
    assert r.data == 0.0 and z.grad == 0.0  # relu'(0) = 0, PyTorch's convention
    for a, s in ((1000.0, 1.0), (-1000.0, 0.0)):
        v = Value(a)
        out = v.sigmoid()
        out.backward()
        assert out.data == s and v.grad == 0.0
        t = Value(a).tanh()
        assert t.data == math.copysign(1.0, a)


# --------------------------------------------------------------------------------------------
# accumulation and the backward pass
# --------------------------------------------------------------------------------------------
def test_shared_subexpressions_accumulate():
    a = Value(3.0, "a")
    b = a * a  # a used twice by one node: db/da = 2a
    b.backward()
    assert a.grad == 6.0
    a = Value(3.0, "a")
    d = a * 2.0  # d used by three nodes below
    e = d * d + d + d.tanh()  # de/dd = 2d + 1 + (1 - tanh(d)^2)
    e.backward()
    dd = 2 * 6.0 + 1 + (1 - math.tanh(6.0) ** 2)
    assert d.grad == pytest.approx(dd, rel=1e-14)
    assert a.grad == pytest.approx(2 * dd, rel=1e-14)
    # x + x: two edges from the same node into one
    x = Value(-1.25)
    (x + x).backward()
    assert x.grad == 2.0


def test_leaves_accumulate_across_calls_interior_nodes_do_not():
    x, y = Value(2.0, "x"), Value(5.0, "y")
    h = x * y
    f = h * h  # f = x^2 y^2: df/dx = 2 x y^2 = 100, df/dh = 2 h = 20
    f.backward()
    assert (x.grad, h.grad, f.grad) == (100.0, 20.0, 1.0)
    f.backward()  # like PyTorch: leaves add up, intermediates show this sweep only
    assert (x.grad, y.grad) == (200.0, 80.0)
    assert (h.grad, f.grad) == (20.0, 1.0)
    f.zero_grad()
    assert x.grad == y.grad == h.grad == f.grad == 0.0
    f.backward(grad=0.5)  # a seed other than 1 scales everything
    assert (x.grad, y.grad) == (50.0, 20.0)


def test_backward_on_a_leaf_and_deep_graphs():
    a = Value(4.0)
    a.backward()
    assert a.grad == 1.0
    xs = [Value(float(i)) for i in range(5000)]
    total = Value(0.0)
    for v in xs:  # a 5000-deep chain: no recursion limit
        total = total + v * v
    total.backward()
    assert total.data == sum(float(i) ** 2 for i in range(5000))
    assert all(v.grad == 2 * v.data for v in xs)


def test_topological_order_puts_inputs_first():
    x, y = Value(1.0, "x"), Value(2.0, "y")
    u = x * y
    f = (u + x).tanh() * u
    order = topological_order(f)
    pos = {id(n): i for i, n in enumerate(order)}
    assert len(order) == len(pos) == 6 and order[-1] is f  # x, y, u, u + x, tanh, f
    for n in order:
        for c in n._prev:
            assert pos[id(c)] < pos[id(n)]
    with pytest.raises(TypeError, match="root must be a Value"):
        topological_order(3.0)


# --------------------------------------------------------------------------------------------
# random expressions: gradcheck and the PyTorch oracle
# --------------------------------------------------------------------------------------------
def _random_expression(rng, n_vars, depth):
    """A random expression built from every operation, written so it runs on Values *and* on
    torch tensors (same method names). Domains are kept safe: log and ** get positive inputs,
    division a denominator >= 1, exp a bounded argument."""
    if depth == 0 or rng.random() < 0.2:
        i = int(rng.integers(n_vars))
        return lambda v: v[i]
    c = float(np.round(rng.uniform(-2, 2), 3))
    kind = int(rng.integers(15))
    a = _random_expression(rng, n_vars, depth - 1)
    if kind < 4:
        b = _random_expression(rng, n_vars, depth - 1)
        return [
            lambda v: a(v) + b(v),
            lambda v: a(v) - b(v),
            lambda v: a(v) * b(v),
            lambda v: a(v) / (b(v) * b(v) + 1.0),
        ][kind]
    return [
        lambda v: a(v).tanh(),
        lambda v: a(v).sigmoid(),
        lambda v: (a(v) + c).relu(),
        lambda v: a(v).tanh().exp(),
        lambda v: (a(v) * a(v) + 1.0).log(),
        lambda v: (a(v) * a(v) + 0.5) ** 1.5,
        lambda v: a(v) ** 2,
        lambda v: -a(v),
        lambda v: c * a(v) + c,
        lambda v: c - a(v),
        lambda v: c / (a(v) * a(v) + 1.0),
    ][kind - 4]


def _near_relu_kink(out: Value, h: float = 1e-4) -> bool:
    return any(n._op == "relu" and abs(n._prev[0].data) < h for n in topological_order(out))


def _cases(seed, n_cases, n_vars=3, depth=5):
    rng = np.random.default_rng(seed)
    cases = []
    while len(cases) < n_cases:
        expr = _random_expression(rng, n_vars, depth)
        x = rng.uniform(-2, 2, n_vars)
        out = expr([Value(float(t)) for t in x])
        if isinstance(out, Value) and out._prev and not _near_relu_kink(out):
            cases.append((expr, x))
    return cases


def _value_grad(expr, x):
    vs = [Value(float(t)) for t in x]
    out = expr(vs)
    out.backward()
    return out.data, np.array([v.grad for v in vs])


@pytest.mark.parametrize("seed", range(8))
def test_random_expressions_match_numerical_gradients(seed):
    for expr, x in _cases(seed, 10):
        _, g = _value_grad(expr, x)
        num = numerical_gradient(lambda p: expr([Value(float(t)) for t in p]).data, x.copy())
        assert rel_error(g, num) < 1e-6, (g, num)


@pytest.mark.oracle
@pytest.mark.parametrize("seed", range(8))
def test_random_expressions_match_torch_autograd(seed, torch):
    for expr, x in _cases(100 + seed, 10):
        data, g = _value_grad(expr, x)
        t = torch.tensor(x, dtype=torch.float64, requires_grad=True)
        out = expr([t[i] for i in range(len(x))])
        out.backward()
        assert rel_error(data, out.item()) <= 1e-10
        assert rel_error(g, t.grad.numpy()) <= 1e-10, (g, t.grad.numpy())


@pytest.mark.oracle
def test_worked_example_matches_torch(torch):
    x, y, z = (torch.tensor(v, requires_grad=True) for v in (3.0, 4.0, 2.0))
    f = x**2 * y / z
    f.backward()
    assert [f.item(), x.grad.item(), y.grad.item(), z.grad.item()] == [18.0, 12.0, 4.5, -9.0]


# --------------------------------------------------------------------------------------------
# errors
# --------------------------------------------------------------------------------------------
def test_bad_input():
    with pytest.raises(ValueError, match="data must be finite; got nan"):
        Value(float("nan"))
    with pytest.raises(TypeError, match="data must be a real number.*bool"):
        Value(True)
    with pytest.raises(TypeError, match="data must be a real number.*str"):
        Value("3")
    with pytest.raises(TypeError, match="operand must be a real number.*list"):
        Value(1.0) + [1.0]
    with pytest.raises(TypeError, match="exponent must be a constant"):
        Value(2.0) ** Value(3.0)
    with pytest.raises(ValueError, match="log needs a positive argument; got 0"):
        Value(0.0).log()
    with pytest.raises(OverflowError, match=r"exp\(1000\) overflows"):
        Value(1000.0).exp()
    with pytest.raises(ZeroDivisionError, match="division by a Value with data 0"):
        Value(1.0) / 0
    with pytest.raises(ZeroDivisionError):
        Value(0.0) ** -1
    with pytest.raises(ValueError, match="negative base"):
        Value(-2.0) ** 0.5
    with pytest.raises(ZeroDivisionError, match="infinite at a = 0"):
        (Value(0.0) ** 0.5).backward()
    with pytest.raises(ValueError, match="grad must be finite"):
        Value(1.0).backward(grad=float("inf"))


@settings(max_examples=50, deadline=None)
@given(
    a=st.floats(-1e3, 1e3, allow_nan=False),
    b=st.floats(-1e3, 1e3, allow_nan=False).filter(lambda t: abs(t) > 1e-6),
)
def test_property_arithmetic_matches_floats(a, b):
    va, vb = Value(a), Value(b)
    assert (va + vb).data == a + b
    assert (va - vb).data == a - b
    assert (va * vb).data == a * b
    assert (va / vb).data == a / b
    assert (-va).data == -a
    assert (a + vb).data == a + b and (a * vb).data == a * b and (a - vb).data == a - b
    assert isinstance((va * 2).data, float)
    assert repr(va).startswith("Value(data=")


# --------------------------------------------------------------------------------------------
# drawing
# --------------------------------------------------------------------------------------------
def test_draw_graph_with_agg_backend():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    x, y, z = Value(3.0, "x"), Value(4.0, "y"), Value(2.0, "z")
    f = x**2 * y / z
    f.label = "f"
    f.backward()
    ax = draw_graph(f)
    try:
        assert ax.__class__.__name__ == "Axes"
        texts = [t.get_text() for t in ax.texts]
        assert len(texts) == 6  # one box per node
        assert len(ax.patches) == 5  # one arrow per edge: x->t1, t1->t2, y->t2, t2->f, z->f
        assert any(t.startswith("f = t2 / z") and "grad 1" in t for t in texts)
        assert any(t.startswith("x\n") and "grad 12" in t for t in texts)
        ax.figure.canvas.draw()  # really renders
    finally:
        plt.close(ax.figure)
    fig, ax2 = plt.subplots()
    try:
        assert draw_graph(f, ax=ax2, show_grad=False) is ax2
        assert all("grad" not in t.get_text() for t in ax2.texts)
    finally:
        plt.close(fig)


def test_public_names_exist():
    for name in autodiff.__all__:
        assert hasattr(autodiff, name)
