"""Errors of the card-reading boundary.

Every failure that leaves ``cardreader`` is a :class:`CardError`. Each subclass has a stable
``code`` (used by the JSON API and ``kiosk card read --json``) and a message in Japanese and
English. Vendor exceptions (pyscard) are wrapped at the edge with ``raise ... from e``.
Messages never contain a PIN or an individual number.
"""

from __future__ import annotations


class CardError(Exception):
    """Root of every card-reading failure."""

    code: str = "card_error"
    message_ja: str = "カードを読み取れませんでした。職員にお声がけください。"
    message_en: str = "The card could not be read. Please ask a member of staff."

    def __init__(self, detail: str | None = None) -> None:
        super().__init__(detail or self.message_en)
        self.detail = detail

    @property
    def tries_left(self) -> int | None:
        return None

    def message(self, language: str = "en") -> str:
        """The user-facing message in ``language`` ("ja" or anything else for English)."""
        return self.message_ja if language == "ja" else self.message_en


class ReaderUnavailable(CardError):
    code = "no_reader"
    message_ja = "カードリーダーが見つかりません。職員にお声がけください。"
    message_en = "No card reader was found. Please ask a member of staff."


class NoCard(CardError):
    code = "no_card"
    message_ja = "カードが置かれていません。マイナンバーカードをリーダーに置いてください。"
    message_en = "There is no card in the reader. Please place your My Number card on the reader."


class CardRemoved(CardError):
    code = "card_removed"
    message_ja = "読み取り中にカードが離れました。もう一度カードを置いてください。"
    message_en = (
        "The card was removed while it was being read. Please place it on the reader again."
    )


class NotMyNumberCard(CardError):
    code = "not_my_number_card"
    message_ja = "マイナンバーカードではありません。マイナンバーカードを置いてください。"
    message_en = "This is not a My Number card. Please use your My Number card."


class BadPinFormat(CardError):
    code = "bad_pin_format"
    message_ja = "暗証番号は数字4桁です。"
    message_en = "The PIN is 4 digits."


class WrongPin(CardError):
    """The card refused the PIN; ``tries_left`` more attempts remain."""

    code = "wrong_pin"

    def __init__(self, tries_left: int) -> None:
        self._tries_left = tries_left
        super().__init__(f"wrong PIN, {tries_left} tries left")

    @property
    def tries_left(self) -> int:
        return self._tries_left

    @property
    def message_ja(self) -> str:  # type: ignore[override]
        return f"暗証番号が違います。残り{self._tries_left}回です。"

    @property
    def message_en(self) -> str:  # type: ignore[override]
        plural = "try" if self._tries_left == 1 else "tries"
        return f"The PIN is not correct. {self._tries_left} {plural} left."


class PinLocked(CardError):
    code = "pin_locked"
    message_ja = (
        "暗証番号がロックされています。"
        "本人確認書類をお持ちのうえ、窓口で解除の手続きをしてください。"
    )
    message_en = (
        "The PIN of this card is locked. Please go to the counter with an identity document "
        "to unlock it."
    )

    @property
    def tries_left(self) -> int:
        return 0


class PinWouldLock(CardError):
    """Only one try is left: the kiosk refuses to send a PIN so that it never locks a card."""

    code = "pin_would_lock"
    message_ja = (
        "暗証番号の入力があと1回で、間違えるとロックされます。"
        "安全のため、窓口で職員にお申し出ください。"
    )
    message_en = (
        "Only one PIN try is left and a wrong entry would lock the card. "
        "For your safety, please go to the counter."
    )

    @property
    def tries_left(self) -> int:
        return 1


class JpkiBadPinFormat(CardError):
    """The JPKI user-authentication PIN is not four digits (nothing was sent)."""

    code = "jpki_bad_pin_format"
    message_ja = "利用者証明用電子証明書の暗証番号は数字4桁です。"
    message_en = "The PIN of the user authentication certificate is 4 digits."


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

    @property
    def message_ja(self) -> str:  # type: ignore[override]
        return f"利用者証明用電子証明書の暗証番号が違います。残り{self._tries_left}回です。"

    @property
    def message_en(self) -> str:  # type: ignore[override]
        plural = "try" if self._tries_left == 1 else "tries"
        return (
            "The PIN of the user authentication certificate is not correct. "
            f"{self._tries_left} {plural} left."
        )


class JpkiPinLocked(CardError):
    code = "jpki_pin_locked"
    message_ja = (
        "利用者証明用電子証明書の暗証番号がロックされています。窓口で解除の手続きをしてください。"
    )
    message_en = (
        "The PIN of the user authentication certificate is locked. "
        "Please go to the counter to unlock it."
    )

    @property
    def tries_left(self) -> int:
        return 0


class JpkiPinWouldLock(CardError):
    """One JPKI PIN try is left: the kiosk does not send the PIN, so it never locks it."""

    code = "jpki_pin_would_lock"
    message_ja = (
        "利用者証明用電子証明書の暗証番号の入力があと1回で、間違えるとロックされます。"
        "安全のため、窓口で職員にお申し出ください。"
    )
    message_en = (
        "Only one try is left for the PIN of the user authentication certificate and a wrong "
        "entry would lock it. For your safety, please go to the counter."
    )

    @property
    def tries_left(self) -> int:
        return 1


class MalformedCard(CardError):
    code = "malformed_card"
    message_ja = "カードの情報を正しく読み取れませんでした。職員にお声がけください。"
    message_en = "The data on the card could not be understood. Please ask a member of staff."


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
    JpkiWrongPin.code,
    JpkiPinLocked.code,
    JpkiPinWouldLock.code,
    JpkiBadPinFormat.code,
)
