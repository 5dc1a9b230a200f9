"""Tests for nnkit.training: minibatches, accuracy and fit (History: test_history.py)."""
import math
import warnings

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from nnkit.clipping import clip_by_norm, clip_by_value  # noqa: E402
from nnkit.model import MLP, loss_and_grads  # noqa: E402
from nnkit.optimizers import SGD, Adam  # noqa: E402
from nnkit.regularization import EarlyStopping  # noqa: E402
from nnkit.schedules import step_decay  # noqa: E402
from nnkit.training import accuracy, fit, minibatches  # noqa: E402

try:
    from nnkit.datasets import load_digits
except ImportError:  # pragma: no cover
    from sklearn.datasets import load_digits as _skl

    def load_digits():
        d = _skl()
        return d.data / 16.0, d.target


def ids_of(batches):
    """Sample ids (column 0 of X holds the row number) in the order visited."""
    return [int(v) for Xb, _ in batches for v in Xb[:, 0]]


def numbered(n, d=2):
    X = np.zeros((n, d))
    X[:, 0] = np.arange(n)
    return X, np.arange(n) * 10


# ---------------------------------------------------------------------------------------
# minibatches
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("batch_size", [None, 10, 11, 1000])
def test_full_batch_gradient_descent(batch_size, rng):
    X, y = numbered(10)
    batches = list(minibatches(X, y, batch_size, rng))
    assert len(batches) == 1
    Xb, yb = batches[0]
    assert Xb.shape == (10, 2)
    assert sorted(ids_of(batches)) == list(range(10))
    assert np.array_equal(yb, Xb[:, 0].astype(int) * 10)  # rows and labels stay paired


def test_stochastic_gradient_descent_one_sample_per_batch(rng):
    X, y = numbered(7)
    batches = list(minibatches(X, y, 1, rng))
    assert len(batches) == 7 and all(Xb.shape == (1, 2) and yb.shape == (1,) for Xb, yb in batches)
    assert sorted(ids_of(batches)) == list(range(7))


def test_minibatches_keep_the_last_partial_batch(rng):
    X, y = numbered(10)
    batches = list(minibatches(X, y, 3, rng))
    assert [len(Xb) for Xb, _ in batches] == [3, 3, 3, 1]
    assert sorted(ids_of(batches)) == list(range(10))
    for Xb, yb in batches:
        assert np.array_equal(yb, Xb[:, 0].astype(int) * 10)


def test_shuffle_order_comes_from_rng():
    X, y = numbered(12)
    a = ids_of(minibatches(X, y, 5, np.random.default_rng(3)))
    b = ids_of(minibatches(X, y, 5, np.random.default_rng(3)))
    c = ids_of(minibatches(X, y, 5, np.random.default_rng(4)))
    assert a == b and a != c
    assert a == list(np.random.default_rng(3).permutation(12))


def test_no_shuffle_keeps_order_and_gives_views():
    X, y = numbered(5)
    batches = list(minibatches(X, y, 2, None, shuffle=False))
    assert ids_of(batches) == [0, 1, 2, 3, 4]
    assert all(np.shares_memory(Xb, X) for Xb, _ in batches)


def test_minibatches_without_labels_and_float32(rng):
    X = np.ones((4, 3), dtype=np.float32)
    batches = list(minibatches(X, None, 3, rng))
    assert [yb for _, yb in batches] == [None, None]
    assert all(Xb.dtype == np.float32 for Xb, _ in batches)


