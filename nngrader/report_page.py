"""The class report as one static HTML page: figures are embedded PNGs, the style is inline.

Nothing on the page reaches the network, so it opens from a file, offline, in any browser.
The data come from :func:`nngrader.class_report.collect`; this module only lays them out.
"""
from __future__ import annotations

import base64
import io
from html import escape

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from .class_report import ClassReport, CellScores

__all__ = ["render"]

MAX_DIAGNOSES = 40  # rows in the page's table (mistakes.csv has them all)

STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2em auto; max-width: 1100px;
       color: #222; padding: 0 1em; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; } h2 { margin-top: 1.8em; border-bottom: 1px solid #ccc; }
.sub { color: #666; margin-top: 0; }
table { border-collapse: collapse; width: 100%; margin: 0.5em 0; }
th, td { text-align: left; padding: 0.3em 0.6em; border-bottom: 1px solid #e4e4e4; vertical-align: top; }
th { background: #f4f4f4; } td.num { text-align: right; white-space: nowrap; font-variant-numeric: tabular-nums; }
.bar { background: #4c78a8; height: 0.8em; display: inline-block; vertical-align: middle; }
.cells { display: grid; grid-template-columns: repeat(auto-fill, minmax(320px, 1fr)); gap: 1em; }
.cell { border: 1px solid #ddd; border-radius: 4px; padding: 0.5em; }
.cell h3 { font-size: 1em; margin: 0 0 0.3em 0; font-family: monospace; }
.cell img { width: 100%; height: auto; }
.tag { font-size: 0.8em; padding: 0 0.4em; border-radius: 3px; background: #eee; }
.tag.cause { background: #dbeaf7; } .none { color: #666; font-style: italic; }
.summary td { border: none; padding: 0.1em 1em 0.1em 0; }
"""


def _png(fig: Figure) -> str:
    buf = io.BytesIO()
    FigureCanvasAgg(fig)
    fig.savefig(buf, format="png", dpi=110)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _histogram(scores: list, max_score: float, title: str, *, width=3.6, height=1.9) -> str:
    """Histogram of scores in [0, max_score] with the mean marked; an embedded PNG."""
    fig = Figure(figsize=(width, height))
    ax = fig.add_subplot()
    bins = np.linspace(0.0, max_score, 11) if max_score > 0 else np.array([0.0, 1.0])
    values = np.clip(np.asarray(scores, dtype=float), 0.0, max_score if max_score > 0 else 1.0)
    ax.hist(values, bins=bins, color="#4c78a8", edgecolor="white")
    if len(values):
        mean = float(values.mean())
        ax.axvline(mean, color="#e45756", linewidth=1.5)
        ax.set_title(f"{title}   mean {mean:.2f} / {max_score:g}", fontsize=8)
    ax.set_xlim(bins[0], bins[-1])
    ax.set_xlabel("points", fontsize=7)
    ax.set_ylabel("students", fontsize=7)
    ax.yaxis.get_major_locator().set_params(integer=True)
    ax.tick_params(labelsize=7)
    fig.tight_layout()
    return _png(fig)


def _fmt_pts(x: float | None) -> str:
    return "&ndash;" if x is None else f"{x:.2f}".rstrip("0").rstrip(".")


def _fmt_late(seconds: float) -> str:
    h, rest = divmod(int(round(seconds)), 3600)
    d, h = divmod(h, 24)
    m = rest // 60
    return (f"{d} d " if d else "") + f"{h} h {m:02d} min"


def _cell_block(c: CellScores) -> str:
    kind = "autograded" if c.auto else "graded by hand"
    pending = f"; {c.pending} waiting for a manual grade" if c.pending else ""
    if c.scores:
        img = f'<img alt="score histogram of {escape(c.grade_id)}" src="{_histogram(c.scores, c.max_score, c.grade_id)}">'
    else:
        img = '<p class="none">no grades yet</p>'
    return (f'<div class="cell"><h3>{escape(c.grade_id)}</h3>'
            f'<div class="sub">{escape(c.notebook)} &middot; {kind} &middot; {c.max_score:g} points &middot; '
            f'mean {_fmt_pts(c.mean)}{pending}</div>{img}</div>')


def render(report: ClassReport) -> str:
    """The whole page."""
    a = escape(report.assignment)
    n_graded = len(report.graded)
    totals = [s for s, _ in report.totals.values()]
    max_total = max((m for _, m in report.totals.values()), default=0.0)
    parts = [f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>Class report: {a}</title>"
             f"<style>{STYLE}</style></head><body>",
             f"<h1>Class report: {a}</h1>",
             f"<p class='sub'>Generated {report.generated:%Y-%m-%d %H:%M} from the gradebook and the autograded "
             "notebooks. The diagnoses are the ones the students' feedback shows.</p>",
             "<table class='summary'>",
             f"<tr><td>Submissions</td><td class='num'>{len(report.submitted)}</td></tr>",
             f"<tr><td>Graded</td><td class='num'>{n_graded}</td></tr>",
             f"<tr><td>Failed to grade</td><td class='num'>{sum(p.kind == 'failed to grade' for p in report.problems)}</td></tr>",
             f"<tr><td>Late</td><td class='num'>{len(report.late)}</td></tr>"]
    if totals:
        parts.append(f"<tr><td>Mean total</td><td class='num'>{_fmt_pts(sum(totals) / len(totals))} / "
                     f"{max_total:g}</td></tr>")
    parts.append("</table>")
    if totals and max_total > 0:
        parts.append(f"<img alt='histogram of total scores' src='{_histogram(totals, max_total, 'total', width=6, height=2.2)}'>")

    parts.append("<h2 id='diagnoses'>Most common mistakes</h2>")
    if report.diagnoses:
        parts.append("<p class='sub'>Grouped by cause across the class. <span class='tag cause'>cause</span> marks a "
                     "cause the grader confirmed numerically; the others say what happened when no cause was "
                     "recognised. All rows are in <a href='mistakes.csv'>mistakes.csv</a>.</p>")
        parts.append("<table><tr><th>cell</th><th>diagnosis</th><th class='num'>students</th><th></th>"
                     "<th>example</th></tr>")
        for d in report.diagnoses[:MAX_DIAGNOSES]:
            share = report.share(d)
            tag = "<span class='tag cause'>cause</span> " if d.confirmed else ""
            parts.append(f"<tr><td><code>{escape(d.grade_id)}</code></td><td>{tag}{escape(d.text)}</td>"
                         f"<td class='num'>{len(d.students)} ({share:.0%})</td>"
                         f"<td><span class='bar' style='width:{100 * share:.0f}px'></span></td>"
                         f"<td><code>{escape(d.students[0])}</code></td></tr>")
        parts.append("</table>")
        if len(report.diagnoses) > MAX_DIAGNOSES:
            parts.append(f"<p class='sub'>{len(report.diagnoses) - MAX_DIAGNOSES} more in mistakes.csv.</p>")
    else:
        parts.append("<p class='none'>No mistakes: every graded cell scored full points.</p>")

    parts.append("<h2 id='cells'>Scores per graded cell</h2><div class='cells'>")
    parts += [_cell_block(c) for c in report.cells]
    parts.append("</div>")

    parts.append("<h2 id='problems'>Failed to grade, did not finish, tampered</h2>")
    if report.problems:
        parts.append("<table><tr><th>student</th><th>what</th><th>detail</th></tr>")
        for p in sorted(report.problems, key=lambda p: (p.kind != "failed to grade", p.student)):
            parts.append(f"<tr><td><code>{escape(p.student)}</code></td><td>{escape(p.kind)}</td>"
                         f"<td>{escape(p.detail)}</td></tr>")
        parts.append("</table>")
    else:
        parts.append("<p class='none'>None.</p>")

    parts.append("<h2 id='late'>Late submissions</h2>")
    if report.late:
        parts.append("<table><tr><th>student</th><th>submitted</th><th class='num'>late by</th>"
                     "<th class='num'>penalty</th></tr>")
        for s in report.late:
            when = f"{s.timestamp:%Y-%m-%d %H:%M}" if s.timestamp else "&ndash;"
            parts.append(f"<tr><td><code>{escape(s.student)}</code></td><td>{when}</td>"
                         f"<td class='num'>{_fmt_late(s.seconds_late)}</td><td class='num'>{_fmt_pts(s.penalty)}</td></tr>")
        parts.append("</table>")
    else:
        parts.append("<p class='none'>None (or the assignment has no due date in the gradebook).</p>")
    parts.append("</body></html>\n")
    return "\n".join(parts)
