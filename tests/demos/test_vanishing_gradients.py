"""The vanishing-gradient explorer: what it plots is what nnkit computes, and it shows the effect."""
import numpy as np
import pytest

from nnkit.datasets import two_moons
import nnkit.demos.vanishing_gradients as vg
from nnkit.demos.vanishing_gradients import N_BINS, train_history, vanishing_gradients
from nnkit.model import MLP, loss_and_grads
from nnkit.optimizers import SGD

from demo_checks import assert_refused_then_recovers

pytestmark = pytest.mark.filterwarnings("error::RuntimeWarning")


def _seed():
    return int(np.random.default_rng(0).integers(2**31))  # what the builder draws from its default rng


def _data():
    X, y = two_moons(128, np.random.default_rng(0), noise=0.1)
    return (X - X.mean(axis=0)) / X.std(axis=0), y


def _norms_after(depth, activation, init, lr, steps, width=16):
    """Gradient norms per weight layer after `steps` full-batch SGD steps, computed with nnkit directly."""
    X, y = _data()
    model = MLP([2] + [width] * depth + [2], activation=activation, rng=np.random.default_rng(_seed()), init=init)
    opt = SGD(lr)
    state = opt.init_state(model.params)
    for _ in range(steps):
        _, grads = loss_and_grads(model, X, y, "softmax_cross_entropy")
        opt.step(model.params, grads, state)
    value, grads = loss_and_grads(model, X, y, "softmax_cross_entropy")
    return np.array([np.linalg.norm(grads[f"W{i}"]) for i in range(1, depth + 2)]), value


@pytest.fixture(scope="module")
def demo():
    return vanishing_gradients()


def test_default_is_a_20_layer_sigmoid_net_whose_gradient_vanishes(demo):
    s = demo.state
    assert (s["depth"], s["activation"], s["init"], s["step"]) == (20, "sigmoid", "xavier_normal", 0)
    assert s["grad_norms"].shape == (21,)
    assert s["ratio"] < 1e-8  # first layer's gradient is at most 1e-8 of the last one's
    # the first five layers all have gradients under 1e-9 of the last layer's: they cannot learn
    assert np.all(s["grad_norms"][:5] < 1e-9 * s["grad_norms"][-1])
    assert demo.errors == []


def test_plotted_norms_are_nnkits_gradients(demo):
    demo.controls["depth"].value = 6
    demo.controls["step"].value = 0
    expected, loss0 = _norms_after(6, "sigmoid", "xavier_normal", 0.05, 0)
    np.testing.assert_allclose(demo.state["grad_norms"], expected, rtol=1e-9)
    np.testing.assert_allclose(demo.state["loss"][0], loss0, rtol=1e-12)
    demo.controls["step"].value = 7  # frame 7 = after seven gradient-descent steps
    expected, loss7 = _norms_after(6, "sigmoid", "xavier_normal", 0.05, 7)
    np.testing.assert_allclose(demo.state["grad_norms"], expected, rtol=1e-9)
    np.testing.assert_allclose(demo.state["loss"][7], loss7, rtol=1e-12)
    # the artist shows the same numbers
    line = demo.fig.axes[0].get_lines()[1]
    np.testing.assert_allclose(line.get_ydata(), expected, rtol=1e-9)
    np.testing.assert_array_equal(line.get_xdata(), np.arange(1, 8))
    assert demo.errors == []


def test_he_relu_does_not_vanish():
    d = vanishing_gradients(depth=20, activation="relu", init="he_normal")
    for t in (0, 40, 80):
        d.controls["step"].value = t
        norms = d.state["grad_norms"]
        assert norms.max() / norms.min() < 100, (t, norms)  # every layer within two decades
    # and it learns: the loss falls well below ln 2, where the sigmoid net is stuck
    assert d.state["loss"][-1] < 0.5
    d.controls["activation"].value = "sigmoid"
    d.controls["init"].value = "xavier_normal"
    assert d.state["loss"][-1] == pytest.approx(np.log(2), abs=2e-3)
    assert d.errors == []


def test_step_slider_only_picks_a_frame(demo):
    demo.controls["depth"].value = 10
    seen = demo.state["grad_norms_all"].copy()
    for t in (3, 50, 80):
        demo.controls["step"].value = t
        now = demo.state["grad_norms_all"]
        assert now.shape[1] == 11 and t < now.shape[0] <= 81
        np.testing.assert_array_equal(now[:len(seen)], seen)  # frames computed before are kept, not redone
        seen = now.copy()
        np.testing.assert_array_equal(demo.state["grad_norms"], now[t])
        dot = demo.fig.axes[2].get_lines()[1]
        assert dot.get_xdata()[0] == t and dot.get_ydata()[0] == demo.state["loss"][t]
    assert seen.shape == (81, 11)
    image = demo.fig.axes[1].get_images()[0]
    np.testing.assert_array_equal(np.asarray(image.get_array()), demo.state["act_hist"])


def test_a_structural_change_computes_only_the_frames_it_shows(demo):
    demo.controls["step"].value = 0
    demo.controls["depth"].value = 13
    assert demo.state["frames_computed"] == 1  # just the initial network
    demo.controls["step"].value = 2
    assert demo.state["frames_computed"] == 2 + vg.CHUNK  # a chunk ahead
    demo.controls["step"].value = 80
    assert demo.state["frames_computed"] == 81
    loss_curve = demo.fig.axes[2].get_lines()[0]
    np.testing.assert_array_equal(loss_curve.get_ydata(), demo.state["loss"])
    demo.controls["step"].value = 0


