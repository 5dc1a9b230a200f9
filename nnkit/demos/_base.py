"""What every lecture demo shares: the :class:`Demo` record, figures, and safe callbacks.

A demo builder (``nnkit.demos.activation_explorer()`` and friends) returns a :class:`Demo`.
Displaying it in a notebook shows its controls and its figure; tests and benchmarks drive the
same object headless by setting ``demo.controls[name].value`` and reading ``demo.state``.

Why these choices:

* Figures are interactive matplotlib figures from ipympl (the canvas is itself a widget), so a
  slider redraws one figure in place instead of re-sending a picture. Without ipympl (a plain
  Python session) the figure falls back to the Agg canvas and the demo still computes.
* Callbacks never fail silently. ipywidgets swallows an exception raised in an observer; every
  callback here is wrapped by :func:`Demo.callback`, which shows the traceback in the demo's
  Output area and records it in ``demo.errors`` for tests.
* Animations are a ``Play`` widget linked to a step slider: the browser ticks, the kernel never
  sleeps, and a notebook executed headless runs straight through.
"""
from __future__ import annotations

import functools
import traceback
from dataclasses import dataclass, field
from typing import Any, Callable

import ipywidgets as widgets
from matplotlib.figure import Figure


def new_figure(figsize=(8.0, 3.6), **kwargs) -> Figure:
    """A matplotlib Figure drawn by ipympl's widget canvas when ipympl is installed.

    The figure is not registered with pyplot, so it never shows twice and is freed with its demo.
    """
    fig = Figure(figsize=figsize, layout="constrained", **kwargs)
    import matplotlib

    previous = matplotlib.get_backend()
    try:
        # importing ipympl switches pyplot to its widget backend when matplotlib is loaded:
        # switch back, so that a lecture's static plt.plot(...) stays an inline picture
        from ipympl.backend_nbagg import new_figure_manager_given_figure

        if matplotlib.get_backend() != previous:
            matplotlib.use(previous)
        _keep_inline_figures()
    except ImportError:  # plain Python: Agg canvas, no widget
        from matplotlib.backends.backend_agg import FigureCanvasAgg

        FigureCanvasAgg(fig)
        return fig
    canvas = new_figure_manager_given_figure(id(fig), fig).canvas
    canvas.header_visible = False
    canvas.footer_visible = False
    canvas.toolbar_visible = False
    canvas.resizable = False
    return fig


def _keep_inline_figures() -> None:
    """In IPython, make sure a lecture's static ``plt.show()`` still shows a picture.

    The inline backend hooks itself into IPython (a PNG formatter for figures, a flush after
    each cell) when its module is first imported. If that import happens inside the
    ``matplotlib.get_backend()`` above, because a demo is built before the lecture's first
    pyplot figure, the backend is not resolved yet at that moment, the hook is skipped, and
    every later ``plt.show()`` prints ``<Figure size ...>`` instead of the plot. Running the
    hook again here, when it has not run, is what the first pyplot figure would have done.
    """
    try:
        from IPython import get_ipython
        from matplotlib_inline import backend_inline
    except ImportError:
        return
    shell = get_ipython()
    if shell is None or backend_inline.flush_figures in shell.events.callbacks.get("post_execute", []):
        return
    backend_inline._enable_matplotlib_integration()  # a no-op unless the backend is the inline one


def figure_widget(fig: Figure) -> widgets.Widget:
    """The widget that shows ``fig``: ipympl's canvas, or a static image in an Output area."""
    if isinstance(fig.canvas, widgets.DOMWidget):
        return fig.canvas
    out = widgets.Output()
    with out:
        from IPython.display import display

        display(fig)
    return out


@dataclass
class Demo:
    """One interactive demo.

    Attributes
    ----------
    widget : ipywidgets.Widget
        The whole user interface (controls, figure, Output area); displaying the Demo shows it.
    fig : matplotlib.figure.Figure
        The figure the demo draws on.
    controls : dict[str, ipywidgets.Widget]
        The controls by name; setting ``controls[name].value`` runs the demo's callback.
    output : ipywidgets.Output
        Where a failing callback shows its traceback (and where demos print messages).
    update : callable
        Recompute and redraw from the controls' current values (what every callback calls).
    state : dict
        What is currently plotted, as arrays and numbers, for tests and for curious students.
    errors : list[str]
        Tracebacks of callbacks that failed, oldest first (also shown in ``output``).
    """

    widget: widgets.Widget
    fig: Figure
    controls: dict[str, widgets.Widget]
    output: widgets.Output
    update: Callable[[], None]
    state: dict[str, Any] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)

    def _repr_mimebundle_(self, **kwargs):
        return self.widget._repr_mimebundle_(**kwargs)

    def redraw(self) -> None:
        """Ask the canvas to redraw (ipympl redraws once the browser asks for the image)."""
        self.fig.canvas.draw_idle()

    def render(self) -> None:
        """Render the figure now, as ipympl does when the browser asks for a new picture (Agg
        drawing plus the PNG of what changed): what a benchmark times as 'redraw'.

        Before a browser has connected, ipympl would also store a snapshot in the canvas's
        ``_data_url`` trait, without the ``data:image/png;base64,`` prefix that JupyterLab
        needs (ipympl 0.10), and the figure would then show as an empty box; that snapshot
        is switched off while drawing here.
        """
        canvas = self.fig.canvas
        syncing = getattr(canvas, "syncing_data_url", None)
        if syncing:
            canvas.syncing_data_url = False
        try:
            canvas.draw()
        finally:
            if syncing:
                canvas.syncing_data_url = syncing


