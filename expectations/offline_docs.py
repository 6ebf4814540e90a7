"""Make the Great Expectations Data Docs open offline.

GX's pages load jQuery, Bootstrap, bootstrap-table, Font Awesome and Vega from public
CDNs, and the index a logo from GX's servers that carries the data context id. Without
the internet (a government intranet, an auditor's laptop) the pages then show empty
tables. The same files, pinned in ``expectations/web_assets/package-lock.json``, are
installed by ``make install`` (``npm ci``); after every Data Docs build they are copied to
``<data docs>/static/vendor/`` and every page is rewritten to load them from there.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
from pathlib import Path

log = logging.getLogger(__name__)

ASSETS_ENV = "OPENECON_WEB_ASSETS_DIR"  # a node_modules folder; the Docker image sets it
DEFAULT_ASSETS = Path(__file__).resolve().parent / "web_assets" / "node_modules"

# Every external URL the GX pages load (version in the URL as GX writes it), and the file of
# the pinned npm package that replaces it (same major version; see package.json).
VENDOR = {
    r"https://unpkg\.com/bootstrap-table@[\d.]+/dist/bootstrap-table\.min\.css":
        "bootstrap-table/dist/bootstrap-table.min.css",
    r"https://unpkg\.com/bootstrap-table@[\d.]+/dist/bootstrap-table\.min\.js":
        "bootstrap-table/dist/bootstrap-table.min.js",
    r"https://unpkg\.com/bootstrap-table@[\d.]+/dist/extensions/filter-control/bootstrap-table-filter-control(?:\.min)?\.css":
        "bootstrap-table/dist/extensions/filter-control/bootstrap-table-filter-control.min.css",
    r"https://unpkg\.com/bootstrap-table@[\d.]+/dist/extensions/filter-control/bootstrap-table-filter-control(?:\.min)?\.js":
        "bootstrap-table/dist/extensions/filter-control/bootstrap-table-filter-control.min.js",
    r"https://(?:maxcdn|stackpath)\.bootstrapcdn\.com/bootstrap/4\.[\d.]+/css/bootstrap\.min\.css":
        "bootstrap/dist/css/bootstrap.min.css",
    r"https://(?:maxcdn|stackpath)\.bootstrapcdn\.com/bootstrap/4\.[\d.]+/js/bootstrap\.min\.js":
        "bootstrap/dist/js/bootstrap.min.js",
    r"https://cdnjs\.cloudflare\.com/ajax/libs/popper\.js/1\.[\d.]+/umd/popper\.min\.js":
        "popper.js/dist/umd/popper.min.js",
    r"https://code\.jquery\.com/jquery-3\.[\d.]+\.min\.js": "jquery/dist/jquery.min.js",
    r"https://cdnjs\.cloudflare\.com/ajax/libs/bootstrap-datepicker/1\.[\d.]+/css/bootstrap-datepicker\.min\.css":
        "bootstrap-datepicker/dist/css/bootstrap-datepicker.min.css",
    r"https://cdnjs\.cloudflare\.com/ajax/libs/bootstrap-datepicker/1\.[\d.]+/js/bootstrap-datepicker\.min\.js":
        "bootstrap-datepicker/dist/js/bootstrap-datepicker.min.js",
    r"https://cdn\.jsdelivr\.net/npm/@forevolve/bootstrap-dark@1\.[\d.]+/dist/css/bootstrap-prefers-dark\.css":
        "@forevolve/bootstrap-dark/dist/css/bootstrap-prefers-dark.css",
    r"https://cdnjs\.cloudflare\.com/ajax/libs/font-awesome/6\.[\d.]+/css/all\.min\.css":
        "@fortawesome/fontawesome-free/css/all.min.css",
    r"https://cdn\.jsdelivr\.net/npm/vega@5": "vega/build/vega.min.js",
    r"https://cdn\.jsdelivr\.net/npm/vega-lite@5": "vega-lite/build/vega-lite.min.js",
    r"https://cdn\.jsdelivr\.net/npm/vega-embed@6": "vega-embed/build/vega-embed.min.js",
}
# Files a vendored stylesheet loads relative to itself.
VENDOR_EXTRA = ["@fortawesome/fontawesome-free/webfonts"]
# GX's logo from its servers (with the data context id in the query) -> the copy GX ships in static/.
REMOTE_LOGO = re.compile(r"https://great-expectations-web-assets\.s3[^\"']*?/logo-long\.png[^\"']*")
# GX writes the favicon of validation pages one folder too shallow; point it at the real file.
FAVICON = re.compile(r'(?<=href=")(?:\./|(?:\.\./)+)static/images/favicon\.ico(?=")')
# Subresource integrity and CORS attributes name the CDN file; a local file needs neither.
SRI = re.compile(r'\s+(?:integrity="[^"]*"|crossorigin="[^"]*")')
# What a page loads (scripts, stylesheets, images); plain links to GX's website stay links.
LOADED = re.compile(r'<(?:script|link|img)\b[^>]*?\s(?:src|href)="(https?://[^"]+)"', re.I)
_PATTERNS = [(re.compile(rf"(?<=[\"']){p}(?=[\"'])"), target) for p, target in VENDOR.items()]


def assets_dir() -> Path:
    return Path(os.environ.get(ASSETS_ENV) or DEFAULT_ASSETS)


def external_loads(html: str) -> list[str]:
    """URLs a page would fetch from the network (should be none after localize)."""
    return LOADED.findall(html)


def _vendor(docs_dir: Path, source: Path) -> Path:
    """Copy the vendored files into <docs>/static/vendor (once per build; small)."""
    vendor = docs_dir / "static" / "vendor"
    for rel in [*VENDOR.values(), *VENDOR_EXTRA]:
        src, dst = source / rel, vendor / rel
        if not src.exists():
            raise FileNotFoundError(f"{src} is missing: run `make install` (npm ci in expectations/web_assets)")
        if src.is_dir():
            shutil.copytree(src, dst, dirs_exist_ok=True)
        elif not dst.exists() or dst.stat().st_size != src.stat().st_size:
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, dst)
    return vendor


def localize(docs_dir: Path, since: float | None = None) -> int:
    """Rewrite the Data Docs pages under ``docs_dir`` to load only local files; returns pages rewritten.

    ``since`` (a time.time()): only the pages written since then, those of the run that just
    built them; the earlier runs' pages were rewritten by their runs (hundreds of pages, each
    read and searched again every gate, cost 1 s).
    Idempotent: a page already rewritten has no CDN URL left and is not touched again.
    Without the installed assets it logs a warning and leaves the pages as GX wrote them
    (they still work online).
    """
    try:
        vendor = _vendor(docs_dir, assets_dir())
    except FileNotFoundError as exc:
        log.warning("Data Docs keep their CDN links (they need the internet to display): %s", exc)
        return 0
    logo = docs_dir / "static" / "images" / "logo-long.png"
    changed, left = 0, set()
    for page in docs_dir.rglob("*.html"):
        if since is not None and page.stat().st_mtime < since:
            continue
        html = page.read_text(encoding="utf-8")
        if "https://" not in html:
            continue
        up = Path(os.path.relpath(docs_dir, page.parent)).as_posix()
        new = html
        for pattern, target in _PATTERNS:
            new = pattern.sub(f"{up}/static/vendor/{target}", new)
        if logo.exists():
            new = REMOTE_LOGO.sub(f"{up}/static/images/logo-long.png", new)
        new = SRI.sub("", new) if new != html else new
        new = FAVICON.sub(f"{up}/static/images/favicon.ico", new)
        if new != html:
            page.write_text(new, encoding="utf-8")
            changed += 1
        left.update(external_loads(new))
    if left:
        log.warning("Data Docs still load from the network: %s", ", ".join(sorted(left)))
    log.info("Data Docs: %d page(s) rewritten to load %s", changed, vendor)
    return changed
