#!/usr/bin/env python
"""Export the executed lectures to static HTML that opens offline: ``make site``.

Each ``lectures/NN_*.ipynb`` is executed headless (nbclient, kernel ``python3``, working
directory ``lectures/``) and written as ``site/NN_*.html`` by nbconvert's ``lab`` template,
next to an ``index.html`` that lists them. Nothing on a page comes from the network:

* **Demos as pictures.** A demo's figure is an ipympl canvas drawn by the kernel on request,
  which no static page can do, and nbconvert's default widget embedding would load the widget
  manager (and ipympl's JavaScript) from a CDN. So, once the notebook has run, the same kernel
  renders every live ipympl figure to PNG, and each widget output is replaced by static HTML
  built from the saved widget state: the demo's layout with its figures as images, the text of
  its HTML/Label widgets, progress bars as ``<progress>``, and its controls' final values as a
  caption. The notebook's widget state is dropped, so no widget JavaScript is referenced at all.
* **Math.** MathJax 3 (``tex-svg-full.js``: one file with its fonts, no further downloads) is
  copied to ``site/_static/``. It is fetched once with npm into ``build/site-assets/``
  (``--mathjax FILE`` gives another copy; ``--no-mathjax`` leaves the TeX source as text).
* **No CDN.** The template drops require.js and mermaid (loaded from cdnjs by default); images
  referenced from markdown are embedded as data URIs.

Usage: ``python lectures/_site.py [--out site] [--mathjax FILE | --no-mathjax] [NOTEBOOK ...]``
(default: every ``lectures/*.ipynb``).
"""
from __future__ import annotations

import argparse
import html
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import nbformat
from jinja2 import DictLoader
from nbclient import NotebookClient
from nbconvert import HTMLExporter

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
MATHJAX_VERSION = "3.2.2"
MATHJAX_PREFIX = ROOT / "build" / "site-assets"
MATHJAX_FILE = "tex-svg-full.js"
MATHJAX_DEFAULT = MATHJAX_PREFIX / "node_modules" / "mathjax" / "es5" / MATHJAX_FILE
STATIC = "_static"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
SNAPSHOT_MIME = "application/x.nnkit-site-figures+json"
CANVAS_MODEL = "MPLCanvasModel"

# Run in the lecture's kernel after its last cell: every live ipympl figure as a PNG (2x for
# sharp pictures on high-density screens), keyed by the canvas widget's model id.
SNAPSHOT = f"""\
def _nnkit_site_snapshot():
    import base64, io
    from IPython.display import display
    try:
        from ipympl.backend_nbagg import Canvas
    except ImportError:
        Canvas = ()
    from ipywidgets.widgets.widget import _instances
    figures = {{}}
    for model_id, widget in list(_instances.items()):
        if Canvas and isinstance(widget, Canvas):
            fig = widget.figure
            buf = io.BytesIO()
            fig.savefig(buf, format="png", dpi=2 * fig.dpi, facecolor=fig.get_facecolor())
            width, height = fig.get_size_inches() * fig.dpi
            figures[model_id] = {{"png": base64.b64encode(buf.getvalue()).decode("ascii"),
                                 "width": int(round(width)), "height": int(round(height))}}
    display({{{SNAPSHOT_MIME!r}: figures}}, raw=True)
_nnkit_site_snapshot()
del _nnkit_site_snapshot
"""

