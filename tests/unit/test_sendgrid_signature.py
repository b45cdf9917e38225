"""SendGrid's signed Event Webhook: our verifier decides as SendGrid's own helper does."""

from __future__ import annotations

import base64
import json

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from sendgrid.helpers.eventwebhook import EventWebhook

from webhooks import providers

TIMESTAMP = "1763629200"
BODY = json.dumps([
    {"email": "maija@example.fi", "event": "bounce", "type": "bounce", "sg_event_id": "sg-1",
     "reason": "550 5.1.1 user unknown", "timestamp": 1763629200},
    {"email": "jörg@example.fi", "event": "spamreport", "sg_event_id": "sg-2"},
], ensure_ascii=False).encode("utf-8")
KEY = ec.generate_private_key(ec.SECP256R1())
OTHER_KEY = ec.generate_private_key(ec.SECP256R1())


def _public(key: ec.EllipticCurvePrivateKey) -> str:
    """The verification key as SendGrid's settings page shows it: base64 DER, no PEM lines."""
    der = key.public_key().public_bytes(serialization.Encoding.DER,
                                        serialization.PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(der).decode("ascii")


def _sign(key: ec.EllipticCurvePrivateKey, timestamp: str, body: bytes) -> str:
    return base64.b64encode(key.sign(timestamp.encode() + body,
                                     ec.ECDSA(hashes.SHA256()))).decode("ascii")


def _ours(signature: str, timestamp: str, body: bytes) -> bool:
    headers = {providers.SENDGRID_SIGNATURE: signature, providers.SENDGRID_TIMESTAMP: timestamp}
    try:
        providers.sendgrid_verify(_public(KEY), headers, body)
    except providers.NotAuthentic:
        return False
    return True


def _sendgrids(signature: str, timestamp: str, body: bytes) -> bool:
    helper = EventWebhook()
    key = helper.convert_public_key_to_ecdsa(_public(KEY))
    return bool(helper.verify_signature(body.decode("utf-8"), signature, timestamp, key))


@pytest.mark.parametrize(("case", "signature", "timestamp", "body"), [
    ("as sent", _sign(KEY, TIMESTAMP, BODY), TIMESTAMP, BODY),
    ("body changed", _sign(KEY, TIMESTAMP, BODY), TIMESTAMP, BODY.replace(b"bounce", b"open")),
    ("timestamp changed", _sign(KEY, TIMESTAMP, BODY), "1763629201", BODY),
    ("signed by another key", _sign(OTHER_KEY, TIMESTAMP, BODY), TIMESTAMP, BODY),
    ("one byte of whitespace added", _sign(KEY, TIMESTAMP, BODY), TIMESTAMP, BODY + b"\n"),
# ECDSA signatures differ on every run: the case alone names a test, so that every
# pytest-xdist worker collects the same names.
], ids=["as sent", "body changed", "timestamp changed", "signed by another key",
        "one byte of whitespace added"])
def test_our_sendgrid_verifier_agrees_with_sendgrids_own_helper(
    case: str, signature: str, timestamp: str, body: bytes
) -> None:
    expected = case == "as sent"
    assert _sendgrids(signature, timestamp, body) is expected
    assert _ours(signature, timestamp, body) is expected
