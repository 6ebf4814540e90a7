"""The one Jinja2 environment of every document (bulletin, scheduling report, appraisal, auditor's report).

Templates live in ``reports/templates``; HTML is autoescaped; each document inlines its
stylesheet (``css`` in the template), so a rendered file opens offline on its own.
"""

from __future__ import annotations

from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup

TEMPLATES = Path(__file__).parent / "templates"

ENV = Environment(loader=FileSystemLoader(str(TEMPLATES)), autoescape=select_autoescape(["html", "j2"]))


def render(template: str, /, stylesheet: str = "style.css", **ctx) -> str:
    """``template`` rendered with ``ctx`` and the stylesheet's text as ``css``."""
    # the stylesheet is ours, not data: not escaped (escaping would turn its quoted font names into &#34;)
    return ENV.get_template(template).render(**ctx, css=Markup((TEMPLATES / stylesheet).read_text("utf-8")))
