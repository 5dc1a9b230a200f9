"""Gradient-based optimizers, with hyperparameters kept apart from state.

An optimizer object holds only its *hyperparameters* (``lr``, ``mu``, ``beta1``, ...).
Everything that changes while training is *state*: a plain dictionary made by
``init_state(params)``, holding the step counter ``"t"`` (an int) and one dictionary of arrays
per kind of running quantity, keyed like ``params``::

    opt = Adam(lr=1e-3)
    state = opt.init_state(params)          # {"t": 0, "m": {"W1": zeros, ...}, "v": {...}}
    for epoch in range(...):
        loss, grads = ...                   # grads keyed like params ("W1", "b1", ...)
        opt.step(params, grads, state)      # updates params AND state in place

Because the state is plain data it can be printed, plotted, set by hand in a test, copied with
``copy.deepcopy`` and shown in a lecture.  ``step`` is the one nnkit function that mutates its
arguments: it changes ``params`` and ``state`` in place (so a model whose ``params`` are views of
its layers' arrays is trained directly) and never touches ``grads``.

Conventions (texts disagree; nnkit follows PyTorch and names the alternatives)
---------------------------------------------------------------------------------
- Momentum comes in three conventions, all offered by :class:`Momentum` (slip 1).
- Nesterov uses PyTorch's look-ahead-free form; :func:`nesterov_sutskever_path` runs the
  Sutskever et al. (2013) look-ahead form for comparison (slip 2).
- ``eps`` sits *outside* the square root in Adagrad, RMSprop and Adam (PyTorch), and *inside*
  it in Adadelta (PyTorch, following Zeiler 2012).
- Adam is bias-corrected (slip 6).  Rprop is PyTorch's variant (iRprop-, slip 4).
- *Weight decay* means decoupled decay, ``w <- (1 - lr * weight_decay) * w`` applied beside
  the optimizer's step (:class:`AdamW`, ``torch.optim.AdamW``).  Adding ``lam * w`` to the
  gradient is *L2 regularization* (``nnkit.training.fit(l2=...)``; ``torch.optim.Adam``'s
  own ``weight_decay`` argument).  The two are the same thing for plain SGD only.

Every step checks its input first and then updates, so a bad gradient (wrong keys, wrong shape,
NaN/Inf) raises before anything is changed: that contract is the base class
:class:`~nnkit.optimizer_base.Optimizer`.  Each optimizer below states its update rule once, in
``_update(p, g, t, *slot_arrays)`` for one parameter array, written as the formula itself; the
parameter and the state arrays are updated in place (``p -= ...``, ``s *= ...``), so float32
parameters stay float32.  Adam, the step ``make bench`` times, is the one exception: it works in
one scratch array with ``out=`` (12 elementwise passes, about as much as a hand-fused NumPy
update) and states its formula beside the lines.  :func:`optimize_path` and
:func:`nesterov_sutskever_path` (from :mod:`nnkit.trajectories`) run an optimizer on a gradient
function, for loss-surface demos.
"""
from __future__ import annotations

import math

import numpy as np

from ._validate import check_choice, check_nonnegative, check_positive, check_probability
from .optimizer_base import Optimizer
from .trajectories import nesterov_sutskever_path, optimize_path

__all__ = [
    "Optimizer",
    "SGD",
    "Momentum",
    "Nesterov",
    "Adagrad",
    "RMSprop",
    "Adadelta",
    "Adam",
    "AdamW",
    "Rprop",
    "OPTIMIZERS",
    "get_optimizer",
    "optimize_path",
    "nesterov_sutskever_path",
]


def _unit_interval(value, name: str) -> float:
    """Decay rates live in [0, 1): 1 would never forget, >= 1 or < 0 diverges or oscillates."""
    return check_probability(value, name, high_open=True)


