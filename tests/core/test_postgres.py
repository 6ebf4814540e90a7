import os
import subprocess
import sys

import psycopg
import pytest

from core.postgres import EmbeddedPostgres, PostgresError, find_bindir
from core.settings import Settings


def openecon_cli(*args, env=None):
    return subprocess.run([sys.executable, "-m", "openecon.cli", *args], capture_output=True, text=True,
                          env=env or os.environ.copy())


def test_start_stop_start_via_cli(pg, settings):
    assert openecon_cli("db", "status").returncode == 0
    stop = openecon_cli("db", "stop")
    assert stop.returncode == 0 and "stopped" in stop.stdout
    assert openecon_cli("db", "status").returncode == 3
    start = openecon_cli("db", "start")
    assert start.returncode == 0 and f"running on 127.0.0.1:{settings.pg_port}" in start.stdout
    # idempotent: starting a running server is fine
    assert openecon_cli("db", "start").returncode == 0
    assert openecon_cli("db", "url").stdout.strip() == settings.warehouse.url()


def test_cluster_is_private_loopback_and_app_role_is_not_superuser(pg, settings):
    with psycopg.connect(**pg._super_conninfo()) as conn:
        listen = conn.execute("SHOW listen_addresses").fetchone()[0]
        sockets = conn.execute("SHOW unix_socket_directories").fetchone()[0]
    with psycopg.connect(**settings.warehouse.conninfo()) as conn:
        role = conn.execute("SELECT rolsuper, rolcreaterole FROM pg_roles WHERE rolname = current_user").fetchone()
        dbs = {r[0] for r in conn.execute("SELECT datname FROM pg_database")}
    assert listen == "127.0.0.1" and sockets == ""
    assert role == (False, True)
    assert {"warehouse", "airflow"} <= dbs


def test_server_runs_as_unprivileged_user_when_root(pg):
    if os.geteuid() != 0:
        assert pg.user is None
        return
    stat = os.stat(pg.data_dir)
    assert stat.st_uid == pg.user.pw_uid != 0
    pid = int((pg.data_dir / "postmaster.pid").read_text().split()[0])
    assert os.stat(f"/proc/{pid}").st_uid == pg.user.pw_uid


def test_wrong_password_is_refused(pg, settings):
    info = settings.warehouse.conninfo() | {"password": "not-the-secret"}
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(**info)


def test_second_cluster_in_other_state_dir(tmp_path, pg):
    from core.settings import Settings
    from tests.conftest import _free_port

    os.chmod(tmp_path, 0o755)
    other = EmbeddedPostgres(Settings({"OPENECON_STATE_DIR": str(tmp_path / "s"),
                                        "OPENECON_PG_PORT": str(_free_port())}))
    other.start()
    try:
        assert other.running()
        with psycopg.connect(**other.settings.warehouse.conninfo()) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
        other.stop()
        assert not other.running()
    finally:
        other.remove()
    assert not other.settings.pg_dir.exists()


def test_missing_binaries_are_reported_with_what_to_install(tmp_path):
    s = Settings({"OPENECON_STATE_DIR": str(tmp_path), "OPENECON_PG_BIN": str(tmp_path)})
    with pytest.raises(PostgresError) as exc:
        find_bindir(s)
    assert "initdb" in str(exc.value) and "apt-get install -y postgresql" in str(exc.value)


def test_every_warehouse_session_runs_without_jit(pg, settings):
    """Our connections, GX's (SQLAlchemy) and dbt's turn JIT off, which the server itself leaves on."""
    import sqlalchemy

    from flows import transform

    with psycopg.connect(**pg._super_conninfo()) as conn:  # the server's default: the test can fail
        assert conn.execute("SELECT boot_val FROM pg_settings WHERE name = 'jit'").fetchone() == ("on",)
        assert conn.execute("SELECT count(*) FROM pg_file_settings WHERE name = 'jit'").fetchone() == (0,)
    with psycopg.connect(**settings.warehouse.conninfo()) as conn:
        assert conn.execute("SHOW jit").fetchone() == ("off",)
    engine = sqlalchemy.create_engine(settings.warehouse.session_url("postgresql+psycopg2"))
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SHOW jit").scalar() == "off"
    engine.dispose()
    shown = transform.dbt(["show", "--inline", "select current_setting('jit') as jit_setting", "--output", "json"],
                          settings).stdout
    assert '"jit_setting": "off"' in shown, shown[-2000:]
