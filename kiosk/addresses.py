"""Addresses in the ward, picked by touch: the ward's town list and the "new address" value.

A resident moving within the ward (転居届) never types kanji: they pick the town (町名) from
the ward's list, its 丁目 from the ones the town has, type 番 and 号 on a number pad, and the
building and room (optional) on the on-screen keyboard. The domain turns the parts into
the address as the ward writes it.

Written form (decided here, used on every screen, the A4 form and the staff view):

- ``<prefix><town>[<丁目 in kanji>丁目]<番>番<号>号`` in a 住居表示 area (``numbering =
  "jukyo"``), e.g. ``東京都千代田区霞が関一丁目1番1号``;
- ``<prefix><town>[<丁目>丁目]<番地>番地[<枝番>]`` where the town has no 住居表示 yet
  (``"chiban"``), e.g. ``東京都千代田区神田神保町二丁目17番地`` or ``...一番町6番地2``;
- 丁目 in kanji numerals (一, 十二), 番, 号, 番地 and 枝番 in half-width Arabic numerals, as the
  ward writes them; the prefecture and ward come from the catalog (``[ward] address_prefix``);
- the building and room, when given, follow after one full-width space (U+3000).

The stored value is a mapping: ``address`` (the written form) and its parts ``town``,
``chome`` (int or None), ``ban``, ``go`` (int or None: the optional 枝番 of a 地番 address),
``building`` (str or None) and ``numbering``, so staff can key the parts into the core
system. Validation errors are :class:`AddressRejected` with a message code of
:mod:`kiosk.catalog` (which owns the resident's messages).
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

NUMBERINGS = ("jukyo", "chiban")
# 住居表示: 街区符号 and 住居番号 stay small; 地番 run into the thousands in old town blocks.
BAN_MAX = {"jukyo": 999, "chiban": 9999}
GO_MAX = {"jukyo": 999, "chiban": 9999}
CHOME_MAX = 99
BUILDING_MAX_LENGTH = 60
BUILDING_SEPARATOR = "\u3000"

# The 50-音 rows the kiosk's index shows; a reading belongs to the row of its first sound.
KANA_ROWS = ("あ", "か", "さ", "た", "な", "は", "ま", "や", "ら", "わ")
_ROW_OF: dict[str, str] = {}
for _row, _sounds in zip(
    KANA_ROWS,
    (
        "あいうえおぁぃぅぇぉゔ",
        "かきくけこがぎぐげご",
        "さしすせそざじずぜぞ",
        "たちつてとだぢづでどっ",
        "なにぬねの",
        "はひふへほばびぶべぼぱぴぷぺぽ",
        "まみむめも",
        "やゆよゃゅょ",
        "らりるれろ",
        "わをんゎ",
    ),
    strict=True,
):
    for _sound in _sounds:
        _ROW_OF[_sound] = _row
_HIRAGANA = re.compile(r"[\u3041-\u3096\u30fc]+")
_KANJI_DIGITS = "〇一二三四五六七八九"


class TownListError(ValueError):
    """The town list cannot be used. ``str()`` is ``file:line: reason`` (like the catalog)."""

    def __init__(self, path: str, line: int | None, reason: str) -> None:
        self.path, self.line, self.reason = path, line, reason
        super().__init__(f"{path}:{line if line is not None else '?'}: {reason}")


@dataclass(frozen=True)
class Town:
    """One town of the ward: its name, reading, the 丁目 it has (empty: none) and whether
    addresses there are 番・号 (``jukyo``) or 番地 (``chiban``)."""

    name: str
    kana: str
    chome: tuple[int, ...]
    numbering: str

    @property
    def row(self) -> str:
        """The 50-音 row of the reading (``か`` for かすみがせき and ごばんちょう)."""
        return kana_row(self.kana)


@dataclass(frozen=True)
class Ward:
    """The ward of the catalog: its name per language (the office shown on screens and
    receipts), the prefix of its addresses (東京都千代田区), the addressee of the A4 form
    (千代田区長) and its towns."""

    names: Mapping[str, str]
    address_prefix: str
    addressee: str
    towns: tuple[Town, ...]
    towns_source: str = ""

    def town(self, name: str) -> Town | None:
        """The town called ``name`` (exact kanji), or None."""
        return next((t for t in self.towns if t.name == name), None)

    def towns_by_row(self) -> list[tuple[str, list[Town]]]:
        """The towns grouped by the 50-音 row of their reading, rows in 50-音 order and the
        towns of a row in the order of their readings (rows without a town are left out)."""
        rows: dict[str, list[Town]] = {row: [] for row in KANA_ROWS}
        for town in sorted(self.towns, key=lambda t: t.kana):
            rows[town.row].append(town)
        return [(row, towns) for row, towns in rows.items() if towns]


def kana_row(kana: str) -> str:
    """The 50-音 row (あ か さ ... わ) of the first sound of a hiragana reading."""
    return _ROW_OF.get(kana[:1], "わ")


def kanji_number(n: int) -> str:
    """1 -> 一, 10 -> 十, 12 -> 十二, 20 -> 二十, 99 -> 九十九 (丁目 are written this way)."""
    if not 0 < n < 100:
        raise ValueError(f"{n} is not a 丁目 number")
    tens, ones = divmod(n, 10)
    text = ""
    if tens:
        text = ("" if tens == 1 else _KANJI_DIGITS[tens]) + "十"
    return text + (_KANJI_DIGITS[ones] if ones else "")


def chome_text(chome: int) -> str:
    """``3`` -> ``三丁目``."""
    return f"{kanji_number(chome)}丁目"


def written_address(
    prefix: str,
    town: Town,
    chome: int | None,
    ban: int,
    go: int | None,
    building: str | None,
) -> str:
    """The address as the ward writes it (see the module docstring)."""
    text = prefix + town.name + (chome_text(chome) if chome else "")
    if town.numbering == "jukyo":
        text += f"{ban}番{go}号"
    else:
        text += f"{ban}番地" + (str(go) if go else "")
    return text + (BUILDING_SEPARATOR + building if building else "")


# --- loading the town list --------------------------------------------------------------------


def load_towns(path: str | Path) -> tuple[Town, ...]:
    """Read the ward's town list (CSV, ``#`` comment lines, a header ``town,kana,chome,
    numbering``); raises TownListError(path, line, reason) for anything a resident would
    stumble over later: a missing column, a reading that is not hiragana, a bad 丁目 range,
    an unknown numbering, a town listed twice, an empty list."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise TownListError(str(path), None, f"cannot read the town list: {e}") from e
    numbered = [
        (n, line) for n, line in enumerate(text.splitlines(), 1) if not line.startswith("#")
    ]
    numbered = [(n, line) for n, line in numbered if line.strip()]
    if not numbered:
        raise TownListError(str(path), None, "the town list is empty")
    header_line, header = numbered[0]
    columns = next(csv.reader(io.StringIO(header)))
    if [c.strip() for c in columns] != ["town", "kana", "chome", "numbering"]:
        raise TownListError(str(path), header_line, "the header must be: town,kana,chome,numbering")
    towns: list[Town] = []
    seen: dict[str, int] = {}
    for n, line in numbered[1:]:
        row = next(csv.reader(io.StringIO(line)))
        if len(row) != 4:
            raise TownListError(str(path), n, f"expected 4 columns, found {len(row)}")
        name, kana, chome, numbering = (cell.strip() for cell in row)
        if not name or _has_unsafe_characters(name) or len(name) > 40:
            raise TownListError(str(path), n, f"town name {name!r} is empty or not usable")
        if name in seen:
            raise TownListError(str(path), n, f"town {name!r} is listed twice (line {seen[name]})")
        if not _HIRAGANA.fullmatch(kana) or kana[0] == "ー":
            raise TownListError(str(path), n, f"reading {kana!r} of {name} must be hiragana")
        if numbering not in NUMBERINGS:
            raise TownListError(
                str(path), n, f"numbering {numbering!r} of {name} must be jukyo or chiban"
            )
        towns.append(Town(name, kana, _chome_range(chome, path, n, name), numbering))
        seen[name] = n
    if not towns:
        raise TownListError(str(path), header_line, "the town list has no town")
    return tuple(towns)


