"""Assignment 01_perceptron's synthetic students (data for ``tests/test_grading_end_to_end.py``).

The solution and the release are graded too; see ``grading_cases/__init__.py`` for the fields.
"""
from grading_harness import (
    PARTIAL, endless_loop, ends_its_process, patch_the_checker, unwritten_with_tampered_tests,
)

A, NB = "01_perceptron", "perceptron"
MANUAL = ["xor_why"]
AGAIN = "wrong_threshold"
SOLUTION_FEEDBACK = ["mp_neuron: 2 / 2 points"]


XOR_OWN_STEP = '''
def xor_network(X):
    X = np.asarray(X, dtype=float)
    step = lambda z: (z >= 0).astype(int)
    H = step(X @ np.array([[1.0, -1.0], [1.0, -1.0]]) + np.array([-1.0, 1.5]))  # OR, NAND
    return step(H @ np.array([1.0, 1.0]) - 2.0)                                  # AND
'''

WRONG = {
    # '>' where the unit must fire at the threshold
    "wrong_threshold": ({
        "mp_neuron_solution": "def mp_neuron(x, w, theta):\n    return (np.asarray(x) @ np.asarray(w) > theta).astype(int)\n",
        "xor_network_solution": XOR_OWN_STEP,
    }, {"perceptron_mp_neuron": PARTIAL},
        ["the unit fires when the sum reaches the threshold (>=)"]),
    # the bias is never updated
    "no_bias_update": ({
        "perceptron_update_solution": "def perceptron_update(w, b, x, t, lr):\n    if t * (x @ w + b) <= 0:\n        return w + lr * t * x, b\n    return w, b\n",
        "train_perceptron_solution": '''
def train_perceptron(X, t, lr=1.0, max_epochs=100):
    w, b = np.zeros(X.shape[1]), 0.0
    for epoch in range(1, max_epochs + 1):
        mistakes = 0
        for x_i, t_i in zip(X, t):
            if t_i * (x_i @ w + b) <= 0:
                w, b = w + lr * t_i * x_i, b + lr * t_i
                mistakes += 1
        if mistakes == 0:
            return w, b, True, epoch
    return w, b, False, max_epochs
''',
    }, {"perceptron_update": PARTIAL},
        ["b_new: relative error", "a mistake, so w += lr * t * x and b += lr * t"]),
    # the final, mistake-free epoch is not counted
    "epochs_off_by_one": ({
        "train_perceptron_solution": '''
def train_perceptron(X, t, lr=1.0, max_epochs=100):
    w, b = np.zeros(X.shape[1]), 0.0
    for epoch in range(max_epochs):
        mistakes = 0
        for x_i, t_i in zip(X, t):
            if t_i * (x_i @ w + b) <= 0:
                w, b = perceptron_update(w, b, x_i, t_i, lr)
                mistakes += 1
        if mistakes == 0:
            return w, b, True, epoch
    return w, b, False, max_epochs
''',
    }, {"perceptron_train": PARTIAL},
        ["epochs: got", "count every pass over the data, the final pass without mistakes included"]),
    # the output layer keeps a column: (N, 1) instead of (N,)
    "xor_column": ({
        "xor_network_solution": '''
def xor_network(X):
    H = np.stack([mp_neuron(X, np.array([1.0, 1.0]), 1.0), mp_neuron(X, np.array([-1.0, -1.0]), -1.0)], axis=1)
    return (H @ np.array([[1.0], [1.0]]) >= 2.0).astype(int)
''',
    }, {"perceptron_xor_network": 0.0},
        ["output: shape (4, 1), expected (4,)"]),
}


TAMPER = {
    # (a) monkeypatch numpy's comparisons, the checker, nnkit's reference; return an always-equal object
    "tamper_patch": ({
        "mp_neuron_solution": patch_the_checker(
            "import builtins, nnkit.neurons\n"
            'nnkit.neurons.McCullochPitts.__call__ = lambda self, x: "whatever you like"\n',
            "mp_neuron(x, w, theta)"),
        "xor_network_solution": XOR_OWN_STEP,
    }, {"perceptron_mp_neuron": 0.0}, ["returned an object of type AlwaysRight"]),
    # (b) three answers not written; the xor test cell deleted, the train one rewritten, the gate one stripped
    "tamper_tests": unwritten_with_tampered_tests(
        delete=("perceptron_xor_network", "xor_network_solution", "xor_network(X)"),
        rewrite=("perceptron_train", "train_perceptron_solution", "train_perceptron(X, t, lr=1.0, max_epochs=100)"),
        strip=("perceptron_gate_weights", "gate_weights_solution", "gate_weights(name)")),
    # (c) an endless loop inside a graded function
    "tamper_loop": endless_loop("xor_network_solution", "xor_network(X)", "perceptron_xor_network"),
    # (d) a function that ends its own process, and a cell that kills the kernel
    "tamper_kill": ends_its_process("mp_neuron_solution", "mp_neuron(x, w, theta)", "perceptron_mp_neuron",
                                    also={"xor_network_solution": XOR_OWN_STEP},
                                    kill_after="perceptron_gate_weights"),
    # (e) answering with nnkit's own implementations (and hiding one call from the profiler)
    "tamper_nnkit": ({
        "gate_weights_solution": '''
from nnkit.neurons import mcp_gate
def gate_weights(name):
    unit = mcp_gate(name)
    return np.array(unit.weights), unit.threshold
''',
        "perceptron_update_solution": '''
import sys
import nnkit.neurons as nkn
def perceptron_update(w, b, x, t, lr):
    hook = sys.getprofile()
    sys.setprofile(None)
    r = nkn.train_perceptron(x[None, :], np.array([t]), lr=lr, max_epochs=1, initial_weights=w, initial_bias=b)
    sys.setprofile(hook)
    return r.weights, r.bias
''',
        "train_perceptron_solution": '''
import nnkit
def train_perceptron(X, t, lr=1.0, max_epochs=100):
    r = nnkit.neurons.train_perceptron(X, t, lr=lr, max_epochs=max_epochs)
    return r.weights, r.bias, r.converged, r.epochs
''',
        "xor_network_solution": "from nnkit.neurons import xor_network as _reference\nxor_network = lambda X: _reference(X)\n",
    }, {"perceptron_gate_weights": 0.0, "perceptron_update": 0.0, "perceptron_train": 0.0, "perceptron_xor_network": 0.0},
        ["called nnkit.neurons.train_perceptron, nnkit's own implementation", "called nnkit.neurons.mcp_gate",
         "called nnkit.neurons.xor_network", "changed the Python profiler"]),
}
