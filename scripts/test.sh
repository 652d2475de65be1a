#!/usr/bin/env bash
# Command 2 of the README: set up what is missing (including the test-only Debian
# packages), then the static checks (scripts/checks.sh: ruff, mypy, import layers) and the
# whole test suite. pytest starts pcscd and a throwaway PostgreSQL cluster itself. With
# arguments (a test file, -k ...) only pytest runs, with them. Exit status 5 ("no tests
# collected") fails like any error.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$here/scripts/setup.sh" --test
cd "$here"
[ "$#" -eq 0 ] && "$here/scripts/checks.sh"
exec "$here/.venv/bin/python" -m pytest "$@"
