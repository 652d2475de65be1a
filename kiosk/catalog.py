"""The procedure catalog: queues, counters and procedures with fees and resident fields.

Loaded from TOML (``kiosk/data/catalog.toml`` ships; ``KIOSK_CATALOG`` points at a ward's
own). ``load_catalog`` validates everything once at start-up and raises ``CatalogError``
naming the file, the line and the reason; after that the catalog is an immutable value the
app passes to domain functions.

Resident fields are validated by ``ProcedureSpec.validate_fields``, which raises
``ValidationFailed`` whose messages come in the resident's language.

Why one module of this size: the catalog's value types and the loader that builds them
from TOML are one concern (every check of the loader is about a field of these types, and
errors name the TOML line of the value); the ward's addresses live in ``kiosk.addresses``.
"""

from __future__ import annotations

import dataclasses
import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, timedelta
from importlib import resources
from pathlib import Path
from typing import Any

from kiosk.addresses import (
    AddressRejected,
    TownListError,
    Ward,
    is_empty_address,
    load_towns,
    normalise_ward_address,
)
from kiosk.text import is_safe_text

LANGUAGES = ("ja", "en", "zh-Hans", "ko")
UNITS = ("case", "copy", "fiscal_year_copy")
FIELD_KINDS = ("integer", "choice", "text", "date", "fiscal_years", "boolean", "ward_address")
# A date the resident picks on the touch calendar lies in a window the procedure declares
# (min_days .. max_days from the business day); a year each way is as far as a calendar
# of day buttons stays usable.
DATE_WINDOW_MAX_DAYS = 366
CARD_FIELDS = ("name", "address", "birth_date", "sex", "individual_number")
# What the card gives is never asked of the resident again, and never editable.
READ_ONLY_FIELDS = frozenset(CARD_FIELDS) | {"family_name", "given_name"}
# Kanji (CJK ideographs and their iteration/closing marks). espeak-ng's Japanese voice
# cannot read them ("Chinese letter"), so Japanese spoken text is kana and digits only.
_KANJI = re.compile(
    "[\u3005\u3006\u3007\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003ffff]"
)
SPOKEN_MAX_LENGTH = 60


def contains_kanji(text: str) -> bool:
    """Whether ``text`` has a character that a kana-only Japanese voice cannot read."""
    return _KANJI.search(text) is not None


class CatalogError(ValueError):
    """The catalog file cannot be used. ``str()`` is ``file:line: reason``."""

    def __init__(self, path: str, line: int | None, reason: str) -> None:
        self.path, self.line, self.reason = path, line, reason
        super().__init__(f"{path}:{line if line is not None else '?'}: {reason}")


@dataclass(frozen=True)
class FieldError:
    """One rejected resident field: a stable ``code`` and its ``params`` (numbers, dates,
    codes: no words; the front end words them, ``ui.words.field_message``). ``label`` is
    the field's name per language from the catalog (empty for a field the card gives)."""

    field: str
    code: str
    label: Mapping[str, str]
    params: Mapping[str, Any] = dataclasses.field(default_factory=dict)


class ValidationFailed(ValueError):
    """Resident input was rejected. ``errors`` has one FieldError per bad field;
    ``language`` is the language the resident was using (the case's or the visit's)."""

    def __init__(self, errors: Sequence[FieldError], language: str = "ja") -> None:
        self.errors = list(errors)
        self.language = language
        super().__init__("; ".join(f"{e.field}: {e.code}" for e in self.errors))


# --- the catalog as values ------------------------------------------------------------------


def fiscal_year(d: date) -> int:
    """Japanese fiscal year (年度): April to March, named after the April year."""
    return d.year if d.month >= 4 else d.year - 1


