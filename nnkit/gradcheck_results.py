"""The results of a gradient check: one :class:`TensorCheck` row per tensor, a :class:`GradCheckResult`.

:func:`nnkit.gradcheck.check_gradients` (and ``check_layer``, ``check_model``) return a
:class:`GradCheckResult`: ``result.passed``, ``result.score(points)`` for partial credit,
``result["W1"]`` for one row, ``print(result)`` for a text table, an HTML table in a notebook,
``result.diagnosis()`` for what to try, ``result.to_records()`` for plain dicts. Both types are
importable from :mod:`nnkit.gradcheck` too.
"""
from __future__ import annotations

import html
import math
from dataclasses import asdict, dataclass, field

import numpy as np

__all__ = ["TensorCheck", "GradCheckResult", "failed_row"]


def fmt_index(ix) -> str:
    if ix is None:
        return "-"
    return "(" + ", ".join(str(int(i)) for i in ix) + ("," if len(ix) == 1 else "") + ")"


def fmt_num(v: float) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    return f"{v:.6g}"


def fmt_err(v: float) -> str:
    if v is None or math.isnan(v):
        return "-"
    if math.isinf(v):
        return "inf"
    return f"{v:.2g}"


@dataclass(frozen=True)
class TensorCheck:
    """One row of a gradient check: how the gradient of one named tensor fared.

    Attributes
    ----------
    name : str
        Tensor name as given in ``params`` (the gradient is ``"d" + name``).
    shape : tuple of int
    max_rel_error : float
        ``rel_error(analytic, numeric)`` over the checked entries; ``inf`` when the analytic
        gradient is missing, has the wrong shape or is not finite; 0.0 when nothing was checked.
    worst_index : tuple of int or None
        Entry with the largest ``|analytic - numeric|`` (None when nothing was compared).
    analytic, numeric : float
        The two gradient values at ``worst_index`` (NaN when not available).
    passed : bool
        ``max_rel_error <= threshold``.
    n_checked : int
        Entries compared (after sampling and kink skipping).
    n_skipped_near_kink : int
        Sampled entries skipped because their ±h step crossed a kink.
    threshold : float
    floor : float
        Floor of the denominator of the relative error (see :func:`nnkit.gradcheck.check_gradients`, Notes).
    reason : str
        Why the row failed before any comparison ("no analytic gradient given", shape...), or "".
    hint : str
        A suggestion for a failed row (empty when the row passed).
    """

    name: str
    shape: tuple
    max_rel_error: float
    worst_index: tuple | None
    analytic: float
    numeric: float
    passed: bool
    n_checked: int
    n_skipped_near_kink: int
    threshold: float
    reason: str = ""
    hint: str = ""
    floor: float = 1e-8

    def message(self) -> str:
        """One line for a student: what is wrong with this gradient and what to try."""
        d = "d" + self.name
        if self.passed:
            if self.n_checked == 0:
                return f"{d}: not checked (all {self.n_skipped_near_kink} sampled entries are within h of a kink)"
            return f"{d}: OK (relative error {fmt_err(self.max_rel_error)} <= {self.threshold:g})"
        if self.reason:
            msg = f"{d}: {self.reason}"
        else:
            msg = (
                f"{d}: relative error {fmt_err(self.max_rel_error)} at index {fmt_index(self.worst_index)}, "
                f"analytic {fmt_num(self.analytic)} vs numeric {fmt_num(self.numeric)} "
                f"(expected <= {self.threshold:g})"
            )
        if self.hint:
            msg += f"; {self.hint}"
        return msg


