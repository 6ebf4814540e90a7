"""After an accepted upload: publish the ``openecon_raw_submissions`` asset through Airflow's REST
API, so ``warehouse_build`` follows at once.

Airflow 3: a JWT from ``POST /auth/token`` (simple auth manager), the asset's id from
``GET /api/v2/assets?uri_pattern=…``, then ``POST /api/v2/assets/events``. Configured by
``OPENECON_AIRFLOW_API_URL`` with ``OPENECON_AIRFLOW_API_USER`` / ``OPENECON_AIRFLOW_API_PASSWORD``
(the password defaults to the simple auth manager's generated passwords file in the Airflow home).
Without the URL nothing is sent: the DAG ``submissions_watch`` publishes the asset on its schedule.
Plain urllib: the portal imports nothing of Airflow.
"""

from __future__ import annotations

import json
import urllib.parse
import urllib.request

from core.constants import RAW_SUBMISSIONS_URI
from core.settings import Settings

TIMEOUT_SECONDS = 15


def _password(settings: Settings) -> str | None:
    if settings.airflow_api_password:
        return settings.airflow_api_password
    path = settings.airflow_home / "simple_auth_manager_passwords.json.generated"
    try:
        return json.loads(path.read_text()).get(settings.airflow_api_user)
    except (OSError, ValueError):
        return None


def _call(method: str, url: str, body: dict | None = None, token: str | None = None) -> dict:
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    req = urllib.request.Request(url, method=method, headers=headers,
                                 data=json.dumps(body).encode() if body is not None else None)
    with urllib.request.urlopen(req, timeout=TIMEOUT_SECONDS) as resp:
        return json.loads(resp.read() or b"{}")


def publish_raw_submissions(settings: Settings, extra: dict) -> dict:
    """Publish one asset event; returns {"asset_id", "event_id"}. Raises on any failure (the caller
    records it): unset URL (RuntimeError), no password, HTTP or network errors."""
    base = settings.airflow_api_url
    if not base:
        raise RuntimeError("OPENECON_AIRFLOW_API_URL is not set")
    password = _password(settings)
    if not password:
        raise RuntimeError(f"no password for Airflow API user {settings.airflow_api_user!r} "
                           "(OPENECON_AIRFLOW_API_PASSWORD or the simple auth manager's passwords file)")
    token = _call("POST", f"{base}/auth/token", {"username": settings.airflow_api_user, "password": password})
    token = token["access_token"]
    query = urllib.parse.urlencode({"uri_pattern": RAW_SUBMISSIONS_URI})
    assets = [a for a in _call("GET", f"{base}/api/v2/assets?{query}", token=token)["assets"]
              if a["uri"] == RAW_SUBMISSIONS_URI]
    if not assets:
        raise RuntimeError(f"Airflow knows no asset {RAW_SUBMISSIONS_URI} (are the DAGs parsed?)")
    event = _call("POST", f"{base}/api/v2/assets/events", {"asset_id": assets[0]["id"], "extra": extra}, token=token)
    return {"asset_id": assets[0]["id"], "event_id": event.get("id")}
