"""The batch-norm explorer: training vs inference outputs and the running averages, checked by hand."""
import numpy as np
import pytest

from nnkit.demos.batchnorm_explorer import POPULATION_MEAN, POPULATION_VAR, batchnorm_explorer, running_statistics

from demo_checks import new_captures, pick_refused

pytestmark = pytest.mark.filterwarnings("error::RuntimeWarning")
EPS = 1e-5


@pytest.fixture
def demo():
    return batchnorm_explorer()


def test_training_mode_standardizes_the_batch_then_scales_and_shifts(demo):
    for gamma, beta in ((1.0, 0.0), (2.5, -1.0), (0.4, 2.0)):
        demo.controls["gamma"].value = gamma
        demo.controls["beta"].value = beta
        for k in (0, 40):
            demo.controls["step"].value = k
            s = demo.state
            x = s["x"]
            expected = gamma * (x - x.mean()) / np.sqrt(x.var() + EPS) + beta  # by hand, biased variance
            np.testing.assert_allclose(s["y"], expected, rtol=1e-12, atol=1e-12)
            assert s["y"].mean() == pytest.approx(beta, abs=1e-12)
            assert s["y"].std() == pytest.approx(gamma * np.sqrt(x.var() / (x.var() + EPS)), rel=1e-12)
    assert demo.errors == []


def test_batch_norm_does_not_squash_into_zero_one(demo):
    s = demo.state
    assert s["y"].min() < 0 or s["y"].max() > 1  # slip 16: it standardizes, it does not min-max scale
    assert "train: mean" in demo.fig.axes[1].get_title()


def test_running_averages_follow_the_pytorch_momentum_convention(demo):
    demo.controls["momentum"].value = 0.2
    demo.controls["batch_size"].value = 8
    # rebuild the averages by hand from the batch statistics: new = (1 - m) old + m batch,
    # with the unbiased variance, starting at mean 0 and variance 1
    means, variances = [0.0], [1.0]
    xs = []
    for k in range(6):
        demo.controls["step"].value = k
        xs.append(demo.state["x"].copy())
    for x in xs[:5]:
        means.append(0.8 * means[-1] + 0.2 * x.mean())
        variances.append(0.8 * variances[-1] + 0.2 * x.var(ddof=1))
    np.testing.assert_allclose(demo.state["running_mean_path"][:6], means, rtol=1e-12)
    np.testing.assert_allclose(demo.state["running_var_path"][:6], variances, rtol=1e-12)
    assert demo.state["momentum"] == 0.2


def test_inference_uses_the_running_statistics(demo):
    demo.controls["mode"].value = "inference"
    demo.controls["gamma"].value = 1.5
    demo.controls["beta"].value = 0.5
    for k in (0, 5, 100):
        demo.controls["step"].value = k
        s = demo.state
        rm, rv = s["running_mean_path"][k], s["running_var_path"][k]
        np.testing.assert_allclose(s["y"], 1.5 * (s["x"] - rm) / np.sqrt(rv + EPS) + 0.5, rtol=1e-12)
        assert s["y0"] == pytest.approx(1.5 * (s["x0"] - rm) / np.sqrt(rv + EPS) + 0.5, rel=1e-12)
    # after 100 batches the running values are close to the population's, so inference ~ training
    assert s["running_mean"] == pytest.approx(POPULATION_MEAN, abs=0.4)
    assert s["running_var"] == pytest.approx(POPULATION_VAR, abs=1.2)
    assert abs(s["y"].mean() - 0.5) < 0.5
    # before any training batch the layer is (almost) the identity: nothing is normalized
    demo.controls["step"].value = 0
    assert demo.state["y"].mean() == pytest.approx(1.5 * demo.state["x"].mean() / np.sqrt(1 + EPS) + 0.5)


def test_a_samples_training_output_depends_on_its_batch(demo):
    outs = []
    for k in (10, 11, 12):
        demo.controls["step"].value = k
        outs.append(demo.state["y0"])
    assert np.ptp(outs) > 0.05
    # at inference it depends only on the running statistics, not on the batch shown with it
    demo.controls["mode"].value = "inference"
    demo.controls["step"].value = 10
    s = demo.state
    assert s["y0"] == pytest.approx((s["x0"] - s["running_mean"]) / np.sqrt(s["running_var"] + EPS))


def test_running_statistics_function():
    rng = np.random.default_rng(3)
    batches = rng.normal(5.0, 2.0, size=(300, 64))
    means, variances = running_statistics(batches, 0.1)
    assert means.shape == variances.shape == (301,)
    assert (means[0], variances[0]) == (0.0, 1.0)
    assert means[-1] == pytest.approx(5.0, abs=0.2) and variances[-1] == pytest.approx(4.0, abs=0.5)


def test_histograms_show_the_batch(demo):
    demo.controls["batch_size"].value = 256
    demo.controls["step"].value = 7
    s = demo.state
    hist_x, hist_y = demo.fig.axes[0].patches[0], demo.fig.axes[1].patches[0]
    data = hist_x.get_data()
    np.testing.assert_allclose(data.values, np.histogram(s["x"], bins=data.edges, density=True)[0])
    data = hist_y.get_data()
    np.testing.assert_allclose(data.values, np.histogram(s["y"], bins=data.edges, density=True)[0])
    assert len(s["x"]) == 256


def test_no_control_needs_a_new_picture_of_the_static_parts(demo):
    moves = [("momentum", 0.25), ("batch_size", 8), ("gamma", 2.0), ("mode", "inference"), ("step", 50)]
    assert new_captures(demo, moves) == 0
    rm_line = demo.fig.axes[2].get_lines()[0]
    np.testing.assert_allclose(rm_line.get_ydata(), demo.state["running_mean_path"])


def test_every_control_changes_the_output(demo):
    before = demo.state["y"].copy()
    for name, value in [("gamma", 2.0), ("beta", 1.0), ("step", 9), ("batch_size", 64), ("momentum", 0.3)]:
        demo.controls[name].value = value
        assert demo.state[name] == value
    demo.controls["mode"].value = "inference"
    assert not np.allclose(demo.state["y"][: len(before)], before)
    demo.render()
    assert demo.errors == []


def test_a_bad_value_reaches_the_output_area(demo):
    errors, shown = pick_refused(demo, "batch_size", 1)
    assert len(errors) == 1 and "at least 2 samples" in errors[0]
    assert "ValueError" in shown
    demo.controls["batch_size"].value = 16
    assert len(demo.state["x"]) == 16
