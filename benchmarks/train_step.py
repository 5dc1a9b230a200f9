#!/usr/bin/env python
"""Time ONE training step of a 64-256-256-10 ReLU MLP: nnkit vs hand-fused NumPy vs PyTorch CPU.

A training step is: forward pass, softmax cross-entropy loss on integer labels, backward pass,
one Adam update (lr=1e-3, betas=(0.9, 0.999), eps=1e-8, bias-corrected, PyTorch's form).
It is timed at batch sizes 32, 128 and 1024, in float64 and float32, for three implementations
running in the same process on the same initial weights and the same data:

nnkit
    Exactly what a student writes: ``MLP(...).forward``, ``softmax_cross_entropy`` and
    ``softmax_cross_entropy_grad`` (two calls), ``Sequential.backward(dout, cache)`` (which
    also returns dL/dX, one more matrix product than the fused step) and ``Adam.step`` on
    ``model.params``, with every input check nnkit promises. ``--fit-step`` times instead the
    step of ``nnkit.training.fit`` (one ``value_and_grad`` call, ``input_grad=False``).
fused
    A hand-fused NumPy step written below: the practical speed limit of a NumPy design.
    Every buffer (activations, gradients, Adam scratch) is allocated once, every ufunc writes
    with ``out=``, ReLU and its mask are applied in place, the logits are kept column-major so
    the softmax row reductions are fast, the softmax cross-entropy gradient
    ``(softmax(z) - onehot(y)) / N`` is computed in the exp buffer without building a one-hot,
    the input gradient of the first layer is not computed, and Adam updates m, v and the
    weights in place, using its own gradient buffer as scratch: 12 elementwise passes per tensor.
torch
    ``torch.nn.Sequential`` of ``Linear``/``ReLU``, ``F.cross_entropy`` and ``torch.optim.Adam``
    with its defaults (on CPU: the single-tensor code path). Skipped, with a note, when PyTorch
    is not installed.

Threads: by default everything runs on ONE thread (NumPy's BLAS limited with threadpoolctl,
``torch.set_num_threads(1)``), which gives a stable per-core comparison. ``--threads N`` gives
both libraries N threads; ``--threads 0`` leaves NumPy's BLAS at its default and matches torch
to it. On a small machine, two libraries' thread pools in one process (OpenBLAS's and torch's
OpenMP workers both spin while waiting) slow each other down, and any other load on the
machine stalls multi-threaded BLAS calls badly: multi-threaded figures are far noisier.

Before anything is timed the three are checked against each other: after three steps from the
same weights, nnkit and fused must agree on every loss and every updated weight (float64:
relative 1e-10; float32: see ``validate``); PyTorch is checked the same way.

Timing is timeit-style: ``gc`` off, each implementation warmed up, and samples of the three
implementations interleaved (rotating order) so that slow drift of the machine hits them alike.
Each sample restores the initial weights and a fresh Adam state (not timed) and times the next
steps, at most 50 or about ``--sample-ms`` milliseconds: training on one fixed batch for
thousands of steps would drive the gradients towards zero and into subnormal numbers, whose
arithmetic is much slower, so every implementation is timed in the same early-training regime.
The time reported is the median over ``--repeats`` samples, in microseconds per step; a ratio
is the median over rounds of the two implementations' samples of the same round (steadier
than the ratio of the medians when the machine's speed drifts).

Targets: nnkit within 1.3x of fused NumPy at every size (issue 15, which made nnkit the plain
reference: no fused plans, no in-place ReLU, no optimizer fast path; issue 2 had asked 1.2x of
the tuned code), and faster than PyTorch CPU in float64 (issue 2). Each row prints TARGET MET or TARGET MISSED. This is a report, not a test: the
exit status is 0 whatever the figures are.

Run: ``make bench``  (= ``.venv/bin/python benchmarks/train_step.py``); ``--quick`` for a fast look.
"""
from __future__ import annotations

import argparse
import datetime
import gc
import math
import os
import platform
import statistics
import sys
import time
import traceback

import numpy as np

