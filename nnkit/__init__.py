"""nnkit: the reference implementation of every formula in the neural-network fundamentals course.

One concept per module::

    neurons         McCulloch-Pitts unit, perceptron, Adaline, logic gates, the XOR network
    activations     step ... GELU, softmax (+ Jacobian), log-softmax; registry ACTIVATIONS (ActivationSpec)
    losses          MSE (mean and 1/2 forms), MAE, cross-entropies, KL, Hellinger; registry LOSSES
    layers          Dense, activation layers, inverted Dropout (forward/backward pairs; layers call them)
    normalization   BatchNorm, LayerNorm, GroupNorm, InstanceNorm
    initializers    zeros/constant, uniform, normal, Xavier/Glorot, He/Kaiming
    model           Sequential / MLP with parameters named W1, b1, ...
    optimizers      SGD, Momentum (3 conventions), Nesterov, Adagrad, RMSprop, Adadelta, Adam, AdamW, Rprop
    optimizer_base  the Optimizer base class: hyperparameters apart from state, a checked step
    trajectories    an optimizer's path on a gradient function (optimize_path, Sutskever's Nesterov)
    schedules       learning-rate schedules: decays, cosine, linear warmup, sequential
    clipping        clipping by value and by norm (global or per tensor)
    regularization  L1/L2 penalties, early stopping
    training        mini-batches and the fit loop
    history         History: what fit records per epoch, and its learning curves
    lr_finder       the learning-rate range test ("LR finder")
    gradcheck       numerical gradient checking of functions, layers and models
    gradcheck_results  GradCheckResult / TensorCheck: the gradable results and their tables
    autodiff        a micrograd-style scalar autodiff
    datasets        offline toy datasets, digits, iris, splitting
    augmentation    shifts, rotations and noise for the 8x8 digits
    surfaces        loss surfaces for optimizer demos
    demos           the lectures' interactive widgets (ipywidgets + ipympl)

Submodules load on first use (``nnkit.losses`` works after ``import nnkit``), so importing
the package stays cheap: a grading sandbox or a lecture imports only what it touches.

Conventions shared by every module: rows are samples (``x`` has shape ``(N, D)``); float64
by default and float32 kept as float32; anything random takes an explicit
``numpy.random.Generator``; bad input raises an error naming the argument, what was expected
and what arrived.
"""
import importlib

__version__ = "0.1.0"

__all__ = [
    "neurons", "activations", "losses", "layers", "normalization", "initializers", "model",
    "optimizers", "optimizer_base", "trajectories", "schedules", "clipping", "regularization", "training",
    "history", "lr_finder", "gradcheck", "gradcheck_results", "autodiff", "datasets", "augmentation", "surfaces",
    "demos",
]


def __getattr__(name):
    if name in __all__:
        module = importlib.import_module(f"{__name__}.{name}")
        globals()[name] = module
        return module
    raise AttributeError(f"module 'nnkit' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))
