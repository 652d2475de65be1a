"""Database models (SQLAlchemy 2 typed declarative).

Invariants live in the database where it can hold them: one ticket per case, ticket
numbers unique per origin queue and business day, non-negative fees, statuses limited to
their enum values. Personal columns use ``kiosk.privacy.Encrypted``.
"""

from __future__ import annotations

import enum
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Column,
    Date,
    DateTime,
    Enum,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    UniqueConstraint,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

from kiosk.privacy import (
    Encrypted,
    mask_address,
    mask_individual_number,
    mask_name,
)

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC in Python; naive UTC in the database, so SQLite and PostgreSQL agree."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


def _enum(cls: type[enum.Enum], name: str) -> Enum:
    # VARCHAR + CHECK rather than a native PostgreSQL enum: adding a state later is a plain
    # migration on both backends.
    return Enum(
        cls,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=24,
        values_callable=lambda c: [m.value for m in c],
        validate_strings=True,
    )


class CaseStatus(enum.Enum):
    DRAFT = "draft"
    CONFIRMED = "confirmed"
    AWAITING_PAYMENT = "awaiting_payment"
    PAID = "paid"
    QUEUED = "queued"
    CALLED = "called"
    SERVING = "serving"
    DONE = "done"
    CANCELLED = "cancelled"
    NO_SHOW = "no_show"
    REFUNDED = "refunded"


class TicketStatus(enum.Enum):
    WAITING = "waiting"
    HELD = "held"
    CALLED = "called"
    SERVING = "serving"
    DONE = "done"
    NO_SHOW = "no_show"
    CANCELLED = "cancelled"


class Priority(enum.IntEnum):
    """Higher is called first; equal priorities go first come, first served."""

    NORMAL = 0
    APPOINTMENT = 1
    SUPPORT = 2


