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
_FORMAT_V1 = b"\x01"  # unpadded (written before padding existed; still read)
_FORMAT_V2 = b"\x02"  # padded to a multiple of PAD_BLOCK bytes
_NONCE_BYTES = 12
# Plaintexts are padded to a multiple of this many bytes before encryption, so that a
# ciphertext's length says no more than "shorter than 32, 64, ... bytes": every sex code
# (``male``, ``female``, ``not_applicable``, ``unknown``) gives the same length, and names
# and addresses are known only to 32 bytes (about 10 kanji).
PAD_BLOCK = 32


class PrivacyError(Exception):
    """Root of the errors of this module."""


class DataKeyError(PrivacyError):
    """The data key is missing, malformed or cannot be stored safely."""


class DecryptionFailed(PrivacyError):
    """A stored value does not decrypt with this key (wrong key or tampered row)."""


def pad(plaintext: bytes, block: int = PAD_BLOCK) -> bytes:
    """ISO/IEC 7816-4 padding: one 0x80 byte, then zeros up to a multiple of ``block``
    (always at least one byte, so padding is unambiguous whatever the plaintext ends with)."""
    padded = plaintext + b"\x80"
    return padded + b"\x00" * (-len(padded) % block)


def unpad(padded: bytes) -> bytes:
    """The inverse of :func:`pad`; ValueError for anything :func:`pad` cannot produce."""
    stripped = padded.rstrip(b"\x00")
    if not stripped.endswith(b"\x80"):
        raise ValueError("bad padding")
    return stripped[:-1]


class FieldCipher:
    """AES-256-GCM for single column values.

    The column's purpose (``"case.address"``) is the associated data, so a ciphertext
    copied into another column fails to decrypt instead of showing up in the wrong place.
    Stored layout: 1 format byte, 12-byte random nonce, ciphertext with tag.

    Format 2 (written now) pads the plaintext (:func:`pad`) so the length of a ciphertext
    does not reveal the value (the sex code was readable from it); its associated data also
    carries the format byte, so a format 2 row relabelled as format 1 fails to decrypt
    instead of showing its padding. Format 1 rows (unpadded, from before) are still read:
    no migration, and they are rewritten padded whenever the column is written again.
    """

    def __init__(self, key: bytes) -> None:
        if len(key) != 32:
            raise DataKeyError("the data key must be 32 bytes (AES-256)")
        self._aead = AESGCM(key)

    def encrypt(self, plaintext: bytes, purpose: str) -> bytes:
        nonce = os.urandom(_NONCE_BYTES)
        aad = purpose.encode() + _FORMAT_V2
        return _FORMAT_V2 + nonce + self._aead.encrypt(nonce, pad(plaintext), aad)

    def decrypt(self, blob: bytes, purpose: str) -> bytes:
        version = blob[:1]
        if version not in (_FORMAT_V1, _FORMAT_V2):
            raise DecryptionFailed(f"{purpose}: unknown ciphertext format")
        nonce, body = blob[1 : 1 + _NONCE_BYTES], blob[1 + _NONCE_BYTES :]
        aad = purpose.encode() + (_FORMAT_V2 if version == _FORMAT_V2 else b"")
        try:
            plaintext = self._aead.decrypt(nonce, body, aad)
        except InvalidTag as e:
            raise DecryptionFailed(f"{purpose}: ciphertext does not match the data key") from e
        if version == _FORMAT_V1:
            return plaintext
        try:
            return unpad(plaintext)
        except ValueError as e:
            raise DecryptionFailed(f"{purpose}: bad padding") from e

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


# --- files at rest ---------------------------------------------------------------------------

PRIVATE_DIR_MODE = 0o700
PRIVATE_FILE_MODE = 0o600


def make_private_dir(path: Path) -> Path:
    """Create ``path`` (and missing parents) as a folder only its owner can enter (0700),
    and take group and other access away from an existing one: the data folder holds the
    SQLite database, its WAL, the keys and the simulator's state. Returns ``path``."""
    path.mkdir(mode=PRIVATE_DIR_MODE, parents=True, exist_ok=True)
    if path.stat().st_mode & 0o077:
        path.chmod(PRIVATE_DIR_MODE)
    return path


def make_private_file(path: Path) -> Path:
    """Create ``path`` empty with mode 0600 if it does not exist, else take group and other
    access away from it. SQLite creates a database's ``-wal`` and ``-shm`` files with the
    database file's own mode, so a database file made here keeps them private too."""
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE))
    except FileExistsError:
        if path.stat().st_mode & 0o077:
            path.chmod(PRIVATE_FILE_MODE)
    return path


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
    make_private_dir(data_dir)
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
