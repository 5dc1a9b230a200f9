"""The decision-boundary playground: its boundary and losses are nnkit's, and training behaves."""
import numpy as np
import pytest

from nnkit.activations import softmax
from nnkit.datasets import train_val_test_split, two_moons
import nnkit.demos.playground as pg
from nnkit.demos.playground import GRID, parse_hidden, playground
from nnkit.model import MLP
from nnkit.optimizers import SGD
from nnkit.training import fit

from demo_checks import pick_refused

pytestmark = pytest.mark.filterwarnings("error::RuntimeWarning")

SEED = int(np.random.default_rng(0).integers(2**31 - 2))  # what the builder draws from its default rng


@pytest.fixture(scope="module")
def demo():
    return playground()


@pytest.mark.parametrize("text, sizes", [("8,8", (8, 8)), (" 4 ", (4,)), ("", ()), ("16, 8,4", (16, 8, 4))])
def test_parse_hidden(text, sizes):
    assert parse_hidden(text) == sizes


@pytest.mark.parametrize("text", ["8,x", "0", "65", "8,,8", "1,1,1,1,1,1,1", "-3"])
def test_parse_hidden_refuses(text):
    with pytest.raises(ValueError, match="hidden must be comma-separated layer sizes"):
        parse_hidden(text)


def test_boundary_is_the_models_prediction_on_the_grid(demo):
    demo.controls["step"].value = 25
    s = demo.state
    assert s["epoch"] == 50 and s["sizes"] == (2, 8, 8, 2)
    model = MLP(s["sizes"], activation="tanh", rng=np.random.default_rng(1))
    model.set_params(s["params"])
    gx, gy = np.meshgrid(s["grid_x"], s["grid_y"])
    expected = softmax(model.predict(np.column_stack([gx.ravel(), gy.ravel()]))).reshape(GRID, GRID, 2)
    np.testing.assert_allclose(s["proba"], expected, rtol=1e-12, atol=1e-15)
    # the image shows it: orange-ish where class 0 is likely, blue-ish where class 1 is
    rgb = np.asarray(demo.fig.axes[0].get_images()[0].get_array())
    assert rgb.shape == (GRID, GRID, 3)
    sure0 = s["proba"][..., 0] > 0.95
    sure1 = s["proba"][..., 1] > 0.95
    assert sure0.any() and sure1.any()
    assert np.all(rgb[sure0][:, 0] > rgb[sure0][:, 2]) and np.all(rgb[sure1][:, 2] > rgb[sure1][:, 0])
    assert demo.errors == []


def test_training_is_nnkits_fit_with_the_same_seeds(demo):
    """Frame 1 (epoch 2) equals two epochs of nnkit.training.fit with SGD, batch 20 and L2."""
    demo.controls["l2"].value = 0.01
    demo.controls["step"].value = 1
    rng = np.random.default_rng(SEED)
    X, y = two_moons(400, rng)
    split = train_val_test_split(X, y, rng, val=0.0, test=0.5)
    model = MLP([2, 8, 8, 2], activation="tanh", rng=np.random.default_rng(SEED + 7), init="xavier_normal")
    hist = fit(model, split.X_train, split.y_train, loss="softmax_cross_entropy", optimizer=SGD(0.1), epochs=2,
               batch_size=20, rng=np.random.default_rng(SEED + 8), l2=0.01, progress=False)
    for k, v in model.params.items():
        np.testing.assert_allclose(demo.state["params"][k], v, rtol=1e-10, atol=1e-13, err_msg=k)
    np.testing.assert_allclose(demo.state["train_loss"][1], hist.train_loss[-1], rtol=1e-10)
    np.testing.assert_allclose(demo.state["train_acc"][1], hist.train_acc[-1])
    demo.controls["l2"].value = 0.0


def test_step_slider_only_picks_a_frame(demo):
    seen = demo.state["train_loss"].copy()
    for f in (0, 10, 50):
        demo.controls["step"].value = f
        losses = demo.state["train_loss"]
        np.testing.assert_array_equal(losses[:len(seen)], seen)  # frames computed before are kept
        seen = losses.copy()
        train_dot = demo.fig.axes[1].get_lines()[2]
        assert train_dot.get_xdata()[0] == demo.state["epochs"][f] == 2 * f
        assert train_dot.get_ydata()[0] == losses[f]
        assert f"epoch {2 * f}:" in demo.fig.axes[0].get_title()
    assert len(seen) == 51
    assert seen[-1] < 0.5 * seen[0]  # it learns
    assert demo.state["test_acc"][-1] > 0.9


def test_a_structural_change_computes_only_the_frames_it_shows(demo):
    demo.controls["step"].value = 0
    demo.controls["hidden"].value = "7,5"
    assert demo.state["frames_computed"] == 1  # just the initial network
    demo.controls["step"].value = 3
    assert demo.state["frames_computed"] == 3 + pg.CHUNK
    train_curve = demo.fig.axes[1].get_lines()[0]
    np.testing.assert_array_equal(train_curve.get_ydata(), demo.state["train_loss"])
    demo.controls["hidden"].value = "8,8"
    demo.controls["step"].value = 0


