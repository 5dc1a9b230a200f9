"""Checks that the demo tests share: what the Output area shows, a refused value, redraws and captures.

pytest puts ``tests/demos/`` on ``sys.path`` (rootdir-relative "prepend" import mode: the folder
has no ``__init__.py``), so a test module imports these with ``from demo_checks import ...``.
"""
from __future__ import annotations

import copy

import numpy as np


def shown_text(demo) -> str:
    """Everything the demo's Output area shows (a failing callback's one-line message goes there)."""
    return "".join(o.get("text", "") for o in demo.output.outputs)


def pick_refused(demo, name: str, value) -> tuple[list[str], str]:
    """Offer ``value`` in control ``name`` (appended to its options; a text box takes it as it is)
    and pick it, as a student could; return ``(demo.errors, shown_text(demo))`` for the test to check."""
    control = demo.controls[name]
    if hasattr(control, "options"):
        current = control.value
        control.options = (*control.options, value)
        control.value = current  # new options select the first one (ipywidgets): keep the student's choice
    control.value = value
    return demo.errors, shown_text(demo)


def assert_refused_then_recovers(demo, name: str, bad, good, *, error: str, shown: str, kept=None,
                                 state_key: str | None = None) -> str:
    """Picking ``bad`` in control ``name`` (:func:`pick_refused`) fails once, shown and not raised:
    the traceback holds ``error``, the Output area ``shown``, and what ``kept(demo)`` returns (the
    last good picture, if given) is unchanged; picking ``good`` then works again, without a new
    error, and lands in ``demo.state[state_key]`` (default ``name``). Returns the Output area's text."""
    before = copy.deepcopy(kept(demo)) if kept else None
    errors, text = pick_refused(demo, name, bad)
    assert len(errors) == 1 and error in errors[0]
    assert shown in text
    if kept:
        np.testing.assert_equal(kept(demo), before)
    demo.controls[name].value = good
    assert demo.state[state_key or name] == good
    assert len(demo.errors) == 1
    return text


def _pixels(demo) -> np.ndarray:
    return np.asarray(demo.fig.canvas.buffer_rgba()).copy()


def assert_each_move_redraws(demo, moves) -> None:
    """Every ``(control, value)`` of ``moves``, in turn, lands in ``demo.state[control]`` and changes
    the rendered picture; no callback fails."""
    demo.render()
    before = _pixels(demo)
    for name, value in moves:
        demo.controls[name].value = value
        assert demo.state[name] == value
        demo.render()
        now = _pixels(demo)
        assert (now != before).any(), name
        before = now
    assert demo.errors == []


def new_captures(demo, moves) -> int:
    """How many pictures of the static parts the demo's Backdrop takes while it renders, from its
    current state, every ``(control, value)`` of ``moves`` in turn (the current state's picture,
    taken by a first render, does not count)."""
    backdrop = demo.fig.artists[0]
    demo.render()
    captures = backdrop.n_captures
    for name, value in moves:
        demo.controls[name].value = value
        demo.render()
    return backdrop.n_captures - captures