# --------------------------------------------------------------------------------------------
# the optimizers
# --------------------------------------------------------------------------------------------
class SGD(Optimizer):
    """Plain (stochastic) gradient descent.

    Parameters
    ----------
    lr : float
        Learning rate alpha > 0.

    Notes
    -----
    ``w <- w - lr * g``.  Whether this is batch, mini-batch or stochastic gradient descent
    depends only on how many samples ``g`` was averaged over (the batch size), not on the
    optimizer.  State: ``{"t"}`` only.
    """

    name = "sgd"

    def _update(self, p, g, t):
        p -= self.lr * g


class Momentum(Optimizer):
    """Gradient descent with (heavy-ball) momentum, in one of three named conventions.

    Parameters
    ----------
    lr : float
        Learning rate alpha > 0.
    mu : float in [0, 1)
        Momentum coefficient (called beta in the EMA convention).
    convention : {"pytorch", "classical", "ema"}
        Which of the three textbook update rules to use (formulas below).

    Notes
    -----
    State: ``{"t", "v"}``, the velocity ``v`` starting at zero.  With ``g`` the gradient:

    - ``"pytorch"`` (``torch.optim.SGD(momentum=mu)``, the default)::

          v <- mu * v + g ;           w <- w - lr * v

    - ``"classical"`` (Polyak; Sutskever et al. 2013, CS231n)::

          v <- mu * v - lr * g ;      w <- w + v

    - ``"ema"`` (exponential moving average of gradients, as in Andrew Ng's course)::

          v <- mu * v + (1 - mu) * g ; w <- w - lr * v

    When they coincide: with a constant ``lr``, "classical" gives *exactly* the same weights as
    "pytorch" (its ``v`` is ``-lr`` times PyTorch's).  "ema" with learning rate ``lr`` equals
    "pytorch" with learning rate ``(1 - mu) * lr``: the EMA velocity is ``(1 - mu)`` times the
    PyTorch one, so to match PyTorch at rate ``a`` give EMA the rate ``a / (1 - mu)``.  When
    ``lr`` changes during training the conventions differ: "classical" bakes old learning
    rates into ``v``, the other two apply the current ``lr`` to the whole velocity.

    Common slip (slip 1): ``v <- mu*v + lr*g; w <- w - lr*v`` applies the learning rate twice;
    it is the PyTorch form with rate ``lr**2``.

    PyTorch's ``dampening=mu`` is *not* the EMA form: PyTorch initialises its buffer to the
    first gradient undamped, while the EMA form starts from ``v = 0``.
    """

    name = "momentum"
    slots = ("v",)
    conventions = ("pytorch", "classical", "ema")

    def __init__(self, lr, mu=0.9, convention="pytorch"):
        super().__init__(lr)
        self.mu = _unit_interval(mu, "mu")
        self.convention = check_choice(convention, "convention", self.conventions)

    def hyperparameters(self):
        return {"lr": self.lr, "mu": self.mu, "convention": self.convention}

    def _update(self, p, g, t, v):
        lr, mu = self.lr, self.mu
        v *= mu
        if self.convention == "pytorch":
            v += g
            p -= lr * v
        elif self.convention == "classical":
            v -= lr * g
            p += v
        else:  # ema
            v += (1.0 - mu) * g
            p -= lr * v


class Nesterov(Optimizer):
    """Nesterov accelerated gradient, in PyTorch's look-ahead-free form.

    Parameters
    ----------
    lr : float
        Learning rate alpha > 0.
    mu : float in [0, 1)
        Momentum coefficient.

    Notes
    -----
    State: ``{"t", "v"}``.  The update (``torch.optim.SGD(momentum=mu, nesterov=True)``)::

        v <- mu * v + g ;   w <- w - lr * (g + mu * v)

    needs only the gradient at the current weights.  The original form (Sutskever et al.
    2013) evaluates the gradient at a look-ahead point::

        v <- mu * v - lr * grad(w + mu * v) ;   w <- w + v

    Both produce the same sequence: started from the same ``w0`` with zero velocity, the
    PyTorch weights are exactly the Sutskever look-ahead points, ``w_pt = w_s + mu * v_s``, and
    ``v_s = -lr * v_pt``.  The two converge to the same minimum.  :func:`nesterov_sutskever_path`
    runs the look-ahead form on a gradient function (for loss-surface demos); the tests check
    the equivalence step by step.  (Slip 2: the slide's ``w_{t+1} = w_t + v_{t+1} * eta``
    mixes the two forms.)
    """

    name = "nesterov"
    slots = ("v",)

    def __init__(self, lr, mu=0.9):
        super().__init__(lr)
        self.mu = _unit_interval(mu, "mu")

    def hyperparameters(self):
        return {"lr": self.lr, "mu": self.mu}

    def _update(self, p, g, t, v):
        v *= self.mu
        v += g
        p -= self.lr * (g + self.mu * v)


