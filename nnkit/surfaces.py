"""Two-variable loss surfaces with analytic gradients, for optimizer demos.

Each surface is a :class:`Surface` with ``f(x, y)``, ``grad(x, y)`` and ``hessian(x, y)``,
all vectorised over arrays (NumPy broadcasting), plus its known minima, a default plotting
window, a suggested starting point, a name and a LaTeX formula.

==================  ===========================================  ==================================
name                formula                                      why it is in the course
==================  ===========================================  ==================================
``quadratic_bowl``  ``(1/2)(u^2 + kappa v^2)``, (u, v) rotated    condition number kappa: zig-zag of
                                                                 plain GD, what momentum/Adam fix
``rosenbrock``      ``(a - x)^2 + b (y - x^2)^2``                a long curved flat valley
``beale``           sum of three squared terms                   sharp ridges, flat plateaus
``saddle``          ``x^2 - y^2``                                a saddle: zero gradient, no minimum
``himmelblau``      ``(x^2 + y - 11)^2 + (x + y^2 - 7)^2``       four minima: where you end depends
                                                                 on where you start
==================  ===========================================  ==================================

Usage in a gradient-descent loop (a point is a length-2 array)::

    s = SURFACES["rosenbrock"]
    p = np.array(s.start)
    for _ in range(1000):
        p = p - 1e-3 * s.grad(*p)         # grad(x, y) -> array (2,) for scalar x, y

Shapes: ``f(x, y)`` has the broadcast shape of ``x`` and ``y``; ``grad`` appends an axis of
length 2 (d/dx, d/dy); ``hessian`` appends two axes (2, 2).
"""
from __future__ import annotations

from numbers import Real
from types import MappingProxyType
from typing import Callable

import numpy as np

from ._validate import as_array, check_choice, check_positive

__all__ = [
    "Surface",
    "quadratic_bowl",
    "rosenbrock",
    "beale",
    "saddle",
    "himmelblau",
    "SURFACES",
    "get_surface",
]

Point = tuple[float, float]


class Surface:
    """A function of two variables with its analytic derivatives and landmarks.

    Attributes
    ----------
    name : str
    formula : str
        LaTeX (without surrounding ``$``), for plot titles and widget labels.
    minima : tuple of (x, y)
        Every global minimum (the known ones, to float64 accuracy); empty for the saddle.
    min_value : float or None
        ``f`` at the minima (None when there is none).
    saddle_points : tuple of (x, y)
        Known saddle points worth marking on a plot (may be empty).
    bounds : ((x_min, x_max), (y_min, y_max))
        A plotting window that shows the interesting part.
    start : (x, y)
        A suggested starting point for optimizer demos.
    params : mapping
        The parameters the surface was built with (read-only), e.g. ``{"condition": 10.0}``.
    """

    __slots__ = ("name", "formula", "minima", "min_value", "saddle_points", "bounds", "start", "params",
                 "_f", "_grad", "_hess")

    def __init__(
        self,
        name: str,
        formula: str,
        f: Callable,
        grad: Callable,
        hessian: Callable,
        *,
        minima: tuple = (),
        min_value: float | None = None,
        saddle_points: tuple = (),
        bounds: tuple = ((-2.0, 2.0), (-2.0, 2.0)),
        start: Point = (1.0, 1.0),
        params: dict | None = None,
    ):
        self.name = name
        self.formula = formula
        self._f, self._grad, self._hess = f, grad, hessian
        self.minima = tuple((float(a), float(b)) for a, b in minima)
        self.min_value = None if min_value is None else float(min_value)
        self.saddle_points = tuple((float(a), float(b)) for a, b in saddle_points)
        self.bounds = tuple((float(lo), float(hi)) for lo, hi in bounds)
        self.start = (float(start[0]), float(start[1]))
        self.params = MappingProxyType(dict(params or {}))

    @staticmethod
    def _xy(x, y):
        # Fast path for the common optimizer-loop call with two Python/NumPy scalars.
        if isinstance(x, (Real, np.floating)) and isinstance(y, (Real, np.floating)) and not (
            isinstance(x, bool) or isinstance(y, bool)
        ):
            x, y = np.float64(x), np.float64(y)
            if not (np.isfinite(x) and np.isfinite(y)):
                as_array(x, "x"), as_array(y, "y")  # raises with the standard message
            return x, y
        x = as_array(x, "x", allow_empty=True)
        y = as_array(y, "y", allow_empty=True)
        try:
            x, y = np.broadcast_arrays(x, y)
        except ValueError:
            raise ValueError(f"x and y must broadcast together; got shapes {x.shape} and {y.shape}") from None
        return x, y

    def f(self, x, y):
        """Function value; shape = broadcast shape of ``x`` and ``y`` (a NumPy scalar for scalars)."""
        return self._f(*self._xy(x, y))

    __call__ = f

    def grad(self, x, y) -> np.ndarray:
        """Analytic gradient ``(df/dx, df/dy)``, shape ``broadcast(x, y).shape + (2,)``."""
        gx, gy = self._grad(*self._xy(x, y))
        return np.stack(np.broadcast_arrays(gx, gy), axis=-1)

    def hessian(self, x, y) -> np.ndarray:
        """Analytic Hessian ``[[f_xx, f_xy], [f_xy, f_yy]]``, shape ``broadcast(x, y).shape + (2, 2)``."""
        fxx, fxy, fyy = np.broadcast_arrays(*self._hess(*self._xy(x, y)))
        return np.stack([np.stack([fxx, fxy], axis=-1), np.stack([fxy, fyy], axis=-1)], axis=-2)

    def grid(self, n: int = 200, bounds=None):
        """``(X, Y, Z)`` meshgrid arrays of shape (n, n) over ``bounds`` (default ``self.bounds``),
        ready for ``plt.contour(X, Y, Z)``."""
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 2:
            raise ValueError(f"n must be an integer >= 2; got {n!r}")
        (x0, x1), (y0, y1) = self.bounds if bounds is None else bounds
        X, Y = np.meshgrid(np.linspace(x0, x1, n), np.linspace(y0, y1, n))
        return X, Y, self.f(X, Y)

    def __repr__(self) -> str:
        p = ", ".join(f"{k}={v!r}" for k, v in self.params.items())
        return f"Surface({self.name}{'(' + p + ')' if p else ''}: {self.formula})"


