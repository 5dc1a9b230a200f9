"""Tests for nnkit.gradcheck_results: scores and rendering of a gradient check's result."""
import numpy as np
import pytest

from nnkit.gradcheck import GradCheckResult, TensorCheck, check_gradients
from nnkit.gradcheck_results import GradCheckResult as Result
from nnkit.gradcheck_results import TensorCheck as Row
from test_gradcheck import sigmoid_layer_problem


def test_the_result_types_are_importable_from_nnkit_gradcheck_too():
    assert GradCheckResult is Result and TensorCheck is Row



def test_score_is_points_times_fraction_of_tensors_passed(rng):
    f, params, good, bad, _ = sigmoid_layer_problem(rng)
    assert check_gradients(f, params, good).score(10) == 10.0
    assert check_gradients(f, params, bad).score(10) == 0.0
    partial = check_gradients(f, params, {**good, "W": bad["W"]})
    assert partial.fraction_passed == pytest.approx(2 / 3)
    assert partial.score(9) == pytest.approx(6.0)
    assert [r.name for r in partial.failed] == ["W"]
    with pytest.raises(ValueError, match="points"):
        partial.score(-1)


def test_threshold_decides_pass(rng):
    x = rng.standard_normal(5)
    slightly_off = 2 * x * (1 + 1e-4)
    f = lambda p: float(np.sum(p["x"] ** 2))  # noqa: E731
    assert not check_gradients(f, {"x": x}, {"x": slightly_off}).passed
    loose = check_gradients(f, {"x": x}, {"x": slightly_off}, threshold=1e-3)
    assert loose.passed and loose["x"].threshold == 1e-3
    assert "the error is small" in check_gradients(f, {"x": x}, {"x": slightly_off}).diagnosis()


def test_text_table_and_html(rng):
    f, params, good, bad, _ = sigmoid_layer_problem(rng)
    params = {"x": params["x"], "W1": params["W"], "b1": params["b"]}
    f1 = lambda p: f({"x": p["x"], "W": p["W1"], "b": p["b1"]})  # noqa: E731
    res = check_gradients(f1, params, {"x": good["x"], "W1": bad["W"], "b1": good["b"]})
    text = str(res)
    lines = text.splitlines()
    assert lines[0].split()[:3] == ["tensor", "shape", "max"]
    assert any(line.startswith("dW1") and line.endswith("FAIL") for line in lines)
    assert any(line.startswith("db1") and line.endswith("PASS") for line in lines)
    assert "2/3 gradients pass" in lines[-1]
    page = res._repr_html_()
    assert page.startswith("<table")
    for name in ("dx", "dW1", "db1"):
        assert f"<td style='text-align:left'>{name}</td>" in page
    assert "FAIL" in page and "PASS" in page and "<li>dW1: relative error" in page
    assert "GradCheckResult(passed=False" in repr(res)


def test_html_escapes_names(rng):
    x = rng.standard_normal(2)
    res = check_gradients(lambda p: float(np.sum(p["<x>"])), {"<x>": x}, {"<x>": np.ones(2)})
    assert "&lt;x&gt;" in res._repr_html_() and "<x>" not in res._repr_html_()


def test_records_and_lookup(rng):
    f, params, good, _, _ = sigmoid_layer_problem(rng)
    res = check_gradients(f, params, good)
    recs = res.to_records()
    assert [r["name"] for r in recs] == ["x", "W", "b"]
    assert set(recs[0]) >= {"name", "shape", "max_rel_error", "worst_index", "analytic", "numeric",
                            "passed", "n_checked", "n_skipped_near_kink"}
    assert isinstance(res["W"], TensorCheck) and len(res) == 3
    with pytest.raises(KeyError, match="no tensor named 'q'"):
        res["q"]