class Adagrad(Optimizer):
    """Adagrad (Duchi et al. 2011): a per-weight rate shrinking with the sum of squared gradients.

    Parameters
    ----------
    lr : float
        Base learning rate eta > 0 (PyTorch's default 0.01).
    eps : float
        > 0, added *outside* the square root (PyTorch's convention).

    Notes
    -----
    State: ``{"t", "sum_sq"}``, with ``G = sum_sq`` starting at zero::

        G <- G + g**2 ;   w <- w - lr * g / (sqrt(G) + eps)

    so each weight has the effective rate ``lr / (sqrt(G) + eps)`` (:meth:`effective_lr`).
    Weights with a history of large gradients get small steps and rarely-updated ones large
    steps.  Convention: the slides write ``lr / sqrt(G + eps)`` (eps inside the root);
    PyTorch and nnkit use ``lr / (sqrt(G) + eps)``.  With eps ~ 1e-8 the two differ
    only when ``G`` is tiny.  Slip 5: with lr = 0.01, G = 3.46 gives 0.01/sqrt(3.46) = 0.0054
    and G = 0.16 gives 0.01/sqrt(0.16) = 0.025; the slide's recommended 0.001 does not match its
    own example.  PyTorch's ``lr_decay`` and ``initial_accumulator_value`` are fixed at 0.
    """

    name = "adagrad"
    slots = ("sum_sq",)

    def __init__(self, lr=0.01, eps=1e-10):
        super().__init__(lr)
        self.eps = check_positive(eps, "eps")

    def hyperparameters(self):
        return {"lr": self.lr, "eps": self.eps}

    def effective_lr(self, state: dict) -> dict:
        """Per-weight effective learning rate ``lr / (sqrt(G) + eps)`` for the current state."""
        return {key: self.lr / (np.sqrt(G) + self.eps) for key, G in state["sum_sq"].items()}

    def _update(self, p, g, t, G):
        G += g**2
        p -= self.lr * g / (np.sqrt(G) + self.eps)


class RMSprop(Optimizer):
    """RMSprop (Hinton 2012): divide by a running root-mean-square of recent gradients.

    Parameters
    ----------
    lr : float
        Learning rate > 0 (PyTorch's default 0.01).
    beta : float in [0, 1)
        Decay of the running average of squared gradients (PyTorch calls it ``alpha``).
    eps : float
        > 0, added *outside* the square root (PyTorch's convention).

    Notes
    -----
    State: ``{"t", "sq_avg"}``, with ``s = sq_avg`` starting at zero::

        s <- beta * s + (1 - beta) * g**2 ;   w <- w - lr * g / (sqrt(s) + eps)

    The average is of the *squared* gradient (slip 3: one slide averages ``g`` itself, which can
    be negative and has no square root).  PyTorch's ``centered`` and ``momentum`` options are
    not included (both off by default there).
    """

    name = "rmsprop"
    slots = ("sq_avg",)

    def __init__(self, lr=0.01, beta=0.99, eps=1e-8):
        super().__init__(lr)
        self.beta = _unit_interval(beta, "beta")
        self.eps = check_positive(eps, "eps")

    def hyperparameters(self):
        return {"lr": self.lr, "beta": self.beta, "eps": self.eps}

    def _update(self, p, g, t, s):
        s *= self.beta
        s += (1.0 - self.beta) * g**2
        p -= self.lr * g / (np.sqrt(s) + self.eps)


