"""Tests for nnkit.clipping: hand values, no mutation, torch oracle, properties."""
import copy
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from nnkit.clipping import clip_by_norm, clip_by_value, global_norm
from nnkit.gradcheck import rel_error


def test_global_norm_hand_value():
    grads = {"W1": np.array([[3.0, 0.0], [0.0, 0.0]]), "b1": np.array([4.0]), "W2": np.array([12.0])}
    # sqrt(3^2 + 4^2 + 12^2) = sqrt(169) = 13
    assert global_norm(grads) == pytest.approx(13.0, rel=1e-15)
    assert global_norm({}) == 0.0


def test_clip_by_value_sets_entries_to_the_threshold():
    """Slip 17: entries outside [-c, c] become +-c; they are not discarded or zeroed."""
    out = clip_by_value({"g": np.array([-5.0, -1.0, 0.3, 1.0, 2.0])}, clip=1.0)
    np.testing.assert_array_equal(out["g"], [-1.0, -1.0, 0.3, 1.0, 1.0])


def test_clip_by_value_changes_direction_clip_by_norm_keeps_it():
    g = {"g": np.array([10.0, 1.0])}
    by_value = clip_by_value(g, 1.0)["g"]  # [1, 1]: now at 45 degrees
    by_norm = clip_by_norm(g, 1.0)["g"]  # [10, 1]/sqrt(101): same direction, norm 1
    cos = lambda a, b: a @ b / (np.linalg.norm(a) * np.linalg.norm(b))  # noqa: E731
    assert cos(by_value, g["g"]) == pytest.approx(11 / math.sqrt(2 * 101))  # 0.774
    assert cos(by_norm, g["g"]) == pytest.approx(1.0, rel=1e-15)
    np.testing.assert_allclose(by_norm, np.array([10.0, 1.0]) / math.sqrt(101), rtol=1e-15)


def test_clip_by_norm_global_hand_values():
    grads = {"a": np.array([3.0, 0.0]), "b": np.array([0.0, 4.0])}
    out = clip_by_norm(grads, max_norm=1.0)  # scope="global"
    # global norm 5 > 1: every tensor times 1/5
    np.testing.assert_allclose(out["a"], [0.6, 0.0], rtol=1e-15)
    np.testing.assert_allclose(out["b"], [0.0, 0.8], rtol=1e-15)
    assert global_norm(out) == pytest.approx(1.0, rel=1e-15)


def test_clip_by_norm_per_tensor_hand_values():
    grads = {"a": np.array([3.0, 4.0]), "b": np.array([0.3, 0.4])}
    out = clip_by_norm(grads, max_norm=1.0, scope="per_tensor")
    # ||a|| = 5 -> a/5 = [0.6, 0.8] ;  ||b|| = 0.5 <= 1 -> unchanged
    np.testing.assert_allclose(out["a"], [0.6, 0.8], rtol=1e-15)
    np.testing.assert_array_equal(out["b"], [0.3, 0.4])
    # global scope would also have shrunk b: global norm sqrt(25 + 0.25) = 5.0249
    out_g = clip_by_norm(grads, max_norm=1.0, scope="global")
    np.testing.assert_allclose(out_g["b"], np.array([0.3, 0.4]) / math.sqrt(25.25), rtol=1e-15)


def test_clip_by_norm_below_threshold_is_a_copy():
    grads = {"a": np.array([0.1, 0.2])}
    for scope in ("global", "per_tensor"):
        out = clip_by_norm(grads, max_norm=1.0, scope=scope)
        np.testing.assert_array_equal(out["a"], grads["a"])
        assert not np.shares_memory(out["a"], grads["a"])


def test_zero_gradients_stay_zero():
    out = clip_by_norm({"a": np.zeros(3)}, 1.0, scope="per_tensor")
    np.testing.assert_array_equal(out["a"], np.zeros(3))


@pytest.mark.parametrize(
    "fn", [lambda g: clip_by_value(g, 0.5), lambda g: clip_by_norm(g, 0.5), lambda g: clip_by_norm(g, 0.5, "per_tensor")]
)
def test_inputs_never_mutated_and_outputs_are_new(fn, rng):
    grads = {"W1": rng.standard_normal((4, 3)) * 5, "b1": rng.standard_normal(3)}
    before = copy.deepcopy(grads)
    out = fn(grads)
    assert out is not grads and set(out) == set(grads)
    for k in grads:
        np.testing.assert_array_equal(grads[k], before[k])
        assert not np.shares_memory(out[k], grads[k])
        out[k][...] = 0.0  # writing to the result leaves the input alone
        np.testing.assert_array_equal(grads[k], before[k])


