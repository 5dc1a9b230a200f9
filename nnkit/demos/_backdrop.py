"""A cached picture of a figure's static parts, so that a redraw renders only what moves.

Most of the time matplotlib spends on a redraw goes to things that do not change when a
slider moves: tick locators, tick labels, axis labels, titles, legends, precomputed contours,
scattered data. :class:`Backdrop` renders those once into an RGBA picture ("capture"); later
draws paint that picture in one call and then draw only the *dynamic* artists (the lines,
images and texts a callback updates) on top. The picture is the figure as it would be drawn
without the dynamic artists, so the result is the same image, made several times faster.

Protocol for a demo::

    backdrop = Backdrop(fig, dynamic=[line, image, title_text])
    def update():
        if structural_change:
            backdrop.invalidate()          # BEFORE touching limits, labels, static artists
            ax.set_xlim(...); static_line.set_data(...)
        line.set_data(...)                 # dynamic artists: any time
        backdrop.ensure(key=settings)      # re-capture if invalidated (one full Agg draw), or
                                           # reuse the picture last captured for these settings
        fig.canvas.draw_idle()

Dynamic artists are drawn above the picture, so an artist that must appear *above* a
dynamic one (e.g. data points over a changing image) must be dynamic too.

Safety: the picture is used only when its pixel size equals the renderer's. Anything else
(a new device-pixel ratio from the browser, ``savefig`` at another dpi, an invalidated
picture) falls back to an ordinary full draw, and the next :meth:`ensure` re-captures.
At the first capture the figure is laid out once with every artist visible and its layout
engine is then switched off (that layout is kept), so the axes never move under the picture.
"""
from __future__ import annotations

import numpy as np
from matplotlib.artist import Artist
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.layout_engine import PlaceHolderLayoutEngine

__all__ = ["Backdrop"]


class Backdrop(Artist):
    """Figure-level artist that paints the cached static picture (see the module docstring).

    Parameters
    ----------
    fig : matplotlib.figure.Figure
        A figure with an Agg-based canvas (ipympl's canvas is one).
    dynamic : iterable of Artist
        The artists callbacks change; everything else in the figure is static.
    """

    CACHE_SIZE = 12

    def __init__(self, fig, dynamic=()):
        if not isinstance(fig, Figure) or not isinstance(fig.canvas, FigureCanvasAgg):
            raise TypeError(f"fig must be a matplotlib Figure with an Agg-based canvas; got {type(fig).__name__}")
        super().__init__()
        self.set_zorder(-1e9)  # painted before every Axes
        self._fig = fig
        self.dynamic: set[Artist] = set(dynamic)
        self._picture = None
        self._cache: dict = {}  # key -> picture, see ensure()
        self._hidden: list[Artist] = []  # static artists (and Axes) hidden while live
        self.live = False
        self.n_captures = 0
        fig.add_artist(self)

    def add_dynamic(self, *artists) -> None:
        """Declare more dynamic artists (invalidates the picture)."""
        self.invalidate()
        self.dynamic.update(artists)

    # ------------------------------------------------------------------ live / static modes
    def _go_live(self) -> None:
        fig = self._fig
        dyn_axes = {a.axes for a in self.dynamic if getattr(a, "axes", None) is not None}
        for ax in fig.axes:
            if ax not in dyn_axes:
                if ax.get_visible():
                    ax.set_visible(False)
                    self._hidden.append(ax)
                continue
            # The patch and the axis decorations are in the picture; the spines are cheap and
            # are drawn again so that they stay above the dynamic artists, as in a full draw.
            for child in ax.get_children():
                if child in self.dynamic or child in ax.spines.values():
                    continue
                if child.get_visible():
                    child.set_visible(False)
                    self._hidden.append(child)
        for child in [*fig.texts, *fig.legends, *fig.images, *fig.lines, *fig.patches, *fig.artists]:
            if child is self or child in self.dynamic:
                continue
            if child.get_visible():
                child.set_visible(False)
                self._hidden.append(child)
        self.live = True

    def _go_static(self) -> None:
        for artist in self._hidden:
            artist.set_visible(True)
        self._hidden = []
        self.live = False

    # ------------------------------------------------------------------ public protocol
    def invalidate(self) -> None:
        """Forget the picture and show every static artist again (call before changing them)."""
        if self.live:
            self._go_static()
        self._picture = None

    def capture(self) -> None:
        """Render the static parts now (one Agg draw) and switch to live drawing."""
        fig = self._fig
        if self.live:
            self._go_static()
        engine = fig.get_layout_engine()
        if engine is not None and not isinstance(engine, PlaceHolderLayoutEngine):
            # Lay the figure out once with everything visible (dynamic titles need room too),
            # then keep that layout: the axes must never move under the picture.
            FigureCanvasAgg.draw(fig.canvas)
            fig.set_layout_engine("none")
        shown = [a for a in self.dynamic if a.get_visible()]
        for a in shown:
            a.set_visible(False)
        try:
            FigureCanvasAgg.draw(fig.canvas)  # Agg only: nothing is sent to a browser
            self._picture = np.asarray(fig.canvas.buffer_rgba()).copy()
        finally:
            for a in shown:
                a.set_visible(True)
        self.n_captures += 1
        self._go_live()

    def ensure(self, key=None) -> None:
        """Capture if there is no valid picture (after :meth:`invalidate` or a size change).

        Parameters
        ----------
        key : hashable, optional
            Names the static state, e.g. the settings a demo trained with. The static artists
            must be a function of the key alone: then a picture captured under the same key
            (and the same canvas size) is reused without drawing, so going back to a setting
            seen before costs no capture. The last :data:`CACHE_SIZE` keys are kept.
        """
        if self._picture is not None and self.live:
            return
        if key is not None:  # (a cached picture exists only after a capture froze the layout)
            picture = self._cache.get(key)
            width, height = self._fig.canvas.get_width_height(physical=True)
            if picture is not None and picture.shape[:2] == (height, width):
                if self.live:
                    self._go_static()
                self._picture = picture
                self._go_live()
                return
        self.capture()
        if key is not None:
            self._cache.pop(key, None)
            if len(self._cache) >= self.CACHE_SIZE:
                self._cache.pop(next(iter(self._cache)))
            self._cache[key] = self._picture

    # ------------------------------------------------------------------ drawing
    def draw(self, renderer):
        picture = self._picture
        if not self.live:
            return
        if picture is None or picture.shape[:2] != (int(renderer.height), int(renderer.width)):
            # Not the canvas the picture was made for: draw everything the ordinary way.
            self._go_static()
            self._picture = None
            return
        gc = renderer.new_gc()
        try:
            renderer.draw_image(gc, 0, 0, picture[::-1])
        finally:
            gc.restore()
        self.stale = False
