"""The one Jinja2 environment of every document (bulletin, scheduling report, appraisal, auditor's report).

Templates live in ``reports/templates``; HTML is autoescaped; each document inlines its
stylesheet (``css`` in the template), so a rendered file opens offline on its own.
"""

from __future__ import annotations

import subprocess
import sys
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, pass_context, select_autoescape
from markupsafe import Markup

from reports import figures

TEMPLATES = Path(__file__).parent / "templates"

ENV = Environment(loader=FileSystemLoader(str(TEMPLATES)), autoescape=select_autoescape(["html", "j2"]))


@pass_context
def _figures(ctx, text: str):
    """A generated sentence: in the HTML each figure links to its trace page (``trace_dir``),
    on paper (PDF, DOCX) the text alone."""
    if ctx.get("medium") == "html" and ctx.get("trace_dir"):
        folder = ctx["trace_dir"]
        return figures.linked(text, lambda fid: f"{folder}/{fid}.html")
    return figures.plain(text)


ENV.filters["figures"] = _figures


def render(template: str, /, stylesheet: str = "style.css", **ctx) -> str:
    """``template`` rendered with ``ctx`` and the stylesheet's text as ``css``."""
    # the stylesheet is ours, not data: not escaped (escaping would turn its quoted font names into &#34;)
    return ENV.get_template(template).render(**ctx, css=Markup((TEMPLATES / stylesheet).read_text("utf-8")))


PDF_TIMEOUT_S = 600  # a document renders in seconds; a renderer that hangs must not hold the task


def pdf_in_background(html: str) -> Future:
    """:func:`pdf` of ``html`` in a process of its own, started now: the PDF is half of a document's
    time (WeasyPrint's layout, on one core), and the DOCX, XLSX and trace pages are written
    meanwhile on the other. A fresh interpreter running this module, not a fork or a
    multiprocessing child: nothing of the caller (its database connection, its locks, its main
    module) is shared with or re-imported by the renderer."""
    proc = subprocess.Popen([sys.executable, "-m", __name__], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)

    def finish() -> bytes:
        try:
            out, err = proc.communicate(html.encode("utf-8"), timeout=PDF_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            raise RuntimeError(f"PDF rendering took more than {PDF_TIMEOUT_S} s and was stopped") from None
        if proc.returncode != 0:
            raise RuntimeError(f"PDF rendering failed (exit {proc.returncode}): {err.decode(errors='replace')[-2000:]}")
        return out

    executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pdf")
    try:
        return executor.submit(finish)
    finally:
        executor.shutdown(wait=False)


def pdf(html: str) -> bytes:
    """The PDF of a document's print HTML (``medium="print"``: no links, nothing of the server).

    No base URL: the stylesheet is inlined, images are data URIs, so nothing is fetched and no
    path of the server can end up in the file (not even in a link annotation)."""
    from weasyprint import HTML  # a second to import: only when a PDF is written

    return HTML(string=html).write_pdf()


if __name__ == "__main__":  # the renderer pdf_in_background starts: print HTML on stdin to PDF on stdout
    sys.stdout.buffer.write(pdf(sys.stdin.buffer.read().decode("utf-8")))
