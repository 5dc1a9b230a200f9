"""Data augmentation for small grey-scale images such as the 8x8 digits: shifts, rotations, noise.

Augmentation trains on label-preserving distortions of the training images: a digit moved by
a pixel, turned by a few degrees or speckled with noise is still the same digit, so the network
sees more varied examples and overfits less (a regularizer).  Only the training set is
augmented; validation and test images stay as they are.

::

    X, y = load_digits(scale=False)                 # (1797, 64), pixels 0..16
    X_aug = augment(X, np.random.default_rng(0))    # same shape; row i is a distortion of row i
    # the labels need no change: y still labels X_aug row for row

Shapes: every function takes ``(N, H*W)`` flat images with a square number of pixels (the
digits' ``(N, 64)``) or ``(N, H, W)`` images, and returns the same shape and dtype (float32
stays float32; integers become float64).  Rows are never reordered.  Inputs are not modified.

Conventions (named, because libraries differ)
---------------------------------------------
- **Coordinates** are as displayed by ``plt.imshow``: row 0 at the top, column 0 at the left.
- **shift**: whole pixels; positive ``dy`` moves the picture *down*, positive ``dx`` *right*.
  Pixels that leave the frame are lost and the uncovered ones are 0 (zero fill).
- **rotate**: by ``degrees``, positive = *counterclockwise* as displayed, about the image centre
  ``((H-1)/2, (W-1)/2)`` (between the four middle pixels of an 8x8 image), output the same size
  (corners that leave the frame are cut).  Each output pixel takes the **bilinear**
  interpolation of the input at the point that lands on it (inverse mapping), with 0 outside
  the frame.  This is ``scipy.ndimage.rotate(img, degrees, reshape=False, order=1,
  mode="grid-constant")``; nnkit computes it with NumPy alone (the tests compare the two).
  Bilinear interpolation averages neighbours, so a rotated digit is slightly blurred and its
  values stay within ``[min(0, x), max(0, x)]``.
- **add_noise**: additive Gaussian noise of standard deviation ``sigma`` in pixel units, then
  clipping to ``value_range``, by default :data:`DIGITS_RANGE` ``(0, 16)``, the range of the
  raw digits (``load_digits(scale=False)``).  For ``load_digits()``'s default scaled pixels
  pass ``value_range=(0, 1)`` and a ``sigma`` in the same units.
- **augment**: per image, rotate, then shift, then add noise and clip.  Randomness comes only
  from ``rng``, drawn in a fixed order (shifts, angles, noise), so the same seed gives the same
  images bit for bit, and flat or ``(N, H, W)`` input gives the same pixels.
"""
from __future__ import annotations

import math

import numpy as np

from ._validate import (
    ShapeError,
    as_array,
    check_nonnegative,
    check_real,
    check_rng,
    shape_str,
)

__all__ = ["DIGITS_RANGE", "shift", "rotate", "add_noise", "augment"]

DIGITS_RANGE = (0.0, 16.0)
"""Pixel range of the raw 8x8 digits (``load_digits(scale=False)``): integers 0 .. 16."""


# --------------------------------------------------------------------------------------------
# checks and shapes
# --------------------------------------------------------------------------------------------
def _as_images(X, name: str = "X"):
    """``X`` (N, H*W) or (N, H, W) -> (float array, images (N, H, W) view, original shape)."""
    X = as_array(X, name, ndim=(2, 3))
    if X.ndim == 3:
        return X, X, X.shape
    n, d = X.shape
    side = math.isqrt(d)
    if side * side != d:
        raise ShapeError(
            f"{name} must be (N, H*W) flat square images such as the digits' (N, 64), or (N, H, W) images; "
            f"got shape {shape_str(X.shape)}: {d} pixels is not a square"
        )
    return X, X.reshape(n, side, side), X.shape


def _per_image(value, name: str, n: int, *, integer: bool) -> np.ndarray:
    """A scalar or an (N,) array of per-image amounts -> an (N,) array (int64 or float64)."""
    arr = np.asarray(value)
    if arr.dtype.kind == "b" or arr.dtype.kind not in ("iu" if integer else "iuf"):
        what = "integers (whole pixels)" if integer else "real numbers"
        raise TypeError(f"{name} must be {what}, one number or one per image; got {arr.dtype} {value!r}")
    if arr.ndim not in (0, 1) or (arr.ndim == 1 and arr.shape[0] != n):
        raise ShapeError(f"{name} must be a number or have shape ({n},), one per image; got shape {shape_str(arr.shape)}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be finite; got {value!r}")
    return np.broadcast_to(arr, (n,)).astype(np.int64 if integer else np.float64)


