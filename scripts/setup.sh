#!/usr/bin/env bash
# Idempotent set-up for a fresh Debian machine (run as root, or with sudo available).
#   scripts/setup.sh            the service's needs: PC/SC stack, virtual reader driver, offline
#                               voice (espeak-ng), CJK font for printed tickets, venv
#   scripts/setup.sh --test     also what the test suite needs (PostgreSQL server, ...)
# Fast when nothing is missing: it only checks dpkg and a hash of pyproject.toml and
# constraints.txt (the exact versions every dependency is installed at).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$here"

want_test=0
[ "${1:-}" = "--test" ] && want_test=1

say() { printf '[setup] %s\n' "$*" >&2; }

as_root() {
    if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

# --- Debian packages -------------------------------------------------------
debs=(pcscd vsmartcard-vpcd libpcsclite-dev swig python3-venv espeak-ng fonts-noto-cjk libusb-1.0-0)
if [ "$want_test" = 1 ]; then
    # nginx: tests/security runs the deploy/ reverse proxy (its own config, prefix in tmp).
    debs+=(postgresql chromium nginx)
fi
missing=()
for p in "${debs[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$p")
    fi
done
if [ "${#missing[@]}" -gt 0 ]; then
    say "installing Debian packages: ${missing[*]}"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# --- virtual environment with the package ----------------------------------
venv="$here/.venv"
if [ ! -x "$venv/bin/python" ]; then
    say "creating virtual environment in .venv"
    python3 -m venv "$venv"
fi
extras=""
[ "$want_test" = 1 ] && extras="[test]"
stamp="$venv/.installed$extras"
digest="$(cat pyproject.toml constraints.txt | sha256sum | cut -d' ' -f1)"
installed_with() { [ -f "$venv/.installed$1" ] && [ "$(cat "$venv/.installed$1")" = "$digest" ]; }
# A test install also satisfies the service; only install when neither matches this pyproject.
if ! installed_with "$extras" && ! installed_with "[test]"; then
    say "installing the package into .venv (pip install -e .$extras)"
    if ! "$venv/bin/pip" install --disable-pip-version-check --config-settings editable_mode=compat -c constraints.txt -e ".$extras" >"$venv/pip.log" 2>&1; then
        tail -n 40 "$venv/pip.log" >&2
        say "pip install failed (full log: .venv/pip.log)"
        exit 1
    fi
    echo "$digest" > "$stamp"
fi

# --- translations: compile a catalog only when its .po is newer than its .mo ----------
for po in "$here"/ui/translations/*/LC_MESSAGES/messages.po; do
    [ -e "$po" ] || continue
    mo="${po%.po}.mo"
    if [ ! -e "$mo" ] || [ "$po" -nt "$mo" ]; then
        say "compiling $(basename "$(dirname "$(dirname "$po")")") translations"
        "$venv/bin/pybabel" -q compile -i "$po" -o "$mo"
    fi
done

# --- PC/SC daemon ------------------------------------------------------------
"$here/scripts/pcscd.sh" start
