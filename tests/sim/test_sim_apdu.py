"""Status words of the simulated card (spec section 8), one behaviour per test."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from hardware_sim.card import ATR, SimulatedCard
from tests.sim.apdu import (
    JPKI_AID,
    SURFACE_AID,
    TEXT_AID,
    apdu,
    select_aid,
    select_ef,
    sw,
    verify,
)


def test_atr_is_the_real_contact_atr_with_valid_tck(yamada: SimulatedCard) -> None:
    """reset() returns 3B E0 00 FF 81 31 FE 45 14 whose T0..TCK XOR is zero (T=1 rule)."""
    assert yamada.reset() == ATR == bytes.fromhex("3BE000FF8131FE4514")
    check = 0
    for b in ATR[1:]:
        check ^= b
    assert check == 0


def test_select_known_aids(yamada: SimulatedCard) -> None:
    """The Text, JPKI, Surface and GP ISD applications are selectable with 90 00."""
    for aid in (TEXT_AID, JPKI_AID, SURFACE_AID, "A0000001510000"):
        assert sw(select_aid(yamada, aid)) == "9000"


def test_select_unknown_aid_is_6a82(yamada: SimulatedCard) -> None:
    """An AID no application has answers 6A82."""
    assert sw(select_aid(yamada, "D3921000310001019999")) == "6A82"


def test_select_by_prefix_lands_on_first_matching_application(yamada: SimulatedCard) -> None:
    """A partial DF name selects the first application it prefixes (JPKI for D392F0)."""
    assert sw(select_aid(yamada, "D392F000")) == "9000"
    select_ef(yamada, 0x0006)
    assert apdu(yamada, "00B0000010")[:15] == b"JPKIAPICCTOKEN2"


def test_select_with_fci_returns_a_6f_template(yamada: SimulatedCard) -> None:
    """SELECT with P2=00 answers a minimal 6F template carrying the AID."""
    r = apdu(yamada, f"00A404000A{TEXT_AID}00")
    assert sw(r) == "9000"
    assert r[:-2] == bytes.fromhex("6F0C840A" + TEXT_AID)


def test_select_ef_not_in_current_df_is_6a82(yamada: SimulatedCard) -> None:
    """EF ids the current DF lacks (2F10, 3F00, 000A in the Text AP) answer 6A82."""
    select_aid(yamada, TEXT_AID)
    for fid in (0x2F10, 0x3F00, 0x000A):
        assert sw(select_ef(yamada, fid)) == "6A82"


def test_select_mf_after_reset_is_6a86_and_noop_inside_an_ap(yamada: SimulatedCard) -> None:
    """00 A4 00 00 is refused in the power-on state and a no-op once an AP is current."""
    assert sw(apdu(yamada, "00A40000")) == "6A86"
    select_aid(yamada, JPKI_AID)
    assert sw(apdu(yamada, "00A40000")) == "9000"
    assert sw(select_ef(yamada, 0x0006)) == "9000"


def test_select_bad_p1_or_p2_is_6a86(yamada: SimulatedCard) -> None:
    """SELECT with an unsupported P1 or P2 answers 6A86."""
    assert sw(apdu(yamada, f"00A404040A{TEXT_AID}")) == "6A86"
    assert sw(apdu(yamada, "00A4080C023F00")) == "6A86"


def test_read_protected_ef_before_verify_is_6982(yamada: SimulatedCard) -> None:
    """Text EF 0001, 0002 and 0003 refuse READ BINARY until a credential is verified."""
    select_aid(yamada, TEXT_AID)
    for fid in (0x0001, 0x0002, 0x0003):
        select_ef(yamada, fid)
        assert sw(apdu(yamada, "00B0000011")) == "6982"


def test_read_without_current_ef_is_6986(yamada: SimulatedCard) -> None:
    """READ BINARY right after selecting an AP (no current EF) answers 6986."""
    select_aid(yamada, TEXT_AID)
    assert sw(apdu(yamada, "00B0000001")) == "6986"


def test_read_binary_on_an_ief_is_6981(yamada: SimulatedCard) -> None:
    """READ BINARY of a PIN IEF or key EF answers 6981."""
    select_aid(yamada, TEXT_AID)
    select_ef(yamada, 0x0011)
    assert sw(apdu(yamada, "00B0000004")) == "6981"
    select_aid(yamada, JPKI_AID)
    select_ef(yamada, 0x0017)
    assert sw(apdu(yamada, "00B0000004")) == "6981"


def test_read_offset_past_end_is_6b00(yamada: SimulatedCard) -> None:
    """Reading at or beyond the end of an EF answers 6B00."""
    select_aid(yamada, JPKI_AID)
    select_ef(yamada, 0x0008)
    assert sw(apdu(yamada, "00B0000301")) == "6B00"
    assert sw(apdu(yamada, "00B0010001")) == "6B00"


def test_read_le_beyond_remaining_returns_the_rest(yamada: SimulatedCard) -> None:
    """Le larger than what remains returns the remaining bytes with 9000."""
    select_aid(yamada, JPKI_AID)
    select_ef(yamada, 0x0008)
    assert apdu(yamada, "00B0000110") == bytes.fromhex("8F00 9000")


def test_le_00_means_256(yamada: SimulatedCard) -> None:
    """A short Le of 00 reads 256 bytes."""
    select_aid(yamada, TEXT_AID)
    select_ef(yamada, 0x0004)
    r = apdu(yamada, "00B0000000")
    assert sw(r) == "9000" and len(r) == 258


def test_read_binary_by_sfi(yamada: SimulatedCard) -> None:
    """READ BINARY with P1 = 80|SFI reads that EF without a SELECT."""
    select_aid(yamada, JPKI_AID)
    assert apdu(yamada, "00B0880003") == bytes.fromhex("8F8F00 9000")


def test_wrong_pin_counts_down_then_63c0_then_6984(yamada: SimulatedCard) -> None:
    """Wrong PINs answer 63C2, 63C1, 63C0; afterwards every VERIFY (even right) is 6984."""
    select_aid(yamada, TEXT_AID)
    select_ef(yamada, 0x0011)
    assert [sw(verify(yamada, "0000")) for _ in range(3)] == ["63C2", "63C1", "63C0"]
    assert sw(verify(yamada, "0000")) == "6984"
    assert sw(verify(yamada, "1234")) == "6984"
    assert sw(apdu(yamada, "00200080")) == "63C0"


def test_query_is_free(yamada: SimulatedCard) -> None:
    """00 20 00 80 without data answers 63Cx and does not consume a try."""
    select_aid(yamada, TEXT_AID)
    select_ef(yamada, 0x0011)
    assert [sw(apdu(yamada, "00200080")) for _ in range(5)] == ["63C3"] * 5
    assert yamada.tries_left(0x0011) == 3


def test_correct_verify_resets_the_counter(yamada: SimulatedCard) -> None:
    """A right PIN after a wrong one answers 9000 and restores the maximum tries."""
    select_aid(yamada, TEXT_AID)
    select_ef(yamada, 0x0011)
    assert sw(verify(yamada, "9999")) == "63C2"
    assert sw(verify(yamada, "1234")) == "9000"
    assert sw(apdu(yamada, "00200080")) == "63C3"


def test_verify_by_sfi(yamada: SimulatedCard) -> None:
    """VERIFY with P2 = 80|SFI (0x91 for IEF 0011) works without selecting the IEF."""
    select_aid(yamada, TEXT_AID)
    assert sw(apdu(yamada, "00200091")) == "63C3"
    assert sw(apdu(yamada, "0020009104" + b"1234".hex())) == "9000"


def test_verify_wrong_length_is_6700_and_costs_nothing(yamada: SimulatedCard) -> None:
    """VERIFY data whose length does not fit the PIN answers 6700 without using a try."""
    select_aid(yamada, TEXT_AID)
    select_ef(yamada, 0x0011)
    assert sw(verify(yamada, "12345")) == "6700"
    assert sw(verify(yamada, "123")) == "6700"
    assert yamada.tries_left(0x0011) == 3


def test_verify_on_a_non_ief_is_6981_and_without_ef_6986(yamada: SimulatedCard) -> None:
    """VERIFY P2=80 needs a current IEF: 6986 with none, 6981 on a transparent EF."""
    select_aid(yamada, TEXT_AID)
    assert sw(verify(yamada, "1234")) == "6986"
    select_ef(yamada, 0x0004)
    assert sw(verify(yamada, "1234")) == "6981"


def test_blocked_key_reference_0012(yamada: SimulatedCard) -> None:
    """Text AP IEF 0012 is blocked on every card: query 63C0, VERIFY 6984."""
    select_aid(yamada, TEXT_AID)
    select_ef(yamada, 0x0012)
    assert sw(apdu(yamada, "00200080")) == "63C0"
    assert sw(verify(yamada, "1234")) == "6984"


def test_get_challenge_returns_random_bytes(yamada: SimulatedCard) -> None:
    """00 84 00 00 10 answers 16 fresh random bytes."""
    a, b = apdu(yamada, "0084000010"), apdu(yamada, "0084000010")
    assert sw(a) == sw(b) == "9000"
    assert len(a) == len(b) == 18 and a != b


def test_get_challenge_extended_le_is_6985(yamada: SimulatedCard) -> None:
    """GET CHALLENGE with an extended Le answers 6985."""
    assert sw(apdu(yamada, "0084000000 0010")) == "6985"


def test_unknown_ins_is_6d00(yamada: SimulatedCard) -> None:
    """An instruction the card does not know answers 6D00."""
    assert sw(apdu(yamada, "00CA00F800")) == "6D00"
    assert sw(apdu(yamada, "80A4040C00")) == "6D00"


@pytest.mark.parametrize("cla", ["A0", "FF", "10", "40"])
def test_unknown_cla_is_6e00(yamada: SimulatedCard, cla: str) -> None:
    """Classes other than 00 / 80 (and their channel/SM variants) answer 6E00."""
    assert sw(apdu(yamada, f"{cla}A4040C0A{TEXT_AID}")) == "6E00"


def test_logical_channel_is_6881(yamada: SimulatedCard) -> None:
    """Only logical channel 0 exists: CLA 01..03 answers 6881."""
    for cla in ("01", "02", "03"):
        assert sw(apdu(yamada, f"{cla}A4040C0A{TEXT_AID}")) == "6881"


def test_secure_messaging_cla(yamada: SimulatedCard) -> None:
    """CLA 08/0C: SELECT answers 6882, READ BINARY and VERIFY answer 69FC."""
    for cla in ("08", "0C"):
        assert sw(apdu(yamada, f"{cla}A4040C0A{TEXT_AID}")) == "6882"
        assert sw(apdu(yamada, f"{cla}B0000004")) == "69FC"
        assert sw(apdu(yamada, f"{cla}200080")) == "69FC"


def test_malformed_apdus_are_6700(yamada: SimulatedCard) -> None:
    """APDUs shorter than 4 bytes or with an Lc that does not match the body answer 6700."""
    for command in ("", "00", "00A4", "00A404", "00A4040C05D392"):
        assert sw(apdu(yamada, command)) == "6700"


def test_last_command_indicator_is_6700_on_a_physical_card(yamada: SimulatedCard) -> None:
    """80 FC 00 00 (an iPhone-token command) answers 6700."""
    assert sw(apdu(yamada, "80FC0000")) == "6700"


def test_read_binary_without_le_is_6700(yamada: SimulatedCard) -> None:
    """READ BINARY must carry an Le."""
    select_aid(yamada, JPKI_AID)
    select_ef(yamada, 0x0008)
    assert sw(apdu(yamada, "00B00000")) == "6700"


def test_internal_authenticate_is_refused(yamada: SimulatedCard) -> None:
    """00 88 answers 6982 in the JPKI AP and 6985 in the Text AP."""
    select_aid(yamada, JPKI_AID)
    assert sw(apdu(yamada, "0088000010" + "00" * 16 + "00")) == "6982"
    select_aid(yamada, TEXT_AID)
    assert sw(apdu(yamada, "0088000010" + "00" * 16 + "00")) == "6985"


def test_signature_bad_p1_is_6a86(yamada: SimulatedCard) -> None:
    """80 2A with P1 > 05 answers 6A86."""
    select_aid(yamada, JPKI_AID)
    select_ef(yamada, 0x0018)
    verify(yamada, "1234")
    select_ef(yamada, 0x0017)
    assert sw(apdu(yamada, "802A068020" + "00" * 32 + "00")) == "6A86"


def test_signature_without_pin_is_6982(yamada: SimulatedCard) -> None:
    """80 2A with the JPKI auth key before VERIFY of 0018 answers 6982."""
    select_aid(yamada, JPKI_AID)
    select_ef(yamada, 0x0017)
    assert sw(apdu(yamada, "802A008020" + "00" * 32 + "00")) == "6982"


def test_under_15_has_no_signature_certificate(
    make_card: Callable[[str], SimulatedCard],
) -> None:
    """A child's card: EF 0008 byte0 is 00 and selecting EF 0001 answers 6A82."""
    card = make_card("suzuki")
    select_aid(card, JPKI_AID)
    select_ef(card, 0x0008)
    assert apdu(card, "00B0000003") == bytes.fromhex("008F00 9000")
    assert sw(select_ef(card, 0x0001)) == "6A82"
    assert sw(select_ef(card, 0x000A)) == "9000"


