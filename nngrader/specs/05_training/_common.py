"""Shared by assignment 5's checks: nnkit functions to forbid, small number helpers."""
from __future__ import annotations

import importlib
import inspect

import numpy as np


GRADCHECK = (
    "nnkit.gradcheck:numerical_gradient",
    "nnkit.gradcheck:numerical_gradient_array",
    "nnkit.gradcheck:check_gradients",
    "nnkit.gradcheck:check_layer",
    "nnkit.gradcheck:check_model",
)


def _private(qualname: str) -> bool:
    last = qualname.rsplit(".", 1)[-1]
    return last.startswith("_") and not (last.startswith("__") and last.endswith("__"))


def defined_in(*modules: str) -> tuple:
    """``"module:qualname"`` of every public function and method defined in these nnkit modules.

    Private helpers (``_check_shape``) are left out: they are reached only through a public
    function, which is already listed, and naming them would only lengthen the message.
    """
    out = []
    for name in modules:
        mod = importlib.import_module(name)
        for attr, obj in vars(mod).items():
            if inspect.isfunction(obj) and obj.__module__ == name:
                out.append(f"{name}:{obj.__qualname__}")
            elif inspect.isclass(obj) and obj.__module__ == name:
                for member in vars(obj).values():
                    if isinstance(member, (staticmethod, classmethod)):
                        member = member.__func__
                    if isinstance(member, property):
                        member = member.fget
                    if inspect.isfunction(member):
                        out.append(f"{name}:{member.__qualname__}")
    return tuple(sorted({name for name in out if not _private(name.partition(":")[2])}))


def rel(a, b) -> float:
    from nnkit.gradcheck import rel_error

    return float(rel_error(np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)))


def fmt(v: float) -> str:
    return f"{float(v):.4g}"


def nnkit_modules_except(*allowed: str) -> tuple:
    """Every public module of the nnkit package (its demos left out) except ``allowed``: what a task
    that allows only those may not call. Private modules (``nnkit._validate``) hold helpers that the
    allowed modules call too, and are reached only through a public function, which is listed. A
    module added to nnkit, or a module split in two, is covered without editing this spec."""
    import pkgutil

    import nnkit

    keep = set(allowed) | {"nnkit.demos"}
    return tuple(sorted(f"nnkit.{m.name}" for m in pkgutil.iter_modules(nnkit.__path__)
                        if not m.name.startswith("_") and f"nnkit.{m.name}" not in keep))
