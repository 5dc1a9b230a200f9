"""Assignment 04_optimizers's synthetic students (data for ``tests/test_grading_end_to_end.py``).

The classic slips of the optimizer slides (momentum applying the learning rate twice, RMSprop
averaging g instead of g**2, Adam without bias correction, Adagrad's eps inside the square root,
...) and tampering attempts; see ``grading_cases/__init__.py``.
"""
from grading_harness import (
    PARTIAL, answers, ends_its_process, patched_checker, usual_tampering,
)

A, NB = "04_optimizers", "optimizers"
MANUAL = ["optim_q_momentum", "optim_q_adagrad", "optim_q_saddle", "optim_q_adam"]
AGAIN = "adagrad_eps_inside_root"
SOLUTION_FEEDBACK = ["adam_step: 3 / 3 points (10 of 10 cases passed)"]
SOLUTION_FEEDBACK_OMITS = ["run_optimizer: "]


WRONG = {
    # slip 1: the slide's momentum, v = mu*v + lr*g; w -= lr*v
    "momentum_lr_twice": ({
        "optim_momentum_solution": '''
def momentum_step(w, g, v, lr, mu):
    v_new = mu * v + lr * g
    return w - lr * v_new, v_new
''',
    }, {"optim_momentum": 0.0},
        ["momentum_step: 0 / 2 points",
         "w differs from step 1 of 20 on",
         "the learning rate is applied twice (v = mu*v + lr*g, then w - lr*v"]),
    # slip 3: the slide's RMSprop averages g itself (NaN where the average turns negative)
    "rmsprop_average_of_g": ({
        "optim_rmsprop_solution": '''
def rmsprop_step(w, g, s, lr, beta, eps):
    s_new = beta * s + (1 - beta) * g
    return w - lr * g / (np.sqrt(s_new) + eps), s_new
''',
    }, {"optim_rmsprop": 0.0},
        ["w_new: contains nan",
         "the running average must be of the *squared* gradient, s = beta*s + (1 - beta)*g**2 (slip 3"]),
    # slip 6: Adam without bias correction (the moments are still right: partial credit)
    "adam_no_bias_correction": ({
        "optim_adam_solution": '''
def adam_step(w, g, m, v, t, lr, beta1, beta2, eps):
    m = beta1 * m + (1 - beta1) * g
    v = beta2 * v + (1 - beta2) * g**2
    return w - lr * m / (np.sqrt(v) + eps), m, v
''',
    }, {"optim_adam": PARTIAL},
        ["this is Adam without bias correction (the slide's slip 6)",
         "divide m by (1 - beta1**t) and v by (1 - beta2**t) before the step"]),
    # slip 5: eps inside the square root; only the cases with a large eps notice
    "adagrad_eps_inside_root": ({
        "optim_adagrad_solution": '''
def adagrad_step(w, g, G, lr, eps):
    G_new = G + g**2
    return w - lr * g / np.sqrt(G_new + eps), G_new
''',
    }, {"optim_adagrad": PARTIAL},
        ["visible case 1 [one step, w (2,), zero state, lr=0.5, eps=1e-10]: ok",
         "eps sits inside the square root, lr*g/sqrt(G + eps)",
         "20 steps on rosenbrock from (-1.2, 1), lr=0.5, eps=0.5 (a large eps)]: FAILED"]),
    # two conventions mixed up: classical momentum (same weights, but v is -lr times the PyTorch
    # velocity) and a Nesterov that is plain momentum (right v, wrong w)
    "mixed_up_conventions": ({
        "optim_momentum_solution": '''
def momentum_step(w, g, v, lr, mu):
    v = mu * v - lr * g
    return w + v, v
''',
        "optim_nesterov_solution": '''
def nesterov_step(w, g, v, lr, mu):
    v = mu * v + g
    return w - lr * v, v
''',
    }, {"optim_momentum": PARTIAL, "optim_nesterov": PARTIAL},
        ["v differs from step 1 of 20 on",
         "this is the classical convention (v = mu*v - lr*g; w = w + v)",
         "this is plain momentum, w - lr*v", "Nesterov steps with w - lr*(g + mu*v) using the *updated* v"]),
}


F = answers(A, NB)
TAMPER = usual_tampering(
    patch=patched_checker(F["sgd_step"], {"nnkit.optimizers.SGD._update": "lambda self, p, g, t: None"}),
    unwritten=(F["adam_step"], F["rmsprop_step"], F["nesterov_step"]),
    loop=F["adagrad_step"],
    kill=ends_its_process(F["momentum_step"], kill_after="optim_sgd"),
    # answering with nnkit's own optimizers (one of them hiding from the profiler)
    nnkit=({
        "optim_sgd_solution": '''
from nnkit.optimizers import SGD
def sgd_step(w, g, lr):
    params = {"w": np.array(w, dtype=float)}
    opt = SGD(lr)
    opt.step(params, {"w": np.array(g, dtype=float)}, opt.init_state(params))
    return params["w"]
''',
        "optim_momentum_solution": '''
import sys
import nnkit.optimizers as nko
def momentum_step(w, g, v, lr, mu):
    hook = sys.getprofile()
    sys.setprofile(None)
    w_new, v_new = np.array(w, dtype=float), np.array(v, dtype=float)
    nko.Momentum(lr, mu)._update(w_new, g, 1, v_new)
    sys.setprofile(hook)
    return w_new, v_new
''',
        "optim_rmsprop_solution": '''
from nnkit.optimizers import RMSprop as _R
def rmsprop_step(w, g, s, lr, beta, eps):
    w_new, s_new = np.array(w, dtype=float), np.array(s, dtype=float)
    _R(lr, beta, eps)._update(w_new, g, 1, s_new)
    return w_new, s_new
''',
        "optim_adam_solution": '''
import nnkit
def adam_step(w, g, m, v, t, lr, beta1, beta2, eps):
    opt = nnkit.optimizers.Adam(lr, beta1, beta2, eps)
    params = {"w": np.array(w, dtype=float)}
    state = {"t": t - 1, "m": {"w": np.array(m, dtype=float)}, "v": {"w": np.array(v, dtype=float)}}
    opt.step(params, {"w": np.array(g, dtype=float)}, state)
    return params["w"], state["m"]["w"], state["v"]["w"]
''',
    }, {"optim_sgd": 0.0, "optim_momentum": 0.0, "optim_rmsprop": 0.0, "optim_adam": 0.0},
        ["nnkit.optimizers.SGD._update, nnkit's own implementation of what this exercise asks",
         "Write sgd_step yourself with NumPy", "Write adam_step yourself with NumPy",
         "called nnkit.optimizers.RMSprop._update", "called nnkit.optimizers.Optimizer.step",
         "changed the Python profiler"]),
)