DIGEST_INFO = "3031300D060960864801650304020105000420" + "AB" * 32


@pytest.mark.parametrize(
    ("command", "status"),
    [
        (f"802A000033{DIGEST_INFO}00", "9000"),
        (f"802A010033{DIGEST_INFO}00", "6A86"),
        (f"802A060033{DIGEST_INFO}00", "6A86"),
        (f"802A004033{DIGEST_INFO}00", "6A86"),
        (f"802A000033{DIGEST_INFO}", "6700"),
        (f"802A000033{DIGEST_INFO}10", "6700"),
        (f"802A000034{DIGEST_INFO}00", "6700"),
        ("802A0000F6" + "00" * 246 + "00", "6700"),
        (f"802A0000000033{DIGEST_INFO}0000", "6700"),
    ],
    ids=["ok", "p1-01", "p1-06", "p2-40", "no-le", "short-le", "lc-52-no-le", "too-long", "ext"],
)
def test_text_ap_signature_status_words(yamada: SimulatedCard, command: str, status: str) -> None:
    """80 2A in the Text AP: P1/P2 00 00 with Le 00 signs without a PIN; another P1 or P2
    answers 6A86, a missing or short Le, a bad Lc, too much data or extended length 6700."""
    select_aid(yamada, TEXT_AID)
    r = apdu(yamada, command)
    assert sw(r) == status
    assert len(r) == (258 if status == "9000" else 2)


def test_text_ap_signature_without_default_key_elsewhere(yamada: SimulatedCard) -> None:
    """The JPKI AP has no key of its own for P2 00: 80 2A 00 00 answers 6A86 there."""
    select_aid(yamada, JPKI_AID)
    assert sw(apdu(yamada, f"802A000033{DIGEST_INFO}00")) == "6A86"


def test_get_challenge_in_the_text_ap(yamada: SimulatedCard) -> None:
    """GET CHALLENGE in the Text AP answers Le bytes (00 = 256), bad P1/P2 6A86, no Le 6700."""
    select_aid(yamada, TEXT_AID)
    assert len(apdu(yamada, "0084000008")) == 10
    assert len(apdu(yamada, "0084000000")) == 258
    assert sw(apdu(yamada, "0084010010")) == "6A86"
    assert sw(apdu(yamada, "00840000")) == "6700"
