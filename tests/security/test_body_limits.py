"""Per-route request body caps (``ui.body_limits``): over its route's cap a body gets 413
before any view reads it (JSON under /api); at the cap it reaches the view."""

from __future__ import annotations

import pytest

from application.front import MAX_BODY_BYTES
from ui.body_limits import BY_BLUEPRINT, DEFAULT_BYTES


@pytest.fixture
def client(make_app):
    return make_app().test_client()


@pytest.mark.parametrize(
    ("path", "cap"),
    [
        ("/kiosk/start", BY_BLUEPRINT["kiosk"]),
        ("/staff/login", BY_BLUEPRINT["staff"]),
        ("/webhooks/stripe", BY_BLUEPRINT["webhooks"]),
        ("/board/", DEFAULT_BYTES),
        ("/healthz", DEFAULT_BYTES),
    ],
)
def test_a_body_over_the_routes_cap_is_refused(client, path, cap):
    """One byte over the cap: 413; at the cap: whatever the view answers, never 413."""
    assert client.post(path, data=b"x" * (cap + 1)).status_code == 413
    assert client.post(path, data=b"x" * cap).status_code != 413


def test_api_answers_its_own_413_as_json(client):
    """Under /api the refusal is the API's JSON error."""
    answer = client.post("/api/visits", data=b"{" + b" " * BY_BLUEPRINT["api"] + b"}")
    assert answer.status_code == 413
    assert answer.get_json()["error"]["code"] == "too_large"


def test_every_route_cap_is_under_the_servers_cap():
    """waitress's 1 MiB cap is above every route's, so routes answer their own 413s."""
    assert max([DEFAULT_BYTES, *BY_BLUEPRINT.values()]) < MAX_BODY_BYTES