SIZES = (64, 256, 256, 10)
BATCHES = (32, 128, 1024)
DTYPES = (np.float64, np.float32)
LR, BETA1, BETA2, EPS = 1e-3, 0.9, 0.999, 1e-8
N_CLASSES = SIZES[-1]
PARAM_NAMES = ("W1", "b1", "W2", "b2", "W3", "b3")
TARGET_FUSED = 1.3  # nnkit / fused must be <= this (issue 15)
VALIDATION_STEPS = 3


# --------------------------------------------------------------------------------------------
# Environment
# --------------------------------------------------------------------------------------------
def blas_info() -> tuple[int | None, str]:
    """(number of BLAS threads NumPy uses, description) via threadpoolctl when available."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:  # threadpoolctl comes with scikit-learn; be robust anyway
        return None, "unknown (threadpoolctl not installed)"
    for pool in threadpool_info():
        if pool.get("user_api") == "blas":
            return pool["num_threads"], f"{pool['internal_api']} {pool.get('version', '?')}, {pool['num_threads']} thread(s)"
    return None, "unknown"


def limit_blas_threads(n: int):
    """Limit NumPy's BLAS to ``n`` threads for the rest of the run; returns the controller (or None)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        print(f"!! threadpoolctl is not installed: cannot set NumPy's BLAS to {n} thread(s); "
              f"set OPENBLAS_NUM_THREADS={n} (and OMP_NUM_THREADS, MKL_NUM_THREADS) instead")
        return None
    return threadpool_limits(limits=n, user_api="blas")


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def import_torch():
    try:
        import torch
    except ImportError:
        return None
    return torch


# --------------------------------------------------------------------------------------------
# Problem: the same initial weights and data for everybody
# --------------------------------------------------------------------------------------------
def make_problem(n: int, dtype, seed: int = 0):
    """He-normal weights, small random biases, standard-normal inputs, integer labels."""
    rng = np.random.default_rng(seed)
    weights = {}
    for i, (d_in, d_out) in enumerate(zip(SIZES[:-1], SIZES[1:]), start=1):
        weights[f"W{i}"] = (rng.standard_normal((d_in, d_out)) * math.sqrt(2.0 / d_in)).astype(dtype)
        weights[f"b{i}"] = rng.uniform(-0.1, 0.1, d_out).astype(dtype)
    X = rng.standard_normal((n, SIZES[0])).astype(dtype)
    y = rng.integers(0, N_CLASSES, size=n)
    return weights, X, y


