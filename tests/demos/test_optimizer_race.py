"""The optimizer race, driven headless: every trajectory must be nnkit's optimize_path."""
import warnings

import numpy as np
import pytest

from nnkit.demos.optimizer_race import OPTIMIZER_CHOICES, SURFACE_DEFAULTS, optimizer_race
from nnkit.optimizers import SGD, Adadelta, Adagrad, Adam, Momentum, Nesterov, RMSprop, Rprop, optimize_path
from nnkit.surfaces import SURFACES

from demo_checks import shown_text


def _reference(name, lr, lra, mu):
    """The optimizer each entry must be, built here independently of the demo's code."""
    return {
        "sgd": SGD(lr), "momentum": Momentum(lr, mu=mu), "nesterov": Nesterov(lr, mu=mu),
        "adagrad": Adagrad(lra), "rmsprop": RMSprop(lra), "adadelta": Adadelta(), "adam": Adam(lra),
        "adam_nobc": Adam(lra, bias_correction=False), "rprop": Rprop(lra),
    }[name]


def _expected(surface, name, lr, lra, mu, start, n):
    s = SURFACES[surface]
    return optimize_path(_reference(name, lr, lra, mu), lambda w: s.grad(*w), start, n)


@pytest.fixture(scope="module")
def demo():
    return optimizer_race("rosenbrock", OPTIMIZER_CHOICES, n_steps=60)


def test_every_trajectory_is_optimize_path(demo):
    st = demo.state
    lr, lra, start = SURFACE_DEFAULTS["rosenbrock"]
    assert (st["lr"], st["lr_adaptive"], st["start"]) == (lr, lra, start)
    for name in OPTIMIZER_CHOICES:
        assert st["diverged_at"][name] is None
        np.testing.assert_array_equal(st["paths"][name], _expected("rosenbrock", name, lr, lra, 0.9, start, 60))
        s = SURFACES["rosenbrock"]
        np.testing.assert_allclose(st["losses"][name], s.f(st["paths"][name][:, 0], st["paths"][name][:, 1]))
    assert st["hyper"]["momentum"] == {"lr": lr, "mu": 0.9, "convention": "pytorch"}
    assert demo.errors == []


def test_the_step_slider_draws_the_race_up_to_that_step(demo):
    assert demo.controls["step"].value == 60 == demo.controls["play"].max  # the whole race is drawn at first
    board = next(ax for ax in demo.fig.axes[1:] if ax.get_visible())
    loss_ax = demo.fig.axes[0]
    for t in (0, 7, 33):
        demo.controls["step"].value = t
        for i, name in enumerate(OPTIMIZER_CHOICES):
            path = demo.state["paths"][name]
            np.testing.assert_array_equal(demo.state["positions"][name], path[t])
            line = board.lines[-1 - 2 * len(OPTIMIZER_CHOICES) + i]  # after the contour markers
            np.testing.assert_array_equal(line.get_xydata(), path[: t + 1])
            assert len(loss_ax.lines[i].get_xdata()) == t + 1
        assert f"step {t} / 60" in demo.widget.children[0].value
    demo.render()
    demo.controls["step"].value = 60
    assert demo.errors == []


def test_hyperparameters_recompute_only_what_they_drive():
    demo = optimizer_race("quadratic_bowl", ("sgd", "momentum", "nesterov", "adam"), n_steps=40)
    before = {k: v.copy() for k, v in demo.state["paths"].items()}
    lr, lra, start = SURFACE_DEFAULTS["quadratic_bowl"]
    demo.controls["mu"].value = 0.5
    after = demo.state["paths"]
    np.testing.assert_array_equal(after["sgd"], before["sgd"])
    np.testing.assert_array_equal(after["adam"], before["adam"])
    assert not np.array_equal(after["momentum"], before["momentum"])
    np.testing.assert_array_equal(after["nesterov"], _expected("quadratic_bowl", "nesterov", lr, lra, 0.5, start, 40))

    demo.controls["lr_adaptive"].value = 0.01
    lra = demo.controls["lr_adaptive"].value
    np.testing.assert_array_equal(demo.state["paths"]["adam"], _expected("quadratic_bowl", "adam", lr, lra, 0.5, start, 40))
    np.testing.assert_array_equal(demo.state["paths"]["sgd"], before["sgd"])

    demo.controls["x0"].value = 2.0
    demo.controls["y0"].value = -2.0
    np.testing.assert_array_equal(demo.state["paths"]["sgd"], _expected("quadratic_bowl", "sgd", lr, lra, 0.5, (2.0, -2.0), 40))
    demo.controls["optimizers"].value = ("rprop",)
    assert set(demo.state["paths"]) == {"rprop"}
    board = next(ax for ax in demo.fig.axes[1:] if ax.get_visible())
    drawn = [l for l in board.lines if len(l.get_xdata()) > 1]
    assert len(drawn) == 1  # the unselected trajectories are cleared
    assert demo.errors == []


