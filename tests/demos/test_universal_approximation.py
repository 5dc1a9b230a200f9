"""The universal-approximation demo: one hidden layer, its constructive start, its training, its picture."""
import numpy as np
import pytest

from nnkit.demos.universal_approximation import TARGETS, UNITS, fit_one_hidden_layer, universal_approximation

from demo_checks import assert_each_move_redraws

pytestmark = pytest.mark.filterwarnings("error::RuntimeWarning")


@pytest.fixture(scope="module")
def demo():
    return universal_approximation(n_steps=100)


def test_the_network_is_the_sum_of_its_units(demo):
    for act in ("relu", "tanh"):
        demo.controls["activation"].value = act
        demo.controls["units"].value = 6
        s = demo.state
        p = s["params"]
        hidden = np.maximum(s["x"][:, None] * p["W1"] + p["b1"], 0) if act == "relu" else np.tanh(
            s["x"][:, None] * p["W1"] + p["b1"])
        np.testing.assert_allclose(s["contributions"], (hidden * p["W2"][:, 0]).T, atol=1e-12)
        np.testing.assert_allclose(s["fit"], s["contributions"].sum(axis=0) + p["b2"][0], atol=1e-12)
        np.testing.assert_allclose(s["x"][None, :] * 0 + p["W1"][0][:, None] * s["knots"][:, None] + p["b1"][:, None],
                                   0.0, atol=1e-12)  # each unit's pre-activation is 0 at its knot
        assert s["max_error"] == pytest.approx(np.max(np.abs(s["fit"] - TARGETS[s["target"]](s["x"]))))


def test_the_constructive_start_is_the_least_squares_fit_for_evenly_spread_kinks():
    r = fit_one_hidden_layer("abs", 2, "relu", n_steps=0)
    p = r["model"].params
    np.testing.assert_allclose(p["W1"][0], [1.0, -1.0])
    np.testing.assert_allclose(-p["b1"] / p["W1"][0], [-0.5, 0.5])  # the middles of [-1, 0] and [0, 1]
    # |x| on [-1, 1] from relu(x + 0.5) and relu(0.5 - x): least squares, checked with numpy's lstsq
    xs = np.linspace(-1, 1, 101)
    A = np.column_stack([np.maximum(xs + 0.5, 0), np.maximum(0.5 - xs, 0), np.ones_like(xs)])
    coef = np.linalg.lstsq(A, np.abs(xs), rcond=None)[0]
    np.testing.assert_allclose([*p["W2"][:, 0], p["b2"][0]], coef, atol=1e-10)
    assert r["mse"] == r["mse_start"] == pytest.approx(np.mean((A @ coef - np.abs(xs)) ** 2))


def test_training_improves_on_the_start_and_width_lowers_the_error():
    for target in ("sine", "bumps"):
        errs = [fit_one_hidden_layer(target, n, "tanh", n_steps=200) for n in (2, 8, 32)]
        assert all(e["mse"] <= e["mse_start"] * 1.01 for e in errs)  # Adam's last steps may jitter a little
        assert errs[0]["mse"] > 10 * errs[1]["mse"] > 10 * errs[2]["mse"]


def test_a_jump_keeps_a_large_largest_error(demo):
    demo.controls["activation"].value = "relu"
    demo.controls["target"].value = "step"
    demo.controls["units"].value = 64
    wide_mse = demo.state["mse"]
    assert demo.state["max_error"] > 0.3  # a continuous network cannot jump
    demo.controls["units"].value = 4
    assert demo.state["mse"] > wide_mse
    demo.controls["target"].value = "sine"


def test_error_panel_lists_the_computed_widths(demo):
    demo.controls["target"].value = "sine"
    demo.controls["activation"].value = "relu"
    s = demo.state
    np.testing.assert_array_equal(s["computed_units"], UNITS)  # built for every width
    line = demo.fig.axes[1].lines[0]
    np.testing.assert_allclose(line.get_ydata(), np.maximum(s["computed_mse"], 1e-9))
    demo.controls["target"].value = "abs"
    demo.controls["units"].value = 3
    assert 3 in demo.state["computed_units"]  # computed on its first visit


def test_show_units_and_every_control_redraw(demo):
    demo.controls["target"].value = "sine"
    demo.controls["show_units"].value = False
    assert len(demo.fig.axes[0].collections[0].get_segments()) == 0
    demo.controls["show_units"].value = True
    assert len(demo.fig.axes[0].collections[0].get_segments()) == demo.state["units"]
    assert_each_move_redraws(demo, [("units", 12), ("activation", "tanh"), ("target", "bumps"), ("show_units", False)])
