"""``make site`` exports the executed lectures to static HTML that opens offline.

The exporter (``lectures/_site.py``) runs on a small notebook written here (math, a static plot,
a demo built with ``nnkit.demos._base`` whose slider is moved after it is shown, a progress bar)
and on the first real lecture that uses a demo, into a temporary folder. The pages must exist,
show every demo's figure as an image (its final state), embed no widget state, and reference no
script or stylesheet on the network; opened in chromium with every network request blocked, a
page must load with its formulas typeset and its images decoded, without trying to reach a host.

MathJax is copied from ``build/site-assets`` (where ``make site`` puts it); when it is not there
the export runs without it (CI fetches it with npm), and the formula check is skipped.
"""
from __future__ import annotations

import base64
import importlib.util
import os
import re
import struct
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from chromium import in_ci, offline_page
from test_browser import uses_a_demo

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
LECTURES = Path(os.environ.get("NNKIT_LECTURES", ROOT / "lectures")).resolve()


def load_exporter():
    spec = importlib.util.spec_from_file_location("nnkit_lectures_site", ROOT / "lectures" / "_site.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


site = load_exporter()

DEMO = '''\
import numpy as np
import ipywidgets as widgets
from nnkit.demos._base import assemble, new_figure

def wave():
    fig = new_figure(figsize=(5, 2.5), dpi=80)
    ax = fig.add_subplot()
    x = np.linspace(0, 2 * np.pi, 200)
    line, = ax.plot(x, np.sin(x))
    ax.set_ylim(-1.1, 1.1)
    controls = {"freq": widgets.FloatSlider(value=1.0, min=0.5, max=5.0, step=0.25, description="freq"),
                "kind": widgets.Dropdown(options=["sin", "cos"], value="sin", description="kind")}
    state = {}
    def update():
        state["y"] = getattr(np, controls["kind"].value)(controls["freq"].value * x)
        line.set_ydata(state["y"])
        fig.canvas.draw_idle()
    return assemble(controls, fig, update, state=state)

demo = wave()
demo'''


def toy_notebook(path: Path) -> Path:
    nb = new_notebook(cells=[
        new_markdown_cell("# A toy lecture\n\nThe sigmoid $\\sigma(z) = 1/(1+e^{-z})$ and\n"
                          "$$\\frac{\\partial L}{\\partial w} = x\\,(\\hat y - y).$$"),
        new_code_cell("import matplotlib.pyplot as plt\nplt.plot([0, 1, 4]); plt.show()"),
        new_code_cell(DEMO),
        new_code_cell("demo.controls['freq'].value = 2.0\ndemo.controls['kind'].value = 'cos'"),
        new_code_cell("from tqdm.auto import tqdm\nfor _ in tqdm(range(3), desc='epochs'):\n    pass"),
        new_code_cell("print('done')"),
    ])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)
    return path


def first_demo_lecture() -> Path | None:
    return next((p for p in sorted(LECTURES.glob("*.ipynb")) if uses_a_demo(p)), None)


def mathjax_file() -> Path | None:
    if site.MATHJAX_DEFAULT.is_file():
        return site.MATHJAX_DEFAULT
    if in_ci():  # CI fetches it once, as `make site` does
        return site.fetch_mathjax()
    return None


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """The toy notebook and the first demo lecture, exported; (out dir, {stem: page}, mathjax)."""
    src = tmp_path_factory.mktemp("lectures")
    notebooks = [toy_notebook(src / "00_toy.ipynb")]
    lecture = first_demo_lecture()
    if lecture is not None:
        notebooks.append(lecture)
    out = tmp_path_factory.mktemp("site")
    mathjax = mathjax_file()
    pages = site.build(notebooks, out, mathjax, log=lambda *a: None)
    return out, {Path(p["file"]).stem: p for p in pages}, mathjax


REMOTE = [
    re.compile(r"<script\b[^>]*\bsrc\s*=\s*[\"']?\s*(https?:)?//", re.I),
    re.compile(r"<link\b[^>]*\bhref\s*=\s*[\"']?\s*(https?:)?//", re.I),
    re.compile(r"<img\b[^>]*\bsrc\s*=\s*[\"']?\s*(https?:)?//", re.I),
    re.compile(r"<iframe\b[^>]*\bsrc\s*=\s*[\"']?\s*(https?:)?//", re.I),
    re.compile(r"@import\s+(url\()?\s*[\"']?\s*(https?:)?//", re.I),
    re.compile(r"url\(\s*[\"']?\s*(https?:)?//", re.I),
    re.compile(r"\b(import|from)\s*\(?\s*[\"'](https?:)?//", re.I),  # ES modules
    re.compile(r"unpkg\.com|cdnjs\.|jsdelivr\.net|cdn\.jupyter", re.I),
]


def remote_references(text: str) -> list[str]:
    found = []
    for pattern in REMOTE:
        for m in pattern.finditer(text):
            found.append(text[max(0, m.start() - 20): m.end() + 60].replace("\n", " "))
    return found