TEMPLATE = r"""{%- extends 'index.html.j2' -%}
{#- No require.js, no mermaid, no widget manager: all three would come from a CDN. -#}
{%- block html_head_js_requirejs -%}{%- endblock html_head_js_requirejs -%}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
{%- block jupyter_widgets -%}{%- endblock jupyter_widgets -%}
{%- block html_head_js_mathjax -%}
{%- if resources.nnkit_mathjax -%}
<script>
window.MathJax = {
  tex: {inlineMath: [['$', '$'], ['\\(', '\\)']], displayMath: [['$$', '$$'], ['\\[', '\\]']],
        processEscapes: true, processEnvironments: true, tags: 'ams'},
  svg: {fontCache: 'global'},
  options: {enableMenu: false}
};
</script>
<script defer src="{{ resources.nnkit_mathjax }}"></script>
{%- endif -%}
{%- endblock html_head_js_mathjax -%}
{%- block extra_css -%}
<style type="text/css">
.nnkit-demo { margin: 0.3em 0; }
.nnkit-demo img { display: block; max-width: 100%; height: auto; }
.nnkit-demo-note { font-size: 0.85em; color: var(--jp-ui-font-color2, #616161); margin: 0.2em 0 0.6em; }
nav.nnkit-site { font-family: var(--jp-ui-font-family, sans-serif); font-size: 0.9em; margin: 0.5em 0 1em; }
</style>
{%- endblock extra_css -%}
{%- block body_header -%}
{{ super() }}
<nav class="nnkit-site"><a href="index.html">All lectures</a></nav>
{%- endblock body_header -%}
"""


# ------------------------------------------------------------------------------ execution

def execute(path: Path, timeout: int = 300) -> tuple[nbformat.NotebookNode, dict]:
    """Execute the notebook (cwd: its folder); return it and the PNGs of its live figures."""
    nb = nbformat.read(path, as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell(SNAPSHOT))
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    client.execute()
    snapshot_cell = nb.cells.pop()
    figures = {}
    for out in snapshot_cell.outputs:
        figures.update(out.get("data", {}).get(SNAPSHOT_MIME, {}))
    return nb, figures


# ------------------------------------------------------------------------------ widgets

def _references(value) -> list[str]:
    """Model ids referenced (``IPY_MODEL_<id>``) anywhere in a widget's state, in order."""
    if isinstance(value, str):
        return [value[len("IPY_MODEL_"):]] if value.startswith("IPY_MODEL_") else []
    if isinstance(value, dict):
        return [r for v in value.values() for r in _references(v)]
    if isinstance(value, (list, tuple)):
        return [r for v in value for r in _references(v)]
    return []


BOXES = {"HBoxModel": "row", "VBoxModel": "column", "BoxModel": "row", "GridBoxModel": "row"}
TEXT_MODELS = {"HTMLModel": "html", "HTMLMathModel": "html", "LabelModel": "text"}
PROGRESS_MODELS = {"FloatProgressModel", "IntProgressModel"}
NOT_CONTROLS = {"PlayModel", "ButtonModel", "OutputModel"} | set(TEXT_MODELS) | PROGRESS_MODELS


def _control_value(state: dict) -> str | None:
    if "index" in state and "_options_labels" in state:
        index, labels = state["index"], state["_options_labels"]
        if isinstance(index, int) and 0 <= index < len(labels):
            return str(labels[index])
        if isinstance(index, (list, tuple)):
            return ", ".join(str(labels[i]) for i in index if 0 <= i < len(labels))
        return None
    value = state.get("value")
    if value is None or isinstance(value, dict):
        return None
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, list):
        return "–".join(f"{v:.4g}" if isinstance(v, float) else str(v) for v in value)
    return str(value)


