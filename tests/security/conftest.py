"""Fixtures of the security tests, re-exported from the packages that define them: the
databases of the domain tests (SQLite and PostgreSQL), the payment providers on the
Stripe stand-in, and the in-process app factory of the UI tests."""

from __future__ import annotations

from tests.payments.conftest import (  # noqa: F401  (fixtures re-exported for pytest)
    catalog,
    data_key,
    db,
    pg_cluster,
    pg_template,
    sqlite_template,
    standin,
    terminal_resident,
)
from tests.ui.conftest import make_app  # noqa: F401  (the in-process app factory fixture)
