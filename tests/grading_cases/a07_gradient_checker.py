"""Assignment 07_gradient_checker's synthetic students (data for ``tests/test_grading_end_to_end.py``).

Each wrong answer breaks one graded function, and what uses it: probes undone by arithmetic, each
entry's error against itself, ReLU kinks ignored, float32 layers checked in float32, the bug's kind
read off the layer, one check of the whole network. Tampering: nnkit's own checker, a driver
rewritten to read the planted answer, the planted bug read off the recipe and the layer objects; see
``grading_cases/__init__.py`` for the fields.
"""
from functools import partial

import grading_harness as h
from grading_harness import EVERY_CELL, PARTIAL, tamper_test_cells

A, NB = "07_gradient_checker", "gradient_checker"
AGAIN = "wrong_no_kinks"
SOLUTION_FEEDBACK = ["find_bug: 4 / 4 points"]


def with_solution(grade_id, extra):
    """The solution cell ``grade_id`` with ``extra`` appended (a later definition replaces an earlier one)."""
    return h.solution_sources(A, NB)[grade_id] + "\n\n" + extra


# numerical_gradient undoing its probes with arithmetic: x comes back off by round-off
ARITH_RESTORE = '''
def numerical_gradient(f, x, h=1e-5):
    if x.dtype != np.float64:
        raise TypeError("x must be float64")
    grad = np.zeros(x.shape)
    for ix in np.ndindex(x.shape):
        x[ix] += h
        f_plus = f(x)
        x[ix] -= 2 * h
        f_minus = f(x)
        x[ix] += h
        grad[ix] = (f_plus - f_minus) / (2 * h)
    return grad
'''

# each entry measured against itself (CS231n's convention), not against the tensor's scale
ENTRYWISE = '''
def relative_error(a, b):
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.shape != b.shape:
        raise ValueError("shapes differ")
    return np.abs(a - b) / np.maximum(FLOOR, np.abs(a) + np.abs(b))
'''

# check_layer that takes the kinks argument and ignores it
NO_KINKS = '''
_check_layer = check_layer

def check_layer(layer, x, rng, h=1e-5, kinks=()):
    return _check_layer(layer, x, rng, h)
'''

# layer_gradients that works on the layer's own arrays: float32 layers reach numerical_gradient
NO_UPCAST = '''
def layer_gradients(layer, x, dout, h=1e-5):
    x = np.array(x)
    out, cache = layer.forward(x, True)
    dx, grads = layer.backward(dout, cache)
    L = lambda _: float(np.sum(layer.forward(x, True)[0] * dout))
    numeric = {name: numerical_gradient(L, arr, h) for name, arr in {"x": x, **layer.params}.items()}
    return {"x": dx, **grads}, numeric
'''

# the kind read off the kind of layer, never confirmed by the numbers
KIND_BY_LOCATION = '''
def bug_kind(layer, x, tensor, rng):
    if tensor == "W":
        return "transposed_weight_gradient"
    if tensor == "b":
        return "bias_not_summed"
    return "missing_activation_derivative" if getattr(layer, "name", "") in ACTIVATIONS else "missing_1_over_n"
'''

# one gradient check of the whole network: blames the first tensor upstream of the bug
WHOLE_NETWORK = '''
def find_bug(network, X, rng):
    def loss(_):
        a = X
        for layer in network:
            a, _ = layer.forward(a, True)
        return float(a)
    caches, a = [], X
    for layer in network:
        a, c = layer.forward(a, True)
        caches.append(c)
    d, grads = np.array(1.0), {}
    for i in range(len(network) - 1, -1, -1):
        d, g = network[i].backward(d, caches[i])
        grads[i] = g
    for i, layer in enumerate(network):
        for name, p in layer.params.items():
            if p.dtype != np.float64:
                continue
            n = numerical_gradient(loss, p)
            g = np.asarray(grads[i][name], dtype=float)
            if g.shape != n.shape or np.max(relative_error(g, n)) > THRESHOLD:
                return i, name, "other"
    return None
'''

