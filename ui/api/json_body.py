"""Reading a JSON request body of the API into a plain object, safely.

The standard ``json`` module is what turns the bytes into Python values (it keeps a lone
surrogate such as ``"\\ud800"`` as it is, so that the request models can refuse it with the
field's path), but three things are settled before or around it:

- **Depth.** ``json.loads`` recurses once per nesting level and gives up with a
  ``RecursionError`` near a thousand levels, a 500 in a Flask view. No request of the API
  nests deeper than four levels (``{"fields": {code: {name: [...]}}}``), so a body deeper
  than :data:`MAX_DEPTH` is refused before it is parsed, with the path of the value where
  the limit is crossed. A linear scan over the body's tokens finds it (strings are skipped
  whole, so brackets inside them do not count).
- **Non-JSON constants.** ``NaN``, ``Infinity`` and ``-Infinity`` are not JSON (RFC 8259);
  Python accepts them by default. Here they make the body invalid.
- **Shape.** The API's bodies are JSON objects in UTF-8; anything else is refused.

Raises :class:`BodyTooDeep` (with ``path``) or :class:`NotAJsonObject`; the API turns them
into ``422 invalid_field`` and ``400 invalid_json``.
"""

from __future__ import annotations

import json
import re
from typing import Any

MAX_DEPTH = 10

# A string (an unterminated one runs to the end: the scan stays linear) or a structural
# character. Everything else (numbers, literals, white space) is skipped.
_TOKEN = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"?|[\[\]{},:]')


class NotAJsonObject(ValueError):
    """The body is not valid JSON, or is valid JSON but not an object."""


class BodyTooDeep(ValueError):
    """The body nests deeper than :data:`MAX_DEPTH`; ``path`` leads to the value (object
    keys and list indices) that crosses the limit."""

    def __init__(self, path: list[str | int]) -> None:
        super().__init__(f"nested deeper than {MAX_DEPTH} levels")
        self.path = path


def nesting_path(text: str, limit: int = MAX_DEPTH) -> list[str | int] | None:
    """The path to the first value of ``text`` (JSON) that opens a container deeper than
    ``limit`` levels, or None when nothing nests that deep. Only the structure is looked
    at: the text need not be valid JSON."""
    if text.count("[") + text.count("{") <= limit:
        return None  # cannot nest deeper than it has brackets
    stack: list[list[Any]] = []  # per open container: its kind and its current key / index
    last_string = ""  # the raw token: decoded only for the path
    for match in _TOKEN.finditer(text):
        token = match.group()
        if token == "[" or token == "{":
            if len(stack) >= limit:
                return [_decode_key(key) if isinstance(key, str) else key for _, key in stack]
            stack.append([token, 0 if token == "[" else ""])
        elif token == "]" or token == "}":
            if stack:
                stack.pop()
        elif token == ",":
            if stack and stack[-1][0] == "[":
                stack[-1][1] += 1
        elif token == ":":
            if stack and stack[-1][0] == "{":
                stack[-1][1] = last_string
        else:
            last_string = token
    return None


def _decode_key(token: str) -> str:
    if not token:
        return token
    try:
        key = json.loads(token)
    except ValueError:
        return token.strip('"')
    return key if isinstance(key, str) else token


def _refuse_constant(name: str) -> Any:
    raise NotAJsonObject(f"{name} is not JSON")


def read_json_object(raw: bytes) -> dict[str, Any]:
    """The JSON object in ``raw`` (UTF-8, as RFC 8259 requires between systems); an empty
    body is an empty object. Raises NotAJsonObject, BodyTooDeep."""
    if not raw.strip():
        return {}
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise NotAJsonObject("the body is not UTF-8") from None
    if not text.lstrip().startswith("{"):
        raise NotAJsonObject("the body is not a JSON object")
    path = nesting_path(text)
    if path is not None:
        raise BodyTooDeep(path)
    try:
        data = json.loads(text, parse_constant=_refuse_constant)
    except (ValueError, RecursionError) as e:  # RecursionError: the scan above prevents it
        raise NotAJsonObject(str(e)) from None
    if not isinstance(data, dict):
        raise NotAJsonObject("the body is not a JSON object")
    return data
