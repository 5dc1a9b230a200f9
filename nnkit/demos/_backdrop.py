"""A cached picture of a figure's static parts, so that a redraw renders only what moves.

Most of the time matplotlib spends on a redraw goes to things that do not change when a
slider moves: tick locators, tick labels, axis labels, titles, legends, precomputed contours,
scattered data. A :class:`Backdrop` is a figure-level artist drawn before everything else.
The first time (and after every change of the static parts) it draws those static parts
itself, inside the ordinary draw, and keeps the pixels (``copy_from_bbox``); the draws after
that paste the pixels back (``restore_region``, a memory copy) and the axes draw only the
*dynamic* artists (the lines, images and texts a callback updates) on top. A capture
therefore costs no extra draw: it is the draw that was going to happen anyway.

Protocol for a demo::

    backdrop = Backdrop(fig, dynamic=[line, image, title_text])
    def update():
        if structural_change:
            backdrop.invalidate()          # BEFORE touching visibility or data of static artists
            ax.set_xlim(...); static_line.set_data(...)
        line.set_data(...)                 # dynamic artists: any time
        backdrop.ensure(key=settings)      # optional: reuse the picture kept for these settings
        fig.canvas.draw_idle()

Everything that is not declared dynamic is static. Dynamic artists are drawn above the
picture, so an artist that must appear *above* a dynamic one (e.g. data points over a
changing image) must be dynamic too. Artists created later (e.g. a new ``fill_between`` per
callback) are declared with :meth:`add_dynamic`; a whole new axes with :meth:`add_dynamic`
of its moving artists (its other children become static at the next capture).

Safety:

* The picture is reused only while the canvas has the same pixel size, and while every axes
  keeps the limits, scales, axis labels and position it had at the capture; a change of any
  of these (e.g. ``ax.set_xlim`` without :meth:`invalidate`) re-captures in the same draw.
  Changes that this stamp cannot see (the data of a static line, showing or hiding a static
  artist) need :meth:`invalidate` first.
* Drawing to any other renderer (``savefig`` to a file, at any dpi or format) draws every
  artist the ordinary way; the next screen draw captures again if needed.
* At the first capture the figure has just been laid out with every artist visible; its
  layout engine is then switched off (that layout is kept), so the axes never move under the
  picture.
"""
from __future__ import annotations

import weakref

from matplotlib import image as mimage
from matplotlib.artist import Artist
from matplotlib.backends.backend_agg import FigureCanvasAgg, RendererAgg
from matplotlib.figure import Figure
from matplotlib.layout_engine import PlaceHolderLayoutEngine

__all__ = ["Backdrop"]


