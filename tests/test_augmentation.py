"""Tests for nnkit.augmentation: shifts, rotations, noise and the composed augment.

Identities first (shift 0, rotation 0, all amounts 0), then each convention (direction of a
shift, counterclockwise rotation, scipy.ndimage.rotate with order=1 as an independent
reference, clipping to the digits' 0..16), then determinism, shapes and dtypes, labels, and
bad input.
"""
import numpy as np
import pytest

from nnkit._validate import ShapeError
from nnkit.augmentation import DIGITS_RANGE, add_noise, augment, rotate, shift
from nnkit.datasets import load_digits


@pytest.fixture(scope="module")
def digits():
    return load_digits(scale=False)  # pixels 0..16, the range augment clips to by default


def _dot(r, c, value=16.0, size=8):
    img = np.zeros((1, size, size))
    img[0, r, c] = value
    return img


# --------------------------------------------------------------------------------------------
# identities
# --------------------------------------------------------------------------------------------
def test_zero_shift_zero_rotation_and_zero_amounts_are_the_identity(digits):
    X, _ = digits
    np.testing.assert_array_equal(shift(X, 0, 0), X)
    np.testing.assert_array_equal(rotate(X, 0.0), X)  # exactly: no interpolation error at 0
    np.testing.assert_array_equal(add_noise(X, 0.0, np.random.default_rng(0)), X)
    out = augment(X, np.random.default_rng(0), max_shift=0, max_degrees=0.0, noise=0.0)
    np.testing.assert_array_equal(out, X)


# --------------------------------------------------------------------------------------------
# shift
# --------------------------------------------------------------------------------------------
def test_shift_moves_a_pixel_down_and_right():
    out = shift(_dot(3, 4), dy=2, dx=-1)
    # dy = +2 moves it down two rows, dx = -1 one column left: (3, 4) -> (5, 3)
    assert out[0, 5, 3] == 16.0 and out.sum() == 16.0


def test_shift_moves_the_centre_of_mass_and_keeps_the_mass(digits):
    X, _ = digits
    # the digits touch their top and bottom rows, so put them on a 12x12 canvas with a
    # 2-pixel margin: a shift of up to 2 pixels then loses no ink
    canvas = np.zeros((len(X), 12, 12))
    canvas[:, 2:10, 2:10] = X.reshape(-1, 8, 8)
    rows, cols = np.arange(12)[:, None], np.arange(12)[None, :]

    def centre(a):
        m = a.sum(axis=(1, 2))
        return (a * rows).sum(axis=(1, 2)) / m, (a * cols).sum(axis=(1, 2)) / m

    for dy, dx in ((1, 0), (0, -1), (-2, 1), (2, 2)):
        moved = shift(canvas, dy, dx)
        np.testing.assert_allclose(moved.sum(axis=(1, 2)), canvas.sum(axis=(1, 2)), rtol=1e-15)
        (r0, c0), (r1, c1) = centre(canvas), centre(moved)
        np.testing.assert_allclose(r1 - r0, dy, atol=1e-12)
        np.testing.assert_allclose(c1 - c0, dx, atol=1e-12)
    # on the 8x8 frame itself a shift down loses the bottom row's ink
    lost = X.reshape(-1, 8, 8)[:, -1, :].sum(axis=1)
    np.testing.assert_allclose(shift(X, 1, 0).sum(axis=1), X.sum(axis=1) - lost)


def test_shift_zero_fills_loses_what_leaves_and_takes_one_amount_per_image():
    img = np.arange(1.0, 65.0).reshape(1, 8, 8)
    out = shift(img, 0, 3)
    np.testing.assert_array_equal(out[0, :, :3], 0.0)  # uncovered columns are 0
    np.testing.assert_array_equal(out[0, :, 3:], img[0, :, :5])  # the last 3 columns are gone
    np.testing.assert_array_equal(shift(img, 8, 0), 0.0)  # a shift by the image size empties it
    both = shift(np.concatenate([img, img]), np.array([1, -2]), np.array([0, 1]))
    np.testing.assert_array_equal(both[0], shift(img, 1, 0)[0])
    np.testing.assert_array_equal(both[1], shift(img, -2, 1)[0])


