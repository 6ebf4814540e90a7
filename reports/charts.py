"""Charts as SVG strings (matplotlib, CJK fonts named explicitly; glyphs drawn as paths)."""

from __future__ import annotations

import io

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


def to_svg(fig) -> str:
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None})
    plt.close(fig)
    text = buf.getvalue()
    return text[text.index("<svg"):]


def ranking_bars(rows: list[dict], title: str, unit: str) -> str:
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
    return to_svg(fig)


def trend_lines(points: list[dict], title: str, unit: str, label: str) -> str:
    """points: period, value (None for gaps such as a combined 1–2月)."""
    fig, ax = plt.subplots(figsize=(6.3, 3.0))
    xs = [p["period"][2:].replace("-", ".") for p in points]
    ys = [p["value"] if p["value"] is not None else float("nan") for p in points]
    ax.plot(xs, ys, marker="o", color=RED, linewidth=1.6, markersize=3.5, label=label)
    for x, y in zip(xs, ys):
        if y == y:
            ax.annotate(f"{y:,.1f}", (x, y), textcoords="offset points", xytext=(0, 5), ha="center", fontsize=7)
    ax.set_title(title, fontsize=11)
    ax.set_ylabel(unit)
    ax.tick_params(axis="x", labelrotation=45, labelsize=7)
    ax.spines[["top", "right"]].set_visible(False)
    ax.legend(frameon=False, fontsize=8)
    ax.margins(y=0.18)
    return to_svg(fig)
