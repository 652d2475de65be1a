"""Reading an API request body (``ui.api.json_body``): depth, constants, shape, encoding."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ui.api.json_body import MAX_DEPTH, BodyTooDeep, NotAJsonObject, nesting_path, read_json_object

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(alphabet='[]{}",:\\ab\u3042'),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.text(alphabet='[]{}"\\k', max_size=3), inner, max_size=3)
    ),
    max_leaves=40,
)


def _depth(value: Any) -> int:
    if isinstance(value, list):
        return 1 + max((_depth(v) for v in value), default=0)
    if isinstance(value, dict):
        return 1 + max((_depth(v) for v in value.values()), default=0)
    return 0


def _path_exists(value: Any, path: list[str | int]) -> bool:
    for step in path:
        if isinstance(value, dict) and isinstance(step, str) and step in value:
            value = value[step]
        elif isinstance(value, list) and isinstance(step, int) and step < len(value):
            value = value[step]
        else:
            return False
    return isinstance(value, list | dict)


@settings(max_examples=300, deadline=None)
@given(JSON_VALUES, st.integers(min_value=1, max_value=6))
def test_the_scan_finds_exactly_what_nests_too_deep(value: Any, limit: int) -> None:
    """For any JSON (brackets, quotes and backslashes inside strings and keys included),
    the scan reports a path exactly when the value nests deeper than the limit, and the
    path leads to a container inside the value."""
    text = json.dumps({"v": value})
    path = nesting_path(text, limit)
    assert (path is not None) == (_depth({"v": value}) > limit)
    if path is not None:
        assert len(path) == limit and _path_exists({"v": value}, path)


def test_an_empty_body_is_an_empty_object() -> None:
    """No body (or only white space) reads as {} so that optional bodies may be left out."""
    assert read_json_object(b"") == {} and read_json_object(b" \n") == {}


@pytest.mark.parametrize(
    "raw",
    [b"[1]", b'"x"', b"null", b"{not json", b'{"a": NaN}', b'{"a": -Infinity}',
     b'{"a": "\xff"}', "{}".encode("utf-16")],
)  # fmt: skip
def test_what_is_not_a_json_object_in_utf8_is_refused(raw: bytes) -> None:
    """Other JSON values, broken JSON, the non-JSON constants and other encodings are
    refused as not a JSON object."""
    with pytest.raises(NotAJsonObject):
        read_json_object(raw)


def test_a_body_past_the_parsers_recursion_is_refused_with_its_path() -> None:
    """Thirty thousand levels (json.loads would raise RecursionError) are refused before
    parsing, with the path to where the limit is crossed."""
    raw = b'{"fields": {"x": ' + b"[" * 30_000 + b"]" * 30_000 + b"}}"
    with pytest.raises(BodyTooDeep) as info:
        read_json_object(raw)
    assert info.value.path == ["fields", "x"] + [0] * (MAX_DEPTH - 2)


def test_a_lone_surrogate_is_read_as_it_is() -> None:
    """A lone surrogate escape is kept, for the request model to refuse with its path."""
    assert read_json_object(b'{"pin": "\\ud800"}') == {"pin": "\ud800"}