# --------------------------------------------------------------------------------------------
# rotate
# --------------------------------------------------------------------------------------------
def test_rotation_is_counterclockwise_as_displayed():
    # a pixel right of the centre goes to above the centre under +90 degrees
    out = rotate(_dot(3, 7), 90.0)
    assert out[0, 0, 3] == pytest.approx(16.0, abs=1e-12) and out.sum() == pytest.approx(16.0, abs=1e-12)
    out = rotate(_dot(3, 7), -90.0)  # and below it under -90
    assert out[0, 7, 4] == pytest.approx(16.0, abs=1e-12)


def test_rotation_by_90_and_180_is_exact_on_the_grid(digits):
    X, _ = digits
    imgs = X[:50].reshape(-1, 8, 8)
    np.testing.assert_allclose(rotate(imgs, 90.0), np.rot90(imgs, axes=(1, 2)), atol=1e-12)
    np.testing.assert_allclose(rotate(imgs, 180.0), imgs[:, ::-1, ::-1], atol=1e-12)


@pytest.mark.parametrize("degrees", [3.0, -7.5, 12.0, 30.0, -45.0])
def test_rotation_matches_scipy_bilinear_rotate(degrees, digits):
    from scipy import ndimage  # a dependency already; nnkit.augmentation itself uses NumPy only

    X, _ = digits
    imgs = X[:20].reshape(-1, 8, 8)
    ref = np.stack([ndimage.rotate(a, degrees, reshape=False, order=1, mode="grid-constant", cval=0.0) for a in imgs])
    np.testing.assert_allclose(rotate(imgs, degrees), ref, atol=1e-12)


def test_rotation_keeps_values_in_range_and_takes_one_angle_per_image(digits):
    X, _ = digits
    imgs = X[:30].reshape(-1, 8, 8)
    angles = np.linspace(-15, 15, 30)
    out = rotate(imgs, angles)
    assert out.min() >= 0.0 and out.max() <= 16.0  # bilinear: averages of pixels and zeros
    for i in (0, 7, 29):
        np.testing.assert_array_equal(out[i], rotate(imgs[i:i + 1], angles[i])[0])


# --------------------------------------------------------------------------------------------
# noise
# --------------------------------------------------------------------------------------------
def test_noise_has_the_given_spread_and_is_clipped_to_the_digit_range():
    X = np.full((200, 64), 8.0)  # mid-range: clipping never bites at sigma = 1
    out = add_noise(X, 1.0, np.random.default_rng(0))
    assert np.std(out - X) == pytest.approx(1.0, rel=0.02)
    assert abs(np.mean(out - X)) < 0.02
    edge = add_noise(np.zeros((50, 64)), 3.0, np.random.default_rng(0))
    assert edge.min() == 0.0 and edge.max() <= 16.0 and (edge == 0.0).mean() > 0.4  # negatives clipped to 0
    assert DIGITS_RANGE == (0.0, 16.0)
    scaled = add_noise(np.full((10, 64), 0.9), 0.5, np.random.default_rng(0), value_range=(0, 1))
    assert scaled.max() == 1.0


# --------------------------------------------------------------------------------------------
# augment
# --------------------------------------------------------------------------------------------
def test_augment_is_deterministic_given_the_generator(digits):
    X, _ = digits
    a = augment(X, np.random.default_rng(7))
    b = augment(X, np.random.default_rng(7))
    c = augment(X, np.random.default_rng(8))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_augment_follows_its_documented_recipe_and_draw_order(digits):
    X, _ = digits
    X = X[:40]
    rng = np.random.default_rng(3)
    shifts = rng.integers(-2, 2, size=(40, 2), endpoint=True)
    angles = rng.uniform(-15.0, 15.0, size=40)
    z = rng.standard_normal(X.shape)
    expected = np.clip(shift(rotate(X, angles), shifts[:, 0], shifts[:, 1]) + 0.7 * z, 0.0, 16.0)
    out = augment(X, np.random.default_rng(3), max_shift=2, max_degrees=15.0, noise=0.7)
    np.testing.assert_array_equal(out, expected)
    # turning the noise off leaves the geometric draws as they were
    geo = augment(X, np.random.default_rng(3), max_shift=2, max_degrees=15.0, noise=0.0)
    np.testing.assert_array_equal(geo, shift(rotate(X, angles), shifts[:, 0], shifts[:, 1]))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("layout", ["flat", "images"])
def test_shape_and_dtype_are_preserved(dtype, layout, digits):
    X, _ = digits
    X = X[:25].astype(dtype)
    if layout == "images":
        X = X.reshape(-1, 8, 8)
    saved = X.copy()
    rng = np.random.default_rng(0)
    for out in (shift(X, 1, -1), rotate(X, 5.0), add_noise(X, 0.5, rng), augment(X, rng)):
        assert out.shape == X.shape and out.dtype == dtype
    np.testing.assert_array_equal(X, saved)  # inputs are never modified
    ints = augment(X.astype(np.int64), np.random.default_rng(0))
    assert ints.dtype == np.float64


