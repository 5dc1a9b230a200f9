"""nnkit._validate: every error names the argument, what was expected and what arrived."""
import numpy as np
import pytest
from hypothesis import given, strategies as st
from hypothesis.extra import numpy as hnp

from nnkit._validate import (
    ShapeError, all_finite, as_array, check_choice, check_positive, check_probability, check_rng, check_same_length,
)


def test_lists_and_ints_become_float64_floats_are_kept():
    assert as_array([[1, 2]], "x").dtype == np.float64
    x32 = np.ones(3, np.float32)
    assert as_array(x32, "x") is x32  # no copy, no upcast
    assert as_array(x32, "x", dtype=np.float64).dtype == np.float64


@pytest.mark.parametrize("bad, word", [(np.array([True]), "bool"), (np.array(["a"]), "str"), (np.array([1j]), "complex")])
def test_non_real_dtypes_refused(bad, word):
    with pytest.raises(TypeError, match=rf"x must hold real numbers.*{word}"):
        as_array(bad, "x")


def test_ragged_input_refused():
    with pytest.raises(TypeError, match="W must be array-like"):
        as_array([[1, 2], [3]], "W")


def test_shape_errors_name_argument_expected_and_actual():
    with pytest.raises(ShapeError, match=r"X must be 2-D; got a 1-D array of shape \(3,\)"):
        as_array(np.ones(3), "X", ndim=2)
    with pytest.raises(ShapeError, match=r"W must have shape \(4, any\); got \(3, 2\)"):
        as_array(np.ones((3, 2)), "W", shape=(4, None))


def test_nan_and_inf_are_located():
    x = np.zeros((2, 3))
    x[1, 2] = np.nan
    with pytest.raises(ValueError, match=r"y_pred must be finite; found nan at index \(1, 2\)"):
        as_array(x, "y_pred")
    assert np.isnan(as_array(x, "y_pred", finite=False)[1, 2])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_all_finite_agrees_with_isfinite_also_when_the_dot_product_overflows(dtype):
    big = np.finfo(dtype).max / 2
    for a in (np.ones((3, 4)), np.full(5, big), np.array([1.0, np.nan]), np.array([-np.inf, 1.0]),
              np.zeros((0, 3)), np.asfortranarray(np.ones((4, 3))), np.array(2.0)):
        a = a.astype(dtype)
        assert all_finite(a) == bool(np.isfinite(a).all())
    assert all_finite(np.arange(4))  # integers are always finite


def test_empty_batch_refused():
    with pytest.raises(ValueError, match=r"X is empty \(shape \(0, 4\)\)"):
        as_array(np.zeros((0, 4)), "X")


@pytest.mark.parametrize("lr", [0, -0.1])
def test_learning_rate_must_be_positive(lr):
    with pytest.raises(ValueError, match=rf"lr must be > 0; got {float(lr)}"):
        check_positive(lr, "lr")


def test_scalar_checks():
    with pytest.raises(TypeError, match="lr must be a real number; got str"):
        check_positive("0.1", "lr")
    with pytest.raises(TypeError, match="lr must be a real number; got bool"):
        check_positive(True, "lr")
    with pytest.raises(ValueError, match=r"p_drop must be in \[0, 1\); got 1.0"):
        check_probability(1.0, "p_drop", high_open=True)
    assert check_probability(0.5, "p") == 0.5


def test_rng_must_be_a_generator():
    with pytest.raises(TypeError, match="rng must be a numpy.random.Generator.*got int"):
        check_rng(0)
    g = np.random.default_rng(1)
    assert check_rng(g) is g


def test_label_counts_and_choices():
    with pytest.raises(ValueError, match="X and y must have the same number of samples; got 5 and 4"):
        check_same_length(np.zeros((5, 2)), np.zeros(4), "X", "y")
    with pytest.raises(ValueError, match="scope must be one of 'global', 'per_tensor'; got 'layer'"):
        check_choice("layer", "scope", ("global", "per_tensor"))


@given(hnp.arrays(st.sampled_from([np.float32, np.float64, np.int64]), hnp.array_shapes(min_dims=1, max_dims=3),
                  elements=st.integers(-5, 5)))
def test_as_array_preserves_shape_and_floats(x):
    out = as_array(x, "x")
    assert out.shape == x.shape
    assert out.dtype == (x.dtype if x.dtype.kind == "f" else np.float64)
    np.testing.assert_array_equal(out, x)


def test_check_int_with_a_maximum_names_the_range():
    from nnkit._validate import check_int

    assert check_int(30, "depth", 2, 30) == 30
    with pytest.raises(ValueError, match=r"depth must be an integer in 2\.\.30; got 31"):
        check_int(31, "depth", 2, 30)
    with pytest.raises(ValueError, match=r"depth must be an integer >= 2; got 1"):
        check_int(1, "depth", 2, 30)
    with pytest.raises(TypeError, match=r"depth must be an integer >= 2; got float 3.0"):
        check_int(3.0, "depth", 2, 30)
