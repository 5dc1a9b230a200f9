"""``nngrader.verdict``: how a check's cases become a test cell's score and diagnosis."""
import numpy as np
import pytest

from nngrader.sandbox import Outcome
from nngrader.specs import Case, Check
from nngrader.verdict import Part, cell_score, run_check


class Runner:
    """Answers every call with the case's label as the value: the judge decides from that."""

    def call(self, function, args, kwargs, forbidden, timeout):
        return Outcome("ok", value=args[0])


def check_with(results, points):
    """A check whose i-th case passes when ``results[i]``."""
    return Check("g", ("f",), points, visible=lambda rng: [Case(args=(ok,)) for ok in results],
                 hidden=lambda rng: [], judge=lambda case, value: [Part(bool(value), "wrong")])


@pytest.mark.parametrize("results, points, score", [
    ([True, False, False], 5.0, 1.67),       # a third of 5 points: 1.67, not 1.66
    ([True, True, False], 5.0, 3.33),
    ([True, True, True], 5.0, 5.0),
    ([False] * 3, 5.0, 0.0),
    ([True] * 999 + [False], 2.0, 1.99),     # 0.999 of 2 points is not full points
    ([True, False], 1.5, 0.75),
])
def test_a_cells_score_is_the_nearest_hundredth_and_never_full_unless_every_case_passed(results, points, score):
    verdict = run_check(check_with(results, points), Runner(), "secret", ("visible",))
    assert verdict.score == score
    assert f"{score:g} / {points:g} points" in verdict.text()


def test_three_thirds_add_up_to_what_is_stored():
    # three cells of 5 points, each a third right: the shown scores are the stored ones and add up
    scores = [run_check(check_with([True, False, False], 5.0), Runner(), "s", ("visible",)).score for _ in range(3)]
    assert scores == [1.67] * 3 and round(sum(scores), 2) == 5.01


def test_cell_score_bounds():
    assert cell_score(-0.1, 2.0) == 0.0
    assert cell_score(2.0000001, 2.0) == 2.0
    assert cell_score(1.996, 2.0) == 1.99


def test_float32_round_off_is_named_only_when_the_error_is_that_small():
    from nngrader.verdict import FLOAT32_CAUSE, compare_close

    x = np.linspace(0.1, 1.0, 7)
    assert compare_close("v", x.astype(np.float32), x, tol=1e-9).cause == FLOAT32_CAUSE
    assert compare_close("v", x * 1.01, x, tol=1e-9).cause == ""  # a real error, not round-off
    assert compare_close("v", x.astype(np.float32), x, tol=1e-6).ok  # where float32 is enough, it passes