@dataclass(frozen=True)
class FieldSpec:
    """A field the resident gives. ``validate`` returns the normalised value or raises
    ``_Reject`` (turned into a FieldError by the procedure)."""

    name: str
    kind: str
    label: Mapping[str, str]
    required: bool
    default: Any = None
    min: int | None = None
    max: int | None = None
    options: tuple[str, ...] = ()
    max_length: int | None = None
    max_years_back: int = 5
    max_count: int = 5
    # date: the days a resident may pick, counted from the business day (-14 .. 0: the last
    # two weeks up to today).
    min_days: int | None = None
    max_days: int | None = None
    # ward_address: the catalog's ward (its towns and the prefix of its addresses).
    ward: Ward | None = dataclasses.field(default=None, repr=False)

    def date_window(self, today: date) -> tuple[date, date] | None:
        """The first and last day a ``date`` field accepts on business day ``today``, or
        None when the catalog set no window."""
        if self.min_days is None or self.max_days is None:
            return None
        return today + timedelta(days=self.min_days), today + timedelta(days=self.max_days)

    def normalise(self, value: Any, today: date) -> Any:
        empty = value is None or value == "" or value == []
        if self.kind == "ward_address":
            empty = is_empty_address(value)
        if empty:
            if self.default is not None:
                return self.default
            if self.required:
                raise _Reject("required")
            return None
        match self.kind:
            case "integer":
                number = _as_int(value)
                if number is None:
                    raise _Reject("not_integer")
                if not (self.min or 0) <= number <= (self.max if self.max is not None else number):
                    raise _Reject("out_of_range", min=self.min, max=self.max)
                return number
            case "choice":
                if value not in self.options:
                    raise _Reject("not_a_choice")
                return value
            case "boolean":
                if isinstance(value, bool):
                    return value
                if isinstance(value, str) and value.lower() in ("true", "on", "1", "yes"):
                    return True
                if isinstance(value, str) and value.lower() in ("false", "off", "0", "no"):
                    return False
                raise _Reject("not_boolean")
            case "date":
                if not isinstance(value, str):
                    raise _Reject("not_a_date")
                try:
                    day = date.fromisoformat(str(value))
                except ValueError:
                    raise _Reject("not_a_date") from None
                window = self.date_window(today)
                if window is not None and not window[0] <= day <= window[1]:
                    raise _Reject("date_out_of_range", first=window[0], last=window[1])
                return day.isoformat()
            case "ward_address":
                if self.ward is None:  # the loader always sets it; a hand-made spec may not
                    raise _Reject("not_an_address")
                try:
                    return normalise_ward_address(
                        value, self.ward, building_max=self.max_length or 60
                    )
                except AddressRejected as e:
                    raise _Reject(e.code, **e.params) from None
            case "fiscal_years":
                items = value.split(",") if isinstance(value, str) else list(value)
                years = [_as_int(v) for v in items]
                newest = fiscal_year(today)
                oldest = newest - self.max_years_back
                if any(y is None or not oldest <= y <= newest for y in years):
                    raise _Reject("bad_fiscal_year", min=oldest, max=newest)
                if len(set(years)) != len(years):
                    raise _Reject("duplicate")
                if len(years) > self.max_count:
                    raise _Reject("too_many", max=self.max_count)
                return sorted(y for y in years if y is not None)
            case _:  # text
                if not isinstance(value, str):
                    raise _Reject("not_text")
                text = value.strip()
                if not text:
                    if self.required:
                        raise _Reject("required")
                    return None
                if not is_safe_text(text):
                    raise _Reject("invalid_text")
                if self.max_length is not None and len(text) > self.max_length:
                    raise _Reject("too_long", max=self.max_length)
                return text


class _Reject(Exception):
    def __init__(self, code: str, **params: Any) -> None:
        super().__init__(code)
        self.code, self.params = code, params


def _as_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and re.fullmatch(r"\s*[0-9０-９]{1,6}\s*", value):
        return int(value.strip())  # int() accepts full-width digits too
    return None