def test_minibatches_bad_input_is_reported_at_call_time(rng):
    X, y = numbered(5)
    with pytest.raises(ValueError, match="X and y must have the same number of samples; got 5 and 4"):
        minibatches(X, y[:4], 2, rng)  # not iterated: the check is eager
    with pytest.raises(ValueError, match="batch_size must be >= 1"):
        minibatches(X, y, 0, rng)
    with pytest.raises(TypeError, match="batch_size"):
        minibatches(X, y, 2.5, rng)
    with pytest.raises(TypeError, match="batch_size"):
        minibatches(X, y, True, rng)
    with pytest.raises(TypeError, match="numpy.random.Generator"):
        minibatches(X, y, 2, 42)
    with pytest.raises(ValueError, match="empty"):
        minibatches(np.zeros((0, 2)), np.zeros(0), 2, rng)
    with pytest.raises(ValueError, match="finite"):
        minibatches(np.array([[np.nan, 1.0]]), [1], 1, rng)


@settings(max_examples=50, deadline=None)
@given(n=st.integers(1, 40), batch_size=st.one_of(st.none(), st.integers(1, 50)), seed=st.integers(0, 2**32 - 1),
       shuffle=st.booleans())
def test_every_sample_exactly_once_per_epoch(n, batch_size, seed, shuffle):
    X, y = numbered(n)
    batches = list(minibatches(X, y, batch_size, np.random.default_rng(seed), shuffle=shuffle))
    size = n if batch_size is None else min(batch_size, n)
    assert len(batches) == math.ceil(n / size)
    assert all(len(Xb) == size for Xb, _ in batches[:-1])
    assert 1 <= len(batches[-1][0]) <= size
    assert sorted(ids_of(batches)) == list(range(n))


# ---------------------------------------------------------------------------------------
# accuracy
# ---------------------------------------------------------------------------------------


def test_accuracy_rules():
    scores = np.array([[2.0, 1.0, 0.0], [0.0, 3.0, 1.0], [0.0, 0.0, 1.0], [5.0, 0.0, 0.0]])
    labels = np.array([0, 1, 1, 0])
    assert accuracy(scores, labels) == 0.75
    assert accuracy(scores, np.eye(3)[labels]) == 0.75
    logits = np.array([[-1.0], [2.0], [0.5]])
    assert accuracy(logits, np.array([0, 1, 0]), "binary_cross_entropy_with_logits") == pytest.approx(2 / 3)
    probs = np.array([[0.2], [0.9], [0.6]])
    assert accuracy(probs, np.array([[0.0], [1.0], [1.0]]), "binary_cross_entropy") == 1.0
    assert math.isnan(accuracy(np.array([[0.3], [1.2]]), np.array([[0.1], [1.0]]), "mse"))


# ---------------------------------------------------------------------------------------
# fit
# ---------------------------------------------------------------------------------------


def blobs(rng, n=60, d=4, k=3):
    centers = rng.standard_normal((k, d)) * 3
    y = rng.integers(0, k, size=n)
    return centers[y] + rng.standard_normal((n, d)), y


def small_fit(seed=0, **kw):
    data_rng = np.random.default_rng(100)
    X, y = blobs(data_rng)
    Xv, yv = blobs(data_rng, n=30)
    model = MLP([4, 16, 3], rng=np.random.default_rng(seed), p_drop=kw.pop("p_drop", 0.0))
    args = dict(loss="softmax_cross_entropy", optimizer=Adam(1e-2), epochs=8, batch_size=16,
                rng=np.random.default_rng(seed + 1), X_val=Xv, y_val=yv, progress=False)
    args.update(kw)
    return model, fit(model, X, y, **args), (X, y, Xv, yv)


