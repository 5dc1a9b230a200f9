"""nngrader.remote_layers: assignment 07's planted layers stay in the grader, student code gets proxies.

A proxy in a real sandbox child computes what the real layer computes (its backward pass by a
callback over the wire), and nothing in the child names or holds the planted bug: not the
arguments the notebook's drivers receive, not the layers a student's check is given, not any
object the child's garbage collector knows.
"""
import nbformat
import numpy as np
import pytest

from nngrader import planted, specs
from nngrader.check import _KernelRunner
from nngrader.remote_layers import MAX_ENTRIES, LayerServer, Served, hide
from nngrader.sandbox import Session

from test_grading_sandbox import ROOT

NOTEBOOK = ROOT / "solutions" / "07_gradient_checker" / "gradient_checker.ipynb"

RECIPES = [
    {"type": "dense", "n_in": 3, "n_out": 4, "seed": 1, "bias": "random", "bug": "", "dtype": "float64"},
    {"type": "dense", "n_in": 3, "n_out": 3, "seed": 2, "bias": "random", "bug": "transposed_weight_gradient",
     "dtype": "float64"},
    {"type": "dense", "n_in": 4, "n_out": 2, "seed": 3, "bias": "random", "bug": "bias_not_summed", "dtype": "float32"},
    {"type": "activation", "name": "tanh", "bug": "tanh_without_square", "dtype": "float64"},
    {"type": "activation", "name": "relu", "bug": "", "dtype": "float64"},
    {"type": "loss", "name": "mse", "n": 5, "k": 3, "seed": 4, "bug": "missing_1_over_n", "dtype": "float64"},
    {"type": "loss", "name": "softmax_cross_entropy", "n": 5, "k": 3, "seed": 5, "bug": "loss_gradient_sign",
     "dtype": "float64"},
]

# child side: a proxy's forward and backward, the second time with W perturbed in place
PROXY = '''
import numpy as np
from nngrader import remote_layers

def run(public, x, dout):
    layer = remote_layers.proxy_layer(public)
    out, cache = layer.forward(x, True)
    dx, grads = layer.backward(dout if np.ndim(out) else 1.0, cache)
    moved = None
    if "W" in layer.params:
        layer.params["W"][0, 0] += 0.5
        _, cache2 = layer.forward(x, True)
        layer.params["W"][0, 0] -= 0.5
        moved = layer.backward(dout, cache2)
    return {"out": out, "dx": dx, "grads": grads, "moved": moved, "name": str(getattr(layer, "name", "")),
            "repr": repr(layer), "cache": sorted(cache)}
'''


# child side: a check that compares the served backward pass with the proxy's own clean layer's
CLEAN_BACKWARD = '''
from nngrader import remote_layers

def run(public, x, dout):
    layer = remote_layers.proxy_layer(public)
    out, cache = layer.forward(x, True)
    served = layer.backward(dout, cache)[1]["W"]
    clean = layer._local.backward(dout, layer._local.forward(x, True)[1])[1]["W"]
    return float(abs(served - clean).max())
'''

FORBIDDEN_07 = specs.load("07_gradient_checker")["gradcheck_check_layer"].forbidden


@pytest.fixture(scope="module")
def session():
    s = Session(cell_timeout=10, time_budget=300)
    yield s
    s.close()


def _input(recipe, rng):
    n = recipe.get("n", 5)
    d = recipe.get("n_in", recipe.get("k", 3))
    return rng.normal(size=(n, d)).astype(recipe["dtype"])


@pytest.mark.parametrize("recipe", RECIPES, ids=lambda r: r["bug"] or f"clean {r['type']}")
def test_a_proxy_in_the_sandbox_computes_what_the_real_layer_computes(session, recipe):
    assert session.exec_cell(0, PROXY).status == "ok"
    rng = np.random.default_rng(0)
    x = _input(recipe, rng)
    real = planted.build_layer(recipe, recipe["dtype"])
    out, cache = real.forward(x, True)
    dout = rng.normal(size=np.shape(out)) if np.ndim(out) else np.array(1.0)
    served = Served(recipe)
    got = session.call("run", (served, x, dout), {}, (), 10.0)
    assert got.status == "ok", got.error
    v = got.value
    dx, grads = real.backward(dout if np.ndim(out) else 1.0, cache)
    np.testing.assert_array_equal(v["out"], out)
    np.testing.assert_array_equal(v["dx"], dx)  # the planted backward, bug and all
    assert v["grads"].keys() == grads.keys()
    for k in grads:
        np.testing.assert_array_equal(v["grads"][k], grads[k])
    assert v["repr"] == repr(real) and v["name"] == str(getattr(real, "name", ""))
    assert v["cache"] == ["params", "training", "x"]  # plain data
    if "W" in real.params:  # the grader computes with the parameters as the forward pass saw them
        real.params["W"][0, 0] += 0.5
        moved_dx, moved = real.backward(dout, real.forward(x, True)[1])
        np.testing.assert_array_equal(v["moved"][0], moved_dx)
        for k in moved:
            np.testing.assert_array_equal(v["moved"][1][k], moved[k])
    assert served.backward_calls == [2 if "W" in real.params else 1]  # counted by the grader


