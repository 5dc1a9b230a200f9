#!/usr/bin/env python
"""Time the lectures and their demos against the issue's targets (issue 4, "Speed").

Lectures
    Every ``lectures/*.ipynb`` is executed headless with nbclient, as CI and ``make site`` do
    (kernel ``python3`` of this environment, working directory ``lectures/``). Reported: the
    wall time from kernel start to the last output ("total"), which is what the target applies
    to, and the sum of the cells' own run times ("cells", from nbclient's timing metadata).
    Target: at most 60 s per lecture.

Demo callbacks
    Every module of ``nnkit.demos`` not starting with ``_`` is imported and its builder, the
    function named like the module, is called with no arguments. For each control whose value
    a callback observes, the control is moved many times: one move is
    ``demo.controls[name].value = v`` (which runs the demo's update: the "compute" part) then
    ``demo.render()`` (a real Agg draw through ipympl's canvas, including its PNG encoding: the
    "redraw" part). Values are spread over the control's whole range (sliders: random points of
    its step grid; selections: every option in turn; check boxes: toggled), each different from
    the previous one, from a fixed seed. One warm-up move is not counted, then ``--moves`` moves
    are timed, or fewer (at least 5) once ``--budget`` seconds are spent on the control. The
    control is put back to its initial value afterwards. Controls that no callback observes
    (e.g. a Play button, which the browser links to the step slider) and free-text boxes are
    listed but not moved. Target: median latency (compute + redraw) under 50 ms per control.
    The table also gives the 90th percentile and the maximum: a demo that caches its runs
    (e.g. a training history per setting) is slow on a setting's first visit only.

Output: two tables with the ratio of each figure to its target, and TARGET MET / MISSED per row.
Exit status: 0 when every row meets its target, 1 when a target is missed, 2 when a lecture
failed to execute, a demo failed to build, or a callback raised (``demo.errors``).

Run: ``make bench-lectures`` (= ``.venv/bin/python benchmarks/lectures.py``); ``--demos-only``,
``--lectures-only``, ``--demo NAME`` / ``--lecture PATH`` (repeatable), ``--moves N``,
``--budget SECONDS``.
"""
from __future__ import annotations

import argparse
import datetime
import gc
import importlib
import math
import os
import pkgutil
import platform
import statistics
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
LECTURE_TARGET_S = 60.0
CALLBACK_TARGET_MS = 50.0
SEED = 20261122


# ------------------------------------------------------------------------------ lectures

def time_lecture(path: Path, timeout: int = 600) -> dict:
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3", record_timing=True,
                            resources={"metadata": {"path": str(path.parent)}})
    start = time.perf_counter()
    try:
        client.execute()
    except Exception as exc:  # noqa: BLE001 - reported in the table, exit status 2
        ename, evalue = getattr(exc, "ename", None), getattr(exc, "evalue", None)
        what = f"{ename}: {evalue}" if ename else f"{type(exc).__name__}: {str(exc).strip()[-300:]}"
        return {"name": path.name, "error": what, "total": time.perf_counter() - start}
    total = time.perf_counter() - start
    cells, slowest = 0.0, (0.0, None)
    for index, cell in enumerate(nb.cells):
        timing = cell.get("metadata", {}).get("execution", {})
        begin, end = timing.get("iopub.execute_input"), timing.get("shell.execute_reply")
        if begin and end:
            seconds = (_parse_time(end) - _parse_time(begin)).total_seconds()
            cells += seconds
            slowest = max(slowest, (seconds, index), key=lambda t: t[0])
    return {"name": path.name, "total": total, "cells": cells, "slowest": slowest, "error": None}


def _parse_time(stamp: str) -> datetime.datetime:
    return datetime.datetime.fromisoformat(stamp.replace("Z", "+00:00"))


# ------------------------------------------------------------------------------ demos

@dataclass
class ControlTiming:
    name: str
    kind: str
    compute_ms: list[float] = field(default_factory=list)
    redraw_ms: list[float] = field(default_factory=list)
    skipped: str | None = None
    errors: int = 0

    @property
    def total_ms(self) -> list[float]:
        return [c + r for c, r in zip(self.compute_ms, self.redraw_ms)]