class StaticWidget:
    """A widget output as static HTML, from the saved widget state and the figures' PNGs.

    Boxes keep their row/column layout, ipympl figures become images, HTML and Label widgets
    keep their text, progress bars become ``<progress>``; the controls' values are gathered
    into a caption instead of being drawn as controls that could not work without a kernel.
    """

    def __init__(self, states: dict, figures: dict):
        self.states, self.figures = states, figures
        self.images, self.controls, self.seen = 0, [], set()

    def render(self, model_id: str) -> str:
        if model_id in self.seen or model_id not in self.states:
            return ""
        self.seen.add(model_id)
        model = self.states[model_id]
        name, state = model.get("model_name"), model.get("state", {})
        if model_id in self.figures:
            fig = self.figures[model_id]
            self.images += 1
            return (f'<img src="data:image/png;base64,{fig["png"]}" width="{fig["width"]}" '
                    f'height="{fig["height"]}" alt="figure of the interactive demo">')
        if name in BOXES:
            inner = "".join(self.render(child) for child in _references(state.get("children", [])))
            if not inner:
                return ""
            return (f'<div style="display: flex; flex-direction: {BOXES[name]}; flex-wrap: wrap; '
                    f'gap: 0.2em 0.8em; align-items: {"center" if BOXES[name] == "row" else "flex-start"};">'
                    f"{inner}</div>")
        if name in TEXT_MODELS:
            text = state.get("value")
            if not isinstance(text, str) or not text.strip():
                return ""
            return f"<div>{text if TEXT_MODELS[name] == 'html' else html.escape(text)}</div>"
        if name in PROGRESS_MODELS:
            return (f'<progress value="{state.get("value", 0)}" max="{state.get("max", 100)}" '
                    f'style="width: 12em;"></progress>')
        description = state.get("description")
        if (description and model.get("model_module") == "@jupyter-widgets/controls"
                and name not in NOT_CONTROLS):
            value = _control_value(state)
            if value is not None:
                self.controls.append(f"{html.escape(description)} = {html.escape(value)}")
        return ""

    def html(self, model_id: str) -> str:
        body = self.render(model_id)
        if not self.images and not self.controls:
            return body
        note = "Interactive in JupyterLab (<code>make lab</code>); a static picture here"
        if self.controls:
            note += ", drawn with " + ", ".join(self.controls)
        return f'<div class="nnkit-demo">{body}<p class="nnkit-demo-note">{note}.</p></div>'


def freeze_widgets(nb: nbformat.NotebookNode, figures: dict) -> int:
    """Replace widget outputs by static HTML (figures as images); drop the widget state.

    Returns the number of figures placed on the page.
    """
    widgets_meta = nb.metadata.pop("widgets", {})
    states = widgets_meta.get(WIDGET_STATE, {}).get("state", {})
    placed = 0
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            if WIDGET_VIEW not in data:
                continue
            view = data.pop(WIDGET_VIEW)
            static = StaticWidget(states, figures)
            body = static.html(view.get("model_id", ""))
            if body:
                data.pop("image/png", None)
                data["text/html"] = body
                placed += static.images
            elif not data:
                data["text/plain"] = "(an interactive widget: run this lecture in JupyterLab)"
    return placed


# ------------------------------------------------------------------------------ HTML

def _exporter(mathjax_url: str | None) -> HTMLExporter:
    exporter = HTMLExporter(template_name="lab", extra_loaders=[DictLoader({"nnkit_site.html.j2": TEMPLATE})],
                            template_file="nnkit_site.html.j2", embed_images=True,
                            exclude_input_prompt=True, exclude_output_prompt=True)
    exporter.mathjax_url = mathjax_url or ""
    return exporter


def _title(nb: nbformat.NotebookNode, fallback: str) -> str:
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            m = re.search(r"^#\s+(.+?)\s*$", cell.source, flags=re.M)
            if m:
                return m.group(1)
    return fallback


def export(path: Path, out_dir: Path, mathjax_url: str | None) -> dict:
    """Execute one lecture and write ``out_dir/<name>.html``; return what the index needs."""
    start = time.perf_counter()
    nb, figures = execute(path)
    placed = freeze_widgets(nb, figures)
    body, _ = _exporter(mathjax_url).from_notebook_node(
        nb, resources={"metadata": {"name": path.stem, "path": str(path.parent)},
                       "nnkit_mathjax": mathjax_url})
    target = out_dir / f"{path.stem}.html"
    target.write_text(body, encoding="utf-8")
    return {"file": target.name, "title": _title(nb, path.stem), "figures": placed,
            "seconds": time.perf_counter() - start}


