"""Assignment 03_two_layer's synthetic students (data for ``tests/test_grading_end_to_end.py``).

Plausible wrong answers (each breaks one graded function) and tampering attempts; see
``grading_cases/__init__.py``.
"""
from grading_harness import (
    EVERY_CELL, PARTIAL, answers, ends_its_process, patched_checker, usual_tampering,
)

A, NB = "03_two_layer", "two_layer"
MANUAL = ["twolayer_derivation"]
AGAIN = "wrong_tanh"
SOLUTION_FEEDBACK = ["backward: 4 / 4 points"]


def backward_with(dz2="(c['y_hat'] - Y) / N", tanh_d="1 - c['a1'] ** 2", dW2="c['a1'].T @ dz2"):
    return f'''
def backward(X, Y, params):
    c = forward(X, params)
    N = X.shape[0]
    dz2 = {dz2}
    dz1 = (dz2 @ params["W2"].T) * ({tanh_d})
    return {{"W1": X.T @ dz1, "b1": dz1.sum(axis=0), "W2": {dW2}, "b2": dz2.sum(axis=0)}}
'''


STABLE_SOFTMAX = "    e = np.exp(z - z.max(axis=-1, keepdims=True))\n    s = e / e.sum(axis=-1, keepdims=True)\n"

WRONG = {
    # tanh'(z) written as 1 - tanh(z): the square is missing
    "wrong_tanh": ({"backward_code": backward_with(tanh_d="1 - c['a1']")},
                   {"twolayer_backward": PARTIAL},
                   ["dW1: relative error", "taken as 1 - tanh(z), which is not the derivative of tanh"]),
    # sigmoid'(z) taken as sigmoid(z): every gradient is off
    "wrong_sigmoid": ({"backward_code": backward_with(
        dz2="-(Y / c['y_hat'] - (1 - Y) / (1 - c['y_hat'])) / N * c['y_hat']")},
        {"twolayer_backward": 0.0},
        ["it matches the gradient you get with sigmoid'(z) = sigmoid(z)", "the derivative is s(1 - s)"]),
    # dW2 = dz2.T @ a1: a transpose in the wrong place
    "wrong_transpose": ({"backward_code": backward_with(dW2="dz2.T @ c['a1']")},
                        {"twolayer_backward": PARTIAL},
                        ["dW2: analytic gradient has shape (2, 1), expected (1, 2)",
                         "a transpose is missing or misplaced"]),
    # the softmax Jacobian without its diagonal term s_i delta_ij
    "wrong_jacobian_diag": ({"softmax_jacobian_code": "def softmax_jacobian(z):\n    s = softmax(z)\n    return -np.outer(s, s)\n"},
                            {"twolayer_softmax_jacobian": PARTIAL},
                            ["J diagonal (i = j): relative error", "the delta_ij term is missing"]),
    # p - y not divided by the batch size
    "wrong_ce_no_mean": ({"softmax_ce_grad_code": '''
def softmax_ce_grad(logits, y):
    P = softmax(logits)
    Y = np.eye(logits.shape[1])[y] if y.ndim == 1 else y
    return P - Y
'''}, {"twolayer_softmax_ce_grad": PARTIAL}, ["it is N times the right gradient (N the batch size): divide by N"]),
    # the naive softmax (overflows at |z| ~ 1000) and a loss averaged over all 2N entries;
    # the Jacobian and the p - y gradient use their own stable softmax and stay right
    "wrong_softmax_and_loss": ({
        "softmax_code": "def softmax(z):\n    e = np.exp(z)\n    return e / e.sum(axis=-1, keepdims=True)\n",
        "softmax_jacobian_code": "def softmax_jacobian(z):\n" + STABLE_SOFTMAX + "    return np.diag(s) - np.outer(s, s)\n",
        "softmax_ce_grad_code": "def softmax_ce_grad(logits, y):\n    z = logits\n" + STABLE_SOFTMAX
        + "    Y = np.eye(z.shape[1])[y] if y.ndim == 1 else y\n    return (s - Y) / z.shape[0]\n",
        "loss_code": "def loss(y_hat, Y):\n    return float(-np.mean(Y * np.log(y_hat) + (1 - Y) * np.log(1 - y_hat)))\n",
    }, {"twolayer_softmax": PARTIAL, "twolayer_loss": 0.0},
        ["subtract the maximum of each row before exponentiating", "that is the mean over all N * 2 entries"]),
}

