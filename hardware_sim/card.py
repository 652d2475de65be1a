"""A simulated My Number card: an ISO 7816-4 APDU processor over the card's file system.

The authority is ``/work/shared/specs/mynumber-card.md`` (section numbers below refer to it).
The simulator is strict where the real card is strict (access rules, retry counters, status
words of section 8) so that the reader is tested against the card, not against a friendly
mock. It shares no code with ``cardreader``: it has its own TLV encoder
(:mod:`hardware_sim.tlv`) and its own APDU parsing.

Choices where the spec says UNCONFIRMED (documented so readers of the tests know):

* VERIFY whose data length does not fit the PIN (4 digits; 12 / 14 digits for 照合番号A/B;
  6-16 characters for the JPKI signature password) answers ``67 00`` and consumes no try.
* 照合番号A (``0014``) and 照合番号B (``0015``) allow 10 tries.
* A query (``00 20 00 80`` without data) answers ``63 Cx`` also after a successful VERIFY.
* Re-selecting the application that is already current keeps its security status;
  selecting any other application (or a reset) clears it.
* Prefix (partial DF name) selection picks the first application in card order:
  GP ISD, JPKI AP, Surface AP, Text AP.
* READ BINARY at an offset equal to the file size answers ``6B 00``; extended-length READ
  BINARY answers ``67 00`` (short APDUs only).

Why one module of this size: it is one APDU processor whose commands share the card's
security state (selected application, verified PINs, retry counters); split across modules
that state would have to be passed around in the open. Personas, the test PKI and the
fault injection are modules of their own.
* A resident under 15 has no signature certificate, key or password: JPKI ``0001``,
  ``001A`` and ``001B`` answer ``6A 82`` on SELECT.
* The Text AP has the three keys of spec 5.2: the CVC key (EF ``0004``) signs EF ``0003``
  and ``DF52`` of EF ``0007``; the challenge key (IEF ``0013``, public half in ``DF51``)
  signs ``80 2A 00 00`` without a credential; its only scheme is P1 ``00`` (the DigestInfo as
  given), so any other P1 (or a P2 other than ``00``/``80``/an SFI) answers ``6A86``.
* ``80 2A`` must carry Le ``00`` (256 bytes): no Le, a short Le or an extended APDU answer
  ``67 00`` (the card's reaction to a short Le is UNCONFIRMED).
* GET CHALLENGE works the same in every application (only its randomness is modelled).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import secrets
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa, utils

from hardware_sim import pki
from hardware_sim.personas import Persona
from hardware_sim.tlv import encode_length, tlv

# Contact ATR seen on real cards (spec section 6); T=1, TCK 14 makes the XOR of T0..TCK zero.
ATR = bytes.fromhex("3BE000FF8131FE4514")

AID_ISD = bytes.fromhex("A0000001510000")
AID_JPKI = bytes.fromhex("D392F000260100000001")
AID_SURFACE = bytes.fromhex("D3921000310001010402")
AID_TEXT = bytes.fromhex("D3921000310001010408")

# PIN / IEF file ids (all distinct across the applications the simulator models).
PIN_TEXT = 0x0011
PIN_TEXT_BLOCKED = 0x0012
PIN_TEXT_A = 0x0014
PIN_TEXT_B = 0x0015
PIN_JPKI_AUTH = 0x0018
PIN_JPKI_SIGN = 0x001B

TOKEN_LABEL = b"JPKIAPICCTOKEN2"
DIGEST_INFO_SHA256 = bytes.fromhex("3031300d060960864801650304020105000420")


class _Status(Exception):
    """Raised inside command handlers to answer with a bare status word."""

    def __init__(self, sw: int) -> None:
        super().__init__(f"{sw:04X}")
        self.sw = sw


# ---------------------------------------------------------------------------- PIN store


class PinStateStore:
    """Remaining-tries counters that survive card removal and process restarts.

    A JSON file ``{"<card serial>": {"0011": 2, ...}}``. Writes take an exclusive
    ``fcntl`` lock on ``<path>.lock``, re-read the file, and replace it atomically
    (temp file + ``os.replace``), so several processes (kiosk, simulator CLI, tests) can
    share one store. Reads need no lock because the file is only ever replaced whole.
    A counter that was never written is absent: the card falls back to its initial value.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)

    def _read(self) -> dict[str, dict[str, int]]:
        try:
            return json.loads(self.path.read_text("utf-8"))
        except FileNotFoundError:
            return {}

    def get(self, serial: str, pin_id: int) -> int | None:
        """Stored remaining tries of ``pin_id`` on card ``serial``, or None if never stored."""
        return self._read().get(serial, {}).get(f"{pin_id:04X}")

    def set(self, serial: str, pin_id: int, tries: int) -> None:
        """Store the remaining tries of ``pin_id`` on card ``serial``."""
        with self._locked():
            data = self._read()
            data.setdefault(serial, {})[f"{pin_id:04X}"] = tries
            self._write(data)

    def forget(self, serial: str) -> None:
        """Drop every counter of one card (it goes back to its persona's initial state)."""
        with self._locked():
            data = self._read()
            if data.pop(serial, None) is not None:
                self._write(data)

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path.with_name(self.path.name + ".lock"), "a") as lock_file:
            fcntl.flock(lock_file, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock_file, fcntl.LOCK_UN)

    def _write(self, data: dict[str, dict[str, int]]) -> None:
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=self.path.name, suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(data, f, indent=1, sort_keys=True)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise


