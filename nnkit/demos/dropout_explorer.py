"""Dropout at training and at test time: random masks, and the scaling that keeps the expectation.

What it teaches
---------------
During training, dropout sets each unit of a layer to zero with probability ``p_drop`` (a
fresh random mask for every forward pass); at test time every unit is kept. The next layer
must see activations of the same *expected* size in both cases, so one of the two phases
rescales:

- **inverted dropout** (nnkit, PyTorch, Keras): kept units are multiplied by
  ``1 / (1 - p_drop)`` during training, and the test-time layer is the identity
  (:func:`nnkit.layers.dropout_forward`);
- **plain dropout** (the original paper): no scaling during training, and at test time the
  activations (equivalently the outgoing weights) are multiplied by the keep probability
  ``1 - p_drop``;
- **no scaling at all** is the slip: the training-time input of the next unit is then on
  average ``(1 - p_drop)`` times the test-time one, so the test-time network sees inputs
  that are systematically too large.

``p_drop`` here is the **drop** probability (PyTorch's ``p``, Keras' ``rate``); some texts
write ``p`` for the *keep* probability ``1 - p_drop``.

The demo uses one hidden layer of ``n_units`` ReLU activations ``h`` (fixed, made from one
input) feeding one unit of the next layer, ``z = h . w``. Mask ``k`` keeps unit ``i`` when
``u[k, i] >= p_drop`` for fixed uniform draws ``u`` (nnkit's rule), so moving ``p_drop``
changes the masks smoothly.

Controls
--------
p_drop : drop probability in [0, 0.9].
scaling : ``"inverted"``, ``"plain"`` or ``"none (slip)"``.
mode : ``"train"`` (show mask ``step``) or ``"test"``.
play / step : which mask (the ``step``-th forward pass); the running mean uses masks 0..step.

Panels: (1) the layer's activations: test-time values as outlines, the shown phase as bars
(dropped units empty); (2) the next unit's input ``z`` for every mask drawn so far (dots),
their running mean (line), the test-time ``z`` (dashed) and the expected training-time ``z``
(dotted): with inverted or plain dropout the two horizontal lines coincide.

``demo.state`` holds ``p_drop``, ``scaling``, ``mode``, ``step``, ``h`` (n_units,), ``mask``
(n_units,) bool, ``shown`` (the bars, n_units), ``z_train`` (n_masks,), ``z_test``,
``expected_z_train`` (``(1 - p_drop) * scale * sum(h * w)``), ``running_mean`` (step + 1,).
"""
from __future__ import annotations

import ipywidgets as widgets
import numpy as np

from .._validate import check_choice, check_int, check_probability, check_rng
from ..activations import relu
from ..layers import dropout_forward
from ._backdrop import Backdrop
from ._base import Demo, assemble, new_figure, play_controls

__all__ = ["dropout_explorer", "SCALINGS", "layer_outputs"]

SCALINGS = ("inverted", "plain", "none (slip)")


def layer_outputs(h, p_drop, keep, scaling, training):
    """What the dropout layer passes on, for masks ``keep`` (bool, ``h``'s shape or a stack of masks).

    ``"inverted"`` is :func:`nnkit.layers.dropout_forward`; ``"plain"`` multiplies by the mask in
    training and by the keep probability at test time; ``"none (slip)"`` multiplies by the mask
    in training and does nothing at test time. Returns a new array of ``keep``'s shape.
    """
    keep = np.asarray(keep, dtype=bool)
    H = np.broadcast_to(h, keep.shape)
    if scaling == "inverted":
        return dropout_forward(H, p_drop, training=training, mask=keep)[0] * 1.0
    if training:
        return H * keep
    return H * (1.0 - p_drop) if scaling == "plain" else H.copy()


