"""Personal data at rest and on screen: field encryption, the data key, masking.

Name, address, birth date, sex, the individual number and what the resident typed are
stored as AES-GCM ciphertext (``Encrypted`` column type). The key belongs to the app, not
to this module: ``attach_cipher(engine, key)`` hangs a ``FieldCipher`` on the engine's
dialect (one dialect object per engine), and the column type finds it there when it binds
or reads a value. An engine without a cipher refuses to read or write personal columns.

Masking helpers produce what lists, logs and exports show; only the audited staff case
view (``kiosk.cases.view_case``) shows values in clear.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import secrets
from datetime import date
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import Engine, LargeBinary
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

KEY_FILE_NAME = "data.key"
_FORMAT_V1 = b"\x01"
_NONCE_BYTES = 12


class PrivacyError(Exception):
    """Root of the errors of this module."""


class DataKeyError(PrivacyError):
    """The data key is missing, malformed or cannot be stored safely."""


class DecryptionFailed(PrivacyError):
    """A stored value does not decrypt with this key (wrong key or tampered row)."""


class FieldCipher:
    """AES-256-GCM for single column values.

    The column's purpose (``"case.address"``) is the associated data, so a ciphertext
    copied into another column fails to decrypt instead of showing up in the wrong place.
    Stored layout: 1 format byte, 12-byte random nonce, ciphertext with tag.
    """

    def __init__(self, key: bytes) -> None:
        if len(key) != 32:
            raise DataKeyError("the data key must be 32 bytes (AES-256)")
        self._aead = AESGCM(key)

    def encrypt(self, plaintext: bytes, purpose: str) -> bytes:
        nonce = os.urandom(_NONCE_BYTES)
        return _FORMAT_V1 + nonce + self._aead.encrypt(nonce, plaintext, purpose.encode())

    def decrypt(self, blob: bytes, purpose: str) -> bytes:
        if not blob or blob[:1] != _FORMAT_V1:
            raise DecryptionFailed(f"{purpose}: unknown ciphertext format")
        nonce, body = blob[1 : 1 + _NONCE_BYTES], blob[1 + _NONCE_BYTES :]
        try:
            return self._aead.decrypt(nonce, body, purpose.encode())
        except InvalidTag as e:
            raise DecryptionFailed(f"{purpose}: ciphertext does not match the data key") from e

    def __repr__(self) -> str:
        return "FieldCipher(<key hidden>)"


def attach_cipher(engine: Engine, key: bytes) -> Engine:
    """Make ``engine`` encrypt and decrypt personal columns with ``key``; returns it."""
    engine.dialect.kiosk_field_cipher = FieldCipher(key)  # type: ignore[attr-defined]
    return engine


def _cipher_for(dialect: Dialect) -> FieldCipher:
    cipher = getattr(dialect, "kiosk_field_cipher", None)
    if cipher is None:
        raise DataKeyError("this engine has no data key: build it with kiosk.db.make_engine")
    return cipher


class PersonalStr(str):
    """A decrypted text value. It is a ``str`` in every way except ``repr()``, which hides
    it: SQLAlchemy's debug logging (and tracebacks) print rows through ``repr``."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "<personal>"


class PersonalDate(date):
    """A decrypted date whose ``repr()`` hides it (see PersonalStr)."""

    def __repr__(self) -> str:
        return "<personal date>"


class PersonalDict(dict[str, Any]):
    """Decrypted resident fields whose ``repr()`` shows only the field names."""

    def __repr__(self) -> str:
        return f"<personal fields {sorted(self)}>"


class Encrypted(TypeDecorator[Any]):
    """A personal-data column stored as AES-GCM ciphertext (``LargeBinary``).

    ``kind`` says what the Python value is: ``"str"``, ``"date"`` or ``"json"`` (any
    JSON-able value, e.g. the fields a resident typed). ``None`` stays NULL.
    """

    impl = LargeBinary
    cache_ok = True

    def __init__(self, purpose: str, kind: str = "str") -> None:
        super().__init__()
        if kind not in ("str", "date", "json"):
            raise ValueError(f"unknown kind {kind!r}")
        self.purpose = purpose
        self.kind = kind

    def process_bind_param(self, value: Any, dialect: Dialect) -> bytes | None:
        if value is None:
            return None
        if self.kind == "date":
            raw = value.isoformat()
        elif self.kind == "json":
            raw = json.dumps(value, ensure_ascii=False, sort_keys=True)
        else:
            raw = str(value)
        return _cipher_for(dialect).encrypt(raw.encode(), self.purpose)

    def process_result_value(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        raw = _cipher_for(dialect).decrypt(bytes(value), self.purpose).decode()
        if self.kind == "date":
            return PersonalDate.fromisoformat(raw)
        if self.kind == "json":
            loaded = json.loads(raw)
            return PersonalDict(loaded) if isinstance(loaded, dict) else loaded
        return PersonalStr(raw)


# --- the data key -------------------------------------------------------------------------


def parse_data_key(text: str) -> bytes:
    """Decode a key given as 64 hex digits or as base64 (url-safe or standard) of 32 bytes."""
    text = text.strip()
    candidates: list[bytes] = []
    if len(text) == 64:
        try:
            candidates.append(bytes.fromhex(text))
        except ValueError:
            pass
    for decode in (base64.urlsafe_b64decode, base64.b64decode):
        try:
            candidates.append(decode(text + "=" * (-len(text) % 4)))
        except (binascii.Error, ValueError):
            pass
    for key in candidates:
        if len(key) == 32:
            return key
    raise DataKeyError("KIOSK_DATA_KEY: expected 32 bytes as 64 hex digits or base64")


def load_data_key(data_key: str, data_dir: Path) -> bytes:
    """The app's data key: ``data_key`` (KIOSK_DATA_KEY) when set, else ``data_dir/data.key``.

    The key file is created on first use with mode 0600 (created exclusively, so two
    processes starting at once cannot both write one). An existing key file readable by
    group or others is refused rather than trusted.
    """
    if data_key:
        return parse_data_key(data_key)
    path = data_dir / KEY_FILE_NAME
    data_dir.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass
    else:
        with os.fdopen(fd, "w") as f:
            f.write(base64.urlsafe_b64encode(secrets.token_bytes(32)).decode() + "\n")
    if path.stat().st_mode & 0o077:
        raise DataKeyError(f"{path}: key file is readable by others; chmod 600 it")
    return parse_data_key(path.read_text())


# --- masking --------------------------------------------------------------------------------


def mask_name(name: str | None) -> str:
    """First character kept, the rest starred per word: ``山田　太郎`` -> ``山*　太*``."""
    if not name:
        return ""
    words = name.replace("\u3000", " ").split(" ")
    return "\u3000".join(w[:1] + "*" * (len(w) - 1) for w in words if w)


def mask_address(address: str | None) -> str:
    """Only the first three characters (usually the prefecture) and a length hint."""
    if not address:
        return ""
    return address[:3] + "*" * min(len(address) - 3, 8) if len(address) > 3 else "***"


def mask_birth_date(_: date | None) -> str:
    """Birth dates are never shown partially: an age band would still narrow a person down."""
    return "****-**-**"


def mask_individual_number(number: str | None) -> str:
    """The individual number is fully hidden, even its length beyond the standard 12."""
    return "" if number is None else "*" * 12
