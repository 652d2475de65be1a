"""Offline voice: the display board's spoken call announcements and the kiosk's read-aloud
guidance, synthesized on this machine by espeak-ng (no online speech service).

Two parts:

- **What is said**. Every spoken text comes from the Flask-Babel catalogs (``pgettext``
  contexts ``announcement`` and ``speech``), separately from the display texts: espeak-ng's
  Japanese voice reads kana and digits but not kanji (it says "Chinese letter"), so the
  Japanese spoken texts are kana written as pronounced (particles わ, え) in やさしい日本語.
  Only numbers and instructions are ever spoken: never a name, an address or a PIN.
- **How it is said**: ``application.speech`` (espeak-ng, cached), built by the
  composition root.

Audio is served by ``/api/voice/call.wav`` (a board announcement) and
``/api/voice/guide/<screen>.wav`` (a kiosk screen's instruction). Without espeak-ng both
answer 503 ``voice_unavailable``, the board still chimes and the kiosk shows no read-aloud
button; ``/healthz`` reports the voice.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import Any

from flask import Blueprint, Response, jsonify, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import force_locale, pgettext
from flask_babel import gettext as _

from application.speech import VOICES, CachedSynthesizer, SpeechError
from kiosk.catalog import contains_kanji
from kiosk.counters import get_counter
from kiosk.errors import NotFound
from ui.i18n import domain_language, html_lang, normalise_locale
from ui.services import current_services

log = logging.getLogger(__name__)

bp = Blueprint("voice", __name__, url_prefix="/api/voice")


# Letter names of a queue prefix, per language (a lone "A" is read as the article "a").
_JA_LETTERS = dict(
    zip(
        "ABCDEFGHIJKLMNOPQRSTUVWXYZ",
        "えー びー しー でぃー いー えふ じー えいち あい じぇー けー える えむ えぬ おー ぴー "
        "きゅー あーる えす てぃー ゆー ぶい だぶりゅー えっくす わい ぜっと".split(),
        strict=True,
    )
)
_KO_LETTERS = dict(
    zip(
        "ABCDEFGHIJKLMNOPQRSTUVWXYZ",
        "에이 비 씨 디 이 에프 지 에이치 아이 제이 케이 엘 엠 엔 오 피 큐 알 에스 티 유 브이 "
        "더블유 엑스 와이 제트".split(),
        strict=True,
    )
)
_NUMBER = re.compile(r"([A-Z]{1,3})-?([0-9]{1,4})")
_COUNTER_CODE = re.compile(r"[0-9]{1,3}")


# --- what is said -------------------------------------------------------------------------


def spoken_number(number: str, language: str) -> str:
    """A ticket's display number (``A-012``) as the voice of ``language`` should read it:
    the prefix as letter names, the number without leading zeros (``えー の 12ばん``,
    ``A-12``, ``A 12号``, ``에이 12번``). Raises ValueError for anything else."""
    match = _NUMBER.fullmatch(number)
    if match is None:
        raise ValueError(f"not a ticket number: {number!r}")
    letters, num = match.group(1), int(match.group(2))
    if language == "ja":
        return " ".join(_JA_LETTERS[c] for c in letters) + f" の {num}ばん"
    if language == "ko":
        return " ".join(_KO_LETTERS[c] for c in letters) + f" {num}번"
    if language == "zh-Hans":
        return " ".join(letters) + f" {num}号"
    return "-".join(letters) + f"-{num}"


def spoken_counter(
    code: str, names: Mapping[str, str], spoken: Mapping[str, str], language: str
) -> str:
    """How ``language`` says a counter: the catalog's spoken form, else its name. A
    Japanese name with kanji is never spoken: ``<code>ばん まどぐち`` for a numeric code,
    else ``ひょうじ の まどぐち`` ("the counter shown")."""
    if spoken.get(language):
        return spoken[language]
    name = names.get(language) or ""
    if language != "ja":
        return name or code
    if name and not contains_kanji(name):
        return name
    return f"{code}ばん まどぐち" if _COUNTER_CODE.fullmatch(code) else "ひょうじ の まどぐち"


def announcement_text(number: str, counter: str, language: str) -> str:
    """The board's call in ``language`` (call inside a request context): number and
    counter only, e.g. ``Number A-12, please come to Counter 3.``"""
    with force_locale(_babel_locale(language)):
        return pgettext(
            "announcement",
            "Number %(number)s, please come to %(counter)s.",
            number=spoken_number(number, language),
            counter=counter,
        )


def _guides() -> dict[str, str]:
    # One instruction per kiosk screen (key = the template's ``guide``). English msgids;
    # Japanese translations in kana (やさしい日本語, particles written as said: わ, え).
    return {
        "welcome": pgettext(
            "speech",
            "Here you can apply for certificates without writing. You use your My Number "
            "card. Choose your language, then press Start.",
        ),
        "procedures": pgettext(
            "speech",
            "Choose what you need today. You can choose more than one. Then press Next.",
        ),
        "fields": pgettext(
            "speech",
            "Tell us a few details. Your name, address and date of birth come from your "
            "card: you do not need to write them. Then press Next.",
        ),
        "card": pgettext(
            "speech",
            "Place your My Number card on the card reader. Leave it there until you have "
            "your number.",
        ),
        "pin": pgettext(
            "speech",
            "Enter the 4-digit PIN of your card with the number keys on the screen. Then press OK.",
        ),
        "pin_jpki": pgettext(
            "speech",
            "Enter the 4-digit PIN of your card and press Next. Then enter the 4-digit PIN of "
            "your user authentication certificate and press OK. For some people it is a "
            "different number.",
        ),
        "check": pgettext(
            "speech",
            "Please check your application. If something is wrong, press Change. If it "
            "is correct, press the button to go on.",
        ),
        "pay": pgettext(
            "speech",
            "Please pay the fee. You can pay with a credit card, e-money or a smartphone. "
            "Press the pay button. Cash is accepted at the counter.",
        ),
        "pay_terminal": pgettext(
            "speech",
            "Touch your card, e-money or smartphone on the payment terminal. Please wait a moment.",
        ),
        "pay_qr": pgettext(
            "speech",
            "Scan the QR code with your smartphone and pay on your phone. Your number "
            "will appear here.",
        ),
        "ticket": pgettext(
            "speech",
            "This is your number. When your number is shown on the screen, please go to "
            "the counter. Please take your My Number card with you.",
        ),
        "receipt": pgettext("speech", "This is the statement of your payment. You can print it."),
        "stop": pgettext(
            "speech",
            "Please go to the counter. Staff will help you there. Please take your card with you.",
        ),
        "problem": pgettext(
            "speech",
            "Sorry, this cannot be done here. Please call staff, or go back to the start.",
        ),
        "staff_called": pgettext("speech", "A member of staff is coming. Please wait here."),
        # The ticket screen when the kiosk's printer could not print (application.printing).
        "print_failed": pgettext(
            "speech",
            "The ticket could not be printed. Please take a photo of the QR code with your "
            "smartphone, or ask a member of staff.",
        ),
        # One card, one visit (application.visits): said by themselves, not only on request.
        "take_card": pgettext(
            "speech", "Please take your My Number card from the card reader. Do not forget it."
        ),
        "card_from_earlier": pgettext(
            "speech",
            "A card was on the card reader before you started. Please take the card off once, "
            "then place your card again.",
        ),
    }


GUIDE_SCREENS: tuple[str, ...] = (
    "welcome",
    "procedures",
    "fields",
    "card",
    "pin",
    "pin_jpki",
    "check",
    "pay",
    "pay_terminal",
    "pay_qr",
    "ticket",
    "receipt",
    "stop",
    "problem",
    "staff_called",
    "take_card",
    "card_from_earlier",
    "print_failed",
)


def _notices() -> dict[str, str]:
    # Said by the kiosk by itself when something happens on a screen (not a screen's
    # instruction): someone is coming; what the number keypad typed.
    return {
        "staff_coming": pgettext(
            "speech", "A member of staff is on the way to you now. Please wait here."
        ),
        # The physical number keypad on the PIN screen (resident-help.js): how to use it,
        # and how many digits are in (never which).
        "pin_keypad": pgettext(
            "speech",
            "You can use the number keys. Enter the four digits of your PIN, then press "
            "Enter. The Backspace key erases one digit.",
        ),
        "pin_digits_0": pgettext("speech", "No digits entered."),
        "pin_digits_1": pgettext("speech", "One digit entered."),
        "pin_digits_2": pgettext("speech", "Two digits entered."),
        "pin_digits_3": pgettext("speech", "Three digits entered."),
        "pin_digits_4": pgettext("speech", "Four digits entered. Press Enter."),
        # The number keypad on the main choices (keypad-choices.js): "+" says what the keys
        # do on the screen; a digit that ticks or unticks a procedure says which number.
        "keys_welcome": pgettext(
            "speech",
            "You can use the number keys. Press Enter to start. For the language, press 1 "
            "for Japanese, 2 for English, 3 for Chinese, 4 for Korean. The plus key says "
            "this again.",
        ),
        "keys_procedures": pgettext(
            "speech",
            "Press the number of a procedure to choose it; press it again to remove it. The "
            "number is shown next to each procedure. Then press Enter.",
        ),
        "keys_fields": pgettext(
            "speech",
            "Press Enter to go on with these details. The minus key goes back.",
        ),
        "keys_check": pgettext(
            "speech",
            "If your application is correct, press Enter. To change it, press the minus key.",
        ),
        "keys_pay": pgettext(
            "speech",
            "Press 1 to pay with a card, e-money or a smartphone on the payment terminal. "
            "Press 2 to pay in cash at the counter.",
        ),
        "keys_ticket": pgettext(
            "speech",
            "Your number is ready. Press Enter to finish. Please take your My Number card "
            "with you.",
        ),
        **{
            f"keys_chosen_{n}": pgettext("speech", "Number %(n)s is chosen.", n=n)
            for n in range(10)
        },
        **{
            f"keys_removed_{n}": pgettext("speech", "Number %(n)s is removed.", n=n)
            for n in range(10)
        },
    }


# Screens whose main choices the number keypad makes (the template's ``keys``).
KEYS_SCREENS: tuple[str, ...] = (
    "keys_welcome",
    "keys_procedures",
    "keys_fields",
    "keys_check",
    "keys_pay",
    "keys_ticket",
)

SPOKEN_NOTICES: tuple[str, ...] = (
    "staff_coming",
    "pin_keypad",
    *(f"pin_digits_{n}" for n in range(5)),
    *KEYS_SCREENS,
    *(f"keys_chosen_{n}" for n in range(10)),
    *(f"keys_removed_{n}" for n in range(10)),
)


def guide_text(screen: str, language: str) -> str:
    """The spoken instruction of kiosk ``screen`` (or the notice of that name, see
    :data:`SPOKEN_NOTICES`) in ``language`` (KeyError if unknown)."""
    with force_locale(_babel_locale(language)):
        return {**_guides(), **_notices()}[screen]


def _babel_locale(language: str) -> str:
    return language.replace("-", "_")


# --- the app's side -----------------------------------------------------------------------


def speech() -> CachedSynthesizer:
    """The app's synthesizer (built by the composition root)."""
    return current_services().speech


