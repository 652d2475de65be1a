"""KIOSK_PUBLIC_URL: the address phones reach, validated at start-up; the ticket's QR code
and the Stripe Checkout return page are built from it, never from the request's Host."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask

from application.registry import build_payment_provider, checkout_return_url, only_this_machine
from kiosk.config import ConfigError, load_settings
from tests.ui.test_production_mode import LIVE_STRIPE

PUBLIC = "https://madoguchi.city.example.lg.jp"


@pytest.mark.parametrize(
    "value",
    [
        "madoguchi.example.lg.jp",
        "/t/",
        "ftp://madoguchi.example.lg.jp",
        "https://",
        "https://user:secret@madoguchi.example.lg.jp",
        "https://madoguchi.example.lg.jp/?a=1",
        "https://madoguchi.example.lg.jp/#top",
        "https://madoguchi.example.lg.jp:99999",
        "https://madoguchi example.lg.jp",
    ],
)
def test_a_public_url_that_is_not_an_absolute_http_url_is_refused(value: str) -> None:
    """Anything but an absolute http(s) URL with a host stops start-up naming the variable."""
    with pytest.raises(ConfigError) as refused:
        load_settings({"public_url": value}, environ={})
    assert str(refused.value).startswith(f"KIOSK_PUBLIC_URL={value!r}: expected an absolute")


@pytest.mark.parametrize(
    ("value", "base"),
    [
        (PUBLIC, PUBLIC),
        (PUBLIC + "/", PUBLIC),
        ("http://192.168.10.5:8080", "http://192.168.10.5:8080"),
        ("https://[2001:db8::5]/", "https://[2001:db8::5]"),
    ],
)
def test_a_valid_public_url_is_the_base_of_phone_links(value: str, base: str) -> None:
    """A valid value is kept; links are built on it without a doubled slash."""
    assert load_settings({"public_url": value}, environ={}).public_base_url == base


def test_without_a_public_url_simulation_uses_the_configured_address_not_a_request() -> None:
    """Unset (simulation): the configured host and port, so a QR code never carries
    whatever Host header a client sent."""
    settings = load_settings({"host": "192.168.1.20", "port": 8000}, environ={})
    assert settings.public_base_url == "http://192.168.1.20:8000"


@pytest.mark.parametrize(
    "host", ["localhost", "kiosk.localhost", "127.0.0.1", "127.8.0.1", "[::1]", "0.0.0.0", "::"]
)
def test_loopback_and_unspecified_hosts_are_this_machine_only(host: str) -> None:
    """Names and addresses only this machine can reach are recognised as such."""
    assert only_this_machine(host)


@pytest.mark.parametrize("host", ["madoguchi.example.lg.jp", "192.168.10.5", "2001:db8::5"])
def test_lan_and_public_hosts_are_not_this_machine_only(host: str) -> None:
    """A LAN or public host is one a phone may reach."""
    assert not only_this_machine(host)


PRODUCTION = {
    "mode": "production",
    "card_reader": "pcsc",
    "reader_name": "No Such Reader",
    "printer": "none",
    **LIVE_STRIPE,
}


def test_production_needs_a_public_url(make_app: Callable[..., Flask]) -> None:
    """Production without KIOSK_PUBLIC_URL stops start-up with one line naming it."""
    with pytest.raises(ConfigError) as refused:
        make_app(**PRODUCTION)
    assert str(refused.value).startswith("KIOSK_MODE=production needs KIOSK_PUBLIC_URL")
    assert "\n" not in str(refused.value)


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:8080", "https://localhost", "http://[::1]:8080", "http://0.0.0.0"]
)
def test_production_refuses_a_loopback_public_url(make_app: Callable[..., Flask], url: str) -> None:
    """A public address no phone can reach is refused in production, naming the variable."""
    with pytest.raises(ConfigError) as refused:
        make_app(**PRODUCTION, public_url=url)
    assert str(refused.value).startswith(f"KIOSK_MODE=production refuses KIOSK_PUBLIC_URL={url}")


def test_production_refuses_a_loopback_checkout_return_url(make_app: Callable[..., Flask]) -> None:
    """The Checkout return page must be reachable by the phone that paid, too."""
    with pytest.raises(ConfigError, match="refuses KIOSK_STRIPE_RETURN_URL=http://127.0.0.1"):
        make_app(
            **PRODUCTION,
            public_url=PUBLIC,
            stripe_return_url="http://127.0.0.1:8080/pay/done",
        )


def test_simulation_accepts_a_loopback_public_url(make_app: Callable[..., Flask]) -> None:
    """On one demo machine a loopback address is fine."""
    app = make_app(public_url="http://127.0.0.1:8080")
    assert app.test_client().get("/healthz").status_code in (200, 503)


def test_checkout_returns_to_the_public_url_by_default() -> None:
    """With KIOSK_PUBLIC_URL set, Checkout needs no return URL of its own: it returns to
    <KIOSK_PUBLIC_URL>/pay/done; an explicit KIOSK_STRIPE_RETURN_URL still wins."""
    checkout = {
        "payments": "stripe_checkout",
        "stripe_api_key": "sk_test_x",
        "stripe_webhook_secret": "whsec_x",
    }
    settings = load_settings({**checkout, "public_url": PUBLIC + "/"}, environ={})
    assert checkout_return_url(settings) == f"{PUBLIC}/pay/done"
    provider, _terminal = build_payment_provider(settings)
    try:
        assert provider.return_url == f"{PUBLIC}/pay/done"  # type: ignore[attr-defined]
    finally:
        provider.close()
    explicit = load_settings(
        {**checkout, "public_url": PUBLIC, "stripe_return_url": "https://pay.example.jp/done"},
        environ={},
    )
    assert checkout_return_url(explicit) == "https://pay.example.jp/done"


def _visit_to_ticket(client: Any) -> None:
    """A fee-free visit (転居届) through the kiosk screens, up to its ticket."""
    from tests.ui.moving import move_form

    client.get("/kiosk/?lang=ja")
    client.post("/kiosk/start")
    client.post("/kiosk/procedures", data={"procedure": ["tenkyo"]})
    assert client.post("/kiosk/fields", data=move_form()).status_code == 302


def test_the_ticket_qr_names_the_public_url_whatever_the_host_header(
    make_app: Callable[..., Flask],
) -> None:
    """The kiosk browser's own address (the request's host, here ``localhost``) and forwarded
    host headers never reach the phone link: the ticket screen's link is the public URL's."""
    from tests.ui.cards import place_card_after_start

    app = make_app(public_url=PUBLIC, sim_persona="")
    client = app.test_client()
    _visit_to_ticket(client)
    place_card_after_start(app, "yamada")
    assert client.post("/kiosk/pin", data={"pin": "1234"}).status_code == 302
    assert client.post("/kiosk/confirm").headers["Location"].endswith("/kiosk/ticket")
    page = client.get(
        "/kiosk/ticket",
        headers={"X-Forwarded-Host": "attacker.example", "Forwarded": "host=attacker.example"},
    )
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    link = re.search(r'data-phone-url="([^"]+)"', html)
    assert link is not None
    assert re.fullmatch(re.escape(PUBLIC) + r"/t/[A-Za-z0-9_-]+", link.group(1))
    assert "attacker.example" not in html and "localhost" not in html