@pytest.mark.parametrize("setting", [(6, "sigmoid", "xavier_normal", 0.05), (4, "relu", "he_normal", 0.3),
                                     (30, "relu", "he_normal", 1.0)])
def test_incremental_training_is_bit_for_bit_training_all_at_once(setting):
    """Frames computed a few at a time (as the slider and Play ask for them) equal train_history's."""
    all_at_once = train_history(*setting, seed=1)
    run = vg.TrainingRun(*setting, seed=1)
    expected = 0
    for last in (0, 0, 3, 4, 17, 16, 40, 80, 200):
        run.extend(last)
        expected = max(expected, min(last, 80) + 1)
        assert run.done == (81 if run.diverged_at is not None else expected)
    for name in ("grad_norms", "act_hist", "act_std", "loss"):
        np.testing.assert_array_equal(getattr(run, name), all_at_once[name], err_msg=name)
    assert run.diverged_at == all_at_once["diverged_at"]
    # and the demo, driven frame by frame like Play, shows the same frames
    d = vanishing_gradients(depth=setting[0], activation=setting[1], init=setting[2], lr=setting[3])
    frames = train_history(*setting, seed=_seed())
    for t in range(0, 81, 7):
        d.controls["step"].value = t
        np.testing.assert_array_equal(d.state["grad_norms"], frames["grad_norms"][t])
        np.testing.assert_array_equal(d.state["act_hist"], frames["act_hist"][t])
    np.testing.assert_array_equal(d.state["loss"], frames["loss"][:len(d.state["loss"])])
    assert d.errors == []


def test_histograms_are_the_hidden_activations():
    X, y = _data()
    model = MLP([2] + [16] * 4 + [2], activation="tanh", rng=np.random.default_rng(_seed()), init="xavier_normal")
    d = vanishing_gradients(depth=4, activation="tanh", init="xavier_normal")
    hist = d.state["act_hist"]
    assert hist.shape == (4, N_BINS)
    np.testing.assert_allclose(hist.sum(axis=1), 1.0)
    edges = d.state["bin_edges"]
    assert (edges[0], edges[-1]) == (-1.0, 1.0)
    h = X
    for layer_index, layer in enumerate(model.layers[:-1]):
        h = layer.forward(h, True)[0]
        if layer_index % 2 == 1:  # after each Activation
            counts, _ = np.histogram(h.ravel(), bins=edges)
            np.testing.assert_allclose(hist[layer_index // 2], counts / h.size, atol=1e-12)
            np.testing.assert_allclose(d.state["act_std"][layer_index // 2], h.std())


def test_zero_init_gives_exactly_zero_hidden_gradients(demo):
    demo.controls["depth"].value = 5
    demo.controls["init"].value = "zeros"
    demo.controls["step"].value = 20
    try:
        norms = demo.state["grad_norms"]
        # Symmetry: every hidden layer gets an exactly-zero gradient. With balanced classes and
        # constant hidden activations even the output layer's dW sums to zero over the batch.
        np.testing.assert_array_equal(norms, 0.0)
        assert "6 exactly 0" in demo.fig.axes[0].get_title()
        assert np.all(demo.state["grad_norms_all"] == 0.0)
        assert demo.errors == []
    finally:
        demo.controls["init"].value = "xavier_normal"


def test_every_control_changes_the_picture(demo):
    demo.controls["step"].value = 10
    before = demo.state["grad_norms"].copy()
    for name, value in [("activation", "relu"), ("init", "he_uniform"), ("lr", 0.1), ("depth", 12)]:
        demo.controls[name].value = value
        assert demo.state[name] == value
        after = demo.state["grad_norms"]
        assert after.shape != before.shape or not np.allclose(after, before), name
        before = after.copy()
    assert demo.errors == []
    demo.render()


def test_a_setting_seen_before_reuses_its_training_and_its_picture(demo):
    backdrop = demo.fig.artists[0]
    demo.controls["depth"].value = 7
    demo.render()
    first = demo.state["grad_norms_all"]
    demo.controls["depth"].value = 8
    demo.render()
    captures = backdrop.n_captures
    demo.controls["depth"].value = 7
    demo.render()
    assert np.shares_memory(demo.state["grad_norms_all"], first) and backdrop.n_captures == captures
    demo.controls["lr"].value = 0.1  # same initial network, same limits: same picture, no capture
    demo.render()
    assert backdrop.n_captures == captures
    demo.controls["lr"].value = 0.05


def test_divergence_is_reported_not_raised():
    h = train_history(30, "relu", "he_normal", 1.0, seed=1)
    assert h["diverged_at"] is not None
    t = h["diverged_at"]
    assert np.all(np.isfinite(h["loss"])) and np.all(h["loss"][t:] == h["loss"][t - 1])
    d = vanishing_gradients(depth=30, activation="relu", init="he_normal", lr=1.0, rng=np.random.default_rng(5))
    d.controls["step"].value = 80
    assert d.errors == []
    if d.state["diverged_at"] is not None:
        assert "diverged" in d.fig.axes[0].get_title()


def test_a_bad_value_reaches_the_output_area(demo):
    assert_refused_then_recovers(demo, "init", "orthogonal", "he_normal", error="init must be one of",
                                 shown="ValueError")
    demo.errors.clear()
