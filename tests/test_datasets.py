"""Tests for nnkit.datasets: synthetic generators, bundled loaders and the train/val/test split."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nnkit import datasets
from nnkit._validate import ShapeError
from nnkit.datasets import (
    PASS_FAIL_FEATURES,
    Split,
    circles,
    load_digits,
    load_iris,
    pass_fail,
    spirals,
    train_val_test_split,
    two_moons,
    xor_blobs,
)

# generators whose classes are balanced by construction: (function, extra kwargs, n_classes)
BALANCED = [
    (xor_blobs, {}, 2),
    (two_moons, {}, 2),
    (circles, {}, 2),
    (spirals, {}, 3),
    (spirals, {"n_classes": 5}, 5),
]
ALL = [(f, kw) for f, kw, _ in BALANCED] + [(pass_fail, {})]
IDS = lambda p: getattr(p, "__name__", str(p))  # noqa: E731


# --------------------------------------------------------------------------------------------
# common contract of every generator
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("gen, kw", ALL, ids=IDS)
@pytest.mark.parametrize("n", [7, 100, 301])
def test_shapes_and_dtypes(gen, kw, n, rng):
    X, y = gen(n, rng, **kw)
    assert X.shape == (n, 2) and X.dtype == np.float64
    assert y.shape == (n,) and y.dtype == np.int64
    assert np.isfinite(X).all()


@pytest.mark.parametrize("gen, kw, k", BALANCED, ids=IDS)
@pytest.mark.parametrize("n", [10, 11, 99, 1000])
def test_classes_are_balanced(gen, kw, k, n, rng):
    _, y = gen(n, rng, **kw)
    counts = np.bincount(y, minlength=k)
    assert len(counts) == k
    assert counts.sum() == n and counts.max() - counts.min() <= 1


@pytest.mark.parametrize("gen, kw", ALL, ids=IDS)
def test_deterministic_given_the_seed(gen, kw):
    X1, y1 = gen(200, np.random.default_rng(5), **kw)
    X2, y2 = gen(200, np.random.default_rng(5), **kw)
    X3, _ = gen(200, np.random.default_rng(6), **kw)
    np.testing.assert_array_equal(X1, X2)
    np.testing.assert_array_equal(y1, y2)
    assert not np.array_equal(X1, X3)


@pytest.mark.parametrize("gen, kw", [(f, kw) for f, kw, _ in BALANCED], ids=IDS)
def test_rows_are_shuffled(gen, kw, rng):
    _, y = gen(200, rng, **kw)
    # not all of class 0 first: the number of label changes along the rows is large
    assert np.count_nonzero(np.diff(y)) > 20


@pytest.mark.parametrize("gen, kw", ALL, ids=IDS)
def test_bad_input_messages(gen, kw, rng):
    with pytest.raises(TypeError, match="rng must be a numpy.random.Generator"):
        gen(10, 0, **kw)
    with pytest.raises(TypeError, match="rng must be a numpy.random.Generator"):
        gen(10, np.random.RandomState(0), **kw)
    with pytest.raises(TypeError, match="n_samples must be an integer"):
        gen(10.0, rng, **kw)
    with pytest.raises(ValueError, match=r"n_samples must be an integer >= \d+; got 0"):
        gen(0, rng, **kw)
    with pytest.raises(ValueError, match="noise must be >= 0; got -0.1"):
        gen(10, rng, noise=-0.1, **kw)
    with pytest.raises(ValueError, match="noise must be finite"):
        gen(10, rng, noise=np.nan, **kw)


# --------------------------------------------------------------------------------------------
# geometry of each generator
# --------------------------------------------------------------------------------------------
def test_xor_blobs_labels_follow_the_signs(rng):
    X, y = xor_blobs(400, rng, noise=0.1)  # blobs 10 sd away from the axes
    np.testing.assert_array_equal(y, (np.sign(X[:, 0]) != np.sign(X[:, 1])).astype(int))
    X0, y0 = xor_blobs(8, rng, noise=0.0, center=2.0)
    assert set(map(tuple, np.abs(X0))) == {(2.0, 2.0)}
    with pytest.raises(ValueError, match="center must be > 0"):
        xor_blobs(8, rng, center=0)


def test_two_moons_without_noise_lie_on_the_arcs(rng):
    X, y = two_moons(101, rng, noise=0.0)
    up, lo = X[y == 0], X[y == 1]
    np.testing.assert_allclose(np.hypot(up[:, 0], up[:, 1]), 1.0)
    np.testing.assert_allclose(np.hypot(lo[:, 0] - 1.0, lo[:, 1] - 0.5), 1.0)
    assert up[:, 1].min() >= -1e-12 and lo[:, 1].max() <= 0.5 + 1e-12


def test_circles_without_noise_have_the_two_radii(rng):
    X, y = circles(50, rng, noise=0.0, factor=0.3)
    r = np.hypot(X[:, 0], X[:, 1])
    np.testing.assert_allclose(r[y == 0], 1.0)
    np.testing.assert_allclose(r[y == 1], 0.3)
    for bad in (0.0, 1.0, 1.5):
        with pytest.raises(ValueError, match=r"factor must be in \(0, 1\)"):
            circles(50, rng, factor=bad)


def test_spirals_radius_and_arms(rng):
    X, y = spirals(300, rng, n_classes=3, noise=0.0)
    r = np.hypot(X[:, 0], X[:, 1])
    assert r.max() <= 1.0 + 1e-12
    for k in range(3):
        rk = np.sort(r[y == k])
        np.testing.assert_allclose(rk, np.linspace(0, 1, 100), atol=1e-12)
        # the outermost point of arm k sits at angle 2 pi (turns + k/K)
        outer = X[y == k][np.argmax(r[y == k])]
        theta = 2 * np.pi * (1 + k / 3)
        np.testing.assert_allclose(outer, [np.cos(theta), np.sin(theta)], atol=1e-12)
    with pytest.raises(ValueError, match="n_classes must be an integer >= 2; got 1"):
        spirals(10, rng, n_classes=1)
    with pytest.raises(ValueError, match="n_samples must be an integer >= 4; got 3"):
        spirals(3, rng, n_classes=4)
    with pytest.raises(ValueError, match="turns must be > 0"):
        spirals(10, rng, turns=0)


def test_pass_fail_features_and_labels(rng):
    assert PASS_FAIL_FEATURES == ("lectures attended", "hours spent on the final project")
    X, y = pass_fail(2000, rng, noise=0.0)
    lectures, hours = X[:, 0], X[:, 1]
    assert np.all(lectures == np.round(lectures)) and lectures.min() >= 0 and lectures.max() <= 12
    assert set(np.unique(lectures)) == set(range(13))  # every count occurs in 2000 draws
    assert hours.min() >= 0 and hours.max() <= 20
    # noise = 0: the label is the hidden linear rule exactly (linearly separable)
    z = 8 * (lectures / 12 - 0.5) + 8 * (hours / 20 - 0.5)
    np.testing.assert_array_equal(y, (z >= 0).astype(int))
    assert 0.4 < y.mean() < 0.6
    # the slide's student: 4 lectures, 5 hours -> fails under the hidden rule
    assert 8 * (4 / 12 - 0.5) + 8 * (5 / 20 - 0.5) < 0


def test_pass_fail_noise_makes_the_classes_overlap(rng):
    X, y = pass_fail(4000, rng, noise=1.0)
    z = 8 * (X[:, 0] / 12 - 0.5) + 8 * (X[:, 1] / 20 - 0.5)
    flipped = np.mean(y != (z >= 0))
    # P(flip) = E[sigmoid(-|z|)] is about 0.13 for this feature box; allow sampling error
    assert 0.08 < flipped < 0.2
    assert 0.45 < y.mean() < 0.55
    # P(pass | z) = sigmoid(z): check it in a few bins of z
    for lo, hi in ((-1, 0), (0, 1), (1, 2)):
        sel = (z >= lo) & (z < hi)
        zc = z[sel]
        assert y[sel].mean() == pytest.approx(np.mean(1 / (1 + np.exp(-zc))), abs=0.06)


def test_pass_fail_bad_parameters(rng):
    with pytest.raises(ValueError, match="n_lectures must be an integer >= 1; got 0"):
        pass_fail(10, rng, n_lectures=0)
    with pytest.raises(ValueError, match="max_hours must be > 0"):
        pass_fail(10, rng, max_hours=-1.0)


# --------------------------------------------------------------------------------------------
# bundled data
# --------------------------------------------------------------------------------------------
def test_load_digits():
    X, y = load_digits()
    assert X.shape == (1797, 64) and X.dtype == np.float64
    assert y.shape == (1797,) and y.dtype == np.int64
    assert X.min() == 0.0 and X.max() == 1.0
    assert set(np.unique(y)) == set(range(10))
    Xr, yr = load_digits(scale=False)
    np.testing.assert_array_equal(Xr, 16 * X)
    assert Xr.max() == 16.0 and np.all(Xr == np.round(Xr))
    np.testing.assert_array_equal(yr, y)
    X3, y3 = load_digits(n_class=3)
    assert set(np.unique(y3)) == {0, 1, 2} and X3.shape == (len(y3), 64)
    with pytest.raises(ValueError, match="n_class must be an integer in 1..10; got 11"):
        load_digits(n_class=11)


def test_load_iris():
    X, y = load_iris()
    assert X.shape == (150, 4) and X.dtype == np.float64
    assert y.dtype == np.int64
    np.testing.assert_array_equal(np.bincount(y), [50, 50, 50])
    assert 4.0 < X[:, 0].min() < X[:, 0].max() < 8.0  # sepal length in cm


# --------------------------------------------------------------------------------------------
# split
# --------------------------------------------------------------------------------------------
def _ids_dataset(n=200, k=3, rng=None):
    """X carries the row id in column 0, so we can check which rows went where."""
    X = np.column_stack([np.arange(n, dtype=float), np.zeros(n)])
    y = np.arange(n) % k if rng is None else rng.integers(0, k, n)
    return X, y


def test_split_partitions_the_rows(rng):
    X, y = _ids_dataset(200)
    s = train_val_test_split(X, y, rng, val=0.2, test=0.1)
    assert isinstance(s, Split)
    assert len(s.X_train) == 140 and len(s.X_val) == 40 and len(s.X_test) == 20
    ids = np.concatenate([s.X_train[:, 0], s.X_val[:, 0], s.X_test[:, 0]]).astype(int)
    np.testing.assert_array_equal(np.sort(ids), np.arange(200))  # disjoint and complete
    for Xp, yp in ((s.X_train, s.y_train), (s.X_val, s.y_val), (s.X_test, s.y_test)):
        np.testing.assert_array_equal(yp, y[Xp[:, 0].astype(int)])  # rows stay paired
    X_train, y_train, X_val, y_val, X_test, y_test = s  # unpacks as six arrays
    assert X_train.shape[1] == 2 and y_test.ndim == 1


def test_split_is_stratified(rng):
    y = np.repeat([0, 1, 2], [100, 60, 40])
    X = rng.standard_normal((200, 4))
    s = train_val_test_split(X, y, rng, val=0.15, test=0.25)
    for part, size in ((s.y_val, 30), (s.y_test, 50)):
        assert len(part) == size
        expected = np.array([100, 60, 40]) * size / 200
        assert np.all(np.abs(np.bincount(part, minlength=3) - expected) <= 1)
    # and the training part is shuffled, not in class blocks
    assert np.count_nonzero(np.diff(s.y_train)) > 20


def test_split_deterministic_and_nonmutating():
    X, y = _ids_dataset(100)
    X_copy, y_copy = X.copy(), y.copy()
    a = train_val_test_split(X, y, np.random.default_rng(1))
    b = train_val_test_split(X, y, np.random.default_rng(1))
    c = train_val_test_split(X, y, np.random.default_rng(2))
    for u, v in zip(a, b):
        np.testing.assert_array_equal(u, v)
    assert not np.array_equal(a.X_train, c.X_train)
    np.testing.assert_array_equal(X, X_copy)
    np.testing.assert_array_equal(y, y_copy)
    assert not np.shares_memory(a.X_train, X)


def test_split_unstratified_keeps_dtype_and_extra_axes(rng):
    X = rng.standard_normal((50, 8, 8)).astype(np.float32)
    y = rng.standard_normal(50)  # regression targets: only unstratified makes sense
    s = train_val_test_split(X, y, rng, val=0.0, test=0.2, stratify=False)
    assert s.X_train.shape == (40, 8, 8) and s.X_train.dtype == np.float32
    assert s.X_val.shape == (0, 8, 8) and s.y_val.shape == (0,)
    assert s.X_test.shape == (10, 8, 8)
    with pytest.raises(ValueError, match="stratify=True needs class labels"):
        train_val_test_split(X, y, rng)


def test_split_bad_input(rng):
    X, y = _ids_dataset(20)
    with pytest.raises(ValueError, match="val \\+ test must be < 1"):
        train_val_test_split(X, y, rng, val=0.5, test=0.5)
    with pytest.raises(ValueError, match=r"val must be in \[0, 1\); got 1.0"):
        train_val_test_split(X, y, rng, val=1.0, test=0.0)
    with pytest.raises(ValueError, match="test must be in"):
        train_val_test_split(X, y, rng, test=-0.1)
    with pytest.raises(ValueError, match="same number of samples; got 20 and 19"):
        train_val_test_split(X, y[:-1], rng)
    with pytest.raises(ShapeError, match=r"y must be 1-D, shape \(N,\); got shape \(20, 1\)"):
        train_val_test_split(X, y[:, None], rng)
    with pytest.raises(TypeError, match="rng must be a numpy.random.Generator"):
        train_val_test_split(X, y, 42)
    with pytest.raises(ValueError, match="training part would be empty"):
        train_val_test_split(X[:2], y[:2], rng, val=0.4, test=0.4)
    with pytest.raises(ValueError, match="X is empty"):
        train_val_test_split(np.zeros((0, 2)), np.zeros(0), rng)
    with pytest.raises(ValueError, match="X must be finite"):
        train_val_test_split(np.full((20, 2), np.nan), y, rng)


@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(3, 300),
    k=st.integers(1, 5),
    val=st.floats(0.0, 0.45),
    test=st.floats(0.0, 0.45),
    stratify=st.booleans(),
    seed=st.integers(0, 2**32 - 1),
)
def test_split_sizes_property(n, k, val, test, stratify, seed):
    rng = np.random.default_rng(seed)
    X, y = _ids_dataset(n, k, rng)
    n_test, n_val = int(np.floor(test * n + 0.5)), int(np.floor(val * n + 0.5))
    if n - n_test - n_val < 1:
        with pytest.raises(ValueError, match="training part would be empty"):
            train_val_test_split(X, y, rng, val=val, test=test, stratify=stratify)
        return
    s = train_val_test_split(X, y, rng, val=val, test=test, stratify=stratify)
    assert (len(s.y_train), len(s.y_val), len(s.y_test)) == (n - n_test - n_val, n_val, n_test)
    assert s.X_train.dtype == np.float64 and s.y_train.dtype == y.dtype
    ids = np.concatenate([s.X_train[:, 0], s.X_val[:, 0], s.X_test[:, 0]]).astype(int)
    np.testing.assert_array_equal(np.sort(ids), np.arange(n))
    if stratify:
        counts = np.bincount(y, minlength=k)
        for part in (s.y_val, s.y_test):
            expected = counts * len(part) / n
            assert np.all(np.abs(np.bincount(part, minlength=k) - expected) < 1 + 1e-9)


def test_public_names_exist():
    for name in datasets.__all__:
        assert hasattr(datasets, name)
