#!/usr/bin/env bash
# Start pcscd (with the vpcd virtual reader driver configured by Debian's vsmartcard-vpcd)
# unless it already runs. pcscd is a system daemon: one per machine, shared by all readers.
set -euo pipefail
case "${1:-start}" in
    start)
        if pidof pcscd >/dev/null 2>&1; then
            exit 0
        fi
        if [ "$(id -u)" = 0 ]; then pcscd; else sudo pcscd; fi
        for _ in $(seq 1 50); do
            [ -S /run/pcscd/pcscd.comm ] && exit 0
            sleep 0.1
        done
        echo "[setup] pcscd did not create /run/pcscd/pcscd.comm" >&2
        exit 1
        ;;
    *)
        echo "usage: $0 start" >&2
        exit 2
        ;;
esac