# --------------------------------------------------------------------------------------------
# the surfaces
# --------------------------------------------------------------------------------------------
def quadratic_bowl(condition: float = 10.0, angle: float = 0.0) -> Surface:
    """An ill-conditioned quadratic bowl with a chosen condition number.

    ``f(p) = (1/2) p^T A p`` with ``A = R diag(1, kappa) R^T`` and ``R`` the rotation by
    ``angle``. In coordinates ``(u, v) = R^T (x, y)`` along the bowl's axes,
    ``f = (1/2)(u^2 + kappa v^2)``: curvature 1 along u and ``kappa`` along v.

    - ``grad f = A p``; ``hessian = A`` everywhere; its condition number is exactly ``kappa``.
    - Plain gradient descent is stable for ``lr < 2 / kappa`` and then needs about ``kappa``
      steps per e-fold along the flat axis: the larger ``kappa``, the worse the zig-zag.
    - With ``angle != 0`` the axes are not the coordinate axes, which hurts per-coordinate
      methods (Adagrad, RMSprop, Adam) less than you might hope but more than at angle 0.

    Parameters
    ----------
    condition : float >= 1
        ``kappa = lambda_max / lambda_min`` of the Hessian.
    angle : float
        Rotation of the bowl's axes, in radians (0 = axis-aligned).
    """
    kappa = check_positive(condition, "condition")
    if kappa < 1:
        raise ValueError(f"condition must be >= 1 (it is lambda_max / lambda_min); got {kappa}")
    if isinstance(angle, bool) or not isinstance(angle, (Real, np.floating)) or not np.isfinite(angle):
        raise ValueError(f"angle must be a finite real number (radians); got {angle!r}")
    c, s = np.cos(angle), np.sin(angle)
    R = np.array([[c, -s], [s, c]])
    A = R @ np.diag([1.0, kappa]) @ R.T
    a11, a12, a22 = float(A[0, 0]), float(0.5 * (A[0, 1] + A[1, 0])), float(A[1, 1])

    def f(x, y):
        return 0.5 * (a11 * x * x + 2.0 * a12 * x * y + a22 * y * y)

    def grad(x, y):
        return a11 * x + a12 * y, a12 * x + a22 * y

    def hess(x, y):
        z = np.zeros_like(x + y)
        return z + a11, z + a12, z + a22

    rot = "" if angle == 0 else rf",\ (u, v) = R_{{{float(angle):g}}}^\top (x, y)"
    uv = "u^2" if angle != 0 else "x^2"
    vv = "v^2" if angle != 0 else "y^2"
    return Surface(
        "quadratic_bowl",
        rf"f = \tfrac{{1}}{{2}}\left({uv} + {kappa:g}\,{vv}\right){rot}",
        f, grad, hess,
        minima=((0.0, 0.0),),
        min_value=0.0,
        bounds=((-3.0, 3.0), (-3.0, 3.0)),
        start=(-2.5, 1.0),
        params={"condition": kappa, "angle": float(angle)},
    )


