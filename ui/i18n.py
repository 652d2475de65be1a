"""Languages of every screen: Flask-Babel set-up, locale choice and formatting helpers.

Screens write text with ``from flask_babel import gettext as _`` (templates: ``_()``);
catalogs live in ``ui/translations/<locale>/LC_MESSAGES/messages.po``. Four languages:
``ja`` (default), ``en``, ``zh_Hans`` and ``ko``. The locale is chosen by ``?lang=`` (then
remembered in the session), the session, then the browser's Accept-Language.

Three spellings of the same language meet here: Babel's locale (``zh_Hans``), the HTML
``lang`` attribute / BCP 47 tag (``zh-Hans``) and the domain catalog's key (``zh-Hans``).
"""

from __future__ import annotations

import logging
from datetime import date, datetime
from pathlib import Path
from typing import Any

from flask import Flask, request, session
from flask_babel import (
    Babel,
    format_datetime,
    get_locale,
    gettext,
    ngettext,
)
from flask_babel import gettext as _

from kiosk.clock import TOKYO
from ui.services import current_services
from ui.words import (
    CARD_ERRORS,
    CARD_REFUSALS,
    CARD_REFUSED,
    WRONG_PIN,
    YEN,
    translate_in,
    written_date,
)

log = logging.getLogger(__name__)

SUPPORTED: tuple[str, ...] = ("ja", "en", "zh_Hans", "ko")
DEFAULT = "ja"
# What the language switch shows: each language in its own script (never translated).
NATIVE_NAMES: dict[str, str] = {
    "ja": "日本語",
    "en": "English",
    "zh_Hans": "简体中文",
    "ko": "한국어",
}
_ALIASES = {
    "ja": "ja",
    "en": "en",
    "ko": "ko",
    "zh_hans": "zh_Hans",
    "zh-hans": "zh_Hans",
    "zh": "zh_Hans",
    "zh_cn": "zh_Hans",
    "zh-cn": "zh_Hans",
}
TRANSLATIONS_DIR = Path(__file__).parent / "translations"


def normalise_locale(value: str | None) -> str | None:
    """``zh-Hans`` / ``zh_CN`` / ``ja`` ... -> one of :data:`SUPPORTED`, or None."""
    if not value:
        return None
    return _ALIASES.get(value.strip().lower())


def select_locale() -> str:
    """Flask-Babel's locale selector: ``?lang=``, then the session, then Accept-Language."""
    asked = normalise_locale(request.args.get("lang"))
    if asked:
        session["lang"] = asked
        return asked
    remembered = normalise_locale(session.get("lang"))
    if remembered:
        return remembered
    best = request.accept_languages.best_match(["ja", "en", "zh-Hans", "zh", "zh-CN", "ko"])
    return normalise_locale(best) or DEFAULT


def current_locale() -> str:
    """The request's locale as one of :data:`SUPPORTED`."""
    return normalise_locale(str(get_locale() or DEFAULT)) or DEFAULT


def html_lang(locale: str | None = None) -> str:
    """BCP 47 tag for ``<html lang>``: ``zh_Hans`` -> ``zh-Hans``."""
    return (locale or current_locale()).replace("_", "-")


def domain_language(locale: str | None = None) -> str:
    """The key the domain catalog and cases use (``ja``, ``en``, ``zh-Hans``, ``ko``)."""
    return html_lang(locale)


def localized(names: Any, locale: str | None = None) -> str:
    """Pick the current language from a ``{"ja": ..., "en": ...}`` mapping of the catalog."""
    if not names:
        return ""
    lang = domain_language(locale)
    return str(names.get(lang) or names.get("ja") or next(iter(names.values())))


def ward_name(locale: str | None = None) -> str:
    """The ward's name on screens and receipts in the language (``locale``: Babel's or the
    domain's spelling; default the request's): ``KIOSK_WARD_NAME`` when set, in every
    language; otherwise the catalog's ``[ward] names``."""
    services = current_services()
    return services.catalog.ward_name(domain_language(locale), override=services.settings.ward_name)


def ward_addressee() -> str:
    """Whom the A4 application is addressed to (the catalog's ``[ward] addressee``, e.g.
    千代田区長); always Japanese, like the form."""
    ward = current_services().catalog.ward
    return ward.addressee if ward is not None else ""


