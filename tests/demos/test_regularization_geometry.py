"""Regularization geometry: the optima are right (checked against scipy) and the picture shows them."""
import numpy as np
import pytest
from scipy.optimize import minimize

from nnkit.demos.regularization_geometry import (
    LOSSES,
    l1_optimum,
    l2_optimum,
    quadratic_loss,
    regularization_geometry,
)
from nnkit.regularization import l1_penalty, l2_penalty

from demo_checks import assert_refused_then_recovers, new_captures

pytestmark = pytest.mark.filterwarnings("error::RuntimeWarning")


def _scipy_l2(A, c, lam):
    f = lambda w: quadratic_loss(w, A, c) + l2_penalty({"W": w}, lam)  # noqa: E731
    return minimize(f, np.zeros(len(c)), method="BFGS", options={"gtol": 1e-12}).x


def _scipy_l1(A, c, lam):
    """min L(u - v) + lam * sum(u + v) over u, v >= 0: smooth, with bounds (an independent method)."""
    n = len(c)

    def f(z):
        w = z[:n] - z[n:]
        g = A @ (w - c)
        return quadratic_loss(w, A, c) + lam * z.sum(), np.concatenate([g + lam, -g + lam])

    res = minimize(f, np.full(2 * n, 0.1), jac=True, method="L-BFGS-B", bounds=[(0, None)] * (2 * n),
                   options={"ftol": 1e-15, "gtol": 1e-12, "maxiter": 10_000})
    return res.x[:n] - res.x[n:]


def _line(ax, gid):
    (line,) = [a for a in ax.get_lines() if a.get_gid() == gid]
    return line


def _random_problems(rng, n, count):
    for _ in range(count):
        M = rng.standard_normal((n, n))
        yield M @ M.T + 0.3 * np.eye(n), rng.normal(0, 2, n), float(rng.uniform(0, 3))


@pytest.mark.parametrize("name", list(LOSSES))
@pytest.mark.parametrize("lam", [0.0, 0.4, 1.2, 2.5, 3.9])
def test_optima_agree_with_scipy(name, lam):
    A, c = LOSSES[name]
    np.testing.assert_allclose(l2_optimum(A, c, lam), _scipy_l2(A, c, lam), atol=1e-6)
    np.testing.assert_allclose(l1_optimum(A, c, lam), _scipy_l1(A, c, lam), atol=1e-6)


@pytest.mark.parametrize("n", [2, 3])
def test_l1_optimum_on_random_quadratics(rng, n):
    for A, c, lam in _random_problems(rng, n, 15):
        w = l1_optimum(A, c, lam)
        np.testing.assert_allclose(w, _scipy_l1(A, c, lam), atol=1e-6)
        # optimality (KKT): A (w - c) + lam * s = 0 with s = sign(w) on the support, |.| <= lam off it
        g = A @ (w - c)
        on = w != 0
        np.testing.assert_allclose(g[on], -lam * np.sign(w[on]), atol=1e-9)
        assert np.all(np.abs(g[~on]) <= lam + 1e-9)


def test_demo_plots_the_optima(rng):
    d = regularization_geometry()
    for name in LOSSES:
        d.controls["loss"].value = name
        A, c = LOSSES[name]
        for lam in (0.0, 0.5, 1.3, 3.0):
            d.controls["lam"].value = lam
            s = d.state
            assert (s["loss"], s["lam"]) == (name, lam)
            np.testing.assert_allclose(s["w_l2"], _scipy_l2(A, c, lam), atol=1e-6)
            np.testing.assert_allclose(s["w_l1"], _scipy_l1(A, c, lam), atol=1e-6)
            assert s["objective_l2"] == pytest.approx(quadratic_loss(s["w_l2"], A, c) + lam / 2 * s["w_l2"] @ s["w_l2"])
            assert s["objective_l1"] == pytest.approx(quadratic_loss(s["w_l1"], A, c) + lam * np.abs(s["w_l1"]).sum())
            ax_l2, ax_l1 = d.fig.axes[:2]
            # the dot is the optimum, the region passes through it, and so does the dashed contour
            for ax, w in ((ax_l2, s["w_l2"]), (ax_l1, s["w_l1"])):
                point = _line(ax, "optimum")
                np.testing.assert_allclose([point.get_xdata()[0], point.get_ydata()[0]], w)
            circle = np.column_stack(_line(ax_l2, "region").get_data())
            np.testing.assert_allclose(np.linalg.norm(circle, axis=1), s["radius_l2"], atol=1e-12)
            diamond = np.column_stack(_line(ax_l1, "region").get_data())
            np.testing.assert_allclose(np.abs(diamond).sum(axis=1), s["radius_l1"], atol=1e-12)
            for ax, w in ((ax_l2, s["w_l2"]), (ax_l1, s["w_l1"])):
                contour = np.column_stack(_line(ax, "contour").get_data())
                np.testing.assert_allclose(quadratic_loss(contour, A, c), quadratic_loss(w, A, c), atol=1e-9)
    assert d.errors == []


