"""Assignment 05_training's synthetic students (data for ``tests/test_grading_end_to_end.py``).

Plausible wrong answers (dropout scaled by p_drop, a batch-norm backward without the mean term,
He's variance used as the standard deviation, ...), an undertrained network and tampering
attempts; see ``grading_cases/__init__.py``. Every graded cell is autograded (``MANUAL`` is empty).
"""
from grading_harness import (
    PARTIAL, answers, ends_its_process, patched_checker, usual_tampering,
)

A, NB = "05_training", "training"
MANUAL = []
AGAIN = None
SOLUTION_FEEDBACK = ["train_digits: 4 / 4 points", "batchnorm_backward: 3 / 3 points"]


UNDERTRAINED = '''
def train_digits(X_train, y_train, X_val, y_val, X_test, rng):
    # three passes of plain SGD over a small network: stops far too early
    W1 = he_normal((64, 32), rng); b1 = np.zeros(32)
    W2 = he_normal((32, 10), rng); b2 = np.zeros(10)
    for epoch in range(3):
        for start in range(0, len(X_train), 32):
            X, y = X_train[start:start + 32], y_train[start:start + 32]
            z1 = X @ W1 + b1
            h = np.maximum(z1, 0.0)
            _, d = softmax_cross_entropy_value_and_grad(h @ W2 + b2, y)
            dz1 = (d @ W2.T) * (z1 > 0)
            W2 -= 0.1 * h.T @ d; b2 -= 0.1 * d.sum(0)
            W1 -= 0.1 * X.T @ dz1; b1 -= 0.1 * dz1.sum(0)
    return (np.maximum(X_test @ W1 + b1, 0.0) @ W2 + b2).argmax(axis=1)
'''

WRONG = {
    # slip 19: kept units multiplied by p_drop instead of divided by 1 - p_drop, in both passes; the
    # network trained with it is evaluated without the factor, so the digits task suffers too
    "dropout_times_p": ({
        "dropout_forward_solution": '''
def dropout_forward(x, p_drop, rng=None, training=True, mask=None):
    if not training:
        return x, None
    if mask is None:
        mask = rng.random(x.shape) >= p_drop
    return x * mask * p_drop, mask
''',
        "dropout_backward_solution": "def dropout_backward(dout, mask, p_drop):\n    return dout * mask * p_drop\n",
    }, {"training_dropout_forward": PARTIAL, "training_dropout_backward": 0.0, "training_train_digits": PARTIAL},
        ["kept entries are multiplied by p_drop; inverted dropout divides them by the keep probability",
         "the gradients of kept entries are multiplied by p_drop", "test accuracy"]),
    # the path through the batch mean is forgotten
    "batchnorm_no_mean_term": ({
        "batchnorm_backward_solution": '''
def batchnorm_backward(dout, x, gamma, eps=1e-5):
    inv_std = 1.0 / np.sqrt(x.var(axis=0) + eps)
    x_hat = (x - x.mean(axis=0)) * inv_std
    g = dout * gamma
    dx = inv_std * (g - x_hat * (g * x_hat).mean(axis=0))
    return dx, (dout * x_hat).sum(axis=0), dout.sum(axis=0)
''',
    }, {"training_batchnorm_backward": PARTIAL},
        ["the term -mean(dout * gamma) is missing: mu depends on every sample of the batch"]),
    # the unbiased variance in the forward pass (the backward is right and keeps its points)
    "batchnorm_unbiased": ({
        "batchnorm_forward_solution": '''
def batchnorm_forward(x, gamma, beta, eps=1e-5):
    return gamma * (x - x.mean(axis=0)) / np.sqrt(x.var(axis=0, ddof=1) + eps) + beta
''',
    }, {"training_batchnorm_forward": 0.0},
        ["you divided by the unbiased variance (N - 1)"]),
    # slip 15: 2 / fan_in used as the standard deviation
    "he_std_is_variance": ({
        "he_normal_solution": "def he_normal(shape, rng):\n    return rng.normal(0.0, 2.0 / shape[0], size=shape)\n",
    }, {"training_he_normal": PARTIAL},
        ["you used the variance as the standard deviation: std = sqrt(variance)"]),
    # the 1/2 of the penalty kept in the gradient
    "l2_half": ({
        "l2_grad_solution": '''
def l2_grad(params, lam):
    return {k: (lam / 2 * w if k.startswith("W") else np.zeros_like(w)) for k, w in params.items()}
''',
    }, {"training_l2_grad": PARTIAL},
        ["yours is lam/2 * w, half the right value"]),
    # stops one epoch late: waited > patience
    "early_stopping_late": ({
        "early_stopping_solution": '''
def early_stopping(val_losses, patience, min_delta=0.0):
    best, best_epoch, waited = None, None, 0
    for epoch, loss in enumerate(val_losses):
        if best is None or loss < best - min_delta:
            best, best_epoch, waited = loss, epoch, 0
        else:
            waited += 1
            if waited > patience:
                return epoch, best_epoch
    return None, best_epoch
''',
    }, {"training_early_stopping": PARTIAL},
        ["your function behaves as if patience were 3: it waits one epoch too long"]),
    # a network that stops learning far too early: between 80 % and 95 %
    "undertrained": ({"train_digits_solution": UNDERTRAINED}, {"training_train_digits": PARTIAL},
                     ["full credit from 95%, none below 80%"]),
}


