"""Byte layouts of the simulated card's files and the signatures over them (spec 2, 4, 5)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable

import pytest
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from hardware_sim import pki
from hardware_sim.card import SimulatedCard
from hardware_sim.personas import Persona
from tests.sim.apdu import (
    JPKI_AID,
    SURFACE_AID,
    TEXT_AID,
    apdu,
    read_all,
    select_aid,
    select_ef,
    sw,
    verify,
)

DIGEST_INFO_SHA256 = bytes.fromhex("3031300d060960864801650304020105000420")


def _read_text_ef(card: SimulatedCard, fid: int, pin: str = "1234") -> bytes:
    select_aid(card, TEXT_AID)
    select_ef(card, 0x0011)
    assert sw(verify(card, pin)) == "9000"
    select_ef(card, fid)
    return read_all(card)


def _length(data: bytes, at: int) -> tuple[int, int]:
    """Decode a BER length at ``at`` by hand: (value length, header bytes used)."""
    first = data[at]
    if first < 0x80:
        return first, 1
    count = first & 0x7F
    return int.from_bytes(data[at + 1 : at + 1 + count], "big"), 1 + count


def test_ef0001_is_17_bytes_with_filler(yamada: SimulatedCard, personas: dict) -> None:
    """EF 0001 is FF 10 0C + 12 ASCII digits + FF FF."""
    data = _read_text_ef(yamada, 0x0001)
    number = personas["yamada"].individual_number.encode()
    assert data == b"\xff\x10\x0c" + number + b"\xff\xff"
    assert len(data) == 17


@pytest.mark.parametrize(("key", "length_form"), [("yamada", 1), ("kobayashi", 2), ("watanabe", 3)])
def test_ef0002_offsets_and_length_forms(
    make_card: Callable[[str], SimulatedCard],
    personas: dict[str, Persona],
    key: str,
    length_form: int,
) -> None:
    """EF 0002's DF21 offsets point at DF22..DF25 for short, 81 xx and 82 xx xx lengths."""
    persona = personas[key]
    data = _read_text_ef(make_card(key), 0x0002, persona.text_pin)
    assert data[:2] == b"\xff\x20"
    outer, used = _length(data, 2)
    assert used == length_form
    assert len(data) == 2 + used + outer
    table_at = 2 + used
    assert data[table_at : table_at + 3] == b"\xdf\x21\x08"
    offsets = [
        int.from_bytes(data[table_at + 3 + 2 * i : table_at + 5 + 2 * i], "big") for i in range(4)
    ]
    expected = [
        persona.name.encode(),
        persona.address.encode(),
        persona.birth_date.strftime("%Y%m%d").encode(),
        persona.sex_code.encode(),
    ]
    for i, (offset, value) in enumerate(zip(offsets, expected, strict=True)):
        assert data[offset : offset + 2] == bytes([0xDF, 0x22 + i])
        length, n = _length(data, offset + 2)
        assert data[offset + 2 + n : offset + 2 + n + length] == value
    assert offsets[0] == table_at + 11


def test_ef0002_matches_the_spec_fixture_shape(yamada: SimulatedCard) -> None:
    """Name uses U+3000 between family and given name; sex and birth are ASCII."""
    data = _read_text_ef(yamada, 0x0002)
    assert "山田\u3000太郎".encode() in data
    assert b"\xdf\x24\x0819850401\xdf\x25\x011" in data


def test_non_bmp_and_old_style_kanji_survive_utf8(
    make_card: Callable[[str], SimulatedCard], personas: dict[str, Persona]
) -> None:
    """𠮷 (4-byte UTF-8), 髙 and 﨑 are stored as UTF-8 in DF22."""
    for key, char in (("yoshida", "𠮷"), ("takahashi", "髙"), ("yamazaki", "﨑")):
        data = _read_text_ef(make_card(key), 0x0002, personas[key].text_pin)
        assert char.encode("utf-8") in data