def _check_range(value_range) -> tuple[float, float]:
    try:
        lo, hi = value_range
    except (TypeError, ValueError):
        raise ValueError(f"value_range must be a pair (low, high); got {value_range!r}") from None
    lo, hi = check_real(lo, "value_range[0]"), check_real(hi, "value_range[1]")
    if not lo < hi:
        raise ValueError(f"value_range must have low < high; got {value_range!r}")
    return lo, hi


def _gather(images: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """``images[n, rows[n, i, j], cols[n, i, j]]``, 0 where the index falls outside the frame."""
    n, h, w = images.shape
    inside = (rows >= 0) & (rows < h) & (cols >= 0) & (cols < w)
    picked = images[np.arange(n)[:, None, None], np.clip(rows, 0, h - 1), np.clip(cols, 0, w - 1)]
    return np.where(inside, picked, 0)


# --------------------------------------------------------------------------------------------
# the three distortions
# --------------------------------------------------------------------------------------------
def shift(X, dy, dx) -> np.ndarray:
    """Move every image by whole pixels, filling the uncovered pixels with 0.

    Parameters
    ----------
    X : array (N, H*W) or (N, H, W)
        Flat square images (the digits' (N, 64)) or images.
    dy, dx : int or int array (N,)
        Rows down (negative: up) and columns right (negative: left), one pair for all images
        or one per image.  A shift of the image size or more leaves an empty (all-0) image.

    Returns
    -------
    ndarray, the shape and dtype of X
        ``out[n, r, c] = X[n, r - dy[n], c - dx[n]]`` where that pixel exists, else 0.
    """
    X, images, shape = _as_images(X)
    n, h, w = images.shape
    dy = _per_image(dy, "dy", n, integer=True)
    dx = _per_image(dx, "dx", n, integer=True)
    rows = np.arange(h)[None, :, None] - dy[:, None, None]
    cols = np.arange(w)[None, None, :] - dx[:, None, None]
    return _gather(images, rows, cols).reshape(shape)


def rotate(X, degrees) -> np.ndarray:
    """Rotate every image about its centre, bilinear interpolation, 0 outside the frame.

    Parameters
    ----------
    X : array (N, H*W) or (N, H, W)
    degrees : float or array (N,)
        Angle, positive = counterclockwise as displayed (row 0 at the top); one for all images
        or one per image.  Small angles (up to 10-15 degrees) keep a digit readable.

    Returns
    -------
    ndarray, the shape and dtype of X

    Notes
    -----
    Inverse mapping about the centre ``(rc, cc) = ((H-1)/2, (W-1)/2)``: output pixel ``(r, c)``
    takes the input at::

        r_src = rc + cos(t) * (r - rc) + sin(t) * (c - cc)
        c_src = cc + cos(t) * (c - cc) - sin(t) * (r - rc)

    interpolated bilinearly from its four neighbouring pixels (those outside the frame count
    as 0).  ``degrees = 0`` returns the image unchanged, exactly; 90 is ``np.rot90``.
    """
    X, images, shape = _as_images(X)
    n, h, w = images.shape
    t = np.deg2rad(_per_image(degrees, "degrees", n, integer=False))[:, None, None]
    cos, sin = np.cos(t), np.sin(t)
    rc, cc = (h - 1) / 2.0, (w - 1) / 2.0
    r = np.arange(h, dtype=np.float64)[None, :, None] - rc
    c = np.arange(w, dtype=np.float64)[None, None, :] - cc
    r_src = rc + cos * r + sin * c
    c_src = cc + cos * c - sin * r
    r0, c0 = np.floor(r_src), np.floor(c_src)
    fr, fc = r_src - r0, c_src - c0
    r0, c0 = r0.astype(np.int64), c0.astype(np.int64)
    out = (
        (1 - fr) * (1 - fc) * _gather(images, r0, c0)
        + (1 - fr) * fc * _gather(images, r0, c0 + 1)
        + fr * (1 - fc) * _gather(images, r0 + 1, c0)
        + fr * fc * _gather(images, r0 + 1, c0 + 1)
    )
    return out.astype(X.dtype, copy=False).reshape(shape)


def add_noise(X, sigma, rng: np.random.Generator, *, value_range=DIGITS_RANGE) -> np.ndarray:
    """Add Gaussian noise to every pixel, then clip to ``value_range``.

    Parameters
    ----------
    X : array (N, H*W) or (N, H, W)
        Its values must lie in ``value_range``.
    sigma : float >= 0
        Standard deviation of the noise, in pixel units (the raw digits run from 0 to 16).
    rng : numpy.random.Generator
        Draws ``rng.standard_normal(X.shape)``, one number per pixel in row-major order.
    value_range : (low, high)
        Default :data:`DIGITS_RANGE` ``(0, 16)``; ``(0, 1)`` for scaled digits.

    Returns
    -------
    ndarray, the shape and dtype of X: ``clip(X + sigma * z, low, high)``, ``z ~ N(0, 1)``.
    """
    X = as_array(X, "X", ndim=(2, 3))
    sigma = check_nonnegative(sigma, "sigma")
    check_rng(rng)
    lo, hi = _check_range(value_range)
    _check_values_in_range(X, lo, hi)
    return _noisy(X, sigma, rng.standard_normal(X.shape), lo, hi)


def _check_values_in_range(X: np.ndarray, lo: float, hi: float) -> None:
    xmin, xmax = float(X.min()), float(X.max())
    if xmin < lo or xmax > hi:
        hint = ""
        if xmax > hi and hi <= 1.0:
            hint = "; raw digits (load_digits(scale=False)) need value_range=(0, 16)"
        raise ValueError(
            f"X must lie in value_range ({lo:g}, {hi:g}); its values run from {xmin:g} to {xmax:g}{hint}"
        )


def _noisy(X: np.ndarray, sigma: float, z: np.ndarray, lo: float, hi: float) -> np.ndarray:
    out = X + sigma * z  # float64 arithmetic, then back to X's dtype
    np.clip(out, lo, hi, out=out)
    return out.astype(X.dtype, copy=False)


# --------------------------------------------------------------------------------------------
# all three at random
# --------------------------------------------------------------------------------------------
def augment(
    X,
    rng: np.random.Generator,
    *,
    max_shift: int = 1,
    max_degrees: float = 10.0,
    noise: float = 0.5,
    value_range=DIGITS_RANGE,
) -> np.ndarray:
    """A random distortion of every image: rotation, then shift, then noise (clipped).

    Parameters
    ----------
    X : array (N, H*W) or (N, H, W), values in ``value_range``
        E.g. the digits' (N, 64) from ``load_digits(scale=False)``.
    rng : numpy.random.Generator
        The only source of randomness.  Draws, in this order: the shifts
        ``rng.integers(-max_shift, max_shift, size=(N, 2), endpoint=True)`` (columns dy, dx),
        the angles ``rng.uniform(-max_degrees, max_degrees, size=N)``, the noise
        ``rng.standard_normal(X.shape)``.  All three are drawn even when an amount is 0, so
        turning one distortion off leaves the others' draws unchanged.
    max_shift : int >= 0
        Each image moves by ``dy, dx`` drawn uniformly from ``-max_shift .. max_shift`` pixels.
    max_degrees : float >= 0
        Each image turns by an angle drawn uniformly from ``[-max_degrees, max_degrees]``.
    noise : float >= 0
        Standard deviation of the Gaussian pixel noise, in pixel units.
    value_range : (low, high)
        Where the pixels live; the result is clipped to it.  Default :data:`DIGITS_RANGE`
        ``(0, 16)``; pass ``(0, 1)`` (and a smaller ``noise``) for ``load_digits()``'s default.

    Returns
    -------
    ndarray, the shape and dtype of X
        Row ``i`` is a distortion of row ``i`` of X, so the labels ``y`` apply unchanged.

    Notes
    -----
    ``clip(shift(rotate(X, angle), dy, dx) + noise * z, low, high)`` per image, with the
    conventions of :func:`rotate`, :func:`shift` and :func:`add_noise`.  With all three amounts
    0 the output equals X.
    """
    X, images, shape = _as_images(X)
    check_rng(rng)
    if isinstance(max_shift, bool) or not isinstance(max_shift, (int, np.integer)) or max_shift < 0:
        raise ValueError(f"max_shift must be an integer >= 0 (pixels); got {max_shift!r}")
    max_degrees = check_nonnegative(max_degrees, "max_degrees")
    noise = check_nonnegative(noise, "noise")
    lo, hi = _check_range(value_range)
    _check_values_in_range(X, lo, hi)
    n = images.shape[0]
    shifts = rng.integers(-int(max_shift), int(max_shift), size=(n, 2), endpoint=True)
    angles = rng.uniform(-max_degrees, max_degrees, size=n)
    z = rng.standard_normal(X.shape)
    moved = shift(rotate(images, angles), shifts[:, 0], shifts[:, 1])
    return _noisy(moved.reshape(shape), noise, z, lo, hi)
