"""Batch normalization at training and at inference time: batch statistics vs running statistics.

What it teaches
---------------
Batch norm standardizes each feature over the batch and then rescales it with learned
parameters: ``x_hat = (x - mu_B) / sqrt(var_B + eps)``, ``y = gamma * x_hat + beta``
(:func:`nnkit.normalization.batchnorm_forward`). So during training the output of a batch
has mean ``beta`` and standard deviation (almost exactly) ``gamma``, whatever the input's scale:
batch norm does **not** squash values into [0, 1], and it does not make a skewed
distribution Gaussian (it only shifts and scales it).

In training mode a sample's output depends on the other samples of its batch (through
``mu_B`` and ``var_B``); small batches give noisy statistics. At inference there is no batch,
so the layer uses *running* averages collected during training, PyTorch's convention
``running = (1 - momentum) * running + momentum * batch_stat`` (the running variance uses the
unbiased batch variance), starting from ``running_mean = 0``, ``running_var = 1``. Before
enough batches have been seen the running statistics are still near these starting values
and the inference output is not normalized at all.

The feature here is skewed on purpose: a Gamma distribution (shape 2, scale 1.5) shifted by
+1, so its mean is 4 and its variance 4.5.

Controls
--------
batch_size : samples per batch (2 .. 256).
momentum : weight of the new batch in the running averages.
gamma, beta : the learned scale and shift (set by hand here).
mode : ``"train"`` (batch statistics) or ``"inference"`` (running statistics).
play / step : how many training batches have been seen; the batch shown is batch ``step``.

Panels: (1) histogram of the batch before batch norm; (2) after, with the training-mode
target ``N(beta, gamma^2)`` outlined for scale; (3) the running mean and variance against the
number of batches seen, the batch statistics as dots and the population values dashed.

``demo.state`` holds ``x`` (the batch, (B,)), ``y`` (its output, (B,)), ``batch_mean``,
``batch_var`` (biased), ``running_mean`` / ``running_var`` (after ``step`` batches, used in
inference mode), ``running_mean_path`` / ``running_var_path`` (n_batches + 1,), ``x0``/``y0``
(a fixed probe sample and its output) and the control values.
"""
from __future__ import annotations

import ipywidgets as widgets
import numpy as np

from .._validate import check_int, check_positive, check_probability, check_rng
from ..normalization import batchnorm_forward
from ._backdrop import Backdrop
from ._base import Demo, assemble, new_figure, play_controls

__all__ = ["batchnorm_explorer", "BATCH_SIZES", "running_statistics", "POPULATION_MEAN", "POPULATION_VAR"]

BATCH_SIZES = (2, 4, 8, 16, 32, 64, 128, 256)
POPULATION_MEAN, POPULATION_VAR = 4.0, 4.5  # 1 + Gamma(2, 1.5)
X0 = 6.0  # the probe sample whose output is tracked


def _draw_batches(rng, n_batches, size):
    return 1.0 + rng.gamma(2.0, 1.5, size=(n_batches, size))


def running_statistics(batches, momentum):
    """Running mean and variance after 0, 1, ..., n batches, by nnkit's batchnorm_forward.

    Parameters
    ----------
    batches : ndarray (n_batches, B), one feature
    momentum : float, PyTorch convention

    Returns
    -------
    means, variances : ndarray (n_batches + 1,), starting at 0 and 1.
    """
    one, zero = np.ones(1), np.zeros(1)
    rm, rv = np.zeros(1), np.ones(1)
    means, variances = [0.0], [1.0]
    for xb in batches:
        _, _, rm, rv = batchnorm_forward(xb[:, None], one, zero, rm, rv, True, momentum)
        means.append(float(rm[0]))
        variances.append(float(rv[0]))
    return np.array(means), np.array(variances)


