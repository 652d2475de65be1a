"""The JPKI PIN step and a refused card in a real browser (Debian's Chromium via Playwright),
with screenshots in ``test-artifacts/screenshots/genuine-*.png``: the card's PIN, then the
second stage that names the certificate's PIN; a forged card sent to the counter."""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.ui.browser import BROWSER_MARKS, Served, shot
from tests.ui.genuine.kit import (
    JPKI_PROCEDURE,
    audit_rows,
    cases,
    jpki_fields,
    place_card_again,
    tries,
)
from tests.ui.test_browser_a11y import Audit

pytestmark = BROWSER_MARKS


def _served(serve: Callable[..., Served], tmp_path: Path, keys: Path, persona: str) -> Served:
    shutil.copytree(keys, tmp_path / "sim-keys", dirs_exist_ok=True)
    return serve(sim_persona=persona)


def _visit_to_pin(page: Any, served: Served, lang: str, procedure: str, **fields: Any) -> None:
    """Start a visit with ``procedure`` (its fields posted as the fields screen would), place
    the card (one card, one visit: after the visit started) and open the PIN screen in
    ``lang``."""
    request = page.context.request
    page.goto(f"{served.url}/kiosk/?lang={lang}")
    request.post(f"{served.url}/kiosk/start")
    request.post(f"{served.url}/kiosk/procedures", form={"procedure": procedure})
    form = {f"{procedure}.{name}": str(value) for name, value in fields.items()}
    assert request.post(f"{served.url}/kiosk/fields", form=form, max_redirects=0).status == 302
    place_card_again(served.app)
    page.goto(f"{served.url}/kiosk/pin")


def _type(page: Any, stage: str, pin: str) -> None:
    for digit in pin:
        page.click(f"#{stage} .pinpad [data-digit='{digit}']")


def test_the_second_pin_is_its_own_screen(
    serve: Callable[..., Served], page: Any, tmp_path: Path, sim_key_cache: Path
) -> None:
    """転出届 with yoshida's card: the card's PIN, Next, then a screen of its own naming the
        PIN of the user authentication certificate (his differs); its Back returns to the card's
        PIN cleared; both PINs then read the card and the prefilled form follows. The second
    stage passes axe (WCAG 2.1 A/AA, no serious or critical violation)."""
    served = _served(serve, tmp_path, sim_key_cache, "yoshida")
    fields = jpki_fields()[JPKI_PROCEDURE]
    _visit_to_pin(page, served, "ja", JPKI_PROCEDURE, **fields)
    assert page.is_visible("#stage-text") and not page.is_visible("#stage-jpki")
    assert not page.is_visible("#jpki-decline")
    assert "もう 1つの 暗証番号" in page.inner_text("#pin-second-note")
    shot(page, "genuine-01-ja-card-pin")
    assert page.is_disabled("#pin-next")
    _type(page, "stage-text", "7272")
    page.click("#pin-next")
    assert page.is_visible("#stage-jpki") and not page.is_visible("#stage-text")
    assert page.inner_text("#jpki-which").strip() == "利用者証明用電子証明書の暗証番号（数字4桁）"
    assert "違う 番号に している 人も います" in page.inner_text("#stage-jpki")
    assert "あと3回" in page.inner_text("#jpki-tries")
    assert page.is_visible("#jpki-decline")
    shot(page, "genuine-02-ja-certificate-pin")
    audit = Audit()
    audit.check(page, "certificate PIN stage")
    assert audit.problems == []

    page.click("#stage-jpki [data-pin-back]")
    assert page.is_visible("#stage-text") and page.input_value("#pin") == ""
    _type(page, "stage-text", "7272")
    page.click("#pin-next")
    _type(page, "stage-jpki", "8383")
    page.click("#jpki-pin-ok")
    page.wait_for_url(re.compile(r"/kiosk/check$"))
    [case] = cases(served.app)
    assert (case.card_chain, case.card_jpki_chain) == ("verified", "verified")
    assert tries(served.app) == (3, 3)


def test_the_second_pin_in_english_and_a_wrong_one(
    serve: Callable[..., Served], page: Any, tmp_path: Path, sim_key_cache: Path
) -> None:
    """The English screen names the certificate's PIN (with its Japanese name); typing the
    card's PIN there is told as a wrong certificate PIN with its tries left."""
    served = _served(serve, tmp_path, sim_key_cache, "yoshida")
    _visit_to_pin(page, served, "en", JPKI_PROCEDURE, **jpki_fields()[JPKI_PROCEDURE])
    _type(page, "stage-text", "7272")
    page.click("#pin-next")
    assert "Enter the PIN of your user authentication certificate" in page.inner_text("h1:visible")
    assert "利用者証明用電子証明書の暗証番号" in page.inner_text("#jpki-which")
    shot(page, "genuine-03-en-certificate-pin")
    _type(page, "stage-jpki", "7272")
    page.click("#jpki-pin-ok")
    page.wait_for_selector("#pin-error")
    error = page.inner_text("#pin-error")
    assert "user authentication certificate is not correct. 2 tries left." in error
    assert "Please enter both PINs again." in error
    assert page.is_visible("#stage-text")
    shot(page, "genuine-04-en-certificate-pin-wrong")
    assert tries(served.app) == (3, 2)


def test_a_forged_card_is_sent_to_the_counter(
    serve: Callable[..., Served], page: Any, tmp_path: Path, sim_key_cache: Path
) -> None:
    """A self-consistent forgery from an issuer no ward trusts (nakamura) under the default
    policy: after the PIN the resident sees, in Japanese, that the kiosk could not check the
    card and to go to the counter with it (the page passes axe); no case, one audit row."""
    served = _served(serve, tmp_path, sim_key_cache, "nakamura")
    _visit_to_pin(page, served, "ja", "juminhyo")
    assert not page.is_visible("#stage-jpki")
    _type(page, "stage-text", "7777")
    page.click("#pin-ok")
    page.wait_for_selector("section.stop[data-code='card_not_genuine']")
    assert "この 機械では カードを 確認できませんでした。" in page.inner_text(".stop-text")
    assert "職員が カードを いっしょに 確かめて" in page.inner_text("section.stop")
    shot(page, "genuine-05-ja-refused-card")
    audit = Audit()
    audit.check(page, "refused card")
    assert audit.problems == []
    assert cases(served.app) == []
    assert [r.detail["check"] for r in audit_rows(served.app, "card.refused")] == ["card_chain"]
