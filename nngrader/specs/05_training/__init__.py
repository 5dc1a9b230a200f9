"""Assignment 5, training in practice: checks against nnkit's regularization, layers,
normalization, initializers and (for the last task) the test split of the digits data.

Student functions (conventions as the notebook states them):

- ``l2_grad(params, lam)`` / ``l1_grad(params, lam)`` -> dict like ``params``: gradients of
  ``(lam/2) * sum w**2`` and ``lam * sum |w|`` over the weight matrices (keys starting with
  ``"W"``); every other entry (biases, BatchNorm's gamma/beta) gets zeros. ``sign(0) = 0``.
  Checked against centred differences of :func:`nnkit.regularization.l2_penalty` / ``l1_penalty``.
- ``dropout_forward(x, p_drop, rng=None, training=True, mask=None)`` -> ``(out, mask)``:
  inverted dropout, ``p_drop`` the probability of *dropping*; keep-mask ``rng.random(x.shape) >=
  p_drop`` (or the given one); ``out = x * mask / (1 - p_drop)``; identity at inference.
  Fixed masks are compared with :func:`nnkit.layers.dropout_forward`; random masks are judged
  by the relation ``out = x * mask / (1 - p_drop)`` and the kept fraction (binomial bounds).
- ``dropout_backward(dout, mask, p_drop)`` -> ``dx``: gradient-checked against nnkit's forward.
- ``batchnorm_forward(x, gamma, beta, eps=1e-5)`` -> ``out`` (training mode, biased batch
  variance, eps inside the square root) and ``batchnorm_backward(dout, x, gamma, eps=1e-5)`` ->
  ``(dx, dgamma, dbeta)``, gradient-checked tensor by tensor against centred differences of
  :func:`nnkit.normalization.batchnorm_forward` projected on ``dout``.
- ``xavier_uniform(shape, rng)`` / ``he_normal(shape, rng)`` with ``shape = (fan_in, fan_out)``:
  judged statistically on large draws (mean, variance within 5 %, and the shape of the
  distribution), and by shape on small ones.
- ``early_stopping(val_losses, patience, min_delta=0.0)`` -> ``(stop_epoch, best_epoch)``,
  the semantics of :class:`nnkit.regularization.EarlyStopping` (mode "min", patience >= 1,
  epochs counted from 0, ``stop_epoch`` None when patience never runs out).
- ``train_digits(X_train, y_train, X_val, y_val, X_test, rng)`` -> predicted labels of
  ``X_test``. The grader splits nnkit's digits data itself and keeps the test labels; the
  score of a split rises linearly from 0 at 80 % test accuracy to full at 95 % (in steps of one
  percentage point).
"""
from __future__ import annotations

from .. import Check
from ._common import GRADCHECK, defined_in, nnkit_modules_except
from .batchnorm import bnb_hidden, bnb_judge, bnb_visible, bnf_hidden, bnf_judge, bnf_visible
from .digits import train_hidden, train_judge, train_visible
from .dropout import drop_hidden, drop_judge, drop_visible, dropb_hidden, dropb_judge, dropb_visible
from .early_stopping import es_hidden, es_judge, es_visible
from .initialization import init_hidden, init_judge, init_visible
from .penalties import pen_hidden, pen_visible, penalty_judge

# "from nnkit only nnkit.datasets, nnkit.activations and nnkit.losses", as the notebook says
_TRAIN_FORBIDDEN = defined_in(*nnkit_modules_except("nnkit.datasets", "nnkit.activations", "nnkit.losses")) + (
    "sklearn.neural_network._multilayer_perceptron:BaseMultilayerPerceptron._fit",
    "sklearn.neighbors._classification:KNeighborsClassifier.predict",
    "sklearn.svm._base:BaseLibSVM.fit",
    "sklearn.linear_model._logistic:LogisticRegression.fit",
)

_INIT_FORBIDDEN = defined_in("nnkit.initializers") + ("nnkit.layers:Dense.__init__",)

_DROPOUT_BACKWARD_FORBIDDEN = ("nnkit.layers:dropout_backward", "nnkit.layers:Dropout.backward",
                               "nnkit.layers:dropout_forward") + GRADCHECK
_BN_FORWARD_FORBIDDEN = ("nnkit.normalization:batchnorm_forward", "nnkit.normalization:BatchNorm.forward",
                         "nnkit.normalization:layernorm_forward", "nnkit.normalization:LayerNorm.forward")
_BN_BACKWARD_FORBIDDEN = ("nnkit.normalization:batchnorm_backward", "nnkit.normalization:BatchNorm.backward",
                          "nnkit.normalization:layernorm_backward", "nnkit.normalization:LayerNorm.backward") + GRADCHECK

CHECKS = [
    Check(grade_id="training_l2_grad", functions=("l2_grad",), points=2, visible=pen_visible, hidden=pen_hidden,
          judge=penalty_judge("l2"), forbidden=("nnkit.regularization:l2_grad", "nnkit.regularization:l1_grad",
          "nnkit.training:fit") + GRADCHECK, timeout=4),
    Check(grade_id="training_l1_grad", functions=("l1_grad",), points=2, visible=pen_visible, hidden=pen_hidden,
          judge=penalty_judge("l1"), forbidden=("nnkit.regularization:l1_grad", "nnkit.regularization:l2_grad")
          + GRADCHECK, timeout=4),
    Check(grade_id="training_dropout_forward", functions=("dropout_forward",), points=2, visible=drop_visible,
          hidden=drop_hidden, judge=drop_judge, forbidden=("nnkit.layers:dropout_forward",
          "nnkit.layers:Dropout.forward"), timeout=4),
    Check(grade_id="training_dropout_backward", functions=("dropout_backward",), points=1, visible=dropb_visible,
          hidden=dropb_hidden, judge=dropb_judge, forbidden=_DROPOUT_BACKWARD_FORBIDDEN, timeout=4),
    Check(grade_id="training_batchnorm_forward", functions=("batchnorm_forward",), points=2, visible=bnf_visible,
          hidden=bnf_hidden, judge=bnf_judge, forbidden=_BN_FORWARD_FORBIDDEN, timeout=4),
    Check(grade_id="training_batchnorm_backward", functions=("batchnorm_backward",), points=3, visible=bnb_visible,
          hidden=bnb_hidden, judge=bnb_judge, forbidden=_BN_BACKWARD_FORBIDDEN, timeout=4),
    Check(grade_id="training_xavier_uniform", functions=("xavier_uniform",), points=2, visible=init_visible,
          hidden=init_hidden, judge=init_judge("xavier"), forbidden=_INIT_FORBIDDEN, timeout=4),
    Check(grade_id="training_he_normal", functions=("he_normal",), points=2, visible=init_visible,
          hidden=init_hidden, judge=init_judge("he"), forbidden=_INIT_FORBIDDEN, timeout=4),
    Check(grade_id="training_early_stopping", functions=("early_stopping",), points=2, visible=es_visible,
          hidden=es_hidden, judge=es_judge, forbidden=defined_in("nnkit.regularization") +
          ("nnkit.training:fit",), timeout=4),
    Check(grade_id="training_train_digits", functions=("train_digits",), points=4, visible=train_visible,
          hidden=train_hidden, judge=train_judge, forbidden=_TRAIN_FORBIDDEN, timeout=8),
]
