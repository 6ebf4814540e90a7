"""Charts as SVG and PNG (matplotlib, CJK fonts named explicitly; SVG glyphs drawn as paths)."""

from __future__ import annotations

import io
from typing import NamedTuple

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

SANS = ["Noto Sans CJK SC", "Noto Sans SC", "Source Han Sans SC", "WenQuanYi Zen Hei", "DejaVu Sans"]
plt.rcParams.update({
    "font.family": "sans-serif",
    "font.sans-serif": SANS,
    "axes.unicode_minus": False,
    "svg.fonttype": "path",        # no font needed by the viewer; glyphs are outlines
    "svg.hashsalt": "openecon",    # stable ids: same data, same bytes
    "font.size": 9,
})
RED = "#c00000"
GREY = "#8c8c8c"


class Chart(NamedTuple):
    """A chart as SVG (the HTML and the PDF: sharp at any size) and as PNG (the DOCX: Word and WPS
    do not all read SVG)."""
    svg: str
    png: bytes


def to_chart(fig) -> Chart:
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None})
    png = io.BytesIO()
    fig.savefig(png, format="png", dpi=150, bbox_inches="tight", metadata={"Software": None})
    plt.close(fig)
    text = buf.getvalue()
    return Chart(text[text.index("<svg"):], png.getvalue())


def ranking_bars(rows: list[dict], title: str, unit: str) -> Chart:
    """Horizontal bars, largest on top; rows carry city_name and value."""
    rows = sorted((r for r in rows if r["value"] is not None), key=lambda r: r["value"])
    fig, ax = plt.subplots(figsize=(6.3, 4.2))
    names = [r["city_name"] for r in rows]
    vals = [r["value"] for r in rows]
    bars = ax.barh(names, vals, color=RED, height=0.62)
    for b, v in zip(bars, vals):
        ax.text(b.get_width(), b.get_y() + b.get_height() / 2, f" {v:,.1f}", va="center", fontsize=8)
    ax.set_title(title, fontsize=11)
    ax.set_xlabel(unit)
    ax.spines[["top", "right"]].set_visible(False)
    ax.margins(x=0.12)
    return to_chart(fig)


def trend_lines(points: list[dict], title: str, unit: str, label: str) -> Chart:
    """points: label (the x tick: 24.08, or 25.1–2月 for a combined January–February), value (None
    for a gap) and complete (False: drawn hollow and marked *, the caption names who is missing)."""
    fig, ax = plt.subplots(figsize=(6.3, 3.0))
    xs = list(range(len(points)))
    ys = [p["value"] if p["value"] is not None else float("nan") for p in points]
    ax.plot(xs, ys, color=RED, linewidth=1.6, label=label)
    full = [(x, y) for x, y, p in zip(xs, ys, points) if y == y and p.get("complete", True)]
    part = [(x, y) for x, y, p in zip(xs, ys, points) if y == y and not p.get("complete", True)]
    if full:
        ax.plot(*zip(*full), linestyle="none", marker="o", color=RED, markersize=3.5)
    if part:
        ax.plot(*zip(*part), linestyle="none", marker="o", markersize=4.5, markerfacecolor="white",
                markeredgecolor=RED, label=f"{label}，不完整*")
    for x, y, p in zip(xs, ys, points):
        if y == y:
            mark = "" if p.get("complete", True) else "*"
            ax.annotate(f"{y:,.1f}{mark}", (x, y), textcoords="offset points", xytext=(0, 5), ha="center", fontsize=7)
    ax.set_xticks(xs, [p["label"] for p in points])
    ax.set_title(title, fontsize=11)
    ax.set_ylabel(unit)
    ax.tick_params(axis="x", labelrotation=45, labelsize=7)
    ax.spines[["top", "right"]].set_visible(False)
    ax.legend(frameon=False, fontsize=8)
    ax.margins(y=0.18)
    return to_chart(fig)
