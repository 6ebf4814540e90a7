"""The portal's audit trail: one ``portal.events`` row per login, upload, explanation, return,
download, refused request and asset publication (who, when, what)."""

from __future__ import annotations

import json

from portal.schema import ACTIONS


def record(conn, action: str, *, user=None, login: str | None = None, role: str | None = None,
           city_code: str | None = None, file_id: int | None = None, ip: str | None = None,
           **detail) -> None:
    """Append one event (``user`` fills login, role and city); ``detail`` is kept as JSON."""
    if action not in ACTIONS:
        raise ValueError(f"unknown portal event {action!r}")
    if user is not None:
        login, role, city_code = user.login, user.role, city_code or user.city_code
    conn.execute(
        "INSERT INTO portal.events (login, role, city_code, action, file_id, ip, detail) "
        "VALUES (%s, %s, %s, %s, %s, %s, %s)",
        [login, role, city_code, action, file_id, ip, json.dumps(detail, ensure_ascii=False, default=str)])