@dataclass(frozen=True)
class ProcedureSpec:
    """One procedure of the catalog (see the module docstring of the TOML file)."""

    code: str
    names: Mapping[str, str]
    queue: str
    fee_yen: int
    unit: str
    needs_individual_number: bool
    card_fields: tuple[str, ...]
    fields: tuple[FieldSpec, ...]
    channel_fees: Mapping[str, int] = dataclasses.field(default_factory=dict)
    counter_note: str = ""
    # The card must also pass the JPKI check (the resident's JPKI user-authentication PIN,
    # asked for on a screen of its own): application.card_policy.
    jpki_check: bool = False
    # Only staff at the counter start it (the kiosk does not offer it): e.g. it needs
    # something checked in person first, like the seal for 印鑑登録.
    counter_only: bool = False

    @property
    def is_fee_free(self) -> bool:
        return self.fee_yen == 0 and not any(self.channel_fees.values())

    def field_spec(self, name: str) -> FieldSpec | None:
        return next((f for f in self.fields if f.name == name), None)

    def unit_fee(self, channel: str = "kiosk") -> int:
        """Fee per unit in yen on ``channel`` (a channel without its own fee uses fee_yen)."""
        return self.channel_fees.get(channel, self.fee_yen)

    def units(self, values: Mapping[str, Any]) -> int:
        """How many units normalised ``values`` make: copies, or fiscal years x copies."""
        copies = int(values.get("copies") or 1)
        if self.unit == "copy":
            return copies
        if self.unit == "fiscal_year_copy":
            return len(values.get("fiscal_years") or ()) * copies
        return 1

    def fee(self, values: Mapping[str, Any], channel: str = "kiosk") -> int:
        """Integer yen: unit fee x units."""
        return self.unit_fee(channel) * self.units(values)

    def validate_fields(
        self, values: Mapping[str, Any], language: str = "ja", *, today: date
    ) -> dict[str, Any]:
        """Normalise every field (defaults filled in); raise ValidationFailed listing all
        problems at once. Card fields and unknown names are rejected, never ignored."""
        errors: list[FieldError] = []
        for name in values:
            if name in READ_ONLY_FIELDS:
                errors.append(FieldError(name, "read_only", {}))
            elif self.field_spec(name) is None:
                errors.append(FieldError(name, "unknown_field", {}))
        result: dict[str, Any] = {}
        for spec in self.fields:
            try:
                result[spec.name] = spec.normalise(values.get(spec.name), today)
            except _Reject as r:
                errors.append(FieldError(spec.name, r.code, spec.label, r.params))
        if errors:
            raise ValidationFailed(errors, language)
        return result


@dataclass(frozen=True)
class QueueSpec:
    """A queue. ``route_rank``: its place in the catalog's ``route`` (0 first): a case with
    procedures in several queues visits them in ascending rank, on one ticket."""

    code: str
    prefix: str
    names: Mapping[str, str]
    default_service_s: int
    route_rank: int = 0


@dataclass(frozen=True)
class CounterSpec:
    """A counter. ``spoken`` (optional, per language) is how announcements say its name
    when the written name is not speakable (the Japanese name has kanji); Japanese spoken
    forms are kana and digits, written as pronounced (checked at load)."""

    code: str
    names: Mapping[str, str]
    queues: tuple[str, ...]
    spoken: Mapping[str, str] = dataclasses.field(default_factory=dict)


@dataclass(frozen=True)
class Catalog:
    """Queues, counters and procedures, validated. ``source`` is the file it came from;
    ``ward`` is the ward's ``[ward]`` table (names, address prefix, towns)."""

    source: str
    queues: tuple[QueueSpec, ...]
    counters: tuple[CounterSpec, ...]
    procedures: tuple[ProcedureSpec, ...]
    ward: Ward | None = None

    def ward_name(self, language: str, override: str = "") -> str:
        """The ward's name for screens, receipts and printouts in ``language`` (``ja``,
        ``en``, ``zh-Hans``, ``ko``): ``override`` (``Settings.ward_name``, from
        KIOSK_WARD_NAME) when set, else ``[ward] names`` (Japanese for an unknown language)."""
        if override:
            return override
        if self.ward is None:
            return ""
        return self.ward.names.get(language) or self.ward.names.get("ja", "")

    @property
    def kiosk_procedures(self) -> tuple[ProcedureSpec, ...]:
        """The procedures a resident may choose at a kiosk (all but the counter-only ones)."""
        return tuple(p for p in self.procedures if not p.counter_only)

    def procedure(self, code: str) -> ProcedureSpec:
        """The procedure ``code``; KeyError if the catalog has none."""
        for p in self.procedures:
            if p.code == code:
                return p
        raise KeyError(f"no procedure {code!r} in {self.source}")

    def queue(self, code: str) -> QueueSpec:
        for q in self.queues:
            if q.code == code:
                return q
        raise KeyError(f"no queue {code!r} in {self.source}")

    def route(self, queue_codes: Sequence[str]) -> tuple[str, ...]:
        """The queues ``queue_codes`` (repeats dropped) in the order a ticket visits them:
        the catalog's ``route``. KeyError for a queue the catalog does not have."""
        ranks = {q.code: q.route_rank for q in self.queues}
        for code in queue_codes:
            if code not in ranks:
                raise KeyError(f"no queue {code!r} in {self.source}")
        return tuple(sorted(set(queue_codes), key=lambda code: ranks[code]))