# --------------------------------------------------------------------------------------------
# (3) Hand-fused NumPy step
# --------------------------------------------------------------------------------------------
class FusedNumpy:
    """One straight-line training step with preallocated buffers and in-place everything."""

    name = "fused"

    def __init__(self, weights, X, y):
        dtype = X.dtype
        n = X.shape[0]
        self.X, self.y = X, y
        self.w0 = weights
        self.p = {k: w.copy() for k, w in weights.items()}
        self.g = {k: np.empty_like(w) for k, w in weights.items()}
        self.m = {k: np.zeros_like(w) for k, w in weights.items()}
        self.v = {k: np.zeros_like(w) for k, w in weights.items()}
        self.t = 0
        h = SIZES[1]
        self.h1 = np.empty((n, h), dtype)
        self.h2 = np.empty((n, SIZES[2]), dtype)
        # logits and their gradient in column-major order: the row reductions of softmax
        # (max and sum over K = 10 classes) then run along contiguous columns, 3-6x faster
        self.z = np.empty((n, N_CLASSES), dtype, order="F")
        self.dz = np.empty((n, N_CLASSES), dtype, order="F")
        self.dh2 = np.empty((n, SIZES[2]), dtype)
        self.dh1 = np.empty((n, h), dtype)
        self.mask2 = np.empty((n, SIZES[2]), bool)
        self.mask1 = np.empty((n, h), bool)
        self.zmax = np.empty((n, 1), dtype)
        self.s = np.empty((n, 1), dtype)
        self.rows = np.arange(n)
        self.inv_n = dtype.type(1.0 / n)
        self.scratch = {k: np.empty_like(w) for k, w in weights.items()}
        # (param, grad, m, v, scratch) in a fixed order: no dict lookups in the hot loop
        self.quints = [(self.p[k], self.g[k], self.m[k], self.v[k], self.scratch[k]) for k in PARAM_NAMES]

    def params(self):
        return self.p

    def reset(self):
        """Back to the initial weights and a fresh Adam state (in place; buffers are kept)."""
        for k, w in self.w0.items():
            np.copyto(self.p[k], w)
            self.m[k].fill(0)
            self.v[k].fill(0)
        self.t = 0

    def step(self) -> float:
        X, y, rows = self.X, self.y, self.rows
        p, g = self.p, self.g
        W1, b1, W2, b2, W3, b3 = p["W1"], p["b1"], p["W2"], p["b2"], p["W3"], p["b3"]
        h1, h2, z, dz, dh1, dh2 = self.h1, self.h2, self.z, self.dz, self.dh1, self.dh2
        # forward: affine + in-place bias + in-place ReLU
        np.matmul(X, W1, out=h1)
        h1 += b1
        np.maximum(h1, 0, out=h1)
        np.matmul(h1, W2, out=h2)
        h2 += b2
        np.maximum(h2, 0, out=h2)
        np.matmul(h2, W3, out=z)
        z += b3
        # softmax cross-entropy and its gradient (softmax - onehot) / N, fused
        np.max(z, axis=1, keepdims=True, out=self.zmax)
        z -= self.zmax
        picked = z[rows, y]
        np.exp(z, out=dz)
        s = self.s
        np.sum(dz, axis=1, keepdims=True, out=s)
        loss = float(np.log(s).sum() - picked.sum()) / len(y)
        s *= len(y)
        dz /= s
        dz[rows, y] -= self.inv_n
        # backward (no input gradient for the first layer)
        np.matmul(h2.T, dz, out=g["W3"])
        np.sum(dz, axis=0, out=g["b3"])
        np.matmul(dz, W3.T, out=dh2)
        np.greater(h2, 0, out=self.mask2)
        np.multiply(dh2, self.mask2, out=dh2)
        np.matmul(h1.T, dh2, out=g["W2"])
        np.sum(dh2, axis=0, out=g["b2"])
        np.matmul(dh2, W2.T, out=dh1)
        np.greater(h1, 0, out=self.mask1)
        np.multiply(dh1, self.mask1, out=dh1)
        np.matmul(X.T, dh1, out=g["W1"])
        np.sum(dh1, axis=0, out=g["b1"])
        # Adam, PyTorch's formula, in place. m and v are updated as b*m + (1-b)*g (no
        # cancellation in float32); after that the gradient buffer (ours) is scratch.
        #   w -= (lr / bc1) * m / (sqrt(v) / sqrt(bc2) + eps)
        #     == (lr / bc1 * sqrt(bc2)) * m / (sqrt(v) + eps * sqrt(bc2))
        self.t += 1
        bc1 = 1.0 - BETA1**self.t
        sbc2 = math.sqrt(1.0 - BETA2**self.t)
        eps_hat = EPS * sbc2
        scale = LR / bc1 * sbc2
        for w, gr, m, v, tmp in self.quints:
            np.multiply(gr, gr, out=tmp)
            tmp *= 1.0 - BETA2
            v *= BETA2
            v += tmp
            gr *= 1.0 - BETA1
            m *= BETA1
            m += gr
            np.sqrt(v, out=gr)
            gr += eps_hat
            np.divide(m, gr, out=gr)
            gr *= scale
            w -= gr
        return loss


# --------------------------------------------------------------------------------------------
# (1) nnkit, as a student uses it
# --------------------------------------------------------------------------------------------
class Nnkit:
    name = "nnkit"

    def __init__(self, weights, X, y):
        from nnkit.losses import softmax_cross_entropy, softmax_cross_entropy_grad
        from nnkit.model import MLP
        from nnkit.optimizers import Adam

        self.loss_fn, self.loss_grad = softmax_cross_entropy, softmax_cross_entropy_grad
        self.model = MLP(list(SIZES), activation="relu", rng=np.random.default_rng(1), dtype=X.dtype)
        params = self.model.params
        if sorted(params) != sorted(PARAM_NAMES):
            raise RuntimeError(f"unexpected nnkit parameter names {sorted(params)}")
        for k, w in weights.items():
            if params[k].shape != w.shape or params[k].dtype != w.dtype:
                raise RuntimeError(f"nnkit {k}: shape/dtype {params[k].shape}/{params[k].dtype}, expected {w.shape}/{w.dtype}")
            params[k][...] = w
        self.opt = Adam(lr=LR, beta1=BETA1, beta2=BETA2, eps=EPS)
        self.state = self.opt.init_state(self.model.params)
        self.X, self.y = X, y
        self.w0 = weights

    def params(self):
        return self.model.params

    def reset(self):
        params = self.model.params
        for k, w in self.w0.items():
            np.copyto(params[k], w)
        self.state = self.opt.init_state(params)

    def step(self) -> float:
        model, X, y = self.model, self.X, self.y
        logits, cache = model.forward(X, training=True)
        loss = self.loss_fn(logits, y)
        dlogits = self.loss_grad(logits, y)
        _, grads = model.backward(dlogits, cache)  # also computes dL/dX, as backward promises
        self.opt.step(model.params, grads, self.state)
        return loss