INLINE_BACKWARD = '''
def backward(X, Y, params):
    a1 = np.tanh(X @ params["W1"] + params["b1"])
    y_hat = 1 / (1 + np.exp(-(a1 @ params["W2"] + params["b2"])))
    dz2 = (y_hat - Y) / X.shape[0]
    dz1 = (dz2 @ params["W2"].T) * (1 - a1 ** 2)
    return {"W1": X.T @ dz1, "b1": dz1.sum(axis=0), "W2": a1.T @ dz2, "b2": dz2.sum(axis=0)}
'''


F = answers(A, NB)
TAMPER = usual_tampering(
    patch=patched_checker(F["forward"], {"nnkit.activations.tanh": 'lambda z: "whatever you like"',
                                          "nnkit.activations.sigmoid": 'lambda z: "whatever you like"',
                                          "nnkit.gradcheck.rel_error": "lambda a, b, floor=1e-8: 0.0"},
                          also={"backward_code": INLINE_BACKWARD}),
    unwritten=(F["softmax_jacobian"], F["loss"], F["softmax_ce_grad"]),
    loop=F["softmax_ce_grad"],
    kill=ends_its_process(F["softmax_jacobian"], kill_after="twolayer_loss"),
    # (e) answering with nnkit's own implementations (and hiding one call from the profiler)
    nnkit=({
        "forward_code": '''
from nnkit.layers import dense_forward
from nnkit import activations as A
def forward(X, params):
    z1 = dense_forward(X, params["W1"], params["b1"])[0]
    a1 = A.tanh(z1)
    z2 = dense_forward(a1, params["W2"], params["b2"])[0]
    return {"z1": z1, "a1": a1, "z2": z2, "y_hat": A.sigmoid(z2)}
''',
        "loss_code": '''
import nnkit.losses
def loss(y_hat, Y):
    return 2 * nnkit.losses.binary_cross_entropy(y_hat, Y)
''',
        "backward_code": '''
from nnkit.layers import dense_backward
from nnkit.activations import tanh_grad
def backward(X, Y, params):
    z1, c1 = dense_forward(X, params["W1"], params["b1"])
    z2, c2 = dense_forward(A.tanh(z1), params["W2"], params["b2"])
    da1, dW2, db2 = dense_backward((A.sigmoid(z2) - Y) / X.shape[0], c2)
    _, dW1, db1 = dense_backward(da1 * tanh_grad(z1), c1)
    return {"W1": dW1, "b1": db1, "W2": dW2, "b2": db2}
''',
        "softmax_code": "from nnkit.activations import softmax as _reference\nsoftmax = lambda z: _reference(z)\n",
        "softmax_jacobian_code": '''
import sys
import nnkit.activations as nka
def softmax_jacobian(z):
    hook = sys.getprofile()
    sys.setprofile(None)
    J = nka.softmax_jacobian(z)
    sys.setprofile(hook)
    return J
''',
        "softmax_ce_grad_code": '''
from nnkit.gradcheck import numerical_gradient
from nnkit.losses import softmax_cross_entropy
def softmax_ce_grad(logits, y):
    z = np.array(logits, dtype=float)
    return numerical_gradient(lambda t: softmax_cross_entropy(t, y), z)
''',
    }, {EVERY_CELL: 0.0},
        ["called nnkit.layers.dense_forward", "called nnkit.losses.binary_cross_entropy,",
         "nnkit.layers.dense_backward", "nnkit.activations.tanh_grad", "called nnkit.activations.softmax,",
         "called nnkit.gradcheck.numerical_gradient", "changed the Python profiler",
         "nnkit's own implementation of what this exercise asks you to write"]),
)
