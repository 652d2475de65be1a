"""The staff console: log in, pick a counter, work the queue, open the paid prefilled case,
print it for the signature, refund (supervisor), administration and statistics (admin).

One blueprint (``staff``), its views in modules by concern:

- :mod:`ui.staff.console`: what every console page shares (who is logged in, CSRF, role
  checks, headers, error pages, labels);
- :mod:`ui.staff.auth`: log in and log out;
- :mod:`ui.staff.queue`: the counter, the queue overview and the ticket operations
  (``application.ticket_operations``, the same as the JSON API's);
- :mod:`ui.staff.cases`: the case view, the A4 print, receipts and refunds;
- :mod:`ui.staff.admin`: counters, accounts and statistics (with :mod:`ui.staff.charts`);
- :mod:`ui.staff.help_calls`: the kiosks' calls for staff, on every page, and acknowledging them.
- :mod:`ui.staff.desk`: the counter desk (a new case at the counter, the customer display,
  money at the counter, amendments, exemptions: ``application.counter_desk``);
- :mod:`ui.staff.ledger`: the day's takings (収納日計表), its CSV and closing the day.

Views are thin: parse the form, call one operation, redirect with a flash message (or
render). Every POST carries the session's CSRF token. Opening a case (screen or print) goes
through ``kiosk.cases.view_case``, which writes the audit row. Domain errors become a flash
message in the staff member's language (``ui.errors``).
"""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("staff", __name__, url_prefix="/staff")

# The modules below add their routes and hooks to ``bp``.
from ui.staff import admin, auth, cases, console, desk, help_calls, ledger, queue  # noqa: E402, F401