def test_changing_surface_resets_the_start_and_rates_and_reuses_each_contour_plot(demo):
    boards = {}
    for name in SURFACES:
        demo.controls["surface"].value = name
        lr, lra, start = SURFACE_DEFAULTS[name]
        assert (demo.controls["lr"].value, demo.controls["lr_adaptive"].value) == (lr, lra)
        assert (demo.controls["x0"].value, demo.controls["y0"].value) == start
        np.testing.assert_array_equal(demo.state["paths"]["sgd"][0], start)
        visible = [ax for ax in demo.fig.axes[1:] if ax.get_visible()]
        assert len(visible) == 1
        boards[name] = visible[0]
        assert demo.fig.axes[0].get_yscale() == ("linear" if name == "saddle" else "log")
    n_axes = len(demo.fig.axes)
    demo.controls["surface"].value = "beale"
    demo.controls["surface"].value = "rosenbrock"
    assert len(demo.fig.axes) == n_axes  # contours computed once per surface, then shown again
    assert [ax for ax in demo.fig.axes[1:] if ax.get_visible()] == [boards["rosenbrock"]]
    assert demo.errors == []


def test_a_diverging_optimizer_is_stopped_clipped_and_reported(demo):
    demo.controls["surface"].value = "rosenbrock"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        demo.controls["lr"].value = 0.1  # far beyond SGD's stable rate on Rosenbrock
        demo.render()
    st = demo.state
    at = st["diverged_at"]["sgd"]
    assert at is not None and 0 < at < 10
    assert st["diverged_at"]["adam"] is None
    np.testing.assert_array_equal(st["paths"]["sgd"][: at + 1],
                                  _expected("rosenbrock", "sgd", 0.1, st["lr_adaptive"], st["mu"], st["start"], at))
    assert np.all(np.isfinite(st["paths"]["sgd"])) and len(st["losses"]["sgd"]) == at
    assert f"diverged at step {at}" in demo.widget.children[0].value
    board = next(ax for ax in demo.fig.axes[1:] if ax.get_visible())
    (x0, x1), (y0, y1) = SURFACES["rosenbrock"].bounds
    xy = board.lines[-1 - 2 * len(OPTIMIZER_CHOICES)].get_xydata()
    assert xy[:, 0].max() <= x1 + (x1 - x0) / 2 and xy[:, 1].max() <= y1 + (y1 - y0) / 2
    demo.controls["lr"].value = SURFACE_DEFAULTS["rosenbrock"][0]
    assert demo.errors == []


def test_adam_without_bias_correction_takes_a_first_step_about_3_16_times_larger():
    demo = optimizer_race("quadratic_bowl", ("adam", "adam_nobc"), n_steps=10)
    p = demo.state["paths"]
    big = np.linalg.norm(p["adam_nobc"][1] - p["adam_nobc"][0])
    small = np.linalg.norm(p["adam"][1] - p["adam"][0])
    assert big / small == pytest.approx((1 - 0.9) / np.sqrt(1 - 0.999), rel=1e-6)  # 3.162..., not smaller


def test_a_bad_value_reaches_the_output_area_instead_of_raising():
    demo = optimizer_race("quadratic_bowl", ("sgd",), n_steps=20)
    ctrl = demo.controls["optimizers"]
    ctrl.options = [*ctrl.options, ("Lion", "lion")]  # not an nnkit optimizer (this clears the selection)
    ctrl.value = ("sgd",)
    before = demo.state["paths"]["sgd"].copy()
    ctrl.value = ("sgd", "lion")
    assert len(demo.errors) >= 1 and "optimizer must be one of" in shown_text(demo)
    np.testing.assert_array_equal(demo.state["paths"]["sgd"], before)
    ctrl.value = ("sgd", "adam")
    assert set(demo.state["paths"]) == {"sgd", "adam"}
