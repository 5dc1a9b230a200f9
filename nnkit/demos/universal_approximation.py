"""The universal approximation theorem, watched: one hidden layer fitting a 1-D function as it widens.

What it teaches
---------------
A network with one hidden layer computes ``f(x) = c + sum_j v_j * act(w_j * x + b_j)``: a sum
of ``n`` shifted and scaled copies of one activation. With ReLU every unit adds a kink at
``x = -b_j / w_j``, so the network is a broken line with ``n`` kinks; with tanh every unit adds
a smooth step. The universal approximation theorem says that, with enough units, such sums come
as close as we like to any *continuous* function on an interval. The demo shows how the fit
improves as the units grow, and where it does not: a jump (``step``) is not continuous, and the
largest error near the jump stays about 1/2 however many units there are (the mean squared
error still falls, because the bad region narrows).

Each network is an :func:`nnkit.model.MLP` ``[1, n, 1]`` trained on :data:`N_POINTS` evenly
spaced points of ``[-1, 1]`` with the mean squared error. The start follows the constructive
proof of the theorem: unit ``j`` gets its kink (ReLU) or its step (tanh) at the ``j``-th of ``n``
evenly spaced points, with alternating directions, and the output weights are the least-squares
fit to the target for those units. nnkit then trains every parameter (kink places included) with
:class:`nnkit.optimizers.Adam` for ``n_steps`` full-batch steps, under a cosine schedule
(:class:`nnkit.schedules.cosine_annealing`) from ``lr`` down to ``lr/100``.

Fits are cached: the default target and activation are trained for every width when the demo is
built, any other setting the first time it is shown (a fraction of a second).

Controls
--------
target : one of :data:`TARGETS`.
activation : ``"relu"`` or ``"tanh"``.
units : the hidden units ``n``, one of :data:`UNITS`.
show_units : draw every unit's contribution ``v_j * act(w_j x + b_j)`` (thin lines).

Panels: (1) the target, the network and (optionally) its units' contributions, the kink or step
positions as ticks at the bottom; (2) the mean squared error against the number of units (log-log)
for the widths computed so far: after training (solid) and at the constructive start (dashed).

``demo.state`` holds ``target``, ``activation``, ``units``, ``x`` (the plotting grid), ``y`` (the
target on it), ``fit`` (the network on it), ``contributions`` (units, len(x)), ``knots`` (units,),
``mse`` and ``mse_start`` (on the training points), ``max_error`` (on the plotting grid),
``params`` (the trained parameters), and ``computed_units``, ``computed_mse``,
``computed_mse_start`` (the second panel's points).
"""
from __future__ import annotations

import ipywidgets as widgets
import numpy as np
from matplotlib.collections import LineCollection

from .._validate import check_choice, check_int, check_positive
from ..activations import get_activation
from ..model import MLP, loss_and_grads
from ..optimizers import Adam
from ..schedules import cosine_annealing
from ._backdrop import Backdrop
from ._base import Demo, assemble, memo, new_figure
from ._layout import curve_panel

__all__ = ["universal_approximation", "fit_one_hidden_layer", "TARGETS", "UNITS", "ACTIVATION_CHOICES"]

TARGETS = {
    "sine": lambda x: np.sin(2.0 * np.pi * x),
    "abs": np.abs,
    "bumps": lambda x: np.exp(-30.0 * (x - 0.4) ** 2) - 0.8 * np.exp(-60.0 * (x + 0.35) ** 2),
    "step": lambda x: (x > 0).astype(float),
}
UNITS = (1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64)
ACTIVATION_CHOICES = ("relu", "tanh")
N_POINTS = 101


