#!/usr/bin/env bash
# Debian packages the product needs, installed idempotently.
# Without root or apt-get it prints exactly what to install and fails.
set -euo pipefail

need=()
# Postgres server binaries for the embedded cluster (skip when OPENECON_DATABASE_URL
# points at a server, or when initdb is already on this machine).
if [ -z "${OPENECON_DATABASE_URL:-}" ] && [ -z "${OPENECON_PG_BIN:-}" ]; then
  if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && ! command -v initdb >/dev/null 2>&1; then
    need+=(postgresql)
  fi
fi

# Bulletins: CJK fonts (no missing-glyph boxes), HarfBuzz subsetting (WeasyPrint embeds
# font subsets; without it CJK PDFs take ~20x longer), poppler (pdftotext/pdftoppm for
# the bulletin tests and previews).
for pkg in fonts-noto-cjk libharfbuzz-subset0 poppler-utils; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done

# Benchmarks: GNU time (/usr/bin/time -v) reports a command's peak memory (make bench-intake).
dpkg -s time >/dev/null 2>&1 || need+=(time)

# Portal browser tests (tests/portal/test_browser.py): Playwright drives Debian's Chromium
# (/usr/bin/chromium); Playwright's own browser download is never used.
dpkg -s chromium >/dev/null 2>&1 || need+=(chromium)

# Data Docs: npm installs the pinned browser files (expectations/web_assets) they load offline.
command -v npm >/dev/null 2>&1 || need+=(npm)

# Official documents (GB/T 9704): body in 仿宋, title in 宋体 bold. Fandol (FandolFang, FandolSong;
# GPL with the font exception, GB 2312 coverage) ships only inside Debian's texlive-lang-chinese:
# take its OTF files from the package, without installing TeX. Idempotent: skipped once present.
FANDOL_DIR=/usr/local/share/fonts/fandol
install_fandol() {
  [ -f "$FANDOL_DIR/FandolFang-Regular.otf" ] && [ -f "$FANDOL_DIR/FandolSong-Bold.otf" ] && return 0
  if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "Missing fonts FandolFang/FandolSong in $FANDOL_DIR (from Debian's texlive-lang-chinese)" >&2
    return 1
  fi
  local tmp; tmp=$(mktemp -d)
  (cd "$tmp" && apt-get download -qq texlive-lang-chinese 2>/dev/null || { apt-get update -qq && apt-get download -qq texlive-lang-chinese; })
  dpkg-deb --fsys-tarfile "$tmp"/texlive-lang-chinese_*.deb \
    | tar -x -C "$tmp" --wildcards './usr/share/texlive/texmf-dist/fonts/opentype/public/fandol/Fandol*.otf'
  mkdir -p "$FANDOL_DIR"
  cp "$tmp"/usr/share/texlive/texmf-dist/fonts/opentype/public/fandol/Fandol{Fang-Regular,Song-Regular,Song-Bold}.otf "$FANDOL_DIR"/
  rm -rf "$tmp"
  fc-cache -f "$FANDOL_DIR" >/dev/null 2>&1 || true
  echo "Installed the Fandol fonts into $FANDOL_DIR"
}

if [ ${#need[@]} -eq 0 ]; then
  install_fandol
  exit 0
fi

if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "Missing system packages: ${need[*]}" >&2
  echo "Install them as root, e.g.:  sudo apt-get install -y ${need[*]}" >&2
  exit 1
fi

# Debian's postgresql package would create and start a 'main' cluster; we run our own.
mkdir -p /etc/postgresql-common
conf=/etc/postgresql-common/createcluster.conf
if ! grep -q '^create_main_cluster *= *false' "$conf" 2>/dev/null; then
  echo "create_main_cluster = false" >> "$conf"
fi
echo "Installing system packages: ${need[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${need[@]}"
install_fandol
