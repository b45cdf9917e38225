"""Standard Webhooks v1: sign what we send, verify what a receiver gets."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping, Sequence

PREFIX = "whsec_"
TOLERANCE_SECONDS = 300


class InvalidSignature(Exception):
    """The webhook-signature header matches none of the secrets, or the timestamp is off."""


def _key(secret: str) -> bytes:
    """Return the signing key: the base64-decoded part after whsec_."""
    return base64.b64decode(secret.removeprefix(PREFIX))


def sign(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """Return one v1 signature over "{id}.{timestamp}.{body}"."""
    content = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(_key(secret), content, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")


def signature_header(secrets: Sequence[str], message_id: str, timestamp: int, body: bytes) -> str:
    """Return the webhook-signature value: one signature per secret, space-separated."""
    return " ".join(sign(s, message_id, timestamp, body) for s in secrets)


def headers(secrets: Sequence[str], message_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """Return the three Standard Webhooks headers for a delivery."""
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature_header(secrets, message_id, timestamp, body),
    }


def verify(secret: str, received: Mapping[str, str], body: bytes, *, now: int) -> None:
    """Check a delivery as a receiver would: a signature matches and the time is recent."""
    lowered = {k.lower(): v for k, v in received.items()}
    message_id = lowered.get("webhook-id", "")
    raw_timestamp = lowered.get("webhook-timestamp", "")
    if not message_id or not raw_timestamp.isdigit():
        raise InvalidSignature("missing webhook-id or webhook-timestamp")
    timestamp = int(raw_timestamp)
    if abs(now - timestamp) > TOLERANCE_SECONDS:
        raise InvalidSignature("webhook-timestamp is too far from now")
    expected = sign(secret, message_id, timestamp, body)
    for candidate in lowered.get("webhook-signature", "").split():
        if hmac.compare_digest(candidate, expected):
            return
    raise InvalidSignature("no signature matches")
