"""History: what :func:`nnkit.training.fit` records, one entry per epoch, and its learning curves.

``history["val_loss"]``, ``history.keys()``, ``history.as_dict()`` and ``len(history)`` work
like a dict of lists; ``history.plot()`` draws the loss (and accuracy) curves with a dotted line
at the best epoch. Also importable from :mod:`nnkit.training`.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .regularization import EarlyStopping

__all__ = ["History"]

_METRICS = ("train_loss", "val_loss", "train_acc", "val_acc", "lr")


@dataclass
class History:
    """What happened in :func:`fit`, one entry per epoch.

    Attributes
    ----------
    epoch : list of int
        Epoch numbers, 1-based.
    train_loss, val_loss : list of float
        Data loss (no penalty term) on the whole training / validation set, measured after
        the epoch's last step in inference mode (dropout off, BatchNorm running statistics),
        so the two curves are comparable. ``val_*`` are empty without validation data.
    train_acc, val_acc : list of float
        Accuracy (see :func:`accuracy`); empty when it does not apply (regression).
    lr : list of float
        Learning rate used in each epoch.
    best_epoch, stopped_epoch : int or None
        From early stopping (1-based); None without it or when it never triggered.
    early_stopping : EarlyStopping or None
        The tracker used in this fit (a fresh copy of the one passed in; see :func:`fit`).
    n_steps : int
        Optimizer steps taken.

    ``history["val_loss"]``, ``history.keys()``, ``history.as_dict()`` and ``len(history)``
    (epochs run) work like a dict of lists; ``history.plot()`` draws the curves.
    """

    epoch: list = field(default_factory=list)
    train_loss: list = field(default_factory=list)
    val_loss: list = field(default_factory=list)
    train_acc: list = field(default_factory=list)
    val_acc: list = field(default_factory=list)
    lr: list = field(default_factory=list)
    best_epoch: int | None = None
    stopped_epoch: int | None = None
    early_stopping: EarlyStopping | None = field(default=None, repr=False, compare=False)
    n_steps: int = 0

    def keys(self):
        return ("epoch",) + _METRICS

    def __getitem__(self, key: str) -> list:
        if key not in self.keys():
            raise KeyError(f"History has no {key!r}; keys: {', '.join(self.keys())}")
        return getattr(self, key)

    def __iter__(self):
        return iter(self.keys())

    def __len__(self) -> int:
        return len(self.epoch)

    def as_dict(self) -> dict:
        """``{"epoch": [...], "train_loss": [...], ...}`` (new lists), plus best/stopped epoch."""
        d = {k: list(getattr(self, k)) for k in self.keys()}
        d["best_epoch"] = self.best_epoch
        d["stopped_epoch"] = self.stopped_epoch
        d["n_steps"] = self.n_steps
        return d

    def __repr__(self) -> str:
        if not self.epoch:
            return "History(no epochs)"
        parts = [f"{len(self.epoch)} epochs"]
        for k in ("train_loss", "val_loss", "train_acc", "val_acc"):
            v = getattr(self, k)
            if v:
                parts.append(f"{k}={v[-1]:.4g}")
        if self.best_epoch is not None:
            parts.append(f"best_epoch={self.best_epoch}")
        return "History(" + ", ".join(parts) + ")"

    def plot(self, ax=None, metric: str = "both"):
        """Learning curves with matplotlib.

        Parameters
        ----------
        ax : matplotlib Axes, sequence of two Axes, or None
            Where to draw; None makes a new figure (one panel per metric).
        metric : {"both", "loss", "acc"}
            "both" draws loss and accuracy side by side (accuracy only when recorded).

        Returns
        -------
        The Axes (or array of two Axes) drawn on. A dotted line marks the best epoch.
        """
        import matplotlib.pyplot as plt

        if metric not in ("both", "loss", "acc"):
            raise ValueError(f"metric must be one of 'both', 'loss', 'acc'; got {metric!r}")
        wanted = ["loss", "acc"] if metric == "both" else [metric]
        if metric == "both" and not self.train_acc:
            wanted = ["loss"]
        if metric == "acc" and not self.train_acc:
            raise ValueError("no accuracy was recorded (a regression loss?); plot metric='loss'")
        if ax is None:
            _, axes = plt.subplots(1, len(wanted), figsize=(5.0 * len(wanted), 3.5), squeeze=False)
            axes = axes[0]
        else:
            axes = np.atleast_1d(np.asarray(ax, dtype=object))
            if len(axes) != len(wanted):
                raise ValueError(f"need {len(wanted)} Axes for metric={metric!r}; got {len(axes)}")
        for a, m in zip(axes, wanted):
            train, val = (self.train_loss, self.val_loss) if m == "loss" else (self.train_acc, self.val_acc)
            a.plot(self.epoch, train, label="train", marker="o" if len(self.epoch) < 30 else None)
            if val:
                a.plot(self.epoch, val, label="validation", marker="o" if len(self.epoch) < 30 else None)
            if self.best_epoch is not None:
                a.axvline(self.best_epoch, color="grey", linestyle=":", label=f"best epoch ({self.best_epoch})")
            a.set_xlabel("epoch")
            a.set_ylabel("loss" if m == "loss" else "accuracy")
            a.grid(True, alpha=0.3)
            a.legend()
        return axes[0] if len(axes) == 1 else axes
