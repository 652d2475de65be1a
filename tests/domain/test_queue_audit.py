"""Audit rows of queue transitions: one per transition, case and ticket, in order."""

from __future__ import annotations

from kiosk.audit import events_for_case
from kiosk.calling import call_next, complete, start_serving
from kiosk.counters import get_counter
from tests.domain.conftest import NOW, STAFF, Db


def test_each_transition_writes_case_and_ticket_rows_in_order(db: Db) -> None:
    """Issue, call, serve and complete leave the case row before the ticket row of every
    step, each committed with its change."""
    tid = db.issue(now=NOW)
    for step in ("call", "start", "complete"):
        with db.tx() as s:
            if step == "call":
                called = call_next(s, get_counter(s, "1"), actor=STAFF, now=NOW)
                assert called is not None and called.id == tid
            elif step == "start":
                start_serving(s, db.ticket(s, tid), actor=STAFF, now=NOW)
            else:
                complete(s, db.ticket(s, tid), actor=STAFF, now=NOW)
    with db.tx() as s:
        events = events_for_case(s, db.ticket(s, tid).case_id)
    actions = [e.action for e in events]
    assert actions[-8:] == [
        "case.queued",
        "ticket.issued",
        "case.called",
        "ticket.called",
        "case.serving",
        "ticket.serving",
        "case.done",
        "ticket.done",
    ]
    assert all(e.ticket_id == tid for e in events[-8:])
    assert events[-1].detail == {"from": "serving", "to": "done", "number": "A-001"}