class Case(Base):
    """One visit: one card read, one payment, one ticket, one or more procedures."""

    __tablename__ = "cases"
    __table_args__ = (CheckConstraint("fee_yen >= 0", name="fee_not_negative"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    status: Mapped[CaseStatus] = mapped_column(_enum(CaseStatus, "case_status"), index=True)
    language: Mapped[str] = mapped_column(String(8))
    channel: Mapped[str] = mapped_column(String(24), default="kiosk")
    priority: Mapped[int] = mapped_column(Integer, default=0)
    opened_by: Mapped[str] = mapped_column(String(64))
    business_day: Mapped[date] = mapped_column(Date, index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    fee_yen: Mapped[int] = mapped_column(Integer, default=0)
    card_integrity: Mapped[str] = mapped_column(String(24))
    # The genuine-card checks of the read (cardreader.model.CardChecks; no personal data):
    # the chip signed our challenge (None: not checked), and each chain's Genuine value.
    card_chip_authenticated: Mapped[bool | None] = mapped_column(Boolean)
    card_chain: Mapped[str] = mapped_column(String(24), server_default="not_checked")
    card_jpki_chain: Mapped[str] = mapped_column(String(24), server_default="not_checked")
    card_genuine: Mapped[str] = mapped_column(String(24), server_default="not_checked")
    # Personal data (NULL after purge).
    family_name: Mapped[str | None] = mapped_column(Encrypted("case.family_name"))
    given_name: Mapped[str | None] = mapped_column(Encrypted("case.given_name"))
    address: Mapped[str | None] = mapped_column(Encrypted("case.address"))
    birth_date: Mapped[date | None] = mapped_column(Encrypted("case.birth_date", "date"))
    sex: Mapped[str | None] = mapped_column(Encrypted("case.sex"))
    individual_number: Mapped[str | None] = mapped_column(Encrypted("case.individual_number"))
    purged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Money still to settle at the counter: > 0 to collect (cash chosen at the kiosk, a case
    # opened at the counter, an amendment that raised the fee), < 0 to give back (an
    # amendment or an exemption lowered the fee below what was paid). A case is completed
    # only when it is 0 (``kiosk.cases``).
    due_yen: Mapped[int] = mapped_column(Integer, default=0)
    # Opened at the counter without a card read: the identity document staff checked
    # (a code of ``kiosk.counter_cases.IDENTITY_DOCUMENTS``); None for a card read.
    identity_document: Mapped[str | None] = mapped_column(String(32))
    # A fee exemption (``kiosk.counter_cases.EXEMPTIONS``), its legal basis or the requesting
    # body (staff text, encrypted like personal data) and the supervisor who granted it.
    exemption: Mapped[str | None] = mapped_column(String(24))
    exemption_basis: Mapped[str | None] = mapped_column(Encrypted("case.exemption_basis"))
    exempted_by: Mapped[str | None] = mapped_column(String(64))

    procedures: Mapped[list[CaseProcedure]] = relationship(
        back_populates="case", order_by="CaseProcedure.position", cascade="all, delete-orphan"
    )
    ticket: Mapped[Ticket | None] = relationship(back_populates="case", uselist=False)

    @property
    def name(self) -> str | None:
        if self.family_name is None:
            return None
        return f"{self.family_name}\u3000{self.given_name}" if self.given_name else self.family_name

    def __repr__(self) -> str:
        # Masked: a case that ends up in a log or a traceback must not leak personal data.
        return (
            f"Case(id={self.id}, status={self.status.value if self.status else None}, "
            f"name={mask_name(self.name)!r}, address={mask_address(self.address)!r}, "
            f"individual_number={mask_individual_number(self.individual_number)!r}, "
            f"fee_yen={self.fee_yen})"
        )


class CaseProcedure(Base):
    """One procedure of a case with its resident-given fields and its fee at confirm time."""

    __tablename__ = "case_procedures"
    __table_args__ = (
        UniqueConstraint("case_id", "position"),
        CheckConstraint("units >= 0", name="units_not_negative"),
        CheckConstraint("unit_fee_yen >= 0", name="unit_fee_not_negative"),
        CheckConstraint("fee_yen >= 0", name="fee_not_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    procedure_code: Mapped[str] = mapped_column(String(64))
    queue_code: Mapped[str] = mapped_column(String(64))
    unit_fee_yen: Mapped[int] = mapped_column(Integer)
    units: Mapped[int] = mapped_column(Integer, default=0)
    fee_yen: Mapped[int] = mapped_column(Integer, default=0)
    resident_fields: Mapped[dict[str, Any] | None] = mapped_column(
        Encrypted("case_procedure.resident_fields", "json")
    )

    case: Mapped[Case] = relationship(back_populates="procedures")

    def __repr__(self) -> str:
        return f"CaseProcedure(case_id={self.case_id}, code={self.procedure_code!r})"


counter_queues = Table(
    "counter_queues",
    Base.metadata,
    Column("counter_id", ForeignKey("counters.id", ondelete="CASCADE"), primary_key=True),
    Column("queue_id", ForeignKey("queues.id", ondelete="CASCADE"), primary_key=True),
)


class Queue(Base):
    """A service line with its own number series (prefix ``A`` -> A-001, A-002, ...)."""

    __tablename__ = "queues"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(4), unique=True)
    names: Mapped[dict[str, str]] = mapped_column(JSON)
    default_service_s: Mapped[int] = mapped_column(Integer, default=300)
    # The catalog's route: a ticket of a case in several queues visits them by this rank.
    route_rank: Mapped[int] = mapped_column(Integer, default=0, server_default="0")

    def __repr__(self) -> str:
        return f"Queue({self.code!r}, prefix={self.prefix!r})"


class Counter(Base):
    """A staffed window (窓口) serving some queues; only open counters call tickets."""

    __tablename__ = "counters"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    names: Mapped[dict[str, str]] = mapped_column(JSON)
    is_open: Mapped[bool] = mapped_column(default=True)

    queues: Mapped[list[Queue]] = relationship(secondary=counter_queues, order_by="Queue.id")

    def __repr__(self) -> str:
        return f"Counter({self.code!r})"


class DailySequence(Base):
    """Last number handed out per queue and business day (the row is the issuing lock)."""

    __tablename__ = "daily_sequences"

    queue_id: Mapped[int] = mapped_column(ForeignKey("queues.id"), primary_key=True)
    business_day: Mapped[date] = mapped_column(Date, primary_key=True)
    last_number: Mapped[int] = mapped_column(Integer)


class Ticket(Base):
    """A place in a queue. ``id`` is global; ``number`` restarts every business day.

    ``origin_queue_id`` is the queue that numbered it (the unique key); ``queue_id`` is
    where it waits now (a transfer changes it and keeps number and ``sort_at``).

    A case with procedures in several queues has one ticket that visits them in the
    catalog's route order: ``stops`` of them (its ``TicketStop`` rows), ``stop`` the one it
    is at now (0 first). Completing a stop that is not the last puts the ticket, with its
    number, at the head of the next stop's queue (``kiosk.calling.complete``).
    """

    __tablename__ = "tickets"
    __table_args__ = (
        UniqueConstraint("origin_queue_id", "business_day", "number"),
        UniqueConstraint("case_id"),
        CheckConstraint("number > 0", name="number_positive"),
        CheckConstraint("stop >= 0 AND stop < stops", name="stop_in_route"),
        # The waiting tickets of one day, in call order within a queue: people-ahead counts,
        # call-next and the phone views read only these rows, however many tickets the day
        # already issued (issue 10: the single-column business-day index made each of them
        # walk the whole day). See migration 0007.
        Index(
            "ix_tickets_waiting_day", "status", "business_day", "queue_id", "priority", "sort_at"
        ),
        # The wait estimate reads a queue's latest served tickets at every issue: only rows
        # with a service time are in this index, so the newest twenty are its last twenty
        # entries (migration 0007: the full index made PostgreSQL sort all of the queue's).
        Index(
            "ix_tickets_queue_served",
            "queue_id",
            "completed_at",
            sqlite_where=text("service_s IS NOT NULL"),
            postgresql_where=text("service_s IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"))
    origin_queue_id: Mapped[int] = mapped_column(ForeignKey("queues.id"))
    queue_id: Mapped[int] = mapped_column(ForeignKey("queues.id"), index=True)
    business_day: Mapped[date] = mapped_column(Date, index=True)
    number: Mapped[int] = mapped_column(Integer)
    display_number: Mapped[str] = mapped_column(String(16))
    status: Mapped[TicketStatus] = mapped_column(_enum(TicketStatus, "ticket_status"))
    priority: Mapped[int] = mapped_column(Integer, default=0)
    token: Mapped[str] = mapped_column(String(64), unique=True)
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime)
    sort_at: Mapped[datetime] = mapped_column(UTCDateTime)
    target_counter_id: Mapped[int | None] = mapped_column(ForeignKey("counters.id"))
    counter_id: Mapped[int | None] = mapped_column(ForeignKey("counters.id"))
    first_called_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    called_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    serving_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    call_count: Mapped[int] = mapped_column(Integer, default=0)
    quoted_wait_s: Mapped[int] = mapped_column(Integer, default=0)
    actual_wait_s: Mapped[int | None] = mapped_column(Integer)
    service_s: Mapped[int | None] = mapped_column(Integer)
    stop: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    stops: Mapped[int] = mapped_column(Integer, default=1, server_default="1")

    case: Mapped[Case] = relationship(back_populates="ticket")
    queue: Mapped[Queue] = relationship(foreign_keys=[queue_id])
    counter: Mapped[Counter | None] = relationship(foreign_keys=[counter_id])
    target_counter: Mapped[Counter | None] = relationship(foreign_keys=[target_counter_id])

    def __repr__(self) -> str:
        return f"Ticket({self.display_number}, id={self.id}, status={self.status.value})"


class TicketStop(Base):
    """One queue on a ticket's route, and what happened there: when the ticket began to
    wait in it (``arrived_at``; None for a stop not reached yet), the counter that served
    it, when, and for how long. ``service_s`` per queue feeds that queue's wait estimate
    (``kiosk.waits``); a stop closed without being served there (staff finished the whole
    case at an earlier counter) has ``completed_at`` but no ``service_s``."""

    __tablename__ = "ticket_stops"
    __table_args__ = (
        UniqueConstraint("ticket_id", "position"),
        CheckConstraint("position >= 0", name="position_not_negative"),
        CheckConstraint("service_s >= 0", name="service_not_negative"),
        # The wait estimate reads a queue's latest service times at every issue.
        Index(
            "ix_ticket_stops_queue_served",
            "queue_id",
            "completed_at",
            sqlite_where=text("service_s IS NOT NULL"),
            postgresql_where=text("service_s IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"))
    position: Mapped[int] = mapped_column(Integer)
    queue_id: Mapped[int] = mapped_column(ForeignKey("queues.id"))
    counter_id: Mapped[int | None] = mapped_column(ForeignKey("counters.id"))
    arrived_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    serving_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    service_s: Mapped[int | None] = mapped_column(Integer)

    def __repr__(self) -> str:
        return f"TicketStop(ticket_id={self.ticket_id}, position={self.position})"


class AuditEvent(Base):
    """Who did what to which case, when. Never holds personal data, never updated."""

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(64), index=True)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"), index=True)
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"), index=True)
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    def __repr__(self) -> str:
        return f"AuditEvent({self.action!r}, actor={self.actor!r}, case_id={self.case_id})"


class StaffRole(enum.Enum):
    """What a staff account may do: counter work < refunds and statistics < administration."""

    STAFF = "staff"
    SUPERVISOR = "supervisor"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        return {"staff": 0, "supervisor": 1, "admin": 2}[self.value]


class Staff(Base):
    """A staff console account. The password is stored only as a salted KDF hash
    (``kiosk.staff``). Repeated failures from one address lock the account *for that
    address* (``StaffLoginFailure``); ``failed_logins`` and ``locked_until`` summarise them
    for the admin page (failures since the last success, the latest lock's end).

    ``session_version`` is stamped into every console session and API token at log-in; a
    log-out, a password change, a deactivation or a role change increments it, which ends
    every session and token issued before at once."""

    __tablename__ = "staff"
    __table_args__ = (CheckConstraint("failed_logins >= 0", name="failed_logins_not_negative"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(48), unique=True)
    display_name: Mapped[str] = mapped_column(String(100), default="")
    role: Mapped[StaffRole] = mapped_column(_enum(StaffRole, "staff_role"))
    password_hash: Mapped[str] = mapped_column(String(255))
    active: Mapped[bool] = mapped_column(default=True)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    session_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")

    def __repr__(self) -> str:
        return f"Staff({self.username!r}, role={self.role.value})"


class HelpRequest(Base):
    """A resident at a kiosk asked for a member of staff ("Call staff"): which kiosk, on
    which screen, when, and who acknowledged it when. Holds no personal data (no case, no
    name): staff go to the kiosk. ``token`` lets that kiosk's screen follow its request.
    Acknowledged once; never deleted (the statistics count the waits)."""

    __tablename__ = "help_requests"
    __table_args__ = (
        Index("ix_help_requests_open", "acknowledged_at", "raised_at"),
        Index("ix_help_requests_kiosk_open", "kiosk_id", "acknowledged_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    token: Mapped[str] = mapped_column(String(64), unique=True)
    kiosk_id: Mapped[str] = mapped_column(String(40))
    screen: Mapped[str] = mapped_column(String(24))
    business_day: Mapped[date] = mapped_column(Date, index=True)
    raised_at: Mapped[datetime] = mapped_column(UTCDateTime)
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    acknowledged_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))

    acknowledged_by: Mapped[Staff | None] = relationship()

    def __repr__(self) -> str:
        state = "open" if self.acknowledged_at is None else "acknowledged"
        return f"HelpRequest({self.kiosk_id!r}, {self.screen!r}, {state})"


class StaffLoginFailure(Base):
    """Failed log-ins of one account from one client address, and the lock they earned:
    after ``kiosk.staff.MAX_FAILURES`` in a row that address may not log in to that account
    for a while; other addresses still can (so one LAN user cannot lock everyone out)."""

    __tablename__ = "staff_login_failures"
    __table_args__ = (CheckConstraint("failures >= 0", name="failures_not_negative"),)

    staff_id: Mapped[int] = mapped_column(
        ForeignKey("staff.id", ondelete="CASCADE"), primary_key=True
    )
    address: Mapped[str] = mapped_column(String(64), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class CaseAmendment(Base):
    """One correction of a case at the counter (``kiosk.amendments``): the fee before and
    after, what changed by name in ``summary`` (field names, procedure codes: nothing
    personal) and the values before and after in ``changes``, encrypted like the case."""

    __tablename__ = "case_amendments"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    actor: Mapped[str] = mapped_column(String(64))
    fee_before_yen: Mapped[int] = mapped_column(Integer)
    fee_after_yen: Mapped[int] = mapped_column(Integer)
    summary: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # {"case": {field: [before, after]}, "procedures": {code: {field: [before, after]}}};
    # NULL after purge.
    changes: Mapped[dict[str, Any] | None] = mapped_column(
        Encrypted("case_amendment.changes", "json")
    )

    def __repr__(self) -> str:
        return f"CaseAmendment(case_id={self.case_id}, fields={self.summary.get('fields')})"
