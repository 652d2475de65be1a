"""The printed ticket and receipt: 1-bit images as wide as the printer's paper.

A thermal printer's own kanji modes and code pages vary by model, so everything is drawn
here, with a local CJK font (Debian ``fonts-noto-cjk``), and printed as a raster image
(``application.printer``). Widths are in dots at 203 dpi: 384 for 58 mm paper, 576 for
80 mm. The ticket's words are gettext strings (the resident's language, through
Flask-Babel: render inside the app); the receipt reads as the kiosk's receipt
(``ui.receipts.document``, ``receipt/_document.html``).

The number is drawn as large as the paper allows and never wraps: its size is chosen to
fit the width on one line.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import qrcode
import qrcode.constants
from flask import has_app_context
from flask_babel import force_locale, ngettext
from flask_babel import gettext as _
from PIL import Image, ImageDraw, ImageFont

from payments.receipts import Receipt
from ui.i18n import date_time, normalise_locale
from ui.receipts import document

# Where Debian's fonts-noto-cjk puts its collections; the first that exists is used.
FONT_DIRS = (Path("/usr/share/fonts/opentype/noto"),)
FONT_FILES = {"regular": "NotoSansCJK-Regular.ttc", "bold": "NotoSansCJK-Bold.ttc"}
# The face of the collection per language: the same character is drawn the way each
# language writes it (e.g. 骨 and 直 differ between Japanese and Chinese).
FACES = {
    "ja": "Noto Sans CJK JP",
    "en": "Noto Sans CJK JP",
    "zh-Hans": "Noto Sans CJK SC",
    "ko": "Noto Sans CJK KR",
}
WIDTHS = (384, 576)

Box = tuple[int, int, int, int]  # left, top, right, bottom


class FontMissing(RuntimeError):
    """No CJK font where the Debian package puts it: printing cannot draw Japanese."""


@dataclass(frozen=True)
class TicketPrintout:
    """What a ticket says. ``issued_at``: aware (or naive UTC); shown in the ward's time
    zone. ``phone_url``: the phone page behind the QR code, at the address phones reach."""

    ward_name: str
    queue_name: str
    number: str
    issued_at: datetime
    people_ahead: int
    phone_url: str


@dataclass(frozen=True)
class Printout:
    """A rendered page: ``image`` (mode ``"1"``, black = ink, ``width`` dots wide) and where
    each part was drawn (``regions``: name -> box), for tests and previews."""

    image: Image.Image
    regions: dict[str, Box] = field(default_factory=dict)


def font_path(weight: str = "regular") -> Path:
    """The CJK font collection file of ``weight`` (``regular``/``bold``). Raises FontMissing
    naming the package to install. Call at start-up when a printer is configured."""
    for directory in FONT_DIRS:
        path = directory / FONT_FILES[weight]
        if path.is_file():
            return path
    looked = ", ".join(str(d / FONT_FILES[weight]) for d in FONT_DIRS)
    raise FontMissing(
        f"no CJK font for printed tickets (looked for {looked}): "
        "install the Debian package fonts-noto-cjk (scripts/setup.sh does)"
    )


@functools.lru_cache(maxsize=16)
def _face_index(path: Path, family: str) -> int:
    for index in range(32):
        try:
            name = ImageFont.truetype(str(path), 12, index=index).getname()[0]
        except OSError:
            break
        if name == family:
            return index
    raise FontMissing(f"{path} has no face {family!r}")


@functools.lru_cache(maxsize=128)
def _font(language: str, weight: str, size: int) -> ImageFont.FreeTypeFont:
    path = font_path(weight)
    index = _face_index(path, FACES.get(language, FACES["ja"]))
    # Basic layout: CJK, Latin and precomposed Hangul need no shaping, and it is faster.
    return ImageFont.truetype(str(path), size, index=index, layout_engine=ImageFont.Layout.BASIC)


# Closing marks that must not begin a line (kinsoku), in Japanese, Chinese and Latin text.
_NO_LINE_START = set("、。，．・：；？！゛゜ヽヾゝゞ々ー）］｝」』〉》】〕’”),.:;?!%")
_TOKENS = re.compile(r"\s+|[A-Za-z0-9@#&*+=/_.,:;!?%$¥'\"()\[\]\-]+|.", re.S)


def _tokens(text: str) -> Iterator[str]:
    """The places a line may break. Text written with spaces (English, Korean, Japanese in
    やさしい日本語) breaks between its words; text without (Chinese, ordinary Japanese)
    between any two characters, except before a closing mark (kinsoku)."""
    if re.search(r"\s", text.strip()):
        yield from re.findall(r"\s+|\S+", text)
        return
    pending = ""
    for token in _TOKENS.findall(text):
        if pending and token[0] in _NO_LINE_START:
            pending += token
            continue
        if pending:
            yield pending
        pending = token
    if pending:
        yield pending


def wrap(text: str, font: ImageFont.FreeTypeFont, width: int) -> list[str]:
    """``text`` broken into lines no wider than ``width`` dots: between words of Latin text,
    between characters of CJK text, inside a word only when it is wider than a line."""
    lines: list[str] = []
    line = ""
    for token in _tokens(text):
        candidate = line + token
        if font.getlength(candidate) <= width:
            line = candidate
            continue
        if line.strip():
            lines.append(line.rstrip())
        line = token.lstrip()
        while font.getlength(line) > width:  # one word wider than the paper
            cut = len(line)
            while cut > 1 and font.getlength(line[:cut]) > width:
                cut -= 1
            lines.append(line[:cut])
            line = line[cut:]
    if line.strip():
        lines.append(line.rstrip())
    return lines


class _Canvas:
    """Draws top to bottom on a tall greyscale page; :meth:`finish` crops and thresholds it.

    Text is drawn anti-aliased and then cut at 50 % grey: at 203 dpi that keeps kanji
    strokes whole where drawing straight to 1 bit would break thin ones."""

    def __init__(self, width: int, language: str) -> None:
        if width not in WIDTHS:
            raise ValueError(f"width={width}: expected one of {WIDTHS}")
        self.width = width
        self.language = language
        self.scale = width / 576
        self.margin = round(12 * self.scale)
        self.image = Image.new("L", (width, 2000), 255)
        self.draw = ImageDraw.Draw(self.image)
        self.y = self.margin
        self.regions: dict[str, Box] = {}

    def room(self, dots: int) -> None:
        """Make the page at least ``dots`` taller than what is drawn (a long receipt)."""
        if self.y + dots > self.image.height:
            grown = Image.new("L", (self.width, max(2 * self.image.height, self.y + dots)), 255)
            grown.paste(self.image, (0, 0))
            self.image, self.draw = grown, ImageDraw.Draw(grown)

    def px(self, size_at_80mm: float, smallest: int = 0) -> int:
        """A size given for 80 mm paper, scaled to this paper, never below ``smallest``."""
        return max(round(size_at_80mm * self.scale), smallest)

    @property
    def inner(self) -> int:
        return self.width - 2 * self.margin

    def font(self, size: int, bold: bool = False) -> ImageFont.FreeTypeFont:
        return _font(self.language, "bold" if bold else "regular", size)

    def text(
        self, text: str, size: int, *, bold: bool = False, align: str = "left", name: str = ""
    ) -> None:
        font = self.font(size, bold)
        top = self.y
        line_height = round(size * 1.3)
        lines = wrap(text, font, self.inner)
        self.room(line_height * len(lines))
        for line in lines:
            length = font.getlength(line)
            x = {
                "left": self.margin,
                "center": (self.width - length) / 2,
                "right": self.width - self.margin - length,
            }[align]
            self.draw.text((x, self.y), line, font=font, fill=0)
            self.y += line_height
        if name:
            self.regions[name] = (self.margin, top, self.width - self.margin, self.y)

    def pair(self, left: str, right: str, size: int, *, bold: bool = False, name: str = "") -> None:
        """``left`` and ``right`` on one line (label and amount); ``left`` wraps if needed."""
        font = self.font(size, bold)
        right_length = font.getlength(right)
        top = self.y
        line_height = round(size * 1.3)
        lines = wrap(left, font, max(self.inner - int(right_length) - size, size)) or [""]
        self.room(line_height * len(lines))
        for line in lines:
            self.draw.text((self.margin, self.y), line, font=font, fill=0)
            self.y += line_height
        self.draw.text(
            (self.width - self.margin - right_length, self.y - line_height),
            right,
            font=font,
            fill=0,
        )
        if name:
            self.regions[name] = (self.margin, top, self.width - self.margin, self.y)

    def number(self, text: str, largest: int, name: str) -> None:
        """``text`` on one line, as large as fits the width (at most ``largest``)."""
        size = largest
        while size > 12:
            font = self.font(size, bold=True)
            left, _top, right, _bottom = font.getbbox(text)
            if right - left <= self.inner:
                break
            size -= 2
        font = self.font(size, bold=True)
        left, top, right, bottom = (int(edge) for edge in font.getbbox(text))
        self.room(bottom - top)
        x = (self.width - (right - left)) / 2 - left
        self.draw.text((x, self.y - top), text, font=font, fill=0)
        box_left = round(x + left)
        self.regions[name] = (box_left, self.y, box_left + right - left, self.y + bottom - top)
        self.y += bottom - top

    def qr(self, data: str, name: str) -> None:
        """The QR code of ``data``, centred, with its quiet zone, modules of whole dots."""
        code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, border=4)
        code.add_data(data)
        code.make(fit=True)
        matrix = code.get_matrix()
        modules = len(matrix)
        module = max(3, min(8, int(self.width * 0.5) // modules))
        size = modules * module
        self.room(size)
        left = (self.width - size) // 2
        for row, cells in enumerate(matrix):
            for col, dark in enumerate(cells):
                if dark:
                    x, y = left + col * module, self.y + row * module
                    self.draw.rectangle((x, y, x + module - 1, y + module - 1), fill=0)
        self.regions[name] = (left, self.y, left + size, self.y + size)
        self.y += size

    def rule(self, thickness: int = 2) -> None:
        self.space(self.px(10))
        self.room(thickness)
        self.draw.rectangle(
            (self.margin, self.y, self.width - self.margin - 1, self.y + thickness - 1), fill=0
        )
        self.y += thickness
        self.space(self.px(10))

    def space(self, dots: int) -> None:
        self.room(dots)
        self.y += dots

    def finish(self) -> Printout:
        self.space(self.margin)
        page = self.image.crop((0, 0, self.width, self.y))
        # Plain threshold at 50 % grey; dithering would fray the edges of glyphs.
        return Printout(page.convert("1", dither=Image.Dither.NONE), self.regions)


def _require_app(language: str) -> str:
    if not has_app_context():
        raise RuntimeError("render a printout inside the app: its words come from the app")
    locale = normalise_locale(language)
    if locale is None:
        raise ValueError(f"language={language!r}: expected ja, en, zh-Hans or ko")
    return locale


def render_ticket(ticket: TicketPrintout, *, width_dots: int, language: str) -> Printout:
    """The ticket in ``language`` (``ja``, ``en``, ``zh-Hans``, ``ko``): ward, "your
    number", the number (as large as fits, one line), queue, people ahead, time of issue,
    the phone page's QR code and "show this ticket at the counter". Call inside the app."""
    locale = _require_app(language)
    lang = locale.replace("_", "-")
    with force_locale(locale):
        c = _Canvas(width_dots, lang)
        body = c.px(28, smallest=22)
        c.text(ticket.ward_name, c.px(34, smallest=24), bold=True, align="center", name="ward")
        c.rule()
        c.text(_("Your number"), body, align="center", name="label")
        c.space(c.px(8))
        c.number(ticket.number, largest=c.px(190), name="number")
        c.space(c.px(16))
        c.text(ticket.queue_name, c.px(36, smallest=26), bold=True, align="center", name="queue")
        c.rule()
        people = ngettext("%(num)d person", "%(num)d people", ticket.people_ahead)
        c.pair(_("People ahead of you"), people, body, name="people_ahead")
        issued = date_time(ticket.issued_at)  # "2 December 2026, 11:34": never 12/2/26
        c.pair(_("Issued"), issued, body, name="issued")
        c.space(c.px(14))
        c.qr(ticket.phone_url, name="qr")
        c.text(_("Scan to follow your turn on your phone."), body, align="center", name="scan")
        c.rule()
        c.text(
            _("Please show this ticket at the counter."),
            c.px(30, smallest=24),
            bold=True,
            align="center",
            name="show",
        )
        return c.finish()


