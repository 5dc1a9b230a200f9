"""A tiny scalar reverse-mode autodiff engine (micrograd style), for teaching computation graphs.

Every arithmetic operation on :class:`Value` objects creates a new node that remembers its
inputs and a ``_backward`` closure. The closure applies the chain rule locally: it takes the
node's own gradient (dL/d node, the "upstream" gradient), multiplies it by the local
derivative d node / d input, and *adds* the result into each input's ``.grad``. Adding, not
assigning, is what makes shared subexpressions right: a node used twice receives the sum of
both paths' contributions (the multivariable chain rule).

:meth:`Value.backward` sorts the graph topologically (inputs before outputs) and calls the
closures from the output back to the leaves, so each node's gradient is complete before it is
passed on.

The worked example of the course, ``f = x^2 y / z`` at ``(x, y, z) = (3, 4, 2)``::

    >>> x, y, z = Value(3.0, "x"), Value(4.0, "y"), Value(2.0, "z")
    >>> f = x**2 * y / z
    >>> f.backward()
    >>> f.data, x.grad, y.grad, z.grad
    (18.0, 12.0, 4.5, -9.0)

(df/dx = 2xy/z = 12, df/dy = x^2/z = 4.5, df/dz = -x^2 y/z^2 = -9.)

Local derivatives used
----------------------
=============  =========================  =================================================
op             forward                    d out / d input
=============  =========================  =================================================
``a + b``      a + b                      1, 1
``a - b``      a - b                      1, -1
``a * b``      a b                        b, a
``a / b``      a / b                      1/b, -a/b^2
``a ** k``     a^k  (k a constant)        k a^(k-1)
``-a``         -a                         -1
``exp``        e^a                        e^a (the output itself)
``log``        ln a  (a > 0)              1/a
``tanh``       tanh a                     1 - tanh(a)^2
``sigmoid``    1 / (1 + e^-a)             s (1 - s)
``relu``       max(a, 0)                  1 if a > 0 else 0  (0 at a = 0, PyTorch's convention)
=============  =========================  =================================================

Values are plain Python floats (float64). Visualise a graph with :func:`graph_text` or
:func:`draw_graph` (matplotlib only; no graphviz needed).
"""
from __future__ import annotations

import math
from numbers import Real

__all__ = ["Value", "topological_order", "graph_text", "draw_graph"]


def _as_float(x, name: str) -> float:
    if isinstance(x, bool) or not isinstance(x, Real):
        raise TypeError(f"{name} must be a real number (int or float); got {type(x).__name__} {x!r}")
    x = float(x)
    if not math.isfinite(x):
        raise ValueError(f"{name} must be finite; got {x}")
    return x