# ---------------------------------------------------------------------------- file system


@dataclass
class _Transparent:
    data: bytes
    opened_by: frozenset[int] | None = None  # None: free to read; else any of these PINs


@dataclass
class _Pin:
    pin_id: int
    secret: bytes | None  # None: a blocked key reference that never opens
    max_tries: int
    min_len: int
    max_len: int


@dataclass
class _Key:
    key: rsa.RSAPrivateKey
    needs: frozenset[int] = field(default_factory=frozenset)  # empty: no credential needed


_File = _Transparent | _Pin | _Key


@dataclass
class _Application:
    name: str
    aid: bytes
    files: dict[int, _File] = field(default_factory=dict)
    default_key: _Key | None = None  # signs 80 2A xx 00 without a selected key
    internal_auth_sw: int = 0x6985


# ---------------------------------------------------------------------------- APDU parsing


@dataclass(frozen=True)
class _Command:
    cla: int
    ins: int
    p1: int
    p2: int
    data: bytes
    le: int | None  # None: absent; 256 for a short Le of 00
    extended: bool


def _parse(apdu: bytes) -> _Command:
    """Split a command APDU into its parts (ISO 7816-3 cases 1-4, short and extended)."""
    cla, ins, p1, p2 = apdu[:4]
    body = apdu[4:]
    data = b""
    le: int | None = None
    extended = False
    if not body:
        pass
    elif len(body) == 1:
        le = body[0] or 256
    elif body[0] != 0:
        lc = body[0]
        if len(body) == 1 + lc:
            data = body[1:]
        elif len(body) == 2 + lc:
            data, le = body[1:-1], body[-1] or 256
        else:
            raise _Status(0x6700)
    else:
        extended = True
        if len(body) == 3:
            le = int.from_bytes(body[1:3], "big") or 65536
        else:
            lc = int.from_bytes(body[1:3], "big")
            if lc == 0 or len(body) not in (3 + lc, 5 + lc):
                raise _Status(0x6700)
            data = body[3 : 3 + lc]
            if len(body) == 5 + lc:
                le = int.from_bytes(body[-2:], "big") or 65536
    return _Command(cla, ins, p1, p2, data, le, extended)


def _ok(data: bytes = b"") -> bytes:
    return data + b"\x90\x00"


# ---------------------------------------------------------------------------- the card


