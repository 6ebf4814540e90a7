
from core.settings import PROJECT_ROOT, Settings, parse_url


def test_external_url_drives_every_consumer():
    s = Settings({"OPENECON_DATABASE_URL": "postgresql://etl:p%40ss:w@db.example:6543/wh",
                  "OPENECON_STATE_DIR": "/tmp/x"})
    assert not s.embedded
    w = s.warehouse
    assert (w.host, w.port, w.user, w.password, w.dbname) == ("db.example", 6543, "etl", "p@ss:w", "wh")
    dbt = s.dbt_env()
    assert dbt["OPENECON_DB_HOST"] == "db.example" and dbt["OPENECON_DB_PASSWORD"] == "p@ss:w"
    af = s.airflow_env()
    # Airflow metadata on the same server, database "airflow"; password re-quoted.
    assert af["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] == "postgresql+psycopg2://etl:p%40ss%3Aw@db.example:6543/airflow"
    assert af["AIRFLOW_CONN_OPENECON_WAREHOUSE"] == "postgresql://etl:p%40ss%3Aw@db.example:6543/wh"
    assert af["AIRFLOW__CORE__LOAD_EXAMPLES"] == "False"
    assert af["AIRFLOW_HOME"] == "/tmp/x/airflow"
    assert af["AIRFLOW__CORE__DAGS_FOLDER"] == str(PROJECT_ROOT / "dags")


def test_embedded_defaults_use_generated_secret(tmp_path):
    s = Settings({"OPENECON_STATE_DIR": str(tmp_path)})
    assert s.embedded and s.warehouse.port == 54329 and s.warehouse.host == "127.0.0.1"
    secret = tmp_path / "pg.secret"
    assert secret.stat().st_mode & 0o777 == 0o600
    assert Settings({"OPENECON_STATE_DIR": str(tmp_path)}).warehouse.password == s.warehouse.password
    assert len(s.warehouse.password) >= 24


def test_non_postgres_url_is_refused():
    import pytest

    with pytest.raises(ValueError, match="postgresql://"):
        parse_url("mysql://u@h/db")


def test_no_credentials_in_repository_config():
    profiles = (PROJECT_ROOT / "dbt_project" / "profiles.yml").read_text()
    assert "env_var('OPENECON_DB_PASSWORD')" in profiles
    for line in profiles.splitlines():
        if "password" in line:
            assert "env_var" in line, line
    ignored = (PROJECT_ROOT / ".gitignore").read_text().split()
    assert ".openecon/" in ignored  # where the generated secret lives
