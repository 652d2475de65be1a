"""Staff accounts: passwords, log-in with lock-out, roles, administration.

Passwords are stored as ``scrypt$<log2 n>$<r>$<p>$<salt>$<hash>`` (hashlib.scrypt, a
memory-hard KDF; the parameters travel with each hash so they can be raised later). Log-in
failures are counted in the database (so every process of a ward office agrees): after
:data:`MAX_FAILURES` in a row the account is locked for :data:`LOCKOUT`. Every log-in,
failure, lock and account change writes an audit row (usernames only, never passwords).

Like the rest of ``kiosk/``: functions take a Session, may flush, never commit.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from kiosk import audit
from kiosk.clock import aware
from kiosk.errors import DomainError, NotFound
from kiosk.models import Staff, StaffRole

log = logging.getLogger(__name__)

MAX_FAILURES = 5
LOCKOUT = timedelta(minutes=15)
MIN_PASSWORD_LENGTH = 10
MAX_PASSWORD_LENGTH = 1024
SCRYPT_LOG2_N = 15  # n = 32768, r = 8: 32 MiB and ~50-100 ms per hash
SCRYPT_R = 8
SCRYPT_P = 1
_USERNAME = re.compile(r"^[A-Za-z0-9_.@-]{1,48}$")


class StaffError(DomainError):
    """Root of staff account errors."""


class InvalidUsername(StaffError):
    """Usernames are 1-48 letters, digits, ``_ . @ -``."""


class WeakPassword(StaffError):
    """Passwords need at least :data:`MIN_PASSWORD_LENGTH` characters."""


class StaffExists(StaffError):
    """Another account has this username."""


class PermissionDenied(StaffError):
    """The account's role does not allow this operation."""


class LastAdmin(StaffError):
    """The last active admin cannot be disabled or demoted."""


# --- passwords ------------------------------------------------------------------------------


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _scrypt(password: str, salt: bytes, log2_n: int, r: int, p: int) -> bytes:
    n = 1 << log2_n
    return hashlib.scrypt(
        password.encode("utf-8"), salt=salt, n=n, r=r, p=p, maxmem=256 * n * r + (1 << 20), dklen=32
    )


def hash_password(password: str) -> str:
    """A new salted scrypt hash of ``password`` (the stored form)."""
    salt = secrets.token_bytes(16)
    digest = _scrypt(password, salt, SCRYPT_LOG2_N, SCRYPT_R, SCRYPT_P)
    return f"scrypt${SCRYPT_LOG2_N}${SCRYPT_R}${SCRYPT_P}${_b64(salt)}${_b64(digest)}"


def verify_password(password: str, encoded: str) -> bool:
    """True if ``password`` matches the stored hash (constant-time compare); False for a
    malformed hash."""
    try:
        scheme, log2_n, r, p, salt, digest = encoded.split("$")
        if scheme != "scrypt" or not 10 <= int(log2_n) <= 20:
            return False
        actual = _scrypt(password, _unb64(salt), int(log2_n), int(r), int(p))
        return hmac.compare_digest(actual, _unb64(digest))
    except (ValueError, TypeError):
        return False


_DUMMY_HASH: str | None = None


def _dummy_hash() -> str:
    # Unknown usernames cost as much as known ones: no account enumeration by timing.
    global _DUMMY_HASH
    if _DUMMY_HASH is None:
        _DUMMY_HASH = hash_password(secrets.token_urlsafe(16))
    return _DUMMY_HASH