def voice_guide_url(screen: str) -> str | None:
    """URL of ``screen``'s spoken instruction in the request's language, or None when
    there is no voice (then the kiosk shows no read-aloud button)."""
    if screen not in (*GUIDE_SCREENS, *SPOKEN_NOTICES) or not speech().available():
        return None
    return url_for("voice.guide", screen=screen, lang=html_lang())


def announce_languages() -> tuple[str, ...]:
    """Languages the board announces in (``KIOSK_ANNOUNCE_LANGUAGES``); empty when there is
    no voice."""
    if not speech().available():
        return ()
    return current_services().settings.announce_language_list


def health() -> dict[str, Any]:
    """The voice part of ``/healthz`` (informative: a missing voice never makes the
    service unhealthy, the board chimes and the kiosk screens work without it)."""
    synthesizer = speech()
    return {
        "available": synthesizer.available(),
        "engine": synthesizer.name,
        "announce_languages": list(current_services().settings.announce_language_list),
        "cache": synthesizer.stats(),
    }


def _error(code: str, status: int, message: str) -> Response:
    response = jsonify(error={"code": code, "message": message})
    response.status_code = status
    response.headers["Cache-Control"] = "no-store"
    return response


def _wav(text: str, language: str) -> ResponseReturnValue:
    try:
        audio = speech().synthesize(text, VOICES[language])
    except SpeechError as e:
        log.warning("voice: %s", e)
        return _error("voice_unavailable", 503, _("Voice guidance is not available right now."))
    response = Response(audio, mimetype="audio/wav")
    # Same URL, same sound until the service restarts with another catalog or translation.
    response.headers["Cache-Control"] = "public, max-age=3600"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


