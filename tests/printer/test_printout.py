"""The printed ticket and receipt as images: the number on one line at any width, text
broken where each language allows, the words in all four languages, a clear error
without the font."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask import Flask
from flask_babel import force_locale
from flask_babel import gettext as _
from PIL import Image

from tests.printer.conftest import receipt, ticket
from ui import printout
from ui.printout import FontMissing, render_receipt, render_ticket, wrap


def ink_rows(image: Image.Image, box: tuple[int, int, int, int]) -> list[int]:
    """Indices of the dot rows inside ``box`` that carry ink."""
    region = image.crop(box).convert("L")
    return [
        y
        for y in range(region.height)
        if region.crop((0, y, region.width, y + 1)).getextrema()[0] == 0
    ]


@pytest.mark.parametrize("width", [384, 576])
@pytest.mark.parametrize("number", ["A-7", "A-017", "B-1234", "MV-12345", "証-0123"])
def test_number_is_one_line_inside_the_paper(babel_app: Flask, width: int, number: str) -> None:
    """However long the number, it is drawn on one line that fits the paper's width."""
    with babel_app.app_context():
        page = render_ticket(ticket("ja", number), width_dots=width, language="ja")
    left, top, right, bottom = page.regions["number"]
    assert 0 <= left < right <= width
    rows = ink_rows(page.image, (0, top, width, bottom))
    assert rows and rows == list(range(rows[0], rows[-1] + 1))  # one band of ink
    assert page.image.mode == "1" and page.image.width == width


def test_short_numbers_are_big(babel_app: Flask) -> None:
    """A usual number is at least 1.5 cm tall on 80 mm paper (120 dots at 203 dpi)."""
    with babel_app.app_context():
        page = render_ticket(ticket("en"), width_dots=576, language="en")
    _left, top, _right, bottom = page.regions["number"]
    assert bottom - top >= 120


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        ("ja", "この 紙を 窓口で 見せて ください。"),
        ("en", "Please show this ticket at the counter."),
        ("zh_Hans", "请在窗口出示这张号码单。"),
        ("ko", "창구에서 이 번호표를 보여 주세요."),
    ],
)
def test_show_at_the_counter_in_four_languages(
    babel_app: Flask, language: str, expected: str
) -> None:
    """The ticket's new line is translated in every language's catalog."""
    with babel_app.app_context(), force_locale(language):
        assert _("Please show this ticket at the counter.") == expected


@pytest.mark.parametrize("language", ["ja", "en", "zh-Hans", "ko"])
def test_ticket_renders_in_each_language(babel_app: Flask, language: str) -> None:
    """Every language renders every part of the ticket with ink in it."""
    with babel_app.app_context():
        page = render_ticket(ticket(language), width_dots=384, language=language)
    for name, box in page.regions.items():
        assert ink_rows(page.image, box), name


def test_ticket_needs_the_app(babel_app: Flask) -> None:
    """Outside the app the words would silently be English: rendering refuses instead."""
    with pytest.raises(RuntimeError, match="inside the app"):
        render_ticket(ticket(), width_dots=576, language="ja")
    with babel_app.app_context(), pytest.raises(ValueError, match="language"):
        render_ticket(ticket(), width_dots=576, language="fr")


def test_only_printer_widths(babel_app: Flask) -> None:
    """Pages are 384 or 576 dots wide: the printable width of 58 and 80 mm paper."""
    with pytest.raises(ValueError, match="width"):
        render_receipt(receipt(), width_dots=500)


def test_receipt_with_a_refund_shows_it() -> None:
    """A partly refunded payment's receipt prints the refunded amount too."""
    from dataclasses import replace

    page = render_receipt(replace(receipt("en"), refunded_yen=300), width_dots=576)
    assert ink_rows(page.image, page.regions["refunded"])


def test_wrap_breaks_where_each_writing_allows() -> None:
    """Chinese breaks between characters but never before 。; spaced text (English, Korean,
    やさしい日本語) between words; a word longer than the line inside it."""
    font = printout._font("ja", "regular", 24)
    width = int(font.getlength("あ" * 5))
    lines = wrap("扫码即可在手机上查看排队进度。", font, width)
    assert "".join(lines) == "扫码即可在手机上查看排队进度。"
    assert all(font.getlength(line) <= width for line in lines)
    assert not any(line.startswith("。") for line in lines)
    assert wrap("この 紙を 窓口で 見せて ください。", font, width)[0] == "この 紙を"
    long_word = "pi_3QdemoABCDEFGHIJKLMNOP"
    assert "".join(wrap(long_word, font, width)) == long_word


def test_missing_font_names_the_package(
    babel_app: Flask, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without the CJK font the error says which Debian package to install."""
    monkeypatch.setattr(printout, "FONT_DIRS", (tmp_path,))
    printout._font.cache_clear()
    try:
        with pytest.raises(FontMissing, match="fonts-noto-cjk"):
            printout.font_path("bold")
        with babel_app.app_context(), pytest.raises(FontMissing):
            render_ticket(ticket(), width_dots=576, language="ja")
    finally:
        printout._font.cache_clear()


def test_long_receipt_grows_the_page() -> None:
    """A receipt of many procedures is as long as it needs to be, every line on paper."""
    from dataclasses import replace

    from payments.receipts import ReceiptLine

    lines = tuple(ReceiptLine(f"p{i}", f"住民票の写し {i}", 1, 300, 300) for i in range(60))
    page = render_receipt(replace(receipt("ja"), lines=lines, total_yen=18000), width_dots=384)
    assert page.image.height > 2000
    assert ink_rows(page.image, page.regions["line59"]) and ink_rows(
        page.image, page.regions["total"]
    )
