"""Spoken forms of counters in the catalog (what the display board's voice says)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from kiosk.catalog import CatalogError, contains_kanji, load_catalog

SPOKEN_1 = 'spoken = { ja = "いちばん まどぐち" }'


def _catalog_with(tmp_path: Path, old: str, new: str) -> Path:
    text = Path(load_catalog().source).read_text()
    assert old in text
    path = tmp_path / "ward.toml"
    path.write_text(text.replace(old, new, 1))
    # The catalog names its town list relative to itself: the copy travels with it.
    shutil.copy(load_catalog().ward.towns_source, tmp_path)
    return path


def _line_of(path: Path, needle: str) -> int:
    return next(n for n, line in enumerate(path.read_text().splitlines(), 1) if needle in line)


def test_shipped_counters_have_kana_spoken_names() -> None:
    """Every shipped counter says its Japanese name in kana (the voice cannot read kanji)."""
    catalog = load_catalog()
    assert catalog.counters
    for counter in catalog.counters:
        assert contains_kanji(counter.names["ja"])  # the display name has kanji ...
        assert counter.spoken["ja"].endswith("まどぐち")  # ... the spoken form has none
        assert not contains_kanji(counter.spoken["ja"])


def test_spoken_forms_are_optional(tmp_path: Path) -> None:
    """A ward catalog without spoken forms loads; the counter has none."""
    catalog = load_catalog(_catalog_with(tmp_path, SPOKEN_1 + "\n", ""))
    counter = next(c for c in catalog.counters if c.code == "1")
    assert counter.spoken == {}


def test_other_languages_may_have_spoken_forms(tmp_path: Path) -> None:
    """A spoken form may be given per language, e.g. how English says the counter."""
    path = _catalog_with(
        tmp_path, SPOKEN_1, 'spoken = { ja = "いちばん まどぐち", en = "window one" }'
    )
    counter = next(c for c in load_catalog(path).counters if c.code == "1")
    assert counter.spoken == {"ja": "いちばん まどぐち", "en": "window one"}


@pytest.mark.parametrize(
    ("spoken", "reason"),
    [
        ('spoken = { ja = "1番 まどぐち" }', "has kanji"),
        ('spoken = { ja = "々" }', "has kanji"),
        ('spoken = { fr = "guichet un" }', "unknown language 'fr'"),
        ('spoken = { ja = "  " }', "non-empty string"),
        ("spoken = { ja = 1 }", "non-empty string"),
        ('spoken = "いちばん"', "spoken must be a dict"),
        (f'spoken = {{ en = "{"x" * 61}" }}', "over 60 long"),
    ],
)
def test_bad_spoken_forms_name_file_line_and_reason(
    tmp_path: Path, spoken: str, reason: str
) -> None:
    """A spoken form the voice cannot say stops loading with the file, line and reason."""
    path = _catalog_with(tmp_path, SPOKEN_1, spoken)
    with pytest.raises(CatalogError) as info:
        load_catalog(path)
    assert info.value.path == str(path)
    assert info.value.line == _line_of(path, spoken)
    assert reason in info.value.reason


def test_kanji_detection_covers_ideographs_only() -> None:
    """Kana, digits, Latin letters and punctuation are speakable; ideographs are not."""
    assert not contains_kanji("えー の 12ばん の かた、 マイナンバーカード。ABC")
    for text in ("窓口", "𠮷", "髙", "々", "〇"):
        assert contains_kanji(text), text