def test_digits_mlp_reaches_95_percent_test_accuracy():
    X, y = load_digits()
    X = np.asarray(X, dtype=np.float64)
    try:
        from nnkit.datasets import train_val_test_split

        X_tr, y_tr, X_val, y_val, X_test, y_test = train_val_test_split(X, y, np.random.default_rng(1), val=0.15,
                                                                        test=0.2)
    except ImportError:  # pragma: no cover
        perm = np.random.default_rng(1).permutation(len(X))
        X, y = X[perm], y[perm]
        X_test, y_test, X_val, y_val = X[:360], y[:360], X[360:630], y[360:630]
        X_tr, y_tr = X[630:], y[630:]
    model = MLP([64, 128, 10], rng=np.random.default_rng(11))
    hist = fit(model, X_tr, y_tr, loss="softmax_cross_entropy", optimizer=Adam(3e-3), epochs=25, batch_size=32,
               rng=np.random.default_rng(21), X_val=X_val, y_val=y_val, early_stopping=EarlyStopping(6),
               progress=False)
    test_acc = np.mean(model.predict(X_test).argmax(axis=1) == y_test)
    assert test_acc >= 0.95, f"test accuracy {test_acc:.3f}"
    assert hist.train_loss[-1] < hist.train_loss[0]
    assert max(hist.val_acc) >= 0.95
    assert len(hist.train_loss) == len(hist.val_loss) == len(hist.train_acc) == len(hist.val_acc) == len(hist)


def test_train_loss_is_the_loss_of_the_final_weights():
    from nnkit.losses import softmax_cross_entropy

    model, hist, (X, y, Xv, yv) = small_fit()
    assert hist.train_loss[-1] == softmax_cross_entropy(model.predict(X), y)
    assert hist.val_loss[-1] == softmax_cross_entropy(model.predict(Xv), yv)


def test_fit_is_bitwise_reproducible_from_seeds():
    m1, h1, _ = small_fit(seed=5, p_drop=0.2)
    m2, h2, _ = small_fit(seed=5, p_drop=0.2)
    for k in m1.params:
        assert np.array_equal(m1.params[k], m2.params[k]), k
    assert h1.as_dict() == h2.as_dict()
    m3, h3, _ = small_fit(seed=6, p_drop=0.2)
    assert not np.array_equal(m1.params["W1"], m3.params["W1"])


def test_fit_does_not_modify_its_arguments():
    data_rng = np.random.default_rng(1)
    X, y = blobs(data_rng)
    X0, y0 = X.copy(), y.copy()
    opt = SGD(0.1)
    es = EarlyStopping(patience=1)
    model = MLP([4, 8, 3], rng=np.random.default_rng(0))
    hist = fit(model, X, y, loss="softmax_cross_entropy", optimizer=opt, epochs=5, batch_size=10,
               rng=np.random.default_rng(0), X_val=X, y_val=y, early_stopping=es, schedule=step_decay(0.5, 0.5, 2),
               progress=False)
    assert np.array_equal(X, X0) and np.array_equal(y, y0)
    assert opt.lr == 0.1  # the schedule drove a copy
    assert es.best_epoch is None and es.best_params is None  # a fresh copy did the tracking
    assert hist.early_stopping is not es and hist.early_stopping.best_epoch == hist.best_epoch


def test_schedule_sets_the_learning_rate_per_epoch():
    sched = step_decay(0.1, 0.5, 2)
    _, hist, _ = small_fit(optimizer=SGD(1.0), schedule=sched, epochs=5)
    # step_decay(lr0=0.1, factor=0.5, every=2): 0.1, 0.1, 0.05, 0.05, 0.025 for k = 0..4
    assert hist.lr == pytest.approx([0.1, 0.1, 0.05, 0.05, 0.025])
    # A constant schedule equal to the optimizer's lr changes nothing, bit for bit.
    m_a, h_a, _ = small_fit(optimizer=SGD(0.05), schedule=lambda k: 0.05, epochs=3)
    m_b, h_b, _ = small_fit(optimizer=SGD(0.05), epochs=3)
    assert np.array_equal(m_a.params["W1"], m_b.params["W1"])
    with pytest.raises(ValueError, match="lr must be > 0"):
        small_fit(optimizer=SGD(0.05), schedule=lambda k: 0.0)