@pytest.mark.oracle
@pytest.mark.parametrize("max_norm", [0.5, 3.0, 100.0])
def test_clip_by_norm_global_matches_torch(torch, rng, max_norm):
    shapes = {"W1": (5, 4), "b1": (4,), "W2": (4, 2)}
    grads = {k: rng.standard_normal(s) for k, s in shapes.items()}
    ps = [torch.zeros(s, dtype=torch.float64, requires_grad=True) for s in shapes.values()]
    for p, g in zip(ps, grads.values()):
        p.grad = torch.tensor(g)
    total = torch.nn.utils.clip_grad_norm_(ps, max_norm)
    assert rel_error(global_norm(grads), total.item()) <= 1e-10
    # PyTorch divides by (norm + 1e-6); eps=1e-6 reproduces it exactly
    ours = clip_by_norm(grads, max_norm, scope="global", eps=1e-6)
    for p, k in zip(ps, shapes):
        assert rel_error(ours[k], p.grad.numpy()) <= 1e-10
    # the textbook rule (eps=0) ends exactly on max_norm when it clips
    if total.item() > max_norm:
        assert global_norm(clip_by_norm(grads, max_norm)) == pytest.approx(max_norm, rel=1e-14)


@pytest.mark.oracle
def test_clip_by_value_matches_torch(torch, rng):
    shapes = {"W1": (5, 4), "b1": (4,)}
    grads = {k: 2 * rng.standard_normal(s) for k, s in shapes.items()}
    ps = [torch.zeros(s, dtype=torch.float64, requires_grad=True) for s in shapes.values()]
    for p, g in zip(ps, grads.values()):
        p.grad = torch.tensor(g)
    torch.nn.utils.clip_grad_value_(ps, 0.7)
    ours = clip_by_value(grads, 0.7)
    for p, k in zip(ps, shapes):
        assert rel_error(ours[k], p.grad.numpy()) <= 1e-10


def test_bad_input():
    g = {"a": np.ones(2)}
    with pytest.raises(ValueError, match="clip must be > 0"):
        clip_by_value(g, 0)
    with pytest.raises(ValueError, match="max_norm must be > 0; got -1.0"):
        clip_by_norm(g, -1)
    with pytest.raises(ValueError, match="scope"):
        clip_by_norm(g, 1.0, scope="layer")
    with pytest.raises(ValueError, match=r"grads\['a'\] must be finite"):
        clip_by_norm({"a": np.array([1.0, np.nan])}, 1.0)
    with pytest.raises(ValueError, match=r"grads\['a'\] must be finite"):
        global_norm({"a": np.array([np.inf])})
    with pytest.raises(TypeError, match="dict"):
        clip_by_value(np.ones(2), 1.0)


def test_float32_norm_does_not_overflow():
    g = {"a": np.full(4, 1e30, dtype=np.float32)}  # squares overflow float32
    assert global_norm(g) == pytest.approx(2e30, rel=1e-6)
    out = clip_by_norm(g, 1.0)
    assert out["a"].dtype == np.float32
    np.testing.assert_allclose(out["a"], 0.5, rtol=1e-6)


grads_strategy = st.dictionaries(
    st.sampled_from(["W1", "b1", "W2", "b2"]),
    st.tuples(
        st.sampled_from([np.float32, np.float64]), hnp.array_shapes(min_dims=1, max_dims=3, max_side=4)
    ).flatmap(lambda ds: hnp.arrays(ds[0], ds[1], elements=st.floats(-1e3, 1e3, width=32))),
    min_size=1,
)


@settings(max_examples=60, deadline=None)
@given(grads=grads_strategy, c=st.floats(0.01, 100), scope=st.sampled_from(["global", "per_tensor"]))
def test_property_shapes_dtypes_and_bounds(grads, c, scope):
    by_norm = clip_by_norm(grads, c, scope)
    by_value = clip_by_value(grads, c)
    for k, g in grads.items():
        for out in (by_norm, by_value):
            assert out[k].shape == g.shape and out[k].dtype == g.dtype
        assert np.all(np.abs(by_value[k]) <= np.float32(c) if g.dtype == np.float32 else np.abs(by_value[k]) <= c)
        if scope == "per_tensor":
            assert global_norm({k: by_norm[k]}) <= c * (1 + 1e-5)
        # clipping by norm never flips a sign and never grows an entry
        assert np.all(np.abs(by_norm[k]) <= np.abs(g))
        assert np.all(np.sign(by_norm[k]) * np.sign(g) >= 0)
    if scope == "global":
        assert global_norm(by_norm) <= c * (1 + 1e-5)