INDEX = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<title>Neural-network fundamentals: lectures</title>
<style>
body {{ font-family: system-ui, -apple-system, "Segoe UI", sans-serif; max-width: 46em;
       margin: 2em auto; padding: 0 1em; line-height: 1.5; color: #222; }}
li {{ margin: 0.3em 0; }}  small {{ color: #666; }}
</style></head><body>
<h1>Neural-network fundamentals: lectures</h1>
<p>Executed lecture notebooks as static pages (they open offline). The interactive demos
appear as pictures here; run the notebooks in JupyterLab (<code>make lab</code>) to play with them.</p>
<ol>
{items}
</ol>
</body></html>
"""


def write_index(out_dir: Path, pages: list[dict]) -> Path:
    items = "\n".join(f'<li><a href="{html.escape(p["file"])}">{html.escape(p["title"])}</a> '
                      f'<small>({html.escape(p["file"])})</small></li>' for p in pages)
    index = out_dir / "index.html"
    index.write_text(INDEX.format(items=items), encoding="utf-8")
    return index


def fetch_mathjax(prefix: Path = MATHJAX_PREFIX) -> Path:
    """Install MathJax once with npm under ``prefix``; return the path of its single-file build."""
    target = prefix / "node_modules" / "mathjax" / "es5" / MATHJAX_FILE
    if target.is_file():
        return target
    npm = shutil.which("npm")
    if npm is None:
        raise RuntimeError("MathJax is needed for the formulas and is fetched once with npm, which is not "
                         "installed: install Node.js/npm, pass --mathjax FILE (MathJax 3's "
                         f"es5/{MATHJAX_FILE}), or --no-mathjax to keep the TeX source as text.")
    prefix.mkdir(parents=True, exist_ok=True)
    subprocess.run([npm, "install", "--silent", "--no-audit", "--no-fund", "--no-save",
                    "--no-package-lock", "--prefix", str(prefix), f"mathjax@{MATHJAX_VERSION}"],
                   check=True)
    if not target.is_file():
        raise RuntimeError(f"npm installed mathjax@{MATHJAX_VERSION} but {target} is missing")
    return target


def build(notebooks: list[Path], out_dir: Path, mathjax: Path | None, log=print) -> list[dict]:
    """Export ``notebooks`` into ``out_dir`` (created), with MathJax copied into ``_static/``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    mathjax_url = None
    if mathjax is not None:
        static = out_dir / STATIC
        static.mkdir(exist_ok=True)
        shutil.copyfile(mathjax, static / MATHJAX_FILE)
        mathjax_url = f"{STATIC}/{MATHJAX_FILE}"
    pages = []
    for path in notebooks:
        page = export(path, out_dir, mathjax_url)
        log(f"{page['file']:<34} {page['figures']:>2} demo figure(s)  {page['seconds']:5.1f} s")
        pages.append(page)
    write_index(out_dir, pages)
    return pages


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="*", type=Path, help="default: every lectures/*.ipynb")
    parser.add_argument("--out", type=Path, default=ROOT / "site", help="output folder (default: site/)")
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--mathjax", type=Path, help=f"MathJax 3's es5/{MATHJAX_FILE} to copy")
    group.add_argument("--no-mathjax", action="store_true", help="leave the formulas as TeX text")
    args = parser.parse_args(argv)
    notebooks = args.notebooks or sorted(HERE.glob("*.ipynb"))
    if not notebooks:
        print(f"no notebooks in {HERE}", file=sys.stderr)
        return 1
    try:
        mathjax = None if args.no_mathjax else (args.mathjax or fetch_mathjax())
    except (RuntimeError, subprocess.CalledProcessError) as exc:
        print(f"make site: {exc}", file=sys.stderr)
        return 1
    pages = build([p.resolve() for p in notebooks], args.out, mathjax)
    print(f"{len(pages)} lecture(s) -> {args.out / 'index.html'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
