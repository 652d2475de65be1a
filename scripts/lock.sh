#!/usr/bin/env bash
# Refresh constraints.txt (the exact versions the tests passed with) from the venv, after a
# dependency changed in pyproject.toml and `scripts/setup.sh --test` installed it.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
{
    echo "# Exact versions of every dependency (runtime and test), used by scripts/setup.sh"
    echo "# as pip constraints. Refresh with scripts/lock.sh after changing pyproject.toml."
    "$here/.venv/bin/pip" freeze --exclude-editable --disable-pip-version-check
} >"$here/constraints.txt"
echo "constraints.txt: $(grep -c '==' "$here/constraints.txt") packages pinned"