def check_password_rules(password: str) -> None:
    """Raise WeakPassword unless the password is long enough (and not absurdly long)."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise WeakPassword(f"at least {MIN_PASSWORD_LENGTH} characters")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise WeakPassword(f"at most {MAX_PASSWORD_LENGTH} characters")


# --- accounts -------------------------------------------------------------------------------


def actor_of(staff: Staff) -> str:
    """The audit actor of a staff account: ``staff:<username>``."""
    return f"staff:{staff.username}"


def get_staff(session: Session, staff_id: int) -> Staff:
    """The account ``staff_id``; NotFound if absent."""
    staff = session.get(Staff, staff_id)
    if staff is None:
        raise NotFound(f"staff {staff_id}")
    return staff


def find_staff(session: Session, username: str) -> Staff | None:
    """The account with ``username`` or None."""
    return session.scalars(select(Staff).where(Staff.username == username)).one_or_none()


def list_staff(session: Session) -> list[Staff]:
    """Every account, by username."""
    return list(session.scalars(select(Staff).order_by(Staff.username)))


def create_staff(
    session: Session,
    username: str,
    password: str,
    role: StaffRole,
    *,
    actor: str,
    display_name: str = "",
    now: datetime | None = None,
) -> Staff:
    """A new active account. Raises InvalidUsername, WeakPassword, StaffExists."""
    now = aware(now)
    if not _USERNAME.match(username):
        raise InvalidUsername(username[:48])
    check_password_rules(password)
    if find_staff(session, username) is not None:
        raise StaffExists(username)
    staff = Staff(
        username=username,
        display_name=display_name.strip()[:100],
        role=role,
        password_hash=hash_password(password),
        active=True,
        failed_logins=0,
        created_at=now,
    )
    session.add(staff)
    session.flush()
    audit.record(
        session, actor, "staff.created", detail={"staff": username, "role": role.value}, now=now
    )
    return staff


def require_role(staff: Staff, role: StaffRole) -> None:
    """Raise PermissionDenied unless ``staff`` is active and has ``role`` or a higher one."""
    if not staff.active or staff.role.rank < role.rank:
        raise PermissionDenied(f"{role.value} role needed")


@dataclass(frozen=True)
class LoginResult:
    """``staff`` on success; otherwise None, with ``locked_until`` when the account is (now)
    locked. The caller commits in both cases: failures must be counted."""

    staff: Staff | None
    locked_until: datetime | None = None


def authenticate(
    session: Session, username: str, password: str, *, now: datetime | None = None
) -> LoginResult:
    """Check a log-in. Counts failures; the :data:`MAX_FAILURES`-th locks the account for
    :data:`LOCKOUT` (a locked account refuses even the right password until then)."""
    now = aware(now)
    staff = find_staff(session, username) if _USERNAME.match(username or "") else None
    password = password[:MAX_PASSWORD_LENGTH]
    if staff is None or not staff.active:
        verify_password(password, _dummy_hash())
        audit.record(session, "system", "staff.login_failed", detail={"reason": "unknown"}, now=now)
        return LoginResult(None)
    locked = staff.locked_until is not None and staff.locked_until > now
    if locked:
        audit.record(
            session, "system", "staff.login_refused", detail={"staff": staff.username}, now=now
        )
        return LoginResult(None, staff.locked_until)
    if not verify_password(password, staff.password_hash):
        staff.failed_logins += 1
        audit.record(
            session,
            "system",
            "staff.login_failed",
            detail={"staff": staff.username, "failures": staff.failed_logins},
            now=now,
        )
        if staff.failed_logins >= MAX_FAILURES:
            staff.failed_logins = 0
            staff.locked_until = now + LOCKOUT
            audit.record(
                session, "system", "staff.locked", detail={"staff": staff.username}, now=now
            )
            log.warning("staff account %s locked after %d failures", staff.username, MAX_FAILURES)
            session.flush()
            return LoginResult(None, staff.locked_until)
        session.flush()
        return LoginResult(None)
    staff.failed_logins = 0
    staff.locked_until = None
    staff.last_login_at = now
    audit.record(session, actor_of(staff), "staff.login", detail={"staff": staff.username}, now=now)
    session.flush()
    return LoginResult(staff)


def _count_admins(session: Session) -> int:
    return len(
        list(session.scalars(select(Staff.id).where(Staff.role == StaffRole.ADMIN, Staff.active)))
    )


def update_staff(
    session: Session,
    staff: Staff,
    *,
    actor: str,
    role: StaffRole | None = None,
    active: bool | None = None,
    password: str | None = None,
    unlock: bool = False,
    now: datetime | None = None,
) -> Staff:
    """An admin changes an account: role, enabled, new password, unlock. Raises
    WeakPassword, LastAdmin (never leave the ward without an active admin)."""
    now = aware(now)
    was_admin = staff.role is StaffRole.ADMIN and staff.active
    changes: list[str] = []
    if role is not None and role is not staff.role:
        staff.role = role
        changes.append("role")
    if active is not None and active != staff.active:
        staff.active = active
        changes.append("active")
    if password:
        check_password_rules(password)
        staff.password_hash = hash_password(password)
        changes.append("password")
    if unlock or password:
        staff.failed_logins = 0
        staff.locked_until = None
        changes.append("unlocked")
    session.flush()
    if was_admin and not (staff.role is StaffRole.ADMIN and staff.active):
        if _count_admins(session) == 0:
            raise LastAdmin(staff.username)
    audit.record(
        session,
        actor,
        "staff.updated",
        detail={"staff": staff.username, "changes": changes, "role": staff.role.value},
        now=now,
    )
    return staff