def dropout_explorer(*, p_drop: float = 0.5, scaling: str = "inverted", n_units: int = 16, n_masks: int = 200,
                     rng: np.random.Generator | None = None) -> Demo:
    """Build the dropout explorer (see the module docstring).

    Parameters
    ----------
    p_drop : float in [0, 0.9]
        Initial drop probability.
    scaling : str
        One of :data:`SCALINGS`.
    n_units : int in 2..64
    n_masks : int in 1..1000
        Masks drawn in advance (the Play animation's length).
    rng : numpy.random.Generator, optional
        Draws the input, the weights and the uniform numbers behind the masks; default
        ``default_rng(0)``.

    Returns
    -------
    Demo
        Controls ``p_drop``, ``scaling``, ``mode``, ``play``, ``step``.
    """
    p_drop = check_probability(p_drop, "p_drop")
    if p_drop > 0.9:
        raise ValueError(f"p_drop must be in [0, 0.9]; got {p_drop}")
    check_choice(scaling, "scaling", SCALINGS)
    n_units = check_int(n_units, "n_units", 2, 64)
    n_masks = check_int(n_masks, "n_masks", 1, 1000)
    rng = np.random.default_rng(0) if rng is None else check_rng(rng)
    # One hidden layer's ReLU activations for one input, and the next unit's weights.
    x = rng.standard_normal(8)
    W = rng.standard_normal((8, n_units)) * np.sqrt(2.0 / 8)
    h = relu(x @ W + 0.3)
    w_next = np.abs(rng.standard_normal(n_units)) * 0.5 + 0.2
    uniforms = rng.random((n_masks, n_units))
    play, step = play_controls(n_masks, interval_ms=150, description="mask")
    controls = {
        "p_drop": widgets.FloatSlider(value=p_drop, min=0.0, max=0.9, step=0.05, description="p_drop",
                                      readout_format=".2f"),
        "scaling": widgets.Dropdown(options=SCALINGS, value=scaling, description="scaling"),
        "mode": widgets.ToggleButtons(options=("train", "test"), value="train", description="mode",
                                      style={"button_width": "4.5em"}),
        "play": play,
        "step": step,
    }
    explorer = _Explorer(controls, h, w_next, uniforms)
    return assemble(controls, explorer.fig, explorer.update, state=explorer.state)


def _test_time_title(scaling: str, p: float) -> str:
    return "test time: " + {"inverted": "identity", "plain": f"h x {1 - p:.2f}",
                            "none (slip)": "identity (no rescaling anywhere)"}[scaling]


