"""The kiosk's device credential: card and PIN operations answer only to this kiosk's own
screen.

The finding (issue 10): anyone who could reach ``/api`` could open a visit from another PC,
see whether a card lay on the reader and send PINs to it (two wrong guesses left a
resident's card at one try). A visit, and with it every card operation, now needs this
kiosk's *device credential*, a 256-bit random secret:

- provisioned at install by ``kiosk device provision`` (a 0600 file ``device.key`` in the
  data folder, or ``KIOSK_DEVICE_KEY``; the first start creates the file if neither
  exists), printed once so the installer can enrol the kiosk's browser;
- presented by the kiosk's browser as an ``HttpOnly`` cookie that the enrolment page
  ``/device/`` sets (open ``/device/#<credential>`` once on the kiosk's screen: the part after
  ``#`` never leaves the browser, so no log holds it), and by API clients as the header
  ``X-Kiosk-Device`` (documented in the OpenAPI document as the ``kioskDevice`` scheme);
- compared in constant time against its SHA-256 (the plain credential is not kept in
  memory after start-up).

Together with the loopback binding of ``kiosk serve`` (``KIOSK_HOST=127.0.0.1`` by
default: the kiosk's browser talks to its own service; everything else comes through the
reverse proxy, which forwards the client's address), a PC on the LAN has neither the
credential nor the kiosk's address. Each kiosk PC has its own data folder and so its own
credential; rotating it (``kiosk device provision --rotate``, then restart) un-enrols every
browser that had the old one.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path

from kiosk.config import Settings
from kiosk.privacy import make_private_dir

DEVICE_FILE = "device.key"
HEADER = "X-Kiosk-Device"
COOKIE = "kiosk_device"
CREDENTIAL_BYTES = 32


class DeviceCredential:
    """This kiosk's device credential, held as its SHA-256 only."""

    def __init__(self, credential: str) -> None:
        self._digest = hashlib.sha256(credential.strip().encode()).digest()

    def matches(self, presented: str | None) -> bool:
        """Whether ``presented`` (a cookie or header value, possibly missing) is the
        credential. Constant time in the credential; never raises."""
        if not presented or len(presented) > 256:
            return False
        candidate = hashlib.sha256(presented.strip().encode()).digest()
        return hmac.compare_digest(candidate, self._digest)

    def __repr__(self) -> str:
        return "DeviceCredential(<hidden>)"


def device_file(data_dir: Path) -> Path:
    return Path(data_dir) / DEVICE_FILE


def provision_device_credential(data_dir: Path, *, rotate: bool = False) -> str:
    """The credential in ``data_dir/device.key``: created (0600) when missing, replaced
    when ``rotate``; returned so the installer can enrol the kiosk's browser."""
    make_private_dir(Path(data_dir))
    path = device_file(data_dir)
    if rotate and path.exists():
        fresh = secrets.token_urlsafe(CREDENTIAL_BYTES)
        temporary = path.with_name(f".{DEVICE_FILE}.{secrets.token_hex(4)}")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as f:
            f.write(fresh + "\n")
        temporary.replace(path)
        return fresh
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text(encoding="ascii").strip()
    with os.fdopen(fd, "w", encoding="ascii") as f:
        f.write(secrets.token_urlsafe(CREDENTIAL_BYTES) + "\n")
    return path.read_text(encoding="ascii").strip()


def load_device_credential(settings: Settings) -> DeviceCredential:
    """``KIOSK_DEVICE_KEY`` when set, else the data folder's ``device.key`` (created on
    first start)."""
    if settings.device_key:
        return DeviceCredential(settings.device_key)
    return DeviceCredential(provision_device_credential(settings.data_dir))
