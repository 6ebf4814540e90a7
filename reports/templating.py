"""The one Jinja2 environment of every document (bulletin, scheduling report, appraisal, auditor's report).

Templates live in ``reports/templates``; HTML is autoescaped; each document inlines its
stylesheet (``css`` in the template), so a rendered file opens offline on its own.
"""

from __future__ import annotations

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


def pdf(html: str) -> bytes:
    """The PDF of a document's print HTML (``medium="print"``: no links, nothing of the server).

    No base URL: the stylesheet is inlined, images are data URIs, so nothing is fetched and no
    path of the server can end up in the file (not even in a link annotation)."""
    from weasyprint import HTML  # a second to import: only when a PDF is written

    return HTML(string=html).write_pdf()
