"""The field rules every style description obeys, in a model's card and in a folder's styles.json.

A description is a file anyone may drop into a watched folder, so each field is checked before
use."""

from __future__ import annotations

import re
from typing import Any

STYLE_NAME = re.compile(r"[a-z0-9]+(-[a-z0-9]+){0,15}")  # also what `MODEL/STYLE` can name
MAX_TEXT = 500  # a title, an artist, a licence


def style_name(value: Any) -> str:
    """`value` if it is a style name (lowercase words and hyphens), else ValueError."""
    if not isinstance(value, str) or len(value) > 200 or not STYLE_NAME.fullmatch(value):
        raise ValueError(f"style name {str(value)[:40]!r} is not lowercase words and hyphens")
    return value


def text(entry: dict, key: str, default: str = "") -> str:
    """The optional text field `key` of `entry`, else ValueError when it is not short text."""
    value = entry.get(key, default)
    if not isinstance(value, str) or len(value) > MAX_TEXT:
        raise ValueError(f"'{key}' must be text of at most {MAX_TEXT} characters")
    return value