# A hostile check_layer / find_bug, run through the notebook's own locked drivers with the spec's
# own cases: it reports every trace of a planted bug it can find in the process it runs in.
HUNT = '''
import gc, inspect, types
from nngrader import planted

BUG_CODES = {f.__code__: name for name, f in planted._PLANTED.items()}

def _callables(f, seen):
    """f, and every function reachable from it through bound methods, wrappers and closures."""
    while f is not None and id(f) not in seen:
        seen.add(id(f))
        yield f
        for c in getattr(getattr(f, "__func__", f), "__closure__", None) or ():
            try:
                yield from _callables(c.cell_contents, seen)
            except ValueError:
                pass
        f = getattr(f, "__func__", None) or getattr(f, "__wrapped__", None)

def _found(layers, args):
    found = []
    for i, layer in enumerate(layers):
        for f in _callables(getattr(layer, "backward", None), set()):
            code = getattr(f, "__code__", None)
            if code in BUG_CODES:
                found.append(f"layer {i}: backward is {BUG_CODES[code]}")
            try:
                source = inspect.getsource(f)
            except (OSError, TypeError):
                source = ""
            found += [f"layer {i}: {bug} in the source of its backward" for bug in planted.BUGS if bug in source]
        for attr, value in vars(layer).items():
            for f in _callables(value, set()) if callable(value) else ():
                if getattr(f, "__code__", None) in BUG_CODES:
                    found.append(f"layer {i}: attribute {attr} holds {BUG_CODES[f.__code__]}")
    def walk(v, path):
        if isinstance(v, dict):
            if v.get("bug"):
                found.append(f"{path} has bug {v['bug']!r}")
            for k, w in v.items():
                walk(w, f"{path}[{k!r}]")
        elif isinstance(v, (list, tuple)):
            for j, w in enumerate(v):
                walk(w, f"{path}[{j}]")
        elif isinstance(v, str) and v in planted.BUGS:
            found.append(f"{path} is {v!r}")
    walk(args, "the driver's arguments")
    for o in gc.get_objects():
        if isinstance(o, types.MethodType) and getattr(o.__func__, "__code__", None) in BUG_CODES:
            found.append(f"gc: a bound {BUG_CODES[o.__func__.__code__]}")
        elif isinstance(o, dict) and o.get("bug") and isinstance(o.get("type"), str):
            found.append(f"gc: a layer recipe with bug {o['bug']!r}")
    return found

def check_layer(layer, x, rng, h=1e-5, kinks=()):
    return {"found": _found([layer], ARGS)}

def find_bug(network, X, rng):
    return _found(network, ARGS)
'''


