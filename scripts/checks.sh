#!/usr/bin/env bash
# The static checks of the test command (scripts/test.sh runs them before the whole suite):
# lint and formatting (ruff), types (mypy over the six packages) and the import layers
# (import-linter, contracts in pyproject.toml). Run alone after scripts/setup.sh --test.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$here"
bin="$here/.venv/bin"
say() { printf '[checks] %s\n' "$*" >&2; }

say "ruff check"
"$bin/ruff" check --quiet .
say "ruff format --check"
"$bin/ruff" format --check --quiet .
say "mypy"
"$bin/mypy" --no-error-summary kiosk application payments cardreader ui hardware_sim
say "lint-imports"
"$bin/lint-imports" --no-cache
say "all passed"
