"""The database schema version: Alembic migrations (``application/migrations``).

The migrations span every package's tables (the domain's and the payments'), so they live in
the application layer, above both, and not in the domain package.
"""

from __future__ import annotations

from importlib import resources

from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine


class SchemaOutdated(RuntimeError):
    """The database schema is not the one this code expects; the message says the fix."""


def alembic_config(url: str) -> Config:
    """Alembic configuration built in code, so it works from an installed package."""
    config = Config()
    config.set_main_option("script_location", str(resources.files("application") / "migrations"))
    # "%" is ConfigParser interpolation syntax; URLs with encoded passwords contain it.
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Apply migrations up to ``revision`` on ``engine``'s database."""
    from alembic import command

    config = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def current_revision(engine: Engine) -> str | None:
    """The revision recorded in the database (None for an empty database)."""
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def head_revision() -> str:
    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    head = script.get_current_head()
    assert head is not None
    return head


def schema_is_current(engine: Engine) -> bool:
    """True when the database is at the newest migration this code ships."""
    return current_revision(engine) == head_revision()


def require_current_schema(engine: Engine) -> None:
    """Raise SchemaOutdated (saying which command fixes it) unless the schema is current."""
    current, head = current_revision(engine), head_revision()
    if current != head:
        raise SchemaOutdated(
            f"database schema is at {current or 'nothing (empty database)'}, this version "
            f"needs {head}: run `kiosk db upgrade`"
        )
