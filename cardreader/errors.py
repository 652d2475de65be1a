"""Errors of the card-reading boundary.

Every failure that leaves ``cardreader`` is a :class:`CardError`. Each subclass has a stable
``code`` (used by the JSON API and ``kiosk card read --json``) and, where it matters, the
tries left: codes and parameters only, no words (the front ends word them from the gettext
catalogs: ``ui.words.CARD_ERRORS``). Vendor exceptions (pyscard) are wrapped at the edge with
``raise ... from e``. Details never contain a PIN or an individual number.
"""

from __future__ import annotations


class CardError(Exception):
    """Root of every card-reading failure."""

    code: str = "card_error"

    def __init__(self, detail: str | None = None) -> None:
        super().__init__(detail or self.code)
        self.detail = detail

    @property
    def tries_left(self) -> int | None:
        return None


class ReaderUnavailable(CardError):
    code = "no_reader"


class NoCard(CardError):
    code = "no_card"


class CardRemoved(CardError):
    code = "card_removed"


class NotMyNumberCard(CardError):
    code = "not_my_number_card"


class BadPinFormat(CardError):
    code = "bad_pin_format"


class WrongPin(CardError):
    """The card refused the PIN; ``tries_left`` more attempts remain."""

    code = "wrong_pin"

    def __init__(self, tries_left: int) -> None:
        self._tries_left = tries_left
        super().__init__(f"wrong PIN, {tries_left} tries left")

    @property
    def tries_left(self) -> int:
        return self._tries_left


class PinLocked(CardError):
    code = "pin_locked"

    @property
    def tries_left(self) -> int:
        return 0


class PinWouldLock(CardError):
    """Only one try is left: the kiosk refuses to send a PIN so that it never locks a card."""

    code = "pin_would_lock"

    @property
    def tries_left(self) -> int:
        return 1


class JpkiBadPinFormat(CardError):
    """The JPKI user-authentication PIN is not four digits (nothing was sent)."""

    code = "jpki_bad_pin_format"


class JpkiWrongPin(CardError):
    """The card refused the JPKI user-authentication PIN; ``tries_left`` more attempts remain.

    A different PIN from the Text AP PIN (:class:`WrongPin`): the resident must be told which
    PIN was wrong.
    """

    code = "jpki_wrong_pin"

    def __init__(self, tries_left: int) -> None:
        self._tries_left = tries_left
        super().__init__(f"wrong JPKI authentication PIN, {tries_left} tries left")

    @property
    def tries_left(self) -> int:
        return self._tries_left


class JpkiPinLocked(CardError):
    code = "jpki_pin_locked"

    @property
    def tries_left(self) -> int:
        return 0


class JpkiPinWouldLock(CardError):
    """One JPKI PIN try is left: the kiosk does not send the PIN, so it never locks it."""

    code = "jpki_pin_would_lock"

    @property
    def tries_left(self) -> int:
        return 1


class MalformedCard(CardError):
    code = "malformed_card"


class ReaderBusy(CardError):
    """Another card operation is using the reader right now (``cardreader.exclusive``);
    nothing was sent to the card (no PIN try was used). Try again in a moment."""

    code = "reader_busy"


ERROR_CODES: tuple[str, ...] = (
    ReaderUnavailable.code,
    NoCard.code,
    CardRemoved.code,
    NotMyNumberCard.code,
    WrongPin.code,
    PinLocked.code,
    PinWouldLock.code,
    BadPinFormat.code,
    MalformedCard.code,
    ReaderBusy.code,
    JpkiWrongPin.code,
    JpkiPinLocked.code,
    JpkiPinWouldLock.code,
    JpkiBadPinFormat.code,
)