class SimulatedCard:
    """A My Number card answering APDUs; satisfies ``cardreader.transport.ApduProcessor``.

    Volatile state (current application and file, security status) is cleared by
    :meth:`reset` (power on, warm reset, re-insertion). Retry counters are non-volatile:
    kept in the :class:`PinStateStore` when one is given, else in this object.
    Thread-safe: the vpcd thread and a simulator panel may use the same card.
    """

    ATR = ATR

    def __init__(
        self,
        serial: str,
        applications: list[_Application],
        initial_tries: dict[int, int],
        store: PinStateStore | None = None,
    ) -> None:
        self.serial = serial
        self._apps = applications
        self._pins: dict[int, _Pin] = {
            f.pin_id: f for app in applications for f in app.files.values() if isinstance(f, _Pin)
        }
        self._initial = dict(initial_tries)
        self._memory: dict[int, int] = {}
        self._store = store
        self._lock = threading.RLock()
        self._app = applications[0]
        self._ef: int | None = None
        self._verified: set[int] = set()

    # ------------------------------------------------------------------ construction

    @classmethod
    def from_persona(
        cls,
        persona: Persona,
        store: PinStateStore | None = None,
        *,
        key_dir: Path | None = None,
    ) -> SimulatedCard:
        """Build the card of ``persona``; ``key_dir`` keeps its RSA keys across processes."""
        return _build_card(persona, store, key_dir)

    # ------------------------------------------------------------------ ApduProcessor

    def reset(self) -> bytes:
        """Warm reset / power cycle: clear selection and security status; return the ATR."""
        with self._lock:
            self._app = self._apps[0]
            self._ef = None
            self._verified.clear()
            return ATR

    def process_apdu(self, apdu: bytes) -> bytes:
        """Answer one command APDU with a response APDU (data + SW1 SW2). Never raises."""
        with self._lock:
            try:
                return self._dispatch(bytes(apdu))
            except _Status as status:
                return status.sw.to_bytes(2, "big")

    # ------------------------------------------------------------------ retry counters

    def tries_left(self, pin_fid: int) -> int:
        """Remaining tries of the PIN IEF ``pin_fid`` (e.g. ``0x0011``); KeyError if absent."""
        with self._lock:
            return self._get_tries(self._pins[pin_fid])

    @property
    def tries(self) -> dict[int, int]:
        """Remaining tries of every PIN IEF on the card, keyed by file id."""
        with self._lock:
            return {fid: self._get_tries(pin) for fid, pin in self._pins.items()}

    def set_tries(self, pin_fid: int, n: int) -> None:
        """Set the remaining tries of a PIN (staff training: lock or unlock a card)."""
        with self._lock:
            pin = self._pins[pin_fid]
            if pin.secret is None:
                raise ValueError(f"IEF {pin_fid:04X} is a blocked key reference")
            if not 0 <= n <= pin.max_tries:
                raise ValueError(f"tries must be 0..{pin.max_tries}")
            self._put_tries(pin, n)

    def _get_tries(self, pin: _Pin) -> int:
        if pin.secret is None:
            return 0
        if self._store is not None:
            stored = self._store.get(self.serial, pin.pin_id)
            if stored is not None:
                return stored
        elif pin.pin_id in self._memory:
            return self._memory[pin.pin_id]
        return self._initial.get(pin.pin_id, pin.max_tries)

    def _put_tries(self, pin: _Pin, n: int) -> None:
        if self._store is not None:
            self._store.set(self.serial, pin.pin_id, n)
        else:
            self._memory[pin.pin_id] = n

    # ------------------------------------------------------------------ dispatch

    def _dispatch(self, apdu: bytes) -> bytes:
        if len(apdu) < 4:
            raise _Status(0x6700)
        cla, ins = apdu[0], apdu[1]
        klass = cla & 0xF0
        if klass not in (0x00, 0x80):
            raise _Status(0x6E00)
        if cla & 0x03:
            raise _Status(0x6881)
        handler = self._HANDLERS.get((klass, ins))
        if handler is None:
            raise _Status(0x6D00)
        if cla & 0x0C:
            raise _Status(0x69FC if ins in (0xB0, 0x20) else 0x6882)
        return handler(self, _parse(apdu))

    def _current_file(self) -> _File:
        if self._ef is None:
            raise _Status(0x6986)
        return self._app.files[self._ef]

    def _select(self, cmd: _Command) -> bytes:
        if cmd.p1 == 0x04:
            if cmd.p2 not in (0x0C, 0x00):
                raise _Status(0x6A86)
            if not cmd.data:
                raise _Status(0x6700)
            app = next((a for a in self._apps if a.aid == cmd.data), None)
            if app is None:
                app = next((a for a in self._apps if a.aid.startswith(cmd.data)), None)
            if app is None:
                raise _Status(0x6A82)
            if app is not self._app:
                self._verified.clear()
            self._app = app
            self._ef = None
            if cmd.p2 == 0x00:
                return _ok(tlv(0x6F, tlv(0x84, app.aid)))
            return _ok()
        if cmd.p1 == 0x02:
            if cmd.p2 not in (0x0C, 0x00):
                raise _Status(0x6A86)
            if len(cmd.data) != 2:
                raise _Status(0x6700)
            fid = int.from_bytes(cmd.data, "big")
            file = self._app.files.get(fid)
            if file is None:
                raise _Status(0x6A82)
            self._ef = fid
            if cmd.p2 == 0x00:
                fcp = tlv(0x83, cmd.data)
                if isinstance(file, _Transparent):
                    fcp = tlv(0x80, len(file.data).to_bytes(2, "big")) + fcp
                return _ok(tlv(0x62, fcp))
            return _ok()
        if cmd.p1 == 0x00:
            # ISO "select MF": refused in the power-on state, a no-op once an AP is current.
            if self._app is self._apps[0]:
                raise _Status(0x6A86)
            return _ok()
        raise _Status(0x6A86)

    def _read_binary(self, cmd: _Command) -> bytes:
        if cmd.le is None or cmd.data or cmd.extended:
            raise _Status(0x6700)
        if cmd.p1 & 0x80:
            sfi = cmd.p1 & 0x1F
            if cmd.p1 & 0x60 or sfi == 0:
                raise _Status(0x6A86)
            if sfi not in self._app.files:
                raise _Status(0x6A82)
            self._ef = sfi
            offset = cmd.p2
        else:
            offset = (cmd.p1 << 8) | cmd.p2
        file = self._current_file()
        if not isinstance(file, _Transparent):
            raise _Status(0x6981)
        if file.opened_by is not None and not file.opened_by & self._verified:
            raise _Status(0x6982)
        if offset >= len(file.data):
            raise _Status(0x6B00)
        return _ok(file.data[offset : offset + cmd.le])

    def _verify(self, cmd: _Command) -> bytes:
        if cmd.p1 != 0x00:
            raise _Status(0x6A86)
        if cmd.p2 == 0x80:
            file = self._current_file()
            if not isinstance(file, _Pin):
                raise _Status(0x6981)
        elif cmd.p2 & 0x80 and not cmd.p2 & 0x60 and cmd.p2 & 0x1F:
            file = self._app.files.get(cmd.p2 & 0x1F)  # type: ignore[assignment]
            if not isinstance(file, _Pin):
                raise _Status(0x6A88)
        else:
            raise _Status(0x6A86)
        if cmd.le is not None or cmd.extended:
            raise _Status(0x6700)
        tries = self._get_tries(file)
        if not cmd.data:
            return (0x63C0 | min(tries, 15)).to_bytes(2, "big")
        if tries == 0:
            raise _Status(0x6984)
        if not file.min_len <= len(cmd.data) <= file.max_len:
            raise _Status(0x6700)
        if file.secret is not None and secrets.compare_digest(cmd.data, file.secret):
            if tries != file.max_tries:
                self._put_tries(file, file.max_tries)
            self._verified.add(file.pin_id)
            return _ok()
        self._put_tries(file, tries - 1)
        return (0x63C0 | min(tries - 1, 15)).to_bytes(2, "big")

    def _get_challenge(self, cmd: _Command) -> bytes:
        if cmd.p1 or cmd.p2:
            raise _Status(0x6A86)
        if cmd.extended:
            raise _Status(0x6985)
        if cmd.le is None or cmd.data:
            raise _Status(0x6700)
        return _ok(os.urandom(cmd.le))

    def _internal_authenticate(self, cmd: _Command) -> bytes:
        raise _Status(self._app.internal_auth_sw)

    def _compute_signature(self, cmd: _Command) -> bytes:
        if cmd.p1 > 0x05:
            raise _Status(0x6A86)
        key: _Key | None
        if cmd.p2 == 0x00:
            key = self._app.default_key
            # The AP's own key signs a DigestInfo as given (P1 00); other schemes are unknown.
            if key is None or cmd.p1 != 0x00:
                raise _Status(0x6A86)
        elif cmd.p2 == 0x80:
            file = self._current_file()
            if not isinstance(file, _Key):
                raise _Status(0x6981)
            key = file
        elif cmd.p2 & 0x80 and not cmd.p2 & 0x60 and cmd.p2 & 0x1F:
            file = self._app.files.get(cmd.p2 & 0x1F)  # type: ignore[assignment]
            if not isinstance(file, _Key):
                raise _Status(0x6A88)
            key = file
        else:
            raise _Status(0x6A86)
        if key.needs and not key.needs & self._verified:
            raise _Status(0x6982)
        if not cmd.data or cmd.extended or cmd.le != 256:
            raise _Status(0x6700)
        return _ok(_sign(key.key, cmd.p1, cmd.data))

    def _last_command(self, cmd: _Command) -> bytes:
        # iPhone JPKI tokens know 80 FC; a physical card rejects it (spec 4.3).
        raise _Status(0x6700)

    _HANDLERS = {
        (0x00, 0xA4): _select,
        (0x00, 0xB0): _read_binary,
        (0x00, 0x20): _verify,
        (0x00, 0x84): _get_challenge,
        (0x00, 0x88): _internal_authenticate,
        (0x80, 0x2A): _compute_signature,
        (0x80, 0xFC): _last_command,
    }


