"""Tests for nnkit.history: what fit records per epoch, and its learning curves."""
import math

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from nnkit import training  # noqa: E402
from nnkit.history import History  # noqa: E402
from nnkit.regularization import EarlyStopping  # noqa: E402
from test_training import small_fit  # noqa: E402


def test_history_is_importable_from_nnkit_training_too():
    assert training.History is History


def test_history_shapes_and_steps():
    model, hist, (X, *_) = small_fit()
    assert isinstance(hist, History)
    assert hist.epoch == list(range(1, 9))
    assert len(hist.train_loss) == len(hist.val_loss) == len(hist.train_acc) == len(hist.val_acc) == 8
    assert hist.n_steps == 8 * math.ceil(len(X) / 16)
    assert hist.lr == [1e-2] * 8
    assert all(0.0 <= a <= 1.0 for a in hist.train_acc + hist.val_acc)
    d = hist.as_dict()
    assert set(d) >= {"epoch", "train_loss", "val_loss", "train_acc", "val_acc", "lr", "best_epoch"}
    assert d["train_loss"] == hist["train_loss"] and d["train_loss"] is not hist.train_loss
    assert list(hist.keys())[:3] == ["epoch", "train_loss", "val_loss"]
    with pytest.raises(KeyError, match="no 'bogus'"):
        hist["bogus"]
    assert "8 epochs" in repr(hist)


def test_history_plot():
    import matplotlib.pyplot as plt

    _, hist, _ = small_fit(epochs=4, early_stopping=EarlyStopping(1))
    axes = hist.plot()
    assert len(axes) == 2
    assert [line.get_label() for line in axes[0].get_lines()][:2] == ["train", "validation"]
    assert axes[1].get_ylabel() == "accuracy"
    assert np.array_equal(axes[0].get_lines()[0].get_ydata(), hist.train_loss)
    fig, ax = plt.subplots()
    assert hist.plot(ax=ax, metric="loss") is ax
    with pytest.raises(ValueError, match="need 2 Axes"):
        hist.plot(ax=ax)
    with pytest.raises(ValueError, match="metric"):
        hist.plot(metric="f1")
    plt.close("all")