def png_size(b64: str) -> tuple[int, int]:
    raw = base64.b64decode(b64)
    assert raw[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    return struct.unpack(">II", raw[16:24])


def test_lectures_reference_nothing_remote():
    """Markdown of every lecture: no image, script or frame from the network."""
    bad = []
    for path in sorted(LECTURES.glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        for index, cell in enumerate(nb.cells):
            if cell.cell_type != "markdown":
                continue
            hits = re.findall(r"!\[[^\]]*\]\(\s*<?(?:https?:)?//[^)]*\)", cell.source)
            hits += remote_references(cell.source)
            bad += [f"{path.name} cell {index}: {hit}" for hit in hits]
    assert not bad, "the exported lectures must open offline:\n" + "\n".join(bad)


def test_pages_and_index_are_written(exported):
    out, pages, _ = exported
    index = (out / "index.html").read_text()
    for stem in pages:
        assert (out / f"{stem}.html").is_file()
        assert f'href="{stem}.html"' in index
    assert "A toy lecture" in index  # the first heading is the title


def test_demo_becomes_its_final_picture(exported):
    out, pages, _ = exported
    text = (out / "00_toy.html").read_text()
    demos = re.findall(r'<div class="nnkit-demo">(.*?)<p class="nnkit-demo-note">(.*?)</p>', text, flags=re.S)
    assert len(demos) == 1, f"expected the one demo as a picture, found {len(demos)}"
    body, caption = demos[0]
    images = [dict(re.findall(r'([\w-]+)="([^"]*)"', tag)) for tag in re.findall(r"<img\b[^>]*>", body)]
    assert len(images) == 1, images
    src, width = images[0]["src"], images[0]["width"]
    assert src.startswith("data:image/png;base64,")
    # Shown at the figure's size in CSS pixels (5 in x 80 dpi), drawn at twice that for sharpness.
    assert int(width) == 5 * 80 and png_size(src.split(",", 1)[1]) == (2 * 5 * 80, 2 * int(2.5 * 80))
    # The caption gives the controls' values after the later cell moved them.
    assert "freq = 2" in caption and "kind = cos" in caption, caption
    assert pages["00_toy"]["figures"] == 1
    # A progress bar (a widget too) shows its final state, without a caption.
    bars = [dict(re.findall(r'([\w-]+)="([^"]*)"', tag)) for tag in re.findall(r"<progress\b[^>]*>", text)]
    assert len(bars) == 1 and float(bars[0]["value"]) == float(bars[0]["max"]) == 3, bars
    assert "epochs" in text
    # The static pyplot figure is an image as well, and the last cell's output is there.
    assert text.count("data:image/png;base64,") >= 2
    assert "done" in text


@pytest.mark.parametrize("which", ["toy", "lecture"])
def test_page_has_no_widget_state_and_nothing_remote(exported, which):
    out, pages, mathjax = exported
    stems = [s for s in pages if (s == "00_toy") == (which == "toy")]
    if not stems:
        pytest.skip("no lecture uses nnkit.demos yet")
    stem = stems[0]
    text = (out / f"{stem}.html").read_text()
    assert "application/vnd.jupyter.widget-state+json" not in text
    assert "application/vnd.jupyter.widget-view+json" not in text
    assert not remote_references(text), remote_references(text)[:5]
    if which == "lecture":
        assert pages[stem]["figures"] >= 1, f"{stem} uses nnkit.demos but no demo figure was exported"
    if mathjax is not None:
        assert (out / site.STATIC / site.MATHJAX_FILE).is_file()
        assert f'src="{site.STATIC}/{site.MATHJAX_FILE}"' in text


def test_page_opens_offline_in_chromium(exported):
    out, pages, mathjax = exported
    with offline_page() as (page, blocked):
        for stem in pages:
            page.goto((out / f"{stem}.html").as_uri())
            page.wait_for_load_state("load")
            if mathjax is not None:
                page.wait_for_function(
                    "() => window.MathJax && MathJax.startup && MathJax.startup.promise"
                    " && document.querySelectorAll('mjx-container').length > 0", timeout=30_000)
                page.evaluate("() => MathJax.startup.promise")
            broken = page.evaluate("() => [...document.images].filter(i => !i.complete"
                                   " || i.naturalWidth === 0).length")
            assert broken == 0, f"{stem}: {broken} image(s) did not load"
        page.goto((out / "index.html").as_uri())
        assert page.locator("a").count() == len(pages)
    assert not blocked.remote, f"the pages tried to reach the network: {blocked.remote}"
    assert not blocked.failed, f"requests failed: {blocked.failed}"
    assert not blocked.errors, f"JavaScript errors: {blocked.errors}"
    if mathjax is None:
        pytest.skip("formulas not checked: MathJax is not in build/site-assets (run `make site` once)")
