"""Tests for nnkit.surfaces: values, analytic gradients and Hessians, minima, the bowl's conditioning."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nnkit import surfaces
from nnkit.gradcheck import numerical_gradient, rel_error
from nnkit.surfaces import SURFACES, Surface, get_surface, quadratic_bowl, rosenbrock, saddle

# the registry entries plus non-default parameters
VARIANTS = {
    **SURFACES,
    "bowl_k100_rot": quadratic_bowl(condition=100.0, angle=0.6),
    "bowl_k1": quadratic_bowl(condition=1.0),
    "rosenbrock_a2_b10": rosenbrock(a=2.0, b=10.0),
}


def _points(s: Surface, rng, n=40):
    (x0, x1), (y0, y1) = s.bounds
    return np.column_stack([rng.uniform(x0, x1, n), rng.uniform(y0, y1, n)])


# --------------------------------------------------------------------------------------------
# derivatives
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", VARIANTS)
def test_gradient_matches_centred_differences(name, rng):
    s = VARIANTS[name]
    for p in _points(s, rng):
        num = numerical_gradient(lambda q: s.f(q[0], q[1]), p.copy())
        ana = s.grad(*p)
        assert ana.shape == (2,)
        assert rel_error(ana, num) < 1e-7, (name, p, ana, num)


@pytest.mark.parametrize("name", VARIANTS)
def test_hessian_matches_differences_of_the_gradient(name, rng):
    s = VARIANTS[name]
    for p in _points(s, rng, n=20):
        H = s.hessian(*p)
        assert H.shape == (2, 2)
        np.testing.assert_array_equal(H, H.T)
        for i in range(2):  # row i = gradient of (df/dx_i)
            num = numerical_gradient(lambda q: s.grad(q[0], q[1])[i], p.copy())
            assert rel_error(H[i], num) < 1e-7, (name, p, i, H[i], num)


@pytest.mark.parametrize("name", SURFACES)
def test_vectorised_over_arrays(name, rng):
    s = SURFACES[name]
    P = _points(s, rng, n=12)
    x = P[:, 0].reshape(3, 4)
    y = P[:, 1].reshape(3, 4)
    F, G, H = s.f(x, y), s.grad(x, y), s.hessian(x, y)
    assert F.shape == (3, 4) and G.shape == (3, 4, 2) and H.shape == (3, 4, 2, 2)
    for i in range(3):
        for j in range(4):
            assert F[i, j] == pytest.approx(float(s.f(float(x[i, j]), float(y[i, j]))), rel=1e-14)
            np.testing.assert_allclose(G[i, j], s.grad(float(x[i, j]), float(y[i, j])), rtol=1e-14)
            np.testing.assert_allclose(H[i, j], s.hessian(float(x[i, j]), float(y[i, j])), rtol=1e-14)
    # broadcasting: a column of x against a row of y
    Fb = s.f(x[:, :1], y[:1, :])
    assert Fb.shape == (3, 4)
    assert s.grad(x[:, :1], y[:1, :]).shape == (3, 4, 2)
    # lists work too; __call__ is f
    np.testing.assert_allclose(s([0.5, 1.0], [0.25, -0.5]), s.f(np.array([0.5, 1.0]), np.array([0.25, -0.5])))


@pytest.mark.parametrize("name", SURFACES)
def test_grid_for_contour_plots(name):
    s = SURFACES[name]
    X, Y, Z = s.grid(n=30)
    assert X.shape == Y.shape == Z.shape == (30, 30)
    assert X.min() == s.bounds[0][0] and X.max() == s.bounds[0][1]
    assert Y.min() == s.bounds[1][0] and Y.max() == s.bounds[1][1]
    with pytest.raises(ValueError, match="n must be an integer >= 2"):
        s.grid(n=1)


# --------------------------------------------------------------------------------------------
# landmarks
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", VARIANTS)
def test_minima_have_zero_gradient_and_known_value(name):
    s = VARIANTS[name]
    if name == "saddle":
        assert s.minima == () and s.min_value is None
        return
    assert len(s.minima) >= 1
    for m in s.minima:
        assert np.max(np.abs(s.grad(*m))) < 1e-12
        assert abs(float(s.f(*m)) - s.min_value) < 1e-24
        assert np.all(np.linalg.eigvalsh(s.hessian(*m)) > 0)  # a true (strict) minimum
        (x0, x1), (y0, y1) = s.bounds
        assert x0 <= m[0] <= x1 and y0 <= m[1] <= y1
    # nothing on a fine grid is lower than the known minimum value
    _, _, Z = s.grid(n=301)
    assert Z.min() >= s.min_value - 1e-12


def test_known_minimum_locations():
    assert SURFACES["rosenbrock"].minima == ((1.0, 1.0),)
    assert rosenbrock(a=2.0, b=10.0).minima == ((2.0, 4.0),)
    assert SURFACES["beale"].minima == ((3.0, 0.5),)
    assert len(SURFACES["himmelblau"].minima) == 4
    assert (3.0, 2.0) in SURFACES["himmelblau"].minima
    assert float(SURFACES["himmelblau"].f(3.0, 2.0)) == 0.0
    assert float(SURFACES["rosenbrock"].f(-1.2, 1.0)) == pytest.approx(24.2)  # 2.2^2 + 100 * 0.44^2


def test_saddle_point():
    s = saddle()
    np.testing.assert_array_equal(s.grad(0.0, 0.0), [0.0, 0.0])
    np.testing.assert_array_equal(s.hessian(0.0, 0.0), [[2.0, 0.0], [0.0, -2.0]])
    assert s.saddle_points == ((0.0, 0.0),)
    # slide 002: zero gradient, yet (0, eps) is lower
    assert s.f(0.0, 1e-3) < s.f(0.0, 0.0) < s.f(1e-3, 0.0)
    # gradient descent from the suggested start escapes along y: |y| grows by (1 + 2 lr) per step
    p, lr = np.array(s.start), 0.1
    for _ in range(10):
        p = p - lr * s.grad(*p)
    assert p[1] == pytest.approx(s.start[1] * 1.2**10, rel=1e-12)
    assert p[0] == pytest.approx(s.start[0] * 0.8**10, rel=1e-12)


# --------------------------------------------------------------------------------------------
# the ill-conditioned bowl
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("kappa", [1.0, 2.5, 10.0, 100.0, 1e4])
@pytest.mark.parametrize("angle", [0.0, 0.3, np.pi / 4, -1.2])
def test_bowl_hessian_condition_number_is_kappa(kappa, angle, rng):
    s = quadratic_bowl(condition=kappa, angle=angle)
    for p in rng.uniform(-3, 3, size=(3, 2)):
        H = s.hessian(*p)
        assert np.linalg.cond(H) == pytest.approx(kappa, rel=1e-9)
        lam, vec = np.linalg.eigh(H)
        np.testing.assert_allclose(lam, [1.0, kappa], rtol=1e-12)
        if kappa > 1:  # the flat axis points along the rotated x axis
            assert abs(vec[:, 0] @ [np.cos(angle), np.sin(angle)]) == pytest.approx(1.0, abs=1e-12)
    assert s.params == {"condition": kappa, "angle": angle}
    # f = 1/2 p^T H p exactly (a quadratic with minimum 0 at the origin)
    p = np.array([0.7, -1.3])
    assert float(s.f(*p)) == pytest.approx(0.5 * p @ s.hessian(0, 0) @ p, rel=1e-13)


def test_bowl_gradient_step_by_hand():
    s = quadratic_bowl(condition=10.0)
    # f = (x^2 + 10 y^2)/2, grad = (x, 10 y); at the start (-2.5, 1): grad = (-2.5, 10)
    np.testing.assert_array_equal(s.grad(*s.start), [-2.5, 10.0])
    # one step with lr = 0.1: (-2.5 + 0.25, 1 - 1.0) = (-2.25, 0.0)
    p = np.array(s.start) - 0.1 * s.grad(*s.start)
    np.testing.assert_allclose(p, [-2.25, 0.0], atol=1e-15)


def test_bowl_bad_parameters():
    with pytest.raises(ValueError, match="condition must be >= 1"):
        quadratic_bowl(condition=0.5)
    with pytest.raises(ValueError, match="condition must be > 0"):
        quadratic_bowl(condition=-3)
    with pytest.raises(ValueError, match="angle must be a finite real number"):
        quadratic_bowl(angle=np.nan)
    with pytest.raises(ValueError, match="b must be > 0"):
        rosenbrock(b=0)


# --------------------------------------------------------------------------------------------
# registry and input checks
# --------------------------------------------------------------------------------------------
def test_registry():
    assert set(SURFACES) == {"quadratic_bowl", "rosenbrock", "beale", "saddle", "himmelblau"}
    for name, s in SURFACES.items():
        assert s.name == name and get_surface(name) is s
        assert isinstance(s.formula, str) and s.formula.startswith("f = ")
        (x0, x1), (y0, y1) = s.bounds
        assert x0 < x1 and y0 < y1
        assert x0 <= s.start[0] <= x1 and y0 <= s.start[1] <= y1
        assert s.start not in s.minima
        assert name in repr(s)
    with pytest.raises(ValueError, match="name must be one of 'quadratic_bowl'.*got 'booth'"):
        get_surface("booth")
    with pytest.raises(TypeError):
        SURFACES["beale"].params["x"] = 1  # read-only mapping


def test_bad_input():
    s = SURFACES["rosenbrock"]
    with pytest.raises(ValueError, match="x must be finite"):
        s.f(np.nan, 0.0)
    with pytest.raises(ValueError, match="y must be finite"):
        s.grad(0.0, np.inf)
    with pytest.raises(ValueError, match="y must be finite"):
        s.grad(np.zeros(3), np.array([0.0, np.nan, 0.0]))
    with pytest.raises(TypeError, match="x must hold real numbers"):
        s.f("1", 0.0)
    with pytest.raises(ValueError, match=r"x and y must broadcast together; got shapes \(3,\) and \(2,\)"):
        s.f(np.zeros(3), np.zeros(2))


def test_optimizer_demo_reaches_each_minimum_from_the_start():
    # gradient descent with momentum (PyTorch form, hand-rolled) from each suggested start
    for name, lr, steps in (("quadratic_bowl", 0.05, 2000), ("himmelblau", 0.005, 2000), ("rosenbrock", 5e-4, 40000)):
        s = SURFACES[name]
        p, v = np.array(s.start), np.zeros(2)
        for _ in range(steps):
            v = 0.9 * v + s.grad(*p)
            p = p - lr * v
        assert min(np.hypot(p[0] - m[0], p[1] - m[1]) for m in s.minima) < 1e-4, (name, p)


@settings(max_examples=30, deadline=None)
@given(
    x=st.floats(-4.0, 4.0),
    y=st.floats(-4.0, 4.0),
    name=st.sampled_from(sorted(SURFACES)),
)
def test_property_scalar_in_scalar_out(x, y, name):
    s = SURFACES[name]
    f = s.f(x, y)
    g = s.grad(x, y)
    assert np.ndim(f) == 0 and np.isfinite(f)
    assert g.shape == (2,) and g.dtype == np.float64
    assert s.hessian(x, y).shape == (2, 2)


def test_public_names_exist():
    for name in surfaces.__all__:
        assert hasattr(surfaces, name)