class Value:
    """A scalar node in a computation graph, holding its value and its gradient.

    Parameters
    ----------
    data : float
        The value (finite).
    label : str, optional
        A name shown by :func:`graph_text` / :func:`draw_graph` (e.g. ``"x"``).

    Attributes
    ----------
    data : float
    grad : float
        dL/d(this node) after ``L.backward()``; starts at 0. Leaves *accumulate* across
        backward calls (like PyTorch's ``.grad``): call :meth:`zero_grad` in between.
    label : str
    _prev : tuple of Value
        The inputs this node was computed from (empty for a leaf).
    _op : str
        The operation that produced it ("" for a leaf).

    Notes
    -----
    Python numbers mix in freely (``2 * x``, ``1 - x``, ``x / 3``): they become constant leaf
    nodes. ``**`` takes only a constant exponent (int or float), not a Value.
    Values compare by identity (no ``==`` overload), so they can live in sets and dicts.
    """

    __slots__ = ("data", "grad", "label", "_prev", "_op", "_backward")

    def __init__(self, data, label: str = "", _children: tuple = (), _op: str = ""):
        self.data = _as_float(data, "data")
        self.grad = 0.0
        self.label = str(label)
        self._prev = tuple(_children)
        self._op = _op
        self._backward = _noop

    # -- plumbing ---------------------------------------------------------------------------
    @staticmethod
    def _lift(other) -> "Value":
        if isinstance(other, Value):
            return other
        v = _as_float(other, "operand")
        return Value(v, label=f"{v:g}")

    def __repr__(self) -> str:
        name = f"{self.label}, " if self.label else ""
        return f"Value({name}data={self.data:.6g}, grad={self.grad:.6g})"

    # -- binary operations ------------------------------------------------------------------
    def __add__(self, other) -> "Value":
        other = self._lift(other)
        out = Value(self.data + other.data, _children=(self, other), _op="+")

        def _backward():
            self.grad += out.grad
            other.grad += out.grad

        out._backward = _backward
        return out

    def __sub__(self, other) -> "Value":
        other = self._lift(other)
        out = Value(self.data - other.data, _children=(self, other), _op="-")

        def _backward():
            self.grad += out.grad
            other.grad -= out.grad

        out._backward = _backward
        return out

    def __mul__(self, other) -> "Value":
        other = self._lift(other)
        out = Value(self.data * other.data, _children=(self, other), _op="*")

        def _backward():
            self.grad += other.data * out.grad
            other.grad += self.data * out.grad

        out._backward = _backward
        return out

    def __truediv__(self, other) -> "Value":
        other = self._lift(other)
        if other.data == 0.0:
            raise ZeroDivisionError(f"division by a Value with data 0 ({other!r})")
        out = Value(self.data / other.data, _children=(self, other), _op="/")

        def _backward():
            self.grad += out.grad / other.data
            other.grad += -self.data / (other.data * other.data) * out.grad

        out._backward = _backward
        return out

    def __pow__(self, k) -> "Value":
        if isinstance(k, Value):
            raise TypeError("Value ** Value is not supported: the exponent must be a constant int or float")
        k = _as_float(k, "exponent")
        if self.data == 0.0 and k < 0:
            raise ZeroDivisionError(f"0 ** {k:g} is undefined")
        if self.data < 0 and not k.is_integer():
            raise ValueError(f"a negative base ({self.data:g}) to a non-integer power ({k:g}) is not real")
        out = Value(self.data**k, _children=(self,), _op=f"**{k:g}")

        def _backward():
            # k a^(k-1); for k == 0 the derivative is 0 even at a = 0
            if k == 0:
                return
            if self.data == 0.0 and k < 1:
                raise ZeroDivisionError(f"d(a**{k:g})/da is infinite at a = 0")
            self.grad += k * self.data ** (k - 1) * out.grad

        out._backward = _backward
        return out

    # Python numbers on the left: 2 + x, 2 - x, 2 * x, 2 / x
    def __radd__(self, other) -> "Value":
        return self._lift(other) + self

    def __rsub__(self, other) -> "Value":
        return self._lift(other) - self

    def __rmul__(self, other) -> "Value":
        return self._lift(other) * self

    def __rtruediv__(self, other) -> "Value":
        return self._lift(other) / self

    def __neg__(self) -> "Value":
        out = Value(-self.data, _children=(self,), _op="neg")

        def _backward():
            self.grad -= out.grad

        out._backward = _backward
        return out

    def __pos__(self) -> "Value":
        return self

    # -- unary functions --------------------------------------------------------------------
    def exp(self) -> "Value":
        if self.data > 709.0:  # math.exp overflows float64 beyond ~709.78
            raise OverflowError(f"exp({self.data:g}) overflows float64 (the largest safe argument is about 709)")
        out = Value(math.exp(self.data), _children=(self,), _op="exp")

        def _backward():
            self.grad += out.data * out.grad

        out._backward = _backward
        return out

    def log(self) -> "Value":
        if self.data <= 0:
            raise ValueError(f"log needs a positive argument; got {self.data:g}")
        out = Value(math.log(self.data), _children=(self,), _op="log")

        def _backward():
            self.grad += out.grad / self.data

        out._backward = _backward
        return out

    def tanh(self) -> "Value":
        t = math.tanh(self.data)
        out = Value(t, _children=(self,), _op="tanh")

        def _backward():
            self.grad += (1.0 - t * t) * out.grad

        out._backward = _backward
        return out

    def sigmoid(self) -> "Value":
        a = self.data
        # split by sign so exp never sees a large positive argument
        if a >= 0:
            s = 1.0 / (1.0 + math.exp(-a))
        else:
            e = math.exp(a)
            s = e / (1.0 + e)
        out = Value(s, _children=(self,), _op="sigmoid")

        def _backward():
            self.grad += s * (1.0 - s) * out.grad

        out._backward = _backward
        return out

    def relu(self) -> "Value":
        out = Value(self.data if self.data > 0 else 0.0, _children=(self,), _op="relu")

        def _backward():
            self.grad += (1.0 if self.data > 0 else 0.0) * out.grad

        out._backward = _backward
        return out

    # -- reverse mode -----------------------------------------------------------------------
    def backward(self, grad: float = 1.0) -> None:
        """Reverse-mode sweep: fill ``.grad`` of every node that this one depends on.

        Sets d(self)/d(self) = ``grad`` (1 by default) and calls each node's ``_backward`` in
        reverse topological order (outputs first).

        Gradients of *intermediate* nodes are reset to 0 first, so they show exactly this
        sweep's values; *leaves* (nodes with no inputs) accumulate, as in PyTorch, so two
        calls without :meth:`zero_grad` in between double the leaves' gradients.
        """
        seed = _as_float(grad, "grad")
        order = topological_order(self)
        for node in order:
            if node._prev:
                node.grad = 0.0
        self.grad += seed
        for node in reversed(order):
            node._backward()

    def zero_grad(self) -> None:
        """Set ``.grad = 0`` on this node and on every node it depends on."""
        for node in topological_order(self):
            node.grad = 0.0


