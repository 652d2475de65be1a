"""What a line of text typed by a resident or a member of staff may contain.

One rule for every free-text value that the service stores, prints or shows (procedure
fields on the A4 form, refund reasons, user names): no character that is invisible or that
changes how the text around it is displayed, and nothing that cannot be encoded.

- control characters (C0 ``U+0000``-``U+001F`` including tab and line feed, DEL, C1
  ``U+0080``-``U+009F``): the kiosk's fields are single lines, a line break or a NUL in a
  printed form is never what the resident meant;
- the Unicode ``Bidi_Control`` characters (``U+061C``, ``U+200E``, ``U+200F``,
  ``U+202A``-``U+202E``, ``U+2066``-``U+2069``): they reorder what is printed around them
  (an override can make "300" read "003" on a form that staff sign off);
- surrogate code points (``U+D800``-``U+DFFF``): a lone surrogate (JSON ``"\\ud800"``) is
  not a character and cannot be stored as UTF-8.

:data:`UNSAFE_CHARACTERS` is the same rule as a regular-expression character class, so that
the JSON API can publish it in its OpenAPI document (``pattern``) without restating it.
"""

from __future__ import annotations

import re

# Escapes, not literal characters: the class is published as it is written here.
UNSAFE_CHARACTERS = (
    r"\x00-\x1f\x7f-\x9f"  # C0, DEL, C1
    r"\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"  # Bidi_Control
    r"\ud800-\udfff"  # surrogates
)
# The published form: a whole string of safe characters (ECMA-262 / JSON Schema ``pattern``).
SAFE_TEXT_PATTERN = f"^[^{UNSAFE_CHARACTERS}]*$"

_UNSAFE = re.compile(f"[{UNSAFE_CHARACTERS}]")


def is_safe_text(text: str) -> bool:
    """Whether ``text`` has none of the refused characters (see the module docstring)."""
    return _UNSAFE.search(text) is None
