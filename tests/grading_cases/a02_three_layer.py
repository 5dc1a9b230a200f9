"""Assignment 02_three_layer's synthetic students (data for ``tests/test_grading_end_to_end.py``).

Plausible wrong derivations (sigmoid' written as sigmoid, a missing transpose, a bias gradient not
summed over the batch, the squared loss without its 1/2, the output error a - y used with the
squared loss, a forgotten cache entry) and tampering attempts; see ``grading_cases/__init__.py``.
"""
from grading_harness import (
    PARTIAL, answers, ends_its_process, patch_the_checker, usual_tampering,
)

A, NB = "02_three_layer", "three_layer"
MANUAL = ["three_layer_derivation"]
AGAIN = "wrong_transpose"
SOLUTION_FEEDBACK = ["backward_squared: 5 / 5 points (8 of 8 cases passed)"]


def backward(name, *, d3, d2="(d3 @ params['W3'].T) * c['a2'] * (1 - c['a2'])",
             d1="(d2 @ params['W2'].T) * (c['z1'] > 0)", dW2="c['a1'].T @ d2", db1="d1.sum(axis=0)"):
    """A backward pass written like a student would, with any one line replaced."""
    return f'''
def {name}(X, y, params):
    y_hat, c = forward(X, params)
    N = X.shape[0]
    d3 = {d3}
    d2 = {d2}
    d1 = {d1}
    return {{"W1": X.T @ d1, "b1": {db1}, "W2": {dW2}, "b2": d2.sum(axis=0),
            "W3": c["a2"].T @ d3, "b3": d3.sum(axis=0)}}
'''


SQ_D3 = "(y_hat - y) * y_hat * (1 - y_hat) / N"
CE_D3 = "(y_hat - y) / N"

WRONG = {
    # sigma'(z2) written as sigma(z2) in the squared-loss backward pass
    "wrong_sigmoid_grad": ({
        "backward_squared_solution": backward("backward_squared", d3=SQ_D3, d2="(d3 @ params['W3'].T) * c['a2']"),
    }, {"three_layer_backward_squared": PARTIAL},
        ["dW2: relative error", "it matches sigma'(z2) written as sigma(z2)"]),
    # dW2 = delta2.T @ a1: the transposed gradient of a square matrix
    "wrong_transpose": ({
        "backward_cross_entropy_solution": backward("backward_cross_entropy", d3=CE_D3, dW2="d2.T @ c['a1']"),
    }, {"three_layer_backward_cross_entropy": PARTIAL},
        ["dW2: relative error", "its transpose matches: a transpose is missing or misplaced"]),
    # db1 keeps one row per sample
    "wrong_bias_sum": ({
        "backward_cross_entropy_solution": backward("backward_cross_entropy", d3=CE_D3, db1="d1"),
    }, {"three_layer_backward_cross_entropy": PARTIAL},
        ["db1: analytic gradient has shape", "it has an extra leading batch axis: sum it over the batch (axis 0)"]),
    # the squared loss without its 1/2 (a 1-point function: every case is off, so it scores 0)
    "wrong_half": ({
        "squared_loss_solution": "def squared_loss(y_hat, y):\n    return float(np.mean((y_hat - y) ** 2))\n",
    }, {"three_layer_squared_loss": 0.0},
        ["your value is twice the expected one: this course uses the 1/2 form"]),
    # slip 8: the output error a - y used with the squared loss
    "wrong_output_error": ({
        "backward_squared_solution": backward("backward_squared", d3=CE_D3),
    }, {"three_layer_backward_squared": 0.0},
        ["dW3: relative error", "it matches the output error a3 - y, which belongs to the cross-entropy loss, "
                                "not the squared loss"]),
    # z3 left out of the cache (the output itself is right)
    "wrong_cache": ({
        "forward_solution": '''
def forward(X, params):
    a1 = np.maximum(X @ params["W1"] + params["b1"], 0)
    z1 = X @ params["W1"] + params["b1"]
    z2 = a1 @ params["W2"] + params["b2"]
    a2 = 1 / (1 + np.exp(-z2))
    y_hat = 1 / (1 + np.exp(-(a2 @ params["W3"] + params["b3"])))
    return y_hat, {"z1": z1, "a1": a1, "z2": z2, "a2": a2}
''',
    }, {"three_layer_forward": PARTIAL}, ["cache['z3']: missing"]),
}


F = answers(A, NB)
TAMPER = usual_tampering(
    # the losses are floats: the impostor subclasses float, and the cross-entropy returns 0.0 outright
    patch=({
        "squared_loss_solution": patch_the_checker(
            {"nnkit.losses.half_mse": "lambda *a, **k: 0.0", "nnkit.losses.binary_cross_entropy": "lambda *a, **k: 0.0"},
            "squared_loss(y_hat, y)", base="float", value="0.0"),
        "cross_entropy_loss_solution": "def cross_entropy_loss(y_hat, y):\n    return 0.0\n",
    }, {"three_layer_squared_loss": 0.0, "three_layer_cross_entropy_loss": 0.0},
        ["loss: relative error 1 (expected <= 1e-09): got 0"]),
    unwritten=(F["squared_loss"], F["cross_entropy_loss"], F["backward_cross_entropy"]),
    loop=F["backward_cross_entropy"],
    kill=ends_its_process(F["backward_squared"], kill_after="three_layer_forward"),
    # answering with nnkit's own implementations (and hiding one call from the profiler)
    nnkit=({
        "squared_loss_solution": '''
import sys
import nnkit.losses as nkl
def squared_loss(y_hat, y):
    hook = sys.getprofile()
    sys.setprofile(None)
    value = nkl.half_mse(y_hat, y)
    sys.setprofile(hook)
    return value
''',
        "cross_entropy_loss_solution": '''
from nnkit.losses import binary_cross_entropy
def cross_entropy_loss(y_hat, y):
    return binary_cross_entropy(y_hat, y)
''',
        "backward_cross_entropy_solution": '''
import nnkit
from nnkit.layers import Activation, Dense
from nnkit.model import Sequential, loss_and_grads
def backward_cross_entropy(X, y, params):
    rng = np.random.default_rng(0)
    model = Sequential([Dense(3, 2, rng), Activation("relu"), Dense(2, 2, rng), Activation("sigmoid"),
                        Dense(2, 1, rng), Activation("sigmoid")])
    model.set_params(params)
    return loss_and_grads(model, X, y, "binary_cross_entropy")[1]
''',
    }, {"three_layer_squared_loss": 0.0, "three_layer_cross_entropy_loss": 0.0,
        "three_layer_backward_cross_entropy": 0.0},
        ["called nnkit.losses.binary_cross_entropy, nnkit's own implementation",
         "called nnkit.model.loss_and_grads", "changed the Python profiler"]),
)
