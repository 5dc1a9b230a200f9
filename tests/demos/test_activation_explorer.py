"""The activation explorer, driven headless: what it plots must be nnkit's activations."""
import numpy as np
import pytest

from nnkit.activations import ACTIVATIONS, sigmoid_grad
from nnkit.demos.activation_explorer import X_MAX, activation_explorer

from demo_checks import assert_refused_then_recovers


def _ref_max(name):
    z = np.linspace(-X_MAX, X_MAX, 8001)
    return float(np.max(np.abs(ACTIVATIONS[name].grad(z))))


@pytest.fixture(scope="module")
def demo():
    return activation_explorer()


def test_every_activation_plots_nnkit_function_and_derivative(demo):
    ax_f, ax_d = demo.fig.axes
    for name, act in ACTIVATIONS.items():
        demo.controls["activation"].value = name
        st = demo.state
        assert st["name"] == name
        z = st["z"]
        np.testing.assert_array_equal(st["f"], act.fn(z))
        np.testing.assert_array_equal(st["df"], act.grad(z))
        # the artists show the same numbers
        line_f = next(l for l in ax_f.lines if len(l.get_xdata()) == len(z))
        line_d = next(l for l in ax_d.lines if len(l.get_xdata()) == len(z))
        np.testing.assert_array_equal(line_f.get_ydata(), act.fn(z))
        np.testing.assert_array_equal(line_d.get_ydata(), act.grad(z))
        # shading follows the stated definition: 0 -> dead, 0 < |f'| < threshold * max -> saturated
        m = _ref_max(name)
        assert st["max_grad"] == pytest.approx(m)
        mag = np.abs(act.grad(z))
        np.testing.assert_array_equal(st["dead"], mag == 0)
        np.testing.assert_array_equal(st["saturated"], (mag > 0) & (mag < st["threshold"] * m))
        assert name in demo.widget.children[0].value  # the header names it
    assert demo.errors == []
    demo.render()


def test_sigmoid_saturates_beyond_the_point_where_its_slope_is_5_percent_of_a_quarter():
    demo = activation_explorer("sigmoid", x_range=8.0, threshold=0.05)
    # sigma'(z) = 0.05 * 0.25 solved by bisection on nnkit's own derivative
    lo, hi = 0.0, 10.0
    for _ in range(60):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if sigmoid_grad(mid) > 0.0125 else (lo, mid)
    z_sat = (lo + hi) / 2  # about 4.36
    runs = demo.state["saturated_intervals"]
    assert len(runs) == 2 and demo.state["dead_intervals"] == []
    step = 16.0 / 800
    assert runs[0][0] == -8.0 and runs[1][1] == 8.0
    assert abs(runs[0][1] + z_sat) <= step and abs(runs[1][0] - z_sat) <= step
    assert demo.state["max_grad"] == pytest.approx(0.25)
    # a laxer threshold saturates more of the window
    before = demo.state["saturated_fraction"]
    demo.controls["threshold"].value = 0.2
    assert demo.state["saturated_fraction"] > before
    assert demo.errors == []


def test_relu_is_dead_on_the_left_and_marks_its_kink_leaky_relu_is_only_small_there():
    demo = activation_explorer("relu", x_range=4.0)
    st = demo.state
    assert st["dead_intervals"] == [(-4.0, 0.0)]  # relu_grad(0) = 0: nnkit's convention
    assert st["saturated_intervals"] == [] and st["kinks"] == (0.0,)
    kink_line = demo.fig.axes[0].lines[3]
    np.testing.assert_array_equal(kink_line.get_xydata(), [[0.0, 0.0]])

    demo.controls["activation"].value = "leaky_relu"
    assert demo.state["dead_intervals"] == []  # slope 0.01: never exactly zero
    assert demo.state["saturated_intervals"] == [(-4.0, 0.0)]  # but below 5 % of 1
    demo.controls["threshold"].value = 0.005
    assert demo.state["saturated_intervals"] == []  # 0.01 is not below 0.5 %

    demo.controls["activation"].value = "tanh"
    assert demo.state["kinks"] == ()
    assert len(demo.fig.axes[0].lines[3].get_xdata()) == 0
    assert demo.errors == []


def test_step_passes_no_gradient_anywhere_and_the_window_follows_the_slider():
    demo = activation_explorer("step")
    assert demo.state["saturated_fraction"] == 1.0 and demo.state["dead"].all()
    demo.controls["x_range"].value = 12.5
    z = demo.state["z"]
    assert (z[0], z[-1]) == (-12.5, 12.5) and 0.0 in z
    assert demo.fig.axes[0].get_xlim() == (-12.5, 12.5) == demo.fig.axes[1].get_xlim()
    assert demo.errors == []


def test_a_bad_value_reaches_the_output_area_instead_of_raising():
    demo = activation_explorer()
    shown = assert_refused_then_recovers(  # "swish" is not in nnkit's registry; the last good drawing stays
        demo, "activation", "swish", "tanh", error="activation name must be one of",
        shown="activation name must be one of", state_key="name",
        kept=lambda d: (d.state["name"], d.state["f"], d.fig.axes[0].lines[2].get_ydata()))
    assert "'swish'" in shown
