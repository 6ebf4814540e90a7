#!/usr/bin/env bash
# First start of the compose Postgres: the application role and its two databases.
set -euo pipefail
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres <<SQL
CREATE ROLE openecon LOGIN NOSUPERUSER CREATEROLE PASSWORD '${OPENECON_DB_PASSWORD}';
CREATE DATABASE warehouse OWNER openecon;
CREATE DATABASE airflow OWNER openecon;
SQL
