"""What every request's input must be before a handler sees it, stated once for all routes.

- JSON: at most MAX_JSON_DEPTH levels of nesting (deeper bodies are refused with 400 before
  Python's parser runs out of stack: 3,000 levels is 15 KB).
- Text: no control characters (NUL, bell, escape, ...) in the path, the query, a form or a JSON
  body; tab and line breaks are allowed in form and JSON values. PostgreSQL refuses NUL, and
  the others would reach mail headers and bodies. Refused with 422 naming the field.

Webhooks are the exception for text: a plugin's delivery is cleaned, not refused (the visitor
already saw the plugin's thank-you; see webhooks/forms.py).
Numbers are read by service.domain.normalize.whole_number, lengths by each field's parser.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from flask import request
from flask.json.provider import DefaultJSONProvider

from service.domain.normalize import (
    InvalidInput,
    control_character_problem,
    has_control_characters,
)

MAX_JSON_DEPTH = 20
UNCHECKED_PREFIXES = ("/webhooks/",)
TOO_DEEP = f"the JSON body is nested deeper than {MAX_JSON_DEPTH} levels"


class JsonTooDeep(ValueError):
    """A JSON document nested deeper than MAX_JSON_DEPTH."""


def _depth_ok(text: str, limit: int) -> bool:
    """Tell whether brackets outside strings nest at most limit deep (one pass, no parsing)."""
    depth = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            if depth > limit:
                return False
        elif char in "]}":
            depth -= 1
    return True


def loads(data: str | bytes, **kwargs: Any) -> Any:
    """Parse JSON, refusing documents nested deeper than MAX_JSON_DEPTH (ValueError)."""
    text = data.decode("utf-8") if isinstance(data, bytes | bytearray) else data
    # Counting brackets is C speed; only a body with many of them is walked character by
    # character.
    if text.count("[") + text.count("{") > MAX_JSON_DEPTH and not _depth_ok(text, MAX_JSON_DEPTH):
        raise JsonTooDeep(TOO_DEEP)
    return json.loads(text, **kwargs)


class BoundedJsonProvider(DefaultJSONProvider):
    """Flask's JSON with the depth limit: request.get_json() answers 400 for a deep body."""

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        """Parse with the depth limit."""
        return loads(s, **kwargs)


def _strings(value: Any, path: str) -> Iterator[tuple[str, str]]:
    """Yield (field, text) for every string in a JSON value, keys included."""
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, dict):
        for key, item in value.items():
            name = f"{path}.{key}" if path else str(key)
            yield name, str(key)
            yield from _strings(item, name)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _strings(item, f"{path}[{index}]")


def _request_texts() -> Iterator[tuple[str, str, bool]]:
    """Yield (field, text, multiline allowed) for everything a caller typed into a request."""
    for name, value in (request.view_args or {}).items():
        # A personal link's token is checked by its signature: anything else is an invalid
        # link (404), never stored.
        if isinstance(value, str) and name != "token":
            yield name, value, False
    for name, value in request.args.items(multi=True):
        yield name, name, False
        yield name, value, False
    if request.mimetype == "application/json":
        for name, text in _strings(request.get_json(silent=True), ""):
            yield name or "body", text, True
    elif request.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data"):
        for name, value in request.form.items(multi=True):
            yield name, name, False
            yield name, value, True


def refuse_control_characters() -> None:
    """Refuse a request whose path, query, form or JSON holds control characters (422)."""
    if request.path.startswith(UNCHECKED_PREFIXES):
        return
    for field, text, multiline in _request_texts():
        if has_control_characters(text, multiline=multiline):
            raise InvalidInput([control_character_problem(field[:100])])
