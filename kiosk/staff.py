"""Staff accounts: passwords, log-in with lock-out, roles, administration.

Passwords are stored as ``scrypt$<log2 n>$<r>$<p>$<salt>$<hash>`` (hashlib.scrypt, a
memory-hard KDF; the parameters travel with each hash so they can be raised later). Log-in
failures are counted in the database (so every process of a ward office agrees) per account
*and client address*: after :data:`MAX_FAILURES` in a row from one address, that address
may not log in to that account for :data:`LOCKOUT`, while the owner at their own desk still
can. (Locking the whole account let anyone on the LAN lock every known username with five
tries.) How many attempts one address may make at all is the front end's per-address rate
limit (``ui.rate_limits``). Every answer costs one password hash, whether the account is
unknown, locked or not, so timing tells nothing (a locked account used to answer in 17 ms
instead of 300).

Sessions end on the server's word: each account has a ``session_version`` that console
sessions and API tokens carry; :func:`end_sessions` (log-out, password change, deactivation,
role change) increments it, and everything issued before stops working at once.

Every log-in, failure, lock, end of sessions and account change writes an audit row
(usernames and client addresses only, never passwords).

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

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from kiosk import audit
from kiosk.clock import aware
from kiosk.errors import DomainError, NotFound
from kiosk.models import Staff, StaffLoginFailure, StaffRole

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
    """``staff`` on success; otherwise None, with ``locked_until`` when this address is
    (now) locked out of the account. The caller commits in both cases: failures must be
    counted."""

    staff: Staff | None
    locked_until: datetime | None = None


def _failures(session: Session, staff: Staff, address: str) -> StaffLoginFailure | None:
    return session.get(StaffLoginFailure, (staff.id, address), with_for_update=True)


def _latest_lock(session: Session, staff: Staff, now: datetime) -> datetime | None:
    return session.scalar(
        select(func.max(StaffLoginFailure.locked_until)).where(
            StaffLoginFailure.staff_id == staff.id, StaffLoginFailure.locked_until > now
        )
    )


def authenticate(
    session: Session,
    username: str,
    password: str,
    *,
    address: str = "unknown",
    now: datetime | None = None,
) -> LoginResult:
    """Check a log-in from client ``address``. Counts failures per account and address;
    the :data:`MAX_FAILURES`-th locks this address out of the account for :data:`LOCKOUT`
    (even the right password is refused from it until then). Exactly one password hash is
    computed whatever the outcome (unknown, disabled, locked or not)."""
    now = aware(now)
    address = (address or "unknown")[:64]
    staff = find_staff(session, username) if _USERNAME.match(username or "") else None
    password = password[:MAX_PASSWORD_LENGTH]
    known = staff is not None and staff.active
    matches = verify_password(password, staff.password_hash if staff and known else _dummy_hash())
    if staff is None or not staff.active:
        audit.record(session, "system", "staff.login_failed", detail={"reason": "unknown"}, now=now)
        return LoginResult(None)
    failures = _failures(session, staff, address)
    if failures is not None and failures.locked_until is not None and failures.locked_until > now:
        audit.record(
            session,
            "system",
            "staff.login_refused",
            detail={"staff": staff.username, "address": address},
            now=now,
        )
        session.flush()
        return LoginResult(None, failures.locked_until)
    if not matches:
        if failures is None:
            failures = StaffLoginFailure(staff_id=staff.id, address=address, failures=0)
            session.add(failures)
        failures.failures += 1
        failures.updated_at = now
        staff.failed_logins += 1
        audit.record(
            session,
            "system",
            "staff.login_failed",
            detail={"staff": staff.username, "address": address, "failures": failures.failures},
            now=now,
        )
        if failures.failures >= MAX_FAILURES:
            failures.failures = 0
            failures.locked_until = now + LOCKOUT
            staff.locked_until = max(staff.locked_until or now, failures.locked_until)
            audit.record(
                session,
                "system",
                "staff.locked",
                detail={"staff": staff.username, "address": address},
                now=now,
            )
            log.warning(
                "staff account %s locked for one address after %d failures",
                staff.username,
                MAX_FAILURES,
            )
            session.flush()
            return LoginResult(None, failures.locked_until)
        session.flush()
        return LoginResult(None)
    if failures is not None:
        session.delete(failures)
        session.flush()
    staff.failed_logins = 0
    staff.locked_until = _latest_lock(session, staff, now)
    staff.last_login_at = now
    audit.record(
        session,
        actor_of(staff),
        "staff.login",
        detail={"staff": staff.username, "address": address},
        now=now,
    )
    session.flush()
    return LoginResult(staff)


def end_sessions(
    session: Session, staff: Staff, *, actor: str, reason: str, now: datetime | None = None
) -> Staff:
    """End every console session and API token of ``staff`` at once (they carry the old
    ``session_version``). ``reason``: ``logout``, ``password``, ``deactivated``, ``role``."""
    staff.session_version += 1
    audit.record(
        session,
        actor,
        "staff.sessions_ended",
        detail={"staff": staff.username, "reason": reason},
        now=aware(now),
    )
    session.flush()
    return staff


def session_is_current(staff: Staff, version: object) -> bool:
    """Whether a session or token stamped with ``version`` is still valid for ``staff``
    (active, and nothing ended its sessions since)."""
    return staff.active and isinstance(version, int) and version == staff.session_version


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
    """An admin changes an account: role, enabled, new password, unlock. A new role, a
    deactivation or a new password ends every session and token of the account
    (:func:`end_sessions`); unlocking (and a new password) lifts the lock of every address.
    Raises WeakPassword, LastAdmin (never leave the ward without an active admin)."""
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
        session.execute(delete(StaffLoginFailure).where(StaffLoginFailure.staff_id == staff.id))
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
    ended = [c for c in changes if c in ("role", "password") or (c == "active" and not active)]
    if ended:
        reason = {"role": "role", "password": "password", "active": "deactivated"}[ended[0]]
        end_sessions(session, staff, actor=actor, reason=reason, now=now)
    return staff
