"""The ward's policy settings: ``KIOSK_CARD_CHECKS`` is validated; a policy the trust
configuration cannot meet (it would refuse every card) stops start-up with one line naming
the variable to set, in production as in simulation with a real reader; the catalog's
``jpki_check`` flag is validated with its file and line."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from flask import Flask

from application.card_policy import CardPolicy
from kiosk.catalog import CatalogError, load_catalog
from kiosk.config import ConfigError, load_settings
from tests.ui.genuine.kit import ward_trust
from tests.ui.test_production_mode import LIVE_STRIPE, PRODUCTION_ADDRESSES

SHIPPED_CATALOG = Path(__file__).resolve().parents[3] / "kiosk" / "data" / "catalog.toml"


@pytest.mark.parametrize(
    ("value", "named", "policy"),
    [
        ("chip,chain", ("chip", "chain"), CardPolicy(True, True, False)),
        (" chip , chain ", ("chip", "chain"), CardPolicy(True, True, False)),
        ("chain", ("chain",), CardPolicy(True, True, False)),
        ("chip", ("chip",), CardPolicy(True, False, False)),
        ("none", (), CardPolicy(False, False, False)),
        ("", (), CardPolicy(False, False, False)),
        ("chip,chain,jpki", ("chip", "chain", "jpki"), CardPolicy(True, True, True)),
    ],
)
def test_card_checks_name_the_policy(
    value: str, named: tuple[str, ...], policy: CardPolicy
) -> None:
    """The default is chip and chain; a list of checks (the chain includes the chip) or
    none; the policy follows."""
    assert load_settings(environ={}).card_check_list == ("chip", "chain")
    settings = load_settings(environ={"KIOSK_CARD_CHECKS": value})
    assert settings.card_check_list == named
    assert CardPolicy.from_settings(settings) == policy


@pytest.mark.parametrize("value", ["chip,chipp", "chip,chip", "all", "none,chip"])
def test_an_unknown_or_repeated_check_is_refused(value: str) -> None:
    """A typo, a repeat or an unknown word fails at start-up naming KIOSK_CARD_CHECKS."""
    with pytest.raises(ConfigError, match="KIOSK_CARD_CHECKS="):
        load_settings(environ={"KIOSK_CARD_CHECKS": value})


def _production(make_app: Callable[..., Flask], **settings: object) -> Flask:
    """Production with everything else it needs (a real reader, live payments, the public
    address and a real ticket printer or none), so only the card trust is left to refuse."""
    real = {"mode": "production", "card_reader": "pcsc", "reader_name": "No Such"}
    return make_app(**real, **LIVE_STRIPE, **PRODUCTION_ADDRESSES, **settings)


def test_production_requires_the_card_trust_keys_for_the_chain(
    make_app: Callable[..., Flask],
) -> None:
    """Production with the default policy and no KIOSK_CARD_TRUST_KEYS stops with one line
    naming it (and how to do without the chain)."""
    with pytest.raises(ConfigError) as refused:
        _production(make_app)
    message = str(refused.value)
    assert "\n" not in message
    assert message.startswith(
        "KIOSK_CARD_CHECKS requires the card chain (chain): set KIOSK_CARD_TRUST_KEYS"
    )


def test_a_catalog_procedure_wanting_jpki_requires_the_anchors(
    make_app: Callable[..., Flask], tmp_path: Path
) -> None:
    """The shipped 転出届 asks for the JPKI check: without KIOSK_JPKI_TRUST_ANCHORS production
    stops with one line naming the procedure and the variable; with the ward's files it
    starts; KIOSK_CARD_CHECKS=chip needs no card keys."""
    trust = ward_trust(tmp_path / "trust")
    keys_only = {"card_trust_keys": trust["card_trust_keys"]}
    with pytest.raises(ConfigError) as refused:
        _production(make_app, **keys_only)
    message = str(refused.value)
    assert "\n" not in message
    assert "tenshutsu" in message and "set KIOSK_JPKI_TRUST_ANCHORS" in message
    assert _production(make_app, **trust) is not None
    anchors_only = {"jpki_trust_anchors": trust["jpki_trust_anchors"]}
    assert _production(make_app, card_checks="chip", **anchors_only) is not None


def test_jpki_everywhere_requires_the_anchors(
    make_app: Callable[..., Flask], tmp_path: Path
) -> None:
    """KIOSK_CARD_CHECKS with jpki and no anchors stops start-up naming the variable."""
    keys_only = {"card_trust_keys": ward_trust(tmp_path / "trust")["card_trust_keys"]}
    with pytest.raises(ConfigError, match="KIOSK_CARD_CHECKS requires the JPKI check"):
        _production(make_app, card_checks="chip,chain,jpki", **keys_only)


def test_a_real_reader_in_simulation_also_needs_the_keys(make_app: Callable[..., Flask]) -> None:
    """The simulator's test keys are only for simulated cards: a real reader in simulation
    mode with the chain required and no keys stops start-up the same way."""
    with pytest.raises(ConfigError, match="set KIOSK_CARD_TRUST_KEYS"):
        make_app(card_reader="pcsc", reader_name="No Such", sim_persona="")


def test_the_catalog_flag_must_be_a_boolean(tmp_path: Path) -> None:
    """jpki_check = "yes" in a ward's catalog stops start-up with its file and line."""
    folder = tmp_path / "ward"
    shutil.copytree(SHIPPED_CATALOG.parent, folder)
    catalog = folder / "catalog.toml"
    catalog.write_text(
        catalog.read_text(encoding="utf-8").replace("jpki_check = true", 'jpki_check = "yes"'),
        encoding="utf-8",
    )
    with pytest.raises(CatalogError, match="jpki_check must be true or false") as refused:
        load_catalog(catalog)
    assert refused.value.line is not None
    assert [p.code for p in load_catalog(SHIPPED_CATALOG).procedures if p.jpki_check] == [
        "tenshutsu"
    ]
