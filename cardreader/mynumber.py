"""Card operations on the My Number card's Text AP (券面事項入力補助AP).

Identification is by SELECT of the Text AP's AID (spec §6: never by ATR). Reading follows the
PIN-safety rule of the product: the PIN format is checked before anything is sent, the card
is asked for its remaining tries before every VERIFY, and no VERIFY is sent when only one try
is left, so the kiosk can never be what locks a card.

APDUs of a basic-four read (``read_card(t, pin)``), 12 in all, and why each is needed:

  1. SELECT Text AP              identifies a My Number card (6A82 -> NotMyNumberCard) and is
                                 the DF that holds every file below.
  2. SELECT EF 0011 (PIN IEF)    VERIFY and the tries query use P2=80 "current EF"; the SFI
                                 form (P2=91) would save this but is unconfirmed on real cards.
  3. VERIFY (no data)            the free tries query, required before every VERIFY.
  4. VERIFY PIN                  opens EF 0002 / 0003 (and 0001).
  5. SELECT EF 0002              basic four.
  6. READ BINARY 0, Le=00        up to 256 bytes: the whole record in one go for any ordinary
                                 address; a longer record costs one READ per further 256 bytes
                                 (the BER header in the first chunk says how many).
  7. SELECT EF 0003              integrity record (DF31, DF32, DF33 signature).
  8. READ BINARY 0, Le=00        bytes 0..255 of the 336-byte record.
  9. READ BINARY 256, Le=80      the rest (a short READ returns at most 256 bytes).
 10. SELECT EF 0004              the CVC holding the public key that DF33 verifies under.
 11. READ BINARY 0, Le=00        CVC bytes 0..255.
 12. READ BINARY 256, Le=33      up to the end of the CVC body (the RSA modulus ends at byte
                                 307). The CVC's own signature (5F37, the last 261 bytes) is not
                                 read: its issuer key is a J-LIS CA key that is not on the card,
                                 so it could not be checked anyway (spec §5.1).
With ``with_number`` two more: SELECT EF 0001 and READ BINARY 0, Le=11 (its 17 physical bytes,
which is what DF31 hashes). Files are read by explicit SELECT, not by SFI READ BINARY, because
SFI reads are unconfirmed on real cards (spec §6).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from cardreader import tlv
from cardreader.apdu import (
    MAX_OFFSET,
    MAX_SHORT_LE,
    exchange,
    query_pin_tries,
    read_binary,
    select_application,
    select_file,
    verify_pin,
)
from cardreader.errors import (
    BadPinFormat,
    MalformedCard,
    NotMyNumberCard,
    PinLocked,
    PinWouldLock,
)
from cardreader.model import CardInfo, Integrity, Sex
from cardreader.transport import CardTransport

TEXT_AP_AID = bytes.fromhex("D3921000310001010408")
PIN_IEF = 0x0011
EF_INDIVIDUAL_NUMBER = 0x0001
EF_BASIC_FOUR = 0x0002
EF_INTEGRITY = 0x0003
EF_CERTIFICATE = 0x0004

INDIVIDUAL_NUMBER_PHYSICAL_SIZE = 17

_PIN_FORMAT = re.compile(r"[0-9]{4}")
_TAG_NUMBER, _TAG_BASIC, _TAG_INTEGRITY = 0xFF10, 0xFF20, 0xFF30
_TAG_OFFSETS, _TAG_NAME, _TAG_ADDRESS, _TAG_BIRTH, _TAG_SEX = 0xDF21, 0xDF22, 0xDF23, 0xDF24, 0xDF25
_TAG_DIGEST_NUMBER, _TAG_DIGEST_BASIC, _TAG_SIGNATURE = 0xDF31, 0xDF32, 0xDF33
_TAG_CVC, _TAG_CVC_BODY, _TAG_EXPONENT, _TAG_MODULUS = 0x7F21, 0x5F4E, 0x90, 0x91
_CVC_KEY_IDS = 32
_CHECK_WEIGHTS = (6, 5, 4, 3, 2, 7, 6, 5, 4, 3, 2)


def identify(transport: CardTransport) -> None:
    """Select the Text AP; raise :class:`NotMyNumberCard` when the card has none."""
    exchange(transport, select_application(TEXT_AP_AID)).expect(
        not_found=NotMyNumberCard, otherwise=NotMyNumberCard
    )


def pin_tries_left(transport: CardTransport) -> int:
    """Remaining tries of the Text AP PIN, asked with the free query (never uses a try)."""
    identify(transport)
    exchange(transport, select_file(PIN_IEF)).expect()
    return exchange(transport, query_pin_tries()).tries_left()


def read_card(transport: CardTransport, pin: str, *, with_number: bool = False) -> CardInfo:
    """Verify ``pin`` and read the basic four items (and the number only when asked).

    Raises :class:`BadPinFormat` before any APDU, :class:`NotMyNumberCard`,
    :class:`PinLocked`, :class:`PinWouldLock` (one try left: the PIN is not sent),
    :class:`WrongPin`, :class:`MalformedCard`, or whatever the transport raises. Nothing is
    returned unless every read and check succeeded. The PIN is not kept anywhere.
    """
    pin_bytes = _pin_bytes(pin)
    identify(transport)
    _verify(transport, pin_bytes)
    del pin_bytes
    number_raw = None
    if with_number:
        exchange(transport, select_file(EF_INDIVIDUAL_NUMBER)).expect()
        number_raw = exchange(transport, read_binary(0, INDIVIDUAL_NUMBER_PHYSICAL_SIZE)).expect()
    basic_raw = _read_ef(transport, EF_BASIC_FOUR, _tlv_extent)
    integrity_raw = _read_ef(transport, EF_INTEGRITY, _tlv_extent)
    cvc_raw = _read_ef(transport, EF_CERTIFICATE, _cvc_body_extent)

    basic = parse_basic_four(basic_raw)
    number = parse_individual_number(number_raw) if number_raw is not None else None
    record = parse_integrity_record(integrity_raw)
    key = parse_certificate_key(cvc_raw)
    integrity = check_integrity(key, record, basic.digest_source, number_raw)
    family, _, given = basic.name.partition("\u3000")
    return CardInfo(
        family_name=family,
        given_name=given,
        address=basic.address,
        birth_date=basic.birth_date,
        sex=basic.sex,
        integrity=integrity,
        individual_number=number,
    )


def check_pin_format(pin: str) -> None:
    """Raise :class:`BadPinFormat` unless ``pin`` is exactly four ASCII digits."""
    # fullmatch, not ^...$: "$" would accept a trailing newline.
    if not isinstance(pin, str) or _PIN_FORMAT.fullmatch(pin) is None:
        raise BadPinFormat()


def _pin_bytes(pin: str) -> bytes:
    check_pin_format(pin)
    return pin.encode("ascii")


def _verify(transport: CardTransport, pin: bytes) -> None:
    exchange(transport, select_file(PIN_IEF)).expect()
    # The product rule: ask before every VERIFY, never spend the last try.
    tries = exchange(transport, query_pin_tries()).tries_left()
    if tries == 0:
        raise PinLocked()
    if tries == 1:
        raise PinWouldLock()
    exchange(transport, verify_pin(pin)).expect(pin=True)


def _read_ef(transport: CardTransport, fid: int, extent: Callable[[bytes], int]) -> bytes:
    """Read the first ``extent(first_chunk)`` bytes of EF ``fid`` in as few READs as possible."""
    exchange(transport, select_file(fid)).expect()
    # Le=00 asks for 256; a card returns what is left when the file is shorter (JICSAP 6.4.1),
    # so a small file costs one READ and the header in it tells how much more to fetch.
    data = exchange(transport, read_binary(0, MAX_SHORT_LE)).expect()
    total = extent(data)
    if total > MAX_OFFSET + 1:
        raise MalformedCard(f"EF {fid:04X} claims {total} bytes")
    while len(data) < total:
        chunk = exchange(
            transport, read_binary(len(data), min(MAX_SHORT_LE, total - len(data)))
        ).expect()
        if not chunk:
            raise MalformedCard(f"EF {fid:04X} ended early")
        data += chunk
    return data[:total]


def _tlv_extent(head: bytes) -> int:
    _, value_start, length = tlv.parse_header(head)
    return value_start + length


def _cvc_body_extent(head: bytes) -> int:
    tag, value_start, _ = tlv.parse_header(head)
    if tag != _TAG_CVC:
        raise MalformedCard("EF 0004 is not a CVC")
    _, body_start, body_length = tlv.parse_header(head, value_start)
    return body_start + body_length


@dataclass(frozen=True, repr=False)
class BasicFour:
    """EF 0002 decoded, plus the bytes DF32 hashes."""

    name: str
    address: str
    birth_date: date
    sex: Sex
    digest_source: bytes


@dataclass(frozen=True, repr=False)
class IntegrityRecord:
    """EF 0003 split into its digests, the signed bytes and the signature."""

    number_digest: bytes
    basic_digest: bytes
    signed: bytes
    signature: bytes


def parse_basic_four(raw: bytes) -> BasicFour:
    """Decode EF 0002 (spec §2.4); the DF21 offset table must agree with the parsed layout."""
    outer = tlv.parse_one(raw, 0)
    if outer.tag != _TAG_BASIC:
        raise MalformedCard("EF 0002 is not an FF20 record")
    items = tlv.children_by_tag(
        raw, outer, (_TAG_OFFSETS, _TAG_NAME, _TAG_ADDRESS, _TAG_BIRTH, _TAG_SEX)
    )
    table = items[_TAG_OFFSETS]
    if table.start != outer.value_start:
        raise MalformedCard("DF21 is not the first item of EF 0002")
    offsets = table.value(raw)
    if len(offsets) != 8:
        raise MalformedCard("DF21 is not four offsets")
    for i, tag in enumerate((_TAG_NAME, _TAG_ADDRESS, _TAG_BIRTH, _TAG_SEX)):
        if int.from_bytes(offsets[2 * i : 2 * i + 2], "big") != items[tag].start:
            raise MalformedCard(f"DF21 offset of {tag:X} disagrees with the record")
    try:
        name = items[_TAG_NAME].value(raw).decode("utf-8")
        address = items[_TAG_ADDRESS].value(raw).decode("utf-8")
    except UnicodeDecodeError as e:
        raise MalformedCard("name or address is not UTF-8") from e
    if not name:
        raise MalformedCard("empty name")
    sex_code = items[_TAG_SEX].value(raw)
    if len(sex_code) != 1 or not sex_code.isascii():
        raise MalformedCard("DF25 is not one character")
    return BasicFour(
        name=name,
        address=address,
        birth_date=_parse_birth_date(items[_TAG_BIRTH].value(raw)),
        sex=Sex.from_card_code(sex_code.decode("ascii")),
        # DF32 covers the record's value after the offset table (spec §2.4).
        digest_source=raw[table.end : outer.end],
    )


def _parse_birth_date(value: bytes) -> date:
    if len(value) != 8 or not value.isdigit():
        raise MalformedCard("birth date is not YYYYMMDD")
    try:
        return date(int(value[:4]), int(value[4:6]), int(value[6:]))
    except ValueError as e:
        raise MalformedCard("birth date is not a calendar date") from e


def check_digit(first_eleven: str) -> int:
    """The check digit of an individual number from its first 11 digits (spec §2.5)."""
    if len(first_eleven) != 11 or not (first_eleven.isascii() and first_eleven.isdigit()):
        raise ValueError("need 11 ASCII digits")
    remainder = sum(int(d) * w for d, w in zip(first_eleven, _CHECK_WEIGHTS, strict=True)) % 11
    return 0 if remainder <= 1 else 11 - remainder


def parse_individual_number(raw: bytes) -> str:
    """Decode EF 0001's ``FF10 0C <12 digits>`` and check the check digit."""
    item = tlv.parse_one(raw, 0)
    digits = item.value(raw)
    if item.tag != _TAG_NUMBER or len(digits) != 12 or not digits.isdigit():
        raise MalformedCard("EF 0001 is not a 12-digit number")
    number = digits.decode("ascii")
    if check_digit(number[:11]) != int(number[11]):
        raise MalformedCard("individual number fails its check digit")
    return number