def test_one_step_with_l2_and_clipping_matches_a_hand_step():
    rng = np.random.default_rng(3)
    X, y = blobs(rng, n=12)
    lr, lam, max_norm = 0.5, 0.1, 0.3

    def fresh():
        return MLP([4, 5, 3], rng=np.random.default_rng(9))

    # Hand step on the full batch: g = dL/dw + lam * W (weights only), clipped by global norm.
    ref = fresh()
    _, grads = loss_and_grads(ref, X, y, "softmax_cross_entropy")
    grads = {k: g + (lam * ref.params[k] if k.startswith("W") else 0.0) for k, g in grads.items()}
    grads = clip_by_norm(grads, max_norm, scope="global")
    expected = {k: p - lr * grads[k] for k, p in ref.params.items()}

    model = fresh()
    fit(model, X, y, loss="softmax_cross_entropy", optimizer=SGD(lr), epochs=1, batch_size=None,
        rng=np.random.default_rng(0), l2=lam, clip=max_norm, progress=False)
    for k in expected:
        np.testing.assert_allclose(model.params[k], expected[k], rtol=1e-12, atol=1e-14)

    # A callable clip is used as given.
    model = fresh()
    fit(model, X, y, loss="softmax_cross_entropy", optimizer=SGD(lr), epochs=1, batch_size=None,
        rng=np.random.default_rng(0), clip=lambda g: clip_by_value(g, 1e-3), progress=False)
    before = fresh().params
    for k in before:
        assert np.max(np.abs(model.params[k] - before[k])) <= lr * 1e-3 * (1 + 1e-12)


def test_early_stopping_restores_the_best_weights():
    # Few samples, a wide net and a large step: validation loss turns up quickly.
    rng = np.random.default_rng(0)
    X, y = blobs(rng, n=20)
    Xv, yv = blobs(rng, n=40)
    X = X + 2.5 * rng.standard_normal(X.shape)

    def run(epochs, es):
        model = MLP([4, 64, 3], rng=np.random.default_rng(1))
        hist = fit(model, X, y, loss="softmax_cross_entropy", optimizer=Adam(0.05), epochs=epochs, batch_size=5,
                   rng=np.random.default_rng(2), X_val=Xv, y_val=yv, early_stopping=es, progress=False)
        return model, hist

    model, hist = run(60, EarlyStopping(patience=3))
    best = hist.best_epoch
    assert hist.stopped_epoch is not None and hist.stopped_epoch == len(hist) < 60
    assert best < len(hist)
    assert hist.val_loss[best - 1] == min(hist.val_loss)
    # The restored weights are exactly those after epoch `best`: rerun for `best` epochs.
    again, _ = run(best, None)
    for k in model.params:
        assert np.array_equal(model.params[k], again.params[k]), k
    from nnkit.losses import softmax_cross_entropy

    assert softmax_cross_entropy(model.predict(Xv), yv) == hist.val_loss[best - 1]
    # restore_best=False keeps the last weights.
    last, hist2 = run(60, EarlyStopping(patience=3, restore_best=False))
    assert softmax_cross_entropy(last.predict(Xv), yv) == hist2.val_loss[-1] != hist2.val_loss[best - 1]


def test_early_stopping_on_accuracy_needs_a_classification_loss():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((20, 3))
    Y = X @ rng.standard_normal((3, 1))
    model = MLP([3, 4, 1], rng=rng)
    with pytest.raises(ValueError, match="mode='max'"):
        fit(model, X, Y, loss="mse", optimizer=SGD(0.01), epochs=2, batch_size=5, rng=rng,
            early_stopping=EarlyStopping(2, mode="max"), progress=False)


def test_regression_records_no_accuracy_and_float32_stays_float32():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((30, 3)).astype(np.float32)
    Y = (X @ rng.standard_normal((3, 2))).astype(np.float32)
    model = MLP([3, 8, 2], rng=rng, dtype=np.float32)
    hist = fit(model, X, Y, loss="mse", optimizer=Adam(1e-2), epochs=20, batch_size=10, rng=rng, progress=False)
    assert hist.train_acc == [] and hist.val_acc == [] and hist.val_loss == []
    assert hist.train_loss[-1] < hist.train_loss[0]
    assert all(p.dtype == np.float32 for p in model.params.values())


