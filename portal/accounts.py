"""Accounts, logins with lock-out, server-side sessions, CSRF tokens and the signing key.

Passwords are hashed with argon2id (argon2-cffi's defaults). A login is refused, and recorded,
when the account had ``portal_max_failures`` failed attempts in a row within the last
``portal_lockout_minutes`` (the lock lifts that long after the last failure; attempts while
locked are recorded as events but do not prolong it), or when the
address had ``portal_ip_max_failures`` failures in that window (guessing across accounts).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

import psycopg
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from itsdangerous import BadSignature, Signer

from core import reference
from core.settings import Settings
from portal import events
from portal.schema import ROLES

_HASHER = PasswordHasher()
# Verified against when the login does not exist, so an unknown login costs the same time.
_DUMMY_HASH = _HASHER.hash(secrets.token_urlsafe(16))


@dataclass(frozen=True)
class User:
    login: str
    role: str
    city_code: str | None

    @property
    def is_clerk(self) -> bool:
        return self.role == "city_clerk"

    def may_read_city(self, city_code: str) -> bool:
        """A clerk reads only their own city; the province and auditors read every city."""
        return city_code == self.city_code if self.is_clerk else True


@dataclass(frozen=True)
class Session:
    user: User
    id_sha256: str
    csrf_token: str


class LoginRefused(Exception):
    """A login that did not succeed; ``str()`` is the Chinese message shown on the page."""

    def __init__(self, message: str, action: str):
        super().__init__(message)
        self.action = action  # login_failed | login_locked


def generate_password() -> str:
    return secrets.token_urlsafe(12)


def add_user(conn: psycopg.Connection, login: str, role: str, city_code: str | None, password: str) -> User:
    """Create an account; raises ValueError (Chinese / English) on a bad role, city or an existing login."""
    if role not in ROLES:
        raise ValueError(f"角色应为 {' / '.join(ROLES)} / role must be one of {', '.join(ROLES)}")
    if role == "city_clerk":
        if city_code not in reference.cities():
            raise ValueError(f"市州代码 {city_code!r} 不是本省市州 / a clerk needs one of the province's city codes")
    elif city_code:
        raise ValueError("只有市州填报员绑定市州 / only a city_clerk has a city")
    if len(password) < 10:
        raise ValueError("密码至少10位 / the password needs at least 10 characters")
    with conn.transaction():
        if conn.execute("SELECT 1 FROM portal.users WHERE login = %s", [login]).fetchone():
            raise ValueError(f"账户 {login} 已存在 / login {login} exists already")
        conn.execute("INSERT INTO portal.users (login, role, city_code, password_hash) VALUES (%s, %s, %s, %s)",
                     [login, role, city_code or None, _HASHER.hash(password)])
        events.record(conn, "user_added", login=login, role=role, city_code=city_code or None)
    return User(login, role, city_code or None)


def _failures(conn, column: str, value: str, settings: Settings) -> tuple[int, bool]:
    """Failed attempts in a row (for an account) or in the window (for an address), and whether
    they lock: the most recent failures within the lock-out window, counted back to the last success."""
    rows = conn.execute(
        f"""SELECT ok FROM portal.login_attempts
            WHERE {column} = %s AND at > now() - make_interval(secs => %s)
            ORDER BY at DESC, id DESC LIMIT %s""",
        [value, settings.portal_lockout_minutes * 60,
         max(settings.portal_max_failures, settings.portal_ip_max_failures)],
    ).fetchall()
    n = 0
    for (ok,) in rows:
        if ok and column == "login":
            break
        n += 0 if ok else 1
    limit = settings.portal_max_failures if column == "login" else settings.portal_ip_max_failures
    return n, n >= limit


def authenticate(conn: psycopg.Connection, login: str, password: str, ip: str | None, settings: Settings) -> User:
    """The user for a correct login and password; every attempt is recorded (login_attempts and
    events). Raises LoginRefused with the message for the page."""
    login = (login or "").strip()[:64]
    minutes = f"{settings.portal_lockout_minutes:g}"
    locked = (_failures(conn, "login", login, settings)[1]
              or (ip is not None and _failures(conn, "ip", ip, settings)[1]))
    row = conn.execute("SELECT role, city_code, password_hash, disabled FROM portal.users WHERE login = %s",
                       [login]).fetchone()
    if locked:  # refused before the password is even checked: guessing on gains nothing
        # not counted as an attempt, so the lock lifts on time rather than being prolonged by anyone
        events.record(conn, "login_locked", login=login, ip=ip)
        raise LoginRefused(f"登录失败次数过多，账户已暂时锁定，请{minutes}分钟后再试或联系省商务厅", "login_locked")
    ok = False
    try:
        ok = _HASHER.verify(row[2] if row else _DUMMY_HASH, password or "") and row is not None and not row[3]
    except (VerificationError, InvalidHashError):
        ok = False
    _attempt(conn, login, ip, ok)
    if not ok:
        events.record(conn, "login_failed", login=login, ip=ip)
        n, now_locked = _failures(conn, "login", login, settings)
        if now_locked:
            raise LoginRefused(f"登录失败次数过多，账户已暂时锁定，请{minutes}分钟后再试或联系省商务厅", "login_locked")
        left = settings.portal_max_failures - n
        raise LoginRefused(f"账户或密码错误（再失败{left}次将锁定{minutes}分钟）", "login_failed")
    user = User(login, row[0], row[1])
    if _HASHER.check_needs_rehash(row[2]):
        conn.execute("UPDATE portal.users SET password_hash = %s WHERE login = %s", [_HASHER.hash(password), login])
    events.record(conn, "login_ok", user=user, ip=ip)
    return user


def _attempt(conn, login: str, ip: str | None, ok: bool) -> None:
    conn.execute("INSERT INTO portal.login_attempts (login, ip, ok) VALUES (%s, %s, %s)", [login, ip, ok])


# --- sessions ---------------------------------------------------------------------------------

def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def create_session(conn, user: User, ip: str | None, user_agent: str | None) -> tuple[str, Session]:
    """A new session; returns the id for the cookie (only its hash is stored) and the session."""
    sid, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    conn.execute("INSERT INTO portal.sessions (id_sha256, login, csrf_token, ip, user_agent) VALUES (%s,%s,%s,%s,%s)",
                 [_sha(sid), user.login, csrf, ip, (user_agent or "")[:300]])
    return sid, Session(user, _sha(sid), csrf)


def load_session(conn, sid: str, settings: Settings) -> Session | None:
    """The live session of a cookie's id (touched), or None when unknown, idle too long or the
    account was disabled since."""
    row = conn.execute(
        """UPDATE portal.sessions AS s SET last_seen_at = now()
           FROM portal.users AS u
           WHERE s.id_sha256 = %s AND u.login = s.login AND NOT u.disabled
             AND s.last_seen_at > now() - make_interval(secs => %s)
           RETURNING u.login, u.role, u.city_code, s.csrf_token""",
        [_sha(sid), settings.portal_session_hours * 3600]).fetchone()
    if row is None:
        return None
    return Session(User(row[0], row[1], row[2]), _sha(sid), row[3])


def end_session(conn, session: Session) -> None:
    conn.execute("DELETE FROM portal.sessions WHERE id_sha256 = %s", [session.id_sha256])


def csrf_ok(session: Session, token: str | None) -> bool:
    return bool(token) and hmac.compare_digest(session.csrf_token, token)


# --- the signing key --------------------------------------------------------------------------

def secret_key(settings: Settings) -> str:
    """OPENECON_PORTAL_SECRET_KEY, else a key generated once into the state dir (mode 0600)."""
    if settings.portal_secret_key:
        return settings.portal_secret_key
    path = settings.portal_dir / "secret_key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process made it first
            return path.read_text().strip()
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_urlsafe(48) + "\n")
    return path.read_text().strip()


def signer(settings: Settings, purpose: str) -> Signer:
    return Signer(secret_key(settings), salt=f"openecon.portal.{purpose}")


def unsign(s: Signer, value: str | None) -> str | None:
    if not value:
        return None
    try:
        return s.unsign(value).decode()
    except BadSignature:
        return None


# --- demo accounts ----------------------------------------------------------------------------

def demo_accounts() -> list[tuple[str, str, str | None]]:
    """(login, role, city) of the demo: a clerk per city, the province, an auditor."""
    return ([(f"clerk_{c}", "city_clerk", c) for c in reference.cities()]
            + [("province", "province", None), ("auditor", "auditor", None)])


def ensure_demo_accounts(conn, settings: Settings) -> tuple[Path, list[str]]:
    """Create the demo accounts that do not exist yet, with generated passwords kept in a 0600
    file under the state dir (existing accounts and their passwords are kept). Returns the file
    and the logins created now."""
    path = settings.portal_dir / "demo_passwords.json"
    passwords = json.loads(path.read_text()) if path.exists() and path.read_text().strip() else {}
    created = []
    for login, role, city in demo_accounts():
        if conn.execute("SELECT 1 FROM portal.users WHERE login = %s", [login]).fetchone():
            continue
        passwords[login] = generate_password()
        add_user(conn, login, role, city, passwords[login])
        created.append(login)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(passwords, fh, ensure_ascii=False, indent=1)
    os.chmod(path, 0o600)
    return path, created
