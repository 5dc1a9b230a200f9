"""Every lecture notebook is committed clean and runs headless from top to bottom.

For each ``lectures/*.ipynb``:

* it is committed without outputs: no outputs, no execution counts, no saved widget state, no
  execution timings;
* it executes with nbclient, kernel ``python3`` of this virtual environment, working directory
  ``lectures/``, with no error output, no error or warning text on stderr, no error in a demo's
  Output area (a failing widget callback writes there, not into the cell's outputs), and with
  every warning raised from nnkit's own modules turned into an error;
* and the folder holds exactly the lectures of the course (``EXPECTED``).

``NNKIT_LECTURES=/some/folder`` runs the same checks on another folder of notebooks (a draft).
"""
from __future__ import annotations

import os
import re
import sys
import time
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, CellTimeoutError

ROOT = Path(__file__).resolve().parents[1]
LECTURES = Path(os.environ.get("NNKIT_LECTURES", ROOT / "lectures")).resolve()
NOTEBOOKS = sorted(LECTURES.glob("*.ipynb"))
EXPECTED = (
    "01_neurons", "02_activations", "03_losses", "04_gradient_descent", "05_optimizers",
    "06_backprop", "07_vanishing_gradients", "08_regularization", "09_training_in_practice",
    "10_normalization_and_augmentation", "11_model_selection",
)
TIMEOUT = 120  # seconds, per cell and for the whole notebook (the target is 60 s)

# Run before the lecture's first cell, in its kernel: the kernel must be this environment's
# Python, and a warning raised inside nnkit is an error, as in the unit tests (pyproject.toml).
SETUP = f"""\
import sys as _sys, warnings as _warnings
assert _sys.prefix == {sys.prefix!r}, f"kernel runs {{_sys.executable}}, not the course's venv"
_warnings.filterwarnings("error", module=r"nnkit(\\.|$)")
del _sys, _warnings
"""
# Text on stderr that means something went wrong (a progress bar on stderr is fine).
BAD_STDERR = re.compile(r"Traceback|Error\b|Exception\b|Warning\b|warnings\.warn")
# Harmless warnings of other packages (the same list as pyproject.toml's filterwarnings).
HARMLESS = (re.compile(r"Passing unrecognized arguments to super\(Toolbar\)"),)

ids = [p.stem for p in NOTEBOOKS]


def test_the_lectures_of_the_course_are_there():
    present = {p.stem for p in NOTEBOOKS}
    missing = [name for name in EXPECTED if name not in present]
    unexpected = sorted(present - set(EXPECTED))
    assert not missing and not unexpected, (
        f"{LECTURES} must hold exactly the {len(EXPECTED)} lectures; missing: {missing}, "
        f"unexpected: {unexpected}")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=ids)
def test_committed_without_outputs(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    dirty = []
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        if cell.get("outputs"):
            dirty.append(f"cell {index}: {len(cell.outputs)} output(s)")
        if cell.get("execution_count") is not None:
            dirty.append(f"cell {index}: execution_count {cell.execution_count}")
        if "execution" in cell.get("metadata", {}):
            dirty.append(f"cell {index}: execution timings in its metadata")
    if "widgets" in nb.metadata:
        dirty.append("saved widget state in the notebook's metadata")
    assert not dirty, (f"{path.name} must be committed without outputs "
                       f"(Edit > Clear Outputs of All Cells, then save): " + "; ".join(dirty))


def _text(output) -> str:
    text = output.get("text", "")
    return "".join(text) if isinstance(text, list) else text


def _stderr_problems(where: str, outputs) -> list[str]:
    problems = []
    for out in outputs:
        if out.get("output_type") == "error":
            problems.append(f"{where}: {out.get('ename')}: {out.get('evalue')}")
        elif out.get("output_type") == "stream" and out.get("name") == "stderr":
            text = _text(out)
            if BAD_STDERR.search(text) and not any(h.search(text) for h in HARMLESS):
                problems.append(f"{where}: on stderr: {text.strip()[:800]}")
    return problems


def execute(path: Path) -> tuple[nbformat.NotebookNode, float]:
    """Execute a copy of the notebook as CI does; return it (setup cell removed) and the time."""
    nb = nbformat.read(path, as_version=4)
    nb.cells.insert(0, nbformat.v4.new_code_cell(SETUP))
    client = NotebookClient(nb, timeout=TIMEOUT, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    start = time.perf_counter()
    try:
        client.execute()
    except CellTimeoutError as exc:
        pytest.fail(f"{path.name}: a cell ran longer than {TIMEOUT} s:\n{exc}", pytrace=False)
    except CellExecutionError as exc:
        pytest.fail(f"{path.name} failed when executed headless:\n{exc}", pytrace=False)
    elapsed = time.perf_counter() - start
    nb.cells.pop(0)
    return nb, elapsed


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=ids)
def test_executes_headless(path):
    nb, elapsed = execute(path)
    problems = []
    for index, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            problems += _stderr_problems(f"cell {index}", cell.outputs)
    # A demo's callback that fails shows its error in the demo's Output widget, whose outputs
    # live in the widget state that nbclient saved, not in the cell's outputs.
    state = nb.metadata.get("widgets", {}).get("application/vnd.jupyter.widget-state+json", {})
    for model_id, model in state.get("state", {}).items():
        if model.get("model_name") == "OutputModel":
            problems += _stderr_problems(f"Output widget {model_id[:8]}",
                                         model.get("state", {}).get("outputs", []))
    assert not problems, f"{path.name} executed with errors:\n" + "\n".join(problems)
    assert elapsed <= TIMEOUT, f"{path.name} took {elapsed:.0f} s to execute (at most {TIMEOUT} s)"