def rosenbrock(a: float = 1.0, b: float = 100.0) -> Surface:
    """Rosenbrock's banana function ``f = (a - x)^2 + b (y - x^2)^2``.

    Minimum ``f(a, a^2) = 0`` at the end of a long, curved, nearly flat valley along
    ``y = x^2``: easy to reach the valley, slow to follow it.

    - ``df/dx = -2 (a - x) - 4 b x (y - x^2)``, ``df/dy = 2 b (y - x^2)``
    - ``f_xx = 2 - 4 b y + 12 b x^2``, ``f_xy = -4 b x``, ``f_yy = 2 b``

    Parameters
    ----------
    a : float
    b : float > 0
        Steepness of the valley walls (100 is the classic value).
    """
    if isinstance(a, bool) or not isinstance(a, (Real, np.floating)) or not np.isfinite(a):
        raise ValueError(f"a must be a finite real number; got {a!r}")
    a = float(a)
    b = check_positive(b, "b")
    k = max(1.0, abs(a))

    def f(x, y):
        return (a - x) ** 2 + b * (y - x * x) ** 2

    def grad(x, y):
        r = y - x * x
        return -2.0 * (a - x) - 4.0 * b * x * r, 2.0 * b * r

    def hess(x, y):
        return 2.0 - 4.0 * b * y + 12.0 * b * x * x, -4.0 * b * x, np.zeros_like(x + y) + 2.0 * b

    return Surface(
        "rosenbrock",
        rf"f = ({a:g} - x)^2 + {b:g}\,(y - x^2)^2",
        f, grad, hess,
        minima=((a, a * a),),
        min_value=0.0,
        # the classic window for a = 1, stretched so that (a, a^2) stays inside for larger |a|
        bounds=((-2.0 * k, 2.0 * k), (-k * k, 3.0 * k * k)),
        start=(-1.2 * k, k * k),
        params={"a": a, "b": b},
    )


def beale() -> Surface:
    """Beale's function, minimum ``f(3, 0.5) = 0``::

        f = (1.5 - x + x y)^2 + (2.25 - x + x y^2)^2 + (2.625 - x + x y^3)^2

    Flat plateaus and sharp ridges; note that along the line ``y = 1`` the function is
    constant (``df/dx = 0`` there), a trap for a start point on it.
    """
    c1, c2, c3 = 1.5, 2.25, 2.625

    def terms(x, y):
        return c1 - x + x * y, c2 - x + x * y**2, c3 - x + x * y**3

    def f(x, y):
        t1, t2, t3 = terms(x, y)
        return t1 * t1 + t2 * t2 + t3 * t3

    def grad(x, y):
        t1, t2, t3 = terms(x, y)
        gx = 2.0 * (t1 * (y - 1.0) + t2 * (y**2 - 1.0) + t3 * (y**3 - 1.0))
        gy = 2.0 * (t1 * x + t2 * 2.0 * x * y + t3 * 3.0 * x * y**2)
        return gx, gy

    def hess(x, y):
        t1, t2, t3 = terms(x, y)
        # each term contributes 2 (grad t)(grad t)^T + 2 t hess(t)
        d1x, d1y = y - 1.0, x
        d2x, d2y = y**2 - 1.0, 2.0 * x * y
        d3x, d3y = y**3 - 1.0, 3.0 * x * y**2
        fxx = 2.0 * (d1x * d1x + d2x * d2x + d3x * d3x)
        fxy = 2.0 * (d1x * d1y + t1 * 1.0 + d2x * d2y + t2 * 2.0 * y + d3x * d3y + t3 * 3.0 * y**2)
        fyy = 2.0 * (d1y * d1y + d2y * d2y + t2 * 2.0 * x + d3y * d3y + t3 * 6.0 * x * y)
        return fxx, fxy, fyy

    return Surface(
        "beale",
        r"f = (1.5 - x + xy)^2 + (2.25 - x + xy^2)^2 + (2.625 - x + xy^3)^2",
        f, grad, hess,
        minima=((3.0, 0.5),),
        min_value=0.0,
        bounds=((-4.5, 4.5), (-4.5, 4.5)),
        start=(1.0, 1.5),
    )


