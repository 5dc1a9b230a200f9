"""The learning-rate explorer, driven headless: its iterates must be nnkit's SGD on nnkit's surfaces."""
import warnings

import numpy as np
import pytest

from nnkit.demos.lr_explorer import BOX_FACTOR, FUNCTIONS, lr_explorer
from nnkit.optimizers import SGD, optimize_path
from nnkit.schedules import exponential_decay, inverse_time, step_decay
from nnkit.surfaces import himmelblau, quadratic_bowl

from demo_checks import assert_refused_then_recovers


def _grad_1d(surface):
    return lambda w: surface.grad(w[0], 0.0)[:1]


@pytest.fixture(scope="module")
def demo():
    return lr_explorer("quadratic (1-D)", lr=0.1, steps=30)


def test_the_iterates_are_nnkit_sgd_and_the_artists_show_them(demo):
    demo.controls["function"].value = "quadratic (1-D)"
    for lr in (0.01, 0.1, 0.7):
        demo.controls["lr"].value = lr
        lr = demo.controls["lr"].value  # the log slider rounds to its grid
        st = demo.state
        expected = optimize_path(SGD(lr), _grad_1d(quadratic_bowl(1.0)), [2.5], 30)
        np.testing.assert_allclose(st["path"], expected, rtol=0, atol=1e-15)
        np.testing.assert_allclose(st["path"][:, 0], 2.5 * (1 - lr) ** np.arange(31), rtol=1e-12)  # w <- (1-lr) w
        np.testing.assert_allclose(st["loss"], 0.5 * st["path"][:, 0] ** 2, rtol=1e-12)
        line = demo.fig.axes[0].lines[2]
        np.testing.assert_allclose(line.get_xdata(), st["path"][:, 0])
        np.testing.assert_allclose(line.get_ydata(), st["loss"])
    assert demo.errors == []


def test_too_small_right_overshooting_and_diverging_are_told_apart(demo):
    demo.controls["function"].value = "quadratic (1-D)"
    demo.controls["steps"].value = 30
    seen = {}
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no RuntimeWarning, no anything, even when it diverges
        for lr in (0.001, 1.0, 1.5849, 2.0893, 10.0):
            demo.controls["lr"].value = lr
            seen[lr] = (demo.state["status"], demo.state["message"], demo.state["path"].copy())
            demo.render()
    assert seen[0.001][0] == "slow" and "not converged after 30 steps" in seen[0.001][1]
    assert seen[1.0][0] == "converged" and seen[1.0][2][1, 0] == 0.0  # one step lands on the minimum
    steps = np.diff(seen[1.5849][2][:, 0])
    assert seen[1.5849][0] == "converged" and np.all(steps[:-1] * steps[1:] < 0)  # it zig-zags in
    assert seen[2.0893][0] == "diverging" and "loss grew" in seen[2.0893][1]  # |1 - lr| > 1, still in the box
    status, message, path = seen[10.0]
    assert status == "diverged" and "DIVERGED at step" in message
    assert demo.state["diverged_at"] == len(path) - 1 < 30
    assert np.all(np.isfinite(path)) and abs(path[-1, 0]) > BOX_FACTOR * 3.0
    assert "diverged" in demo.widget.children[0].value.lower()
    # the drawing is clipped near the window; the loss axis does not follow the explosion
    assert np.max(np.abs(demo.fig.axes[0].lines[2].get_xdata())) <= 3.0 + 3.0
    assert demo.fig.axes[1].get_ylim()[1] < 1e6
    assert demo.errors == []


def test_schedules_set_the_rate_of_every_step(demo):
    demo.controls["function"].value = "quadratic (1-D)"
    demo.controls["lr"].value = 0.1
    lr = demo.controls["lr"].value
    for name, sched in (("inverse_time", inverse_time(10 * lr, 10.0)), ("step_decay", step_decay(lr, 0.5, 10)),
                        ("exponential_decay", exponential_decay(lr, 0.95))):
        demo.controls["schedule"].value = name
        k = np.arange(30)
        np.testing.assert_allclose(demo.state["lrs"], sched(k), rtol=1e-15)
        w = 2.5 * np.cumprod(np.concatenate([[1.0], 1 - sched(k)]))  # w_{k+1} = (1 - lr_k) w_k
        np.testing.assert_allclose(demo.state["path"][:, 0], w, rtol=1e-12)
    demo.controls["schedule"].value = "constant"
    np.testing.assert_array_equal(demo.state["lrs"], np.full(30, lr))
    assert demo.errors == []


