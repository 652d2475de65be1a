#!/usr/bin/env bash
# Command 1 of the README: set up what is missing, then run the service on the embedded
# default (SQLite file under var/, simulated card reader with a demo resident's card
# inserted, simulated payment terminal).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$here/scripts/setup.sh"
cd "$here"
"$here/.venv/bin/kiosk" db upgrade
exec "$here/.venv/bin/kiosk" serve "$@"
