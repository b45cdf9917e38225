"""Form plugins' deliveries: flatten each plugin's shape and find the visitor's metadata.

Every shape becomes one flat mapping of the plugin's field names to a text or a list of texts:
nested JSON and PHP bracket keys alike end up as ``names[first_name]``; WPForms' ``||``-joined
values become lists; Elementor's "advanced data" (``fields[email][value]`` with its
``fields[email][title]``) is found under both the field id and its label.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from service.domain.inbound import body_key
from service.domain.sources import FormSubmission, SourceKind

WPFORMS_SIGNATURE_HEADER = "X-WPForms-Webhook-Signature"
WPFORMS_TOLERANCE_SECONDS = 300
MAX_USER_AGENT = 500  # the evidence column's width
ELEMENTOR_FIELD = re.compile(r"^fields\[([^\]]+)\]\[(value|title|raw_value)\]$")

Flat = dict[str, str | list[str]]


_CONTROLS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def clean(text: str) -> str:
    """Drop control characters (NUL, escape, ...) from a plugin's text; keep tab and newlines.

    A delivery is cleaned rather than refused: the visitor already saw the plugin's thank-you.
    """
    return _CONTROLS.sub("", text)


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else ""
    return clean(str(value))


def flatten_json(value: Any, prefix: str = "", into: Flat | None = None) -> Flat:
    """Flatten nested JSON into PHP-style bracket keys; lists of plain values stay lists."""
    flat: Flat = {} if into is None else into
    if isinstance(value, dict):
        for key, item in value.items():
            flatten_json(item, f"{prefix}[{clean(key)}]" if prefix else clean(str(key)), flat)
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
    for raw_key, raw_value in pairs:
        key, value = clean(raw_key), clean(raw_value)
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


@dataclass(frozen=True)
class EvidenceKeys:
    """Where a plugin puts the visitor's IP, browser and page, in the order to look."""

    ip: tuple[str, ...] = ()
    user_agent: tuple[str, ...] = ()
    page_url: tuple[str, ...] = ()
    submission_id: tuple[str, ...] = ()


# What each add-on sends about the visitor, read from its own source (see the fixtures in
# tests/fixtures/clients/ for where each shape comes from).
EVIDENCE_KEYS: dict[SourceKind, EvidenceKeys] = {
    # CF7 to Webhook adds the special mail tags the admin lists, keyed by the tag's name.
    # A tag given a name of its own ([_remote_ip ip]) arrives under that name.
    SourceKind.CF7: EvidenceKeys(("_remote_ip", "ip"), ("_user_agent", "user_agent"),
                                 ("_url", "url", "page_url")),
    # WPForms sends from a background task after the visit, so smart tags such as {user_ip}
    # name the server, not the visitor: only the entry id (the {entry_id} smart tag) is read.
    SourceKind.WPFORMS: EvidenceKeys(submission_id=("entry_id",)),
    # Advanced Data keys the meta by id; the default shape by its (English) label.
    SourceKind.ELEMENTOR: EvidenceKeys(
        ("meta[remote_ip][value]", "Remote IP"), ("meta[user_agent][value]", "User Agent"),
        ("meta[page_url][value]", "Page URL"),
    ),
    SourceKind.GRAVITYFORMS: EvidenceKeys(("ip",), ("user_agent",), ("source_url",), ("id",)),
    SourceKind.FLUENTFORMS: EvidenceKeys(
        ("__submission[ip]",), ("__submission[browser]",), ("__submission[source_url]",),
        ("__submission[id]", "__submission[serial_number]"),
    ),
    SourceKind.GENERIC: EvidenceKeys(("ip",), ("user_agent",), ("page_url",),
                                     ("submission_id",)),
}


def parse_delivery(
    kind: SourceKind, *, raw: bytes, json_body: Any | None = None,
    form_pairs: Iterable[tuple[str, str]] | None = None,
) -> FormSubmission:
    """Turn one plugin delivery into a FormSubmission (fields, visitor metadata, delivery key).

    A delivery with an id of its own (an entry id) is known by that id; one without is known by
    what arrived: a JSON body's bytes, a form's fields in order.
    """
    pairs = list(form_pairs or [])
    flat = flatten_json(json_body) if json_body is not None else flatten_form(pairs)
    if kind == SourceKind.WPFORMS:
        flat = _split_wpforms(flat)
    elif kind == SourceKind.ELEMENTOR:
        flat = _elementor(flat)
    keys = EVIDENCE_KEYS.get(kind, EvidenceKeys())
    submission_id = _first(flat, *keys.submission_id)
    # A form's content, not its framing: a browser picks a new multipart boundary each time.
    content = raw if json_body is not None else urlencode(pairs).encode("utf-8")
    key = f"id:{submission_id}" if submission_id else body_key(content)
    user_agent = _first(flat, *keys.user_agent)
    return FormSubmission(
        fields=flat, delivery_key=key, visitor_ip=_ip_address(_first(flat, *keys.ip)),
        user_agent=user_agent[:MAX_USER_AGENT] if user_agent else None,
        page_url=_first(flat, *keys.page_url),
    )


def _ip_address(value: str | None) -> str | None:
    """Return the visitor's IP as sent, if it is one (a proxy chain's first), else None."""
    if not value:
        return None
    try:
        return str(ipaddress.ip_address(value.split(",")[0].strip()))
    except ValueError:
        return None


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