F = answers(A, NB)
TAMPER = usual_tampering(
    patch=patched_checker(F["batchnorm_forward"],
                          {"nnkit.normalization.batchnorm_forward": "lambda x, *a, **k: (x, None, None, None)"}),
    unwritten=(F["xavier_uniform"], F["batchnorm_forward"], F["l1_grad"]),
    loop=F["batchnorm_backward"],
    kill=ends_its_process(F["l1_grad"], kill_after="training_dropout_forward"),
    # (e) nnkit's own implementations, a numerical gradient, and a call hidden from the profiler
    nnkit=({
        "l2_grad_solution": "from nnkit.regularization import l2_grad\n",
        "dropout_forward_solution": '''
import nnkit.layers
def dropout_forward(x, p_drop, rng=None, training=True, mask=None):
    return nnkit.layers.dropout_forward(x, p_drop, rng, training, mask)
''',
        "batchnorm_backward_solution": '''
from nnkit.gradcheck import numerical_gradient_array
def batchnorm_backward(dout, x, gamma, eps=1e-5):
    beta = np.zeros_like(gamma)
    dx = numerical_gradient_array(lambda z: batchnorm_forward(z, gamma, beta, eps), x.copy(), dout)
    x_hat = (x - x.mean(axis=0)) / np.sqrt(x.var(axis=0) + eps)
    return dx, (dout * x_hat).sum(axis=0), dout.sum(axis=0)
''',
        "he_normal_solution": "from nnkit import initializers\nhe_normal = lambda shape, rng: initializers.he_normal(shape, rng)\n",
        "early_stopping_solution": '''
import sys
from nnkit.regularization import EarlyStopping
def early_stopping(val_losses, patience, min_delta=0.0):
    hook = sys.getprofile()
    sys.setprofile(None)
    es = EarlyStopping(patience, min_delta=min_delta)
    stop = None
    for epoch, loss in enumerate(val_losses):
        if es.update(loss, {}, epoch):
            stop = epoch
            break
    sys.setprofile(hook)
    return stop, es.best_epoch
''',
        "train_digits_solution": '''
from nnkit.model import MLP
from nnkit.optimizers import SGD
from nnkit.training import fit
def train_digits(X_train, y_train, X_val, y_val, X_test, rng):
    model = MLP([64, 128, 10], rng=rng)
    fit(model, X_train, y_train, loss="softmax_cross_entropy", optimizer=SGD(0.1), epochs=30,
        batch_size=32, rng=rng, progress=False)
    return model.predict(X_test).argmax(axis=1)
''',
    }, {"training_l2_grad": 0.0, "training_dropout_forward": 0.0, "training_batchnorm_backward": 0.0,
        "training_he_normal": 0.0, "training_early_stopping": 0.0, "training_train_digits": 0.0},
        ["called nnkit.regularization.l2_grad, nnkit's own implementation", "called nnkit.layers.dropout_forward",
         "called nnkit.gradcheck.numerical_gradient_array", "called nnkit.initializers.he_normal",
         "changed the Python profiler", "nnkit.training.fit"]),
)