class NnkitFitStep(Nnkit):
    """nnkit as ``nnkit.training.fit`` runs one step: ``value_and_grad`` (one softmax for the
    loss and its gradient) and ``backward(..., input_grad=False)`` (no dL/dX)."""

    def __init__(self, weights, X, y):
        super().__init__(weights, X, y)
        from nnkit.losses import softmax_cross_entropy_value_and_grad

        self.value_and_grad = softmax_cross_entropy_value_and_grad

    def step(self) -> float:
        model = self.model
        logits, cache = model.forward(self.X, training=True)
        loss, dlogits = self.value_and_grad(logits, self.y)
        _, grads = model.backward(dlogits, cache, input_grad=False)
        self.opt.step(model.params, grads, self.state)
        return loss


# --------------------------------------------------------------------------------------------
# (2) PyTorch CPU
# --------------------------------------------------------------------------------------------
class Torch:
    name = "torch"

    def __init__(self, weights, X, y, torch):
        self.torch = torch
        tdtype = {np.float64: torch.float64, np.float32: torch.float32}[X.dtype.type]
        layers = []
        for i, (d_in, d_out) in enumerate(zip(SIZES[:-1], SIZES[1:]), start=1):
            layers.append(torch.nn.Linear(d_in, d_out, dtype=tdtype))
            if i < len(SIZES) - 1:
                layers.append(torch.nn.ReLU())
        self.net = torch.nn.Sequential(*layers)
        self.linears = [m for m in self.net if isinstance(m, torch.nn.Linear)]
        self.w0 = weights
        self.reset()
        self.X = torch.from_numpy(X)
        self.y = torch.from_numpy(y.astype(np.int64))
        self.cross_entropy = torch.nn.functional.cross_entropy

    def reset(self):
        torch = self.torch
        with torch.no_grad():
            for i, lin in enumerate(self.linears, start=1):
                lin.weight.copy_(torch.from_numpy(self.w0[f"W{i}"].T.copy()))  # torch stores W as (out, in)
                lin.bias.copy_(torch.from_numpy(self.w0[f"b{i}"]))
        self.opt = torch.optim.Adam(self.net.parameters(), lr=LR, betas=(BETA1, BETA2), eps=EPS)

    def params(self):
        out = {}
        for i, lin in enumerate(self.linears, start=1):
            out[f"W{i}"] = lin.weight.detach().numpy().T.copy()
            out[f"b{i}"] = lin.bias.detach().numpy().copy()
        return out

    def step(self):
        self.opt.zero_grad(set_to_none=True)
        loss = self.cross_entropy(self.net(self.X), self.y)
        loss.backward()
        self.opt.step()
        return loss


# --------------------------------------------------------------------------------------------
# Validation and timing
# --------------------------------------------------------------------------------------------
def _as_float(loss) -> float:
    return float(loss.detach()) if hasattr(loss, "detach") else float(loss)