def _observed(widget) -> bool:
    """Whether a callback observes the widget's value (traitlets' notifier table).

    The widget class's own ``@observe`` handlers (e.g. a Dropdown keeping its index in step)
    do not count.
    """
    from traitlets.traitlets import EventHandler

    notifiers = getattr(widget, "_trait_notifiers", {}).get("value", {})
    callbacks = list(notifiers.get("change", [])) + list(notifiers.get("All", []))
    return any(not isinstance(cb, EventHandler) for cb in callbacks)


class Mover:
    """The next value for a control: spread over its range, never equal to its current value."""

    def __init__(self, widget, rng: np.random.Generator):
        self.w, self.rng, self.i = widget, rng, 0

    def kind(self) -> str | None:
        w = self.w
        if hasattr(w, "options") and hasattr(w, "index"):
            return "multi" if isinstance(w.index, tuple) else "options"
        if hasattr(w, "base") and hasattr(w, "min") and hasattr(w, "max"):
            return "log"
        if isinstance(getattr(w, "value", None), bool):
            return "bool"
        if hasattr(w, "min") and hasattr(w, "max") and isinstance(getattr(w, "value", None), tuple):
            return "range"
        if hasattr(w, "min") and hasattr(w, "max") and isinstance(getattr(w, "value", None), (int, float)):
            return "number"
        return None

    def next(self):
        w, kind = self.w, self.kind()
        self.i += 1
        if kind == "options":
            values = list(w._options_values) if hasattr(w, "_options_values") else list(w.options)
            current = w.index if w.index is not None else -1
            return values[(current + 1) % len(values)]
        if kind == "multi":
            values = list(w._options_values)
            while True:
                k = int(self.rng.integers(1, len(values) + 1))
                pick = tuple(values[j] for j in sorted(self.rng.choice(len(values), size=k, replace=False)))
                if pick != tuple(w.value) or len(values) == 1:
                    return pick
        if kind == "bool":
            return not w.value
        if kind == "log":
            grid = self._grid(w.min, w.max, w.step)
            exponents = grid[np.abs(w.base ** grid - w.value) > 1e-12 * max(abs(w.value), 1e-300)]
            return float(w.base ** self.rng.choice(exponents))
        if kind == "number":
            grid = self._grid(w.min, w.max, getattr(w, "step", None) or (w.max - w.min) / 50)
            if isinstance(w.value, int) and not isinstance(w.value, bool):
                grid = np.unique(np.round(grid).astype(int))
            choices = grid[grid != w.value]
            value = self.rng.choice(choices)
            return int(value) if isinstance(w.value, int) else float(value)
        if kind == "range":
            grid = self._grid(w.min, w.max, getattr(w, "step", None) or (w.max - w.min) / 50)
            lo, hi = sorted(self.rng.choice(grid, size=2, replace=False))
            cast = int if isinstance(w.value[0], int) else float
            return (cast(lo), cast(hi))
        raise TypeError(f"cannot move a {type(w).__name__}")

    @staticmethod
    def _grid(lo, hi, step) -> np.ndarray:
        n = int(math.floor((hi - lo) / step + 1e-9)) + 1 if step and step > 0 else 51
        n = max(2, min(n, 400))
        return np.linspace(lo, lo + (n - 1) * step, n) if step and step > 0 else np.linspace(lo, hi, n)


def time_control(demo, name: str, widget, moves: int, budget_s: float, rng) -> ControlTiming:
    mover = Mover(widget, rng)
    kind = mover.kind()
    timing = ControlTiming(name, type(widget).__name__)
    if not _observed(widget):
        timing.skipped = "no callback observes it"
        return timing
    if kind is None:
        timing.skipped = "free text or no value to move"
        return timing
    initial = widget.value
    errors_before = len(demo.errors)
    spent = 0.0
    gc_was_enabled = gc.isenabled()
    try:
        for move in range(moves + 1):  # move 0 is a warm-up
            value = mover.next()
            gc.disable()
            t0 = time.perf_counter()
            widget.value = value
            t1 = time.perf_counter()
            demo.render()
            t2 = time.perf_counter()
            if gc_was_enabled:
                gc.enable()
            spent += t2 - t0
            if move > 0:
                timing.compute_ms.append(1e3 * (t1 - t0))
                timing.redraw_ms.append(1e3 * (t2 - t1))
            if move >= 5 and spent > budget_s:
                break
    finally:
        if gc_was_enabled:
            gc.enable()
        try:
            widget.value = initial
        except Exception:  # noqa: BLE001 - the options may have changed with another control
            pass
    timing.errors = len(demo.errors) - errors_before
    return timing