class Adadelta(Optimizer):
    """Adadelta (Zeiler 2012): RMSprop whose step is rescaled by the RMS of past updates.

    Parameters
    ----------
    lr : float
        > 0; multiplies the update (PyTorch's default 1.0, i.e. Zeiler's original, rate-free
        method).
    rho : float in [0, 1)
        Decay of both running averages.
    eps : float
        > 0, added *inside* both square roots (Zeiler's and PyTorch's convention).

    Notes
    -----
    State: ``{"t", "sq_avg", "delta_avg"}`` (``s`` and ``u`` below), both starting at zero::

        s <- rho * s + (1 - rho) * g**2
        delta = sqrt(u + eps) / sqrt(s + eps) * g
        u <- rho * u + (1 - rho) * delta**2
        w <- w - lr * delta

    ``sqrt(u + eps)`` carries the units of ``w``, so the update has the right units without a
    hand-tuned rate; ``eps`` also sets the size of the very first steps (about
    ``sqrt(eps / (1 - rho))``, 3e-3 with the defaults).
    """

    name = "adadelta"
    slots = ("sq_avg", "delta_avg")

    def __init__(self, lr=1.0, rho=0.9, eps=1e-6):
        super().__init__(lr)
        self.rho = _unit_interval(rho, "rho")
        self.eps = check_positive(eps, "eps")

    def hyperparameters(self):
        return {"lr": self.lr, "rho": self.rho, "eps": self.eps}

    def _update(self, p, g, t, s, u):
        rho, eps = self.rho, self.eps
        s *= rho
        s += (1.0 - rho) * g**2
        delta = np.sqrt(u + eps) / np.sqrt(s + eps) * g
        u *= rho
        u += (1.0 - rho) * delta**2
        p -= self.lr * delta


