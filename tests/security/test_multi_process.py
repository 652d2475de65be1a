"""Several processes, one PostgreSQL (issue 10, item 8): two ``kiosk serve`` processes on a
throwaway cluster; a call made through one reaches the board and phone streams served by
the other through LISTEN/NOTIFY within a second (its poll fallback would take up to 5 s)."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.security.conftest import (
    RunningService,
    add_staff_and_login,
    issue_tickets,
    start_service,
)
from tests.support.pgcluster import PgCluster, PgClusterError, start_cluster
from tests.ui.livekit import SseClient

pytestmark = [pytest.mark.slow, pytest.mark.postgres]


@pytest.fixture
def cluster() -> Iterator[PgCluster]:
    try:
        running = start_cluster()
    except PgClusterError as e:
        pytest.fail(f"throwaway PostgreSQL did not start: {e}")
    yield running
    running.stop()


@pytest.fixture
def two_services(cluster: PgCluster, tmp_path: Path) -> Iterator[list[RunningService]]:
    """Two kiosk PCs' services: one database, one data key, their own ports and folders."""
    url = cluster.create_database("ward")
    key = os.urandom(32).hex()
    services: list[RunningService] = []
    try:
        for name in ("a", "b"):
            (tmp_path / name).mkdir()
            services.append(
                start_service(
                    tmp_path / name, database_url=url, data_key=key, kiosk_id=f"kiosk-{name}"
                )
            )
        yield services
    finally:
        for service in services:
            service.stop()


def test_a_call_through_one_process_reaches_streams_of_the_other(
    two_services: list[RunningService],
) -> None:
    """Calls made through A's API show on B's board and on B's phone stream in < 1 s,
    three times in a row; B says it listens."""
    a, b = two_services
    health = requests.get(f"{b.url}/healthz", timeout=10).json()["live"]
    assert health["source"] == "listen" and health["listening"] is True
    tickets = issue_tickets(a, 3)
    board = SseClient(f"{b.events_url}/board/events")
    board.wait_for(lambda kind, data: kind == "board" and data["waiting"][0]["waiting"] == 3)
    phone = SseClient(f"{b.events_url}/t/{tickets[2]['token']}/events")
    phone.wait_for(lambda kind, data: kind == "ticket" and data["people_ahead"] == 2)
    auth = add_staff_and_login(a)
    for i, ticket in enumerate(tickets):
        time.sleep(0.5)
        called = time.monotonic()
        answer = requests.post(f"{a.url}/api/staff/counters/1/call-next", headers=auth, timeout=10)
        assert answer.status_code == 200 and answer.json()["ticket"]["number"] == ticket["number"]
        seen, _, _ = board.wait_for(
            lambda kind, data, n=ticket["number"]: (
                kind == "board" and data["calls"] and data["calls"][0]["number"] == n
            )
        )
        assert seen - called < 1.0, f"call {i + 1}: {seen - called:.2f}s"
        if i < 2:
            phone.wait_for(
                lambda kind, data, i=i: kind == "ticket" and data["people_ahead"] == 1 - i
            )
    _, _, view = phone.wait_for(lambda kind, data: kind == "ticket" and data["status"] == "called")
    assert view["counter"]["en"] == "Counter 1"
    board.close()
    phone.close()