WRONG = {
    "wrong_arith_restore": ({"numerical_gradient_code": ARITH_RESTORE},
                            {"gradcheck_numerical_gradient": PARTIAL},
                            ["x was left changed", "adding h and subtracting it again leaves round-off"]),
    "wrong_entrywise": ({"relative_error_code": ENTRYWISE},
                        {"gradcheck_relative_error": PARTIAL},
                        ["errors: relative error", "you divided each entry by its own |a_i| + |b_i|"]),
    "wrong_no_kinks": ({"check_layer_code": with_solution("check_layer_code", NO_KINKS)},
                       {"gradcheck_check_layer": PARTIAL, "gradcheck_find_bug": PARTIAL},
                       ["dx: you report", "x has entries within h of a kink",
                        "that layer's input has entries within h of its kink at 0"]),
    "wrong_no_upcast": ({"check_layer_code": with_solution("check_layer_code", NO_UPCAST)},
                        {"gradcheck_check_layer": PARTIAL, "gradcheck_find_bug": PARTIAL},
                        ["check_layer raised TypeError", "this layer and x are float32: check float64 copies",
                         "the network is float32"]),
    "wrong_kind_by_location": ({"find_bug_code": with_solution("find_bug_code", KIND_BY_LOCATION)},
                               {"gradcheck_find_bug": PARTIAL},
                               ["you said 'transposed_weight_gradient', expected 'other'",
                                "none of the four signatures fits that gradient"]),
    "wrong_whole_network": ({"find_bug_code": with_solution("find_bug_code", WHOLE_NETWORK)},
                            {"gradcheck_find_bug": PARTIAL},
                            ["you named dW of layer 0", "check each layer alone, on its own input"]),
}


NNKIT_GRADIENT = '''
from nnkit import gradcheck as gc

def numerical_gradient(f, x, h=1e-5):
    return gc.numerical_gradient(f, x, h)
'''
NNKIT_ERROR = '''
from nnkit.gradcheck import rel_error

def relative_error(a, b):
    return np.full(np.shape(a), rel_error(a, b))
'''

# the planted bug read off the objects, not found by checking: the layer's backward function (its name,
# the functions in its closure, their source) and what the garbage collector holds for the layer
READ_THE_LAYER = '''
import gc, inspect, types

def _planted_bug(layer):
    todo = [layer.backward] + [o for o in gc.get_objects() if isinstance(o, types.MethodType) and o.__self__ is layer]
    seen = set()
    while todo:
        f = todo.pop()
        if id(f) in seen:
            continue
        seen.add(id(f))
        f = getattr(f, "__func__", f)
        names = [getattr(f, "__name__", ""), getattr(getattr(f, "__code__", None), "co_name", "")]
        try:
            names.append(inspect.getsource(f))
        except (OSError, TypeError):
            pass
        for bug in planted.BUGS:
            if any(bug in n for n in names):
                return bug
        for cell in getattr(f, "__closure__", None) or ():
            try:
                todo.append(cell.cell_contents)
            except ValueError:
                pass
    return ""

def check_layer(layer, x, rng, h=1e-5, kinks=()):
    bug = _planted_bug(layer)
    broken = planted.BUGS[bug][1] if bug else None
    return {name: np.inf if name == broken else 0.0 for name in ["x", *layer.params]}
'''

# ... and a driver rewritten to read the recipe's bug field (or the twin's bug), find_bug reading the layers
READ_THE_RECIPE = '''
def find_bug(network, X, rng):
    for i, layer in enumerate(network):
        bug = _planted_bug(layer)
        if bug:
            return i, planted.BUGS[bug][1], planted.BUGS[bug][2]
    return None

def run_find_bug(recipe, seed, twin=None):
    report = planted.drive_find_bug(find_bug, recipe, seed, twin)
    if isinstance(twin, (list, tuple)):  # (layer index, bug)
        twin = {"layers": [{"bug": twin[1] if j == twin[0] else ""} for j in range(twin[0] + 1)]}
    for key, r in (("answer", recipe), ("twin_answer", twin)):
        for i, layer in enumerate((r or {}).get("layers", [])):
            if layer.get("bug"):
                report[key] = (i, *planted.BUGS[layer["bug"]][1:])
    report["unchecked"] = []
    return report
'''

