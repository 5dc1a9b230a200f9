"""nngrader.watcher: forbidden functions are resolved by object, and an unknown one fails loudly."""
import os

import pytest

from nngrader.watcher import call_watched, forbidden_code, resolve_forbidden


def test_an_unknown_forbidden_name_raises_instead_of_forbidding_nothing():
    with pytest.raises(ValueError, match="does not exist"):
        resolve_forbidden(["nnkit.layers:no_such_function"])
    with pytest.raises(ValueError, match="does not exist"):
        resolve_forbidden(["nnkit.no_such_module:f"])
    with pytest.raises(ValueError, match="module:qualname"):
        resolve_forbidden(["nnkit.layers.dense_forward"])


def test_a_name_resolves_to_where_the_function_is_defined():
    import nnkit.layers
    from nnkit import losses

    # a property stands for its getter, a class for its __init__
    assert forbidden_code("nnkit.model:Sequential.params").co_name == "params"
    [[path, qual, name]] = resolve_forbidden(["nnkit.layers:Dense.forward"])
    assert path == os.path.realpath(nnkit.layers.__file__) and qual == "Dense.forward"
    # a function re-exported by another module is found in the file that defines it
    losses.__dict__.setdefault("_reexported_for_test", nnkit.layers.dense_forward)
    try:
        [[path, qual, _]] = resolve_forbidden(["nnkit.losses:_reexported_for_test"])
        assert path == os.path.realpath(nnkit.layers.__file__) and qual == "dense_forward"
    finally:
        del losses._reexported_for_test


def test_the_watcher_sees_a_forbidden_call_made_through_an_alias():
    import numpy as np

    from nnkit.layers import dense_forward as alias

    r = call_watched(lambda: alias(np.ones((1, 2)), np.ones((2, 1)), np.zeros(1))[0],
                     (), {}, resolve_forbidden(["nnkit.layers:dense_forward"]))
    assert r["forbidden_calls"] == ["nnkit.layers:dense_forward"] and not r["tampered"]


def test_every_specs_forbidden_names_resolve():
    from nngrader import specs

    for assignment in specs.assignments():
        for chk in specs.load(assignment).values():
            assert len(resolve_forbidden(chk.forbidden)) == len(chk.forbidden)
