"""Assignment 04_optimizers's spec, in this process (fast: no nbgrader, no sandbox).

The solution gets full marks for any secret; each slip of ``grading_cases/a04_optimizers.py``'s
WRONG, and a few more below, is named in the verdicts and costs points on the broken function only.
The real nbgrader run of the class is in ``test_grading_end_to_end.py``.
"""
import pytest

import grading_cases
from grading_harness import PARTIAL

CASES = grading_cases.load("04_optimizers")
A, WRONG, FULL = CASES.A, CASES.WRONG, CASES.FULL
submission = CASES.submission


def run_in_process(nb, secret="test-secret", kinds=("visible", "hidden")):
    """Exec the notebook's code cells up to the last test cell (as the sandbox does) and run every check."""
    from nngrader import specs
    from nngrader.check import _KernelRunner
    from nngrader.verdict import run_check

    ns = {"__name__": "__main__"}
    code = [c for c in nb.cells if c.cell_type == "code"]
    is_test = [bool(c.metadata.get("nbgrader", {}).get("grade")) for c in code]
    last = max(i for i, t in enumerate(is_test) if t)
    for c, t in list(zip(code, is_test))[:last]:
        if not t:
            exec(compile(c.source, "<cell>", "exec"), ns)
    out = {}
    for gid, chk in specs.load(A).items():
        out[gid] = run_check(chk, _KernelRunner({n: ns.get(n) for n in chk.names}), secret, kinds)
    return out


MORE_SLIPS = {
    # Adam's bias correction with t + 1
    "adam_t_plus_one": ("optim_adam_solution", '''
def adam_step(w, g, m, v, t, lr, beta1, beta2, eps):
    m = beta1 * m + (1 - beta1) * g
    v = beta2 * v + (1 - beta2) * g**2
    return w - lr * (m / (1 - beta1**(t + 1))) / (np.sqrt(v / (1 - beta2**(t + 1))) + eps), m, v
''', "the bias correction uses t + 1"),
    # Kingma & Ba's rearranged form (eps before the correction)
    "adam_eps_hat": ("optim_adam_solution", '''
def adam_step(w, g, m, v, t, lr, beta1, beta2, eps):
    m = beta1 * m + (1 - beta1) * g
    v = beta2 * v + (1 - beta2) * g**2
    return w - lr * np.sqrt(1 - beta2**t) / (1 - beta1**t) * m / (np.sqrt(v) + eps), m, v
''', "eps is added to sqrt(v) before the bias correction"),
    # Adagrad without the running sum
    "adagrad_no_sum": ("optim_adagrad_solution", '''
def adagrad_step(w, g, G, lr, eps):
    G = g * g
    return w - lr * g / (np.sqrt(G) + eps), G
''', "G must accumulate"),
    # Adagrad returning a wrong state while stepping correctly
    "adagrad_state": ("optim_adagrad_solution", '''
def adagrad_step(w, g, G, lr, eps):
    return w - lr * g / (np.sqrt(G + g * g) + eps), g * g
''', "w_new is right but G_new is not"),
    # RMSprop with beta and 1 - beta swapped
    "rmsprop_swapped": ("optim_rmsprop_solution", '''
def rmsprop_step(w, g, s, lr, beta, eps):
    s = (1 - beta) * s + beta * g * g
    return w - lr * g / (np.sqrt(s) + eps), s
''', "beta and 1 - beta are swapped"),
    # Nesterov with the learning rate applied twice
    "nesterov_lr_twice": ("optim_nesterov_solution", '''
def nesterov_step(w, g, v, lr, mu):
    v = mu * v + lr * g
    return w - lr * (g + mu * v), v
''', "the learning rate is applied twice (v = mu*v + lr*g)"),
    # gradient ascent
    "sgd_ascent": ("optim_sgd_solution", "def sgd_step(w, g, lr):\n    return w + lr * g\n", "you moved *up* the gradient"),
    # works only for vectors of length 2
    "sgd_two_entries": ("optim_sgd_solution",
                        "def sgd_step(w, g, lr):\n    return np.array([w[0] - lr * g[0], w[1] - lr * g[1]])\n",
                        "w_new: shape (2,), expected (3,)"),
}


@pytest.mark.parametrize("secret", ["test-secret", "another-secret", "class-secret-42"])
def test_spec_gives_the_solution_full_marks(secret):
    for gid, verdict in run_in_process(submission(), secret).items():
        assert verdict.score == FULL[gid], verdict.text()


@pytest.mark.parametrize("student", list(WRONG) + list(MORE_SLIPS))
def test_spec_names_the_slip_and_grades_only_the_broken_function(student):
    if student in WRONG:
        over, expect, diagnoses = WRONG[student]
    else:
        cell, source, diagnosis = MORE_SLIPS[student]
        over, diagnoses = {cell: source}, [diagnosis]
        expect = {cell.replace("_solution", ""): PARTIAL}
    verdicts = run_in_process(submission(over))
    for gid, pts in FULL.items():
        got, want = verdicts[gid].score, expect.get(gid, pts)
        if want == PARTIAL:
            assert got < pts, verdicts[gid].text()
        else:
            assert got == want, verdicts[gid].text()
    text = "".join(v.text() for v in verdicts.values())
    for d in diagnoses:
        assert d in text, d