def _sign(key: rsa.RSAPrivateKey, scheme: int, data: bytes) -> bytes:
    """COMPUTE DIGITAL SIGNATURE schemes by P1 (spec 4.3, myna-card's table)."""
    pss = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)
    if scheme == 0x00:
        if len(data) > 245:
            raise _Status(0x6700)
        if len(data) == 51 and data.startswith(DIGEST_INFO_SHA256):
            # The same bytes as padding the DigestInfo by hand, but CRT in C: 2 ms, not 60.
            return key.sign(data[19:], padding.PKCS1v15(), utils.Prehashed(hashes.SHA256()))
        return pki.sign_raw_pkcs1(key, data)
    if scheme in (0x01, 0x03, 0x05):
        digest = hashlib.sha256(data).digest()
    else:
        if len(data) != 32:
            raise _Status(0x6700)
        digest = data
    if scheme == 0x01:
        return pki.sign_raw_pkcs1(key, digest)
    if scheme in (0x02, 0x03):
        return key.sign(digest, padding.PKCS1v15(), utils.Prehashed(hashes.SHA256()))
    return key.sign(digest, pss, utils.Prehashed(hashes.SHA256()))


# ---------------------------------------------------------------------------- card contents


def my_number_ef(individual_number: str) -> bytes:
    """Text AP EF 0001: ``FF 10 0C`` + 12 ASCII digits + ``FF FF`` filler (17 bytes)."""
    return tlv(0xFF10, individual_number.encode("ascii")) + b"\xff\xff"