def fit_one_hidden_layer(target: str, units: int, activation: str, *, n_steps: int = 300, lr: float = 3e-3,
                         x=None) -> dict:
    """Fit ``MLP([1, units, 1], activation)`` to a target of :data:`TARGETS` on ``[-1, 1]``.

    Parameters
    ----------
    target : str, a key of :data:`TARGETS`
    units : int >= 1
    activation : ``"relu"`` or ``"tanh"``
    n_steps : int >= 0
        Full-batch Adam steps after the constructive start (0: the start itself).
    lr : float > 0
        Adam's initial rate; a cosine schedule takes it down to ``lr / 100``.
    x : ndarray (M,), optional
        Where to evaluate the result; default 301 points of ``[-1, 1]``.

    Returns
    -------
    dict with ``model`` (the trained MLP), ``mse_start`` and ``mse`` (mean squared error on the
    :data:`N_POINTS` training points before and after training), ``x``, ``fit`` (M,),
    ``contributions`` (units, M), ``bias`` (the output bias c) and ``knots`` (units,), where
    each unit's pre-activation ``w_j x + b_j`` is 0.
    """
    check_choice(target, "target", TARGETS)
    check_choice(activation, "activation", ACTIVATION_CHOICES)
    units = check_int(units, "units", 1)
    n_steps = check_int(n_steps, "n_steps", 0)
    lr = check_positive(lr, "lr")
    xs = np.linspace(-1.0, 1.0, N_POINTS)[:, None]
    ys = TARGETS[target](xs)
    model = MLP([1, units, 1], activation, rng=np.random.default_rng(units))
    act = get_activation(activation)
    p = model.params
    # the constructive start: unit j switches at the j-th of `units` evenly spaced points, directions
    # alternate; a tanh step is as wide as the spacing between two switch points
    centres = -1.0 + (2.0 * np.arange(units) + 1.0) / units  # the middles of n equal parts of [-1, 1]
    slope = (-1.0) ** np.arange(units) * ((units + 1) / 2.0 if activation == "tanh" else 1.0)
    p["W1"][...] = slope[None, :]
    p["b1"][...] = -slope * centres
    hidden = act.fn(xs @ p["W1"] + p["b1"])
    coef = np.linalg.lstsq(np.column_stack([hidden, np.ones(N_POINTS)]), ys, rcond=None)[0]
    p["W2"][...] = coef[:-1]
    p["b2"][...] = coef[-1]
    mse_start, _ = loss_and_grads(model, xs, ys, "mse")
    if n_steps:
        opt = Adam(lr)
        state = opt.init_state(p)
        schedule = cosine_annealing(lr, n_steps, eta_min=lr / 100.0)
        for k in range(n_steps):
            opt.lr = schedule(k)
            _, grads = loss_and_grads(model, xs, ys, "mse")
            opt.step(p, grads, state)
    mse, _ = loss_and_grads(model, xs, ys, "mse")
    x = np.linspace(-1.0, 1.0, 301) if x is None else np.asarray(x, dtype=float)
    contributions = (act.fn(x[:, None] @ p["W1"] + p["b1"]) * p["W2"][:, 0]).T
    with np.errstate(divide="ignore", invalid="ignore"):
        knots = -p["b1"] / p["W1"][0]
    return {"model": model, "mse_start": float(mse_start), "mse": float(mse), "x": x,
            "fit": model.predict(x[:, None])[:, 0], "contributions": contributions, "bias": float(p["b2"][0]),
            "knots": knots}


def universal_approximation(*, target: str = "sine", activation: str = "relu", units: int = 4,
                            n_steps: int = 300) -> Demo:
    """Build the universal-approximation demo (see the module docstring).

    Parameters
    ----------
    target : str
        A key of :data:`TARGETS`.
    activation : str
        One of :data:`ACTIVATION_CHOICES`.
    units : int
        One of :data:`UNITS`.
    n_steps : int in 0..5000
        Adam steps per fit after the constructive start.

    Returns
    -------
    Demo
        Controls ``target``, ``activation``, ``units``, ``show_units``.
    """
    check_choice(target, "target", TARGETS)
    check_choice(activation, "activation", ACTIVATION_CHOICES)
    units = check_int(units, "units", 1)
    if units not in UNITS:
        raise ValueError(f"units must be one of {UNITS}; got {units}")
    n_steps = check_int(n_steps, "n_steps", 0, 5000)
    controls = {
        "target": widgets.Dropdown(options=tuple(TARGETS), value=target, description="target",
                                   layout=widgets.Layout(width="13em")),
        "activation": widgets.ToggleButtons(options=ACTIVATION_CHOICES, value=activation, description="activation",
                                            style={"button_width": "4.5em"}),
        "units": widgets.SelectionSlider(options=UNITS, value=units, description="hidden units",
                                         style={"description_width": "initial"}),
        "show_units": widgets.Checkbox(value=True, description="show each unit", indent=False),
    }
    explorer = _Explorer(controls, n_steps)
    for n in UNITS:  # the first view: every width ready
        explorer.fit((target, activation, n))
    return assemble(controls, explorer.fig, explorer.update, state=explorer.state)


_FLOOR = 1e-9  # the error axis's bottom: an exact fit would vanish from a log axis


