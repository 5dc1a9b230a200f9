"""Data augmentation for the 8x8 digits: random shifts, rotations and noise, side by side.

What it teaches
---------------
Augmentation trains on label-preserving distortions of the training images: a "3" moved by a
pixel, turned by a few degrees or speckled with noise is still a "3". Looking at the distorted
digits answers the practical question: how much distortion keeps the label obvious? A shift of
one pixel is 1/8 of the image width; beyond about 20 degrees a "6" and a "9", or a "1" and a
"7", start to look alike; heavy noise buries the thin strokes.

Every image is made by :func:`nnkit.augmentation.augment` on the raw digits
(``load_digits(scale=False)``, pixels 0..16): per image a rotation by an angle drawn from
``[-max_degrees, max_degrees]`` (bilinear, counterclockwise as displayed), then a shift by
``dy, dx`` drawn from ``-max_shift .. max_shift`` (zero fill), then Gaussian noise of standard
deviation ``noise`` clipped to 0..16. All rows are drawn by one call with the generator
``default_rng(seed + draw)``.

Controls
--------
max_shift : 0..2 pixels.
max_degrees : 0..45 degrees.
noise : 0..4 (pixel units; a stroke is about 10..16).
draw : which random draw (a new set of distortions, the same originals).

Panel: the first row holds one original of each digit 0..9; the rows below hold
``n_rows`` independent distortions of the same ten images.

``demo.state`` holds ``originals`` (10, 64), ``augmented`` (n_rows, 10, 64), ``shifts``
(n_rows, 10, 2) (the drawn ``dy, dx``), ``angles`` (n_rows, 10) (degrees) and the control values.
"""
from __future__ import annotations

import ipywidgets as widgets
import numpy as np

from .._validate import check_int, check_nonnegative, check_rng
from ..augmentation import augment
from ..datasets import load_digits
from ._backdrop import Backdrop
from ._base import Demo, assemble, new_figure

__all__ = ["augmentation_explorer", "mosaic"]

GAP = 1  # pixels between the digits of the mosaic


def mosaic(images: np.ndarray) -> np.ndarray:
    """(rows, cols, 64) images -> one (rows*9 - 1, cols*9 - 1) picture, NaN in the 1-pixel gaps."""
    rows, cols = images.shape[:2]
    out = np.full((rows * (8 + GAP) - GAP, cols * (8 + GAP) - GAP), np.nan)
    for r in range(rows):
        for c in range(cols):
            out[r * (8 + GAP): r * (8 + GAP) + 8, c * (8 + GAP): c * (8 + GAP) + 8] = images[r, c].reshape(8, 8)
    return out


def augmentation_explorer(*, max_shift: int = 1, max_degrees: float = 10.0, noise: float = 1.0, n_rows: int = 4,
                          rng: np.random.Generator | None = None) -> Demo:
    """Build the augmentation explorer (see the module docstring).

    Parameters
    ----------
    max_shift : int in 0..2
    max_degrees : float in [0, 45]
    noise : float in [0, 4]
    n_rows : int in 1..8
        Rows of distorted digits under the originals.
    rng : numpy.random.Generator, optional
        Draws the base seed of the distortions once; default ``default_rng(0)``.

    Returns
    -------
    Demo
        Controls ``max_shift``, ``max_degrees``, ``noise``, ``draw``.
    """
    max_shift = check_int(max_shift, "max_shift", 0, 2)
    max_degrees = check_nonnegative(max_degrees, "max_degrees")
    if max_degrees > 45:
        raise ValueError(f"max_degrees must be in [0, 45]; got {max_degrees}")
    noise = check_nonnegative(noise, "noise")
    if noise > 4:
        raise ValueError(f"noise must be in [0, 4]; got {noise}")
    n_rows = check_int(n_rows, "n_rows", 1, 8)
    rng = np.random.default_rng(0) if rng is None else check_rng(rng)
    seed = int(rng.integers(2**31 - 100))
    wide = {"description_width": "6.5em"}
    controls = {
        "max_shift": widgets.IntSlider(value=max_shift, min=0, max=2, description="max shift", style=wide),
        "max_degrees": widgets.FloatSlider(value=max_degrees, min=0.0, max=45.0, step=2.5, description="max degrees",
                                           style=wide),
        "noise": widgets.FloatSlider(value=noise, min=0.0, max=4.0, step=0.25, description="noise", style=wide),
        "draw": widgets.IntSlider(value=0, min=0, max=19, description="draw", style=wide),
    }
    explorer = _Explorer(controls, n_rows, seed)
    return assemble(controls, explorer.fig, explorer.update, state=explorer.state)


class _Explorer:
    """The explorer's mosaic and its callback :meth:`update`."""

    def __init__(self, controls: dict, n_rows: int, seed: int):
        self.controls, self.n_rows, self.seed = controls, n_rows, seed
        X, y = load_digits(scale=False)
        self.originals = np.stack([X[np.flatnonzero(y == d)[0]] for d in range(10)])  # the first of each digit
        self.stacked = np.tile(self.originals, (n_rows, 1))  # (n_rows*10, 64): row r*10 + d is digit d
        self.state: dict = {}
        self._figure()

    def _figure(self) -> None:
        n_rows = self.n_rows
        fig = self.fig = new_figure(figsize=(7.2, 0.62 * (n_rows + 1) + 0.9), dpi=80)
        ax = self.ax = fig.subplots()
        self.image = ax.imshow(mosaic(np.zeros((n_rows + 1, 10, 64))), cmap="gray_r", vmin=0.0, vmax=16.0,
                               interpolation="nearest")
        self.image.set_cmap(self.image.cmap.with_extremes(bad="#cfdbe8"))
        ax.set_xticks([c * (8 + GAP) + 3.5 for c in range(10)], [str(d) for d in range(10)])
        ax.set_yticks([r * (8 + GAP) + 3.5 for r in range(n_rows + 1)],
                      ["original"] + [f"augmented {r}" for r in range(1, n_rows + 1)])
        ax.tick_params(length=0, labelsize=9)
        for side in ax.spines.values():
            side.set_visible(False)
        ax.set_title(" ", fontsize=9, y=1.0)  # a fixed place: no automatic placement on every draw
        self.backdrop = Backdrop(fig, dynamic=[self.image, ax.title])

    def update(self) -> None:
        c = self.controls
        m = int(c["max_shift"].value)
        deg = float(c["max_degrees"].value)
        sigma = float(c["noise"].value)
        draw = int(c["draw"].value)
        gen_seed = self.seed + draw
        out = augment(self.stacked, np.random.default_rng(gen_seed), max_shift=m, max_degrees=deg, noise=sigma)
        # the same draws as augment's, in its documented order (shifts, then angles), for the state
        again = np.random.default_rng(gen_seed)
        shifts = again.integers(-m, m, size=(len(self.stacked), 2), endpoint=True)
        angles = again.uniform(-deg, deg, size=len(self.stacked))
        augmented = out.reshape(self.n_rows, 10, 64)
        self.image.set_data(mosaic(np.concatenate([self.originals[None], augmented])))
        self.ax.title.set_text(f"augment(X, rng, max_shift={m}, max_degrees={deg:g}, noise={sigma:g})   (draw {draw})")
        self.state.update(max_shift=m, max_degrees=deg, noise=sigma, draw=draw, originals=self.originals,
                          augmented=augmented, shifts=shifts.reshape(self.n_rows, 10, 2),
                          angles=angles.reshape(self.n_rows, 10))
        self.backdrop.ensure()
        self.fig.canvas.draw_idle()
