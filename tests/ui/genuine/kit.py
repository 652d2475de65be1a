"""Helpers for the genuine-card tests of the product: the resident reading a card through
each front end (the kiosk screens, the JSON API), both PINs included, answering what the
resident was told; the rows and PIN counters the tests look at."""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from flask import Flask
from flask.testing import FlaskClient

from hardware_sim.card import PIN_JPKI_AUTH, PIN_TEXT
from hardware_sim.personas import Persona, load_personas
from hardware_sim.trust import write_trust_files
from kiosk.models import AuditEvent, Case
from tests.support.waiting import wait_until
from tests.ui.moving import moving_date
from ui.services import services_of

PERSONAS: dict[str, Persona] = load_personas()

# The 転出届 wants the JPKI check in the shipped catalog (jpki_check = true).
JPKI_PROCEDURE = "tenshutsu"
JPKI_FIELDS = {"destination_address": "大阪府大阪市北区中之島一丁目3番20号"}


def jpki_fields() -> dict[str, dict[str, Any]]:
    """Valid fields of the 転出届 (a moving date inside its window)."""
    return {JPKI_PROCEDURE: {**JPKI_FIELDS, "moving_date": moving_date()}}


@dataclass(frozen=True)
class Outcome:
    """What the resident was told: ``ok`` (the prefilled case to check), ``stop`` (sent to
    the counter; ``code`` says why), ``retry`` (a wrong or missing PIN: type again) or
    ``invalid`` (the request itself was refused). ``message`` is the text shown."""

    word: str
    code: str | None = None
    message: str = ""
    check: str | None = None
    result: str | None = None


class CardResident(Protocol):
    """One resident's visit up to the card read, through one front end."""

    def start(self, procedure: str, fields: dict[str, dict[str, Any]] | None = None) -> None: ...
    def read(self, pin: str, jpki_pin: str | None = None) -> Outcome: ...


def place_card_again(app: Flask) -> None:
    """One card, one visit: the resident places the card on the kiosk's reader after
    starting (the card in the reader is taken off and put back; its PIN counters stay).

    Over pcscd (``KIOSK_CARD_READER=sim``) pcscd polls the reader: a card out and in again
    between two of its polls is not seen and stays "from earlier", so this waits until
    pcscd has counted the card leaving, then the card arriving, as a resident's hand is
    slower than pcscd's poll."""
    services = services_of(app)
    rig = services.simulation.reader  # type: ignore[union-attr]
    if rig is None or rig.persona is None:
        return
    key = rig.persona.key
    if not rig.via_pcscd:
        rig.insert(key)
        return
    reader = services.card_reader
    before = reader.status().card_events
    rig.remove()
    wait_until(lambda: reader.status().card_events != before, message="pcscd counting the removal")
    removed = reader.status().card_events
    rig.insert(key)
    wait_until(
        lambda: reader.status().card_present and reader.status().card_events != removed,
        message="pcscd counting the card placed again",
    )


def _text(fragment: str) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", fragment)).split())


class KioskCard:
    """The resident at the kiosk screens (forms and redirects)."""

    def __init__(self, client: FlaskClient, lang: str = "en") -> None:
        self.client = client
        self.lang = lang

    def start(self, procedure: str, fields: dict[str, dict[str, Any]] | None = None) -> None:
        self.client.get(f"/kiosk/?lang={self.lang}")
        self.client.post("/kiosk/start")
        self.client.post("/kiosk/procedures", data={"procedure": [procedure]})
        form = {
            f"{code}.{name}": value
            for code, values in (fields or {}).items()
            for name, value in values.items()
        }
        assert self.client.post("/kiosk/fields", data=form).status_code == 302
        place_card_again(self.client.application)

    def pin_screen(self) -> Any:
        """GET of the PIN screen (200: the PIN pad; 409: sent to the counter)."""
        return self.client.get("/kiosk/pin")

    def read(self, pin: str, jpki_pin: str | None = None) -> Outcome:
        pad = self.pin_screen()
        if pad.status_code == 409:
            return _stop(pad.get_data(as_text=True))
        data = {"pin": pin}
        if jpki_pin is not None:
            data["jpki_pin"] = jpki_pin
        response = self.client.post("/kiosk/pin", data=data)
        page = response.get_data(as_text=True)
        if response.status_code == 302 and response.headers["Location"].endswith("/check"):
            return Outcome("ok")
        if response.status_code == 409:
            return _stop(page)
        if response.status_code == 422:
            found = re.search(r'id="pin-error">(.*?)</p>', page, re.S)
            return Outcome("retry", None, _text(found.group(1)) if found else "")
        return Outcome("invalid", str(response.status_code))