class _Explorer:
    """The demo's two panels (the fit, the error against width) and its callback :meth:`update`.

    Fits are kept per (target, activation, units) (:meth:`fit`); the error panel shows the
    widths computed so far for the current target and activation.
    """

    def __init__(self, controls: dict, n_steps: int):
        self.controls, self.n_steps = controls, n_steps
        self.x = np.linspace(-1.0, 1.0, 301)
        self.fits: dict[tuple, dict] = {}
        self.state: dict = {}
        self.shown = {"target": controls["target"].value}
        self._figure()

    def _figure(self) -> None:
        x = self.x
        fig = self.fig = new_figure(figsize=(8.8, 3.4), dpi=80)
        ax_f, ax_e = self.ax_f, ax_e = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1.35, 1.0]})
        (self.target_line,) = ax_f.plot(x, TARGETS[self.shown["target"]](x), color="k", lw=4, alpha=0.25,
                                        label="target")
        self.units_lines = LineCollection([], colors="C1", linewidths=0.8, alpha=0.55)
        ax_f.add_collection(self.units_lines)
        (self.fit_line,) = ax_f.plot([], [], color="C0", lw=1.8, label="network")
        (self.knot_marks,) = ax_f.plot([], [], "|", color="C1", ms=9, mew=1.2)
        ax_f.set_xlim(-1.0, 1.0)
        ax_f.set_ylim(-1.5, 1.5)
        ax_f.set_xlabel("x")
        ax_f.legend(loc="upper left", fontsize=8)
        ax_f.set_title(" ", fontsize=9, y=1.0)
        (self.err_line,) = ax_e.plot([], [], "o-", color="C0", ms=4, label="trained")
        (self.start_line,) = ax_e.plot([], [], "o--", color="0.55", ms=3, lw=1, label="constructive start")
        (self.err_now,) = ax_e.plot([], [], "o", color="C3", ms=9, mfc="none", mew=1.8)
        ax_e.set_xscale("log")
        ax_e.set_yscale("log")
        ax_e.set_xlim(0.8, 80)
        ax_e.set_ylim(_FLOOR, 1.0)
        ax_e.set_xticks([1, 2, 4, 8, 16, 32, 64], ["1", "2", "4", "8", "16", "32", "64"])
        ax_e.minorticks_off()
        curve_panel(ax_e, xlabel="hidden units", ylabel="mean squared error", legend="lower left",
                    title="error against width (computed so far)", title_size=9)
        # the target curve changes with the target only: static, one cached picture per target
        self.backdrop = Backdrop(fig, dynamic=[self.units_lines, self.fit_line, self.knot_marks, self.err_line,
                                               self.start_line, self.err_now, ax_f.title])

    def fit(self, key: tuple) -> dict:
        """:func:`fit_one_hidden_layer` for ``key = (target, activation, units)``, on the plotting grid."""
        t, act, n = key
        return memo(self.fits, key, lambda: fit_one_hidden_layer(t, n, act, n_steps=self.n_steps, x=self.x))

    def update(self) -> None:
        c, x = self.controls, self.x
        t, act, n = c["target"].value, c["activation"].value, int(c["units"].value)
        if t != self.shown["target"]:
            self.backdrop.invalidate()
            self.target_line.set_ydata(TARGETS[t](x))
            self.shown["target"] = t
        result = self.fit((t, act, n))
        y = TARGETS[t](x)
        show = bool(c["show_units"].value)
        max_error = self.draw_fit(result, y, show)
        kind = "kinks" if act == "relu" else "steps"
        self.ax_f.title.set_text(f"{n} {act} unit{'s' if n > 1 else ''} ({kind} at the ticks): "
                                 f"mean squared error {result['mse']:.1e}, largest error {max_error:.2f}")
        done, mse, mse_start = self.draw_errors(t, act, n)
        self.state.update(target=t, activation=act, units=n, show_units=show, x=x, y=y, fit=result["fit"],
                          contributions=result["contributions"], knots=result["knots"], mse=result["mse"],
                          mse_start=result["mse_start"], max_error=max_error, params=result["model"].params,
                          computed_units=np.array(done), computed_mse=mse, computed_mse_start=mse_start)
        self.backdrop.ensure(key=t)
        self.fig.canvas.draw_idle()

    def draw_fit(self, result: dict, y: np.ndarray, show_units: bool) -> float:
        """The network, its units (when shown) and their kinks or steps; return the largest error."""
        x = self.x
        self.fit_line.set_data(x, result["fit"])
        self.units_lines.set_segments([np.column_stack([x, c]) for c in result["contributions"]] if show_units
                                      else [])
        knots = result["knots"]
        knots = knots[np.isfinite(knots) & (np.abs(knots) <= 1.0)]
        self.knot_marks.set_data(knots, np.full(len(knots), -1.42))
        return float(np.max(np.abs(result["fit"] - y)))

    def draw_errors(self, t: str, act: str, n: int) -> tuple[list, np.ndarray, np.ndarray]:
        """The errors of the widths computed so far for ``t`` and ``act``, the current one ringed."""
        done = sorted(k[2] for k in self.fits if k[:2] == (t, act))
        mse = np.array([self.fits[(t, act, k)]["mse"] for k in done])
        mse_start = np.array([self.fits[(t, act, k)]["mse_start"] for k in done])
        self.err_line.set_data(done, np.maximum(mse, _FLOOR))
        self.start_line.set_data(done, np.maximum(mse_start, _FLOOR))
        self.err_now.set_data([n], [max(self.fits[(t, act, n)]["mse"], _FLOOR)])
        return done, mse, mse_start