def test_divergence_stops_with_epoch_and_layer():
    X, y = load_digits()
    X = np.asarray(X[:200], dtype=np.float64)
    Y = np.asarray(y[:200], dtype=np.float64)[:, None]
    model = MLP([64, 32, 1], rng=np.random.default_rng(0))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # overflow is reported by the error, not by warnings
        with pytest.raises(FloatingPointError) as info:
            fit(model, X, Y, loss="mse", optimizer=SGD(1e300), epochs=50, batch_size=20,
                rng=np.random.default_rng(1), progress=False)
    msg = str(info.value)
    assert "epoch 1, batch 2" in msg
    assert "layer 3 Dense(32, 1)" in msg
    assert "smaller learning rate" in msg


def test_divergence_names_a_nonfinite_parameter():
    from nnkit.layers import Dense
    from nnkit.model import Sequential

    rng = np.random.default_rng(0)
    X, y = blobs(rng, n=10)

    class Exploding(Dense):
        """A layer whose backward returns an infinite weight gradient after two calls."""

        calls = 0

        def backward(self, dout, cache, need_dx=True):
            dx, g = super().backward(dout, cache, need_dx)
            Exploding.calls += 1
            if Exploding.calls > 2:
                g = {"W": np.full_like(g["W"], np.inf), "b": g["b"]}
            return dx, g

    model = Sequential([Dense(4, 5, rng), Exploding(5, 3, rng)])
    with pytest.raises(FloatingPointError, match=r"epoch 2, batch 1: .*gradient dW2 \(layer 2 Dense\(5, 3\)\)"):
        fit(model, X, y, loss="softmax_cross_entropy", optimizer=SGD(0.1), epochs=3, batch_size=5,
            rng=rng, progress=False)


def test_bad_arguments_give_clear_errors():
    rng = np.random.default_rng(0)
    X, y = blobs(rng, n=20)
    model = MLP([4, 5, 3], rng=rng)
    base = dict(loss="softmax_cross_entropy", optimizer=SGD(0.1), epochs=1, batch_size=5, rng=rng, progress=False)
    with pytest.raises(ValueError, match="X and y must have the same number of samples; got 20 and 19"):
        fit(model, X, y[:19], **base)
    with pytest.raises(ValueError, match="X_val and y_val must have the same number of samples; got 20 and 3"):
        fit(model, X, y, X_val=X, y_val=y[:3], **base)
    with pytest.raises(ValueError, match="both X_val and y_val"):
        fit(model, X, y, X_val=X, **base)
    with pytest.raises(ValueError, match="epochs must be an integer >= 1; got 0"):
        fit(model, X, y, **{**base, "epochs": 0})
    with pytest.raises(ValueError, match="l2 must be >= 0"):
        fit(model, X, y, l2=-1.0, **base)
    with pytest.raises(ValueError, match="loss name"):
        fit(model, X, y, **{**base, "loss": "nope"})
    with pytest.raises(TypeError, match="optimizer must be"):
        fit(model, X, y, **{**base, "optimizer": 0.1})
    with pytest.raises(ValueError, match="clip"):
        fit(model, X, y, clip=-1.0, **base)
    with pytest.raises(TypeError, match="clip"):
        fit(model, X, y, clip="norm", **base)
    with pytest.raises(TypeError, match="numpy.random.Generator"):
        fit(model, X, y, **{**base, "rng": 1})
    with pytest.raises(ValueError, match="finite"):
        fit(model, np.full((20, 4), np.nan), y, **base)
    with pytest.raises(TypeError, match="early_stopping"):
        fit(model, X, y, early_stopping=3, **base)


def test_progress_bar_can_be_turned_off(capsys):
    small_fit(progress=False, epochs=2)
    assert capsys.readouterr().err == ""
    small_fit(progress=True, epochs=2)
    err = capsys.readouterr().err
    assert "fit" in err and "2/2" in err