def basic_four_ef(name: str, address: str, birth: str, sex: str) -> bytes:
    """Text AP EF 0002: ``FF20 { DF21 offsets, DF22 name, DF23 address, DF24, DF25 }``.

    The four offsets in DF21 count from the first byte of the file and point at the tags of
    DF22..DF25; they depend on the length form of the outer header, hence computed last.
    """
    items = [
        tlv(0xDF22, name.encode("utf-8")),
        tlv(0xDF23, address.encode("utf-8")),
        tlv(0xDF24, birth.encode("ascii")),
        tlv(0xDF25, sex.encode("ascii")),
    ]
    table_len = 3 + 8
    value_len = table_len + sum(len(i) for i in items)
    header_len = 2 + len(encode_length(value_len))
    offsets = b""
    position = header_len + table_len
    for item in items:
        offsets += position.to_bytes(2, "big")
        position += len(item)
    return tlv(0xFF20, tlv(0xDF21, offsets) + b"".join(items))


def _digest_source(ef0002: bytes) -> bytes:
    """The DF22..DF25 part of EF 0002 (what DF32 hashes), found via the DF21 table."""
    first = int.from_bytes(ef0002[ef0002.index(b"\xdf\x21\x08") + 3 :][:2], "big")
    return ef0002[first:]


def integrity_ef(ef0001: bytes, ef0002: bytes, key: rsa.RSAPrivateKey) -> bytes:
    """Text AP EF 0003 (336 bytes): DF31/DF32 SHA-256 digests and DF33 signature over both."""
    signed = tlv(0xDF31, hashlib.sha256(ef0001).digest()) + tlv(
        0xDF32, hashlib.sha256(_digest_source(ef0002)).digest()
    )
    signature = key.sign(signed, padding.PKCS1v15(), hashes.SHA256())
    return tlv(0xFF30, signed + tlv(0xDF33, signature))


