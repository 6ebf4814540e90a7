"""`openecon portal`: the app under uvicorn, and the account commands."""

from __future__ import annotations

import psycopg

from core.settings import Settings
from flows.warehouse import prepare
from portal import accounts, schema

DEFAULT_HOST, DEFAULT_PORT = "127.0.0.1", 8800


def serve(settings: Settings, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT) -> int:
    import uvicorn

    from portal.app import create_app

    print(f"  门户 portal:  http://{host}:{port}   (accounts: `openecon portal user add`; stop with Ctrl-C)",
          flush=True)
    # One process: the ingest threads and the jobs they follow live in it.
    uvicorn.run(create_app(settings), host=host, port=port, log_level="info", proxy_headers=False,
                server_header=False)
    return 0


def migrate(settings: Settings) -> None:
    prepare(settings)
    with psycopg.connect(**settings.warehouse.conninfo(), autocommit=True) as conn:
        schema.migrate(conn, settings)


def add_user(settings: Settings, login: str, role: str, city: str | None, password: str | None) -> str:
    """Create an account; returns the password (generated when none is given)."""
    migrate(settings)
    password = password or accounts.generate_password()
    with psycopg.connect(**settings.warehouse.conninfo(), autocommit=True) as conn:
        accounts.add_user(conn, login, role, city, password)
    return password


def demo_accounts(settings: Settings):
    migrate(settings)
    with psycopg.connect(**settings.warehouse.conninfo(), autocommit=True) as conn:
        return accounts.ensure_demo_accounts(conn, settings)