def validate(reference, other, dtype) -> str | None:
    """Run VALIDATION_STEPS steps on both; return None if they agree, else a description.

    float64: every loss to relative 1e-10 and every updated weight to 1e-9 * lr + 1e-10 * |w|.
    float32: every loss to relative 1e-5; weights to 1e-3 * lr + 1e-6 * |w|, except that up to
    0.1% of the entries may differ by up to 2 * lr * steps: where a gradient entry is about as
    small as Adam's eps, float32 rounding of the gradient (different summation orders) legitimately
    moves the update m / (sqrt(v) + eps) by a sizeable fraction of lr.
    """
    f64 = np.dtype(dtype) == np.float64
    loss_rtol, w_atol, w_rtol = (1e-10, 1e-9 * LR, 1e-10) if f64 else (1e-5, 1e-3 * LR, 1e-6)
    for step in range(1, VALIDATION_STEPS + 1):
        la, lb = _as_float(reference.step()), _as_float(other.step())
        if not math.isclose(la, lb, rel_tol=loss_rtol, abs_tol=0.0):
            return f"step {step}: loss {reference.name}={la!r} {other.name}={lb!r}"
        pa, pb = reference.params(), other.params()
        for k in PARAM_NAMES:
            a, b = np.asarray(pa[k]), np.asarray(pb[k])
            if a.dtype != b.dtype or a.shape != b.shape:
                return f"step {step}: {k} {reference.name}={a.dtype}{a.shape} {other.name}={b.dtype}{b.shape}"
            err = np.abs(a.astype(np.float64) - b)
            bad = err > w_atol + w_rtol * np.abs(a)
            n_bad = int(bad.sum())
            if f64 and n_bad:
                i = np.unravel_index(np.argmax(bad), bad.shape)
                return (f"step {step}: {k}[{', '.join(map(str, i))}] {reference.name}={float(a[i])!r} "
                        f"{other.name}={float(b[i])!r} (|diff| {err[i]:.3g})")
            if not f64 and (n_bad > 1e-3 * a.size or err.max() > 2 * LR * step):
                return (f"step {step}: {k}: {n_bad} of {a.size} entries differ by more than float32 tolerance, "
                        f"max |diff| {err.max():.3g}")
    return None


MAX_STEPS_PER_SAMPLE = 50


def calibrate(impl, sample_s: float) -> int:
    """Steps per sample so that one sample lasts about ``sample_s`` seconds (at most 50)."""
    impl.reset()
    for _ in range(3):  # warm-up: caches, allocator, BLAS threads, lazy imports
        impl.step()
    impl.reset()
    t0 = time.perf_counter()
    k = 0
    while True:
        impl.step()
        k += 1
        dt = time.perf_counter() - t0
        if dt > 0.2 * sample_s or k >= 10:
            break
    return max(1, min(MAX_STEPS_PER_SAMPLE, round(sample_s / (dt / k))))


def measure(impls: dict, repeats: int, sample_s: float) -> dict:
    """Median seconds per step of each implementation: ``{name: (median, samples)}``.

    Every sample starts from the same initial weights and a fresh Adam state (``reset``, not
    timed) and times the first ``number`` steps from there, so that the implementations are
    timed in the same regime. (Thousands of steps on one fixed batch would drive the loss and
    the gradients towards 0; the tiny numbers then reach the subnormal range, where CPU
    arithmetic is many times slower, and the timings would depend on how many steps each
    implementation happened to have taken.) Samples are interleaved in rotating order.
    """
    numbers = {name: calibrate(impl, sample_s) for name, impl in impls.items()}
    samples = {name: [] for name in impls}
    names = list(impls)
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        for r in range(repeats):
            k = r % len(names)
            for name in names[k:] + names[:k]:
                impl, number = impls[name], numbers[name]
                step = impl.step
                impl.reset()
                step()  # untimed warm-up step after switching implementation
                impl.reset()
                t0 = time.perf_counter()
                for _ in range(number):
                    step()
                samples[name].append((time.perf_counter() - t0) / number)
    finally:
        if gc_was_enabled:
            gc.enable()
    return {name: (statistics.median(v), v) for name, v in samples.items()}


def paired_ratio(res: dict, a: str, b: str) -> float | None:
    """Median over rounds of (a's sample / b's sample of the same round), or None.

    Samples of one round are taken moments apart, so the machine's slow changes of speed
    (other load, frequency) cancel in their ratio; the median of these ratios is steadier than
    the ratio of the two medians.
    """
    if a not in res or b not in res:
        return None
    return statistics.median(x / y for x, y in zip(res[a][1], res[b][1]))