def test_ef0003_digests_and_signature_verify_against_ef0004(yamada: SimulatedCard) -> None:
    """EF 0003 (336 bytes) holds SHA-256 of EF0001/EF0002 and a signature by EF 0004's key."""
    ef1 = _read_text_ef(yamada, 0x0001)
    select_ef(yamada, 0x0002)
    ef2 = read_all(yamada)
    select_ef(yamada, 0x0003)
    ef3 = read_all(yamada)
    select_ef(yamada, 0x0004)
    ef4 = read_all(yamada)

    assert len(ef3) == 336 and ef3[:5] == bytes.fromhex("FF3082014B")
    assert ef3[5:8] == bytes.fromhex("DF3120") and ef3[8:40] == hashlib.sha256(ef1).digest()
    first = int.from_bytes(ef2[ef2.index(b"\xdf\x21\x08") + 3 :][:2], "big")
    assert ef3[40:43] == bytes.fromhex("DF3220")
    assert ef3[43:75] == hashlib.sha256(ef2[first:]).digest()
    assert ef3[75:80] == bytes.fromhex("DF33820100")

    assert len(ef4) == 568 and ef4[:5] == bytes.fromhex("7F21820233")
    assert ef4[5:10] == bytes.fromhex("5F4E820129")
    body = ef4[10:307]
    assert body[32:37] == bytes.fromhex("9003010001") and body[37:41] == bytes.fromhex("91820100")
    assert ef4[307:312] == bytes.fromhex("5F37820100")
    public = rsa.RSAPublicNumbers(
        int.from_bytes(body[34:37], "big"), int.from_bytes(body[41:297], "big")
    ).public_key()
    public.verify(ef3[80:336], ef3[5:75], padding.PKCS1v15(), hashes.SHA256())
    pki.ca_key("text-cvc").public_key().verify(
        ef4[312:568], body, padding.PKCS1v15(), hashes.SHA256()
    )


def test_ef0005_basic_info_is_free(yamada: SimulatedCard) -> None:
    """EF 0005 (FF40 with DF41/DF42/DF43) reads without a PIN."""
    select_aid(yamada, TEXT_AID)
    select_ef(yamada, 0x0005)
    data = read_all(yamada)
    assert data[:2] == b"\xff\x40"
    assert b"\xdf\x41\x04" in data and b"\xdf\x42\x10" in data and b"\xdf\x43\x81\x80" in data


def _public_key(key_objects: bytes) -> rsa.RSAPublicKey:
    """Decode ``90 03 <e> 91 82 01 00 <n>`` by hand (spec 5.1/5.2)."""
    assert key_objects[:2] == b"\x90\x03" and key_objects[5:9] == bytes.fromhex("91820100")
    return rsa.RSAPublicNumbers(
        int.from_bytes(key_objects[2:5], "big"), int.from_bytes(key_objects[9:265], "big")
    ).public_key()


def test_ef0007_signed_chip_key(yamada: SimulatedCard) -> None:
    """EF 0007 (536 bytes) is FF50 {DF51 key, DF52 signature over the DF51 TLV by EF 0004's
    key}, and the DF51 key is not the EF 0004 key (spec 5.2)."""
    ef7 = _read_text_ef(yamada, 0x0007)
    select_ef(yamada, 0x0004)
    ef4 = read_all(yamada)
    assert len(ef7) == 536 and ef7[:5] == bytes.fromhex("FF50820213")
    assert ef7[5:10] == bytes.fromhex("DF51820109")
    assert ef7[275:280] == bytes.fromhex("DF52820100")
    chip_key = _public_key(ef7[10:275])
    cvc_key = _public_key(ef4[42:307])
    assert chip_key.public_numbers() != cvc_key.public_numbers()
    cvc_key.verify(ef7[280:536], ef7[5:275], padding.PKCS1v15(), hashes.SHA256())


def test_ef0007_needs_a_credential(yamada: SimulatedCard) -> None:
    """EF 0007 refuses READ BINARY until the PIN (or a 照合番号) is verified."""
    select_aid(yamada, TEXT_AID)
    select_ef(yamada, 0x0007)
    assert sw(apdu(yamada, "00B0000001")) == "6982"


def test_text_ap_challenge_signature(yamada: SimulatedCard) -> None:
    """80 2A 00 00 in the Text AP signs a challenge DigestInfo with the DF51 key, without a
    credential, and not with the EF 0004 key (spec 5.2)."""
    ef7 = _read_text_ef(yamada, 0x0007)
    select_ef(yamada, 0x0004)
    ef4 = read_all(yamada)
    yamada.reset()
    select_aid(yamada, TEXT_AID)
    challenge = apdu(yamada, "0084000010")[:-2]
    digest = hashlib.sha256(challenge).digest()
    r = apdu(yamada, "802A000033" + (DIGEST_INFO_SHA256 + digest).hex() + "00")
    assert sw(r) == "9000" and len(r) == 258
    _public_key(ef7[10:275]).verify(r[:-2], challenge, padding.PKCS1v15(), hashes.SHA256())
    with pytest.raises(InvalidSignature):
        _public_key(ef4[42:307]).verify(r[:-2], challenge, padding.PKCS1v15(), hashes.SHA256())