def test_flat_and_image_layouts_give_the_same_pixels(digits):
    X, _ = digits
    flat = augment(X[:30], np.random.default_rng(1))
    images = augment(X[:30].reshape(-1, 8, 8), np.random.default_rng(1))
    np.testing.assert_array_equal(flat, images.reshape(30, 64))


def test_labels_are_untouched_row_i_comes_from_row_i(digits):
    # images whose only ink is one pixel of brightness i + 1: after shifts (no rotation, no
    # noise) row i still holds brightness i + 1, so y[i] still labels it
    n = 12
    X = np.zeros((n, 8, 8))
    X[np.arange(n), 3, 4] = np.arange(1.0, n + 1)
    out = augment(X, np.random.default_rng(0), max_shift=1, max_degrees=0.0, noise=0.0)
    np.testing.assert_array_equal(out.max(axis=(1, 2)), np.arange(1.0, n + 1))
    # and on the digits the distortions keep the class. A nearest-neighbour classifier whose
    # references are clean digits moved by -1..1 pixels (other digits than the queries) labels
    # augmented digits as well as clean ones; with unmoved references it does much worse: the
    # shifts change many pixels, and the label is still right.
    Xd, y = digits
    order = np.random.default_rng(0).permutation(len(Xd))
    q, r = order[:300], order[300:]
    moved = np.concatenate([shift(Xd[r], dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1)])

    def nearest_label(A, refs, labels):
        d = (A**2).sum(axis=1)[:, None] - 2 * A @ refs.T + (refs**2).sum(axis=1)[None, :]
        return labels[np.argmin(d, axis=1)]

    aug = augment(Xd[q], np.random.default_rng(1))
    assert np.mean(nearest_label(aug, moved, np.tile(y[r], 9)) == y[q]) > 0.95
    assert np.mean(nearest_label(aug, Xd[r], y[r]) == y[q]) < 0.8


def test_bad_input_errors(digits):
    X, _ = digits
    rng = np.random.default_rng(0)
    with pytest.raises(ShapeError, match=r"X must be 2-D or 3-D; got a 1-D array of shape \(64,\)"):
        augment(X[0], rng)
    with pytest.raises(ShapeError, match=r"\(N, 64\).*got shape \(1797, 63\): 63 pixels is not a square"):
        augment(X[:, :63], rng)
    with pytest.raises(ValueError, match="X must be finite"):
        rotate(np.full((2, 64), np.nan), 5.0)
    with pytest.raises(TypeError, match=r"dy must be integers \(whole pixels\)"):
        shift(X, 0.5, 0)
    with pytest.raises(ShapeError, match=r"dx must be a number or have shape \(1797,\).*got shape \(3,\)"):
        shift(X, 0, np.array([1, 2, 3]))
    with pytest.raises(ShapeError, match=r"degrees must be a number or have shape \(1797,\)"):
        rotate(X, np.zeros(5))
    with pytest.raises(TypeError, match="rng must be a numpy.random.Generator"):
        augment(X, 0)
    with pytest.raises(TypeError, match="rng must be a numpy.random.Generator"):
        add_noise(X, 1.0, np.random.RandomState(0))
    with pytest.raises(ValueError, match="max_shift must be an integer >= 0"):
        augment(X, rng, max_shift=-1)
    with pytest.raises(ValueError, match="max_shift must be an integer >= 0"):
        augment(X, rng, max_shift=1.5)
    with pytest.raises(ValueError, match="max_degrees must be >= 0"):
        augment(X, rng, max_degrees=-5.0)
    with pytest.raises(ValueError, match="noise must be >= 0"):
        augment(X, rng, noise=-0.1)
    with pytest.raises(ValueError, match="sigma must be >= 0"):
        add_noise(X, -1.0, rng)
    with pytest.raises(ValueError, match="value_range must have low < high"):
        augment(X, rng, value_range=(16, 0))
    with pytest.raises(ValueError, match="value_range must be a pair"):
        augment(X, rng, value_range=16)
    with pytest.raises(ValueError, match=r"X must lie in value_range \(0, 1\); its values run from 0 to 16; raw digits"):
        augment(X, rng, value_range=(0, 1))
