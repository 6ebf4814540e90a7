"""Checks that look at a document's pages as drawn, not at its text alone (pdfplumber reads the
cell boxes and the characters with their fonts and sizes)."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pdfplumber

from core.settings import PROJECT_ROOT

# page 1 of every document, as PNG, for a reviewer (README "Reviewing a document")
ARTIFACTS = Path(os.environ.get("OPENECON_TEST_ARTIFACTS") or PROJECT_ROOT / "output" / "artifacts")
HEADER_FILL = (0.94902, 0.94902, 0.94902)   # th { background: #f2f2f2 }
BODY_FONT, BODY_SIZE = "FandolFang", 15.5    # the body text: 三号 仿宋
TOL = 1.5                                    # points


def _close(a: float, b: float) -> bool:
    return abs(a - b) <= TOL


def table_problems(pdf_path) -> list[str]:
    """Every table of every page: the header rows are the cells filled grey; each column must have
    a leaf header cell (the lowest header cell over it, reaching the header's bottom) with text,
    exactly as wide as the column, and every data row a cell in every column (or one cell across
    all of them: 无, ……). Returns what is wrong, page by page; [] when every table holds."""
    problems = []
    with pdfplumber.open(pdf_path) as pdf:
        for pno, page in enumerate(pdf.pages, start=1):
            grey = [r for r in page.rects if tuple(r.get("non_stroking_color") or ()) == HEADER_FILL]
            for ti, table in enumerate(page.find_tables(), start=1):
                where = f"page {pno} table {ti}"
                texts = table.extract()
                rows = table.rows

                n_head = 0
                while n_head < len(rows) and all(_is_header(c, grey) for c in rows[n_head].cells if c is not None):
                    n_head += 1
                if n_head == 0:
                    problems.append(f"{where}: no header row (first row {texts[0] if texts else None})")
                    continue
                bottom = max(c[3] for r in rows[:n_head] for c in r.cells if c is not None)
                head_cells = [(c, texts[i][j]) for i in range(n_head) for j, c in enumerate(rows[i].cells)
                              if c is not None]
                data = rows[n_head:]
                columns = _column_edges(data) or _column_edges(rows[:n_head])
                for j, (x0, x1) in enumerate(columns):
                    over = [(c, t) for c, t in head_cells if c[0] <= x0 + TOL and c[2] >= x1 - TOL]
                    leaf = [(c, t) for c, t in over if _close(c[3], bottom)]
                    if not leaf:
                        problems.append(f"{where}: column {j + 1} has no header cell down to the header's bottom")
                    elif not (leaf[0][1] or "").strip():
                        problems.append(f"{where}: column {j + 1} has an empty header")
                    elif not (_close(leaf[0][0][0], x0) and _close(leaf[0][0][2], x1)):
                        problems.append(f"{where}: the header of column {j + 1} is not over it "
                                        f"({leaf[0][1]!r} at {leaf[0][0][0]:.0f}–{leaf[0][0][2]:.0f}, "
                                        f"column at {x0:.0f}–{x1:.0f})")
                for r in data:
                    cells = [c for c in r.cells if c is not None]
                    if len(cells) == 1 and _close(cells[0][0], columns[0][0]) and _close(cells[0][2], columns[-1][1]):
                        continue  # one cell across the table
                    if len(cells) != len(columns) or not all(
                            _close(c[0], x0) and _close(c[2], x1) for c, (x0, x1) in zip(cells, columns)):
                        problems.append(f"{where}: a data row's cells are not under the columns")
                        break
    return problems


def _is_header(cell, grey) -> bool:
    """A header cell: its centre lies on a grey background (the fill starts inside the borders,
    so its edges are not the cell's)."""
    x, y = (cell[0] + cell[2]) / 2, (cell[1] + cell[3]) / 2
    return any(g["x0"] <= x <= g["x1"] and g["top"] <= y <= g["bottom"] for g in grey)


def _column_edges(rows) -> list[tuple[float, float]]:
    """(x0, x1) of each column, from the first row that has a cell in every column."""
    for r in rows:
        if r.cells and all(c is not None for c in r.cells) and len(r.cells) > 1:
            return [(c[0], c[2]) for c in r.cells]
    return []


def page_problems(pdf_path) -> list[str]:
    """Pages that hold nothing but a footnote, a heading or a note: a page must carry body text (三号
    仿宋), a table, or a chart (drawn as paths)."""
    problems = []
    with pdfplumber.open(pdf_path) as pdf:
        for pno, page in enumerate(pdf.pages, start=1):
            body = any(BODY_FONT in ch["fontname"] and ch["size"] >= BODY_SIZE and ch["text"].strip()
                       for ch in page.chars)
            chart = len(page.curves) + len(page.rects) > 40
            if not (body or page.find_tables() or chart):
                text = re.sub(r"\s+", " ", page.extract_text() or "")[:80]
                problems.append(f"page {pno} holds only {text!r}")
    return problems


def table_cells(pdf_path) -> list[str]:
    """The text of every table cell of the PDF, whitespace removed (a cell wrapped on two lines reads
    as one), read from the cell boxes as drawn."""
    with pdfplumber.open(pdf_path) as pdf:
        return [re.sub(r"\s+", "", c) for page in pdf.pages for t in page.extract_tables()
                for row in t for c in row if c]


def pages(pdf_path) -> int:
    with pdfplumber.open(pdf_path) as pdf:
        return len(pdf.pages)


def keep_page_one(pdf_path, name: str) -> Path:
    """Page 1 as PNG in ARTIFACTS (CI keeps the folder): what an official sees first."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    stem = ARTIFACTS / name
    subprocess.run(["pdftoppm", "-png", "-r", "80", "-f", "1", "-l", "1", "-singlefile", str(pdf_path), str(stem)],
                   check=True)
    return stem.with_suffix(".png")
