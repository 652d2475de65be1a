"""The procedure catalog: the shipped file, broken files, field validation and fees."""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

import pytest

from kiosk.catalog import LANGUAGES, CatalogError, ValidationFailed, load_catalog
from kiosk.config import load_settings
from ui.words import field_messages

TODAY = date(2026, 4, 1)


def test_shipped_catalog_has_the_ward_procedures_and_fees() -> None:
    """The default catalog lists every procedure of domain.md with its ordinance fee."""
    catalog = load_catalog()
    fees = {p.code: p.fee_yen for p in catalog.procedures}
    assert fees == {
        "juminhyo": 300,
        "juminhyo_kisai": 300,
        "inkan": 300,
        "tax_certificate": 300,
        "koseki": 450,
        "joseki": 750,
        "mibun": 300,
        "tenkyo": 0,
        "tenshutsu": 0,
        "inkan_toroku": 0,  # seal registration: at the counter only
    }
    assert [p.code for p in catalog.procedures if p.counter_only] == ["inkan_toroku"]
    for p in catalog.procedures:
        assert set(p.names) == set(LANGUAGES)
        assert all(set(f.label) == set(LANGUAGES) for f in p.fields)
    assert catalog.procedure("tenshutsu").needs_individual_number
    assert not catalog.procedure("juminhyo").needs_individual_number
    assert catalog.procedure("koseki").field_spec("honseki").required


def test_settings_name_a_ward_catalog(tmp_path: Path) -> None:
    """KIOSK_CATALOG reaches Settings.catalog, which load_catalog accepts as a path."""
    own = tmp_path / "ward.toml"
    own.write_text(load_catalog().source and Path(load_catalog().source).read_text())
    _copy_town_list(tmp_path)
    settings = load_settings(environ={"KIOSK_CATALOG": str(own)})
    assert load_catalog(settings.catalog).source == str(own)


def _copy_town_list(folder: Path) -> None:
    """A catalog names its town list relative to itself: copies travel with theirs."""
    shutil.copy(load_catalog().ward.towns_source, folder)


def _broken(tmp_path: Path, old: str, new: str) -> Path:
    text = Path(load_catalog().source).read_text()
    assert old in text
    path = tmp_path / "broken.toml"
    path.write_text(text.replace(old, new, 1))
    _copy_town_list(tmp_path)
    return path


def _line_of(path: Path, needle: str) -> int:
    return next(n for n, line in enumerate(path.read_text().splitlines(), 1) if needle in line)


def test_toml_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    """A TOML syntax error fails loading with the file and the offending line."""
    path = _broken(tmp_path, "fee_yen = 450", "fee_yen = = 450")
    with pytest.raises(CatalogError) as info:
        load_catalog(path)
    assert info.value.path == str(path)
    assert info.value.line == _line_of(path, "fee_yen = = 450")
    assert str(info.value).startswith(f"{path}:{info.value.line}: ")


@pytest.mark.parametrize(
    ("old", "new", "key", "reason"),
    [
        ("fee_yen = 750", "fee_yen = -750", "fee_yen", "fee_yen must be >= 0"),
        ('queue = "tax"', 'queue = "taxes"', "queue", "unknown queue 'taxes'"),
        ("fee_yen = 450", 'fee_yen = "450"', "fee_yen", "whole number"),
        ('unit = "fiscal_year_copy"', 'unit = "per_year"', "unit", "unit must be one of"),
        (
            'max = 10\ndefault = 1\nlabel = { ja = "各年度',
            'max = 0\ndefault = 1\nlabel = { ja = "各年度',
            "min",
            "min is greater than max",
        ),
    ],
)
def test_semantic_errors_name_file_line_and_reason(
    tmp_path: Path, old: str, new: str, key: str, reason: str
) -> None:
    """Wrong values fail at start-up with the line of the offending key and the reason."""
    path = _broken(tmp_path, old, new)
    with pytest.raises(CatalogError) as info:
        load_catalog(path)
    assert reason in info.value.reason
    line = path.read_text().splitlines()[info.value.line - 1]
    assert line.split("=")[0].strip() == key
    if key != "min":  # the min > max error points at min, the line above the edit
        assert line.strip() == new.split("\n")[0]


def test_missing_language_is_an_error(tmp_path: Path) -> None:
    """Every name and label must exist in ja, en, zh-Hans and ko."""
    path = _broken(tmp_path, ', ko = "1번 창구" }', " }")
    with pytest.raises(CatalogError, match="lacks the language"):
        load_catalog(path)


def test_unreadable_file_is_a_catalog_error(tmp_path: Path) -> None:
    """A missing file is reported as a CatalogError naming it, not a bare OSError."""
    with pytest.raises(CatalogError, match="cannot read"):
        load_catalog(tmp_path / "nope.toml")


