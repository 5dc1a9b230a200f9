"""The cached static picture: a live draw looks like a full draw, captures cost no extra draw,
and anything the picture was not made for falls back safely."""
import io

import matplotlib.image as mpimg
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
    ax1.set_ylim(0.5, 200)  # fixed limits, as in the demos (autoscaling would follow the moving line)
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
    """What matplotlib draws without any Backdrop."""
    backdrop.invalidate()
    backdrop.set_visible(False)
    try:
        return _pixels(fig)
    finally:
        backdrop.set_visible(True)


def _close(live, full):
    # only antialiased edges of the spines (drawn twice when live) may differ, and slightly
    differ = np.any(live != full, axis=2)
    return differ.mean() < 0.02 and np.abs(live - full).max() <= 60


def test_live_draw_matches_a_full_draw_and_captures_once():
    fig, backdrop, static, moving, image = _figure()
    first = _pixels(fig)  # the capture happens inside this draw
    assert backdrop.live and backdrop.n_captures == 1
    assert isinstance(fig.get_layout_engine(), PlaceHolderLayoutEngine)  # the layout is frozen
    assert _close(first, _full_draw(fig, backdrop))
    _pixels(fig)  # capture again after the full draw
    for k in range(3):
        moving.set_ydata(np.arange(10.0) + k)
        image.set_data(np.random.default_rng(k).random((8, 12)))
        fig.axes[0].title.set_text(f"step {k}")
        live = _pixels(fig)
        assert backdrop.n_captures == 2 + k  # replayed, not captured
        assert not static.get_visible()  # hidden while live: the picture stands in for it
        assert _close(live, _full_draw(fig, backdrop))
        _pixels(fig)
    assert backdrop.n_captures == 5


def test_invalidate_restores_static_artists_and_their_own_visibility():
    fig, backdrop, static, moving, image = _figure()
    _pixels(fig)
    assert not static.get_visible() and not fig.axes[0].xaxis.get_visible()  # hidden while live
    backdrop.invalidate()
    assert static.get_visible() and fig.axes[0].xaxis.get_visible() and not backdrop.live
    static.set_visible(False)  # the demo hides a static artist on purpose
    _pixels(fig)
    backdrop.invalidate()
    assert not static.get_visible()  # and it stays hidden
    assert moving.get_visible()


def test_a_new_limit_is_noticed_without_invalidate():
    fig, backdrop, static, moving, image = _figure()
    _pixels(fig)
    fig.axes[0].set_xlim(0, 20)  # changes tick labels: the picture is stale
    live = _pixels(fig)
    assert backdrop.n_captures == 2
    assert _close(live, _full_draw(fig, backdrop))


def test_a_new_canvas_size_recaptures_in_the_same_draw():
    fig, backdrop, static, moving, image = _figure()
    _pixels(fig)
    fig.set_dpi(100)  # what ipympl does on a high-dpi screen
    live = _pixels(fig)
    assert backdrop.live and backdrop.n_captures == 2
    full = _full_draw(fig, backdrop)
    assert live.shape == full.shape and _close(live, full)


def test_savefig_at_another_dpi_draws_everything_then_the_screen_is_right_again(tmp_path):
    fig, backdrop, static, moving, image = _figure()
    screen = _pixels(fig)
    path = tmp_path / "fig.png"
    fig.savefig(path, dpi=40)
    saved = mpimg.imread(path)
    assert saved.shape[:2] == (screen.shape[0] // 2, screen.shape[1] // 2)
    # the static grey line (and the static axes) are in the file
    assert np.isclose(saved[..., :3], 0.6, atol=0.03).all(axis=2).any()
    assert not backdrop.live
    buf = io.BytesIO()
    fig.savefig(buf, format="svg")  # another renderer altogether
    assert b"<svg" in buf.getvalue()
    again = _pixels(fig)
    assert backdrop.live and _close(again, screen)


def test_dynamic_titles_get_room_in_the_layout():
    fig, backdrop, static, moving, image = _figure()
    _pixels(fig)
    ax = fig.axes[0]
    renderer = fig.canvas.get_renderer()
    assert ax.title.get_window_extent(renderer).y1 <= fig.bbox.height + 1


def test_artists_made_later_can_be_dynamic():
    fig, backdrop, static, moving, image = _figure()
    base = _pixels(fig)
    shade = fig.axes[0].axvspan(2, 4, color="red", alpha=0.5)
    backdrop.add_dynamic(shade)  # new since the capture: no new capture needed
    with_shade = _pixels(fig)
    assert backdrop.n_captures == 1 and np.any(with_shade != base)
    shade.remove()
    np.testing.assert_array_equal(_pixels(fig), base)  # gone: it was never in the picture
    backdrop.add_dynamic(static)  # a static artist (in the picture) turning dynamic: re-capture
    assert not backdrop.live
    _pixels(fig)
    assert backdrop.n_captures == 2 and static.get_visible()


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
    assert np.any(_pixels(fig) != picture_a)
    assert backdrop.n_captures == 2
    backdrop.invalidate()
    static.set_ydata(np.arange(10.0) ** 2)  # back to the static state of key "A"
    backdrop.ensure(key="A")
    assert backdrop.live  # adopted at once: nothing to draw for it
    np.testing.assert_array_equal(_pixels(fig), picture_a)
    assert backdrop.n_captures == 2
    assert _close(_full_draw(fig, backdrop), picture_a)  # and it is the right picture
    static.set_ydata(np.arange(10.0) ** 1.5)
    backdrop.ensure(key="B")  # another key without invalidate(): B's picture, kept, is adopted
    assert backdrop.live and np.any(_pixels(fig) != picture_a)
    assert backdrop.n_captures == 2
    static.set_ydata(np.arange(10.0) ** 2)
    backdrop.ensure(key="A")
    fig.set_dpi(90)  # a cached picture of another size is not used
    backdrop.invalidate()
    static.set_ydata(np.arange(10.0) ** 2)
    backdrop.ensure(key="A")
    assert not backdrop.live
    _pixels(fig)
    assert backdrop.n_captures == 3
