"""Small datasets for the course, all generated or loaded offline.

Synthetic 2-D problems (each returns ``X`` float64 of shape (N, 2) and ``y`` int64 of shape (N,)):

- :func:`xor_blobs`: four Gaussian blobs on the corners of a square, labelled like XOR.
- :func:`two_moons`: two interleaving half circles.
- :func:`circles`: a small circle inside a large one.
- :func:`spirals`: K interleaved spiral arms (K classes).
- :func:`pass_fail`: the "will I pass this class?" toy (lectures attended, project hours).

Real data bundled with scikit-learn (no download): :func:`load_digits`, :func:`load_iris`.
Splitting: :func:`train_val_test_split`.

Conventions
-----------
- Rows are samples; labels are integers ``0 .. K-1`` (int64).
- Randomness comes only from the ``rng`` argument, a ``numpy.random.Generator``: the same
  seed gives the same data, bit for bit. Rows are shuffled, so classes are not in blocks.
- Classes are as balanced as ``n_samples`` allows: counts differ by at most one (except
  :func:`pass_fail`, whose labels are drawn from a model).
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ._validate import (
    ShapeError,
    as_array,
    check_int,
    check_nonnegative,
    check_positive,
    check_probability,
    check_rng,
    check_same_length,
    shape_str,
)

__all__ = [
    "xor_blobs",
    "two_moons",
    "circles",
    "spirals",
    "pass_fail",
    "PASS_FAIL_FEATURES",
    "load_digits",
    "load_iris",
    "Split",
    "train_val_test_split",
]

PASS_FAIL_FEATURES = ("lectures attended", "hours spent on the final project")


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------
def _split_counts(n: int, k: int) -> list[int]:
    """``n`` items into ``k`` groups whose sizes differ by at most one (larger groups first)."""
    q, r = divmod(n, k)
    return [q + 1 if i < r else q for i in range(k)]


def _sampling(n_samples, rng, noise, min_samples: int = 2) -> tuple[int, np.random.Generator, float]:
    """The arguments every synthetic problem takes, checked: ``(n, rng, noise)``."""
    return check_int(n_samples, "n_samples", min_samples), check_rng(rng), check_nonnegative(noise, "noise")


def _shuffled(X: np.ndarray, y: np.ndarray, rng: np.random.Generator):
    order = rng.permutation(len(X))
    return X[order], y[order]


# --------------------------------------------------------------------------------------------
# synthetic 2-D problems
# --------------------------------------------------------------------------------------------
def xor_blobs(n_samples: int, rng: np.random.Generator, *, noise: float = 0.3, center: float = 1.0):
    """Four Gaussian blobs at ``(+-center, +-center)``, labelled by XOR of the two signs.

    Class 1 = the blobs where the signs of x1 and x2 differ ((+,-) and (-,+)); class 0 = the
    blobs at (+,+) and (-,-). No line separates the classes, but one hidden layer does.

    Parameters
    ----------
    n_samples : int >= 2
        Total number of points; classes get ``n - n//2`` and ``n//2``, each split over its
        two blobs as evenly as possible.
    rng : numpy.random.Generator
    noise : float >= 0
        Standard deviation of each blob (isotropic).
    center : float > 0
        Distance of each blob centre from the axes.

    Returns
    -------
    X : ndarray (n_samples, 2) float64
    y : ndarray (n_samples,) int64, in {0, 1}
    """
    n, rng, noise = _sampling(n_samples, rng, noise)
    c = check_positive(center, "center")
    n0, n1 = _split_counts(n, 2)
    corners = [((c, c), 0), ((-c, -c), 0), ((-c, c), 1), ((c, -c), 1)]
    sizes = _split_counts(n0, 2) + _split_counts(n1, 2)
    X = np.concatenate([np.array(mu) + noise * rng.standard_normal((m, 2)) for (mu, _), m in zip(corners, sizes)])
    y = np.concatenate([np.full(m, label, dtype=np.int64) for (_, label), m in zip(corners, sizes)])
    return _shuffled(X, y, rng)


def two_moons(n_samples: int, rng: np.random.Generator, *, noise: float = 0.1):
    """Two interleaving half circles (the "moons").

    Class 0: the upper arc ``(cos t, sin t)``; class 1: the lower arc
    ``(1 - cos t, 0.5 - sin t)``, with ``t`` evenly spaced in [0, pi]; then isotropic Gaussian
    noise of standard deviation ``noise`` is added to every point.

    Parameters
    ----------
    n_samples : int >= 2
        Classes get ``n - n//2`` and ``n//2`` points.
    rng : numpy.random.Generator
    noise : float >= 0

    Returns
    -------
    X : ndarray (n_samples, 2) float64
    y : ndarray (n_samples,) int64, in {0, 1}
    """
    n, rng, noise = _sampling(n_samples, rng, noise)
    n0, n1 = _split_counts(n, 2)
    t0 = np.linspace(0.0, np.pi, n0)
    t1 = np.linspace(0.0, np.pi, n1)
    upper = np.column_stack([np.cos(t0), np.sin(t0)])
    lower = np.column_stack([1.0 - np.cos(t1), 0.5 - np.sin(t1)])
    X = np.concatenate([upper, lower]) + noise * rng.standard_normal((n, 2))
    y = np.concatenate([np.zeros(n0, np.int64), np.ones(n1, np.int64)])
    return _shuffled(X, y, rng)


def circles(n_samples: int, rng: np.random.Generator, *, noise: float = 0.05, factor: float = 0.5):
    """A circle of radius ``factor`` (class 1) inside a circle of radius 1 (class 0).

    Points are evenly spaced in angle on each circle, then isotropic Gaussian noise of
    standard deviation ``noise`` is added. A radial feature ``x1^2 + x2^2`` separates them.

    Parameters
    ----------
    n_samples : int >= 2
        Classes get ``n - n//2`` (outer) and ``n//2`` (inner) points.
    rng : numpy.random.Generator
    noise : float >= 0
    factor : float in (0, 1)
        Inner radius relative to the outer one.

    Returns
    -------
    X : ndarray (n_samples, 2) float64
    y : ndarray (n_samples,) int64, in {0, 1}
    """
    n, rng, noise = _sampling(n_samples, rng, noise)
    factor = check_probability(factor, "factor", low_open=True, high_open=True)
    n0, n1 = _split_counts(n, 2)
    parts = []
    for m, radius in ((n0, 1.0), (n1, factor)):
        angle = np.linspace(0.0, 2 * np.pi, m, endpoint=False)
        parts.append(radius * np.column_stack([np.cos(angle), np.sin(angle)]))
    X = np.concatenate(parts) + noise * rng.standard_normal((n, 2))
    y = np.concatenate([np.zeros(n0, np.int64), np.ones(n1, np.int64)])
    return _shuffled(X, y, rng)


def spirals(
    n_samples: int,
    rng: np.random.Generator,
    *,
    n_classes: int = 3,
    noise: float = 0.2,
    turns: float = 1.0,
):
    """``n_classes`` interleaved spiral arms, one class per arm (the CS231n toy, generalised).

    Arm ``k`` (k = 0..K-1), with ``s`` evenly spaced in [0, 1]::

        r     = s
        theta = 2 pi (turns * s + k / K) + noise * standard normal
        x     = (r cos theta, r sin theta)

    The noise is in the *angle* (radians), so points near the centre barely move and points
    near the rim scatter most. A linear model gets about 1/K of them right; a small MLP
    separates them.

    Parameters
    ----------
    n_samples : int >= n_classes
        Total points, split over the classes as evenly as possible.
    rng : numpy.random.Generator
    n_classes : int >= 2
    noise : float >= 0
        Standard deviation of the angular jitter, in radians.
    turns : float > 0
        How many times each arm winds around the centre.

    Returns
    -------
    X : ndarray (n_samples, 2) float64, inside the unit disc (``r <= 1``)
    y : ndarray (n_samples,) int64, in {0, ..., n_classes - 1}
    """
    k = check_int(n_classes, "n_classes", 2)
    n, rng, noise = _sampling(n_samples, rng, noise, k)
    turns = check_positive(turns, "turns")
    Xs, ys = [], []
    for label, m in enumerate(_split_counts(n, k)):
        s = np.linspace(0.0, 1.0, m)
        theta = 2 * np.pi * (turns * s + label / k) + noise * rng.standard_normal(m)
        Xs.append(s[:, None] * np.column_stack([np.cos(theta), np.sin(theta)]))
        ys.append(np.full(m, label, dtype=np.int64))
    return _shuffled(np.concatenate(Xs), np.concatenate(ys), rng)


def pass_fail(
    n_samples: int,
    rng: np.random.Generator,
    *,
    noise: float = 1.0,
    n_lectures: int = 12,
    max_hours: float = 20.0,
):
    """The two-feature "will I pass this class?" toy: attendance and project effort -> pass/fail.

    Features (columns of ``X``, names in :data:`PASS_FAIL_FEATURES`):

    - ``x1``: lectures attended, an integer drawn uniformly from ``0 .. n_lectures``;
    - ``x2``: hours spent on the final project, uniform in ``[0, max_hours]``.

    Labels come from a hidden logistic model (1 = pass, 0 = fail)::

        z = 8 * (x1 / n_lectures - 1/2) + 8 * (x2 / max_hours - 1/2)
        y = 1  if  z + noise * L >= 0  else 0,      L ~ Logistic(0, 1)

    which is the same as ``P(pass | x) = sigmoid(z / noise)``. The true boundary is the line
    ``z = 0`` through the middle of the feature box, so the classes are balanced on average.
    With ``noise = 0`` the labels are a deterministic threshold and the data are linearly
    separable (a perceptron demo); with ``noise > 0`` classes overlap (a logistic-regression demo).

    Parameters
    ----------
    n_samples : int >= 1
    rng : numpy.random.Generator
    noise : float >= 0
        Temperature of the label noise (0 = none).
    n_lectures : int >= 1
    max_hours : float > 0

    Returns
    -------
    X : ndarray (n_samples, 2) float64, columns (lectures attended, project hours)
    y : ndarray (n_samples,) int64, 1 = pass, 0 = fail
    """
    n, rng, noise = _sampling(n_samples, rng, noise, 1)
    n_lectures = check_int(n_lectures, "n_lectures", 1)
    max_hours = check_positive(max_hours, "max_hours")
    lectures = rng.integers(0, n_lectures, size=n, endpoint=True).astype(np.float64)
    hours = rng.uniform(0.0, max_hours, size=n)
    z = 8.0 * (lectures / n_lectures - 0.5) + 8.0 * (hours / max_hours - 0.5)
    if noise > 0:
        z = z + noise * rng.logistic(0.0, 1.0, size=n)
    y = (z >= 0).astype(np.int64)
    return np.column_stack([lectures, hours]), y


# --------------------------------------------------------------------------------------------
# bundled real data
# --------------------------------------------------------------------------------------------
def load_digits(*, scale: bool = True, n_class: int = 10):
    """scikit-learn's bundled 8x8 handwritten digits (1797 images; no download).

    Parameters
    ----------
    scale : bool
        Divide the pixel values (integers 0..16) by 16, giving floats in [0, 1].
    n_class : int in 1..10
        Keep only the digits ``0 .. n_class - 1``.

    Returns
    -------
    X : ndarray (N, 64) float64, one flattened 8x8 image per row (``X[i].reshape(8, 8)``)
    y : ndarray (N,) int64, the digit 0..9
    """
    from sklearn import datasets as skd  # imported lazily: only these loaders need it

    n_class = check_int(n_class, "n_class", 1, 10)
    data = skd.load_digits(n_class=n_class)
    X = np.asarray(data.data, dtype=np.float64)
    if scale:
        X = X / 16.0
    return X, np.asarray(data.target, dtype=np.int64)


def load_iris():
    """scikit-learn's bundled iris data (150 flowers, 3 species, 50 each; no download).

    Returns
    -------
    X : ndarray (150, 4) float64: sepal length, sepal width, petal length, petal width (cm)
    y : ndarray (150,) int64: 0 setosa, 1 versicolor, 2 virginica
    """
    from sklearn import datasets as skd

    data = skd.load_iris()
    return np.asarray(data.data, dtype=np.float64), np.asarray(data.target, dtype=np.int64)


# --------------------------------------------------------------------------------------------
# splitting
# --------------------------------------------------------------------------------------------
class Split(NamedTuple):
    """The six arrays of a train/validation/test split (unpacks like a tuple)."""

    X_train: np.ndarray
    y_train: np.ndarray
    X_val: np.ndarray
    y_val: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray


def _round_half_up(x: float) -> int:
    return int(np.floor(x + 0.5))


def _allocate(counts: np.ndarray, total: int, caps: np.ndarray | None = None) -> np.ndarray:
    """Split ``total`` over groups in proportion to ``counts`` (largest-remainder rounding).

    The result sums to ``total`` exactly and never exceeds ``caps`` (default ``counts``);
    each share is within one of its ideal ``counts * total / sum(counts)`` unless a cap
    forces otherwise.
    """
    caps = counts if caps is None else caps
    ideal = counts * (total / counts.sum())
    base = np.minimum(np.floor(ideal), caps).astype(np.int64)
    frac = ideal - base
    extra = total - int(base.sum())
    while extra > 0:  # at most a couple of rounds; each gives +1 to the largest remainders
        room = base < caps
        # stable sort: ties go to the earlier class, so the result is deterministic
        order = np.argsort(-np.where(room, frac, -np.inf), kind="stable")[: min(extra, int(room.sum()))]
        base[order] += 1
        frac[order] -= 1.0
        extra -= len(order)
    return base


def train_val_test_split(
    X,
    y,
    rng: np.random.Generator,
    *,
    val: float = 0.15,
    test: float = 0.15,
    stratify: bool = True,
) -> Split:
    """Shuffle and split a dataset into training, validation and test parts.

    Sizes: ``n_test = round(test * N)`` and ``n_val = round(val * N)`` (halves round up); the
    rest is the training set, which must not be empty. With ``stratify=True`` each class is
    split in the same proportions (largest-remainder rounding per class, totals exact), so the
    class balance of every part matches the whole as closely as integers allow.

    Parameters
    ----------
    X : array (N, ...)
        Rows are samples; extra axes (e.g. images) are kept. float32 stays float32.
    y : array (N,)
        Labels (integers for ``stratify=True``) or targets.
    rng : numpy.random.Generator
    val, test : float in [0, 1), with ``val + test < 1``
        Fractions of the samples for validation and test (0 gives an empty part).
    stratify : bool
        Keep the class proportions of ``y`` in each part.

    Returns
    -------
    Split
        ``(X_train, y_train, X_val, y_val, X_test, y_test)``, a named tuple; every part is a new
        array (the inputs are not modified) in shuffled order, and the parts are disjoint and
        together hold every row once.
    """
    X = as_array(X, "X")
    if X.ndim < 1:
        raise ShapeError(f"X must have at least 1 dimension (samples first); got shape {shape_str(X.shape)}")
    y = np.asarray(y)
    if y.ndim != 1:
        raise ShapeError(f"y must be 1-D, shape (N,); got shape {shape_str(y.shape)}")
    check_same_length(X, y, "X", "y")
    rng = check_rng(rng)
    val = check_probability(val, "val", high_open=True)
    test = check_probability(test, "test", high_open=True)
    if val + test >= 1:
        raise ValueError(f"val + test must be < 1 to leave training data; got val={val} + test={test} = {val + test}")
    n = len(X)
    n_test, n_val = _round_half_up(test * n), _round_half_up(val * n)
    if n - n_test - n_val < 1:
        raise ValueError(
            f"the training part would be empty: N={n} samples, n_val={n_val}, n_test={n_test}; "
            "use smaller val/test fractions or more samples"
        )

    if stratify:
        if y.dtype.kind == "f" and not np.all(np.isfinite(y) & (y == np.round(y))):
            raise ValueError("stratify=True needs class labels in y (integers); got non-integer values; pass stratify=False")
        if y.dtype.kind not in "iufbUS":
            raise TypeError(f"y must hold class labels (int, bool or str); got dtype {y.dtype}")
        classes, inverse = np.unique(y, return_inverse=True)
        counts = np.bincount(inverse, minlength=len(classes))
        test_k = _allocate(counts, n_test)
        # validation shares follow the whole-set proportions too, within what test left over
        val_k = _allocate(counts, n_val, caps=counts - test_k)
        parts = {"train": [], "val": [], "test": []}
        for c in range(len(classes)):
            idx = rng.permutation(np.flatnonzero(inverse == c))
            parts["test"].append(idx[: test_k[c]])
            parts["val"].append(idx[test_k[c] : test_k[c] + val_k[c]])
            parts["train"].append(idx[test_k[c] + val_k[c] :])
        # mix the classes inside each part so batches taken in order are not single-class
        train, val_idx, test_idx = (rng.permutation(np.concatenate(parts[k])) for k in ("train", "val", "test"))
    else:
        perm = rng.permutation(n)
        test_idx, val_idx, train = perm[:n_test], perm[n_test : n_test + n_val], perm[n_test + n_val :]

    return Split(X[train], y[train], X[val_idx], y[val_idx], X[test_idx], y[test_idx])