def test_token_label_and_flags(yamada: SimulatedCard) -> None:
    """JPKI EF 0006 is 160 bytes labelled JPKIAPICCTOKEN2; EF 0008 is 8F 8F 00."""
    select_aid(yamada, JPKI_AID)
    select_ef(yamada, 0x0006)
    token = read_all(yamada)
    assert len(token) == 160 and token[:32] == b"JPKIAPICCTOKEN2".ljust(32, b" ")
    select_ef(yamada, 0x0008)
    assert read_all(yamada) == bytes.fromhex("8F8F00")


def test_auth_certificate_chains_to_its_ca(yamada: SimulatedCard) -> None:
    """EF 000A parses as X.509 and is signed by the CA certificate in EF 000B."""
    select_aid(yamada, JPKI_AID)
    select_ef(yamada, 0x000A)
    cert = x509.load_der_x509_certificate(read_all(yamada))
    select_ef(yamada, 0x000B)
    ca = x509.load_der_x509_certificate(read_all(yamada))
    cert.verify_directly_issued_by(ca)
    ca.verify_directly_issued_by(ca)


def test_auth_key_signs_digestinfo_after_pin(yamada: SimulatedCard) -> None:
    """80 2A 00 80 <DigestInfo> 00 with key 0017 after PIN 0018 verifies with cert 000A."""
    select_aid(yamada, JPKI_AID)
    select_ef(yamada, 0x000A)
    cert = x509.load_der_x509_certificate(read_all(yamada))
    select_ef(yamada, 0x0018)
    assert sw(verify(yamada, "1234")) == "9000"
    select_ef(yamada, 0x0017)
    message = b"kiosk login challenge"
    info = DIGEST_INFO_SHA256 + hashlib.sha256(message).digest()
    r = apdu(yamada, f"802A0080{len(info):02X}{info.hex()}00")
    assert sw(r) == "9000" and len(r) == 258
    public = cert.public_key()
    assert isinstance(public, rsa.RSAPublicKey)
    public.verify(r[:-2], message, padding.PKCS1v15(), hashes.SHA256())


def test_signature_certificate_needs_password(yamada: SimulatedCard) -> None:
    """EF 0001 in the JPKI AP reads only after password 001B and chains to EF 0002."""
    select_aid(yamada, JPKI_AID)
    select_ef(yamada, 0x0001)
    assert sw(apdu(yamada, "00B0000004")) == "6982"
    select_ef(yamada, 0x001B)
    assert sw(apdu(yamada, "00200080")) == "63C5"
    assert sw(verify(yamada, "YAMADA1234")) == "9000"
    select_ef(yamada, 0x0001)
    cert = x509.load_der_x509_certificate(read_all(yamada))
    select_ef(yamada, 0x0002)
    cert.verify_directly_issued_by(x509.load_der_x509_certificate(read_all(yamada)))


def test_surface_ap_basic_info_is_free(yamada: SimulatedCard) -> None:
    """Surface AP EF 0003 (FF30 basic info) reads without credentials."""
    select_aid(yamada, SURFACE_AID)
    select_ef(yamada, 0x0003)
    assert read_all(yamada)[:2] == b"\xff\x30"


def test_verification_number_a_opens_0001_not_0002(yamada: SimulatedCard, personas: dict) -> None:
    """照合番号A (IEF 0014) opens EF 0001 and 0003 but not 0002."""
    select_aid(yamada, TEXT_AID)
    select_ef(yamada, 0x0014)
    assert sw(verify(yamada, personas["yamada"].individual_number)) == "9000"
    for fid, expected in ((0x0001, "9000"), (0x0003, "9000"), (0x0002, "6982")):
        select_ef(yamada, fid)
        assert sw(apdu(yamada, "00B0000001")) == expected


def test_verification_number_b_opens_0002_not_0001(yamada: SimulatedCard, personas: dict) -> None:
    """照合番号B (IEF 0015, 14 digits) opens EF 0002 and 0003 but not 0001."""
    number_b = personas["yamada"].verification_number_b
    assert number_b == "600401" + "2035" + "1234"
    select_aid(yamada, TEXT_AID)
    select_ef(yamada, 0x0015)
    assert sw(verify(yamada, number_b)) == "9000"
    for fid, expected in ((0x0002, "9000"), (0x0003, "9000"), (0x0001, "6982")):
        select_ef(yamada, fid)
        assert sw(apdu(yamada, "00B0000001")) == expected