# --- loading --------------------------------------------------------------------------------


def default_catalog_path() -> Path:
    return Path(str(resources.files("kiosk") / "data" / "catalog.toml"))


def load_catalog(path: str | Path | None = None) -> Catalog:
    """Read and validate the catalog at ``path`` (default: the shipped one).

    Raises CatalogError(path, line, reason) for unreadable files, TOML syntax errors and
    every semantic problem (unknown queue, negative fee, missing language, ...).
    """
    path = Path(path) if path else default_catalog_path()
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise CatalogError(str(path), None, f"cannot read: {e}") from e
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        match = re.search(r"line (\d+)", str(e))
        raise CatalogError(str(path), int(match.group(1)) if match else None, str(e)) from e
    return _Loader(str(path), text).load(data)


class _Loader:
    def __init__(self, path: str, text: str) -> None:
        self.path = path
        self.lines = text.splitlines()
        self.ward: Ward | None = None

    # Locating a problem: tomllib keeps no positions, so find the n-th ``[[table]]``
    # header (and sub-table) in the text, then the ``key =`` line inside it.
    def _line(self, where: tuple[Any, ...]) -> int | None:
        start, end = 0, len(self.lines)
        i = 0
        line: int | None = None
        while i < len(where):
            part = where[i]
            if i + 1 < len(where) and isinstance(where[i + 1], int):
                header = ".".join(p for p in where[: i + 1] if isinstance(p, str))
                pattern = re.compile(rf"^\s*\[\[\s*{re.escape(header)}\s*\]\]")
                hits = [n for n in range(start, end) if pattern.match(self.lines[n])]
                if where[i + 1] >= len(hits):
                    return line
                start = hits[where[i + 1]]
                line = start + 1
                following = [
                    n
                    for n in range(start + 1, end)
                    if re.match(r"^\s*\[\[?\s*([\w.]+)", self.lines[n])
                    and not self.lines[n].strip().startswith(f"[[{header}.")
                    and not self.lines[n].strip().startswith(f"[{header}.")
                ]
                end = following[0] if following else end
                i += 2
                continue
            key = re.compile(rf'^\s*"?{re.escape(str(part))}"?\s*=')
            for n in range(start, end):
                if key.match(self.lines[n]):
                    return n + 1
            # A single [table] (the catalog's [ward]): look for its keys inside it.
            table = re.compile(rf"^\s*\[\s*{re.escape(str(part))}\s*\]")
            hits = [n for n in range(start, end) if table.match(self.lines[n])]
            if not hits:
                return line
            start = hits[0]
            line = start + 1
            following = [n for n in range(start + 1, end) if self.lines[n].lstrip().startswith("[")]
            end = following[0] if following else end
            i += 1
            continue
        return line

    def fail(self, where: tuple[Any, ...], reason: str) -> CatalogError:
        return CatalogError(self.path, self._line(where), reason)

    def _get(self, table: Mapping[str, Any], key: str, kind: type, where: tuple[Any, ...]) -> Any:
        if key not in table:
            return self._missing(key, where)
        value = table[key]
        if kind is int and (isinstance(value, bool) or not isinstance(value, int)):
            raise self.fail(where + (key,), f"{key} must be a whole number, not {value!r}")
        if not isinstance(value, kind):
            raise self.fail(where + (key,), f"{key} must be a {kind.__name__}, not {value!r}")
        return value

    def _missing(self, key: str, where: tuple[Any, ...]) -> Any:
        raise self.fail(where, f"missing key {key!r}")

    def _names(self, table: Mapping[str, Any], key: str, where: tuple[Any, ...]) -> dict[str, str]:
        names = self._get(table, key, dict, where)
        missing = [lang for lang in LANGUAGES if not isinstance(names.get(lang), str)]
        if missing:
            raise self.fail(where + (key,), f"{key} lacks the language(s) {', '.join(missing)}")
        return {lang: names[lang] for lang in LANGUAGES}

    def _spoken(self, table: Mapping[str, Any], where: tuple[Any, ...]) -> dict[str, str]:
        """The optional ``spoken = { ja = "..." }`` of a counter, validated."""
        if "spoken" not in table:
            return {}
        spoken = self._get(table, "spoken", dict, where)
        here = where + ("spoken",)
        for lang, text in spoken.items():
            if lang not in LANGUAGES:
                raise self.fail(here, f"spoken: unknown language {lang!r}")
            if not isinstance(text, str) or not text.strip():
                raise self.fail(here, f"spoken.{lang} must be a non-empty string")
            if not is_safe_text(text) or len(text) > SPOKEN_MAX_LENGTH:
                raise self.fail(
                    here, f"spoken.{lang}: control characters or over {SPOKEN_MAX_LENGTH} long"
                )
            if lang == "ja" and contains_kanji(text):
                raise self.fail(
                    here, f"spoken.ja {text!r} has kanji: the Japanese voice reads kana and digits"
                )
        return {lang: spoken[lang].strip() for lang in spoken}

    def load(self, data: Mapping[str, Any]) -> Catalog:
        if data.get("version") != 1:
            raise self.fail(("version",), "expected version = 1")
        self.ward = self._ward(data)
        queues: list[QueueSpec] = []
        for i, q in enumerate(data.get("queue", [])):
            where = ("queue", i)
            prefix = self._get(q, "prefix", str, where)
            if not re.fullmatch(r"[A-Z]{1,3}", prefix):
                raise self.fail(where + ("prefix",), "prefix must be 1-3 capital letters")
            service = q.get("default_service_s", 300)
            if not isinstance(service, int) or service <= 0:
                raise self.fail(where + ("default_service_s",), "must be a positive integer")
            queues.append(
                QueueSpec(
                    self._get(q, "code", str, where), prefix, self._names(q, "name", where), service
                )
            )
        if not queues:
            raise self.fail(("queue",), "the catalog defines no [[queue]]")
        queues = self._route(data, queues)
        for attr in ("code", "prefix"):
            seen: set[str] = set()
            for i, q in enumerate(queues):
                if getattr(q, attr) in seen:
                    raise self.fail(
                        ("queue", i, attr), f"duplicate queue {attr} {getattr(q, attr)!r}"
                    )
                seen.add(getattr(q, attr))
        queue_codes = {q.code for q in queues}

        counters: list[CounterSpec] = []
        for i, c in enumerate(data.get("counter", [])):
            where = ("counter", i)
            served = self._get(c, "queues", list, where)
            unknown = [s for s in served if s not in queue_codes]
            if unknown or not served:
                raise self.fail(where + ("queues",), f"unknown or no queues {unknown!r}")
            counters.append(
                CounterSpec(
                    str(self._get(c, "code", str, where)),
                    self._names(c, "name", where),
                    tuple(served),
                    self._spoken(c, where),
                )
            )

        procedures: list[ProcedureSpec] = []
        for i, p in enumerate(data.get("procedure", [])):
            procedures.append(self._procedure(p, ("procedure", i), queue_codes))
        codes = [p.code for p in procedures]
        for i, code in enumerate(codes):
            if code in codes[:i]:
                raise self.fail(("procedure", i, "code"), f"duplicate procedure code {code!r}")
        if not procedures:
            raise self.fail(("procedure",), "the catalog defines no [[procedure]]")
        return Catalog(self.path, tuple(queues), tuple(counters), tuple(procedures), self.ward)

    def _route(self, data: Mapping[str, Any], queues: list[QueueSpec]) -> list[QueueSpec]:
        """Each queue's rank in the optional top-level ``route`` (a list of queue codes):
        the listed queues in that order, then the others in catalog order."""
        route = data.get("route", [])
        if not isinstance(route, list) or not all(isinstance(code, str) for code in route):
            raise self.fail(("route",), "route must be a list of queue codes")
        known = [q.code for q in queues]
        unknown = [code for code in route if code not in known]
        if unknown:
            raise self.fail(("route",), f"route: unknown queue(s) {', '.join(unknown)}")
        repeated = sorted({code for code in route if route.count(code) > 1})
        if repeated:
            raise self.fail(("route",), f"route: queue(s) listed twice: {', '.join(repeated)}")
        order = list(route) + [code for code in known if code not in route]
        return [replace(q, route_rank=order.index(q.code)) for q in queues]

    def _ward(self, data: Mapping[str, Any]) -> Ward:
        """The ``[ward]`` table: names per language, the address prefix, the addressee of
        the A4 form and the town list (a file next to the catalog, checked here too)."""
        table = data.get("ward")
        if not isinstance(table, dict):
            raise self.fail(("ward",), "missing [ward] (names, address_prefix, addressee, towns)")
        where = ("ward",)
        names = self._names(table, "names", where)
        for key in ("address_prefix", "addressee", "towns"):
            text = self._get(table, key, str, where)
            if not text.strip() or not is_safe_text(text) or len(text) > 200:
                raise self.fail(where + (key,), f"{key} must be a short non-empty text")
        # Relative to the catalog: a ward's catalog and its town list travel together.
        towns_path = Path(self.path).parent / table["towns"]
        if not towns_path.is_file():
            raise self.fail(where + ("towns",), f"towns: there is no file {towns_path}")
        try:
            towns = load_towns(towns_path)
        except TownListError as e:
            raise CatalogError(e.path, e.line, e.reason) from None
        return Ward(
            names=names,
            address_prefix=table["address_prefix"].strip(),
            addressee=table["addressee"].strip(),
            towns=towns,
            towns_source=str(towns_path),
        )

    def _procedure(
        self, p: Mapping[str, Any], where: tuple[Any, ...], queue_codes: set[str]
    ) -> ProcedureSpec:
        code = self._get(p, "code", str, where)
        queue = self._get(p, "queue", str, where)
        if queue not in queue_codes:
            raise self.fail(where + ("queue",), f"procedure {code!r}: unknown queue {queue!r}")
        fee = self._get(p, "fee_yen", int, where)
        if fee < 0:
            raise self.fail(where + ("fee_yen",), f"procedure {code!r}: fee_yen must be >= 0")
        unit = self._get(p, "unit", str, where)
        if unit not in UNITS:
            raise self.fail(where + ("unit",), f"unit must be one of {', '.join(UNITS)}")
        needs_number = self._get(p, "needs_individual_number", bool, where)
        card_fields = tuple(self._get(p, "card_fields", list, where))
        bad = [f for f in card_fields if f not in CARD_FIELDS]
        if bad:
            raise self.fail(where + ("card_fields",), f"unknown card fields {bad!r}")
        if ("individual_number" in card_fields) != needs_number:
            raise self.fail(
                where + ("card_fields",),
                "individual_number must be in card_fields exactly when needs_individual_number",
            )
        channel_fees = p.get("channel_fees", {})
        if not isinstance(channel_fees, dict) or any(
            isinstance(v, bool) or not isinstance(v, int) or v < 0 for v in channel_fees.values()
        ):
            raise self.fail(where + ("channel_fees",), "channel fees must be integers >= 0")
        jpki_check = p.get("jpki_check", False)
        if not isinstance(jpki_check, bool):
            raise self.fail(where + ("jpki_check",), "jpki_check must be true or false")
        fields = tuple(
            self._field(f, where + ("field", j), code) for j, f in enumerate(p.get("field", []))
        )
        names = [f.name for f in fields]
        for j, name in enumerate(names):
            if name in names[:j]:
                raise self.fail(where + ("field", j, "name"), f"duplicate field {name!r}")
        if unit in ("copy", "fiscal_year_copy") and "copies" not in names:
            raise self.fail(where + ("unit",), f"unit {unit!r} needs a 'copies' field")
        if unit == "fiscal_year_copy" and "fiscal_years" not in names:
            raise self.fail(where + ("unit",), "unit 'fiscal_year_copy' needs 'fiscal_years'")
        return ProcedureSpec(
            code=code,
            names=self._names(p, "name", where),
            queue=queue,
            fee_yen=fee,
            unit=unit,
            needs_individual_number=needs_number,
            card_fields=card_fields,
            fields=fields,
            channel_fees=dict(channel_fees),
            counter_note=str(p.get("counter_note", "")),
            jpki_check=jpki_check,
            counter_only=self._flag(p, "counter_only", where),
        )

    def _flag(self, table: Mapping[str, Any], key: str, where: tuple[Any, ...]) -> bool:
        """An optional boolean (false when absent)."""
        return bool(self._get(table, key, bool, where)) if key in table else False

    def _field(self, f: Mapping[str, Any], where: tuple[Any, ...], code: str) -> FieldSpec:
        name = self._get(f, "name", str, where)
        if name in READ_ONLY_FIELDS:
            raise self.fail(where + ("name",), f"{name!r} comes from the card, not the resident")
        kind = self._get(f, "kind", str, where)
        if kind not in FIELD_KINDS:
            raise self.fail(where + ("kind",), f"kind must be one of {', '.join(FIELD_KINDS)}")
        label = self._names(f, "label", where)
        default = f.get("default")
        required = f.get(
            "required",
            default is None and kind in ("text", "date", "fiscal_years", "ward_address"),
        )
        if kind in ("date", "ward_address") and default is not None:
            raise self.fail(where + ("default",), f"field {name!r}: a {kind} has no default")
        spec = FieldSpec(
            name=name,
            kind=kind,
            label=label,
            required=bool(required),
            default=default,
            min=f.get("min"),
            max=f.get("max"),
            options=tuple(f.get("options", ())),
            max_length=f.get("max_length"),
            max_years_back=f.get("max_years_back", 5),
            max_count=f.get("max_count", 5),
            min_days=f.get("min_days"),
            max_days=f.get("max_days"),
            ward=self.ward if kind == "ward_address" else None,
        )
        if kind == "date":
            # The resident picks the day on a calendar of the procedure's window: without
            # one there is nothing to show (and any day of any year would be accepted).
            for key in ("min_days", "max_days"):
                self._get(f, key, int, where)
            if spec.min_days > spec.max_days:  # type: ignore[operator]
                raise self.fail(where + ("min_days",), f"field {name!r}: min_days > max_days")
            if spec.max_days - spec.min_days > DATE_WINDOW_MAX_DAYS:  # type: ignore[operator]
                raise self.fail(
                    where + ("max_days",),
                    f"field {name!r}: the window is longer than {DATE_WINDOW_MAX_DAYS} days",
                )
        if kind == "ward_address" and "max_length" in f:
            length = self._get(f, "max_length", int, where)
            if not 1 <= length <= 200:
                raise self.fail(where + ("max_length",), "max_length must be 1 to 200")
        if kind == "integer":
            for key in ("min", "max"):
                self._get(f, key, int, where)
            if spec.min is not None and spec.max is not None and spec.min > spec.max:
                raise self.fail(where + ("min",), f"field {name!r}: min is greater than max")
        if kind == "choice" and not spec.options:
            raise self.fail(where + ("options",), f"field {name!r}: a choice needs options")
        if default is not None:
            try:
                spec.normalise(default, date(2000, 4, 1))
            except _Reject as r:
                raise self.fail(
                    where + ("default",), f"field {name!r}: default is invalid ({r.code})"
                ) from None
        return spec
