"""The Flask application: resident kiosk, staff console, display board, JSON API, webhooks.

``create_app`` builds one app from configuration with a short, ordered list of ``init_*``
steps. Per-app objects (settings, database, card reader, payment provider, simulator) live in
``app.extensions``; nothing is created at import time.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from flask import Flask

from kiosk import db
from kiosk.config import Settings, load_settings
from kiosk.privacy import load_data_key

log = logging.getLogger(__name__)


def create_app(
    config: Mapping[str, Any] | None = None, *, settings: Settings | None = None
) -> Flask:
    """Build the app: defaults, then ``KIOSK_*`` environment, then ``config`` (setting names).

    Raises :class:`kiosk.config.ConfigError` for bad configuration and
    :class:`kiosk.db.SchemaOutdated` when the database needs ``kiosk db upgrade``.
    """
    settings = settings if settings is not None else load_settings(config)
    app = Flask(__name__)
    app.config["KIOSK_SETTINGS"] = settings
    app.json.ensure_ascii = False  # type: ignore[attr-defined]
    shutdown_steps: list[Callable[[], None]] = []
    app.extensions["kiosk.shutdown"] = lambda: [step() for step in reversed(shutdown_steps)]

    init_database(app, settings, shutdown_steps)
    init_catalog(app, settings)
    init_card_reader(app, settings, shutdown_steps)
    init_payments(app, settings)
    init_payment_provider(app, settings, shutdown_steps)
    init_sessions(app, settings)
    init_i18n(app)
    init_voice(app)
    init_body_limits(app)  # issue 10: per-route request body caps
    init_blueprints(app)
    return app


def init_database(app: Flask, settings: Settings, shutdown: list[Callable[[], None]]) -> None:
    """Engine and session factory; refuse to run on an outdated schema."""
    key = load_data_key(settings.data_key, settings.data_dir)
    engine = db.make_engine(settings.effective_database_url, key)
    db.require_current_schema(engine)
    app.extensions["kiosk.engine"] = engine
    app.extensions["kiosk.sessions"] = db.make_session_factory(engine)
    shutdown.append(engine.dispose)


def init_card_reader(app: Flask, settings: Settings, shutdown: list[Callable[[], None]]) -> None:
    """The card reader chosen by ``KIOSK_CARD_READER``.

    ``pcsc``: a real reader. ``sim``: the simulator plugs the demo persona's card into pcscd
    (vpcd driver) and the production PC/SC path reads it. ``sim-direct``: the simulated card
    is read in-process (no pcscd).
    """
    from cardreader.reader import DirectCardReader, PcscCardReader

    if settings.card_reader == "pcsc":
        app.extensions["kiosk.card_reader"] = PcscCardReader(settings.reader_name)
        return

    from hardware_sim.rig import SimulatedReaderRig

    via_pcscd = settings.card_reader == "sim"
    rig = SimulatedReaderRig(
        settings.data_dir, via_pcscd=via_pcscd, vpcd_port=settings.sim_vpcd_port
    )
    shutdown.append(rig.close)
    if settings.sim_persona:
        rig.insert(settings.sim_persona)
    app.extensions["kiosk.card_simulator"] = rig
    if via_pcscd:
        reader = PcscCardReader(settings.reader_name or "Virtual PCD 00 00")
    else:
        reader = DirectCardReader(rig.in_process_card)
    app.extensions["kiosk.card_reader"] = reader


def init_payments(app: Flask, settings: Settings) -> None:
    """The payment provider chosen by ``KIOSK_PAYMENTS`` (recorded for health reporting)."""
    app.extensions["kiosk.payments_name"] = settings.payments


def init_catalog(app: Flask, settings: Settings) -> None:
    """The procedure catalog (``KIOSK_CATALOG``) as ``app.extensions["kiosk.catalog"]``; its
    queues and counters are installed (created or updated by code) in the database."""
    from kiosk.catalog import load_catalog
    from kiosk.queue import install_catalog

    catalog = load_catalog(settings.catalog or None)
    with db.transaction(app.extensions["kiosk.sessions"]) as session:
        install_catalog(session, catalog)
    app.extensions["kiosk.catalog"] = catalog


def init_payment_provider(
    app: Flask, settings: Settings, shutdown: list[Callable[[], None]]
) -> None:
    """``app.extensions["kiosk.payments"]``: the PaymentProvider (unless already set)."""
    if "kiosk.payments" in app.extensions:
        return
    from payments import make_provider
    from payments.service import Reconciler

    provider = make_provider(settings)
    app.extensions["kiosk.payments"] = provider
    shutdown.append(provider.close)
    # Repairs what a crash or a lost webhook left behind: once now, then periodically.
    reconciler = Reconciler(
        app.extensions["kiosk.sessions"],
        provider,
        interval_s=settings.reconcile_interval_s,
        timeout_s=settings.payment_timeout_s,
    ).start()
    app.extensions["kiosk.reconciler"] = reconciler
    shutdown.append(reconciler.stop)


def init_sessions(app: Flask, settings: Settings) -> None:
    """Signed session cookie and the kiosk's server-side visit store."""
    from ui.sessions import init_sessions as init

    init(app, settings)


def init_i18n(app: Flask) -> None:
    """Flask-Babel: four languages, ``?lang=`` / session / Accept-Language."""
    from ui.i18n import init_i18n as init

    init(app)


def init_voice(app: Flask) -> None:
    """Offline speech (espeak-ng, ``KIOSK_VOICE_COMMAND``) for board and kiosk, cached."""
    from ui.voice import init_voice as init

    init(app)


def init_body_limits(app: Flask) -> None:
    """413 for a body larger than its route's cap (``ui.body_limits``)."""
    from ui.body_limits import init_body_limits as init

    init(app)


def init_blueprints(app: Flask) -> None:
    from ui import api, board, health, kiosk, phone, staff, voice, webhooks

    app.register_blueprint(health.bp)
    app.register_blueprint(webhooks.bp)
    app.register_blueprint(kiosk.bp)
    app.register_blueprint(phone.bp)
    app.register_blueprint(staff.bp)
    app.register_blueprint(board.bp)
    app.register_blueprint(api.bp)
    app.register_blueprint(voice.bp)
    if "kiosk.card_simulator" in app.extensions or app.extensions["kiosk.payments_name"] == "sim":
        from ui import simulator

        app.register_blueprint(simulator.bp)
