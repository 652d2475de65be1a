"""Every word the code and templates mark for translation is in the Japanese catalog with a
translation (residents and staff read Japanese first); the message ids are found the way
``pybabel extract`` finds them (``babel.cfg``; keywords ``_l``, ``N_``, ``NP_``)."""

from __future__ import annotations

from pathlib import Path

from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[2]
KEYWORDS = {
    **DEFAULT_KEYWORDS,
    "_l": None,
    "lazy_gettext": None,
    "N_": None,
    "NP_": ((1, "c"), 2),
}
METHODS = [("**/templates/**.html", "jinja2"), ("**.py", "python")]


def _marked() -> set[tuple[str | None, str]]:
    found: set[tuple[str | None, str]] = set()
    for package in ("ui", "application", "kiosk", "payments"):
        for _file, _line, message, _comments, context in extract_from_dir(
            ROOT / package, METHODS, keywords=KEYWORDS
        ):
            msgid = message[0] if isinstance(message, tuple) else message
            found.add((context, msgid))
    return found


def test_every_marked_word_has_a_japanese_translation() -> None:
    """No marked message is missing from (or untranslated in) the ja catalog."""
    with (ROOT / "ui/translations/ja/LC_MESSAGES/messages.po").open("rb") as f:
        catalog = read_po(f)
    translated = {
        (m.context, m.id if isinstance(m.id, str) else m.id[0])
        for m in catalog
        if m.id and (m.string if isinstance(m.string, str) else all(m.string))
    }
    missing = sorted(str(key) for key in _marked() - translated)
    assert missing == []
