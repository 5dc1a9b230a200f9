"""The dropout explorer: the masks and scalings it plots, and the expectation it teaches."""
import numpy as np
import pytest

from nnkit.demos.dropout_explorer import dropout_explorer, layer_outputs
from nnkit.layers import dropout_forward

from demo_checks import assert_refused_then_recovers

pytestmark = pytest.mark.filterwarnings("error::RuntimeWarning")


@pytest.fixture
def demo():
    return dropout_explorer()


def test_inverted_dropout_is_nnkits(demo):
    for p in (0.2, 0.5, 0.8):
        demo.controls["p_drop"].value = p
        for k in (0, 17, 199):
            demo.controls["step"].value = k
            s = demo.state
            expected, _ = dropout_forward(s["h"], p, training=True, mask=s["mask"])
            np.testing.assert_allclose(s["shown"], expected, rtol=1e-15)
            np.testing.assert_allclose(s["shown"][s["mask"]], s["h"][s["mask"]] / (1 - p))
            assert np.all(s["shown"][~s["mask"]] == 0)
            heights = [bar.get_height() for bar in demo.fig.axes[0].patches[: len(s["h"])]]
            np.testing.assert_allclose(heights, s["shown"])
    demo.controls["mode"].value = "test"
    np.testing.assert_array_equal(demo.state["shown"], demo.state["h"])  # identity at test time
    assert demo.errors == []


def test_masks_keep_about_one_minus_p_and_are_coupled_across_p(demo):
    masks = {}
    for p in (0.1, 0.3, 0.6):
        demo.controls["p_drop"].value = p
        kept = []
        for k in range(0, 200, 5):
            demo.controls["step"].value = k
            kept.append(demo.state["mask"])
        kept = np.array(kept)
        assert abs(kept.mean() - (1 - p)) < 0.06
        masks[p] = kept
    # a unit dropped at a small p_drop is also dropped at a larger one (same uniforms)
    assert np.all(masks[0.6] <= masks[0.3]) and np.all(masks[0.3] <= masks[0.1])


@pytest.mark.parametrize("scaling", ["inverted", "plain"])
def test_correct_scalings_keep_the_expected_input_of_the_next_unit(demo, scaling):
    demo.controls["scaling"].value = scaling
    for p in (0.25, 0.5, 0.75):
        demo.controls["p_drop"].value = p
        demo.controls["step"].value = 199
        s = demo.state
        assert s["expected_z_train"] == pytest.approx(s["z_test"], rel=1e-12)
        # Monte Carlo over 200 masks agrees within a few standard errors
        se = s["z_train"].std() / np.sqrt(len(s["z_train"]))
        assert abs(s["running_mean"][-1] - s["z_test"]) < 4 * se
        np.testing.assert_allclose(s["running_mean"][-1], s["z_train"].mean())
    demo.controls["mode"].value = "test"
    expected = s["h"] * (1 - s["p_drop"]) if scaling == "plain" else s["h"]
    np.testing.assert_allclose(demo.state["shown"], expected)


def test_forgetting_to_rescale_is_off_by_the_keep_probability(demo):
    demo.controls["scaling"].value = "none (slip)"
    demo.controls["p_drop"].value = 0.5
    demo.controls["step"].value = 199
    s = demo.state
    assert s["expected_z_train"] == pytest.approx(0.5 * s["z_test"])
    assert s["running_mean"][-1] < 0.65 * s["z_test"]  # training sees about half of the test-time input
    assert "0.50" in demo.fig.axes[1].get_title()


def test_layer_outputs_conventions(rng):
    h = rng.random(6)
    keep = np.array([True, False, True, True, False, True])
    np.testing.assert_allclose(layer_outputs(h, 0.25, keep, "inverted", True), h * keep / 0.75)
    np.testing.assert_allclose(layer_outputs(h, 0.25, keep, "plain", True), h * keep)
    np.testing.assert_allclose(layer_outputs(h, 0.25, keep, "plain", False), 0.75 * h)
    np.testing.assert_allclose(layer_outputs(h, 0.25, keep, "none (slip)", False), h)
    stack = np.array([keep, ~keep])
    assert layer_outputs(h, 0.25, stack, "inverted", True).shape == (2, 6)


def test_step_and_mode_change_the_picture(demo):
    demo.controls["step"].value = 3
    first = demo.state["shown"].copy()
    demo.controls["step"].value = 4
    assert not np.array_equal(first, demo.state["shown"])
    assert len(demo.state["running_mean"]) == 5
    dropped_marks = demo.fig.axes[0].get_lines()[0].get_xdata()
    np.testing.assert_array_equal(dropped_marks, np.flatnonzero(~demo.state["mask"]))
    demo.controls["mode"].value = "test"
    assert len(demo.fig.axes[0].get_lines()[0].get_xdata()) == 0
    assert demo.state["mode"] == "test"
    demo.render()
    assert demo.errors == []


def test_a_bad_value_reaches_the_output_area(demo):
    assert_refused_then_recovers(demo, "scaling", "keep_prob", "plain", error="scaling must be one of",
                                 shown="ValueError")
