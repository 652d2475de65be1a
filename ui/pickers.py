"""What the kiosk's touch pickers show, in the resident's language.

Two field kinds are never typed: a ``date`` is picked on a calendar of the procedure's
window (``min_days`` .. ``max_days`` in the catalog, counted from the business day), and a
``ward_address`` is picked from the ward's town list, then 丁目, then 番・号 on a number pad
(the building and room are free text on the on-screen keyboard). The markup is
``templates/kiosk/_date_picker.html`` and ``_address_picker.html``; it is plain radio
buttons and text inputs, so the form works without script, and
``static/js/pickers.js`` turns it into one calendar page and one step at a time.

The rules (which days, which towns, which 丁目) are the domain's (``kiosk.catalog``,
``kiosk.addresses``); this module only lays them out.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from babel.dates import format_skeleton, get_day_names
from flask_babel import format_date, get_locale
from flask_babel import gettext as _

from kiosk.addresses import Town, Ward, chome_text
from kiosk.catalog import FieldSpec
from kiosk.eras import EraOutOfRange, to_japanese
from ui.i18n import current_locale

# A window that fits in this many week rows is one page (no paging for a 転居届's two
# weeks); longer windows page by month.
ONE_PAGE_WEEKS = 6


@dataclass(frozen=True)
class CalendarDay:
    """One cell of the calendar. ``enabled`` days are in the window and can be picked;
    ``label`` is the full date for screen readers and the "chosen" line."""

    day: date
    iso: str
    label: str
    enabled: bool
    today: bool
    month_mark: str  # "11月" on the first cell and on the 1st of a month, else ""


@dataclass(frozen=True)
class CalendarPage:
    key: str
    title: str
    weeks: list[list[CalendarDay | None]]


@dataclass(frozen=True)
class DatePicker:
    """A date field's calendar: the pages, the weekday header (Sunday first, as on
    Japanese calendars), the window and its text, the page to show first."""

    pages: list[CalendarPage]
    weekdays: list[str]
    first: date
    last: date
    range_text: str
    start_page: str

    def chosen_label(self, value: Any) -> str:
        """The full label of the chosen ISO date, or "" (none, or outside the window)."""
        for page in self.pages:
            for week in page.weeks:
                for day in week:
                    if day is not None and day.enabled and day.iso == value:
                        return day.label
        return ""


def _babel_locale() -> Any:
    return get_locale()


def day_label(d: date) -> str:
    """The date with its weekday, written out: 令和8年11月20日（金）, Friday 20 November
    2026, 2026年11月20日星期五, 2026년 11월 20일 금요일 (never 11/20/2026)."""
    lang = current_locale()
    if lang == "ja":
        weekday = format_date(d, "E")
        try:
            era = to_japanese(d)
            year = "元" if era.year == 1 else str(era.year)
            return f"{era.era.name}{year}年{d.month}月{d.day}日（{weekday}）"
        except EraOutOfRange:
            return f"{d.year}年{d.month}月{d.day}日（{weekday}）"
    if lang == "en":
        return format_date(d, "EEEE d MMMM y")
    return format_date(d, "full")


def date_text(d: date) -> str:
    """A picked date on the check screen: 和暦 with the Western year in Japanese
    (令和8年11月20日（2026年）), ``20 November 2026`` in English, the long form otherwise."""
    lang = current_locale()
    if lang == "ja":
        try:
            era = to_japanese(d)
            year = "元" if era.year == 1 else str(era.year)
            return f"{era.era.name}{year}年{d.month}月{d.day}日（{d.year}年）"
        except EraOutOfRange:
            return f"{d.year}年{d.month}月{d.day}日"
    if lang == "en":
        return format_date(d, "d MMMM y")
    return format_date(d, "long")


def window_date_text(d: date) -> str:
    """A day of the window's sentence ("from ... to ..."): 和暦 alone in Japanese (the
    calendar's heading gives the Western year), as :func:`date_text` otherwise."""
    if current_locale() == "ja":
        try:
            era = to_japanese(d)
            year = "元" if era.year == 1 else str(era.year)
            return f"{era.era.name}{year}年{d.month}月{d.day}日"
        except EraOutOfRange:
            pass
    return date_text(d)


def _span_title(first: date, last: date) -> str:
    """The heading of a one-page calendar: 令和8年（2026年）11月〜12月, November – December
    2026, 2026年11月 – 12月; a span over New Year names both years."""
    if (first.year, first.month) == (last.year, last.month):
        return _month_title(first)
    if first.year != last.year:
        return f"{_month_title(first)} – {_month_title(last)}"
    lang = current_locale()
    if lang == "ja":
        return f"{_month_title(first)}〜{last.month}月"
    if lang == "en":
        return f"{format_date(first, 'MMMM')} – {_month_title(last)}"
    return f"{_month_title(first)} – {last.month}{'월' if lang == 'ko' else '月'}"


