"""Alembic environment: uses the connection handed over in ``config.attributes`` (see
``application.schema.upgrade``) or else builds one from ``sqlalchemy.url``. Online mode only."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

import payments.models  # noqa: F401  (payment tables share Base.metadata: autogenerate sees them)
from kiosk.models import Base

config = context.config
target_metadata = Base.metadata


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        context.configure(
            connection=connection, target_metadata=target_metadata, render_as_batch=True
        )
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = create_engine(config.get_main_option("sqlalchemy.url") or "")
    with engine.connect() as connection:
        context.configure(
            connection=connection, target_metadata=target_metadata, render_as_batch=True
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


run_migrations_online()
