"""The normalization-axes demo: each method's sets and outputs, checked against means over named axes."""
import numpy as np
import pytest

from nnkit.demos.normalization_axes import LAYOUTS, METHODS, normalization_axes, normalize, set_labels

from demo_checks import assert_each_move_redraws

pytestmark = pytest.mark.filterwarnings("error::RuntimeWarning")
EPS = 1e-5

# the axes each method averages over, for (N, C, H, W) and for (N, C); group norm is checked apart
AXES = {("batch", 4): (0, 2, 3), ("layer", 4): (1, 2, 3), ("instance", 4): (2, 3),
        ("batch", 2): (0,), ("layer", 2): (1,)}


def by_hand(x, axes):
    mu = x.mean(axis=axes, keepdims=True)
    var = x.var(axis=axes, keepdims=True)  # biased
    return (x - mu) / np.sqrt(var + EPS)


def group_by_hand(x, G):
    N, C = x.shape[:2]
    xg = x.reshape(N, G, -1)
    return ((xg - xg.mean(axis=2, keepdims=True)) / np.sqrt(xg.var(axis=2, keepdims=True) + EPS)).reshape(x.shape)


@pytest.fixture
def demo():
    return normalization_axes()


@pytest.mark.parametrize("layout", LAYOUTS)
def test_outputs_match_the_axes_each_method_averages_over(demo, layout):
    demo.controls["layout"].value = layout
    for method in METHODS:
        demo.controls["method"].value = method
        for G in (1, 2, 3, 6):
            demo.controls["groups"].value = G
            s = demo.state
            x = s["x"]
            if method == "group":
                expected = group_by_hand(x, G)
            elif (method, x.ndim) in AXES:
                expected = by_hand(x, AXES[(method, x.ndim)])
            else:  # instance norm on (N, C)
                assert s["error"] and "spatial dimensions" in s["error"]
                assert np.all(np.isnan(s["x_hat"]))
                continue
            np.testing.assert_allclose(s["x_hat"], expected, rtol=1e-10, atol=1e-12)
            assert s["error"] is None
    assert demo.errors == []


@pytest.mark.parametrize("shape", [(4, 6, 2, 2), (4, 6)])
def test_every_set_is_standardized_and_the_sets_are_what_the_labels_say(shape, rng):
    x = rng.normal(3.0, 2.0, size=shape)
    for method, G in [("batch", 1), ("layer", 1), ("group", 2), ("group", 3), ("instance", 1)]:
        if method == "instance" and len(shape) == 2:
            continue
        labels = set_labels(shape, method, G)
        x_hat = normalize(x, method, G)
        for lab in np.unique(labels):
            inside = x_hat[labels == lab]
            assert inside.mean() == pytest.approx(0.0, abs=1e-12)
            v = x[labels == lab].var()
            assert inside.var() == pytest.approx(v / (v + EPS), rel=1e-10)  # 1, up to eps
        # and the labels are exactly the sets: moving one set's entries changes only that set's output
        x2 = x.copy()
        x2[labels == labels.flat[0]] += 5.0 * rng.standard_normal(int((labels == labels.flat[0]).sum()))
        changed = ~np.isclose(normalize(x2, method, G), x_hat)
        assert not changed[labels != labels.flat[0]].any()


def test_the_identities_layer_is_group_1_and_instance_is_group_C(rng):
    x = rng.normal(size=(3, 6, 2, 2))
    np.testing.assert_allclose(normalize(x, "layer"), normalize(x, "group", 1))
    np.testing.assert_allclose(normalize(x, "instance"), normalize(x, "group", 6))
    labels = set_labels(x.shape, "group", 6)
    np.testing.assert_array_equal(labels, set_labels(x.shape, "instance"))


def test_set_counts_and_sizes(demo):
    expected = {"batch": (6, 16), "layer": (4, 24), "instance": (24, 4), "group": (8, 12)}
    for method, (n_sets, size) in expected.items():
        demo.controls["method"].value = method
        assert (demo.state["n_sets"], demo.state["set_size"]) == (n_sets, size)
    demo.controls["layout"].value = "(N, C)"
    demo.controls["method"].value = "batch"
    assert (demo.state["n_sets"], demo.state["set_size"]) == (6, 4)
    demo.controls["method"].value = "instance"
    assert demo.state["set_size"] == 1 and "variance is 0" in demo.fig.axes[1].get_title()


def test_the_outline_surrounds_exactly_the_selected_set(demo):
    from nnkit.demos.normalization_axes import CELL, GAP

    for layout in LAYOUTS:
        demo.controls["layout"].value = layout
        for method in METHODS:
            demo.controls["method"].value = method
            demo.controls["sample"].value = 2
            demo.controls["channel"].value = 3
            s = demo.state
            x = s["x"]
            P = 1 if x.ndim == 2 else 4
            assert s["selected"][(2, 3) + (0,) * (x.ndim - 2)]
            rect = [p for p in demo.fig.axes[1].patches if p.get_fill() is False][0]
            x0, y0, w, h = rect.get_x(), rect.get_y(), rect.get_width(), rect.get_height()
            # every display cell of a selected entry lies inside the rectangle, every other one outside
            sel = s["selected"].reshape(4, 6 * P)
            for n in range(4):
                for cp in range(6 * P):
                    c, p = divmod(cp, P)
                    cx = c * (P * CELL + GAP) + p * CELL + (CELL - 1) / 2
                    cy = n * (CELL + GAP) + (CELL - 1) / 2
                    inside = x0 < cx < x0 + w and y0 < cy < y0 + h
                    assert inside == sel[n, cp], (layout, method, n, cp)
    assert demo.errors == []


def test_the_groups_slider_is_live_for_group_norm_only(demo):
    assert demo.controls["groups"].disabled
    demo.controls["method"].value = "group"
    assert not demo.controls["groups"].disabled
    demo.controls["groups"].value = 3
    assert demo.state["n_sets"] == 4 * 3
    demo.controls["method"].value = "layer"
    assert demo.controls["groups"].disabled


def test_every_control_changes_the_picture_or_the_state(demo):
    assert_each_move_redraws(demo, [("sample", 1), ("channel", 4), ("method", "group"), ("groups", 3),
                                    ("layout", "(N, C)")])