def demo_names(package: str = "nnkit.demos") -> list[str]:
    pkg = importlib.import_module(package)
    return sorted(m.name for m in pkgutil.iter_modules(pkg.__path__) if not m.name.startswith("_"))


def time_demo(name: str, moves: int, budget_s: float, package: str = "nnkit.demos") -> dict:
    try:
        module = importlib.import_module(f"{package}.{name}")
        builder = getattr(module, name)
        start = time.perf_counter()
        demo = builder()
        build_s = time.perf_counter() - start
    except Exception:  # noqa: BLE001 - reported, exit status 2
        return {"name": name, "error": traceback.format_exc(limit=3), "controls": []}
    rng = np.random.default_rng(SEED)
    controls = [time_control(demo, cname, w, moves, budget_s, rng) for cname, w in demo.controls.items()]
    all_ms = [ms for c in controls for ms in c.total_ms]
    import matplotlib.pyplot as plt  # the demo's figure is not in pyplot; free it anyway
    plt.close(demo.fig)
    return {"name": name, "error": None, "build_s": build_s, "controls": controls,
            "all_ms": all_ms, "errors": list(demo.errors)}


# ------------------------------------------------------------------------------ report

def _verdict(ok: bool) -> str:
    return "TARGET MET" if ok else "TARGET MISSED"


def _pct(values, q) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def _table(title: str, head: str, rows: list[dict], print_row) -> tuple[bool, bool]:
    """Print ``title``, the column heads ``head`` and a rule as wide as its first line, then every
    row with ``print_row(row) -> (met its target, failed)``; return (every target met, a row failed)."""
    print(title)
    print(head)
    print("-" * len(head.splitlines()[0]))
    met, failed = True, False
    for row in rows:
        row_met, row_failed = print_row(row)
        met &= row_met
        failed |= row_failed
    return met, failed


def report_lectures(rows: list[dict]) -> tuple[bool, bool]:
    head = f"{'lecture':<34} {'total s':>8} {'cells s':>8} {'slowest cell':>14} {'ratio':>7} | target"
    return _table(f"\nLectures: headless execution with nbclient (target: at most {LECTURE_TARGET_S:.0f} s each)",
                  head, rows, _lecture_row)


def _lecture_row(r: dict) -> tuple[bool, bool]:
    if r["error"]:
        print(f"{r['name']:<34} {r['total']:8.1f} {'':>8} {'':>14} {'':>7} | FAILED: {r['error'][:300]}")
        return True, True
    ok = r["total"] <= LECTURE_TARGET_S
    sec, idx = r["slowest"]
    slowest = f"{sec:.1f} (#{idx})" if idx is not None else "-"
    print(f"{r['name']:<34} {r['total']:8.1f} {r['cells']:8.1f} {slowest:>14} "
          f"{r['total'] / LECTURE_TARGET_S:6.2f}x | {_verdict(ok)}")
    return ok, False


def report_demos(rows: list[dict]) -> tuple[bool, bool]:
    head = (f"{'demo / control':<30} {'moves':>5} {'compute':>8} {'redraw':>7} {'median':>7} "
            f"{'p90':>7} {'max':>7} {'ratio':>6} | target\n"
            f"{'':<30} {'':>5} {'ms':>8} {'ms':>7} {'ms':>7} {'ms':>7} {'ms':>7}")
    return _table(f"\nDemo callbacks: control.value = v, then demo.render() "
                  f"(target: median < {CALLBACK_TARGET_MS:.0f} ms per control)", head, rows, _demo_rows)