def _noop() -> None:
    return None


def topological_order(root: Value) -> list[Value]:
    """All nodes that ``root`` depends on (``root`` included), inputs before outputs.

    Iterative depth-first search, so deep graphs (e.g. a sum of thousands of terms) do not
    hit Python's recursion limit. Each node appears once even if it is used many times.
    """
    if not isinstance(root, Value):
        raise TypeError(f"root must be a Value; got {type(root).__name__}")
    order: list[Value] = []
    visited: set[int] = set()
    stack: list[tuple[Value, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        if children_done:
            order.append(node)
            continue
        if id(node) in visited:
            continue
        visited.add(id(node))
        stack.append((node, True))
        for child in reversed(node._prev):
            if id(child) not in visited:
                stack.append((child, False))
    return order


# --------------------------------------------------------------------------------------------
# showing the graph
# --------------------------------------------------------------------------------------------
def _names(order: list[Value]) -> dict[int, str]:
    """A display name per node: its label, or t1, t2, ... for unnamed intermediates."""
    names: dict[int, str] = {}
    k = 0
    for node in order:
        if node.label:
            names[id(node)] = node.label
        else:
            k += 1
            names[id(node)] = f"t{k}"
    return names


def _expression(node: Value, names: dict[int, str]) -> str:
    args = [names[id(c)] for c in node._prev]
    op = node._op
    if op in {"+", "-", "*", "/"}:
        return f"{args[0]} {op} {args[1]}"
    if op.startswith("**"):
        return f"{args[0]} ** {op[2:]}"
    if op == "neg":
        return f"-{args[0]}"
    return f"{op}({args[0]})"


def graph_text(root: Value, precision: int = 4) -> str:
    """The graph as text, one line per node in evaluation order (a "tape").

    Each line shows the node's name, how it was computed, its value and its gradient; leaves
    say ``(input)``. Unnamed intermediate nodes are called t1, t2, ... For the worked example::

        x  = (input)  data=3   grad=12
        t1 = x ** 2   data=9   grad=2
        y  = (input)  data=4   grad=4.5
        t2 = t1 * y   data=36  grad=0.5
        z  = (input)  data=2   grad=-9
        f  = t2 / z   data=18  grad=1

    (after ``f.label = "f"`` and ``f.backward()``). Python constants appear as leaves named
    by their value, e.g. ``3 = (input)`` for the 3 in ``3 * a``.

    Parameters
    ----------
    root : Value
    precision : int
        Significant digits for data and grad.
    """
    order = topological_order(root)
    names = _names(order)
    rows = []
    for node in order:
        expr = _expression(node, names) if node._prev else "(input)"
        rows.append((names[id(node)], expr, f"{node.data:.{precision}g}", f"{node.grad:.{precision}g}"))
    w_name = max(len(r[0]) for r in rows)
    w_expr = max(len(r[1]) for r in rows)
    w_data = max(len(r[2]) for r in rows)
    return "\n".join(
        f"{n:<{w_name}} = {e:<{w_expr}}  data={d:<{w_data}}  grad={g}" for n, e, d, g in rows
    )


def _layers(order: list[Value]) -> dict[int, int]:
    """Layer of each node = length of the longest path from a leaf (leaves are layer 0)."""
    depth: dict[int, int] = {}
    for node in order:  # inputs come first, so children are done already
        depth[id(node)] = 1 + max((depth[id(c)] for c in node._prev), default=-1)
    return depth


def draw_graph(root: Value, ax=None, *, show_grad: bool = True, precision: int = 3):
    """Draw the computation graph with matplotlib (no graphviz).

    Layout: a node's column is the length of the longest path from a leaf to it, so inputs
    sit on the left and the output on the right; nodes in a column are spread vertically in
    evaluation order. Each box shows ``name = expression``, the value and (optionally) the
    gradient; arrows run from inputs to the node they feed.

    Parameters
    ----------
    root : Value
    ax : matplotlib Axes, optional
        Drawn into; a new figure is made when omitted.
    show_grad : bool
        Show ``.grad`` in each box (run ``root.backward()`` first to see something useful).
    precision : int
        Significant digits.

    Returns
    -------
    ax : matplotlib Axes
    """
    import matplotlib.pyplot as plt  # imported lazily: the engine itself needs no matplotlib
    from matplotlib.patches import FancyArrowPatch

    order = topological_order(root)
    names = _names(order)
    layer = _layers(order)
    columns: dict[int, list[Value]] = {}
    for node in order:
        columns.setdefault(layer[id(node)], []).append(node)
    n_cols = max(columns) + 1
    n_rows = max(len(c) for c in columns.values())

    pos: dict[int, tuple[float, float]] = {}
    for col, nodes in columns.items():
        for i, node in enumerate(nodes):
            # centre each column vertically; row 0 at the top
            pos[id(node)] = (float(col), (len(nodes) - 1) / 2.0 - i)

    if ax is None:
        _, ax = plt.subplots(figsize=(2.6 * n_cols + 1.0, 1.3 * n_rows + 1.0))

    for node in order:
        x1, y1 = pos[id(node)]
        for child in node._prev:
            x0, y0 = pos[id(child)]
            # an edge that skips a column bends, so it does not pass through a node in between
            bend = "arc3,rad=0.35" if x1 - x0 > 1 else "arc3"
            ax.add_patch(FancyArrowPatch((x0 + 0.28, y0), (x1 - 0.28, y1), arrowstyle="->", mutation_scale=12,
                                         color="0.4", connectionstyle=bend))
    for node in order:
        x, y = pos[id(node)]
        head = names[id(node)]
        if node._prev:
            head += " = " + _expression(node, names)
        text = f"{head}\ndata {node.data:.{precision}g}"
        if show_grad:
            text += f"\ngrad {node.grad:.{precision}g}"
        leaf = not node._prev
        ax.text(
            x,
            y,
            text,
            ha="center",
            va="center",
            fontsize=9,
            family="monospace",
            bbox=dict(boxstyle="round,pad=0.35", fc="#e8f0fe" if leaf else "#fff4e0", ec="0.3"),
        )
    ax.set_xlim(-0.6, n_cols - 0.4)
    half = max(n_rows / 2.0, 1.0)
    ax.set_ylim(-half, half)
    ax.set_axis_off()
    return ax