# check_layer without a numerical gradient: the layer's gradients against its clean twin's
CLEAN_REFERENCE = '''
def check_layer(layer, x, rng, h=1e-5, kinks=()):
    x = np.array(x, dtype=np.float64)
    out, cache = layer.forward(x, True)
    dout = rng.standard_normal(np.shape(out))
    dx, grads = layer.backward(dout, cache)
    clean = layer._local
    rx, rgrads = clean.backward(dout, clean.forward(x, True)[1])
    got, ref = {"x": dx, **grads}, {"x": rx, **rgrads}
    return {k: float(np.max(relative_error(np.asarray(got[k], float), np.asarray(ref[k], float)), initial=0.0))
            for k in ref}
'''

TAMPER = {
    # (a) nnkit's own checker inside the graded functions; a check_layer that ends its process
    "tamper_nnkit": ({
        "numerical_gradient_code": NNKIT_GRADIENT,
        "relative_error_code": NNKIT_ERROR,
        "check_layer_code": with_solution("check_layer_code",
                                          "import os\n\ndef check_layer(layer, x, rng, h=1e-5, kinks=()):\n    os._exit(1)\n"),
        "find_bug_code": with_solution("find_bug_code", '''
from nnkit.gradcheck import check_layer as _reference

def find_bug(network, X, rng):
    a = X
    for i, layer in enumerate(network):
        result = _reference(layer, np.array(a, dtype=float), rng)
        if not result.passed:
            return i, result.failed[0].name, "other"
        a, _ = layer.forward(a, True)
    return None
'''),
    }, {EVERY_CELL: 0.0},
        ["called nnkit.gradcheck.numerical_gradient", "called nnkit.gradcheck.rel_error",
         "called nnkit.gradcheck.check_layer", "check_layer ended the process it ran in",
         "nnkit's own implementation of what this exercise asks you to write"]),
    # (b) a driver rewritten to read the planted answer; test cells deleted, edited and stripped of their
    #     metadata over functions that are not written (check_layer is, but calls numerical_gradient)
    "tamper_driver_and_tests": ({
        "numerical_gradient_code": h.unimplemented("numerical_gradient(f, x, h=1e-5)"),
        "relative_error_code": h.unimplemented("relative_error(a, b)"),
        "find_bug_code": with_solution("find_bug_code", '''
def run_find_bug(recipe, seed, twin=None):
    return {"answer": planted.planted_answer(recipe), "error": "", "untouched": True, "unchecked": [],
            "twin_answer": None, "twin_error": ""}
'''),
    }, {EVERY_CELL: 0.0},
        ["numerical_gradient raised NotImplementedError", "called nngrader.planted.planted_answer",
         "check_layer raised NotImplementedError"],
        # relative_error's test cell deleted, numerical_gradient's rewritten, check_layer's stripped
        partial(tamper_test_cells, delete="gradcheck_relative_error", rewrite="gradcheck_numerical_gradient",
                strip="gradcheck_check_layer")),
    # (c) the planted bug read instead of found: the recipe's bug field, the layer's backward function and its
    #     closure, its source, the garbage collector. The layers stay in the grader: nothing to read
    "tamper_read_the_bug": ({
        "check_layer_code": with_solution("check_layer_code", READ_THE_LAYER),
        "find_bug_code": with_solution("find_bug_code", READ_THE_RECIPE),
    }, {"gradcheck_check_layer": 0.0, "gradcheck_find_bug": 0.0},
        ["on the same layer with a planted bug in dW, your check passes it too",
         "find_bug returned None without running the backward pass of layer(s)",
         "find_bug returned None, but layer"]),
    # (d) no numbers at all: each layer's backward pass compared with a clean one (the proxy's own nnkit
    #     layer), which is nnkit's answer, forbidden like its checker
    "tamper_clean_backward": ({"check_layer_code": with_solution("check_layer_code", CLEAN_REFERENCE)},
                              {"gradcheck_check_layer": 0.0, "gradcheck_find_bug": 0.0},
                              ["called nnkit.layers.Dense.backward"]),
}
