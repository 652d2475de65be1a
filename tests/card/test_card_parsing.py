"""Unit tests of the reader's own BER-TLV, APDU and record parsing, on hand-built bytes."""

from __future__ import annotations

from datetime import date

import pytest

from cardreader import apdu, mynumber, tlv
from cardreader.errors import (
    MalformedCard,
    NotMyNumberCard,
    PinLocked,
    WrongPin,
)
from cardreader.model import Sex


def _tlv(tag: int, value: bytes) -> bytes:
    tag_bytes = tag.to_bytes((tag.bit_length() + 7) // 8, "big")
    n = len(value)
    if n < 0x80:
        length = bytes([n])
    elif n < 0x100:
        length = bytes([0x81, n])
    else:
        length = bytes([0x82, n >> 8, n & 0xFF])
    return tag_bytes + length + value


def _basic_four(name: str, address: str, birth: bytes, sex: bytes, *, skew: int = 0) -> bytes:
    items = [
        _tlv(0xDF22, name.encode()),
        _tlv(0xDF23, address.encode()),
        _tlv(0xDF24, birth),
        _tlv(0xDF25, sex),
    ]
    table_len = 11  # DF21 08 + 8 bytes
    body_len = table_len + sum(map(len, items))
    header = len(_tlv(0xFF20, bytes(body_len))) - body_len
    offsets, pos = [], header + table_len
    for item in items:
        offsets.append(pos + skew)
        pos += len(item)
    table = _tlv(0xDF21, b"".join(o.to_bytes(2, "big") for o in offsets))
    return _tlv(0xFF20, table + b"".join(items))


SPEC_SAMPLE = _basic_four("黒桐　幹也", "東京都清瀬市観布子南１２－７－２０２", b"19800217", b"1")


def test_spec_sample_offsets_match_the_spec() -> None:
    """The spec's EF 0002 sample (§2.4) has offsets 0E 20 59 64 and decodes to its values."""
    assert SPEC_SAMPLE[:14].hex() == "ff2065df2108000e002000590064"
    basic = mynumber.parse_basic_four(SPEC_SAMPLE)
    assert (basic.name, basic.address) == ("黒桐　幹也", "東京都清瀬市観布子南１２－７－２０２")
    assert (basic.birth_date, basic.sex) == (date(1980, 2, 17), Sex.MALE)
    assert basic.digest_source == SPEC_SAMPLE[14:]


@pytest.mark.parametrize("length", [130, 300])
def test_long_form_lengths_decode(length: int) -> None:
    """Records whose outer length needs 81 xx or 82 xx xx decode."""
    address = "あ" * (length // 3)
    raw = _basic_four("山田　太郎", address, b"19850401", b"2")
    assert raw[2] in (0x81, 0x82)
    assert mynumber.parse_basic_four(raw).address == address


@pytest.mark.parametrize(
    "raw",
    [
        _basic_four("山田　太郎", "東京", b"19850401", b"1", skew=1),
        _basic_four("山田　太郎", "東京", b"19850231", b"1"),
        _basic_four("山田　太郎", "東京", b"1985041", b"1"),
        _basic_four("山田　太郎", "東京", b"19850401", b"12"),
        SPEC_SAMPLE[:-1],
        SPEC_SAMPLE.replace(b"\xdf\x22", b"\xdf\x26"),
        b"\xff\x20\x80" + SPEC_SAMPLE[3:],
        b"\xff\x20\x81\x05" + SPEC_SAMPLE[3:],
        b"\xff\x30" + SPEC_SAMPLE[2:],
    ],
    ids=[
        "offset-skew",
        "bad-date",
        "short-date",
        "long-sex",
        "truncated",
        "missing-tag",
        "indefinite-length",
        "non-minimal-length",
        "wrong-outer-tag",
    ],
)
def test_malformed_basic_four_is_rejected(raw: bytes) -> None:
    """Bad offsets, dates, lengths or tags in EF 0002 raise MalformedCard."""
    with pytest.raises(MalformedCard):
        mynumber.parse_basic_four(raw)


def test_invalid_utf8_is_malformed() -> None:
    """A name that is not UTF-8 raises MalformedCard."""
    raw = SPEC_SAMPLE.replace("黒".encode(), b"\xff\xfe\xfd")
    with pytest.raises(MalformedCard):
        mynumber.parse_basic_four(raw)


@pytest.mark.parametrize(
    ("number", "valid"), [("537686677188", True), ("983205673214", True), ("537686677187", False)]
)
def test_individual_number_check_digit(number: str, valid: bool) -> None:
    """EF 0001 decodes when its check digit is right (spec §2.5) and is malformed otherwise."""
    raw = _tlv(0xFF10, number.encode()) + b"\xff\xff"
    if valid:
        assert mynumber.parse_individual_number(raw) == number
    else:
        with pytest.raises(MalformedCard):
            mynumber.parse_individual_number(raw)


def test_builders_produce_the_spec_bytes() -> None:
    """SELECT, READ BINARY and VERIFY are built exactly as in spec §7."""
    assert apdu.select_application(mynumber.TEXT_AP_AID).hex() == "00a4040c0ad3921000310001010408"
    assert apdu.select_file(0x0011).hex() == "00a4020c020011"
    assert apdu.query_pin_tries().hex() == "00200080"
    assert apdu.verify_pin(b"1234").hex() == "002000800431323334"
    assert apdu.read_binary(0, 256).hex() == "00b0000000"
    assert apdu.read_binary(256, 0x50).hex() == "00b0010050"


@pytest.mark.parametrize(
    ("raw", "error"),
    [
        (b"\x63\xc2", WrongPin),
        (b"\x63\xc0", PinLocked),
        (b"\x69\x84", PinLocked),
        (b"\x6a\x82", MalformedCard),
        (b"\x6d\x00", MalformedCard),
    ],
)
def test_status_words_map_in_one_place(raw: bytes, error: type[Exception]) -> None:
    """Response.expect maps VERIFY status words to the PIN errors and the rest to MalformedCard."""
    with pytest.raises(error):
        apdu.Response.parse(raw).expect(pin=True)


def test_not_found_meaning_is_chosen_by_the_caller() -> None:
    """6A82 means whatever the caller says (here: not a My Number card)."""
    with pytest.raises(NotMyNumberCard):
        apdu.Response.parse(b"\x6a\x82").expect(not_found=NotMyNumberCard)
    assert apdu.Response.parse(b"\x01\x90\x00").expect() == b"\x01"
    assert apdu.Response.parse(b"\x63\xc3").tries_left() == 3


def test_tlv_value_may_not_run_past_its_container() -> None:
    """A child whose length overruns the parent's value is malformed."""
    raw = bytes.fromhex("ff2004df220501")
    with pytest.raises(MalformedCard):
        tlv.parse_children(raw, tlv.parse_one(raw))


class _ScriptedTransport:
    """Answers each command with the next scripted response and records the commands."""

    def __init__(self, *responses: bytes) -> None:
        self.responses = list(responses)
        self.commands: list[bytes] = []

    def transmit(self, command: bytes) -> bytes:
        self.commands.append(command)
        return self.responses.pop(0)

    def close(self) -> None:
        self.responses.clear()


def test_exchange_follows_6cxx_and_61xx() -> None:
    """6Cxx resends with the card's Le; 61xx fetches the rest with GET RESPONSE."""
    wrong_le = _ScriptedTransport(b"\x6c\x11", b"\x01" * 17 + b"\x90\x00")
    assert apdu.exchange(wrong_le, apdu.read_binary(0, 256)).data == b"\x01" * 17
    assert wrong_le.commands[1] == bytes.fromhex("00b0000011")
    chained = _ScriptedTransport(b"\xaa\x61\x02", b"\xbb\xcc\x90\x00")
    response = apdu.exchange(chained, apdu.read_binary(0, 3))
    assert (response.data, response.sw) == (b"\xaa\xbb\xcc", 0x9000)
    assert chained.commands[1] == bytes.fromhex("00c0000002")


def _key_objects(n: int, e: int = 65537) -> bytes:
    return _tlv(0x90, e.to_bytes(3, "big")) + _tlv(0x91, n.to_bytes(256, "big"))


N1 = (1 << 2047) + 0x1234567  # shaped like an RSA-2048 modulus (odd, top bit set)
N2 = (1 << 2047) + 0x7654321


def test_cvc_parses_with_and_without_its_signature() -> None:
    """EF 0004 read to the end of the body has no signature; read whole it has 5F37; ids,
    body and key come out either way."""
    body = b"I" * 16 + b"S" * 16 + _key_objects(N1)
    cvc = _tlv(0x7F21, _tlv(0x5F4E, body) + _tlv(0x5F37, b"\x5a" * 256))
    assert len(cvc) == 568
    whole = mynumber.parse_certificate(cvc)
    assert (whole.issuer_id, whole.subject_id, whole.body) == (b"I" * 16, b"S" * 16, body)
    assert whole.signature == b"\x5a" * 256 and whole.key.public_numbers().n == N1
    head = mynumber.parse_certificate(cvc[:307])
    assert head.signature is None and head.body == body


@pytest.mark.parametrize("cut", [308, 400, 567])
def test_cvc_cut_inside_its_signature_is_malformed(cut: int) -> None:
    """A CVC read past its body but not to its end is MalformedCard, not a missing signature."""
    body = b"I" * 16 + b"S" * 16 + _key_objects(N1)
    cvc = _tlv(0x7F21, _tlv(0x5F4E, body) + _tlv(0x5F37, b"\x5a" * 256))
    with pytest.raises(MalformedCard):
        mynumber.parse_certificate(cvc[:cut])


def test_signed_chip_key_layout() -> None:
    """EF 0007 gives the DF51 key, the whole DF51 TLV as the signed bytes, and DF52."""
    df51 = _tlv(0xDF51, _key_objects(N2))
    raw = _tlv(0xFF50, df51 + _tlv(0xDF52, b"\xa5" * 256))
    assert len(raw) == 536 and raw[:5].hex() == "ff50820213"
    signed = mynumber.parse_signed_chip_key(raw)
    assert signed.key.public_numbers().n == N2 and signed.signed == df51
    assert signed.signature == b"\xa5" * 256


@pytest.mark.parametrize(
    "raw",
    [
        _tlv(0xFF50, _tlv(0xDF51, _key_objects(N2))),
        _tlv(0xFF51, _tlv(0xDF51, _key_objects(N2)) + _tlv(0xDF52, b"\x00" * 256)),
        _tlv(
            0xFF50,
            _tlv(0xDF51, _tlv(0x90, b"\x01\x00\x01") + _tlv(0x91, b"\xff" * 128))
            + _tlv(0xDF52, b"\x00" * 256),
        ),
    ],
    ids=["no-df52", "wrong-tag", "short-key"],
)
def test_malformed_signed_chip_key(raw: bytes) -> None:
    """EF 0007 without DF52, with another tag or with a short key is MalformedCard."""
    with pytest.raises(MalformedCard):
        mynumber.parse_signed_chip_key(raw)