def batchnorm_explorer(*, batch_size: int = 32, momentum: float = 0.1, n_batches: int = 100,
                       rng: np.random.Generator | None = None) -> Demo:
    """Build the batch-norm explorer (see the module docstring).

    Parameters
    ----------
    batch_size : int
        One of :data:`BATCH_SIZES`.
    momentum : float in (0, 1]
    n_batches : int in 1..500
        Training batches drawn in advance (the Play animation's length).
    rng : numpy.random.Generator, optional
        Draws the batches; default ``default_rng(0)``.

    Returns
    -------
    Demo
        Controls ``batch_size``, ``momentum``, ``gamma``, ``beta``, ``mode``, ``play``, ``step``.
    """
    batch_size = check_int(batch_size, "batch_size", 2)
    if batch_size not in BATCH_SIZES:
        raise ValueError(f"batch_size must be one of {BATCH_SIZES}; got {batch_size}")
    momentum = check_probability(momentum, "momentum", low_open=True)
    n_batches = check_int(n_batches, "n_batches", 1, 500)
    rng = np.random.default_rng(0) if rng is None else check_rng(rng)
    batches = _draw_batches(rng, n_batches + 1, max(BATCH_SIZES))
    play, step = play_controls(n_batches + 1, interval_ms=120, description="batches")
    controls = {
        "batch_size": widgets.SelectionSlider(options=BATCH_SIZES, value=batch_size, description="batch size"),
        "momentum": widgets.FloatSlider(value=momentum, min=0.01, max=0.5, step=0.01, description="momentum"),
        "gamma": widgets.FloatSlider(value=1.0, min=0.2, max=3.0, step=0.1, description="gamma"),
        "beta": widgets.FloatSlider(value=0.0, min=-3.0, max=3.0, step=0.1, description="beta"),
        "mode": widgets.ToggleButtons(options=("train", "inference"), value="train", description="mode",
                                      style={"button_width": "6em"}),
        "play": play,
        "step": step,
    }
    explorer = _Explorer(controls, batches, n_batches)
    return assemble(controls, explorer.fig, explorer.update, state=explorer.state)


_EDGES_X = np.linspace(0.0, 16.0, 33)  # histogram bins before batch norm
_EDGES_Y = np.linspace(-8.0, 8.0, 41)  # and after
_T_GRID = np.linspace(-8.0, 8.0, 161)  # where the target density N(beta, gamma^2) is drawn


