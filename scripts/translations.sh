#!/usr/bin/env bash
# The gettext catalogs of every word the service shows (ui/translations).
#   scripts/translations.sh extract   write ui/translations/messages.pot from the code and
#                                     templates (the keywords below mark words everywhere)
#   scripts/translations.sh update    merge the .pot into the four .po files (new entries
#                                     empty: translate them, then scripts/setup.sh compiles)
# tests/ui/test_translations.py fails while a marked word has no Japanese translation.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$here"
pybabel="$here/.venv/bin/pybabel"
case "${1:-}" in
    extract)
        "$pybabel" extract -F babel.cfg -k _l -k lazy_gettext -k N_ -k NN_:1,2 -k NP_:1c,2 \
            --no-wrap -o ui/translations/messages.pot ui application kiosk payments
        ;;
    update)
        "$pybabel" update -i ui/translations/messages.pot -d ui/translations --no-wrap
        ;;
    *)
        echo "usage: $0 extract|update" >&2
        exit 2
        ;;
esac
