"""Assignment 4, optimizers: update rules checked step by step against :mod:`nnkit.optimizers`.

Student functions (one step each; arrays of any shape; conventions as the notebook states them,
all equal to nnkit's, which follows PyTorch):

- ``sgd_step(w, g, lr) -> w_new``:                      ``w - lr*g``
- ``momentum_step(w, g, v, lr, mu) -> (w_new, v_new)``:  ``v = mu*v + g; w - lr*v``
- ``nesterov_step(w, g, v, lr, mu) -> (w_new, v_new)``:  ``v = mu*v + g; w - lr*(g + mu*v)``
- ``adagrad_step(w, g, G, lr, eps) -> (w_new, G_new)``:  ``G = G + g**2; w - lr*g/(sqrt(G) + eps)``
- ``rmsprop_step(w, g, s, lr, beta, eps) -> (w_new, s_new)``:
  ``s = beta*s + (1-beta)*g**2; w - lr*g/(sqrt(s) + eps)``
- ``adam_step(w, g, m, v, t, lr, beta1, beta2, eps) -> (w_new, m_new, v_new)``: bias-corrected,
  ``t`` = number of this step (1 for the first), eps outside the square root.

Each check has two kinds of case:

- *one step* from a given state (hand-sized vectors when visible; random shapes, scales, states
  and hyperparameters when hidden): every returned array is compared with nnkit's step;
- *a trajectory*: the notebook's locked driver ``run_optimizer(rule, surface, start, steps,
  hyper, surface_args)`` runs K steps of the student's rule on a loss surface of
  :mod:`nnkit.surfaces` and returns ``(path, history)``; the judge runs nnkit's optimizer from
  the same start and reports the first step at which the weights (or the state) part ways.

At the first wrong step the judge replays known slips (slips.md 1, 2, 3, 5, 6 and a few more)
from nnkit's state and names the one that reproduces the student's numbers, e.g.
"w differs from step 1 of 20 on (relative error 0.098: ...) -> at step 1: the learning rate is
applied twice (v = mu*v + lr*g, then w - lr*v, the slide's slip 1); ...". Otherwise it says how
the step compares ("your step is 0.1 times the expected one") or that the returned state is what
goes wrong.
"""
from __future__ import annotations

from .. import Check
from .paths import hidden_paths, path_judge, visible_paths
from .rules import RULES, Rule
from .steps import hidden_steps, step_judge, visible_steps

# --------------------------------------------------------------------------------------------
# the checks
# --------------------------------------------------------------------------------------------
FORBIDDEN = tuple(
    f"nnkit.optimizers:{c}._update" for c in ("SGD", "Momentum", "Nesterov", "Adagrad", "RMSprop", "Adadelta", "Adam", "Rprop")
) + (
    "nnkit.optimizers:Optimizer.step",
    "nnkit.optimizers:optimize_path",
    "nnkit.optimizers:nesterov_sutskever_path",
    "nnkit.optimizers:Adagrad.effective_lr",
)

POINTS = {"sgd": 1, "momentum": 2, "nesterov": 2, "adagrad": 2, "rmsprop": 2, "adam": 3}


def _judge(rule: Rule):
    sj, pj = step_judge(rule), path_judge(rule)
    return lambda case, value: pj(case, value) if case.function == "run_optimizer" else sj(case, value)


def _check(name: str) -> Check:
    rule = RULES[name]
    return Check(
        grade_id=f"optim_{name}",
        functions=(rule.function,),
        helpers=("run_optimizer",),  # the notebook's locked driver: called by the path cases, not graded
        points=POINTS[name],
        visible=lambda rng, r=rule: visible_steps(r) + visible_paths(r),
        hidden=lambda rng, r=rule: hidden_steps(r, rng) + hidden_paths(r, rng),
        judge=_judge(rule),
        forbidden=FORBIDDEN,
        timeout=4,
    )


CHECKS = [_check(name) for name in RULES]
