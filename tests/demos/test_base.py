"""The shared demo machinery: figures, safe callbacks, assembly, the Play clock."""
import ipywidgets as widgets
import numpy as np
import pytest

from nnkit.demos._base import Demo, assemble, figure_widget, new_figure, play_controls, safe_callback


def _line_demo():
    fig = new_figure(figsize=(4, 3))
    ax = fig.add_subplot()
    (line,) = ax.plot([], [])
    controls = {"slope": widgets.FloatSlider(value=1.0, min=-3, max=3)}
    state = {}

    def update():
        a = controls["slope"].value
        if a > 2:
            raise ValueError(f"slope must be <= 2, got {a}")
        x = np.linspace(0, 1, 11)
        line.set_data(x, a * x)
        state["y"] = a * x
        fig.canvas.draw_idle()

    return assemble(controls, fig, update, state=state), line


def test_figure_is_an_ipympl_widget_and_not_registered_with_pyplot():
    import matplotlib.pyplot as plt

    before = plt.get_fignums()
    fig = new_figure()
    assert isinstance(fig.canvas, widgets.DOMWidget)
    assert figure_widget(fig) is fig.canvas
    assert plt.get_fignums() == before


def test_assemble_draws_once_and_redraws_when_a_control_moves():
    demo, line = _line_demo()
    assert isinstance(demo, Demo)
    np.testing.assert_allclose(demo.state["y"][-1], 1.0)
    demo.controls["slope"].value = -1.5
    np.testing.assert_allclose(demo.state["y"][-1], -1.5)
    np.testing.assert_allclose(line.get_ydata()[-1], -1.5)
    assert demo.errors == []
    demo.render()  # a real Agg draw through the canvas
    # and no prefix-less snapshot that JupyterLab would show as an empty figure
    assert demo.fig.canvas._data_url is None or demo.fig.canvas._data_url.startswith("data:image/png")


def test_a_failing_callback_is_shown_in_the_output_area_not_raised():
    demo, line = _line_demo()
    demo.controls["slope"].value = 2.5  # observers must not raise into ipywidgets
    assert len(demo.errors) == 1 and "slope must be <= 2, got 2.5" in demo.errors[0]
    shown = "".join(o.get("text", "") for o in demo.output.outputs)
    assert "ValueError: slope must be <= 2, got 2.5" in shown
    np.testing.assert_allclose(line.get_ydata()[-1], 1.0)  # the last good drawing stays
    demo.controls["slope"].value = 0.5  # and the demo keeps working
    np.testing.assert_allclose(demo.state["y"][-1], 0.5)


def test_safe_callback_returns_the_value_or_none():
    out, errors = widgets.Output(), []
    assert safe_callback(out, errors)(lambda: 3)() == 3
    assert safe_callback(out, errors)(lambda: 1 / 0)() is None
    assert "ZeroDivisionError" in errors[0]


def test_the_demo_displays_as_its_widget():
    demo, _ = _line_demo()
    bundle = demo._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle
    assert bundle["application/vnd.jupyter.widget-view+json"]["model_id"] == demo.widget.model_id


def test_play_controls_share_the_range():
    play, slider = play_controls(25)
    assert (play.min, play.max, slider.min, slider.max) == (0, 24, 0, 24)
    with pytest.raises(ValueError, match="n_frames must be >= 1, got 0"):
        play_controls(0)


def test_a_demo_figure_leaves_pyplot_on_its_backend():
    # ipympl switches pyplot's backend on its first import: check in a fresh interpreter
    import subprocess
    import sys

    code = ("import matplotlib; matplotlib.use('agg'); import matplotlib.pyplot as plt; "
            "from nnkit.demos._base import new_figure; new_figure(); import ipympl; "
            "print(matplotlib.get_backend())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().lower() == "agg", out.stdout + out.stderr


def test_set_slider_range_moves_past_the_old_range_in_either_direction():
    from nnkit.demos._base import set_slider_range

    s = widgets.FloatSlider(value=0.0, min=-1.0, max=1.0)
    set_slider_range(s, 5.0, 9.0, 6.0)  # entirely above the old range
    assert (s.min, s.max, s.value) == (5.0, 9.0, 6.0)
    set_slider_range(s, -9.0, -5.0, -8.0)  # entirely below
    assert (s.min, s.max, s.value) == (-9.0, -5.0, -8.0)


@pytest.mark.slow
def test_a_static_plot_after_a_demo_is_still_a_picture():
    """In a kernel, a demo built before the first pyplot figure must not turn plt.show() into text."""
    import nbformat
    from nbclient import NotebookClient

    cells = ["import matplotlib.pyplot as plt",
             "from nnkit.demos._base import new_figure\nfig = new_figure()",
             "fig2, ax = plt.subplots()\nax.plot([1, 2])\nplt.show()"]
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    NotebookClient(nb, timeout=120, kernel_name="python3").execute()
    shown = [o for o in nb.cells[2].outputs if o.get("output_type") == "display_data"]
    assert shown and "image/png" in shown[0]["data"], nb.cells[2].outputs


def test_assemble_observes_every_control_but_the_play_button():
    play, step = play_controls(5)
    controls = {"a": widgets.FloatSlider(value=0.0), "play": play, "step": step}
    calls = []
    fig = new_figure(figsize=(2, 2))
    assemble(controls, fig, lambda: calls.append(1))
    assert len(calls) == 1  # drawn once before it is shown
    controls["a"].value = 0.5
    controls["step"].value = 3
    assert len(calls) == 3
    controls["play"].value = 2  # the browser moves the step slider; the kernel draws for that
    assert len(calls) == 3


def test_memo_keeps_what_it_made_and_forgets_the_oldest_past_the_limit():
    from nnkit.demos._base import memo

    cache, made = {}, []

    def make(k):
        made.append(k)
        return k * 10

    assert [memo(cache, k, lambda k=k: make(k), limit=2) for k in (1, 2, 1, 3, 1)] == [10, 20, 10, 30, 10]
    assert made == [1, 2, 3, 1] and list(cache) == [3, 1]  # 1 was the oldest when 3 came


def test_busy_is_true_only_inside_its_block():
    from nnkit.demos._base import Busy

    busy = Busy()
    assert not busy
    with busy:
        assert busy
    assert not busy


def test_show_frame_computes_what_is_shown_then_a_chunk_ahead():
    from nnkit.demos._base import show_frame

    class Run:
        done = 0

        def extend(self, last):
            self.done = max(self.done, last + 1)

    run = Run()
    show_frame(run, 3, chunk=5)
    assert run.done == 4  # a new run: exactly the frames up to the one shown
    show_frame(run, 2, chunk=5)
    assert run.done == 4  # computed already
    show_frame(run, 4, chunk=5)
    assert run.done == 9  # under way: five frames at a time