def yen(amount: int) -> str:
    """Integer yen as each language writes it: ``300円``, ``¥300``, ``300日元``, ``300엔``
    (the receipt's word, ``ui.words.YEN``; never CLDR's ``JP¥300``, which a Chinese or Korean
    reader does not use for prices)."""
    return translate_in(domain_language(), YEN, amount=f"{amount:,}")


def long_date(d: date | None) -> str:
    """A date written out, never as an ambiguous 12/02/2026: ``2026年12月2日``,
    ``2 December 2026``, ``2026年12月2日`` (zh), ``2026년 12월 2일``."""
    if d is None:
        return ""
    if current_locale() == "ja":
        return f"{d.year}年{d.month}月{d.day}日"
    return written_date(d, domain_language())


def date_time(moment: datetime | None) -> str:
    """A moment in Tokyo time, the date written out (:func:`long_date`) and the time on the
    24-hour clock: ``2 December 2026, 11:34``."""
    if moment is None:
        return ""
    local = moment.astimezone(TOKYO)
    separator = " " if current_locale() in ("ja", "zh_Hans", "ko") else ", "
    return f"{long_date(local.date())}{separator}{local:%H:%M}"


def wait_range(minutes: tuple[int, int] | list[int]) -> str:
    """An estimated wait as people say it, from ``WaitEstimate.minutes()``: "You are next"
    when nobody is ahead, "About 5 minutes", "About 10–20 minutes" (never "no wait" while
    anyone is ahead: the estimate says at least a minute then)."""
    low, high = minutes
    if high <= 0:
        return _("You are next")
    if low == high:
        return ngettext("About %(num)d minute", "About %(num)d minutes", low)
    return _("About %(low)d–%(high)d minutes", low=low, high=high)


def card_error_message(code: str, tries_left: int | None = None) -> str:
    """The resident's message for a card error ``code`` in the current language."""
    if code in WRONG_PIN:
        singular, plural = WRONG_PIN[code]
        return ngettext(singular, plural, tries_left or 0)
    return gettext(CARD_ERRORS.get(code, CARD_ERRORS["card_error"]))


def card_refusal_message(check: str, result: str) -> str:
    """The resident's message, in the current language, for a card the ward's policy refused
    at ``check`` with ``result`` (``application.card_policy.CardNotGenuine``)."""
    return gettext(CARD_REFUSALS.get((check, result), CARD_REFUSED))


class TranslationsNotCompiled(RuntimeError):
    """A language's catalog was never compiled (``scripts/setup.sh`` compiles them)."""


def require_compiled(directory: Path = TRANSLATIONS_DIR) -> None:
    """Refuse to start when a language's ``.mo`` is missing: a fresh clone has none (they
    are build output, git-ignored, compiled by ``scripts/setup.sh``), and without them every
    screen would silently be in English. Nothing is compiled at run time."""
    missing = [
        po.parent.parent.name
        for po in sorted(directory.glob("*/LC_MESSAGES/*.po"))
        if not po.with_suffix(".mo").exists()
    ]
    if missing:
        raise TranslationsNotCompiled(
            f"translations not compiled for {', '.join(missing)}: run scripts/setup.sh "
            "(or pybabel compile -d ui/translations)"
        )


def init_i18n(app: Flask) -> None:
    """Flask-Babel with :func:`select_locale`; template helpers for every blueprint."""
    require_compiled()
    app.config.setdefault("BABEL_DEFAULT_LOCALE", DEFAULT)
    app.config.setdefault("BABEL_DEFAULT_TIMEZONE", "Asia/Tokyo")
    app.config["BABEL_TRANSLATION_DIRECTORIES"] = str(TRANSLATIONS_DIR)
    Babel(app, locale_selector=select_locale)
    app.jinja_env.globals.update(
        SUPPORTED_LOCALES=SUPPORTED,
        NATIVE_NAMES=NATIVE_NAMES,
        html_lang=html_lang,
        current_locale=current_locale,
        localized=localized,
        yen=yen,
        long_date=long_date,
        date_time=date_time,
        wait_range=wait_range,
        format_datetime=format_datetime,
        ward_name=ward_name,
        ward_addressee=ward_addressee,
    )