def test_fee_arithmetic() -> None:
    """Fee is unit fee times units: copies, or fiscal years times copies; 0 when free."""
    catalog = load_catalog()
    jumin = catalog.procedure("juminhyo")
    assert jumin.fee(jumin.validate_fields({"copies": 3}, today=TODAY)) == 900
    tax = catalog.procedure("tax_certificate")
    values = tax.validate_fields({"fiscal_years": [2024, 2025], "copies": "2"}, today=TODAY)
    assert tax.units(values) == 4
    assert tax.fee(values) == 1200
    joseki = catalog.procedure("joseki")
    values = joseki.validate_fields({"honseki": "東京都", "hittousha": "山田"}, today=TODAY)
    assert joseki.fee(values) == 750
    tenkyo = catalog.procedure("tenkyo")
    values = tenkyo.validate_fields(
        {
            "new_address": {"town": "霞が関", "chome": 1, "ban": 1, "go": 1},
            "moving_date": "2026-03-31",
        },
        today=TODAY,
    )
    assert tenkyo.fee(values) == 0 and tenkyo.is_fee_free


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        ("ja", "通数は1から10の間で入力してください。"),
        ("en", "Copies must be between 1 and 10."),
        ("zh-Hans", "份数必须在1到10之间。"),
        ("ko", "매수은(는) 1에서 10 사이로 입력해 주세요."),
    ],
)
def test_validation_messages_in_resident_language(language: str, expected: str) -> None:
    """An out-of-range copy count is explained in the resident's language."""
    spec = load_catalog().procedure("juminhyo")
    with pytest.raises(ValidationFailed) as info:
        spec.validate_fields({"copies": 11}, language, today=TODAY)
    assert field_messages(info.value) == {"copies": expected}


def test_validation_rejects_bad_values_all_at_once() -> None:
    """Every bad field is reported together: required, choice, date, fiscal years, length."""
    catalog = load_catalog()
    with pytest.raises(ValidationFailed) as info:
        catalog.procedure("koseki").validate_fields(
            {"kind": "partial", "hittousha": "x" * 61}, "en", today=TODAY
        )
    codes = {e.field: e.code for e in info.value.errors}
    assert codes == {"kind": "not_a_choice", "honseki": "required", "hittousha": "too_long"}
    with pytest.raises(ValidationFailed) as info:
        catalog.procedure("tax_certificate").validate_fields(
            {"fiscal_years": [2019], "copies": 0}, "ja", today=TODAY
        )
    codes = {e.field: e.code for e in info.value.errors}
    assert codes == {"fiscal_years": "bad_fiscal_year", "copies": "out_of_range"}
    with pytest.raises(ValidationFailed) as info:
        catalog.procedure("tenkyo").validate_fields(
            {
                "new_address": {"town": "丸の内", "chome": 1, "ban": 9, "go": 1},
                "moving_date": "2026-02-30",
            },
            "ja",
            today=TODAY,
        )
    assert [e.code for e in info.value.errors] == ["not_a_date"]


def test_card_fields_cannot_be_given_by_the_resident() -> None:
    """Name, address and the other card fields are read-only, in every language."""
    spec = load_catalog().procedure("juminhyo")
    with pytest.raises(ValidationFailed) as info:
        spec.validate_fields({"address": "somewhere else"}, "en", today=TODAY)
    assert field_messages(info.value) == {
        "address": "Address was read from the card and cannot be changed."
    }


def test_full_width_digits_are_accepted() -> None:
    """Copies typed with full-width digits (３) count as numbers."""
    spec = load_catalog().procedure("juminhyo")
    assert spec.validate_fields({"copies": "３"}, today=TODAY)["copies"] == 3


@pytest.mark.parametrize(
    "text",
    [
        "\u202e003",  # right-to-left override: the A4 form would print "300" backwards
        "a\u2066b\u2069",  # isolates
        "a\u200fb",  # right-to-left mark
        "a\udfffb",  # a lone surrogate (JSON "\udfff"): not storable as UTF-8
        "a\x00b",
        "a\nb",  # the fields are single lines
        "a\tb",
        "a\x85b",  # C1 control
    ],
)
def test_free_text_refuses_control_bidi_and_surrogate_characters(text: str) -> None:
    """A procedure's free text with a control, bidi-control or surrogate character is
    refused with invalid_text in the resident's language, never normalised into a case."""
    spec = load_catalog().procedure("juminhyo")
    with pytest.raises(ValidationFailed) as info:
        spec.validate_fields({"purpose": text}, "en", today=TODAY)
    assert field_messages(info.value) == {
        "purpose": "Purpose contains characters that cannot be used."
    }


@pytest.mark.parametrize("value", [["就職"], {"a": 1}, 5, True])
def test_free_text_must_be_text(value: object) -> None:
    """A list, an object, a number or true where free text is expected is refused, not
    turned into its Python spelling."""
    spec = load_catalog().procedure("juminhyo")
    with pytest.raises(ValidationFailed) as info:
        spec.validate_fields({"purpose": value}, "ja", today=TODAY)
    assert field_messages(info.value) == {"purpose": "使用目的は文字で入力してください。"}


def test_free_text_keeps_japanese_and_characters_outside_the_bmp() -> None:
    """Ordinary Japanese, full-width forms, 𠮷 and spaces inside the text are kept (ends
    trimmed)."""
    spec = load_catalog().procedure("juminhyo")
    text = "𠮷田家の 就職　（ＡＢＣ社）"
    assert spec.validate_fields({"purpose": f"  {text} "}, today=TODAY)["purpose"] == text


def test_a_date_must_be_written_as_text() -> None:
    """A number where a date is expected is refused (20261120 is not taken as a day)."""
    spec = load_catalog().procedure("tenshutsu")
    with pytest.raises(ValidationFailed) as info:
        spec.validate_fields(
            {"destination_address": "大阪府大阪市北区1-1", "moving_date": 20261120},
            "en",
            today=TODAY,
        )
    assert [e.code for e in info.value.errors] == ["not_a_date"]
