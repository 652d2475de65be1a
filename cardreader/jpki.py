"""The JPKI check on the My Number card's JPKI AP (公的個人認証AP), with the resident's consent.

The user-authentication PIN (IEF 0018, 4 digits, 3 tries) is a PIN of its own: many residents
set it to the same digits as the Text AP PIN, some do not, and the kiosk never sends one
application's PIN to the other. It is a separate argument everywhere, checked for format
before anything is sent, and the PIN-safety rule holds for it as for the Text AP PIN: the
free tries query before every VERIFY, no VERIFY on the last try.

APDUs of the check (after the Text AP part of the same card session), about 11:

  1. SELECT JPKI AP                  leaves the Text AP (its security status is cleared).
  2. SELECT EF 000A                  the user-authentication certificate (free to read).
  3. READ BINARY 0, Le=00, ...       the DER certificate, 256 bytes a READ (the 4-byte
                                     ``30 82 LL LL`` header in the first says how many).
     The certificate is checked against the trust anchors now; when it cannot verify
     (unknown issuer, bad signature, expired, revoked) the PIN is not sent at all.
  4. SELECT EF 0018, VERIFY (no data)  the free tries query; 0 -> JpkiPinLocked,
                                     1 -> JpkiPinWouldLock, nothing sent.
  5. VERIFY PIN                      opens the authentication key.
  6. SELECT EF 0017, 80 2A 00 80 <DigestInfo> 00
                                     the key signs our fresh challenge (spec 4.3, the
                                     myna/OpenSC form with an explicit SELECT; the P2 ``97``
                                     form would save the SELECT but only one implementation
                                     uses it).
"""

from __future__ import annotations

import re
from datetime import datetime

from cardreader import genuine
from cardreader.apdu import (
    JPKI_AUTH_PIN,
    SW_FILE_NOT_FOUND,
    SW_OK,
    compute_signature,
    exchange,
    query_pin_tries,
    read_binary,
    select_application,
    select_file,
    verify_pin,
)
from cardreader.errors import JpkiBadPinFormat, JpkiPinLocked, JpkiPinWouldLock, MalformedCard
from cardreader.model import Genuine
from cardreader.transport import CardTransport
from cardreader.trust import CardTrust

JPKI_AP_AID = bytes.fromhex("D392F000260100000001")
EF_AUTH_CERTIFICATE = 0x000A
AUTH_PIN_IEF = 0x0018
AUTH_KEY = 0x0017

_PIN_FORMAT = re.compile(r"[0-9]{4}")
# A DER certificate's header: 30 82 LL LL (spec 4.2); anything else is not what we want.
_DER_HEADER = 4
_MAX_CERTIFICATE = 0x7FFF


def check_pin_format(pin: str) -> None:
    """Raise :class:`JpkiBadPinFormat` unless ``pin`` is exactly four ASCII digits."""
    if not isinstance(pin, str) or _PIN_FORMAT.fullmatch(pin) is None:
        raise JpkiBadPinFormat()


def pin_tries_left(transport: CardTransport) -> int:
    """Remaining tries of the JPKI authentication PIN (the free query; never uses a try).

    Raises :class:`MalformedCard` when the card has no JPKI AP or no such PIN.
    """
    exchange(transport, select_application(JPKI_AP_AID)).expect()
    exchange(transport, select_file(AUTH_PIN_IEF)).expect()
    return exchange(transport, query_pin_tries()).tries_left(JPKI_AUTH_PIN)


def authenticate(transport: CardTransport, pin: str, trust: CardTrust, now: datetime) -> Genuine:
    """Make the JPKI check in the current card session; return the JPKI chain's result.

    Raises :class:`JpkiBadPinFormat` (before any APDU), :class:`JpkiPinLocked`,
    :class:`JpkiPinWouldLock` (PIN not sent), :class:`JpkiWrongPin`, :class:`MalformedCard`
    or what the transport raises. The PIN is not kept.
    """
    check_pin_format(pin)
    if exchange(transport, select_application(JPKI_AP_AID)).sw != SW_OK:
        return Genuine.CHAIN_INVALID
    result, certificate = genuine.check_jpki_certificate(_read_certificate(transport), trust, now)
    if certificate is None:
        return result
    exchange(transport, select_file(AUTH_PIN_IEF)).expect()
    tries = exchange(transport, query_pin_tries()).tries_left(JPKI_AUTH_PIN)
    if tries == 0:
        raise JpkiPinLocked()
    if tries == 1:
        raise JpkiPinWouldLock()
    exchange(transport, verify_pin(pin.encode("ascii"))).expect(pin=JPKI_AUTH_PIN)
    exchange(transport, select_file(AUTH_KEY)).expect()
    challenge = genuine.new_challenge()
    answer = exchange(transport, compute_signature(genuine.digest_info(challenge), key_p2=0x80))
    signature = answer.data if answer.sw == SW_OK else None
    return genuine.check_jpki_signature(certificate, challenge, signature)


def _read_certificate(transport: CardTransport) -> bytes | None:
    """EF 000A's DER certificate, or ``None`` when the card has none (6A82)."""
    selected = exchange(transport, select_file(EF_AUTH_CERTIFICATE))
    if selected.sw == SW_FILE_NOT_FOUND:
        return None
    selected.expect()
    data = exchange(transport, read_binary(0, 256)).expect()
    if len(data) < _DER_HEADER or data[0] != 0x30 or data[1] != 0x82:
        raise MalformedCard("EF 000A is not a DER certificate")
    total = _DER_HEADER + int.from_bytes(data[2:4], "big")
    if total > _MAX_CERTIFICATE:
        raise MalformedCard("EF 000A claims too many bytes")
    while len(data) < total:
        chunk = exchange(transport, read_binary(len(data), min(256, total - len(data)))).expect()
        if not chunk:
            raise MalformedCard("EF 000A ended early")
        data += chunk
    return data[:total]
