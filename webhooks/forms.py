"""Form plugins' deliveries: flatten each plugin's shape and find the visitor's metadata.

Every shape becomes one flat mapping of the plugin's field names to a text or a list of texts:
nested JSON and PHP bracket keys alike end up as ``names[first_name]``; WPForms' ``||``-joined
values become lists; Elementor's "advanced data" (``fields[email][value]`` with its
``fields[email][title]``) is found under both the field id and its label.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Iterable
from typing import Any

from service.domain.inbound import body_key
from service.domain.sources import FormSubmission, SourceKind

WPFORMS_SIGNATURE_HEADER = "X-WPForms-Webhook-Signature"
WPFORMS_TOLERANCE_SECONDS = 300
ELEMENTOR_FIELD = re.compile(r"^fields\[([^\]]+)\]\[(value|title|raw_value)\]$")

Flat = dict[str, str | list[str]]


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else ""
    return str(value)


def flatten_json(value: Any, prefix: str = "", into: Flat | None = None) -> Flat:
    """Flatten nested JSON into PHP-style bracket keys; lists of plain values stay lists."""
    flat: Flat = {} if into is None else into
    if isinstance(value, dict):
        for key, item in value.items():
            flatten_json(item, f"{prefix}[{key}]" if prefix else str(key), flat)
    elif isinstance(value, list) and all(not isinstance(v, dict | list) for v in value):
        flat[prefix] = [_text(v) for v in value]
    elif isinstance(value, list):
        for index, item in enumerate(value):
            flatten_json(item, f"{prefix}[{index}]", flat)
    else:
        flat[prefix] = _text(value)
    return flat


def flatten_form(pairs: Iterable[tuple[str, str]]) -> Flat:
    """Collect form fields; a repeated key or a PHP "name[]" key becomes a list."""
    flat: Flat = {}
    for key, value in pairs:
        name = key[:-2] if key.endswith("[]") else key
        if name in flat or key.endswith("[]"):
            existing = flat.get(name)
            items = existing if isinstance(existing, list) else ([existing] if existing else [])
            flat[name] = [*items, value]
        else:
            flat[name] = value
    return flat


def _first(flat: Flat, *keys: str) -> str | None:
    for key in keys:
        value = flat.get(key)
        if isinstance(value, list):
            value = value[0] if value else None
        if value:
            return value.strip()
    return None


def _split_wpforms(flat: Flat) -> Flat:
    return {k: ([p.strip() for p in v.split("||")] if isinstance(v, str) and "||" in v else v)
            for k, v in flat.items()}


def _elementor(flat: Flat) -> Flat:
    """Add Elementor's advanced-data fields under their id and their label."""
    values: dict[str, str | list[str]] = {}
    titles: dict[str, str] = {}
    for key, value in flat.items():
        match = ELEMENTOR_FIELD.match(key)
        if not match:
            continue
        field_id, part = match.groups()
        if part == "value":
            values[field_id] = value
        elif part == "title" and isinstance(value, str):
            titles[field_id] = value
    extra: Flat = {}
    for field_id, value in values.items():
        extra[field_id] = value
        if titles.get(field_id):
            extra.setdefault(titles[field_id], value)
    return {**flat, **extra}


def parse_delivery(
    kind: SourceKind, *, raw: bytes, json_body: Any | None = None,
    form_pairs: Iterable[tuple[str, str]] | None = None,
) -> FormSubmission:
    """Turn one plugin delivery into a FormSubmission (fields, visitor metadata, delivery key)."""
    flat = flatten_json(json_body) if json_body is not None else flatten_form(form_pairs or [])
    visitor_ip = user_agent = page_url = submission_id = None
    if kind == SourceKind.WPFORMS:
        flat = _split_wpforms(flat)
        submission_id = _first(flat, "entry_id")
    elif kind == SourceKind.ELEMENTOR:
        flat = _elementor(flat)
        visitor_ip = _first(flat, "meta[remote_ip][value]")
        user_agent = _first(flat, "meta[user_agent][value]")
        page_url = _first(flat, "meta[page_url][value]")
    elif kind == SourceKind.GRAVITYFORMS:
        visitor_ip = _first(flat, "ip")
        user_agent = _first(flat, "user_agent")
        page_url = _first(flat, "source_url")
        submission_id = _first(flat, "id")
    elif kind == SourceKind.FLUENTFORMS:
        visitor_ip = _first(flat, "__submission[ip]")
        user_agent = _first(flat, "__submission[browser]")
        page_url = _first(flat, "__submission[source_url]")
        submission_id = _first(flat, "__submission[id]", "__submission[serial_number]")
    elif kind == SourceKind.GENERIC:
        visitor_ip = _first(flat, "ip")
        user_agent = _first(flat, "user_agent")
        page_url = _first(flat, "page_url")
        submission_id = _first(flat, "submission_id")
    key = f"id:{submission_id}" if submission_id else body_key(raw)
    return FormSubmission(fields=flat, delivery_key=key, visitor_ip=visitor_ip,
                          user_agent=user_agent, page_url=page_url)


def php_json(value: Any) -> str:
    """Encode like PHP's json_encode: compact, \\uXXXX for non-ASCII, escaped slashes."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=True).replace("/", "\\/")


def wpforms_signature_valid(
    secret: str, header: str | None, *, raw: bytes, form: dict[str, str] | None, now: int
) -> bool:
    """Check X-WPForms-Webhook-Signature "t=<ts>,v=<hex HMAC-SHA256(secret, ts.body)>".

    In form mode WPForms signs the JSON encoding of the fields, not the bytes it sends.
    """
    if not header:
        return False
    parts = dict(p.strip().split("=", 1) for p in header.split(",") if "=" in p)
    timestamp, given = parts.get("t", ""), parts.get("v", "")
    if not timestamp.isdigit() or abs(now - int(timestamp)) > WPFORMS_TOLERANCE_SECONDS:
        return False
    payload = raw if form is None else php_json(form).encode("utf-8")
    expected = hmac.new(secret.encode("utf-8"), timestamp.encode() + b"." + payload,
                        hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, given.lower())
