"""The editable copy of a document (DOCX, for Word and WPS), made from the same print HTML as
its PDF, so both hold the same text, figures and tables.

The HTML of a document is ours and small in vocabulary (reports/templates): headings, paragraphs,
tables with thead/tbody and rowspan/colspan, charts as <img> with their PNG in ``data-png``,
and a few classed blocks (the masthead, the signature, notes, the version box). Each maps to
Word's own structure: real Word tables (merged cells, the header row repeated on every page),
landscape sections for the wide tables, the GB/T 9704 page (A4, margins 37/35/28/26 mm) and page
numbers "— 1 —" at the outside bottom (odd pages right, even pages left).

Fonts are named as offices have them (the PDF embeds free look-alikes instead): body 仿宋,
title and masthead 方正小标宋简体, headings 黑体, tables 宋体; digits and Latin in Times New Roman.
"""

from __future__ import annotations

import base64
import io
import re
from pathlib import Path

from docx import Document
from docx.enum.section import WD_ORIENT, WD_SECTION
from docx.enum.table import WD_TABLE_ALIGNMENT
from docx.enum.text import WD_ALIGN_PARAGRAPH, WD_LINE_SPACING
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.shared import Mm, Pt, RGBColor
from lxml import html as lxml_html

BODY, TITLE, HEADING, TABLE, LATIN = "仿宋", "方正小标宋简体", "黑体", "宋体", "Times New Roman"
RED = RGBColor(0xC0, 0x00, 0x00)
PORTRAIT = {"width": Mm(210), "height": Mm(297), "top": Mm(37), "bottom": Mm(35), "left": Mm(28), "right": Mm(26)}
LANDSCAPE = {"width": Mm(297), "height": Mm(210), "top": Mm(15), "bottom": Mm(20), "left": Mm(15), "right": Mm(15)}
LINE = Pt(28.9)  # 22 lines in the 225 mm 版心


def write(path: Path, print_html: str) -> None:
    """The DOCX of a document from its print HTML (``medium="print"``)."""
    doc = Document()
    _page(doc.sections[0], PORTRAIT)
    doc.settings.odd_and_even_pages_header_footer = True
    _page_numbers(doc.sections[0])
    style = doc.styles["Normal"]
    _font(style.font, BODY, 16)
    style.paragraph_format.line_spacing_rule = WD_LINE_SPACING.EXACTLY
    style.paragraph_format.line_spacing = LINE
    style.paragraph_format.space_after = Pt(0)
    body = lxml_html.fromstring(print_html).find("body")
    writer = _Writer(doc)
    for el in body:
        writer.block(el)
    # python-docx starts from a template with an empty first paragraph: drop it
    first = doc.paragraphs[0]
    if not first.text and first._p.getnext() is not None:
        first._p.getparent().remove(first._p)
    doc.save(str(path))


