"""Every demo builder checks its arguments: a bad one is refused, before any figure is made, with
the exception and a message that names the argument. One table, so the limits of all the demos
read together (and a new demo adds its rows here)."""
import pytest

from nnkit.demos.activation_explorer import activation_explorer
from nnkit.demos.augmentation_explorer import augmentation_explorer
from nnkit.demos.batchnorm_explorer import batchnorm_explorer
from nnkit.demos.capacity_explorer import capacity_explorer
from nnkit.demos.dropout_explorer import dropout_explorer
from nnkit.demos.lr_explorer import lr_explorer
from nnkit.demos.normalization_axes import normalization_axes
from nnkit.demos.optimizer_race import optimizer_race
from nnkit.demos.playground import playground
from nnkit.demos.regularization_geometry import regularization_geometry
from nnkit.demos.universal_approximation import universal_approximation
from nnkit.demos.vanishing_gradients import vanishing_gradients

REFUSED = [  # (builder, arguments, exception, message)
    (activation_explorer, {"activation": "swish"}, ValueError, "activation must be one of"),
    (activation_explorer, {"x_range": 0.5}, ValueError, r"x_range must be in \[1, 20\]; got 0.5"),
    (activation_explorer, {"threshold": 0.9}, ValueError, "threshold must be in"),
    (augmentation_explorer, {"max_shift": 3}, ValueError, "max_shift must be an integer in 0..2"),
    (augmentation_explorer, {"max_degrees": 90}, ValueError, r"max_degrees must be in \[0, 45\]"),
    (augmentation_explorer, {"noise": -1}, ValueError, "noise must be"),
    (augmentation_explorer, {"n_rows": 0}, ValueError, "n_rows must be an integer"),
    (batchnorm_explorer, {"batch_size": 3}, ValueError, "batch_size must be one of"),
    (batchnorm_explorer, {"momentum": 0.0}, ValueError, r"momentum must be in \(0, 1\]"),
    (batchnorm_explorer, {"n_batches": 0}, ValueError, "n_batches must be an integer >= 1"),
    (batchnorm_explorer, {"rng": None, "n_batches": 1000}, ValueError, "n_batches must be an integer in 1..500"),
    (capacity_explorer, {"vary": "height"}, ValueError, "vary must be one of"),
    (capacity_explorer, {"width": 5}, ValueError, "width must be one of"),
    (capacity_explorer, {"depth": 9}, ValueError, "depth must be one of"),
    (capacity_explorer, {"n_steps": 0}, ValueError, "n_steps must be an integer"),
    (dropout_explorer, {"p_drop": 0.95}, ValueError, r"p_drop must be in \[0, 0.9\]"),
    (dropout_explorer, {"p_drop": -0.1}, ValueError, r"p_drop must be in \[0, 1\]"),
    (dropout_explorer, {"scaling": "keep"}, ValueError, "scaling must be one of"),
    (dropout_explorer, {"n_units": 1}, ValueError, "n_units must be an integer >= 2"),
    (dropout_explorer, {"n_masks": 5000}, ValueError, "n_masks must be an integer in 1..1000"),
    (dropout_explorer, {"rng": 1}, TypeError, "rng must be a numpy.random.Generator"),
    (lr_explorer, {"function": "cubic"}, ValueError, "function must be one of"),
    (lr_explorer, {"lr": 20.0}, ValueError, r"lr must be in \[1e-4, 10\]; got 20"),
    (lr_explorer, {"steps": 500}, ValueError, "steps must be an integer in 1..200"),
    (normalization_axes, {"method": "weight"}, ValueError, "method must be one of"),
    (normalization_axes, {"groups": 4}, ValueError, "groups must divide C = 6"),
    (normalization_axes, {"layout": "(N, H, W)"}, ValueError, "layout must be one of"),
    (optimizer_race, {"surface": "ackley"}, ValueError, "surface must be one of"),
    (optimizer_race, {"optimizers": ("sgd", "lion")}, ValueError, "optimizers entry must be one of"),
    (optimizer_race, {"n_steps": 1000}, ValueError, "n_steps must be an integer in 10..500"),
    (playground, {"dataset": "iris"}, ValueError, "dataset must be one of"),
    (playground, {"hidden": "a"}, ValueError, "hidden must be comma-separated"),
    (playground, {"activation": "softmax"}, ValueError, "activation must be one of"),
    (playground, {"lr": 10.0}, ValueError, r"lr must be in \[0.001, 3\]"),
    (playground, {"l2": 0.5}, ValueError, "l2 must be one of"),
    (playground, {"n_frames": 300}, ValueError, "n_frames must be an integer in 2..101"),
    (playground, {"rng": 0}, TypeError, "rng must be a numpy.random.Generator"),
    (regularization_geometry, {"lam": -1.0}, ValueError, "lam must be >= 0"),
    (regularization_geometry, {"lam": 5.0}, ValueError, r"lam must be in \[0, 4\]"),
    (regularization_geometry, {"loss": "saddle"}, ValueError, "loss must be one of"),
    (universal_approximation, {"target": "cube"}, ValueError, "target must be one of"),
    (universal_approximation, {"activation": "sigmoid"}, ValueError, "activation must be one of"),
    (universal_approximation, {"units": 5}, ValueError, "units must be one of"),
    (universal_approximation, {"n_steps": -1}, ValueError, "n_steps must be an integer"),
    (vanishing_gradients, {"depth": 31}, ValueError, "depth must be an integer in 2..30"),
    (vanishing_gradients, {"depth": 1}, ValueError, "depth must be an integer >= 2"),
    (vanishing_gradients, {"activation": "step"}, ValueError, "activation must be one of"),
    (vanishing_gradients, {"init": "glorot"}, ValueError, "init must be one of"),
    (vanishing_gradients, {"lr": 5.0}, ValueError, r"lr must be in \[0.001, 1\]"),
    (vanishing_gradients, {"n_steps": 1000}, ValueError, "n_steps must be an integer in 1..200"),
    (vanishing_gradients, {"rng": 3}, TypeError, "rng must be a numpy.random.Generator"),
]


@pytest.mark.parametrize("builder, kwargs, error, message", [
    pytest.param(*row, id=f"{row[0].__name__}-{','.join(row[1])}") for row in REFUSED])
def test_a_bad_argument_is_refused_by_name(builder, kwargs, error, message):
    with pytest.raises(error, match=message):
        builder(**kwargs)