def _language() -> str | None:
    locale = normalise_locale(request.args.get("lang", "ja"))
    return domain_language(locale) if locale else None


@bp.get("/call.wav")
def call() -> ResponseReturnValue:
    """A board announcement: ``?number=A-012&counter=3&lang=ja`` (numbers only)."""
    language = _language()
    # Every message in the asked language without remembering it in the session (a board
    # asking for English must not turn its own page English).
    with force_locale(_babel_locale(language or "ja")):
        number, code = request.args.get("number", ""), request.args.get("counter", "")
        if language is None or _NUMBER.fullmatch(number) is None or not 0 < len(code) <= 64:
            return _error("bad_request", 400, _("The request was not understood."))
        try:
            with current_services().sessions() as s:
                names = dict(get_counter(s, code).names)
        except NotFound:
            return _error("not_found", 404, _("It was not found."))
        catalog = current_services().catalog
        spec = next((c for c in catalog.counters if c.code == code), None)
        counter = spoken_counter(code, names, spec.spoken if spec else {}, language)
        return _wav(announcement_text(number, counter, language), language)


@bp.get("/guide/<screen>.wav")
def guide(screen: str) -> ResponseReturnValue:
    """A kiosk screen's spoken instruction in ``?lang=`` (instructions only)."""
    language = _language()
    with force_locale(_babel_locale(language or "ja")):
        if language is None:
            return _error("bad_request", 400, _("The request was not understood."))
        if screen not in (*GUIDE_SCREENS, *SPOKEN_NOTICES):
            return _error("not_found", 404, _("It was not found."))
        return _wav(guide_text(screen, language), language)