class _Explorer:
    """The explorer's three panels and its callback :meth:`update`.

    Every artist a control changes is dynamic and the axes' limits are fixed, so no control
    ever needs a new picture of the static parts.
    """

    def __init__(self, controls: dict, batches: np.ndarray, n_batches: int):
        self.controls, self.batches, self.n_batches = controls, batches, n_batches
        self.state: dict = {}
        self.shown: dict = {"key": None}
        self._figure()

    def _figure(self) -> None:
        fig = self.fig = new_figure(figsize=(9.4, 3.1), dpi=80)
        self.ax_x, self.ax_y, ax_r = fig.subplots(1, 3)
        self._histogram_panels()
        (self.rm_line,) = ax_r.plot([], [], color="C0", label="running mean")
        (self.rv_line,) = ax_r.plot([], [], color="C1", label="running var")
        (self.bm_dots,) = ax_r.plot([], [], ".", color="C0", ms=3, alpha=0.5)
        (self.bv_dots,) = ax_r.plot([], [], ".", color="C1", ms=3, alpha=0.5)
        (self.now_m,) = ax_r.plot([], [], "o", color="C0", ms=5)
        (self.now_v,) = ax_r.plot([], [], "o", color="C1", ms=5)
        ax_r.axhline(POPULATION_MEAN, color="C0", ls="--", lw=0.8)
        ax_r.axhline(POPULATION_VAR, color="C1", ls="--", lw=0.8)
        ax_r.set_xlim(0, self.n_batches)
        ax_r.set_ylim(0.0, 10.0)
        ax_r.set_xlabel("training batches seen")
        ax_r.legend(loc="upper right", fontsize=7)
        ax_r.grid(True, alpha=0.3)
        ax_r.set_title("running averages (dots: batches)", fontsize=9, y=1.0)
        # every artist that any control changes is dynamic (the axes limits are fixed), so no
        # control ever needs a new picture of the static parts
        self.backdrop = Backdrop(fig, dynamic=[self.hist_x, self.hist_y, self.target, self.probe, self.now_m,
                                               self.now_v, self.rm_line, self.rv_line, self.bm_dots, self.bv_dots,
                                               self.ax_x.title, self.ax_y.title])

    def _histogram_panels(self) -> None:
        ax_x, ax_y = self.ax_x, self.ax_y
        self.hist_x = ax_x.stairs(np.zeros(len(_EDGES_X) - 1), _EDGES_X, fill=True, color="0.6")
        ax_x.set_xlim(_EDGES_X[0], _EDGES_X[-1])
        ax_x.set_ylim(0.0, 0.45)
        ax_x.set_xlabel("x (before)")
        ax_x.set_ylabel("density")
        ax_x.set_title(" ", fontsize=9, y=1.0)
        self.hist_y = ax_y.stairs(np.zeros(len(_EDGES_Y) - 1), _EDGES_Y, fill=True, color="C0", alpha=0.8)
        (self.target,) = ax_y.plot([], [], color="k", lw=1.0, ls="--", label=r"N($\beta$, $\gamma^2$)")
        (self.probe,) = ax_y.plot([], [], "v", color="C3", ms=8, label=f"sample x = {X0:g}", clip_on=False)
        ax_y.axvspan(0.0, 1.0, color="C2", alpha=0.12, label="[0, 1]")
        ax_y.set_xlim(_EDGES_Y[0], _EDGES_Y[-1])
        ax_y.set_ylim(0.0, 0.9)
        ax_y.set_xlabel("y = BN(x) (after)")
        ax_y.legend(loc="upper left", fontsize=7)
        ax_y.set_title(" ", fontsize=9, y=1.0)

    def running(self, B: int, m: float) -> tuple[np.ndarray, np.ndarray]:
        """The running means and variances for batch size ``B`` and momentum ``m``, drawn when they change."""
        if self.shown["key"] != (B, m):
            seen = self.batches[:self.n_batches, :B]
            means, variances = running_statistics(seen, m)
            steps = np.arange(self.n_batches + 1)
            self.rm_line.set_data(steps, means)
            self.rv_line.set_data(steps, variances)
            self.bm_dots.set_data(steps[1:], seen.mean(axis=1))
            self.bv_dots.set_data(steps[1:], seen.var(axis=1))
            self.shown.update(key=(B, m), means=means, variances=variances)
        return self.shown["means"], self.shown["variances"]

    def update(self) -> None:
        c = self.controls
        B = int(c["batch_size"].value)
        m = float(c["momentum"].value)
        check_positive(m, "momentum")
        gamma, beta = float(c["gamma"].value), float(c["beta"].value)
        training = c["mode"].value == "train"
        k = int(c["step"].value)
        means, variances = self.running(B, m)
        x = self.batches[k, :B]  # the batch shown: the next one after k training batches
        g, b = np.array([gamma]), np.array([beta])
        rm, rv = np.array([means[k]]), np.array([variances[k]])
        y = batchnorm_forward(x[:, None], g, b, rm, rv, training, m)[0][:, 0]
        if training:  # in training the probe's output depends on its batch: add it to this one
            y_probe = batchnorm_forward(np.append(x, X0)[:, None], g, b, rm, rv, True, m)[0][-1, 0]
        else:  # at inference it depends only on the running statistics
            y_probe = batchnorm_forward(np.array([[X0]]), g, b, rm, rv, False, m)[0][0, 0]
        self.draw(x, y, y_probe, gamma, beta)
        self.now_m.set_data([k], [means[k]])
        self.now_v.set_data([k], [variances[k]])
        # short dynamic titles: text is the costliest thing a redraw renders
        self.ax_x.title.set_text(f"batch {k}: mean {x.mean():.2f}, var {x.var():.2f}")
        self.ax_y.title.set_text(f"{'train' if training else 'inference'}: mean {y.mean():.2f}, std {y.std():.2f}")
        self.state.update(batch_size=B, momentum=m, gamma=gamma, beta=beta, mode=c["mode"].value, step=k,
                          x=x, y=y, batch_mean=float(x.mean()), batch_var=float(x.var()),
                          running_mean=float(means[k]), running_var=float(variances[k]), running_mean_path=means,
                          running_var_path=variances, x0=X0, y0=float(y_probe))
        self.backdrop.ensure()
        self.fig.canvas.draw_idle()

    def draw(self, x: np.ndarray, y: np.ndarray, y_probe: float, gamma: float, beta: float) -> None:
        """The histograms before and after, the target density and the probe's output."""
        dens_x, _ = np.histogram(x, bins=_EDGES_X, density=True)
        dens_y, _ = np.histogram(np.clip(y, _EDGES_Y[0], _EDGES_Y[-1] - 1e-9), bins=_EDGES_Y, density=True)
        self.hist_x.set_data(dens_x)
        self.hist_y.set_data(dens_y)
        self.target.set_data(_T_GRID, np.exp(-0.5 * ((_T_GRID - beta) / gamma) ** 2) / (gamma * np.sqrt(2 * np.pi)))
        self.probe.set_data([y_probe], [0.0])
