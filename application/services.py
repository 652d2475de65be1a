"""The composition root: every service the app and the command line use, built once from
the settings into one typed :class:`Services` object.

``build_services(settings)`` runs a short, ordered list of steps: check the settings against
the registry (production mode refuses simulators), the database (refusing an outdated
schema), the catalog (its queues and counters installed), the card reader (one card operation at a
time) and the payment provider from the registry (and the card policy, checked against the
reader's trust anchors), the recovery of what a crash of the last run left
(``application.recovery``), the payment reconciler, the counters' devices and their desks,
the ticket printer with its background print queue, the resident's visit workflow, offline
speech and, in simulation, the simulator controls. ``Services.close()`` undoes them in
reverse order. The Flask app keeps the object as ``app.extensions["kiosk"]``; blueprints
read it through ``ui.services.current_services()`` and never build anything themselves.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from application import registry
from application.card_policy import CardPolicy
from application.counter_desk import CounterDeskWorkflow
from application.device import DeviceCredential, load_device_credential
from application.live import LiveStreams
from application.printing import PrintService
from application.rate_limits import AddressRateLimits
from application.recovery import recover_kiosk
from application.schema import require_current_schema
from application.speech import CachedSynthesizer, EspeakSynthesizer, SpeechSynthesizer
from application.visits import VisitStore, VisitWorkflow
from cardreader.exclusive import ExclusiveCardReader
from cardreader.reader import CardReader
from cardreader.trust import CardTrust
from kiosk import db
from kiosk.catalog import Catalog, load_catalog
from kiosk.config import Settings
from kiosk.counters import install_catalog
from kiosk.privacy import load_data_key, make_private_dir
from payments.provider import PaymentProvider
from payments.reconcile import Reconciler

log = logging.getLogger(__name__)


@dataclass
class Services:
    """What one running service is made of. Built by :func:`build_services`; ``close()``
    stops background threads and releases the reader, the provider and the database."""

    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    catalog: Catalog
    card_reader: CardReader
    payments: PaymentProvider
    reconciler: Reconciler | None
    visits: VisitWorkflow
    speech: CachedSynthesizer
    simulation: registry.Simulation | None
    #: this kiosk's device credential: visits and card operations need it (issue 10)
    device: DeviceCredential
    #: per-address budgets of card reads, log-in attempts and speech (issue 10)
    rate_limits: AddressRateLimits
    # The genuine-card checks: what cards are checked against (and whether those are the
    # ward's files or the simulator's test keys), and which checks a card must pass.
    card_trust: CardTrust
    card_trust_source: str
    card_policy: CardPolicy
    # The kiosk's ticket printer and its print queue (None: KIOSK_PRINTER=none). The front
    # end gives it its printouts (ui.printing) at start-up.
    printer: PrintService | None = None
    # The counters' desks: intake, customer displays, money at the counter, amendments.
    counter_desk: CounterDeskWorkflow | None = None
    # The board and phone streams of `kiosk serve` (ui.event_server), when it runs them.
    live: LiveStreams | None = None
    _shutdown: list[Callable[[], None]] = field(default_factory=list, repr=False)

    def attach_live(self, live: LiveStreams) -> None:
        """Keep the running live streams; they are stopped first when the services close."""
        self.live = live
        self._shutdown.append(live.stop)

    @property
    def kiosk_actor(self) -> str:
        """This kiosk in audit rows: ``kiosk:<KIOSK_KIOSK_ID>``."""
        return self.visits.actor

    def close(self) -> None:
        """Undo the start-up steps in reverse order; safe to call twice."""
        steps, self._shutdown[:] = list(self._shutdown), []
        for step in reversed(steps):
            try:
                step()
            except Exception:  # noqa: BLE001 - one failing step must not keep the rest
                log.exception("shutdown step failed")


def build_services(
    settings: Settings,
    *,
    synthesizer: SpeechSynthesizer | None = None,
    start_reconciler: bool = True,
) -> Services:
    """Build every service from ``settings``. ``synthesizer`` replaces espeak-ng (tests);
    ``start_reconciler`` False leaves payment reconciliation to the caller (tools).

    Raises ``ConfigError`` (bad or, in production, simulated configuration),
    ``SchemaOutdated`` (run ``kiosk db upgrade``), ``CatalogError`` (a broken catalog).
    Whatever was started before a failure is stopped again.
    """
    registry.check_settings(settings)
    # The data folder holds the SQLite database, the keys and the simulator's state: 0700.
    make_private_dir(settings.data_dir)
    shutdown: list[Callable[[], None]] = []
    try:
        engine = db.make_engine(
            settings.effective_database_url, load_data_key(settings.data_key, settings.data_dir)
        )
        shutdown.append(engine.dispose)
        require_current_schema(engine)
        sessions = db.make_session_factory(engine)
        catalog = load_catalog(settings.catalog or None)
        with db.transaction(sessions) as session:
            install_catalog(session, catalog)
        chosen = registry.build_card_reader(settings, shutdown)
        rig = chosen.rig
        # One card operation at a time: a concurrent one is refused as "reader busy".
        reader: CardReader = ExclusiveCardReader(chosen.reader)
        device = load_device_credential(settings)
        # A policy the trust cannot meet would refuse every card: refuse to start instead.
        policy = CardPolicy.from_settings(settings)
        policy.check_trust(chosen.trust, catalog)
        provider, terminal = registry.build_payment_provider(settings)
        shutdown.append(provider.close)
        ticket_printer, simulated_printer = registry.build_printer(settings, shutdown)
        printer = None
        if ticket_printer is not None:
            printer = PrintService(ticket_printer, name=settings.printer).start()
            shutdown.append(printer.close)
        reconciler = None
        if start_reconciler:
            # This process just started: every visit of this kiosk died with the last one.
            # Settle or cancel what they left open and free the payment reader now (issue
            # 10: a reader left busy refused every resident for about five minutes).
            recover_kiosk(sessions, provider, kiosk_id=settings.kiosk_id)
            # Repairs what a crash or a lost webhook left behind: once now, then periodically.
            reconciler = Reconciler(
                sessions,
                provider,
                interval_s=settings.reconcile_interval_s,
                timeout_s=settings.payment_timeout_s,
            ).start()
            shutdown.append(reconciler.stop)
        hardware = registry.build_counter_hardware(
            settings, [c.code for c in catalog.counters], shutdown
        )
        if start_reconciler:
            # Each counter's terminal and QR checkout is a provider of its own.
            for code, counter_provider in [*hardware.terminals.items(), *hardware.qr.items()]:
                counter_reconciler = Reconciler(
                    sessions,
                    counter_provider,
                    interval_s=settings.reconcile_interval_s,
                    timeout_s=settings.payment_timeout_s,
                    counter_code=code,
                ).start()
                shutdown.append(counter_reconciler.stop)
        counter_desk = CounterDeskWorkflow(
            sessions=sessions,
            catalog=catalog,
            kiosk_payments=provider,
            readers=hardware.readers,
            terminals=hardware.terminals,
            qr=hardware.qr,
            float_yen=settings.cash_float_yen,
            payment_timeout_s=settings.payment_timeout_s,
            policy=policy,
        )
        visits = VisitWorkflow(
            sessions=sessions,
            catalog=catalog,
            reader=reader,
            payments=provider,
            store=VisitStore(settings.idle_timeout_s),
            kiosk_id=settings.kiosk_id,
            printing=printer,
            policy=policy,
        )
        if printer is not None:
            # Paper out, cover open, a printer that does not answer: staff must come.
            printer.on_problem = lambda _code: visits.call_staff("printer")
        speech = CachedSynthesizer(synthesizer or EspeakSynthesizer(settings.voice_command))
        simulation = None
        simulated_counters = hardware.reader_rigs or hardware.sim_terminals
        simulated_parts = rig or terminal or simulated_printer or simulated_counters
        if settings.mode == "simulation" and simulated_parts:
            simulation = registry.Simulation(
                reader=rig,
                terminal=terminal,
                printer=simulated_printer,
                counter_readers=hardware.reader_rigs,
                counter_terminals=hardware.sim_terminals,
            )
    except BaseException:
        for step in reversed(shutdown):
            step()
        raise
    return Services(
        settings=settings,
        engine=engine,
        sessions=sessions,
        catalog=catalog,
        card_reader=reader,
        payments=provider,
        reconciler=reconciler,
        visits=visits,
        speech=speech,
        simulation=simulation,
        device=device,
        rate_limits=AddressRateLimits(settings),
        card_trust=chosen.trust,
        card_trust_source=chosen.trust_source,
        card_policy=policy,
        printer=printer,
        counter_desk=counter_desk,
        _shutdown=shutdown,
    )
