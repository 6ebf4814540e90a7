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

# Data Docs: npm installs the pinned browser files (expectations/web_assets) they load offline.
command -v npm >/dev/null 2>&1 || need+=(npm)

[ ${#need[@]} -eq 0 ] && exit 0

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