def _chome_range(value: str, path: Path, line: int, name: str) -> tuple[int, ...]:
    match = re.fullmatch(r"(\d{1,2})(?:-(\d{1,2}))?", value)
    if match is None:
        raise TownListError(str(path), line, f"chome {value!r} of {name}: expected N or A-B")
    if match.group(2) is None:
        return tuple(range(1, int(match.group(1)) + 1))
    first, last = int(match.group(1)), int(match.group(2))
    if not 1 <= first <= last <= CHOME_MAX:
        raise TownListError(str(path), line, f"chome {value!r} of {name}: A-B with 1 <= A <= B")
    return tuple(range(first, last + 1))


# --- the resident's value ---------------------------------------------------------------------

PARTS = ("town", "chome", "ban", "go", "building")


class AddressRejected(Exception):
    """A part of the address is not acceptable: ``code`` is a field error code of the
    catalog, ``params`` its parameters (a part's code, numbers, the town's 丁目)."""

    def __init__(self, code: str, **params: Any) -> None:
        super().__init__(code)
        self.code, self.params = code, params


# The parts, in the order the resident fills them in (their names are the ui's words).
PART_CODES = ("town", "chome", "ban", "go", "banchi", "eda", "building")


def is_empty_address(value: Any) -> bool:
    """Nothing was given: no mapping, or a mapping whose parts are all blank."""
    if value is None or value == "" or value == {}:
        return True
    if isinstance(value, Mapping):
        return all(_blank(value.get(part)) for part in PARTS)
    return False


