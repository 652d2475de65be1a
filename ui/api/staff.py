"""Counter work through the JSON API, by staff bearer token: log-in, the queues, counters,
the ticket operations (``application.ticket_operations``, the same as the console's), the
audited case view, receipts, refunds and statistics."""

from __future__ import annotations

from dataclasses import asdict

from flask import g, request

from application.ticket_operations import TicketOperation, call_next_ticket, run_ticket_operation
from kiosk.cases import view_case
from kiosk.clock import business_day
from kiosk.counters import get_counter, set_counter_open
from kiosk.db import transaction
from kiosk.models import CaseStatus, StaffRole, TicketStatus
from kiosk.overview import open_tickets, queue_counts
from kiosk.staff import actor_of, authenticate, end_sessions, get_staff
from kiosk.statistics import day_statistics
from payments.refunds import refund_payment
from payments.states import get_payment, payments_of_case
from ui.api import bp
from ui.api.protocol import (
    TOKEN_MAX_AGE_S,
    ApiError,
    operation,
    password_stamp,
    token_serializer,
)
from ui.api.request_models import (
    CounterOpening,
    RefundRequest,
    StaffLogin,
    StatsQuery,
    TicketTarget,
)
from ui.api.response_models import (
    CalledTicket,
    CardChecksView,
    CaseLine,
    CaseView,
    CounterState,
    DayStats,
    OpenTicket,
    PaymentView,
    QueueCount,
    QueueDayStats,
    QueueOverview,
    ReceiptView,
    RefundDone,
    StaffIdentity,
    StaffToken,
    TicketResult,
    TicketView,
)
from ui.api.visits import PAYMENT_ERRORS
from ui.i18n import domain_language
from ui.receipts import document, receipt_for_payment
from ui.services import current_services


@bp.post("/staff/login")
@operation(
    "Bearer token for a staff account (5 failures from one address lock that address out "
    "of the account for 15 minutes)",
    tag="staff",
    response=StaffToken,
    body=StaffLogin,
    # too_many_requests: the client address's log-in budget (ui.rate_limits).
    errors=("login_failed", "account_locked", "too_many_requests"),
)
def staff_login(body: StaffLogin) -> StaffToken:
    """Exchange user name and password for a bearer token valid for 8 hours (lock-out as
    in the console: per account and client address, so nobody on the LAN can lock an
    account for its owner)."""
    with transaction(current_services().sessions) as s:
        result = authenticate(
            s, body.username, body.password, address=request.remote_addr or "unknown"
        )
    if result.staff is None:
        raise ApiError("account_locked" if result.locked_until else "login_failed")
    staff = result.staff
    token = token_serializer().dumps(
        {"sid": staff.id, "sv": staff.session_version, "pw": password_stamp(staff)}
    )
    return StaffToken(token=token, token_type="Bearer", expires_in=TOKEN_MAX_AGE_S, role=staff.role)


@bp.post("/staff/logout")
@operation(
    "End every token and console session of the token's account",
    tag="staff",
    response=None,
    success=204,
    staff=StaffRole.STAFF,
)
def staff_logout() -> None:
    """Log out: this token, every other token and every console session of the account end
    at once (the account's session version moves on)."""
    with transaction(current_services().sessions) as s:
        staff = get_staff(s, g.staff.id)
        end_sessions(s, staff, actor=actor_of(staff), reason="logout")


@bp.get("/staff/me")
@operation("The token's account", tag="staff", response=StaffIdentity, staff=StaffRole.STAFF)
def staff_me() -> StaffIdentity:
    """Who the token belongs to."""
    return StaffIdentity(username=g.staff.username, role=g.staff.role)


@bp.get("/staff/queues")
@operation(
    "Queue counts and open tickets", tag="staff", response=QueueOverview, staff=StaffRole.STAFF
)
def staff_queues() -> QueueOverview:
    """Per queue: waiting, held, called, serving, no-show, done; the open tickets in
    calling order."""
    day = business_day()
    with current_services().sessions() as s:
        counts = queue_counts(s, day)
        tickets = open_tickets(s, day)
    return QueueOverview(
        queues=[
            QueueCount(
                queue=c.code,
                prefix=c.prefix,
                waiting=c.waiting,
                held=c.held,
                called=c.called,
                serving=c.serving,
                no_show=c.no_show,
                done=c.done,
            )
            for c in counts
        ],
        tickets=[
            OpenTicket(
                id=t.id,
                number=t.number,
                status=TicketStatus(t.status),
                queue=t.queue,
                counter=t.counter,
                case_id=t.case_id,
            )
            for t in tickets
        ],
    )


@bp.post("/staff/counters/<code>/open")
@operation(
    "Open or close a counter",
    tag="staff",
    response=CounterState,
    body=CounterOpening,
    errors=("not_found",),
    staff=StaffRole.STAFF,
)
def staff_counter_open(code: str, body: CounterOpening) -> CounterState:
    """Open (``{"open": true}``) or close a counter."""
    with transaction(current_services().sessions) as s:
        counter = set_counter_open(s, get_counter(s, code), body.open, actor=actor_of(g.staff))
        return CounterState(counter=counter.code, open=counter.is_open)