def gemm_ratio(torch, rounds: int = 60) -> dict:
    """NumPy's matrix product against torch's on the step's three float64 shapes at batch 1024.

    At batch 1024 a training step is mostly matrix products, so which BLAS library does them
    (NumPy: OpenBLAS; the torch CPU wheel: MKL) sets a floor no NumPy design can go below. This
    prints that floor: the median over interleaved rounds of numpy_time / torch_time per shape.
    """
    out = {}
    rng = np.random.default_rng(0)
    for m, k, n in ((1024, 64, 256), (1024, 256, 256), (256, 1024, 256)):
        a, b = rng.standard_normal((m, k)), rng.standard_normal((k, n))
        c = np.empty((m, n))
        ta, tb, tc = torch.from_numpy(a), torch.from_numpy(b), torch.empty((m, n), dtype=torch.float64)
        for _ in range(5):
            np.matmul(a, b, out=c)
            torch.matmul(ta, tb, out=tc)
        ratios = []
        for _ in range(rounds):
            t0 = time.perf_counter()
            np.matmul(a, b, out=c)
            t1 = time.perf_counter()
            torch.matmul(ta, tb, out=tc)
            t2 = time.perf_counter()
            ratios.append((t1 - t0) / (t2 - t1))
        out[f"{m}x{k} @ {k}x{n}"] = statistics.median(ratios)
    return out


# --------------------------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------------------------
def fmt_us(x):
    return "-" if x is None else f"{x * 1e6:,.0f}"


