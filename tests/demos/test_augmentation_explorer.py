"""The augmentation explorer shows nnkit.augmentation's distortions of the ten digits, and nothing else."""
import numpy as np
import pytest

from nnkit.augmentation import rotate, shift
from nnkit.datasets import load_digits
from nnkit.demos.augmentation_explorer import augmentation_explorer, mosaic

from demo_checks import assert_each_move_redraws

pytestmark = pytest.mark.filterwarnings("error::RuntimeWarning")


@pytest.fixture
def demo():
    return augmentation_explorer()


def test_the_originals_are_one_raw_digit_of_each_class(demo):
    X, y = load_digits(scale=False)
    s = demo.state
    assert s["originals"].shape == (10, 64)
    for d in range(10):
        i = int(np.flatnonzero((X == s["originals"][d]).all(axis=1))[0])
        assert y[i] == d


def test_without_noise_each_image_is_the_rotation_then_the_shift_it_drew(demo):
    demo.controls["noise"].value = 0.0
    for m, deg in [(0, 0.0), (1, 10.0), (2, 30.0)]:
        demo.controls["max_shift"].value = m
        demo.controls["max_degrees"].value = deg
        s = demo.state
        assert np.abs(s["shifts"]).max() <= m and np.abs(s["angles"]).max() <= deg
        for r in range(s["augmented"].shape[0]):
            expected = shift(rotate(s["originals"], s["angles"][r]), s["shifts"][r, :, 0], s["shifts"][r, :, 1])
            np.testing.assert_allclose(s["augmented"][r], expected, atol=1e-12)
    demo.controls["max_shift"].value = 0
    demo.controls["max_degrees"].value = 0.0
    np.testing.assert_array_equal(demo.state["augmented"][0], demo.state["originals"])  # nothing to do


def test_noise_is_clipped_to_the_pixel_range_and_draws_differ(demo):
    demo.controls["noise"].value = 4.0
    a = demo.state["augmented"].copy()
    assert a.min() >= 0.0 and a.max() <= 16.0
    assert np.abs(a - demo.state["originals"]).max() > 1.0
    demo.controls["draw"].value = 3
    assert not np.allclose(demo.state["augmented"], a)
    demo.controls["draw"].value = 0
    np.testing.assert_array_equal(demo.state["augmented"], a)  # the same draw gives the same images


def test_the_picture_is_the_mosaic_of_originals_and_distortions(demo):
    demo.controls["max_degrees"].value = 20.0
    s = demo.state
    shown = demo.fig.axes[0].get_images()[0].get_array()
    expected = mosaic(np.concatenate([s["originals"][None], s["augmented"]]))
    np.testing.assert_array_equal(np.ma.filled(shown, np.nan), expected)
    assert "max_degrees=20" in demo.fig.axes[0].get_title()


def test_mosaic_layout():
    imgs = np.arange(2 * 3 * 64, dtype=float).reshape(2, 3, 64)
    m = mosaic(imgs)
    assert m.shape == (2 * 9 - 1, 3 * 9 - 1)
    np.testing.assert_array_equal(m[9:17, 18:26], imgs[1, 2].reshape(8, 8))
    assert np.isnan(m[8]).all() and np.isnan(m[:, 8]).all()


def test_every_control_redraws_without_errors(demo):
    assert_each_move_redraws(demo, [("max_shift", 2), ("max_degrees", 35.0), ("noise", 2.5), ("draw", 7)])