def render_receipt(receipt: Receipt, *, width_dots: int) -> Printout:
    """The receipt in its own language (``receipt.language``), with the content of the
    kiosk's receipt: title, ward, number, date, each procedure with units, unit fee and
    amount, total, refunded part, payment method and the provider's reference. Its words
    are the same as on the screens (``ui.receipts.document``): no app needed."""
    doc = document(receipt)
    labels, yen = doc.labels, doc.yen
    c = _Canvas(width_dots, receipt.language)
    body = c.px(26, smallest=22)
    c.text(doc.title, c.px(44, smallest=30), bold=True, align="center", name="title")
    c.rule(thickness=3)
    c.pair(labels["ward"], receipt.ward_name, body, name="ward")
    c.pair(labels["number"], receipt.number, body, name="number")
    paid_at = datetime.fromisoformat(receipt.paid_at)
    c.pair(labels["date"], paid_at.strftime("%Y-%m-%d %H:%M"), body, name="date")
    c.rule()
    c.pair(labels["procedure"], labels["fee"], body, bold=True, name="header")
    c.space(c.px(6))
    for i, line in enumerate(receipt.lines):
        c.text(line.name, body, name=f"line{i}")
        detail = f"{labels['units']} {line.units} × {labels['unit_fee']} {yen(line.unit_fee_yen)}"
        c.pair(detail, yen(line.fee_yen), c.px(24, smallest=20), name=f"line{i}_amount")
        c.space(c.px(6))
    c.rule()
    c.pair(labels["total"], yen(receipt.total_yen), c.px(34, smallest=26), bold=True, name="total")
    if receipt.refunded_yen:
        c.pair(labels["refunded"], f"-{yen(receipt.refunded_yen)}", body, name="refunded")
    c.rule()
    c.text(f"{labels['method']}: {doc.method}", body, name="method")
    c.text(
        f"{labels['reference']}: {receipt.provider_reference}",
        c.px(22, smallest=20),
        name="reference",
    )
    return c.finish()
