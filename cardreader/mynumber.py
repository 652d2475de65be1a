"""Card operations on the My Number card's Text AP (券面事項入力補助AP).

Identification is by SELECT of the Text AP's AID (spec §6: never by ATR). Reading follows the
PIN-safety rule of the product: the PIN format is checked before anything is sent, the card
is asked for its remaining tries before every VERIFY, and no VERIFY is sent when only one try
is left, so the kiosk can never be what locks a card.

APDUs of a basic-four read without the genuine-card checks (``checks=CardChecksWanted.none()``),
12 in all, and why each is needed:

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
                                 307). The CVC's own signature (5F37, the last 261 bytes) is
                                 read only for the card chain (below): its issuer key is a J-LIS
                                 key that is not on the card, so without configured keys it
                                 could not be checked anyway (spec §5.1).
With ``with_number`` two more: SELECT EF 0001 and READ BINARY 0, Le=11 (its 17 physical bytes,
which is what DF31 hashes). Files are read by explicit SELECT, not by SFI READ BINARY, because
SFI reads are unconfirmed on real cards (spec §6).

The genuine-card checks (``checks``, see :mod:`cardreader.genuine` for what each proves) add,
in the same card session:

 chip (internal authentication, 5 APDUs; on by default):
 13. SELECT EF 0007              the challenge key DF51 and DF52 (536 bytes; opened by the PIN).
 14. READ BINARY 0, Le=00        bytes 0..255.
 15. READ BINARY 256, Le=00      bytes 256..511.
 16. READ BINARY 512, Le=18      the rest. DF52 is needed, not only DF51: without it a chip
                                 could present a key of its own choosing.
 17. 80 2A 00 00 33 <DigestInfo> 00   the chip signs our challenge (no GET CHALLENGE: the
                                 challenge is ours, see genuine.py).
 card chain (1 APDU, only with CVC keys configured): READ 12 then continues to the CVC's end
 (Le=00 instead of 33) and a READ 512, Le=38 brings the 5F37 signature.
 JPKI (about 11 APDUs, only with trust anchors configured and the JPKI PIN given): see
 :mod:`cardreader.jpki`.

Fewer APDUs for the chip check would need SFI READ BINARY or an extended Le, both
UNCONFIRMED on real cards (spec §6), or skipping DF52, which would let a forger's chip pass.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from cardreader import genuine, jpki, tlv
from cardreader.apdu import (
    MAX_OFFSET,
    MAX_SHORT_LE,
    SW_OK,
    compute_signature,
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
from cardreader.genuine import CardCertificate, SignedChipKey
from cardreader.model import (
    DEFAULT_CHECKS,
    CardChecks,
    CardChecksWanted,
    CardInfo,
    Genuine,
    Integrity,
    Sex,
)
from cardreader.transport import CardTransport
from cardreader.trust import NO_TRUST, CardTrust

TEXT_AP_AID = bytes.fromhex("D3921000310001010408")
PIN_IEF = 0x0011
EF_INDIVIDUAL_NUMBER = 0x0001
EF_BASIC_FOUR = 0x0002
EF_INTEGRITY = 0x0003
EF_CERTIFICATE = 0x0004
EF_SIGNED_KEY = 0x0007

INDIVIDUAL_NUMBER_PHYSICAL_SIZE = 17

_PIN_FORMAT = re.compile(r"[0-9]{4}")
_TAG_NUMBER, _TAG_BASIC, _TAG_INTEGRITY = 0xFF10, 0xFF20, 0xFF30
_TAG_OFFSETS, _TAG_NAME, _TAG_ADDRESS, _TAG_BIRTH, _TAG_SEX = 0xDF21, 0xDF22, 0xDF23, 0xDF24, 0xDF25
_TAG_DIGEST_NUMBER, _TAG_DIGEST_BASIC, _TAG_SIGNATURE = 0xDF31, 0xDF32, 0xDF33
_TAG_CVC, _TAG_CVC_BODY, _TAG_CVC_SIGNATURE = 0x7F21, 0x5F4E, 0x5F37
_TAG_EXPONENT, _TAG_MODULUS = 0x90, 0x91
_TAG_SIGNED_KEY, _TAG_CHIP_KEY, _TAG_CHIP_KEY_SIGNATURE = 0xFF50, 0xDF51, 0xDF52
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


def read_card(
    transport: CardTransport,
    pin: str,
    *,
    with_number: bool = False,
    checks: CardChecksWanted = DEFAULT_CHECKS,
    trust: CardTrust = NO_TRUST,
    jpki_pin: str | None = None,
    now: datetime | None = None,
) -> CardInfo:
    """Verify ``pin`` and read the basic four items (and the number only when asked).

    ``checks`` picks the genuine-card checks; a chain is checked only when ``trust`` has its
    anchors, and the JPKI chain only with ``jpki_pin`` (the JPKI authentication PIN: a
    separate PIN, never sent to the Text AP; giving it without ``checks.jpki`` is a
    programming error, ``ValueError``). ``now`` is the time certificates are checked at.

    Raises :class:`BadPinFormat` / :class:`JpkiBadPinFormat` before any APDU,
    :class:`NotMyNumberCard`, :class:`PinLocked`, :class:`PinWouldLock` (one try left: the
    PIN is not sent), :class:`WrongPin`, the JPKI counterparts of these three,
    :class:`MalformedCard`, or whatever the transport raises. Nothing is returned unless
    every read succeeded (a failed check is a result, not an error). No PIN is kept.
    """
    pin_bytes = _pin_bytes(pin)
    if jpki_pin is not None:
        if not checks.jpki:
            raise ValueError("a JPKI PIN was given for a read that makes no JPKI check")
        jpki.check_pin_format(jpki_pin)
    card_chain_made = checks.card_chain and bool(trust.cvc_keys)
    chip_made = checks.chip or card_chain_made
    jpki_configured = checks.jpki and bool(trust.jpki_anchors)

    identify(transport)
    _verify(transport, pin_bytes)
    del pin_bytes
    number_raw = None
    if with_number:
        exchange(transport, select_file(EF_INDIVIDUAL_NUMBER)).expect()
        number_raw = exchange(transport, read_binary(0, INDIVIDUAL_NUMBER_PHYSICAL_SIZE)).expect()
    basic_raw = _read_ef(transport, EF_BASIC_FOUR, _tlv_extent)
    integrity_raw = _read_ef(transport, EF_INTEGRITY, _tlv_extent)
    cvc_raw = _read_ef(
        transport, EF_CERTIFICATE, _tlv_extent if card_chain_made else _cvc_body_extent
    )
    chip_key: SignedChipKey | None = None
    challenge = genuine.new_challenge()
    chip_signature: bytes | None = None
    if chip_made:
        chip_key, chip_signature = _authenticate_chip(transport, challenge)
    jpki_chain: Genuine | None = None
    if jpki_configured:
        jpki_chain = Genuine.NOT_CHECKED
        if jpki_pin is not None:
            jpki_chain = jpki.authenticate(transport, jpki_pin, trust, now or datetime.now(UTC))

    basic = parse_basic_four(basic_raw)
    number = parse_individual_number(number_raw) if number_raw is not None else None
    record = parse_integrity_record(integrity_raw)
    certificate = parse_certificate(cvc_raw)
    integrity = check_integrity(certificate.key, record, basic.digest_source, number_raw)
    chip_authenticated = chip_made and genuine.check_chip(
        certificate.key, chip_key, challenge, chip_signature
    )
    card_chain = (
        genuine.check_card_chain(certificate, chip_authenticated, trust)
        if card_chain_made
        else None
    )
    family, _, given = basic.name.partition("\u3000")
    return CardInfo(
        family_name=family,
        given_name=given,
        address=basic.address,
        birth_date=basic.birth_date,
        sex=basic.sex,
        integrity=integrity,
        individual_number=number,
        checks=CardChecks(
            chip_checked=chip_made,
            chip_authenticated=chip_authenticated,
            card_chain=card_chain or Genuine.NOT_CHECKED,
            jpki_chain=jpki_chain or Genuine.NOT_CHECKED,
            genuine=genuine.overall(card_chain, jpki_chain),
        ),
    )


def _authenticate_chip(
    transport: CardTransport, challenge: bytes
) -> tuple[SignedChipKey | None, bytes | None]:
    """Read EF 0007 and have the chip sign ``challenge``; ``None`` for what it would not give.

    A chip that lacks EF 0007 or refuses to sign is not authenticated; that is a result of
    the check, not a malformed card (the transport's errors still propagate).
    """
    try:
        chip_key = parse_signed_chip_key(_read_ef(transport, EF_SIGNED_KEY, _tlv_extent))
    except MalformedCard:
        chip_key = None
    answer = exchange(transport, compute_signature(genuine.digest_info(challenge), key_p2=0x00))
    return chip_key, answer.data if answer.sw == SW_OK else None


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


def parse_certificate(raw: bytes) -> CardCertificate:
    """EF 0004's CVC: ids, key and body; the 5F37 signature when ``raw`` reaches it.

    ``raw`` may stop at the end of the body (a read that makes no card chain check).
    """
    tag, value_start, length = tlv.parse_header(raw)
    if tag != _TAG_CVC:
        raise MalformedCard("EF 0004 is not a CVC")
    end = min(len(raw), value_start + length)
    body = tlv.parse_one(raw, value_start, end)
    if body.tag != _TAG_CVC_BODY or body.length < _CVC_KEY_IDS:
        raise MalformedCard("CVC has no body")
    # The body is two 16-byte key ids and then the key objects.
    key_part = tlv.Tlv(body.tag, body.start, body.value_start + _CVC_KEY_IDS, body.end)
    signature = None
    if end > body.end:
        if end < value_start + length:
            raise MalformedCard("CVC ends early")
        item = tlv.parse_one(raw, body.end, end)
        if item.tag != _TAG_CVC_SIGNATURE or item.end != end:
            raise MalformedCard("CVC signature is not where it belongs")
        signature = item.value(raw)
    ids = raw[body.value_start : body.value_start + _CVC_KEY_IDS]
    return CardCertificate(
        issuer_id=ids[:16],
        subject_id=ids[16:],
        key=_rsa_key(raw, key_part, "CVC key"),
        body=body.value(raw),
        signature=signature,
    )


def parse_certificate_key(raw: bytes) -> rsa.RSAPublicKey:
    """The RSA key in the body of EF 0004's CVC (``raw`` may stop at the end of the body)."""
    return parse_certificate(raw).key


def parse_signed_chip_key(raw: bytes) -> SignedChipKey:
    """EF 0007 (spec 5.2): ``FF50 { DF51 <90/91 key>, DF52 <signature over the DF51 TLV> }``."""
    outer = tlv.parse_one(raw, 0)
    if outer.tag != _TAG_SIGNED_KEY:
        raise MalformedCard("EF 0007 is not an FF50 record")
    items = tlv.children_by_tag(raw, outer, (_TAG_CHIP_KEY, _TAG_CHIP_KEY_SIGNATURE))
    chip_key = items[_TAG_CHIP_KEY]
    return SignedChipKey(
        key=_rsa_key(raw, chip_key, "DF51"),
        signed=raw[chip_key.start : chip_key.end],
        signature=items[_TAG_CHIP_KEY_SIGNATURE].value(raw),
    )


def _rsa_key(raw: bytes, container: tlv.Tlv, what: str) -> rsa.RSAPublicKey:
    """The RSA-2048 key in the ``90`` (exponent) / ``91`` (modulus) objects of ``container``."""
    items = tlv.children_by_tag(raw, container, (_TAG_EXPONENT, _TAG_MODULUS))
    exponent = int.from_bytes(items[_TAG_EXPONENT].value(raw), "big")
    modulus_bytes = items[_TAG_MODULUS].value(raw)
    if len(modulus_bytes) != 256:
        raise MalformedCard(f"{what} is not RSA-2048")
    try:
        return rsa.RSAPublicNumbers(exponent, int.from_bytes(modulus_bytes, "big")).public_key()
    except ValueError as e:
        raise MalformedCard(f"{what} is not a valid RSA key") from e


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
