"""The package itself: every module it lists loads lazily, documents itself and declares its API."""
import importlib
import subprocess
import sys

import pytest

import nnkit


@pytest.mark.parametrize("name", nnkit.__all__)
def test_every_module_loads_and_is_documented(name):
    module = getattr(nnkit, name)
    assert module is importlib.import_module(f"nnkit.{name}")
    assert module.__doc__ and len(module.__doc__.strip()) > 80, f"nnkit.{name} needs a module docstring"
    for public in getattr(module, "__all__", []):
        obj = getattr(module, public)
        if callable(obj):
            assert obj.__doc__, f"nnkit.{name}.{public} has no docstring"


def test_unknown_attribute_is_an_error():
    with pytest.raises(AttributeError, match="has no attribute 'nope'"):
        nnkit.nope


def test_import_is_cheap():
    # The grading sandbox imports nnkit for every student: no matplotlib, sklearn or tqdm up front.
    code = "import sys, nnkit; print(sorted(m for m in ('matplotlib', 'sklearn', 'tqdm', 'scipy') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_every_module_has_a_mirroring_test_file():
    from pathlib import Path

    tests = Path(__file__).parent
    package = Path(nnkit.__file__).parent
    missing = []
    for m in nnkit.__all__:
        if (package / m).is_dir():  # a subpackage: nnkit/<m>/<x>.py -> tests/<m>/test_<x>.py
            for module in sorted((package / m).glob("*.py")):
                name = module.stem.lstrip("_")
                if module.stem != "__init__" and not (tests / m / f"test_{name}.py").exists():
                    missing.append(f"{m}/{module.name}")
        elif not (tests / f"test_{m}.py").exists():
            missing.append(m)
    assert not missing, f"modules without a mirroring test file: {missing}"