def test_l1_gives_exact_zeros_and_l2_does_not():
    d = regularization_geometry(lam=0.3)
    assert d.state["n_zero_l1"] == 0
    d.controls["lam"].value = 1.2
    s = d.state
    assert s["n_zero_l1"] == 1 and s["w_l1"][1] == 0.0  # the contour touches the diamond's corner
    assert np.all(s["w_l2"] != 0)
    assert "sparse" in d.fig.axes[1].get_title()
    d.controls["lam"].value = 3.98  # beyond max|A c| both L1 weights vanish
    assert d.state["lam"] > d.state["lam_max"] and np.all(d.state["w_l1"] == 0)
    assert np.all(np.abs(d.state["w_l2"]) > 0.1)  # L2 only shrinks
    # larger lambda -> smaller weights, for both penalties
    radii = []
    for lam in (0.0, 0.5, 1.0, 2.0, 3.0):
        d.controls["lam"].value = lam
        radii.append((d.state["radius_l2"], d.state["radius_l1"]))
    assert np.all(np.diff(np.array(radii), axis=0) < 0)


def test_l2_optimum_is_where_the_contour_is_tangent_to_the_circle():
    for name, (A, c) in LOSSES.items():
        for lam in (0.3, 1.0, 2.0):
            w = l2_optimum(A, c, lam)
            # gradient of the loss is -lam * w: normal to the circle at w
            np.testing.assert_allclose(A @ (w - c), -lam * w, atol=1e-12)
            # and w minimises the penalised objective along the circle ||v|| = ||w||: compare 720 points
            t = np.linspace(0, 2 * np.pi, 720)
            ring = np.linalg.norm(w) * np.column_stack([np.cos(t), np.sin(t)])
            assert quadratic_loss(ring, A, c).min() >= quadratic_loss(w, A, c) - 1e-4


def test_penalties_are_nnkits():
    d = regularization_geometry(lam=0.8)
    s = d.state
    loss_l1, loss_l2 = quadratic_loss(s["w_l1"], s["A"], s["c"]), quadratic_loss(s["w_l2"], s["A"], s["c"])
    assert s["objective_l1"] == pytest.approx(loss_l1 + l1_penalty({"W": s["w_l1"]}, 0.8))
    assert s["objective_l2"] == pytest.approx(loss_l2 + l2_penalty({"W": s["w_l2"]}, 0.8))


def test_lambda_only_moves_dynamic_artists():
    d = regularization_geometry()
    assert new_captures(d, [("lam", lam) for lam in (0.1, 0.9, 2.2)]) == 0  # the contours were not redrawn
    captures = d.fig.artists[0].n_captures
    marker = _line(d.fig.axes[2], "lambda")
    assert list(marker.get_xdata()) == [2.2, 2.2]
    d.controls["loss"].value = "round bowl"
    d.render()  # a new loss: this draw captures its static picture
    assert d.fig.artists[0].n_captures == captures + 1
    d.controls["loss"].value = "tilted ellipse"  # seen before: its picture is reused
    d.render()
    assert d.fig.artists[0].n_captures == captures + 1
    assert len(d.fig.axes[0].collections) == 2  # one contour set per loss seen, made once
    d.fig.artists[0].invalidate()  # (while live, every static artist is hidden)
    assert sum(cs.get_visible() for cs in d.fig.axes[0].collections) == 1  # only the current loss's shows


def test_a_bad_value_reaches_the_output_area():
    d = regularization_geometry()
    assert_refused_then_recovers(d, "loss", "saddle", "round bowl", error="KeyError", shown="KeyError")
