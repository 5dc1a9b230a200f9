"""The cached static picture: a live draw looks like a full draw and falls back safely."""
import io

import numpy as np
import pytest
from matplotlib.layout_engine import PlaceHolderLayoutEngine

from nnkit.demos._backdrop import Backdrop
from nnkit.demos._base import new_figure


def _figure():
    fig = new_figure(figsize=(6.0, 2.6), dpi=80)
    ax1, ax2 = fig.subplots(1, 2)
    (static,) = ax1.plot(np.arange(10), np.arange(10.0) ** 2, color="0.6")
    (moving,) = ax1.plot(np.arange(10), np.arange(10.0), "o-")
    ax1.set_yscale("log")
    ax1.set_xlabel("a label")
    ax1.set_title("step 0", y=1.0)
    image = ax2.imshow(np.random.default_rng(0).random((8, 12)), aspect="auto")
    ax2.set_title("a static title")
    backdrop = Backdrop(fig, dynamic=[moving, image, ax1.title])
    return fig, backdrop, static, moving, image


def _pixels(fig):
    fig.canvas.draw()
    return np.asarray(fig.canvas.buffer_rgba()).astype(int)


def _full_draw(fig, backdrop):
    backdrop.invalidate()
    return _pixels(fig)


def test_live_draw_matches_a_full_draw():
    fig, backdrop, static, moving, image = _figure()
    backdrop.ensure()
    assert backdrop.live and backdrop.n_captures == 1
    assert isinstance(fig.get_layout_engine(), PlaceHolderLayoutEngine)  # the layout is frozen
    for k in range(3):
        moving.set_ydata(np.arange(10.0) + k)
        image.set_data(np.random.default_rng(k).random((8, 12)))
        fig.axes[0].title.set_text(f"step {k}")
        live = _pixels(fig)
        full = _full_draw(fig, backdrop)
        backdrop.ensure()
        differ = np.any(live != full, axis=2)
        # only antialiased edges of the spines (drawn twice when live) may differ, and slightly
        assert differ.mean() < 0.02 and np.abs(live - full).max() <= 60
    assert backdrop.n_captures == 4


def test_invalidate_restores_static_artists_and_their_own_visibility():
    fig, backdrop, static, moving, image = _figure()
    backdrop.ensure()
    assert not static.get_visible() and not fig.axes[0].xaxis.get_visible()  # hidden while live
    backdrop.invalidate()
    assert static.get_visible() and fig.axes[0].xaxis.get_visible() and not backdrop.live
    static.set_visible(False)  # the demo hides a static artist on purpose
    backdrop.ensure()
    backdrop.invalidate()
    assert not static.get_visible()  # and it stays hidden
    assert moving.get_visible()


def test_a_new_canvas_size_falls_back_to_a_full_draw_then_recaptures():
    fig, backdrop, static, moving, image = _figure()
    backdrop.ensure()
    fig.set_dpi(100)  # what ipympl does on a high-dpi screen
    fallback = _pixels(fig)
    assert not backdrop.live
    full = _full_draw(fig, backdrop)
    np.testing.assert_array_equal(fallback, full)
    backdrop.ensure()
    assert backdrop.live and backdrop.n_captures == 2
    live = _pixels(fig)
    assert live.shape == full.shape and np.any(live != full, axis=2).mean() < 0.02


def test_savefig_at_another_dpi_draws_everything():
    fig, backdrop, static, moving, image = _figure()
    backdrop.ensure()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=50)
    assert buf.getvalue()[:4] == b"\x89PNG"
    backdrop.ensure()
    assert backdrop.live


def test_dynamic_titles_get_room_in_the_layout():
    fig, backdrop, static, moving, image = _figure()
    backdrop.ensure()
    ax = fig.axes[0]
    renderer = fig.canvas.get_renderer()
    assert ax.title.get_window_extent(renderer).y1 <= fig.bbox.height + 1


@pytest.mark.parametrize("bad", [None, 0, "figure"])
def test_figure_must_be_given(bad):
    with pytest.raises(TypeError, match="fig must be a matplotlib Figure"):
        Backdrop(bad)


def test_a_picture_is_reused_for_a_key_seen_before():
    fig, backdrop, static, moving, image = _figure()
    backdrop.ensure(key="A")
    picture_a = _pixels(fig)
    backdrop.invalidate()
    static.set_ydata(np.arange(10.0) ** 1.5)  # the static state of key "B"
    backdrop.ensure(key="B")
    assert backdrop.n_captures == 2
    assert np.any(_pixels(fig) != picture_a)
    backdrop.invalidate()
    static.set_ydata(np.arange(10.0) ** 2)  # back to the static state of key "A"
    backdrop.ensure(key="A")
    assert backdrop.n_captures == 2 and backdrop.live  # no new capture
    np.testing.assert_array_equal(_pixels(fig), picture_a)
    full = _full_draw(fig, backdrop)
    assert np.any(full != picture_a, axis=2).mean() < 0.02  # and it is the right picture
    backdrop.ensure(key="A")
    fig.set_dpi(90)  # a cached picture of another size is not used
    backdrop.invalidate()
    backdrop.ensure(key="A")
    assert backdrop.n_captures == 3