@pytest.mark.parametrize("setting", [("two_moons", (8, 8), "tanh", 0.1, 0.01), ("spirals", (6,), "relu", 0.3, 0.0),
                                     ("two_moons", (64, 64), "leaky_relu", 3.0, 0.0)])
def test_incremental_training_is_bit_for_bit_training_all_at_once(setting):
    """Frames computed a few at a time (as the slider and Play ask for them) equal train_history's."""
    from nnkit.demos.playground import _dataset, train_history

    name, *rest = setting
    Xtr, ytr, Xte, yte = _dataset(name, SEED)
    kwargs = dict(grid=Xte[:50], n_epochs=40, n_frames=21, seed=3)
    whole = train_history(Xtr, ytr, Xte, yte, *rest, **kwargs)
    run = pg.TrainingRun(Xtr, ytr, Xte, yte, *rest, **kwargs)
    for last in (0, 0, 2, 3, 9, 8, 20, 40):
        run.extend(last)
    assert run.done == 21 and run.diverged_at == whole["diverged_at"]
    for k in ("epochs", "train_loss", "test_loss", "train_acc", "test_acc", "proba"):
        np.testing.assert_array_equal(getattr(run, k), whole[k], err_msg=k)
    for a, b in zip(run.params, whole["params"], strict=True):
        for k in a:
            np.testing.assert_array_equal(a[k], b[k])
    # the demo, driven frame by frame like Play, shows the same frames
    d = playground(dataset=name, hidden=",".join(map(str, rest[0])), activation=rest[1], lr=rest[2], l2=rest[3],
                   n_epochs=40, n_frames=21)
    Xtr, ytr, Xte, yte = _dataset(name, SEED)
    gx, gy = d.state["grid_x"], d.state["grid_y"]
    grid = np.column_stack([np.tile(gx, GRID), np.repeat(gy, GRID)])
    frames = train_history(Xtr, ytr, Xte, yte, *rest, grid=grid, n_epochs=40, n_frames=21, seed=SEED + 7)
    for f in range(21):
        d.controls["step"].value = f
        np.testing.assert_array_equal(d.state["proba"].reshape(GRID * GRID, -1), frames["proba"][f])
    np.testing.assert_array_equal(d.state["test_loss"], frames["test_loss"])
    assert d.errors == []


def test_a_line_cannot_separate_xor_but_one_hidden_layer_can(demo):
    demo.controls["dataset"].value = "xor_blobs"
    demo.controls["hidden"].value = ""
    demo.controls["step"].value = 50
    assert demo.state["sizes"] == (2, 2)
    assert demo.state["test_acc"][-1] < 0.75
    demo.controls["hidden"].value = "4"
    assert demo.state["test_acc"][-1] > 0.95
    demo.controls["dataset"].value = "spirals"
    assert demo.state["proba"].shape == (GRID, GRID, 3)
    assert demo.state["sizes"] == (2, 4, 3)
    demo.controls["dataset"].value = "two_moons"
    demo.controls["hidden"].value = "8,8"
    assert demo.errors == []


def test_l2_shrinks_the_weights(demo):
    def weight_norm():
        return sum(float(np.sum(v**2)) for k, v in demo.state["params"].items() if k.startswith("W"))

    demo.controls["step"].value = 50
    demo.controls["l2"].value = 0.0
    free = weight_norm()
    demo.controls["l2"].value = 0.03
    assert weight_norm() < 0.7 * free
    demo.controls["l2"].value = 0.0


def test_every_control_changes_the_picture(demo):
    demo.controls["step"].value = 20
    before = demo.state["proba"].copy()
    for name, value in [("activation", "relu"), ("lr", 0.3), ("l2", 0.003), ("hidden", "5"), ("dataset", "circles")]:
        demo.controls[name].value = value
        assert demo.state[name] == (parse_hidden(value) if name == "hidden" else value)
        assert not np.allclose(demo.state["proba"], before), name
        before = demo.state["proba"].copy()
    assert demo.errors == []
    demo.render()


def test_divergence_is_reported_not_raised():
    d = playground(activation="leaky_relu", lr=3.0, hidden="64,64")
    d.controls["step"].value = 50
    assert d.errors == []
    assert d.state["diverged_at"] is not None
    assert "diverged" in d.fig.axes[0].get_title()
    assert np.all(np.isfinite(d.state["train_loss"]))
    from nnkit.demos.playground import _dataset, train_history  # a late blow-up: a huge but finite loss is not kept

    Xtr, ytr, Xte, yte = _dataset("two_moons", SEED)
    h = train_history(Xtr, ytr, Xte, yte, (8,), "identity", 3.0, 0.0, grid=Xte, seed=SEED + 7)
    assert h["diverged_at"] is not None and np.all(np.isfinite(h["train_loss"]))


def test_a_bad_hidden_text_reaches_the_output_area(demo):
    before = demo.state["proba"].copy()
    errors, shown = pick_refused(demo, "hidden", "8,x")
    assert len(errors) == 1 and "hidden must be comma-separated layer sizes" in errors[0]
    assert "ValueError" in shown
    np.testing.assert_array_equal(demo.state["proba"], before)  # the last good picture stays
    demo.controls["hidden"].value = "3"
    assert demo.state["sizes"][1:-1] == (3,)
    demo.errors.clear()