def test_two_dimensional_functions_and_the_start_point(demo):
    demo.controls["function"].value = "bowl (2-D)"
    prob = FUNCTIONS["bowl (2-D)"]
    assert (demo.controls["x0"].value, demo.controls["y0"].value) == prob.start  # reset to the suggested start
    assert not demo.controls["y0"].disabled
    demo.controls["lr"].value = 0.1
    demo.controls["y0"].value = -1.5
    lr = demo.controls["lr"].value
    s = prob.surface
    expected = optimize_path(SGD(lr), lambda w: s.grad(*w), [prob.start[0], -1.5], 30)
    np.testing.assert_allclose(demo.state["path"], expected, rtol=0, atol=1e-14)
    board = [ax for ax in demo.fig.axes[2:] if ax.get_visible()]
    assert len(board) == 1 and not demo.fig.axes[0].get_visible()
    np.testing.assert_allclose(board[0].lines[-2].get_xydata(), expected)
    # bowl, condition 10: stable only below lr = 2/10
    demo.controls["lr"].value = 0.2512
    assert demo.state["status"] in ("diverging", "diverged")
    demo.controls["function"].value = "quadratic (1-D)"
    assert demo.controls["y0"].disabled and demo.fig.axes[0].get_visible() and not board[0].get_visible()
    assert demo.errors == []


def test_saddle_and_local_minima():
    demo = lr_explorer("saddle (2-D)", lr=0.1, steps=200)
    demo.controls["y0"].value = 0.0  # exactly on the x-axis: the gradient never gets a y component
    assert demo.state["status"] == "converged" and "saddle point" in demo.state["message"]
    demo.controls["y0"].value = 0.01
    assert demo.state["status"] == "escaped" and "no minimum" in demo.state["message"]
    assert demo.state["f_star"] is None and demo.fig.axes[1].get_yscale() == "linear"

    demo.controls["function"].value = "non-convex (1-D)"
    demo.controls["lr"].value = 0.01
    demo.controls["steps"].value = 60
    demo.controls["x0"].value = -1.0  # left of the local maximum at w = -0.34
    assert demo.state["status"] == "converged" and "LOCAL minimum" in demo.state["message"]
    assert demo.state["path"][-1, 0] == pytest.approx(-3.059, abs=1e-3)
    demo.controls["x0"].value = 0.0
    assert demo.state["path"][-1, 0] == pytest.approx(3.395, abs=1e-3)
    assert demo.state["loss"][-1] == pytest.approx(demo.state["f_star"], abs=1e-9)
    s = himmelblau()
    np.testing.assert_allclose(demo.state["loss"], s.f(demo.state["path"][:, 0], 0.0))
    assert demo.errors == []


def test_a_bad_value_reaches_the_output_area_instead_of_raising():
    assert_refused_then_recovers(lr_explorer(), "schedule", "cosine", "inverse_time", error="schedule must be one of",
                                 shown="schedule must be one of", kept=lambda d: d.state["path"])


def test_the_static_layer_is_replayed_pixel_for_pixel_and_saved_files_keep_their_axes(tmp_path):
    demo = lr_explorer("bowl (2-D)", lr=0.15)
    backdrop = next(a for a in demo.fig.artists if type(a).__name__ == "Backdrop")
    buffer = lambda: np.asarray(demo.fig.canvas.get_renderer().buffer_rgba()).copy()
    demo.controls["lr"].value = 0.05
    demo.render()  # builds the static layer for this view
    demo.controls["lr"].value = 0.1
    demo.render()  # replays it
    replayed = buffer()
    backdrop.invalidate()
    demo.render()  # draws everything from scratch
    np.testing.assert_array_equal(buffer(), replayed)
    # a file drawn at another resolution has its ticks, labels and contours too
    path = tmp_path / "explorer.png"
    demo.fig.savefig(path, dpi=2 * demo.fig.dpi)
    import matplotlib.image as mpimg
    saved = mpimg.imread(path)
    assert saved.shape[:2] == (2 * replayed.shape[0], 2 * replayed.shape[1])
    assert (saved[:, :80, :3] < 0.5).any()  # the y tick labels in the left margin
    assert (saved[: saved.shape[0] // 2, 100:400, 0] < saved[: saved.shape[0] // 2, 100:400, 2]).any()  # contours
    demo.render()  # and the next screen draw is right again
    np.testing.assert_array_equal(buffer(), replayed)
    assert demo.errors == []