def safe_callback(output: widgets.Output, errors: list[str]) -> Callable[[Callable], Callable]:
    """Decorator for widget callbacks: an exception is shown in ``output`` and kept in ``errors``.

    The callback's return value is returned; on an exception ``None`` is returned and the demo
    keeps its last good drawing.
    """

    def wrap(fn: Callable) -> Callable:
        @functools.wraps(fn)
        def run(*args, **kwargs):
            try:
                result = fn(*args, **kwargs)
            except Exception as exc:  # noqa: BLE001 - shown to the student, never swallowed
                text = "".join(traceback.format_exception(exc))
                errors.append(text)
                output.append_stderr(f"{type(exc).__name__}: {exc}\n")
                return None
            return result

        return run

    return wrap


def assemble(controls: dict[str, widgets.Widget], fig: Figure, update: Callable[[], None],
             *, state: dict | None = None, header: widgets.Widget | None = None,
             observe: tuple[str, ...] | None = None) -> Demo:
    """Lay the controls above the figure and the Output area, and wire the callbacks.

    Every control named in ``observe`` calls ``update`` when its ``value`` changes, through
    :func:`safe_callback`. The default is every control but a ``Play`` button: Play is linked
    to its step slider in the browser (:func:`play_controls`), and the slider's callback is the
    one that draws. ``update`` is called once so that the figure is drawn before it is shown.
    """
    output = widgets.Output(layout=widgets.Layout(max_height="8em", overflow="auto"))
    errors: list[str] = []
    safe_update = safe_callback(output, errors)(update)
    if observe is None:
        observe = tuple(name for name, control in controls.items() if not isinstance(control, widgets.Play))
    for name in observe:
        controls[name].observe(lambda _change: safe_update(), names="value")
    boxes = [header] if header is not None else []
    boxes += [widgets.HBox(list(controls.values()), layout=widgets.Layout(flex_flow="row wrap")),
              figure_widget(fig), output]
    demo = Demo(widget=widgets.VBox(boxes), fig=fig, controls=controls, output=output,
                update=safe_update, state={} if state is None else state, errors=errors)
    safe_update()
    return demo


def play_controls(n_frames: int, *, interval_ms: int = 60, description: str = "step"):
    """A Play button linked to a step slider over ``0 .. n_frames - 1`` (the animation's clock)."""
    if n_frames < 1:
        raise ValueError(f"n_frames must be >= 1, got {n_frames}")
    play = widgets.Play(value=0, min=0, max=n_frames - 1, step=1, interval=interval_ms,
                        description="Play")
    slider = widgets.IntSlider(value=0, min=0, max=n_frames - 1, description=description,
                               continuous_update=True)
    widgets.jslink((play, "value"), (slider, "value"))
    return play, slider


def set_slider_range(slider, lo: float, hi: float, value: float) -> None:
    """Give ``slider`` the range ``[lo, hi]`` and the value ``value``, never passing through a
    state with min > max (which ipywidgets rejects)."""
    if lo > slider.max:
        slider.max = hi
        slider.min = lo
    else:
        slider.min = lo
        slider.max = hi
    slider.value = value


class Busy:
    """True while a callback sets controls itself (e.g. a new function resets the start point).

    The callbacks those changes trigger return at once (``if self.busy: return``); the callback
    that set them draws once, at the end::

        with self.busy:
            set_slider_range(controls["x0"], lo, hi, start)
    """

    def __init__(self):
        self.on = False

    def __bool__(self) -> bool:
        return self.on

    def __enter__(self):
        self.on = True
        return self

    def __exit__(self, *exc) -> None:
        self.on = False


def memo(cache: dict, key, make: Callable[[], Any], limit: int | None = None):
    """``cache[key]``, made by ``make()`` on first use; past ``limit`` entries the oldest is forgotten.

    What the demos keep per setting (a training run, a trajectory, a fit) so that going back to
    a setting seen before costs nothing.
    """
    if key not in cache:
        if limit is not None and len(cache) >= limit:
            cache.pop(next(iter(cache)))
        cache[key] = make()
    return cache[key]


def show_frame(run, frame: int, chunk: int) -> None:
    """Make sure a lazily computed training ``run`` (attributes ``done``, method ``extend``) has
    frame ``frame``: a new run computes exactly the frames up to it, a run under way ``chunk``
    frames at a time (what Play asks for next)."""
    if frame >= run.done:
        run.extend(frame if run.done == 0 else frame + chunk - 1)