class _Explorer:
    """The explorer's two panels (the layer's units, the next unit's input) and its callback :meth:`update`.

    The masks and the next unit's inputs for all of them are computed once per ``p_drop`` and
    scaling (:meth:`masks`); the step and the mode only pick what to show.
    """

    def __init__(self, controls: dict, h: np.ndarray, w_next: np.ndarray, uniforms: np.ndarray):
        self.controls, self.h, self.w_next, self.uniforms = controls, h, w_next, uniforms
        self.z_ref = float(h @ w_next)  # the next unit's input with every unit kept, unscaled
        self.state: dict = {}
        self.cache: dict = {}
        self._figure()

    def _figure(self) -> None:
        n_masks, n_units = self.uniforms.shape
        fig = self.fig = new_figure(figsize=(8.6, 3.1), dpi=80)
        ax_u, ax_z = self.ax_u, self.ax_z = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1.0, 1.1]})
        units = np.arange(n_units)
        top = 3.2 * float(self.h.max())  # room for the training-time values 1/(1 - p_drop) h up to p_drop ~ 0.7
        self.bars = ax_u.bar(units, np.zeros(n_units), width=0.75, color="C0", edgecolor="C0")
        (self.crosses,) = ax_u.plot([], [], "x", color="C3", ms=7, mew=2, label="dropped", clip_on=False)
        ax_u.bar(units, self.h, width=0.75, fill=False, edgecolor="k", lw=0.8, label="test-time value $h_i$")
        ax_u.set_xlim(-0.7, n_units - 0.3)
        ax_u.set_ylim(0.0, top)
        ax_u.set_xlabel("unit i")
        ax_u.set_ylabel("activation passed on")
        ax_u.legend(loc="upper right", fontsize=8)
        ax_u.set_title(" ", fontsize=10, y=1.0)
        (self.dots,) = ax_z.plot([], [], ".", color="C0", ms=3, alpha=0.5, label="z for one mask")
        (self.running,) = ax_z.plot([], [], color="C0", lw=1.8, label="running mean")
        (self.test_line,) = ax_z.plot([0, n_masks - 1], [0, 0], "--", color="k", lw=1.2, label="test-time z")
        (self.expect_line,) = ax_z.plot([0, n_masks - 1], [0, 0], ":", color="C3", lw=1.8, label="E[training z]")
        ax_z.set_xlim(0, n_masks - 1)
        ax_z.set_ylim(0.0, 2.6 * self.z_ref)
        ax_z.set_xlabel("mask (forward pass)")
        ax_z.set_ylabel("next unit's input z")
        ax_z.legend(loc="upper right", fontsize=7, ncols=2)
        ax_z.grid(True, alpha=0.3)
        ax_z.set_title(" ", fontsize=10, y=1.0)
        self.backdrop = Backdrop(fig, dynamic=[*self.bars, self.crosses, self.dots, self.running, self.test_line,
                                               self.expect_line, ax_u.title, ax_z.title])

    def masks(self, p: float, scaling: str) -> tuple[np.ndarray, np.ndarray, float]:
        """``(keeps, z_train, z_test)``: every mask at ``p``, the next unit's input for each, and at test time."""
        if self.cache.get("key") != (p, scaling):
            keeps = self.uniforms >= p  # nnkit's rule: keep with probability 1 - p_drop
            self.cache.update(key=(p, scaling), keeps=keeps,
                              z_train=layer_outputs(self.h, p, keeps, scaling, True) @ self.w_next,
                              z_test=float(layer_outputs(self.h, p, keeps[0], scaling, False) @ self.w_next))
        return self.cache["keeps"], self.cache["z_train"], self.cache["z_test"]

    def update(self) -> None:
        c = self.controls
        p = float(c["p_drop"].value)
        scaling = c["scaling"].value
        check_choice(scaling, "scaling", SCALINGS)
        training = c["mode"].value == "train"
        k = int(c["step"].value)
        keeps, z_train, z_test = self.masks(p, scaling)
        scale = 1.0 / (1.0 - p) if scaling == "inverted" else 1.0
        expected = (1.0 - p) * scale * self.z_ref
        shown = layer_outputs(self.h, p, keeps[k], scaling, training)
        self.draw_units(shown, keeps[k], training)
        running_mean = np.cumsum(z_train[: k + 1]) / np.arange(1, k + 2)
        steps = np.arange(k + 1)
        self.dots.set_data(steps, z_train[: k + 1])
        self.running.set_data(steps, running_mean)
        self.test_line.set_ydata([z_test, z_test])
        self.expect_line.set_ydata([expected, expected])
        if training:
            self.ax_u.title.set_text(f"training, mask {k}: {int((~keeps[k]).sum())} of {len(self.h)} dropped")
        else:
            self.ax_u.title.set_text(_test_time_title(scaling, p))
        ratio = expected / z_test if z_test else float("nan")
        self.ax_z.title.set_text(f"E[training z] / test z = {ratio:.2f}")
        self.state.update(p_drop=p, scaling=scaling, mode=c["mode"].value, step=k, h=self.h, w_next=self.w_next,
                          mask=keeps[k].copy(), shown=shown, z_train=z_train, z_test=z_test,
                          expected_z_train=expected, running_mean=running_mean)
        self.backdrop.ensure()
        self.fig.canvas.draw_idle()

    def draw_units(self, shown: np.ndarray, keep: np.ndarray, training: bool) -> None:
        """The bars of what the layer passes on; dropped units (in training) empty and crossed."""
        for bar, value, kept in zip(self.bars, shown, keep):
            bar.set_height(value)
            dropped = training and not kept
            bar.set_facecolor("none" if dropped else ("C0" if training else "C2"))
            bar.set_edgecolor("C3" if dropped else ("C0" if training else "C2"))
        dropped = ~keep if training else np.zeros(len(keep), dtype=bool)
        self.crosses.set_data(np.flatnonzero(dropped), np.zeros(int(dropped.sum())))