class _Writer:
    def __init__(self, doc):
        self.doc = doc
        self.landscape = False

    # ------------------------------------------------------------------ blocks
    def block(self, el) -> None:
        tag, cls = el.tag, set((el.get("class") or "").split())
        if tag == "header" and "masthead" in cls:
            for child in el:
                self.masthead(child)
        elif tag == "h1":
            p = self.para(el, size=22, font=TITLE, align=WD_ALIGN_PARAGRAPH.CENTER, indent=False, bold=False)
            p.paragraph_format.space_before, p.paragraph_format.space_after = Pt(24), Pt(12)
        elif tag == "h2":
            self.para(el, font=HEADING, keep=True)
        elif tag == "h3":
            self.para(el, font=HEADING, size=12, indent=False, keep=True)
        elif tag == "p":
            if "note" in cls:
                self.para(el, size=9, font=BODY, indent=False, line=None)
            elif "incomplete" in cls:
                self.para(el, size=12, indent=False, line=None)
            else:
                self.para(el, indent="addressee" not in cls)
        elif tag == "img":
            self.image(el, Mm(125))
        elif tag == "table":
            self.table(el)
        elif tag == "ul":
            for li in el.iter("li"):
                self.para(li, size=9, indent=False, line=None, prefix="· ")
        elif tag == "div" and "charts" in cls:
            p = self.doc.add_paragraph()
            p.alignment = WD_ALIGN_PARAGRAPH.CENTER
            for img in el.iter("img"):
                self.image(img, Mm(75), paragraph=p)
        elif tag == "div" and "signature" in cls:
            for i, child in enumerate(el):
                p = self.para(child, indent=False, align=WD_ALIGN_PARAGRAPH.RIGHT)
                p.paragraph_format.right_indent = Pt(16 * 4)
                if i == 0:
                    p.paragraph_format.space_before = LINE * 2
        elif tag == "div" and "version" in cls:
            for child in el:
                if child.tag == "ul":
                    self.block(child)
                else:
                    p = self.para(child, size=9, font=HEADING, indent=False, line=None)
                    p.paragraph_format.space_before = Pt(6) if child is el[0] else Pt(0)
        elif tag == "div" and "tablegroup" in cls:
            self.section("wide" in cls, first=el.getprevious() is None)
            for child in el:
                self.block(child)
        elif tag == "div" and "closing" in cls:  # closing paragraph, 附件, 落款, version: on one page
            first = len(self.doc.paragraphs)
            for child in el:
                self.block(child)
            for p in self.doc.paragraphs[first:-1]:
                p.paragraph_format.keep_with_next = True
        elif tag == "div":  # tables, corrections, …: their children in order
            for child in el:
                self.block(child)

    def masthead(self, el) -> None:
        cls = el.get("class") or ""
        if "issuer" in cls:
            p = self.para(el, size=36, font=TITLE, align=WD_ALIGN_PARAGRAPH.CENTER, indent=False, line=None,
                          color=RED)
            p.paragraph_format.space_before = Pt(24)
        elif "docno" in cls:
            p = self.para(el, align=WD_ALIGN_PARAGRAPH.CENTER, indent=False)
            p.paragraph_format.space_before = Pt(32)
            _bottom_border(p, "C00000", 10)  # the red separator under the 发文字号 (GB/T 9704 §7.2.4)

    def section(self, wide: bool, first: bool) -> None:
        """As in the PDF: a wide table on landscape pages of its own, back to portrait after it; the
        first table on a new page; a portrait table after a portrait one where the page has room."""
        if wide or self.landscape:
            sec = self.doc.add_section(WD_SECTION.NEW_PAGE)
            _page(sec, LANDSCAPE if wide else PORTRAIT)
            self.landscape = wide
        elif first:
            self.doc.add_page_break()

    # ------------------------------------------------------------------ paragraphs
    def para(self, el, size: float = 16, font: str = BODY, align=None, indent=True, keep=False, bold=False,
             line=LINE, color=None, prefix: str = ""):
        p = self.doc.add_paragraph()
        fmt = p.paragraph_format
        if align is not None:
            p.alignment = align
        elif indent is not False:
            p.alignment = WD_ALIGN_PARAGRAPH.JUSTIFY
        if indent:
            fmt.first_line_indent = Pt(size * 2)
        if line is None:
            fmt.line_spacing_rule = WD_LINE_SPACING.SINGLE
        fmt.keep_with_next = keep
        for text, strong, brk in _runs(el, prefix):
            if brk:
                p.add_run().add_break()
                continue
            run = p.add_run(text)
            _font(run.font, HEADING if strong else font, size)
            run.font.bold = bold
            if color is not None:
                run.font.color.rgb = color
        return p

    def image(self, el, width, paragraph=None) -> None:
        data = el.get("data-png")
        if not data:
            return
        p = paragraph or self.doc.add_paragraph()
        if paragraph is None:
            p.alignment = WD_ALIGN_PARAGRAPH.CENTER
        p.paragraph_format.line_spacing_rule = WD_LINE_SPACING.SINGLE  # an exact line height would clip it
        p.add_run().add_picture(io.BytesIO(base64.b64decode(data)), width=width)

    # ------------------------------------------------------------------ tables
    def table(self, el) -> None:
        head = [tr for part in el.findall("thead") for tr in part.findall("tr")]
        body = [tr for part in el.findall("tbody") for tr in part.findall("tr")] or el.findall("tr")
        grid, spans = _layout(head + body)
        n_cols = max((len(r) for r in grid), default=0)
        if not n_cols:
            return
        table = self.doc.add_table(rows=len(grid), cols=n_cols)
        table.style = "Table Grid"
        table.alignment = WD_TABLE_ALIGNMENT.CENTER
        table.autofit = False
        _cell_margins(table, Mm(0.6))
        size = 6.5 if n_cols > 16 else 8
        for (r, c), (rs, cs, _) in spans.items():  # merge first (header cells), then fill
            if rs > 1 or cs > 1:
                table.cell(r, c).merge(table.cell(r + rs - 1, c + cs - 1))
        cells = table._cells  # the grid once: table.cell() walks the whole table on every call
        for (r, c), (_, _, cell_el) in spans.items():
            cell = cells[r * n_cols + c]
            p = cell.paragraphs[0]
            left = cell_el.tag == "td" and "l" in (cell_el.get("class") or "").split()
            p.alignment = WD_ALIGN_PARAGRAPH.LEFT if left else WD_ALIGN_PARAGRAPH.CENTER
            p.paragraph_format.line_spacing_rule = WD_LINE_SPACING.SINGLE
            p.paragraph_format.first_line_indent = Pt(0)
            for text, strong, brk in _runs(cell_el):
                if brk:
                    p.add_run().add_break()
                    continue
                run = p.add_run(text)
                _font(run.font, TABLE, size)
                run.font.bold = cell_el.tag == "th" or strong or _in_province_row(cell_el)
            if r < len(head):
                _shade(cell, "F2F2F2")
        widths = self.column_widths(spans, len(head), n_cols)
        for j, w in enumerate(widths):
            table.columns[j].width = w
        for k, cell in enumerate(cells):
            cell.width = widths[k % n_cols]
        for row in table.rows[-2:]:  # the table's last rows stay on the page of the note under it
            for cell in row.cells:
                for p in cell.paragraphs:
                    p.paragraph_format.keep_with_next = True
        for r in range(len(head)):  # the header rows repeat on every page
            tr_pr = table.rows[r]._tr.get_or_add_trPr()
            flag = OxmlElement("w:tblHeader")
            flag.set(qn("w:val"), "true")
            tr_pr.append(flag)


    def column_widths(self, spans: dict, n_head: int, n_cols: int) -> list:
        """The text width of the section shared by the columns in proportion to their longest body
        text or half their header (within 4–24 characters): names and 计分过程 get room."""
        sec = self.doc.sections[-1]
        avail = sec.page_width - sec.left_margin - sec.right_margin
        longest = [4] * n_cols
        for (r, c), (_, cs, el) in spans.items():
            if cs == 1:  # a header may wrap on two lines, body text is read on one
                n = len(el.text_content().strip())
                longest[c] = max(longest[c], min(24, n if r >= n_head else -(-n // 2)))
        total = sum(longest)
        return [int(avail * n / total) for n in longest]


def _cell_margins(table, width) -> None:
    tbl_pr = table._tbl.tblPr
    margins = OxmlElement("w:tblCellMar")
    for side in ("left", "right"):
        m = OxmlElement(f"w:{side}")
        m.set(qn("w:w"), str(width.twips))
        m.set(qn("w:type"), "dxa")
        margins.append(m)
    tbl_pr.append(margins)


def _in_province_row(cell_el) -> bool:
    return "province" in (cell_el.getparent().get("class") or "")


def _layout(rows) -> tuple[list[list[int]], dict]:
    """The cell grid of HTML rows with rowspan/colspan: (occupancy per row, {(row, col): (rowspan,
    colspan, element)} of each cell's top-left corner)."""
    grid: list[list[int]] = []
    spans = {}
    for r, tr in enumerate(rows):
        while len(grid) <= r:
            grid.append([])
        c = 0
        for cell in tr:
            if cell.tag not in ("td", "th"):
                continue
            while c < len(grid[r]) and grid[r][c]:
                c += 1
            rs, cs = int(cell.get("rowspan") or 1), int(cell.get("colspan") or 1)
            for dr in range(rs):
                while len(grid) <= r + dr:
                    grid.append([])
                row = grid[r + dr]
                row.extend([0] * (c + cs - len(row)))
                for dc in range(cs):
                    row[c + dc] = 1
            spans[(r, c)] = (rs, cs, cell)
            c += cs
    width = max((len(r) for r in grid), default=0)
    for row in grid:
        row.extend([0] * (width - len(row)))
    return grid, spans


def _runs(el, prefix: str = ""):
    """(text, strong, line break) pieces of an element's inline content, whitespace collapsed."""
    out = [(prefix, False, False)] if prefix else []

    def walk(node, strong):
        if node.text:
            out.append((node.text, strong, False))
        for child in node:
            if child.tag == "br":
                out.append(("", False, True))
            else:
                walk(child, strong or child.tag in ("strong", "b"))
            if child.tail:
                out.append((child.tail, strong, False))

    walk(el, el.tag in ("strong", "b"))
    cleaned = [(re.sub(r"\s+", " ", t), s, b) for t, s, b in out]
    return [(t, s, b) for t, s, b in cleaned if b or t]


def _font(font, east_asian: str, size: float) -> None:
    font.name = LATIN
    font.size = Pt(size)
    rpr = font._element.get_or_add_rPr()  # python-docx names only the Latin font: add the East Asian one
    rfonts = rpr.find(qn("w:rFonts"))
    if rfonts is None:
        rfonts = OxmlElement("w:rFonts")
        rpr.insert(0, rfonts)
    rfonts.set(qn("w:eastAsia"), east_asian)


def _page(section, page: dict) -> None:
    section.orientation = WD_ORIENT.LANDSCAPE if page["width"] > page["height"] else WD_ORIENT.PORTRAIT
    section.page_width, section.page_height = page["width"], page["height"]
    section.top_margin, section.bottom_margin = page["top"], page["bottom"]
    section.left_margin, section.right_margin = page["left"], page["right"]


def _page_numbers(section) -> None:
    """— 1 — in 四号 at the bottom: odd pages on the right, even pages on the left, one character in."""
    for footer, align in ((section.footer, WD_ALIGN_PARAGRAPH.RIGHT),
                          (section.even_page_footer, WD_ALIGN_PARAGRAPH.LEFT)):
        p = footer.paragraphs[0]
        p.alignment = align
        fmt = p.paragraph_format
        fmt.right_indent = Pt(14) if align == WD_ALIGN_PARAGRAPH.RIGHT else None
        fmt.left_indent = Pt(14) if align == WD_ALIGN_PARAGRAPH.LEFT else None
        _font(p.add_run("— ").font, "宋体", 14)
        field = OxmlElement("w:fldSimple")  # the page number, as a field Word and WPS update
        field.set(qn("w:instr"), "PAGE")
        number = p.add_run("1")
        _font(number.font, "宋体", 14)
        field.append(number._r)
        p._p.append(field)
        _font(p.add_run(" —").font, "宋体", 14)


def _bottom_border(paragraph, color: str, eighths: int) -> None:
    ppr = paragraph._p.get_or_add_pPr()
    borders = OxmlElement("w:pBdr")
    bottom = OxmlElement("w:bottom")
    for k, v in (("w:val", "single"), ("w:sz", str(eighths)), ("w:space", "4"), ("w:color", color)):
        bottom.set(qn(k), v)
    borders.append(bottom)
    ppr.append(borders)


def _shade(cell, fill: str) -> None:
    tc_pr = cell._tc.get_or_add_tcPr()
    shd = OxmlElement("w:shd")
    for k, v in (("w:val", "clear"), ("w:color", "auto"), ("w:fill", fill)):
        shd.set(qn(k), v)
    tc_pr.append(shd)
