"""The one rule for a line of text (``kiosk.text``) and its published form."""

from __future__ import annotations

import re
import sys

import pytest

from kiosk.text import SAFE_TEXT_PATTERN, is_safe_text


@pytest.mark.parametrize(
    "character",
    ["\x00", "\x07", "\t", "\n", "\r", "\x1f", "\x7f", "\x85", "\x9f", "\u061c", "\u200e",
     "\u200f", "\u202a", "\u202b", "\u202c", "\u202d", "\u202e", "\u2066", "\u2067",
     "\u2068", "\u2069", "\ud800", "\udbff", "\udc00", "\udfff"],
)  # fmt: skip
def test_control_bidi_control_and_surrogates_are_refused(character: str) -> None:
    """Every control character, Bidi_Control character and surrogate is refused, also
    in the middle of a text."""
    assert not is_safe_text(character)
    assert not is_safe_text(f"証明書{character}2通")


@pytest.mark.parametrize(
    "text", ["山田　太郎", "𠮷田", "髙﨑", "ＡＢＣ１２３", "Smith-Jones, O'Neil", "café", "😀", ""]
)
def test_ordinary_text_is_kept(text: str) -> None:
    """Japanese (also outside the BMP), full-width forms, Latin punctuation and emoji pass."""
    assert is_safe_text(text)


def test_the_published_pattern_is_the_rule() -> None:
    """The JSON Schema pattern the API publishes accepts exactly the characters the rule
    accepts, for every code point."""
    one_of_them = re.compile(SAFE_TEXT_PATTERN.removeprefix("^").removesuffix("$"))
    mismatches = [
        hex(cp)
        for cp in range(sys.maxunicode + 1)
        if is_safe_text(chr(cp)) != (one_of_them.fullmatch(chr(cp)) is not None)
    ]
    assert mismatches == []