@bp.post("/staff/counters/<code>/call-next")
@operation(
    "Call the next ticket to the counter",
    tag="staff",
    response=CalledTicket,
    errors=("not_found", "counter_closed"),
    staff=StaffRole.STAFF,
)
def staff_call_next(code: str) -> CalledTicket:
    """Call the next ticket to counter ``code``; ``{"ticket": null}`` when nobody waits."""
    ticket = call_next_ticket(current_services().sessions, code, actor=actor_of(g.staff))
    return CalledTicket(ticket=TicketView.of(ticket) if ticket else None)


@bp.post("/staff/tickets/<int:ticket_id>/<operation>")
@operation(
    "A ticket operation; call needs counter, transfer needs queue and/or counter",
    tag="staff",
    response=TicketResult,
    body=TicketTarget,
    body_required=False,
    errors=("not_found", "invalid_transition", "counter_closed", "fee_due"),
    staff=StaffRole.STAFF,
)
def staff_ticket_operation(
    ticket_id: int, operation: TicketOperation, body: TicketTarget
) -> TicketResult:
    """call (``{"counter"}``) / recall / serve / complete / no-show / return / hold / resume /
    transfer (``{"queue"}`` and/or ``{"counter"}``). complete is 409 ``fee_due`` while money
    is due at the counter."""
    ticket = run_ticket_operation(
        current_services().sessions,
        operation,
        ticket_id,
        actor=actor_of(g.staff),
        counter_code=body.counter,
        queue_code=body.queue,
    )
    return TicketResult(ticket=TicketView.of(ticket))


@bp.get("/staff/cases/<int:case_id>")
@operation(
    "The case in clear with its payments (every call is audited)",
    tag="staff",
    response=CaseView,
    errors=("not_found",),
    staff=StaffRole.STAFF,
)
def staff_case(case_id: int) -> CaseView:
    """The case in clear (audited: one ``case.viewed`` row per call) with its payments."""
    with transaction(current_services().sessions) as s:
        d = view_case(s, case_id, actor=actor_of(g.staff), catalog=current_services().catalog)
        payments = [PaymentView.of(p) for p in payments_of_case(s, case_id)]
    return CaseView(
        id=d.id,
        status=CaseStatus(d.status),
        language=d.language,
        name=d.name,
        address=d.address,
        birth_date=d.birth_date,
        birth_date_japanese=d.birth_date_japanese,
        sex=d.sex,
        individual_number=d.individual_number,
        fee_yen=d.fee_yen,
        ticket=d.ticket,
        card_checks=CardChecksView.model_validate(asdict(d.card_checks)),
        procedures=[
            CaseLine(
                code=line.code,
                names=dict(line.names),
                units=line.units,
                fee_yen=line.fee_yen,
                fields=dict(line.fields),
            )
            for line in d.procedures
        ],
        payments=payments,
    )


@bp.get("/staff/payments/<public_id>/receipt")
@operation(
    "Receipt of a taken payment",
    tag="staff",
    response=ReceiptView,
    errors=("not_found", "conflict"),
    staff=StaffRole.STAFF,
)
def staff_receipt(public_id: str) -> ReceiptView:
    """The receipt as JSON (409 conflict for a payment that was not taken)."""
    receipt = receipt_for_payment(public_id, domain_language())
    return ReceiptView.model_validate(document(receipt).to_json())


@bp.post("/staff/payments/<public_id>/refund")
@operation(
    "Refund all or part of a payment (supervisor or admin)",
    tag="staff",
    response=RefundDone,
    body=RefundRequest,
    errors=("not_found", "refund_not_allowed", *PAYMENT_ERRORS, "conflict"),
    staff=StaffRole.SUPERVISOR,
)
def staff_refund(public_id: str, body: RefundRequest) -> RefundDone:
    """Refund (``{"reason", "amount_yen"?}``; without an amount, what is left of the
    payment): supervisors and admins only."""
    with transaction(current_services().sessions) as s:
        refund = refund_payment(
            s,
            current_services().payments,
            public_id,
            actor=actor_of(g.staff),
            reason=body.reason,
            amount_yen=body.amount_yen,
        )
        payment = PaymentView.of(get_payment(s, public_id))
        return RefundDone(refund_id=refund.id, amount_yen=refund.amount_yen, payment=payment)


@bp.get("/staff/stats")
@operation(
    "Daily statistics (supervisor or admin)",
    tag="staff",
    response=DayStats,
    query=StatsQuery,
    staff=StaffRole.SUPERVISOR,
)
def staff_stats(query: StatsQuery) -> DayStats:
    """Tickets per hour and per-queue waits of ``?day=YYYY-MM-DD`` (default today)."""
    with current_services().sessions() as s:
        data = day_statistics(s, query.day or business_day())
    return DayStats(
        day=data.day,
        per_hour=list(data.per_hour),
        queues=[QueueDayStats.model_validate(q, from_attributes=True) for q in data.queues],
    )
