"""``kiosk card``: read a My Number card from the command line (staff tools, CI, demos).

PINs are read from standard input only, never from the command line (where ``ps`` and the
shell history would see them), and are never printed: the Text AP PIN on the first line and,
when a JPKI check is configured (``KIOSK_JPKI_TRUST_ANCHORS``), the JPKI user-authentication
PIN on the second (empty or missing: the JPKI check is not made). The trust anchors of the
genuine-card checks come from the same ``KIOSK_*`` settings as the service's.
"""

from __future__ import annotations

import json
import sys
from typing import NoReturn

import click

from cardreader.errors import CardError
from cardreader.model import CardChecksWanted, CardInfo
from cardreader.reader import PcscCardReader
from kiosk.config import ConfigError, load_settings


@click.group(name="card")
def command() -> None:
    """My Number card tools (PC/SC)."""


@command.command("read")
@click.option(
    "--reader",
    "reader_substring",
    default="",
    help="Use the first reader whose name contains this.",
)
@click.option("--with-number", is_flag=True, help="Also read the individual number.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def read(reader_substring: str, with_number: bool, as_json: bool) -> None:
    """Read the card's basic four items and make the configured genuine-card checks.

    Standard input: the 4-digit Text AP PIN, then (only with a JPKI check configured) the
    JPKI user-authentication PIN. A check that fails is reported, not an error (exit 0).
    """
    try:
        settings = load_settings()
        trust = settings.card_trust()
    except ConfigError as e:
        raise click.ClickException(str(e)) from e
    pin = sys.stdin.readline().rstrip("\r\n")
    jpki_pin: str | None = None
    if trust.jpki_anchors:
        jpki_pin = sys.stdin.readline().rstrip("\r\n") or None
    checks = CardChecksWanted(jpki=bool(trust.jpki_anchors))
    reader = PcscCardReader(reader_substring, trust=trust)
    try:
        info = reader.read(pin, with_number=with_number, checks=checks, jpki_pin=jpki_pin)
    except CardError as e:
        _fail(e, as_json)
    try:
        tries_left: int | None = reader.pin_tries_left()
    except CardError:
        # The read itself succeeded; the card may simply have been taken away already.
        tries_left = None
    if as_json:
        click.echo(json.dumps(_as_dict(info, tries_left), ensure_ascii=False))
    else:
        click.echo(_as_text(info, tries_left))


def _fail(error: CardError, as_json: bool) -> NoReturn:
    from ui.words import card_error_text  # the words of the card errors: the gettext catalogs

    ja, en = (card_error_text(error.code, error.tries_left, lang) for lang in ("ja", "en"))
    click.echo(f"{ja} / {en}", err=True)
    if as_json:
        click.echo(json.dumps({"error": error.code, "tries_left": error.tries_left}))
    sys.exit(1)


def _as_dict(info: CardInfo, tries_left: int | None) -> dict[str, object]:
    result: dict[str, object] = {
        "family_name": info.family_name,
        "given_name": info.given_name,
        "name": info.name,
        "address": info.address,
        "birth_date": info.birth_date.isoformat(),
        "sex": info.sex.value,
    }
    if info.individual_number is not None:
        result["individual_number"] = info.individual_number
    result["integrity"] = info.integrity.value
    result["pin_tries_left"] = tries_left
    result["chip_authenticated"] = info.checks.chip_authenticated
    result["genuine"] = info.checks.genuine.value
    return result


_SEX_LABELS = {
    "male": "男 / male",
    "female": "女 / female",
    "not_applicable": "適用不能 / not applicable",
    "unknown": "不明 / unknown",
}


def _as_text(info: CardInfo, tries_left: int | None) -> str:
    lines = [
        f"氏名 / Name:            {info.name}",
        f"住所 / Address:         {info.address}",
        f"生年月日 / Birth date:  {info.birth_date.isoformat()}",
        f"性別 / Sex:             {_SEX_LABELS[info.sex.value]}",
    ]
    if info.individual_number is not None:
        lines.append(f"個人番号 / Number:      {info.individual_number}")
    lines.append(f"真正性 / Integrity:     {info.integrity.value}")
    present = "yes" if info.checks.chip_authenticated else "no"
    lines.append(f"ICチップ認証 / Chip authenticated: {present}")
    lines.append(f"発行元の確認 / Genuine: {info.checks.genuine.value}")
    remaining = "?" if tries_left is None else str(tries_left)
    lines.append(f"暗証番号残り回数 / PIN tries left: {remaining}")
    return "\n".join(lines)
