"""The ward's card policy: which genuine-card checks a card must pass to become a case.

What each check proves, and what it cannot, is written down once, in
:mod:`cardreader.genuine` and README "Genuine cards". This module says which of them the
ward *requires*, and what happens to a card that fails one.

``KIOSK_CARD_CHECKS`` (default ``chip,chain``, in simulation and production alike):

* ``chip``: the chip signed our fresh challenge under the key the data's signer bound to
  it (*present*, ``chip_authenticated``). Stops a chip that replays another card's files.
* ``chain``: the card chain to a J-LIS CVC key of ``KIOSK_CARD_TRUST_KEYS`` verified; it
  includes the chip check. Stops a self-made card with keys of its own. Required without
  configured keys is refused at start-up (in simulation the registry configures the
  simulator's test keys for simulated cards).
* ``jpki``: every procedure wants the JPKI check. Without it, only the procedures whose
  catalog entry says ``jpki_check = true`` do. The JPKI check needs the resident's JPKI
  user-authentication PIN (a PIN of its own, asked for on a screen of its own: typing it is
  the resident's consent, and "I do not know this PIN" sends them to the counter) and
  ``KIOSK_JPKI_TRUST_ANCHORS``; wanted without anchors is refused at start-up. With
  ``KIOSK_JPKI_CRL`` it also stops a card whose certificate J-LIS revoked (a lost card).
* ``none``: nothing beyond *consistent* (``integrity``), which every case needs anyway.

Every read asks the card for the chip check and, with keys configured, the card chain
(no PIN, six APDUs), so staff see those results with the case even where the ward does not
require them. The JPKI check is made only when a chosen procedure (or the ward) wants it.
Only a required check refuses a card; a wanted JPKI check must be ``verified`` itself
(``jpki_chain``), never merely "not failed": a JPKI check that was not made (no PIN, nothing
configured) is ``not_checked``, and that is a refusal too.

A refused card raises :class:`CardNotGenuine` naming the first failed check (integrity,
chip, card chain, JPKI chain, in that order); the visit workflow records an audit row
without personal data (which check, what it found, which checks were required) and opens
no case; the resident is told, in their language, to go to the counter.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from cardreader.model import CardChecksWanted, CardInfo, Genuine, Integrity
from cardreader.trust import CardTrust
from kiosk import audit
from kiosk.catalog import Catalog, ProcedureSpec
from kiosk.config import ConfigError, Settings
from kiosk.db import transaction
from kiosk.errors import CardNotUsable, DomainError

log = logging.getLogger(__name__)

# The checks, in the order a refusal names the first that failed.
INTEGRITY = "integrity"
CHIP = "chip"
CARD_CHAIN = "card_chain"
JPKI_CHAIN = "jpki_chain"


class CardNotGenuine(CardNotUsable):
    """The card failed a check the ward requires: no case; the resident goes to the counter.

    ``check``: ``integrity``, ``chip``, ``card_chain`` or ``jpki_chain``. ``result``: what it
    found: an :class:`~cardreader.model.Integrity` value for integrity, ``not_authenticated``
    (or ``not_checked``) for the chip, a :class:`~cardreader.model.Genuine` value for a chain.
    Stable code ``card_not_genuine``. Carries no personal data.
    """

    code = "card_not_genuine"

    def __init__(self, check: str, result: str) -> None:
        super().__init__(f"card refused: {check} {result}")
        self.check = check
        self.result = result


class JpkiNotAtCounter(DomainError):
    """A chosen procedure wants the JPKI check, which the counter desk does not make (its
    customer display has no JPKI PIN step): nothing was sent to the card. Staff send the
    resident to the kiosk for it, or open the case without the card (identity document).
    Stable code ``jpki_not_at_counter``."""

    code = "jpki_not_at_counter"


class JpkiPinRequired(DomainError):
    """A chosen procedure wants the JPKI check and no JPKI PIN was given (nothing was sent
    to the card)."""


class JpkiPinNotWanted(DomainError):
    """A JPKI PIN was given although no chosen procedure wants the JPKI check: a PIN that is
    not needed is never sent (nothing was sent to the card)."""


@dataclass(frozen=True)
class CardPolicy:
    """Which checks a card must pass (see the module docstring).

    ``chip``: the chip check; ``card_chain``: the card chain (implies ``chip``);
    ``jpki_everywhere``: every procedure wants the JPKI check (else only those the catalog
    marks). Consistency (integrity) is always required.
    """

    chip: bool = True
    card_chain: bool = True
    jpki_everywhere: bool = False

    @classmethod
    def from_settings(cls, settings: Settings) -> CardPolicy:
        """The policy ``KIOSK_CARD_CHECKS`` names (validated by the settings)."""
        named = settings.card_check_list
        return cls(
            chip="chip" in named or "chain" in named,
            card_chain="chain" in named,
            jpki_everywhere="jpki" in named,
        )

    @property
    def required(self) -> tuple[str, ...]:
        """The checks every card must pass, by name (the JPKI chain only when everywhere)."""
        names = [INTEGRITY]
        if self.chip:
            names.append(CHIP)
        if self.card_chain:
            names.append(CARD_CHAIN)
        if self.jpki_everywhere:
            names.append(JPKI_CHAIN)
        return tuple(names)

    def wants_jpki(self, procedures: Iterable[ProcedureSpec]) -> bool:
        """Whether a visit for ``procedures`` needs the JPKI check (and so the JPKI PIN)."""
        return self.jpki_everywhere or any(spec.jpki_check for spec in procedures)

    def checks_wanted(self, *, jpki: bool) -> CardChecksWanted:
        """What the read asks the card for: always the chip check and the card chain (the
        reader makes the chain only with keys configured), the JPKI check when wanted."""
        return CardChecksWanted(chip=True, card_chain=True, jpki=jpki)

    def refusal(self, card: CardInfo, *, jpki: bool) -> CardNotGenuine | None:
        """The refusal for a card that fails a required check (the first one), or None.

        ``jpki``: the visit wanted the JPKI check, so ``jpki_chain`` must be ``verified``.
        """
        if card.integrity is not Integrity.VERIFIED:
            return CardNotGenuine(INTEGRITY, card.integrity.value)
        checks = card.checks
        if self.chip and not checks.chip_authenticated:
            found = "not_authenticated" if checks.chip_checked else "not_checked"
            return CardNotGenuine(CHIP, found)
        if self.card_chain and checks.card_chain is not Genuine.VERIFIED:
            return CardNotGenuine(CARD_CHAIN, checks.card_chain.value)
        if jpki and checks.jpki_chain is not Genuine.VERIFIED:
            return CardNotGenuine(JPKI_CHAIN, checks.jpki_chain.value)
        return None

    def audit_detail(
        self, refused: CardNotGenuine, card: CardInfo, procedures: Sequence[str], *, jpki: bool
    ) -> dict[str, Any]:
        """What the audit row of a refusal says: codes only, never personal data."""
        checks = card.checks
        required = list(self.required)
        if jpki and JPKI_CHAIN not in required:
            required.append(JPKI_CHAIN)
        return {
            "check": refused.check,
            "result": refused.result,
            "required": required,
            "procedures": list(procedures),
            "found": {
                INTEGRITY: card.integrity.value,
                "chip_checked": checks.chip_checked,
                "chip_authenticated": checks.chip_authenticated,
                CARD_CHAIN: checks.card_chain.value,
                JPKI_CHAIN: checks.jpki_chain.value,
            },
        }

    def check_trust(self, trust: CardTrust, catalog: Catalog) -> None:
        """At start-up: refuse a policy the trust configuration cannot meet, which would
        otherwise refuse every card. Raises :class:`ConfigError` (one line, naming the
        variable to set)."""
        if self.card_chain and not trust.cvc_keys:
            raise ConfigError(
                "KIOSK_CARD_CHECKS requires the card chain (chain): set KIOSK_CARD_TRUST_KEYS "
                "to the J-LIS keys that sign the cards' CVCs, or leave chain out of "
                "KIOSK_CARD_CHECKS"
            )
        if trust.jpki_anchors:
            return
        if self.jpki_everywhere:
            raise ConfigError(
                "KIOSK_CARD_CHECKS requires the JPKI check (jpki): set "
                "KIOSK_JPKI_TRUST_ANCHORS to the J-LIS JPKI user-authentication CA "
                "certificates, or leave jpki out of KIOSK_CARD_CHECKS"
            )
        wanting = [spec.code for spec in catalog.procedures if spec.jpki_check]
        if wanting:
            raise ConfigError(
                f"the catalog's {', '.join(wanting)} ask for the JPKI check (jpki_check = "
                "true): set KIOSK_JPKI_TRUST_ANCHORS to the J-LIS JPKI user-authentication CA "
                "certificates, or remove jpki_check from the ward's catalog (KIOSK_CATALOG)"
            )


def enforce(
    policy: CardPolicy,
    sessions: sessionmaker[Session],
    card: CardInfo,
    procedures: Sequence[str],
    *,
    actor: str,
    jpki: bool,
    where: Mapping[str, Any] | None = None,
) -> None:
    """Apply ``policy`` to a card just read, before any case is opened from it: the one place
    every front end (the kiosk's visit workflow, the counter desk) refuses a card.

    A card that fails a required check gets its ``card.refused`` audit row (by ``actor``,
    codes only: :meth:`CardPolicy.audit_detail`, plus ``where`` such as the counter's code;
    never personal data), committed on its own, and :class:`CardNotGenuine` is raised.
    A passing card returns None; its check results go with the case it opens.
    """
    refused = policy.refusal(card, jpki=jpki)
    if refused is None:
        return
    detail = policy.audit_detail(refused, card, procedures, jpki=jpki)
    detail.update(where or {})
    with transaction(sessions) as s:
        audit.record(s, actor, "card.refused", detail=detail)
    log.warning("card refused: %s %s", refused.check, refused.result)
    raise refused