def fmt_ratio(x):
    return "-" if x is None else f"{x:.2f}x"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=None, help="timed samples per implementation and row (default 41; 9 with --quick)")
    ap.add_argument("--quick", action="store_true", help="fewer and shorter samples: a rough look in a few seconds")
    ap.add_argument("--sample-ms", type=float, default=None, help="length of one sample in ms, at most 50 steps (default 20; 10 with --quick)")
    ap.add_argument("--threads", type=int, default=1,
                    help="threads for NumPy's BLAS and for torch, the same for both (default 1; 0 = leave "
                         "NumPy's BLAS at its default and give torch as many)")
    ap.add_argument("--no-torch", action="store_true", help="do not time PyTorch even if it is installed")
    ap.add_argument("--fit-step", action="store_true",
                    help="time nnkit's step as nnkit.training.fit runs it (loss value_and_grad, "
                         "backward(..., input_grad=False)) instead of the separate calls a student writes")
    args = ap.parse_args(argv)
    repeats = args.repeats if args.repeats is not None else (9 if args.quick else 41)
    repeats = max(1, repeats)
    sample_s = (args.sample_ms if args.sample_ms is not None else (10.0 if args.quick else 20.0)) / 1000.0

    limiter = limit_blas_threads(args.threads) if args.threads > 0 else None  # noqa: F841 (kept alive)
    blas_threads, blas_desc = blas_info()
    torch = None if args.no_torch else import_torch()
    torch_desc = "not installed: PyTorch column skipped" if torch is None else ""
    if torch is not None:
        n_threads = args.threads if args.threads > 0 else (blas_threads or os.cpu_count() or 1)
        torch.set_num_threads(n_threads)
        torch_desc = f"{torch.__version__}, {torch.get_num_threads()} intra-op thread(s), torch.optim.Adam defaults (single-tensor on CPU)"
    if args.no_torch:
        torch_desc = "disabled (--no-torch)"

    print("nnkit training-step benchmark: 64-256-256-10 ReLU MLP, softmax cross-entropy, Adam")
    print(f"date     {datetime.datetime.now().astimezone().isoformat(timespec='minutes')}")
    print(f"machine  {cpu_name()}, {os.cpu_count()} logical CPUs, {platform.system()} {platform.release()}")
    print(f"python   {platform.python_version()}   numpy {np.__version__} (BLAS: {blas_desc})")
    print(f"torch    {torch_desc}")
    print("nnkit    " + ("the step of nnkit.training.fit: loss value_and_grad, backward(input_grad=False)" if args.fit_step
                         else "a student's step: loss and loss_grad calls, backward(dout, cache) (returns dL/dX too)"))
    env = " ".join(f"{k}={os.environ[k]}" for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS") if k in os.environ)
    print(f"env      {env or '(no thread variables set)'}")
    try:
        load1 = os.getloadavg()[0]
    except (AttributeError, OSError):
        load1 = None
    if load1 is not None:
        busy = load1 > 0.5 * (os.cpu_count() or 1)
        print(f"load     {load1:.2f} (1-min average)" + ("  !! the machine is busy: timings will be noisy" if busy else ""))
    print(f"timing   median of {repeats} interleaved samples, each <= {MAX_STEPS_PER_SAMPLE} steps (~{sample_s * 1e3:g} ms) "
          "from the initial weights; gc off; microseconds per step;")
    print("         ratios = median over rounds of the paired samples' ratio")
    print()

    header = f"{'dtype':<8} {'batch':>5} | {'nnkit us':>9} {'fused us':>9} {'torch us':>9} | {'nnkit/fused':>11} {'nnkit/torch':>11} | target"
    rows_out = []
    print(header)
    print("-" * len(header))
    all_met = True
    for dtype in DTYPES:
        for n in BATCHES:
            weights, X, y = make_problem(n, dtype)
            note = ""
            try:
                nn = (NnkitFitStep if args.fit_step else Nnkit)(weights, X, y)
            except Exception:
                nn = None
                note = "nnkit failed to build: " + traceback.format_exc(limit=1).strip().splitlines()[-1]
            fused = FusedNumpy(weights, X, y)
            th = Torch(weights, X, y, torch) if torch is not None else None
            # validation (also serves as warm-up)
            problems = []
            if nn is not None:
                try:
                    msg = validate(nn, fused, dtype)
                except Exception:
                    msg = "nnkit raised: " + traceback.format_exc(limit=2).strip().splitlines()[-1]
                if msg:
                    problems.append("nnkit vs fused: " + msg)
            if th is not None:
                ref = FusedNumpy(weights, X, y)
                msg = validate(ref, th, dtype)
                if msg:
                    problems.append("torch vs fused: " + msg)
            impls = {"fused": fused}
            if nn is not None and not any(p.startswith("nnkit") for p in problems):
                impls["nnkit"] = nn
            if th is not None:
                impls["torch"] = th
            res = measure(impls, repeats, sample_s)
            t_nn = res["nnkit"][0] if "nnkit" in res else None
            t_fu = res["fused"][0]
            t_th = res["torch"][0] if "torch" in res else None
            r_fu = paired_ratio(res, "nnkit", "fused")
            r_th = paired_ratio(res, "nnkit", "torch")
            met = t_nn is not None and r_fu <= TARGET_FUSED
            why = []
            if t_nn is None:
                why.append("nnkit not timed")
            elif r_fu > TARGET_FUSED:
                why.append(f"> {TARGET_FUSED}x fused")
            if dtype == np.float64:
                if r_th is None:
                    if t_nn is not None:
                        why.append("no torch: torch part unchecked")
                elif r_th >= 1.0:
                    met = False
                    why.append("not faster than torch")
            all_met &= met
            verdict = ("TARGET MET" if met else "TARGET MISSED") + (f" ({'; '.join(why)})" if why else "")
            name = np.dtype(dtype).name
            line = (f"{name:<8} {n:>5} | {fmt_us(t_nn):>9} {fmt_us(t_fu):>9} {fmt_us(t_th):>9} | "
                    f"{fmt_ratio(r_fu):>11} {fmt_ratio(r_th):>11} | {verdict}")
            print(line, flush=True)
            for p in problems + ([note] if note else []):
                print(f"    !! VALIDATION: {p}", flush=True)
            rows_out.append(line)
    if torch is not None:
        print()
        ratios = gemm_ratio(torch)
        print("BLAS floor (float64 matrix products of the batch-1024 step, numpy time / torch time): "
              + ", ".join(f"{k}: {v:.2f}x" for k, v in ratios.items()))
        print("  A ratio above 1 means NumPy's BLAS is the slower one: at batch 1024, where the step is "
              "mostly these products, no NumPy step (fused included) can be much faster than torch.")
    print()
    print("Validation: nnkit and fused NumPy (and torch) agreed on loss and updated weights over "
          f"{VALIDATION_STEPS} steps in every row without a '!!' line.")
    print("Overall: " + ("all targets met" if all_met else "some targets missed") + " (this is a report; exit status is 0)")
    return 0


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        pass
    sys.exit(0)