def parse_integrity_record(raw: bytes) -> IntegrityRecord:
    """Split EF 0003 (spec §5.1); DF33 signs every byte of the value before it."""
    outer = tlv.parse_one(raw, 0)
    if outer.tag != _TAG_INTEGRITY:
        raise MalformedCard("EF 0003 is not an FF30 record")
    items = tlv.children_by_tag(raw, outer, (_TAG_DIGEST_NUMBER, _TAG_DIGEST_BASIC, _TAG_SIGNATURE))
    signature = items[_TAG_SIGNATURE]
    if any(items[t].end > signature.start for t in (_TAG_DIGEST_NUMBER, _TAG_DIGEST_BASIC)):
        raise MalformedCard("DF33 does not follow the digests")
    number_digest = items[_TAG_DIGEST_NUMBER].value(raw)
    basic_digest = items[_TAG_DIGEST_BASIC].value(raw)
    if len(number_digest) != 32 or len(basic_digest) != 32:
        raise MalformedCard("integrity digests are not SHA-256")
    return IntegrityRecord(
        number_digest=number_digest,
        basic_digest=basic_digest,
        signed=raw[outer.value_start : signature.start],
        signature=signature.value(raw),
    )


def parse_certificate_key(raw: bytes) -> rsa.RSAPublicKey:
    """The RSA key in the body of EF 0004's CVC (``raw`` may stop at the end of the body)."""
    tag, value_start, length = tlv.parse_header(raw)
    if tag != _TAG_CVC:
        raise MalformedCard("EF 0004 is not a CVC")
    body = tlv.parse_one(raw, value_start, min(len(raw), value_start + length))
    if body.tag != _TAG_CVC_BODY or body.length < _CVC_KEY_IDS:
        raise MalformedCard("CVC has no body")
    # The body is two 16-byte key ids and then the key objects.
    key_part = tlv.Tlv(body.tag, body.start, body.value_start + _CVC_KEY_IDS, body.end)
    items = tlv.children_by_tag(raw, key_part, (_TAG_EXPONENT, _TAG_MODULUS))
    exponent = int.from_bytes(items[_TAG_EXPONENT].value(raw), "big")
    modulus_bytes = items[_TAG_MODULUS].value(raw)
    if len(modulus_bytes) != 256:
        raise MalformedCard("CVC key is not RSA-2048")
    try:
        return rsa.RSAPublicNumbers(exponent, int.from_bytes(modulus_bytes, "big")).public_key()
    except ValueError as e:
        raise MalformedCard("CVC key is not a valid RSA key") from e


def check_integrity(
    key: rsa.RSAPublicKey,
    record: IntegrityRecord,
    basic_digest_source: bytes,
    number_raw: bytes | None,
) -> Integrity:
    """Check DF33 under the CVC key, then DF32 and (only when EF 0001 was read) DF31.

    The signature comes first: a record whose signature fails says nothing about the digests.
    """
    try:
        key.verify(record.signature, record.signed, padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature:
        return Integrity.SIGNATURE_INVALID
    if hashlib.sha256(basic_digest_source).digest() != record.basic_digest:
        return Integrity.DIGEST_MISMATCH
    if number_raw is not None and hashlib.sha256(number_raw).digest() != record.number_digest:
        return Integrity.DIGEST_MISMATCH
    return Integrity.VERIFIED