def token_info_ef(serial: str) -> bytes:
    """JPKI EF 0006: 160-byte CK_TOKEN_INFO-like record, label ``JPKIAPICCTOKEN2`` padded."""
    record = (
        TOKEN_LABEL.ljust(32, b" ")
        + b"J-LIS (simulated)".ljust(32, b" ")
        + b"JPKI SIM".ljust(16, b" ")
        + serial.encode("ascii")[:16].ljust(16, b" ")
    )
    return record.ljust(160, b"\x00")


def signed_key_ef(chip_key: rsa.RSAPublicKey, cvc_key: rsa.RSAPrivateKey) -> bytes:
    """Text AP EF 0007 (536 bytes): ``FF50 { DF51 <chip key>, DF52 <signature> }``.

    DF51 is the public half of the challenge-signing key (IEF 0013) in the CVC body's
    ``90``/``91`` encoding; DF52 is PKCS#1 v1.5 / SHA-256 over the whole DF51 TLV (tag and
    length included) by the key the CVC in EF 0004 certifies (spec 5.2).
    """
    df51 = tlv(0xDF51, pki.rsa_key_objects(chip_key))
    return tlv(0xFF50, df51 + tlv(0xDF52, cvc_key.sign(df51, padding.PKCS1v15(), hashes.SHA256())))


# Which CAs issued a chip's certificates: the trusted test hierarchy, or a forger's.
_ISSUER_PREFIX = {
    "genuine": "",
    "replay": "",
    "forged": "forger-",
    "forged_trusted_names": "impostor-",
}


def jpki_auth_certificate(persona: Persona, key_dir: Path | None = None) -> x509.Certificate:
    """The JPKI user-authentication certificate (EF 000A) on ``persona``'s card.

    Issued by the simulator's ``jpki-auth`` CA, or by a forger's CA for a forged chip; valid
    until the card's expiry, or until :data:`pki.EXPIRED_NOT_AFTER` for an expired one. A
    replay chip carries its source's certificate: ask for the source persona's.
    """
    serial = persona.card_serial
    if persona.jpki_auth_certificate == "expired":
        not_after = pki.EXPIRED_NOT_AFTER
    else:
        not_after = datetime(
            persona.card_expiry_year,
            persona.birth_date.month,
            min(persona.birth_date.day, 28),
            tzinfo=UTC,
        )
    return pki.card_certificate(
        "jpki-auth",
        pki.rsa_key(f"card:{serial}:jpki-auth", key_dir).public_key(),
        f"SIM-AUTH-{serial}",
        f"card:{serial}:auth",
        not_after,
        key_dir,
        issuer=_ISSUER_PREFIX[persona.chip] + "jpki-auth",
    )


def _build_card(
    persona: Persona, store: PinStateStore | None, key_dir: Path | None
) -> SimulatedCard:
    if persona.chip == "replay":
        from hardware_sim.personas import load_personas

        applications = _applications(load_personas()[persona.replays], key_dir, holder=persona)
    else:
        applications = _applications(persona, key_dir)
    initial = {
        PIN_TEXT: persona.text_tries,
        PIN_JPKI_AUTH: persona.jpki_auth_tries,
        PIN_JPKI_SIGN: persona.jpki_sign_tries,
    }
    return SimulatedCard(persona.card_serial, applications, initial, store)