def _stop(page: str) -> Outcome:
    code = re.search(r'class="stop"[^>]*data-code="([^"]*)"', page)
    message = re.search(r'<p class="stop-text" role="alert">(.*?)</p>', page, re.S)
    return Outcome(
        "stop", code.group(1) if code else None, _text(message.group(1)) if message else ""
    )


class ApiCard:
    """The resident through another front end over the JSON API (a tablet app)."""

    def __init__(self, client: FlaskClient, lang: str = "en") -> None:
        self.client = client
        self.lang = lang
        self.visit = ""

    def start(self, procedure: str, fields: dict[str, dict[str, Any]] | None = None) -> None:
        body = {"procedures": [procedure], "fields": fields or {}}
        response = self.client.post(f"/api/visits?lang={self.lang}", json=body)
        assert response.status_code == 201, response.get_json()
        self.visit = response.get_json()["visit_id"]
        place_card_again(self.client.application)

    def card(self) -> dict[str, Any]:
        """GET .../card: reader, card, both PINs' tries, whether the JPKI PIN is wanted."""
        return self.client.get(f"/api/visits/{self.visit}/card").get_json()

    def read(self, pin: str, jpki_pin: str | None = None) -> Outcome:
        body = {"pin": pin}
        if jpki_pin is not None:
            body["jpki_pin"] = jpki_pin
        response = self.client.post(
            f"/api/visits/{self.visit}/card/read?lang={self.lang}", json=body
        )
        if response.status_code == 201:
            return Outcome("ok")
        error = response.get_json()["error"]
        word = {409: "stop", 422: "retry"}.get(response.status_code, "invalid")
        if error["code"] in ("jpki_pin_not_wanted", "invalid_field", "case_not_editable"):
            word = "invalid"
        check, result = error.get("check"), error.get("result")
        return Outcome(word, error["code"], error["message"], check, result)


FRONT_ENDS: dict[str, Callable[[FlaskClient, str], CardResident]] = {
    "kiosk": KioskCard,
    "api": ApiCard,
}


def resident(app: Flask, front_end: str, lang: str = "en") -> Any:
    """A resident at ``front_end`` ("kiosk" or "api") of ``app`` in ``lang``."""
    return FRONT_ENDS[front_end](app.test_client(), lang)


def cases(app: Flask) -> list[Case]:
    """Every case in the app's database, oldest first."""
    with services_of(app).sessions() as s:
        return s.query(Case).order_by(Case.id).all()


def audit_rows(app: Flask, action: str) -> list[AuditEvent]:
    """The app's audit rows of ``action``, oldest first."""
    with services_of(app).sessions() as s:
        return s.query(AuditEvent).filter_by(action=action).order_by(AuditEvent.id).all()


def tries(app: Flask) -> tuple[int, int]:
    """(Text AP PIN tries, JPKI authentication PIN tries) of the card in the reader."""
    card = services_of(app).simulation.reader.card  # type: ignore[union-attr]
    return card.tries_left(PIN_TEXT), card.tries_left(PIN_JPKI_AUTH)


def set_jpki_tries(app: Flask, n: int) -> None:
    """Set the JPKI authentication PIN's tries of the card in the reader (staff training)."""
    services_of(app).simulation.reader.card.set_tries(PIN_JPKI_AUTH, n)  # type: ignore[union-attr]


def personal_data_of(persona: Persona) -> list[str]:
    """Strings that must never appear in an audit row or a log about ``persona``'s card."""
    family, _, given = persona.name.partition("\u3000")
    values = [family, given, persona.address, persona.birth_date.isoformat()]
    values += [persona.individual_number, persona.text_pin, persona.jpki_auth_pin]
    return [v for v in values if v]


def ward_trust(directory: Path, *, crl: bool = True, now: datetime | None = None) -> dict[str, str]:
    """Settings naming trust files as a ward configures them (``card_trust_keys``,
    ``jpki_trust_anchors`` and, with ``crl``, ``jpki_crl`` issued an hour before ``now``),
    here holding the simulator's test keys (made once per process, kept in memory)."""
    files = write_trust_files(directory, now=now)
    settings = {
        "card_trust_keys": str(files.card_trust_keys),
        "jpki_trust_anchors": str(files.jpki_trust_anchors),
    }
    if crl:
        settings["jpki_crl"] = str(files.jpki_crl)
    return settings
