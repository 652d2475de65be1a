"""The packaged personas cover the cases the kiosk must handle, with valid numbers."""

from __future__ import annotations

from datetime import date

import pytest

from hardware_sim.personas import (
    Persona,
    check_digit,
    is_valid_individual_number,
    japanese_era,
    load_personas,
    parse_personas,
)


def test_check_digit_matches_spec_examples() -> None:
    """The spec's verified numbers 537686677188 and 983205673214 pass; a changed digit fails."""
    assert is_valid_individual_number("537686677188")
    assert is_valid_individual_number("983205673214")
    assert not is_valid_individual_number("537686677187")
    assert check_digit("53768667718") == 8


def test_every_persona_number_has_a_valid_check_digit(personas: dict[str, Persona]) -> None:
    """All individual numbers in personas.toml are 12 digits with the right check digit."""
    assert all(is_valid_individual_number(p.individual_number) for p in personas.values())


def test_bad_check_digit_is_rejected_when_loading() -> None:
    """parse_personas refuses a persona whose number fails the check digit."""
    bad = """[x]
name = "x"
address = "y"
birth_date = 1980-01-01
sex_code = "1"
individual_number = "537686677187"
text_pin = "1234"
jpki_auth_pin = "1234"
jpki_sign_password = "ABCDEF"
card_expiry_year = 2030
security_code = "0000"
"""
    with pytest.raises(ValueError, match="check digit"):
        parse_personas(bad)


def test_coverage_of_the_required_cases(personas: dict[str, Persona]) -> None:
    """At least 10 personas with all sex codes, all eras, long address, odd characters."""
    assert len(personas) >= 10
    assert {p.sex_code for p in personas.values()} >= {"1", "2", "9"}
    assert {japanese_era(p.birth_date)[0] for p in personas.values()} >= {
        "明治",
        "大正",
        "昭和",
        "平成",
        "令和",
    }
    names = "".join(p.name for p in personas.values())
    assert "髙" in names and "﨑" in names and "𠮷" in names
    assert any(p.name.isascii() and p.foreign_resident for p in personas.values())
    assert any(len(p.address.encode()) > 240 for p in personas.values())
    assert {p.text_tries for p in personas.values()} >= {0, 1, 3}
    assert any(
        p.age_on(date(2025, 1, 1)) < 15 and p.jpki_sign_password is None for p in personas.values()
    )


def test_yamada_is_the_demo_default(personas: dict[str, Persona]) -> None:
    """yamada is an ordinary adult with PIN 1234, 3 tries and a U+3000 separated name."""
    yamada = personas["yamada"]
    assert yamada.text_pin == "1234" and yamada.text_tries == 3
    assert "\u3000" in yamada.name and yamada.jpki_sign_password


def test_passwords_and_pins_follow_card_rules(personas: dict[str, Persona]) -> None:
    """4-digit PINs, 6-16 char [A-Z0-9] signature passwords, 4-digit security codes."""
    for p in personas.values():
        assert len(p.text_pin) == 4 and p.text_pin.isdigit()
        assert len(p.jpki_auth_pin) == 4 and p.jpki_auth_pin.isdigit()
        assert len(p.security_code) == 4 and p.security_code.isdigit()
        if p.jpki_sign_password is not None:
            assert 6 <= len(p.jpki_sign_password) <= 16
            assert all(c.isdigit() or "A" <= c <= "Z" for c in p.jpki_sign_password)
        assert len(p.verification_number_b) == 14


def test_era_year_in_verification_number_b() -> None:
    """The spec example 1980-02-17 (昭和55), expiry 2035, code 2285 gives 55021720352285."""
    assert japanese_era(date(1980, 2, 17)) == ("昭和", 55)
    persona = load_personas()["yamada"]
    custom = Persona(
        **{**persona.__dict__, "birth_date": date(1980, 2, 17), "security_code": "2285"}
    )
    assert custom.verification_number_b == "55021720352285"


def test_card_serials_are_unique(personas: dict[str, Persona]) -> None:
    """Every persona's card has its own 15-digit serial (the PIN store key)."""
    serials = [p.card_serial for p in personas.values()]
    assert len(set(serials)) == len(serials)
    assert all(len(s) == 15 and s.isdigit() for s in serials)


def test_coverage_of_the_genuine_card_checks(personas: dict[str, Persona]) -> None:
    """Personas cover every chip kind and JPKI certificate state, a replay of yamada, and a
    resident (yoshida) whose JPKI authentication PIN differs from the Text AP PIN."""
    assert {p.chip for p in personas.values()} == {
        "genuine",
        "replay",
        "forged",
        "forged_trusted_names",
    }
    assert {p.jpki_auth_certificate for p in personas.values()} == {"valid", "expired", "revoked"}
    assert personas["yamada_replay"].replays == "yamada"
    assert personas["yoshida"].jpki_auth_pin != personas["yoshida"].text_pin


_BASE = """[base]
name = "x"
address = "y"
birth_date = 1980-01-01
sex_code = "1"
individual_number = "537686677188"
text_pin = "1234"
jpki_auth_pin = "1234"
jpki_sign_password = "ABCDEF"
card_expiry_year = 2030
security_code = "0000"
"""


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ('chip = "cloned"', "chip must be"),
        ('jpki_auth_certificate = "stale"', "jpki_auth_certificate must be"),
        ('chip = "replay"', "replays names"),
        ('replays = "base"', "replays names"),
        ('chip = "replay"\nreplays = "nobody"', "replays must name a genuine"),
    ],
)
def test_chip_fields_are_validated(extra: str, message: str) -> None:
    """Unknown chip kinds or certificate states, and a replay without a genuine source,
    are refused when loading."""
    with pytest.raises(ValueError, match=message):
        parse_personas(_BASE + _BASE.replace("[base]", "[other]") + extra + "\n")