def _applications(
    persona: Persona, key_dir: Path | None, *, holder: Persona | None = None
) -> list[_Application]:
    """The applications of ``persona``'s card; ``holder`` (a replay chip) brings its own PINs
    and private keys, so every file is the persona's but no private key matches them."""
    holder = holder or persona
    serial = persona.card_serial
    text_key = pki.rsa_key(f"card:{serial}:text", key_dir)
    chip_key = pki.rsa_key(f"card:{serial}:text-challenge", key_dir)
    issuer_prefix = _ISSUER_PREFIX[persona.chip]
    expiry = datetime(
        persona.card_expiry_year,
        persona.birth_date.month,
        min(persona.birth_date.day, 28),
        tzinfo=UTC,
    )
    der = serialization.Encoding.DER

    ef1 = my_number_ef(persona.individual_number)
    ef2 = basic_four_ef(
        persona.name, persona.address, persona.birth_date.strftime("%Y%m%d"), persona.sex_code
    )
    key_id = b"S" + serial.encode("ascii")[:15].ljust(15, b"0")
    held_chip_key = pki.rsa_key(f"card:{holder.card_serial}:text-challenge", key_dir)
    text = _Application("text", AID_TEXT, default_key=_Key(held_chip_key))
    any_text = frozenset({PIN_TEXT, PIN_TEXT_A, PIN_TEXT_B})
    text.files = {
        0x0001: _Transparent(ef1, frozenset({PIN_TEXT, PIN_TEXT_A})),
        0x0002: _Transparent(ef2, frozenset({PIN_TEXT, PIN_TEXT_B})),
        0x0003: _Transparent(integrity_ef(ef1, ef2, text_key), any_text),
        0x0004: _Transparent(
            pki.card_verifiable_certificate(
                text_key.public_key(), key_id, key_dir, issuer=issuer_prefix + "text-cvc"
            )
        ),
        0x0005: _Transparent(
            tlv(
                0xFF40,
                tlv(0xDF41, b"\x00\x01\x00\x00")
                + tlv(0xDF42, key_id)
                + tlv(0xDF43, hashlib.sha512(key_id).digest() * 2),
            )
        ),
        0x0007: _Transparent(signed_key_ef(chip_key.public_key(), text_key), any_text),
        PIN_TEXT: _Pin(PIN_TEXT, holder.text_pin.encode("ascii"), 3, 4, 4),
        PIN_TEXT_BLOCKED: _Pin(PIN_TEXT_BLOCKED, None, 3, 4, 4),
        PIN_TEXT_A: _Pin(PIN_TEXT_A, holder.individual_number.encode("ascii"), 10, 12, 12),
        PIN_TEXT_B: _Pin(PIN_TEXT_B, holder.verification_number_b.encode("ascii"), 10, 14, 14),
    }

    has_sign = persona.jpki_sign_password is not None
    jpki = _Application("jpki", AID_JPKI, internal_auth_sw=0x6982)
    held_auth_key = pki.rsa_key(f"card:{holder.card_serial}:jpki-auth", key_dir)
    jpki.files = {
        0x0002: _Transparent(
            pki.ca_certificate(issuer_prefix + "jpki-sign", key_dir).public_bytes(der)
        ),
        0x0006: _Transparent(token_info_ef(serial)),
        0x0008: _Transparent(bytes([0x8F if has_sign else 0x00, 0x8F, 0x00])),
        0x000A: _Transparent(jpki_auth_certificate(persona, key_dir).public_bytes(der)),
        0x000B: _Transparent(
            pki.ca_certificate(issuer_prefix + "jpki-auth", key_dir).public_bytes(der)
        ),
        0x0017: _Key(held_auth_key, frozenset({PIN_JPKI_AUTH})),
        PIN_JPKI_AUTH: _Pin(PIN_JPKI_AUTH, holder.jpki_auth_pin.encode("ascii"), 3, 4, 4),
    }
    if persona.jpki_sign_password is not None and holder.jpki_sign_password is not None:
        sign_key = pki.rsa_key(f"card:{serial}:jpki-sign", key_dir)
        sign_cert = pki.card_certificate(
            "jpki-sign",
            sign_key.public_key(),
            persona.name,
            f"card:{serial}:sign",
            expiry,
            key_dir,
            issuer=issuer_prefix + "jpki-sign",
        )
        held_sign_key = pki.rsa_key(f"card:{holder.card_serial}:jpki-sign", key_dir)
        password = holder.jpki_sign_password.upper().encode("ascii")
        jpki.files[0x0001] = _Transparent(sign_cert.public_bytes(der), frozenset({PIN_JPKI_SIGN}))
        jpki.files[0x001A] = _Key(held_sign_key, frozenset({PIN_JPKI_SIGN}))
        jpki.files[PIN_JPKI_SIGN] = _Pin(PIN_JPKI_SIGN, password, 5, 6, 16)

    surface = _Application("surface", AID_SURFACE)
    surface.files = {
        0x0003: _Transparent(
            tlv(
                0xFF30,
                tlv(0xDF31, b"\x00\x01\x00\x00")
                + tlv(0xDF32, key_id)
                + tlv(0xDF33, b"\x01")
                + tlv(0xDF34, b"13101")
                + tlv(0xDF35, hashlib.sha256(key_id).digest()[:16] + bytes(256)),
            )
        ),
    }
    isd = _Application("isd", AID_ISD)
    return [isd, jpki, surface, text]