def _month_title(d: date) -> str:
    if current_locale() == "ja":
        try:
            era = to_japanese(d.replace(day=1))
            year = "元" if era.year == 1 else str(era.year)
            return f"{era.era.name}{year}年（{d.year}年）{d.month}月"
        except EraOutOfRange:
            pass
    return format_skeleton("yMMMM", d, locale=_babel_locale())


def _month_mark(d: date) -> str:
    return (
        f"{d.month}月"
        if current_locale() in ("ja", "zh_Hans")
        else (f"{d.month}월" if current_locale() == "ko" else format_date(d, "MMM"))
    )


def _weeks(start: date, end: date) -> list[list[date]]:
    """Whole weeks (Sunday to Saturday) from the week of ``start`` to that of ``end``."""
    first = start - timedelta(days=(start.weekday() + 1) % 7)
    days: list[date] = []
    d = first
    while d <= end or len(days) % 7:
        days.append(d)
        d += timedelta(days=1)
    return [days[i : i + 7] for i in range(0, len(days), 7)]


def date_picker(spec: FieldSpec, today: date) -> DatePicker:
    """The calendar of a ``date`` field on business day ``today``: one page when the window
    fits in six weeks, else a page per month; days outside the window are shown, greyed,
    and cannot be picked."""
    window = spec.date_window(today)
    if window is None:  # the loader requires a window; a hand-made spec gets a fortnight
        window = (today - timedelta(days=14), today)
    first, last = window

    def cell(d: date, shown: tuple[date, date], marked: bool) -> CalendarDay | None:
        if not shown[0] <= d <= shown[1]:
            return None
        enabled = first <= d <= last
        return CalendarDay(
            day=d,
            iso=d.isoformat(),
            label=day_label(d) if enabled else "",  # only a day that can be picked is read out
            enabled=enabled,
            today=d == today,
            month_mark=_month_mark(d) if marked else "",
        )

    weeks = _weeks(first, last)
    pages: list[CalendarPage] = []
    if len(weeks) <= ONE_PAGE_WEEKS:
        shown = (weeks[0][0], weeks[-1][-1])
        rows = [
            [cell(d, shown, d.day == 1 or (i == 0 and j == 0)) for j, d in enumerate(week)]
            for i, week in enumerate(weeks)
        ]
        pages.append(CalendarPage("all", _span_title(first, last), rows))
        start_page = "all"
    else:
        month = first.replace(day=1)
        start_page = ""
        while month <= last:
            next_month = (month + timedelta(days=32)).replace(day=1)
            shown = (month, next_month - timedelta(days=1))
            rows = [[cell(d, shown, False) for d in week] for week in _weeks(*shown)]
            key = month.strftime("%Y-%m")
            pages.append(CalendarPage(key, _month_title(month), rows))
            if month <= today < next_month or (not start_page and today < month):
                start_page = key
            month = next_month
        start_page = start_page or pages[-1].key
    names = get_day_names("abbreviated", locale=_babel_locale())
    weekdays = [names[(i + 6) % 7] for i in range(7)]  # Babel counts from Monday
    range_text = _(
        "Choose a day from %(first)s to %(last)s.",
        first=window_date_text(first),
        last=window_date_text(last),
    )
    return DatePicker(pages, weekdays, first, last, range_text, start_page)


# --- the address in the ward ------------------------------------------------------------------


# For residents who know their town in Latin letters: the initials each 50-音 row holds
# (五番町 Gobancho is in the か row, 千代田 Chiyoda in the た row, 富士見 Fujimi in the は row).
ROW_INITIALS = {
    "あ": "A I U E O",
    "か": "K G",
    "さ": "S Z J",
    "た": "T D Ch",
    "な": "N",
    "は": "H B P F",
    "ま": "M",
    "や": "Y",
    "ら": "R",
    "わ": "W",
}


@dataclass(frozen=True)
class TownGroup:
    initial: str
    towns: list[Town]


@dataclass(frozen=True)
class AddressPicker:
    """The ward's towns for the 50-音 index (rows, then groups by the first kana), the
    丁目 choices that any town has, and the ward's address prefix."""

    prefix: str
    rows: list[tuple[str, list[TownGroup]]]
    chome_choices: list[tuple[int, str]]
    initials: dict[str, str]


def address_picker(ward: Ward) -> AddressPicker:
    """What the address picker of ``ward`` shows."""
    rows = []
    for row, towns in ward.towns_by_row():
        groups = [
            TownGroup(initial, list(members))
            for initial, members in itertools.groupby(towns, key=lambda t: t.kana[0])
        ]
        rows.append((row, groups))
    most = max((max(t.chome) for t in ward.towns if t.chome), default=0)
    return AddressPicker(
        prefix=ward.address_prefix,
        rows=rows,
        chome_choices=[(n, chome_text(n)) for n in range(1, most + 1)],
        initials={} if current_locale() == "ja" else ROW_INITIALS,
    )