def _driver_cells():
    """The notebook's setup and locked driver cells."""
    nb = nbformat.read(NOTEBOOK, as_version=4)
    return [c.source for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") in ("setup", "drivers")]


def _hunt(s, grade_id):
    """What HUNT finds in the child on the spec's visible cases, through the notebook's driver
    (wrapped, to keep the arguments it receives)."""
    cases = specs.find(grade_id).cases("visible", "")
    driver = cases[0].function
    assert s.exec_cell(9, f"ARGS = None\n_run = {driver}\n\ndef {driver}(*args):\n    global ARGS\n"
                          f"    ARGS = args\n    return _run(*args)").status == "ok"
    found = []
    for case in cases:
        out = s.call(case.function, case.args, case.kwargs, (), 20.0)
        assert out.status == "ok", out.error
        for key in ("", "twin_"):
            assert out.value.get(key + "error", "") == "", out.value
            got = out.value.get(key + ("errors" if grade_id == "gradcheck_check_layer" else "answer"))
            found += list((got["found"] if isinstance(got, dict) else got) or [])
    return found


@pytest.mark.parametrize("grade_id", ["gradcheck_check_layer", "gradcheck_find_bug"])
def test_nothing_in_the_sandbox_names_or_holds_the_planted_bug(grade_id):
    s = Session(cell_timeout=10, time_budget=300)
    try:
        for i, source in enumerate(_driver_cells()):
            assert s.exec_cell(i, source).status == "ok"
        assert s.exec_cell(5, HUNT).status == "ok"
        found = _hunt(s, grade_id)
    finally:
        s.close()
    assert found == []


def test_the_kernel_runner_serves_the_same_proxies():
    ns = {}
    exec(PROXY, ns)
    recipe = RECIPES[1]
    x = _input(recipe, np.random.default_rng(1))
    served = Served(recipe)
    out = _KernelRunner({"run": ns["run"]}).call("run", (served, x, np.ones((5, 3))), {}, FORBIDDEN_07, 5.0)
    assert out.status == "ok", out.error
    real = planted.build_layer(recipe)
    _, grads = real.backward(np.ones((5, 3)), real.forward(x)[1])
    np.testing.assert_array_equal(out.value["grads"]["W"], grads["W"])  # the transposed bug, from the server
    assert served.backward_calls == [2] and not out.mutated
    # the grader's backward passes (nnkit's clean ones, forbidden to student code) are not the student's
    assert out.forbidden_calls == []


def test_a_clean_backward_pass_called_by_student_code_is_forbidden_in_the_kernel_too():
    ns = {}
    exec(CLEAN_BACKWARD, ns)
    recipe = RECIPES[1]
    x = _input(recipe, np.random.default_rng(1))
    out = _KernelRunner({"run": ns["run"]}).call("run", (Served(recipe), x, np.ones((5, 3))), {}, FORBIDDEN_07, 5.0)
    assert out.status == "ok", out.error
    assert out.forbidden_calls[:1] == ["nnkit.layers:Dense.backward"], out.forbidden_calls


def test_hide_sends_no_bug_and_counts_backward_passes_per_layer():
    recipe = {"n": 4, "d_in": 3, "seed": 9, "dtype": "float64", "zero_row": False, "layers": [
        {"type": "dense", "n_in": 3, "n_out": 2, "seed": 1, "bias": "random", "bug": "bias_not_summed"},
        {"type": "activation", "name": "tanh", "bug": ""},
        {"type": "loss", "name": "mse", "n": 4, "k": 2, "seed": 3, "bug": ""}]}
    served = Served(recipe)
    server, (public, seed), _ = hide((served, 7), {})
    assert seed == 7 and set(public) == {"X", "layers"}
    assert [set(p) for p in public["layers"]] == [{"handle", "type", "name", "params", "y"}] * 3
    assert "bug" not in repr(public)
    assert served.unchecked() == [0, 1, 2]
    layer = public["layers"][0]
    x = public["X"]
    reply = server.answer({"handle": 0, "dout": np.ones((4, 2)), "x": x, "params": layer["params"]})
    assert reply["grads"]["b"].shape == (4, 2)  # the planted bug, computed here
    assert served.unchecked() == [1, 2]
    assert hide((1, 2), {"a": 3}) == (None, (1, 2), {"a": 3})


W, B = np.ones((3, 4)), np.ones(4)  # RECIPES[0], a Dense(3, 4)


@pytest.mark.parametrize("request_, error", [
    ("not a dict", "TypeError"),
    ({"handle": 5, "dout": 1.0, "x": 1.0, "params": {}}, "ValueError"),
    ({"handle": True, "dout": 1.0, "x": 1.0, "params": {}}, "ValueError"),
    ({"handle": 0, "dout": np.ones((2, 4)), "x": np.ones((2, 3)), "params": {"W": W}}, "KeyError"),
    ({"handle": 0, "dout": np.ones((2, 4)), "x": np.ones((2, 3)), "params": {"W": W.T, "b": B}}, "ValueError"),
    ({"handle": 0, "dout": np.ones((2, 4)), "x": np.ones((2, 3)), "params": {"W": W.astype(str), "b": B}}, "TypeError"),
    ({"handle": 0, "dout": np.ones((2, 4)), "x": np.ones((MAX_ENTRIES, 3)), "params": {"W": W, "b": B}}, "ValueError"),
    ({"handle": 0, "dout": np.ones((2, 4)), "x": np.ones((2, 5)), "params": {"W": W, "b": B}}, "ValueError"),
])
def test_the_server_answers_anything_a_student_sends_with_an_error(request_, error):
    server = LayerServer()
    server.public(Served(RECIPES[0]))
    reply = server.answer(request_)
    assert reply["error"] == error and reply["message"]


def test_a_proxy_raises_the_servers_error_in_student_code(session):
    assert session.exec_cell(0, PROXY + '''
def broken(public):
    layer = remote_layers.proxy_layer(public)
    _, cache = layer.forward(np.ones((2, 3)))
    cache["x"] = np.ones((2, 5))
    try:
        layer.backward(np.ones((2, 4)), cache)
    except ValueError as e:
        return "ValueError: " + str(e)
''').status == "ok"
    out = session.call("broken", (Served(RECIPES[0]),), {}, (), 10.0)
    assert out.status == "ok" and out.value.startswith("ValueError"), (out.error, out.value)
    # after the call the grader is no longer connected: a kept proxy cannot reach it
    keep = "kept = []\ndef keep(public):\n    kept.append(remote_layers.proxy_layer(public))\n"
    assert session.exec_cell(1, keep).status == "ok"
    assert session.call("keep", (Served(RECIPES[0]),), {}, (), 10.0).status == "ok"
    run = session.exec_cell(2, "kept[0].backward(np.ones((2, 4)), kept[0].forward(np.ones((2, 3)))[1])")
    assert run.status == "error" and "not connected" in run.message


def test_a_callback_in_a_call_that_serves_no_layers_breaks_the_protocol(session):
    forged = '''
def forged():
    layer = remote_layers.proxy_layer({"handle": 0, "type": "activation", "name": "tanh", "params": {}, "y": None})
    return layer.backward(np.ones(2), layer.forward(np.ones(2))[1])
'''
    assert session.exec_cell(0, PROXY + forged).status == "ok"
    out = session.call("forged", (), {}, (), 10.0)
    assert out.status == "protocol" and "corrupted" in out.error
    assert session.call("run", (Served(RECIPES[4]), np.ones((2, 3)), np.ones((2, 3))), {}, (), 10.0).status == "ok"
