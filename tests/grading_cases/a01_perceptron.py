"""Assignment 01_perceptron's synthetic students (data for ``tests/test_grading_end_to_end.py``).

The solution and the release are graded too; see ``grading_cases/__init__.py`` for the fields.
"""
from grading_harness import (
    PARTIAL, answers, edited, ends_its_process, patched_checker, solution_sources, usual_tampering,
)

A, NB = "01_perceptron", "perceptron"
SOLUTION = solution_sources(A, NB)
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
        "perceptron_update_solution": edited(SOLUTION["perceptron_update_solution"], "b + lr * t", "b"),
        # train_perceptron does its own (right) update, so only perceptron_update's test notices
        "train_perceptron_solution": edited(SOLUTION["train_perceptron_solution"], "perceptron_update(w, b, x_i, t_i, lr)",
                                            "w + lr * t_i * x_i, b + lr * t_i"),
    }, {"perceptron_update": PARTIAL},
        ["b_new: relative error", "a mistake, so w += lr * t * x and b += lr * t"]),
    # the final, mistake-free epoch is not counted
    "epochs_off_by_one": ({
        "train_perceptron_solution": edited(SOLUTION["train_perceptron_solution"], "range(1, max_epochs + 1)",
                                            "range(max_epochs)"),
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


F = answers(A, NB)
TAMPER = usual_tampering(
    patch=patched_checker(F["mp_neuron"], {"nnkit.neurons.McCullochPitts.__call__": 'lambda self, x: "whatever you like"'},
                          also={"xor_network_solution": XOR_OWN_STEP}),
    unwritten=(F["xor_network"], F["train_perceptron"], F["gate_weights"]),
    loop=F["xor_network"],
    kill=ends_its_process(F["mp_neuron"], kill_after="perceptron_gate_weights",
                          also={"xor_network_solution": XOR_OWN_STEP}),
    # mcp_gate, nnkit's own perceptron and a step hidden from the profiler
    nnkit=({
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
)