def normalise_ward_address(
    value: Any, ward: Ward, *, building_max: int = BUILDING_MAX_LENGTH
) -> dict[str, Any]:
    """Check the parts of a new address in the ward and return the stored value (see the
    module docstring); idempotent (a stored value normalises to itself). Raises
    AddressRejected for the first problem found, in the order the resident fills them in."""
    if not isinstance(value, Mapping):
        raise AddressRejected("not_an_address")
    town_name = value.get("town")
    town = ward.town(town_name) if isinstance(town_name, str) else None
    if town is None:
        raise AddressRejected("unknown_town")
    chome = _number(value.get("chome"), allow_blank=True)
    if chome == 0:
        chome = None
    if town.chome and chome not in town.chome:
        raise AddressRejected(
            "bad_chome",
            town=town.name,
            choices=tuple(chome_text(c) for c in town.chome),
        )
    if not town.chome and chome is not None:
        raise AddressRejected("no_chome", town=town.name)
    jukyo = town.numbering == "jukyo"
    ban = _number(value.get("ban"), allow_blank=True)
    if ban is None or not 1 <= ban <= BAN_MAX[town.numbering]:
        raise AddressRejected(
            "bad_address_number",
            part="ban" if jukyo else "banchi",
            max=BAN_MAX[town.numbering],
        )
    go = _number(value.get("go"), allow_blank=True)
    if (go is None and jukyo) or (go is not None and not 1 <= go <= GO_MAX[town.numbering]):
        raise AddressRejected(
            "bad_address_number",
            part="go" if jukyo else "eda",
            max=GO_MAX[town.numbering],
        )
    building = value.get("building")
    if building is not None and not isinstance(building, str):
        raise AddressRejected("building_invalid")
    building = (building or "").strip() or None
    if building is not None:
        if _has_unsafe_characters(building):
            raise AddressRejected("building_invalid")
        if len(building) > building_max:
            raise AddressRejected("building_too_long", max=building_max)
    return {
        "address": written_address(ward.address_prefix, town, chome, ban, go, building),
        "town": town.name,
        "chome": chome,
        "ban": ban,
        "go": go,
        "building": building,
        "numbering": town.numbering,
    }


def address_parts(value: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The parts of a stored address as (part code, text), for staff who key them into the
    core system: 町名, 丁目, 番 and 号 (or 番地 and 枝番), building (see PART_CODES)."""
    jukyo = value.get("numbering") != "chiban"
    chome = value.get("chome")
    return [
        ("town", str(value.get("town") or "—")),
        ("chome", chome_text(chome) if chome else "—"),
        ("ban" if jukyo else "banchi", str(value.get("ban") or "—")),
        ("go" if jukyo else "eda", str(value.get("go") or "—")),
        ("building", str(value.get("building") or "—")),
    ]


def _blank(part: Any) -> bool:
    return part is None or (isinstance(part, str) and not part.strip())


def _number(part: Any, *, allow_blank: bool) -> int | None:
    """A part typed on the number pad (or sent by the API): int, or a string of at most six
    digits (full-width digits too); blank -> None; anything else is rejected as "not a
    number" by the caller's range check (returns -1)."""
    if _blank(part):
        return None if allow_blank else -1
    if isinstance(part, bool):
        return -1
    if isinstance(part, int):
        return part
    if isinstance(part, str) and re.fullmatch(r"\s*[0-9０-９]{1,6}\s*", part):
        return int(part.strip())
    return -1


def _has_unsafe_characters(text: str) -> bool:
    """Control, format (bidi overrides, zero-width), surrogate, private-use and line/paragraph
    separator characters: none of them belongs in an address, and bidi controls can make
    text on the staff screen read differently from what is stored."""
    return any(unicodedata.category(ch) in {"Cc", "Cf", "Cs", "Co", "Zl", "Zp"} for ch in text)
