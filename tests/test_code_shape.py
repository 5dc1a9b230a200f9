"""The shape CONTRIBUTING.md promises for ``nnkit/`` and ``nngrader/``: small rooms (no module over
600 lines, no function over 120), and nothing that changes the process at import (no malloc tuning)."""
import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SOURCES = sorted(p for package in ("nnkit", "nngrader") for p in (ROOT / package).rglob("*.py"))
MAX_MODULE, MAX_FUNCTION = 600, 120


def _name(path: Path) -> str:
    return str(path.relative_to(ROOT))


def long_functions(text: str) -> list:
    """``[(name, lines)]`` of the functions and methods in ``text`` longer than MAX_FUNCTION lines."""
    sizes = [(node.name, node.end_lineno - node.lineno + 1) for node in ast.walk(ast.parse(text))
             if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))]
    return [(name, n) for name, n in sizes if n > MAX_FUNCTION]


@pytest.mark.parametrize("path", SOURCES, ids=_name)
def test_modules_and_functions_are_small(path):
    text = path.read_text()
    assert len(text.splitlines()) <= MAX_MODULE, f"{_name(path)} has {len(text.splitlines())} lines: split it"
    assert not long_functions(text), f"{_name(path)}: functions over {MAX_FUNCTION} lines: {long_functions(text)}"


def test_nothing_tunes_the_allocator():
    tuning = ("mallopt", "malloc_trim", "M_MMAP_THRESHOLD", "M_TRIM_THRESHOLD", "MALLOC_ARENA")
    found = [(_name(p), word) for p in SOURCES for word in tuning if word in p.read_text()]
    assert not found, found


def test_a_method_one_line_too_long_is_found():
    def method(n_body_lines):
        body = "\n".join(f"        x{i} = {i}" for i in range(n_body_lines))
        return f"class C:\n    def method(self):\n{body}\n"

    assert long_functions(method(MAX_FUNCTION)) == [("method", MAX_FUNCTION + 1)]
    assert long_functions(method(MAX_FUNCTION - 1)) == []