class Backdrop(Artist):
    """Figure-level artist that captures and repaints the static picture (see the module docstring).

    Parameters
    ----------
    fig : matplotlib.figure.Figure
        A figure with an Agg-based canvas (ipympl's canvas is one).
    dynamic : iterable of Artist
        The artists callbacks change; everything else in the figure is static.

    Attributes
    ----------
    live : bool
        True while the static artists are hidden and the picture stands in for them.
    n_captures : int
        How many times the static parts were rendered (for tests and benchmarks).
    """

    CACHE_SIZE = 12

    def __init__(self, fig, dynamic=()):
        if not isinstance(fig, Figure) or not isinstance(fig.canvas, FigureCanvasAgg):
            raise TypeError(f"fig must be a matplotlib Figure with an Agg-based canvas; got {type(fig).__name__}")
        super().__init__()
        self.set_zorder(-1e9)  # drawn before every Axes
        self._fig = fig
        self.dynamic = weakref.WeakSet(dynamic)
        self._picture = None  # (BufferRegion, (height, width), stamp)
        self._cache: dict = {}  # key -> picture, see ensure()
        self._key = None  # the key the next capture is stored under
        self._hidden: list[Artist] = []  # static artists (and Axes) hidden while live
        self.live = False
        self.n_captures = 0
        fig.add_artist(self)

    def add_dynamic(self, *artists) -> None:
        """Declare more dynamic artists.

        Artists made after the last capture are simply drawn live; an artist that is in the
        current picture (it was static) invalidates it.
        """
        if any(a in self._hidden for a in artists):
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
        for child in self._figure_children():
            if child in self.dynamic:
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

    def _figure_children(self) -> list[Artist]:
        fig = self._fig
        return [a for a in (*fig.texts, *fig.legends, *fig.images, *fig.lines, *fig.patches, *fig.artists)
                if a is not self]

    def _stamp(self) -> tuple:
        """What the picture depends on that matplotlib keeps as plain numbers and strings."""
        return tuple((id(ax), ax.get_xlim(), ax.get_ylim(), ax.get_xscale(), ax.get_yscale(),
                      ax.xaxis.label.get_text(), ax.yaxis.label.get_text(), tuple(ax.get_position().bounds))
                     for ax in self._fig.axes)

    # ------------------------------------------------------------------ public protocol
    def invalidate(self) -> None:
        """Forget the picture and show every static artist again (call before changing them)."""
        if self.live:
            self._go_static()
        self._picture = None
        self._key = None

    def ensure(self, key=None) -> None:
        """Name the static state, so that a picture of it can be kept and found again.

        Parameters
        ----------
        key : hashable, optional
            Names the static state, e.g. the settings a demo trained with. The static artists
            must be a function of the key alone: then a picture captured under the same key
            (same canvas size, same axes stamp) is reused without drawing, so going back to a
            setting seen before costs no capture. The last :data:`CACHE_SIZE` keys are kept.

        A key other than the last one given means another static state (as :meth:`invalidate`).
        Without a valid picture and without a cached one, nothing is drawn here: the next draw
        captures (and stores the picture under ``key``).
        """
        if key != self._key:  # another static state: the current picture is not its picture
            if self.live:
                self._go_static()
            self._picture = None
            self._key = key
        if (self._picture is not None and self.live) or key is None or key not in self._cache:
            return
        picture = self._cache[key]
        width, height = self._fig.canvas.get_width_height(physical=True)
        if picture[1] == (height, width) and picture[2] == self._stamp() and self._layout_frozen():
            self._picture = picture
            self._go_live()

    # ------------------------------------------------------------------ drawing
    def _layout_frozen(self) -> bool:
        engine = self._fig.get_layout_engine()
        return engine is None or isinstance(engine, PlaceHolderLayoutEngine)

    def _capture(self, renderer, size) -> None:
        fig = self._fig
        if not self._layout_frozen():
            # The layout engine has just run (Figure.draw runs it first) with every artist
            # visible, dynamic titles included: keep that layout from now on.
            fig.set_layout_engine("none")
        shown = [a for a in self.dynamic if a.get_visible()]
        for a in shown:
            a.set_visible(False)
        try:
            static = sorted((a for a in [*fig.axes, *self._figure_children()] if not a.get_animated()),
                            key=lambda a: a.get_zorder())
            mimage._draw_list_compositing_images(renderer, fig, static, fig.suppressComposite)
            region = renderer.copy_from_bbox(fig.bbox)
        finally:
            for a in shown:
                a.set_visible(True)
        self._picture = (region, size, self._stamp())
        self.n_captures += 1
        if self._key is not None:
            self._cache.pop(self._key, None)
            if len(self._cache) >= self.CACHE_SIZE:
                self._cache.pop(next(iter(self._cache)))
            self._cache[self._key] = self._picture

    def draw(self, renderer):
        if not self.get_visible():
            return
        size = (int(renderer.height), int(renderer.width)) if isinstance(renderer, RendererAgg) else None
        screen = size is not None and renderer is getattr(self._fig.canvas, "renderer", None) \
            and not self._fig.canvas.is_saving()
        if not screen:
            # A file, or another renderer: draw everything the ordinary way.
            if self.live:
                self._go_static()
            self._picture = None
            return
        picture = self._picture
        if self.live and picture is not None and picture[1] == size and picture[2] == self._stamp():
            renderer.restore_region(picture[0])
            self.stale = False
            return
        # No picture for this canvas and these axes: render the static parts now, keep them,
        # then let the figure draw only the dynamic artists on top.
        if self.live:
            self._go_static()
        self._capture(renderer, size)
        self._go_live()
        self.stale = False