def saddle() -> Surface:
    """The saddle ``f = x^2 - y^2`` (slide 002's example).

    The origin has zero gradient but is no minimum: ``f`` curves up along x and down along y
    (Hessian ``diag(2, -2)``). There is no minimum at all (``minima`` is empty). Started exactly
    on the x-axis, gradient descent walks into the saddle and stops; any tiny y offset grows
    by a factor ``(1 + 2 lr)`` per step and escapes. The suggested start has such an offset.
    """

    def f(x, y):
        return x * x - y * y

    def grad(x, y):
        return 2.0 * x, -2.0 * y

    def hess(x, y):
        z = np.zeros_like(x + y)
        return z + 2.0, z, z - 2.0

    return Surface(
        "saddle",
        r"f = x^2 - y^2",
        f, grad, hess,
        minima=(),
        min_value=None,
        saddle_points=((0.0, 0.0),),
        bounds=((-2.0, 2.0), (-2.0, 2.0)),
        start=(1.5, 1e-3),
    )


# Himmelblau's four minima, solved to float64 accuracy (Newton on the gradient).
_HIMMELBLAU_MINIMA = (
    (3.0, 2.0),
    (-2.805118086952745, 3.131312518250573),
    (-3.779310253377747, -3.2831859912861696),
    (3.5844283403304917, -1.8481265269644036),
)


def himmelblau() -> Surface:
    """Himmelblau's function ``f = (x^2 + y - 11)^2 + (x + y^2 - 7)^2``.

    Four global minima, all with ``f = 0``: (3, 2), (-2.8051, 3.1313), (-3.7793, -3.2832),
    (3.5844, -1.8481); a local maximum near (-0.2708, -0.9230). Which minimum an optimizer
    reaches depends on its start: a good picture of non-convexity.

    - ``df/dx = 4 x (x^2 + y - 11) + 2 (x + y^2 - 7)``
    - ``df/dy = 2 (x^2 + y - 11) + 4 y (x + y^2 - 7)``
    - ``f_xx = 12 x^2 + 4 y - 42``, ``f_xy = 4 (x + y)``, ``f_yy = 4 x + 12 y^2 - 26``
    """

    def f(x, y):
        return (x * x + y - 11.0) ** 2 + (x + y * y - 7.0) ** 2

    def grad(x, y):
        p, q = x * x + y - 11.0, x + y * y - 7.0
        return 4.0 * x * p + 2.0 * q, 2.0 * p + 4.0 * y * q

    def hess(x, y):
        return 12.0 * x * x + 4.0 * y - 42.0, 4.0 * (x + y), 4.0 * x + 12.0 * y * y - 26.0

    return Surface(
        "himmelblau",
        r"f = (x^2 + y - 11)^2 + (x + y^2 - 7)^2",
        f, grad, hess,
        minima=_HIMMELBLAU_MINIMA,
        min_value=0.0,
        bounds=((-5.0, 5.0), (-5.0, 5.0)),
        start=(0.0, 0.0),
    )


#: name -> Surface with default parameters (feeds a dropdown). Build others with the factories.
SURFACES: dict[str, Surface] = {
    "quadratic_bowl": quadratic_bowl(),
    "rosenbrock": rosenbrock(),
    "beale": beale(),
    "saddle": saddle(),
    "himmelblau": himmelblau(),
}


def get_surface(name: str) -> Surface:
    """The registry entry ``SURFACES[name]``; ValueError listing the choices for unknown names."""
    return SURFACES[check_choice(name, "name", tuple(SURFACES))]