class Adam(Optimizer):
    """Adam (Kingma & Ba 2015): momentum on the gradient plus RMSprop scaling, bias-corrected.

    Parameters
    ----------
    lr : float
        Learning rate alpha > 0.
    beta1, beta2 : float in [0, 1)
        Decay rates of the first-moment (mean) and second-moment (uncentred variance) averages.
    eps : float
        > 0, added *outside* the square root, to the bias-corrected RMS (PyTorch's convention).
    bias_correction : bool, keyword-only
        True (default) is Adam.  False drops the corrections (the form on one slide, slip 6);
        it exists for the "common slip" demonstration only.

    Notes
    -----
    State: ``{"t", "m", "v"}``, both averages starting at zero; ``t`` counts steps from 1::

        m <- beta1 * m + (1 - beta1) * g
        v <- beta2 * v + (1 - beta2) * g**2
        m_hat = m / (1 - beta1**t) ;   v_hat = v / (1 - beta2**t)
        w <- w - lr * m_hat / (sqrt(v_hat) + eps)

    Because ``m`` and ``v`` start at zero they are biased towards zero early on; dividing by
    ``1 - beta**t`` removes the bias, so the first step has size about ``lr`` whatever the
    gradient's scale.  Without the correction the first step is ``(1 - beta1)/sqrt(1 - beta2)``
    times that: about 3.2 times *larger* for the default betas, and smaller only when
    ``1 - beta1 < sqrt(1 - beta2)`` (for instance beta1 = 0.99, beta2 = 0.999).  Either way
    the uncorrected step size depends on the betas instead of on ``lr``.  This equals PyTorch's
    ``torch.optim.Adam`` (AMSGrad and weight decay are not included; :class:`AdamW` adds
    decoupled weight decay).
    """

    name = "adam"
    slots = ("m", "v")

    def __init__(self, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, *, bias_correction=True):
        super().__init__(lr)
        self.beta1 = _unit_interval(beta1, "beta1")
        self.beta2 = _unit_interval(beta2, "beta2")
        self.eps = check_positive(eps, "eps")
        self.bias_correction = bool(bias_correction)

    def hyperparameters(self):
        hp = {"lr": self.lr, "beta1": self.beta1, "beta2": self.beta2, "eps": self.eps}
        if not self.bias_correction:
            hp["bias_correction"] = False
        return hp

    def _coefficients(self, t: int) -> tuple[float, float]:
        """``(step_size, eps_hat)`` of step t, the same for every parameter array.

        lr/bc1 * m / (sqrt(v)/sqrt(bc2) + eps) == (lr*sqrt(bc2)/bc1) * m / (sqrt(v) + eps*sqrt(bc2)),
        with bc = 1 - beta**t: the right-hand side saves one pass over the array (Kingma & Ba,
        section 2).
        """
        if not self.bias_correction:
            return self.lr, self.eps
        sqrt_bc2 = math.sqrt(1.0 - self.beta2**t)
        return self.lr * sqrt_bc2 / (1.0 - self.beta1**t), self.eps * sqrt_bc2

    def _update(self, p, g, t, m, v):
        b1, b2 = self.beta1, self.beta2
        step_size, eps = self._coefficients(t)
        d = np.multiply(g, 1.0 - b1)  # 12 elementwise passes, one scratch array d
        m *= b1
        m += d  # m = b1 m + (1 - b1) g
        np.multiply(g, g, out=d)
        d *= 1.0 - b2
        v *= b2
        v += d  # v = b2 v + (1 - b2) g^2
        np.sqrt(v, out=d)
        d += eps
        np.divide(m, d, out=d)
        d *= step_size
        p -= d  # p -= step_size * m / (sqrt(v) + eps)


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter 2019), exactly as ``torch.optim.AdamW``.

    Parameters
    ----------
    lr : float
        Learning rate alpha > 0.
    beta1, beta2, eps
        As in :class:`Adam` (``eps`` outside the square root).
    weight_decay : float >= 0
        Decay rate lambda (PyTorch's default 1e-2).  0 gives exactly :class:`Adam`.

    Notes
    -----
    State: ``{"t", "m", "v"}``, as Adam's.  Each step first shrinks the weights, then takes
    Adam's step with the same gradient ``g`` (it is :class:`Adam`'s update, reused)::

        w <- w - lr * weight_decay * w              # decoupled decay, on the weights before the step
        m, v, m_hat, v_hat as in Adam (from g alone: the decay never enters them)
        w <- w - lr * m_hat / (sqrt(v_hat) + eps)

    That order is PyTorch's (``param.mul_(1 - lr * weight_decay)`` before the Adam update);
    decaying after the step instead would change ``w`` by an extra ``lr * weight_decay`` times
    the step.  The decay is multiplied by ``lr`` as in PyTorch, so a schedule that lowers ``lr``
    lowers the decay too (the paper multiplies it by the schedule factor but not by the base
    rate).  Every array in ``params`` is decayed, biases included, as PyTorch does for one
    parameter group.

    Why "decoupled": **L2 regularization** adds ``lam * w`` to the gradient, and with Adam that
    term is then divided by ``sqrt(v_hat)``, so weights with large gradients are barely pulled
    towards 0 and the pull changes from step to step.  Decoupled decay shrinks every weight by
    the same factor ``1 - lr * weight_decay`` whatever its gradient history.  For plain SGD the
    two coincide: ``w - lr * (g + lam * w) = (1 - lr * lam) * w - lr * g``.  (PyTorch's
    ``torch.optim.Adam(weight_decay=lam)`` is the L2 form; ``torch.optim.AdamW`` this one.)
    """

    name = "adamw"

    def __init__(self, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=1e-2):
        super().__init__(lr, beta1, beta2, eps)
        self.weight_decay = check_nonnegative(weight_decay, "weight_decay")

    def hyperparameters(self):
        return {**super().hyperparameters(), "weight_decay": self.weight_decay}

    def _update(self, p, g, t, m, v):
        if self.weight_decay:
            p *= 1.0 - self.lr * self.weight_decay  # the weights before this step's Adam update
        super()._update(p, g, t, m, v)


class Rprop(Optimizer):
    """Resilient backpropagation, PyTorch's variant (iRprop-, Igel & Huesken 2000).

    Parameters
    ----------
    lr : float
        > 0; the initial step size of every weight (Rprop's Delta_0).  Changing ``lr`` later has
        no effect: the step sizes live in the state.
    etas : (eta_minus, eta_plus)
        Step-size factors with 0 < eta_minus < 1 < eta_plus (default (0.5, 1.2)).
    step_sizes : (min, max)
        Bounds for the step sizes, 0 <= min < max (default (1e-6, 50)).

    Notes
    -----
    Only the *sign* of the gradient is used (slip 4).  State: ``{"t", "prev", "step_size"}``,
    ``prev`` (last effective gradient) starting at zero and ``step_size`` at ``lr``.
    Per weight::

        if g * prev > 0:  step_size <- min(step_size * eta_plus,  max)   # same sign: speed up
        if g * prev < 0:  step_size <- max(step_size * eta_minus, min)   # sign flip: we jumped
                          g <- 0                                         # over a minimum; pause
        w <- w - sign(g) * step_size ;   prev <- g

    Setting ``g`` to 0 after a sign flip means the weight does not move on that step and the
    next step neither grows nor shrinks its step size (the "i", improved, in iRprop-; the "-"
    says the previous step is not undone).  The original Rprop (Riedmiller & Braun 1993)
    instead undoes the previous step ("weight backtracking").  Rprop suits full-batch
    training; with noisy mini-batch gradients the signs flip at random.
    """

    name = "rprop"
    slots = ("prev", "step_size")

    def __init__(self, lr=0.01, etas=(0.5, 1.2), step_sizes=(1e-6, 50.0)):
        super().__init__(lr)
        eta_minus, eta_plus = _pair(etas, "etas")
        if not 0.0 < eta_minus < 1.0 < eta_plus:
            raise ValueError(f"etas must satisfy 0 < eta_minus < 1 < eta_plus; got etas={etas!r}")
        lo, hi = _pair(step_sizes, "step_sizes")
        check_nonnegative(lo, "step_sizes[0]")
        if not hi > lo:
            raise ValueError(f"step_sizes must satisfy 0 <= min < max; got step_sizes={step_sizes!r}")
        self.etas = (eta_minus, eta_plus)
        self.step_sizes = (lo, hi)

    def hyperparameters(self):
        return {"lr": self.lr, "etas": self.etas, "step_sizes": self.step_sizes}

    def _init_slot(self, slot, p):
        if slot == "step_size":
            return np.full_like(p, self.lr)
        return np.zeros_like(p)

    def _update(self, p, g, t, prev, step_size):
        eta_minus, eta_plus = self.etas
        same = np.multiply(g, prev)
        flipped = same < 0
        same = same > 0
        factor = np.where(same, eta_plus, np.where(flipped, eta_minus, 1.0))
        step_size *= factor
        np.clip(step_size, self.step_sizes[0], self.step_sizes[1], out=step_size)
        prev[...] = g
        prev[flipped] = 0.0  # after a flip the gradient counts as 0: no move, no change next time
        p -= np.sign(prev) * step_size


def _pair(value, name: str) -> tuple[float, float]:
    try:
        a, b = value
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a pair of numbers; got {value!r}") from None
    return check_nonnegative(a, f"{name}[0]"), check_nonnegative(b, f"{name}[1]")


OPTIMIZERS: dict[str, type[Optimizer]] = {
    cls.name: cls for cls in (SGD, Momentum, Nesterov, Adagrad, RMSprop, Adadelta, Adam, AdamW, Rprop)
}
"""Name -> optimizer class, for dropdowns: ``OPTIMIZERS["adam"](lr=1e-3)``."""


def get_optimizer(name: str, **hyperparameters) -> Optimizer:
    """Build an optimizer by registry name, e.g. ``get_optimizer("momentum", lr=0.1, mu=0.9)``."""
    check_choice(name, "name", OPTIMIZERS)
    return OPTIMIZERS[name](**hyperparameters)