@dataclass
class GradCheckResult:
    """The outcome of a gradient check: one :class:`TensorCheck` row per named tensor.

    ``result.passed`` (all rows), ``result.fraction_passed``, ``result.score(points)``,
    ``result["W1"]`` (a row), ``print(result)`` (text table), a notebook renders
    ``_repr_html_``, ``result.diagnosis()`` explains the failures, ``result.to_records()``
    gives plain dicts (for a grader or a DataFrame).
    """

    rows: list
    threshold: float
    h: float
    dout: np.ndarray | None = field(default=None, repr=False)

    # -- summary ------------------------------------------------------------------------
    @property
    def passed(self) -> bool:
        """True when every tensor's gradient passed."""
        return all(r.passed for r in self.rows)

    @property
    def fraction_passed(self) -> float:
        """Fraction of tensors (rows) whose gradient passed, in [0, 1]."""
        if not self.rows:
            return 1.0
        return sum(r.passed for r in self.rows) / len(self.rows)

    def score(self, points: float) -> float:
        """Partial credit: ``points * fraction_passed`` (each tensor weighs the same)."""
        points = float(points)
        if not math.isfinite(points) or points < 0:
            raise ValueError(f"points must be a finite number >= 0; got {points}")
        return points * self.fraction_passed

    @property
    def max_rel_error(self) -> float:
        """Largest relative error over all rows."""
        return max((r.max_rel_error for r in self.rows), default=0.0)

    @property
    def failed(self) -> list:
        """The rows that failed."""
        return [r for r in self.rows if not r.passed]

    # -- access -------------------------------------------------------------------------
    def __getitem__(self, name: str) -> TensorCheck:
        for r in self.rows:
            if r.name == name:
                return r
        raise KeyError(f"no tensor named {name!r}; tensors: {', '.join(r.name for r in self.rows)}")

    def __iter__(self):
        return iter(self.rows)

    def __len__(self) -> int:
        return len(self.rows)

    def __bool__(self) -> bool:
        return self.passed

    def to_records(self) -> list:
        """Rows as plain dicts (JSON-friendly apart from tuples)."""
        return [asdict(r) for r in self.rows]

    # -- rendering ----------------------------------------------------------------------
    _HEAD = ("tensor", "shape", "max rel error", "worst index", "analytic", "numeric", "checked", "near kink", "status")

    def _cells(self, r: TensorCheck) -> tuple:
        status = "PASS" if r.passed else "FAIL"
        err = fmt_err(r.max_rel_error) if r.n_checked or r.reason else "-"
        return (
            "d" + r.name,
            fmt_index(r.shape) if r.shape != () else "()",
            err,
            fmt_index(r.worst_index),
            fmt_num(r.analytic),
            fmt_num(r.numeric),
            str(r.n_checked),
            str(r.n_skipped_near_kink),
            status,
        )

    def table(self) -> str:
        """A fixed-width text table, one row per tensor, then a summary line."""
        body = [self._HEAD] + [self._cells(r) for r in self.rows]
        widths = [max(len(row[i]) for row in body) for i in range(len(self._HEAD))]
        lines = []
        for j, row in enumerate(body):
            cells = (c.ljust(w) if i in (0, 3, 8) else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths)))
            lines.append("  ".join(cells).rstrip())
            if j == 0:
                lines.append("  ".join("-" * w for w in widths))
        n_pass = sum(r.passed for r in self.rows)
        lines.append(
            f"{n_pass}/{len(self.rows)} gradients pass at threshold {self.threshold:g} (h = {self.h:g})"
        )
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.table()

    def __repr__(self) -> str:
        return (
            f"GradCheckResult(passed={self.passed}, fraction_passed={self.fraction_passed:.3g}, "
            f"tensors=[{', '.join(r.name for r in self.rows)}], threshold={self.threshold:g})"
        )

    def _repr_html_(self) -> str:
        head = "".join(f"<th>{html.escape(h)}</th>" for h in self._HEAD)
        rows = []
        for r in self.rows:
            cells = self._cells(r)
            colour = "#e6f4ea" if r.passed else "#fce8e6"
            tds = "".join(
                f"<td style='text-align:{'left' if i in (0, 3, 8) else 'right'}'>{html.escape(c)}</td>"
                for i, c in enumerate(cells)
            )
            title = html.escape(r.message(), quote=True)
            rows.append(f"<tr style='background:{colour}' title=\"{title}\">{tds}</tr>")
        n_pass = sum(r.passed for r in self.rows)
        caption = html.escape(f"Gradient check: {n_pass}/{len(self.rows)} pass at threshold {self.threshold:g} (h = {self.h:g})")
        out = (
            "<table class='nnkit-gradcheck'>"
            f"<caption style='text-align:left'>{caption}</caption>"
            f"<thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
        )
        if not self.passed:
            items = "".join(f"<li>{html.escape(r.message())}</li>" for r in self.failed)
            out += f"<ul class='nnkit-gradcheck-diagnosis'>{items}</ul>"
        return out

    def diagnosis(self) -> str:
        """What failed and what to try, one line per failed tensor (or a one-line all-clear)."""
        if self.passed:
            skipped = sum(r.n_skipped_near_kink for r in self.rows)
            extra = f"; {skipped} entries near a kink were skipped" if skipped else ""
            return (
                f"All {len(self.rows)} gradients match (max relative error "
                f"{fmt_err(self.max_rel_error)} <= {self.threshold:g}){extra}."
            )
        return "\n".join(r.message() for r in self.failed)


def failed_row(name, shape, threshold, reason, hint="") -> TensorCheck:
    """A row that failed before any comparison (no gradient, wrong shape, not finite...)."""
    return TensorCheck(
        name=name, shape=tuple(shape), max_rel_error=math.inf, worst_index=None, analytic=math.nan,
        numeric=math.nan, passed=False, n_checked=0, n_skipped_near_kink=0, threshold=threshold,
        reason=reason, hint=hint,
    )