def _demo_rows(d: dict) -> tuple[bool, bool]:
    """The demo's row (all its controls together), then one row per control."""
    if d["error"]:
        print(f"{d['name']:<30} FAILED to build:\n{d['error']}")
        return True, True
    met, failed = True, False
    overall = statistics.median(d["all_ms"]) if d["all_ms"] else float("nan")
    print(f"{d['name']:<30} {len(d['all_ms']):5d} {'':>8} {'':>7} {overall:7.1f} "
          f"{_pct(d['all_ms'], 90):7.1f} {max(d['all_ms'], default=float('nan')):7.1f} "
          f"{overall / CALLBACK_TARGET_MS:5.2f}x | (all controls; built in {d['build_s']:.2f} s)")
    for c in d["controls"]:
        label = f"  {c.name}"
        if c.skipped:
            print(f"{label:<30} {'-':>5}   not moved: {c.skipped} ({c.kind})")
            continue
        total = c.total_ms
        med = statistics.median(total)
        met &= med < CALLBACK_TARGET_MS
        failed |= c.errors > 0
        note = _verdict(med < CALLBACK_TARGET_MS) + (f", {c.errors} CALLBACK ERROR(S)" if c.errors else "")
        print(f"{label:<30} {len(total):5d} {statistics.median(c.compute_ms):8.1f} "
              f"{statistics.median(c.redraw_ms):7.1f} {med:7.1f} {_pct(total, 90):7.1f} "
              f"{max(total):7.1f} {med / CALLBACK_TARGET_MS:5.2f}x | {note}")
    for err in d.get("errors", [])[:3]:
        print("    callback error: " + err.strip().splitlines()[-1])
    return met, failed


def machine() -> str:
    try:
        load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        load = "n/a"
    import matplotlib
    import ipywidgets
    try:
        import ipympl
        ipympl_version = ipympl.__version__
    except ImportError:
        ipympl_version = "absent (Agg canvas)"
    return (f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M UTC}, {platform.node()}: "
            f"{os.cpu_count()} logical CPUs, load average {load}; Python {platform.python_version()}, "
            f"numpy {np.__version__}, matplotlib {matplotlib.__version__} "
            f"(backend for demos: ipympl {ipympl_version}), ipywidgets {ipywidgets.__version__}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lectures-only", action="store_true")
    parser.add_argument("--demos-only", action="store_true")
    parser.add_argument("--lecture", action="append", type=Path, help="a notebook (default: lectures/*.ipynb)")
    parser.add_argument("--demo", action="append", help="a demo module of nnkit.demos (default: all)")
    parser.add_argument("--package", default="nnkit.demos", help=argparse.SUPPRESS)
    parser.add_argument("--moves", type=int, default=30, help="timed moves per control (default 30)")
    parser.add_argument("--budget", type=float, default=5.0,
                        help="seconds per control after which fewer moves (at least 5) are made (default 5)")
    args = parser.parse_args(argv)
    if args.moves < 5:
        parser.error("--moves must be at least 5")

    print("Lecture and demo speed (issue 4). " + machine())
    lectures_ok = demos_ok = True
    failed = False
    if not args.demos_only:
        paths = args.lecture or sorted((ROOT / "lectures").glob("*.ipynb"))
        if not paths:
            print("\nno lectures/*.ipynb to time")
        else:
            rows = []
            for p in paths:
                print(f"  executing {p.name} ...", file=sys.stderr, flush=True)
                rows.append(time_lecture(p.resolve()))
            lectures_ok, f1 = report_lectures(rows)
            failed |= f1
    if not args.lectures_only:
        os.environ.setdefault("MPLBACKEND", "Agg")  # no GUI window for figures outside ipympl
        names = args.demo or demo_names(args.package)
        if not names:
            print(f"\nno demo modules in {args.package}")
        else:
            rows = []
            for name in names:
                print(f"  timing {name} ...", file=sys.stderr, flush=True)
                rows.append(time_demo(name, args.moves, args.budget, args.package))
            demos_ok, f2 = report_demos(rows)
            failed |= f2
    print()
    if failed:
        print("FAILED: a lecture did not execute, a demo did not build, or a callback raised (see above).")
        return 2
    if lectures_ok and demos_ok:
        print("All targets met.")
        return 0
    print("Some targets missed (see TARGET MISSED above).")
    return 1


if __name__ == "__main__":
    sys.exit(main())
